//! The seeded synthetic tasks (copy, copy-fixed, associative recall, multi-hop, multi-hop with hidden
//! hops): bit-for-bit twins of `models/glmix_models/tasks.py` (layouts in `models/README.md`).
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
    /// `max_gap - g` BLANKs, `n` random symbols in `[0, vocab)`, `g` BLANKs, SEP = `vocab`, the same symbols
    /// again (BLANK = `vocab + 1`, `g` drawn per sample): the copy distance `n + 1 + g` varies.
    Copy {
        /// Symbols to copy.
        n: u32,
        /// Symbol alphabet size.
        vocab: u32,
        /// Largest gap between the symbols and SEP.
        max_gap: u32,
    },
    /// The original copy: `n` random symbols in `[0, vocab)`, SEP = `vocab`, then the same symbols again.
    CopyFixed {
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
    /// Pointer chasing, every hop fed and supervised.
    MultiHop {
        /// Symbol alphabet size.
        n_symbols: u32,
        /// Chains listed.
        n_chains: u32,
        /// Hops per chain (answers).
        hops: u32,
    },
    /// Variable chains assigned in causal order and interleaved; one variable at a drawn depth is asked for.
    MultiHopHidden {
        /// Variable alphabet size.
        n_vars: u32,
        /// Value alphabet size.
        n_values: u32,
        /// Chains (the queried one and its distractors).
        n_chains: u32,
        /// Smallest depth asked for.
        min_depth: u32,
        /// Largest depth asked for (and the length of every chain).
        max_depth: u32,
    },
}

/// Task names, as the CLI and `tasks.py` spell them.
pub const TASK_NAMES: [&str; 5] = ["copy", "copy-fixed", "recall", "multihop", "multihop-hidden"];

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

/// `--snake-case` spelling of a parameter (`max_gap` -> `--max-gap`).
fn flag(param: &str) -> String {
    format!("--{}", param.replace('_', "-"))
}

impl Task {
    /// `tasks.py`'s `Copy()`.
    pub const COPY: Task = Task::Copy { n: 64, vocab: 32, max_gap: 31 };
    /// `tasks.py`'s `CopyFixed()`.
    pub const COPY_FIXED: Task = Task::CopyFixed { n: 64, vocab: 32 };
    /// `tasks.py`'s `Recall()` (Zoology's MQAR settings).
    pub const RECALL: Task = Task::Recall { n_pairs: 16, n_queries: 16, n_keys: 4096, n_values: 4096 };
    /// `tasks.py`'s `MultiHop()`.
    pub const MULTIHOP: Task = Task::MultiHop { n_symbols: 64, n_chains: 4, hops: 4 };
    /// `tasks.py`'s `MultiHopHidden()`.
    pub const MULTIHOP_HIDDEN: Task =
        Task::MultiHopHidden { n_vars: 64, n_values: 16, n_chains: 4, min_depth: 4, max_depth: 8 };
    /// Every task with its default parameters, in [`TASK_NAMES`] order.
    pub const ALL: [Task; 5] =
        [Task::COPY, Task::COPY_FIXED, Task::RECALL, Task::MULTIHOP, Task::MULTIHOP_HIDDEN];

