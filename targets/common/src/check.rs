//! On-target kernel check (feature `kernel-check`): every dispatched kernel of `glmix::kernels`
//! against its scalar twin in `glmix::kernels::generic`, on pseudo-random inputs, on the target itself.
//!
//! The runtime's module docs promise that on every architecture the firmware runs on, the dispatched
//! kernels give the twins' bits (the Cortex-M DSP/VFP `asm!` kernels included; only the x86 AVX2 f32
//! dots reorder sums, and no firmware target uses them). So every comparison here is bit for bit:
//! `to_bits()` equality, with any NaN equal to any NaN. Except on the MVE build
//! ([`kernels::MVE_FLOAT`]): there the f32 matvec and softmax's exponentials run in MVE float, which
//! flushes subnormals, and are compared within the tolerance `glmix::kernels::mve` states (exactly in
//! the normal mix; the family line counts the cases that needed it). On targets without architecture kernels
//! (riscv32, the plain M55 build) the dispatched entry points are the twins, and the check is trivial
//! but still exercises the dispatch.
//!
//! Families, each over shapes and value mixes chosen to reach every fast path and its fallbacks:
//!
//! | family | dispatched | twin | cases |
//! |---|---|---|---|
//! | `matvec` | [`kernels::matvec`] | [`generic::matvec`] | f32, f16, bf16, q8_0, q4_0 weights; rows 1, 2, 3, 13, 33; cols 1, 3, 8, 15, 16, 17, 31, 32, 33, 64, 172 (and 4096, 4097 with at most 3 rows); normal, wide-range, inf-holding and tiny values (q8_0/q4_0 scales subnormal in f16); quantized and f16/bf16 rows at byte offsets 0-3 |
//! | `quantize_q8_0` | [`kernels::quantize_q8_0`] | [`glmix::quant::quantize_row_q8_0`] | the softmax lengths; normal, wide, special and tiny values; blocks compared byte for byte |
//! | `softmax` | [`kernels::softmax`] | [`generic::softmax`] | lengths 1, 3, 4, 5, 15, 16, 17, 31, 33, 172, 300, 4097; normal, differences below -87 (subnormal or zero results), edge differences, -inf, +inf, NaN (first or inside), all equal, huge |
//! | `swiglu` | [`kernels::swiglu`] | [`generic::swiglu`] | the same lengths; normal, wide, special values |
//! | `gather_scores` | [`kernels::gather_scores`] | [`generic::gather_scores`] | head sizes 5, 8, 16, 32; 1 or 3 heads (offsets as attention), padded strides, scattered slots, a `Slots::tail`, an out-of-range slot |
//! | `gather_axpy` | [`kernels::gather_axpy`] | [`generic::gather_axpy`] | the same, and fewer weights than slots |
//! | `dot_f32` | [`kernels::dot_f32`] | [`generic::dot_f32`] | lengths 0 to 4097; normal, wide, special |
//! | `axpy` | [`kernels::axpy`] | [`generic::axpy`] | the same |
//!
//! Outputs are compared over the whole output buffer, including two sentinel elements past the end
//! that neither kernel may touch. No heap: one static `Bufs` (about 141 KiB of `.bss`).
//!
//! Output (stdout): one line per family, `check <name>: N cases ok`, or the first mismatch (`check
//! <name>: MISMATCH <case>: <what>[i]: kernels <value> != generic <value>`) followed by `check <name>:
//! FAILED, M of N cases differ`; then `kernel-check: all N cases ok` or `kernel-check: FAILED ...`.
//! [`run`] returns [`crate::code::OK`] or [`crate::code::KERNEL_MISMATCH`].

use crate::{code, counter, out, StaticBuf};
use core::fmt;
use glmix::kernels::{self, generic, Slots};
use glmix::quant::{blocks_as_bytes, quantize_row_q4_0, quantize_row_q8_0, BlockQ4_0, BlockQ8_0};
use glmix::tensor::{DType, Tensor, QK};

/// Longest matrix row / vector.
const MAX_COLS: usize = 4097;
/// Rows of the largest matrices (with at most [`BIG_COLS_ROWS`] rows past [`SMALL_COLS`] columns).
const MAX_ROWS: usize = 33;
const SMALL_COLS: usize = 172;
const BIG_COLS_ROWS: usize = 3;
const MAX_BLOCKS: usize = MAX_COLS.div_ceil(QK);
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
const MAX_VEC: usize = 4097;
/// Cached records of the gather cases, and their widest stride (3 heads of 32, padded by 3).
const CTX: usize = 40;
const MAX_STRIDE: usize = 3 * 32 + 3;
const KV_LEN: usize = CTX * MAX_STRIDE;

