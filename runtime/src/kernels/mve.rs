//! Helium (M-profile Vector Extension, Armv8.1-M: Cortex-M55/M85) kernels, in `asm!` (stable Rust has
//! no MVE intrinsics). cfg `glmix_mve` (set by `build.rs` for `thumbv8m.main-*` built with
//! `-C target-cpu=cortex-m55`/`cortex-m85`, or `-C target-feature=+mve.fp`); every MVE core also has
//! the DSP extension and an FPU, so `glmix_dsp` and `glmix_vfp` are set too and what this module does
//! not cover is `arm_dsp`'s (`Dsp`: the SMLAD block dots of `arm_dsp/dsp.rs`, the FPU kernels of
//! `arm_dsp/vfp.rs`).
//!
//! | kernel | how | against the twin |
//! |---|---|---|
//! | q8_0 matvec | rows in fours: per block the activation halves loaded once, four rows' `VMLADAV`/`VMLADAVA.S8` pairs, then the four rows' float steps in the lanes of one vector (`d_w` by a halfword gather and `VCVTB.F32.F16`, `d_x` converted once per call, `VMUL`/`VADD.F32`; pointers advance by load writeback: 31 instructions per four row-blocks; odd weight addresses take the row dot); exact although MVE float flushes subnormals: no value in these steps can be subnormal (below) | **bit-identical** |
//! | q8_0 row dot (and the last `rows % 4` rows) | per block two `VLDRB` pairs and `VMLADAV`/`VMLADAVA.S8` (16 int8 products each) for the exact integer dot, then scalar VFP for `sumf += sumi * (d_w * d_x)` (`VCVTB.F32.F16` scales, `VMLA.F32`, not fused); the row loop in the asm | **bit-identical** |
//! | q4_0 row dot | the same, the nibbles unpacked in registers (`VAND`, `VSHR`, `VSUB.I8` 8) | **bit-identical** |
//! | q4_0 matvec | rows in fours as the q8_0 matvec, each row's `sum (n - 8) x` as `sum n x - 8 sum x` (exact in i32; the nibbles by `VSHL`/`VSHR` alone, `8 sum x` per activation block once per call by `VADDV.S8`) | **bit-identical** |
//! | softmax | the maximum by `VMAXNMV` (the twin's scan where it could have flushed); the exponentials ([`exp_shifted`]): [`crate::math::expf`]'s operations lane by lane, four lanes per step (`VPT` + `VDUPT` for the clamp, `VMUL`/`VADD`/`VSUB.F32` by scalars, the `2^n` factors by `VSHR`/`VADD`/`VSHL.I32`); in softmax itself one pass (`exp_sum_quads`) also adds each quad's results to the sum in order (scalar `VADD.F32`, the twin's sequential sum), with no upper clamp and one `2^n` factor (`x - max <= 0`); the division scalar (`VDIV`, eight per step), as the twin | equal, except flush-to-zero: a result below 2^-126 (an input more than 87.3 below the max) is 0 instead of subnormal |
//! | SwiGLU (`swiglu`) | four lanes per step: `expf(-x)` in MVE float as the softmax exponentials (the clamp on `-x`), `1 + e`, then per lane scalar VFP `VDIV` and `VMUL.F32` (`x * (1 / (1 + e)) * h3`, the twin's order); a subnormal `e` (0 here) changes nothing, as `1 + e` is 1 either way | **bit-identical** to the twin's arithmetic (`kernel-check` also compares it with `arm_dsp`'s scalar VFP kernel exactly) |
//! | attention scores, head sizes 8, 16, 32 (`gather_scores_n`) | eight cached positions per step in the lanes of two vectors: their record addresses from the slot list (`VMUL.I32`, `VADD.I32`), per head element two gather `VLDRW`s at an immediate offset, `VMUL.F32` by `q[k]`, `VADD.F32` (each score the twin's sequential sum from 0), then eight scalar `VDIV`s by `scale`; fewer than eight left, or a record out of range: `Dsp`'s | as the f32 matvec (a sum of eight products) |
//! | attention's weighted sum, head size 8 (`gather_axpy8`) | the output in two vectors; per four cached positions their addresses by one `VLDRW` of the slots and `VMLAS.I32`; per position two `VLDRW`s of the record, two `VMUL.F32` by the weight, two `VADD.F32` (the twin's order); a record out of range: `Dsp`'s | as the f32 matvec (each output a sum of `weight * record` terms in order) |
//! | attention's weighted sum, head sizes 16, 32 (`gather_axpy_wide`) | sixteen outputs in four vectors; per cached position its address by `MLA`, four `VLDRW`s of the record, four `VMUL.F32` by the weight, four `VADD.F32` (the twin's order); head size 32 in two passes, one per half; a record out of range: the twin | as the f32 matvec |
//! | activation quantizer (`quantize_q8_0`) | per block `VMAXNMAV` for `amax`, the scale in scalar VFP as the twin, then four lanes at a time `VMUL` by `1/d`, the twin's rounding as `trunc(|t| + 0.49999997)` with the sign put back (`VPT` + `VNEGT`), saturation to i8 by `VQSHL`/`VSHR` #24, `VSTRB.32` | **bit-identical**: blocks with `amax` below 2^-117 (where a flushed subnormal could round to a nonzero `q`) take the twin |
//! | f32 matvec | rows in the lanes of vectors (four per vector): a gather load (`VLDRW.U32 q, [q, #4]!`, the four row pointers as the address vector) per column, `VMUL.F32` by the column's `x` (a scalar), `VADD.F32` into the row sums: each row's sum is the twin's sequential one, product rounded then sum rounded; twelve rows per pass (then eight, four) share each `x`, four columns per step | equal, except where MVE float arithmetic differs from scalar: see below |
//!
//! # MVE float: the tolerance of the f32 matvec
//!
//! MVE floating-point instructions use the "standard FPSCR value" (Armv8.1-M): **flush-to-zero** of
//! subnormal inputs and results, and the default NaN. So an f32 matvec row equals the twin's bits
//! unless a weight, an `x` element, a product or a partial sum is subnormal (below 2^-126 in
//! magnitude) or a NaN appears (then both are NaN, maybe different payloads). Where a subnormal was
//! flushed, each flush changes the sum by less than 2^-126 and each later rounding may then differ by
//! an ulp of a partial sum (at most 2^-23 `sum_i |w_i x_i|`), so a row of `cols` terms is within
//! `cols * (2^-124 + 2^-22 * sum_i |w_i x_i|)` of the twin's (both terms doubled for margin: the bound
//! `kernel-check` compares within; a normal-range case must be bit-identical). The same holds for
//! the gathers (`cols` = the head size; the scores' division by `scale` is scalar, exact).
//! Infinities propagate as in the twin, except that an infinity times a subnormal (flushed to 0) is
//! NaN where the twin's is infinite or finite (`kernel-check` skips such rows). The exponentials:
//! bit-identical where the result is normal, and +0 where the twin's is subnormal (an absolute
//! difference below 2^-126; a softmax sum is never below 1, so the normalized outputs differ by less
//! than 2^-126 too).
//!
//! The integer kernels' float steps cannot meet a subnormal: the f16 scales are at least 2^-24 in
//! magnitude (or 0), so `d_w * d_x` is 0 or at least 2^-48, `sumi * d` (an integer times it) 0 or at
//! least 2^-48, and every partial sum of such terms a multiple of 2^-71 (0 or normal). So they are
//! bit-identical to the twins whether a step runs in scalar VFP or in MVE float (NaN aside: any
//! NaN scale gives NaN in both, maybe with another payload).
//!
//! # No two-lane `VMOV`
//!
//! The kernels move values between core registers and vector lanes one lane at a time (`VMOV.32
//! q[i], r`, `VMOV r, s`), never with the two-lane form (`VMOV q[2], q[0], Rt, Rt2` and its reverse):
//! LLVM's syntax pairs `Rt` with lane 2 (3), as does the Arm ARM as far as we can tell, but QEMU
//! (10.0, `trans_VMOV_to_2gp`/`_from_2gp`) pairs it with lane 0 (1): code using it can pass every
//! QEMU check and still permute lanes on a real core (the q8_0 matvec did until session 6).

use super::{arm_dsp::Dsp, generic, Kernels, Records};
use crate::quant::{BlockQ4_0, BlockQ8_0};
use crate::tensor::Tensor;
use core::arch::asm;

/// The kernels of an MVE core: the MVE matvecs, the rest from `Dsp`.
pub(crate) struct Mve;

const Q8_BYTES: usize = core::mem::size_of::<BlockQ8_0>();
const Q4_BYTES: usize = core::mem::size_of::<BlockQ4_0>();

impl Kernels for Mve {
    forward_kernels! {
        matvec_f32, matvec_q4_0 = matvec_q4_0_tensor, matvec_q8_0 = matvec_q8_0_tensor, gather_scores8,
        gather_axpy8, gather_scores_wide, gather_axpy_wide, quantize_q8_0, exp_shifted, softmax, swiglu,
    }
    #[inline(always)]
    fn q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
        one_row(w, x, matvec_q8_0)
    }
    #[inline(always)]
    fn q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
        one_row(w, x, matvec_q4_0)
    }
}

/// A q8_0 tensor's rows times `xq` ([`matvec_q8_0_quads`] over its bytes).
#[inline(always)]
fn matvec_q8_0_tensor(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
    matvec_q8_0_quads(w.bytes(), w.row_bytes(), xq, out)
}

/// A q4_0 tensor's rows times `xq` ([`matvec_q4_0_quads`] over its bytes).
#[inline(always)]
fn matvec_q4_0_tensor(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
    matvec_q4_0_quads(w.bytes(), w.row_bytes(), xq, out)
}

/// One row of blocks `w` times `x` over their common blocks, by the matvec kernel `rows`.
#[inline(always)]
fn one_row<B: crate::quant::QuantBlock>(
    w: &[B],
    x: &[BlockQ8_0],
    rows: impl Fn(&[u8], usize, &[BlockQ8_0], &mut [f32]),
) -> f32 {
    let mut o = [0.0f32];
    let n = w.len().min(x.len());
    let w = w.get(..n).unwrap_or_default();
    rows(crate::quant::blocks_as_bytes(w), n * core::mem::size_of::<B>(), x, &mut o);
    let [o] = o;
    o
}

