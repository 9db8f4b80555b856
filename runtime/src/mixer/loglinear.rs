//! Log-linear state space: the `state_space` form on the `pow2_lattice` pattern (docs/model-spec.md,
//! "Log-linear state space"; Guo et al., arXiv 2506.04761, on this project's lattice).
//!
//! The cached positions `R(t) = {j_0 > j_1 > ...}` cut the past into segments, one per level: level 0 is
//! the current token, level `i + 1` is `(j_{i+1}, j_i]`, the oldest reaching down to 0. Each cached
//! position's slot holds one `head_dim x head_dim` matrix per head: its segment's decayed state.
//!
//! ```text
//! o_t = [lambda_t[0] (q_t . k_t) v_t + sum_i lambda_t[min(i + 1, L - 1)] Seg_{j_i}^T q_t] / sqrt(head_dim)
//! ```
//!
//! Invariant at the start of step `t`: the slot map holds exactly R(t) and `Seg_{j_i}` sums
//! `D(s..t-1) k_s v_s^T` over `j_i`'s segment. A step decays every segment by `d_t`, reads it, and merges
//! each segment whose position R(t+1) drops into the nearest kept segment above it (or into the new
//! segment of `t`, which starts as `k_t v_t^T`). Closure `R(t+1) ⊆ R(t) ∪ {t}` makes segments only merge,
//! so this is exact; a level cap makes the oldest segment absorb everything older.
//!
//! The simple twins: `StepCache._loglinear_step` in `models/glmix_models/mixers.py` (the same merge, on
//! tensors) and the f64 parallel form of `runtime/tests/parallel_form.rs`.

use super::{prefix_mut, record, record_mut, Io, Layer, ScratchNeeds};
use crate::cache::SlotMap;
use crate::format::Form;
use crate::kernels;
use crate::model::MixerConfig;
use crate::pattern::Pattern;
use crate::plan::{LayerPlan, LayerState};
use crate::tensor::Tensor;

/// True for the (pattern, form) pairs this module runs.
pub const fn is_loglinear(pattern: Pattern, form: Form) -> bool {
    matches!(form, Form::StateSpace) && matches!(pattern, Pattern::Pow2Lattice { .. })
}

/// `L`, the level weights per head: one per level a step of a `max_context` sequence sees (the current
/// token plus one per cached position), that is `Pattern::slots(max_context) + 1` (`cap + 1` when
/// capped). Levels beyond `L - 1` share weight `L - 1`.
pub const fn level_weights(pattern: Pattern, max_context: u32) -> usize {
    pattern.slots(max_context) as usize + 1
}

/// One matrix per head and slot, plus the lattice's tags.
pub(crate) const fn plan(m: &MixerConfig, max_context: u32) -> LayerPlan {
    let slots = m.pattern.slots(max_context) as usize;
    let tags = crate::cache::tag_words(m.pattern, slots as u32);
    let matrix = slots * m.n_heads * m.head_dim * m.head_dim;
    LayerPlan { slots, tags, keys: 0, values: 0, outs: 0, matrix, shift: 0 }
}

/// Decay gates (`q_dim`) in the second hidden buffer, level weights (`n_heads * L`, `L` from the
/// file's context) in the first.
pub(crate) const fn scratch(m: &MixerConfig, file_context: u32) -> ScratchNeeds {
    let (q, lambda) = (m.n_heads * m.head_dim, m.n_heads * level_weights(m.pattern, file_context));
    ScratchNeeds { reads: 0, hidden: if q > lambda { q } else { lambda } }
}

