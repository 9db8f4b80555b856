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
//! [`dot_f32_x2`] runs two rows' sequential sums at once with `VLDM` and (unfused) `VMLA.F32`, the same
//! operations in the same order, so the same bits; QEMU runs of stories260K check it against run.c.
//!
//! Requirements: unaligned `LDR` must not trap (`CCR.UNALIGN_TRP` clear, the reset value): the
//! blocks live at any byte offset of a model file.
//!
//! Stable Rust has no `core::arch::arm` DSP intrinsics, so the kernels are `asm!`.

use super::{generic, Dot};
use crate::quant::{BlockQ4_0, BlockQ8_0};
use core::arch::asm;

/// The DSP implementation of the dispatched kernels.
pub(crate) struct Dsp;

impl Dot for Dsp {
    #[inline(always)]
    fn q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
        generic::vec_dot_by(w, x, block_dot_q8_0)
    }
    #[inline(always)]
    fn q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
        generic::vec_dot_by(w, x, block_dot_q4_0)
    }
    #[cfg(glmix_vfp)]
    #[inline(always)]
    fn f32x2(w0: &[f32], w1: &[f32], x: &[f32]) -> (f32, f32) {
        dot_f32_x2(w0, w1, x)
    }
}

/// One step of the pair loop: `s24 += s(8+k) * s(k)`, `s25 += s(16+k) * s(k)`.
#[cfg(glmix_vfp)]
macro_rules! vmla_pair {
    ($k:literal, $w0:literal, $w1:literal) => {
        concat!("vmla.f32 s24, s", $w0, ", s", $k, "\n", "vmla.f32 s25, s", $w1, ", s", $k, "\n")
    };
}

/// `(sum w0[i] x[i], sum w1[i] x[i])`, each over its own common prefix with `x`, each a sequential f32
/// sum exactly like [`generic::dot_f32`]: `VMLA.F32` rounds the product, then the sum (it is not
/// fused), so the results are bit-identical to the twin. Eight columns per iteration: three `VLDM`s
/// (x, row 0, row 1) and sixteen `VMLA`s, so each load of `x` serves both rows.
#[cfg(glmix_vfp)]
#[inline]
pub fn dot_f32_x2(w0: &[f32], w1: &[f32], x: &[f32]) -> (f32, f32) {
    let n = w0.len().min(w1.len()).min(x.len());
    let blocks = n / 8;
    // The accumulators travel in core registers (stable Rust does not enable the `sreg` class here).
    let (mut a0, mut a1) = (0u32, 0u32);
    if blocks > 0 {
        // SAFETY: the loop runs `blocks >= 1` times and reads 8 f32 from each pointer per iteration
        // (post-incremented VLDM), so `8 * blocks <= n` elements of each slice: all in bounds. f32
        // slices are 4-byte aligned as VLDM requires. Only the declared registers are written; no
        // stack, no memory writes. VLDM/VMLA.F32 exist on every hard-float target `glmix_vfp` is set for.
        unsafe {
            asm!(
                "vmov s24, {a0}",
                "vmov s25, {a1}",
                "2:",
                "vldmia {px}!, {{s0-s7}}",
                "vldmia {p0}!, {{s8-s15}}",
                "vldmia {p1}!, {{s16-s23}}",
                vmla_pair!("0", "8", "16"),
                vmla_pair!("1", "9", "17"),
                vmla_pair!("2", "10", "18"),
                vmla_pair!("3", "11", "19"),
                vmla_pair!("4", "12", "20"),
                vmla_pair!("5", "13", "21"),
                vmla_pair!("6", "14", "22"),
                vmla_pair!("7", "15", "23"),
                "subs {n}, {n}, #1",
                "bne 2b",
                "vmov {a0}, s24",
                "vmov {a1}, s25",
                px = inout(reg) x.as_ptr() => _,
                p0 = inout(reg) w0.as_ptr() => _,
                p1 = inout(reg) w1.as_ptr() => _,
                n = inout(reg) blocks => _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
                out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _,
                out("s24") _, out("s25") _,
                options(readonly, nostack),
            );
        }
    }
    let done = 8 * blocks;
    let tail = |mut acc: f32, w: &[f32]| {
        for (&a, &b) in w.iter().zip(x).skip(done) {
            acc += a * b;
        }
        acc
    };
    (tail(f32::from_bits(a0), w0), tail(f32::from_bits(a1), w1))
}

