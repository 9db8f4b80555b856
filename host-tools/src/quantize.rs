//! Encoding f32 tensors into the file's dtypes, with the error each encoding introduces.

use anyhow::{ensure, Result};
use glmix::quant::{BlockQ4_0, BlockQ8_0};
use glmix::{DType, Tensor};

use crate::writer::TensorData;

/// Error of one encoded tensor against its f32 source.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EncodeError {
    /// Largest absolute difference.
    pub max_abs: f32,
    /// Root mean square difference.
    pub rms: f32,
}

/// Encodes `values` (`rows * cols`, row-major) as `dtype` and measures the round-trip error.
pub fn encode(
    name: &str,
    dtype: DType,
    shape: &[usize],
    values: &[f32],
) -> Result<(TensorData, EncodeError)> {
    let (rows, cols) = match shape {
        [n] => (1, *n),
        [r, c] => (*r, *c),
        _ => anyhow::bail!("tensor {name}: shape {shape:?} is not 1-D or 2-D"),
    };
    ensure!(values.len() == rows * cols, "tensor {name}: {} values for shape {shape:?}", values.len());
    let mut bytes = Vec::with_capacity(rows * dtype.row_bytes(cols).unwrap_or(0));
    for row in values.chunks_exact(cols.max(1)).take(rows) {
        encode_row(dtype, row, &mut bytes);
    }
    let data = TensorData { name: name.to_string(), dtype, shape: shape.to_vec(), bytes };
    let error = measure(&data, rows, cols, values)?;
    Ok((data, error))
}

fn encode_row(dtype: DType, row: &[f32], out: &mut Vec<u8>) {
    match dtype {
        DType::F32 => row.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DType::F16 => row.iter().for_each(|v| out.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes())),
        DType::BF16 => {
            row.iter().for_each(|v| out.extend_from_slice(&half::bf16::from_f32(*v).to_le_bytes()))
        }
        DType::Q8_0 => {
            let mut blocks = vec![BlockQ8_0::default(); row.len().div_ceil(32)];
            glmix::quant::quantize_row_q8_0(row, &mut blocks);
            blocks.iter().for_each(|b| {
                out.extend_from_slice(&b.d);
                out.extend(b.qs.iter().map(|&q| q as u8));
            });
        }
        DType::Q4_0 => {
            let mut blocks = vec![BlockQ4_0::default(); row.len().div_ceil(32)];
            glmix::quant::quantize_row_q4_0(row, &mut blocks);
            blocks.iter().for_each(|b| {
                out.extend_from_slice(&b.d);
                out.extend_from_slice(&b.qs);
            });
        }
        DType::U8 | DType::U32 => unreachable!("tables are not encoded from floats"),
    }
}

fn measure(data: &TensorData, rows: usize, cols: usize, values: &[f32]) -> Result<EncodeError> {
    // Decode through the runtime itself, so the figure is what the device will compute with.
    let aligned = crate::writer::AlignedBytes::new(&data.bytes);
    let tensor = Tensor::new(data.dtype, rows, cols, aligned.as_bytes())
        .ok_or_else(|| anyhow::anyhow!("tensor {}: encoded size is inconsistent", data.name))?;
    let mut row = vec![0f32; cols];
    let (mut max_abs, mut sum_sq) = (0f32, 0f64);
    for r in 0..rows {
        glmix::kernels::embedding_row(&tensor, r, &mut row);
        for (a, b) in row.iter().zip(&values[r * cols..(r + 1) * cols]) {
            let d = (a - b).abs();
            max_abs = max_abs.max(d);
            sum_sq += (d as f64) * (d as f64);
        }
    }
    let rms = (sum_sq / (rows * cols).max(1) as f64).sqrt() as f32;
    Ok(EncodeError { max_abs, rms })
}