/// Whether `rows` rows of `row_bytes` (a whole number `nb > 0` of `block` bytes) fit in `w` and `xq`
/// has at least `nb` blocks: the shapes the block kernels' asm covers. Returns `nb`.
fn block_shape(w: &[u8], row_bytes: usize, block: usize, xq: &[BlockQ8_0], rows: usize) -> Option<usize> {
    let nb = row_bytes / block;
    let fits = nb > 0
        && row_bytes == nb * block
        && xq.len() >= nb
        && rows > 0
        && rows.checked_mul(row_bytes).is_some_and(|n| n <= w.len());
    fits.then_some(nb)
}

/// The twin's row loop over `w`'s rows of `row_bytes` (for shapes the asm does not cover).
fn block_rows_twin<B: crate::quant::QuantBlock>(
    w: &[u8],
    row_bytes: usize,
    xq: &[BlockQ8_0],
    out: &mut [f32],
) {
    for (r, o) in out.iter_mut().enumerate() {
        let start = r.saturating_mul(row_bytes);
        let row = w.get(start..start.saturating_add(row_bytes)).unwrap_or(&[]);
        *o = generic::vec_dot::<B>(crate::quant::blocks_from_bytes(row), xq);
    }
}

/// q8_0 rows (`out.len()` rows of `row_bytes` bytes at the start of `w`, any byte alignment) times
/// `xq`: `out[r] = generic::vec_dot(row r, xq)`, bit for bit.
///
/// Per block: the two f16 scales converted (`VCVTB.F32.F16`) and multiplied, the 32 int8 products
/// summed exactly by `VMLADAV.S8` + `VMLADAVA.S8` over two pairs of 16-byte `VLDRB` loads, then
/// `VCVT.F32.S32` and `VMLA.F32` (scalar VFP: the product rounded, then the sum: the twin's
/// `sumf += sumi as f32 * (d_w * d_x)`). Rows and blocks both loop inside the asm (about 19
/// instructions per 32 weights). Shapes outside `block_shape` take the twin.
pub fn matvec_q8_0(w: &[u8], row_bytes: usize, xq: &[BlockQ8_0], out: &mut [f32]) {
    let rows = out.len();
    let Some(nb) = block_shape(w, row_bytes, Q8_BYTES, xq, rows) else {
        return block_rows_twin::<BlockQ8_0>(w, row_bytes, xq, out);
    };
    // SAFETY: `w` holds `rows * nb` q8_0 blocks (34 bytes each, contiguous: `row_bytes == nb * 34`)
    // and `xq` at least `nb` (checked by `block_shape`); the asm reads exactly those (byte loads and
    // halfword loads, which need no alignment on Armv8-M) and writes `out[..rows]` (`rows ==
    // out.len() > 0`; `out` is f32-aligned for VSTM). It writes only the declared registers and
    // no stack. MVE, VCVTB and VFP exist on every core `glmix_mve` is set for.
    unsafe {
        asm!(
            "vmov s24, {t}", // +0.0 (t = 0 here)
            "3:",
            "vmov.f32 s23, s24",
            "mov {px}, {x}",
            "mov {n}, {nb}",
            "2:",
            "ldrh {t}, [{pw}]",
            "vmov s20, {t}",
            "vcvtb.f32.f16 s20, s20",
            "ldrh {t}, [{px}]",
            "vmov s21, {t}",
            "vcvtb.f32.f16 s21, s21",
            "vmul.f32 s20, s20, s21",
            "vldrb.u8 q0, [{pw}, #2]",
            "vldrb.u8 q1, [{px}, #2]",
            "vmladav.s8 r0, q0, q1",
            "vldrb.u8 q0, [{pw}, #18]",
            "vldrb.u8 q1, [{px}, #18]",
            "vmladava.s8 r0, q0, q1",
            "vmov s22, r0",
            "vcvt.f32.s32 s22, s22",
            "vmla.f32 s23, s22, s20",
            "add {pw}, {pw}, #34",
            "add {px}, {px}, #34",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstmia {o}!, {{s23}}",
            "subs {rows}, {rows}, #1",
            "bne 3b",
            pw = inout(reg) w.as_ptr() => _,
            x = in(reg) xq.as_ptr(),
            px = out(reg) _,
            n = out(reg) _,
            nb = in(reg) nb,
            t = inout(reg) 0u32 => _,
            o = inout(reg) out.as_mut_ptr() => _,
            rows = inout(reg) rows => _,
            out("r0") _,
            out("d0") _,
            out("d1") _,
            out("d2") _,
            out("d3") _,
            out("d10") _,
            out("d11") _,
            out("d12") _,
            options(nostack),
        );
    }
}

/// q4_0 rows times `xq`, [`matvec_q8_0`]'s contract and method for 18-byte q4_0 blocks: the 16
/// nibble bytes loaded once, unpacked in registers (`VAND` 15 for elements 0-15, `VSHR.U8` 4 for
/// 16-31, `VSUB.I8` 8 from both), then two `VMLADAV(A).S8` against the activation block's halves:
/// bit-identical to [`generic::vec_dot`].
pub fn matvec_q4_0(w: &[u8], row_bytes: usize, xq: &[BlockQ8_0], out: &mut [f32]) {
    let rows = out.len();
    let Some(nb) = block_shape(w, row_bytes, Q4_BYTES, xq, rows) else {
        return block_rows_twin::<BlockQ4_0>(w, row_bytes, xq, out);
    };
    // SAFETY: as in `matvec_q8_0`, with 18-byte weight blocks.
    unsafe {
        asm!(
            "vmov s24, {t}", // +0.0 (t = 0 here)
            "vmov.i8 q3, #15",
            "vmov.i8 q4, #8",
            "3:",
            "vmov.f32 s23, s24",
            "mov {px}, {x}",
            "mov {n}, {nb}",
            "2:",
            "ldrh {t}, [{pw}]",
            "vmov s20, {t}",
            "vcvtb.f32.f16 s20, s20",
            "ldrh {t}, [{px}]",
            "vmov s21, {t}",
            "vcvtb.f32.f16 s21, s21",
            "vmul.f32 s20, s20, s21",
            "vldrb.u8 q0, [{pw}, #2]",
            "vand q1, q0, q3",
            "vshr.u8 q0, q0, #4",
            "vsub.i8 q1, q1, q4",
            "vsub.i8 q0, q0, q4",
            "vldrb.u8 q2, [{px}, #2]",
            "vmladav.s8 r0, q1, q2",
            "vldrb.u8 q2, [{px}, #18]",
            "vmladava.s8 r0, q0, q2",
            "vmov s22, r0",
            "vcvt.f32.s32 s22, s22",
            "vmla.f32 s23, s22, s20",
            "add {pw}, {pw}, #18",
            "add {px}, {px}, #34",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstmia {o}!, {{s23}}",
            "subs {rows}, {rows}, #1",
            "bne 3b",
            pw = inout(reg) w.as_ptr() => _,
            x = in(reg) xq.as_ptr(),
            px = out(reg) _,
            n = out(reg) _,
            nb = in(reg) nb,
            t = inout(reg) 0u32 => _,
            o = inout(reg) out.as_mut_ptr() => _,
            rows = inout(reg) rows => _,
            out("r0") _,
            out("d0") _,
            out("d1") _,
            out("d2") _,
            out("d3") _,
            out("d4") _,
            out("d5") _,
            out("d6") _,
            out("d7") _,
            out("d8") _,
            out("d9") _,
            out("d10") _,
            out("d11") _,
            out("d12") _,
            options(nostack),
        );
    }
}

/// The asm of one [`matvec_f32`] pass: `(address vector, sum vector, byte offset in addrs and o)`
/// per four rows; `q0` is the gathered column. Four columns per step, then `cols % 4` one at a time.
macro_rules! f32_rows {
    ($addrs:ident, $x:ident, $cols:ident, $o:ident; $(($a:ident, $s:ident, $off:literal)),+) => {
        asm!(
            $(concat!("vldrw.u32 ", stringify!($a), ", [{ad}, #", $off, "]"),
              concat!("vmov.i32 ", stringify!($s), ", #0"),)+
            "cmp {n}, #0",
            "beq 3f",
            "2:",
            "ldrd {x0}, {x1}, [{px}], #8",
            "ldrd {x2}, {x3}, [{px}], #8",
            $(concat!("vldrw.u32 q0, [", stringify!($a), ", #4]!"),
              "vmul.f32 q0, q0, {x0}",
              concat!("vadd.f32 ", stringify!($s), ", ", stringify!($s), ", q0"),)+
            $(concat!("vldrw.u32 q0, [", stringify!($a), ", #4]!"),
              "vmul.f32 q0, q0, {x1}",
              concat!("vadd.f32 ", stringify!($s), ", ", stringify!($s), ", q0"),)+
            $(concat!("vldrw.u32 q0, [", stringify!($a), ", #4]!"),
              "vmul.f32 q0, q0, {x2}",
              concat!("vadd.f32 ", stringify!($s), ", ", stringify!($s), ", q0"),)+
            $(concat!("vldrw.u32 q0, [", stringify!($a), ", #4]!"),
              "vmul.f32 q0, q0, {x3}",
              concat!("vadd.f32 ", stringify!($s), ", ", stringify!($s), ", q0"),)+
            "subs {n}, {n}, #1",
            "bne 2b",
            "3:",
            "cmp {odd}, #0",
            "beq 5f",
            "4:",
            "ldr {x0}, [{px}], #4",
            $(concat!("vldrw.u32 q0, [", stringify!($a), ", #4]!"),
              "vmul.f32 q0, q0, {x0}",
              concat!("vadd.f32 ", stringify!($s), ", ", stringify!($s), ", q0"),)+
            "subs {odd}, {odd}, #1",
            "bne 4b",
            "5:",
            $(concat!("vstrw.32 ", stringify!($s), ", [{o}, #", $off, "]"),)+
            ad = in(reg) $addrs.as_ptr(),
            px = inout(reg) $x.as_ptr() => _,
            n = inout(reg) $cols / 4 => _,
            odd = inout(reg) $cols % 4 => _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            x2 = out(reg) _,
            x3 = out(reg) _,
            o = in(reg) $o.as_mut_ptr(),
            out("d0") _, out("d1") _, out("d4") _, out("d5") _,
            out("d6") _, out("d7") _, out("d8") _, out("d9") _,
            out("d10") _, out("d11") _, out("d12") _, out("d13") _,
            out("d14") _, out("d15") _,
            options(nostack),
        )
    };
}

