//! Cross-language check: every mixer's tiny random model, exported by the PyTorch reference
//! (`models/golden`, made by `python -m glmix_models.golden`), written at f32 from the architecture
//! table ([`glmix::builder::build_model`]) and decoded step by step by the runtime, gives PyTorch's
//! per-position logits within 1e-4.

use std::path::Path;

use glmix::builder::{build_model, AlignedBytes, BuildError};
use glmix::format::{Classifier, Form, MlpKind, NormKind, Positional, TokenizerKind};
use glmix::pattern::Pattern;
use glmix::{Config, DType, MixerConfig, Model, Session};
use serde_json::Value;

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The runtime's typed configuration from the reference's `config.json` (`docs/model-spec.md`,
/// section 3; the reference writes rmsnorm and a bytes tokenizer, or none).
fn config(c: &Value) -> (Config, Vec<MixerConfig>) {
    let n = |v: &Value| v.as_u64().unwrap() as usize;
    let name = |v: &Value| v.as_str().unwrap().to_string();
    let config = Config {
        dim: n(&c["dim"]),
        hidden_dim: n(&c["hidden_dim"]),
        vocab_size: n(&c["vocab_size"]),
        n_layers: n(&c["n_layers"]),
        max_context: n(&c["max_context"]),
        norm: NormKind::from_name(&name(&c["norm"]["kind"])).unwrap(),
        norm_eps: c["norm"]["eps"].as_f64().unwrap() as f32,
        positional: Positional::from_name(&name(&c["positional"]["kind"])).unwrap(),
        rope_theta: c["positional"]["theta"].as_f64().unwrap() as f32,
        mlp: MlpKind::from_name(&name(&c["mlp"])).unwrap(),
        classifier: if c["tied_embeddings"].as_bool().unwrap() {
            Classifier::Tied
        } else {
            Classifier::Separate
        },
        tokenizer: TokenizerKind::from_name(&name(&c["tokenizer"]["kind"])).unwrap(),
        emb_norm: false,
        bos: 0,
        eos: 0,
        max_token_len: 0,
    };
    let layer = |l: &Value| MixerConfig {
        pattern: Pattern::from_name(&name(&l["pattern"]), n(&l["param"]) as u32).unwrap(),
        form: Form::from_name(&name(&l["form"])).unwrap(),
        n_heads: n(&l["n_heads"]),
        n_kv_heads: n(&l["n_kv_heads"]),
        head_dim: n(&l["head_dim"]),
        level_aware: l.get("level_aware").and_then(Value::as_bool).unwrap_or(false),
        lora: [0; 4],
        group_norm_eps: 0.0,
    };
    (config, c["layers"].as_array().unwrap().iter().map(layer).collect())
}

fn check(dir: &Path) -> f32 {
    let (cfg, mixers) = config(&read_json(&dir.join("config.json")));
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&weights).unwrap();
    assert_eq!(st.len(), glmix::arch::tensors(&cfg, &mixers).filter(|t| t.required).count());
    let file = build_model(&cfg, &mixers, DType::F32, |name, _, shape| {
        let view = st.tensor(name).unwrap_or_else(|e| panic!("{}: {name}: {e}", dir.display()));
        assert_eq!(view.shape(), shape, "{}: {name}", dir.display());
        assert_eq!(view.dtype(), safetensors::Dtype::F32);
        Ok::<_, BuildError>(
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
        )
    })
    .unwrap();
    let bytes = AlignedBytes::new(&file.to_bytes().unwrap());
    let model = Model::parse(bytes.as_bytes()).unwrap();
    let golden = read_json(&dir.join("logits.json"));
    let tokens: Vec<u32> =
        golden["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
    let logits = golden["logits"].as_array().unwrap();
    let context = tokens.len() as u32;
    let mut state = vec![0f32; glmix::plan::Plan::new(&model, context).total_words()];
    let mut session = Session::new(&model, context, &mut state).unwrap();
    session.poison_evicted(true);
    let mut worst = 0f32;
    for (pos, (&token, want)) in tokens.iter().zip(logits).enumerate() {
        let got = session.step(token).unwrap();
        let want = want.as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(want) {
            let b = b.as_f64().unwrap() as f32;
            let d = (a - b).abs();
            assert!(d <= 1e-4, "{}: position {pos}: logit {a} vs PyTorch {b}", dir.display());
            worst = worst.max(d);
        }
    }
    worst
}

#[test]
fn every_golden_model_matches_pytorch() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/golden");
    // One directory per golden model; the evaluation fixtures (`*.json`) sit beside them.
    let mut dirs: Vec<_> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(dirs.len() >= 26, "expected every (pattern, form) pair under {}", root.display());
    for dir in dirs {
        let worst = check(&dir);
        eprintln!("{:<28} max |runtime - PyTorch| = {worst:.2e}", dir.file_name().unwrap().to_string_lossy());
    }
}
