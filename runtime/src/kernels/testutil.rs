//! Test helpers of the scalar kernels' tests (and the DSP model's, and NEON's internals): a PRNG,
//! tensor encoding, error bounds. The architecture kernels are compared with their twins by the
//! conformance suite (`super::conformance`), which needs none of this.
// Some helpers serve only the architecture tests, which compile on some hosts only.
#![allow(dead_code)]
extern crate std;

use crate::quant::{blocks_as_bytes, quantize_row, BlockQ4_0, BlockQ8_0};
use crate::tensor::{DType, Tensor, QK};
use half::{bf16, f16};
use std::vec;
use std::vec::Vec;

/// The dtypes `matvec` accepts.
pub const WEIGHT_DTYPES: [DType; 5] = [DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0];

/// Marsaglia xorshift32.
pub struct Rng(pub u32);

impl Rng {
    pub fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
    pub fn i8(&mut self) -> i8 {
        self.next() as i8
    }
}

/// A tensor's bytes, owned and 4-byte aligned.
pub struct Encoded {
    words: Vec<u32>,
    len: usize,
    dtype: DType,
    rows: usize,
    cols: usize,
}

impl Encoded {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `u32` -> `u8` is always valid and aligned; `len <= 4 * words.len()`.
        let (_, b, _) = unsafe { self.words.align_to::<u8>() };
        &b[..self.len]
    }
    pub fn tensor(&self) -> Tensor<'_> {
        Tensor::new(self.dtype, self.rows, self.cols, self.bytes()).expect("valid tensor")
    }
}

/// Encodes rows of `cols` f32 values as a `dtype` tensor.
pub fn encode(dtype: DType, rows: &[Vec<f32>], cols: usize) -> Encoded {
    let mut bytes = Vec::new();
    for row in rows {
        assert_eq!(row.len(), cols);
        match dtype {
            DType::F32 => row.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
            DType::F16 => row.iter().for_each(|&v| bytes.extend_from_slice(&f16::from_f32(v).to_le_bytes())),
            DType::BF16 => {
                row.iter().for_each(|&v| bytes.extend_from_slice(&bf16::from_f32(v).to_le_bytes()))
            }
            DType::Q8_0 => {
                let mut q = vec![BlockQ8_0::default(); cols.div_ceil(QK)];
                quantize_row(row, &mut q);
                bytes.extend_from_slice(blocks_as_bytes(&q));
            }
            DType::Q4_0 => {
                let mut q = vec![BlockQ4_0::default(); cols.div_ceil(QK)];
                quantize_row(row, &mut q);
                bytes.extend_from_slice(blocks_as_bytes(&q));
            }
            DType::U8 | DType::U32 => panic!("not a weight dtype"),
        }
    }
    let len = bytes.len();
    bytes.resize(len.div_ceil(4) * 4, 0);
    let words = bytes.chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
    Encoded { words, len, dtype, rows: rows.len(), cols }
}

/// Worst-case bound on `|sum w x - computed|` from reordering an f32 sum of `n` products.
pub fn reorder_tolerance(w: &[f32], x: &[f32]) -> f32 {
    let n = w.len().min(x.len()) as f32;
    let abs: f32 = w.iter().zip(x).map(|(a, b)| (a * b).abs()).sum();
    2.0 * n * f32::EPSILON * abs + f32::MIN_POSITIVE
}

/// Bound on `|matvec row (dtype) - exact f32 dot|`: weight (and, for block types, activation)
/// quantization error, plus the float summation error.
pub fn quant_tolerance(dtype: DType, w: &[f32], x: &[f32]) -> f32 {
    let block_amax = |v: &[f32], c: usize| {
        v[c / QK * QK..((c / QK + 1) * QK).min(v.len())].iter().fold(0.0f32, |m, a| m.max(a.abs()))
    };
    let mut tol = reorder_tolerance(w, x);
    for c in 0..w.len() {
        let (wa, xa) = (w[c].abs(), x[c].abs());
        let (ew, ex) = match dtype {
            DType::F32 => (0.0, 0.0),
            DType::F16 => (wa * 1.0 / 2048.0, 0.0),
            DType::BF16 => (wa * 1.0 / 256.0, 0.0),
            DType::Q8_0 => (block_amax(w, c) / 127.0 * 0.57, block_amax(x, c) / 127.0 * 0.57),
            _ => (block_amax(w, c) / 8.0 * 1.01, block_amax(x, c) / 127.0 * 0.57),
        };
        tol += xa * ew + wa * ex + ew * ex;
    }
    tol * 1.01
}