/// 4-byte aligned bytes (f32 tensor data must be 4-byte aligned).
#[derive(Clone, Copy)]
#[repr(C, align(4))]
struct Aligned4<const N: usize>([u8; N]);

const ZERO_Q8: BlockQ8_0 = BlockQ8_0 { d: [0; 2], qs: [0; QK] };
const ZERO_Q4: BlockQ4_0 = BlockQ4_0 { d: [0; 2], qs: [0; QK / 2] };

/// Every buffer of the check, in one static.
#[derive(Clone, Copy)]
struct Bufs {
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
}

impl Bufs {
    const ZERO: Bufs = Bufs {
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
    };
}

static BUFS: StaticBuf<Bufs, 1> = StaticBuf::new(Bufs::ZERO);

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
    /// Uniform in `[-2^-12, 2^-12)` (matvec only): q8_0/q4_0 scales near 2^-19, subnormal in f16.
    Tiny,
}

const MIXES: [Mix; 3] = [Mix::Normal, Mix::Wide, Mix::Special];

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

/// `a` and `b` are the same for this check: the same bits, or both NaN.
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// A value with its bits, for mismatch reports.
struct Show(f32);

impl fmt::Display for Show {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:e} (0x{:08x})", self.0, self.0.to_bits())
    }
}

/// One kernel family's tally; prints its first mismatch as soon as it is found.
struct Family {
    name: &'static str,
    rng: Rng,
    cases: u32,
    failed: u32,
    /// Cases equal only within a stated tolerance (MVE float, see [`kernels::MVE_FLOAT`]).
    tolerated: u32,
}

impl Family {
    fn new(name: &'static str, seed: u32) -> Self {
        Family { name, rng: Rng(seed), cases: 0, failed: 0, tolerated: 0 }
    }

    /// One case: `got` (dispatched) against `want` (twin), element by element. Returns the index of
    /// the family's first mismatch (once, when it is printed), for the caller to print the inputs.
    fn compare(&mut self, case: fmt::Arguments<'_>, what: &str, got: &[f32], want: &[f32]) -> Option<usize> {
        self.compare_within(case, what, got, want, |_| 0.0)
    }

    /// [`Family::compare`], but element `i` may also differ by at most `tol(i)` when `tol(i) > 0`
    /// (any difference when `tol(i)` is infinite); such a case counts as tolerated.
    fn compare_within(
        &mut self,
        case: fmt::Arguments<'_>,
        what: &str,
        got: &[f32],
        want: &[f32],
        tol: impl Fn(usize) -> f32,
    ) -> Option<usize> {
        self.cases += 1;
        let mut tolerated = false;
        let diff = if got.len() != want.len() {
            Some(got.len().min(want.len()))
        } else {
            got.iter().zip(want).enumerate().position(|(i, (&g, &w))| {
                if same(g, w) {
                    return false;
                }
                let t = tol(i);
                let within = t == f32::INFINITY || (t > 0.0 && (g - w).abs() <= t);
                tolerated |= within;
                !within
            })
        };
        if diff.is_none() && tolerated {
            self.tolerated += 1;
        }
        let i = diff?;
        self.failed += 1;
        if self.failed == 1 {
            match (got.get(i), want.get(i)) {
                (Some(&g), Some(&w)) => out::println(format_args!(
                    "check {}: MISMATCH {}: {}[{}]: kernels {} != generic {}",
                    self.name,
                    case,
                    what,
                    i,
                    Show(g),
                    Show(w)
                )),
                _ => out::println(format_args!(
                    "check {}: MISMATCH {}: {} lengths {} != {}",
                    self.name,
                    case,
                    what,
                    got.len(),
                    want.len()
                )),
            }
            return Some(i);
        }
        None
    }

    /// Prints the inputs behind a mismatch `compare` returned.
    fn inputs(&self, args: fmt::Arguments<'_>) {
        out::println(format_args!("check {}:   inputs: {}", self.name, args));
    }

    /// A case that could not be set up (a bug in this check): counted as a failure.
    fn setup_failed(&mut self, case: fmt::Arguments<'_>) {
        self.cases += 1;
        self.failed += 1;
        out::println(format_args!("check {}: SETUP FAILED {}", self.name, case));
    }

    /// Prints the family's line; returns whether it passed.
    fn finish(&self) -> bool {
        if self.failed == 0 && self.tolerated > 0 {
            out::println(format_args!(
                "check {}: {} cases ok ({} within the MVE float tolerance)",
                self.name, self.cases, self.tolerated
            ));
        } else if self.failed == 0 {
            out::println(format_args!("check {}: {} cases ok", self.name, self.cases));
        } else {
            out::println(format_args!(
                "check {}: FAILED, {} of {} cases differ",
                self.name, self.failed, self.cases
            ));
        }
        self.failed == 0
    }
}

