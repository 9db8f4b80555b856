//! Checks `glmix convert` runs on its inputs before converting anything, so that a bad input is
//! reported in the tool's own words, with the value the user wrote and the tensor it concerns, and
//! before any work:
//!
//! * [`config()`]: the layer count against the file format's limit, each layer's pattern parameter,
//!   the norm epsilon and the RoPE base (the JSON value as written, not float bits);
//! * [`safetensors()`]: the header length, each tensor's dtype, shape and `data_offsets` (inside the
//!   file, consistent with the shape, not overlapping another tensor), and — unless allowed — that
//!   every weight is finite (the first NaN or infinity is named by tensor and index).
//!
//! The converter still validates everything itself; these checks only make the first error a clear one.

use std::path::Path;

use anyhow::{bail, Context, Result};
use glmix::format::{MAX_DIM, MAX_LAYERS};
use serde_json::Value;

/// Largest safetensors file `convert` reads (the model file format stores sizes as u32; a checkpoint
/// in f32 is at most about 4x a q8_0 model of 4 GiB).
pub const MAX_CHECKPOINT_BYTES: u64 = 16 << 30;

/// Largest config file read (a real one is a few kilobytes; this leaves room for absurd layer lists
/// to be refused by their count, which is the clearer message).
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Checks the config's limits (see the module docs).
pub fn config(path: &Path) -> Result<()> {
    let text = crate::limits::read_bounded(path, MAX_CONFIG_BYTES, "a config")?;
    // Syntax errors are left to the converter's own parser, which names the field.
    let Ok(v) = serde_json::from_slice::<Value>(&text) else { return Ok(()) };
    let at = |what: String| format!("{}: {what}", path.display());
    let n_layers = v.get("n_layers").and_then(Value::as_u64);
    let layers = v.get("layers").and_then(Value::as_array);
    for (what, n) in [("n_layers", n_layers), ("`layers`", layers.map(|l| l.len() as u64))] {
        if let Some(n) = n.filter(|&n| n > MAX_LAYERS as u64) {
            bail!(at(format!("{what} is {n}, but a model file holds at most {MAX_LAYERS} layers")));
        }
    }
    for (i, layer) in layers.into_iter().flatten().enumerate() {
        let pattern = layer.get("pattern").and_then(Value::as_str).unwrap_or("");
        let Some(param) = layer.get("param") else { continue };
        let p = param.as_u64();
        if p.is_none_or(|p| p > u64::from(MAX_DIM)) {
            bail!(at(format!("layer {i}: param {param} of pattern {pattern} is not in 0..={MAX_DIM}")));
        }
        if matches!(pattern, "window" | "order") && p == Some(0) {
            let what = if pattern == "window" { "width" } else { "order" };
            bail!(at(format!("layer {i}: pattern {pattern} needs param >= 1 (the {what}), got 0")));
        }
    }
    let positive = |field: &str, value: Option<&Value>| -> Result<()> {
        match value {
            Some(x) if !x.as_f64().is_some_and(|f| f.is_finite() && f > 0.0 && (f as f32).is_normal()) => {
                bail!(at(format!("{field} is {x}; it must be a positive finite number")))
            }
            _ => Ok(()),
        }
    };
    positive("norm.eps", v.get("norm").and_then(|n| n.get("eps")))?;
    let rope = v.get("positional").and_then(|p| p.get("kind")).and_then(Value::as_str) != Some("none");
    if rope {
        positive("positional.theta", v.get("positional").and_then(|p| p.get("theta")))?;
    }
    Ok(())
}

/// Element size of the dtypes `convert` reads, by safetensors' name.
fn element_size(dtype: &str) -> Option<usize> {
    match dtype {
        "F32" => Some(4),
        "F16" | "BF16" => Some(2),
        _ => None,
    }
}

/// Whether the little-endian element `b` of `dtype` is NaN or infinite.
fn non_finite(dtype: &str, b: &[u8]) -> bool {
    match *b {
        [x0, x1, x2, x3] if dtype == "F32" => {
            u32::from_le_bytes([x0, x1, x2, x3]) & 0x7F80_0000 == 0x7F80_0000
        }
        [x0, x1] if dtype == "F16" => u16::from_le_bytes([x0, x1]) & 0x7C00 == 0x7C00,
        [x0, x1] => u16::from_le_bytes([x0, x1]) & 0x7F80 == 0x7F80, // BF16
        _ => false,
    }
}

