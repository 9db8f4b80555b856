//! Scalar kernels: the boring twins, and the specification every architecture kernel is tested against.
//!
//! Always compiled, on every target. The float loops are written like llama2.c's `run.c` (same
//! operations, same order, no fused multiply-add: Rust never contracts `a * b + c`), so a model run
//! with these kernels reproduces llama2.c's numbers. Quantized dots follow ggml's scalar
//! `ggml_vec_dot_q8_0_q8_0` / `q4_0_q8_0`: an exact `i32` sum per block, then
//! `sumf += sumi as f32 * (d_w * d_x)` block after block.
//!
//! Lengths: every kernel works on the common prefix of its slices and never panics.

use super::Kernels;
use crate::math::{cosf, expf, powf, sincosf, sinf, sqrtf, tanhf};
use crate::quant::{BlockQ4_0, BlockQ8_0, QuantBlock};
use crate::tensor::{DType, Tensor, QK};
use half::{bf16, f16};

/// The scalar implementation of the dispatched kernels.
pub(crate) struct Generic;

impl Kernels for Generic {}

/// `sum_i a[i] * b[i]`, summed sequentially in f32 (llama2.c's `val += w[j] * x[j]`).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut val = 0.0f32;
    for (&x, &y) in a.iter().zip(b) {
        val += x * y;
    }
    val
}

/// `y[i] += a * x[i]` (multiply, then add: no FMA).
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

/// Dot product of a row of little-endian f16 (`w`, 2 bytes per element) with `x`, sequential in f32.
pub fn dot_f16(w: &[u8], x: &[f32]) -> f32 {
    let mut val = 0.0f32;
    for (&b, &xv) in w.as_chunks::<2>().0.iter().zip(x) {
        val += f16::from_le_bytes(b).to_f32() * xv;
    }
    val
}

/// Dot product of a row of little-endian bf16 (`w`, 2 bytes per element) with `x`, sequential in f32.
pub fn dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    let mut val = 0.0f32;
    for (&b, &xv) in w.as_chunks::<2>().0.iter().zip(x) {
        val += bf16::from_le_bytes(b).to_f32() * xv;
    }
    val
}

/// Quantized dot product, given the integer block dot (`dot_i32`): ggml's
/// `sumf += sumi * (d_w * d_x)` over the common blocks. Architecture kernels pass their own exact
/// `dot_i32`, so their results are bit-identical to the scalar ones.
#[inline(always)]
pub fn vec_dot_by<B: QuantBlock>(w: &[B], x: &[BlockQ8_0], dot_i32: impl Fn(&B, &BlockQ8_0) -> i32) -> f32 {
    let mut sumf = 0.0f32;
    for (bw, bx) in w.iter().zip(x) {
        sumf += dot_i32(bw, bx) as f32 * (bw.d() * bx.d());
    }
    sumf
}

/// Quantized weight blocks times q8_0 activation blocks (ggml's scalar `vec_dot_*_q8_0`).
pub fn vec_dot<B: QuantBlock>(w: &[B], x: &[BlockQ8_0]) -> f32 {
    vec_dot_by(w, x, B::dot_i32)
}

/// `out[r] = sum_c W[r][c] x[c]` with the scalar kernels; see [`super::matvec`] for the contract.
pub fn matvec(w: &Tensor<'_>, x: &[f32], xq: &[BlockQ8_0], out: &mut [f32]) {
    super::matvec_with::<Generic>(w, x, xq, out);
}

/// The cached record of `slot`: `buf[slot * stride + offset..][..len]`, empty when out of range.
#[inline(always)]
fn gathered(buf: &[f32], slot: u32, stride: usize, offset: usize, len: usize) -> &[f32] {
    let start = (slot as usize).saturating_mul(stride).saturating_add(offset);
    buf.get(start..start.saturating_add(len)).unwrap_or(&[])
}

/// Attention scores over cached records: `out[i] = dot_f32(q, rec(slots[i])) / scale` with
/// `rec(s) = buf[s * stride + offset..][..q.len()]` (a record out of range gives `0 / scale`), for
/// `i < min(slots.len(), out.len())`.
pub fn gather_scores(
    q: &[f32],
    buf: &[f32],
    stride: usize,
    offset: usize,
    slots: &[u32],
    scale: f32,
    out: &mut [f32],
) {
    for (o, &s) in out.iter_mut().zip(slots) {
        *o = dot_f32(q, gathered(buf, s, stride, offset, q.len())) / scale;
    }
}

