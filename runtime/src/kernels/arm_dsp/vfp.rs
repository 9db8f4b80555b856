//! The Cortex-M kernels that use the FPU (`cfg(glmix_vfp)`: a DSP target with hard float): `VLDM`
//! and unfused `VMLA.F32` row pairs, q8_0 row pairs with the scales converted by `VCVTB`, softmax and
//! SwiGLU with `expf`'s operations two lanes at a time, and the head-size-8 gathers. Each gives its
//! scalar twin's bits (see the parent module).

use super::super::Kernels;
use super::super::{generic, Records};
use crate::quant::{BlockQ8_0, QuantBlock};
use crate::tensor::Tensor;
use core::arch::asm;
use core::mem::MaybeUninit;

/// One step of the pair loop: `s24 += s(8+k) * s(k)`, `s25 += s(16+k) * s(k)`.
macro_rules! vmla_pair {
    ($k:literal, $w0:literal, $w1:literal) => {
        concat!("vmla.f32 s24, s", $w0, ", s", $k, "\n", "vmla.f32 s25, s", $w1, ", s", $k, "\n")
    };
}

/// Eight columns of a row pair: three `VLDM`s (x, row r, row r + 1), sixteen `VMLA`s.
macro_rules! f32_pair_8 {
    () => {
        concat!(
            "vldmia {px}!, {{s0-s7}}\n",
            "vldmia {p0}!, {{s8-s15}}\n",
            "vldmia {p1}!, {{s16-s23}}\n",
            vmla_pair!("0", "8", "16"),
            vmla_pair!("1", "9", "17"),
            vmla_pair!("2", "10", "18"),
            vmla_pair!("3", "11", "19"),
            vmla_pair!("4", "12", "20"),
            vmla_pair!("5", "13", "21"),
            vmla_pair!("6", "14", "22"),
            vmla_pair!("7", "15", "23"),
        )
    };
}

/// f32 matrix times `x`, `super::matvec_f32_rows`'s contract: `out[r] = dot_f32(data[r * cols..]
/// [..cols], x)`, each a sequential f32 sum exactly like [`generic::dot_f32`]: `VMLA.F32` rounds the
/// product, then the sum (it is not fused), so the results are bit-identical to the twin.
///
/// Rows go in pairs, so each load of `x` serves two rows: sixteen columns per inner iteration (six
/// `VLDM`s, thirty-two `VMLA`s), then the column tail in the same order (eight, four, then one at a
/// time); an odd last row is run as a pair with itself. The row loop is in the asm too. Short `x` or
/// `data` (not produced by a valid tensor) take the scalar twin.
pub fn matvec_f32(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    let rows = out.len();
    let fits = cols > 0 && x.len() >= cols && rows.checked_mul(cols).is_some_and(|n| n <= data.len());
    if !fits {
        return super::super::matvec_f32_rows::<generic::Generic>(data, cols, x, out);
    }
    let (pairs, last) = out.as_chunks_mut::<2>();
    // SAFETY: `data` holds `rows * cols` f32 (checked above); the pairs read rows `0..2 * pairs.len()`
    // and write `pairs`.
    unsafe {
        if !pairs.is_empty() {
            f32_row_pairs(data.as_ptr(), cols, cols, x.as_ptr(), pairs);
        }
        if let [o] = last {
            // The last row, read as a pair with itself (stride 0).
            let mut sums = [[0.0f32; 2]];
            f32_row_pairs(data.as_ptr().add((rows - 1) * cols), cols, 0, x.as_ptr(), &mut sums);
            *o = sums[0][0];
        }
    }
}

/// The `asm` of [`matvec_f32`]: for each pair `k` of `out`, the rows at `p + 2k * stride` and
/// `p + (2k + 1) * stride` (f32 elements), `cols` columns each, times `x`.
///
/// # Safety
/// `cols >= 1`; `x` must hold `cols` f32 and the `2 * out.len()` rows `cols` f32 each; `out` must
/// not be empty.
#[inline(always)]
unsafe fn f32_row_pairs(p: *const f32, cols: usize, stride: usize, x: *const f32, out: &mut [[f32; 2]]) {
    // SAFETY: the caller's contract: the asm reads `cols` f32 of `x` and of each row per pair (16,
    // 8, 4 and 1 at a time, as `cols`'s bits say) and writes `out.len()` pairs. f32 data is 4-byte
    // aligned as VLDM/VSTM require. Only declared registers are written (and the flags); no stack.
    // VLDM/VSTM/VMLA.F32 and VMOV immediates exist on every hard-float target `glmix_vfp` is set for.
    unsafe {
        asm!(
            "vmov.f32 s26, #0.5",
            "vsub.f32 s26, s26, s26",
            "5:",
            "vmov.f32 s24, s26",
            "vmov.f32 s25, s26",
            "mov {px}, {x}",
            "lsrs {n}, {cols}, #4",
            "beq 3f",
            "2:",
            f32_pair_8!(),
            f32_pair_8!(),
            "subs {n}, {n}, #1",
            "bne 2b",
            "3:",
            "tst {cols}, #8",
            "beq 3f",
            f32_pair_8!(),
            "3:",
            "tst {cols}, #4",
            "beq 3f",
            "vldmia {px}!, {{s0-s3}}",
            "vldmia {p0}!, {{s8-s11}}",
            "vldmia {p1}!, {{s16-s19}}",
            vmla_pair!("0", "8", "16"),
            vmla_pair!("1", "9", "17"),
            vmla_pair!("2", "10", "18"),
            vmla_pair!("3", "11", "19"),
            "3:",
            "ands {n}, {cols}, #3",
            "beq 4f",
            "6:",
            "vldmia {px}!, {{s0}}",
            "vldmia {p0}!, {{s8}}",
            "vldmia {p1}!, {{s16}}",
            vmla_pair!("0", "8", "16"),
            "subs {n}, {n}, #1",
            "bne 6b",
            "4:",
            "vstmia {out}!, {{s24-s25}}",
            "mov {p0}, {p1}",
            "add {p1}, {p1}, {stride4}",
            "subs {pairs}, {pairs}, #1",
            "bne 5b",
            x = in(reg) x,
            px = out(reg) _,
            n = out(reg) _,
            cols = in(reg) cols,
            stride4 = in(reg) stride * 4,
            p0 = inout(reg) p => _,
            p1 = inout(reg) p.wrapping_add(stride) => _,
            out = inout(reg) out.as_mut_ptr() => _,
            pairs = inout(reg) out.len() => _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
            out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
            out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _, out("s26") _,
            options(nostack),
        );
    }
}

/// Four weights of each of two rows against four widened activations ([`matvec_q8_0`]): `p0`, `p1`
/// advance by 4 bytes, `px` by 8.
macro_rules! q8_pair_word {
    () => {
        "ldr {a0}, [{p0}], #4
         ldr {a1}, [{p1}], #4
         ldrd {x0}, {x1}, [{px}], #8
         sxtb16 {t}, {a0}
         smlad {acc0}, {t}, {x0}, {acc0}
         sxtb16 {t}, {a0}, ror #8
         smlad {acc0}, {t}, {x1}, {acc0}
         sxtb16 {t}, {a1}
         smlad {acc1}, {t}, {x0}, {acc1}
         sxtb16 {t}, {a1}, ror #8
         smlad {acc1}, {t}, {x1}, {acc1}
        "
    };
}

/// One q8_0 activation block widened for `SMLAD`: for each word `k` of four int8 `[x3 x2 x1 x0]`,
/// `x[2k] = [x2 | x0]` and `x[2k + 1] = [x3 | x1]` (sign-extended halfwords, what `SXTB16` and
/// `SXTB16 ..., ROR #8` make of the weight word), then the block scale as f32.
#[derive(Clone, Copy)]
#[repr(C)]
struct WideBlock {
    x: [u32; 16],
    d: f32,
}

