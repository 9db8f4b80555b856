//! The memory plan states exact bytes before anything runs: checked here against sizes derived by hand
//! from the layout documented in `glmix::plan`, for the shipped model and for attention.

use glmix::plan::Plan;
use glmix::Model;
use glmix_tools::writer::AlignedBytes;

fn shipped() -> AlignedBytes {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/shakespeare-pow2/model.glmx");
    AlignedBytes::read(std::path::Path::new(path)).unwrap()
}

#[test]
fn shipped_model_plan_is_exact_and_independent_of_context() {
    let bytes = shipped();
    let model = Model::parse(bytes.as_bytes()).unwrap();
    // dim 128, hidden 256, 4 layers of recurrent pow2 lattice (cap 8), 4 heads of 32, vocab 256.
    let (dim, hidden, q, vocab, slots) = (128usize, 256usize, 128usize, 256usize, 8usize);
    // Per layer: tags + order (2 per slot), keys [slots][kv], outputs [slots][q] (recurrent form).
    let layer_words = 2 * slots + slots * q + slots * q;
    // Scratch: x, xb, xb2 [dim]; hb, hb2 [max(hidden, q)]; q, o [q]; k, v [kv]; scores [slots + 1];
    // read list [slots]; logits [vocab]; q8_0 blocks of the widest activation (hidden = 256: 8 blocks).
    let xq_words = (hidden / 32 * 34).div_ceil(4);
    let scratch_words = 3 * dim + 2 * hidden + 2 * q + 2 * q + (slots + 1) + slots + vocab + xq_words;
    for context in [1, 256, 4096, 65_536, 1_000_000] {
        let plan = Plan::new(&model, context);
        assert!(plan.layers().iter().all(|l| l.slots == slots && l.words() == layer_words));
        assert_eq!(plan.state_bytes(), 4 * 4 * layer_words, "context {context}");
        assert_eq!(plan.scratch_bytes(), 4 * scratch_words);
        assert_eq!(plan.total_bytes(), 40_020);
    }
    assert_eq!(model.flash_bytes(), 739_040);
}

#[test]
fn attention_state_grows_linearly_with_context() {
    use glmix_tools::random::{random_model, RandomLayer, RandomSpec};
    let layer = RandomLayer { pattern: 0, param: 0, form: 0, n_heads: 2, n_kv_heads: 1 };
    let file = random_model(&RandomSpec::small(vec![layer]), 3).unwrap().to_bytes().unwrap();
    let bytes = AlignedBytes::new(&file);
    let model = Model::parse(bytes.as_bytes()).unwrap();
    for context in [2u32, 256, 4096, 65_536] {
        let plan = Plan::new(&model, context);
        // Dense attention caches keys and values of every earlier position: (N - 1) x kv_dim x 2.
        let kv = 16;
        assert_eq!(plan.state_bytes(), 4 * (context as usize - 1) * kv * 2, "context {context}");
    }
}
