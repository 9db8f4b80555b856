//! `glmix generate`: text generation on the desktop, printed as llama2.c's run.c prints it.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use glmix::plan::Plan;
use glmix::sampler::{ProbIndex, Sampler};
use glmix::tokenizer::Tokenizer;
use glmix::{Model, Session};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Prompt bytes (may be empty). They need not be UTF-8: a byte-level model reads them as they
    /// are; a BPE model cuts them as llama2.c's run.c does and encodes bytes no piece covers with the
    /// byte-fallback tokens `<0xXX>` (see `glmix::tokenizer`).
    pub prompt: Vec<u8>,
    /// Total positions to run, prompt included (run.c's `-n`).
    pub steps: u32,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Nucleus threshold; values outside (0, 1) disable top-p.
    pub topp: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub topk: u32,
    /// RNG seed.
    pub seed: u64,
    /// Context to plan the state for (default: `steps`).
    pub context: Option<u32>,
}

/// Figures of one run.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Positions decoded.
    pub positions: u32,
    /// Seconds from the second position on (run.c's timing).
    pub seconds: f64,
    /// Bytes of state (caches + scratch).
    pub state_bytes: usize,
}

/// Prompt tokens as run.c builds them: BOS + BPE for BPE models; the bytes for byte models, or a
/// newline when the prompt is empty.
pub fn prompt_tokens(tokenizer: &Tokenizer<'_>, prompt: &[u8]) -> Result<Vec<u32>> {
    let mut out = vec![0u32; prompt.len() + 3];
    let n = tokenizer.encode(prompt, true, false, &mut out).context("cannot encode the prompt")?;
    out.truncate(n);
    if out.is_empty() {
        out.push(u32::from(b'\n'));
    }
    Ok(out)
}

/// Runs generation, writing text to `out`; `on_token` sees every token fed (for tests).
pub fn generate(
    model: &Model<'_>,
    opts: &Options,
    out: &mut dyn Write,
    mut on_token: impl FnMut(u32),
) -> Result<Stats> {
    if opts.steps == 0 {
        bail!("--steps must be at least 1");
    }
    if opts.context == Some(0) {
        bail!("--context must be at least 1");
    }
    let tokenizer =
        model.tokenizer().context("the model carries no tokenizer; `generate` needs text in and out")?;
    let prompt = prompt_tokens(&tokenizer, &opts.prompt)?;
    let context = opts.context.unwrap_or(opts.steps);
    if prompt.len() > context as usize {
        bail!("the prompt is {} tokens but the context is {context}; shorten the prompt or pass a larger --context", prompt.len());
    }
    let plan = Plan::new(model, context);
    let mut state = vec![0f32; plan.total_words()];
    let mut session = Session::with_plan(model, plan, &mut state)?;
    let mut sampler = Sampler::new(opts.temperature, opts.topp, opts.topk, opts.seed);
    let mut scratch = vec![ProbIndex { prob: 0.0, index: 0 }; sampler.scratch_len(model.config().vocab_size)];
    let bytes_model = matches!(tokenizer, Tokenizer::Bytes);

    let mut token = prompt[0];
    if bytes_model && !opts.prompt.is_empty() {
        out.write_all(&[token as u8])?;
    }
    let steps = opts.steps.min(context);
    let mut start = None;
    let mut pos = 0u32;
    while pos < steps {
        on_token(token);
        let logits = session.step(token).map_err(|e| anyhow::anyhow!("{e}"))?;
        let next = match prompt.get(pos as usize + 1) {
            Some(&t) => t,
            None => sampler.sample(logits, &mut scratch)?,
        };
        pos += 1;
        if tokenizer.bos() == Some(next) {
            break;
        }
        let piece = tokenizer.decode(token, next);
        out.write_all(if bytes_model { piece.as_bytes() } else { piece.printable() })?;
        out.flush()?;
        token = next;
        start.get_or_insert_with(Instant::now);
    }
    out.write_all(b"\n")?;
    out.flush()?;
    let seconds = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    Ok(Stats { positions: pos, seconds, state_bytes: session.plan().total_bytes() })
}