/// Activation blocks widened per pass of [`matvec_q8_0`] (16 * 68 bytes of stack).
const WIDE_BLOCKS: usize = 16;

/// `SXTB16 a` and `SXTB16 a, ROR #8`: bytes 0 and 2, and bytes 1 and 3, as sign-extended halfwords.
#[inline(always)]
fn sxtb16_pair(a: u32) -> (u32, u32) {
    let (even, odd): (u32, u32);
    // SAFETY: register-only DSP instructions (present wherever `glmix_dsp` is set).
    unsafe {
        asm!(
            "sxtb16 {e}, {a}",
            "sxtb16 {o}, {a}, ror #8",
            a = in(reg) a,
            e = out(reg) even,
            o = out(reg) odd,
            options(pure, nomem, nostack),
        );
    }
    (even, odd)
}

/// q8_0 matrix times q8_0 activations, `super::Kernels::matvec_q8_0`'s contract, bit-identical to the
/// row-by-row twin ([`generic::vec_dot`]): each row's blocks in order, `sumf += sumi * (d_w * d_x)`.
///
/// The activations are widened to halfword pairs once per pass (`WideBlock`), so that a weight word
/// needs two `SXTB16`s and two `SMLAD`s. Rows go in pairs (an odd last row is paired with itself and
/// one result dropped); columns in passes of `WIDE_BLOCKS` blocks, the row sums carried in `out`
/// between passes (the same sequence of additions as one pass). Two kernels:
///
/// - `q8_0_aligned_pairs`, for rows of whole words (an even number of blocks, 4-byte aligned data,
///   as a model file's tensors are): two blocks (68 bytes, 17 words) at a time by `LDRD`, one `LDM`
///   of four widened activation words per two weight words of each row (1.19 instructions per
///   multiply-accumulate in the integer loop), the scales read from the loaded words;
/// - `q8_0_row_pairs` for the rest (any alignment, an odd last block): `LDRH` of the scale, `LDR` of
///   each weight word, `LDRD` of activations (1.375 in the integer loop).
///
/// Rows shorter than the pair stride (not produced by a valid tensor) take the twin.
pub fn matvec_q8_0(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
    const BLOCK: usize = core::mem::size_of::<BlockQ8_0>();
    let row_bytes = w.row_bytes();
    let data = w.bytes();
    if out.len().checked_mul(row_bytes).is_none_or(|n| n > data.len()) {
        for (r, o) in out.iter_mut().enumerate() {
            *o = super::Dsp::q8_0(crate::quant::blocks_from_bytes(w.row(r)), xq);
        }
        return;
    }
    let nb = (row_bytes / BLOCK).min(xq.len());
    // Blocks in pairs of whole words: every row starts 4-byte aligned.
    let paired =
        if row_bytes.is_multiple_of(4) && data.as_ptr().addr().is_multiple_of(4) { nb & !1 } else { 0 };
    if paired == 0 {
        // The first pass of the aligned kernel starts the sums from zero; the other kernel adds.
        out.fill(0.0);
    }
    let (head, tail) = xq.get(..nb).unwrap_or_default().split_at(paired);
    // Written before it is read (each pass widens the blocks it then reads), so left uninitialized.
    let mut wide = [const { MaybeUninit::<WideBlock>::uninit() }; WIDE_BLOCKS];
    // `WIDE_BLOCKS` is even, so every chunk of `head` holds whole pairs.
    for (pass, xs) in head.chunks(WIDE_BLOCKS).enumerate() {
        widen(xs, &mut wide, true);
        // SAFETY: `xs.len()` blocks from byte `pass * WIDE_BLOCKS * 34` of every row, with
        // `pass * WIDE_BLOCKS + xs.len() <= paired <= nb`; rows and data 4-byte aligned, `xs.len()`
        // even and at least 2 (`chunks` yields no empty chunk).
        unsafe {
            rows_pass::<true>(pass == 0, data, row_bytes, pass * WIDE_BLOCKS * BLOCK, &wide, xs.len(), out)
        };
    }
    for (pass, xs) in tail.chunks(WIDE_BLOCKS).enumerate() {
        widen(xs, &mut wide, false);
        let skip = (paired + pass * WIDE_BLOCKS) * BLOCK;
        // SAFETY: `xs.len() >= 1` blocks from byte `skip` of every row, `skip + 34 xs.len() <=
        // 34 nb <= row_bytes`.
        unsafe { rows_pass::<false>(false, data, row_bytes, skip, &wide, xs.len(), out) };
    }
}

/// Widens `xs` into `wide` (`WideBlock`). With `rotated`, the first block of each pair is widened
/// for `q8_0_aligned_pairs`'s word order: the block's bytes rotated right by two (`[q30 q31 q0 q1]`,
/// `[q2 q3 q4 q5]`, ...), the words that kernel makes of the row.
#[inline(always)]
fn widen(xs: &[BlockQ8_0], wide: &mut [MaybeUninit<WideBlock>; WIDE_BLOCKS], rotated: bool) {
    for (i, (wb, xb)) in wide.iter_mut().zip(xs).enumerate() {
        let mut words = [0u32; 8];
        for (w, q) in words.iter_mut().zip(xb.qs.as_chunks::<4>().0) {
            *w = u32::from_le_bytes(q.map(|v| v as u8));
        }
        if rotated && i % 2 == 0 {
            let last = words[7];
            let mut prev = last;
            for w in words.iter_mut() {
                let cur = *w;
                *w = (cur << 16) | (prev >> 16);
                prev = cur;
            }
        }
        // Written in place (no temporary block to copy).
        let wb = wb.as_mut_ptr();
        // SAFETY (both blocks): `wb` is a valid, aligned pointer to a `WideBlock`; field addresses
        // are taken without references to the uninitialized memory.
        let x = unsafe { core::ptr::addr_of_mut!((*wb).x) }.cast::<u32>();
        for (k, &w) in words.iter().enumerate() {
            let (even, odd) = sxtb16_pair(w);
            // SAFETY: `k < 8`, so `2k + 1 < 16`, inside `x`.
            unsafe {
                x.add(2 * k).write(even);
                x.add(2 * k + 1).write(odd);
            }
        }
        // SAFETY: as above.
        unsafe { core::ptr::addr_of_mut!((*wb).d).write(f16_to_f32(xb.d)) };
    }
}

/// A little-endian f16 as f32 by `VCVTB.F32.F16` (exact, like `half`'s conversion).
#[inline(always)]
fn f16_to_f32(d: [u8; 2]) -> f32 {
    let out: u32;
    // SAFETY: register-only FPU instructions on the declared registers (FPv4-SP and FPv5).
    unsafe {
        asm!(
            "vmov s0, {d}",
            "vcvtb.f32.f16 s0, s0",
            "vmov {o}, s0",
            d = in(reg) u32::from(u16::from_le_bytes(d)),
            o = out(reg) out,
            out("s0") _,
            options(pure, nomem, nostack),
        );
    }
    f32::from_bits(out)
}