/// f32 matrix times `x`, `matvec_f32_rows`'s contract, each row's sum sequential as in
/// [`generic::dot_f32`] but in MVE float arithmetic (flush-to-zero, default NaN: equal to the twin
/// except within the tolerance of the module docs).
///
/// Rows in passes of twelve, then eight, then four (three, two or one vectors of four row pointers,
/// lane `k` of a vector holding row `k`'s next address): per four columns two `LDRD`s of `x`, then
/// per column and vector a gather `VLDRW` (pre-incremented by 4), a `VMUL.F32` by the column's `x`
/// (a scalar) and a `VADD.F32` into the row sums: 0.81 instructions per weight in the twelve-row
/// pass; the last `cols % 4` columns one at a time. The last `rows % 4` rows take `Dsp`'s f32 row
/// pairs (bit-identical to the twin). Shapes it does not cover (no columns, short `x` or `data`)
/// take `Dsp`'s kernel.
pub fn matvec_f32(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    let rows = out.len();
    let fits = cols > 0 && x.len() >= cols && rows.checked_mul(cols).is_some_and(|n| n <= data.len());
    if !fits {
        return Dsp::matvec_f32(data, cols, x, out);
    }
    let stride = cols * 4;
    let mut done = 0;
    for pass in [12, 8, 4] {
        while rows - done >= pass {
            let (Some(rows_data), Some(o)) = (data.get(done * cols..), out.get_mut(done..done + pass)) else {
                break;
            };
            // Lane k's address, minus 4: the gather load pre-increments by 4.
            let base = (rows_data.as_ptr() as u32).wrapping_sub(4);
            let mut addrs = [0u32; 12];
            for (k, a) in addrs.iter_mut().enumerate() {
                *a = base.wrapping_add((k * stride) as u32);
            }
            // SAFETY: rows `done..done + pass` lie in `data` (`rows * cols <= data.len()`), each
            // `cols` f32 from its lane's address: the gathers read exactly `data[(done + k) * cols +
            // c]` for `c < cols`, word-aligned. `x[..cols]` is read (`x.len() >= cols`); `o` has
            // `pass` elements (written by VSTRW: f32-aligned). `addrs` is read (lanes `0..pass`).
            // Only the declared registers are written; no stack.
            unsafe {
                match pass {
                    12 => f32_rows!(addrs, x, cols, o; (q2, q5, 0), (q3, q6, 16), (q4, q7, 32)),
                    8 => f32_rows!(addrs, x, cols, o; (q2, q5, 0), (q3, q6, 16)),
                    _ => f32_rows!(addrs, x, cols, o; (q2, q5, 0)),
                }
            }
            done += pass;
        }
    }
    if let (Some(rest_data), Some(rest)) = (data.get(done * cols..), out.get_mut(done..)) {
        Dsp::matvec_f32(rest_data, cols, x, rest);
    }
}

/// `EXP_LO (unused), EXP_HI, EXP_C1, EXP_C2, 0.5 (EXP_P[5]), 1.0, P1, P2, P3, P4, -EXP_LO`: the
/// constants [`exp_shifted`]'s asm loads (offsets 0-40).
static EXP_TABLE: [f32; 11] = [
    crate::math::EXP_LO,
    crate::math::EXP_HI,
    crate::math::EXP_C1,
    crate::math::EXP_C2,
    crate::math::EXP_P[5],
    1.0,
    crate::math::EXP_P[1],
    crate::math::EXP_P[2],
    crate::math::EXP_P[3],
    crate::math::EXP_P[4],
    -crate::math::EXP_LO,
];

/// `x[i] = expf(x[i] - shift)` ([`crate::math::expf`]'s operations, four lanes at a time in MVE float:
/// equal to [`generic::exp_shifted`] except where the result is subnormal, which MVE flushes to +0;
/// see the module docs).
pub fn exp_shifted(x: &mut [f32], shift: f32) {
    let (quads, rest) = x.as_chunks_mut::<4>();
    exp_shifted_quads(quads, shift);
    // The last `len % 4` through the same asm (padded with `shift`), not the scalar twin: compiled
    // for an MVE core, LLVM vectorizes the twin's clamp with VMAXNM/VMINNM, which turn a NaN into a
    // bound; the asm's clamp keeps NaN, as the twin does on every other target.
    // (Element by element, not a loop: LLVM would make it a `memcpy` call.)
    let mut pad = match *rest {
        [a] => [[a, shift, shift, shift]],
        [a, b] => [[a, b, shift, shift]],
        [a, b, c] => [[a, b, c, shift]],
        _ => return,
    };
    exp_shifted_quads(&mut pad, shift);
    let [[p0, p1, p2, _]] = pad;
    match rest {
        [a] => *a = p0,
        [a, b] => (*a, *b) = (p0, p1),
        [a, b, c] => (*a, *b, *c) = (p0, p1, p2),
        _ => {}
    }
}

/// Softmax in place, [`generic::softmax`]'s steps: the maximum (MVE `VMAXNMV` over quads; where it
/// cannot be trusted, the twin's scan), [`exp_shifted`] (MVE float), the sequential sum (scalar, as
/// the twin) and the division (scalar `VDIV`, eight per step). Equal to the twin except where an
/// exponential is subnormal (0 here; see the module docs).
pub fn softmax(x: &mut [f32]) {
    let Some(&first) = x.first() else {
        return;
    };
    let (max, min) = max_of(x, first);
    // No element below `max + EXP_LO` (NaN aside, which the arithmetic carries to a NaN result
    // either way): the clamp changes nothing.
    let unclamped = min - max >= crate::math::EXP_LO; // (false for NaN)
    let (quads, rest) = x.as_chunks_mut::<4>();
    let mut sum = exp_sum_quads(quads, max, 0.0, !unclamped);
    // The last `len % 4` padded with -inf, whose exponential (+0) leaves the sum as it is.
    // (Element by element, not a loop: LLVM would make it a `memcpy` call.)
    let ninf = f32::NEG_INFINITY;
    let mut pad = match *rest {
        [a] => [[a, ninf, ninf, ninf]],
        [a, b] => [[a, b, ninf, ninf]],
        [a, b, c] => [[a, b, c, ninf]],
        _ => [[ninf; 4]],
    };
    if !rest.is_empty() {
        sum = exp_sum_quads(&mut pad, max, sum, true);
        let [[p0, p1, p2, _]] = pad;
        match rest {
            [a] => *a = p0,
            [a, b] => (*a, *b) = (p0, p1),
            [a, b, c] => (*a, *b, *c) = (p0, p1, p2),
            _ => {}
        }
    }
    divide(x, sum);
}

/// `EXP_P[1..5]`, each in the four lanes of a vector (for [`exp_sum_quads`]).
static EXP_P1_P4: [[f32; 4]; 4] = {
    let p = crate::math::EXP_P;
    [[p[1]; 4], [p[2]; 4], [p[3]; 4], [p[4]; 4]]
};

/// The asm of [`exp_sum_quads`], with the lines `$clamp` (the lower clamp, or none) after the
/// subtraction of the maximum.
macro_rules! exp_sum_asm {
    ($quads:expr, $max:expr, $sum:expr; $($clamp:literal),*; $($extra:tt)*) => {
        asm!(
            "vldrw.u32 q4, [{tbl}]", // q4..q7 = P1..P4 in every lane
            "vldrw.u32 q5, [{tbl}, #16]",
            "vldrw.u32 q6, [{tbl}, #32]",
            "vldrw.u32 q7, [{tbl}, #48]",
            "2:",
            "vldrw.u32 q0, [{p}]",
            "vsub.f32 q0, q0, {shift}",
            $($clamp,)*
            // t = x * LOG2E + ROUND; n = t - ROUND; q1 = max(ni + 127, 0)
            "vmul.f32 q1, q0, {log2e}",
            "vadd.f32 q1, q1, {round}",
            "vsub.f32 q2, q1, {round}",
            "vqsub.u32 q1, q1, {round_m127}",
            // r = (x - n * C1) - n * C2
            "vmul.f32 q3, q2, {c1}",
            "vsub.f32 q0, q0, q3",
            "vmul.f32 q2, q2, {c2}",
            "vsub.f32 q0, q0, q2",
            // y = ((((P0 r + P1) r + P2) r + P3) r + P4) r + 0.5
            "vmul.f32 q3, q0, {p0}",
            "vadd.f32 q3, q3, q4",
            "vmul.f32 q3, q3, q0",
            "vadd.f32 q3, q3, q5",
            "vmul.f32 q3, q3, q0",
            "vadd.f32 q3, q3, q6",
            "vmul.f32 q3, q3, q0",
            "vadd.f32 q3, q3, q7",
            "vmul.f32 q3, q3, q0",
            "vmov.f32 q2, #0.5",
            "vadd.f32 q3, q3, q2",
            // p = y * (r * r) + r + 1
            "vmul.f32 q2, q0, q0",
            "vmul.f32 q3, q3, q2",
            "vadd.f32 q3, q3, q0",
            "vmov.f32 q2, #1.0",
            "vadd.f32 q3, q3, q2",
            // p * 2^n
            "vshl.i32 q1, q1, #23",
            "vmul.f32 q3, q3, q1",
            "vstrw.32 q3, [{p}], #16",
            // the sum, in order (s12-s15 = q3)
            "vmov s8, {sum}",
            "vadd.f32 s8, s8, s12",
            "vadd.f32 s8, s8, s13",
            "vadd.f32 s8, s8, s14",
            "vadd.f32 s8, s8, s15",
            "vmov {sum}, s8",
            "subs {n}, {n}, #1",
            "bne 2b",
            p = inout(reg) $quads.as_mut_ptr() => _,
            n = inout(reg) $quads.len() => _,
            sum = inout(reg) $sum,
            shift = in(reg) $max.to_bits(),
            log2e = in(reg) crate::math::LOG2E.to_bits(),
            round = in(reg) crate::math::EXP_ROUND.to_bits(),
            round_m127 = in(reg) crate::math::EXP_ROUND.to_bits() - 127,
            c1 = in(reg) crate::math::EXP_C1.to_bits(),
            c2 = in(reg) crate::math::EXP_C2.to_bits(),
            p0 = in(reg) crate::math::EXP_P[0].to_bits(),
            tbl = in(reg) EXP_P1_P4.as_ptr(),
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            $($extra)*
            options(nostack),
        )
    };
}

