//! The JSON model config that `glmix convert` reads next to a safetensors checkpoint
//! (schema: `docs/model-spec.md`, section 3).

use anyhow::{bail, ensure, Context, Result};
use glmix::format::{FileHeader, Form, LayerDesc, Positional};
use glmix::pattern::Pattern;
use serde::Deserialize;

/// `config.json`, as written by `models/`' exporter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Schema version; must be 1.
    pub glmix_config: u32,
    /// Vocabulary size.
    pub vocab_size: u32,
    /// Model width.
    pub dim: u32,
    /// MLP hidden width.
    pub hidden_dim: u32,
    /// Number of layers.
    pub n_layers: u32,
    /// Context the model was trained at.
    pub max_context: u32,
    /// Whether the classifier is the embedding matrix.
    pub tied_embeddings: bool,
    /// Normalisation.
    pub norm: NormConfig,
    /// Positional encoding.
    pub positional: PositionalConfig,
    /// `swiglu` or `gelu`.
    pub mlp: String,
    /// Tokenizer.
    pub tokenizer: TokenizerConfig,
    /// One entry per layer.
    pub layers: Vec<LayerConfig>,
}

/// `norm`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormConfig {
    /// `rmsnorm`.
    pub kind: String,
    /// Epsilon.
    pub eps: f32,
}

/// `positional`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionalConfig {
    /// `none`, `rope_interleaved` or `rope_half`.
    pub kind: String,
    /// RoPE base.
    #[serde(default = "default_theta")]
    pub theta: f32,
}

fn default_theta() -> f32 {
    10000.0
}

/// `tokenizer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// `none` (token ids only, e.g. the synthetic tasks), `bytes` or `llama2c`.
    pub kind: String,
    /// For `llama2c`: path of tokenizer.bin, relative to the config file.
    #[serde(default)]
    pub path: Option<String>,
}

/// One entry of `layers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    /// Pattern kind name.
    pub pattern: String,
    /// Pattern parameter.
    #[serde(default)]
    pub param: u32,
    /// Form name.
    pub form: String,
    /// Query heads.
    pub n_heads: u16,
    /// Key/value heads.
    pub n_kv_heads: u16,
    /// Head width.
    pub head_dim: u16,
}

impl LayerConfig {
    /// True for the log-linear state space (`state_space` on `pow2_lattice`).
    pub fn is_loglinear(&self) -> bool {
        self.form == "state_space" && self.pattern == "pow2_lattice"
    }

    /// Level weights per head of a log-linear layer (`glmix::loglinear::level_weights`), else 0.
    pub fn level_weights(&self, max_context: u32) -> usize {
        match self.is_loglinear() {
            true => glmix::loglinear::level_weights(Pattern::Pow2Lattice { cap: self.param }, max_context),
            false => 0,
        }
    }
}

/// Pattern kind names, indexed by their file code.
pub const PATTERN_NAMES: [&str; 7] =
    ["dense", "window", "order", "pow2", "pow2_lattice", "sq1", "sq1_lattice"];
/// Form names, indexed by their file code.
pub const FORM_NAMES: [&str; 4] = ["attention", "recurrent", "chained", "state_space"];

fn code_of(names: &[&str], name: &str, what: &str) -> Result<u8> {
    match names.iter().position(|n| *n == name) {
        Some(i) => Ok(i as u8),
        None => bail!("unknown {what} {name:?}; expected one of: {}", names.join(", ")),
    }
}

impl ModelConfig {
    /// Reads and validates a config file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let config: ModelConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid glmix config", path.display()))?;
        ensure!(
            config.glmix_config == 1,
            "{}: glmix_config {} is not supported (expected 1)",
            path.display(),
            config.glmix_config
        );
        ensure!(
            config.layers.len() == config.n_layers as usize,
            "{}: n_layers is {} but `layers` has {} entries",
            path.display(),
            config.n_layers,
            config.layers.len()
        );
        Ok(config)
    }

    /// The file header this config describes (counts, length and checksum are filled by the writer).
    pub fn header(&self) -> Result<FileHeader> {
        ensure!(self.norm.kind == "rmsnorm", "unknown norm kind {:?}; expected rmsnorm", self.norm.kind);
        let positional = match self.positional.kind.as_str() {
            "none" => Positional::None,
            "rope_interleaved" => Positional::RopeInterleaved,
            "rope_half" => Positional::RopeHalf,
            other => bail!("unknown positional kind {other:?}; expected none, rope_interleaved or rope_half"),
        };
        let mlp = match self.mlp.as_str() {
            "swiglu" => 0,
            "gelu" => 1,
            other => bail!("unknown mlp {other:?}; expected swiglu or gelu"),
        };
        let tokenizer = match self.tokenizer.kind.as_str() {
            "none" => 0,
            "bytes" => {
                ensure!(
                    self.vocab_size >= 256,
                    "a bytes tokenizer needs vocab_size >= 256, got {}",
                    self.vocab_size
                );
                1
            }
            "llama2c" => 2,
            other => bail!("unknown tokenizer kind {other:?}; expected none, bytes or llama2c"),
        };
        Ok(FileHeader {
            magic: glmix::format::MAGIC,
            version: glmix::format::VERSION,
            file_len: 0,
            checksum: 0,
            n_layers: self.n_layers,
            n_tensors: 0,
            dim: self.dim,
            hidden_dim: self.hidden_dim,
            vocab_size: self.vocab_size,
            max_context: self.max_context,
            norm_eps: self.norm.eps,
            rope_theta: self.positional.theta,
            norm: 0,
            positional: positional as u8,
            mlp,
            classifier: if self.tied_embeddings { 0 } else { 1 },
            tokenizer,
            bos: if tokenizer == 2 { 1 } else { 0 },
            eos: if tokenizer == 2 { 2 } else { 0 },
            max_token_len: 0,
        })
    }

    /// The layer table.
    pub fn layer_descs(&self) -> Result<Vec<LayerDesc>> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let pattern =
                    code_of(&PATTERN_NAMES, &l.pattern, "pattern").with_context(|| format!("layer {i}"))?;
                let form = code_of(&FORM_NAMES, &l.form, "form").with_context(|| format!("layer {i}"))?;
                ensure!(
                    l.form != "state_space" || l.is_loglinear() || (l.pattern == "order" && l.param == 1),
                    "layer {i}: state_space is defined on pattern order 1 (param 1) and pow2_lattice only, not {} {}",
                    l.pattern,
                    l.param
                );
                debug_assert_eq!(Form::from_code(form).map(|f| f.name()), Some(l.form.as_str()));
                Ok(LayerDesc {
                    pattern,
                    form,
                    param: l.param,
                    n_heads: l.n_heads,
                    n_kv_heads: l.n_kv_heads,
                    head_dim: l.head_dim,
                })
            })
            .collect()
    }
}
