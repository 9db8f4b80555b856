//! x86_64 kernels: AVX2 + FMA + F16C, selected at compile time (`cfg(glmix_avx2)`, see `build.rs`),
//! with AVX-512 / VNNI variants of a few inner loops also chosen at compile time
//! (`cfg(target_feature = ...)`), each giving the same bits as the AVX2 code it replaces.
//!
//! The runtime is `no_std`, so there is no runtime CPU detection: build the host with
//! `RUSTFLAGS="-C target-cpu=native"` (or `-C target-cpu=x86-64-v3`, or
//! `-C target-feature=+avx2,+fma,+f16c`); a plain x86_64 build uses [`super::generic`].
//!
//! - f32/f16/bf16 dots: 8-lane FMA accumulators, a horizontal sum, the tail in scalar order. The sum
//!   is reordered against the scalar twin (tests use the worst-case reordering bound). f16/bf16
//!   matrices run four rows at a time sharing the loads of `x`, each row's sum exactly its dot's;
//!   with `avx512f` a row's two 8-lane accumulators are the halves of one 16-lane one (same bits).
//! - q8_0/q4_0 block dots: exact i32 sums; the per-block float accumulation is the scalar one, so
//!   results are bit-identical to the twin for all `i8` values, including -128. q8_0 feeds `|x|`
//!   (unsigned) and the weights XORed with `x`'s sign mask to an unsigned-by-signed byte dot (exact;
//!   ggml's sign trick is wrong for -128) and adds back `sum_{x<0} |x|`; q4_0 feeds the unsigned
//!   nibbles to it and subtracts `8 sum x`. The byte dot is `vpdpbusd` with `avx512vnni` + `avx512vl`
//!   or `avxvnni`, else `vpmaddubsw` + `vpmaddwd` (no pair can saturate: the same exact lanes).
//!   Matrices run eight rows at a time against activation blocks prepared once per call, the eight
//!   rows' float accumulations as vector lanes.
//! - axpy: multiply then add, no FMA: bit-identical to the twin.

use super::{generic, Kernels, Records};
use crate::quant::{blocks_from_bytes, BlockQ4_0, BlockQ8_0, QuantBlock};
use crate::tensor::{Tensor, QK};
use core::arch::x86_64::*;

/// The AVX2 implementation of the dispatched kernels.
pub(crate) struct Avx2;

impl Kernels for Avx2 {
    forward_kernels! {
        f32 = dot_f32, f16 = dot_f16, bf16 = dot_bf16, axpy, exp_shifted, matvec_q8_0, matvec_q4_0,
        matvec_f32, matvec_f16, matvec_bf16, gather_scores8, gather_axpy8, gather_axpy_wide, softmax, swiglu, quantize_q8_0,
    }
    #[inline(always)]
    fn q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
        generic::vec_dot_by(w, x, block_dot_q8_0)
    }
    #[inline(always)]
    fn q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
        generic::vec_dot_by(w, x, block_dot_q4_0)
    }
}

/// [`crate::math::expf`] on 8 lanes: the same operations in the same order (no FMA), so the same bits.
/// `MINPS`/`MAXPS` return their second operand when either is NaN, which keeps NaN like the scalar clamp.
#[inline(always)]
fn exp8(x: __m256) -> __m256 {
    use crate::math::{EXP_C1, EXP_C2, EXP_HI, EXP_LO, EXP_P, EXP_ROUND, LOG2E};
    // SAFETY: register-only AVX2 operations; AVX2 is enabled at compile time (cfg glmix_avx2).
    unsafe {
        let x = _mm256_max_ps(_mm256_set1_ps(EXP_LO), _mm256_min_ps(_mm256_set1_ps(EXP_HI), x));
        let t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), _mm256_set1_ps(EXP_ROUND));
        let n = _mm256_sub_ps(t, _mm256_set1_ps(EXP_ROUND));
        let ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(EXP_ROUND.to_bits() as i32));
        let r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(EXP_C1)));
        let r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(EXP_C2)));
        let z = _mm256_mul_ps(r, r);
        let mut y = _mm256_set1_ps(EXP_P[0]);
        for c in &EXP_P[1..] {
            y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(*c));
        }
        let p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(y, z), r), _mm256_set1_ps(1.0));
        let n1 = _mm256_srai_epi32::<1>(ni);
        let n2 = _mm256_sub_epi32(ni, n1);
        let bias = _mm256_set1_epi32(127);
        let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
        let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
        _mm256_mul_ps(_mm256_mul_ps(p, s1), s2)
    }
}

/// f32 matrix times `x` (row `r` is `data[r * cols..][..cols]`): one row at a time, each row's sum
/// [`dot_f32`] (four independent FMA accumulators over 32 columns), so `out[r]` is `dot_f32(row r, x)`
/// bit for bit; rows past the end of `data` are empty (sum 0). Rows shorter than `QUAD_COLS` take
/// `matvec_f32_quads` instead.
///
/// Streaming order, measured on the 15M shape (61 MB of weights, AMD EPYC with a 32 MiB L3, 2 cores,
/// interleaved rounds of a standalone copy of each candidate): one row after the other with one
/// `prefetcht0` of the start of the row `ROWS_AHEAD` rows ahead streams 1.4-1.7x faster than the same
/// loop without the hint, and about 2x faster than four rows at once sharing each load of `x` (one
/// accumulator per row, the whole rows prefetched two quads ahead: the former kernel). Prefetching every
/// cache line of the rows ahead was slower than no hint at all; 2, 4 or 8 rows ahead measured alike.
pub fn matvec_f32(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    let base = data.as_ptr();
    let row = |r: usize| {
        let start = r.saturating_mul(cols);
        data.get(start..start.saturating_add(cols)).unwrap_or_default()
    };
    let hint = |r: usize| {
        let ahead = base.wrapping_add(r.saturating_add(ROWS_AHEAD).saturating_mul(cols));
        // SAFETY: a prefetch hint never faults, whatever the address (past the end of `data` too).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.cast::<i8>()) };
    };
    if cols < QUAD_COLS {
        return matvec_f32_quads(data, cols, x, out);
    }
    for (r, o) in out.iter_mut().enumerate() {
        hint(r);
        *o = dot_f32(row(r), x);
    }
}

/// Rows shorter than this take [`matvec_f32_quads`]. stories260K f32 `generate -t 0 -n 256` (rows
/// of 64 and 172 columns), callgrind, x86-64-v3: all rows one at a time 119.7M instructions, in pairs
/// sharing `x` 102.8M, in quads (one accumulator per row) 71.7M.
const QUAD_COLS: usize = 256;

