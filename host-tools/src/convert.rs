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
        if layer.is_loglinear() {
            push("mixer.wl.weight");
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

/// `(rows, cols)` of a tensor the way the model file compares shapes: `[n]` is `(1, n)`.
fn rows_cols(shape: &[usize]) -> Option<(usize, usize)> {
    match *shape {
        [n] => Some((1, n)),
        [r, c] => Some((r, c)),
        _ => None,
    }
}

/// The `(rows, cols)` each tensor of [`expected_names`] must have under `config`.
fn expected_shape(config: &ModelConfig, name: &str) -> (usize, usize) {
    let (v, d, h) = (config.vocab_size as usize, config.dim as usize, config.hidden_dim as usize);
    let Some(rest) = name.strip_prefix("layers.") else {
        return match name {
            "norm.weight" => (1, d),
            _ => (v, d), // tok_embeddings.weight, output.weight
        };
    };
    let (l, suffix) = rest.split_once('.').unwrap_or((rest, ""));
    let layer = l.parse::<usize>().ok().and_then(|l| config.layers.get(l));
    let (q, kv, heads) = layer.map_or((0, 0, 0), |l| {
        let hd = l.head_dim as usize;
        (l.n_heads as usize * hd, l.n_kv_heads as usize * hd, l.n_heads as usize)
    });
    let levels = layer.map_or(0, |l| l.level_weights(config.max_context));
    match suffix {
        "mixer_norm.weight" | "mlp_norm.weight" => (1, d),
        "mixer.wq.weight" | "mixer.wd.weight" => (q, d),
        "mixer.wk.weight" | "mixer.wv.weight" => (kv, d),
        "mixer.wo.weight" => (d, q),
        "mixer.gamma" => (1, heads),
        "mixer.wl.weight" => (heads * levels, d),
        "mlp.w1.weight" | "mlp.w3.weight" => (h, d),
        "mlp.w2.weight" => (d, h),
        _ => (0, 0),
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

    let names = expected_names(config);
    let missing: Vec<&String> = names.iter().filter(|n| !available.contains_key(*n)).collect();
    ensure!(missing.is_empty(), "{label}: missing tensors {missing:?} that the config needs");
    let extra: Vec<&String> = available.keys().filter(|n| !names.contains(n)).collect();
    ensure!(extra.is_empty(), "{label}: tensors {extra:?} are not used by the config's architecture");

    let mut tensors = Vec::new();
    let mut reports = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let view = &available[name];
        let shape = view.shape().to_vec();
        let expected = expected_shape(config, name);
        ensure!(
            rows_cols(&shape) == Some(expected),
            "{label}: tensor {name} has shape {shape:?}, but the config implies [{}, {}]",
            expected.0,
            expected.1
        );
        let values = to_f32(view).with_context(|| format!("tensor {name}"))?;
        let dtype = if keeps_f32(name) { DType::F32 } else { quant };
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
