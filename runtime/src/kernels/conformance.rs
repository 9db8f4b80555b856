//! The kernel conformance suite, written once: every dispatched kernel of this build against its
//! scalar twin in [`generic`], on pseudo-random inputs at awkward lengths. The x86 and aarch64 unit
//! tests run it on the host (`cargo test -p glmix --lib conformance`), and the firmware's kernel check
//! (`targets/common`, feature `kernel-check`) runs it on each board. `no_std`, no heap: the caller
//! lends one [`Bufs`] (about 190 KiB; a firmware keeps it in a `static`).
//!
//! # What "conforms" means
//!
//! Bit for bit (`to_bits()` equality, any NaN equal to any NaN), except the f32/f16/bf16 dots on
//! builds whose [`REORDERED_FLOAT_SUMS`] is true (x86 AVX2 and aarch64 NEON sum in 8 or 4 lanes with
//! FMA): there the dot products ([`super::dot_f32`], float-weight [`super::matvec`] rows, and the
//! scores of [`super::gather_scores`]) must agree with the sequential twin within the documented
//! reordering bound
//!
//! ```text
//! |kernel - twin| <= 2 n eps sum_i |a_i b_i| + f32::MIN_POSITIVE        (or the same bits)
//! ```
//!
//! which covers any summation order and any mix of FMA and separate roundings (each of the two sums
//! is within `n eps sum |a_i b_i|` of the exact one). Quantized dots, axpy, gathers of values,
//! softmax, SwiGLU and the activation quantizer are bit-identical everywhere, except on the Helium
//! build ([`super::MVE_FLOAT`]).
//!
//! # MVE float
//!
//! With `glmix_mve` the f32 matvec, softmax's exponentials and the head-size-8 gathers run in MVE
//! float, which flushes subnormals to zero (`kernels::mve` states the bounds). There the suite is
//! still exact on normal-range inputs (the `normal` mixes) and compares the other mixes within:
//!
//! - f32 matvec rows: `cols * (2^-124 + 2^-22 sum |w x|)` (`kernels::mve`'s bound, doubled); a row
//!   holding an infinity and a subnormal (where `inf * 0` is NaN in MVE float) is not compared;
//! - softmax and its exponentials: `2^-126` (a result below `2^-126` is 0 instead of subnormal); for a
//!   NaN input the kernel is compared with the spec's result, NaN (the twin compiled for MVE does not
//!   give it: LLVM vectorizes `expf`'s clamp into `VMAXNM`/`VMINNM`, which turn NaN into a bound);
//! - SwiGLU: `2^-126 (1 + |h1|)(1 + |h3|)` (there the twin itself, auto-vectorized by LLVM in MVE
//!   float, flushes; the `asm!` kernel does not); the kernel is also compared with `arm_dsp`'s scalar VFP
//!   SwiGLU, which has the twin's arithmetic without flush-to-zero, exactly.
//!
//! A family's line counts the cases that needed the tolerance: `check softmax: 120 cases ok (7 within
//! the MVE float tolerance)`.
//!
//! | family | dispatched | twin | cases |
//! |---|---|---|---|
//! | `matvec` | [`super::matvec`] | [`generic::matvec`] | f32, f16, bf16, q8_0, q4_0 weights; rows 1, 2, 3, 5, 13, 33; cols 1, 3, 8, 15, 16, 17, 31, 32, 33, 64, 172 (and 4096, 4097 with at most 3 rows); normal, wide-range, inf-holding and tiny values (uniform in `[-2^-12, 2^-12)`: q8_0/q4_0 scales subnormal in f16); quantized and f16/bf16 rows at byte offsets 0-3; quantized rows also against one activation block too few |
//! | `block_dots` | q8_0/q4_0 block dots and matvec rows | [`generic::vec_dot`], [`generic::matvec`] | raw blocks over the full int8 range (-128 included, which the quantizer never writes), rows 1-17 (fours and tails) |
//! | `quantize_q8_0` | [`super::quantize_q8_0`] | [`crate::quant::quantize_row_q8_0`] | the vector lengths and 32, 64, 96; scales 1, 1e-30, 1e30; rounding ties; specials; the wide, special and tiny mixes; one spare block that must come out empty; byte for byte |
//! | `exp` | softmax's exponentials | [`generic::exp_shifted`] | a sweep of every exponent (131,072 bit patterns) and the edges of `expf`'s ranges |
//! | `softmax` | [`super::softmax`] | [`generic::softmax`] | lengths 1, 3, 4, 5, 15, 16, 17, 31, 33, 172, 300, 4097; normal, differences below -87, edge differences, -inf, +inf, NaN (first or inside), all equal, huge, wide |
//! | `swiglu` | [`super::swiglu`] | [`generic::swiglu`] | the same lengths; normal, wide, special values |
//! | `gather_scores` | [`super::gather_scores`] | [`generic::gather_scores`] | head sizes 5, 8, 12, 16, 24, 32, 48, 64; 1 or 3 heads, padded strides, scattered slots, a `Slots::tail`, an out-of-range slot |
//! | `gather_axpy` | [`super::gather_axpy`] | [`generic::gather_axpy`] | the same, and fewer weights than slots |
//! | `dot_f32` | [`super::dot_f32`] | [`generic::dot_f32`] | lengths 0 to 4097; normal, wide, special |
//! | `axpy` | [`super::axpy`] | [`generic::axpy`] | the same |
//!
//! Outputs are compared over the whole output buffer, including two sentinel elements past the end
//! that neither kernel may touch. [`run`] reports through a [`Report`]: one line per family, `check
//! <name>: N cases ok`, or its first mismatch (`check <name>: MISMATCH <case>: <what>[i]: kernels
//! <value> != generic <value>`) and `check <name>: FAILED, M of N cases differ`; then `kernel-check:
//! all N cases ok` or `kernel-check: FAILED, ...`.

// A test harness over fixed-size buffers: every index and slice is bounded by the constant sizes of
// `Bufs` (the largest case sets those sizes) and the cases are fixed, so none can fail on data; a
// firmware's panic handler would report a bug here as a failed check.
#![allow(clippy::indexing_slicing)]

use core::fmt;

