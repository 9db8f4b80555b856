//! Cortex-M DSP-extension kernels (Armv7E-M: M4, M7; Armv8-M Mainline with DSP: M33, M35P, M55),
//! selected by target triple (`cfg(glmix_dsp)`, see `build.rs`; opt out with `GLMIX_NO_DSP=1`).
//!
//! LLVM compiles a q8_0 block dot into byte loads and `SMLABB`s; here each 32-bit word of four int8
//! is split into two registers of two sign-extended halfwords (`SXTB16`, `SXTB16 ..., ROR #8`) and two
//! `SMLAD`s do four multiply-accumulates:
//!
//! ```text
//! a = [a3 a2 a1 a0]   sxtb16 a        -> [a2 | a0]     sxtb16 a, ror #8 -> [a3 | a1]
//! acc += a0*b0 + a2*b2 (smlad)        acc += a1*b1 + a3*b3 (smlad)
//! ```
//!
//! The block sums are exact integers (at most 32 * 128 * 128 in magnitude, no overflow), and the
//! per-block float accumulation is the scalar twin's ([`super::generic::vec_dot_by`]), so results are
//! bit-identical to [`super::generic`]. Float kernels use the scalar twins (they are the spec and
//! the FPU runs them as written), except f32 matrix rows on hard-float targets (`cfg(glmix_vfp)`):
//! [`matvec_f32`] runs two rows' sequential sums at once with `VLDM` and (unfused) `VMLA.F32`, the same
//! operations in the same order, so the same bits; QEMU runs of stories260K check it against run.c.
//!
//! Requirements: unaligned `LDR` must not trap (`CCR.UNALIGN_TRP` clear, the reset value): the
//! blocks live at any byte offset of a model file.
//!
//! Stable Rust has no `core::arch::arm` DSP intrinsics, so the kernels are `asm!`, one file per
//! instruction set:
//!
//! - `dsp`: the integer block dots (`SXTB16`, `SMLAD`, `USUB8`), on every `glmix_dsp` target;
//! - `vfp` (hard float, `cfg(glmix_vfp)`): the kernels that also use the FPU (`VLDM`, `VMLA.F32`,
//!   `VCVTB`): f32 row pairs, q8_0 row pairs with FPU scales, softmax, SwiGLU, the head-size-8
//!   gathers, the activation quantizer.

mod dsp;
#[cfg(glmix_vfp)]
mod vfp;

pub use dsp::{block_dot_q4_0, block_dot_q8_0};
#[cfg(glmix_vfp)]
pub use vfp::{
    gather_axpy8, gather_axpy_wide, gather_scores8, matvec_f32, matvec_q8_0, quantize_q8_0, softmax, swiglu,
};

#[cfg(not(glmix_vfp))]
use super::generic;
use super::Kernels;
use crate::quant::{BlockQ4_0, BlockQ8_0};
#[cfg(glmix_vfp)]
use vfp::vec_dot_vfp;

/// The DSP implementation of the dispatched kernels.
pub(crate) struct Dsp;

impl Kernels for Dsp {
    #[inline(always)]
    fn q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
        block_dots(w, x, |b| b.d, block_dot_q8_0)
    }
    #[inline(always)]
    fn q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
        block_dots(w, x, |b| b.d, block_dot_q4_0)
    }
    #[cfg(glmix_vfp)]
    forward_kernels! {
        gather_scores8, gather_axpy8, gather_axpy_wide, matvec_f32, matvec_q8_0, softmax, swiglu, quantize_q8_0,
    }
}

/// Quantized blocks `w` (scale bytes `d`) times activation blocks `x` by the integer block dot
/// `dot_i32`: the FPU's scale products with `glmix_vfp`, else the twin's float steps.
#[inline(always)]
fn block_dots<B: crate::quant::QuantBlock>(
    w: &[B],
    x: &[BlockQ8_0],
    d: impl Fn(&B) -> [u8; 2],
    dot_i32: impl Fn(&B, &BlockQ8_0) -> i32,
) -> f32 {
    #[cfg(glmix_vfp)]
    return vec_dot_vfp(w, x, d, dot_i32);
    #[cfg(not(glmix_vfp))]
    {
        let _ = d; // the twin converts the scales itself (`QuantBlock::d`)
        generic::vec_dot_by(w, x, dot_i32)
    }
}
