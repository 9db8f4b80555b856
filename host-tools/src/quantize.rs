//! Encoding f32 tensors into the file's dtypes, with the error each encoding introduces.

use anyhow::Result;
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
    let data = glmix::builder::encode(name, dtype, shape, values)?;
    let (rows, cols) = match *shape {
        [n] => (1, n),
        [r, c] => (r, c),
        _ => unreachable!("encode accepts 1-D and 2-D shapes only"),
    };
    let error = measure(&data, rows, cols, values)?;
    Ok((data, error))
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