/// Softmax's exponentials and their sum: `x[i] = expf(x[i] - max)` over whole quads as
/// [`exp_shifted`] computes them, and `sum` plus the results in order (sequential scalar `VADD.F32`,
/// the twin's sum), returned. For `max` the maximum of `x` (or NaN), so `x[i] - max <= 0` or NaN;
/// that lets it drop [`exp_shifted`]'s upper clamp and scale by one factor: `2^n` for `n` in
/// `-126..=0`, and 0 for `n <= -127` (`VQSUB.U32` saturates `n + 127` at 0), where the twin's
/// `p * 2^n` is below 2^-126 and [`exp_shifted`] flushes it to +0 too: the same results. Without
/// `clamp` (every `x[i] - max >= EXP_LO`, or NaN) the lower clamp is skipped too.
fn exp_sum_quads(quads: &mut [[f32; 4]], max: f32, sum: f32, clamp: bool) -> f32 {
    if quads.is_empty() {
        return sum;
    }
    let mut sum = sum.to_bits();
    // SAFETY: reads and writes `quads` (`quads.len() * 4` f32, word-aligned) in place; only the
    // declared registers are written; no stack.
    unsafe {
        if clamp {
            exp_sum_asm!(quads, max, sum;
                // x.max(EXP_LO), NaN staying NaN: min(-x, -LO) negated back (as in `exp_shifted`)
                "vneg.f32 q1, q0",
                "vpt.f32 gt, q1, {neg_lo}",
                "vdupt.32 q1, {neg_lo}",
                "vneg.f32 q0, q1";
                neg_lo = in(reg) (-crate::math::EXP_LO).to_bits(),);
        } else {
            exp_sum_asm!(quads, max, sum;;);
        }
    }
    f32::from_bits(sum)
}

/// The twin's maximum: `first`, then every later `v > max` (so a NaN first stays; other NaNs are
/// skipped, as `VMAXNMV` skips them); and a lower bound of the non-NaN elements as MVE float sees
/// them (`VMINNMV`; -inf where the maximum is redone or NaN). `VMAXNMV` flushes subnormals, so a result below 2^-126 in
/// magnitude (where a flushed subnormal or zero may have won) is redone by the twin's scan; above
/// it the two agree (up to the sign of a zero, which `x - max` and `expf` do not see).
fn max_of(x: &[f32], first: f32) -> (f32, f32) {
    if first.is_nan() {
        return (first, f32::NEG_INFINITY);
    }
    let (quads, rest) = x.as_chunks::<4>();
    let (mut m, mut lo) = (first.to_bits(), first.to_bits());
    if !quads.is_empty() {
        // SAFETY: reads `quads` (word-aligned f32); writes only the declared registers; no stack.
        unsafe {
            asm!(
                "2:",
                "vldrw.u32 q0, [{p}], #16",
                "vmaxnmv.f32 {m}, q0",
                "vminnmv.f32 {lo}, q0",
                "subs {n}, {n}, #1",
                "bne 2b",
                p = inout(reg) quads.as_ptr() => _,
                n = inout(reg) quads.len() => _,
                m = inout(reg) m,
                lo = inout(reg) lo,
                out("d0") _,
                out("d1") _,
                options(nostack, readonly),
            );
        }
    }
    let mut max = f32::from_bits(m); // not NaN: `first` is not, and VMAXNMV skips NaN lanes
    let mut min = f32::from_bits(lo);
    if max.abs() < f32::MIN_POSITIVE {
        max = first;
        for &v in x.iter().skip(1) {
            if v > max {
                max = v;
            }
        }
        return (max, f32::NEG_INFINITY);
    }
    for &v in rest {
        if v > max {
            max = v;
        }
        if v < min {
            min = v;
        }
    }
    (max, min)
}

/// `x[i] /= sum`: scalar `VDIV.F32` (IEEE division, as the twin's), eight elements per `VLDM`/`VSTM`
/// step; the last `len % 8` in Rust.
fn divide(x: &mut [f32], sum: f32) {
    let (eights, rest) = x.as_chunks_mut::<8>();
    if !eights.is_empty() {
        // SAFETY: reads and writes `eights` in place (word-aligned f32); writes only the declared
        // registers; no stack.
        unsafe {
            asm!(
                "2:",
                "vldmia {p}, {{s0-s7}}",
                "vdiv.f32 s0, s0, s8",
                "vdiv.f32 s1, s1, s8",
                "vdiv.f32 s2, s2, s8",
                "vdiv.f32 s3, s3, s8",
                "vdiv.f32 s4, s4, s8",
                "vdiv.f32 s5, s5, s8",
                "vdiv.f32 s6, s6, s8",
                "vdiv.f32 s7, s7, s8",
                "vstmia {p}!, {{s0-s7}}",
                "subs {n}, {n}, #1",
                "bne 2b",
                p = inout(reg) eights.as_mut_ptr() => _,
                n = inout(reg) eights.len() => _,
                in("s8") sum,
                out("d0") _,
                out("d1") _,
                out("d2") _,
                out("d3") _,
                options(nostack),
            );
        }
    }
    for v in rest {
        *v /= sum;
    }
}

/// The four-lane exponential of [`exp_shifted`] over whole quads.
fn exp_shifted_quads(quads: &mut [[f32; 4]], shift: f32) {
    if !quads.is_empty() {
        // SAFETY: reads and writes `quads` (`quads.len() * 4` f32, word-aligned) in place and reads
        // `EXP_TABLE` (10 f32); only the declared registers are written; no stack.
        unsafe {
            asm!(
                "ldr {t}, [{tbl}, #24]", // q4..q7 = P1..P4 in every lane
                "vdup.32 q4, {t}",
                "ldr {t}, [{tbl}, #28]",
                "vdup.32 q5, {t}",
                "ldr {t}, [{tbl}, #32]",
                "vdup.32 q6, {t}",
                "ldr {t}, [{tbl}, #36]",
                "vdup.32 q7, {t}",
                "2:",
                "vldrw.u32 q0, [{p}]",
                "vsub.f32 q0, q0, {shift}",
                // x.clamp(EXP_LO, EXP_HI), NaN staying NaN: the vector compares' `lt` (like the
                // condition codes') holds for unordered lanes, `gt` does not, so the lower clamp
                // is done on -x: min(-x, -LO), negated back (exact).
                "vneg.f32 q1, q0",
                "ldr {t}, [{tbl}, #40]",
                "vpt.f32 gt, q1, {t}",
                "vdupt.32 q1, {t}",
                "vneg.f32 q0, q1",
                "ldr {t}, [{tbl}, #4]",
                "vpt.f32 gt, q0, {t}",
                "vdupt.32 q0, {t}",
                // t = x * LOG2E + ROUND; n = t - ROUND; ni = bits(t) - bits(ROUND)
                "vmul.f32 q1, q0, {log2e}",
                "vadd.f32 q1, q1, {round}",
                "vsub.f32 q2, q1, {round}",
                "vsub.i32 q1, q1, {round}",
                // r = (x - n * C1) - n * C2
                "ldr {t}, [{tbl}, #8]",
                "vmul.f32 q3, q2, {t}",
                "vsub.f32 q0, q0, q3",
                "ldr {t}, [{tbl}, #12]",
                "vmul.f32 q3, q2, {t}",
                "vsub.f32 q0, q0, q3",
                // z = r * r; y = ((((P0 r + P1) r + P2) r + P3) r + P4) r + 0.5
                "vmul.f32 q2, q0, q0",
                "vmul.f32 q3, q0, {p0}",
                "vadd.f32 q3, q3, q4",
                "vmul.f32 q3, q3, q0",
                "vadd.f32 q3, q3, q5",
                "vmul.f32 q3, q3, q0",
                "vadd.f32 q3, q3, q6",
                "vmul.f32 q3, q3, q0",
                "vadd.f32 q3, q3, q7",
                "vmul.f32 q3, q3, q0",
                "ldr {t}, [{tbl}, #16]",
                "vadd.f32 q3, q3, {t}",
                // p = y * z + r + 1
                "vmul.f32 q3, q3, q2",
                "vadd.f32 q3, q3, q0",
                "ldr {t}, [{tbl}, #20]",
                "vadd.f32 q3, q3, {t}",
                // 2^n = s1 * s2: n1 = ni >> 1, n2 = ni - n1, s = (n + 127) << 23
                "vshr.s32 q2, q1, #1",
                "vsub.i32 q1, q1, q2",
                "vadd.i32 q2, q2, {c127}",
                "vshl.i32 q2, q2, #23",
                "vadd.i32 q1, q1, {c127}",
                "vshl.i32 q1, q1, #23",
                "vmul.f32 q3, q3, q2",
                "vmul.f32 q3, q3, q1",
                "vstrw.32 q3, [{p}], #16",
                "subs {n}, {n}, #1",
                "bne 2b",
                p = inout(reg) quads.as_mut_ptr() => _,
                n = inout(reg) quads.len() => _,
                shift = in(reg) shift.to_bits(),
                log2e = in(reg) crate::math::LOG2E.to_bits(),
                round = in(reg) crate::math::EXP_ROUND.to_bits(),
                p0 = in(reg) crate::math::EXP_P[0].to_bits(),
                c127 = in(reg) 127u32,
                tbl = in(reg) EXP_TABLE.as_ptr(),
                t = out(reg) _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                options(nostack),
            );
        }
    }
}

