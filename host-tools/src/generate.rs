//! `glmix generate`: text generation on the desktop, printed as llama2.c's run.c prints it.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use glmix::plan::Plan;
use glmix::sampler::{ProbIndex, Sampler};
use glmix::tokenizer::{Tokenizer, TokenizerError};
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

/// Most prompt bytes read from `--prompt-file` or stdin (far above any context a prompt can fill).
pub const MAX_PROMPT_BYTES: u64 = 256 << 20;

/// The prompt's bytes: `arg` as given, or stdin when `arg` is `-`, or the contents of `file`
/// (a regular file; at most [`MAX_PROMPT_BYTES`] either way).
pub fn prompt_input(arg: Vec<u8>, file: Option<&std::path::Path>) -> Result<Vec<u8>> {
    use std::io::Read;
    if let Some(path) = file {
        if !arg.is_empty() {
            bail!("give the prompt either with --prompt or with --prompt-file, not both");
        }
        return crate::limits::read_bounded(path, MAX_PROMPT_BYTES, "a prompt");
    }
    if arg != b"-" {
        return Ok(arg);
    }
    let mut out = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_PROMPT_BYTES + 1)
        .read_to_end(&mut out)
        .context("cannot read the prompt from stdin")?;
    if out.len() as u64 > MAX_PROMPT_BYTES {
        bail!("the prompt on stdin is longer than {}", crate::limits::human(MAX_PROMPT_BYTES));
    }
    Ok(out)
}

/// The fewest tokens `prompt` can encode to, known without encoding it: its bytes for a byte-level
/// model; for BPE, BOS plus the dummy prefix and the bytes in pieces of at most `max_token_len`.
pub fn min_prompt_tokens(tokenizer: &Tokenizer<'_>, prompt: &[u8]) -> usize {
    match tokenizer {
        Tokenizer::Bytes => prompt.len().max(1),
        Tokenizer::Bpe(v) if !prompt.is_empty() => {
            1 + (prompt.len() + 1).div_ceil(v.max_token_len().max(1) as usize)
        }
        Tokenizer::Bpe(_) => 1,
    }
}

/// `text`'s tokens by the fast encoder (BOS first when `bos`; no EOS).
pub fn encode(tokenizer: &Tokenizer<'_>, text: &[u8], bos: bool) -> Result<Vec<u32>, TokenizerError> {
    let mut out = vec![0u32; text.len() + 3];
    let mut work = vec![0u32; Tokenizer::encode_work_len(text.len())];
    let n = tokenizer.encode_fast(text, bos, false, &mut out, &mut work)?;
    out.truncate(n);
    Ok(out)
}

/// Prompt tokens as run.c builds them: BOS + BPE for BPE models; the bytes for byte models, or a
/// newline when the prompt is empty.
pub fn prompt_tokens(tokenizer: &Tokenizer<'_>, prompt: &[u8]) -> Result<Vec<u32>> {
    let mut out = encode(tokenizer, prompt, true).context("cannot encode the prompt")?;
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
    let context = opts.context.unwrap_or(opts.steps);
    // The length check before the work: a prompt that cannot fit is refused without encoding it.
    let at_least = min_prompt_tokens(&tokenizer, &opts.prompt);
    if at_least > context as usize {
        bail!(
            "the prompt is {}{at_least} tokens ({} bytes) but the context is {context}; shorten the prompt or pass a larger --context",
            if matches!(tokenizer, Tokenizer::Bytes) { "" } else { "at least " },
            opts.prompt.len()
        );
    }
    let prompt = prompt_tokens(&tokenizer, &opts.prompt)?;
    if prompt.len() > context as usize {
        bail!("the prompt is {} tokens but the context is {context}; shorten the prompt or pass a larger --context", prompt.len());
    }
    let plan = Plan::new(model, context);
    let mut state = crate::limits::state_buffer(plan.total_words())?;
    let mut session = Session::with_plan(model, plan, &mut state)?;
    session.set_parallel(crate::pool::global());
    let mut sampler = Sampler::new(opts.temperature, opts.topp, opts.topk, opts.seed);
    let mut scratch = vec![ProbIndex { prob: 0.0, index: 0 }; sampler.scratch_len(model.config().vocab_size)];
    let bytes_model = matches!(tokenizer, Tokenizer::Bytes);

    let mut token = prompt[0];
    if bytes_model && !opts.prompt.is_empty() {
        out.write_all(&[token as u8])?;
    }
    let steps = opts.steps.min(context);
    let trained = model.config().max_context;
    if steps as usize > trained {
        eprintln!(
            "warning: -n {steps} runs past the {trained} positions this model was trained on; attention and \
             the other exact-position mixers were never trained there, so what follows position {trained} degrades"
        );
    }
    let mut start = None;
    let mut pos = 0u32;
    while pos < steps {
        on_token(token);
        let logits = session.step(token)?;
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
    if pos == context && opts.steps > context {
        eprintln!(
            "stopped: the context of {context} tokens is full (-n asked for {}); pass a larger --context to go on",
            opts.steps
        );
    }
    let seconds = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    Ok(Stats { positions: pos, seconds, state_bytes: session.plan().total_bytes() })
}
