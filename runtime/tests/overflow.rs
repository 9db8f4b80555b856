//! The defined end of a context: a model with an exact (bounded) pattern planned for N positions
//! decodes positions 0..N, then refuses position N with `ContextOverflow { position: N, max_context: N }`
//! without touching the state; unbounded patterns run on.

use glmix::builder::AlignedBytes;
use glmix::builder::{random_model, RandomLayer, RandomSpec, Rng};
use glmix::plan::Plan;
use glmix::{Model, Session, SessionError};

fn model_bytes(layers: Vec<RandomLayer>, seed: u64) -> AlignedBytes {
    let mut spec = RandomSpec::small(layers);
    spec.dim = 16;
    spec.hidden_dim = 32;
    spec.head_dim = 8;
    spec.vocab_size = 64;
    AlignedBytes::new(&random_model(&spec, seed).unwrap().to_bytes().unwrap())
}

fn layer(pattern: u8, param: u32, form: u8) -> RandomLayer {
    RandomLayer { pattern, param, form, n_heads: 2, n_kv_heads: 2 }
}

fn tokens(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.below(64) as u32).collect()
}

/// Decodes `tokens` and returns every step's logits.
fn run(session: &mut Session<'_, '_>, tokens: &[u32]) -> Vec<Vec<f32>> {
    tokens.iter().map(|&t| session.step(t).unwrap().to_vec()).collect()
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// Checks the overflow contract on one model planned for `n` positions.
fn check_overflow(label: &str, model: &Model<'_>, n: u32) {
    let toks = tokens(n as usize + 1, 3 + n as u64);
    let words = Plan::new(model, n).total_words();
    let want = SessionError::ContextOverflow { position: n, max_context: n };

    // A: n steps, then the failing step n.
    let mut state_a = vec![0f32; words];
    let mut session = Session::new(model, n, &mut state_a).unwrap();
    session.poison_evicted(true);
    let first = run(&mut session, &toks[..n as usize]);
    let last = session.logits().to_vec();
    assert_eq!(session.step(toks[n as usize]).map(|_| ()), Err(want), "{label}");
    assert_eq!(session.step(0).map(|_| ()), Err(want), "{label}: the refusal repeats");
    assert_eq!(session.position(), n, "{label}: the failed step must not advance");
    assert_eq!(bits(session.logits()), bits(&last), "{label}: the failed step touched the logits");
    // Reset and replay: identical logits, bit for bit, and the same refusal at the end.
    session.reset();
    let again = run(&mut session, &toks[..n as usize]);
    for (t, (a, b)) in first.iter().zip(&again).enumerate() {
        assert_eq!(bits(a), bits(b), "{label}: replay differs at position {t}");
    }
    assert_eq!(session.step(toks[n as usize]).map(|_| ()), Err(want), "{label}: after replay");

    // B: the same n steps without the failed calls; the whole buffers (caches and scratch) agree.
    let mut state_b = vec![0f32; words];
    let mut session = Session::new(model, n, &mut state_b).unwrap();
    session.poison_evicted(true);
    run(&mut session, &toks[..n as usize]);
    assert_eq!(bits(&state_a), bits(&state_b), "{label}: the failed calls changed the state");
}

#[test]
fn bounded_patterns_refuse_the_position_past_their_context() {
    // dense, exact pow2, exact sq1, uncapped lattices; every form that caches positions.
    let patterns = [(0u8, "dense"), (3, "pow2"), (5, "sq1"), (4, "pow2_lattice"), (6, "sq1_lattice")];
    for (pi, &(code, name)) in patterns.iter().enumerate() {
        for form in 0..3u8 {
            let bytes = model_bytes(vec![layer(code, 0, form)], 100 + pi as u64 * 3 + form as u64);
            let model = Model::parse(bytes.as_bytes()).unwrap();
            for n in [1u32, 2, 5, 37, 100] {
                check_overflow(&format!("{name} form {form} n={n}"), &model, n);
            }
        }
    }
    // One bounded layer among unbounded ones is enough to bound the model.
    let bytes = model_bytes(vec![layer(1, 4, 0), layer(2, 1, 3), layer(0, 0, 1), layer(6, 3, 2)], 7);
    let model = Model::parse(bytes.as_bytes()).unwrap();
    check_overflow("window / state space / dense / capped lattice", &model, 23);
}

#[test]
fn unbounded_patterns_run_past_their_planned_context() {
    let mixers = [
        (1u8, 4u32, 0u8, "window 4 attention"),
        (2, 3, 1, "order 3 recurrent"),
        (2, 1, 3, "order 1 state space"),
        (3, 3, 2, "pow2 cap 3 chained"),
        (4, 4, 1, "pow2_lattice cap 4 recurrent"),
        (6, 5, 0, "sq1_lattice cap 5 attention"),
    ];
    for (i, &(code, param, form, label)) in mixers.iter().enumerate() {
        let bytes = model_bytes(vec![layer(code, param, form)], 300 + i as u64);
        let model = Model::parse(bytes.as_bytes()).unwrap();
        let words = Plan::new(&model, 8).total_words();
        let mut state = vec![0f32; words];
        let mut session = Session::new(&model, 8, &mut state).unwrap();
        session.poison_evicted(true);
        for (t, tok) in tokens(200, 11).into_iter().enumerate() {
            let logits = session.step(tok).unwrap_or_else(|e| panic!("{label}: step {t}: {e}"));
            assert!(logits.iter().all(|x| x.is_finite()), "{label}: step {t}");
        }
        assert_eq!(session.position(), 200);
    }
}

#[test]
fn a_token_outside_the_vocabulary_changes_nothing() {
    let bytes = model_bytes(vec![layer(4, 0, 2)], 9);
    let model = Model::parse(bytes.as_bytes()).unwrap();
    let words = Plan::new(&model, 16).total_words();
    let toks = tokens(10, 1);
    let mut state_a = vec![0f32; words];
    let mut session = Session::new(&model, 16, &mut state_a).unwrap();
    run(&mut session, &toks);
    assert_eq!(
        session.step(64).map(|_| ()),
        Err(SessionError::TokenOutOfRange { token: 64, vocab_size: 64 })
    );
    assert_eq!(session.position(), 10);
    let mut state_b = vec![0f32; words];
    let mut session = Session::new(&model, 16, &mut state_b).unwrap();
    run(&mut session, &toks);
    assert_eq!(bits(&state_a), bits(&state_b));
}

#[test]
fn unbounded_patterns_end_at_the_last_u32_position() {
    // Position u32::MAX is never decoded: the position counter would overflow, and it is a
    // lattice's empty-slot tag. The step before it still runs.
    for (i, &(code, param, form)) in [(1u8, 4u32, 0u8), (2, 1, 3), (4, 4, 1)].iter().enumerate() {
        let bytes = model_bytes(vec![layer(code, param, form)], 400 + i as u64);
        let model = Model::parse(bytes.as_bytes()).unwrap();
        let mut state = vec![0f32; Plan::new(&model, 8).total_words()];
        let mut session = Session::new(&model, 8, &mut state).unwrap();
        session.seek_for_benchmarks(u32::MAX - 1).unwrap();
        assert!(session.step(1).is_ok(), "pattern {code}");
        let want = SessionError::ContextOverflow { position: u32::MAX, max_context: 8 };
        assert_eq!(session.step(1).map(|_| ()), Err(want), "pattern {code}");
        assert_eq!(session.position(), u32::MAX);
    }
}