/// Four int8 products of one word of `w` and one of `x` (both pointers post-incremented by 4).
macro_rules! q8_word {
    () => {
        "ldr {a}, [{pw}], #4
         ldr {b}, [{px}], #4
         sxtb16 {t}, {a}
         sxtb16 {u}, {b}
         smlad {acc}, {t}, {u}, {acc}
         sxtb16 {t}, {a}, ror #8
         sxtb16 {u}, {b}, ror #8
         smlad {acc}, {t}, {u}, {acc}
        "
    };
}

/// Exact `sum_j w.qs[j] * x.qs[j]` of two q8_0 blocks: 8 words, 16 `SMLAD`s.
#[inline]
pub fn block_dot_q8_0(w: &BlockQ8_0, x: &BlockQ8_0) -> i32 {
    let mut acc: i32 = 0;
    // SAFETY: the asm reads exactly 32 bytes from each of `w.qs` and `x.qs` (8 post-incremented
    // word loads each; unaligned LDR is allowed, see the module docs), writes only the declared
    // registers, and does not touch the stack. SXTB16/SMLAD exist on every target `glmix_dsp` is set
    // for (build.rs).
    unsafe {
        asm!(
            q8_word!(), q8_word!(), q8_word!(), q8_word!(),
            q8_word!(), q8_word!(), q8_word!(), q8_word!(),
            pw = inout(reg) w.qs.as_ptr() => _,
            px = inout(reg) x.qs.as_ptr() => _,
            acc = inout(reg) acc,
            a = out(reg) _,
            b = out(reg) _,
            t = out(reg) _,
            u = out(reg) _,
            options(readonly, nostack),
        );
    }
    acc
}

/// One word of a q4_0 block (8 nibbles: elements `4k..4k+4` low, `16+4k..16+4k+4` high) against the
/// matching activation words (`px` and `px + 16`); `px` and `pw` post-incremented by 4.
macro_rules! q4_word {
    () => {
        "ldr {q}, [{pw}], #4
         ldr {b}, [{px}, #16]
         and {lo}, {q}, {m}
         and {q}, {m}, {q}, lsr #4
         usub8 {lo}, {lo}, {e}
         usub8 {q}, {q}, {e}
         sxtb16 {t}, {q}
         sxtb16 {u}, {b}
         smlad {acc}, {t}, {u}, {acc}
         sxtb16 {t}, {q}, ror #8
         sxtb16 {u}, {b}, ror #8
         smlad {acc}, {t}, {u}, {acc}
         ldr {b}, [{px}], #4
         sxtb16 {t}, {lo}
         sxtb16 {u}, {b}
         smlad {acc}, {t}, {u}, {acc}
         sxtb16 {t}, {lo}, ror #8
         sxtb16 {u}, {b}, ror #8
         smlad {acc}, {t}, {u}, {acc}
        "
    };
}

/// Exact `sum_j (nibble_j - 8) * x.qs[j]` of a q4_0 block and a q8_0 block: 4 words, 16 `SMLAD`s.
///
/// `USUB8` subtracts 8 from each byte (wrapping), turning nibbles 0..=15 into int8 -8..=7.
#[inline]
pub fn block_dot_q4_0(w: &BlockQ4_0, x: &BlockQ8_0) -> i32 {
    let mut acc: i32 = 0;
    // SAFETY: the asm reads exactly 16 bytes of `w.qs` (4 post-incremented word loads) and 32 bytes
    // of `x.qs` (words at `px` and `px + 16` for 4 post-incremented `px`), writes only the declared
    // registers (USUB8 also sets the APSR.GE flags, SMLAD may set Q: flags are not preserved), no
    // stack. DSP instructions are available where `glmix_dsp` is set (build.rs).
    unsafe {
        asm!(
            q4_word!(), q4_word!(), q4_word!(), q4_word!(),
            pw = inout(reg) w.qs.as_ptr() => _,
            px = inout(reg) x.qs.as_ptr() => _,
            acc = inout(reg) acc,
            m = in(reg) 0x0F0F_0F0Fu32,
            e = in(reg) 0x0808_0808u32,
            q = out(reg) _,
            lo = out(reg) _,
            b = out(reg) _,
            t = out(reg) _,
            u = out(reg) _,
            options(readonly, nostack),
        );
    }
    acc
}