/// Weighted sum of cached records into `o`: `axpy(o, weights[i], rec(slots[i]))` for `i` in order,
/// `rec(s) = buf[s * stride + offset..][..o.len()]` (a record out of range adds nothing).
pub fn gather_axpy(o: &mut [f32], weights: &[f32], buf: &[f32], stride: usize, offset: usize, slots: &[u32]) {
    let len = o.len();
    for (&a, &s) in weights.iter().zip(slots) {
        axpy(o, a, gathered(buf, s, stride, offset, len));
    }
}

/// The cache slots a gather reads, with an upper bound of them computed once: every head of a layer
/// gathers over the same slots, so each gather's range check ([`Records::all_in_range`]) is O(1).
#[derive(Clone, Copy, Debug)]
pub struct Slots<'a> {
    list: &'a [u32],
    /// At least every slot of `list` (their maximum, or the bound of a list this one is part of).
    max: u32,
}

impl<'a> Slots<'a> {
    /// The slots `list`, in order.
    pub fn new(list: &'a [u32]) -> Self {
        Slots { list, max: list.iter().copied().max().unwrap_or(0) }
    }
    /// The slots, in order.
    pub fn list(&self) -> &'a [u32] {
        self.list
    }
    /// The slots from index `from` on (none past the end), with the same bound.
    pub fn tail(&self, from: usize) -> Slots<'a> {
        Slots { list: self.list.get(from..).unwrap_or_default(), max: self.max }
    }
}

/// The cached records a gather reads: record `i` is `buf[slots[i] * stride + offset..]`, as long as
/// the query or the accumulator (the head size). One value for the four numbers every gather kernel
/// takes, with the range check they share.
#[derive(Clone, Copy, Debug)]
pub struct Records<'a> {
    /// The cache: one record per slot, `stride` f32 apart.
    pub buf: &'a [f32],
    /// f32 from one slot's record to the next.
    pub stride: usize,
    /// f32 from a slot's start to this head's record.
    pub offset: usize,
    /// The slots to read, in order.
    pub slots: Slots<'a>,
}

impl<'a> Records<'a> {
    /// The records of `slots` in `buf`, `stride` f32 apart, each at `offset` in its slot.
    #[inline(always)]
    pub fn new(buf: &'a [f32], stride: usize, offset: usize, slots: Slots<'a>) -> Self {
        Records { buf, stride, offset, slots }
    }
    /// The slots, in order.
    #[inline(always)]
    pub fn list(&self) -> &'a [u32] {
        self.slots.list
    }
    /// The records from index `from` on (none past the end).
    #[inline(always)]
    pub fn tail(&self, from: usize) -> Records<'a> {
        Records { slots: self.slots.tail(from), ..*self }
    }
    /// Whether every record `buf[slot * stride + offset..][..len]` is in range (one O(1) check for a
    /// whole gather, so that the kernels index without per-record checks).
    #[inline(always)]
    pub fn all_in_range(&self, len: usize) -> bool {
        let max = self.slots.max as usize;
        let end = max
            .checked_mul(self.stride)
            .and_then(|v| v.checked_add(self.offset))
            .and_then(|v| v.checked_add(len));
        end.is_some_and(|end| end <= self.buf.len())
    }
    /// `buf`'s address plus `offset` (not dereferenceable by itself): record `s` starts at
    /// `base().add(s * stride)`, in range where [`Records::all_in_range`] holds.
    #[inline(always)]
    pub fn base(&self) -> *const f32 {
        self.buf.as_ptr().wrapping_add(self.offset)
    }
    /// The record of `slot`, `len` f32; empty where it runs out of `buf`.
    #[inline(always)]
    pub fn record(&self, slot: u32, len: usize) -> &'a [f32] {
        let start = (slot as usize).saturating_mul(self.stride).saturating_add(self.offset);
        self.buf.get(start..start.saturating_add(len)).unwrap_or(&[])
    }
    /// The record of `slot` as `N` f32; `None` where it runs out of `buf`.
    #[inline(always)]
    fn get<const N: usize>(&self, slot: u32) -> Option<&'a [f32; N]> {
        let start = (slot as usize).saturating_mul(self.stride).saturating_add(self.offset);
        self.buf.get(start..).and_then(|r| r.first_chunk::<N>())
    }
    /// The record of `slot` as `N` f32, unchecked.
    ///
    /// # Safety
    /// `all_in_range(N)` holds and `slot` is one of `slots`.
    #[inline(always)]
    unsafe fn get_unchecked<const N: usize>(&self, slot: u32) -> &'a [f32; N] {
        // SAFETY: `slot * stride + offset + N <= buf.len()` (the caller's `all_in_range(N)`, computed
        // without overflow), so the N f32 read are inside `buf`; `[f32; N]` has f32's alignment.
        unsafe { &*self.buf.as_ptr().add(slot as usize * self.stride + self.offset).cast::<[f32; N]>() }
    }
}