use super::{generic, Arch, Kernels, Slots, MVE_FLOAT};
use crate::quant::{blocks_as_bytes, quantize_row_q4_0, quantize_row_q8_0, BlockQ4_0, BlockQ8_0};
use crate::tensor::{DType, Tensor, QK};

/// True where the float dots of this build reorder their sums (x86 AVX2, aarch64 NEON): they are
/// then compared within the reordering bound instead of bit for bit.
pub const REORDERED_FLOAT_SUMS: bool = cfg!(any(glmix_avx2, glmix_neon));

/// Where the suite writes its report (a firmware's console, a test's buffer).
pub trait Report {
    /// One line of the report.
    fn line(&mut self, args: fmt::Arguments<'_>);
}

/// The suite's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Cases compared.
    pub cases: u32,
    /// Families with at least one mismatch.
    pub failed_families: usize,
    /// Families run.
    pub families: usize,
}

impl Summary {
    /// True when every case conformed.
    pub fn ok(&self) -> bool {
        self.failed_families == 0
    }
}

/// Longest matrix row / vector.
const MAX_COLS: usize = 4097;
/// Rows of the largest matrices (with at most [`BIG_COLS_ROWS`] rows past [`SMALL_COLS`] columns).
const MAX_ROWS: usize = 33;
const SMALL_COLS: usize = 172;
const BIG_COLS_ROWS: usize = 3;
/// Blocks of the longest row, and one spare (the quantizer must leave it empty).
const MAX_BLOCKS: usize = MAX_COLS.div_ceil(QK) + 1;
/// Weight bytes: the largest f32 matrix, plus 3 bytes of offset for the unaligned block rows.
const W_BYTES: usize = {
    let big = BIG_COLS_ROWS * MAX_COLS * 4;
    let small = MAX_ROWS * SMALL_COLS * 4;
    (if big > small { big } else { small }) + 4
};
/// Sentinel elements past every output, which no kernel may write.
const PAD: usize = 2;
const SENTINEL: f32 = -12345.5;
/// Longest softmax / swiglu input.
const MAX_VEC: usize = 300;
/// Cached records of the gather cases, and their widest stride (3 heads of 64, padded by 3).
const CTX: usize = 40;
const MAX_HEAD: usize = 64;
const MAX_STRIDE: usize = 3 * MAX_HEAD + 3;
const KV_LEN: usize = CTX * MAX_STRIDE;

/// 4-byte aligned bytes (f32 tensor data must be 4-byte aligned).
#[derive(Clone, Copy)]
#[repr(C, align(4))]
struct Aligned4<const N: usize>([u8; N]);

const ZERO_Q8: BlockQ8_0 = BlockQ8_0 { d: [0; 2], qs: [0; QK] };
const ZERO_Q4: BlockQ4_0 = BlockQ4_0 { d: [0; 2], qs: [0; QK / 2] };

/// Every buffer of the suite, lent by the caller ([`Bufs::ZERO`] is all zero bits: `.bss`).
#[derive(Clone, Copy)]
pub struct Bufs {
    w: Aligned4<W_BYTES>,
    src: [f32; MAX_COLS],
    x: [f32; MAX_COLS],
    y: [f32; MAX_COLS + PAD],
    y2: [f32; MAX_COLS + PAD],
    xq: [BlockQ8_0; MAX_BLOCKS],
    row_q8: [BlockQ8_0; MAX_BLOCKS],
    row_q4: [BlockQ4_0; MAX_BLOCKS],
    kv: [f32; KV_LEN],
    slots: [u32; CTX + 1],
    a: [f32; MAX_VEC + PAD],
    b: [f32; MAX_VEC + PAD],
    /// Per-row bounds of the reordered float dots.
    tol: [f32; MAX_ROWS],
}

impl Bufs {
    /// Zeroed buffers.
    pub const ZERO: Bufs = Bufs {
        w: Aligned4([0; W_BYTES]),
        src: [0.0; MAX_COLS],
        x: [0.0; MAX_COLS],
        y: [0.0; MAX_COLS + PAD],
        y2: [0.0; MAX_COLS + PAD],
        xq: [ZERO_Q8; MAX_BLOCKS],
        row_q8: [ZERO_Q8; MAX_BLOCKS],
        row_q4: [ZERO_Q4; MAX_BLOCKS],
        kv: [0.0; KV_LEN],
        slots: [0; CTX + 1],
        a: [0.0; MAX_VEC + PAD],
        b: [0.0; MAX_VEC + PAD],
        tol: [0.0; MAX_ROWS],
    };
}

/// xorshift32 (Marsaglia): deterministic, so a failing case is the same on every run.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    /// Uniform in `0..n` (`n > 0`; the modulo bias does not matter here).
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
    /// Uniform in `[-1, 1)`.
    fn unit(&mut self) -> f32 {
        (self.next() >> 8) as f32 * (1.0 / 8_388_608.0) - 1.0
    }
    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.unit() * 0.5 + 0.5)
    }
    /// `unit() * 2^e` with `e` uniform in `-span..=span` (a few zeros): magnitudes far apart, whose
    /// sums round at every step; with `span` 40, products reach the subnormal range.
    fn wide(&mut self, span: i32) -> f32 {
        if self.below(16) == 0 {
            return 0.0;
        }
        let e = self.below(2 * span as usize + 1) as i32 - span;
        self.unit() * pow2(e)
    }
    /// A q8_0 block over the full int8 range (-128 included), scale in `[-1, 1)`.
    fn block_q8(&mut self) -> BlockQ8_0 {
        let mut b = BlockQ8_0 { d: half::f16::from_f32(self.unit()).to_le_bytes(), qs: [0; QK] };
        b.qs.iter_mut().for_each(|q| *q = self.next() as i8);
        b
    }
}

/// `2^e` for `e` in -126..=127.
fn pow2(e: i32) -> f32 {
    f32::from_bits(((e + 127) as u32) << 23)
}

