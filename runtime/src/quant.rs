//! ggml's quantized block formats, bit for bit: the contract between the host tool and the runtime.
//!
//! A block holds [`QK`] = 32 consecutive elements of one row and an f16 scale `d`, stored as two
//! little-endian bytes so that every block has alignment 1 and can be read in place from any offset of
//! a model file:
//!
//! | block | bytes | element `j` |
//! |---|---|---|
//! | [`BlockQ8_0`] | 2 + 32 = 34 | `d * qs[j]` |
//! | [`BlockQ4_0`] | 2 + 16 = 18 | `d * ((qs[j] & 0xF) - 8)` for `j < 16`, `d * ((qs[j-16] >> 4) - 8)` above |
//!
//! The quantizers are ggml's reference ones (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`), same
//! arithmetic and rounding, so a file written here matches one written by ggml. A row whose length is
//! not a multiple of 32 is quantized as if padded with zeros: its last block is whole and its padding
//! elements decode to zero, so dot products over the padded row equal those over the real row.
//!
//! Activations are quantized once per matvec input with [`quantize_row_q8_0`]; a weight block's dot
//! with an activation block is an exact integer sum times `d_w * d_x` ([`QuantBlock::dot_i32`]).

use crate::math::fabsf;
use crate::tensor::{DType, QK};
use half::f16;

/// ggml's `block_q8_0`: 32 int8 values and their f16 scale (34 bytes, alignment 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlockQ8_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Quantized values; element `j` is `d * qs[j]`.
    pub qs: [i8; QK],
}

/// ggml's `block_q4_0`: 32 4-bit values and their f16 scale (18 bytes, alignment 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlockQ4_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Nibbles: element `j` is the low nibble of `qs[j]`, element `j + 16` its high nibble;
    /// value `d * (nibble - 8)`.
    pub qs: [u8; QK / 2],
}

const _: () = assert!(core::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(core::mem::align_of::<BlockQ8_0>() == 1);
const _: () = assert!(core::mem::size_of::<BlockQ4_0>() == 18);
const _: () = assert!(core::mem::align_of::<BlockQ4_0>() == 1);

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::BlockQ8_0 {}
    impl Sealed for super::BlockQ4_0 {}
}

/// A quantized block type (sealed: [`BlockQ8_0`], [`BlockQ4_0`]).
///
/// Implementors are plain bytes: `repr(C)`, alignment 1, no padding, every bit pattern valid. That is
/// what makes [`blocks_from_bytes`] sound.
pub trait QuantBlock: sealed::Sealed + Copy + Default + 'static {
    /// The tensor dtype stored as these blocks.
    const DTYPE: DType;
    /// Size in bytes (`size_of::<Self>()`).
    const BYTES: usize = core::mem::size_of::<Self>();

    /// The scale as f32.
    fn d(&self) -> f32;

    /// Quantizes up to 32 values (missing ones count as zero), with ggml's reference rounding.
    fn quantize(x: &[f32]) -> Self;

    /// Writes the first `min(out.len(), 32)` values of the block.
    fn dequantize(&self, out: &mut [f32]);

    /// Exact integer dot product of the quantized values with an activation block:
    /// `sum_j q_j * y.qs[j]` (the scales are not applied).
    fn dot_i32(&self, y: &BlockQ8_0) -> i32;
}

/// `roundf(v) as i8` (C's round half away from zero, then Rust's saturating cast: NaN -> 0) without
/// a call: `trunc(v + copysign(0.49999997, v))` is `roundf(v)` for every `f32` (adding the largest
/// float below one half rounds exact halves up to the next integer, ties to even included, and
/// nothing else across one); `as` truncates. Equal to `libm::roundf(v) as i8` for all 2^32 inputs
/// (checked exhaustively once); test `round_to_i8_is_roundf` compares 70 million of them.
#[inline]
fn round_to_i8(v: f32) -> i8 {
    const BELOW_HALF: f32 = 0.499_999_97; // 0.5 - 2^-25
    (v + BELOW_HALF.copysign(v)) as i8
}

