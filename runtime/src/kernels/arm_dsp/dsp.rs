//! The Cortex-M DSP-extension integer kernels: exact int8 block dots with `SXTB16` + `SMLAD` (q8_0)
//! and `USUB8` (q4_0 nibbles to int8), on every `glmix_dsp` target.

use crate::quant::{BlockQ4_0, BlockQ8_0};
use core::arch::asm;

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
