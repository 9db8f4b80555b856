//! The slot forms: attention, recurrent and chained, over the pattern's cache of past positions.
//!
//! A step reads `R(pos)` (the pattern's positions, [`crate::pattern`]) from the layer's slots
//! ([`crate::cache::SlotMap`]) and scores them against the query, per head `h` (`kv` its key/value
//! head):
//!
//! ```text
//! a = softmax(q·k_j / sqrt(head_dim) for j in R(pos), then q·k_pos / sqrt(head_dim))   (a_t: the last)
//! attention:  o = sum_j a_j v_j + a_t v_pos
//! recurrent:  o = sum_j a_j o_j + a_t v_pos                    (o_j: this mixer's earlier outputs)
//! chained:    o = [sum_j a_j ((1 - g) v_j + g o_j) + (1 - g) a_t v_pos] / (1 - g a_t)   (g = gamma[h])
//! ```
//!
//! then caches `k_pos, v_pos, o_pos` in the slot the pattern gives `pos`, evicting what `R(pos + 1)`
//! no longer reads. Keys are cached after the rotary embedding.
//!
//! Level-aware layers ([`crate::arch::is_level_aware_defined`]) add `b[h, min(level(j), L - 1)]`
//! (`mixer.level_bias`, `L` = [`crate::arch::level_biases`] of the file's context) to each read's
//! score, `level(j)` being j's rank by recency in R(pos) (0 = the nearest: the slots come nearest
//! first, so read `r` of the `n` farthest-first ones has level `n - 1 - r`). The chained form is
//! otherwise unchanged; the recurrent form takes its diagonal from a gate instead of the softmax:
//!
//! ```text
//! recurrent, level-aware:  a = sigmoid(wa · x + ba)[h],  c = softmax(q·k_j / sqrt(head_dim) + b[level(j)] for j in R(pos))
//!                          o = (1 - a) sum_j c_j o_j + a v_pos           (o = v_pos where R(pos) is empty)
//! ```

use super::{prefix_mut as prefix, record, record_mut, Io, Layer};
use crate::cache::SlotMap;
use crate::format::{Form, Positional};
use crate::kernels;
use crate::model::{MixerConfig, Role};
use crate::plan::{LayerPlan, LayerState};

/// Slots of k (all forms), v (attention, chained) and o (recurrent, chained) records, plus the
/// lattice's tags.
pub(crate) const fn plan(m: &MixerConfig, max_context: u32) -> LayerPlan {
    let (q, kv) = (m.n_heads * m.head_dim, m.n_kv_heads * m.head_dim);
    let slots = m.pattern.slots(max_context) as usize;
    let tags = crate::cache::tag_words(m.pattern, slots as u32);
    let (keys, values, outs) = match m.form {
        Form::Attention => (slots * kv, slots * kv, 0),
        Form::Recurrent => (slots * kv, 0, slots * q),
        Form::Chained | Form::StateSpace | Form::Rwkv7 => (slots * kv, slots * kv, slots * q),
    };
    LayerPlan { slots, tags, keys, values, outs, matrix: 0, shift: 0 }
}

