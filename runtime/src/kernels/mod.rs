//! Numeric kernels: matrix-vector products over every weight dtype, and the small vector operations
//! of a decoder step (norms, softmax, activations, rotary embeddings, embedding lookup).
//!
//! # Architecture selection
//!
//! One module per architecture, chosen at compile time (no runtime dispatch, no function tables):
//!
//! | module | cfg (set by `build.rs`) | accelerates |
//! |---|---|---|
//! | [`generic`] | always compiled, always public | the specification of everything |
//! | `x86` | `glmix_avx2`: x86_64 built with `avx2`, `fma`, `f16c` | f32/f16/bf16 dots and matvec rows (f16/bf16 in fours; 16 lanes with `avx512f`, same bits), q8_0/q4_0 block dots (`vpdpbusd` with AVX-512 VNNI or AVX-VNNI, same bits) and matvec rows in eights, axpy, softmax exp, SwiGLU |
//! | `neon` | `glmix_neon`: `aarch64` with `neon` (every hosted aarch64 target) | f32/f16/bf16 dots and f32 matvec rows in fours, q8_0/q4_0 block dots (SMULL + SADALP; SDOT when built with `+dotprod`) and matvec rows in fours, axpy, softmax exp, SwiGLU, head-size-8 gather axpy |
//! | `rv_f` | `glmix_rvf`: `riscv32`/`riscv64` triples with the F extension (`imafc`, `gc`) | f32 matvec rows in fours (plain Rust; sequential sums: bit-identical) |
//! | `mve` | `glmix_mve`: `thumbv8m.main-*` with Helium (`-C target-cpu=cortex-m55`) | q8_0/q4_0 matvec rows (VMLADAV, bit-identical), f32 matvec rows in twelves, eights and fours (gathers; MVE float flushes subnormals: see the module), softmax (vector exp, the sum in the same pass), SwiGLU (vector exp, bit-identical), the attention gathers of head sizes 8, 16, 32, the activation quantizer; the rest is `arm_dsp`'s |
//! | `arm_dsp` | `glmix_dsp`: `thumbv7em-*`, `thumbv8m.main-*` | q8_0/q4_0 block dots (SMLAD); with `glmix_vfp` (hard float) f32 matvec rows in pairs (VLDM + VMLA, sequential sums: bit-identical), q8_0 matvec rows in pairs (word-aligned rows two blocks at a time), softmax's exponentials, SwiGLU, the activation quantizer, the head-size-8 gathers (and multiples of 8 for `gather_axpy`) |
//!
//! The architecture modules implement the `Kernels` trait (dot products, matvec rows, axpy, gathers,
//! softmax's exponentials, SwiGLU, activation quantization), each method defaulting to its scalar
//! twin in [`generic`]; the row loop of [`matvec`] is written once (`matvec_with`) and monomorphized
//! per architecture. The method signatures are written once, in `forward_kernels!`, which writes the
//! trait's forwarding defaults and each architecture's forwarding methods from a list of names; the
//! gathers take the cached records they read as one [`Records`] (cache, stride, offset, slots). One conformance suite (`conformance`, public with the `kernel-check` feature)
//! compares every method of the compiled architecture with its twin; the unit tests run it on the
//! host (x86, aarch64 under qemu-user) and the firmware's kernel check on each board.
//!
//! # Reproducibility
//!
//! - Quantized dots (`q8_0`, `q4_0` weights times `q8_0` activations) are **bit-identical** on every
//!   architecture: each block's integer dot is exact, and the per-block float accumulation
//!   `sumf += sumi * (d_w * d_x)` is the scalar one everywhere.
//! - [`axpy`] is bit-identical everywhere (no FMA).
//! - With `glmix_mve` (the Cortex-M55 Helium build; [`MVE_FLOAT`]) the f32 matvec, softmax's
//!   exponentials and the attention gathers (head sizes 8, 16, 32) run in MVE float, which flushes
//!   subnormals to zero: equal to the twins except within the tolerance `mve`'s module docs state;
//!   its quantized matvecs, SwiGLU and activation quantizer are bit-identical.
//! - f32/f16/bf16 dots ([`dot_f32`] and [`matvec`] on float weights) are sequential f32 sums
//!   (llama2.c's order) in [`generic`], but reordered (8-lane FMA accumulators) in `x86` and (4-lane
//!   ones) in `neon`: results differ in the last bits. Build with `GLMIX_KERNELS=generic` to get the
//!   scalar kernels on a host.
//! - Everything else (norms, softmax, activations, rope) is specified in [`generic`] and uses
//!   [`crate::math`], so it is bit-identical everywhere; `x86` and `neon` vectorize softmax's
//!   exponentials and SwiGLU with the same operations lane by lane (same bits, tested).
//!
//! # Lengths
//!
//! No kernel panics on mismatched lengths: each works on the common prefix of its slices (documented
//! per function). Normal use passes consistent lengths.