/// [`matvec_f32`] for short rows (fewer than [`QUAD_COLS`] columns: small matrices, bound by
/// instructions rather than memory), four rows at a time: one FMA accumulator per row, each load of `x`
/// shared by the four rows, one `hadd` tree for the four sums, then the `cols % 8` trailing columns of
/// each row in order (a reordered sum, like [`dot_f32`], but not its bits). Shapes it does not cover
/// (fewer than 8 columns, short `x` or `data`) and the last `rows % 4` rows use [`dot_f32`] per row. A
/// row's quad starts at a multiple of 4 rows, so splitting the rows at multiples of 4 (as
/// [`crate::parallel`] does, at multiples of 8) gives the same bits.
fn matvec_f32_quads(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    let rows = out.len();
    let fits = cols >= 8 && x.len() >= cols && rows.checked_mul(cols).is_some_and(|n| n <= data.len());
    if !fits {
        return super::matvec_f32_rows::<Avx2>(data, cols, x, out);
    }
    let body = cols - cols % 8;
    let x_tail = x.get(body..cols).unwrap_or_default();
    let mut quads = out.chunks_exact_mut(4);
    let mut r = 0;
    for o in &mut quads {
        let mut sums = [0.0f32; 4];
        // SAFETY: `data` holds `rows * cols` f32 (checked above); row `r + i < rows` is read at
        // offsets `(r + i) * cols + c` with `c + 8 <= body <= cols`, and `x` at `c + 8 <= cols <=
        // x.len()` (unaligned loads). AVX2/FMA are enabled at compile time.
        unsafe {
            let p = data.as_ptr().add(r * cols);
            let (p0, p1, p2, p3) = (p, p.add(cols), p.add(2 * cols), p.add(3 * cols));
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut c = 0;
            while c < body {
                let xv = _mm256_loadu_ps(x.as_ptr().add(c));
                acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(p0.add(c)), xv, acc[0]);
                acc[1] = _mm256_fmadd_ps(_mm256_loadu_ps(p1.add(c)), xv, acc[1]);
                acc[2] = _mm256_fmadd_ps(_mm256_loadu_ps(p2.add(c)), xv, acc[2]);
                acc[3] = _mm256_fmadd_ps(_mm256_loadu_ps(p3.add(c)), xv, acc[3]);
                c += 8;
            }
            let h = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
            let s4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
            _mm_storeu_ps(sums.as_mut_ptr(), s4);
        }
        if !x_tail.is_empty() {
            for (i, sum) in sums.iter_mut().enumerate() {
                let start = (r + i) * cols + body;
                let row_tail = data.get(start..start + x_tail.len()).unwrap_or_default();
                for (&w, &xv) in row_tail.iter().zip(x_tail) {
                    *sum += w * xv;
                }
            }
        }
        o.copy_from_slice(&sums);
        r += 4;
    }
    for o in quads.into_remainder() {
        // Rows `r < rows` are inside `data` (checked above): the fallback is never taken.
        *o = dot_f32(data.get(r * cols..(r + 1) * cols).unwrap_or_default(), x);
        r += 1;
    }
}

/// How many rows ahead [`matvec_f32`] hints the start of a row to the cache.
const ROWS_AHEAD: usize = 2;

/// A weight block type whose exact integer dot with a q8_0 block comes as 8 i32 lanes minus a
/// per-activation-block constant, against an activation block prepared once (`Self::X`) and shared by
/// every row.
pub(crate) trait Widen: QuantBlock {
    /// An activation block, prepared for this weight type.
    type X: Copy;
    /// Prepares an activation block.
    fn prep(x: &BlockQ8_0) -> Self::X;
    /// 8 i32 lanes whose sum minus [`Widen::bias`] is the exact `dot_i32` of `self` and the block.
    fn lanes(&self, x: Self::X) -> __m256i;
    /// The constant to subtract from the sum of [`Widen::lanes`], in all 8 lanes.
    fn bias(x: Self::X) -> __m256i;
    /// The scale's f16 bytes (little-endian).
    fn d_bytes(&self) -> [u8; 2];
}

/// The sum of the 8 i32 lanes of `v`, in all 8 lanes.
#[inline(always)]
fn broadcast_sum(v: __m256i) -> __m256i {
    // SAFETY: register-only AVX2 operations; AVX2 is enabled at compile time (cfg glmix_avx2).
    unsafe {
        let h = _mm256_hadd_epi32(v, v);
        let h = _mm256_hadd_epi32(h, h);
        _mm256_add_epi32(h, _mm256_permute2x128_si256::<0x01>(h, h))
    }
}

/// Exact `sum_{b = 4j..4j+4} u_b s_b` in each i32 lane `j` (`u` unsigned bytes, `s` signed bytes),
/// for operands whose pair sums `u_2i s_2i + u_2i+1 s_2i+1` fit in an `i16` (every caller's; see the
/// `Widen` implementations): one `vpdpbusd` where the build has AVX-512 VNNI with VL (Intel Ice Lake
/// and later servers, AMD Zen 4 and later) or AVX-VNNI, else `vpmaddubsw` then `vpmaddwd` by ones. With
/// no pair saturating, both give the exact sums in the same lanes, so the choice changes no result.
#[inline(always)]
fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256i {
    // SAFETY: register-only operations; the features each branch uses are enabled at compile time
    // (its cfg, and AVX2 by cfg glmix_avx2).
    unsafe {
        #[cfg(all(target_feature = "avx512vnni", target_feature = "avx512vl"))]
        let v = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
        #[cfg(all(
            target_feature = "avxvnni",
            not(all(target_feature = "avx512vnni", target_feature = "avx512vl"))
        ))]
        let v = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
        #[cfg(not(any(
            target_feature = "avxvnni",
            all(target_feature = "avx512vnni", target_feature = "avx512vl")
        )))]
        let v = _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
        v
    }
}

/// q8_0 weights, exact for every `i8` (including -128 on either side) with one `vpmaddubsw` per block:
/// with `m_j` = all ones where `x_j < 0` (else 0), `w_j ^ m_j` is `w_j` or `!w_j = -w_j - 1` (always an
/// `i8`), so `|x_j| (w_j ^ m_j) = w_j x_j - [x_j < 0] |x_j|`. `|x_j|` (up to 128, unsigned) times an
/// `i8` pairs to `[-32768, 32512]`: no saturation. The bias `-sum_{x_j < 0} |x_j|` comes from the
/// activation block alone. Per weight block: one `vpxor` (with the load), `vpmaddubsw`, `vpmaddwd`.
impl Widen for BlockQ8_0 {
    /// `|x|` (as `u8`), the sign mask `m`, the bias in all lanes.
    type X = (__m256i, __m256i, __m256i);
    #[inline(always)]
    fn prep(x: &BlockQ8_0) -> Self::X {
        // SAFETY: one 32-byte unaligned load of the 32-byte `qs` array; AVX2 is enabled at compile time
        // (cfg glmix_avx2).
        unsafe {
            let xv = _mm256_loadu_si256(x.qs.as_ptr().cast());
            let ax = _mm256_abs_epi8(xv);
            let m = _mm256_cmpgt_epi8(_mm256_setzero_si256(), xv);
            // `|x_j| * -1` where negative: pairs within -256, lanes summing to `-sum_{x_j<0} |x_j|`.
            let neg = dot_u8_i8(ax, m);
            (ax, m, broadcast_sum(neg))
        }
    }
    #[inline(always)]
    fn lanes(&self, (ax, m, _): Self::X) -> __m256i {
        // SAFETY: one 32-byte unaligned load of the 32-byte `qs` array; AVX2 is enabled at compile time
        // (cfg glmix_avx2).
        unsafe {
            let wm = _mm256_xor_si256(_mm256_loadu_si256(self.qs.as_ptr().cast()), m);
            dot_u8_i8(ax, wm)
        }
    }
    #[inline(always)]
    fn bias((_, _, bias): Self::X) -> __m256i {
        bias
    }
    #[inline(always)]
    fn d_bytes(&self) -> [u8; 2] {
        self.d
    }
}