/// One pass over the rows of `out` (in pairs, then a lone last row as a pair with itself):
/// `blocks` blocks from byte `skip` of each row against `wide`, by `q8_0_aligned_pairs` (`ALIGNED`;
/// from zero when `zero`) or `q8_0_row_pairs` (adding to `out`).
///
/// # Safety
/// `out.len()` rows of `row_bytes` fit in `data`; `skip + 34 * blocks <= row_bytes`; `wide` holds
/// `blocks >= 1` initialized blocks; with `ALIGNED`, `data` and `row_bytes` are multiples of 4 and
/// `blocks` is even.
#[inline(always)]
unsafe fn rows_pass<const ALIGNED: bool>(
    zero: bool,
    data: &[u8],
    row_bytes: usize,
    skip: usize,
    wide: &[MaybeUninit<WideBlock>; WIDE_BLOCKS],
    blocks: usize,
    out: &mut [f32],
) {
    let (pairs, last) = out.as_chunks_mut::<2>();
    let wide = wide.as_ptr().cast::<WideBlock>();
    // SAFETY: the caller's contract; the rows read are `0..out.len()`.
    unsafe {
        let kernel = |p, row_bytes, sums: &mut [[f32; 2]]| {
            if ALIGNED {
                q8_0_aligned_pairs(zero, p, row_bytes, wide, blocks, sums)
            } else {
                q8_0_row_pairs(p, row_bytes, wide, blocks, sums)
            }
        };
        if !pairs.is_empty() {
            kernel(data.as_ptr().add(skip), row_bytes, pairs);
        }
        if let [last] = last {
            let mut sums = [[*last; 2]];
            kernel(data.as_ptr().add(2 * pairs.len() * row_bytes + skip), 0, &mut sums);
            *last = sums[0][0];
        }
    }
}

/// Two weight words of a row (`LDRD` at `$off` from `$p`) against the four activation words in
/// `r0-r3`: `$acc += ...` by four `SXTB16` + `SMLAD`; `$first` starts `$acc` with `SMUAD`.
macro_rules! q8_words {
    (first, $p:literal, $off:literal, $acc:literal) => {
        concat!(
            "ldrd {a}, {b}, [",
            $p,
            ", #",
            $off,
            "]\n",
            "sxtb16 {t}, {a}\n",
            "smuad ",
            $acc,
            ", {t}, r0\n",
            q8_words!(rest, $acc),
        )
    };
    (next, $p:literal, $off:literal, $acc:literal) => {
        concat!(
            "ldrd {a}, {b}, [",
            $p,
            ", #",
            $off,
            "]\n",
            "sxtb16 {t}, {a}\n",
            "smlad ",
            $acc,
            ", {t}, r0, ",
            $acc,
            "\n",
            q8_words!(rest, $acc),
        )
    };
    (rest, $acc:literal) => {
        concat!(
            "sxtb16 {t}, {a}, ror #8\n",
            "smlad ",
            $acc,
            ", {t}, r1, ",
            $acc,
            "\n",
            "sxtb16 {t}, {b}\n",
            "smlad ",
            $acc,
            ", {t}, r2, ",
            $acc,
            "\n",
            "sxtb16 {t}, {b}, ror #8\n",
            "smlad ",
            $acc,
            ", {t}, r3, ",
            $acc,
            "\n",
        )
    };
}

/// Two weight words of both rows at `$off` (from the rows' pointers, already advanced by 68) after
/// one `LDM` of their four widened activation words.
macro_rules! q8_group {
    ($kind:ident, $off:literal) => {
        concat!(
            "ldm {px}!, {{r0-r3}}\n",
            q8_words!($kind, "{p0}", $off, "{acc0}"),
            q8_words!($kind, "{p1}", $off, "{acc1}"),
        )
    };
}

/// The asm of `q8_0_aligned_pairs`, with `$init` the instructions that start a pair of rows' sums
/// in `s10-s11` (`{t}` free): zero (`s17`), or the sums of the pass before (at `s16`, the output
/// pointer).
macro_rules! q8_aligned_asm {
    ($init:literal, $p:expr, $row_bytes:expr, $wide:expr, $blocks:expr, $sums:expr, $next:expr) => {
        asm!(
            "vmov s12, s13, {a}, {b}",
            "vmov s14, s15, {px}, {t}",
            "vmov s16, {acc0}",
            "vmov.f32 s17, #0.5",
            "vsub.f32 s17, s17, s17",
            "3:",
            $init,
            "vmov {px}, s14",
            "2:",
            // Block 0: W1 and [q30 q31 q0 q1] of each row (the integer sums in any order: exact),
            // the scale words W0 and W8 to s2-s5.
            "ldm {px}!, {{r0-r3}}",
            "ldrd {a}, {b}, [{p0}], #68",
            "sxtb16 {t}, {b}",
            "smuad {acc0}, {t}, r2",
            "sxtb16 {t}, {b}, ror #8",
            "smlad {acc0}, {t}, r3, {acc0}",
            "ldr {b}, [{p0}, #-36]",
            "vmov s2, s3, {a}, {b}",
            "pkhbt {a}, {b}, {a}",
            "sxtb16 {t}, {a}",
            "smlad {acc0}, {t}, r0, {acc0}",
            "sxtb16 {t}, {a}, ror #8",
            "smlad {acc0}, {t}, r1, {acc0}",
            "ldrd {a}, {b}, [{p1}], #68",
            "sxtb16 {t}, {b}",
            "smuad {acc1}, {t}, r2",
            "sxtb16 {t}, {b}, ror #8",
            "smlad {acc1}, {t}, r3, {acc1}",
            "ldr {b}, [{p1}, #-36]",
            "vmov s4, s5, {a}, {b}",
            "pkhbt {a}, {b}, {a}",
            "sxtb16 {t}, {a}",
            "smlad {acc1}, {t}, r0, {acc1}",
            "sxtb16 {t}, {a}, ror #8",
            "smlad {acc1}, {t}, r1, {acc1}",
            q8_group!(next, "-60"),
            q8_group!(next, "-52"),
            q8_group!(next, "-44"),
            "vmov s0, s1, {acc0}, {acc1}",
            "vldmia {px}!, {{s8}}",
            // Block 1: W9..W16.
            q8_group!(first, "-32"),
            q8_group!(next, "-24"),
            q8_group!(next, "-16"),
            q8_group!(next, "-8"),
            "vmov s6, s7, {acc0}, {acc1}",
            "vldmia {px}!, {{s9}}",
            // d_w * d_x per block and row, then sumf += sumi * (d_w * d_x): block 0, then block 1.
            "vcvtb.f32.f16 s2, s2",
            "vcvtt.f32.f16 s3, s3",
            "vcvtb.f32.f16 s4, s4",
            "vcvtt.f32.f16 s5, s5",
            "vmul.f32 s2, s2, s8",
            "vmul.f32 s3, s3, s9",
            "vmul.f32 s4, s4, s8",
            "vmul.f32 s5, s5, s9",
            "vcvt.f32.s32 s0, s0",
            "vcvt.f32.s32 s1, s1",
            "vcvt.f32.s32 s6, s6",
            "vcvt.f32.s32 s7, s7",
            "vmla.f32 s10, s0, s2",
            "vmla.f32 s11, s1, s4",
            "vmla.f32 s10, s6, s3",
            "vmla.f32 s11, s7, s5",
            "vmov {t}, s15",
            "cmp {px}, {t}",
            "bne 2b",
            "vmov {t}, s16",
            "vstmia {t}!, {{s10-s11}}",
            "vmov s16, {t}",
            "vmov {a}, {b}, s12, s13",
            "add {p0}, {p0}, {b}",
            "add {p1}, {p1}, {b}",
            "cmp {t}, {a}",
            "bne 3b",
            p0 = inout(reg) $p => _,
            p1 = inout(reg) $p.wrapping_add($row_bytes) => _,
            px = inout(reg) $wide => _,
            a = inout(reg) $sums.as_mut_ptr().wrapping_add($sums.len()) => _,
            b = inout(reg) $next => _,
            t = inout(reg) $wide.wrapping_add($blocks) => _,
            acc0 = inout(reg) $sums.as_mut_ptr() => _,
            acc1 = out(reg) _,
            out("r0") _, out("r1") _, out("r2") _, out("r3") _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
            out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
            options(nostack),
        )
    };
}

