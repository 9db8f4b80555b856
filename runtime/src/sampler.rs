//! Sampling the next token from logits, as llama2.c's run.c does it, bit for bit.
//!
//! One call to [`Sampler::sample`] is run.c's `sample()`:
//!
//! * `temperature == 0`: greedy [`argmax`] (the first maximum); the RNG is not touched.
//! * otherwise `logits[q] /= temperature` for every `q`, then [`softmax`] in place (max-subtract,
//!   `expf`, sequential `f32` sum, divide), then exactly one coin `random_f32()` per call, then
//!   * `topp <= 0 || topp >= 1`: multinomial sampling (the first `i` with `coin < cdf_i`, else `n - 1`);
//!   * else top-p (nucleus) sampling: candidates `p >= (1 - topp) / (n - 1)`, sorted by descending
//!     probability, cut after the first one where the running sum exceeds `topp`, and sampled with
//!     `r = coin * cum` where `cum` is the running sum up to the cut.
//!
//! `expf` is `libm::expf`, so the microcontroller and the desktop produce the same bits. Caveat: run.c
//! on Linux links glibc, whose `expf` (since 2.27, ARM's optimized-routines algorithm) is not the
//! FreeBSD-derived `libm::expf`; the two differ in the last bit for roughly 1% of inputs in
//! `[-80, 0]` (measured against glibc 2.36). Probabilities can therefore differ from run.c's by an ulp,
//! which changes a sampled token only when the coin lands within an ulp of a cdf boundary. Greedy
//! decoding (`temperature == 0`) does not use `expf` and is exact.
//!
//! # Extension: top-k
//!
//! Not in run.c. With `0 < topk < n`, after the softmax the `k` most probable tokens are kept (sorted
//! by descending probability, ties by smaller index), and then
//! * top-p (if `0 < topp < 1`) is applied on the *renormalised* kept distribution: the cut is after the
//!   first token where the running sum exceeds `topp * sum_k` (`sum_k` = the kept mass);
//! * or else multinomial sampling over the kept tokens in that order with `r = coin * sum_k`.
//!
//! `topk == 0` or `topk >= n` is exactly run.c's path.
//!
//! # Ties in top-p
//!
//! run.c sorts with `qsort`, which promises no order among equal probabilities. glibc's `qsort` is a
//! merge sort for arrays of this size (stable, so equal probabilities stay in index order); here the
//! sort uses the total order "probability descending, then index ascending", which is that same order.
//! Against a C library with an unstable `qsort` (musl) exact ties may sample differently.
//!
//! # Seeds
//!
//! The RNG is xorshift64* on a `u64` state that starts as the seed itself, as in run.c
//! (`rng_state = rng_seed`). To match `run -s S`, use `S` sign-extended from C `int` (`atoi`) to 64
//! bits: `S as i32 as i64 as u64`. run.c replaces seed 0 by `time(NULL)`; this crate has no clock, and
//! state 0 is a fixed point of xorshift: every coin is then `0.0`, so multinomial and top-p sampling
//! always return the first token (in their order) with non-zero probability. Use a non-zero seed.

use core::cmp::Ordering;

/// A probability and its token index (run.c's `ProbIndex`), the scratch element of top-p / top-k.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProbIndex {
    /// Probability after softmax.
    pub prob: f32,
    /// Token id.
    pub index: u32,
}

/// Errors of [`Sampler::sample`]; on error the logits and the RNG state are unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SamplerError {
    /// `logits` is empty or longer than `u32::MAX`.
    BadVocabSize {
        /// `logits.len()`.
        n: usize,
    },
    /// Top-p / top-k need one [`ProbIndex`] per logit (see [`Sampler::scratch_len`]).
    ScratchTooSmall {
        /// Entries needed.
        needed: usize,
        /// Entries given.
        have: usize,
    },
}

impl core::fmt::Display for SamplerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::BadVocabSize { n } => write!(f, "cannot sample from {n} logits"),
            Self::ScratchTooSmall { needed, have } => {
                write!(f, "sampler scratch has {have} entries, needs {needed} (one per logit)")
            }
        }
    }
}

impl core::error::Error for SamplerError {}

