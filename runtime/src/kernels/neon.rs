//! AArch64 kernels: Advanced SIMD (NEON), selected at compile time (`cfg(glmix_neon)`, see `build.rs`).
//!
//! NEON (with double-precision vectors, `FDIV`, across-lane adds and half-precision conversion) is
//! part of the AArch64 baseline, so every `aarch64-*` target gets these kernels; nothing here needs an
//! optional extension (no `fp16` arithmetic; `dotprod` is used only when the build enables it).
//!
//! - f32/f16/bf16 dots: 4 x 4-lane FMA accumulators, an across-lane sum, the tail in scalar order. The
//!   sum is reordered against the scalar twin (tests use the worst-case reordering bound). f16 widens
//!   with `FCVTL` and bf16 with a 16-bit shift: both exact, like the twin's conversions.
//! - q8_0/q4_0 block dots: `SMULL` (i8 x i8 -> i16, exact for every `i8` including -128) and `SADALP`
//!   (pairwise add into i32), or `SDOT` when the build enables `dotprod` (`-C target-feature=+dotprod`);
//!   an exact across-lane sum. The per-block float accumulation is the scalar one, so results are
//!   bit-identical to the twin. Four rows at a time share the activation loads.
//! - axpy and the head-size-8 `gather_axpy`: multiply then add, no FMA: bit-identical to the twin.
//! - softmax's exponentials and SwiGLU: [`crate::math::expf`]'s operations lane by lane (no FMA), so the
//!   same bits as the twin.

use super::{generic, Kernels, Records};
use crate::quant::{blocks_from_bytes, BlockQ4_0, BlockQ8_0, QuantBlock};
use crate::tensor::Tensor;
use core::arch::aarch64::*;

/// The NEON implementation of the dispatched kernels.
pub(crate) struct Neon;

impl Kernels for Neon {
    forward_kernels! {
        f32 = dot_f32, f16 = dot_f16, bf16 = dot_bf16, matvec_f32, axpy, gather_axpy8, exp_shifted, swiglu,
    }
    #[inline(always)]
    fn matvec_q8_0(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
        matvec_quant::<BlockQ8_0>(w, xq, out)
    }
    #[inline(always)]
    fn matvec_q4_0(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
        matvec_quant::<BlockQ4_0>(w, xq, out)
    }
    #[inline(always)]
    fn q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
        generic::vec_dot_by(w, x, block_dot::<BlockQ8_0>)
    }
    #[inline(always)]
    fn q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
        generic::vec_dot_by(w, x, block_dot::<BlockQ4_0>)
    }
}

/// The first `n` elements of `s` (all of `s` when shorter).
#[inline(always)]
fn prefix<T>(s: &[T], n: usize) -> &[T] {
    s.get(..n).unwrap_or(s)
}

/// [`prefix`] for a mutable slice.
#[inline(always)]
fn prefix_mut<T>(s: &mut [T], n: usize) -> &mut [T] {
    let n = n.min(s.len());
    s.split_at_mut(n).0
}

/// [`crate::math::expf`] on 4 lanes: the same operations in the same order (no FMA), so the same bits.
/// `FMAX`/`FMIN` propagate NaN, like the scalar clamp.
#[inline(always)]
fn exp4(x: float32x4_t) -> float32x4_t {
    use crate::math::{EXP_C1, EXP_C2, EXP_HI, EXP_LO, EXP_P, EXP_ROUND, LOG2E};
    let (first, rest) = EXP_P.split_first().unwrap_or((&1.0, &[]));
    // SAFETY: register-only NEON operations; NEON is enabled at compile time (cfg glmix_neon).
    unsafe {
        let x = vmaxq_f32(vdupq_n_f32(EXP_LO), vminq_f32(vdupq_n_f32(EXP_HI), x));
        let t = vaddq_f32(vmulq_f32(x, vdupq_n_f32(LOG2E)), vdupq_n_f32(EXP_ROUND));
        let n = vsubq_f32(t, vdupq_n_f32(EXP_ROUND));
        let ni = vsubq_s32(vreinterpretq_s32_f32(t), vdupq_n_s32(EXP_ROUND.to_bits() as i32));
        let r = vsubq_f32(x, vmulq_f32(n, vdupq_n_f32(EXP_C1)));
        let r = vsubq_f32(r, vmulq_f32(n, vdupq_n_f32(EXP_C2)));
        let z = vmulq_f32(r, r);
        let mut y = vdupq_n_f32(*first);
        for c in rest {
            y = vaddq_f32(vmulq_f32(y, r), vdupq_n_f32(*c));
        }
        let p = vaddq_f32(vaddq_f32(vmulq_f32(y, z), r), vdupq_n_f32(1.0));
        let n1 = vshrq_n_s32::<1>(ni);
        let n2 = vsubq_s32(ni, n1);
        let bias = vdupq_n_s32(127);
        let s1 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(n1, bias)));
        let s2 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(n2, bias)));
        vmulq_f32(vmulq_f32(p, s1), s2)
    }
}