/// Value mixes.
#[derive(Clone, Copy, PartialEq)]
enum Mix {
    /// Uniform in `[-1, 1)` times one power of two per case.
    Normal,
    /// Magnitudes spread over 2^-40..2^40, some zeros.
    Wide,
    /// Normal, with infinities, NaN, signed zeros and subnormals sprinkled in.
    Special,
    /// Uniform in `[-2^-12, 2^-12)` (matvec, quantizer): q8_0/q4_0 scales near 2^-19, subnormal in
    /// f16; products near the bottom of the normal range.
    Tiny,
}

const MIXES: [Mix; 3] = [Mix::Normal, Mix::Wide, Mix::Special];
/// The matvec and quantizer mixes: [`MIXES`] and the tiny values.
const ALL_MIXES: [Mix; 4] = [Mix::Normal, Mix::Wide, Mix::Special, Mix::Tiny];

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mix::Normal => "normal",
            Mix::Wide => "wide",
            Mix::Special => "special",
            Mix::Tiny => "tiny",
        })
    }
}

const SPECIALS: [f32; 8] =
    [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.0, -0.0, 1.0e-40, -3.0e-39, f32::MIN_POSITIVE];

/// Fills `v` with the mix; `scale` applies to `Normal` and `Special`.
fn fill(rng: &mut Rng, v: &mut [f32], mix: Mix, scale: f32) {
    for e in v.iter_mut() {
        *e = match mix {
            Mix::Wide => rng.wide(40),
            Mix::Tiny => rng.unit() * pow2(-12),
            _ => rng.unit() * scale,
        };
    }
    if mix == Mix::Special && !v.is_empty() {
        for _ in 0..v.len().div_ceil(16) {
            let i = rng.below(v.len());
            v[i] = SPECIALS[rng.below(SPECIALS.len())];
        }
    }
}

/// `sum |a_i b_i|` over the common prefix, sequentially in f32.
fn abs_dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum()
}

/// The reordering bound of a dot of `n` products whose absolute values sum to `abs`: zero (bit for
/// bit) where this build's float sums are sequential.
fn reorder_bound(n: usize, abs: f32) -> f32 {
    if REORDERED_FLOAT_SUMS {
        2.0 * n as f32 * f32::EPSILON * abs + f32::MIN_POSITIVE
    } else {
        0.0
    }
}

/// `a` and `b` are the same: the same bits, or both NaN.
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// `a` and `b` agree within `tol`: [`same`], or (`tol > 0`) at most `tol` apart (both finite), or
/// anything at all where `tol` is infinite (a case the tolerance does not bound).
fn close(a: f32, b: f32, tol: f32) -> bool {
    same(a, b) || tol == f32::INFINITY || (tol > 0.0 && (a - b).abs() <= tol)
}

/// The MVE float tolerance of a softmax output (or exponential), in a mix that is not `normal`.
fn mve_exp_tol(normal: bool) -> f32 {
    if MVE_FLOAT && !normal {
        pow2(-126)
    } else {
        0.0
    }
}

/// A value with its bits, for mismatch reports.
struct Show(f32);

impl fmt::Display for Show {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:e} (0x{:08x})", self.0, self.0.to_bits())
    }
}

/// One kernel family's tally; reports its first mismatch as soon as it is found.
struct Family<'r, R: Report> {
    name: &'static str,
    rng: Rng,
    cases: u32,
    failed: u32,
    /// Cases equal only within the MVE float tolerance (see the module docs).
    tolerated: u32,
    report: &'r mut R,
}

impl<R: Report> Family<'_, R> {
    /// One case: `got` (dispatched) against `want` (twin), element by element, element `i` within
    /// `tol(i)`. Returns the index of the family's first mismatch (once, when it is reported), for
    /// the caller to report the inputs.
    fn compare_within(
        &mut self,
        case: fmt::Arguments<'_>,
        what: &str,
        got: &[f32],
        want: &[f32],
        tol: impl Fn(usize) -> f32,
    ) -> Option<usize> {
        self.cases += 1;
        let diff = if got.len() != want.len() {
            Some(got.len().min(want.len()))
        } else {
            got.iter().zip(want).enumerate().position(|(i, (&g, &w))| !close(g, w, tol(i)))
        };
        if diff.is_none() && MVE_FLOAT && got.iter().zip(want).any(|(&g, &w)| !same(g, w)) {
            self.tolerated += 1;
        }
        let i = diff?;
        self.failed += 1;
        if self.failed > 1 {
            return None;
        }
        let name = self.name;
        match (got.get(i), want.get(i)) {
            (Some(&g), Some(&w)) => self.report.line(format_args!(
                "check {name}: MISMATCH {case}: {what}[{i}]: kernels {} != generic {} (tolerance {:e})",
                Show(g),
                Show(w),
                tol(i)
            )),
            _ => self.report.line(format_args!(
                "check {name}: MISMATCH {case}: {what} lengths {} != {}",
                got.len(),
                want.len()
            )),
        }
        Some(i)
    }

    /// [`Family::compare_within`], bit for bit.
    fn compare(&mut self, case: fmt::Arguments<'_>, what: &str, got: &[f32], want: &[f32]) -> Option<usize> {
        self.compare_within(case, what, got, want, |_| 0.0)
    }

    /// Reports the inputs behind a mismatch `compare` returned.
    fn inputs(&mut self, args: fmt::Arguments<'_>) {
        let name = self.name;
        self.report.line(format_args!("check {name}:   inputs: {args}"));
    }

    /// A case that could not be set up (a bug in this suite): counted as a failure.
    fn setup_failed(&mut self, case: fmt::Arguments<'_>) {
        self.cases += 1;
        self.failed += 1;
        let name = self.name;
        self.report.line(format_args!("check {name}: SETUP FAILED {case}"));
    }

    /// Reports the family's line; returns whether it passed.
    fn finish(&mut self) -> bool {
        let (name, cases, failed, tolerated) = (self.name, self.cases, self.failed, self.tolerated);
        if failed == 0 && tolerated > 0 {
            self.report.line(format_args!(
                "check {name}: {cases} cases ok ({tolerated} within the MVE float tolerance)"
            ));
        } else if failed == 0 {
            self.report.line(format_args!("check {name}: {cases} cases ok"));
        } else {
            self.report.line(format_args!("check {name}: FAILED, {failed} of {cases} cases differ"));
        }
        failed == 0
    }
}