/// q4_0 weights: `sum (n - 8) x = sum n x - 8 sum x`, exactly. The nibbles `n` (unsigned, 0..=15) go
/// straight into `vpmaddubsw` against the 32 `i8` of `x` (pair sums within +-3840: no saturation, for
/// every `i8` including -128), then `vpmaddwd` by ones; the bias `8 sum x` comes from the activation
/// block alone.
impl Widen for BlockQ4_0 {
    /// The 32 activation values as `i8`, and `8 sum x` in all lanes.
    type X = (__m256i, __m256i);
    #[inline(always)]
    fn prep(x: &BlockQ8_0) -> Self::X {
        // SAFETY: one 32-byte unaligned load of the 32-byte `qs` array; AVX2 is enabled at compile time
        // (cfg glmix_avx2).
        unsafe {
            let xv = _mm256_loadu_si256(x.qs.as_ptr().cast());
            let eight = dot_u8_i8(_mm256_set1_epi8(8), xv);
            (xv, broadcast_sum(eight))
        }
    }
    #[inline(always)]
    fn lanes(&self, (xv, _): Self::X) -> __m256i {
        // SAFETY: one 16-byte unaligned load of the 16-byte `qs` array; AVX2 is enabled at compile time
        // (cfg glmix_avx2).
        unsafe {
            let q = _mm_loadu_si128(self.qs.as_ptr().cast());
            // Elements 0..16 are the low nibbles (low 128-bit lane), 16..32 the high ones.
            let both = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(q), _mm_srli_epi16::<4>(q));
            let n = _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
            dot_u8_i8(n, xv)
        }
    }
    #[inline(always)]
    fn bias((_, eight): Self::X) -> __m256i {
        eight
    }
    #[inline(always)]
    fn d_bytes(&self) -> [u8; 2] {
        self.d
    }
}

/// Activation blocks prepared per column chunk of [`matvec_quant`] (with their f32 scales, in all lanes).
const PREP_CHUNK: usize = 32;

/// Eight rows' `sumf` (lanes) continued over the prepared activation blocks `prep`: the eight exact
/// block sums from one `hadd` tree (minus the shared bias), then `sumf += sumi * (d_w * d_x)` lane by
/// lane (the scalar twin's IEEE operations, in block order; the eight f16 scales converted by one
/// `vcvtph2ps`).
///
/// # Safety
///
/// Each `p[i]` must point to at least `prep.len()` blocks. AVX2/F16C must be enabled (cfg glmix_avx2).
#[inline(always)]
unsafe fn rows8<B: Widen>(p: [*const B; 8], prep: &[(B::X, __m256)], mut sumf: __m256) -> __m256 {
    // SAFETY: block `k < prep.len()` of each row is in range (the caller's contract); other loads are in
    // `Widen`'s methods; AVX2/F16C are enabled (the caller's contract).
    unsafe {
        let [p0, p1, p2, p3, p4, p5, p6, p7] = p;
        for (k, &(x, dx)) in prep.iter().enumerate() {
            let b = |q: *const B| &*q.add(k);
            let h01 = _mm256_hadd_epi32(b(p0).lanes(x), b(p1).lanes(x));
            let h23 = _mm256_hadd_epi32(b(p2).lanes(x), b(p3).lanes(x));
            let h45 = _mm256_hadd_epi32(b(p4).lanes(x), b(p5).lanes(x));
            let h67 = _mm256_hadd_epi32(b(p6).lanes(x), b(p7).lanes(x));
            // Lanes: rows 0..4 (first halves, then second halves), rows 4..8 likewise.
            let (h03, h47) = (_mm256_hadd_epi32(h01, h23), _mm256_hadd_epi32(h45, h67));
            let s = _mm256_add_epi32(
                _mm256_permute2x128_si256::<0x20>(h03, h47),
                _mm256_permute2x128_si256::<0x31>(h03, h47),
            );
            let sumi = _mm256_sub_epi32(s, B::bias(x));
            let h16 = |q: *const B| u16::from_le_bytes(b(q).d_bytes()) as i16;
            let dw = _mm256_cvtph_ps(_mm_setr_epi16(
                h16(p0),
                h16(p1),
                h16(p2),
                h16(p3),
                h16(p4),
                h16(p5),
                h16(p6),
                h16(p7),
            ));
            sumf = _mm256_add_ps(sumf, _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), _mm256_mul_ps(dw, dx)));
        }
        sumf
    }
}

/// Quantized (q8_0 or q4_0) matrix times q8_0 activations, eight rows at a time ([`rows8`]),
/// bit-identical to the scalar twin. The activation blocks are prepared ([`Widen::prep`], scale
/// converted) once per call, in chunks of [`PREP_CHUNK`] blocks shared by every row; `sumf` is carried
/// through `out` between chunks (exactly). The last `rows % 8` rows run as a group padded with copies
/// of its last row (only the real rows are stored). Rows outside the tensor's data (none for a valid
/// tensor) take the per-row kernel `dot`.
#[inline(always)]
fn matvec_quant<B: Widen>(
    w: &Tensor<'_>,
    xq: &[BlockQ8_0],
    out: &mut [f32],
    dot: impl Fn(&B, &BlockQ8_0) -> i32 + Copy,
) {
    let (data, rb) = (w.bytes(), w.row_bytes());
    // Rows `r < full` hold `rb / B::BYTES` blocks each (`w.row(r)` is `data[r * rb..][..rb]`).
    let full = data.len().checked_div(rb).unwrap_or(0).min(out.len());
    let nb = (rb / B::BYTES).min(xq.len());
    let (fast, rest) = out.split_at_mut(full);
    if nb == 0 {
        fast.fill(0.0);
    }
    let zero = BlockQ8_0::default();
    // SAFETY: register-only AVX operations; AVX is enabled at compile time (cfg glmix_avx2).
    let mut prep = [(B::prep(&zero), unsafe { _mm256_setzero_ps() }); PREP_CHUNK];
    for (c, xc) in xq.get(..nb).unwrap_or_default().chunks(PREP_CHUNK).enumerate() {
        for (p, bx) in prep.iter_mut().zip(xc) {
            // SAFETY: register-only AVX/F16C operations; enabled at compile time (cfg glmix_avx2).
            let dx = unsafe { _mm256_cvtph_ps(_mm_set1_epi16(u16::from_le_bytes(bx.d) as i16)) };
            *p = (B::prep(bx), dx);
        }
        let prep = prep.get(..xc.len()).unwrap_or_default();
        // Block `c * PREP_CHUNK` of row `r` (in `data` when `r < full`: the row's `rb / B::BYTES >= nb`
        // blocks lie in `data`, block types have alignment 1, and block `c * PREP_CHUNK + prep.len() <=
        // nb` ends inside the row).
        let row = |r: usize| data.as_ptr().wrapping_add(r * rb).cast::<B>().wrapping_add(c * PREP_CHUNK);
        let (groups, tail) = fast.as_chunks_mut::<8>();
        // Rows 0..8, then each group's rows advanced by eight rows. Opaque to the optimizer: eight base
        // registers and one shared block offset in `rows8`, instead of the row addresses recomputed
        // from `rb` every block.
        let mut p: [*const B; 8] =
            core::hint::black_box(core::array::from_fn(|i| row(0).wrapping_byte_add(i * rb)));
        for o in groups.iter_mut() {
            // One hint per group, at the first row of the group two ahead (any address is fine).
            // Interleaved rounds of 15M-shape generate on the 2-core AMD EPYC: 1.12-1.13x faster for
            // q8_0 and q4_0 than prefetching every line of that group (the former loop), which was no
            // faster than no hint at all; one hint per row measured like every line.
            let ahead = p[0].cast::<i8>().wrapping_add(16 * rb);
            // SAFETY: a prefetch hint never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead) };
            // SAFETY: `p` are rows `8 g + i < full` (`g` the group's index), which hold the blocks `rows8`
            // reads (see `row`); the load and store touch the 8 f32 of `o`. AVX2/F16C are enabled at
            // compile time (cfg glmix_avx2).
            unsafe {
                let sumf = if c == 0 { _mm256_setzero_ps() } else { _mm256_loadu_ps(o.as_ptr()) };
                _mm256_storeu_ps(o.as_mut_ptr(), rows8::<B>(p, prep, sumf));
            }
            p = p.map(|q| q.wrapping_byte_add(8 * rb));
        }
        if let Some(last) = tail.len().checked_sub(1) {
            let r0 = 8 * groups.len();
            let mut all = [0.0f32; 8];
            if c > 0 {
                all.iter_mut().zip(tail.iter()).for_each(|(a, o)| *a = *o);
            }
            // SAFETY: rows `r0 + i.min(last) < full` (see `row`); the load and store touch `all`.
            // AVX2/F16C are enabled at compile time (cfg glmix_avx2).
            unsafe {
                let p = core::array::from_fn(|i| row(r0 + i.min(last)));
                let sumf = rows8::<B>(p, prep, _mm256_loadu_ps(all.as_ptr()));
                _mm256_storeu_ps(all.as_mut_ptr(), sumf);
            }
            tail.iter_mut().zip(all).for_each(|(o, a)| *o = a);
        }
    }
    for (i, o) in rest.iter_mut().enumerate() {
        *o = generic::vec_dot_by(blocks_from_bytes::<B>(w.row(full + i)), xq, dot);
    }
}