/// `x[i] = expf(x[i] - shift)`, 4 lanes at a time; bit-identical to the scalar twin.
pub fn exp_shifted(x: &mut [f32], shift: f32) {
    let mut chunks = x.chunks_exact_mut(4);
    // SAFETY: each load and store touches the 4 f32 of one `chunks_exact_mut(4)` chunk; NEON is enabled
    // at compile time (cfg glmix_neon).
    unsafe {
        let s = vdupq_n_f32(shift);
        for c in &mut chunks {
            let v = exp4(vsubq_f32(vld1q_f32(c.as_ptr()), s));
            vst1q_f32(c.as_mut_ptr(), v);
        }
    }
    generic::exp_shifted(chunks.into_remainder(), shift);
}

/// SwiGLU `h1[i] = silu(h1[i]) * h3[i]`, 4 lanes at a time; bit-identical to the scalar twin.
pub fn swiglu(h1: &mut [f32], h3: &[f32]) {
    let n = h1.len().min(h3.len());
    let (h1, h3) = (prefix_mut(h1, n), prefix(h3, n));
    let mut c1 = h1.chunks_exact_mut(4);
    let mut c3 = h3.chunks_exact(4);
    // SAFETY: loads and stores touch the 4 f32 of one `chunks_exact(4)` chunk of each slice; NEON is
    // enabled at compile time (cfg glmix_neon).
    unsafe {
        let one = vdupq_n_f32(1.0);
        for (a, b) in (&mut c1).zip(&mut c3) {
            let x = vld1q_f32(a.as_ptr());
            let sig = vdivq_f32(one, vaddq_f32(one, exp4(vnegq_f32(x))));
            let v = vmulq_f32(vmulq_f32(x, sig), vld1q_f32(b.as_ptr()));
            vst1q_f32(a.as_mut_ptr(), v);
        }
    }
    generic::swiglu(c1.into_remainder(), c3.remainder());
}

/// `sum a[i] b[i]` over the common prefix; 4 x 4 FMA accumulators.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (prefix(a, n), prefix(b, n));
    let (a16, b16) = (a.chunks_exact(16), b.chunks_exact(16));
    let (a4, b4) = (a16.remainder().chunks_exact(4), b16.remainder().chunks_exact(4));
    let (a1, b1) = (a4.remainder(), b4.remainder());
    // SAFETY: every load reads 4 f32 at offset `4 k <= 12` of a `chunks_exact(16)` chunk or at 0 of a
    // `chunks_exact(4)` chunk (unaligned loads); NEON is enabled at compile time (cfg glmix_neon).
    let mut sum = unsafe {
        let mut acc = [vdupq_n_f32(0.0); 4];
        for (ca, cb) in a16.zip(b16) {
            for (k, acc) in acc.iter_mut().enumerate() {
                let (va, vb) = (vld1q_f32(ca.as_ptr().add(4 * k)), vld1q_f32(cb.as_ptr().add(4 * k)));
                *acc = vfmaq_f32(*acc, va, vb);
            }
        }
        let [mut acc0, acc1, acc2, acc3] = acc;
        for (ca, cb) in a4.zip(b4) {
            acc0 = vfmaq_f32(acc0, vld1q_f32(ca.as_ptr()), vld1q_f32(cb.as_ptr()));
        }
        vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)))
    };
    for (&x, &y) in a1.iter().zip(b1) {
        sum += x * y;
    }
    sum
}

