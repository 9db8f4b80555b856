//! The architecture table as JSON (`models/tests/arch_table.json`), for the Python reference's test
//! (`models/tests/test_arch_table.py`), which checks that the PyTorch model defines the same mixers and
//! exports the same tensors with the same shapes. This test fails when the committed file is not what
//! the runtime's table says; `GLMIX_BLESS=1 cargo test -p glmix --test arch_table` rewrites it.

use std::fmt::Write;

use glmix::arch::{self, Config};
use glmix::format::{Classifier, Form, MlpKind, NormKind, Positional, TokenizerKind};
use glmix::pattern::Pattern;
use glmix::MixerConfig;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/arch_table.json");

fn config(mlp: MlpKind, classifier: Classifier) -> Config {
    Config {
        dim: 32,
        hidden_dim: 64,
        vocab_size: 256,
        n_layers: 1,
        max_context: 64,
        norm: NormKind::RmsNorm,
        norm_eps: 1e-5,
        positional: Positional::None,
        rope_theta: 10000.0,
        mlp,
        classifier,
        tokenizer: TokenizerKind::Bytes,
        emb_norm: false,
        bos: 0,
        eos: 0,
        max_token_len: 0,
    }
}

/// One single-layer model per pattern (each code, parameters 0, 1 and 3) x form (two heads of 16),
/// with and without level-aware coefficients, and the MLP and classifier options.
fn table() -> String {
    let mut patterns: Vec<Pattern> = (0..=u8::MAX)
        .take_while(|&code| Pattern::from_code(code, 0).is_some())
        .flat_map(|code| [0, 1, 3].map(|param| Pattern::from_code(code, param).unwrap()))
        .filter(|p| !matches!(p, Pattern::Window(0) | Pattern::Order(0)))
        .collect();
    patterns.dedup();
    let mut cases = Vec::new();
    for level_aware in [false, true] {
        for &pattern in &patterns {
            // RWKV-7's reference is models/glmix_models/rwkv7.py (rwkv.cpp's layout, imported with
            // `glmix import-rwkv`), not mixers.py: its form is outside this table.
            for &form in Form::ALL.iter().filter(|&&f| f != Form::Rwkv7) {
                cases.push((pattern, form, level_aware, MlpKind::SwiGlu, Classifier::Tied));
            }
        }
    }
    cases.push((Pattern::Order(1), Form::Recurrent, false, MlpKind::Gelu, Classifier::Separate));
    let c0 = config(MlpKind::SwiGlu, Classifier::Tied);
    let mut out = String::new();
    writeln!(out, "{{").unwrap();
    writeln!(
        out,
        "  \"model\": {{\"vocab_size\": {}, \"dim\": {}, \"hidden_dim\": {}, \"max_context\": {}, \"n_heads\": 2, \"head_dim\": 16}},",
        c0.vocab_size, c0.dim, c0.hidden_dim, c0.max_context
    )
    .unwrap();
    writeln!(out, "  \"cases\": [").unwrap();
    for (i, &(pattern, form, level_aware, mlp, classifier)) in cases.iter().enumerate() {
        let c = config(mlp, classifier);
        let m = MixerConfig { level_aware, ..MixerConfig::new(pattern, form, 2, 16) };
        let defined =
            arch::is_defined(pattern, form) && (!level_aware || arch::is_level_aware_defined(pattern, form));
        let mut tensors = Vec::new();
        if defined {
            for t in arch::tensors(&c, &[m]).filter(|t| t.required) {
                let (dims, n) = t.dims().expect("no tokenizer tables with a bytes tokenizer");
                let shape: Vec<String> = dims.iter().take(n).map(u32::to_string).collect();
                tensors.push(format!("[\"{}\", [{}]]", t.name(), shape.join(", ")));
            }
        }
        let comma = if i + 1 < cases.len() { "," } else { "" };
        writeln!(
            out,
            "    {{\"pattern\": \"{}\", \"param\": {}, \"form\": \"{}\", \"level_aware\": {level_aware}, \"mlp\": \"{}\", \"tied\": {}, \"defined\": {defined},\n     \"tensors\": [{}]}}{comma}",
            pattern.name(),
            pattern.param(),
            form.name(),
            mlp.name(),
            classifier == Classifier::Tied,
            tensors.join(", ")
        )
        .unwrap();
    }
    writeln!(out, "  ]").unwrap();
    writeln!(out, "}}").unwrap();
    out
}

#[test]
fn committed_table_is_the_runtimes() {
    let want = table();
    if std::env::var_os("GLMIX_BLESS").is_some() {
        std::fs::write(PATH, &want).unwrap();
    }
    let have = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        have == want,
        "{PATH} is stale: rerun with GLMIX_BLESS=1 and check the Python test (models/tests/test_arch_table.py)"
    );
}