/// q8_0 matrix times q8_0 activations, eight rows at a time (`matvec_quant`), bit-identical.
pub fn matvec_q8_0(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
    matvec_quant::<BlockQ8_0>(w, xq, out, block_dot_q8_0)
}

/// q4_0 matrix times q8_0 activations, eight rows at a time (`matvec_quant`), bit-identical.
pub fn matvec_q4_0(w: &Tensor<'_>, xq: &[BlockQ8_0], out: &mut [f32]) {
    matvec_quant::<BlockQ4_0>(w, xq, out, block_dot_q4_0)
}

/// Attention scores for head size 8, eight cached positions at a time: eight products `q * k_j`, then a
/// transposing `hadd` tree sums each (a reordered sum, like [`dot_f32`]; within the reordering bound
/// of the sequential twin). A tail of fewer than 8 positions, and out-of-range records, take the twin.
pub fn gather_scores8(q: &[f32; 8], recs: Records<'_>, scale: f32, out: &mut [f32]) {
    let n = recs.list().len().min(out.len());
    if !recs.all_in_range(8) {
        return generic::gather_scores_n(q, recs, scale, out);
    }
    let list = recs.list().get(..n).unwrap_or_default();
    let out = out.get_mut(..n).unwrap_or_default();
    let ((s8, _), (o8, o_tail)) = (list.as_chunks::<8>(), out.as_chunks_mut::<8>());
    // SAFETY: every record `buf[slot * stride + offset..][..8]` is in range (checked above), so each
    // unaligned 8-lane load stays inside `buf`; stores write one `[f32; 8]` chunk of `out`.
    // AVX2 is enabled at compile time (cfg glmix_avx2).
    unsafe {
        let qv = _mm256_loadu_ps(q.as_ptr());
        let sv = _mm256_set1_ps(scale);
        let (base, stride) = (recs.base(), recs.stride);
        let p = |s: u32| _mm256_mul_ps(qv, _mm256_loadu_ps(base.add(s as usize * stride)));
        for (s, o) in s8.iter().zip(o8) {
            let a01 = _mm256_hadd_ps(p(s[0]), p(s[1]));
            let a23 = _mm256_hadd_ps(p(s[2]), p(s[3]));
            let a45 = _mm256_hadd_ps(p(s[4]), p(s[5]));
            let a67 = _mm256_hadd_ps(p(s[6]), p(s[7]));
            let b0 = _mm256_hadd_ps(a01, a23);
            let b1 = _mm256_hadd_ps(a45, a67);
            let lo = _mm256_permute2f128_ps::<0x20>(b0, b1);
            let hi = _mm256_permute2f128_ps::<0x31>(b0, b1);
            _mm256_storeu_ps(o.as_mut_ptr(), _mm256_div_ps(_mm256_add_ps(lo, hi), sv));
        }
    }
    generic::gather_scores_n(q, recs.tail(8 * s8.len()), scale, o_tail);
}

/// Weighted sum of cached records for head size 8, `generic::gather_axpy_n` bit for bit: the
/// accumulator is one vector, each record one load, `acc + w * rec` unfused (the twin's lane
/// operations). Out-of-range records take the twin.
pub fn gather_axpy8(o: &mut [f32; 8], weights: &[f32], recs: Records<'_>) {
    if !recs.all_in_range(8) {
        return generic::gather_axpy_n(o, weights, recs);
    }
    // SAFETY: every record `buf[slot * stride + offset..][..8]` is in range (checked above), so each
    // unaligned 8-lane load stays inside `buf`; `o` is 8 f32. AVX2 is enabled at compile time.
    unsafe {
        let (base, stride) = (recs.base(), recs.stride);
        let mut acc = _mm256_loadu_ps(o.as_ptr());
        for (&a, &s) in weights.iter().zip(recs.list()) {
            let rec = _mm256_loadu_ps(base.add(s as usize * stride));
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(a), rec));
        }
        _mm256_storeu_ps(o.as_mut_ptr(), acc);
    }
}

/// Weighted sum of cached records for head sizes 16, 24, ..., 64 (`o.len()` a multiple of 8),
/// [`generic::gather_axpy`] bit for bit: the accumulator in up to eight vectors, per record one load,
/// multiply and (unfused) add per vector. Returns false for other sizes and out-of-range records.
pub fn gather_axpy_wide(o: &mut [f32], weights: &[f32], recs: Records<'_>) -> bool {
    let lanes = o.len() / 8;
    if !o.len().is_multiple_of(8) || !(2..=8).contains(&lanes) || !recs.all_in_range(o.len()) {
        return false;
    }
    // SAFETY: every record `buf[slot * stride + offset..][..o.len()]` is in range (checked above), so
    // the `lanes` unaligned 8-lane loads of each stay inside `buf`; `o` holds `8 * lanes` f32. AVX2 is
    // enabled at compile time (cfg glmix_avx2).
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 8];
        for (k, a) in acc.iter_mut().take(lanes).enumerate() {
            *a = _mm256_loadu_ps(o.as_ptr().add(8 * k));
        }
        let (base, stride) = (recs.base(), recs.stride);
        for (&w, &s) in weights.iter().zip(recs.list()) {
            let rec = base.add(s as usize * stride);
            let wv = _mm256_set1_ps(w);
            for (k, a) in acc.iter_mut().take(lanes).enumerate() {
                *a = _mm256_add_ps(*a, _mm256_mul_ps(wv, _mm256_loadu_ps(rec.add(8 * k))));
            }
        }
        for (k, a) in acc.iter().take(lanes).enumerate() {
            _mm256_storeu_ps(o.as_mut_ptr().add(8 * k), *a);
        }
    }
    true
}