/// The aligned kernel of [`matvec_q8_0`], `q8_0_row_pairs`'s contract for word-aligned rows and an
/// even number of blocks, the sums starting from zero when `zero` (the first pass: `sums` is not
/// read) or from `sums`. A row's two blocks are 17 words: `W0 = [d0 d1 q0 q1]`, `W1..W7` (block 0's
/// `q2..q29`), `W8 = [q30 q31 e0 e1]` (`e`: block 1's scale), `W9..W16` (block 1's `q0..q31`). Block
/// 0's first word is `PKHBT(W8, W0) = [q30 q31 q0 q1]`, then `W1..W7`: the rotated order `widen`
/// gives its activations. The scales are converted from the loaded words by `VCVTB` (`W0`'s low half)
/// and `VCVTT` (`W8`'s high half); per block and row, `sumf += sumi * (d_w * d_x)` as the twin.
///
/// # Safety
/// `p` and `row_bytes` multiples of 4; the rows' first `blocks * 34` bytes readable; `blocks` even
/// and at least 2; `wide` holds `blocks` initialized blocks (the even ones rotated); `sums` not
/// empty.
#[inline(always)]
unsafe fn q8_0_aligned_pairs(
    zero: bool,
    p: *const u8,
    row_bytes: usize,
    wide: *const WideBlock,
    blocks: usize,
    sums: &mut [[f32; 2]],
) {
    // From the end of a pair's blocks to the start of the next pair's.
    let next = (2 * row_bytes).wrapping_sub(blocks * core::mem::size_of::<BlockQ8_0>());
    // SAFETY: the caller's contract: per pair of rows and pair of blocks, 17 words of each row (LDR
    // and LDRD at word-aligned addresses) and two widened blocks (LDM, VLDM); reads (unless `zero`)
    // and writes `sums.len()` pairs of f32 (4-byte aligned). Only declared registers are written
    // (SMLAD may set the Q flag; flags are not preserved); the loop-invariant values live in s12-s17
    // as there are not enough core registers. No stack.
    unsafe {
        if zero {
            q8_aligned_asm!("vmov.f32 s10, s17\nvmov.f32 s11, s17", p, row_bytes, wide, blocks, sums, next);
        } else {
            q8_aligned_asm!("vmov {t}, s16\nvldmia {t}, {{s10-s11}}", p, row_bytes, wide, blocks, sums, next);
        }
    }
}

/// The `asm` of [`matvec_q8_0`]: for each pair `k` of `sums`, rows at `p + 2k * row_bytes` and
/// `p + (2k + 1) * row_bytes` (`row_bytes` 0: one row twice), `blocks` blocks each, against the
/// widened activations; `sums[k][i] += sumi * (d_w * d_x)` block after block.
///
/// # Safety
/// The rows' first `blocks * 34` bytes must be readable, `wide` must hold `blocks >= 1` initialized
/// blocks, and `sums` must not be empty.
#[inline(always)]
unsafe fn q8_0_row_pairs(
    p: *const u8,
    row_bytes: usize,
    wide: *const WideBlock,
    blocks: usize,
    sums: &mut [[f32; 2]],
) {
    // From the end of a pair's blocks to the start of the next pair's.
    let next = (2 * row_bytes).wrapping_sub(blocks * core::mem::size_of::<BlockQ8_0>());
    // SAFETY: the caller's contract; the asm writes `sums.len()` pairs of f32 (4-byte aligned),
    // only declared registers otherwise (SMLAD may set the Q flag; flags are not preserved).
    // Unaligned LDR/LDRH of the weights is allowed (module docs). The loop-invariant values live in
    // s8-s11 as there are not enough core registers. No stack.
    unsafe {
        asm!(
            "vmov s8, s9, {n}, {t}",
            "vmov s10, s11, {px}, {a0}",
            "3:",
            "vldmia {out}, {{s6-s7}}",
            "vmov {px}, {n}, s10, s11",
            "2:",
            "ldrh {a0}, [{p0}], #2",
            "ldrh {a1}, [{p1}], #2",
            "vmov s2, s3, {a0}, {a1}",
            "ldr {a0}, [{p0}], #4",
            "ldr {a1}, [{p1}], #4",
            "ldrd {x0}, {x1}, [{px}], #8",
            "sxtb16 {t}, {a0}",
            "smuad {acc0}, {t}, {x0}",
            "sxtb16 {t}, {a0}, ror #8",
            "smlad {acc0}, {t}, {x1}, {acc0}",
            "sxtb16 {t}, {a1}",
            "smuad {acc1}, {t}, {x0}",
            "sxtb16 {t}, {a1}, ror #8",
            "smlad {acc1}, {t}, {x1}, {acc1}",
            q8_pair_word!(), q8_pair_word!(), q8_pair_word!(), q8_pair_word!(),
            q8_pair_word!(), q8_pair_word!(), q8_pair_word!(),
            "vldmia {px}!, {{s4}}",
            "vcvtb.f32.f16 s2, s2",
            "vcvtb.f32.f16 s3, s3",
            "vmul.f32 s2, s2, s4",
            "vmul.f32 s3, s3, s4",
            "vmov s0, s1, {acc0}, {acc1}",
            "vcvt.f32.s32 s0, s0",
            "vcvt.f32.s32 s1, s1",
            "vmla.f32 s6, s0, s2",
            "vmla.f32 s7, s1, s3",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstmia {out}!, {{s6-s7}}",
            "vmov {t}, s9",
            "add {p0}, {p0}, {t}",
            "add {p1}, {p1}, {t}",
            "vmov {t}, s8",
            "subs {t}, {t}, #1",
            "vmov s8, {t}",
            "bne 3b",
            p0 = inout(reg) p => _,
            p1 = inout(reg) p.wrapping_add(row_bytes) => _,
            px = inout(reg) wide => _,
            n = inout(reg) sums.len() => _,
            a0 = inout(reg) blocks => _,
            a1 = out(reg) _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            t = inout(reg) next => _,
            acc0 = out(reg) _,
            acc1 = out(reg) _,
            out = inout(reg) sums.as_mut_ptr() => _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s6") _,
            out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            options(nostack),
        );
    }
}

/// Softmax, [`generic::softmax`] bit for bit, in three `asm` loops: the maximum (four elements per
/// `VLDM`), `e = expf(x - max)` with the running sum, and the division by the sum (four per `VLDM`).
pub fn softmax(x: &mut [f32]) {
    let Some(&first) = x.first() else {
        return;
    };
    let max = max_f32(first, x);
    let sum = exp_shifted_sum(x, max);
    div_f32(x, sum);
}

/// `max` folded over `x` with `if v > max { max = v }` (NaN never wins), as the twin does.
fn max_f32(first: f32, x: &[f32]) -> f32 {
    let (quads, rest) = x.as_chunks::<4>();
    let mut max = first;
    if !quads.is_empty() {
        let bits: u32;
        // SAFETY: reads `quads.len() >= 1` groups of four f32 (4-byte aligned, as VLDM needs); writes
        // only declared registers (and the flags). No stack.
        unsafe {
            asm!(
                "vmov s4, {m}",
                "2:",
                "vldmia {p}!, {{s0-s3}}",
                "vcmp.f32 s0, s4",
                "vmrs APSR_nzcv, fpscr",
                "it gt",
                "vmovgt.f32 s4, s0",
                "vcmp.f32 s1, s4",
                "vmrs APSR_nzcv, fpscr",
                "it gt",
                "vmovgt.f32 s4, s1",
                "vcmp.f32 s2, s4",
                "vmrs APSR_nzcv, fpscr",
                "it gt",
                "vmovgt.f32 s4, s2",
                "vcmp.f32 s3, s4",
                "vmrs APSR_nzcv, fpscr",
                "it gt",
                "vmovgt.f32 s4, s3",
                "subs {n}, {n}, #1",
                "bne 2b",
                "vmov {m}, s4",
                m = inout(reg) max.to_bits() => bits,
                p = inout(reg) quads.as_ptr() => _,
                n = inout(reg) quads.len() => _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _,
                options(readonly, nostack),
            );
        }
        max = f32::from_bits(bits);
    }
    for &v in rest {
        if v > max {
            max = v;
        }
    }
    max
}

