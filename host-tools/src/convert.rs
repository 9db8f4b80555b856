//! `glmix convert`: a safetensors checkpoint plus its JSON config into a model file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
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

/// True for tensors that stay f32 whatever the requested quantization (norm weights, gains).
pub fn keeps_f32(name: &str) -> bool {
    name.ends_with("norm.weight") || name.ends_with("mixer.gamma")
}

/// The tensor names a config needs, in file order.
pub fn expected_names(config: &ModelConfig) -> Vec<String> {
    let mut names = vec!["tok_embeddings.weight".to_string()];
    for (l, layer) in config.layers.iter().enumerate() {
        let mut push = |s: &str| names.push(format!("layers.{l}.{s}"));
        push("mixer_norm.weight");
        for w in ["wq", "wk", "wv", "wo"] {
            push(&format!("mixer.{w}.weight"));
        }
        match layer.form.as_str() {
            "chained" => push("mixer.gamma"),
            "state_space" => push("mixer.wd.weight"),
            _ => {}
        }
        push("mlp_norm.weight");
        push("mlp.w1.weight");
        push("mlp.w2.weight");
        if config.mlp == "swiglu" {
            push("mlp.w3.weight");
        }
    }
    names.push("norm.weight".into());
    if !config.tied_embeddings {
        names.push("output.weight".into());
    }
    names
}

/// Converts a checkpoint; `on_tensor` is called after each tensor (for a progress bar).
pub fn convert(
    weights: &Path,
    config_path: &Path,
    quant: DType,
    mut on_tensor: impl FnMut(&str, usize, usize),
) -> Result<(ModelFile, Vec<TensorReport>)> {
    let config = ModelConfig::load(config_path)?;
    let mut header = config.header()?;
    let layers = config.layer_descs()?;
    let buffer = std::fs::read(weights).with_context(|| format!("cannot read {}", weights.display()))?;
    let st = SafeTensors::deserialize(&buffer)
        .with_context(|| format!("{} is not a safetensors file", weights.display()))?;
    let available: BTreeMap<String, safetensors::tensor::TensorView<'_>> = st.tensors().into_iter().collect();

    let names = expected_names(&config);
    let missing: Vec<&String> = names.iter().filter(|n| !available.contains_key(*n)).collect();
    ensure!(missing.is_empty(), "{}: missing tensors {:?} that the config needs", weights.display(), missing);
    let extra: Vec<&String> = available.keys().filter(|n| !names.contains(n)).collect();
    ensure!(
        extra.is_empty(),
        "{}: tensors {:?} are not used by the config's architecture",
        weights.display(),
        extra
    );

    let mut tensors = Vec::new();
    let mut reports = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let view = &available[name];
        let values = to_f32(view).with_context(|| format!("tensor {name}"))?;
        let dtype = if keeps_f32(name) { DType::F32 } else { quant };
        let shape = view.shape().to_vec();
        let (data, error) = encode(name, dtype, &shape, &values)?;
        reports.push(TensorReport { name: name.clone(), dtype, shape, error });
        tensors.push(data);
        on_tensor(name, i + 1, names.len());
    }
    if config.tokenizer.kind == "llama2c" {
        let rel = config.tokenizer.path.as_deref().context("tokenizer kind llama2c needs a `path`")?;
        let path = config_path.parent().unwrap_or(Path::new(".")).join(rel);
        let vocab = Vocab::read_llama2c(&path, config.vocab_size as usize)?;
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