/// SwiGLU `h1[i] = silu(h1[i]) * h3[i]`, [`generic::swiglu`] bit for bit: four elements per step,
/// `e = expf(-x)` in MVE float ([`exp_shifted`]'s operations, the clamp on `-x`), `1 + e` (MVE), then
/// per lane in scalar VFP (which keeps subnormals) `1 / (1 + e)`, `x * that` and `* h3` (`VDIV`,
/// `VMUL.F32`). MVE float's flush-to-zero cannot change the result: where `e` is subnormal (0 here)
/// `1 + e` is 1 either way, and the other MVE steps' values are normal or infinite. The last
/// `len % 4` through the same asm, padded with zeros.
pub fn swiglu(h1: &mut [f32], h3: &[f32]) {
    let n = h1.len().min(h3.len());
    let (Some(h1), Some(h3)) = (h1.get_mut(..n), h3.get(..n)) else {
        return;
    };
    let (quads, rest) = h1.as_chunks_mut::<4>();
    let (quads3, rest3) = h3.as_chunks::<4>();
    swiglu_quads(quads, quads3);
    // (Element by element, not a loop: LLVM would make it a `memcpy` call.)
    let (mut a, b) = match (&*rest, rest3) {
        (&[a], &[b]) => ([[a, 0.0, 0.0, 0.0]], [[b, 0.0, 0.0, 0.0]]),
        (&[a, b], &[c, d]) => ([[a, b, 0.0, 0.0]], [[c, d, 0.0, 0.0]]),
        (&[a, b, c], &[d, e, f]) => ([[a, b, c, 0.0]], [[d, e, f, 0.0]]),
        _ => return,
    };
    swiglu_quads(&mut a, &b);
    let [[p0, p1, p2, _]] = a;
    match rest {
        [a] => *a = p0,
        [a, b] => (*a, *b) = (p0, p1),
        [a, b, c] => (*a, *b, *c) = (p0, p1, p2),
        _ => {}
    }
}

/// The four-lane step of [`swiglu`] over the common quads of `h1` and `h3`.
fn swiglu_quads(h1: &mut [[f32; 4]], h3: &[[f32; 4]]) {
    let n = h1.len().min(h3.len());
    if n == 0 {
        return;
    }
    // SAFETY: reads and writes `n` quads of `h1` in place and reads `n` of `h3` (word-aligned f32,
    // VLDRW/VSTRW) and `EXP_P1_P4`; only the declared registers are written; no stack.
    unsafe {
        asm!(
            "vldrw.u32 q4, [{tbl}]", // q4..q7 = P1..P4 in every lane
            "vldrw.u32 q5, [{tbl}, #16]",
            "vldrw.u32 q6, [{tbl}, #32]",
            "vldrw.u32 q7, [{tbl}, #48]",
            "2:",
            "vldrw.u32 q0, [{p1}]",
            // u = (-x).clamp(EXP_LO, EXP_HI), NaN staying NaN (`gt` is false for unordered lanes):
            // x > -LO becomes -LO before the negation, then u > HI becomes HI
            "vpt.f32 gt, q0, {neg_lo}",
            "vdupt.32 q0, {neg_lo}",
            "vneg.f32 q0, q0",
            "vpt.f32 gt, q0, {hi}",
            "vdupt.32 q0, {hi}",
            // t = u * LOG2E + ROUND; n = t - ROUND; ni = bits(t) - bits(ROUND)
            "vmul.f32 q1, q0, {log2e}",
            "vadd.f32 q1, q1, {round}",
            "vsub.f32 q2, q1, {round}",
            "vsub.i32 q1, q1, {round}",
            // r = (u - n * C1) - n * C2
            "vmul.f32 q3, q2, {c1}",
            "vsub.f32 q0, q0, q3",
            "vmul.f32 q2, q2, {c2}",
            "vsub.f32 q0, q0, q2",
            // y = ((((P0 r + P1) r + P2) r + P3) r + P4) r + 0.5
            "vmul.f32 q3, q0, {p0}",
            "vadd.f32 q3, q3, q4",
            "vmul.f32 q3, q3, q0",
            "vadd.f32 q3, q3, q5",
            "vmul.f32 q3, q3, q0",
            "vadd.f32 q3, q3, q6",
            "vmul.f32 q3, q3, q0",
            "vadd.f32 q3, q3, q7",
            "vmul.f32 q3, q3, q0",
            "vmov.f32 q2, #0.5",
            "vadd.f32 q3, q3, q2",
            // p = y * (r * r) + r + 1
            "vmul.f32 q2, q0, q0",
            "vmul.f32 q3, q3, q2",
            "vadd.f32 q3, q3, q0",
            "vmov.f32 q2, #1.0",
            "vadd.f32 q3, q3, q2",
            // e = p * s1 * s2: n1 = ni >> 1, n2 = ni - n1, s = (n + 127) << 23
            "vshr.s32 q2, q1, #1",
            "vsub.i32 q1, q1, q2",
            "vadd.i32 q2, q2, {c127}",
            "vshl.i32 q2, q2, #23",
            "vadd.i32 q1, q1, {c127}",
            "vshl.i32 q1, q1, #23",
            "vmul.f32 q3, q3, q2",
            "vmul.f32 q3, q3, q1",
            // 1 + e (s8 = 1.0 after this), then per lane in scalar VFP: x * (1 / (1 + e)) * h3
            "vmov.f32 q2, #1.0",
            "vadd.f32 q3, q3, q2",
            "vdiv.f32 s12, s8, s12",
            "vdiv.f32 s13, s8, s13",
            "vdiv.f32 s14, s8, s14",
            "vdiv.f32 s15, s8, s15",
            "vldrw.u32 q0, [{p1}]",
            "vldrw.u32 q1, [{p3}], #16",
            "vmul.f32 s12, s0, s12",
            "vmul.f32 s13, s1, s13",
            "vmul.f32 s14, s2, s14",
            "vmul.f32 s15, s3, s15",
            "vmul.f32 s12, s12, s4",
            "vmul.f32 s13, s13, s5",
            "vmul.f32 s14, s14, s6",
            "vmul.f32 s15, s15, s7",
            "vstrw.32 q3, [{p1}], #16",
            "subs {n}, {n}, #1",
            "bne 2b",
            p1 = inout(reg) h1.as_mut_ptr() => _,
            p3 = inout(reg) h3.as_ptr() => _,
            n = inout(reg) n => _,
            neg_lo = in(reg) (-crate::math::EXP_LO).to_bits(),
            hi = in(reg) crate::math::EXP_HI.to_bits(),
            log2e = in(reg) crate::math::LOG2E.to_bits(),
            round = in(reg) crate::math::EXP_ROUND.to_bits(),
            c1 = in(reg) crate::math::EXP_C1.to_bits(),
            c2 = in(reg) crate::math::EXP_C2.to_bits(),
            p0 = in(reg) crate::math::EXP_P[0].to_bits(),
            c127 = in(reg) 127u32,
            tbl = in(reg) EXP_P1_P4.as_ptr(),
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack),
        );
    }
}

/// Most activation blocks [`matvec_q8_0_quads`] takes (it copies them into a stack buffer of
/// `48 * QUADS_MAX_BLOCKS` bytes): rows of up to 1024 columns.
const QUADS_MAX_BLOCKS: usize = 32;