/// One step: rotary embedding, scores over `R(pos)` and the current position, the form's sum into
/// `io.o`, then the cache update.
pub(crate) fn step(
    layer: &Layer<'_, '_>,
    io: &mut Io<'_>,
    state: LayerState<'_>,
    rope: &mut kernels::RopeAngles,
) {
    let (m, pos) = (layer.mixer, layer.pos);
    let c = layer.model.config();
    let (hd, nh) = (m.head_dim, m.n_heads);
    let (qd, kvd) = (m.q_dim(), m.kv_dim());
    let Io { par, xb, xq, q, k, v, o, hb, scores: all_scores, reads: all_reads, .. } = io;
    let (par, xb, xq, hb) = (*par, &**xb, &**xq, &mut **hb);
    let (q, k, v, o) = (&mut **q, &mut **k, &**v, &mut **o);

    match c.positional {
        Positional::None => {}
        Positional::RopeInterleaved => match rope.get(hd, pos as usize, c.rope_theta) {
            Some(angles) => kernels::rope_interleaved_qk_angles(q, k, hd, angles),
            None => kernels::rope_interleaved_qk(q, k, hd, pos as usize, c.rope_theta),
        },
        Positional::RopeHalf => match rope.get(hd, pos as usize, c.rope_theta) {
            Some(angles) => kernels::rope_half_qk_angles(q, k, hd, angles),
            None => kernels::rope_half_qk(q, k, hd, pos as usize, c.rope_theta),
        },
    }

    let LayerState { tags, keys, values, outs, .. } = state;
    let mut slots = SlotMap::attach(m.pattern, layer.plan.slots as u32, tags);
    // The slots of R(pos), nearest first.
    let n = slots.lookup_into(pos, all_reads);
    // Farthest first, so that dense attention sums in llama2.c's order (ascending positions, the
    // current one last).
    let reads = prefix(all_reads, n);
    reads.reverse();
    let reads = kernels::Slots::new(reads);
    let scale = crate::math::sqrtf(hd as f32);
    let group = nh / m.n_kv_heads.max(1);
    let gamma = layer.model.weight(layer.index, Role::Gamma).as_f32();
    // Level-aware: the biases [nh, levels] and, recurrent, the gates' logits wa · x into `io.hb`.
    let level_bias = layer.model.weight(layer.index, Role::LevelBias).as_f32();
    let levels = crate::arch::level_biases(m.pattern, c.max_context as u32);
    let gated = m.level_aware && m.form == Form::Recurrent;
    let gates = prefix(hb, if gated { nh } else { 0 });
    if gated {
        let wa = layer.model.weight(layer.index, Role::Wa);
        crate::parallel::matvec(par, &wa, xb, xq, gates);
        let ba = layer.model.weight(layer.index, Role::WaBias).as_f32();
        gates.iter_mut().zip(ba).for_each(|(g, b)| *g += b);
        super::state_space::sigmoid(gates);
    }
    for h in 0..nh {
        let kvh = h / group.max(1);
        let qh = record(q, h, hd);
        // The reads' scores, then the current position's (the plan sizes `scores` for both; a shorter
        // buffer would leave the head's output zero).
        let scores = all_scores.get_mut(..=n).unwrap_or_default();
        if let Some((current, past)) = scores.split_last_mut() {
            kernels::gather_scores(qh, keys, kvd, kvh * hd, reads, scale, past);
            if m.level_aware {
                let bias = record(level_bias, h, levels);
                for (r, s) in past.iter_mut().enumerate() {
                    *s += bias.get((n - 1 - r).min(levels - 1)).copied().unwrap_or(0.0);
                }
            }
            *current = kernels::dot_f32(qh, record(k, kvh, hd)) / scale;
        }
        let oh = record_mut(o, h, hd);
        oh.fill(0.0);
        if gated {
            // c = softmax over R(pos) alone, scaled by 1 - a; the gate a weighs v_pos.
            let past = prefix(scores, n);
            kernels::softmax(past);
            let a = if n == 0 { 1.0 } else { gates.get(h).copied().unwrap_or(0.0) };
            past.iter_mut().for_each(|c| *c *= 1.0 - a);
            kernels::gather_axpy(oh, past, outs, qd, h * hd, reads);
            kernels::axpy(oh, a, record(v, kvh, hd));
            continue;
        }
        kernels::softmax(scores);
        let a_t = scores.last().copied().unwrap_or(0.0);
        match m.form {
            Form::Attention => {
                kernels::gather_axpy(oh, scores, values, kvd, kvh * hd, reads);
                kernels::axpy(oh, a_t, record(v, kvh, hd));
            }
            Form::Recurrent => {
                kernels::gather_axpy(oh, scores, outs, qd, h * hd, reads);
                kernels::axpy(oh, a_t, record(v, kvh, hd));
            }
            Form::Chained => {
                let g = gamma.get(h).copied().unwrap_or(0.0);
                for (&a, &slot) in scores.iter().zip(reads.list()) {
                    kernels::axpy(oh, (1.0 - g) * a, at(values, slot as usize * kvd + kvh * hd, hd));
                    kernels::axpy(oh, g * a, at(outs, slot as usize * qd + h * hd, hd));
                }
                kernels::axpy(oh, (1.0 - g) * a_t, record(v, kvh, hd));
                let norm = 1.0 / (1.0 - g * a_t);
                oh.iter_mut().for_each(|x| *x *= norm);
            }
            Form::StateSpace | Form::Rwkv7 => {}
        }
    }

    // Cache position `pos` where the pattern puts it (evicting what R(pos + 1) no longer reads).
    let poison = layer.poison;
    let inserted = slots.insert(pos, |evicted| {
        if poison {
            record_mut(keys, evicted, kvd).fill(f32::NAN);
            record_mut(values, evicted, kvd).fill(f32::NAN);
            record_mut(outs, evicted, qd).fill(f32::NAN);
        }
    });
    if let Some(slot) = inserted {
        copy(record_mut(keys, slot, kvd), k);
        copy(record_mut(values, slot, kvd), v);
        copy(record_mut(outs, slot, qd), o);
    }
}

/// `buf[start..start + len]` (empty when out of range; the plan sizes every buffer).
#[inline(always)]
fn at(buf: &[f32], start: usize, len: usize) -> &[f32] {
    buf.get(start..start + len).unwrap_or(&[])
}

/// `dst = src` over their common length (records are sized by the plan, so lengths agree).
fn copy(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
}
