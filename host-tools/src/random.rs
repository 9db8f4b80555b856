//! Small random models for tests, benchmarks and demos: any mix of mixers, any dtype.

use anyhow::{Context, Result};
use glmix::format::{Classifier, Form, MlpKind, NormKind, Positional, TokenizerKind};
use glmix::pattern::Pattern;
use glmix::{Config, DType, MixerConfig, Role};

use crate::quantize::encode;
use crate::writer::ModelFile;

/// A deterministic xorshift64* generator (tests need reproducible weights, not quality randomness).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    /// Uniform integer in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// One layer of a random model.
#[derive(Clone, Copy, Debug)]
pub struct RandomLayer {
    /// Pattern code (see `glmix::pattern::Pattern::from_code`).
    pub pattern: u8,
    /// Pattern parameter.
    pub param: u32,
    /// Form code.
    pub form: u8,
    /// Query heads.
    pub n_heads: u16,
    /// Key/value heads.
    pub n_kv_heads: u16,
}

/// The shape of a random model.
#[derive(Clone, Debug)]
pub struct RandomSpec {
    /// Model width.
    pub dim: usize,
    /// MLP width.
    pub hidden_dim: usize,
    /// Vocabulary size (>= 256 gives a bytes tokenizer).
    pub vocab_size: usize,
    /// Head width.
    pub head_dim: usize,
    /// Layers.
    pub layers: Vec<RandomLayer>,
    /// Weight dtype.
    pub dtype: DType,
    /// SwiGLU (true) or GELU.
    pub swiglu: bool,
    /// Tied classifier.
    pub tied: bool,
    /// Positional encoding.
    pub positional: Positional,
    /// The header's `max_context` (sizes a log-linear layer's level weights).
    pub max_context: u32,
}

impl RandomSpec {
    /// A small model with the given layers (dim 32, 2 heads of 16, hidden 64, vocab 256, f32).
    pub fn small(layers: Vec<RandomLayer>) -> Self {
        RandomSpec {
            dim: 32,
            hidden_dim: 64,
            vocab_size: 256,
            head_dim: 16,
            layers,
            dtype: DType::F32,
            swiglu: true,
            tied: true,
            positional: Positional::RopeInterleaved,
            max_context: 1024,
        }
    }
}

impl RandomSpec {
    /// The typed configuration and layer table this spec describes (codes are checked when the
    /// written file is parsed: an unknown pattern or form code is an error here).
    pub fn arch(&self) -> Result<(Config, Vec<MixerConfig>)> {
        let config = Config {
            dim: self.dim,
            hidden_dim: self.hidden_dim,
            vocab_size: self.vocab_size,
            n_layers: self.layers.len(),
            max_context: self.max_context as usize,
            norm: NormKind::RmsNorm,
            norm_eps: 1e-5,
            positional: self.positional,
            rope_theta: 10000.0,
            mlp: if self.swiglu { MlpKind::SwiGlu } else { MlpKind::Gelu },
            classifier: if self.tied { Classifier::Tied } else { Classifier::Separate },
            tokenizer: if self.vocab_size >= 256 { TokenizerKind::Bytes } else { TokenizerKind::None },
            bos: 0,
            eos: 0,
            max_token_len: 0,
        };
        let mixers = self
            .layers
            .iter()
            .map(|l| {
                Ok(MixerConfig {
                    pattern: Pattern::from_code(l.pattern, l.param).context("unknown pattern code")?,
                    form: Form::from_code(l.form).context("unknown form code")?,
                    n_heads: l.n_heads.into(),
                    n_kv_heads: l.n_kv_heads.into(),
                    head_dim: self.head_dim,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((config, mixers))
    }
}

/// Builds a random model. Weights are scaled like a trained model's (about 1/sqrt(fan_in)).
pub fn random_model(spec: &RandomSpec, seed: u64) -> Result<ModelFile> {
    let mut rng = Rng::new(seed);
    let (config, mixers) = spec.arch()?;
    let mut tensors = Vec::new();
    for t in glmix::arch::tensors(&config, &mixers).filter(|t| t.required) {
        let ([rows, cols], n_dims) = t.dims().context("tokenizer tables are not random")?;
        let shape: Vec<usize> = [rows, cols].iter().take(n_dims).map(|&n| n as usize).collect();
        let n: usize = shape.iter().product();
        let fan_in = *shape.last().unwrap_or(&1) as f32;
        let values: Vec<f32> = match t.role {
            Role::MixerNorm | Role::MlpNorm | Role::Norm => {
                (0..n).map(|_| 1.0 + 0.1 * rng.uniform()).collect()
            }
            Role::Gamma => (0..n).map(|_| 0.5 + 0.4 * rng.uniform()).collect(),
            _ => (0..n).map(|_| rng.uniform() * 1.7 / fan_in.sqrt()).collect(),
        };
        tensors.push(encode(&t.name().to_string(), t.role.stored_as(spec.dtype), &shape, &values)?.0);
    }
    let layers = mixers.iter().map(MixerConfig::desc).collect();
    Ok(ModelFile { header: config.header(), layers, tensors })
}
