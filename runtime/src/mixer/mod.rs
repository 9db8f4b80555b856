//! Token mixers: one module per form family behind one decode contract.
//!
//! | family            | forms                          | patterns      | state per layer                   |
//! |-------------------|--------------------------------|---------------|-----------------------------------|
//! | [`attention`]     | attention, recurrent, chained  | all           | slots × (k, v and/or o records)   |
//! |                   | (level-aware or not)           |               |                                   |
//! | [`state_space`]   | state_space                    | `order(1)`    | one `head_dim²` matrix per head   |
//! | [`loglinear`]     | state_space                    | `pow2_lattice`| one such matrix per head and slot |
//! | [`crate::rwkv7`]  | rwkv7                          | `order(1)`    | one `head_dim²` matrix per head, token shift `[dim]` |
//!
//! The contract, dispatched by a `match` on the layer's [`Form`] (no trait objects):
//!
//! - [`plan`]: the regions of a layer's state for a context (a `const fn`, so sizes are known before
//!   anything runs), and [`scratch`]: what one step borrows from the shared scratch;
//! - `reset`: the empty state (zeros, every lattice slot free);
//! - [`can_step`]: whether position `pos` fits the state (the session asks every layer before any
//!   runs, so a step never fails halfway);
//! - `step`: one token, in decode form: reads the normed input `xb`, writes `xb2 = wo · o` and updates
//!   the state. All families share the projections `q, k, v = wq·x, wk·x, wv·x` (one quantization of
//!   `x` serves every matrix that reads it) and `wo`; the family computes `o` from them and its state.
//!
//! Adding a form: a variant of [`Form`], a family module (or an arm of one) with `plan` and `step`,
//! and an arm in `family`.

pub mod attention;
pub mod loglinear;
pub mod state_space;

use crate::cache;
use crate::format::Form;
use crate::kernels;
use crate::model::{MixerConfig, Model, Role};
use crate::parallel::{self, Parallel};
use crate::plan::{LayerPlan, LayerState, Scratch};
use crate::quant::BlockQ8_0;
use crate::tensor::{DType, Tensor};

/// The family that runs a (pattern, form) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// Attention, recurrent and chained forms over the pattern's slot cache.
    Slots,
    /// The first-order state space.
    StateSpace,
    /// The log-linear state space on the `2^k` lattice.
    LogLinear,
    /// RWKV-7's time mix ([`crate::rwkv7`]).
    Rwkv7,
}

const fn family(m: &MixerConfig) -> Family {
    match m.form {
        Form::Attention | Form::Recurrent | Form::Chained => Family::Slots,
        Form::StateSpace if m.is_loglinear() => Family::LogLinear,
        Form::StateSpace => Family::StateSpace,
        Form::Rwkv7 => Family::Rwkv7,
    }
}

/// The state a layer's mixer needs to serve positions `0..max_context`.
pub const fn plan(m: &MixerConfig, max_context: u32) -> LayerPlan {
    match family(m) {
        Family::Slots => attention::plan(m, max_context),
        Family::StateSpace => state_space::plan(m),
        Family::LogLinear => loglinear::plan(m, max_context),
        // One matrix per head; the token shift ([dim]) is added by `LayerPlan::for_model`.
        Family::Rwkv7 => state_space::plan(m),
    }
}

/// Words of `hb` an RWKV-7 layer's step works in, in a model of width `dim`: `sx`, `xm` (`dim`),
/// `w`, `a`, `g`, `kk` (`q_dim`) and the widest LoRA vector.
pub const fn rwkv7_work_words(dim: usize, m: &MixerConfig) -> usize {
    let [w, a, v, g] = m.lora;
    let rank = max(max(w, a), max(v, g));
    dim.saturating_mul(2).saturating_add(m.q_dim().saturating_mul(4)).saturating_add(rank)
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// What one step of a layer's mixer borrows from the shared scratch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScratchNeeds {
    /// Most cached positions a step reads (the `scores` and `reads` buffers).
    pub reads: usize,
    /// Words of each of the MLP's two hidden buffers the mixer uses.
    pub hidden: usize,
}

/// What a step of `m` borrows from the scratch, for a file trained at `file_context` and a state
/// planned for `max_context`.
pub const fn scratch(m: &MixerConfig, file_context: u32, max_context: u32) -> ScratchNeeds {
    match family(m) {
        Family::Slots => ScratchNeeds {
            reads: m.pattern.max_reads(max_context) as usize,
            // Level-aware recurrent: the gates, one per head (attention.rs).
            hidden: if m.level_aware && matches!(m.form, Form::Recurrent) { m.n_heads } else { 0 },
        },
        Family::StateSpace => ScratchNeeds { reads: 0, hidden: m.n_heads * m.head_dim },
        Family::LogLinear => loglinear::scratch(m, file_context),
        // Its work vectors depend on the model's width: `Plan::new` adds `rwkv7_work_words`.
        Family::Rwkv7 => ScratchNeeds { reads: 0, hidden: 0 },
    }
}

