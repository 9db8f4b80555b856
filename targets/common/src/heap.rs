//! The `embedded-alloc` board's program (`mps2-an386-heap`): several models in flash, one picked
//! at run time, its state allocated from a heap.
//!
//! The board embeds the models named by `GLMIX_MODELS` (see `glmix-fw-build`), puts an
//! [`LlffHeap`] over the region its `memory.x` reserves, and hands its command line to [`run`]:
//! `[MODEL [STEPS [PROMPT]]]` (defaults: the first model, `GLMIX_STEPS`, `GLMIX_PROMPT`). The context
//! is `STEPS`, as `glmix generate`'s default; sampling comes from the build (`GLMIX_TEMPERATURE`, ...).
//!
//! Memory: the runtime's planner (`Plan::new(&model, context)`) gives the state's size; with the
//! sampler's scratch and the prompt's tokens, the total is compared with the heap's free bytes
//! *before* anything is allocated, so a context that does not fit is reported ("needs N bytes, the
//! heap has M free") with exit code [`code::OUT_OF_MEMORY`]. The allocations are fallible as well
//! (`Vec::try_reserve_exact`): a heap that has the bytes but not in one piece is reported the same
//! way.
//!
//! Invariant: the three buffers are the only allocations, each made through `try_reserve_exact`, so
//! an exhausted heap is an error value here and never reaches `handle_alloc_error` (an abort).

extern crate alloc;

use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::fmt;

use embedded_alloc::LlffHeap;
use glmix::plan::Plan;
use glmix::sampler::{ProbIndex, Sampler};
use glmix::Model;

use crate::app::{self, Buffers, Config};
use crate::{code, counter, out, PROB_INDEX_ZERO};

/// One model in flash and the name the command line picks it by.
#[derive(Clone, Copy, Debug)]
pub struct Embedded {
    /// The name given in `GLMIX_MODELS`.
    pub name: &'static str,
    /// The model file, 32-byte aligned.
    pub bytes: &'static [u8],
}

/// The largest `STEPS` accepted. The planner counts in `usize`, 32 bits here: a million positions
/// keeps every plan of a model that fits this board's flash far from wrapping, and is already far
/// beyond any heap it can have.
pub const MAX_STEPS: u32 = 1 << 20;

/// What the command line asks for; `None` takes the build's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request<'a> {
    /// The model's name.
    pub model: Option<&'a str>,
    /// Positions to run, and the context planned.
    pub steps: Option<u32>,
    /// The prompt (one argument: quoted on the command line if it holds spaces).
    pub prompt: Option<&'a str>,
}

/// Why the command line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageError<'a> {
    /// An argument is not UTF-8.
    NotUtf8,
    /// `STEPS` is not a whole number in `1..=MAX_STEPS`.
    BadSteps(&'a str),
    /// More than three arguments.
    TooMany,
}

impl fmt::Display for UsageError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NotUtf8 => write!(f, "an argument is not UTF-8"),
            UsageError::BadSteps(s) => {
                write!(f, "STEPS must be a whole number from 1 to {MAX_STEPS}, not {s:?}")
            }
            UsageError::TooMany => write!(f, "too many arguments (quote a prompt that holds spaces)"),
        }
    }
}

impl<'a> Request<'a> {
    /// Reads `[MODEL [STEPS [PROMPT]]]`, the arguments after the program's name (`None`: an
    /// argument that is not UTF-8).
    pub fn parse(args: impl IntoIterator<Item = Option<&'a str>>) -> Result<Self, UsageError<'a>> {
        let mut req = Request::default();
        for (i, arg) in args.into_iter().enumerate() {
            let arg = arg.ok_or(UsageError::NotUtf8)?;
            match i {
                0 => req.model = Some(arg),
                1 => match arg.parse::<u32>() {
                    Ok(n) if (1..=MAX_STEPS).contains(&n) => req.steps = Some(n),
                    _ => return Err(UsageError::BadSteps(arg)),
                },
                2 => req.prompt = Some(arg),
                _ => return Err(UsageError::TooMany),
            }
        }
        Ok(req)
    }
}

/// The embedded models' names, comma-separated.
struct Names<'a>(&'a [Embedded]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            write!(f, "{}{}", if i == 0 { "" } else { ", " }, m.name)?;
        }
        Ok(())
    }
}

/// Bytes each buffer needs, from the planner and the sampler.
#[derive(Clone, Copy, Debug)]
struct Need {
    state_words: usize,
    scratch_len: usize,
    tokens_len: usize,
}