/// Checks a safetensors file's header and tensors (see the module docs). `allow_nonfinite` skips
/// the NaN / infinity check.
pub fn safetensors(path: &Path, allow_nonfinite: bool) -> Result<()> {
    let bytes = crate::limits::read_bounded(path, MAX_CHECKPOINT_BYTES, "a checkpoint")?;
    let label = path.display();
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
        bail!(
            "{label} is not a safetensors file: it is {} bytes, shorter than the 8-byte header length",
            bytes.len()
        );
    };
    let header_len = u64::from_le_bytes(*len);
    if header_len > rest.len() as u64 {
        bail!(
            "{label} is not a safetensors file (or is truncated): its header claims {header_len} bytes of JSON but \
             only {} bytes follow",
            rest.len()
        );
    }
    let (json, data) = rest.split_at(header_len as usize);
    let header: serde_json::Map<String, Value> = serde_json::from_slice(json)
        .with_context(|| format!("{label} is not a safetensors file: its header is not a JSON object"))?;
    let mut spans = Vec::new();
    for (name, info) in header.iter().filter(|(n, _)| n.as_str() != "__metadata__") {
        let dtype = info.get("dtype").and_then(Value::as_str).unwrap_or("?");
        let Some(size) = element_size(dtype) else {
            bail!("{label}: tensor {name} has dtype {dtype}; convert reads F32, F16 and BF16");
        };
        let shape: Option<Vec<u64>> =
            info.get("shape").and_then(Value::as_array).and_then(|s| s.iter().map(Value::as_u64).collect());
        let Some(shape) = shape else { bail!("{label}: tensor {name} has no valid shape") };
        let offsets: Option<Vec<u64>> = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|s| s.iter().map(Value::as_u64).collect());
        let Some(&[start, end]) = offsets.as_deref() else {
            bail!("{label}: tensor {name} has no valid data_offsets [start, end]")
        };
        let elements = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let needed = elements.and_then(|e| e.checked_mul(size as u64));
        if end < start || end > data.len() as u64 {
            bail!(
                "{label}: tensor {name}'s data_offsets [{start}, {end}] are not inside the {} bytes of data after \
                 the header (the file is truncated or its header is wrong)",
                data.len()
            );
        }
        if needed != Some(end - start) {
            bail!(
                "{label}: tensor {name} is {dtype} of shape {shape:?} but its data_offsets [{start}, {end}] hold {} bytes",
                end - start
            );
        }
        spans.push((start, end, name.as_str(), dtype));
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        if let [(_, a_end, a, _), (b_start, _, b, _)] = pair {
            if b_start < a_end {
                bail!("{label}: tensors {a} and {b} overlap in the file (their data_offsets share bytes)");
            }
        }
    }
    if !allow_nonfinite {
        for &(start, end, name, dtype) in &spans {
            let size = element_size(dtype).unwrap_or(4);
            let slice = data.get(start as usize..end as usize).unwrap_or(&[]);
            if let Some((i, b)) = slice.chunks_exact(size).enumerate().find(|(_, b)| non_finite(dtype, b)) {
                let value = match *b {
                    [x0, x1, x2, x3] => f32::from_le_bytes([x0, x1, x2, x3]),
                    [x0, x1] if dtype == "F16" => half::f16::from_le_bytes([x0, x1]).to_f32(),
                    [x0, x1] => half::bf16::from_le_bytes([x0, x1]).to_f32(),
                    _ => f32::NAN,
                };
                let cols =
                    header.get(name).and_then(|t| t.get("shape")).and_then(Value::as_array).and_then(|s| {
                        if s.len() == 2 {
                            s.get(1).and_then(Value::as_u64)
                        } else {
                            None
                        }
                    });
                let at = match cols.filter(|&c| c > 0) {
                    Some(c) => format!("[{}, {}]", i as u64 / c, i as u64 % c),
                    None => format!("[{i}]"),
                };
                bail!(
                    "{label}: tensor {name} holds {value} at index {at}; non-finite weights make the model print \
                     garbage (pass --allow-nonfinite to convert it anyway)"
                );
            }
        }
    }
    Ok(())
}