/// Softmax, [`generic::softmax`] bit for bit: the maximum 8 lanes at a time (`MAXPS` returns its
/// second operand, the running maximum, when either is NaN: a NaN never wins, as in the twin's
/// `v > max`; the lanes may settle on another zero's sign than the twin, which no `expf(x - max)`
/// can tell apart), the exponentials and their in-order sum in one pass (`exp_shifted_sum`), the
/// divisions 8 at a time.
pub fn softmax(x: &mut [f32]) {
    let Some(&first) = x.first() else {
        return;
    };
    let (chunks, rest) = x.as_chunks::<8>();
    let mut max = first;
    if !chunks.is_empty() {
        let mut lanes = [0.0f32; 8];
        // SAFETY: each load reads one `[f32; 8]` chunk, the store writes `lanes`; AVX2 is enabled at
        // compile time (cfg glmix_avx2).
        unsafe {
            let mut acc = _mm256_set1_ps(first);
            for c in chunks {
                acc = _mm256_max_ps(_mm256_loadu_ps(c.as_ptr()), acc);
            }
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        }
        for v in lanes {
            if v > max {
                max = v;
            }
        }
    }
    for &v in rest {
        if v > max {
            max = v;
        }
    }
    let sum = exp_shifted_sum(x, max);
    let (chunks, rest) = x.as_chunks_mut::<8>();
    // SAFETY: each load and store touches one `[f32; 8]` chunk; AVX2 is enabled at compile time.
    unsafe {
        let d = _mm256_set1_ps(sum);
        for c in chunks {
            _mm256_storeu_ps(c.as_mut_ptr(), _mm256_div_ps(_mm256_loadu_ps(c.as_ptr()), d));
        }
    }
    for v in rest {
        *v /= sum;
    }
}

/// `x[i] = expf(x[i] - shift)`, 8 lanes at a time; bit-identical to the scalar twin.
pub fn exp_shifted(x: &mut [f32], shift: f32) {
    let mut chunks = x.chunks_exact_mut(8);
    // SAFETY: each load/store touches the 8 f32 of one `chunks_exact_mut(8)` chunk; AVX2 is enabled at
    // compile time (cfg glmix_avx2).
    unsafe {
        let s = _mm256_set1_ps(shift);
        for c in &mut chunks {
            let v = exp8(_mm256_sub_ps(_mm256_loadu_ps(c.as_ptr()), s));
            _mm256_storeu_ps(c.as_mut_ptr(), v);
        }
    }
    generic::exp_shifted(chunks.into_remainder(), shift);
}

/// [`exp_shifted`] and the in-order sum of the results (`sum += x[i]` for ascending `i`, the twin's
/// order) in one pass. The additions of a chunk, read back from memory, trail its exponentials by one
/// chunk: the chain of dependent additions overlaps the next chunk's exponentials (softmax of 256
/// scores: 441 ns against 528 ns for two passes, `cargo bench -p glmix-benches --bench kernels`).
fn exp_shifted_sum(x: &mut [f32], shift: f32) -> f32 {
    let (chunks, rest) = x.as_chunks_mut::<8>();
    let mut sum = 0.0f32;
    for i in 0..chunks.len() {
        if let Some(c) = chunks.get_mut(i) {
            // SAFETY: the load and store touch the 8 f32 of `c`; AVX2 is enabled at compile time (cfg
            // glmix_avx2).
            unsafe {
                let v = exp8(_mm256_sub_ps(_mm256_loadu_ps(c.as_ptr()), _mm256_set1_ps(shift)));
                _mm256_storeu_ps(c.as_mut_ptr(), v);
            }
        }
        if let Some(prev) = i.checked_sub(1).and_then(|p| chunks.get(p)) {
            sum = prev.iter().fold(sum, |s, &e| s + e);
        }
    }
    sum = chunks.last().map_or(sum, |c| c.iter().fold(sum, |s, &e| s + e));
    generic::exp_shifted(rest, shift);
    rest.iter().fold(sum, |s, &e| s + e)
}

/// SwiGLU `h1[i] = silu(h1[i]) * h3[i]`, 8 lanes at a time; bit-identical to the scalar twin.
pub fn swiglu(h1: &mut [f32], h3: &[f32]) {
    let n = h1.len().min(h3.len());
    let (h1, h3) = (h1.get_mut(..n).unwrap_or_default(), h3.get(..n).unwrap_or_default());
    let mut c1 = h1.chunks_exact_mut(8);
    let mut c3 = h3.chunks_exact(8);
    // SAFETY: loads and stores touch the 8 f32 of one `chunks_exact(8)` chunk of each slice; AVX2 is
    // enabled at compile time (cfg glmix_avx2).
    unsafe {
        let one = _mm256_set1_ps(1.0);
        for (a, b) in (&mut c1).zip(&mut c3) {
            let x = _mm256_loadu_ps(a.as_ptr());
            let e = exp8(_mm256_xor_ps(x, _mm256_set1_ps(-0.0)));
            let sig = _mm256_div_ps(one, _mm256_add_ps(one, e));
            let v = _mm256_mul_ps(_mm256_mul_ps(x, sig), _mm256_loadu_ps(b.as_ptr()));
            _mm256_storeu_ps(a.as_mut_ptr(), v);
        }
    }
    generic::swiglu(c1.into_remainder(), c3.remainder());
}

/// [`crate::quant::quantize_row_q8_0`] block for block: full blocks of 32 in four vectors (`amax` by
/// `MAXPS`, which like the scalar `a > amax` ignores NaN; the scalar `d` and `1 / d`; `roundf` as the
/// twin's `trunc(t + copysign(0.49999997, t))`; NaN lanes 0 as Rust's `as i8`), a partial or missing
/// block by the twin.
pub fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    let mut chunks = x.chunks(QK);
    for b in out.iter_mut() {
        let chunk = chunks.next().unwrap_or_default();
        let Ok(c) = <&[f32; QK]>::try_from(chunk) else {
            *b = BlockQ8_0::quantize(chunk);
            continue;
        };
        // SAFETY: the loads read the 32 f32 of `c` (four unaligned 8-lane loads), the stores write the
        // 8 f32 of `lanes` and the 32 bytes of `b.qs`; AVX2 is enabled at compile time (cfg glmix_avx2).
        unsafe {
            let v: [__m256; 4] = core::array::from_fn(|k| _mm256_loadu_ps(c.as_ptr().add(8 * k)));
            let sign = _mm256_set1_ps(-0.0);
            let m = v.iter().fold(_mm256_setzero_ps(), |m, &v| _mm256_max_ps(_mm256_andnot_ps(sign, v), m));
            let mut lanes = [0.0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), m);
            let amax = lanes.iter().fold(0.0f32, |a, &l| if l > a { l } else { a });
            let d = amax / 127.0;
            let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
            let half = _mm256_set1_ps(0.499_999_97);
            let q = v.map(|v| {
                let t = _mm256_mul_ps(v, id);
                let r = _mm256_add_ps(t, _mm256_or_ps(half, _mm256_and_ps(t, sign)));
                let nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(r, r));
                _mm256_andnot_si256(nan, _mm256_cvttps_epi32(r))
            });
            // |q| <= 127: the saturating packs are exact; they interleave 4-lane groups, which the
            // permute puts back in order.
            let packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(b.qs.as_mut_ptr().cast(), ordered);
            b.d = half::f16::from_f32(d).to_le_bytes();
        }
    }
}

/// Sum of the 8 f32 lanes of a `__m256` (a macro, to be used inside a kernel's `unsafe` block).
macro_rules! hsum_ps {
    ($v:expr) => {{
        let v: __m256 = $v;
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }};
}

/// Sum of the 8 i32 lanes of a `__m256i` (exact: block sums are far below `i32::MAX`).
macro_rules! hsum_epi32 {
    ($v:expr) => {{
        let v: __m256i = $v;
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }};
}

