//! The seeded synthetic tasks (copy, associative recall, multi-hop): bit-for-bit twins of
//! `models/glmix_models/tasks.py`.
//!
//! Invariants, shared with the Python side and checked against one committed fixture
//! (`models/golden/tasks.json`, by `tests/tasks.rs` here and `tests/test_evaluate.py` there):
//! - [`SplitMix64`] is splitmix64 with 64-bit wrapping arithmetic; `below(m) = next() % m` (modulo bias
//!   included), `choose(m, c)` = the first `c` entries of a partial Fisher-Yates shuffle of `0..m`,
//!   `shuffle` = a full Fisher-Yates from the end.
//! - A stream with seed `s` is one `SplitMix64(s)`; sample `i` consumes the draws after sample `i - 1`
//!   ([`TaskStream`]).
//! - A sample is `(tokens, mask)` of the task's [`Task::length`]; every token is `< vocab_size()`;
//!   `mask[i]` marks token `i` as an answer. The model reads `tokens[..len-1]` and is scored at the
//!   positions `i` where `mask[i + 1]` is set, predicting `tokens[i + 1]`.
//!
//! Parameters are validated up front ([`Task::validate`]): a task that Python would reject (or that
//! would divide by zero) is a [`TaskError`], never a panic.

use core::fmt;

/// The splitmix64 generator (Steele, Lea, Flood 2014).
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `next() % m`; `m` must be non-zero (callers validate their parameters).
    pub fn below(&mut self, m: u64) -> u64 {
        self.next_u64() % m.max(1)
    }

    /// The first `c` entries of a partial Fisher-Yates shuffle of `0..m` (`c <= m`).
    pub fn choose(&mut self, m: u32, c: u32) -> Vec<u32> {
        let mut p: Vec<u32> = (0..m).collect();
        let c = c.min(m) as usize;
        for i in 0..c {
            let j = i + self.below((p.len() - i) as u64) as usize;
            p.swap(i, j);
        }
        p.truncate(c);
        p
    }

    /// A full Fisher-Yates shuffle, from the last element down.
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            x.swap(i, j);
        }
    }
}

/// One sample: the tokens and which of them are answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Token ids, each `< vocab_size`.
    pub tokens: Vec<u32>,
    /// `mask[i]`: token `i` is an answer.
    pub mask: Vec<bool>,
}

/// A task with its parameters (the defaults are `tasks.py`'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `n` random symbols in `[0, vocab)`, SEP = `vocab`, then the same symbols again.
    Copy {
        /// Symbols to copy.
        n: u32,
        /// Symbol alphabet size.
        vocab: u32,
    },
    /// Multi-query associative recall.
    Recall {
        /// Key-value pairs listed.
        n_pairs: u32,
        /// Pairs queried after SEP.
        n_queries: u32,
        /// Key alphabet size.
        n_keys: u32,
        /// Value alphabet size.
        n_values: u32,
    },
    /// Pointer chasing.
    MultiHop {
        /// Symbol alphabet size.
        n_symbols: u32,
        /// Chains listed.
        n_chains: u32,
        /// Hops per chain (answers).
        hops: u32,
    },
}

/// Task names, as the CLI and `tasks.py` spell them.
pub const TASK_NAMES: [&str; 3] = ["copy", "recall", "multihop"];

/// Why a task's parameters are unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError(pub String);

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TaskError {}

/// Sequences longer than this are refused (far beyond any context a model here plans).
pub const MAX_LENGTH: u64 = 1 << 24;

impl Task {
    /// `tasks.py`'s `Copy()`.
    pub const COPY: Task = Task::Copy { n: 64, vocab: 32 };
    /// `tasks.py`'s `Recall()`.
    pub const RECALL: Task = Task::Recall { n_pairs: 32, n_queries: 16, n_keys: 64, n_values: 64 };
    /// `tasks.py`'s `MultiHop()`.
    pub const MULTIHOP: Task = Task::MultiHop { n_symbols: 64, n_chains: 4, hops: 4 };

