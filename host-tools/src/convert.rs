//! `glmix convert`: a safetensors checkpoint plus its JSON config into a model file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use glmix::arch::TensorSpec;
use glmix::DType;
use safetensors::SafeTensors;

use crate::config::ModelConfig;
use crate::quantize::{encode, EncodeError};
use crate::vocab::Vocab;
use crate::writer::ModelFile;

/// One converted tensor's report line.
#[derive(Clone, Debug)]
pub struct TensorReport {
    /// Tensor name.
    pub name: String,
    /// Stored dtype.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Error against the checkpoint's values.
    pub error: EncodeError,
}

/// The tensors a config's model reads from its checkpoint, in file order (the architecture table,
/// [`glmix::arch::tensors`], less the tokenizer tables, which come from the vocabulary).
pub fn expected_tensors(config: &ModelConfig) -> Result<Vec<TensorSpec>> {
    let (model, mixers) = (config.model_config()?, config.mixers()?);
    Ok(glmix::arch::checkpoint_tensors(&model, &mixers).collect())
}

/// `(rows, cols)` of a tensor the way the model file compares shapes: `[n]` is `(1, n)`.
fn rows_cols(shape: &[usize]) -> Option<(u32, u32)> {
    match *shape {
        [n] => Some((1, n.try_into().ok()?)),
        [r, c] => Some((r.try_into().ok()?, c.try_into().ok()?)),
        _ => None,
    }
}

/// Converts a checkpoint; `on_tensor` is called after each tensor (for a progress bar).
pub fn convert(
    weights: &Path,
    config_path: &Path,
    quant: DType,
    on_tensor: impl FnMut(&str, usize, usize),
) -> Result<(ModelFile, Vec<TensorReport>)> {
    let config = ModelConfig::load(config_path)?;
    // Header and layer table first: a bad config is reported before the checkpoint is read.
    config.header()?;
    config.layer_descs()?;
    let vocab = if config.tokenizer.kind == "llama2c" {
        let rel = config.tokenizer.path.as_deref().context("tokenizer kind llama2c needs a `path`")?;
        let path = config_path.parent().unwrap_or(Path::new(".")).join(rel);
        Some(Vocab::read_llama2c(&path, config.vocab_size as usize)?)
    } else {
        None
    };
    let buffer = std::fs::read(weights).with_context(|| format!("cannot read {}", weights.display()))?;
    convert_bytes(&buffer, &weights.display().to_string(), &config, vocab.as_ref(), quant, on_tensor)
}

/// [`convert`] on a checkpoint already in memory: `weights` is the safetensors file, `label` names it
/// in messages, `vocab` is the tokenizer a `llama2c` tokenizer config refers to.
pub fn convert_bytes(
    weights: &[u8],
    label: &str,
    config: &ModelConfig,
    vocab: Option<&Vocab>,
    quant: DType,
    mut on_tensor: impl FnMut(&str, usize, usize),
) -> Result<(ModelFile, Vec<TensorReport>)> {
    let mut header = config.header()?;
    let layers = config.layer_descs()?;
    let st =
        SafeTensors::deserialize(weights).with_context(|| format!("{label} is not a safetensors file"))?;
    let available: BTreeMap<String, safetensors::tensor::TensorView<'_>> = st.tensors().into_iter().collect();

    let specs = expected_tensors(config)?;
    let names: Vec<String> = specs.iter().map(|t| t.name().to_string()).collect();
    let missing: Vec<&String> = names.iter().filter(|n| !available.contains_key(*n)).collect();
    ensure!(missing.is_empty(), "{label}: missing tensors {missing:?} that the config needs");
    let extra: Vec<&String> = available.keys().filter(|n| !names.contains(n)).collect();
    ensure!(extra.is_empty(), "{label}: tensors {extra:?} are not used by the config's architecture");

    let mut tensors = Vec::new();
    let mut reports = Vec::new();
    for (i, (spec, name)) in specs.iter().zip(&names).enumerate() {
        let view = &available[name];
        let shape = view.shape().to_vec();
        ensure!(
            rows_cols(&shape).is_some_and(|(r, c)| spec.fits(r, c)),
            "{label}: tensor {name} has shape {shape:?}, but the config implies [{}, {}]",
            spec.rows,
            spec.cols.unwrap_or(0)
        );
        let values = to_f32(view).with_context(|| format!("tensor {name}"))?;
        let dtype = spec.role.stored_as(quant);
        let (data, error) = encode(name, dtype, &shape, &values)?;
        reports.push(TensorReport { name: name.clone(), dtype, shape, error });
        tensors.push(data);
        on_tensor(name, i + 1, names.len());
    }
    if config.tokenizer.kind == "llama2c" {
        let vocab = vocab.context("tokenizer kind llama2c needs its tokenizer.bin")?;
        ensure!(
            vocab.tokens.len() == config.vocab_size as usize,
            "the tokenizer has {} tokens but vocab_size is {}",
            vocab.tokens.len(),
            config.vocab_size
        );
        header.max_token_len = vocab.max_token_len;
        tensors.extend(vocab.tensors());
    }
    Ok((ModelFile { header, layers, tensors }, reports))
}

fn to_f32(view: &safetensors::tensor::TensorView<'_>) -> Result<Vec<f32>> {
    use safetensors::Dtype;
    let data = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => {
            data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        }
        other => bail!("dtype {other:?} is not supported (use F32, F16 or BF16)"),
    })
}