/// Empties a layer's state: zeros, every lattice slot free.
pub(crate) fn reset(m: &MixerConfig, state: LayerState<'_>) {
    let LayerState { tags, keys, values, outs, matrix, shift } = state;
    for region in [keys, values, outs, matrix, shift] {
        region.fill(0.0);
    }
    cache::reset_tags(m.pattern, tags);
}

/// True if a layer planned with `p` for `max_context` positions can step at `pos`.
pub fn can_step(m: &MixerConfig, p: &LayerPlan, max_context: u32, pos: u32) -> bool {
    cache::can_step(m.pattern, p.slots as u32, max_context, pos)
}

/// One layer of a model at one position: what a step reads besides the state and the scratch.
pub(crate) struct Layer<'a, 'm> {
    /// The model.
    pub model: &'a Model<'m>,
    /// Layer index.
    pub index: usize,
    /// Its mixer.
    pub mixer: &'a MixerConfig,
    /// Its state's plan.
    pub plan: &'a LayerPlan,
    /// Position being decoded.
    pub pos: u32,
    /// Testing aid: fill freed records with NaN ([`crate::Session::poison_evicted`]).
    pub poison: bool,
    /// Runs the matrix-vector products' row ranges ([`crate::Session::set_parallel`]).
    pub par: &'a dyn Parallel,
}

impl Layer<'_, '_> {
    fn tensor(&self, role: Role) -> Tensor<'_> {
        self.model.weight(self.index, role)
    }
}

/// A step's buffers, cut from the scratch once per layer: the normed input and its quantization, the
/// projections at this mixer's widths, and the scratch regions the families borrow.
pub(crate) struct Io<'a> {
    /// Runs the matrix-vector products' row ranges (the same bits for every split).
    pub par: &'a dyn Parallel,
    /// The normed input `x`.
    pub xb: &'a [f32],
    /// `x` quantized (q8_0), for block-quantized weights.
    pub xq: &'a mut [BlockQ8_0],
    /// `q` `[q_dim]`, `k`, `v` `[kv_dim]`, the output `o` `[q_dim]`.
    pub q: &'a mut [f32],
    pub k: &'a mut [f32],
    pub v: &'a mut [f32],
    pub o: &'a mut [f32],
    /// The MLP's hidden buffers (state space: level weights, decay gates).
    pub hb: &'a mut [f32],
    pub hb2: &'a mut [f32],
    /// Scores of the positions read, and their slots.
    pub scores: &'a mut [f32],
    pub reads: &'a mut [u32],
}

/// One token through a layer's mixer: reads `s.xb`, writes `s.xb2 = wo · o`, updates `state`.
/// `rope` caches the rotary angles of the position across layers.
pub(crate) fn step(
    layer: &Layer<'_, '_>,
    state: LayerState<'_>,
    s: &mut Scratch<'_>,
    rope: &mut kernels::RopeAngles,
) {
    let m = layer.mixer;
    if family(m) == Family::Rwkv7 {
        return rwkv7_step(layer, state, s);
    }
    let (qd, kvd) = (m.q_dim(), m.kv_dim());
    let Scratch { xb, xb2, hb, hb2, q, k, v, o, scores, reads, xq, .. } = s;
    let mut io = Io {
        par: layer.par,
        xb,
        xq,
        q: prefix_mut(q, qd),
        k: prefix_mut(k, kvd),
        v: prefix_mut(v, kvd),
        o: prefix_mut(o, qd),
        hb,
        hb2,
        scores,
        reads,
    };
    let (wq, wk, wv) = (layer.tensor(Role::Wq), layer.tensor(Role::Wk), layer.tensor(Role::Wv));
    // Also the state-space decay gates and level weights and the level-aware gates, which read the
    // same input.
    let (wd, wl, wa) = (layer.tensor(Role::Wd), layer.tensor(Role::Wl), layer.tensor(Role::Wa));
    quantize_for(&[&wq, &wk, &wv, &wd, &wl, &wa], io.xb, io.xq);
    parallel::matvec(io.par, &wq, io.xb, io.xq, io.q);
    parallel::matvec(io.par, &wk, io.xb, io.xq, io.k);
    parallel::matvec(io.par, &wv, io.xb, io.xq, io.v);
    match family(m) {
        Family::Slots => attention::step(layer, &mut io, state, rope),
        Family::StateSpace => state_space::step(m, &wd, &mut io, state),
        Family::LogLinear => loglinear::decode(layer, &wd, &wl, &mut io, state),
        Family::Rwkv7 => {} // returned above
    }
    matvec(io.par, &layer.tensor(Role::Wo), io.o, io.xq, xb2);
}