    /// The task named `name` with its default parameters.
    pub fn by_name(name: &str) -> Result<Task, TaskError> {
        Task::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
            TaskError(format!("unknown task {name:?}; expected one of: {}", TASK_NAMES.join(", ")))
        })
    }

    /// The task's name.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Copy { .. } => "copy",
            Task::CopyFixed { .. } => "copy-fixed",
            Task::Recall { .. } => "recall",
            Task::MultiHop { .. } => "multihop",
            Task::MultiHopHidden { .. } => "multihop-hidden",
        }
    }

    /// The parameters as `(tasks.py field name, value)`, in the dataclass's order.
    pub fn params(&self) -> Vec<(&'static str, u32)> {
        match *self {
            Task::Copy { n, vocab, max_gap } => vec![("n", n), ("vocab", vocab), ("max_gap", max_gap)],
            Task::CopyFixed { n, vocab } => vec![("n", n), ("vocab", vocab)],
            Task::Recall { n_pairs, n_queries, n_keys, n_values } => vec![
                ("n_pairs", n_pairs),
                ("n_queries", n_queries),
                ("n_keys", n_keys),
                ("n_values", n_values),
            ],
            Task::MultiHop { n_symbols, n_chains, hops } => {
                vec![("n_symbols", n_symbols), ("n_chains", n_chains), ("hops", hops)]
            }
            Task::MultiHopHidden { n_vars, n_values, n_chains, min_depth, max_depth } => vec![
                ("n_vars", n_vars),
                ("n_values", n_values),
                ("n_chains", n_chains),
                ("min_depth", min_depth),
                ("max_depth", max_depth),
            ],
        }
    }

    /// The task with parameter `param` (a `tasks.py` field name) set to `value`. A parameter this task
    /// lacks is an error naming the tasks that have it.
    pub fn with_param(self, param: &str, value: u32) -> Result<Task, TaskError> {
        let mut t = self;
        let slot = match (&mut t, param) {
            (Task::Copy { n, .. } | Task::CopyFixed { n, .. }, "n") => n,
            (Task::Copy { vocab, .. } | Task::CopyFixed { vocab, .. }, "vocab") => vocab,
            (Task::Copy { max_gap, .. }, "max_gap") => max_gap,
            (Task::Recall { n_pairs, .. }, "n_pairs") => n_pairs,
            (Task::Recall { n_queries, .. }, "n_queries") => n_queries,
            (Task::Recall { n_keys, .. }, "n_keys") => n_keys,
            (Task::Recall { n_values, .. } | Task::MultiHopHidden { n_values, .. }, "n_values") => n_values,
            (Task::MultiHop { n_symbols, .. }, "n_symbols") => n_symbols,
            (Task::MultiHop { n_chains, .. } | Task::MultiHopHidden { n_chains, .. }, "n_chains") => n_chains,
            (Task::MultiHop { hops, .. }, "hops") => hops,
            (Task::MultiHopHidden { n_vars, .. }, "n_vars") => n_vars,
            (Task::MultiHopHidden { min_depth, .. }, "min_depth") => min_depth,
            (Task::MultiHopHidden { max_depth, .. }, "max_depth") => max_depth,
            _ => {
                let owners: Vec<&str> = Task::ALL
                    .iter()
                    .filter(|o| o.params().iter().any(|(p, _)| *p == param))
                    .map(|o| o.name())
                    .collect();
                return Err(TaskError(if owners.is_empty() {
                    format!("{} is not a task parameter", flag(param))
                } else {
                    format!(
                        "{} is a parameter of the {} task, not of {}",
                        flag(param),
                        owners.join(" and "),
                        self.name()
                    )
                }));
            }
        };
        *slot = value;
        Ok(t)
    }

    /// Tokens the task uses (`tasks.py`'s `vocab_size`), computed without overflow.
    pub fn vocab_size(&self) -> u64 {
        match *self {
            Task::Copy { vocab, .. } => u64::from(vocab) + 2,
            Task::CopyFixed { vocab, .. } => u64::from(vocab) + 1,
            Task::Recall { n_keys, n_values, .. } => u64::from(n_keys) + u64::from(n_values) + 1,
            Task::MultiHop { n_symbols, .. } => u64::from(n_symbols) + 1,
            Task::MultiHopHidden { n_vars, n_values, .. } => u64::from(n_vars) + u64::from(n_values) + 1,
        }
    }

    /// Tokens per sample (`tasks.py`'s `length`), computed without overflow.
    pub fn length(&self) -> u64 {
        match *self {
            Task::Copy { n, max_gap, .. } => 2 * u64::from(n) + 1 + u64::from(max_gap),
            Task::CopyFixed { n, .. } => 2 * u64::from(n) + 1,
            Task::Recall { n_pairs, n_queries, .. } => 2 * u64::from(n_pairs) + 1 + 2 * u64::from(n_queries),
            Task::MultiHop { n_chains, hops, .. } => {
                2 * u64::from(n_chains) * u64::from(hops) + 2 + u64::from(hops)
            }
            Task::MultiHopHidden { n_chains, max_depth, .. } => {
                2 * u64::from(n_chains) * u64::from(max_depth) + 3
            }
        }
    }

    /// Answers per sample.
    pub fn answers(&self) -> u64 {
        match *self {
            Task::Copy { n, .. } | Task::CopyFixed { n, .. } => u64::from(n),
            Task::Recall { n_queries, .. } => u64::from(n_queries),
            Task::MultiHop { hops, .. } => u64::from(hops),
            Task::MultiHopHidden { .. } => 1,
        }
    }

    /// Checks the parameters: every draw is well defined, there is at least one answer, token ids fit
    /// `u32`, and the sequence is at most [`MAX_LENGTH`] tokens.
    pub fn validate(&self) -> Result<(), TaskError> {
        let err = |m: String| Err(TaskError(format!("{}: {m}", self.name())));
        match *self {
            Task::Copy { n, vocab, .. } | Task::CopyFixed { n, vocab } => {
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
            Task::MultiHopHidden { n_vars, n_values, n_chains, min_depth, max_depth } => {
                if n_chains == 0 || min_depth == 0 || min_depth > max_depth {
                    return err(format!(
                        "--n-chains ({n_chains}) and --min-depth ({min_depth}) must be at least 1 and --min-depth at most --max-depth ({max_depth})"
                    ));
                }
                let need = u64::from(n_chains) * u64::from(max_depth);
                if need > u64::from(n_vars) {
                    return err(format!(
                        "--n-chains x --max-depth = {need} distinct variables needed but --n-vars is {n_vars}"
                    ));
                }
                if n_chains > n_values {
                    return err(format!(
                        "--n-chains ({n_chains}) must not exceed --n-values ({n_values}): chains hold distinct values"
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
            Task::Copy { n, vocab, max_gap } => {
                let g = rng.below(u64::from(max_gap) + 1) as usize;
                let x: Vec<u32> = (0..n).map(|_| rng.below(u64::from(vocab)) as u32).collect();
                let blank = vocab + 1;
                let mut tokens = vec![blank; max_gap as usize - g];
                tokens.extend_from_slice(&x);
                tokens.resize(tokens.len() + g, blank);
                tokens.push(vocab);
                tokens.extend_from_slice(&x);
                let mut mask = vec![false; (u64::from(n) + 1 + u64::from(max_gap)) as usize];
                mask.resize(tokens.len(), true);
                Sample { tokens, mask }
            }
            Task::CopyFixed { n, vocab } => {
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
            Task::MultiHopHidden { n_vars, n_values, n_chains, min_depth, max_depth } => {
                let l = max_depth as usize;
                let vars = rng.choose(n_vars, n_chains * max_depth);
                let vals: Vec<u32> = rng.choose(n_values, n_chains).iter().map(|&v| n_vars + v).collect();
                let d = (min_depth + rng.below(u64::from(max_depth - min_depth) + 1) as u32) as usize;
                // the i-th entry names the chain whose next assignment is written i-th
                let mut order: Vec<usize> = (0..n_chains as usize).flat_map(|c| [c].repeat(l)).collect();
                rng.shuffle(&mut order);
                let mut next = vec![0usize; n_chains as usize];
                let mut tokens = Vec::with_capacity(self.length() as usize);
                for c in order {
                    let k = next[c];
                    next[c] += 1;
                    // "u_1 value" opens a chain, "u_k u_{k-1}" continues it
                    tokens.extend([vars[c * l + k], if k == 0 { vals[c] } else { vars[c * l + k - 1] }]);
                }
                tokens.extend([n_vars + n_values, vars[d - 1], vals[0]]);
                let mut mask = vec![false; tokens.len() - 1];
                mask.push(true);
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
        let small = [
            Task::MultiHop { n_symbols: 9, n_chains: 3, hops: 2 },
            Task::Copy { n: 3, vocab: 2, max_gap: 0 },
            Task::MultiHopHidden { n_vars: 2, n_values: 1, n_chains: 1, min_depth: 2, max_depth: 2 },
        ];
        for task in Task::ALL.into_iter().chain(small) {
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
    fn copy_distance_varies_and_copies() {
        let task = Task::COPY;
        let mut distances = std::collections::BTreeSet::new();
        for s in TaskStream::new(task, 3).unwrap().take(400) {
            let sep = s.tokens.iter().position(|&t| t == 32).unwrap();
            let start = s.tokens.iter().position(|&t| t < 32).unwrap();
            assert_eq!(&s.tokens[start..start + 64], &s.tokens[sep + 1..]);
            distances.insert(sep + 1 - start);
        }
        // every distance 65..=96 is drawn, none a power of two
        assert_eq!(distances, (65..=96).collect());
    }

    #[test]
    fn hidden_hops_resolve_to_the_answer() {
        let task = Task::MULTIHOP_HIDDEN;
        let mut depths = [0u32; 9];
        for s in TaskStream::new(task, 11).unwrap().take(300) {
            let (body, tail) = s.tokens.split_at(s.tokens.len() - 3);
            let mut value = std::collections::HashMap::new();
            for a in body.chunks(2) {
                // causal order: a source variable is assigned before it is read
                let v = if a[1] >= 64 { a[1] } else { value[&a[1]] };
                assert!(value.insert(a[0], v).is_none(), "each variable is assigned once");
            }
            assert_eq!(tail[0], 80);
            assert_eq!(value[&tail[1]], tail[2]);
            // the depth: lookups from the query to the value
            let (mut var, mut depth) = (tail[1], 1);
            let src: std::collections::HashMap<u32, u32> = body.chunks(2).map(|a| (a[0], a[1])).collect();
            while src[&var] < 64 {
                var = src[&var];
                depth += 1;
            }
            depths[depth] += 1;
        }
        assert!(depths[..4].iter().all(|&c| c == 0) && depths[4..].iter().all(|&c| c > 0), "{depths:?}");
    }

    #[test]
    fn parameters_are_set_by_name() {
        let t = Task::COPY.with_param("max_gap", 5).unwrap().with_param("n", 7).unwrap();
        assert_eq!(t, Task::Copy { n: 7, vocab: 32, max_gap: 5 });
        for task in Task::ALL {
            for (p, v) in task.params() {
                assert_eq!(
                    task.with_param(p, v + 1).unwrap().params().iter().find(|q| q.0 == p).unwrap().1,
                    v + 1
                );
            }
        }
        assert_eq!(
            Task::COPY.with_param("hops", 3).unwrap_err().0,
            "--hops is a parameter of the multihop task, not of copy"
        );
        assert_eq!(
            Task::COPY_FIXED.with_param("n_chains", 3).unwrap_err().0,
            "--n-chains is a parameter of the multihop and multihop-hidden task, not of copy-fixed"
        );
        assert!(Task::RECALL.with_param("max_gap", 3).is_err());
    }

    #[test]
    fn bad_parameters_are_errors() {
        for bad in [
            Task::Copy { n: 0, vocab: 3, max_gap: 1 },
            Task::Copy { n: 3, vocab: 0, max_gap: 1 },
            Task::Copy { n: 3, vocab: 3, max_gap: u32::MAX },
            Task::CopyFixed { n: 0, vocab: 3 },
            Task::Recall { n_pairs: 5, n_queries: 6, n_keys: 10, n_values: 3 },
            Task::Recall { n_pairs: 11, n_queries: 1, n_keys: 10, n_values: 3 },
            Task::Recall { n_pairs: 2, n_queries: 1, n_keys: 10, n_values: 0 },
            Task::MultiHop { n_symbols: 9, n_chains: 2, hops: 4 },
            Task::MultiHop { n_symbols: 9, n_chains: 0, hops: 4 },
            Task::MultiHopHidden { n_vars: 9, n_values: 4, n_chains: 2, min_depth: 0, max_depth: 4 },
            Task::MultiHopHidden { n_vars: 9, n_values: 4, n_chains: 2, min_depth: 5, max_depth: 4 },
            Task::MultiHopHidden { n_vars: 7, n_values: 4, n_chains: 2, min_depth: 1, max_depth: 4 },
            Task::MultiHopHidden { n_vars: 9, n_values: 1, n_chains: 2, min_depth: 1, max_depth: 4 },
            Task::MultiHopHidden { n_vars: 9, n_values: 4, n_chains: 0, min_depth: 1, max_depth: 4 },
            Task::CopyFixed { n: u32::MAX, vocab: 3 },
            Task::CopyFixed { n: 3, vocab: u32::MAX },
            Task::Copy { n: 3, vocab: u32::MAX - 1, max_gap: 0 },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(Task::by_name("sort")
            .unwrap_err()
            .0
            .contains("expected one of: copy, copy-fixed, recall, multihop, multihop-hidden"));
    }
}