    /// The task named `name` with its default parameters.
    pub fn by_name(name: &str) -> Result<Task, TaskError> {
        match name {
            "copy" => Ok(Task::COPY),
            "recall" => Ok(Task::RECALL),
            "multihop" => Ok(Task::MULTIHOP),
            _ => Err(TaskError(format!("unknown task {name:?}; expected one of: {}", TASK_NAMES.join(", ")))),
        }
    }

    /// The task's name.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Copy { .. } => "copy",
            Task::Recall { .. } => "recall",
            Task::MultiHop { .. } => "multihop",
        }
    }

    /// Tokens the task uses (`tasks.py`'s `vocab_size`), computed without overflow.
    pub fn vocab_size(&self) -> u64 {
        match *self {
            Task::Copy { vocab, .. } => u64::from(vocab) + 1,
            Task::Recall { n_keys, n_values, .. } => u64::from(n_keys) + u64::from(n_values) + 1,
            Task::MultiHop { n_symbols, .. } => u64::from(n_symbols) + 1,
        }
    }

    /// Tokens per sample (`tasks.py`'s `length`), computed without overflow.
    pub fn length(&self) -> u64 {
        match *self {
            Task::Copy { n, .. } => 2 * u64::from(n) + 1,
            Task::Recall { n_pairs, n_queries, .. } => 2 * u64::from(n_pairs) + 1 + 2 * u64::from(n_queries),
            Task::MultiHop { n_chains, hops, .. } => {
                2 * u64::from(n_chains) * u64::from(hops) + 2 + u64::from(hops)
            }
        }
    }

    /// Answers per sample.
    pub fn answers(&self) -> u64 {
        match *self {
            Task::Copy { n, .. } => u64::from(n),
            Task::Recall { n_queries, .. } => u64::from(n_queries),
            Task::MultiHop { hops, .. } => u64::from(hops),
        }
    }

    /// Checks the parameters: every draw is well defined, there is at least one answer, token ids fit
    /// `u32`, and the sequence is at most [`MAX_LENGTH`] tokens.
    pub fn validate(&self) -> Result<(), TaskError> {
        let err = |m: String| Err(TaskError(format!("{}: {m}", self.name())));
        match *self {
            Task::Copy { n, vocab } => {
                if n == 0 || vocab == 0 {
                    return err(format!("--n ({n}) and --vocab ({vocab}) must be at least 1"));
                }
            }
            Task::Recall { n_pairs, n_queries, n_keys, n_values } => {
                if n_pairs == 0 || n_queries == 0 || n_values == 0 {
                    return err(format!(
                        "--n-pairs ({n_pairs}), --n-queries ({n_queries}) and --n-values ({n_values}) must be at least 1"
                    ));
                }
                if n_pairs > n_keys {
                    return err(format!(
                        "--n-pairs ({n_pairs}) must not exceed --n-keys ({n_keys}): keys are distinct"
                    ));
                }
                if n_queries > n_pairs {
                    return err(format!(
                        "--n-queries ({n_queries}) must not exceed --n-pairs ({n_pairs}): queries are distinct pairs"
                    ));
                }
            }
            Task::MultiHop { n_symbols, n_chains, hops } => {
                if n_chains == 0 || hops == 0 {
                    return err(format!("--n-chains ({n_chains}) and --hops ({hops}) must be at least 1"));
                }
                let need = u64::from(n_chains) * (u64::from(hops) + 1);
                if need > u64::from(n_symbols) {
                    return err(format!(
                        "--n-chains x (--hops + 1) = {need} distinct symbols needed but --n-symbols is {n_symbols}"
                    ));
                }
            }
        }
        if self.vocab_size() > u64::from(u32::MAX) {
            return err(format!("vocabulary of {} tokens does not fit 32-bit token ids", self.vocab_size()));
        }
        if self.length() > MAX_LENGTH {
            return err(format!("sequences of {} tokens; at most {MAX_LENGTH} are supported", self.length()));
        }
        Ok(())
    }

    /// Draws one sample from `rng` (parameters must have passed [`Task::validate`]).
    pub fn sample(&self, rng: &mut SplitMix64) -> Sample {
        match *self {
            Task::Copy { n, vocab } => {
                let x: Vec<u32> = (0..n).map(|_| rng.below(u64::from(vocab)) as u32).collect();
                let mut tokens = x.clone();
                tokens.push(vocab);
                tokens.extend_from_slice(&x);
                let mut mask = vec![false; n as usize + 1];
                mask.resize(2 * n as usize + 1, true);
                Sample { tokens, mask }
            }
            Task::Recall { n_pairs, n_queries, n_keys, n_values } => {
                let keys = rng.choose(n_keys, n_pairs);
                let vals: Vec<u32> =
                    (0..n_pairs).map(|_| n_keys + rng.below(u64::from(n_values)) as u32).collect();
                let (mut tokens, mut mask) = (Vec::new(), Vec::new());
                for (&k, &v) in keys.iter().zip(&vals) {
                    tokens.extend([k, v]);
                    mask.extend([false, false]);
                }
                tokens.push(n_keys + n_values);
                mask.push(false);
                for qi in rng.choose(n_pairs, n_queries) {
                    tokens.extend([keys[qi as usize], vals[qi as usize]]);
                    mask.extend([false, true]);
                }
                Sample { tokens, mask }
            }
            Task::MultiHop { n_symbols, n_chains, hops } => {
                let l = hops as usize + 1;
                let perm = rng.choose(n_symbols, n_chains * (hops + 1));
                let chains: Vec<&[u32]> = perm.chunks(l).collect();
                let mut pairs: Vec<(u32, u32)> =
                    chains.iter().flat_map(|ch| ch.windows(2).map(|w| (w[0], w[1]))).collect();
                rng.shuffle(&mut pairs);
                let mut tokens: Vec<u32> = pairs.iter().flat_map(|&(s, d)| [s, d]).collect();
                tokens.push(n_symbols);
                tokens.extend_from_slice(chains[0]);
                let mut mask = vec![false; tokens.len() - hops as usize];
                mask.resize(tokens.len(), true);
                Sample { tokens, mask }
            }
        }
    }
}

