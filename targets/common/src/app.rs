//! The firmware's program, `glmix generate` on a microcontroller.
//!
//! Parse the embedded model in place, build a [`Session`] over the state (a static buffer, or the
//! heap board's allocation), encode the prompt, then decode `steps` positions, printing each piece
//! exactly as the host's `glmix generate` prints it (stdout text only: the same bytes, the same final
//! newline). Afterwards one line on stderr: positions, and instructions per token (or cycles, on
//! real boards; see [`counter`]).
//!
//! The loop is a line-for-line twin of `host-tools/src/generate.rs`, so the two outputs can be
//! compared byte for byte: the host is the spec.

use glmix::sampler::{ProbIndex, Sampler};
use glmix::tokenizer::Tokenizer;
use glmix::{Model, Session};

use crate::{code, counter, out};

/// What to generate; written by the board's build.rs from `GLMIX_*` environment variables (the heap
/// board takes the model, steps and prompt from its command line instead, see `heap`).
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    /// Context the state was planned for (`--context`, default `steps`).
    pub context: u32,
    /// Positions to run, prompt included (`--steps`).
    pub steps: u32,
    /// Prompt text (may be empty).
    pub prompt: &'a str,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Nucleus threshold; outside (0, 1) disables top-p.
    pub topp: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub topk: u32,
    /// RNG seed.
    pub seed: u64,
}

/// The buffers the program needs: static ones sized by build.rs, or the heap board's allocations.
pub struct Buffers<'a> {
    /// Runtime state: `Plan::new(&model, context).total_words()` f32 words.
    pub state: &'a mut [f32],
    /// Sampler scratch: `Sampler::scratch_len(vocab)` entries (0 for greedy).
    pub scratch: &'a mut [ProbIndex],
    /// Prompt tokens: `prompt.len() + 3` entries.
    pub tokens: &'a mut [u32],
}

/// Runs the program on the embedded model file; returns the exit code.
pub fn run(bytes: &[u8], buf: Buffers<'_>, cfg: &Config<'_>) -> i32 {
    let t_start = counter::now();
    match parse(bytes) {
        Ok(model) => generate(&model, buf, cfg, t_start),
        Err(code) => code,
    }
}

/// Parses an embedded model file, reporting why it cannot be used (the error is the exit code).
pub fn parse(bytes: &[u8]) -> Result<Model<'_>, i32> {
    if bytes.is_empty() {
        out::eprintln(format_args!("error: no model embedded: build with GLMIX_MODEL=path/to/model.glmx"));
        return Err(code::BAD_MODEL);
    }
    Model::parse(bytes).map_err(|e| {
        out::eprintln(format_args!("error: the embedded model does not parse: {e}"));
        code::BAD_MODEL
    })
}

/// Generates `cfg.steps` positions with `model` in `buf` and prints the summary line (start-up is
/// counted from `t_start`); returns the exit code.
pub fn generate(model: &Model<'_>, buf: Buffers<'_>, cfg: &Config<'_>, t_start: u64) -> i32 {
    let Some(tokenizer) = model.tokenizer() else {
        out::eprintln(format_args!(
            "error: the model carries no tokenizer; generation needs text in and out"
        ));
        return code::BAD_MODEL;
    };
    if cfg.steps == 0 {
        out::eprintln(format_args!("error: GLMIX_STEPS must be at least 1"));
        return code::RUN_FAILED;
    }

    // Prompt tokens as run.c builds them: BOS + BPE, or the bytes; a newline for an empty byte prompt.
    let mut n_prompt = match tokenizer.encode(cfg.prompt.as_bytes(), true, false, buf.tokens) {
        Ok(n) => n,
        Err(e) => {
            out::eprintln(format_args!("error: cannot encode the prompt: {e}"));
            return code::RUN_FAILED;
        }
    };
    if n_prompt == 0 {
        buf.tokens[0] = u32::from(b'\n');
        n_prompt = 1;
    }
    let prompt = &buf.tokens[..n_prompt];
    if prompt.len() > cfg.context as usize {
        out::eprintln(format_args!(
            "error: the prompt is {} tokens but the context is {}; shorten GLMIX_PROMPT or raise GLMIX_CONTEXT",
            prompt.len(),
            cfg.context
        ));
        return code::RUN_FAILED;
    }

    let state_words = buf.state.len();
    let mut session = match Session::new(model, cfg.context, buf.state) {
        Ok(s) => s,
        Err(e) => {
            out::eprintln(format_args!("error: {e}"));
            return code::BAD_STATE;
        }
    };
    let mut sampler = Sampler::new(cfg.temperature, cfg.topp, cfg.topk, cfg.seed);
    let bytes_model = matches!(tokenizer, Tokenizer::Bytes);
    let t_ready = counter::now();

    let mut token = prompt[0];
    if bytes_model && !cfg.prompt.is_empty() {
        out::stdout(&[token as u8]);
    }
    let steps = cfg.steps.min(cfg.context);
    let mut pos = 0u32;
    let mut work = 0u64; // counted over step + sample only, not printing
    while pos < steps {
        let t0 = counter::now();
        let logits = match session.step(token) {
            Ok(l) => l,
            Err(e) => {
                out::eprintln(format_args!("\nerror at position {pos}: {e}"));
                return code::RUN_FAILED;
            }
        };
        let next = match prompt.get(pos as usize + 1) {
            Some(&t) => t,
            None => match sampler.sample(logits, buf.scratch) {
                Ok(t) => t,
                Err(e) => {
                    out::eprintln(format_args!("\nerror at position {pos}: {e}"));
                    return code::RUN_FAILED;
                }
            },
        };
        work += counter::now() - t0;
        pos += 1;
        if tokenizer.bos() == Some(next) {
            break;
        }
        let piece = tokenizer.decode(token, next);
        out::stdout(if bytes_model { piece.as_bytes() } else { piece.printable() });
        token = next;
    }
    out::stdout(b"\n");

    out::eprintln(format_args!(
        "glmix-fw: {pos} positions, {} {unit}/token (decode {work} {unit}, start-up {} {unit}); state {} bytes",
        work / u64::from(pos.max(1)),
        t_ready - t_start,
        state_words * 4,
        unit = counter::UNIT,
    ));
    code::OK
}
