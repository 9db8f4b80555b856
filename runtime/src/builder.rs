//! Writing model files on a host (feature `builder`, and the crate's own tests): the canonical layout
//! of [`crate::format`] from typed parts, weight encoding into every dtype, and random models whose
//! tensors come from the architecture table ([`crate::arch::tensors`]).
//!
//! The runtime's end-to-end tests (`runtime/tests/`) build their models here; the host tool's writer,
//! `convert`, `import-llama2c` and random models use the same code, so a file written by either is
//! byte-for-byte the same.

extern crate std;

use std::boxed::Box;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use crate::arch::{Config, MixerConfig, Role};
use crate::format::{
    self, Classifier, FileHeader, Form, LayerDesc, MlpKind, NormKind, Positional, TensorEntry, TokenizerKind,
    ALIGN, ENTRY_LEN, HEADER_LEN, LAYER_LEN,
};
use crate::pattern::Pattern;
use crate::quant::{BlockQ4_0, BlockQ8_0};
use crate::tensor::DType;

/// Why a model could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The layer table's length differs from the header's `n_layers`.
    LayerCount,
    /// A tensor name is empty, longer than 47 bytes or contains NUL.
    BadName {
        /// The name.
        name: String,
    },
    /// A tensor's shape is not 1-D or 2-D.
    BadShape {
        /// The tensor.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor's byte length does not match its shape and dtype.
    BadLength {
        /// The tensor.
        name: String,
        /// Bytes given.
        have: usize,
        /// Its shape.
        shape: Vec<usize>,
        /// Its dtype.
        dtype: DType,
        /// Bytes the shape needs (`None`: the row size overflows).
        needed: Option<usize>,
    },
    /// A size does not fit the format's `u32` fields.
    TooLarge,
    /// A values slice is not `rows * cols` long.
    ValueCount {
        /// The tensor.
        name: String,
        /// Values given.
        have: usize,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor of this dtype is not encoded from floats (the tokenizer's tables).
    NotEncodable {
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: DType,
    },
    /// A random model's layer has an unknown pattern or form code.
    UnknownCode {
        /// Layer index.
        layer: usize,
    },
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::LayerCount => write!(f, "layer table length differs from n_layers"),
            BuildError::BadName { name } => {
                write!(f, "tensor name {name:?} is empty or longer than 47 bytes")
            }
            BuildError::BadShape { name, shape } => {
                write!(f, "tensor {name}: only 1-D and 2-D tensors are stored, got shape {shape:?}")
            }
            BuildError::BadLength { name, have, shape, dtype, needed: Some(needed) } => write!(
                f,
                "tensor {name}: {have} bytes of data, but shape {shape:?} in {} needs {needed}",
                dtype.name()
            ),
            BuildError::BadLength { name, .. } => write!(f, "tensor {name}: row size overflows"),
            BuildError::TooLarge => {
                write!(f, "the model file format stores sizes as u32: the model is larger than 4 GiB")
            }
            BuildError::ValueCount { name, have, shape } => {
                write!(f, "tensor {name}: {have} values for shape {shape:?}")
            }
            BuildError::NotEncodable { name, dtype } => {
                write!(f, "tensor {name}: {} tables are not encoded from floats", dtype.name())
            }
            BuildError::UnknownCode { layer } => write!(f, "layer {layer}: unknown pattern or form code"),
        }
    }
}

impl core::error::Error for BuildError {}

/// A tensor ready to be written: its bytes are already encoded in `dtype`.
#[derive(Clone, Debug)]
pub struct TensorData {
    /// Name (see `docs/model-spec.md`).
    pub name: String,
    /// Storage type.
    pub dtype: DType,
    /// `[n]` for a vector, `[rows, cols]` for a matrix.
    pub shape: Vec<usize>,
    /// Encoded bytes (`rows * dtype.row_bytes(cols)`).
    pub bytes: Vec<u8>,
}

/// Everything a model file holds, before layout.
#[derive(Clone, Debug)]
pub struct ModelFile {
    /// Header fields; `file_len`, `checksum` and `n_tensors` are filled in by [`ModelFile::to_bytes`].
    pub header: FileHeader,
    /// One descriptor per layer.
    pub layers: Vec<LayerDesc>,
    /// Tensors, written in this order.
    pub tensors: Vec<TensorData>,
}