/// `sum a[i] b[i]` over the common prefix; 4 x 8 FMA accumulators (2 x 16 with AVX-512 F, the same
/// bits).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (a.get(..n).unwrap_or_default(), b.get(..n).unwrap_or_default());
    let (a32, b32) = (a.chunks_exact(32), b.chunks_exact(32));
    let (a8, b8) = (a32.remainder().chunks_exact(8), b32.remainder().chunks_exact(8));
    let (a1, b1) = (a8.remainder(), b8.remainder());
    // SAFETY: every load reads 8 f32 at offsets 0, 8, 16, 24 (or 16 f32 at 0, 16) of a
    // `chunks_exact(32)` chunk or 8 f32 at 0 of a `chunks_exact(8)` chunk, so inside the slice
    // (unaligned loads); AVX2/FMA (and AVX-512 F where used) are enabled at compile time.
    let mut sum = unsafe {
        // With AVX-512 F the four 8-lane accumulators are the halves of two 16-lane ones: the same
        // operations lane by lane (so the same bits), in half the loads and FMAs.
        #[cfg(target_feature = "avx512f")]
        let mut acc = {
            let (mut z0, mut z1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
            for (ca, cb) in a32.zip(b32) {
                z0 = _mm512_fmadd_ps(_mm512_loadu_ps(ca.as_ptr()), _mm512_loadu_ps(cb.as_ptr()), z0);
                let (a16, b16) = (ca.as_ptr().add(16), cb.as_ptr().add(16));
                z1 = _mm512_fmadd_ps(_mm512_loadu_ps(a16), _mm512_loadu_ps(b16), z1);
            }
            let hi = |z: __m512| _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(z)));
            [_mm512_castps512_ps256(z0), hi(z0), _mm512_castps512_ps256(z1), hi(z1)]
        };
        #[cfg(not(target_feature = "avx512f"))]
        let mut acc = {
            let mut acc = [_mm256_setzero_ps(); 4];
            for (ca, cb) in a32.zip(b32) {
                for (k, acc) in acc.iter_mut().enumerate() {
                    let va = _mm256_loadu_ps(ca.as_ptr().add(8 * k));
                    let vb = _mm256_loadu_ps(cb.as_ptr().add(8 * k));
                    *acc = _mm256_fmadd_ps(va, vb, *acc);
                }
            }
            acc
        };
        for (ca, cb) in a8.zip(b8) {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(ca.as_ptr()), _mm256_loadu_ps(cb.as_ptr()), acc[0]);
        }
        hsum_ps!(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]),))
    };
    for (&x, &y) in a1.iter().zip(b1) {
        sum += x * y;
    }
    sum
}

/// A half-precision weight format: 16 values (32 bytes) widened to f32, and the scalar twin's dot for
/// a tail.
trait Half {
    /// The 8 values at `p` (16 bytes) as f32.
    ///
    /// # Safety
    ///
    /// `p` must be readable for 16 bytes; the features of cfg glmix_avx2 must be enabled.
    #[cfg(not(target_feature = "avx512f"))]
    unsafe fn widen8(p: *const u8) -> __m256;
    /// The 16 values at `p` (32 bytes) as f32: [`Half::widen8`] of `p` and of `p + 16`, side by side.
    ///
    /// # Safety
    ///
    /// `p` must be readable for 32 bytes; AVX-512 F must be enabled.
    #[cfg(target_feature = "avx512f")]
    unsafe fn widen16(p: *const u8) -> __m512;
    /// The scalar twin's dot of row bytes and `x`.
    fn tail(w: &[u8], x: &[f32]) -> f32;
}

/// IEEE half precision (F16C `vcvtph2ps`, exact).
struct F16;
/// bfloat16 (the upper half of an f32: a 16-bit shift, exact).
struct Bf16;

impl Half for F16 {
    #[cfg(not(target_feature = "avx512f"))]
    #[inline(always)]
    unsafe fn widen8(p: *const u8) -> __m256 {
        // SAFETY: 16 readable bytes (the caller's contract); F16C enabled (cfg glmix_avx2).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
    #[cfg(target_feature = "avx512f")]
    #[inline(always)]
    unsafe fn widen16(p: *const u8) -> __m512 {
        // SAFETY: 32 readable bytes (the caller's contract); AVX-512 F enabled (cfg).
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
    #[inline(always)]
    fn tail(w: &[u8], x: &[f32]) -> f32 {
        generic::dot_f16(w, x)
    }
}

impl Half for Bf16 {
    #[cfg(not(target_feature = "avx512f"))]
    #[inline(always)]
    unsafe fn widen8(p: *const u8) -> __m256 {
        // SAFETY: 16 readable bytes (the caller's contract); AVX2 enabled (cfg glmix_avx2).
        unsafe {
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast()))))
        }
    }
    #[cfg(target_feature = "avx512f")]
    #[inline(always)]
    unsafe fn widen16(p: *const u8) -> __m512 {
        // SAFETY: 32 readable bytes (the caller's contract); AVX-512 F enabled (cfg).
        unsafe {
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast()))))
        }
    }
    #[inline(always)]
    fn tail(w: &[u8], x: &[f32]) -> f32 {
        generic::dot_bf16(w, x)
    }
}

/// The half-precision dot of `R` rows (`p[i]`: row bytes) with `x` over the first `body` columns (a
/// multiple of 16), each row its own two 8-lane FMA accumulators (columns `16k..16k+8` and
/// `16k+8..16k+16`), summed `hsum(acc0 + acc1)`; the loads of `x` are shared by the rows. With AVX-512 F
/// the two accumulators of a row are the two halves of one 16-lane accumulator: the same operations
/// lane by lane, so the same bits, in half the instructions.
///
/// # Safety
///
/// Each `p[i]` must be readable for `2 * body` bytes and `x` for `body` f32; the features of cfg
/// glmix_avx2 must be enabled.
#[inline(always)]
unsafe fn half_sums<H: Half, const R: usize>(p: [*const u8; R], x: *const f32, body: usize) -> [f32; R] {
    // SAFETY: every load is at column `c + 16 <= body` (the caller's contract); features as stated.
    unsafe {
        #[cfg(target_feature = "avx512f")]
        {
            let mut acc = [_mm512_setzero_ps(); R];
            let mut c = 0;
            while c < body {
                let xv = _mm512_loadu_ps(x.add(c));
                for (a, &q) in acc.iter_mut().zip(&p) {
                    *a = _mm512_fmadd_ps(H::widen16(q.add(2 * c)), xv, *a);
                }
                c += 16;
            }
            acc.map(|a| {
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(a)));
                hsum_ps!(_mm256_add_ps(_mm512_castps512_ps256(a), hi))
            })
        }
        #[cfg(not(target_feature = "avx512f"))]
        {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            let mut c = 0;
            while c < body {
                let (x0, x1) = (_mm256_loadu_ps(x.add(c)), _mm256_loadu_ps(x.add(c + 8)));
                for (a, &q) in acc.iter_mut().zip(&p) {
                    a[0] = _mm256_fmadd_ps(H::widen8(q.add(2 * c)), x0, a[0]);
                    a[1] = _mm256_fmadd_ps(H::widen8(q.add(2 * c + 16)), x1, a[1]);
                }
                c += 16;
            }
            acc.map(|[a0, a1]| hsum_ps!(_mm256_add_ps(a0, a1)))
        }
    }
}

/// Half-precision row bytes times `x` over the common prefix: [`half_sums`] over the multiple of 16
/// columns, plus the scalar twin's dot of the rest.
#[inline(always)]
fn dot_half<H: Half>(w: &[u8], x: &[f32]) -> f32 {
    let n = (w.len() / 2).min(x.len());
    let body = n - n % 16;
    let (wt, xt) = (w.get(2 * body..2 * n).unwrap_or_default(), x.get(body..n).unwrap_or_default());
    // SAFETY: `w` holds `2 n >= 2 body` bytes and `x` `n >= body` f32; cfg glmix_avx2.
    let [sum] = unsafe { half_sums::<H, 1>([w.as_ptr()], x.as_ptr(), body) };
    sum + H::tail(wt, xt)
}