/// [`gather_scores`] for a head size `N` known at compile time: the same sequential sums, unrolled,
/// `q` held in registers, one range check per call. Bit-identical to the twin.
#[inline(always)]
pub(crate) fn gather_scores_n<const N: usize>(q: &[f32; N], recs: Records<'_>, scale: f32, out: &mut [f32]) {
    let q = *q;
    let dot = |rec: &[f32; N]| {
        let mut val = 0.0f32;
        for (&a, &b) in q.iter().zip(rec) {
            val += a * b;
        }
        val / scale
    };
    if recs.all_in_range(N) {
        for (o, &s) in out.iter_mut().zip(recs.list()) {
            // SAFETY: `all_in_range(N)` (checked above); `s` is one of the slots.
            *o = dot(unsafe { recs.get_unchecked::<N>(s) });
        }
    } else {
        for (o, &s) in out.iter_mut().zip(recs.list()) {
            *o = match recs.get::<N>(s) {
                Some(rec) => dot(rec),
                None => 0.0 / scale,
            };
        }
    }
}

/// [`gather_axpy`] for a head size `N` known at compile time: the accumulator lives in registers,
/// one range check per call. Bit-identical to the twin.
#[inline(always)]
pub(crate) fn gather_axpy_n<const N: usize>(o: &mut [f32; N], weights: &[f32], recs: Records<'_>) {
    let mut acc = *o;
    let mut add = |a: f32, rec: &[f32; N]| {
        for (acc, &r) in acc.iter_mut().zip(rec) {
            *acc += a * r;
        }
    };
    if recs.all_in_range(N) {
        for (&a, &s) in weights.iter().zip(recs.list()) {
            // SAFETY: `all_in_range(N)` (checked above); `s` is one of the slots.
            add(a, unsafe { recs.get_unchecked::<N>(s) });
        }
    } else {
        for (&a, &s) in weights.iter().zip(recs.list()) {
            if let Some(rec) = recs.get::<N>(s) {
                add(a, rec);
            }
        }
    }
    *o = acc;
}

/// RMS normalization, llama2.c's formula: `ss = 1 / sqrtf(sum(x^2) / n + eps)`,
/// `out = weight * (ss * x)`, over the common length `n` of the three slices.
pub fn rmsnorm(out: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
    let n = out.len().min(x.len()).min(weight.len());
    let ss = rms_scale(x.get(..n).unwrap_or_default(), eps);
    for ((o, &xv), &wv) in out.iter_mut().zip(x).zip(weight) {
        *o = wv * (ss * xv);
    }
}

/// [`rmsnorm`] in place (llama2.c's `rmsnorm(x, x, w, n)`), same arithmetic.
pub fn rmsnorm_inplace(x: &mut [f32], weight: &[f32], eps: f32) {
    let n = x.len().min(weight.len());
    let ss = rms_scale(x.get(..n).unwrap_or_default(), eps);
    for (xv, &wv) in x.iter_mut().zip(weight) {
        *xv = wv * (ss * *xv);
    }
}

fn rms_scale(x: &[f32], eps: f32) -> f32 {
    let mut ss = 0.0f32;
    for &v in x {
        ss += v * v;
    }
    ss /= x.len() as f32;
    ss += eps;
    1.0 / sqrtf(ss)
}

/// Softmax in place, llama2.c's order: subtract the max, `expf`, sum, divide. Empty input: no-op.
pub fn softmax(x: &mut [f32]) {
    softmax_with(x, exp_shifted);
}

/// `x[i] = expf(x[i] - shift)`.
pub fn exp_shifted(x: &mut [f32], shift: f32) {
    for v in x.iter_mut() {
        *v = expf(*v - shift);
    }
}

