//! The first-order state space: the `state_space` form on `order(1)` (docs/model-spec.md).
//!
//! Per head, one `head_dim x head_dim` matrix `S` carries the whole past:
//!
//! ```text
//! d = sigmoid(wd · x)                     decay gates, per head and row
//! S = diag(d) S + k v^T
//! o = S^T q / sqrt(head_dim)
//! ```
//!
//! The state is O(1) in the context: no slots, no tags.

use super::{prefix_mut, record, record_mut, Layer};
use crate::kernels;
use crate::model::{MixerConfig, Role};
use crate::plan::{LayerPlan, LayerState, Scratch};

/// One matrix per head.
pub(crate) const fn plan(m: &MixerConfig) -> LayerPlan {
    let matrix = m.n_heads * m.head_dim * m.head_dim;
    LayerPlan { slots: 0, tags: 0, keys: 0, values: 0, outs: 0, matrix }
}

/// `d = sigmoid(wd · x)` into the front of `s.hb2` (`q_dim` words; `x` already quantized for `wd` by
/// the caller).
pub(super) fn decay_gates(layer: &Layer<'_, '_>, s: &mut Scratch<'_>) {
    let d = prefix_mut(s.hb2, layer.mixer.q_dim());
    kernels::matvec(&layer.model.layer_tensor(layer.index, Role::Wd), s.xb, s.xq, d);
    sigmoid(d);
}

/// `x = 1 / (1 + e^-x)`, elementwise.
pub(super) fn sigmoid(x: &mut [f32]) {
    x.iter_mut().for_each(|g| *g = 1.0 / (1.0 + crate::math::expf(-*g)));
}

/// One step: decay and update each head's `S`, read it with the query into `s.o`.
pub(crate) fn step(layer: &Layer<'_, '_>, state: LayerState<'_>, s: &mut Scratch<'_>) {
    let m = layer.mixer;
    let (hd, nh, qd, kvd) = (m.head_dim, m.n_heads, m.q_dim(), m.kv_dim());
    decay_gates(layer, s);
    let d = prefix_mut(s.hb2, qd);
    let (q, k, v, o) = (prefix_mut(s.q, qd), prefix_mut(s.k, kvd), prefix_mut(s.v, kvd), prefix_mut(s.o, qd));
    let scale = 1.0 / crate::math::sqrtf(hd as f32);
    for h in 0..nh {
        let sm = record_mut(state.matrix, h, hd * hd);
        let oh = record_mut(o, h, hd);
        oh.fill(0.0);
        for i in 0..hd {
            let row = record_mut(sm, i, hd);
            let (di, ki, qi) = (
                d.get(h * hd + i).copied().unwrap_or(0.0),
                k.get(h * hd + i).copied().unwrap_or(0.0),
                q.get(h * hd + i).copied().unwrap_or(0.0),
            );
            let vh = record(v, h, hd);
            row.iter_mut().zip(vh).for_each(|(sij, vj)| *sij = di * *sij + ki * vj);
            kernels::axpy(oh, qi * scale, row);
        }
    }
}
