//! Matrix-vector products per weight dtype, the attention softmax and the activation quantizer, scalar
//! twin (`generic`) against the kernels selected for this build (`arch`), side by side in one group
//! each. Throughput: multiply-accumulates (matvec), elements (softmax, quantizer).
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=native" cargo bench -p glmix-benches --bench kernels
//! ```
//! Without AVX2 flags `arch` is the scalar twin too (see runtime/build.rs).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glmix::kernels;
use glmix::quant::{blocks_as_bytes, quantize_row, quantize_row_q8_0, BlockQ4_0, BlockQ8_0};
use glmix::tensor::{DType, Tensor, QK};
use std::hint::black_box;

const SHAPES: [(usize, usize); 3] = [(288, 288), (768, 288), (32000, 288)];

struct Rng(u32);
impl Rng {
    fn f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// f32 -> f16 bits, truncating (bench data only; tiny values flush to zero).
fn f16_bits(v: f32) -> u16 {
    let b = v.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xFF) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    sign | ((exp.min(30) as u16) << 10) | ((b >> 13) & 0x3FF) as u16
}

/// f32 -> bf16 bits, truncating.
fn bf16_bits(v: f32) -> u16 {
    (v.to_bits() >> 16) as u16
}

/// Tensor bytes in `u32` storage, so f32 data is 4-byte aligned.
fn encode(dtype: DType, rows: usize, cols: usize, rng: &mut Rng) -> (Vec<u32>, usize) {
    let mut bytes = Vec::new();
    let mut row = vec![0.0f32; cols];
    for _ in 0..rows {
        row.iter_mut().for_each(|v| *v = rng.f32());
        match dtype {
            DType::F32 => row.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
            DType::F16 => row.iter().for_each(|&v| bytes.extend_from_slice(&f16_bits(v).to_le_bytes())),
            DType::BF16 => row.iter().for_each(|&v| bytes.extend_from_slice(&bf16_bits(v).to_le_bytes())),
            DType::Q8_0 => {
                let mut q = vec![BlockQ8_0::default(); cols.div_ceil(QK)];
                quantize_row(&row, &mut q);
                bytes.extend_from_slice(blocks_as_bytes(&q));
            }
            DType::Q4_0 => {
                let mut q = vec![BlockQ4_0::default(); cols.div_ceil(QK)];
                quantize_row(&row, &mut q);
                bytes.extend_from_slice(blocks_as_bytes(&q));
            }
            DType::U8 | DType::U32 => unreachable!(),
        }
    }
    let len = bytes.len();
    bytes.resize(len.div_ceil(4) * 4, 0);
    (bytes.chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect(), len)
}

fn as_bytes(words: &[u32], len: usize) -> &[u8] {
    // SAFETY: viewing initialized `u32`s as bytes is always valid; `len <= 4 * words.len()`.
    let (_, bytes, _) = unsafe { words.align_to::<u8>() };
    &bytes[..len]
}

fn matvec(c: &mut Criterion) {
    let mut rng = Rng(0x9E37_79B9);
    for dtype in [DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0] {
        let mut group = c.benchmark_group(format!("matvec_{}", dtype.name()));
        for (rows, cols) in SHAPES {
            let (words, len) = encode(dtype, rows, cols, &mut rng);
            let w = Tensor::new(dtype, rows, cols, as_bytes(&words, len)).unwrap();
            let x: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
            let mut xq = vec![BlockQ8_0::default(); cols.div_ceil(QK)];
            quantize_row_q8_0(&x, &mut xq);
            let mut out = vec![0.0f32; rows];
            let shape = format!("{rows}x{cols}");
            group.throughput(Throughput::Elements((rows * cols) as u64));
            group.bench_function(BenchmarkId::new("generic", &shape), |b| {
                b.iter(|| kernels::generic::matvec(black_box(&w), black_box(&x), black_box(&xq), &mut out))
            });
            group.bench_function(BenchmarkId::new("arch", &shape), |b| {
                b.iter(|| kernels::matvec(black_box(&w), black_box(&x), black_box(&xq), &mut out))
            });
        }
        group.finish();
    }
}

/// Softmax over the scores of one head: 64, 256 and 1,024 positions (stories260K decodes 512).
fn softmax(c: &mut Criterion) {
    let mut rng = Rng(0x2545_F491);
    let mut group = c.benchmark_group("softmax");
    for n in [64, 256, 1024] {
        let scores: Vec<f32> = (0..n).map(|_| rng.f32() * 8.0).collect();
        let mut x = scores.clone();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("generic", n), |b| {
            b.iter(|| {
                x.copy_from_slice(&scores);
                kernels::generic::softmax(black_box(&mut x))
            })
        });
        group.bench_function(BenchmarkId::new("arch", n), |b| {
            b.iter(|| {
                x.copy_from_slice(&scores);
                kernels::softmax(black_box(&mut x))
            })
        });
    }
    group.finish();
}

/// An activation row quantized to q8_0 blocks (once per quantized matvec input): the 15M shape's
/// widths.
fn quantize(c: &mut Criterion) {
    let mut rng = Rng(0x68E3_1DA4);
    let mut group = c.benchmark_group("quantize_q8_0");
    for n in [288usize, 768] {
        let x: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let mut xq = vec![BlockQ8_0::default(); n.div_ceil(QK)];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("generic", n), |b| {
            b.iter(|| quantize_row_q8_0(black_box(&x), &mut xq))
        });
        group.bench_function(BenchmarkId::new("arch", n), |b| {
            b.iter(|| kernels::quantize_q8_0(black_box(&x), &mut xq))
        });
    }
    group.finish();
}

criterion_group!(benches, matvec, softmax, quantize);
criterion_main!(benches);
