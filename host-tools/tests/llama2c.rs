//! llama2.c's stories260K, imported and run by glmix, against what run.c prints and computes.
//! Reads `../shared/data/llama2c_stories260K` (or `$GLMIX_SHARED_DATA/llama2c_stories260K`); skips
//! when it is missing, fails when `CI` is set.

use std::path::PathBuf;

mod data;

use glmix::{DType, Model, Session};
use glmix_tools::generate::{generate, prompt_tokens, Options};
use glmix_tools::llama2c::import;
use glmix_tools::writer::AlignedBytes;

fn data_dir() -> Option<PathBuf> {
    data::shared("llama2c_stories260K")
}

fn imported(dir: &std::path::Path, quant: DType) -> AlignedBytes {
    let (file, _) =
        import(&dir.join("stories260K.bin"), &dir.join("tok512.bin"), quant, |_, _, _| {}).unwrap();
    AlignedBytes::new(&file.to_bytes().unwrap())
}

fn greedy(bytes: &AlignedBytes, steps: u32) -> (String, Vec<u32>) {
    let model = Model::parse(bytes.as_bytes()).unwrap();
    let opts =
        Options { prompt: Vec::new(), steps, temperature: 0.0, topp: 0.9, topk: 0, seed: 1, context: None };
    let mut out = Vec::new();
    let mut ids = Vec::new();
    generate(&model, &opts, &mut out, |t| ids.push(t)).unwrap();
    (String::from_utf8(out).unwrap(), ids)
}