fn to_u32(n: usize) -> Result<u32, BuildError> {
    u32::try_from(n).map_err(|_| BuildError::TooLarge)
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// `(rows, cols)` of a 1-D or 2-D shape: `[n]` is one row of `n`.
fn rows_cols(name: &str, shape: &[usize]) -> Result<(usize, usize), BuildError> {
    match *shape {
        [n] => Ok((1, n)),
        [r, c] => Ok((r, c)),
        _ => Err(BuildError::BadShape { name: name.to_string(), shape: shape.to_vec() }),
    }
}

impl ModelFile {
    /// Lays the file out canonically and returns its bytes.
    // Indexing: every record and tensor is copied into `out` at offsets computed above, all below
    // `file_len`, which is `out`'s length; `shape` has two entries.
    #[allow(clippy::indexing_slicing)]
    pub fn to_bytes(&self) -> Result<Vec<u8>, BuildError> {
        if self.layers.len() != self.header.n_layers as usize {
            return Err(BuildError::LayerCount);
        }
        let table_end = HEADER_LEN + self.layers.len() * LAYER_LEN + self.tensors.len() * ENTRY_LEN;
        let mut offset = align(table_end);
        let mut entries = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            let name = TensorEntry::name_field(&t.name)
                .ok_or_else(|| BuildError::BadName { name: t.name.clone() })?;
            let (rows, cols) = rows_cols(&t.name, &t.shape)?;
            let (n_dims, shape) = if t.shape.len() == 1 { (1u8, [cols, 0]) } else { (2u8, [rows, cols]) };
            let needed = t.dtype.row_bytes(cols).and_then(|rb| rb.checked_mul(rows));
            if needed != Some(t.bytes.len()) {
                return Err(BuildError::BadLength {
                    name: t.name.clone(),
                    have: t.bytes.len(),
                    shape: t.shape.clone(),
                    dtype: t.dtype,
                    needed,
                });
            }
            entries.push(TensorEntry {
                name,
                dtype: t.dtype as u8,
                n_dims,
                shape: [to_u32(shape[0])?, to_u32(shape[1])?],
                offset: to_u32(offset)?,
                len: to_u32(t.bytes.len())?,
            });
            offset = align(offset + t.bytes.len());
        }
        let file_len = offset;
        let mut out = vec![0u8; file_len];
        let records =
            self.layers.iter().map(|l| l.write().to_vec()).chain(entries.iter().map(|e| e.write().to_vec()));
        let mut pos = HEADER_LEN;
        for r in records {
            out[pos..pos + r.len()].copy_from_slice(&r);
            pos += r.len();
        }
        for (e, t) in entries.iter().zip(&self.tensors) {
            let start = e.offset as usize;
            out[start..start + t.bytes.len()].copy_from_slice(&t.bytes);
        }
        let mut header = self.header;
        header.magic = format::MAGIC;
        header.version = format::VERSION;
        header.n_tensors = to_u32(self.tensors.len())?;
        header.file_len = to_u32(file_len)?;
        header.checksum = 0;
        out[..HEADER_LEN].copy_from_slice(&header.write());
        header.checksum = format::model_crc(&out, header.version);
        out[..HEADER_LEN].copy_from_slice(&header.write());
        Ok(out)
    }
}

/// Appends one row of `values` encoded as `dtype` (whole blocks for the quantized types).
pub fn encode_row(dtype: DType, row: &[f32], out: &mut Vec<u8>) {
    match dtype {
        DType::F32 => row.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DType::F16 => row.iter().for_each(|v| out.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes())),
        DType::BF16 => {
            row.iter().for_each(|v| out.extend_from_slice(&half::bf16::from_f32(*v).to_le_bytes()))
        }
        DType::Q8_0 => {
            let mut blocks = vec![BlockQ8_0::default(); row.len().div_ceil(32)];
            crate::quant::quantize_row_q8_0(row, &mut blocks);
            out.extend_from_slice(crate::quant::blocks_as_bytes(&blocks));
        }
        DType::Q4_0 => {
            let mut blocks = vec![BlockQ4_0::default(); row.len().div_ceil(32)];
            crate::quant::quantize_row_q4_0(row, &mut blocks);
            out.extend_from_slice(crate::quant::blocks_as_bytes(&blocks));
        }
        DType::U8 | DType::U32 => {}
    }
}

/// Encodes `values` (`rows * cols`, row-major, `shape` `[n]` or `[rows, cols]`) as a tensor of `dtype`.
pub fn encode(name: &str, dtype: DType, shape: &[usize], values: &[f32]) -> Result<TensorData, BuildError> {
    let (rows, cols) = rows_cols(name, shape)?;
    if values.len() != rows * cols {
        return Err(BuildError::ValueCount {
            name: name.to_string(),
            have: values.len(),
            shape: shape.to_vec(),
        });
    }
    if !dtype.is_weight() {
        return Err(BuildError::NotEncodable { name: name.to_string(), dtype });
    }
    let mut bytes = Vec::with_capacity(rows * dtype.row_bytes(cols).unwrap_or(0));
    for row in values.chunks_exact(cols.max(1)).take(rows) {
        encode_row(dtype, row, &mut bytes);
    }
    Ok(TensorData { name: name.to_string(), dtype, shape: shape.to_vec(), bytes })
}

/// A model file's bytes at a 32-byte-aligned address, as [`crate::Model::parse`] requires.
pub struct AlignedBytes {
    words: Box<[Chunk]>,
    len: usize,
}

/// 32 bytes at a 32-byte boundary.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Chunk([u8; 32]);