/// [`crate::math::expf`]'s constants that stay in registers, in the order `exp_shifted_sum` and
/// [`swiglu`] load them into `s16-s21`.
static EXP_CONSTANTS: [f32; 6] = {
    use crate::math::{EXP_C1, EXP_C2, EXP_P, EXP_ROUND, LOG2E};
    [EXP_ROUND, LOG2E, EXP_C1, EXP_C2, EXP_P[0], 1.0]
};

/// The addends of [`crate::math::expf`]'s `x * LOG2E + ROUND` and of its Horner steps, twice (one
/// per lane): `exp_pair!` loads them with one `VLDM` into the registers those `VMLA`s accumulate in.
static EXP_PAIR_ADDENDS: [f32; 12] = {
    use crate::math::{EXP_P, EXP_ROUND};
    let p = EXP_P;
    [EXP_ROUND, EXP_ROUND, p[1], p[1], p[2], p[2], p[3], p[3], p[4], p[4], p[5], p[5]]
};

/// [`crate::math::expf`] of two lanes at once, the fast path of `exp_shifted_sum` and [`swiglu`]:
/// the arguments in `s0`, `s1` (replaced by the results), constants in `s16-s21`
/// ([`EXP_CONSTANTS`]), temporaries `s2-s15` and the core registers `{t}`, `{u}`; exits to label `3`
/// when either exponent is outside `-126..=127`. Per lane: `t = x * LOG2E + ROUND`, `n = t - ROUND`,
/// the Cody-Waite reduction, the polynomial in Horner order, `p * 2^n` in one multiply (all unfused,
/// as the twin). Each `VMLA` accumulates into a register that one `VLDM` of [`EXP_PAIR_ADDENDS`]
/// (`{k2}`) filled with its addend, so no constant is copied.
macro_rules! exp_pair {
    () => {
        concat!(
            "vldmia {k2}, {{s2-s13}}\n",
            "vmla.f32 s2, s0, s17\n",
            "vmla.f32 s3, s1, s17\n",
            "vmov {t}, {u}, s2, s3\n",
            "sub {t}, {t}, {bias}\n",
            "sub {u}, {u}, {bias}\n",
            "cmp {t}, #253\n",
            "bhi 3f\n",
            "cmp {u}, #253\n",
            "bhi 3f\n",
            "vsub.f32 s14, s2, s16\n",
            "vsub.f32 s15, s3, s16\n",
            "vmls.f32 s0, s14, s18\n",
            "vmls.f32 s1, s15, s18\n",
            "vmls.f32 s0, s14, s19\n",
            "vmls.f32 s1, s15, s19\n",
            "vmul.f32 s14, s0, s0\n",
            "vmul.f32 s15, s1, s1\n",
            "vmla.f32 s4, s20, s0\n",
            "vmla.f32 s5, s20, s1\n",
            "vmla.f32 s6, s4, s0\n",
            "vmla.f32 s7, s5, s1\n",
            "vmla.f32 s8, s6, s0\n",
            "vmla.f32 s9, s7, s1\n",
            "vmla.f32 s10, s8, s0\n",
            "vmla.f32 s11, s9, s1\n",
            "vmla.f32 s12, s10, s0\n",
            "vmla.f32 s13, s11, s1\n",
            "vmla.f32 s0, s12, s14\n",
            "vmla.f32 s1, s13, s15\n",
            "vadd.f32 s0, s0, s21\n",
            "vadd.f32 s1, s1, s21\n",
            "add {t}, {one}, {t}, lsl #23\n",
            "add {u}, {one}, {u}, lsl #23\n",
            "vmov s2, s3, {t}, {u}\n",
            "vmul.f32 s0, s0, s2\n",
            "vmul.f32 s1, s1, s3\n",
        )
    };
}

/// `x[i] = expf(x[i] - max)` and their sequential sum from 0.0: the twin's exponential pass and sum.
///
/// The `asm` loop takes two elements per iteration and runs [`crate::math::expf`]'s operations on
/// each in its order (unfused `VMLA`/`VMLS` round the product, then the sum, like the twin's separate
/// `*` and `+`), except two that cannot change the result while the exponent `n` is in `-126..=127`:
/// the clamp (inactive there) and the scaling `p * 2^n` in one multiply instead of two (both exact,
/// or rounded once, as `2^n` is normal). A pair with an element outside that range (tiny or huge
/// results, NaN) stops the loop; its first element is computed by [`crate::math::expf`] itself (as
/// is an odd last one), and the loop resumes after it.
fn exp_shifted_sum(x: &mut [f32], max: f32) -> f32 {
    // `n + 126` for `t = x * LOG2E + EXP_ROUND` is `bits(t) - (bits(EXP_ROUND) - 126)`.
    const BIAS: u32 = crate::math::EXP_ROUND.to_bits() - 126;
    let mut sum = 0.0f32;
    let mut i = 0;
    while i < x.len() {
        let rest = x.get_mut(i..).unwrap_or_default();
        let pairs = rest.len() / 2;
        if pairs > 0 {
            let (left, bits): (usize, u32);
            // SAFETY: reads and writes `2 * pairs <= rest.len()` f32 in place (4-byte aligned, as
            // VLDM/VSTM need), a pair at a time, stopping early at a pair it leaves to the scalar
            // path (`left` = pairs not written). Reads EXP_CONSTANTS and EXP_PAIR_ADDENDS. Writes only
            // declared registers (s16-s23 are declared, so the compiler saves the callee-saved ones).
            // No stack.
            unsafe {
                asm!(
                    "vldmia {k}, {{s16-s21}}",
                    "vmov s22, {m}",
                    "vmov s23, {s}",
                    "2:",
                    "vldmia {p}, {{s0-s1}}",
                    "vsub.f32 s0, s0, s22",
                    "vsub.f32 s1, s1, s22",
                    exp_pair!(),
                    "vstmia {p}!, {{s0-s1}}",
                    "vadd.f32 s23, s23, s0",
                    "vadd.f32 s23, s23, s1",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "3:",
                    "vmov {s}, s23",
                    k = in(reg) EXP_CONSTANTS.as_ptr(),
                    k2 = in(reg) EXP_PAIR_ADDENDS.as_ptr(),
                    m = in(reg) max.to_bits(),
                    s = inout(reg) sum.to_bits() => bits,
                    p = inout(reg) rest.as_mut_ptr() => _,
                    n = inout(reg) pairs => left,
                    t = out(reg) _,
                    u = out(reg) _,
                    bias = in(reg) BIAS,
                    one = in(reg) 1u32 << 23,
                    out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                    out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                    out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
                    out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _,
                    options(nostack),
                );
            }
            sum = f32::from_bits(bits);
            i += 2 * (pairs - left);
        }
        // The element that stopped the loop, or an odd last one.
        if let Some(v) = x.get_mut(i) {
            *v = crate::math::expf(*v - max);
            sum += *v;
            i += 1;
        }
    }
    sum
}