/// Half-precision matrix times `x`, four rows at a time sharing each load of `x`: `out[r]` is
/// [`dot_half`] of row `r` bit for bit (each row's sum is computed alone, so any grouping or split of
/// the rows gives the same bits); the last `rows % 4` rows, and rows outside the data (none for a
/// valid tensor), take [`dot_half`] itself.
fn matvec_half<H: Half>(w: &Tensor<'_>, x: &[f32], out: &mut [f32]) {
    let (data, rb) = (w.bytes(), w.row_bytes());
    let full = data.len().checked_div(rb).unwrap_or(0).min(out.len());
    let n = (rb / 2).min(x.len());
    let body = n - n % 16;
    let xt = x.get(body..n).unwrap_or_default();
    let (quads, _) = out.get_mut(..full).unwrap_or_default().as_chunks_mut::<4>();
    let done = 4 * quads.len();
    for (q, o) in quads.iter_mut().enumerate() {
        let p: [*const u8; 4] = core::array::from_fn(|i| data.as_ptr().wrapping_add((4 * q + i) * rb));
        // SAFETY: rows `4 q + i < full` lie in `data` (`rb >= 2 n >= 2 body` bytes each) and `x` holds
        // `n >= body` f32; cfg glmix_avx2.
        let sums = unsafe { half_sums::<H, 4>(p, x.as_ptr(), body) };
        for (i, (o, s)) in o.iter_mut().zip(sums).enumerate() {
            let row = w.row(4 * q + i);
            *o = s + H::tail(row.get(2 * body..2 * n).unwrap_or_default(), xt);
        }
    }
    for (r, o) in out.iter_mut().enumerate().skip(done) {
        *o = dot_half::<H>(w.row(r), x);
    }
}

/// f16 row bytes times `x` over the common prefix (F16C conversion, 2 x 8 FMA accumulators, or one
/// 16-lane accumulator with AVX-512 F: the same bits).
pub fn dot_f16(w: &[u8], x: &[f32]) -> f32 {
    dot_half::<F16>(w, x)
}

/// bf16 row bytes times `x` over the common prefix (bf16 -> f32 is a 16-bit shift; accumulators as in
/// [`dot_f16`]).
pub fn dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    dot_half::<Bf16>(w, x)
}

/// f16 matrix times `x`, four rows at a time (`matvec_half`); row `r` is [`dot_f16`] bit for bit.
pub fn matvec_f16(w: &Tensor<'_>, x: &[f32], out: &mut [f32]) {
    matvec_half::<F16>(w, x, out)
}

/// bf16 matrix times `x`, four rows at a time (`matvec_half`); row `r` is [`dot_bf16`] bit for bit.
pub fn matvec_bf16(w: &Tensor<'_>, x: &[f32], out: &mut [f32]) {
    matvec_half::<Bf16>(w, x, out)
}

/// `y[i] += a * x[i]` over the common prefix; multiply then add (no FMA), as the scalar twin.
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let (y, x) = (y.get_mut(..n).unwrap_or_default(), x.get(..n).unwrap_or_default());
    let mut y8 = y.chunks_exact_mut(8);
    let mut x8 = x.chunks_exact(8);
    // SAFETY: each load/store touches 8 f32 at offset 0 of a `chunks_exact(8)` chunk (unaligned);
    // AVX enabled at compile time (cfg glmix_avx2).
    unsafe {
        let va = _mm256_set1_ps(a);
        for (cy, cx) in (&mut y8).zip(&mut x8) {
            let p = _mm256_mul_ps(va, _mm256_loadu_ps(cx.as_ptr()));
            _mm256_storeu_ps(cy.as_mut_ptr(), _mm256_add_ps(_mm256_loadu_ps(cy.as_ptr()), p));
        }
    }
    generic::axpy(y8.into_remainder(), a, x8.remainder());
}

/// Exact `sum_j w.qs[j] * x.qs[j]` of two q8_0 blocks (`vpmaddubsw` on `|x|` and the weights with
/// `x`'s signs folded in; see the q8_0 `Widen` implementation).
#[inline(always)]
pub fn block_dot_q8_0(w: &BlockQ8_0, x: &BlockQ8_0) -> i32 {
    let x = BlockQ8_0::prep(x);
    let v = w.lanes(x);
    // SAFETY: register-only AVX2 operations; AVX2 is enabled at compile time (cfg glmix_avx2).
    unsafe { hsum_epi32!(v) - _mm256_cvtsi256_si32(BlockQ8_0::bias(x)) }
}

