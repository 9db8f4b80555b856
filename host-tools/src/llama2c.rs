//! `glmix import-llama2c`: llama2.c checkpoints (legacy v0 f32, and v2 int8 from `export.py
//! --version 2`) into model files, with their tokenizer.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use glmix::format::{Classifier, Form, MlpKind, NormKind, Positional, TokenizerKind, MAX_LAYERS};
use glmix::pattern::Pattern;
use glmix::{Config, DType, MixerConfig, Role};

use crate::convert::TensorReport;
use crate::quantize::encode;
use crate::vocab::Vocab;
use crate::writer::ModelFile;

/// llama2.c's model hyper-parameters (the `Config` struct of run.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Llama2cConfig {
    /// Model width.
    pub dim: usize,
    /// FFN width.
    pub hidden_dim: usize,
    /// Layers.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Trained context.
    pub seq_len: usize,
    /// Whether the classifier is the embedding.
    pub shared_classifier: bool,
}

/// A tensor read from a checkpoint: name, shape, f32 values.
pub type RawTensor = (String, Vec<usize>, Vec<f32>);

const V2_MAGIC: u32 = 0x616b_3432; // "ak42"

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self.pos.checked_add(n).and_then(|end| self.bytes.get(self.pos..end)).with_context(|| {
            format!("{}: truncated at byte {} (needed {n} more bytes)", self.path.display(), self.pos)
        })?;
        self.pos += n;
        Ok(s)
    }
    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>> {
        let b = self.take(n.checked_mul(4).context("size overflow")?)?;
        Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    /// llama2.c v2 `Q8_0` tensor: `n` int8 values then `n / group` f32 scales.
    fn q80(&mut self, n: usize, group: usize) -> Result<Vec<f32>> {
        ensure!(
            n.is_multiple_of(group),
            "{}: tensor of {n} values is not a whole number of groups of {group}",
            self.path.display()
        );
        let q = self.take(n)?;
        let scales = self.f32s(n / group)?;
        Ok(q.iter().enumerate().map(|(i, &v)| (v as i8) as f32 * scales[i / group]).collect())
    }
}

fn dims(c: &mut Cursor<'_>) -> Result<[i32; 7]> {
    let mut d = [0i32; 7];
    for v in &mut d {
        *v = c.i32()?;
    }
    Ok(d)
}

fn config_from(d: [i32; 7], shared: bool, path: &Path) -> Result<Llama2cConfig> {
    let [dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab, seq_len] = d;
    for (name, v) in [
        ("dim", dim),
        ("hidden_dim", hidden_dim),
        ("n_layers", n_layers),
        ("n_heads", n_heads),
        ("n_kv_heads", n_kv_heads),
        ("seq_len", seq_len),
    ] {
        ensure!(
            (1..=1 << 20).contains(&v),
            "{}: implausible {name} = {v}: not a llama2.c checkpoint?",
            path.display()
        );
    }
    ensure!(
        vocab != 0 && vocab.unsigned_abs() <= 1 << 20,
        "{}: implausible vocab_size = {vocab}",
        path.display()
    );
    ensure!(
        dim % n_heads == 0 && n_heads % n_kv_heads == 0,
        "{}: heads ({n_heads}, kv {n_kv_heads}) do not divide dim {dim}",
        path.display()
    );
    ensure!(
        n_layers as usize <= MAX_LAYERS,
        "{}: {n_layers} layers, but glmix models have at most {MAX_LAYERS}",
        path.display()
    );
    ensure!(
        vocab.unsigned_abs() >= 3,
        "{}: vocab_size {vocab} has no room for <unk>, BOS and EOS",
        path.display()
    );
    let head = dim / n_heads;
    ensure!(
        n_heads <= i32::from(u16::MAX) && head <= i32::from(u16::MAX) && head % 2 == 0,
        "{}: {n_heads} heads of size {head}: glmix needs at most 65535 heads of an even size (RoPE)",
        path.display()
    );
    Ok(Llama2cConfig {
        dim: dim as usize,
        hidden_dim: hidden_dim as usize,
        n_layers: n_layers as usize,
        n_heads: n_heads as usize,
        n_kv_heads: n_kv_heads as usize,
        vocab_size: vocab.unsigned_abs() as usize,
        seq_len: seq_len as usize,
        shared_classifier: shared,
    })
}