#[test]
fn f32_greedy_text_and_ids_equal_run_c() {
    let Some(dir) = data_dir() else { return };
    let bytes = imported(&dir, DType::F32);
    let (text, fed) = greedy(&bytes, 256);
    let expected = std::fs::read_to_string(dir.join("expected/run_c_t0_n256_noprompt.stdout.txt")).unwrap();
    assert_eq!(text, expected);
    let expected_ids: Vec<u32> = std::fs::read_to_string(dir.join("expected/greedy_ids_noprompt_n256.txt"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    // `fed` is BOS followed by each generated token fed back; the last generated one is never fed.
    assert_eq!(fed[0], 1);
    assert_eq!(&fed[1..], &expected_ids[..fed.len() - 1]);
}

#[test]
fn f32_logits_at_position_0_within_1e5() {
    let Some(dir) = data_dir() else { return };
    let bytes = imported(&dir, DType::F32);
    let model = Model::parse(bytes.as_bytes()).unwrap();
    let mut state = vec![0f32; glmix::plan::Plan::new(&model, 1).total_words()];
    let mut session = Session::new(&model, 1, &mut state).unwrap();
    let logits = session.step(1).unwrap();
    let text = std::fs::read_to_string(dir.join("expected/logits_bos_pos0.txt")).unwrap();
    let expected: Vec<f32> = text.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert_eq!(expected.len(), 512);
    let worst = logits.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-5, "max |logit - run.c| = {worst:e}");
}

#[test]
fn quantized_imports_agree_with_f32() {
    let Some(dir) = data_dir() else { return };
    let (_, reference) = greedy(&imported(&dir, DType::F32), 256);
    for (quant, must_agree) in [(DType::Q8_0, 64usize), (DType::Q4_0, 0)] {
        let (text, ids) = greedy(&imported(&dir, quant), 256);
        let agree = reference.iter().zip(&ids).take_while(|(a, b)| a == b).count();
        let same = reference.iter().zip(&ids).filter(|(a, b)| a == b).count();
        eprintln!(
            "{}: first {agree} greedy tokens agree with f32 ({same} of {} positions equal)",
            quant.name(),
            ids.len()
        );
        assert!(agree >= must_agree, "{} diverges from f32 after {agree} tokens", quant.name());
        if quant == DType::Q4_0 {
            // Fluency: mostly lowercase words and spaces, sentences, no runaway repetition of one byte.
            let letters = text.chars().filter(|c| c.is_ascii_alphabetic() || *c == ' ').count();
            assert!(letters * 10 >= text.len() * 8, "q4_0 text is not fluent: {text}");
        }
    }
}

/// Writes stories260K in llama2.c's v2 (int8, `export.py --version 2`) layout from its v0 weights:
/// 256-byte header, f32 norms, then each matrix as int8 values followed by one f32 scale per group.
fn write_v2(dir: &std::path::Path, group: usize) -> Vec<u8> {
    let (cfg, tensors) = glmix_tools::llama2c::read_checkpoint(&dir.join("stories260K.bin")).unwrap();
    let get = |name: &str| &tensors.iter().find(|(n, _, _)| n == name).unwrap().2;
    let mut out = Vec::new();
    out.extend_from_slice(&0x616b_3432u32.to_le_bytes());
    out.extend_from_slice(&2i32.to_le_bytes());
    for v in [cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size, cfg.seq_len]
    {
        out.extend_from_slice(&(v as i32).to_le_bytes());
    }
    out.push(cfg.shared_classifier as u8);
    out.extend_from_slice(&(group as i32).to_le_bytes());
    out.resize(256, 0);
    let n_layers = cfg.n_layers;
    let layers =
        |suffix: &str| -> Vec<String> { (0..n_layers).map(|l| format!("layers.{l}.{suffix}")).collect() };
    let f32s = |out: &mut Vec<u8>, v: &[f32]| v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
    let norms = [layers("mixer_norm.weight"), layers("mlp_norm.weight"), vec!["norm.weight".to_string()]];
    for name in norms.concat() {
        f32s(&mut out, get(&name));
    }
    let mut matrices = vec!["tok_embeddings.weight".to_string()];
    for s in ["mixer.wq", "mixer.wk", "mixer.wv", "mixer.wo", "mlp.w1", "mlp.w2", "mlp.w3"] {
        matrices.extend(layers(&format!("{s}.weight")));
    }
    for name in matrices {
        let w = get(&name);
        let scales: Vec<f32> =
            w.chunks(group).map(|g| g.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0).collect();
        for (g, s) in w.chunks(group).zip(&scales) {
            out.extend(g.iter().map(|v| (if *s == 0.0 { 0.0 } else { (v / s).round() }) as i8 as u8));
        }
        f32s(&mut out, &scales);
    }
    out
}

#[test]
fn v2_int8_checkpoints_import() {
    let Some(dir) = data_dir() else { return };
    let v2 = std::env::temp_dir().join(format!("glmix-v2-{}.bin", std::process::id()));
    std::fs::write(&v2, write_v2(&dir, 64)).unwrap();
    let (file, _) = import(&v2, &dir.join("tok512.bin"), DType::F32, |_, _, _| {}).unwrap();
    std::fs::remove_file(&v2).ok();
    let (_, raw) = glmix_tools::llama2c::read_checkpoint(&dir.join("stories260K.bin")).unwrap();
    // Every matrix comes back within half a quantization step of the original.
    let bytes = AlignedBytes::new(&file.to_bytes().unwrap());
    let model = Model::parse(bytes.as_bytes()).unwrap();
    let emb = model.global_tensor(glmix::Role::TokEmbeddings).unwrap();
    let original = &raw.iter().find(|(n, _, _)| n == "tok_embeddings.weight").unwrap().2;
    let mut row = vec![0f32; 64];
    for r in 0..512 {
        glmix::kernels::embedding_row(&emb, r, &mut row);
        let want = &original[r * 64..(r + 1) * 64];
        let step = want.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        for (a, b) in row.iter().zip(want) {
            assert!((a - b).abs() <= step * 0.5 + 1e-7, "row {r}: {a} vs {b}");
        }
    }
    // And the int8 model still tells the same story for a while.
    let (_, reference) = greedy(&imported(&dir, DType::F32), 128);
    let (_, ids) = greedy(&bytes, 128);
    let agree = reference.iter().zip(&ids).take_while(|(a, b)| a == b).count();
    eprintln!("v2 int8 (groups of 64): first {agree} greedy tokens agree with f32");
    assert!(agree >= 32, "v2 import diverges after {agree} tokens");
}

#[test]
fn prompt_bytes_that_are_not_utf8_take_the_byte_fallback_tokens() {
    let Some(dir) = data_dir() else { return };
    let bytes = imported(&dir, DType::F32);
    let model = Model::parse(bytes.as_bytes()).unwrap();
    let ids = prompt_tokens(&model.tokenizer().unwrap(), b"a\xff\xfe").unwrap();
    // BOS, the dummy-prefixed "a", then <0xFF> and <0xFE> (token byte + 3), as run.c encodes them.
    assert_eq!(ids.first(), Some(&1), "{ids:?}");
    assert!(ids.ends_with(&[0xff + 3, 0xfe + 3]), "{ids:?}");
}