/// Exact `sum_j (nibble_j - 8) * x.qs[j]` of a q4_0 block and a q8_0 block (`vpmaddubsw` on the
/// nibbles, minus `8 sum x`; see the q4_0 `Widen` implementation).
#[inline(always)]
pub fn block_dot_q4_0(w: &BlockQ4_0, x: &BlockQ8_0) -> i32 {
    let x = BlockQ4_0::prep(x);
    let v = w.lanes(x);
    // SAFETY: register-only AVX2 operations; AVX2 is enabled at compile time (cfg glmix_avx2).
    unsafe { hsum_epi32!(v) - _mm256_cvtsi256_si32(BlockQ4_0::bias(x)) }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::testutil::{encode, reorder_tolerance, Rng};
    use super::*;
    use crate::tensor::DType;
    use std::vec;
    use std::vec::Vec;

    /// The stories15M matrix shapes (rows x cols), beside the conformance suite's awkward lengths.
    const SHAPES_15M: [(usize, usize); 4] = [(288, 288), (768, 288), (288, 768), (32000, 288)];

    /// f16 and bf16 matrices at awkward lengths and the stories15M shapes, at byte offsets 0 and 2
    /// (rows need not be 4-byte aligned), `out` longer than the matrix (untouched past the rows): every row is the row's dot
    /// ([`dot_f16`] / [`dot_bf16`]) bit for bit, and within the reordering bound of the scalar twin.
    #[test]
    fn half_matvecs_rows_are_their_dots() {
        let mut rng = Rng(61);
        let lengths = [1usize, 15, 16, 17, 31, 33, 172, 4097];
        let shapes = lengths.map(|n| (5, n)).into_iter().chain(lengths.map(|n| (n.min(300), 17)));
        for (k, (rows, cols)) in shapes.chain(SHAPES_15M).enumerate() {
            let data: Vec<Vec<f32>> = (0..rows).map(|_| rng.vec(cols)).collect();
            let x = rng.vec(cols + 1);
            for dtype in [DType::F16, DType::BF16] {
                let enc = encode(dtype, &data, cols);
                let off = 2 * (k % 2);
                let mut bytes = vec![0u8; off];
                bytes.extend_from_slice(enc.bytes());
                let w = Tensor::new(dtype, rows, cols, &bytes[off..]).expect("valid tensor");
                let mut got = vec![f32::NAN; rows + 2];
                super::super::matvec_with::<Avx2>(&w, &x, &[], &mut got);
                assert!(got[rows..].iter().all(|g| g.is_nan()), "{rows}x{cols}: wrote past the rows");
                for (r, g) in got[..rows].iter().enumerate() {
                    let row = w.row(r);
                    let (dot, twin) = match dtype {
                        DType::F16 => (dot_f16(row, &x), generic::dot_f16(row, &x)),
                        _ => (dot_bf16(row, &x), generic::dot_bf16(row, &x)),
                    };
                    let name = dtype.name();
                    assert_eq!(g.to_bits(), dot.to_bits(), "{name} {rows}x{cols} row {r}");
                    let wf: Vec<f32> = (0..row.len() / 2)
                        .map(|c| {
                            let h = u16::from_le_bytes([row[2 * c], row[2 * c + 1]]);
                            match dtype {
                                DType::F16 => half::f16::from_bits(h).to_f32(),
                                _ => f32::from_bits(u32::from(h) << 16),
                            }
                        })
                        .collect();
                    assert!((g - twin).abs() <= reorder_tolerance(&wf, &x), "{name} {rows}x{cols} row {r}");
                }
            }
        }
    }

    /// With AVX-512 F, [`dot_f32`], [`dot_f16`] and [`dot_bf16`] give the bits of the 8-lane AVX2 loops
    /// they replace (written out here, as compiled without `avx512f`), at lengths around every chunk
    /// size and the stories15M row lengths, on wide-range values (where a different order would show).
    #[cfg(target_feature = "avx512f")]
    #[test]
    fn avx512_dots_give_the_avx2_bits() {
        fn f32_ymm(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (a32, b32) = (a[..n].chunks_exact(32), b[..n].chunks_exact(32));
            let (a8, b8) = (a32.remainder().chunks_exact(8), b32.remainder().chunks_exact(8));
            let (a1, b1) = (a8.remainder(), b8.remainder());
            // SAFETY: unaligned loads inside `chunks_exact` chunks; AVX2/FMA enabled (cfg glmix_avx2).
            let mut sum = unsafe {
                let mut acc = [_mm256_setzero_ps(); 4];
                for (ca, cb) in a32.zip(b32) {
                    for (k, acc) in acc.iter_mut().enumerate() {
                        let (va, vb) = (
                            _mm256_loadu_ps(ca.as_ptr().add(8 * k)),
                            _mm256_loadu_ps(cb.as_ptr().add(8 * k)),
                        );
                        *acc = _mm256_fmadd_ps(va, vb, *acc);
                    }
                }
                for (ca, cb) in a8.zip(b8) {
                    acc[0] =
                        _mm256_fmadd_ps(_mm256_loadu_ps(ca.as_ptr()), _mm256_loadu_ps(cb.as_ptr()), acc[0]);
                }
                hsum_ps!(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])))
            };
            for (&x, &y) in a1.iter().zip(b1) {
                sum += x * y;
            }
            sum
        }
        fn half_ymm(w: &[u8], x: &[f32], bf16: bool) -> f32 {
            let n = (w.len() / 2).min(x.len());
            let (w16, x16) = (w[..2 * n].chunks_exact(32), x[..n].chunks_exact(16));
            let (wt, xt) = (w16.remainder(), x16.remainder());
            // SAFETY: unaligned loads inside `chunks_exact` chunks; AVX2/FMA/F16C enabled (cfg glmix_avx2).
            let sum = unsafe {
                let widen = |p: *const u8| {
                    let h = _mm_loadu_si128(p.cast());
                    if bf16 {
                        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
                    } else {
                        _mm256_cvtph_ps(h)
                    }
                };
                let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                for (cw, cx) in w16.zip(x16) {
                    acc0 = _mm256_fmadd_ps(widen(cw.as_ptr()), _mm256_loadu_ps(cx.as_ptr()), acc0);
                    acc1 = _mm256_fmadd_ps(
                        widen(cw.as_ptr().add(16)),
                        _mm256_loadu_ps(cx.as_ptr().add(8)),
                        acc1,
                    );
                }
                hsum_ps!(_mm256_add_ps(acc0, acc1))
            };
            sum + if bf16 { generic::dot_bf16(wt, xt) } else { generic::dot_f16(wt, xt) }
        }
        let mut rng = Rng(512);
        for n in [1usize, 7, 8, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 172, 288, 768, 4097] {
            // Magnitudes 2^-20..2^20: sums that round differently in any other order.
            let mut wide = |n: usize| -> Vec<f32> {
                (0..n).map(|_| rng.f32() * f32::from_bits((rng.next() % 41 + 107) << 23)).collect()
            };
            let (a, b) = (wide(n), wide(n));
            assert_eq!(dot_f32(&a, &b).to_bits(), f32_ymm(&a, &b).to_bits(), "f32 n {n}");
            let f16: Vec<u8> = a.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
            let bf: Vec<u8> = a.iter().flat_map(|&v| ((v.to_bits() >> 16) as u16).to_le_bytes()).collect();
            assert_eq!(dot_f16(&f16, &b).to_bits(), half_ymm(&f16, &b, false).to_bits(), "f16 n {n}");
            assert_eq!(dot_bf16(&bf, &b).to_bits(), half_ymm(&bf, &b, true).to_bits(), "bf16 n {n}");
        }
    }

    /// q8_0 and q4_0 matrices at the stories15M shapes (and a few row counts around the groups of
    /// eight): every row the scalar twin's bits (the conformance suite's shapes stop at 33 rows).
    #[test]
    fn quant_matvecs_equal_twin_at_15m_shapes() {
        let mut rng = Rng(16);
        for (rows, cols) in SHAPES_15M.into_iter().chain([(1, 4097), (9, 33), (15, 172), (17, 31)]) {
            let x = rng.vec(cols);
            let mut xq = vec![BlockQ8_0::default(); cols.div_ceil(QK)];
            crate::quant::quantize_row_q8_0(&x, &mut xq);
            let data: Vec<Vec<f32>> = (0..rows).map(|_| rng.vec(cols)).collect();
            for dtype in [DType::Q8_0, DType::Q4_0] {
                let enc = encode(dtype, &data, cols);
                let w = enc.tensor();
                let (mut got, mut want) = (vec![f32::NAN; rows + 1], vec![f32::NAN; rows + 1]);
                super::super::matvec_with::<Avx2>(&w, &x, &xq, &mut got);
                generic::matvec(&w, &x, &xq, &mut want);
                for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "{} {rows}x{cols} row {r}", dtype.name());
                }
            }
        }
    }

    /// Each row is within the reordering bound of the scalar twin (and `dot_f32` of the row bit for
    /// bit from `QUAD_COLS` columns on: what lets [`crate::parallel`] split the rows anywhere), at
    /// awkward lengths and the stories15M shapes, with `out` longer than the matrix (rows past the end
    /// of `data` are empty: 0). The shared conformance suite covers the other kernels.
    #[test]
    fn matvec_f32_rows_are_dot_f32() {
        let mut rng = Rng(22);
        let lengths = [0usize, 1, 7, 8, 9, 31, 32, 33, 64, 255, 256, 257, 300];
        let shapes = lengths.map(|n| (3, n)).into_iter().chain(lengths.map(|n| (n, 5)));
        for (rows, cols) in shapes.chain([(288, 288), (768, 288), (288, 768), (32000, 288)]) {
            let (w, x) = (rng.vec(rows * cols), rng.vec(cols + 1));
            let mut got = vec![f32::NAN; rows + 2];
            matvec_f32(&w, cols, &x, &mut got);
            for (r, g) in got.iter().enumerate() {
                let row = w.get(r * cols..(r + 1) * cols).unwrap_or_default();
                if cols >= QUAD_COLS {
                    assert_eq!(g.to_bits(), dot_f32(row, &x).to_bits(), "{rows}x{cols} row {r}");
                }
                let want = generic::dot_f32(row, &x);
                assert!((g - want).abs() <= reorder_tolerance(row, &x), "{rows}x{cols} row {r}");
            }
        }
    }
}
