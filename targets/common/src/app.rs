//! The firmware's program: check the embedded model and report (placeholder until the engine lands).

use crate::{code, counter, out};

/// What to generate; written by the board's build.rs from `GLMIX_*` environment variables.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Context the state was planned for.
    pub context: u32,
    /// Positions to run, prompt included (`--steps`).
    pub steps: u32,
    /// Prompt text (may be empty).
    pub prompt: &'static str,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Nucleus threshold; outside (0, 1) disables top-p.
    pub topp: f32,
    /// RNG seed.
    pub seed: u64,
}

/// FNV-1a over `bytes`: a cheap fingerprint the host can recompute.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Runs the program; returns the exit code.
pub fn run(model: &'static [u8], state: &'static mut [f32], cfg: &Config) -> i32 {
    if model.as_ptr() as usize % 32 != 0 {
        out::eprintln(format_args!("error: the embedded model is not 32-byte aligned"));
        return code::BAD_MODEL;
    }
    out::println(format_args!("hello from glmix-fw"));
    if model.is_empty() {
        out::eprintln(format_args!("error: no model embedded: build with GLMIX_MODEL=path/to/model.glmix"));
        return code::BAD_MODEL;
    }
    let t0 = counter::now();
    let sum = fnv1a(model);
    let t1 = counter::now();
    counter::spin(1_000_000);
    let t2 = counter::now();
    out::println(format_args!(
        "model: {} bytes, fnv1a {:08x}; state: {} words; context {}, steps {}",
        model.len(),
        sum,
        state.len(),
        cfg.context,
        cfg.steps
    ));
    out::eprintln(format_args!(
        "checksum: {} {}; spin(1e6) = 2e6 expected: {} {}",
        t1 - t0,
        counter::UNIT,
        t2 - t1,
        counter::UNIT
    ));
    code::OK
}