/// A layer's step: decay gates (`wd`) into `io.hb2`, level weights (`wl`) into `io.hb`, then
/// [`step`] into `io.o`.
pub(crate) fn decode(
    layer: &Layer<'_, '_>,
    wd: &Tensor<'_>,
    wl: &Tensor<'_>,
    io: &mut Io<'_>,
    state: LayerState<'_>,
) {
    let m = layer.mixer;
    let Io { par, xb, xq, q, k, v, o, hb, hb2, .. } = io;
    let d = super::state_space::decay_gates(*par, wd, m.q_dim(), xb, xq, hb2);
    let levels = level_weights(m.pattern, layer.model.config().max_context as u32);
    let lambda = prefix_mut(hb, m.n_heads * levels);
    crate::parallel::matvec(*par, wl, xb, xq, lambda);
    super::state_space::sigmoid(lambda);
    let shape = Shape {
        pattern: m.pattern,
        slots: layer.plan.slots as u32,
        n_heads: m.n_heads,
        head_dim: m.head_dim,
        levels,
    };
    let x = Inputs { q, k, v, d, lambda };
    step(shape, layer.pos, state.tags, state.matrix, &x, o, layer.poison);
}

/// One position's projections, per head concatenated: `q`, `k`, `v`, decay gates `d` (all `n_heads *
/// head_dim`), level weights `lambda` (`n_heads * levels`, already through the sigmoid).
pub struct Inputs<'a> {
    /// Queries.
    pub q: &'a [f32],
    /// Keys.
    pub k: &'a [f32],
    /// Values.
    pub v: &'a [f32],
    /// Decay gates in (0, 1).
    pub d: &'a [f32],
    /// Level weights.
    pub lambda: &'a [f32],
}

/// A layer's shape as this module needs it.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// The lattice.
    pub pattern: Pattern,
    /// Cache slots (one segment per slot).
    pub slots: u32,
    /// Heads.
    pub n_heads: usize,
    /// Head width.
    pub head_dim: usize,
    /// Level weights per head (`L`).
    pub levels: usize,
}

impl Shape {
    /// Words of one slot: a matrix per head.
    const fn slot_words(&self) -> usize {
        self.n_heads * self.head_dim * self.head_dim
    }
}

/// Step `pos`: reads `x`, writes `o` (`n_heads * head_dim`), updates `tags` (slot map) and `matrices`
/// (`slots` records of `n_heads * head_dim^2` words). With `poison`, freed slots are filled with NaN.
/// The caller checks capacity first ([`crate::cache::can_step`]); without it a position that does not
/// fit is dropped (wrong values, never a panic).
pub fn step(
    shape: Shape,
    pos: u32,
    tags: &mut [u32],
    matrices: &mut [f32],
    x: &Inputs<'_>,
    o: &mut [f32],
    poison: bool,
) {
    let (hd, nh, levels) = (shape.head_dim, shape.n_heads, shape.levels.max(1));
    let words = shape.slot_words();
    let scale = 1.0 / crate::math::sqrtf(hd as f32);
    let lambda =
        |h: usize, level: usize| x.lambda.get(h * levels + level.min(levels - 1)).copied().unwrap_or(0.0);

    // Level 0: the current token, lambda_0 (q . k) v.
    for h in 0..nh {
        let (qh, kh, vh) = (record(x.q, h, hd), record(x.k, h, hd), record(x.v, h, hd));
        let oh = record_mut(o, h, hd);
        oh.fill(0.0);
        kernels::axpy(oh, lambda(h, 0) * kernels::dot_f32(qh, kh) * scale, vh);
    }

    let mut map = SlotMap::attach(shape.pattern, shape.slots, tags);
    // One pass over R(pos), nearest first: decay, read as level i + 1, merge if R(pos + 1) drops it.
    let mut kept = shape.pattern.reads(pos.saturating_add(1)).peekable();
    let (mut above, mut carry) = (None::<usize>, None::<usize>);
    for (i, (j, slot)) in map.lookup(pos).enumerate() {
        let seg = record_mut(matrices, slot, words);
        for h in 0..nh {
            let (dh, qh) = (record(x.d, h, hd), record(x.q, h, hd));
            let w = lambda(h, i + 1) * scale;
            let oh = record_mut(o, h, hd);
            let sh = record_mut(seg, h, hd * hd);
            for (c, row) in sh.chunks_exact_mut(hd.max(1)).enumerate() {
                let dc = dh.get(c).copied().unwrap_or(0.0);
                row.iter_mut().for_each(|s| *s *= dc);
                kernels::axpy(oh, w * qh.get(c).copied().unwrap_or(0.0), row);
            }
        }
        while kept.next_if(|&k| k > j).is_some() {}
        if kept.next_if_eq(&j).is_some() {
            above = Some(slot);
        } else if let Some(dst) = above.or(carry) {
            add_record(matrices, dst, slot, words);
        } else {
            carry = Some(slot); // dropped with nothing kept above: it joins t's new segment
        }
    }

    // Cache `pos`; its segment is k v^T plus the carried states.
    let inserted = map.insert(pos, |freed| {
        if poison && Some(freed) != carry {
            record_mut(matrices, freed, words).fill(f32::NAN);
        }
    });
    let Some(new) = inserted else { return };
    match carry {
        Some(c) if c != new => {
            copy_record(matrices, new, c, words);
            if poison {
                record_mut(matrices, c, words).fill(f32::NAN);
            }
        }
        Some(_) => {}
        None => record_mut(matrices, new, words).fill(0.0),
    }
    let seg = record_mut(matrices, new, words);
    for h in 0..nh {
        let (kh, vh) = (record(x.k, h, hd), record(x.v, h, hd));
        for (row, &kc) in record_mut(seg, h, hd * hd).chunks_exact_mut(hd.max(1)).zip(kh) {
            kernels::axpy(row, kc, vh);
        }
    }
}

