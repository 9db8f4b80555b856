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

use super::{prefix_mut, record, record_mut, Io};
use crate::kernels;
use crate::model::MixerConfig;
use crate::parallel::{self, Parallel};
use crate::plan::{LayerPlan, LayerState};
use crate::quant::BlockQ8_0;
use crate::tensor::Tensor;

/// One matrix per head.
pub(crate) const fn plan(m: &MixerConfig) -> LayerPlan {
    let matrix = m.n_heads * m.head_dim * m.head_dim;
    LayerPlan { slots: 0, tags: 0, keys: 0, values: 0, outs: 0, matrix, shift: 0 }
}

/// `d = sigmoid(wd · x)` into the front of `io.hb2` (`q_dim` words, returned; `x` already quantized
/// for `wd` by the caller).
pub(super) fn decay_gates<'a>(
    par: &dyn Parallel,
    wd: &Tensor<'_>,
    q_dim: usize,
    xb: &[f32],
    xq: &[BlockQ8_0],
    hb2: &'a mut [f32],
) -> &'a mut [f32] {
    let d = prefix_mut(hb2, q_dim);
    parallel::matvec(par, wd, xb, xq, d);
    sigmoid(d);
    d
}

/// `x = 1 / (1 + e^-x)`, elementwise.
pub(super) fn sigmoid(x: &mut [f32]) {
    x.iter_mut().for_each(|g| *g = 1.0 / (1.0 + crate::math::expf(-*g)));
}

/// One step: decay and update each head's `S` (decay gates from `wd`), read it with the query into
/// `io.o`.
pub(crate) fn step(m: &MixerConfig, wd: &Tensor<'_>, io: &mut Io<'_>, state: LayerState<'_>) {
    let (hd, nh) = (m.head_dim, m.n_heads);
    let Io { par, xb, xq, q, k, v, o, hb2, .. } = io;
    let d = decay_gates(*par, wd, m.q_dim(), xb, xq, hb2);
    let (q, k, v, o) = (&**q, &**k, &**v, &mut **o);
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