impl Need {
    fn of(model: &Model<'_>, cfg: &Config<'_>) -> Need {
        let sampler = Sampler::new(cfg.temperature, cfg.topp, cfg.topk, cfg.seed);
        Need {
            state_words: Plan::new(model, cfg.context).total_words(),
            scratch_len: sampler.scratch_len(model.config().vocab_size),
            // As glmix-fw-build's PROMPT_CAP: the bytes, BOS, the dummy prefix and EOS.
            tokens_len: cfg.prompt.len().saturating_add(3),
        }
    }

    fn state_bytes(&self) -> usize {
        self.state_words.saturating_mul(size_of::<f32>())
    }

    fn scratch_bytes(&self) -> usize {
        self.scratch_len.saturating_mul(size_of::<ProbIndex>())
    }

    fn tokens_bytes(&self) -> usize {
        self.tokens_len.saturating_mul(size_of::<u32>())
    }

    fn total(&self) -> usize {
        self.state_bytes().saturating_add(self.scratch_bytes()).saturating_add(self.tokens_bytes())
    }
}

/// A vector of `len` copies of `value`, or the allocator's refusal (never an abort).
fn filled<T: Copy>(len: usize, value: T) -> Result<Vec<T>, TryReserveError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)?;
    // Within the capacity just reserved: no further allocation.
    v.resize(len, value);
    Ok(v)
}

/// Runs the program: picks the model `args` names, allocates its buffers from `heap` and generates
/// (see [`app::generate`]); returns the exit code. `defaults` is the build's configuration.
pub fn run<'a>(
    heap: &LlffHeap,
    models: &[Embedded],
    args: impl IntoIterator<Item = Option<&'a str>>,
    defaults: &Config<'_>,
) -> i32 {
    let t_start = counter::now();
    let Some(first) = models.first() else {
        out::eprintln(format_args!(
            "error: no model embedded: build with GLMIX_MODELS=\"name=path/to/a.glmx;name=path/to/b.glmx\""
        ));
        return code::BAD_MODEL;
    };
    let req = match Request::parse(args) {
        Ok(r) => r,
        Err(e) => {
            out::eprintln(format_args!(
                "error: {e}; usage: [MODEL [STEPS [PROMPT]]], MODEL one of: {}",
                Names(models)
            ));
            return code::USAGE;
        }
    };
    let picked = match req.model {
        None => first,
        Some(name) => match models.iter().find(|m| m.name == name) {
            Some(m) => m,
            None => {
                out::eprintln(format_args!(
                    "error: no model named {name:?} in this firmware; it holds: {}",
                    Names(models)
                ));
                return code::USAGE;
            }
        },
    };
    let model = match app::parse(picked.bytes) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let steps = req.steps.unwrap_or(defaults.steps);
    let cfg = Config { context: steps, steps, prompt: req.prompt.unwrap_or(defaults.prompt), ..*defaults };

    // Check first: the plan is exact, so a context that cannot fit never gets near the allocator.
    let need = Need::of(&model, &cfg);
    let free = heap.free();
    if need.total() > free {
        out::eprintln(format_args!(
            "error: out of memory: model {} at context {} needs {} bytes (state {}, sampler {}, prompt {}), \
             the heap has {free} free; lower STEPS or enlarge the HEAP region in memory.x",
            picked.name,
            cfg.context,
            need.total(),
            need.state_bytes(),
            need.scratch_bytes(),
            need.tokens_bytes(),
        ));
        return code::OUT_OF_MEMORY;
    }
    let buffers = (
        filled(need.state_words, 0.0f32),
        filled(need.scratch_len, PROB_INDEX_ZERO),
        filled(need.tokens_len, 0u32),
    );
    let (mut state, mut scratch, mut tokens) = match buffers {
        (Ok(s), Ok(p), Ok(t)) => (s, p, t),
        _ => {
            // The bytes were there but not in pieces the allocator could hand out.
            out::eprintln(format_args!(
                "error: out of memory: model {} at context {} needs {} bytes in three blocks, \
                 the heap has {free} free but not in pieces that large; lower STEPS or enlarge the HEAP region in memory.x",
                picked.name,
                cfg.context,
                need.total(),
            ));
            return code::OUT_OF_MEMORY;
        }
    };
    let buf = Buffers { state: &mut state, scratch: &mut scratch, tokens: &mut tokens };
    let rc = app::generate(&model, buf, &cfg, t_start);
    out::eprintln(format_args!(
        "glmix-fw: model {}, heap {} of {} bytes used",
        picked.name,
        heap.used(),
        heap.used() + heap.free()
    ));
    rc
}