/// One step of llama2.c's xorshift64* RNG (`random_u32`): updates `state`, returns 32 random bits.
///
/// ```
/// let mut s = 42u64;
/// assert_eq!(glmix::sampler::random_u32(&mut s), 0x56CE_4AB7);
/// assert_eq!(s, 0x5400_0020);
/// ```
pub fn random_u32(state: &mut u64) -> u32 {
    let mut s = *state;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    *state = s;
    (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
}

/// llama2.c's `random_f32`: a float in `[0, 1)` with 24 random bits.
pub fn random_f32(state: &mut u64) -> f32 {
    (random_u32(state) >> 8) as f32 / 16_777_216.0
}

/// Index of the first maximum (run.c's `sample_argmax`; strict `>`, so NaNs are never chosen over
/// an earlier value). Returns 0 for an empty slice.
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0u32;
    let mut max = match x.first() {
        Some(&v) => v,
        None => return 0,
    };
    for (i, &v) in (0u32..).zip(x).skip(1) {
        if v > max {
            best = i;
            max = v;
        }
    }
    best
}

/// run.c's `softmax`, in place: subtract the maximum, `expf`, sum sequentially in `f32`, divide.
pub fn softmax(x: &mut [f32]) {
    let Some(&first) = x.first() else { return };
    let max = x.iter().skip(1).fold(first, |m, &v| if v > m { v } else { m });
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = libm::expf(*v - max);
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// run.c's `sample_mult`: the first `i` with `coin < cdf_i`, else the last index.
fn sample_mult(probs: &[f32], coin: f32) -> u32 {
    let mut cdf = 0.0f32;
    for (i, &p) in (0u32..).zip(probs) {
        cdf += p;
        if coin < cdf {
            return i;
        }
    }
    (probs.len() as u32).saturating_sub(1)
}

/// Descending probability, then ascending index: a total order (see "Ties in top-p").
fn by_prob_desc(a: &ProbIndex, b: &ProbIndex) -> Ordering {
    b.prob.total_cmp(&a.prob).then(a.index.cmp(&b.index))
}

/// The tail of run.c's `sample_topp` on sorted candidates: cut after the first running sum above
/// `threshold` (else keep all), then sample with `r = coin * cum`. `None` if there are no candidates.
fn sample_sorted(cands: &[ProbIndex], threshold: f32, coin: f32) -> Option<u32> {
    let mut cum = 0.0f32;
    let mut kept = cands.len();
    for (i, c) in cands.iter().enumerate() {
        cum += c.prob;
        if cum > threshold {
            kept = i + 1;
            break;
        }
    }
    let nucleus = cands.get(..kept)?;
    let r = coin * cum;
    let mut cdf = 0.0f32;
    for c in nucleus {
        cdf += c.prob;
        if r < cdf {
            return Some(c.index);
        }
    }
    nucleus.last().map(|c| c.index)
}

/// run.c's `Sampler` (temperature, top-p, RNG state) plus an optional top-k (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampler {
    /// 0 = greedy; otherwise logits are divided by it.
    pub temperature: f32,
    /// Nucleus mass; `<= 0` or `>= 1` turns top-p off (multinomial sampling).
    pub topp: f32,
    /// Keep only the `topk` most probable tokens; 0 = off (run.c's behaviour). Not in run.c.
    pub topk: u32,
    /// xorshift64* state; starts as the seed (see "Seeds" in the module docs).
    pub rng_state: u64,
}

impl Sampler {
    /// A sampler with run.c's parameters; `seed` becomes the RNG state as is (must be non-zero, see
    /// the module docs). run.c's CLI defaults are `temperature = 1.0`, `topp = 0.9`.
    pub const fn new(temperature: f32, topp: f32, topk: u32, seed: u64) -> Sampler {
        Sampler { temperature, topp, topk, rng_state: seed }
    }

    fn topp_active(&self) -> bool {
        !(self.topp <= 0.0 || self.topp >= 1.0)
    }

    fn topk_active(&self, n: usize) -> bool {
        self.topk > 0 && (self.topk as usize) < n
    }

    /// Number of [`ProbIndex`] entries [`sample`](Self::sample) needs for `n` logits: `n` when top-p
    /// or top-k is active (and temperature is non-zero), else 0.
    pub fn scratch_len(&self, n: usize) -> usize {
        if self.temperature == 0.0 || !(self.topp_active() || self.topk_active(n)) {
            0
        } else {
            n
        }
    }