#[inline]
fn f16_bytes_to_f32(d: [u8; 2]) -> f32 {
    f16::from_le_bytes(d).to_f32()
}

impl QuantBlock for BlockQ8_0 {
    const DTYPE: DType = DType::Q8_0;

    #[inline]
    fn d(&self) -> f32 {
        f16_bytes_to_f32(self.d)
    }

    /// ggml `quantize_row_q8_0_ref`: `d = amax / 127`, `q = roundf(x / d)`.
    fn quantize(x: &[f32]) -> Self {
        let x = x.get(..QK).unwrap_or(x);
        let mut amax = 0.0f32;
        for &v in x {
            // `fmaxf(amax, |v|)`: a NaN `v` leaves `amax` as it is (`amax` itself is never NaN).
            let a = fabsf(v);
            if a > amax {
                amax = a;
            }
        }
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut b = BlockQ8_0 { d: f16::from_f32(d).to_le_bytes(), qs: [0; QK] };
        for (q, &v) in b.qs.iter_mut().zip(x) {
            // |v * id| <= 127 (up to rounding).
            *q = round_to_i8(v * id);
        }
        b
    }

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d();
        for (o, &q) in out.iter_mut().zip(&self.qs) {
            *o = q as f32 * d;
        }
    }

    #[inline]
    fn dot_i32(&self, y: &BlockQ8_0) -> i32 {
        let mut sum = 0i32;
        for (&a, &b) in self.qs.iter().zip(&y.qs) {
            sum += a as i32 * b as i32;
        }
        sum
    }
}

impl QuantBlock for BlockQ4_0 {
    const DTYPE: DType = DType::Q4_0;

    #[inline]
    fn d(&self) -> f32 {
        f16_bytes_to_f32(self.d)
    }

    /// ggml `quantize_row_q4_0_ref`: `d = max / -8` where `max` is the value of largest magnitude,
    /// nibble `= min(15, (int8)(x / d + 8.5))`.
    fn quantize(x: &[f32]) -> Self {
        let x = x.get(..QK).unwrap_or(x);
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in x {
            if amax < fabsf(v) {
                amax = fabsf(v);
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let at = |j: usize| x.get(j).copied().unwrap_or(0.0);
        // (int8_t)(v*id + 8.5f) truncates; the value is within [0, 16.5] up to rounding. The clamp
        // to 0 only matters for NaN-free inputs that ggml would also never produce.
        let nib = |v: f32| ((v * id + 8.5) as i8).clamp(0, 15) as u8;
        let mut b = BlockQ4_0 { d: f16::from_f32(d).to_le_bytes(), qs: [0; QK / 2] };
        for (j, q) in b.qs.iter_mut().enumerate() {
            *q = nib(at(j)) | (nib(at(j + QK / 2)) << 4);
        }
        b
    }

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d();
        let (lo, hi) = out.split_at_mut(out.len().min(QK / 2));
        for (o, &q) in lo.iter_mut().zip(&self.qs) {
            *o = ((q & 0x0F) as i32 - 8) as f32 * d;
        }
        for (o, &q) in hi.iter_mut().zip(&self.qs) {
            *o = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }

    #[inline]
    fn dot_i32(&self, y: &BlockQ8_0) -> i32 {
        let (y_lo, y_hi) = y.qs.split_at(QK / 2);
        let mut sum = 0i32;
        for ((&q, &a), &b) in self.qs.iter().zip(y_lo).zip(y_hi) {
            sum += ((q & 0x0F) as i32 - 8) * a as i32 + ((q >> 4) as i32 - 8) * b as i32;
        }
        sum
    }
}

/// Views bytes as whole blocks, in place; trailing bytes that do not form a whole block are ignored.
///
/// ```
/// use glmix::quant::{blocks_from_bytes, BlockQ8_0};
/// let bytes = [0u8; 70];
/// let blocks: &[BlockQ8_0] = blocks_from_bytes(&bytes);
/// assert_eq!(blocks.len(), 2);
/// ```
pub fn blocks_from_bytes<B: QuantBlock>(bytes: &[u8]) -> &[B] {
    let n = bytes.len() / B::BYTES;
    // SAFETY: `B` is one of the sealed block types: `repr(C)` structs of `u8`/`i8` arrays, alignment
    // 1 and no padding (asserted above), for which every bit pattern is valid. `n * size_of::<B>()
    // <= bytes.len()`, so the new slice covers only borrowed, initialized bytes, for the same lifetime.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), n) }
}

/// The bytes of blocks, in place (what the host tool writes to a file).
pub fn blocks_as_bytes<B: QuantBlock>(blocks: &[B]) -> &[u8] {
    // SAFETY: as in `blocks_from_bytes`: the block types are padding-free plain bytes, so their memory
    // is `blocks.len() * size_of::<B>()` initialized bytes, borrowed for the same lifetime.
    unsafe { core::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), core::mem::size_of_val(blocks)) }
}

