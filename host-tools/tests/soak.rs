//! Long runs, every mixer, in the memory planned before the first step, with finite logits at every
//! step:
//!
//! * lattices (uncapped, planned for 1e6; capped, planned for 16) and order-1 recurrences in every form
//!   (attention, recurrent, chained, state space) decode a million tokens;
//! * the exact bounded patterns (dense, uncapped pow2 and sq1) in every form decode their whole
//!   planned context, then refuse the next position with `ContextOverflow` (the defined end:
//!   `session.rs`, `tests/overflow.rs`);
//! * window, order k and capped exact patterns are unbounded: planned for a short context they slide
//!   on past it, 20,000 tokens in the same bytes.

use std::time::Instant;

use glmix::plan::Plan;
use glmix::{Model, Session, SessionError};
use glmix_tools::random::{random_model, RandomLayer, RandomSpec, Rng};
use glmix_tools::writer::AlignedBytes;

/// A tiny one-layer f32 model (dim 16, 2 heads of 8, vocab 32) with the given mixer.
fn tiny(pattern: u8, param: u32, form: u8, seed: u64) -> AlignedBytes {
    let mut spec = RandomSpec::small(vec![RandomLayer { pattern, param, form, n_heads: 2, n_kv_heads: 2 }]);
    spec.dim = 16;
    spec.hidden_dim = 32;
    spec.head_dim = 8;
    spec.vocab_size = 32;
    AlignedBytes::new(&random_model(&spec, seed).unwrap().to_bytes().unwrap())
}

/// Decodes `steps` random tokens in a state planned for `context`; every step must succeed with
/// finite logits, and the plan (hence the state size) must never change. Returns the state bytes.
fn soak(label: &str, pattern: u8, param: u32, form: u8, context: u32, steps: u32) -> usize {
    soak_then(label, pattern, param, form, context, steps, |_| {})
}

/// [`soak`], then `after(session)` on the session at position `steps`.
fn soak_then(
    label: &str,
    pattern: u8,
    param: u32,
    form: u8,
    context: u32,
    steps: u32,
    after: impl FnOnce(&mut Session<'_, '_>),
) -> usize {
    let bytes = tiny(pattern, param, form, 17 + pattern as u64 * 31 + param as u64);
    let model = Model::parse(bytes.as_bytes()).unwrap();
    let plan = Plan::new(&model, context);
    let mut state = vec![0f32; plan.total_words()];
    let mut session = Session::new(&model, context, &mut state).unwrap();
    assert_eq!(*session.plan(), plan);
    let mut rng = Rng::new(5 + steps as u64);
    let start = Instant::now();
    let mut largest = 0f32;
    for t in 0..steps {
        let logits = session.step(rng.below(32) as u32).unwrap_or_else(|e| panic!("{label}: step {t}: {e}"));
        for &x in logits.iter() {
            assert!(x.is_finite(), "{label}: step {t}: logit {x}");
            largest = largest.max(x.abs());
        }
        if t % 65_536 == 0 {
            assert_eq!(session.plan().total_bytes(), plan.total_bytes(), "{label}: the plan changed at {t}");
        }
    }
    assert_eq!(session.position(), steps);
    assert_eq!(*session.plan(), plan, "{label}: the plan changed");
    after(&mut session);
    eprintln!(
        "{label}: {steps} steps in {:.2} s, state {} bytes (caches {}), max |logit| {largest:.2}",
        start.elapsed().as_secs_f64(),
        plan.total_bytes(),
        plan.state_bytes()
    );
    plan.total_bytes()
}

// The million-token lattice runs take 46 s together on 2 cores (the slot map is O(slots) per step);
// the 100,000-step runs fail faster when something regresses. The order-1 million-token runs take
// about 7 s of CPU each.

const SHORT: u32 = 100_000;
const MILLION: u32 = 1_000_000;

fn pow2_lattice(steps: u32) {
    soak("pow2_lattice recurrent, context 1e6", 4, 0, 1, MILLION, steps);
}

fn sq1_lattice(steps: u32) {
    soak("sq1_lattice chained, context 1e6", 6, 0, 2, MILLION, steps);
}

/// A capped lattice is unbounded: planned for 16 positions, it runs on in the same bytes.
fn capped_lattice(steps: u32) {
    capped("pow2_lattice cap 8 recurrent, context 16", 8, 1, steps);
}

/// Soaks pow2_lattice capped at `cap` levels in `form`, planned for 16 positions, for `steps`, and
/// checks the state it ran in is the one planned for a million positions (constant).
fn capped(label: &str, cap: u32, form: u8, steps: u32) {
    let bytes = soak(label, 4, cap, form, 16, steps);
    let model_bytes = tiny(4, cap, form, 17 + 4 * 31 + u64::from(cap));
    let model = Model::parse(model_bytes.as_bytes()).unwrap();
    assert_eq!(Plan::new(&model, MILLION).total_bytes(), bytes, "{label}: a capped state is constant");
}

#[test]
fn pow2_lattice_decodes_100k_tokens() {
    pow2_lattice(SHORT);
}

#[test]
fn sq1_lattice_decodes_100k_tokens() {
    sq1_lattice(SHORT);
}

