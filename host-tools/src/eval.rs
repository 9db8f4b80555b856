//! `glmix eval`: accuracy on the synthetic tasks and bits per character on text, computed by the
//! runtime decoding one token at a time.
//!
//! Task accuracy ([`eval_task`]) follows `models/glmix_models/train.py` / `evaluate.py`: sample `i` is the
//! `i`-th draw of one `SplitMix64(seed)` stream ([`TaskStream`]); the session is reset, `tokens[..len-1]`
//! are fed one at a time (teacher forcing), and after feeding token `i` the prediction
//! `argmax(logits)` is scored against `tokens[i + 1]` wherever `mask[i + 1]` is set. Ties go to the lowest
//! token id (as `torch.argmax`); a NaN logit never wins (unless all are NaN, then id 0). The session
//! is planned for exactly `length - 1` positions, which must fit the model's trained context.
//!
//! Text loss ([`eval_text`]) follows `ShakespeareData.eval_batches`: the split is tokenized (bytes for
//! byte models), cut into non-overlapping windows of `context + 1` tokens starting every `context`
//! tokens (`(n - 1) / context` windows; the tail that fills no window is not scored), the session is
//! reset at each window and every one of its `context` predictions is scored with the natural-log
//! cross-entropy of the softmax (accumulated in f64). Bits = nats / ln 2.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use glmix::plan::Plan;
use glmix::tokenizer::Tokenizer;
use glmix::{Model, Session};

use crate::tasks::{Task, TaskStream};

/// Index of the largest logit; ties go to the lowest index, NaN never wins unless every value is NaN.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in logits.iter().enumerate().skip(1) {
        let b = logits[best];
        if v > b || (b.is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best as u32
}

/// Natural-log cross-entropy `logsumexp(logits) - logits[target]`, in f64.
pub fn cross_entropy(logits: &[f32], target: u32) -> f64 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    let sum: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
    max + sum.ln() - logits.get(target as usize).map_or(f64::NAN, |&v| v as f64)
}

/// What [`eval_task`] measured.
#[derive(Clone, Debug)]
pub struct TaskReport {
    /// The task and its parameters.
    pub task: Task,
    /// Samples evaluated.
    pub samples: u32,
    /// Stream seed.
    pub seed: u64,
    /// Answers scored.
    pub answers: u64,
    /// Answers predicted exactly.
    pub correct: u64,
    /// The model's predictions at the scored positions, in order (sample by sample).
    pub predictions: Vec<u32>,
    /// Context the session was planned for (`length - 1`).
    pub context: u32,
    /// Bytes of state (caches + scratch) for that context.
    pub state_bytes: usize,
    /// Tokens decoded.
    pub tokens: u64,
    /// Seconds spent decoding.
    pub seconds: f64,
}

impl TaskReport {
    /// Accuracy in [0, 1].
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.answers.max(1) as f64
    }
}

/// Checks that `task` can run on `model`: its tokens exist in the model's vocabulary and its sequences
/// fit the model's trained context. Returns the context to plan (`length - 1`).
pub fn check_task(model: &Model<'_>, task: &Task) -> Result<u32> {
    task.validate()?;
    let c = model.config();
    if task.vocab_size() > c.vocab_size as u64 {
        bail!(
            "the {} task uses {} token ids but the model's vocabulary has {}; give smaller task parameters or a model trained on this task",
            task.name(),
            task.vocab_size(),
            c.vocab_size
        );
    }
    let fed = task.length() - 1;
    if fed > c.max_context as u64 {
        bail!(
            "the {} task feeds {fed} tokens per sample but the model's context is {}; give smaller task parameters or a model trained at a longer context",
            task.name(),
            c.max_context
        );
    }
    Ok(fed as u32)
}

/// Evaluates `samples` samples of `task` from the stream seeded `seed`; `on_sample` is called after each.
pub fn eval_task(
    model: &Model<'_>,
    task: Task,
    samples: u32,
    seed: u64,
    mut on_sample: impl FnMut(u32),
) -> Result<TaskReport> {
    if samples == 0 {
        bail!("--samples must be at least 1");
    }
    let context = check_task(model, &task)?;
    let plan = Plan::new(model, context);
    let mut state = crate::limits::state_buffer(plan.total_words())?;
    let mut session = Session::with_plan(model, plan, &mut state)?;
    session.set_parallel(crate::pool::global());
    let (mut answers, mut correct, mut tokens, mut seconds) = (0u64, 0u64, 0u64, 0f64);
    let mut predictions = Vec::new();
    for (i, sample) in TaskStream::new(task, seed)?.take(samples as usize).enumerate() {
        session.reset();
        let start = Instant::now();
        for (pos, pair) in sample.tokens.windows(2).enumerate() {
            let logits = session.step(pair[0]).with_context(|| format!("sample {i}, position {pos}"))?;
            if sample.mask[pos + 1] {
                let p = argmax(logits);
                predictions.push(p);
                answers += 1;
                correct += u64::from(p == pair[1]);
            }
        }
        seconds += start.elapsed().as_secs_f64();
        tokens += sample.tokens.len() as u64 - 1;
        on_sample(i as u32 + 1);
    }
    Ok(TaskReport {
        task,
        samples,
        seed,
        answers,
        correct,
        predictions,
        context,
        state_bytes: session.plan().total_bytes(),
        tokens,
        seconds,
    })
}

/// Which bytes of the text file to score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The last 10 %: bytes from `floor(0.9 * len)` on, as `ShakespeareData`'s held-out split.
    Heldout,
    /// The first 90 % (`ShakespeareData`'s training split).
    Train,
    /// The whole file.
    All,
}