    /// Samples the next token from `logits` (overwritten with the probabilities unless greedy).
    ///
    /// `scratch` must have at least [`scratch_len`](Self::scratch_len)`(logits.len())` entries.
    ///
    /// ```
    /// use glmix::sampler::{ProbIndex, Sampler};
    /// let mut greedy = Sampler::new(0.0, 0.9, 0, 42);
    /// assert_eq!(greedy.sample(&mut [0.5, 2.0, 2.0, -1.0], &mut []), Ok(1));
    /// let mut s = Sampler::new(1.0, 0.9, 0, 42);
    /// let mut scratch = [ProbIndex::default(); 4];
    /// let token = s.sample(&mut [0.5, 2.0, 2.0, -1.0], &mut scratch).unwrap();
    /// assert!(token < 4);
    /// ```
    pub fn sample(&mut self, logits: &mut [f32], scratch: &mut [ProbIndex]) -> Result<u32, SamplerError> {
        let n = logits.len();
        if n == 0 || u32::try_from(n).is_err() {
            return Err(SamplerError::BadVocabSize { n });
        }
        let needed = self.scratch_len(n);
        if scratch.len() < needed {
            return Err(SamplerError::ScratchTooSmall { needed, have: scratch.len() });
        }
        if self.temperature == 0.0 {
            return Ok(argmax(logits));
        }
        for l in logits.iter_mut() {
            *l /= self.temperature;
        }
        softmax(logits);
        let probs: &[f32] = logits;
        let coin = random_f32(&mut self.rng_state);

        if self.topk_active(n) {
            return Ok(self.sample_topk(probs, scratch, coin));
        }
        if !self.topp_active() {
            return Ok(sample_mult(probs, coin));
        }
        // run.c's sample_topp: drop candidates that cannot be in the nucleus, sort, cut, sample.
        let cutoff = (1.0f32 - self.topp) / (n - 1) as f32;
        let mut n0 = 0usize;
        for (i, &p) in (0u32..).zip(probs) {
            if p >= cutoff {
                if let Some(slot) = scratch.get_mut(n0) {
                    *slot = ProbIndex { prob: p, index: i };
                    n0 += 1;
                }
            }
        }
        let cands = scratch.get_mut(..n0).unwrap_or_default();
        cands.sort_unstable_by(by_prob_desc);
        // No candidate (n == 1, tiny topp, NaNs): run.c reads probindex[-1] here; take the argmax.
        Ok(sample_sorted(cands, self.topp, coin).unwrap_or_else(|| argmax(probs)))
    }

    /// The top-k extension (module docs): keep the k most probable, then top-p or multinomial.
    fn sample_topk(&self, probs: &[f32], scratch: &mut [ProbIndex], coin: f32) -> u32 {
        let all = scratch.get_mut(..probs.len()).unwrap_or_default();
        for ((slot, &p), i) in all.iter_mut().zip(probs).zip(0u32..) {
            *slot = ProbIndex { prob: p, index: i };
        }
        let k = self.topk as usize;
        let Some(kth) = k.checked_sub(1).filter(|&kth| kth < all.len()) else {
            return argmax(probs);
        };
        all.select_nth_unstable_by(kth, by_prob_desc);
        let kept = all.get_mut(..k).unwrap_or_default();
        kept.sort_unstable_by(by_prob_desc);
        let sum_k = kept.iter().fold(0.0f32, |s, c| s + c.prob);
        let threshold = if self.topp_active() { self.topp * sum_k } else { f32::INFINITY };
        sample_sorted(kept, threshold, coin).unwrap_or_else(|| argmax(probs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_uniform_is_exact() {
        let mut x = [3.0f32; 4];
        softmax(&mut x);
        assert_eq!(x, [0.25; 4]);
    }

    #[test]
    fn argmax_first_max() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 3.0]), 0);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn errors_leave_state_alone() {
        let mut s = Sampler::new(1.0, 0.9, 0, 7);
        let mut logits = [0.0f32; 4];
        assert_eq!(
            s.sample(&mut logits, &mut [ProbIndex::default(); 3]),
            Err(SamplerError::ScratchTooSmall { needed: 4, have: 3 })
        );
        assert_eq!(s.sample(&mut [], &mut []), Err(SamplerError::BadVocabSize { n: 0 }));
        assert_eq!(s.rng_state, 7);
        assert_eq!(logits, [0.0; 4]);
    }

    #[test]
    fn single_logit_top_p_is_defined() {
        // run.c: cutoff = (1 - p) / 0 = inf, no candidate, reads probindex[-1]. Here: token 0.
        let mut s = Sampler::new(1.0, 0.9, 0, 7);
        assert_eq!(s.sample(&mut [1.0], &mut [ProbIndex::default()]), Ok(0));
    }
}