/// q8_0 rows times `xq` like [`matvec_q8_0`] (bit-identical to the twin), rows in fours: per block the
/// activation's two 16-byte halves are loaded once for four rows, each row's exact integer dot is a
/// `VMLADAV.S8` + `VMLADAVA.S8` pair, and the four rows' `sumf += sumi * (d_w * d_x)` run in the four
/// lanes of one vector: `d_w` by one halfword gather (`VLDRH.U32`) and `VCVTB.F32.F16`, `d_x`
/// converted once per call. The activation is first copied into a stack buffer of 48-byte records
/// (its 32 quants, then `d_x` as f32 in four lanes), so that one pointer walks it; every pointer
/// advances by its loads' writeback, and the rows' loop is in the asm too: 31 instructions per four
/// row-blocks, 10 per four rows. The module docs say why MVE float's flush-to-zero cannot change
/// these steps. Weights at an odd address (the halfword gather needs even ones), rows of more than
/// [`QUADS_MAX_BLOCKS`] blocks and the last `rows % 4` rows take the one-row kernel.
pub fn matvec_q8_0_quads(w: &[u8], row_bytes: usize, xq: &[BlockQ8_0], out: &mut [f32]) {
    let rows = out.len();
    let Some(nb) = block_shape(w, row_bytes, Q8_BYTES, xq, rows) else {
        return block_rows_twin::<BlockQ8_0>(w, row_bytes, xq, out);
    };
    if nb > QUADS_MAX_BLOCKS || !(w.as_ptr() as usize).is_multiple_of(2) || rows < 4 {
        return matvec_q8_0(w, row_bytes, xq, out);
    }
    // Per block: its 32 quants, then d_x as f32 in all four lanes. Left uninitialized (zeroing it
    // would cost more than the copy): the asm writes `nb` records before reading them.
    let mut xb = core::mem::MaybeUninit::<[[u32; 12]; QUADS_MAX_BLOCKS]>::uninit();
    // SAFETY: reads `xq`'s first `nb` blocks (bytes and halfwords, which need no alignment; `xq.len()
    // >= nb`) and writes `xb[..nb]` (`nb <= QUADS_MAX_BLOCKS`; word-aligned VSTRW). Only the
    // declared registers are written; no stack.
    unsafe {
        asm!(
            "2:",
            "vldrb.u8 q0, [{px}, #2]",
            "vldrb.u8 q1, [{px}, #18]",
            "ldrh {t}, [{px}], #34",
            "vstrw.32 q0, [{pb}]",
            "vstrw.32 q1, [{pb}, #16]",
            "vmov s0, {t}",
            "vcvtb.f32.f16 s0, s0",
            "vmov {t}, s0",
            "vdup.32 q0, {t}",
            "vstrw.32 q0, [{pb}, #32]",
            "adds {pb}, #48",
            "subs {n}, {n}, #1",
            "bne 2b",
            px = inout(reg) xq.as_ptr() => _,
            pb = inout(reg) xb.as_mut_ptr().cast::<u32>() => _,
            n = inout(reg) nb => _,
            t = out(reg) _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            options(nostack),
        );
    }
    let (quads, rest) = out.as_chunks_mut::<4>();
    let rb = row_bytes as u32;
    // The scale gather's offsets from row 0's pointer, which is 18 past its block's start there.
    let offs: [u32; 4] = [0, rb, rb.wrapping_mul(2), rb.wrapping_mul(3)].map(|o| o.wrapping_sub(18));
    // Row 3 of the quad before the first (its pointer, 16 bytes before its end: the next row's start,
    // as the loads leave it), from which the asm derives each quad's four row pointers.
    let p3 = (w.as_ptr() as u32).wrapping_sub(16);
    if !quads.is_empty() {
        // SAFETY: `block_shape` checked `rows * row_bytes <= w.len()`: the `4 * quads.len() <= rows`
        // rows read (`nb` 34-byte blocks each, contiguous) lie in `w`; `xb` holds `nb` records. Loads:
        // bytes (VLDRB), the halfword scales (the gather, at even addresses: `w` starts at one and
        // blocks are 34 bytes), `offs` and `xb` by VLDRW (word-aligned); `quads` (word-aligned f32)
        // written by VSTRW. `xb`'s first `nb` records were written above. Only the declared registers are
        // written; no stack.
        unsafe {
            asm!(
                "vldrw.u32 q7, [r0]",
                "3:",
                "mov {p0}, {p3}",
                "add {p1}, {p0}, {rb}",
                "add {p2}, {p1}, {rb}",
                "add {p3}, {p2}, {rb}",
                "mov {n}, {nbuf}",
                "vmov.i32 q6, #0",
                "2:",
                "vldrb.u8 q2, [{px}, #16]!",
                "vldrb.u8 q3, [{px}, #16]!",
                "vldrb.u8 q0, [{p0}, #18]!",
                "vldrb.u8 q1, [{p0}, #16]!",
                "vmladav.s8 r0, q0, q2",
                "vmladava.s8 r0, q1, q3",
                "vldrb.u8 q0, [{p2}, #18]!",
                "vldrb.u8 q1, [{p2}, #16]!",
                "vmladav.s8 r2, q0, q2",
                "vmladava.s8 r2, q1, q3",
                "vmov.32 q4[0], r0", // (single lanes: see the module docs on VMOV)
                "vmov.32 q4[2], r2",
                "vldrb.u8 q0, [{p1}, #18]!",
                "vldrb.u8 q1, [{p1}, #16]!",
                "vmladav.s8 r0, q0, q2",
                "vmladava.s8 r0, q1, q3",
                "vldrb.u8 q0, [{p3}, #18]!",
                "vldrb.u8 q1, [{p3}, #16]!",
                "vmladav.s8 r2, q0, q2",
                "vmladava.s8 r2, q1, q3",
                "vmov.32 q4[1], r0",
                "vmov.32 q4[3], r2",
                // sumi of the four rows as f32, times d_w (f16 in each lane's low half) times d_x
                "vcvt.f32.s32 q4, q4",
                "vldrh.u32 q5, [{p0}, q7]",
                "vcvtb.f32.f16 q5, q5",
                "vldrw.u32 q0, [{px}, #16]!",
                "vmul.f32 q5, q5, q0",
                "vmul.f32 q4, q4, q5",
                "vadd.f32 q6, q6, q4",
                "subs {n}, {n}, #48",
                "bne 2b",
                "vstrw.32 q6, [{o}], #16",
                "sub {px}, {px}, {nbuf}",
                "subs {quads}, {quads}, #1",
                "bne 3b",
                inout("r0") offs.as_ptr() => _,
                out("r2") _,
                p0 = out(reg) _,
                p1 = out(reg) _,
                p2 = out(reg) _,
                p3 = inout(reg) p3 => _,
                rb = in(reg) rb,
                px = inout(reg) (xb.as_ptr() as u32).wrapping_sub(16) => _,
                nbuf = in(reg) nb * 48,
                n = out(reg) _,
                o = inout(reg) quads.as_mut_ptr() => _,
                quads = inout(reg) quads.len() => _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                options(nostack),
            );
        }
    }
    let done = quads.len().saturating_mul(4).saturating_mul(row_bytes);
    if !rest.is_empty() {
        matvec_q8_0(w.get(done..).unwrap_or(&[]), row_bytes, xq, rest);
    }
}

/// q4_0 rows times `xq` like [`matvec_q4_0`] (bit-identical to the twin), rows in fours as
/// [`matvec_q8_0_quads`]: each row's integer dot `sum (n_j - 8) x_j` is taken as `sum n_j x_j - 8
/// sum x_j` (exact in i32: at most 61,440 in magnitude), the nibbles `n_j` unpacked by shifts
/// alone (`VSHL.I8`/`VSHR.U8` #4), `8 sum x_j` per activation block computed once per call
/// (`VADDV.S8`) and subtracted from the four rows' sums in one `VSUB.I32`. The activation's stack
/// records are 64 bytes (32 quants, `8 sum x` and `d_x` in four lanes each). 41 instructions per
/// four row-blocks. Weights at an odd address, rows of more than [`QUADS_MAX_BLOCKS`] blocks and
/// the last `rows % 4` rows take the one-row kernel.
pub fn matvec_q4_0_quads(w: &[u8], row_bytes: usize, xq: &[BlockQ8_0], out: &mut [f32]) {
    let rows = out.len();
    let Some(nb) = block_shape(w, row_bytes, Q4_BYTES, xq, rows) else {
        return block_rows_twin::<BlockQ4_0>(w, row_bytes, xq, out);
    };
    if nb > QUADS_MAX_BLOCKS || !(w.as_ptr() as usize).is_multiple_of(2) || rows < 4 {
        return matvec_q4_0(w, row_bytes, xq, out);
    }
    // Per block: its 32 quants, then 8 * (sum of the quants) as i32 and d_x as f32, each in all
    // four lanes. Left uninitialized: the asm writes `nb` records before reading them.
    let mut xb = core::mem::MaybeUninit::<[[u32; 16]; QUADS_MAX_BLOCKS]>::uninit();
    // SAFETY: reads `xq`'s first `nb` blocks (bytes and halfwords, which need no alignment; `xq.len()
    // >= nb`) and writes `xb[..nb]` (`nb <= QUADS_MAX_BLOCKS`; word-aligned VSTRW). Only the
    // declared registers are written; no stack.
    unsafe {
        asm!(
            "2:",
            "vldrb.u8 q0, [{px}, #2]",
            "vldrb.u8 q1, [{px}, #18]",
            "ldrh {t}, [{px}], #34",
            "vstrw.32 q0, [{pb}]",
            "vstrw.32 q1, [{pb}, #16]",
            "vaddv.s8 r2, q0", // (an even register)
            "vaddva.s8 r2, q1",
            "lsls r2, r2, #3",
            "vdup.32 q0, r2",
            "vstrw.32 q0, [{pb}, #32]",
            "vmov s0, {t}",
            "vcvtb.f32.f16 s0, s0",
            "vmov {t}, s0",
            "vdup.32 q0, {t}",
            "vstrw.32 q0, [{pb}, #48]",
            "adds {pb}, #64",
            "subs {n}, {n}, #1",
            "bne 2b",
            px = inout(reg) xq.as_ptr() => _,
            pb = inout(reg) xb.as_mut_ptr().cast::<u32>() => _,
            n = inout(reg) nb => _,
            t = out(reg) _,
            out("r2") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            options(nostack),
        );
    }
    let (quads, rest) = out.as_chunks_mut::<4>();
    let rb = row_bytes as u32;
    // The scale gather's offsets from row 0's pointer, which is 2 past its block's start there.
    let offs: [u32; 4] = [0, rb, rb.wrapping_mul(2), rb.wrapping_mul(3)].map(|o| o.wrapping_sub(2));
    // As in `matvec_q8_0_quads`: the row pointer before the first quad's, 16 bytes before its start.
    let p3 = (w.as_ptr() as u32).wrapping_sub(16);
    if !quads.is_empty() {
        // SAFETY: as in `matvec_q8_0_quads`, with 18-byte weight blocks (one 16-byte load of the
        // nibbles each; the scale gather at even addresses) and 64-byte records in `xb`.
        unsafe {
            asm!(
                "vldrw.u32 q7, [r0]",
                "3:",
                "mov {p0}, {p3}",
                "add {p1}, {p0}, {rb}",
                "add {p2}, {p1}, {rb}",
                "add {p3}, {p2}, {rb}",
                "mov {n}, {nbuf}",
                "vmov.i32 q6, #0",
                "2:",
                "vldrb.u8 q2, [{px}, #16]!",
                "vldrb.u8 q3, [{px}, #16]!",
                "vldrb.u8 q0, [{p0}, #18]!",
                "vshl.i8 q1, q0, #4",
                "vshr.u8 q1, q1, #4",
                "vshr.u8 q0, q0, #4",
                "vmladav.s8 r0, q1, q2",
                "vmladava.s8 r0, q0, q3",
                "vldrb.u8 q0, [{p2}, #18]!",
                "vshl.i8 q1, q0, #4",
                "vshr.u8 q1, q1, #4",
                "vshr.u8 q0, q0, #4",
                "vmladav.s8 r2, q1, q2",
                "vmladava.s8 r2, q0, q3",
                "vmov.32 q4[0], r0", // (single lanes: see the module docs on VMOV)
                "vmov.32 q4[2], r2",
                "vldrb.u8 q0, [{p1}, #18]!",
                "vshl.i8 q1, q0, #4",
                "vshr.u8 q1, q1, #4",
                "vshr.u8 q0, q0, #4",
                "vmladav.s8 r0, q1, q2",
                "vmladava.s8 r0, q0, q3",
                "vldrb.u8 q0, [{p3}, #18]!",
                "vshl.i8 q1, q0, #4",
                "vshr.u8 q1, q1, #4",
                "vshr.u8 q0, q0, #4",
                "vmladav.s8 r2, q1, q2",
                "vmladava.s8 r2, q0, q3",
                "vmov.32 q4[1], r0",
                "vmov.32 q4[3], r2",
                // sumi = sum n x - 8 sum x, as f32, times d_w (f16 in each lane's low half) times d_x
                "vldrw.u32 q0, [{px}, #16]!",
                "vsub.i32 q4, q4, q0",
                "vcvt.f32.s32 q4, q4",
                "vldrh.u32 q5, [{p0}, q7]",
                "vcvtb.f32.f16 q5, q5",
                "vldrw.u32 q0, [{px}, #16]!",
                "vmul.f32 q5, q5, q0",
                "vmul.f32 q4, q4, q5",
                "vadd.f32 q6, q6, q4",
                "subs {n}, {n}, #64",
                "bne 2b",
                "vstrw.32 q6, [{o}], #16",
                "sub {px}, {px}, {nbuf}",
                "subs {quads}, {quads}, #1",
                "bne 3b",
                inout("r0") offs.as_ptr() => _,
                out("r2") _,
                p0 = out(reg) _,
                p1 = out(reg) _,
                p2 = out(reg) _,
                p3 = inout(reg) p3 => _,
                rb = in(reg) rb,
                px = inout(reg) (xb.as_ptr() as u32).wrapping_sub(16) => _,
                nbuf = in(reg) nb * 64,
                n = out(reg) _,
                o = inout(reg) quads.as_mut_ptr() => _,
                quads = inout(reg) quads.len() => _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                options(nostack),
            );
        }
    }
    let done = quads.len().saturating_mul(4).saturating_mul(row_bytes);
    if !rest.is_empty() {
        matvec_q4_0(w.get(done..).unwrap_or(&[]), row_bytes, xq, rest);
    }
}