impl AlignedBytes {
    /// Copies `bytes` into an aligned buffer.
    // Indexing: `chunks(32)` yields at most 32 bytes, the size of a chunk.
    #[allow(clippy::indexing_slicing)]
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![Chunk([0; 32]); bytes.len().div_ceil(32)].into_boxed_slice();
        for (w, src) in words.iter_mut().zip(bytes.chunks(32)) {
            w.0[..src.len()].copy_from_slice(src);
        }
        AlignedBytes { words, len: bytes.len() }
    }

    /// Reads a file into an aligned buffer.
    pub fn read(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self::new(&std::fs::read(path)?))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        let all = self.words.as_ref();
        // SAFETY: `Chunk` is 32 bytes with no padding and any byte is a valid `u8`; the slice covers
        // exactly the boxed chunks, and `len <= 32 * words.len()` by construction.
        let bytes =
            unsafe { core::slice::from_raw_parts(all.as_ptr().cast::<u8>(), core::mem::size_of_val(all)) };
        bytes.get(..self.len).unwrap_or(bytes)
    }
}

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

/// One layer of a random model, by file codes (so a test can also write codes the parser rejects).
#[derive(Clone, Copy, Debug)]
pub struct RandomLayer {
    /// Pattern code (see [`Pattern::from_code`]).
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
    /// The header's `max_context` (sizes a log-linear layer's level weights and level biases).
    pub max_context: u32,
    /// Level-aware coefficients on every layer ([`crate::arch::is_level_aware_defined`]; a layer
    /// they are not defined for makes a file [`crate::Model::parse`] refuses).
    pub level_aware: bool,
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
            level_aware: false,
        }
    }

    /// The typed configuration and layer table this spec describes.
    pub fn arch(&self) -> Result<(Config, Vec<MixerConfig>), BuildError> {
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
            emb_norm: false,
            bos: 0,
            eos: 0,
            max_token_len: 0,
        };
        let mixers = self.layers.iter().enumerate().map(|(i, l)| {
            let unknown = BuildError::UnknownCode { layer: i };
            Ok(MixerConfig {
                pattern: Pattern::from_code(l.pattern, l.param).ok_or_else(|| unknown.clone())?,
                form: Form::from_code(l.form).ok_or(unknown)?,
                n_heads: l.n_heads.into(),
                n_kv_heads: l.n_kv_heads.into(),
                head_dim: self.head_dim,
                level_aware: self.level_aware,
                lora: [0; 4],
                group_norm_eps: 0.0,
            })
        });
        Ok((config, mixers.collect::<Result<Vec<_>, _>>()?))
    }
}

/// Writes a model of `config` and `mixers` whose every tensor ([`crate::arch::tensors`], without the
/// tokenizer's tables) takes its values from `values(name, role, shape)`, stored as `dtype` where the
/// role allows it.
pub fn build_model(
    config: &Config,
    mixers: &[MixerConfig],
    dtype: DType,
    mut values: impl FnMut(&str, Role, &[usize]) -> Result<Vec<f32>, BuildError>,
) -> Result<ModelFile, BuildError> {
    let mut tensors = Vec::new();
    for t in crate::arch::checkpoint_tensors(config, mixers) {
        let Some(([rows, cols], n_dims)) = t.dims() else { continue };
        let shape: Vec<usize> = [rows, cols].iter().take(n_dims).map(|&n| n as usize).collect();
        let name = t.name().to_string();
        let v = values(&name, t.role, &shape)?;
        tensors.push(encode(&name, t.role.stored_as(dtype), &shape, &v)?);
    }
    let layers = mixers.iter().map(MixerConfig::desc).collect();
    Ok(ModelFile { header: config.header(), layers, tensors })
}

/// Builds a random model. Weights are scaled like a trained model's (about 1/sqrt(fan_in)); norm
/// weights are near 1, the chained form's gains in (0.1, 0.9).
pub fn random_model(spec: &RandomSpec, seed: u64) -> Result<ModelFile, BuildError> {
    let mut rng = Rng::new(seed);
    let (config, mixers) = spec.arch()?;
    build_model(&config, &mixers, spec.dtype, |_, role, shape| {
        let n: usize = shape.iter().product();
        let fan_in = *shape.last().unwrap_or(&1) as f32;
        Ok(match role {
            Role::MixerNorm | Role::MlpNorm | Role::Norm => {
                (0..n).map(|_| 1.0 + 0.1 * rng.uniform()).collect()
            }
            Role::Gamma => (0..n).map(|_| 0.5 + 0.4 * rng.uniform()).collect(),
            // Level biases of a few units, so that levels matter.
            Role::LevelBias => (0..n).map(|_| 2.0 * rng.uniform()).collect(),
            _ => (0..n).map(|_| rng.uniform() * 1.7 / fan_in.sqrt()).collect(),
        })
    })
}

/// [`random_model`] laid out and aligned, ready for [`crate::Model::parse`].
pub fn random_model_bytes(spec: &RandomSpec, seed: u64) -> Result<AlignedBytes, BuildError> {
    Ok(AlignedBytes::new(&random_model(spec, seed)?.to_bytes()?))
}