/// [`softmax`] with the exponential pass `exp` (a twin of [`exp_shifted`]).
#[inline(always)]
pub(crate) fn softmax_with(x: &mut [f32], exp: impl FnOnce(&mut [f32], f32)) {
    let Some((&first, rest)) = x.split_first() else {
        return;
    };
    let mut max = first;
    for &v in rest {
        if v > max {
            max = v;
        }
    }
    // Two passes (same values as one): the first may be vectorized, the sum stays sequential.
    exp(x, max);
    let mut sum = 0.0f32;
    for &v in x.iter() {
        sum += v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// SiLU `x * sigma(x)`, computed as llama2.c does: `x * (1 / (1 + expf(-x)))`.
///
/// (Mathematically `x / (1 + e^-x)`; the division by the reciprocal is kept because it is what
/// llama2.c computes, bit for bit.)
#[inline]
pub fn silu(x: f32) -> f32 {
    x * (1.0 / (1.0 + expf(-x)))
}

/// SwiGLU in place: `h1[i] = silu(h1[i]) * h3[i]` (llama2.c's FFN loop), over the common length.
pub fn swiglu(h1: &mut [f32], h3: &[f32]) {
    for (a, &b) in h1.iter_mut().zip(h3) {
        *a = silu(*a) * b;
    }
}

/// GELU, tanh approximation, in place: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
pub fn gelu_tanh(x: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for v in x.iter_mut() {
        let u = *v;
        *v = 0.5 * u * (1.0 + tanhf(SQRT_2_OVER_PI * (u + 0.044715 * u * u * u)));
    }
}

/// Rotary embedding on interleaved pairs `(2k, 2k+1)` of every head in `v` (`[n_heads][head_dim]`),
/// llama2.c's formula: `freq = 1 / powf(theta, i / head_dim)` for even `i`, angle `pos * freq`.
///
/// A trailing partial head and, for odd `head_dim`, each head's last element are left unchanged.
pub fn rope_interleaved(v: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    rope_interleaved_qk(v, &mut [], head_dim, pos, theta);
}

/// [`rope_interleaved`] on `q` and on `k`, computing each angle's cosine and sine once for both (the
/// same values, so the same bits as two calls).
pub fn rope_interleaved_qk(q: &mut [f32], k: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    if head_dim < 2 {
        return;
    }
    for i in (0..head_dim - 1).step_by(2) {
        let freq = 1.0f32 / powf(theta, i as f32 / head_dim as f32);
        let val = pos as f32 * freq;
        let (fcr, fci) = (cosf(val), sinf(val));
        for head in q.chunks_exact_mut(head_dim).chain(k.chunks_exact_mut(head_dim)) {
            // `i + 1 < head_dim`: the pair is always there.
            if let Some([h0, h1]) = head.get_mut(i..i + 2) {
                let (v0, v1) = (*h0, *h1);
                *h0 = v0 * fcr - v1 * fci;
                *h1 = v0 * fci + v1 * fcr;
            }
        }
    }
}

/// Most angles [`RopeAngles`] holds: head sizes up to 128.
pub const ROPE_MAX_PAIRS: usize = 64;

/// The cosine and sine of each rotary angle of one position, `angle_j = pos * (1 / powf(theta, 2j /
/// head_dim))` (the formula of [`rope_interleaved`] and [`rope_half`] alike), computed once per token
/// and shared by every layer and head: the values those functions compute per call, so the same bits.
/// The frequencies `1 / powf(theta, 2j / head_dim)` do not depend on the position: kept across
/// positions (a session keeps one `RopeAngles`), recomputed when `head_dim` or `theta` changes; the
/// cosine and sine come from one [`sincosf`] per angle (the bits of `cosf` and `sinf`).
#[derive(Clone, Debug)]
pub struct RopeAngles {
    /// `(head_dim, pos, theta bits)` of `cs`, or `None` before the first use.
    key: Option<(usize, usize, u32)>,
    cs: [(f32, f32); ROPE_MAX_PAIRS],
    /// `(head_dim, theta bits)` of `freq`, or `None` before the first use.
    freq_key: Option<(usize, u32)>,
    freq: [f32; ROPE_MAX_PAIRS],
}

impl Default for RopeAngles {
    fn default() -> Self {
        RopeAngles {
            key: None,
            cs: [(1.0, 0.0); ROPE_MAX_PAIRS],
            freq_key: None,
            freq: [0.0; ROPE_MAX_PAIRS],
        }
    }
}

impl RopeAngles {
    /// The `head_dim / 2` angles of `pos`, recomputed only when the arguments differ from the last
    /// call's; `None` when `head_dim / 2 > ROPE_MAX_PAIRS` (compute per call then).
    pub fn get(&mut self, head_dim: usize, pos: usize, theta: f32) -> Option<&[(f32, f32)]> {
        let pairs = head_dim / 2;
        let cs = self.cs.get_mut(..pairs)?;
        let freq = self.freq.get_mut(..pairs)?;
        if self.freq_key != Some((head_dim, theta.to_bits())) {
            for (j, f) in freq.iter_mut().enumerate() {
                *f = 1.0f32 / powf(theta, (2 * j) as f32 / head_dim as f32);
            }
            self.freq_key = Some((head_dim, theta.to_bits()));
        }
        let key = (head_dim, pos, theta.to_bits());
        if self.key != Some(key) {
            for (a, &f) in cs.iter_mut().zip(freq.iter()) {
                let (sin, cos) = sincosf(pos as f32 * f);
                *a = (cos, sin);
            }
            self.key = Some(key);
        }
        Some(cs)
    }
}

/// [`rope_interleaved_qk`] with the angles given ([`RopeAngles::get`]): pairs `(2j, 2j + 1)` of each
/// head rotated by angle `j`, for `j < angles.len()`.
pub fn rope_interleaved_qk_angles(q: &mut [f32], k: &mut [f32], head_dim: usize, angles: &[(f32, f32)]) {
    if head_dim == 0 {
        return;
    }
    for head in q.chunks_exact_mut(head_dim).chain(k.chunks_exact_mut(head_dim)) {
        for (pair, &(fcr, fci)) in head.as_chunks_mut::<2>().0.iter_mut().zip(angles) {
            let [v0, v1] = *pair;
            *pair = [v0 * fcr - v1 * fci, v0 * fci + v1 * fcr];
        }
    }
}

/// [`rope_half_qk`] with the angles given ([`RopeAngles::get`]): pairs `(j, j + head_dim / 2)` of
/// each head rotated by angle `j`, for `j < angles.len()`.
pub fn rope_half_qk_angles(q: &mut [f32], k: &mut [f32], head_dim: usize, angles: &[(f32, f32)]) {
    if head_dim == 0 {
        return;
    }
    for head in q.chunks_exact_mut(head_dim).chain(k.chunks_exact_mut(head_dim)) {
        let (lo, hi) = head.split_at_mut(head_dim / 2);
        for ((x0, x1), &(fcr, fci)) in lo.iter_mut().zip(hi.iter_mut()).zip(angles) {
            let (v0, v1) = (*x0, *x1);
            *x0 = v0 * fcr - v1 * fci;
            *x1 = v0 * fci + v1 * fcr;
        }
    }
}

/// Rotary embedding on half-split pairs `(i, i + head_dim/2)` of every head (the GPT-NeoX /
/// Hugging Face `rotate_half` layout): `freq_i = 1 / powf(theta, 2i / head_dim)`.
///
/// A trailing partial head is left unchanged.
pub fn rope_half(v: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    rope_half_qk(v, &mut [], head_dim, pos, theta);
}

/// [`rope_half`] on `q` and on `k`, each angle's cosine and sine computed once for both.
pub fn rope_half_qk(q: &mut [f32], k: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    let half = head_dim / 2;
    if half == 0 {
        return;
    }
    for i in 0..half {
        let freq = 1.0f32 / powf(theta, (2 * i) as f32 / head_dim as f32);
        let val = pos as f32 * freq;
        let (fcr, fci) = (cosf(val), sinf(val));
        for head in q.chunks_exact_mut(head_dim).chain(k.chunks_exact_mut(head_dim)) {
            // `i < half <= head_dim - half`: both halves hold element `i`.
            let (lo, hi) = head.split_at_mut(half);
            if let (Some(h0), Some(h1)) = (lo.get_mut(i), hi.get_mut(i)) {
                let (v0, v1) = (*h0, *h1);
                *h0 = v0 * fcr - v1 * fci;
                *h1 = v0 * fci + v1 * fcr;
            }
        }
    }
}

/// Dequantizes row `row` of `t` into `out[..min(cols, out.len())]`, whatever the dtype (`U8`/`U32`
/// elements are converted to their value as f32). A row past the end gives zeros.
pub fn embedding_row(t: &Tensor<'_>, row: usize, out: &mut [f32]) {
    let n = t.cols().min(out.len());
    let out = out.get_mut(..n).unwrap_or_default();
    let bytes = t.row(row);
    if bytes.is_empty() {
        out.fill(0.0);
        return;
    }
    match t.dtype() {
        DType::F32 => {
            for (o, &b) in out.iter_mut().zip(bytes.as_chunks::<4>().0) {
                *o = f32::from_le_bytes(b);
            }
        }
        DType::F16 => {
            for (o, &b) in out.iter_mut().zip(bytes.as_chunks::<2>().0) {
                *o = f16::from_le_bytes(b).to_f32();
            }
        }
        DType::BF16 => {
            for (o, &b) in out.iter_mut().zip(bytes.as_chunks::<2>().0) {
                *o = bf16::from_le_bytes(b).to_f32();
            }
        }
        DType::Q8_0 => dequantize_blocks::<BlockQ8_0>(bytes, out),
        DType::Q4_0 => dequantize_blocks::<BlockQ4_0>(bytes, out),
        DType::U8 => {
            for (o, &b) in out.iter_mut().zip(bytes) {
                *o = b as f32;
            }
        }
        DType::U32 => {
            for (o, &b) in out.iter_mut().zip(bytes.as_chunks::<4>().0) {
                *o = u32::from_le_bytes(b) as f32;
            }
        }
    }
}

fn dequantize_blocks<B: QuantBlock>(bytes: &[u8], out: &mut [f32]) {
    let blocks: &[B] = crate::quant::blocks_from_bytes(bytes);
    for (b, o) in blocks.iter().zip(out.chunks_mut(QK)) {
        b.dequantize(o);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn slots_bound_is_the_maximum() {
        let mut rng = crate::kernels::testutil::Rng(3);
        for n in 0..70 {
            for top in [1, 7, 1 << 20, u32::MAX] {
                let mut list: std::vec::Vec<u32> = (0..n).map(|_| rng.next() % top).collect();
                assert_eq!(Slots::new(&list).max, list.iter().copied().max().unwrap_or(0), "n={n}");
                // The largest slot at every index.
                for i in 0..n {
                    list[i] = u32::MAX - 1;
                    assert_eq!(Slots::new(&list).max, u32::MAX - 1, "n={n} i={i}");
                    list[i] = 0;
                }
            }
        }
    }

    #[test]
    fn rope_with_shared_angles_equals_per_call() {
        let mut rng = crate::kernels::testutil::Rng(7);
        let mut angles = RopeAngles::default();
        // The frequencies are kept across calls: positions, head sizes and thetas change in turn.
        let runs =
            [(8, 0, 1e4), (8, 255, 1e4), (8, 255, 500.0), (8, 3, 500.0), (6, 1000, 1e4), (64, 77, 1e4)];
        let more = [(7, 3, 1e4), (2, 65_535, 1e4), (128, 9, 1e4), (128, 1_000_000, 1e6), (8, 1, 1e4)];
        for (hd, pos, theta) in runs.into_iter().chain(more) {
            let (q0, k0) = (rng.vec(3 * hd), rng.vec(hd));
            for half in [false, true] {
                let (mut q1, mut k1, mut q2, mut k2) = (q0.clone(), k0.clone(), q0.clone(), k0.clone());
                let a = angles.get(hd, pos, theta).unwrap();
                if half {
                    rope_half_qk(&mut q1, &mut k1, hd, pos, theta);
                    rope_half_qk_angles(&mut q2, &mut k2, hd, a);
                } else {
                    rope_interleaved_qk(&mut q1, &mut k1, hd, pos, theta);
                    rope_interleaved_qk_angles(&mut q2, &mut k2, hd, a);
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    (bits(&q1), bits(&k1)),
                    (bits(&q2), bits(&k2)),
                    "hd {hd} pos {pos} theta {theta} half {half}"
                );
            }
        }
        assert!(angles.get(2 * ROPE_MAX_PAIRS + 2, 1, 10_000.0).is_none());
    }
    use crate::kernels::testutil::*;
    use crate::quant::quantize_row_q8_0;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn gather_mismatched_lengths_use_common_prefix() {
        // Mismatched lengths: the common prefix, no panic.
        let mut out = [7.0f32; 2];
        crate::kernels::gather_scores(&[1.0; 8], &[1.0; 12], 4, 0, Slots::new(&[0, 2, 1]), 1.0, &mut out);
        assert_eq!(out, [8.0, 0.0]);
    }

    #[test]
    fn rope_qk_equals_two_calls() {
        let mut rng = Rng(77);
        for hd in [2usize, 7, 8, 16] {
            let (q0, k0) = (rng.vec(3 * hd + 1), rng.vec(hd * 2));
            for pos in [0usize, 1, 255, 4097] {
                let (mut q1, mut k1, mut q2, mut k2) = (q0.clone(), k0.clone(), q0.clone(), k0.clone());
                rope_interleaved(&mut q1, hd, pos, 10000.0);
                rope_interleaved(&mut k1, hd, pos, 10000.0);
                rope_interleaved_qk(&mut q2, &mut k2, hd, pos, 10000.0);
                assert_eq!((&q1, &k1), (&q2, &k2));
                let (mut q1, mut k1, mut q2, mut k2) = (q0.clone(), k0.clone(), q0.clone(), k0.clone());
                rope_half(&mut q1, hd, pos, 500.0);
                rope_half(&mut k1, hd, pos, 500.0);
                rope_half_qk(&mut q2, &mut k2, hd, pos, 500.0);
                assert_eq!((&q1, &k1), (&q2, &k2));
            }
        }
    }

    #[test]
    fn dot_is_sequential_f32() {
        // 1e8 + 1 - 1e8 in f32 sequential order is 0, not 1: checks no reassociation.
        assert_eq!(dot_f32(&[1e8, 1.0, -1e8], &[1.0, 1.0, 1.0]), 0.0);
        assert_eq!(dot_f32(&[1.0, 2.0], &[3.0]), 3.0);
        assert_eq!(dot_f32(&[], &[1.0]), 0.0);
    }

    #[test]
    fn rmsnorm_matches_llama2c() {
        let x = [1.0f32, -2.0, 3.0];
        let w = [0.5f32, 1.0, 2.0];
        let mut out = [0.0f32; 3];
        rmsnorm(&mut out, &x, &w, 1e-5);
        let ss = 1.0f32 / sqrtf((1.0f32 + 4.0 + 9.0) / 3.0 + 1e-5);
        assert_eq!(out, [0.5 * ss, 1.0 * (ss * -2.0), 2.0 * (ss * 3.0)]);
        let mut y = x;
        rmsnorm_inplace(&mut y, &w, 1e-5);
        assert_eq!(y, out);
        rmsnorm(&mut [], &x, &w, 1e-5); // no panic
    }

    #[test]
    fn softmax_basic() {
        let mut x = [1.0f32, 2.0, 3.0];
        softmax(&mut x);
        let e = [expf(-2.0), expf(-1.0), 1.0];
        let s = e[0] + e[1] + e[2];
        assert_eq!(x, [e[0] / s, e[1] / s, e[2] / s]);
        softmax(&mut []);
        let mut big = [1000.0f32, 1000.0];
        softmax(&mut big);
        assert_eq!(big, [0.5, 0.5]);
    }

    #[test]
    fn activations() {
        assert_eq!(silu(0.0), 0.0);
        assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
        let mut h1 = [1.0f32, -1.0, 2.0];
        swiglu(&mut h1, &[2.0, 3.0]);
        assert_eq!(h1, [silu(1.0) * 2.0, silu(-1.0) * 3.0, 2.0]);
        let mut g = [0.0f32, 1.0, -3.0, 10.0];
        gelu_tanh(&mut g);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 0.841_192).abs() < 1e-5);
        assert!((g[2] - -0.003_637_4).abs() < 1e-5);
        assert!((g[3] - 10.0).abs() < 1e-5);
    }

    #[test]
    fn rope_interleaved_matches_per_element_loop() {
        // llama2.c's loop over the whole vector, computing freq per element.
        let (head_dim, n_heads, pos, theta) = (8usize, 3usize, 5usize, 10000.0f32);
        let mut rng = Rng(3);
        let v: Vec<f32> = (0..head_dim * n_heads).map(|_| rng.f32()).collect();
        let mut want = v.clone();
        for i in (0..want.len()).step_by(2) {
            let hd = i % head_dim;
            let freq = 1.0f32 / powf(theta, hd as f32 / head_dim as f32);
            let val = pos as f32 * freq;
            let (fcr, fci) = (cosf(val), sinf(val));
            let (v0, v1) = (want[i], want[i + 1]);
            want[i] = v0 * fcr - v1 * fci;
            want[i + 1] = v0 * fci + v1 * fcr;
        }
        let mut got = v.clone();
        rope_interleaved(&mut got, head_dim, pos, theta);
        assert_eq!(got, want);
        // pos 0 is the identity.
        let mut id = v.clone();
        rope_interleaved(&mut id, head_dim, 0, theta);
        assert_eq!(id, v);
        rope_interleaved(&mut id, 0, 3, theta); // no panic
    }

    #[test]
    fn rope_half_is_a_permuted_interleaved() {
        // Half-split pairs (i, i+h) with freq theta^(-2i/d) equal interleaved pairs (2i, 2i+1).
        let (head_dim, pos, theta) = (16usize, 7usize, 500.0f32);
        let mut rng = Rng(5);
        let v: Vec<f32> = (0..head_dim * 2).map(|_| rng.f32()).collect();
        let h = head_dim / 2;
        let perm = |hv: &[f32]| -> Vec<f32> {
            (0..head_dim).map(|k| if k % 2 == 0 { hv[k / 2] } else { hv[h + k / 2] }).collect()
        };
        let mut a = v.clone();
        rope_half(&mut a, head_dim, pos, theta);
        let mut b: Vec<f32> = v.chunks(head_dim).flat_map(perm).collect();
        rope_interleaved(&mut b, head_dim, pos, theta);
        let a_perm: Vec<f32> = a.chunks(head_dim).flat_map(perm).collect();
        assert_eq!(a_perm, b);
        assert_ne!(a, v);
    }

    #[test]
    fn embedding_row_every_dtype() {
        let cols = 33;
        let mut rng = Rng(11);
        let rows: Vec<Vec<f32>> = (0..3).map(|_| (0..cols).map(|_| rng.f32()).collect()).collect();
        for dtype in WEIGHT_DTYPES {
            let enc = encode(dtype, &rows, cols);
            let t = enc.tensor();
            let mut out = vec![f32::NAN; cols + 2];
            embedding_row(&t, 1, &mut out);
            let tol = match dtype {
                DType::F32 => 0.0,
                DType::F16 => 1e-3,
                DType::BF16 => 8e-3,
                DType::Q8_0 => 1.0 / 127.0,
                _ => 1.0 / 7.0,
            };
            for c in 0..cols {
                assert!((out[c] - rows[1][c]).abs() <= tol, "{dtype:?} col {c}");
            }
            assert!(out[cols].is_nan(), "{dtype:?} wrote past cols");
            let mut short = [f32::NAN; 5];
            embedding_row(&t, 2, &mut short);
            assert!(short.iter().all(|v| v.is_finite()));
            embedding_row(&t, 99, &mut short);
            assert_eq!(short, [0.0; 5]);
        }
    }

    #[test]
    fn matvec_ragged_rows_within_quantization_error() {
        for cols in [1usize, 31, 33, 172] {
            let rows_n = 5;
            let mut rng = Rng(cols as u32);
            let rows: Vec<Vec<f32>> = (0..rows_n).map(|_| (0..cols).map(|_| rng.f32()).collect()).collect();
            let x: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
            let mut xq = vec![BlockQ8_0::default(); cols.div_ceil(QK)];
            quantize_row_q8_0(&x, &mut xq);
            for dtype in WEIGHT_DTYPES {
                let enc = encode(dtype, &rows, cols);
                let mut out = vec![f32::NAN; rows_n];
                matvec(&enc.tensor(), &x, &xq, &mut out);
                for (r, row) in rows.iter().enumerate() {
                    let want = dot_f32(row, &x);
                    let tol = quant_tolerance(dtype, row, &x);
                    assert!(
                        (out[r] - want).abs() <= tol,
                        "{dtype:?} cols {cols} row {r}: {} vs {want} (tol {tol})",
                        out[r]
                    );
                }
            }
        }
    }

    #[test]
    fn matvec_f32_is_llama2c_exact() {
        let (rows_n, cols) = (7, 172);
        let mut rng = Rng(99);
        let rows: Vec<Vec<f32>> = (0..rows_n).map(|_| (0..cols).map(|_| rng.f32()).collect()).collect();
        let x: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
        let enc = encode(DType::F32, &rows, cols);
        let mut out = vec![0.0f32; rows_n];
        matvec(&enc.tensor(), &x, &[], &mut out);
        for (r, row) in rows.iter().enumerate() {
            let mut val = 0.0f32;
            for j in 0..cols {
                val += row[j] * x[j];
            }
            assert_eq!(out[r].to_bits(), val.to_bits());
        }
    }

    #[test]
    fn matvec_mismatched_lengths_use_common_prefix() {
        let cols = 40;
        let rows: Vec<Vec<f32>> = (0..4).map(|r| vec![r as f32; cols]).collect();
        for dtype in WEIGHT_DTYPES {
            let enc = encode(dtype, &rows, cols);
            let t = enc.tensor();
            // Short x (10 of 40), short xq (1 of 2 blocks), short out (2 of 4 rows).
            let x = [1.0f32; 10];
            let mut xq = [BlockQ8_0::default(); 1];
            quantize_row_q8_0(&[1.0; 32], &mut xq);
            let mut out = [f32::NAN; 2];
            matvec(&t, &x, &xq, &mut out);
            let per_row = if matches!(dtype, DType::Q8_0 | DType::Q4_0) { 32.0 } else { 10.0 };
            for (r, &o) in out.iter().enumerate() {
                assert!((o - r as f32 * per_row).abs() < 0.1, "{dtype:?} row {r}: {o}");
            }
            // Long out: only the first `rows` entries are written.
            let mut long = [f32::NAN; 6];
            matvec(&t, &[1.0; 64], &[xq[0]; 4], &mut long);
            assert!(long[..4].iter().all(|v| v.is_finite()) && long[4..].iter().all(|v| v.is_nan()));
        }
    }
}