/// f32 matrix times `x` (row `r` is `data[r * cols..][..cols]`), four rows at a time: one FMA
/// accumulator per row, each load of `x` shared by the four rows, one pairwise-add tree for the four
/// sums (a reordered sum, like [`dot_f32`]). Shapes it does not cover (columns not a multiple of 4,
/// short `x` or `data`) use [`dot_f32`] per row, as do the last `rows % 4` rows.
pub fn matvec_f32(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    let rows = out.len();
    let fits = cols > 0
        && cols.is_multiple_of(4)
        && x.len() >= cols
        && rows.checked_mul(cols).is_some_and(|n| n <= data.len());
    if !fits {
        return super::matvec_f32_rows::<Neon>(data, cols, x, out);
    }
    let x = prefix(x, cols);
    let mut quads = out.chunks_exact_mut(4);
    let mut blocks = data.chunks_exact(4 * cols);
    for (o, m) in (&mut quads).zip(&mut blocks) {
        // SAFETY: each load reads one `chunks_exact(4)` chunk of a row of `m` or of `x`; the store
        // writes one `chunks_exact_mut(4)` chunk of `out`. NEON is enabled at compile time (cfg
        // glmix_neon).
        unsafe {
            let mut acc = [vdupq_n_f32(0.0); 4];
            for (a, row) in acc.iter_mut().zip(m.chunks_exact(cols)) {
                for (cw, cx) in row.chunks_exact(4).zip(x.chunks_exact(4)) {
                    *a = vfmaq_f32(*a, vld1q_f32(cw.as_ptr()), vld1q_f32(cx.as_ptr()));
                }
            }
            let [a0, a1, a2, a3] = acc;
            vst1q_f32(o.as_mut_ptr(), vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3)));
        }
    }
    for (o, row) in quads.into_remainder().iter_mut().zip(blocks.remainder().chunks(cols)) {
        *o = dot_f32(row, x);
    }
}

/// Widens 4 f16 (little-endian bytes) to f32 (`FCVTL`, exact).
///
/// # Safety
/// `p` must be valid for reading 8 bytes.
#[inline(always)]
unsafe fn load_f16x4(p: *const u8) -> float32x4_t {
    // SAFETY: the caller guarantees 8 readable bytes (`vld1_u16` is an unaligned load); NEON is enabled
    // at compile time (cfg glmix_neon).
    unsafe { vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p.cast()))) }
}

/// Widens 4 bf16 (little-endian bytes) to f32 (a 16-bit shift, exact).
///
/// # Safety
/// `p` must be valid for reading 8 bytes.
#[inline(always)]
unsafe fn load_bf16x4(p: *const u8) -> float32x4_t {
    // SAFETY: the caller guarantees 8 readable bytes (`vld1_u16` is an unaligned load); NEON is enabled
    // at compile time (cfg glmix_neon).
    unsafe { vreinterpretq_f32_u32(vshll_n_u16::<16>(vld1_u16(p.cast()))) }
}

/// A 2-byte float row times `x` over the common prefix: 16 elements per step in 4 FMA accumulators,
/// the tail by the scalar twin `tail`.
#[inline(always)]
fn dot_half(
    w: &[u8],
    x: &[f32],
    load: unsafe fn(*const u8) -> float32x4_t,
    tail: fn(&[u8], &[f32]) -> f32,
) -> f32 {
    let n = (w.len() / 2).min(x.len());
    let (w, x) = (prefix(w, 2 * n), prefix(x, n));
    let (w16, x16) = (w.chunks_exact(32), x.chunks_exact(16));
    let (wt, xt) = (w16.remainder(), x16.remainder());
    // SAFETY: each weight load reads 8 bytes at offset `8 k <= 24` of a 32-byte chunk, each `x` load 4
    // f32 at offset `4 k <= 12` of a 16-element chunk; NEON is enabled at compile time (cfg glmix_neon).
    let sum = unsafe {
        let mut acc = [vdupq_n_f32(0.0); 4];
        for (cw, cx) in w16.zip(x16) {
            for (k, acc) in acc.iter_mut().enumerate() {
                *acc = vfmaq_f32(*acc, load(cw.as_ptr().add(8 * k)), vld1q_f32(cx.as_ptr().add(4 * k)));
            }
        }
        let [a0, a1, a2, a3] = acc;
        vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)))
    };
    sum + tail(wt, xt)
}

/// f16 row bytes times `x` over the common prefix (`FCVTL` conversion, 4 x 4 FMA accumulators).
pub fn dot_f16(w: &[u8], x: &[f32]) -> f32 {
    dot_half(w, x, load_f16x4, generic::dot_f16)
}