/// The asm of [`gather_scores_n`]: eight cached positions per step, `$k` the byte offsets of the head
/// elements (`0, 4, ..`).
macro_rules! scores_asm {
    ($ps:expr, $s4:expr, $base:expr, $q:expr, $scale:expr, $o:expr, $groups:expr; $($k:literal),+) => {
        asm!(
            "2:",
            "vldrw.u32 q4, [{ps}], #16",
            "vldrw.u32 q5, [{ps}], #16",
            "vmul.i32 q4, q4, {s4}",
            "vmul.i32 q5, q5, {s4}",
            "vadd.i32 q4, q4, {base}",
            "vadd.i32 q5, q5, {base}",
            "vmov.i32 q6, #0",
            "vmov.i32 q7, #0",
            $(concat!("ldr {t}, [{q}, #", $k, "]"),
              concat!("vldrw.u32 q0, [q4, #", $k, "]"),
              concat!("vldrw.u32 q1, [q5, #", $k, "]"),
              "vmul.f32 q0, q0, {t}",
              "vmul.f32 q1, q1, {t}",
              "vadd.f32 q6, q6, q0",
              "vadd.f32 q7, q7, q1",)+
            // the divisions by `scale` in scalar VFP (q6, q7 = s24-s31)
            "vmov s0, {scale}",
            "vdiv.f32 s24, s24, s0",
            "vdiv.f32 s25, s25, s0",
            "vdiv.f32 s26, s26, s0",
            "vdiv.f32 s27, s27, s0",
            "vdiv.f32 s28, s28, s0",
            "vdiv.f32 s29, s29, s0",
            "vdiv.f32 s30, s30, s0",
            "vdiv.f32 s31, s31, s0",
            "vstrw.32 q6, [{o}], #16",
            "vstrw.32 q7, [{o}], #16",
            "subs {n}, {n}, #1",
            "bne 2b",
            ps = inout(reg) $ps => _,
            s4 = in(reg) $s4,
            base = in(reg) $base,
            q = in(reg) $q,
            t = out(reg) _,
            scale = in(reg) $scale,
            o = inout(reg) $o => _,
            n = inout(reg) $groups => _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack),
        )
    };
}

/// Attention scores for head size `N` (8, 16 or 32), [`generic::gather_scores`]'s contract: `out[i]
/// = dot(q, buf[slots[i] * stride + offset..][..N]) / scale`, each dot the twin's sequential sum, in
/// MVE float (the f32 matvec's tolerance, with `N` columns; the division is scalar). Eight
/// positions per step in the lanes of two vectors: their record addresses from the slot list
/// (`VMUL.I32`, `VADD.I32`), per head element two gather `VLDRW`s at an immediate offset,
/// `VMUL.F32` by `q[k]`, `VADD.F32`, then eight scalar `VDIV`s. Returns false (having done
/// nothing) for another `N`, fewer than eight positions or a record out of range; the last `n % 8`
/// are left to the caller, which gets their count back as `Some`.
#[inline(always)] // `recs` then stays in registers: no by-reference copy of it per call
fn gather_scores_n<const N: usize>(
    q: &[f32; N],
    recs: Records<'_>,
    scale: f32,
    out: &mut [f32],
) -> Option<usize> {
    let n = recs.list().len().min(out.len());
    let groups = n / 8;
    if !matches!(N, 8 | 16 | 32) || groups == 0 || !recs.all_in_range(N) {
        return None;
    }
    let base = recs.base() as u32;
    let (ps, o, q) = (recs.list().as_ptr(), out.as_mut_ptr(), q.as_ptr());
    let (s4, scale) = ((recs.stride as u32).wrapping_mul(4), scale.to_bits());
    // SAFETY: every record `buf[slot * stride + offset..][..N]` is in range (checked above without
    // overflow, so `slot * stride * 4` fits the address space and the u32 lane arithmetic); the
    // asm reads `groups * 8 <= slots.len()` slots (word-aligned, by VLDRW), those records (word-
    // aligned gathers, at most `4 (N - 1)` bytes past a record's start) and `q` (N f32), and writes
    // `groups * 8 <= out.len()` scores (VSTRW, word-aligned). Only the declared registers are
    // written; no stack.
    unsafe {
        match N {
            8 => scores_asm!(ps, s4, base, q, scale, o, groups; 0, 4, 8, 12, 16, 20, 24, 28),
            16 => {
                scores_asm!(ps, s4, base, q, scale, o, groups; 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60)
            }
            _ => {
                scores_asm!(ps, s4, base, q, scale, o, groups; 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80, 84, 88, 92, 96, 100, 104, 108, 112, 116, 120, 124)
            }
        }
    }
    Some(groups * 8)
}

/// Attention scores for head size 8: [`gather_scores_n`], the rest (and what it declines) by `Dsp`'s
/// kernel.
#[inline(always)] // `recs` then stays in registers: no by-reference copy of it per call
pub fn gather_scores8(q: &[f32; 8], recs: Records<'_>, scale: f32, out: &mut [f32]) {
    let done = gather_scores_n(q, recs, scale, out).unwrap_or(0);
    let n = recs.list().len().min(out.len());
    if let Some(rest) = out.get_mut(done..n) {
        Dsp::gather_scores8(q, recs.tail(done), scale, rest);
    }
}

/// Attention scores for head sizes 16 and 32 ([`gather_scores_n`], the rest by the twin's unrolled
/// sums); false for other sizes.
pub fn gather_scores_wide(q: &[f32], recs: Records<'_>, scale: f32, out: &mut [f32]) -> bool {
    fn run<const N: usize>(q: &[f32; N], recs: Records<'_>, scale: f32, out: &mut [f32]) {
        let done = gather_scores_n(q, recs, scale, out).unwrap_or(0);
        let n = recs.list().len().min(out.len());
        if let Some(rest) = out.get_mut(done..n) {
            generic::gather_scores_n(q, recs.tail(done), scale, rest);
        }
    }
    if let Ok(q) = <&[f32; 16]>::try_from(q) {
        run(q, recs, scale, out);
    } else if let Ok(q) = <&[f32; 32]>::try_from(q) {
        run(q, recs, scale, out);
    } else {
        return false;
    }
    true
}

/// Attention's weighted sum for head sizes 16 and 32, [`generic::gather_axpy`]'s contract, in MVE
/// float (each output element a sequential sum in the twin's order: the f32 matvec's tolerance):
/// sixteen outputs at a time in four vectors, per position one `LDR` + `MLA` for its address, one
/// `LDR` of its weight, four `VLDRW`s, four `VMUL.F32`s and four `VADD.F32`s (head size 32: two such
/// passes over the positions, one per half). False (nothing done) for other sizes or a record out of
/// range.
pub fn gather_axpy_wide(o: &mut [f32], weights: &[f32], recs: Records<'_>) -> bool {
    let len = o.len();
    let n = recs.list().len().min(weights.len());
    if !matches!(len, 16 | 32) || !recs.all_in_range(len) {
        return false;
    }
    if n == 0 {
        return true;
    }
    for (half, o16) in o.chunks_exact_mut(16).enumerate() {
        let base = recs.base().wrapping_add(16 * half) as u32;
        // SAFETY: every record `buf[slot * stride + offset..][..len]` is in range (checked above
        // without overflow), so its 16 f32 from `16 * half` are too; the asm reads `n` slots and
        // weights (LDR, word-aligned) and those records (word-aligned VLDRW), and reads and writes
        // `o16` (16 f32). Only the declared registers are written; no stack.
        unsafe {
            asm!(
                "vldrw.u32 q4, [{o}]",
                "vldrw.u32 q5, [{o}, #16]",
                "vldrw.u32 q6, [{o}, #32]",
                "vldrw.u32 q7, [{o}, #48]",
                "2:",
                "ldr {a}, [{ps}], #4",
                "mla {a}, {a}, {s4}, {base}",
                "ldr {w}, [{pw}], #4",
                "vldrw.u32 q0, [{a}]",
                "vldrw.u32 q1, [{a}, #16]",
                "vldrw.u32 q2, [{a}, #32]",
                "vldrw.u32 q3, [{a}, #48]",
                "vmul.f32 q0, q0, {w}",
                "vmul.f32 q1, q1, {w}",
                "vmul.f32 q2, q2, {w}",
                "vmul.f32 q3, q3, {w}",
                "vadd.f32 q4, q4, q0",
                "vadd.f32 q5, q5, q1",
                "vadd.f32 q6, q6, q2",
                "vadd.f32 q7, q7, q3",
                "subs {n}, {n}, #1",
                "bne 2b",
                "vstrw.32 q4, [{o}]",
                "vstrw.32 q5, [{o}, #16]",
                "vstrw.32 q6, [{o}, #32]",
                "vstrw.32 q7, [{o}, #48]",
                o = in(reg) o16.as_mut_ptr(),
                n = inout(reg) n => _,
                ps = inout(reg) recs.list().as_ptr() => _,
                pw = inout(reg) weights.as_ptr() => _,
                s4 = in(reg) (recs.stride as u32).wrapping_mul(4),
                base = in(reg) base,
                a = out(reg) _,
                w = out(reg) _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                options(nostack),
            );
        }
    }
    true
}

