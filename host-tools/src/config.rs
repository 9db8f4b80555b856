//! The JSON model config that `glmix convert` reads next to a safetensors checkpoint
//! (schema: `docs/model-spec.md`, section 3).

use anyhow::{ensure, Context, Result};
use glmix::format::{Classifier, FileHeader, Form, LayerDesc, MlpKind, NormKind, Positional, TokenizerKind};
use glmix::pattern::Pattern;
use glmix::{Config, MixerConfig};
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
    /// Level-aware coefficients (absent: false; [`glmix::arch::is_level_aware_defined`]).
    #[serde(default)]
    pub level_aware: bool,
}

/// `"a, b or c"` from the names of `values`, for error messages.
fn choices<T: Copy>(values: &[T], name: impl Fn(T) -> &'static str) -> String {
    let names: Vec<&str> = values.iter().map(|&v| name(v)).collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
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

    /// The runtime's typed model configuration (its dimensions are checked when the written file is
    /// parsed).
    pub fn model_config(&self) -> Result<Config> {
        let norm = NormKind::from_name(&self.norm.kind)
            .with_context(|| format!("unknown norm kind {:?}; expected rmsnorm", self.norm.kind))?;
        let positional = Positional::from_name(&self.positional.kind).with_context(|| {
            let expected = choices(Positional::ALL, Positional::name);
            format!("unknown positional kind {:?}; expected {expected}", self.positional.kind)
        })?;
        let mlp = MlpKind::from_name(&self.mlp).with_context(|| {
            format!("unknown mlp {:?}; expected {}", self.mlp, choices(MlpKind::ALL, MlpKind::name))
        })?;
        let tokenizer = TokenizerKind::from_name(&self.tokenizer.kind).with_context(|| {
            let expected = choices(TokenizerKind::ALL, TokenizerKind::name);
            format!("unknown tokenizer kind {:?}; expected {expected}", self.tokenizer.kind)
        })?;
        ensure!(
            tokenizer != TokenizerKind::Bytes || self.vocab_size >= 256,
            "a bytes tokenizer needs vocab_size >= 256, got {}",
            self.vocab_size
        );
        let bpe = tokenizer == TokenizerKind::Bpe;
        Ok(Config {
            dim: self.dim as usize,
            hidden_dim: self.hidden_dim as usize,
            vocab_size: self.vocab_size as usize,
            n_layers: self.n_layers as usize,
            max_context: self.max_context as usize,
            norm,
            norm_eps: self.norm.eps,
            positional,
            rope_theta: self.positional.theta,
            mlp,
            classifier: if self.tied_embeddings { Classifier::Tied } else { Classifier::Separate },
            tokenizer,
            emb_norm: false,
            bos: if bpe { 1 } else { 0 },
            eos: if bpe { 2 } else { 0 },
            max_token_len: 0,
        })
    }

    /// The file header this config describes (counts, length and checksum are filled by the writer).
    pub fn header(&self) -> Result<FileHeader> {
        Ok(self.model_config()?.header())
    }

    /// Each layer's typed mixer configuration; a pattern x form pair that is not a mixer is an error
    /// ([`glmix::arch::is_defined`]).
    pub fn mixers(&self) -> Result<Vec<MixerConfig>> {
        let patterns: Vec<Pattern> = (0..=u8::MAX).map_while(|c| Pattern::from_code(c, 0)).collect();
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let pattern = Pattern::from_name(&l.pattern, l.param).with_context(|| {
                    let expected = patterns.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ");
                    format!("layer {i}: unknown pattern {:?}; expected one of: {expected}", l.pattern)
                })?;
                let form = Form::from_name(&l.form).with_context(|| {
                    let expected = Form::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ");
                    format!("layer {i}: unknown form {:?}; expected one of: {expected}", l.form)
                })?;
                ensure!(
                    form != Form::Rwkv7,
                    "layer {i}: the rwkv7 form comes from rwkv.cpp files (`glmix convert --weights FILE.bin` \
                     without --config, or `glmix import-rwkv`; models/glmix_models/rwkv7.py writes \
                     them); convert's config has no LoRA ranks"
                );
                ensure!(
                    glmix::arch::is_defined(pattern, form),
                    "layer {i}: {}, not {} {}",
                    glmix::arch::DEFINED_RULE,
                    l.pattern,
                    l.param
                );
                ensure!(
                    !l.level_aware || glmix::arch::is_level_aware_defined(pattern, form),
                    "layer {i}: {}, not {} {} x {}",
                    glmix::arch::LEVEL_AWARE_RULE,
                    l.pattern,
                    l.param,
                    l.form
                );
                Ok(MixerConfig {
                    pattern,
                    form,
                    n_heads: l.n_heads.into(),
                    n_kv_heads: l.n_kv_heads.into(),
                    head_dim: l.head_dim.into(),
                    level_aware: l.level_aware,
                    lora: [0; 4],
                    group_norm_eps: 0.0,
                })
            })
            .collect()
    }

    /// The layer table.
    pub fn layer_descs(&self) -> Result<Vec<LayerDesc>> {
        Ok(self.mixers()?.iter().map(MixerConfig::desc).collect())
    }
}
