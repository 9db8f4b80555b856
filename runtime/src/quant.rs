//! ggml's block quantization formats, with ggml's names, layouts and rounding.
//!
//! * [`BlockQ8_0`]: 32 weights as an f16 scale `d` and 32 `i8` values; weight `i` is `d * qs[i]`.
//! * [`BlockQ4_0`]: 32 weights as an f16 scale `d` and 16 bytes of nibbles; weight `j` is the low nibble
//!   of byte `j`, weight `j + 16` the high nibble; value `d * (nibble - 8)`.
//!
//! Both have alignment 1 (the scale is `[u8; 2]`), so they can be viewed in place anywhere in a file.
//! A row of `n` weights takes `ceil(n / 32)` blocks; the padding of the last block is zero.

use half::f16;

use crate::tensor::QK;

/// 32 weights, 8-bit (34 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ8_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Quantized values.
    pub qs: [i8; QK],
}

/// 32 weights, 4-bit (18 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ4_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Nibbles: low nibble = weight `j`, high nibble = weight `j + 16`.
    pub qs: [u8; QK / 2],
}

const _: () = assert!(core::mem::size_of::<BlockQ8_0>() == 34 && core::mem::align_of::<BlockQ8_0>() == 1);
const _: () = assert!(core::mem::size_of::<BlockQ4_0>() == 18 && core::mem::align_of::<BlockQ4_0>() == 1);

impl BlockQ8_0 {
    /// All-zero block.
    pub const ZERO: BlockQ8_0 = BlockQ8_0 { d: [0; 2], qs: [0; QK] };
    /// The scale as f32.
    #[inline]
    pub fn scale(&self) -> f32 {
        f16::from_le_bytes(self.d).to_f32()
    }
}

impl BlockQ4_0 {
    /// All-zero block.
    pub const ZERO: BlockQ4_0 = BlockQ4_0 { d: [0; 2], qs: [0; QK / 2] };
    /// The scale as f32.
    #[inline]
    pub fn scale(&self) -> f32 {
        f16::from_le_bytes(self.d).to_f32()
    }
}

/// Views bytes as q8_0 blocks (whole blocks only; a trailing partial block is ignored).
pub fn q8_0_blocks(bytes: &[u8]) -> &[BlockQ8_0] {
    let n = bytes.len() / core::mem::size_of::<BlockQ8_0>();
    // SAFETY: BlockQ8_0 is `repr(C)` bytes with alignment 1 and no invalid bit patterns; `n` whole
    // blocks lie inside `bytes`, borrowed for the same lifetime.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<BlockQ8_0>(), n) }
}

/// Views bytes as q4_0 blocks (whole blocks only).
pub fn q4_0_blocks(bytes: &[u8]) -> &[BlockQ4_0] {
    let n = bytes.len() / core::mem::size_of::<BlockQ4_0>();
    // SAFETY: as for `q8_0_blocks`.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<BlockQ4_0>(), n) }
}

/// Quantizes `x` into q8_0 blocks (ggml's `quantize_row_q8_0_ref`): `d = amax / 127`,
/// `q = round(x / d)`. Elements past `x.len()` are zero; blocks past `ceil(len / 32)` are untouched.
pub fn quantize_row_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    for (chunk, block) in x.chunks(QK).zip(out.iter_mut()) {
        let amax = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = f16::from_f32(d).to_le_bytes();
        block.qs = [0; QK];
        for (q, &v) in block.qs.iter_mut().zip(chunk) {
            *q = libm::roundf(v * id) as i8;
        }
    }
}

/// Quantizes `x` into q4_0 blocks (ggml's `quantize_row_q4_0_ref`): the value of largest magnitude
/// `max` gives `d = max / -8`, `q = min(15, (x / d + 8.5) as u8)`.
pub fn quantize_row_q4_0(x: &[f32], out: &mut [BlockQ4_0]) {
    for (chunk, block) in x.chunks(QK).zip(out.iter_mut()) {
        let mut padded = [0f32; QK];
        padded.iter_mut().zip(chunk).for_each(|(p, v)| *p = *v);
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in &padded {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = f16::from_f32(d).to_le_bytes();
        let (lo, hi) = padded.split_at(QK / 2);
        for ((q, &a), &b) in block.qs.iter_mut().zip(lo).zip(hi) {
            let qa = ((a * id + 8.5) as u8).min(15);
            let qb = ((b * id + 8.5) as u8).min(15);
            *q = qa | (qb << 4);
        }
    }
}

/// Dequantizes q8_0 blocks into `out` (as many elements as `out` holds).
pub fn dequantize_row_q8_0(blocks: &[BlockQ8_0], out: &mut [f32]) {
    for (chunk, block) in out.chunks_mut(QK).zip(blocks) {
        let d = block.scale();
        chunk.iter_mut().zip(&block.qs).for_each(|(o, &q)| *o = d * q as f32);
    }
}

/// Dequantizes q4_0 blocks into `out`.
pub fn dequantize_row_q4_0(blocks: &[BlockQ4_0], out: &mut [f32]) {
    for (chunk, block) in out.chunks_mut(QK).zip(blocks) {
        let d = block.scale();
        for (j, o) in chunk.iter_mut().enumerate() {
            let byte = block.qs.get(j % (QK / 2)).copied().unwrap_or(0);
            let nib = if j < QK / 2 { byte & 0x0F } else { byte >> 4 };
            *o = d * (nib as i32 - 8) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_hand_computed_block() {
        let mut x = [0f32; 33];
        x[0] = 1.27;
        x[1] = -0.5;
        x[32] = 2.0;
        let mut b = [BlockQ8_0::ZERO; 2];
        quantize_row_q8_0(&x, &mut b);
        assert_eq!(b[0].qs[0], 127);
        assert_eq!(b[0].qs[1], -50);
        assert_eq!(b[1].qs[0], 127);
        assert!(b[1].qs[1..].iter().all(|&q| q == 0), "padding must be zero");
        let mut y = [0f32; 33];
        dequantize_row_q8_0(&b, &mut y);
        for (a, e) in y.iter().zip(&x) {
            assert!((a - e).abs() <= 0.01 * 1.01, "{a} vs {e}");
        }
    }

    #[test]
    fn q4_0_nibble_order() {
        let mut x = [0f32; 32];
        x[0] = -8.0; // max by magnitude, negative: d = 1, q = 0
        x[16] = 7.0; // q = 15, high nibble of byte 0
        x[1] = 1.0; // q = 9
        let mut b = [BlockQ4_0::ZERO];
        quantize_row_q4_0(&x, &mut b);
        assert_eq!(b[0].scale(), 1.0);
        assert_eq!(b[0].qs[0], 15 << 4); // low nibble 0, high nibble 15
        assert_eq!(b[0].qs[1], 9 | (8 << 4));
        let mut y = [0f32; 32];
        dequantize_row_q4_0(&b, &mut y);
        assert_eq!((y[0], y[1], y[16], y[17]), (-8.0, 1.0, 7.0, 0.0));
    }
}