/// bf16 row bytes times `x` over the common prefix (bf16 -> f32 is a 16-bit shift).
pub fn dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    dot_half(w, x, load_bf16x4, generic::dot_bf16)
}

/// `y[i] += a * x[i]` over the common prefix; multiply then add (no FMA), as the scalar twin.
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let (y, x) = (prefix_mut(y, n), prefix(x, n));
    let mut y4 = y.chunks_exact_mut(4);
    let mut x4 = x.chunks_exact(4);
    // SAFETY: loads and stores touch the 4 f32 of one `chunks_exact(4)` chunk of each slice; NEON is
    // enabled at compile time (cfg glmix_neon).
    unsafe {
        let va = vdupq_n_f32(a);
        for (cy, cx) in (&mut y4).zip(&mut x4) {
            let p = vmulq_f32(va, vld1q_f32(cx.as_ptr()));
            vst1q_f32(cy.as_mut_ptr(), vaddq_f32(vld1q_f32(cy.as_ptr()), p));
        }
    }
    generic::axpy(y4.into_remainder(), a, x4.remainder());
}

/// Weighted sum of 8-float records ([`generic::gather_axpy`] for head size 8): the accumulator in two
/// registers, multiply then add per record in order, so bit-identical to the twin. When a record is
/// out of range, the twin does the whole call (it skips such records).
pub fn gather_axpy8(o: &mut [f32; 8], weights: &[f32], recs: Records<'_>) {
    if !recs.all_in_range(8) {
        return generic::gather_axpy_n(o, weights, recs);
    }
    // SAFETY: `o` holds 8 f32 (4-lane loads and stores at offsets 0 and 4); every record
    // `buf[slot * stride + offset..][..8]` is in range (checked above), so both loads stay in `buf`. NEON
    // is enabled at compile time (cfg glmix_neon).
    unsafe {
        let (mut lo, mut hi) = (vld1q_f32(o.as_ptr()), vld1q_f32(o.as_ptr().add(4)));
        let (base, stride) = (recs.base(), recs.stride);
        for (&a, &s) in weights.iter().zip(recs.list()) {
            let p = base.add(s as usize * stride);
            let va = vdupq_n_f32(a);
            lo = vaddq_f32(lo, vmulq_f32(va, vld1q_f32(p)));
            hi = vaddq_f32(hi, vmulq_f32(va, vld1q_f32(p.add(4))));
        }
        vst1q_f32(o.as_mut_ptr(), lo);
        vst1q_f32(o.as_mut_ptr().add(4), hi);
    }
}

/// A quantized block as 32 signed 8-bit values in two vectors (elements 0..16 and 16..32).
pub(crate) trait Widen: QuantBlock {
    /// The block's 32 values (q4_0: `nibble - 8`, in `-8..=7`).
    fn i8x32(&self) -> (int8x16_t, int8x16_t);
    /// The scale's f16 bits.
    fn d_bits(&self) -> u16;
}

impl Widen for BlockQ8_0 {
    #[inline(always)]
    fn d_bits(&self) -> u16 {
        u16::from_le_bytes(self.d)
    }
    #[inline(always)]
    fn i8x32(&self) -> (int8x16_t, int8x16_t) {
        let (lo, hi) = self.qs.split_at(16);
        // SAFETY: two 16-byte loads, each from a 16-element half of the 32-byte `qs` array; NEON is
        // enabled at compile time (cfg glmix_neon).
        unsafe { (vld1q_s8(lo.as_ptr()), vld1q_s8(hi.as_ptr())) }
    }
}

impl Widen for BlockQ4_0 {
    #[inline(always)]
    fn d_bits(&self) -> u16 {
        u16::from_le_bytes(self.d)
    }
    #[inline(always)]
    fn i8x32(&self) -> (int8x16_t, int8x16_t) {
        // SAFETY: one 16-byte load of the 16-byte `qs` array; NEON is enabled at compile time (cfg
        // glmix_neon).
        unsafe {
            let q = vld1q_u8(self.qs.as_ptr());
            let e = vdupq_n_s8(8);
            // Elements 0..16 are the low nibbles, 16..32 the high ones.
            let lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), e);
            let hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(q)), e);
            (lo, hi)
        }
    }
}