/// Quantizes a row into blocks: `out[i]` holds `x[32 i .. 32 i + 32]`, missing elements as zero (so
/// blocks past the end of `x` become zero blocks). Use `out.len() == x.len().div_ceil(32)`.
pub fn quantize_row<B: QuantBlock>(x: &[f32], out: &mut [B]) {
    let mut chunks = x.chunks(QK);
    for b in out.iter_mut() {
        *b = B::quantize(chunks.next().unwrap_or(&[]));
    }
}

/// Dequantizes blocks into `out[..min(out.len(), 32 * blocks.len())]`.
pub fn dequantize_row<B: QuantBlock>(blocks: &[B], out: &mut [f32]) {
    for (b, o) in blocks.iter().zip(out.chunks_mut(QK)) {
        b.dequantize(o);
    }
}

/// Quantizes an activation row to q8_0 (ggml's reference quantizer), once per matvec input; see
/// [`quantize_row`] for the tail. `out.len()` should be `x.len().div_ceil(32)`.
pub fn quantize_row_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    quantize_row(x, out);
}

/// Quantizes a row to q4_0 (ggml's reference quantizer); see [`quantize_row`].
pub fn quantize_row_q4_0(x: &[f32], out: &mut [BlockQ4_0]) {
    quantize_row(x, out);
}

/// Dequantizes a q8_0 row; see [`dequantize_row`].
pub fn dequantize_row_q8_0(blocks: &[BlockQ8_0], out: &mut [f32]) {
    dequantize_row(blocks, out);
}

