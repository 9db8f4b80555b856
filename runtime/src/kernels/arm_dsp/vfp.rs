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

/// f32 matrix times `x`, `super::matvec_f32_rows`'s contract: `out[r] = dot_f32(data[r * cols..]
/// [..cols], x)`, each a sequential f32 sum exactly like [`generic::dot_f32`]: `VMLA.F32` rounds the
/// product, then the sum (it is not fused), so the results are bit-identical to the twin.
///
/// Rows go in pairs, eight columns per inner iteration: three `VLDM`s (x, row r, row r + 1) and
/// sixteen `VMLA`s, so each load of `x` serves two rows; the row loop is in the asm too. Shapes it
/// does not cover (columns not a multiple of 8, short `x` or `data`) take the scalar twin.
pub fn matvec_f32(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    let rows = out.len();
    let pairs = rows / 2;
    let fits = cols > 0
        && cols.is_multiple_of(8)
        && x.len() >= cols
        && rows.checked_mul(cols).is_some_and(|n| n <= data.len());
    if !fits || pairs == 0 {
        return super::super::matvec_f32_rows::<generic::Generic>(data, cols, x, out);
    }
    // SAFETY: `data` holds `rows * cols` f32 (checked above) and the asm reads rows `0..2 * pairs`
    // (8 f32 per VLDM, `cols / 8` VLDMs per row), `x[..cols]` once per pair (`x.len() >= cols`), and
    // writes `out[..2 * pairs]` (`2 * pairs <= rows = out.len()`). f32 slices are 4-byte aligned as
    // VLDM/VSTM require. Only the declared registers are written; no stack. VLDM/VSTM/VMLA.F32 and
    // VMOV immediates exist on every hard-float target `glmix_vfp` is set for.
    unsafe {
        asm!(
            "vmov.f32 s26, #0.5",
            "vsub.f32 s26, s26, s26",
            "3:",
            "vmov.f32 s24, s26",
            "vmov.f32 s25, s26",
            "mov {px}, {x}",
            "mov {n}, {blocks}",
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
            "vstmia {out}!, {{s24-s25}}",
            "mov {p0}, {p1}",
            "add {p1}, {p1}, {blocks}, lsl #5",
            "subs {pairs}, {pairs}, #1",
            "bne 3b",
            x = in(reg) x.as_ptr(),
            px = out(reg) _,
            n = out(reg) _,
            blocks = in(reg) cols / 8,
            p0 = inout(reg) data.as_ptr() => _,
            p1 = inout(reg) data.as_ptr().add(cols) => _,
            out = inout(reg) out.as_mut_ptr() => _,
            pairs = inout(reg) pairs => _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
            out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
            out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _, out("s26") _,
            options(nostack),
        );
    }
    if rows % 2 == 1 {
        // The last row is inside `data` (checked above): both lookups succeed.
        let start = (rows - 1) * cols;
        if let (Some(o), Some(row)) = (out.last_mut(), data.get(start..start + cols)) {
            *o = generic::dot_f32(row, x);
        }
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
/// The activations are widened to halfword pairs once per pass (`WideBlock`), so per four weights
/// of two rows the inner loop is one `LDRD` of activations, two `LDR`s of weights, four `SXTB16`s
/// and four `SMLAD`s (1.4 instructions per multiply-accumulate, against 2 for `block_dot_q8_0`).
/// Rows go in pairs (an odd last row is paired with itself and one result dropped); columns in
/// passes of `WIDE_BLOCKS` blocks, the row sums carried in `out` between passes (the same sequence
/// of additions as one pass). Rows shorter than the pair stride (not produced by a valid tensor) take
/// the twin.
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
    out.fill(0.0);
    // Written before it is read (each pass widens the blocks it then reads), so left uninitialized.
    let mut wide = [const { MaybeUninit::<WideBlock>::uninit() }; WIDE_BLOCKS];
    for (pass, xs) in xq.get(..nb).unwrap_or_default().chunks(WIDE_BLOCKS).enumerate() {
        for (wb, xb) in wide.iter_mut().zip(xs) {
            let mut x = [0u32; 16];
            for (pair, q) in x.as_chunks_mut::<2>().0.iter_mut().zip(xb.qs.as_chunks::<4>().0) {
                let (even, odd) = sxtb16_pair(u32::from_le_bytes(q.map(|v| v as u8)));
                *pair = [even, odd];
            }
            wb.write(WideBlock { x, d: xb.d() });
        }
        let skip = pass * WIDE_BLOCKS * BLOCK;
        let (pairs, last) = out.as_chunks_mut::<2>();
        let wide = wide.as_ptr().cast::<WideBlock>();
        // SAFETY (both calls): the rows read are `0..out.len()`, inside `data` (checked above); from
        // each, `xs.len()` blocks starting at byte `skip`, and `skip + xs.len() * 34 <= nb * 34 <=
        // row_bytes`. `wide` holds the `xs.len() >= 1` widened blocks of this pass (`chunks` yields
        // no empty chunk). The lone last row is read as a pair with itself.
        unsafe {
            if !pairs.is_empty() {
                q8_0_row_pairs(data.as_ptr().add(skip), row_bytes, wide, xs.len(), pairs);
            }
            if let [last] = last {
                let mut sums = [[*last; 2]];
                q8_0_row_pairs(
                    data.as_ptr().add(2 * pairs.len() * row_bytes + skip),
                    0,
                    wide,
                    xs.len(),
                    &mut sums,
                );
                *last = sums[0][0];
            }
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

/// [`crate::math::expf`]'s constants in the order `exp_shifted_sum` loads them into `s17-s27`.
static EXP_CONSTANTS: [f32; 11] = {
    use crate::math::{EXP_C1, EXP_C2, EXP_P, EXP_ROUND, LOG2E};
    [EXP_ROUND, LOG2E, EXP_C1, EXP_C2, EXP_P[0], EXP_P[1], EXP_P[2], EXP_P[3], EXP_P[4], EXP_P[5], 1.0]
};

/// [`crate::math::expf`] of two lanes at once, the fast path of `exp_shifted_sum` and [`swiglu`]:
/// the arguments in `$a`, `$b` (replaced by the results), constants in `s17-s27` ([`EXP_CONSTANTS`]),
/// temporaries `s2-s11` and the core registers `{t}`, `{u}`; exits to label `3` when either exponent
/// is outside `-126..=127`. Per lane: `t = x * LOG2E + ROUND`, `n = t - ROUND`, the Cody-Waite
/// reduction, the polynomial in Horner order, `p * 2^n` in one multiply (all unfused, as the twin).
macro_rules! exp_pair {
    ($a:literal, $b:literal) => {
        concat!(
            "vmov.f32 s2, s17",
            "\n",
            "vmla.f32 s2, ",
            $a,
            ", s18",
            "\n",
            "vmov.f32 s3, s17",
            "\n",
            "vmla.f32 s3, ",
            $b,
            ", s18",
            "\n",
            "vmov {t}, {u}, s2, s3",
            "\n",
            "sub {t}, {t}, {bias}",
            "\n",
            "sub {u}, {u}, {bias}",
            "\n",
            "cmp {t}, #253",
            "\n",
            "bhi 3f",
            "\n",
            "cmp {u}, #253",
            "\n",
            "bhi 3f",
            "\n",
            "vsub.f32 s4, s2, s17",
            "\n",
            "vsub.f32 s5, s3, s17",
            "\n",
            "vmls.f32 ",
            $a,
            ", s4, s19",
            "\n",
            "vmls.f32 ",
            $b,
            ", s5, s19",
            "\n",
            "vmls.f32 ",
            $a,
            ", s4, s20",
            "\n",
            "vmls.f32 ",
            $b,
            ", s5, s20",
            "\n",
            "vmul.f32 s6, ",
            $a,
            ", ",
            $a,
            "\n",
            "vmul.f32 s7, ",
            $b,
            ", ",
            $b,
            "\n",
            "vmov.f32 s8, s22",
            "\n",
            "vmla.f32 s8, s21, ",
            $a,
            "\n",
            "vmov.f32 s10, s22",
            "\n",
            "vmla.f32 s10, s21, ",
            $b,
            "\n",
            "vmov.f32 s9, s23",
            "\n",
            "vmla.f32 s9, s8, ",
            $a,
            "\n",
            "vmov.f32 s11, s23",
            "\n",
            "vmla.f32 s11, s10, ",
            $b,
            "\n",
            "vmov.f32 s8, s24",
            "\n",
            "vmla.f32 s8, s9, ",
            $a,
            "\n",
            "vmov.f32 s10, s24",
            "\n",
            "vmla.f32 s10, s11, ",
            $b,
            "\n",
            "vmov.f32 s9, s25",
            "\n",
            "vmla.f32 s9, s8, ",
            $a,
            "\n",
            "vmov.f32 s11, s25",
            "\n",
            "vmla.f32 s11, s10, ",
            $b,
            "\n",
            "vmov.f32 s8, s26",
            "\n",
            "vmla.f32 s8, s9, ",
            $a,
            "\n",
            "vmov.f32 s10, s26",
            "\n",
            "vmla.f32 s10, s11, ",
            $b,
            "\n",
            "vmla.f32 ",
            $a,
            ", s8, s6",
            "\n",
            "vmla.f32 ",
            $b,
            ", s10, s7",
            "\n",
            "vadd.f32 ",
            $a,
            ", ",
            $a,
            ", s27",
            "\n",
            "vadd.f32 ",
            $b,
            ", ",
            $b,
            ", s27",
            "\n",
            "add {t}, {one}, {t}, lsl #23",
            "\n",
            "add {u}, {one}, {u}, lsl #23",
            "\n",
            "vmov s2, s3, {t}, {u}",
            "\n",
            "vmul.f32 ",
            $a,
            ", ",
            $a,
            ", s2",
            "\n",
            "vmul.f32 ",
            $b,
            ", ",
            $b,
            ", s3",
            "\n",
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
            // path (`left` = pairs not written). Reads 11 f32 of EXP_CONSTANTS. Writes only declared
            // registers (s16-s28 are declared, so the compiler saves the callee-saved ones). No stack.
            unsafe {
                asm!(
                    "vldmia {k}, {{s17-s27}}",
                    "vmov s16, {m}",
                    "vmov s28, {s}",
                    "2:",
                    "vldmia {p}, {{s0-s1}}",
                    "vsub.f32 s0, s0, s16",
                    "vsub.f32 s1, s1, s16",
                    exp_pair!("s0", "s1"),
                    "vstmia {p}!, {{s0-s1}}",
                    "vadd.f32 s28, s28, s0",
                    "vadd.f32 s28, s28, s1",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "3:",
                    "vmov {s}, s28",
                    k = in(reg) EXP_CONSTANTS.as_ptr(),
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
                    out("s16") _, out("s17") _, out("s18") _, out("s19") _, out("s20") _, out("s21") _,
                    out("s22") _, out("s23") _, out("s24") _, out("s25") _, out("s26") _, out("s27") _,
                    out("s28") _,
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
            // stopping early at a pair it leaves to the twin (`left` = pairs not written). Reads 11
            // f32 of EXP_CONSTANTS. Writes only declared registers. No stack.
            unsafe {
                asm!(
                    "vldmia {k}, {{s17-s27}}",
                    "2:",
                    "vldmia {pa}, {{s0-s1}}",
                    "vneg.f32 s14, s0",
                    "vneg.f32 s15, s1",
                    exp_pair!("s14", "s15"),
                    "vadd.f32 s14, s14, s27",
                    "vadd.f32 s15, s15, s27",
                    "vdiv.f32 s14, s27, s14",
                    "vdiv.f32 s15, s27, s15",
                    "vmul.f32 s0, s0, s14",
                    "vmul.f32 s1, s1, s15",
                    "vldmia {pb}!, {{s12-s13}}",
                    "vmul.f32 s0, s0, s12",
                    "vmul.f32 s1, s1, s13",
                    "vstmia {pa}!, {{s0-s1}}",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "3:",
                    k = in(reg) EXP_CONSTANTS.as_ptr(),
                    pa = inout(reg) a.as_mut_ptr() => _,
                    pb = inout(reg) b.as_ptr() => _,
                    n = inout(reg) pairs => left,
                    t = out(reg) _,
                    u = out(reg) _,
                    bias = in(reg) BIAS,
                    one = in(reg) 1u32 << 23,
                    out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                    out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                    out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s17") _, out("s18") _,
                    out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _, out("s24") _,
                    out("s25") _, out("s26") _, out("s27") _,
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