/// The exact products of 32 value pairs, summed into 4 i32 lanes: `SMULL` (i8 x i8 -> i16, exact for
/// all `i8`, including -128 x -128) then `SADALP` (pairwise add into i32; no i16 sum can overflow).
#[cfg(any(test, not(target_feature = "dotprod")))]
#[inline(always)]
fn dot_lanes_smull(w: (int8x16_t, int8x16_t), x: (int8x16_t, int8x16_t)) -> int32x4_t {
    // SAFETY: register-only NEON operations; NEON is enabled at compile time (cfg glmix_neon).
    unsafe {
        let acc = vpaddlq_s16(vmull_s8(vget_low_s8(w.0), vget_low_s8(x.0)));
        let acc = vpadalq_s16(acc, vmull_high_s8(w.0, x.0));
        let acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w.1), vget_low_s8(x.1)));
        vpadalq_s16(acc, vmull_high_s8(w.1, x.1))
    }
}

/// The exact products of 32 value pairs, summed into 4 i32 lanes by two `SDOT`s (each lane adds four
/// exact i8 x i8 products; no overflow). The kernels use it when the build enables the dot-product
/// extension (`-C target-feature=+dotprod`, or a `-C target-cpu` that has it: Cortex-A55/A76 and later,
/// Apple M1, Neoverse); tests also compile it (the directive lets the assembler accept `SDOT`) and run
/// it where the CPU has it (qemu-user does). The intrinsic is unstable in Rust 1.95, hence `asm!`.
#[cfg(any(test, target_feature = "dotprod"))]
#[inline(always)]
fn dot_lanes_sdot(w: (int8x16_t, int8x16_t), x: (int8x16_t, int8x16_t)) -> int32x4_t {
    // SAFETY: register-only instructions. NEON is enabled at compile time (cfg glmix_neon); `SDOT` is
    // too (cfg target_feature = "dotprod"), except in tests, which call this only where the CPU has it.
    unsafe {
        let mut acc = vdupq_n_s32(0);
        core::arch::asm!(
            ".arch_extension dotprod",
            "sdot {acc:v}.4s, {w0:v}.16b, {x0:v}.16b",
            "sdot {acc:v}.4s, {w1:v}.16b, {x1:v}.16b",
            acc = inout(vreg) acc,
            w0 = in(vreg) w.0,
            x0 = in(vreg) x.0,
            w1 = in(vreg) w.1,
            x1 = in(vreg) x.1,
            options(pure, nomem, nostack, preserves_flags),
        );
        acc
    }
}

/// The 4 i32 lanes of a block dot: `SDOT` when the build has `dotprod`, else `SMULL` + `SADALP`.
#[inline(always)]
fn dot_lanes(w: (int8x16_t, int8x16_t), x: (int8x16_t, int8x16_t)) -> int32x4_t {
    #[cfg(target_feature = "dotprod")]
    return dot_lanes_sdot(w, x);
    #[cfg(not(target_feature = "dotprod"))]
    return dot_lanes_smull(w, x);
}

/// Exact integer dot of a weight block and a q8_0 block (`B::dot_i32`).
#[inline(always)]
pub(crate) fn block_dot<B: Widen>(w: &B, x: &BlockQ8_0) -> i32 {
    // SAFETY: a register-only NEON operation; NEON is enabled at compile time (cfg glmix_neon).
    unsafe { vaddvq_s32(dot_lanes(w.i8x32(), x.i8x32())) }
}

