//! Small random models for tests, benchmarks and demos: any mix of mixers, any dtype.

use anyhow::Result;
use glmix::format::{FileHeader, Form, LayerDesc, Positional};
use glmix::pattern::Pattern;
use glmix::DType;

use crate::convert::keeps_f32;
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

/// Builds a random model. Weights are scaled like a trained model's (about 1/sqrt(fan_in)).
pub fn random_model(spec: &RandomSpec, seed: u64) -> Result<ModelFile> {
    let mut rng = Rng::new(seed);
    let d = spec.dim;
    let mut tensors = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, rng: &mut Rng| -> Result<()> {
        let n: usize = shape.iter().product();
        let fan_in = *shape.last().unwrap_or(&1) as f32;
        let values: Vec<f32> = if name.ends_with("norm.weight") {
            (0..n).map(|_| 1.0 + 0.1 * rng.uniform()).collect()
        } else if name.ends_with("mixer.gamma") {
            (0..n).map(|_| 0.5 + 0.4 * rng.uniform()).collect()
        } else {
            (0..n).map(|_| rng.uniform() * 1.7 / fan_in.sqrt()).collect()
        };
        let dtype = if keeps_f32(&name) { DType::F32 } else { spec.dtype };
        tensors.push(encode(&name, dtype, &shape, &values)?.0);
        Ok(())
    };
    add("tok_embeddings.weight".into(), vec![spec.vocab_size, d], &mut rng)?;
    let mut descs = Vec::new();
    for (l, layer) in spec.layers.iter().enumerate() {
        let q = layer.n_heads as usize * spec.head_dim;
        let kv = layer.n_kv_heads as usize * spec.head_dim;
        add(format!("layers.{l}.mixer_norm.weight"), vec![d], &mut rng)?;
        add(format!("layers.{l}.mixer.wq.weight"), vec![q, d], &mut rng)?;
        add(format!("layers.{l}.mixer.wk.weight"), vec![kv, d], &mut rng)?;
        add(format!("layers.{l}.mixer.wv.weight"), vec![kv, d], &mut rng)?;
        add(format!("layers.{l}.mixer.wo.weight"), vec![d, q], &mut rng)?;
        match layer.form {
            2 => add(format!("layers.{l}.mixer.gamma"), vec![layer.n_heads as usize], &mut rng)?,
            3 => add(format!("layers.{l}.mixer.wd.weight"), vec![q, d], &mut rng)?,
            _ => {}
        }
        if let Some(pattern) = Pattern::from_code(layer.pattern, layer.param) {
            if let Some(form) = Form::from_code(layer.form) {
                if glmix::loglinear::is_loglinear(pattern, form) {
                    let levels = glmix::loglinear::level_weights(pattern, spec.max_context);
                    add(
                        format!("layers.{l}.mixer.wl.weight"),
                        vec![layer.n_heads as usize * levels, d],
                        &mut rng,
                    )?;
                }
            }
        }
        add(format!("layers.{l}.mlp_norm.weight"), vec![d], &mut rng)?;
        add(format!("layers.{l}.mlp.w1.weight"), vec![spec.hidden_dim, d], &mut rng)?;
        add(format!("layers.{l}.mlp.w2.weight"), vec![d, spec.hidden_dim], &mut rng)?;
        if spec.swiglu {
            add(format!("layers.{l}.mlp.w3.weight"), vec![spec.hidden_dim, d], &mut rng)?;
        }
        descs.push(LayerDesc {
            pattern: layer.pattern,
            form: layer.form,
            param: layer.param,
            n_heads: layer.n_heads,
            n_kv_heads: layer.n_kv_heads,
            head_dim: spec.head_dim as u16,
        });
    }
    add("norm.weight".into(), vec![d], &mut rng)?;
    if !spec.tied {
        add("output.weight".into(), vec![spec.vocab_size, d], &mut rng)?;
    }
    let header = FileHeader {
        magic: glmix::format::MAGIC,
        version: glmix::format::VERSION,
        file_len: 0,
        checksum: 0,
        n_layers: descs.len() as u32,
        n_tensors: 0,
        dim: d as u32,
        hidden_dim: spec.hidden_dim as u32,
        vocab_size: spec.vocab_size as u32,
        max_context: spec.max_context,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        norm: 0,
        positional: spec.positional as u8,
        mlp: if spec.swiglu { 0 } else { 1 },
        classifier: if spec.tied { 0 } else { 1 },
        tokenizer: if spec.vocab_size >= 256 { 1 } else { 0 },
        bos: 0,
        eos: 0,
        max_token_len: 0,
    };
    Ok(ModelFile { header, layers: descs, tensors })
}