/// Writes [`Kernels`] methods that call a function of the same arguments, with the trait's signatures
/// (listed once, here): `forward_kernels! { f32 = dot_f32, softmax }` is `fn f32(a, b) -> f32 {
/// dot_f32(a, b) }` and `fn softmax(x) { softmax(x) }`, each `#[inline(always)]` and after the
/// attributes (docs) written before its name. The trait's defaults call the twins in [`generic`]; the
/// architectures' impls call their own functions. Methods whose body is more than a call are written
/// out.
macro_rules! forward_kernels {
    ($($(#[$attr:meta])* $method:ident $(= $f:path)?),* $(,)?) => {
        $(forward_kernels!(@fn [$(#[$attr])*] $method [$($f)?]);)*
    };
    (@fn [$($attr:tt)*] f32 [$f:path]) => {
        $($attr)* #[inline(always)] fn f32(a: &[f32], b: &[f32]) -> f32 { $f(a, b) }
    };
    (@fn [$($attr:tt)*] f16 [$f:path]) => {
        $($attr)* #[inline(always)] fn f16(w: &[u8], x: &[f32]) -> f32 { $f(w, x) }
    };
    (@fn [$($attr:tt)*] bf16 [$f:path]) => {
        $($attr)* #[inline(always)] fn bf16(w: &[u8], x: &[f32]) -> f32 { $f(w, x) }
    };
    (@fn [$($attr:tt)*] q8_0 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn q8_0(w: &[$crate::quant::BlockQ8_0], x: &[$crate::quant::BlockQ8_0]) -> f32 { $f(w, x) }
    };
    (@fn [$($attr:tt)*] q4_0 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn q4_0(w: &[$crate::quant::BlockQ4_0], x: &[$crate::quant::BlockQ8_0]) -> f32 { $f(w, x) }
    };
    (@fn [$($attr:tt)*] matvec_f32 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn matvec_f32(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) { $f(data, cols, x, out) }
    };
    (@fn [$($attr:tt)*] matvec_q8_0 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn matvec_q8_0(w: &$crate::tensor::Tensor<'_>, xq: &[$crate::quant::BlockQ8_0], out: &mut [f32]) {
            $f(w, xq, out)
        }
    };
    (@fn [$($attr:tt)*] matvec_q4_0 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn matvec_q4_0(w: &$crate::tensor::Tensor<'_>, xq: &[$crate::quant::BlockQ8_0], out: &mut [f32]) {
            $f(w, xq, out)
        }
    };
    (@fn [$($attr:tt)*] matvec_f16 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn matvec_f16(w: &$crate::tensor::Tensor<'_>, x: &[f32], out: &mut [f32]) { $f(w, x, out) }
    };
    (@fn [$($attr:tt)*] matvec_bf16 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn matvec_bf16(w: &$crate::tensor::Tensor<'_>, x: &[f32], out: &mut [f32]) { $f(w, x, out) }
    };
    (@fn [$($attr:tt)*] axpy [$f:path]) => {
        $($attr)* #[inline(always)] fn axpy(y: &mut [f32], a: f32, x: &[f32]) { $f(y, a, x) }
    };
    (@fn [$($attr:tt)*] gather_scores8 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn gather_scores8(q: &[f32; 8], recs: $crate::kernels::Records<'_>, scale: f32, out: &mut [f32]) {
            $f(q, recs, scale, out)
        }
    };
    (@fn [$($attr:tt)*] gather_axpy8 [$f:path]) => {
        $($attr)* #[inline(always)]
        fn gather_axpy8(o: &mut [f32; 8], weights: &[f32], recs: $crate::kernels::Records<'_>) {
            $f(o, weights, recs)
        }
    };
    (@fn [$($attr:tt)*] gather_axpy_wide [$f:path]) => {
        $($attr)* #[inline(always)]
        fn gather_axpy_wide(o: &mut [f32], weights: &[f32], recs: $crate::kernels::Records<'_>) -> bool {
            $f(o, weights, recs)
        }
    };
    (@fn [$($attr:tt)*] gather_scores_wide [$f:path]) => {
        $($attr)* #[inline(always)]
        fn gather_scores_wide(
            q: &[f32],
            recs: $crate::kernels::Records<'_>,
            scale: f32,
            out: &mut [f32],
        ) -> bool {
            $f(q, recs, scale, out)
        }
    };
    (@fn [$($attr:tt)*] exp_shifted [$f:path]) => {
        $($attr)* #[inline(always)] fn exp_shifted(x: &mut [f32], shift: f32) { $f(x, shift) }
    };
    (@fn [$($attr:tt)*] softmax [$f:path]) => {
        $($attr)* #[inline(always)] fn softmax(x: &mut [f32]) { $f(x) }
    };
    (@fn [$($attr:tt)*] swiglu [$f:path]) => {
        $($attr)* #[inline(always)] fn swiglu(h1: &mut [f32], h3: &[f32]) { $f(h1, h3) }
    };
    (@fn [$($attr:tt)*] quantize_q8_0 [$f:path]) => {
        $($attr)* #[inline(always)] fn quantize_q8_0(x: &[f32], out: &mut [$crate::quant::BlockQ8_0]) { $f(x, out) }
    };
    (@fn [$($attr:tt)*] $method:ident []) => {
        forward_kernels!(@fn [$($attr)*] $method [$method]);
    };
}

pub mod generic;

#[cfg(glmix_dsp)]
pub mod arm_dsp;
#[cfg(glmix_mve)]
pub mod mve;
#[cfg(glmix_neon)]
pub mod neon;
#[cfg(any(glmix_rvf, test))]
pub mod rv_f;
#[cfg(glmix_avx2)]
pub mod x86;

#[cfg(any(test, feature = "kernel-check"))]
pub mod conformance;
#[cfg(test)]
mod dsp_model;
#[cfg(test)]
pub(crate) mod testutil;

use crate::quant::{blocks_from_bytes, BlockQ8_0};
use crate::tensor::{DType, Tensor};

pub use generic::{
    embedding_row, gelu_tanh, rmsnorm, rmsnorm_inplace, rope_half, rope_half_qk, rope_half_qk_angles,
    rope_interleaved, rope_interleaved_qk, rope_interleaved_qk_angles, silu, Records, RopeAngles, Slots,
    ROPE_MAX_PAIRS,
};

/// Whether this build's f32 kernels run in MVE float, which flushes subnormals to zero (`glmix_mve`:
/// the f32 matvec and softmax's exponentials; see `kernels::mve` for their tolerance against the
/// twins). False everywhere else: there every kernel gives its twin's bits.
pub const MVE_FLOAT: bool = cfg!(glmix_mve);

/// Softmax in place, [`generic::softmax`] bit for bit (the exponentials may be vectorized; with
/// [`MVE_FLOAT`], subnormal results are 0).
pub fn softmax(x: &mut [f32]) {
    Arch::softmax(x);
}

/// SwiGLU in place, [`generic::swiglu`] bit for bit (may be vectorized).
pub fn swiglu(h1: &mut [f32], h3: &[f32]) {
    Arch::swiglu(h1, h3);
}

/// An activation row quantized to q8_0 for [`matvec`], [`crate::quant::quantize_row_q8_0`] block for
/// block (may be vectorized).
pub fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    Arch::quantize_q8_0(x, out);
}

/// The kernels an architecture may accelerate: dots, matvec rows, axpy, gathers, softmax's
/// exponentials, SwiGLU and activation quantization. Every method defaults to the scalar twin in
/// [`generic`]; an architecture overrides what it does better.
pub(crate) trait Kernels {
    forward_kernels! {
        /// `sum a[i] b[i]` over the common prefix.
        f32 = generic::dot_f32,
    }
    /// f32 matrix rows times `x`: `out[r] = Self::f32(row r, x)` with row `r` = `data[r * cols..][..cols]`
    /// (empty past the end), bit for bit (implementations may share loads between rows).
    #[inline(always)]
    fn matvec_f32(data: &[f32], cols: usize, x: &[f32], out: &mut [f32])
    where
        Self: Sized,
    {
        matvec_f32_rows::<Self>(data, cols, x, out)
    }
    /// q8_0 matrix rows times `xq`: `out[r] = Self::q8_0(row r, xq)` for `r < out.len()`, bit for bit.
    #[inline(always)]
    fn matvec_q8_0(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
        each_row(w, out, |row| Self::q8_0(blocks_from_bytes(row), xq))
    }
    /// q4_0 matrix rows times `xq`: `out[r] = Self::q4_0(row r, xq)` for `r < out.len()`, bit for bit.
    #[inline(always)]
    fn matvec_q4_0(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
        each_row(w, out, |row| Self::q4_0(blocks_from_bytes(row), xq))
    }
    /// f16 matrix rows times `x`: `out[r] = Self::f16(row r, x)` for `r < out.len()`, bit for bit.
    #[inline(always)]
    fn matvec_f16(w: &Tensor<'_>, x: &[f32], out: &mut [f32]) {
        each_row(w, out, |row| Self::f16(row, x))
    }
    /// bf16 matrix rows times `x`: `out[r] = Self::bf16(row r, x)` for `r < out.len()`, bit for bit.
    #[inline(always)]
    fn matvec_bf16(w: &Tensor<'_>, x: &[f32], out: &mut [f32]) {
        each_row(w, out, |row| Self::bf16(row, x))
    }
    forward_kernels! {
        /// f16 row bytes times `x`, over the common prefix.
        f16 = generic::dot_f16,
        /// bf16 row bytes times `x`, over the common prefix.
        bf16 = generic::dot_bf16,
        /// q8_0 weight blocks times q8_0 activation blocks, over the common blocks.
        q8_0 = generic::vec_dot,
        /// q4_0 weight blocks times q8_0 activation blocks, over the common blocks.
        q4_0 = generic::vec_dot,
        /// `y += a x` over the common prefix.
        axpy = generic::axpy,
        /// [`generic::gather_scores`] for head size 8 (implementations must give the same bits).
        gather_scores8 = generic::gather_scores_n,
        /// [`generic::gather_axpy`] for head size 8 (implementations must give the same bits).
        gather_axpy8 = generic::gather_axpy_n,
    }
    /// [`generic::gather_axpy`] for any head size the implementation covers, bit for bit (MVE:
    /// within its float tolerance); returns false (having done nothing) where it does not.
    #[inline(always)]
    fn gather_axpy_wide(_o: &mut [f32], _weights: &[f32], _recs: Records<'_>) -> bool {
        false
    }
    /// [`generic::gather_scores`] for any head size the implementation covers (within the
    /// architecture's float tolerance); returns false (having done nothing) where it does not.
    #[inline(always)]
    fn gather_scores_wide(_q: &[f32], _recs: Records<'_>, _scale: f32, _out: &mut [f32]) -> bool {
        false
    }
    forward_kernels! {
        /// `x[i] = expf(x[i] - shift)` ([`crate::math::expf`]; implementations must give the same bits).
        exp_shifted = generic::exp_shifted,
    }
    /// [`generic::softmax`] (implementations must give the same bits).
    #[inline(always)]
    fn softmax(x: &mut [f32]) {
        generic::softmax_with(x, Self::exp_shifted)
    }
    forward_kernels! {
        /// [`generic::swiglu`] (implementations must give the same bits).
        swiglu = generic::swiglu,
        /// [`crate::quant::quantize_row_q8_0`] (implementations must give the same blocks).
        quantize_q8_0 = crate::quant::quantize_row_q8_0,
    }
}

/// The kernels of the target this crate is compiled for.
#[cfg(glmix_avx2)]
type Arch = x86::Avx2;
#[cfg(all(glmix_dsp, not(glmix_mve)))]
type Arch = arm_dsp::Dsp;
#[cfg(glmix_mve)]
type Arch = mve::Mve;
#[cfg(glmix_neon)]
type Arch = neon::Neon;
#[cfg(glmix_rvf)]
type Arch = rv_f::RvF;
#[cfg(not(any(glmix_avx2, glmix_dsp, glmix_neon, glmix_rvf)))]
type Arch = generic::Generic;

/// Matrix-vector product `out[r] = sum_c W[r][c] x[c]` for `r < w.rows()`.
///
/// - f32, f16, bf16 weights use `x` (f32 activations).
/// - q8_0, q4_0 weights use `xq`: `x` quantized once by the caller with
///   [`crate::quant::quantize_row_q8_0`] (`w.cols().div_ceil(32)` blocks), as ggml does; each block
///   contributes `sumi * d_w * d_x` with `sumi` an exact integer dot.
/// - U8/U32 tensors are not weights: `out` gets zeros.
///
/// Lengths: rows `r < min(w.rows(), out.len())` are written (the rest of `out` is untouched); each dot
/// runs over the common prefix of the row and `x` (or the row's blocks and `xq`). In normal use
/// `x.len() >= w.cols()`, `xq.len() >= ceil(w.cols() / 32)` and `out.len() >= w.rows()`.
///
/// ```
/// use glmix::{kernels, tensor::{DType, Tensor}};
/// #[repr(C, align(4))]
/// struct Aligned([u8; 24]); // f32 tensor data must be 4-byte aligned
/// let mut w = Aligned([0; 24]); // [2][3]
/// for (c, v) in w.0.chunks_exact_mut(4).zip([1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]) {
///     c.copy_from_slice(&v.to_le_bytes());
/// }
/// let t = Tensor::new(DType::F32, 2, 3, &w.0).unwrap();
/// let mut out = [0.0f32; 2];
/// kernels::matvec(&t, &[1.0, 0.0, -1.0], &[], &mut out);
/// assert_eq!(out, [-2.0, -2.0]);
/// ```
pub fn matvec(w: &Tensor<'_>, x: &[f32], xq: &[BlockQ8_0], out: &mut [f32]) {
    matvec_with::<Arch>(w, x, xq, out);
}

/// `sum a[i] b[i]` over the common prefix (reordered on AVX2 and NEON; see the module docs).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    Arch::f32(a, b)
}

/// Attention scores over cached records, [`generic::gather_scores`]'s contract: `out[i] = dot(q,
/// buf[slots[i] * stride + offset..][..q.len()]) / scale`. Head sizes 8, 16 and 32 run unrolled
/// sequential sums (bit-identical to the twin), except head size 8 on AVX2 (eight positions at a time,
/// reordered like [`dot_f32`]) and all three with [`MVE_FLOAT`] (eight positions at a time, in MVE
/// float); other sizes use [`dot_f32`].
pub fn gather_scores(
    q: &[f32],
    buf: &[f32],
    stride: usize,
    offset: usize,
    slots: Slots<'_>,
    scale: f32,
    out: &mut [f32],
) {
    let recs = Records::new(buf, stride, offset, slots);
    if let Ok(q) = <&[f32; 8]>::try_from(q) {
        Arch::gather_scores8(q, recs, scale, out);
    } else if Arch::gather_scores_wide(q, recs, scale, out) {
        // Done by the architecture's kernel.
    } else if let Ok(q) = <&[f32; 16]>::try_from(q) {
        generic::gather_scores_n(q, recs, scale, out);
    } else if let Ok(q) = <&[f32; 32]>::try_from(q) {
        generic::gather_scores_n(q, recs, scale, out);
    } else {
        for (o, &s) in out.iter_mut().zip(slots.list()) {
            *o = Arch::f32(q, recs.record(s, q.len())) / scale;
        }
    }
}

/// Weighted sum of cached records, [`generic::gather_axpy`]'s contract: `o += weights[i] *
/// buf[slots[i] * stride + offset..][..o.len()]` in order. Bit-identical on every architecture.
pub fn gather_axpy(
    o: &mut [f32],
    weights: &[f32],
    buf: &[f32],
    stride: usize,
    offset: usize,
    slots: Slots<'_>,
) {
    let recs = Records::new(buf, stride, offset, slots);
    if let Ok(o) = <&mut [f32; 8]>::try_from(&mut *o) {
        Arch::gather_axpy8(o, weights, recs);
    } else if Arch::gather_axpy_wide(o, weights, recs) {
        // Done by the architecture's kernel.
    } else if let Ok(o) = <&mut [f32; 16]>::try_from(&mut *o) {
        generic::gather_axpy_n(o, weights, recs);
    } else if let Ok(o) = <&mut [f32; 32]>::try_from(&mut *o) {
        generic::gather_axpy_n(o, weights, recs);
    } else {
        let len = o.len();
        for (&a, &s) in weights.iter().zip(slots.list()) {
            Arch::axpy(o, a, recs.record(s, len));
        }
    }
}

/// `y[i] += a * x[i]` over the common prefix (bit-identical on every architecture).
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    Arch::axpy(y, a, x)
}

/// The f32 row loop: `out[r] = K::f32(data[r * cols..][..cols], x)` (an empty row past the end).
pub(crate) fn matvec_f32_rows<K: Kernels>(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    for (r, o) in out.iter_mut().enumerate() {
        let start = r.saturating_mul(cols);
        let row = data.get(start..start.saturating_add(cols)).unwrap_or(&[]);
        *o = K::f32(row, x);
    }
}

/// `out[r] = dot(row r of w)` for `r < out.len()` (the row loop of the kernels without their own).
#[inline(always)]
fn each_row(w: &Tensor<'_>, out: &mut [f32], dot: impl Fn(&[u8]) -> f32) {
    for (r, o) in out.iter_mut().enumerate() {
        *o = dot(w.row(r));
    }
}

/// The one row loop of [`matvec`], monomorphized per architecture's dot kernels `K`.
pub(crate) fn matvec_with<K: Kernels>(w: &Tensor<'_>, x: &[f32], xq: &[BlockQ8_0], out: &mut [f32]) {
    let rows = w.rows().min(out.len());
    let out = out.get_mut(..rows).unwrap_or_default();
    let cols = w.cols();
    match w.dtype() {
        DType::F32 => {
            K::matvec_f32(w.as_f32(), cols, x, out);
        }
        DType::F16 => K::matvec_f16(w, x, out),
        DType::BF16 => K::matvec_bf16(w, x, out),
        DType::Q8_0 => K::matvec_q8_0(w, xq, out),
        DType::Q4_0 => K::matvec_q4_0(w, xq, out),
        DType::U8 | DType::U32 => out.fill(0.0),
    }
}