/// Quantized matrix times q8_0 activations, four rows at a time, bit-identical to the scalar twin: each
/// activation block is loaded once for the four rows, the four exact block sums come out of one
/// pairwise-add tree, and the four rows' `sumf += sumi * (d_w * d_x)` run as the four lanes of one
/// vector (the same IEEE operations, lane by lane). Rows of unequal block counts take the per-row
/// kernel, as do the last `rows % 4` rows.
pub(crate) fn matvec_quant<B: Widen>(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
    let mut quads = out.chunks_exact_mut(4);
    let mut r = 0;
    for o in &mut quads {
        let [w0, w1, w2, w3]: [&[B]; 4] = core::array::from_fn(|i| blocks_from_bytes(w.row(r + i)));
        let nb = w0.len().min(xq.len());
        if [w1, w2, w3].iter().any(|b| b.len().min(xq.len()) != nb) {
            for (o, b) in o.iter_mut().zip([w0, w1, w2, w3]) {
                *o = generic::vec_dot_by(b, xq, block_dot::<B>);
            }
        } else {
            // The zip runs over the `nb` common blocks. SAFETY: the scale load reads the local 4-u16
            // array `h`, the store writes one `chunks_exact_mut(4)` chunk of `out`; NEON is enabled at
            // compile time (cfg glmix_neon).
            unsafe {
                let mut sumf = vdupq_n_f32(0.0);
                for ((((bx, b0), b1), b2), b3) in xq.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
                    let x = bx.i8x32();
                    let p01 = vpaddq_s32(dot_lanes(b0.i8x32(), x), dot_lanes(b1.i8x32(), x));
                    let p23 = vpaddq_s32(dot_lanes(b2.i8x32(), x), dot_lanes(b3.i8x32(), x));
                    let sumi = vcvtq_f32_s32(vpaddq_s32(p01, p23));
                    // The five f16 scales widened by `FCVTL` (exact, as the twin's conversion).
                    let h = [b0.d_bits(), b1.d_bits(), b2.d_bits(), b3.d_bits()];
                    let dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h.as_ptr())));
                    let dx = vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(bx.d_bits())));
                    // `sumi * (d_w * d_x)`, as the twin.
                    sumf = vaddq_f32(sumf, vmulq_f32(sumi, vmulq_f32(dw, dx)));
                }
                vst1q_f32(o.as_mut_ptr(), sumf);
            }
        }
        r += 4;
    }
    for o in quads.into_remainder() {
        *o = generic::vec_dot_by(blocks_from_bytes::<B>(w.row(r)), xq, block_dot::<B>);
        r += 1;
    }
}

#[cfg(test)]
mod tests {
    //! What the conformance suite (`super::super::conformance`, run by `cargo test -p glmix --lib
    //! conformance`) cannot reach through the dispatched kernels: the f16 widening of every finite
    //! value, and both integer dot paths (SDOT and SMULL) whichever one this build dispatches.
    extern crate std;
    use super::super::testutil::Rng;
    use super::*;
    use crate::tensor::QK;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn f16_conversion_exact() {
        // Every finite f16, including subnormals: FCVTL gives the twin's value.
        let bits: Vec<u16> = (0..=u16::MAX).filter(|&b| half::f16::from_bits(b).is_finite()).collect();
        let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        for (c, b) in bytes.chunks_exact(8).zip(bits.chunks_exact(4)) {
            // SAFETY: `c` holds 8 bytes.
            let v = unsafe { load_f16x4(c.as_ptr()) };
            let mut got = [0.0f32; 4];
            // SAFETY: `got` holds 4 f32.
            unsafe { vst1q_f32(got.as_mut_ptr(), v) };
            for (g, &h) in got.iter().zip(b) {
                assert_eq!(g.to_bits(), half::f16::from_bits(h).to_f32().to_bits(), "{h:#06x}");
            }
        }
    }

    fn random_q8(rng: &mut Rng) -> BlockQ8_0 {
        let mut b = BlockQ8_0 { d: half::f16::from_f32(rng.f32()).to_le_bytes(), qs: [0; QK] };
        b.qs.iter_mut().for_each(|q| *q = rng.i8()); // full range, including -128
        b
    }

    #[test]
    fn sdot_and_smull_lanes_exact_full_range() {
        let sum = |v: int32x4_t| {
            // SAFETY: a register-only NEON operation (cfg glmix_neon).
            unsafe { vaddvq_s32(v) }
        };
        let sdot = std::arch::is_aarch64_feature_detected!("dotprod");
        if !sdot {
            std::eprintln!("this CPU has no dotprod: SDOT lanes not checked");
        }
        let mut rng = Rng(8);
        let (mn, mx) = (BlockQ8_0 { d: [0; 2], qs: [-128; 32] }, BlockQ8_0 { d: [0; 2], qs: [127; 32] });
        let mut pairs = vec![(mn, mn), (mn, mx), (mx, mx)];
        pairs.extend((0..2000).map(|_| (random_q8(&mut rng), random_q8(&mut rng))));
        for (w, x) in pairs {
            let want = w.dot_i32(&x);
            assert_eq!(sum(dot_lanes_smull(w.i8x32(), x.i8x32())), want);
            if sdot {
                assert_eq!(sum(dot_lanes_sdot(w.i8x32(), x.i8x32())), want);
            }
        }
    }
}