/// SwiGLU `h1[i] = silu(h1[i]) * h3[i]`, [`generic::swiglu`] bit for bit: two elements per
/// iteration, `silu(x) = x * (1 / (1 + expf(-x)))` with `expf` as in `exp_shifted_sum` (the same
/// operations while the exponent is in `-126..=127`; a pair with an element outside that range
/// stops the loop, and its first element, like an odd last one, takes the twin).
pub fn swiglu(h1: &mut [f32], h3: &[f32]) {
    const BIAS: u32 = crate::math::EXP_ROUND.to_bits() - 126;
    let n = h1.len().min(h3.len());
    let mut i = 0;
    while i < n {
        let a = h1.get_mut(i..n).unwrap_or_default();
        let b = h3.get(i..n).unwrap_or_default();
        let pairs = a.len().min(b.len()) / 2;
        if pairs > 0 {
            let left: usize;
            // SAFETY: reads and writes `2 * pairs` f32 of `a` in place and reads as many of `b`
            // (both of length >= 2 * pairs, 4-byte aligned as VLDM/VSTM need), a pair at a time,
            // stopping early at a pair it leaves to the twin (`left` = pairs not written). Reads
            // EXP_CONSTANTS and EXP_PAIR_ADDENDS. Writes only declared registers. No stack.
            unsafe {
                asm!(
                    "vldmia {k}, {{s16-s21}}",
                    "2:",
                    "vldmia {pa}, {{s24-s25}}",
                    "vneg.f32 s0, s24",
                    "vneg.f32 s1, s25",
                    exp_pair!(),
                    "vadd.f32 s0, s0, s21",
                    "vadd.f32 s1, s1, s21",
                    "vdiv.f32 s0, s21, s0",
                    "vdiv.f32 s1, s21, s1",
                    "vmul.f32 s24, s24, s0",
                    "vmul.f32 s25, s25, s1",
                    "vldmia {pb}!, {{s26-s27}}",
                    "vmul.f32 s24, s24, s26",
                    "vmul.f32 s25, s25, s27",
                    "vstmia {pa}!, {{s24-s25}}",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "3:",
                    k = in(reg) EXP_CONSTANTS.as_ptr(),
                    k2 = in(reg) EXP_PAIR_ADDENDS.as_ptr(),
                    pa = inout(reg) a.as_mut_ptr() => _,
                    pb = inout(reg) b.as_ptr() => _,
                    n = inout(reg) pairs => left,
                    t = out(reg) _,
                    u = out(reg) _,
                    bias = in(reg) BIAS,
                    one = in(reg) 1u32 << 23,
                    out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                    out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                    out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
                    out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s24") _, out("s25") _,
                    out("s26") _, out("s27") _,
                    options(nostack),
                );
            }
            i += 2 * (pairs - left);
        }
        // The element that stopped the loop, or an odd last one.
        if let (Some(v), Some(&w)) = (h1.get_mut(i), h3.get(i)) {
            *v = generic::silu(*v) * w;
        }
        i += 1;
    }
}

/// `x[i] /= sum` for every element (four per `VLDM`/`VSTM`).
fn div_f32(x: &mut [f32], sum: f32) {
    let (quads, rest) = x.as_chunks_mut::<4>();
    if !quads.is_empty() {
        // SAFETY: reads and writes `quads.len() >= 1` groups of four f32 in place (4-byte aligned);
        // writes only declared registers. No stack.
        unsafe {
            asm!(
                "vmov s4, {s}",
                "2:",
                "vldmia {p}, {{s0-s3}}",
                "vdiv.f32 s0, s0, s4",
                "vdiv.f32 s1, s1, s4",
                "vdiv.f32 s2, s2, s4",
                "vdiv.f32 s3, s3, s4",
                "vstmia {p}!, {{s0-s3}}",
                "subs {n}, {n}, #1",
                "bne 2b",
                s = in(reg) sum.to_bits(),
                p = inout(reg) quads.as_mut_ptr() => _,
                n = inout(reg) quads.len() => _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _,
                options(nostack),
            );
        }
    }
    for v in rest {
        *v /= sum;
    }
}

/// Attention scores for head size 8, `generic::gather_scores_n` bit for bit: per two cached
/// positions one `LDRD` of their slots, two `MLA`s for the records' addresses, two `VLDM`s of the
/// keys, sixteen unfused `VMLA`s (each sum in the twin's order from 0.0), two `VDIV`s by `scale` and
/// one `VSTM`; an odd last position takes the same steps alone. Out-of-range records take the twin.
#[inline(always)] // `recs` then stays in registers: no by-reference copy of it per call
pub fn gather_scores8(q: &[f32; 8], recs: Records<'_>, scale: f32, out: &mut [f32]) {
    let n = recs.list().len().min(out.len());
    if n == 0 || !recs.all_in_range(8) {
        return generic::gather_scores_n(q, recs, scale, out);
    }
    // SAFETY: every record `buf[slot * stride + offset..][..8]` is in range (checked above, without
    // overflow); the loops read `n <= slots.len()` slots (`n / 2` pairs by LDRD, then one if `n` is
    // odd; `u32` slots are 4-byte aligned as LDRD needs) and write `n <= out.len()` scores; `q` is 8
    // f32. f32 data is 4-byte aligned as VLDM/VSTM require. Only declared registers are written.
    unsafe {
        asm!(
            "vldmia {q}, {{s16-s23}}",
            "vmov s26, {scale}",
            "vmov.f32 s27, #0.5",
            "vsub.f32 s27, s27, s27",
            "lsrs {n2}, {n}, #1",
            "beq 3f",
            "2:",
            "ldrd {t}, {u}, [{ps}], #8",
            "mla {t}, {t}, {stride4}, {base}",
            "mla {u}, {u}, {stride4}, {base}",
            "vldmia {t}, {{s0-s7}}",
            "vldmia {u}, {{s8-s15}}",
            "vmov.f32 s24, s27",
            "vmov.f32 s25, s27",
            "vmla.f32 s24, s16, s0",
            "vmla.f32 s25, s16, s8",
            "vmla.f32 s24, s17, s1",
            "vmla.f32 s25, s17, s9",
            "vmla.f32 s24, s18, s2",
            "vmla.f32 s25, s18, s10",
            "vmla.f32 s24, s19, s3",
            "vmla.f32 s25, s19, s11",
            "vmla.f32 s24, s20, s4",
            "vmla.f32 s25, s20, s12",
            "vmla.f32 s24, s21, s5",
            "vmla.f32 s25, s21, s13",
            "vmla.f32 s24, s22, s6",
            "vmla.f32 s25, s22, s14",
            "vmla.f32 s24, s23, s7",
            "vmla.f32 s25, s23, s15",
            "vdiv.f32 s24, s24, s26",
            "vdiv.f32 s25, s25, s26",
            "vstmia {po}!, {{s24-s25}}",
            "subs {n2}, {n2}, #1",
            "bne 2b",
            "3:",
            "tst {n}, #1",
            "beq 4f",
            "ldr {t}, [{ps}]",
            "mla {t}, {t}, {stride4}, {base}",
            "vldmia {t}, {{s0-s7}}",
            "vmov.f32 s24, s27",
            "vmla.f32 s24, s16, s0",
            "vmla.f32 s24, s17, s1",
            "vmla.f32 s24, s18, s2",
            "vmla.f32 s24, s19, s3",
            "vmla.f32 s24, s20, s4",
            "vmla.f32 s24, s21, s5",
            "vmla.f32 s24, s22, s6",
            "vmla.f32 s24, s23, s7",
            "vdiv.f32 s24, s24, s26",
            "vstmia {po}!, {{s24}}",
            "4:",
            q = in(reg) q.as_ptr(),
            scale = in(reg) scale.to_bits(),
            t = out(reg) _,
            u = out(reg) _,
            n2 = out(reg) _,
            ps = inout(reg) recs.list().as_ptr() => _,
            stride4 = in(reg) recs.stride * 4,
            base = in(reg) recs.base(),
            po = inout(reg) out.as_mut_ptr() => _,
            n = in(reg) n,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
            out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
            out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _, out("s26") _, out("s27") _,
            options(nostack),
        );
    }
}