/// Attention's weighted sum for head size 8, [`generic::gather_axpy`]'s contract: `o += weights[i] *
/// buf[slots[i] * stride + offset..][..8]` for `i < min(weights.len(), slots.len())` in order, in MVE
/// float (each output element a sequential sum: the f32 matvec's tolerance). Four positions per
/// step: their record addresses from one `VLDRW` of the slots and a `VMLAS.I32` (`slot * 4 stride +
/// base`), moved to core registers one by one; per position two `VLDRW`s of the record, two `VMUL.F32`
/// by the weight, two `VADD.F32` (the twin's order): 8.5 instructions per position. The last `n % 4`
/// one at a time; a record out of range: `Dsp`'s kernel.
#[inline(always)] // `recs` then stays in registers: no by-reference copy of it per call
pub fn gather_axpy8(o: &mut [f32; 8], weights: &[f32], recs: Records<'_>) {
    let n = recs.list().len().min(weights.len());
    if n == 0 || !recs.all_in_range(8) {
        return Dsp::gather_axpy8(o, weights, recs);
    }
    let base = recs.base() as u32;
    // SAFETY: every record `buf[slot * stride + offset..][..8]` is in range (checked above without
    // overflow, so `slot * stride * 4 + base` fits the address space and the u32 lane arithmetic);
    // the asm reads `n` slots (VLDRW in fours, then LDR; word-aligned) and weights (LDRD, LDR) and
    // those records (word-aligned VLDRW), and reads and writes `o` (8 f32). Only the declared
    // registers are written; no stack.
    unsafe {
        asm!(
            "vldrw.u32 q6, [{o}]",
            "vldrw.u32 q7, [{o}, #16]",
            "vdup.32 q4, {a0}", // 4 stride in every lane
            "cmp {quads}, #0",
            "beq 3f",
            "2:",
            "vldrw.u32 q5, [{ps}], #16",
            "vmlas.i32 q5, q4, {base}",
            "vmov {a2}, s20", // (single lanes: see the module docs on VMOV)
            "vmov {a3}, s21",
            "vmov {a0}, s22",
            "vmov {a1}, s23",
            "ldrd {w0}, {w1}, [{pw}], #8",
            "vldrw.u32 q0, [{a2}]",
            "vldrw.u32 q1, [{a2}, #16]",
            "vmul.f32 q0, q0, {w0}",
            "vmul.f32 q1, q1, {w0}",
            "vadd.f32 q6, q6, q0",
            "vadd.f32 q7, q7, q1",
            "vldrw.u32 q0, [{a3}]",
            "vldrw.u32 q1, [{a3}, #16]",
            "vmul.f32 q0, q0, {w1}",
            "vmul.f32 q1, q1, {w1}",
            "vadd.f32 q6, q6, q0",
            "vadd.f32 q7, q7, q1",
            "ldrd {w0}, {w1}, [{pw}], #8",
            "vldrw.u32 q0, [{a0}]",
            "vldrw.u32 q1, [{a0}, #16]",
            "vmul.f32 q0, q0, {w0}",
            "vmul.f32 q1, q1, {w0}",
            "vadd.f32 q6, q6, q0",
            "vadd.f32 q7, q7, q1",
            "vldrw.u32 q0, [{a1}]",
            "vldrw.u32 q1, [{a1}, #16]",
            "vmul.f32 q0, q0, {w1}",
            "vmul.f32 q1, q1, {w1}",
            "vadd.f32 q6, q6, q0",
            "vadd.f32 q7, q7, q1",
            "subs {quads}, {quads}, #1",
            "bne 2b",
            "3:",
            "cmp {tail}, #0",
            "beq 5f",
            "vmov {a1}, s16",
            "4:",
            "ldr {a0}, [{ps}], #4",
            "mla {a0}, {a0}, {a1}, {base}",
            "ldr {w0}, [{pw}], #4",
            "vldrw.u32 q0, [{a0}]",
            "vldrw.u32 q1, [{a0}, #16]",
            "vmul.f32 q0, q0, {w0}",
            "vmul.f32 q1, q1, {w0}",
            "vadd.f32 q6, q6, q0",
            "vadd.f32 q7, q7, q1",
            "subs {tail}, {tail}, #1",
            "bne 4b",
            "5:",
            "vstrw.32 q6, [{o}]",
            "vstrw.32 q7, [{o}, #16]",
            o = in(reg) o.as_mut_ptr(),
            quads = inout(reg) n / 4 => _,
            tail = inout(reg) n % 4 => _,
            ps = inout(reg) recs.list().as_ptr() => _,
            pw = inout(reg) weights.as_ptr() => _,
            base = in(reg) base,
            a0 = inout(reg) (recs.stride as u32).wrapping_mul(4) => _,
            a1 = out(reg) _,
            a2 = out(reg) _,
            a3 = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack),
        );
    }
}

/// 2^-117: the smallest block `amax` [`quantize_q8_0`]'s MVE path takes.
const MIN_AMAX: f32 = f32::from_bits(10 << 23);

/// Half of 1 minus an ulp: the twin's rounding offset (`quant::round_to_i8`'s `BELOW_HALF`).
const BELOW_HALF: f32 = 0.499_999_97;

/// [`crate::quant::quantize_row_q8_0`], block for block (bit-identical). `amax` by `VMAXNMAV` (NaN
/// lanes skipped, as the twin's `a > amax`); `d`, `1/d` and the f16 scale as the twin computes them;
/// then `q = round_to_i8(v * id)` four lanes at a time: `t + copysign(0.49999997, t)` truncated is
/// `sign(t) * trunc(|t| + 0.49999997)` (IEEE arithmetic is symmetric in sign), `VCVT.S32.F32`
/// truncates (NaN -> 0, as Rust's `as`), and `VQSHL #24` + `VSHR #24` saturate to i8 as `as i8`
/// does. MVE float flushes subnormals: with `amax >= 2^-117`, a subnormal `v` or product gives
/// `|t| < 0.25` and so `q = 0` either way; smaller `amax`, partial and missing blocks take the twin.
pub fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    let mut chunks = x.chunks(crate::tensor::QK);
    for b in out.iter_mut() {
        let chunk = chunks.next().unwrap_or_default();
        let Ok(c) = <&[f32; 32]>::try_from(chunk) else {
            if chunk.is_empty() {
                // The twin's block for no values (amax 0: all 34 bytes zero), in place: the blocks
                // past `x` of a scratch sized for a wider row (the twin's call returns it by value,
                // and LLVM copies it, or zeroes it, by a library call).
                // SAFETY: writes the 34 bytes of `b` (byte and halfword stores, no alignment needed);
                // only the declared registers are written; no stack.
                unsafe {
                    asm!(
                        "vmov.i32 q0, #0",
                        "vstrb.8 q0, [{p}]",
                        "vstrb.8 q0, [{p}, #16]",
                        "strh {z}, [{p}, #32]",
                        p = in(reg) core::ptr::from_mut(b).cast::<u8>(),
                        z = in(reg) 0u32,
                        out("d0") _,
                        out("d1") _,
                        options(nostack),
                    );
                }
            } else {
                *b = crate::quant::QuantBlock::quantize(chunk);
            }
            continue;
        };
        let mut amax_bits = 0u32;
        // SAFETY: reads the 32 f32 of `c` (word-aligned VLDRW); writes only the declared registers.
        unsafe {
            asm!(
                "vldrw.u32 q0, [{p}]",
                "vmaxnmav.f32 {m}, q0",
                "vldrw.u32 q0, [{p}, #16]",
                "vmaxnmav.f32 {m}, q0",
                "vldrw.u32 q0, [{p}, #32]",
                "vmaxnmav.f32 {m}, q0",
                "vldrw.u32 q0, [{p}, #48]",
                "vmaxnmav.f32 {m}, q0",
                "vldrw.u32 q0, [{p}, #64]",
                "vmaxnmav.f32 {m}, q0",
                "vldrw.u32 q0, [{p}, #80]",
                "vmaxnmav.f32 {m}, q0",
                "vldrw.u32 q0, [{p}, #96]",
                "vmaxnmav.f32 {m}, q0",
                "vldrw.u32 q0, [{p}, #112]",
                "vmaxnmav.f32 {m}, q0",
                p = in(reg) c.as_ptr(),
                m = inout(reg) amax_bits,
                out("d0") _,
                out("d1") _,
                options(nostack, readonly),
            );
        }
        let amax = f32::from_bits(amax_bits);
        // Not NaN (VMAXNMAV skips NaN lanes, from 0).
        if amax < MIN_AMAX {
            *b = crate::quant::QuantBlock::quantize(chunk);
            continue;
        }
        let d = amax / 127.0;
        let id = 1.0 / d;
        b.d = half::f16::from_f32(d).to_le_bytes();
        // SAFETY: reads the 32 f32 of `c` (word-aligned VLDRW) and writes the 32 bytes of `b.qs` (byte
        // stores, no alignment); only the declared registers are written; no stack.
        unsafe {
            asm!(
                "mov {k}, #8",
                "2:",
                "vldrw.u32 q0, [{p}], #16",
                "vmul.f32 q0, q0, {id}",
                "vabs.f32 q1, q0",
                "vadd.f32 q1, q1, {half}",
                "vcvt.s32.f32 q1, q1",
                "vpt.f32 lt, q0, {zero}",
                "vnegt.s32 q1, q1",
                "vqshl.s32 q1, q1, #24",
                "vshr.s32 q1, q1, #24",
                "vstrb.32 q1, [r3], #4", // (the widening forms take a low register)
                "subs {k}, {k}, #1",
                "bne 2b",
                p = inout(reg) c.as_ptr() => _,
                inout("r3") b.qs.as_mut_ptr() => _,
                id = in(reg) id.to_bits(),
                half = in(reg) BELOW_HALF.to_bits(),
                zero = in(reg) 0u32,
                k = out(reg) _,
                out("d0") _,
                out("d1") _,
                out("d2") _,
                out("d3") _,
                options(nostack),
            );
        }
    }
}
