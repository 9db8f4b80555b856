//! Scalar reference kernels: the specification every faster kernel is tested against. The f32
//! products sum sequentially, exactly as llama2.c's `matmul` does.

use half::{bf16, f16};

use crate::math;
use crate::quant::{q4_0_blocks, q8_0_blocks, BlockQ4_0, BlockQ8_0};
use crate::tensor::{DType, Tensor, QK};

/// `sum_i a[i] * b[i]`, sequentially.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut sum = 0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x * y;
    }
    sum
}

/// Dot of q8_0 weight blocks with q8_0 activation blocks: `sum_b d_w d_x sum_i qw_i qx_i`.
pub fn dot_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut sum = 0f32;
    for (bw, bx) in w.iter().zip(x) {
        let isum: i32 = bw.qs.iter().zip(&bx.qs).map(|(&a, &b)| a as i32 * b as i32).sum();
        sum += bw.scale() * bx.scale() * isum as f32;
    }
    sum
}

/// Dot of q4_0 weight blocks with q8_0 activation blocks.
pub fn dot_q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let mut sum = 0f32;
    for (bw, bx) in w.iter().zip(x) {
        let (lo, hi) = bx.qs.split_at(QK / 2);
        let mut isum = 0i32;
        for ((&byte, &a), &b) in bw.qs.iter().zip(lo).zip(hi) {
            isum += ((byte & 0x0F) as i32 - 8) * a as i32 + ((byte >> 4) as i32 - 8) * b as i32;
        }
        sum += bw.scale() * bx.scale() * isum as f32;
    }
    sum
}

fn dot_f16(row: &[u8], x: &[f32]) -> f32 {
    let mut sum = 0f32;
    for (w, v) in row.chunks_exact(2).zip(x) {
        sum += f16::from_le_bytes([w[0], w[1]]).to_f32() * v;
    }
    sum
}

fn dot_bf16(row: &[u8], x: &[f32]) -> f32 {
    let mut sum = 0f32;
    for (w, v) in row.chunks_exact(2).zip(x) {
        sum += bf16::from_le_bytes([w[0], w[1]]).to_f32() * v;
    }
    sum
}

/// `out[r] = W[r] · x` (see [`super::matvec`]).
pub fn matvec(w: &Tensor<'_>, x: &[f32], xq: &[BlockQ8_0], out: &mut [f32]) {
    let cols = w.cols();
    let x = x.get(..cols).unwrap_or(x);
    match w.dtype() {
        DType::F32 => {
            for (o, row) in out.iter_mut().zip(w.as_f32().chunks_exact(cols.max(1))) {
                *o = dot_f32(row, x);
            }
        }
        DType::F16 => out.iter_mut().enumerate().for_each(|(r, o)| *o = dot_f16(w.row(r), x)),
        DType::BF16 => out.iter_mut().enumerate().for_each(|(r, o)| *o = dot_bf16(w.row(r), x)),
        DType::Q8_0 => out.iter_mut().enumerate().for_each(|(r, o)| *o = dot_q8_0(q8_0_blocks(w.row(r)), xq)),
        DType::Q4_0 => out.iter_mut().enumerate().for_each(|(r, o)| *o = dot_q4_0(q4_0_blocks(w.row(r)), xq)),
        DType::U8 | DType::U32 => out.fill(0.0),
    }
}

/// `y += a * x`.
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

/// RMSNorm as llama2.c: `out = weight * (x / sqrt(mean(x^2) + eps))`.
pub fn rmsnorm(out: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
    let mut ss = 0f32;
    for v in x {
        ss += v * v;
    }
    ss /= x.len().max(1) as f32;
    ss += eps;
    let ss = 1.0 / math::sqrtf(ss);
    for ((o, w), v) in out.iter_mut().zip(weight).zip(x) {
        *o = w * (ss * v);
    }
}

/// In-place softmax as llama2.c: subtract the max, exponentiate, normalise.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = math::expf(*v - max);
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// `x * sigmoid(x)`.
#[inline]
pub fn silu(x: f32) -> f32 {
    x * (1.0 / (1.0 + math::expf(-x)))
}

/// `h1 = silu(h1) * h3`.
pub fn swiglu(h1: &mut [f32], h3: &[f32]) {
    h1.iter_mut().zip(h3).for_each(|(a, b)| *a = silu(*a) * b);
}

/// GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
pub fn gelu_tanh(x: &mut [f32]) {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    x.iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + math::tanhf(C * (*v + 0.044_715 * *v * *v * *v))));
}

/// RoPE on interleaved pairs `(2i, 2i+1)` of every head in `v`, as llama2.c.
pub fn rope_interleaved(v: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    for head in v.chunks_exact_mut(head_dim.max(1)) {
        for (i, pair) in head.chunks_exact_mut(2).enumerate() {
            let freq = 1.0 / math::powf(theta, (2 * i) as f32 / head_dim as f32);
            let val = pos as f32 * freq;
            let (fcr, fci) = (math::cosf(val), math::sinf(val));
            let (v0, v1) = (pair[0], pair[1]);
            pair[0] = v0 * fcr - v1 * fci;
            pair[1] = v0 * fci + v1 * fcr;
        }
    }
}

/// RoPE on pairs `(i, i + head_dim/2)` of every head in `v` (GPT-NeoX / Hugging Face Llama).
pub fn rope_half(v: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    let half = head_dim / 2;
    for head in v.chunks_exact_mut(head_dim.max(1)) {
        let (lo, hi) = head.split_at_mut(half);
        for (i, (a, b)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
            let freq = 1.0 / math::powf(theta, (2 * i) as f32 / head_dim as f32);
            let val = pos as f32 * freq;
            let (fcr, fci) = (math::cosf(val), math::sinf(val));
            let (v0, v1) = (*a, *b);
            *a = v0 * fcr - v1 * fci;
            *b = v0 * fci + v1 * fcr;
        }
    }
}

/// Row `row` of an embedding table, dequantized into `out` (only that row is touched).
pub fn embedding_row(t: &Tensor<'_>, row: usize, out: &mut [f32]) {
    let bytes = t.row(row);
    match t.dtype() {
        DType::F32 => {
            let cols = t.cols();
            let data = t.as_f32().get(row * cols..(row + 1) * cols).unwrap_or(&[]);
            out.iter_mut().zip(data).for_each(|(o, v)| *o = *v);
        }
        DType::F16 => out
            .iter_mut()
            .zip(bytes.chunks_exact(2))
            .for_each(|(o, b)| *o = f16::from_le_bytes([b[0], b[1]]).to_f32()),
        DType::BF16 => out
            .iter_mut()
            .zip(bytes.chunks_exact(2))
            .for_each(|(o, b)| *o = bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        DType::Q8_0 => crate::quant::dequantize_row_q8_0(q8_0_blocks(bytes), out),
        DType::Q4_0 => crate::quant::dequantize_row_q4_0(q4_0_blocks(bytes), out),
        DType::U8 | DType::U32 => out.fill(0.0),
    }
}