/// All tensors of a llama2.c model, dequantized to f32, under glmix names, in file order.
pub fn read_checkpoint(path: &Path) -> Result<(Llama2cConfig, Vec<RawTensor>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_checkpoint_bytes(&bytes, path)
}

/// [`read_checkpoint`] on bytes already in memory; `path` only names the file in messages.
pub fn read_checkpoint_bytes(bytes: &[u8], path: &Path) -> Result<(Llama2cConfig, Vec<RawTensor>)> {
    let mut c = Cursor { bytes, pos: 0, path };
    let first = c.i32()? as u32;
    let mut out = Vec::new();
    let cfg;
    if first == V2_MAGIC {
        let version = c.i32()?;
        ensure!(
            version == 2,
            "{}: llama2.c format version {version} is not supported (v0 and v2 are)",
            path.display()
        );
        let d = dims(&mut c)?;
        let shared = c.take(1)?[0] != 0;
        let group = c.i32()?;
        ensure!((1..=4096).contains(&group), "{}: implausible group size {group}", path.display());
        c.pos = 256;
        cfg = config_from(d, shared, path)?;
        let group = group as usize;
        let (l, dim, hd, kv) =
            (cfg.n_layers, cfg.dim, cfg.hidden_dim, cfg.dim * cfg.n_kv_heads / cfg.n_heads);
        let att = c.f32s(l * dim)?;
        let ffn = c.f32s(l * dim)?;
        let fin = c.f32s(dim)?;
        out.push((
            "tok_embeddings.weight".into(),
            vec![cfg.vocab_size, dim],
            c.q80(cfg.vocab_size * dim, group)?,
        ));
        let mut per_layer = |c: &mut Cursor<'_>, suffix: &str, shape: [usize; 2]| -> Result<()> {
            for i in 0..l {
                let v = c.q80(shape[0] * shape[1], group)?;
                out.push((format!("layers.{i}.{suffix}"), shape.to_vec(), v));
            }
            Ok(())
        };
        per_layer(&mut c, "mixer.wq.weight", [dim, dim])?;
        per_layer(&mut c, "mixer.wk.weight", [kv, dim])?;
        per_layer(&mut c, "mixer.wv.weight", [kv, dim])?;
        per_layer(&mut c, "mixer.wo.weight", [dim, dim])?;
        per_layer(&mut c, "mlp.w1.weight", [hd, dim])?;
        per_layer(&mut c, "mlp.w2.weight", [dim, hd])?;
        per_layer(&mut c, "mlp.w3.weight", [hd, dim])?;
        for i in 0..l {
            out.push((
                format!("layers.{i}.mixer_norm.weight"),
                vec![dim],
                att[i * dim..(i + 1) * dim].to_vec(),
            ));
            out.push((
                format!("layers.{i}.mlp_norm.weight"),
                vec![dim],
                ffn[i * dim..(i + 1) * dim].to_vec(),
            ));
        }
        out.push(("norm.weight".into(), vec![dim], fin));
        if !shared {
            out.push((
                "output.weight".into(),
                vec![cfg.vocab_size, dim],
                c.q80(cfg.vocab_size * dim, group)?,
            ));
        }
    } else {
        c.pos = 0;
        let d = dims(&mut c)?;
        cfg = config_from(d, d[5] > 0, path)?;
        let (l, dim, hd, kv) =
            (cfg.n_layers, cfg.dim, cfg.hidden_dim, cfg.dim * cfg.n_kv_heads / cfg.n_heads);
        let head = dim / cfg.n_heads;
        out.push(("tok_embeddings.weight".into(), vec![cfg.vocab_size, dim], c.f32s(cfg.vocab_size * dim)?));
        let mut per_layer = |c: &mut Cursor<'_>, suffix: &str, shape: Vec<usize>| -> Result<()> {
            let n: usize = shape.iter().product();
            for i in 0..l {
                out.push((format!("layers.{i}.{suffix}"), shape.clone(), c.f32s(n)?));
            }
            Ok(())
        };
        per_layer(&mut c, "mixer_norm.weight", vec![dim])?;
        per_layer(&mut c, "mixer.wq.weight", vec![dim, dim])?;
        per_layer(&mut c, "mixer.wk.weight", vec![kv, dim])?;
        per_layer(&mut c, "mixer.wv.weight", vec![kv, dim])?;
        per_layer(&mut c, "mixer.wo.weight", vec![dim, dim])?;
        per_layer(&mut c, "mlp_norm.weight", vec![dim])?;
        per_layer(&mut c, "mlp.w1.weight", vec![hd, dim])?;
        per_layer(&mut c, "mlp.w2.weight", vec![dim, hd])?;
        per_layer(&mut c, "mlp.w3.weight", vec![hd, dim])?;
        out.push(("norm.weight".into(), vec![dim], c.f32s(dim)?));
        c.take(cfg.seq_len * head * 4)?; // unused RoPE tables (real, imaginary)
        if !cfg.shared_classifier {
            out.push(("output.weight".into(), vec![cfg.vocab_size, dim], c.f32s(cfg.vocab_size * dim)?));
        }
    }
    if c.pos != bytes.len() {
        bail!(
            "{}: {} bytes left over after the last tensor: not a llama2.c v0/v2 checkpoint of this shape",
            path.display(),
            bytes.len() - c.pos
        );
    }
    Ok((cfg, out))
}