/// An RWKV-7 layer's time mix ([`crate::rwkv7`]): reads `s.xb`, writes `s.xb2`, updates the layer's
/// matrices and token shift (the first `dim` words of `shift`); the step's first value lives in
/// `s.first` across layers.
fn rwkv7_step(layer: &Layer<'_, '_>, state: LayerState<'_>, s: &mut Scratch<'_>) {
    use crate::rwkv7::{time_mix, TimeMix, TimeMixShape};
    let m = layer.mixer;
    let (dim, q) = (s.x.len(), m.q_dim());
    let p = TimeMixShape { head_size: m.head_dim, ranks: m.lora, group_norm_eps: m.group_norm_eps };
    let weights = rwkv7_layer(layer);
    let Scratch { xb, xb2, hb, q: r, k, v, o, first, xq, .. } = s;
    let mut work = &mut **hb;
    let b = &mut work;
    let take = crate::rwkv7::take;
    let (sx, xm) = (take(b, dim), take(b, dim));
    let (w, a, g, kk) = (take(b, q), take(b, q), take(b, q), take(b, q));
    let lora = take(b, work_rank(m));
    let mut tm = TimeMix {
        sx,
        xm,
        r: prefix_mut(r, q),
        w,
        k: prefix_mut(k, q),
        v: prefix_mut(v, q),
        a,
        g,
        kk,
        y: prefix_mut(o, q),
        out: xb2,
        v_first: prefix_mut(first, q),
        lora,
        xq,
    };
    let (att_xx, _) = state.shift.split_at_mut(dim.min(state.shift.len()));
    time_mix(layer.par, &p, &weights, xb, att_xx, state.matrix, &mut tm);
}

/// The widest LoRA rank of a layer.
fn work_rank(m: &MixerConfig) -> usize {
    m.lora.iter().copied().max().unwrap_or(0)
}

/// An RWKV-7 layer's tensors as [`crate::rwkv7`] reads them (views into the file; the norms and the
/// channel mix are the session's, so those fields are left empty).
fn rwkv7_layer<'m>(layer: &Layer<'_, 'm>) -> crate::rwkv7::Rwkv7Layer<'m> {
    let t = |role| layer.model.weight(layer.index, role);
    let e = Tensor::empty();
    crate::rwkv7::Rwkv7Layer {
        ln1_weight: e,
        ln1_bias: e,
        ln2_weight: e,
        ln2_bias: e,
        x_rwkvag: t(Role::Mix),
        w0: t(Role::W0),
        w1: t(Role::DecayDown),
        w2: t(Role::DecayUp),
        a0: t(Role::A0),
        a1: t(Role::RateDown),
        a2: t(Role::RateUp),
        v0: t(Role::V0),
        v1: t(Role::ResidualDown),
        v2: t(Role::ResidualUp),
        g1: t(Role::GateDown),
        g2: t(Role::GateUp),
        k_k: t(Role::KeyNorm),
        k_a: t(Role::KeyRate),
        r_k: t(Role::Bonus),
        receptance: t(Role::Wq),
        key: t(Role::Wk),
        value: t(Role::Wv),
        output: t(Role::Wo),
        ln_x_weight: t(Role::GroupNorm),
        ln_x_bias: t(Role::GroupNormBias),
        ffn_x_k: e,
        ffn_key: e,
        ffn_value: e,
    }
}

/// `out = W x` (rows split by `par`), quantizing `x` into `xq` first when `W` is block-quantized.
pub(crate) fn matvec(par: &dyn Parallel, w: &Tensor<'_>, x: &[f32], xq: &mut [BlockQ8_0], out: &mut [f32]) {
    quantize_for(&[w], x, xq);
    parallel::matvec(par, w, x, xq, out);
}

/// Quantizes `x` into `xq` once when any of the matrices that read it is block-quantized, so that
/// several products of the same input (wq, wk, wv; w1, w3) share one quantization.
pub(crate) fn quantize_for(weights: &[&Tensor<'_>], x: &[f32], xq: &mut [BlockQ8_0]) {
    if weights.iter().any(|w| matches!(w.dtype(), DType::Q8_0 | DType::Q4_0)) {
        kernels::quantize_q8_0(x, xq);
    }
}

/// The first `n` elements of `buf` (all of it when shorter; the plan sizes every buffer).
pub(crate) fn prefix_mut<T>(buf: &mut [T], n: usize) -> &mut [T] {
    let n = n.min(buf.len());
    buf.split_at_mut(n).0
}

/// Record `i` of `width` words (empty when out of range; the plan sizes every buffer).
fn record(buf: &[f32], i: usize, width: usize) -> &[f32] {
    let start = i.saturating_mul(width);
    buf.get(start..start.saturating_add(width)).unwrap_or(&[])
}

/// Record `i` of `width` words, mutable (empty when out of range).
fn record_mut(buf: &mut [f32], i: usize, width: usize) -> &mut [f32] {
    let start = i.saturating_mul(width);
    buf.get_mut(start..start.saturating_add(width)).unwrap_or(&mut [])
}