/// Weighted sum of cached records for head size 8, `generic::gather_axpy_n` bit for bit: the
/// accumulator in `s0-s7`; per two positions one `LDRD` of their slots, two `MLA`s (addresses), one
/// `VLDM` of the two weights, and per record one `VLDM` and eight unfused `VMLA`s, in position order;
/// an odd last position alone. Out-of-range records take the twin.
#[inline(always)] // `recs` then stays in registers: no by-reference copy of it per call
pub fn gather_axpy8(o: &mut [f32; 8], weights: &[f32], recs: Records<'_>) {
    let n = recs.list().len().min(weights.len());
    if n == 0 || !recs.all_in_range(8) {
        return generic::gather_axpy_n(o, weights, recs);
    }
    // SAFETY: every record is in range (checked above); the loops read `n <= slots.len()` slots (LDRD
    // of 4-byte aligned `u32` pairs, then one if `n` is odd) and `n <= weights.len()` weights, and
    // read and write the 8 f32 of `o`; 4-byte aligned f32 data. Only declared registers are written.
    unsafe {
        asm!(
            "vldmia {o}, {{s0-s7}}",
            "lsrs {n2}, {n}, #1",
            "beq 3f",
            "2:",
            "ldrd {t}, {u}, [{ps}], #8",
            "mla {t}, {t}, {stride4}, {base}",
            "mla {u}, {u}, {stride4}, {base}",
            "vldmia {pw}!, {{s16-s17}}",
            "vldmia {t}, {{s8-s15}}",
            "vmla.f32 s0, s16, s8",
            "vmla.f32 s1, s16, s9",
            "vmla.f32 s2, s16, s10",
            "vmla.f32 s3, s16, s11",
            "vmla.f32 s4, s16, s12",
            "vmla.f32 s5, s16, s13",
            "vmla.f32 s6, s16, s14",
            "vmla.f32 s7, s16, s15",
            "vldmia {u}, {{s8-s15}}",
            "vmla.f32 s0, s17, s8",
            "vmla.f32 s1, s17, s9",
            "vmla.f32 s2, s17, s10",
            "vmla.f32 s3, s17, s11",
            "vmla.f32 s4, s17, s12",
            "vmla.f32 s5, s17, s13",
            "vmla.f32 s6, s17, s14",
            "vmla.f32 s7, s17, s15",
            "subs {n2}, {n2}, #1",
            "bne 2b",
            "3:",
            "tst {n}, #1",
            "beq 4f",
            "ldr {t}, [{ps}]",
            "mla {t}, {t}, {stride4}, {base}",
            "vldmia {t}, {{s8-s15}}",
            "vldmia {pw}, {{s16}}",
            "vmla.f32 s0, s16, s8",
            "vmla.f32 s1, s16, s9",
            "vmla.f32 s2, s16, s10",
            "vmla.f32 s3, s16, s11",
            "vmla.f32 s4, s16, s12",
            "vmla.f32 s5, s16, s13",
            "vmla.f32 s6, s16, s14",
            "vmla.f32 s7, s16, s15",
            "4:",
            "vstmia {o}, {{s0-s7}}",
            o = in(reg) o.as_mut_ptr(),
            t = out(reg) _,
            u = out(reg) _,
            n2 = out(reg) _,
            ps = inout(reg) recs.list().as_ptr() => _,
            pw = inout(reg) weights.as_ptr() => _,
            stride4 = in(reg) recs.stride * 4,
            base = in(reg) recs.base(),
            n = in(reg) n,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
            out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
            options(nostack),
        );
    }
}

/// [`generic::gather_axpy`] for head sizes that are multiples of 8 (16, 32, ...): each group of eight
/// elements by [`gather_axpy8`] at its offset in the records. Every element's sum is the twin's
/// sequence (positions in order), so the same bits. Returns false (doing nothing) for other sizes
/// and when a record is out of range.
pub fn gather_axpy_wide(o: &mut [f32], weights: &[f32], recs: Records<'_>) -> bool {
    // Every whole record in range, or the twin (which skips a record that is not whole).
    let len = o.len();
    let (groups, rest) = o.as_chunks_mut::<8>();
    if groups.is_empty() || !rest.is_empty() || !recs.all_in_range(len) {
        return false;
    }
    for (g, o8) in groups.iter_mut().enumerate() {
        let offset = recs.offset.saturating_add(8 * g);
        gather_axpy8(o8, weights, Records { offset, ..recs });
    }
    true
}

/// `d_w * d_x` of two f16 scales (little-endian bytes), converted by the FPU (`VCVTB.F32.F16`, exact
/// like the `half` crate's software conversion the twin uses) and multiplied in f32.
#[inline(always)]
fn scale_product(dw: [u8; 2], dx: [u8; 2]) -> f32 {
    let out: u32;
    // SAFETY: register-only FPU operations on the declared registers; VCVTB.F32.F16 is part of
    // FPv4-SP and FPv5 (every target `glmix_vfp` is set for).
    unsafe {
        asm!(
            "vmov s0, s1, {w}, {x}",
            "vcvtb.f32.f16 s0, s0",
            "vcvtb.f32.f16 s1, s1",
            "vmul.f32 s0, s0, s1",
            "vmov {o}, s0",
            w = in(reg) u32::from(u16::from_le_bytes(dw)),
            x = in(reg) u32::from(u16::from_le_bytes(dx)),
            o = out(reg) out,
            out("s0") _, out("s1") _,
            options(pure, nomem, nostack),
        );
    }
    f32::from_bits(out)
}

/// [`generic::vec_dot_by`] with the scales converted by the FPU: `sumf += sumi * (d_w * d_x)`, block
/// after block, the same operations (bit-identical).
#[inline(always)]
pub(super) fn vec_dot_vfp<B>(
    w: &[B],
    x: &[BlockQ8_0],
    d: impl Fn(&B) -> [u8; 2],
    dot_i32: impl Fn(&B, &BlockQ8_0) -> i32,
) -> f32 {
    let mut sumf = 0.0f32;
    for (bw, bx) in w.iter().zip(x) {
        sumf += dot_i32(bw, bx) as f32 * scale_product(d(bw), bx.d);
    }
    sumf
}

/// Four `k = trunc(2t)` in `$a..$d` to four int8 `roundf(t)` stored at `{q}` (post-incremented): lanes
/// `[k2 | k0]` and `[k3 | k1]` (`PKHBT`), `floor((k + [k >= 0]) / 2)` per lane (`BIC` of the sign bits
/// from `0x00010001`, `SHADD16`), then the low bytes interleaved into one word.
macro_rules! q8_round_4 {
    ($a:literal, $b:literal, $c:literal, $d:literal) => {
        concat!(
            "vmov {k0}, {k1}, ",
            $a,
            ", ",
            $b,
            "\n",
            "vmov {k2}, {k3}, ",
            $c,
            ", ",
            $d,
            "\n",
            "pkhbt {k0}, {k0}, {k2}, lsl #16\n",
            "pkhbt {k1}, {k1}, {k3}, lsl #16\n",
            "bic {k2}, {ones}, {k0}, lsr #15\n",
            "shadd16 {k0}, {k0}, {k2}\n",
            "bic {k3}, {ones}, {k1}, lsr #15\n",
            "shadd16 {k1}, {k1}, {k3}\n",
            "and {k0}, {k0}, #0x00ff00ff\n",
            "and {k1}, {k1}, #0x00ff00ff\n",
            "orr {k0}, {k0}, {k1}, lsl #8\n",
            "str {k0}, [{q}], #4\n",
        )
    };
}