/// The bytes of `split` of `text`, then at most the first `max_chars` of them.
pub fn split_text(text: &[u8], split: Split, max_chars: Option<usize>) -> &[u8] {
    // Python's int(0.9 * len): the f64 product, truncated.
    let cut = ((0.9f64 * text.len() as f64) as usize).min(text.len());
    let part = match split {
        Split::Heldout => &text[cut..],
        Split::Train => &text[..cut],
        Split::All => text,
    };
    &part[..max_chars.unwrap_or(usize::MAX).min(part.len())]
}

/// What [`eval_text`] measured.
#[derive(Clone, Debug)]
pub struct TextReport {
    /// Bytes of text after the split and `--max-chars`.
    pub chars: usize,
    /// Tokens the text encodes to.
    pub text_tokens: usize,
    /// Window length (predictions per window).
    pub context: u32,
    /// Windows scored.
    pub windows: usize,
    /// Predictions scored (`windows * context`).
    pub scored: u64,
    /// Bytes of the scored target tokens (equal to `scored` for byte models).
    pub scored_bytes: u64,
    /// Sum of the losses, nats.
    pub nats: f64,
    /// Whether the tokens are bytes.
    pub byte_level: bool,
    /// Bytes of state (caches + scratch).
    pub state_bytes: usize,
    /// Seconds spent decoding.
    pub seconds: f64,
}

impl TextReport {
    /// Mean loss per token, nats.
    pub fn nats_per_token(&self) -> f64 {
        self.nats / self.scored.max(1) as f64
    }

    /// Bits per token.
    pub fn bits_per_token(&self) -> f64 {
        self.nats_per_token() / core::f64::consts::LN_2
    }

    /// Bits per byte of the scored targets (bits per character for byte-level text).
    pub fn bits_per_byte(&self) -> f64 {
        self.nats / core::f64::consts::LN_2 / self.scored_bytes.max(1) as f64
    }
}

/// Scores `text` (already split) in windows of `context` (default: the model's trained context);
/// `on_window(done, total)` is called after each window.
pub fn eval_text(
    model: &Model<'_>,
    text: &[u8],
    context: Option<u32>,
    mut on_window: impl FnMut(usize, usize),
) -> Result<TextReport> {
    let tokenizer = model.tokenizer().context("the model carries no tokenizer; `eval --text` needs one")?;
    let byte_level = matches!(tokenizer, Tokenizer::Bytes);
    let context = context.unwrap_or(model.config().max_context as u32);
    if context == 0 {
        bail!("--context must be at least 1");
    }
    let ctx = context as usize;
    // Limits before the work: a text that cannot fill one window (it encodes to at most one token
    // per byte, plus the dummy prefix), and a state above the memory limit, are refused unencoded.
    let most = text.len() + usize::from(!byte_level && !text.is_empty());
    if most < ctx + 1 {
        bail!(
            "the text is {most} tokens ({} bytes); scoring needs at least context + 1 = {} tokens (raise --max-chars or lower --context)",
            text.len(),
            ctx + 1
        );
    }
    crate::limits::check_state(model, context, None, "--context")?;
    let tokens = crate::generate::encode(&tokenizer, text, false).context("cannot encode the text")?;
    let n = tokens.len();
    let windows = n.saturating_sub(1) / ctx;
    if windows == 0 {
        bail!(
            "the text is {n} tokens ({} bytes); scoring needs at least context + 1 = {} tokens (raise --max-chars or lower --context)",
            text.len(),
            ctx + 1
        );
    }
    let plan = Plan::new(model, context);
    let mut state = crate::limits::state_buffer(plan.total_words())?;
    let mut session = Session::with_plan(model, plan, &mut state)?;
    session.set_parallel(crate::pool::global());
    let (mut nats, mut scored_bytes) = (0f64, 0u64);
    let start = Instant::now();
    for w in 0..windows {
        session.reset();
        let window = &tokens[w * ctx..w * ctx + ctx + 1];
        for pair in window.windows(2) {
            let logits = session.step(pair[0])?;
            nats += cross_entropy(logits, pair[1]);
            scored_bytes +=
                if byte_level { 1 } else { tokenizer.decode(pair[0], pair[1]).as_bytes().len() as u64 };
        }
        on_window(w + 1, windows);
    }
    Ok(TextReport {
        chars: text.len(),
        text_tokens: n,
        context,
        windows,
        scored: (windows * ctx) as u64,
        scored_bytes,
        nats,
        byte_level,
        state_bytes: session.plan().total_bytes(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_ties_go_to_the_lowest_index_and_nan_never_wins() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 1.0, f32::NAN, 1.0]), 1);
        assert_eq!(argmax(&[-1.0, f32::NAN]), 0);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
    }

    #[test]
    fn cross_entropy_of_uniform_logits_is_ln_vocab() {
        let l = [0.5f32; 8];
        assert!((cross_entropy(&l, 3) - 8f64.ln()).abs() < 1e-12);
        let l = [0.0f32, 100.0];
        assert!(cross_entropy(&l, 1) < 1e-40 + 1e-12 && cross_entropy(&l, 0) > 99.0);
    }

    #[test]
    fn split_is_the_ninety_ten_byte_split() {
        let text: Vec<u8> = (0..=255u8).cycle().take(1_115_394).collect();
        let held = split_text(&text, Split::Heldout, None);
        assert_eq!(text.len() - held.len(), 1_003_854); // models/README.md: floor(0.9 * 1,115,394)
        assert_eq!(split_text(&text, Split::Train, None).len(), 1_003_854);
        assert_eq!(split_text(&text, Split::Heldout, Some(10)), &text[1_003_854..1_003_864]);
        assert_eq!(split_text(&text, Split::All, Some(usize::MAX)).len(), text.len());
        assert_eq!(split_text(&text[..3], Split::Heldout, None), &text[2..3]);
    }
}
