//! Cross-language check: every mixer's tiny random model, exported by the PyTorch reference
//! (`models/golden`, made by `python -m glmix_models.golden`), converted at f32 and decoded step by
//! step by the runtime, gives PyTorch's per-position logits within 1e-4.

use std::path::Path;

use glmix::{DType, Model, Session};
use glmix_tools::convert::convert;
use glmix_tools::writer::AlignedBytes;

#[derive(serde::Deserialize)]
struct Golden {
    tokens: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

fn check(dir: &Path) -> f32 {
    let (file, _) =
        convert(&dir.join("model.safetensors"), &dir.join("config.json"), DType::F32, |_, _, _| {})
            .unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
    let bytes = AlignedBytes::new(&file.to_bytes().unwrap());
    let model = Model::parse(bytes.as_bytes()).unwrap();
    let golden: Golden =
        serde_json::from_str(&std::fs::read_to_string(dir.join("logits.json")).unwrap()).unwrap();
    let context = golden.tokens.len() as u32;
    let mut state = vec![0f32; glmix::plan::Plan::new(&model, context).total_words()];
    let mut session = Session::new(&model, context, &mut state).unwrap();
    session.poison_evicted(true);
    let mut worst = 0f32;
    for (pos, (&token, want)) in golden.tokens.iter().zip(&golden.logits).enumerate() {
        let got = session.step(token).unwrap();
        for (a, b) in got.iter().zip(want) {
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