/// 2^-117: the smallest block `amax` [`quantize_q8_0`]'s fast path takes (above it, `d = amax / 127`
/// has a finite reciprocal and every `|v * id|` is below 127.5).
const MIN_AMAX: f32 = f32::from_bits(10 << 23);

/// [`crate::quant::quantize_row_q8_0`], block for block (the same bytes): per whole block, `amax` on
/// the integer side, `d`, `1/d` as the twin computes them and the f16 scale by `VCVTB.F16.F32`
/// (round to nearest even, as `half`'s conversion), then `q = round_to_i8(v * id)` without a
/// branch: `VCVT.S32.F32 #1` gives `k = trunc(2t)` exactly, and `floor((k + [k >= 0]) / 2)` (one
/// `SHADD16` for two lanes) is `roundf(t)`; with `|t| < 127.5` no saturation is needed, and a NaN `t`
/// gives 0 as Rust's `as`. Blocks holding a NaN, with `amax` below [`MIN_AMAX`], and partial blocks
/// take the twin; missing ones are written empty, as the twin's.
pub fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    let mut chunks = x.chunks(crate::tensor::QK);
    for b in out.iter_mut() {
        let chunk = chunks.next().unwrap_or_default();
        let Ok(c) = <&[f32; 32]>::try_from(chunk) else {
            if chunk.is_empty() {
                clear_block(b);
            } else {
                *b = QuantBlock::quantize(chunk);
            }
            continue;
        };
        // `|v|`'s bits shifted left by one: unsigned order is the order of `|v|`, a NaN above `inf`.
        let m = abs_max_shifted(c);
        if m > f32::INFINITY.to_bits() << 1 || m < MIN_AMAX.to_bits() << 1 {
            *b = QuantBlock::quantize(chunk);
            continue;
        }
        let d = f32::from_bits(m >> 1) / 127.0;
        let id = 1.0 / d;
        b.d = f16_bits(d).to_le_bytes();
        // SAFETY: reads the 32 f32 of `c` (4-byte aligned, as VLDM needs) and writes the 32 bytes of
        // `b.qs` (8 word stores; unaligned STR is allowed, see the parent module); only the declared
        // registers are written (and the flags); no stack. SHADD16/PKHBT are DSP instructions.
        unsafe {
            asm!(
                "vmov s16, {id}",
                "2:",
                "vldmia {p}!, {{s0-s7}}",
                "vmul.f32 s0, s0, s16",
                "vmul.f32 s1, s1, s16",
                "vmul.f32 s2, s2, s16",
                "vmul.f32 s3, s3, s16",
                "vmul.f32 s4, s4, s16",
                "vmul.f32 s5, s5, s16",
                "vmul.f32 s6, s6, s16",
                "vmul.f32 s7, s7, s16",
                "vcvt.s32.f32 s0, s0, #1",
                "vcvt.s32.f32 s1, s1, #1",
                "vcvt.s32.f32 s2, s2, #1",
                "vcvt.s32.f32 s3, s3, #1",
                "vcvt.s32.f32 s4, s4, #1",
                "vcvt.s32.f32 s5, s5, #1",
                "vcvt.s32.f32 s6, s6, #1",
                "vcvt.s32.f32 s7, s7, #1",
                q8_round_4!("s0", "s1", "s2", "s3"),
                q8_round_4!("s4", "s5", "s6", "s7"),
                "subs {n}, {n}, #1",
                "bne 2b",
                id = in(reg) id.to_bits(),
                p = inout(reg) c.as_ptr() => _,
                q = inout(reg) b.qs.as_mut_ptr() => _,
                n = inout(reg) 4u32 => _,
                ones = in(reg) 0x0001_0001u32,
                k0 = out(reg) _,
                k1 = out(reg) _,
                k2 = out(reg) _,
                k3 = out(reg) _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                out("s6") _, out("s7") _, out("s16") _,
                options(nostack),
            );
        }
    }
}

/// A missing block: the twin's empty block (scale 0, all zero), by nine stores (LLVM makes a
/// temporary and two library calls of a `BlockQ8_0::default()` assignment).
#[inline(always)]
fn clear_block(b: &mut BlockQ8_0) {
    // SAFETY: writes the 34 bytes of `b` (one halfword and eight unaligned words, allowed: see the
    // parent module); only the declared registers are written; no stack.
    unsafe {
        asm!(
            "strh {z}, [{p}]",
            "str {z}, [{p}, #2]",
            "str {z}, [{p}, #6]",
            "str {z}, [{p}, #10]",
            "str {z}, [{p}, #14]",
            "str {z}, [{p}, #18]",
            "str {z}, [{p}, #22]",
            "str {z}, [{p}, #26]",
            "str {z}, [{p}, #30]",
            p = in(reg) core::ptr::from_mut(b).cast::<u8>(),
            z = in(reg) 0u32,
            options(nostack),
        );
    }
}

/// The largest `bits(v) << 1` of the block (the sign shifted out): three instructions a value
/// (`CMP` with the shifted operand, `IT`, `LSL`), eight values per `LDM`.
#[inline(always)]
fn abs_max_shifted(c: &[f32; 32]) -> u32 {
    let m: u32;
    // SAFETY: reads the 32 f32 of `c` (4-byte aligned words, as LDM needs); writes only the declared
    // registers and the flags; no stack.
    unsafe {
        asm!(
            "movs {m}, #0",
            "2:",
            "ldm {p}!, {{r0, r1, r2, r3, r4, r5, r8, r9}}",
            "cmp {m}, r0, lsl #1", "it lo", "lsllo {m}, r0, #1",
            "cmp {m}, r1, lsl #1", "it lo", "lsllo {m}, r1, #1",
            "cmp {m}, r2, lsl #1", "it lo", "lsllo {m}, r2, #1",
            "cmp {m}, r3, lsl #1", "it lo", "lsllo {m}, r3, #1",
            "cmp {m}, r4, lsl #1", "it lo", "lsllo {m}, r4, #1",
            "cmp {m}, r5, lsl #1", "it lo", "lsllo {m}, r5, #1",
            "cmp {m}, r8, lsl #1", "it lo", "lsllo {m}, r8, #1",
            "cmp {m}, r9, lsl #1", "it lo", "lsllo {m}, r9, #1",
            "subs {n}, {n}, #1",
            "bne 2b",
            m = out(reg) m,
            p = inout(reg) c.as_ptr() => _,
            n = inout(reg) 4u32 => _,
            out("r0") _, out("r1") _, out("r2") _, out("r3") _, out("r4") _, out("r5") _,
            out("r8") _, out("r9") _,
            options(readonly, nostack),
        );
    }
    m
}

/// The f16 bits of `d` by `VCVTB.F16.F32` (round to nearest even, overflow to infinity, subnormal
/// results rounded once: `half::f16::from_f32`'s result for every non-NaN `d`).
#[inline(always)]
fn f16_bits(d: f32) -> u16 {
    let bits: u32;
    // SAFETY: register-only FPU instructions on the declared registers (FPv4-SP and FPv5).
    unsafe {
        asm!(
            "vmov s0, {d}",
            "vcvtb.f16.f32 s0, s0",
            "vmov {b}, s0",
            d = in(reg) d.to_bits(),
            b = out(reg) bits,
            out("s0") _,
            options(pure, nomem, nostack),
        );
    }
    bits as u16
}