/// Samples drawn one after another from one `SplitMix64(seed)`, as `tasks.py`'s `TaskStream`.
#[derive(Clone, Debug)]
pub struct TaskStream {
    task: Task,
    rng: SplitMix64,
}

impl TaskStream {
    /// A stream of `task` (validated here) seeded with `seed`.
    pub fn new(task: Task, seed: u64) -> Result<Self, TaskError> {
        task.validate()?;
        Ok(TaskStream { task, rng: SplitMix64::new(seed) })
    }
}

impl Iterator for TaskStream {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        Some(self.task.sample(&mut self.rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // models/README.md: seed 0 gives these three outputs.
        let mut r = SplitMix64::new(0);
        assert_eq!(
            [r.next_u64(), r.next_u64(), r.next_u64()],
            [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
        );
    }

    #[test]
    fn layouts_match_their_declared_shape() {
        for task in
            [Task::COPY, Task::RECALL, Task::MULTIHOP, Task::MultiHop { n_symbols: 9, n_chains: 3, hops: 2 }]
        {
            for s in TaskStream::new(task, 7).unwrap().take(20) {
                assert_eq!(s.tokens.len() as u64, task.length());
                assert_eq!(s.mask.len() as u64, task.length());
                assert_eq!(s.mask.iter().filter(|&&m| m).count() as u64, task.answers());
                assert!(s.tokens.iter().all(|&t| u64::from(t) < task.vocab_size()));
                assert!(!s.mask[0]);
            }
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        for bad in [
            Task::Copy { n: 0, vocab: 3 },
            Task::Copy { n: 3, vocab: 0 },
            Task::Recall { n_pairs: 5, n_queries: 6, n_keys: 10, n_values: 3 },
            Task::Recall { n_pairs: 11, n_queries: 1, n_keys: 10, n_values: 3 },
            Task::Recall { n_pairs: 2, n_queries: 1, n_keys: 10, n_values: 0 },
            Task::MultiHop { n_symbols: 9, n_chains: 2, hops: 4 },
            Task::MultiHop { n_symbols: 9, n_chains: 0, hops: 4 },
            Task::Copy { n: u32::MAX, vocab: 3 },
            Task::Copy { n: 3, vocab: u32::MAX },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(Task::by_name("sort").unwrap_err().0.contains("expected one of: copy, recall, multihop"));
    }
}