/// Dequantizes a q4_0 row; see [`dequantize_row`].
pub fn dequantize_row_q4_0(blocks: &[BlockQ4_0], out: &mut [f32]) {
    dequantize_row(blocks, out);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::math::roundf;
    use std::vec;
    use std::vec::Vec;

    use crate::kernels::testutil::Rng;

    fn h(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn round_to_i8_is_roundf() {
        let check = |v: f32| assert_eq!(round_to_i8(v), libm::roundf(v) as i8, "{v:e} ({:#x})", v.to_bits());
        // Every 61st bit pattern (NaNs, infinities, subnormals, huge values included)...
        for bits in (0..=u32::MAX).step_by(61) {
            check(f32::from_bits(bits));
        }
        // ...and every f32 within two ulps of each half-integer and integer in [-130, 130].
        for k in -260..=260 {
            let c = k as f32 / 2.0;
            let mut v = c.next_down().next_down();
            for _ in 0..5 {
                check(v);
                v = v.next_up();
            }
            check(-c);
        }
    }

    #[test]
    fn q8_0_hand_computed_block() {
        // amax = 2.54 -> d = 0.02; x / d rounds half away from zero.
        let mut x = [0.0f32; 32];
        x[0] = 2.54;
        x[1] = -2.54;
        x[2] = 0.03; // 1.5 -> 2
        x[3] = -0.03; // -1.5 -> -2
        x[4] = 0.01; // 0.5 -> 1 (C roundf), not 0 (round-half-even)
        x[5] = 0.0099; // 0.495 -> 0
        x[31] = 1.0; // 50
        let b = BlockQ8_0::quantize(&x);
        assert_eq!(b.d, h(2.54 / 127.0));
        let id = 1.0 / (2.54f32 / 127.0);
        assert_eq!(roundf(0.03 * id), 2.0);
        assert_eq!(&b.qs[..6], &[127, -127, 2, -2, 1, 0]);
        assert_eq!(b.qs[31], 50);
        assert!(b.qs[6..31].iter().all(|&q| q == 0));
        // All zeros: d = 0, id = 0, no NaN.
        let z = BlockQ8_0::quantize(&[0.0; 32]);
        assert_eq!(z, BlockQ8_0::default());
    }

    #[test]
    fn q4_0_hand_computed_block() {
        // max by magnitude is -4.0 -> d = 0.5, id = 2; nibble = trunc(x*2 + 8.5) clamped to 15.
        let mut x = [0.0f32; 32];
        x[0] = -4.0; // -8 + 8.5 = 0.5 -> 0
        x[1] = 3.5; // 7 + 8.5 = 15.5 -> 15
        x[2] = 0.25; // 0.5 + 8.5 = 9 -> 9
        x[3] = -0.26; // -0.52 + 8.5 = 7.98 -> 7
        x[16] = 1.0; // 10.5 -> 10, high nibble of byte 0
        x[17] = -1.0; // 6.5 -> 6
        let b = BlockQ4_0::quantize(&x);
        assert_eq!(b.d, h(0.5));
        assert_eq!(b.qs[0], 10 << 4);
        assert_eq!(b.qs[1], 15 | (6 << 4));
        assert_eq!(b.qs[2], 9 | (8 << 4));
        assert_eq!(b.qs[3], 7 | (8 << 4));
        // Zeros quantize to nibble 8 (value 0).
        assert!(b.qs[4..].iter().all(|&q| q == 0x88));
        // Positive max: d = max / -8 < 0, the max maps to nibble 0 and -max clamps to 15 (7/8 of it).
        let mut y = [0.0f32; 32];
        y[0] = 8.0;
        y[1] = -8.0;
        let c = BlockQ4_0::quantize(&y);
        assert_eq!(c.d, h(-1.0));
        assert_eq!(c.qs[0] & 0xF, 0);
        assert_eq!(c.qs[1] & 0xF, 15);
        let mut out = [0.0f32; 32];
        c.dequantize(&mut out);
        assert_eq!((out[0], out[1], out[2]), (8.0, -7.0, 0.0));
    }

    #[test]
    fn q4_0_nibble_order() {
        // Element j is the low nibble of byte j, element j + 16 the high nibble.
        let mut b = BlockQ4_0 { d: h(1.0), qs: [0x88; 16] };
        b.qs[3] = 0x8F; // element 3 -> 15 - 8 = 7
        b.qs[5] = 0x08; // element 21 (high nibble 0) -> 0 - 8 = -8
        let mut out = [0.0f32; 32];
        b.dequantize(&mut out);
        for (j, &v) in out.iter().enumerate() {
            let want = match j {
                3 => 7.0,
                21 => -8.0,
                _ => 0.0,
            };
            assert_eq!(v, want, "element {j}");
        }
        let mut y = BlockQ8_0 { d: h(1.0), qs: [0; 32] };
        y.qs[3] = 2;
        y.qs[21] = 3;
        assert_eq!(b.dot_i32(&y), 7 * 2 - 8 * 3);
    }

    #[test]
    fn layouts_and_casts() {
        let blocks = [BlockQ8_0 { d: [1, 2], qs: [3; 32] }, BlockQ8_0 { d: [4, 5], qs: [-1; 32] }];
        let bytes = blocks_as_bytes(&blocks);
        assert_eq!(bytes.len(), 68);
        assert_eq!(&bytes[..3], &[1, 2, 3]);
        assert_eq!(&bytes[34..37], &[4, 5, 0xFF]);
        // Odd offsets: alignment 1, read in place.
        let mut buf = [0u8; 1 + 68 + 5];
        buf[1..69].copy_from_slice(bytes);
        let back: &[BlockQ8_0] = blocks_from_bytes(&buf[1..]);
        assert_eq!(back, &blocks);
        let q4: &[BlockQ4_0] = blocks_from_bytes(&buf[1..]);
        assert_eq!(q4.len(), 73 / 18);
        assert_eq!(blocks_from_bytes::<BlockQ4_0>(&[0; 17]).len(), 0);
    }

    fn round_trip_error<B: QuantBlock>(n: usize, seed: u32, step: impl Fn(f32) -> f32) {
        let mut rng = Rng(seed);
        let x: Vec<f32> = (0..n).map(|_| rng.f32() * 3.0).collect();
        let mut q = vec![B::default(); n.div_ceil(QK)];
        quantize_row(&x, &mut q);
        let mut y = vec![f32::NAN; n];
        dequantize_row(&q, &mut y);
        for (c, (xb, yb)) in x.chunks(QK).zip(y.chunks(QK)).enumerate() {
            let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (j, (&a, &b)) in xb.iter().zip(yb).enumerate() {
                assert!((a - b).abs() <= step(amax), "n={n} block {c} elem {j}: {a} vs {b}");
            }
        }
        // The padding of the last block decodes to exact zeros.
        let mut full = vec![f32::NAN; q.len() * QK];
        dequantize_row(&q, &mut full);
        assert!(full[n..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn round_trip_error_bounds() {
        for (i, n) in [1usize, 31, 32, 33, 172, 4097].into_iter().enumerate() {
            // q8_0: half a step plus the f16 rounding of d (127 * 2^-11 steps).
            round_trip_error::<BlockQ8_0>(n, 7 + i as u32, |amax| amax / 127.0 * (0.5 + 0.07));
            // q4_0: a whole step at the clamped end (-max -> 7/8 max), f16 rounding of d on top.
            round_trip_error::<BlockQ4_0>(n, 9 + i as u32, |amax| amax / 8.0 * (1.0 + 0.01));
        }
    }

    #[test]
    fn quantize_row_tail_and_extra_blocks() {
        let x = [1.0f32; 33];
        let mut q = [BlockQ8_0 { d: [9, 9], qs: [9; 32] }; 3];
        quantize_row_q8_0(&x, &mut q);
        assert_eq!(q[0].qs, [127; 32]);
        assert_eq!(q[1].qs[0], 127);
        assert!(q[1].qs[1..].iter().all(|&v| v == 0));
        assert_eq!(q[2], BlockQ8_0::default());
        // Shorter output: only the blocks that fit, no panic.
        let mut one = [BlockQ8_0::default(); 1];
        quantize_row_q8_0(&x, &mut one);
        assert_eq!(one[0].qs, [127; 32]);
        // dequantize into a short buffer writes only its prefix.
        let mut out = [0.0f32; 40];
        dequantize_row_q8_0(&q, &mut out);
        assert_eq!(out[32], 127.0 * f16::from_f32(1.0 / 127.0).to_f32());
        assert_eq!(out[33], 0.0);
        let mut q4 = [BlockQ4_0::default(); 2];
        quantize_row_q4_0(&x, &mut q4);
        let mut out4 = [0.0f32; 33];
        dequantize_row_q4_0(&q4, &mut out4);
        assert!(out4.iter().all(|&v| v == 1.0));
    }
}