/// One family's cases.
type Check<R> = fn(&mut Bufs, &mut Family<'_, R>);

/// Runs every family on this build's kernels; reports as it goes and returns the totals.
pub fn run<R: Report>(b: &mut Bufs, report: &mut R) -> Summary {
    let families: [(&'static str, Check<R>); 10] = [
        ("matvec", check_matvec),
        ("block_dots", check_block_dots),
        ("quantize_q8_0", check_quantize),
        ("exp", check_exp),
        ("softmax", check_softmax),
        ("swiglu", check_swiglu),
        ("gather_scores", check_gather_scores),
        ("gather_axpy", check_gather_axpy),
        ("dot_f32", check_dot_f32),
        ("axpy", check_axpy),
    ];
    let mut summary = Summary { cases: 0, failed_families: 0, families: families.len() };
    for (k, (name, check)) in families.into_iter().enumerate() {
        let seed = 0x9E37_79B9 ^ (k as u32 + 1).wrapping_mul(0x85EB_CA6B);
        let mut fam =
            Family { name, rng: Rng(seed), cases: 0, failed: 0, tolerated: 0, report: &mut *report };
        check(b, &mut fam);
        summary.cases += fam.cases;
        if !fam.finish() {
            summary.failed_families += 1;
        }
    }
    if summary.ok() {
        report.line(format_args!("kernel-check: all {} cases ok", summary.cases));
    } else {
        report.line(format_args!(
            "kernel-check: FAILED, {} of {} kernel families differ from their generic twins",
            summary.failed_families, summary.families
        ));
    }
    summary
}

// ---------------------------------------------------------------- matvec

const DTYPES: [DType; 5] = [DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0];
const ROWS: [usize; 6] = [1, 2, 3, 5, 13, 33];
const COLS: [usize; 13] = [1, 3, 8, 15, 16, 17, 31, 32, 33, 64, 172, 4096, 4097];

/// An f16 bit pattern: `Normal` magnitudes 2^-8..2^3, `Wide` every finite exponent (subnormals too),
/// `Special` normal with a few infinities and NaNs.
fn f16_bits(rng: &mut Rng, mix: Mix) -> u16 {
    let r = rng.next();
    let sign = ((r >> 31) as u16) << 15;
    let mant = (r & 0x3FF) as u16;
    let exp = (match mix {
        Mix::Wide => (r >> 10) % 31,
        _ => 7 + (r >> 10) % 11,
    }) as u16;
    if mix == Mix::Special && (r >> 20).is_multiple_of(32) {
        return sign | 0x7C00 | (mant & 0x200); // inf, or a quiet NaN
    }
    sign | (exp << 10) | mant
}

fn check_matvec<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    for dtype in DTYPES {
        for rows in ROWS {
            for cols in COLS {
                if cols > SMALL_COLS && rows > BIG_COLS_ROWS {
                    continue;
                }
                for mix in ALL_MIXES {
                    matvec_case(b, f, dtype, rows, cols, mix);
                }
            }
        }
    }
}

fn matvec_case<R: Report>(
    b: &mut Bufs,
    f: &mut Family<'_, R>,
    dtype: DType,
    rows: usize,
    cols: usize,
    mix: Mix,
) {
    let rng = &mut f.rng;
    let scale = pow2(rng.below(17) as i32 - 8);
    let nb = cols.div_ceil(QK);
    let row_bytes = dtype.row_bytes(cols).unwrap_or(0);
    // Block and half-float rows may sit at any byte offset of a model file: try them all.
    let off = if dtype == DType::F32 { 0 } else { f.cases as usize % 4 };
    let len = rows * row_bytes;
    // Activations, quantized once for the block types as the runtime's session does.
    fill(rng, &mut b.x[..cols], mix, 1.0);
    quantize_row_q8_0(&b.x[..cols], &mut b.xq[..nb]);
    let Some(data) = b.w.0.get_mut(off..off + len) else {
        return f.setup_failed(format_args!("{} [{rows}x{cols}]: weights too large", dtype.name()));
    };
    for (row, tol) in data.chunks_exact_mut(row_bytes.max(1)).zip(&mut b.tol) {
        match dtype {
            DType::F32 => {
                fill(rng, &mut b.src[..cols], mix, scale);
                for (c, v) in row.chunks_exact_mut(4).zip(&b.src) {
                    c.copy_from_slice(&v.to_le_bytes());
                }
            }
            DType::F16 => {
                for (c, v) in row.chunks_exact_mut(2).zip(&mut b.src) {
                    let h = f16_bits(rng, mix);
                    c.copy_from_slice(&h.to_le_bytes());
                    *v = half::f16::from_bits(h).to_f32();
                }
            }
            DType::BF16 => {
                fill(rng, &mut b.src[..cols], mix, scale);
                for (c, v) in row.chunks_exact_mut(2).zip(&mut b.src) {
                    let h = (v.to_bits() >> 16) as u16;
                    c.copy_from_slice(&h.to_le_bytes());
                    *v = f32::from_bits(u32::from(h) << 16);
                }
            }
            DType::Q8_0 => {
                fill(rng, &mut b.src[..cols], mix, scale);
                quantize_row_q8_0(&b.src[..cols], &mut b.row_q8[..nb]);
                row.copy_from_slice(blocks_as_bytes(&b.row_q8[..nb]));
            }
            _ => {
                fill(rng, &mut b.src[..cols], mix, scale);
                quantize_row_q4_0(&b.src[..cols], &mut b.row_q4[..nb]);
                row.copy_from_slice(blocks_as_bytes(&b.row_q4[..nb]));
            }
        }
        let float = matches!(dtype, DType::F32 | DType::F16 | DType::BF16);
        *tol = if float { reorder_bound(cols, abs_dot(&b.src[..cols], &b.x[..cols])) } else { 0.0 };
        if MVE_FLOAT && dtype == DType::F32 && mix != Mix::Normal {
            // MVE float: kernels::mve's bound, doubled (see the module docs). A subnormal is 0 there,
            // and inf * 0 is NaN: such a row is not compared.
            let (row, x) = (&b.src[..cols], &b.x[..cols]);
            let inf = row.iter().chain(x).any(|v| v.is_infinite());
            *tol = if inf && row.iter().chain(x).any(|v| v.is_subnormal()) {
                f32::INFINITY
            } else {
                cols as f32 * (pow2(-124) + pow2(-22) * abs_dot(row, x))
            };
        }
    }
    let Some(w) = Tensor::new(dtype, rows, cols, &b.w.0[off..off + len]) else {
        return f.setup_failed(format_args!("{} [{rows}x{cols}]: Tensor::new", dtype.name()));
    };
    let tol = &b.tol;
    for short in [false, true] {
        // One activation block too few (block types only): the common blocks, same bits.
        let nq = if short { nb - 1 } else { nb };
        if short && (nb < 2 || !matches!(dtype, DType::Q8_0 | DType::Q4_0)) {
            continue;
        }
        let (got, want) = (&mut b.a[..rows + PAD], &mut b.b[..rows + PAD]);
        got.fill(SENTINEL);
        want.fill(SENTINEL);
        super::matvec(&w, &b.x[..cols], &b.xq[..nq], got);
        generic::matvec(&w, &b.x[..cols], &b.xq[..nq], want);
        let case = format_args!("{} [{rows}x{cols}] {mix} at byte offset {off}, {nq} blocks", dtype.name());
        let _ = f.compare_within(case, "out", got, want, |i| tol.get(i).copied().unwrap_or(0.0));
    }
}

// ---------------------------------------------------------------- block dots

fn check_block_dots<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    for _ in 0..500 {
        let (w, x) = (f.rng.block_q8(), f.rng.block_q8());
        let mut w4 = BlockQ4_0 { d: w.d, qs: [0; QK / 2] };
        w4.qs.iter_mut().for_each(|q| *q = f.rng.next() as u8);
        let (q8, q4) = ([w], [w4]);
        let got = [Arch::q8_0(&q8, &[x]), Arch::q4_0(&q4, &[x])];
        let want = [generic::vec_dot(&q8, &[x]), generic::vec_dot(&q4, &[x])];
        let _ = f.compare(format_args!("one full-range block"), "q8_0, q4_0", &got, &want);
    }
    let (lo, hi) = (BlockQ8_0 { d: [0, 0x3c], qs: [-128; QK] }, BlockQ8_0 { d: [0, 0x3c], qs: [127; QK] });
    for (w, x) in [(lo, lo), (lo, hi), (hi, hi)] {
        let _ = f.compare(
            format_args!("extreme blocks"),
            "q8_0",
            &[Arch::q8_0(&[w], &[x])],
            &[generic::vec_dot(&[w], &[x])],
        );
    }
    // Whole matrices of raw blocks: the fours and the tails of the row loops.
    for (rows, nb) in [(1usize, 1usize), (3, 2), (4, 3), (5, 33), (8, 9), (11, 4), (16, 1), (17, 3)] {
        for (i, q) in b.xq[..nb].iter_mut().enumerate() {
            *q = if i == 0 { lo } else { f.rng.block_q8() };
        }
        for dtype in [DType::Q8_0, DType::Q4_0] {
            let row_bytes = dtype.row_bytes(nb * QK).unwrap_or(0);
            let bytes = rows * row_bytes;
            let Some(dst) = b.w.0.get_mut(..bytes) else {
                return f.setup_failed(format_args!("{rows}x{nb} blocks: too large"));
            };
            // Random bytes (every int8 and nibble), each block's scale a finite f16 in [-1, 1).
            dst.iter_mut().for_each(|c| *c = f.rng.next() as u8);
            for block in dst.chunks_exact_mut(row_bytes / nb) {
                block[..2].copy_from_slice(&half::f16::from_f32(f.rng.unit()).to_le_bytes());
            }
            let Some(w) = Tensor::new(dtype, rows, nb * QK, &b.w.0[..bytes]) else {
                return f.setup_failed(format_args!("{} {rows}x{nb} blocks: Tensor::new", dtype.name()));
            };
            let (got, want) = (&mut b.a[..rows + PAD], &mut b.b[..rows + PAD]);
            got.fill(SENTINEL);
            want.fill(SENTINEL);
            super::matvec(&w, &[], &b.xq[..nb], got);
            generic::matvec(&w, &[], &b.xq[..nb], want);
            let _ = f.compare(format_args!("{} {rows}x{nb} raw blocks", dtype.name()), "out", got, want);
        }
    }
}

