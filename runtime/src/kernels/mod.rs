//! Numeric kernels. [`generic`] is the scalar definition of every kernel and is always compiled;
//! architecture modules provide faster versions of the hot ones (matrix-vector products), selected at
//! compile time, and are tested against it.
//!
//! Every kernel is panic-free: where slice lengths disagree it works over the common prefix.

pub mod generic;

use crate::quant::BlockQ8_0;
use crate::tensor::Tensor;

pub use generic::{
    axpy, embedding_row, gelu_tanh, rmsnorm, rope_half, rope_interleaved, silu, softmax, swiglu,
};

/// `out[r] = sum_c W[r][c] * x[c]` for every row of `w`.
///
/// For q8_0 / q4_0 weights the product uses `xq`, which must hold `x` quantized to q8_0
/// ([`crate::quant::quantize_row_q8_0`]), as ggml does; other dtypes use `x`.
#[inline]
pub fn matvec(w: &Tensor<'_>, x: &[f32], xq: &[BlockQ8_0], out: &mut [f32]) {
    generic::matvec(w, x, xq, out)
}

/// `sum_i a[i] * b[i]`.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    generic::dot_f32(a, b)
}