/// Imports a llama2.c checkpoint and tokenizer as a model file with weights stored as `quant`.
pub fn import(
    model: &Path,
    tokenizer: &Path,
    quant: DType,
    on_tensor: impl FnMut(&str, usize, usize),
) -> Result<(ModelFile, Vec<TensorReport>)> {
    let (cfg, raw) = read_checkpoint(model)?;
    let vocab = Vocab::read_llama2c(tokenizer, cfg.vocab_size)?;
    import_parts(&cfg, &raw, &vocab, quant, on_tensor)
}

/// [`import`] from a checkpoint already read ([`read_checkpoint_bytes`]) and its vocabulary.
pub fn import_parts(
    cfg: &Llama2cConfig,
    raw: &[RawTensor],
    vocab: &Vocab,
    quant: DType,
    mut on_tensor: impl FnMut(&str, usize, usize),
) -> Result<(ModelFile, Vec<TensorReport>)> {
    ensure!(
        vocab.tokens.len() == cfg.vocab_size,
        "the tokenizer has {} tokens but the model's vocab_size is {}",
        vocab.tokens.len(),
        cfg.vocab_size
    );
    let model = Config {
        dim: cfg.dim,
        hidden_dim: cfg.hidden_dim,
        vocab_size: cfg.vocab_size,
        n_layers: cfg.n_layers,
        max_context: cfg.seq_len,
        norm: NormKind::RmsNorm,
        norm_eps: 1e-5,
        positional: Positional::RopeInterleaved,
        rope_theta: 10000.0,
        mlp: MlpKind::SwiGlu,
        classifier: if cfg.shared_classifier { Classifier::Tied } else { Classifier::Separate },
        tokenizer: TokenizerKind::Bpe,
        emb_norm: false,
        bos: 1,
        eos: 2,
        max_token_len: vocab.max_token_len,
    };
    let layer = MixerConfig {
        pattern: Pattern::Dense,
        form: Form::Attention,
        n_heads: cfg.n_heads,
        n_kv_heads: cfg.n_kv_heads,
        head_dim: cfg.dim / cfg.n_heads,
        level_aware: false,
        lora: [0; 4],
        group_norm_eps: 0.0,
    };
    let mixers = vec![layer; cfg.n_layers];
    // File order: the architecture table's (the tokenizer's tables come from the vocabulary).
    let order: Vec<(String, Role)> =
        glmix::arch::checkpoint_tensors(&model, &mixers).map(|t| (t.name().to_string(), t.role)).collect();
    let mut tensors = Vec::new();
    let mut reports = Vec::new();
    for (i, (name, role)) in order.iter().enumerate() {
        let (_, shape, values) = raw.iter().find(|(n, _, _)| n == name).context("internal: tensor order")?;
        let dtype = role.stored_as(quant);
        let (data, error) = encode(name, dtype, shape, values)?;
        reports.push(TensorReport { name: name.clone(), dtype, shape: shape.clone(), error });
        tensors.push(data);
        on_tensor(name, i + 1, order.len());
    }
    tensors.extend(vocab.tensors());
    let layers = mixers.iter().map(MixerConfig::desc).collect();
    Ok((ModelFile { header: model.header(), layers, tensors }, reports))
}