// ---------------------------------------------------------------- quantize_q8_0

fn check_quantize<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    const SPECIAL: [f32; 9] =
        [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 3e38, -3e38, 1e-40, 0.5, -2.5];
    // With amax 127 (d = 1): exact ties k + 0.5 round away from zero, and the largest float below
    // 0.5 rounds to 0 (a plain `+ 0.5` would make it 1).
    let below_half = 0.499_999_97f32;
    for n in VEC_LENS.into_iter().chain([32, 64, 96]) {
        for scale in [1.0, 1e-30, 1e30] {
            for case in 0..3 + SPECIAL.len() + 3 {
                let x = &mut b.x[..n];
                match case {
                    0 => fill(&mut f.rng, x, Mix::Normal, scale),
                    1 => x.fill(0.0),
                    2 => x.iter_mut().enumerate().for_each(|(i, v)| {
                        *v = match i % 32 {
                            0 => 127.0,
                            1 => below_half,
                            2 => -below_half,
                            _ => (i % 64) as f32 - 31.5,
                        }
                    }),
                    k if k < 3 + SPECIAL.len() => {
                        fill(&mut f.rng, x, Mix::Normal, scale);
                        x[((k - 3) * 13) % n] = SPECIAL[k - 3];
                    }
                    k => fill(
                        &mut f.rng,
                        x,
                        [Mix::Wide, Mix::Special, Mix::Tiny][k - 3 - SPECIAL.len()],
                        scale,
                    ),
                }
                // One block more than `x` fills: it must come out empty, as the twin's.
                let blocks = n.div_ceil(QK) + 1;
                b.row_q8[..blocks].fill(BlockQ8_0 { d: [0xff; 2], qs: [-1; QK] });
                b.xq[..blocks].fill(BlockQ8_0 { d: [0xff; 2], qs: [-1; QK] });
                super::quantize_q8_0(&b.x[..n], &mut b.row_q8[..blocks]);
                quantize_row_q8_0(&b.x[..n], &mut b.xq[..blocks]);
                f.cases += 1;
                let (got, want) = (blocks_as_bytes(&b.row_q8[..blocks]), blocks_as_bytes(&b.xq[..blocks]));
                if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
                    f.failed += 1;
                    if f.failed == 1 {
                        let name = f.name;
                        f.report.line(format_args!(
                            "check {name}: MISMATCH len {n} scale {scale:e} case {case}: byte {i}: kernels {} != generic {}",
                            got[i], want[i]
                        ));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- exp, softmax, swiglu

const VEC_LENS: [usize; 12] = [1, 3, 4, 5, 15, 16, 17, 31, 33, 172, MAX_VEC, MAX_COLS];

/// Softmax's exponentials over a sweep of bit patterns (every exponent, both signs) and expf's edges.
fn check_exp<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    const CHUNK: usize = 4096;
    const EDGE: [f32; 11] =
        [0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 88.72, 89.0, -103.5, -104.0, -87.4, 1e-30];
    for shift in [0.0f32, 1.5] {
        for chunk in 0..32u32 {
            let x = &mut b.y[..CHUNK];
            for (i, v) in x.iter_mut().enumerate() {
                // 131,072 patterns 32,771 apart: every exponent of both signs.
                *v = f32::from_bits((chunk * CHUNK as u32 + i as u32).wrapping_mul(32_771));
            }
            x[..EDGE.len()].copy_from_slice(&EDGE);
            b.y2[..CHUNK].copy_from_slice(&b.y[..CHUNK]);
            b.src[..CHUNK].copy_from_slice(&b.y[..CHUNK]);
            Arch::exp_shifted(&mut b.y[..CHUNK], shift);
            generic::exp_shifted(&mut b.y2[..CHUNK], shift);
            if MVE_FLOAT {
                // For a NaN input, the spec's result: NaN (see the module docs).
                for (w, x) in b.y2[..CHUNK].iter_mut().zip(&b.src[..CHUNK]) {
                    // Tested on the bits, kept from LLVM (which would vectorize the test into an MVE
                    // float compare, under MVE float's rules).
                    if core::hint::black_box(x.to_bits()) & 0x7fff_ffff > 0x7f80_0000 {
                        *w = f32::NAN;
                    }
                }
            }
            let _ = f.compare_within(
                format_args!("shift {shift}, patterns {chunk}"),
                "x",
                &b.y[..CHUNK],
                &b.y2[..CHUNK],
                |_| mve_exp_tol(false),
            );
        }
    }
}

/// Softmax inputs, by what they exercise.
const SOFTMAX_MIXES: [&str; 10] = [
    "normal",    // uniform in [-8, 8)
    "below-87",  // uniform in [-110, 0): many exponents below -126, subnormal and zero results
    "edges",     // differences at the edges of expf's ranges
    "neg-inf",   // some -inf
    "pos-inf",   // one +inf: the max, inf - inf = NaN
    "nan",       // one NaN inside (never the max)
    "nan-first", // a NaN first (it stays the max)
    "all-equal", // every element the same
    "huge",      // uniform in [-1e30, 1e30)
    "wide",      // magnitudes 2^-40..2^40
];

/// Differences from the max (0) around expf's thresholds: ln 2^-126 = -87.34, ln 2^-149 = -103.28.
const EDGES: [f32; 12] =
    [0.0, -1.0e-30, -87.0, -87.33654, -87.34, -87.5, -88.72283, -89.0, -103.27893, -103.9721, -104.0, -200.0];

fn softmax_input(rng: &mut Rng, v: &mut [f32], mix: &str) {
    let n = v.len();
    match mix {
        "below-87" => v.iter_mut().for_each(|e| *e = rng.range(-110.0, 0.0)),
        "edges" => {
            let shift = rng.range(-50.0, 50.0);
            v.iter_mut().for_each(|e| *e = shift + EDGES[rng.below(EDGES.len())]);
            v[rng.below(n)] = shift;
        }
        "all-equal" => v.fill(rng.range(-100.0, 100.0)),
        "huge" => v.iter_mut().for_each(|e| *e = rng.unit() * 1.0e30),
        "wide" => v.iter_mut().for_each(|e| *e = rng.wide(40)),
        _ => v.iter_mut().for_each(|e| *e = rng.range(-8.0, 8.0)),
    }
    match mix {
        "neg-inf" => {
            for _ in 0..n.div_ceil(8) {
                v[rng.below(n)] = f32::NEG_INFINITY;
            }
        }
        "pos-inf" => v[rng.below(n)] = f32::INFINITY,
        "nan" => v[n / 2] = f32::NAN,
        "nan-first" => v[0] = f32::NAN,
        _ => {}
    }
}

fn check_softmax<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    for n in VEC_LENS {
        for mix in SOFTMAX_MIXES {
            softmax_input(&mut f.rng, &mut b.y[..n], mix);
            b.y[n..n + PAD].fill(SENTINEL);
            b.y2[..n + PAD].copy_from_slice(&b.y[..n + PAD]);
            b.src[..n].copy_from_slice(&b.y[..n]);
            super::softmax(&mut b.y[..n]);
            generic::softmax(&mut b.y2[..n]);
            if MVE_FLOAT && mix.starts_with("nan") {
                // The spec's result for a NaN input is NaN everywhere (NaN first: every difference is
                // NaN; inside: the sum is); the twin compiled for MVE does not give it (module docs).
                b.y2[..n].fill(f32::NAN);
            }
            let tol = |i: usize| if i < n { mve_exp_tol(mix == "normal") } else { 0.0 };
            let (got, want) = (&b.y[..n + PAD], &b.y2[..n + PAD]);
            if let Some(i) = f.compare_within(format_args!("len {n} {mix}"), "x", got, want, tol) {
                let x = &b.src[..n];
                let max = x.iter().skip(1).fold(x[0], |m, &v| if v > m { v } else { m });
                let xi = x.get(i).copied().unwrap_or(SENTINEL);
                f.inputs(format_args!(
                    "x[{i}] = {}, max = {}, x[{i}] - max = {}",
                    Show(xi),
                    Show(max),
                    Show(xi - max)
                ));
            }
        }
    }
}

fn check_swiglu<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    for n in VEC_LENS {
        for mix in MIXES {
            let scale = if mix == Mix::Normal { 8.0 } else { 100.0 };
            fill(&mut f.rng, &mut b.y[..n], mix, scale);
            // One more h3 than h1 where there is room: the common prefix.
            let n3 = (n + 1).min(MAX_COLS);
            fill(&mut f.rng, &mut b.x[..n3], mix, 4.0);
            b.y[n..n + PAD].fill(SENTINEL);
            b.y2[..n + PAD].copy_from_slice(&b.y[..n + PAD]);
            b.src[..n].copy_from_slice(&b.y[..n]);
            super::swiglu(&mut b.y[..n], &b.x[..n3]);
            generic::swiglu(&mut b.y2[..n], &b.x[..n3]);
            // MVE float: the twin, auto-vectorized by LLVM, flushes a subnormal h3 or sigmoid(h1) to
            // 0 (the asm! kernel does not): a difference below 2^-126 (1 + |h1|)(1 + |h3|).
            let (h1, h3) = (&b.src[..n], &b.x[..n]);
            let tol = |i: usize| match (h1.get(i), h3.get(i)) {
                (Some(&u), Some(&v)) if MVE_FLOAT && mix != Mix::Normal => {
                    pow2(-126) * (1.0 + u.abs()) * (1.0 + v.abs())
                }
                _ => 0.0,
            };
            let (got, want) = (&b.y[..n + PAD], &b.y2[..n + PAD]);
            if let Some(i) = f.compare_within(format_args!("len {n} {mix}"), "h1", got, want, tol) {
                if i < n {
                    let (h1, h3) = (Show(b.src[i]), Show(b.x[i]));
                    f.inputs(format_args!("h1[{i}] = {h1}, h3[{i}] = {h3}"));
                }
            }
            // MVE: also against the scalar VFP kernel of `arm_dsp` (the twin's arithmetic without
            // flush-to-zero, bit for bit: the M4 boards check it), exactly.
            #[cfg(glmix_mve)]
            {
                b.y2[..n].copy_from_slice(&b.src[..n]);
                <super::arm_dsp::Dsp as Kernels>::swiglu(&mut b.y2[..n], &b.x[..n3]);
                let (got, want) = (&b.y[..n + PAD], &b.y2[..n + PAD]);
                if let Some(i) =
                    f.compare_within(format_args!("len {n} {mix} vs VFP"), "h1", got, want, |_| 0.0)
                {
                    if i < n {
                        let (h1, h3) = (Show(b.src[i]), Show(b.x[i]));
                        f.inputs(format_args!("h1[{i}] = {h1}, h3[{i}] = {h3}"));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- gathers

const HEAD_SIZES: [usize; 8] = [5, 8, 12, 16, 24, 32, 48, MAX_HEAD];

/// An attention-like layout: `heads` heads of `hd` per record, records `stride` apart (padded);
/// head `h` reads at offset `h * hd`.
#[derive(Clone, Copy)]
struct Layout {
    hd: usize,
    heads: usize,
    stride: usize,
}

/// Slot lists: how the cached positions are picked.
#[derive(Clone, Copy, PartialEq)]
enum Pick {
    /// `n` random slots, repeats allowed.
    Scattered(usize),
    /// Every slot, newest first.
    Descending,
    /// `Slots::new(list).tail(1)` of 9 random slots (the bound stays the whole list's).
    Tail,
    /// 5 random slots and one past the cache (the kernels then take the twin's range checks).
    OutOfRange,
}

const PICKS: [Pick; 7] = [
    Pick::Scattered(0),
    Pick::Scattered(1),
    Pick::Scattered(2),
    Pick::Scattered(7),
    Pick::Descending,
    Pick::Tail,
    Pick::OutOfRange,
];

impl fmt::Display for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pick::Scattered(n) => write!(f, "{n} scattered slots"),
            Pick::Descending => write!(f, "{CTX} slots descending"),
            Pick::Tail => f.write_str("Slots::tail(1) of 9"),
            Pick::OutOfRange => f.write_str("6 slots, one out of range"),
        }
    }
}

/// Fills the cache and the slot list; returns the number of slots and the index the gather starts
/// at (1 for [`Pick::Tail`]).
fn gather_setup(b: &mut Bufs, rng: &mut Rng, l: Layout, pick: Pick) -> (usize, usize) {
    fill(rng, &mut b.kv[..CTX * l.stride], Mix::Normal, 2.0);
    let n = match pick {
        Pick::Scattered(n) => n,
        Pick::Descending => CTX,
        Pick::Tail => 9,
        Pick::OutOfRange => 6,
    };
    for (i, s) in b.slots[..n].iter_mut().enumerate() {
        *s = match pick {
            Pick::Descending => (CTX - 1 - i) as u32,
            _ => rng.below(CTX) as u32,
        };
    }
    if pick == Pick::OutOfRange {
        b.slots[rng.below(n)] = CTX as u32;
    }
    (n, if pick == Pick::Tail { 1 } else { 0 })
}

/// Every layout: each head size alone and three heads, unpadded and with a padded stride.
fn layouts() -> impl Iterator<Item = Layout> {
    HEAD_SIZES.into_iter().flat_map(|hd| {
        [(1, 0), (3, 0), (3, 3)].map(|(heads, pad)| Layout { hd, heads, stride: heads * hd + pad })
    })
}

fn check_gather_scores<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    for l in layouts() {
        for pick in PICKS {
            let (n, from) = gather_setup(b, &mut f.rng, l, pick);
            let scale = [1.0, 2.236068, 2.828427, 4.0, 5.656854][f.rng.below(5)];
            for h in 0..l.heads {
                let off = h * l.hd;
                fill(&mut f.rng, &mut b.x[..l.hd], Mix::Normal, 1.0);
                let m = n - from;
                let (got, want) = (&mut b.a[..m + PAD], &mut b.b[..m + PAD]);
                got.fill(SENTINEL);
                want.fill(SENTINEL);
                let list = &b.slots[..n];
                let (q, kv) = (&b.x[..l.hd], &b.kv[..CTX * l.stride]);
                super::gather_scores(q, kv, l.stride, off, Slots::new(list).tail(from), scale, got);
                generic::gather_scores(q, kv, l.stride, off, &list[from..], scale, want);
                // Scores are dots: reordered where this build's float dots are.
                let tol = |i: usize| {
                    let slot = list.get(from + i).map_or(usize::MAX, |&s| s as usize);
                    let rec = kv.get(slot.saturating_mul(l.stride).saturating_add(off)..).unwrap_or(&[]);
                    reorder_bound(l.hd, abs_dot(q, rec)) / scale
                };
                let case =
                    format_args!("head size {} head {h} of {}, stride {}, {pick}", l.hd, l.heads, l.stride);
                let _ = f.compare_within(case, "out", got, want, tol);
            }
        }
    }
}

fn check_gather_axpy<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    for l in layouts() {
        for pick in PICKS {
            for short in [false, true] {
                let (n, from) = gather_setup(b, &mut f.rng, l, pick);
                let m = n - from;
                // Fewer weights than slots: only the common prefix is summed.
                let nw = if short { m.saturating_sub(1) } else { m };
                for h in 0..l.heads {
                    let off = h * l.hd;
                    fill(&mut f.rng, &mut b.y[..nw], Mix::Normal, 1.0);
                    b.y[..nw].iter_mut().for_each(|w| *w = w.abs());
                    fill(&mut f.rng, &mut b.a[..l.hd], Mix::Normal, 1.0);
                    b.a[l.hd..l.hd + PAD].fill(SENTINEL);
                    b.b = b.a;
                    let list = &b.slots[..n];
                    let (kv, w) = (&b.kv[..CTX * l.stride], &b.y[..nw]);
                    super::gather_axpy(&mut b.a[..l.hd], w, kv, l.stride, off, Slots::new(list).tail(from));
                    generic::gather_axpy(&mut b.b[..l.hd], w, kv, l.stride, off, &list[from..]);
                    let case = format_args!(
                        "head size {} head {h} of {}, stride {}, {pick}, {nw} weights",
                        l.hd, l.heads, l.stride
                    );
                    let _ = f.compare(case, "o", &b.a[..l.hd + PAD], &b.b[..l.hd + PAD]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- dot_f32, axpy

const DOT_LENS: [usize; 18] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 172, 300, MAX_COLS];

fn check_dot_f32<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    for n in DOT_LENS {
        for mix in MIXES {
            let scale = pow2(f.rng.below(17) as i32 - 8);
            fill(&mut f.rng, &mut b.x[..n], mix, scale);
            // A longer second operand: the common prefix.
            fill(&mut f.rng, &mut b.y[..n + 1], mix, 1.0);
            let got = super::dot_f32(&b.x[..n], &b.y[..n + 1]);
            let want = generic::dot_f32(&b.x[..n], &b.y[..n + 1]);
            let tol = reorder_bound(n, abs_dot(&b.x[..n], &b.y[..n]));
            let _ = f.compare_within(format_args!("len {n} {mix}"), "dot", &[got], &[want], |_| tol);
        }
    }
}

fn check_axpy<R: Report>(b: &mut Bufs, f: &mut Family<'_, R>) {
    for n in DOT_LENS {
        for mix in MIXES {
            let a = match mix {
                Mix::Wide => f.rng.wide(40),
                _ => f.rng.unit() * 4.0,
            };
            fill(&mut f.rng, &mut b.x[..n], mix, 1.0);
            fill(&mut f.rng, &mut b.y[..n], mix, 1.0);
            b.y[n..n + PAD].fill(SENTINEL);
            b.y2[..n + PAD].copy_from_slice(&b.y[..n + PAD]);
            b.src[..n].copy_from_slice(&b.y[..n]);
            super::axpy(&mut b.y[..n], a, &b.x[..n]);
            generic::axpy(&mut b.y2[..n], a, &b.x[..n]);
            let (got, want) = (&b.y[..n + PAD], &b.y2[..n + PAD]);
            if let Some(i) = f.compare(format_args!("len {n} {mix}, a = {}", Show(a)), "y", got, want) {
                if i < n {
                    let (x, y) = (Show(b.x[i]), Show(b.src[i]));
                    f.inputs(format_args!("x[{i}] = {x}, y[{i}] before = {y}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// Collects the report's lines.
    struct Lines(Vec<String>);

    impl Report for Lines {
        fn line(&mut self, args: fmt::Arguments<'_>) {
            self.0.push(std::format!("{args}"));
        }
    }

    #[test]
    fn this_builds_kernels_conform() {
        let mut bufs = std::boxed::Box::new(Bufs::ZERO);
        let mut lines = Lines(Vec::new());
        let summary = run(&mut bufs, &mut lines);
        assert!(summary.ok(), "{}", lines.0.join("\n"));
        assert_eq!(summary.families, 10);
        assert!(summary.cases > 3000, "{} cases", summary.cases);
    }

    #[test]
    fn a_wrong_result_is_reported() {
        let mut lines = Lines(Vec::new());
        let mut f = Family { name: "t", rng: Rng(1), cases: 0, failed: 0, tolerated: 0, report: &mut lines };
        assert_eq!(f.compare(format_args!("c"), "v", &[1.0, f32::NAN], &[1.0, f32::NAN]), None);
        assert_eq!(f.compare(format_args!("c"), "v", &[1.0, 2.0], &[1.0, 2.5]), Some(1));
        assert_eq!(f.compare_within(format_args!("c"), "v", &[2.0], &[2.5], |_| 0.5), None);
        assert_eq!(f.compare(format_args!("c"), "v", &[-0.0], &[0.0]), None, "only the first is reported");
        assert!(!f.finish());
        assert_eq!(lines.0.len(), 2, "{:?}", lines.0);
        assert!(lines.0[0].starts_with("check t: MISMATCH c: v[1]: kernels 2e0"), "{}", lines.0[0]);
        assert_eq!(lines.0[1], "check t: FAILED, 2 of 4 cases differ");
        assert!(!close(f32::INFINITY, 1e38, 1e38), "an infinity is never close to a finite value");
    }
}
