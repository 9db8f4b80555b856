//! The memory plan states exact bytes before anything runs: checked here against sizes derived by hand
//! from the layout documented in `glmix::plan`, for the shipped model and for attention.

use glmix::builder::AlignedBytes;
use glmix::plan::Plan;
use glmix::Model;

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
    use glmix::builder::{random_model, RandomLayer, RandomSpec};
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

#[test]
fn loglinear_state_is_one_matrix_per_head_and_level() {
    use glmix::builder::{random_model, RandomLayer, RandomSpec};
    use glmix::format::Form;
    use glmix::pattern::Pattern;
    use glmix::plan::LayerPlan;
    use glmix::MixerConfig;
    // Layer 0 uncapped, layer 1 capped at 3 levels; 2 heads of 16.
    let layers = vec![
        RandomLayer { pattern: 4, param: 0, form: 3, n_heads: 2, n_kv_heads: 2 },
        RandomLayer { pattern: 4, param: 3, form: 3, n_heads: 2, n_kv_heads: 2 },
    ];
    let file = random_model(&RandomSpec::small(layers), 5).unwrap().to_bytes().unwrap();
    let bytes = AlignedBytes::new(&file);
    let model = Model::parse(bytes.as_bytes()).unwrap();
    // Per slot: 2 heads x 16 x 16 matrix words + 2 tag words.
    let per_slot = 2 * 16 * 16 + 2;
    for (context, levels) in
        [(1u32, 0usize), (2, 1), (3, 2), (256, 8), (4096, 12), (65_536, 16), (1 << 20, 20)]
    {
        let plan = Plan::new(&model, context);
        assert_eq!(plan.layers()[0].slots, levels, "context {context}");
        assert_eq!(plan.layers()[0].words(), levels * per_slot, "context {context}");
        assert_eq!(plan.layers()[1].words(), 3 * per_slot, "context {context}: capped");
        assert_eq!(plan.state_bytes(), 4 * (levels + 3) * per_slot);
    }
    // Level weights (L = |R(1023)| + 1 = 11 for the header's 1024, cap + 1 = 4) sit in the hidden scratch.
    assert_eq!(Plan::new(&model, 8).scratch.hidden, 64);
    let narrow = RandomSpec {
        hidden_dim: 16,
        head_dim: 4,
        max_context: 1 << 20, // L = |R(2^20 - 1)| + 1 = 21
        ..RandomSpec::small(vec![RandomLayer { pattern: 4, param: 0, form: 3, n_heads: 4, n_kv_heads: 4 }])
    };
    let file = random_model(&narrow, 5).unwrap().to_bytes().unwrap();
    let bytes = AlignedBytes::new(&file);
    let model = Model::parse(bytes.as_bytes()).unwrap();
    assert_eq!(Plan::new(&model, 8).scratch.hidden, 4 * 21);
    // Usable in const context, like the other patterns, to size a static buffer.
    const M: MixerConfig = MixerConfig::new(Pattern::Pow2Lattice { cap: 0 }, Form::StateSpace, 4, 16);
    const WORDS: usize = LayerPlan::new(&M, 65_536).words();
    assert_eq!(WORDS, 16 * (4 * 16 * 16 + 2));
}

#[test]
fn a_session_takes_its_callers_plan_and_refuses_another_models() {
    use glmix::builder::{random_model, RandomLayer, RandomSpec};
    use glmix::{Session, SessionError};
    let layer = RandomLayer { pattern: 0, param: 0, form: 0, n_heads: 2, n_kv_heads: 1 };
    let one =
        AlignedBytes::new(&random_model(&RandomSpec::small(vec![layer]), 3).unwrap().to_bytes().unwrap());
    let two = AlignedBytes::new(
        &random_model(&RandomSpec::small(vec![layer, layer]), 3).unwrap().to_bytes().unwrap(),
    );
    let (one, two) = (Model::parse(one.as_bytes()).unwrap(), Model::parse(two.as_bytes()).unwrap());
    let plan = Plan::new(&one, 16);
    let mut state = vec![0f32; plan.total_words()];
    let session = Session::with_plan(&one, plan.clone(), &mut state).unwrap();
    assert_eq!(session.plan(), &plan);
    drop(session);
    let mut state = vec![0f32; Plan::new(&two, 16).total_words()];
    assert_eq!(Session::with_plan(&two, plan, &mut state).err(), Some(SessionError::PlanMismatch));
}

/// Level-aware coefficients add no state (the same slots of keys and outputs) and borrow only
/// `n_heads` words of the hidden scratch for the recurrent form's gates, inside its usual width.
#[test]
fn level_aware_layers_plan_the_same_state() {
    use glmix::builder::{random_model, RandomLayer, RandomSpec};
    for (pattern, param, form) in [(4u8, 0u32, 1u8), (6, 0, 1), (4, 0, 2), (2, 3, 1)] {
        let layers = vec![RandomLayer { pattern, param, form, n_heads: 2, n_kv_heads: 2 }];
        let plain = RandomSpec::small(layers);
        let la = RandomSpec { level_aware: true, ..plain.clone() };
        let parse =
            |spec: &RandomSpec| AlignedBytes::new(&random_model(spec, 9).unwrap().to_bytes().unwrap());
        let (a, b) = (parse(&plain), parse(&la));
        let (a, b) = (Model::parse(a.as_bytes()).unwrap(), Model::parse(b.as_bytes()).unwrap());
        assert!(b.mixer(0).unwrap().level_aware);
        for context in [1, 64, 4096] {
            let (pa, pb) = (Plan::new(&a, context), Plan::new(&b, context));
            assert_eq!(pa.state_bytes(), pb.state_bytes(), "{pattern} {form} {context}");
            assert_eq!(pa.scratch_bytes(), pb.scratch_bytes(), "{pattern} {form} {context}");
            assert_eq!(pa.total_bytes(), pb.total_bytes());
        }
        let needs = glmix::mixer::scratch(b.mixer(0).unwrap(), 1024, 64);
        assert_eq!(needs.hidden, if form == 1 { 2 } else { 0 });
    }
}