#[test]
fn capped_lattice_decodes_100k_tokens_past_its_planned_context() {
    capped_lattice(SHORT);
}

/// The log-linear state space (one matrix per level) runs 100,000 steps planned for a million, and its
/// capped variant runs on past a 16-token plan in the same bytes.
#[test]
fn loglinear_state_space_decodes_100k_tokens() {
    soak("pow2_lattice state_space, context 1e6", 4, 0, 3, MILLION, SHORT);
    capped("pow2_lattice cap 4 state_space, context 16", 4, 3, SHORT);
}

#[test]
fn pow2_lattice_decodes_a_million_tokens() {
    pow2_lattice(MILLION);
}

#[test]
fn sq1_lattice_decodes_a_million_tokens() {
    sq1_lattice(MILLION);
}

#[test]
fn capped_lattice_decodes_a_million_tokens_past_its_planned_context() {
    capped_lattice(MILLION);
}

/// `seek_for_benchmarks` leaves every pattern's slot map consistent: stepping on from the jump point
/// reads exactly R(t) (lattice order invariant), with evicted slots poisoned, and stays finite.
#[test]
fn seeking_keeps_every_slot_map_consistent() {
    for (pattern, cap, form) in [(4u8, 0u32, 1u8), (6, 0, 2), (0, 0, 0), (3, 0, 1), (1, 8, 0), (4, 0, 3)] {
        let bytes = tiny(pattern, cap, form, 17 + 4 * 31 + 8);
        let model = Model::parse(bytes.as_bytes()).unwrap();
        let mut state = vec![0f32; Plan::new(&model, 5000).total_words()];
        let mut session = Session::new(&model, 5000, &mut state).unwrap();
        session.poison_evicted(true);
        session.seek_for_benchmarks(3000).unwrap();
        for t in 0..200 {
            let logits = session.step(t % 32).unwrap();
            assert!(logits.iter().all(|x| x.is_finite()), "pattern {pattern}: non-finite after the jump");
        }
        assert_eq!(session.position(), 3200);
        // Past the planned context only the unbounded window pattern may jump.
        assert_eq!(session.seek_for_benchmarks(5000).is_ok(), pattern == 1, "pattern {pattern}");
    }
}

const FORMS: [(u8, &str); 3] = [(0, "attention"), (1, "recurrent"), (2, "chained")];

/// Order 1 (a first-order recurrence) in `form` decodes a million tokens in a state planned for 16.
fn order1(form: u8, name: &str) {
    let bytes = soak(&format!("order 1 {name}, context 16"), 2, 1, form, 16, MILLION);
    let model_bytes = tiny(2, 1, form, 17 + 2 * 31 + 1);
    let model = Model::parse(model_bytes.as_bytes()).unwrap();
    assert_eq!(Plan::new(&model, MILLION).total_bytes(), bytes, "order 1's state is constant");
}

#[test]
fn order1_attention_decodes_a_million_tokens() {
    order1(0, "attention");
}

#[test]
fn order1_recurrent_decodes_a_million_tokens() {
    order1(1, "recurrent");
}

#[test]
fn order1_chained_decodes_a_million_tokens() {
    order1(2, "chained");
}

#[test]
fn order1_state_space_decodes_a_million_tokens() {
    order1(3, "state_space");
}

/// Decodes the whole planned `context`, then the next position must be refused (twice, without
/// moving): exact patterns serve `0..context` only.
fn to_overflow(label: &str, pattern: u8, form: u8, context: u32) {
    soak_then(label, pattern, 0, form, context, context, |session| {
        let want = SessionError::ContextOverflow { position: context, max_context: context };
        for _ in 0..2 {
            assert_eq!(session.step(1).map(|_| ()), Err(want), "{label}");
        }
        assert_eq!(session.position(), context, "{label}: a refused step must not advance");
    });
}

#[test]
fn dense_decodes_its_whole_context_then_overflows() {
    // Dense reads every past position: O(n^2) over the run, hence the shorter context.
    for (form, name) in FORMS {
        to_overflow(&format!("dense {name}, context 2048"), 0, form, 2048);
    }
}

#[test]
fn exact_pow2_decodes_its_whole_context_then_overflows() {
    for (form, name) in FORMS {
        to_overflow(&format!("pow2 exact {name}, context 32768"), 3, form, 32_768);
    }
}

#[test]
fn exact_sq1_decodes_its_whole_context_then_overflows() {
    for (form, name) in FORMS {
        // O(sqrt n) reads per step: 91 at the end.
        to_overflow(&format!("sq1 exact {name}, context 8192"), 5, form, 8192);
    }
}

/// Tokens the unbounded exact patterns run past their planned context of 64.
const SLIDE: u32 = 20_000;

/// Window, order k and capped exact patterns, planned for 64 positions, slide on past them.
#[test]
fn unbounded_exact_patterns_slide_past_their_context() {
    for (pattern, param, what) in
        [(1u8, 8u32, "window 8"), (2, 3, "order 3"), (3, 4, "pow2 cap 4"), (5, 3, "sq1 cap 3")]
    {
        for (form, name) in FORMS {
            soak(&format!("{what} {name}, context 64"), pattern, param, form, 64, SLIDE);
        }
    }
}