/// One family's cases.
type Check = fn(&mut Bufs, &mut Family);

/// Runs every family and prints the report; returns the exit code.
pub fn run() -> i32 {
    let Some(bufs) = BUFS.take() else {
        return code::PANIC;
    };
    let Some(b) = bufs.first_mut() else {
        return code::PANIC;
    };
    let start = counter::now();
    let families: [(&'static str, Check); 8] = [
        ("matvec", check_matvec),
        ("quantize_q8_0", check_quantize),
        ("softmax", check_softmax),
        ("swiglu", check_swiglu),
        ("gather_scores", check_gather_scores),
        ("gather_axpy", check_gather_axpy),
        ("dot_f32", check_dot_f32),
        ("axpy", check_axpy),
    ];
    let (mut cases, mut failed) = (0u32, 0usize);
    for (k, (name, f)) in families.into_iter().enumerate() {
        let mut fam = Family::new(name, 0x9E37_79B9 ^ (k as u32 + 1).wrapping_mul(0x85EB_CA6B));
        f(b, &mut fam);
        cases += fam.cases;
        if !fam.finish() {
            failed += 1;
        }
    }
    out::eprintln(format_args!("glmix-fw: kernel-check, {} {}", counter::now() - start, counter::UNIT));
    if failed == 0 {
        out::println(format_args!("kernel-check: all {cases} cases ok"));
        code::OK
    } else {
        out::println(format_args!(
            "kernel-check: FAILED, {failed} of {} kernel families differ from their generic twins",
            families.len()
        ));
        code::KERNEL_MISMATCH
    }
}

// ---------------------------------------------------------------- matvec

const DTYPES: [DType; 5] = [DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0];
const ROWS: [usize; 5] = [1, 2, 3, 13, 33];
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

fn check_matvec(b: &mut Bufs, f: &mut Family) {
    for dtype in DTYPES {
        for rows in ROWS {
            for cols in COLS {
                if cols > SMALL_COLS && rows > BIG_COLS_ROWS {
                    continue;
                }
                for mix in [Mix::Normal, Mix::Wide, Mix::Special, Mix::Tiny] {
                    matvec_case(b, f, dtype, rows, cols, mix);
                }
            }
        }
    }
}

fn matvec_case(b: &mut Bufs, f: &mut Family, dtype: DType, rows: usize, cols: usize, mix: Mix) {
    let rng = &mut f.rng;
    let scale = pow2(rng.below(17) as i32 - 8);
    let nb = cols.div_ceil(QK);
    let row_bytes = dtype.row_bytes(cols).unwrap_or(0);
    // Block and half-float rows may sit at any byte offset of a model file: try them all.
    let off = if dtype == DType::F32 { 0 } else { f.cases as usize % 4 };
    let len = rows * row_bytes;
    let Some(data) = b.w.0.get_mut(off..off + len) else {
        return f.setup_failed(format_args!("{} [{rows}x{cols}]: weights too large", dtype.name()));
    };
    for row in data.chunks_exact_mut(row_bytes.max(1)) {
        match dtype {
            DType::F32 => {
                fill(rng, &mut b.src[..cols], mix, scale);
                for (c, v) in row.chunks_exact_mut(4).zip(&b.src) {
                    c.copy_from_slice(&v.to_le_bytes());
                }
            }
            DType::F16 => {
                for c in row.chunks_exact_mut(2) {
                    c.copy_from_slice(&f16_bits(rng, mix).to_le_bytes());
                }
            }
            DType::BF16 => {
                fill(rng, &mut b.src[..cols], mix, scale);
                for (c, v) in row.chunks_exact_mut(2).zip(&b.src) {
                    c.copy_from_slice(&((v.to_bits() >> 16) as u16).to_le_bytes());
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
    }
    // Activations, quantized once for the block types as the runtime's session does.
    fill(rng, &mut b.x[..cols], mix, 1.0);
    quantize_row_q8_0(&b.x[..cols], &mut b.xq[..nb]);
    let Some(w) = Tensor::new(dtype, rows, cols, &b.w.0[off..off + len]) else {
        return f.setup_failed(format_args!("{} [{rows}x{cols}]: Tensor::new", dtype.name()));
    };
    let (got, want) = (&mut b.a[..rows + PAD], &mut b.b[..rows + PAD]);
    got.fill(SENTINEL);
    want.fill(SENTINEL);
    kernels::matvec(&w, &b.x[..cols], &b.xq[..nb], got);
    generic::matvec(&w, &b.x[..cols], &b.xq[..nb], want);
    // MVE float (f32 rows only): exact in the normal mix, else within kernels::mve's bound
    // `cols * 2^-125 + 2^-22 * sum |w x|` (this check doubles it: `cols` roundings of 2^-23).
    let (x, data) = (&b.x[..cols], w.as_f32());
    let tol = |r: usize| {
        if !kernels::MVE_FLOAT || dtype != DType::F32 || mix == Mix::Normal || r >= rows {
            return 0.0;
        }
        let row = data.get(r * cols..(r + 1) * cols).unwrap_or(&[]);
        // A subnormal is 0 in MVE float: inf * subnormal is NaN there, so such a row is not compared.
        let sub = |v: &f32| v.is_subnormal();
        if row.iter().chain(x).any(|v| v.is_infinite()) && row.iter().chain(x).any(sub) {
            return f32::INFINITY;
        }
        let abs: f32 = row.iter().zip(x).map(|(&a, &v)| (a * v).abs()).sum();
        cols as f32 * (2.0 * pow2(-125) + pow2(-22) * abs)
    };
    f.compare_within(
        format_args!("{} [{rows}x{cols}] {mix} at byte offset {off}", dtype.name()),
        "out",
        got,
        want,
        tol,
    );
}

// ---------------------------------------------------------------- quantize

/// The activation quantizer against the reference one, byte for byte (scales and values).
fn check_quantize(b: &mut Bufs, f: &mut Family) {
    for n in VEC_LENS {
        for mix in [Mix::Normal, Mix::Wide, Mix::Special, Mix::Tiny] {
            fill(&mut f.rng, &mut b.x[..n], mix, 4.0);
            let nb = n.div_ceil(QK);
            // One untouched block past the end where there is room (a sentinel neither may write).
            let end = (nb + 1).min(MAX_BLOCKS);
            b.xq[..end].fill(ZERO_Q8);
            b.row_q8[..end].fill(ZERO_Q8);
            kernels::quantize_q8_0(&b.x[..n], &mut b.xq[..nb]);
            quantize_row_q8_0(&b.x[..n], &mut b.row_q8[..nb]);
            f.cases += 1;
            let (got, want) = (blocks_as_bytes(&b.xq[..end]), blocks_as_bytes(&b.row_q8[..end]));
            if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
                f.failed += 1;
                if f.failed == 1 {
                    let (k, j) = (i / 34, i % 34);
                    out::println(format_args!(
                        "check {}: MISMATCH len {n} {mix}: block {k} byte {j}: kernels {} != reference {}",
                        f.name, got[i], want[i]
                    ));
                    if j >= 2 {
                        let e = k * QK + j - 2;
                        if let Some(&v) = b.x.get(e) {
                            f.inputs(format_args!("x[{e}] = {}", Show(v)));
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- softmax, swiglu

const VEC_LENS: [usize; 12] = [1, 3, 4, 5, 15, 16, 17, 31, 33, 172, 300, 4097];

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

fn check_softmax(b: &mut Bufs, f: &mut Family) {
    for n in VEC_LENS {
        for mix in SOFTMAX_MIXES {
            softmax_input(&mut f.rng, &mut b.a[..n], mix);
            b.a[n..n + PAD].fill(SENTINEL);
            b.b = b.a;
            b.y[..n].copy_from_slice(&b.a[..n]);
            kernels::softmax(&mut b.a[..n]);
            generic::softmax(&mut b.b[..n]);
            if kernels::MVE_FLOAT && mix.starts_with("nan") {
                // The spec's result for a NaN input is NaN everywhere (NaN first: every difference
                // is NaN; inside: the sum is). On the MVE build the twin compiled there does not
                // give it (LLVM vectorizes `expf`'s clamp into VMAXNM/VMINNM, which turn NaN into
                // a bound), so the kernel is compared with the spec's result itself.
                b.b[..n].fill(f32::NAN);
            }
            let x = &b.y[..n];
            // MVE float: an exponential below 2^-126 is 0 (the twin's is subnormal); the sum is at
            // least 1, so only those outputs differ, by less than 2^-126.
            let tol =
                |i: usize| if kernels::MVE_FLOAT && mix != "normal" && i < n { pow2(-126) } else { 0.0 };
            if let Some(i) =
                f.compare_within(format_args!("len {n} {mix}"), "x", &b.a[..n + PAD], &b.b[..n + PAD], tol)
            {
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

fn check_swiglu(b: &mut Bufs, f: &mut Family) {
    for n in VEC_LENS {
        for mix in MIXES {
            let scale = if mix == Mix::Normal { 8.0 } else { 100.0 };
            fill(&mut f.rng, &mut b.a[..n], mix, scale);
            fill(&mut f.rng, &mut b.x[..n], mix, 4.0);
            b.a[n..n + PAD].fill(SENTINEL);
            b.b = b.a;
            b.y[..n].copy_from_slice(&b.a[..n]);
            kernels::swiglu(&mut b.a[..n], &b.x[..n]);
            generic::swiglu(&mut b.b[..n], &b.x[..n]);
            // On the MVE build the twin itself is auto-vectorized by LLVM in MVE float: a subnormal
            // h3 or sigmoid(h1) is 0 there (not in the asm kernel), a difference below
            // 2^-126 (1 + |h1|) (1 + |h3|).
            let (h1, h3) = (&b.y[..n], &b.x[..n]);
            let tol = |i: usize| match (h1.get(i), h3.get(i)) {
                (Some(&u), Some(&v)) if kernels::MVE_FLOAT && mix != Mix::Normal => {
                    pow2(-126) * (1.0 + u.abs()) * (1.0 + v.abs())
                }
                _ => 0.0,
            };
            if let Some(i) =
                f.compare_within(format_args!("len {n} {mix}"), "h1", &b.a[..n + PAD], &b.b[..n + PAD], tol)
            {
                if i < n {
                    f.inputs(format_args!("h1[{i}] = {}, h3[{i}] = {}", Show(b.y[i]), Show(b.x[i])));
                }
            }
        }
    }
}

// ---------------------------------------------------------------- gathers

const HEAD_SIZES: [usize; 4] = [5, 8, 16, 32];

/// An attention-like layout: `heads` heads of `hd` per record, records `stride` apart (padded by
/// `pad`); head `h` reads at offset `h * hd`.
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
    let kv = &mut b.kv[..CTX * l.stride];
    fill(rng, kv, Mix::Normal, 2.0);
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

fn check_gather_scores(b: &mut Bufs, f: &mut Family) {
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
                let q = &b.x[..l.hd];
                let kv = &b.kv[..CTX * l.stride];
                kernels::gather_scores(q, kv, l.stride, off, Slots::new(list).tail(from), scale, got);
                generic::gather_scores(q, kv, l.stride, off, &list[from..], scale, want);
                let _ = f.compare(
                    format_args!("head size {} head {h} of {}, stride {}, {pick}", l.hd, l.heads, l.stride),
                    "out",
                    got,
                    want,
                );
            }
        }
    }
}

fn check_gather_axpy(b: &mut Bufs, f: &mut Family) {
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
                    let kv = &b.kv[..CTX * l.stride];
                    let w = &b.y[..nw];
                    kernels::gather_axpy(&mut b.a[..l.hd], w, kv, l.stride, off, Slots::new(list).tail(from));
                    generic::gather_axpy(&mut b.b[..l.hd], w, kv, l.stride, off, &list[from..]);
                    let _ = f.compare(
                        format_args!(
                            "head size {} head {h} of {}, stride {}, {pick}, {nw} weights",
                            l.hd, l.heads, l.stride
                        ),
                        "o",
                        &b.a[..l.hd + PAD],
                        &b.b[..l.hd + PAD],
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------- dot_f32, axpy

const DOT_LENS: [usize; 18] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 172, 300, 4097];

fn check_dot_f32(b: &mut Bufs, f: &mut Family) {
    for n in DOT_LENS {
        for mix in MIXES {
            let scale = pow2(f.rng.below(17) as i32 - 8);
            fill(&mut f.rng, &mut b.x[..n], mix, scale);
            fill(&mut f.rng, &mut b.y[..n], mix, 1.0);
            let got = kernels::dot_f32(&b.x[..n], &b.y[..n]);
            let want = generic::dot_f32(&b.x[..n], &b.y[..n]);
            let _ = f.compare(format_args!("len {n} {mix}"), "dot", &[got], &[want]);
        }
    }
}

fn check_axpy(b: &mut Bufs, f: &mut Family) {
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
            kernels::axpy(&mut b.y[..n], a, &b.x[..n]);
            generic::axpy(&mut b.y2[..n], a, &b.x[..n]);
            let (got, want) = (&b.y[..n + PAD], &b.y2[..n + PAD]);
            if let Some(i) = f.compare(format_args!("len {n} {mix}, a = {}", Show(a)), "y", got, want) {
                if i < n {
                    f.inputs(format_args!("x[{i}] = {}, y[{i}] before = {}", Show(b.x[i]), Show(b.src[i])));
                }
            }
        }
    }
}