/// The records `dst` and `src` (distinct) of `buf`, mutable and shared.
fn two_records(buf: &mut [f32], dst: usize, src: usize, width: usize) -> Option<(&mut [f32], &[f32])> {
    let end = dst.max(src).checked_add(1)?.checked_mul(width)?;
    let buf = buf.get_mut(..end)?;
    let split = dst.max(src) * width;
    let (low, high) = buf.split_at_mut(split);
    let low = low.get_mut(dst.min(src) * width..)?.get_mut(..width)?;
    match dst.cmp(&src) {
        core::cmp::Ordering::Less => Some((low, high)),
        core::cmp::Ordering::Greater => Some((high, low)),
        core::cmp::Ordering::Equal => None,
    }
}

/// `buf[dst] += buf[src]` (records of `width` words).
fn add_record(buf: &mut [f32], dst: usize, src: usize, width: usize) {
    if let Some((d, s)) = two_records(buf, dst, src, width) {
        d.iter_mut().zip(s).for_each(|(d, s)| *d += s);
    }
}

/// `buf[dst] = buf[src]`.
fn copy_record(buf: &mut [f32], dst: usize, src: usize, width: usize) {
    if let Some((d, s)) = two_records(buf, dst, src, width) {
        d.copy_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::vec;

    #[test]
    fn records_split_either_way() {
        let mut buf: vec::Vec<f32> = (0..12).map(|i| i as f32).collect();
        add_record(&mut buf, 2, 0, 4);
        assert_eq!(&buf[8..], &[8.0, 10.0, 12.0, 14.0]);
        add_record(&mut buf, 0, 1, 4);
        assert_eq!(&buf[..4], &[4.0, 6.0, 8.0, 10.0]);
        copy_record(&mut buf, 1, 2, 4);
        assert_eq!(&buf[4..8], &buf[8..].to_vec()[..]);
        add_record(&mut buf, 1, 1, 4); // same record: no-op
        add_record(&mut buf, 5, 0, 4); // out of range: no-op
        assert_eq!(buf.len(), 12);
    }

    #[test]
    fn level_weights_follow_the_slots() {
        assert_eq!(level_weights(Pattern::Pow2Lattice { cap: 0 }, 64), 7);
        assert_eq!(level_weights(Pattern::Pow2Lattice { cap: 0 }, 256), 9);
        assert_eq!(level_weights(Pattern::Pow2Lattice { cap: 3 }, 256), 4);
        const L: usize = level_weights(Pattern::Pow2Lattice { cap: 0 }, 65_536);
        assert_eq!(L, 17);
    }
}
