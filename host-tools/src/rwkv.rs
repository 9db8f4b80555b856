//! rwkv.cpp's model files ("ggmf", versions 100 and 101) and RWKV-7 checkpoints read from them.
//!
//! The format (rwkv.cpp `docs/FILE_FORMAT.md`), all little-endian:
//!
//! ```text
//! u32 magic 0x67676d66, u32 version (100 | 101), u32 n_vocab, n_embed, n_layer, data_type
//! then tensors to the end of the file:
//!   u32 dim_count (1..=3), u32 key_length, u32 data_type, u32 size[dim_count] (ggml order: size0 is
//!   the row length), key bytes (UTF-8), raw data (FP32: 4 bytes per element, FP16: 2)
//! ```
//!
//! [`read_ggmf`] checks every count and offset and borrows the tensors' bytes; it never panics. Only
//! FP32 and FP16 data are read (rwkv.cpp's quantized types are refused with their name). The
//! architecture is recognised as rwkv.cpp does, by the names present ([`Ggmf::arch`]); only RWKV-7
//! (`x070`, has `blocks.0.att.r_k`) is supported: [`Rwkv7Checkpoint`] copies it into aligned buffers,
//! optionally re-encoding the matrices (q8_0, q4_0, ...), and hands out the runtime's
//! [`glmix::rwkv7`] views; [`import_ggmf`] (`glmix import-rwkv`) writes it as a glmix model file of
//! the architecture table's `rwkv7` form, one glmix role per rwkv.cpp tensor ([`ggmf_name`]).

use std::collections::HashMap;
use std::fmt;

use glmix::arch::{Config, MixerConfig, Role};
use glmix::format::{Classifier, Form, MlpKind, NormKind, Positional, TokenizerKind};
use glmix::pattern::Pattern;
use glmix::rwkv7::{Rwkv7, Rwkv7Globals, Rwkv7Layer};
use glmix::{DType, Tensor};

use crate::convert::TensorReport;
use crate::quantize::{encode, EncodeError};
use crate::random::Rng;
use crate::writer::{AlignedBytes, ModelFile};

/// `"ggmf"` read as a little-endian u32.
pub const GGMF_MAGIC: u32 = 0x6767_6d66;
/// File versions rwkv.cpp writes (FP32 and FP16 data are the same in both).
pub const GGMF_VERSIONS: [u32; 2] = [100, 101];
/// Longest tensor name accepted (rwkv.cpp's names are under 40 bytes).
pub const MAX_NAME_LEN: usize = 256;
/// Most layers accepted.
pub const MAX_LAYERS: usize = 1024;

/// The RWKV versions the importer runs.
pub const SUPPORTED: &str = "RWKV-7 (x070)";

/// rwkv.cpp's data type names, by code.
const TYPE_NAMES: [&str; 17] = [
    "FP32", "FP16", "Q4_0", "Q4_1", "Q4_1_O", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
    "Q4_K", "Q5_K", "Q6_K", "Q8_K",
];

/// What was wrong with an rwkv.cpp file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RwkvError {
    /// Fewer bytes than the 24-byte header.
    TooShort {
        /// File length.
        len: usize,
    },
    /// The first four bytes are not `ggmf`.
    BadMagic {
        /// The u32 found.
        found: u32,
    },
    /// A file version other than 100 or 101.
    FileVersion {
        /// The version found.
        found: u32,
    },
    /// A data type other than FP32 (0) or FP16 (1), in the header or a tensor.
    DataType {
        /// `"header"` or the tensor's name.
        what: String,
        /// The code.
        code: u32,
    },
    /// A tensor header that cannot be right (dimension count, name length or encoding).
    BadTensorHeader {
        /// Byte offset of the tensor header.
        at: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file ends inside a tensor.
    Truncated {
        /// Byte offset where more bytes were needed.
        at: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        left: usize,
    },
    /// Two tensors with the same name.
    Duplicate {
        /// The name.
        name: String,
    },
    /// An RWKV version the importer does not run.
    Unsupported {
        /// The version found (`"v5.2"`).
        arch: RwkvArch,
    },
    /// A tensor the architecture needs is absent.
    Missing {
        /// Its name.
        name: String,
    },
    /// A tensor's shape does not fit the model.
    Shape {
        /// Its name.
        name: String,
        /// What was expected.
        want: String,
        /// Its ggml shape.
        have: Vec<usize>,
    },
    /// Header sizes that do not fit the tensors (or are zero or too large).
    Header {
        /// What is wrong.
        reason: String,
    },
    /// The tensors do not fit together (the runtime's check, [`glmix::rwkv7::Rwkv7::new`], failed).
    Model {
        /// The runtime's error.
        error: glmix::rwkv7::Rwkv7Error,
    },
    /// Re-encoding a tensor failed.
    Encode {
        /// Its name.
        name: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for RwkvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RwkvError::TooShort { len } => {
                write!(f, "{len} bytes: too short for an rwkv.cpp model file (the header alone is 24 bytes)")
            }
            RwkvError::BadMagic { found } => {
                write!(
                    f,
                    "not an rwkv.cpp model file: magic {found:#010x}, expected {GGMF_MAGIC:#010x} (\"ggmf\")"
                )
            }
            RwkvError::FileVersion { found } => {
                write!(f, "rwkv.cpp file version {found} is not supported (100 and 101 are)")
            }
            RwkvError::DataType { what, code } => {
                let name = TYPE_NAMES.get(*code as usize).copied().unwrap_or("unknown");
                write!(
                    f,
                    "{what}: data type {code} ({name}) is not supported; only FP32 and FP16 files are read (convert the PyTorch checkpoint with rwkv.cpp's convert_pytorch_to_ggml.py without quantizing)"
                )
            }
            RwkvError::BadTensorHeader { at, reason } => write!(f, "tensor header at byte {at}: {reason}"),
            RwkvError::Truncated { at, needed, left } => {
                write!(f, "truncated at byte {at}: {needed} bytes needed, {left} left")
            }
            RwkvError::Duplicate { name } => write!(f, "tensor {name} appears twice"),
            RwkvError::Unsupported { arch } => {
                write!(f, "this is an RWKV {arch} model; glmix imports {SUPPORTED} files only for now")
            }
            RwkvError::Missing { name } => write!(f, "tensor {name} is missing"),
            RwkvError::Shape { name, want, have } => {
                write!(f, "tensor {name}: ggml shape {have:?}, expected {want}")
            }
            RwkvError::Header { reason } => write!(f, "header: {reason}"),
            RwkvError::Encode { name, reason } => write!(f, "tensor {name}: {reason}"),
            RwkvError::Model { error } => write!(f, "the tensors do not form an RWKV-7 model: {error}"),
        }
    }
}

impl std::error::Error for RwkvError {}

/// The element type of a tensor in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmfType {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
}

impl GgmfType {
    fn from_code(code: u32, what: &str) -> Result<Self, RwkvError> {
        match code {
            0 => Ok(GgmfType::F32),
            1 => Ok(GgmfType::F16),
            _ => Err(RwkvError::DataType { what: what.to_string(), code }),
        }
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            GgmfType::F32 => 4,
            GgmfType::F16 => 2,
        }
    }
    /// The runtime's dtype.
    pub fn dtype(self) -> DType {
        match self {
            GgmfType::F32 => DType::F32,
            GgmfType::F16 => DType::F16,
        }
    }
    fn code(self) -> u32 {
        match self {
            GgmfType::F32 => 0,
            GgmfType::F16 => 1,
        }
    }
}

/// One tensor of the file, borrowing its data.
#[derive(Clone, Debug)]
pub struct GgmfTensor<'a> {
    /// Name (`"blocks.0.att.key.weight"`).
    pub name: String,
    /// ggml shape: `shape[0]` is the row length (PyTorch's shape reversed).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: GgmfType,
    /// Raw little-endian data (`product(shape) * dtype.size()` bytes).
    pub data: &'a [u8],
}

impl GgmfTensor<'_> {
    /// Elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The values, widened to f32.
    pub fn to_f32(&self) -> Vec<f32> {
        match self.dtype {
            GgmfType::F32 => {
                self.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            }
            GgmfType::F16 => {
                self.data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
        }
    }
}

/// RWKV versions, recognised as rwkv.cpp does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RwkvArch {
    /// RWKV-4.
    V4,
    /// RWKV-5.1 (has `ln_x`).
    V5_1,
    /// RWKV-5.2 (has `ln_x` and `gate`).
    V5_2,
    /// RWKV-6 (has `time_maa_x`).
    V6,
    /// RWKV-7 (has `r_k`).
    V7,
}

impl fmt::Display for RwkvArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RwkvArch::V4 => "v4",
            RwkvArch::V5_1 => "v5.1",
            RwkvArch::V5_2 => "v5.2",
            RwkvArch::V6 => "v6",
            RwkvArch::V7 => "v7",
        })
    }
}

/// A parsed rwkv.cpp file.
#[derive(Clone, Debug)]
pub struct Ggmf<'a> {
    /// File version (100 or 101).
    pub version: u32,
    /// Vocabulary size.
    pub n_vocab: usize,
    /// Width.
    pub n_embed: usize,
    /// Layers.
    pub n_layer: usize,
    /// The header's data type (of "most parameters").
    pub data_type: GgmfType,
    /// The tensors, in file order.
    pub tensors: Vec<GgmfTensor<'a>>,
}

/// Reads `n` bytes at `*pos`.
fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], RwkvError> {
    let left = bytes.len().saturating_sub(*pos);
    let s = pos.checked_add(n).and_then(|end| bytes.get(*pos..end)).ok_or(RwkvError::Truncated {
        at: *pos,
        needed: n,
        left,
    })?;
    *pos += n;
    Ok(s)
}

fn u32_at(bytes: &[u8], pos: &mut usize) -> Result<u32, RwkvError> {
    let b = take(bytes, pos, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses an rwkv.cpp file (FP32 or FP16 tensors), checking every size against the bytes present.
pub fn read_ggmf(bytes: &[u8]) -> Result<Ggmf<'_>, RwkvError> {
    if bytes.len() < 24 {
        return Err(RwkvError::TooShort { len: bytes.len() });
    }
    let mut pos = 0;
    let magic = u32_at(bytes, &mut pos)?;
    if magic != GGMF_MAGIC {
        return Err(RwkvError::BadMagic { found: magic });
    }
    let version = u32_at(bytes, &mut pos)?;
    if !GGMF_VERSIONS.contains(&version) {
        return Err(RwkvError::FileVersion { found: version });
    }
    let n_vocab = u32_at(bytes, &mut pos)? as usize;
    let n_embed = u32_at(bytes, &mut pos)? as usize;
    let n_layer = u32_at(bytes, &mut pos)? as usize;
    let data_type = GgmfType::from_code(u32_at(bytes, &mut pos)?, "header")?;
    let mut tensors: Vec<GgmfTensor<'_>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while pos < bytes.len() {
        let at = pos;
        let dim_count = u32_at(bytes, &mut pos)? as usize;
        let key_length = u32_at(bytes, &mut pos)? as usize;
        let code = u32_at(bytes, &mut pos)?;
        if !(1..=3).contains(&dim_count) {
            return Err(RwkvError::BadTensorHeader {
                at,
                reason: format!("{dim_count} dimensions (1 to 3 allowed)"),
            });
        }
        if key_length == 0 || key_length > MAX_NAME_LEN {
            return Err(RwkvError::BadTensorHeader {
                at,
                reason: format!("name of {key_length} bytes (1 to {MAX_NAME_LEN} allowed)"),
            });
        }
        let mut shape = Vec::with_capacity(dim_count);
        for _ in 0..dim_count {
            shape.push(u32_at(bytes, &mut pos)? as usize);
        }
        let name = std::str::from_utf8(take(bytes, &mut pos, key_length)?)
            .map_err(|_| RwkvError::BadTensorHeader { at, reason: "the name is not UTF-8".into() })?
            .to_string();
        let dtype = GgmfType::from_code(code, &name)?;
        let n_bytes = shape
            .iter()
            .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| RwkvError::BadTensorHeader { at, reason: format!("{name}: size overflows") })?;
        let data = take(bytes, &mut pos, n_bytes)?;
        if !seen.insert(name.clone()) {
            return Err(RwkvError::Duplicate { name });
        }
        tensors.push(GgmfTensor { name, shape, dtype, data });
    }
    Ok(Ggmf { version, n_vocab, n_embed, n_layer, data_type, tensors })
}

impl<'a> Ggmf<'a> {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&GgmfTensor<'a>> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The RWKV version, by the names present (rwkv.cpp's rule).
    pub fn arch(&self) -> RwkvArch {
        let has = |n: &str| self.tensors.iter().any(|t| t.name == n);
        if has("blocks.0.att.r_k") {
            RwkvArch::V7
        } else if has("blocks.0.att.time_maa_x") {
            RwkvArch::V6
        } else if has("blocks.0.att.ln_x.weight") {
            if has("blocks.0.att.gate.weight") {
                RwkvArch::V5_2
            } else {
                RwkvArch::V5_1
            }
        } else {
            RwkvArch::V4
        }
    }
}

/// A tensor copied into an aligned buffer as the runtime views it: `[rows][cols]`.
struct Owned {
    dtype: DType,
    rows: usize,
    cols: usize,
    bytes: AlignedBytes,
}

/// Per-tensor sizes of an RWKV-7 checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rwkv7Dims {
    /// Vocabulary.
    pub vocab: usize,
    /// Width.
    pub dim: usize,
    /// Layers.
    pub n_layers: usize,
    /// Heads (`r_k`'s ggml `size1`).
    pub n_heads: usize,
}

/// An RWKV-7 checkpoint, every tensor in an aligned buffer, ready to be viewed by the runtime.
pub struct Rwkv7Checkpoint {
    /// Sizes.
    pub dims: Rwkv7Dims,
    tensors: HashMap<String, Owned>,
}

/// The per-channel vectors of a layer (stored `[1][C]`), without `blocks.N.`.
const LAYER_VECTORS: [&str; 12] = [
    "ln1.weight",
    "ln1.bias",
    "ln2.weight",
    "ln2.bias",
    "att.w0",
    "att.a0",
    "att.k_k",
    "att.k_a",
    "att.r_k",
    "att.ln_x.weight",
    "att.ln_x.bias",
    "ffn.x_k",
];

/// The matrices of a layer (`[out][in]`), without `blocks.N.` (`att.v1`, `att.v2` from layer 1 on).
const LAYER_MATRICES: [&str; 12] = [
    "att.w1",
    "att.w2",
    "att.a1",
    "att.a2",
    "att.g1",
    "att.g2",
    "att.receptance.weight",
    "att.key.weight",
    "att.value.weight",
    "att.output.weight",
    "ffn.key.weight",
    "ffn.value.weight",
];

/// One re-encoded tensor's error (as `convert` reports it).
#[derive(Clone, Debug)]
pub struct Rwkv7TensorReport {
    /// Name.
    pub name: String,
    /// Stored dtype.
    pub dtype: DType,
    /// `[rows, cols]`.
    pub shape: [usize; 2],
    /// Error against the file's values.
    pub error: EncodeError,
}

impl Rwkv7Checkpoint {
    /// The names a checkpoint of `n_layers` layers needs, in rwkv.cpp's order.
    pub fn expected_names(n_layers: usize) -> Vec<String> {
        let mut names: Vec<String> = ["emb.weight", "blocks.0.ln0.weight", "blocks.0.ln0.bias"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for l in 0..n_layers {
            names.push(format!("blocks.{l}.att.x_rwkvag"));
            for n in LAYER_VECTORS.iter().chain(&LAYER_MATRICES) {
                names.push(format!("blocks.{l}.{n}"));
            }
            if l > 0 {
                for n in ["att.v0", "att.v1", "att.v2"] {
                    names.push(format!("blocks.{l}.{n}"));
                }
            }
        }
        names.extend(["ln_out.weight", "ln_out.bias", "head.weight"].iter().map(|s| s.to_string()));
        names
    }

    /// Copies an RWKV-7 file's tensors; matrices are re-encoded as `matrices` when given (vectors stay
    /// as they are: f32 in rwkv.cpp's files). Returns the checkpoint and each re-encoded tensor's error.
    pub fn from_ggmf(
        file: &Ggmf<'_>,
        matrices: Option<DType>,
    ) -> Result<(Self, Vec<Rwkv7TensorReport>), RwkvError> {
        let arch = file.arch();
        if arch != RwkvArch::V7 {
            return Err(RwkvError::Unsupported { arch });
        }
        let (vocab, dim, n_layers) = (file.n_vocab, file.n_embed, file.n_layer);
        if vocab == 0 || dim == 0 || n_layers == 0 || n_layers > MAX_LAYERS {
            return Err(RwkvError::Header {
                reason: format!("n_vocab {vocab}, n_embed {dim}, n_layer {n_layers} (each 1 or more, at most {MAX_LAYERS} layers)"),
            });
        }
        let r_k =
            file.get("blocks.0.att.r_k").ok_or(RwkvError::Missing { name: "blocks.0.att.r_k".into() })?;
        let n_heads = r_k.shape.get(1).copied().unwrap_or(1);
        if n_heads == 0 || !dim.is_multiple_of(n_heads) {
            return Err(RwkvError::Shape {
                name: r_k.name.clone(),
                want: format!("[head_size, n_heads] with n_heads dividing n_embed {dim}"),
                have: r_k.shape.clone(),
            });
        }
        let names = Self::expected_names(n_layers);
        if let Some(extra) = file.tensors.iter().find(|t| !names.contains(&t.name)) {
            return Err(RwkvError::Shape {
                name: extra.name.clone(),
                want: format!("no such tensor in an RWKV-7 model of {n_layers} layers"),
                have: extra.shape.clone(),
            });
        }
        let mut tensors = HashMap::new();
        let mut reports = Vec::new();
        for name in names {
            let t = file.get(&name).ok_or_else(|| RwkvError::Missing { name: name.clone() })?;
            let short = name
                .rsplit_once("blocks.")
                .map_or(name.as_str(), |(_, s)| s.split_once('.').map_or(s, |x| x.1));
            let vector = LAYER_VECTORS.contains(&short)
                || ["ln0.weight", "ln0.bias", "ln_out.weight", "ln_out.bias", "att.v0"].contains(&short);
            let (rows, cols) = if short == "att.x_rwkvag" {
                (6, dim)
            } else if vector {
                (1, dim)
            } else {
                (t.shape.iter().skip(1).product(), t.shape.first().copied().unwrap_or(0))
            };
            if rows * cols != t.len() || cols == 0 {
                let want = if vector { format!("{dim} elements") } else { format!("[{cols}, {rows}]") };
                return Err(RwkvError::Shape { name, want, have: t.shape.clone() });
            }
            let owned = match matrices {
                Some(dtype) if !vector && short != "att.x_rwkvag" => {
                    let (data, error) = encode(&name, dtype, &[rows, cols], &t.to_f32())
                        .map_err(|e| RwkvError::Encode { name: name.clone(), reason: e.to_string() })?;
                    reports.push(Rwkv7TensorReport { name: name.clone(), dtype, shape: [rows, cols], error });
                    Owned { dtype, rows, cols, bytes: AlignedBytes::new(&data.bytes) }
                }
                _ => Owned { dtype: t.dtype.dtype(), rows, cols, bytes: AlignedBytes::new(t.data) },
            };
            tensors.insert(name, owned);
        }
        let emb = &tensors["emb.weight"];
        if (emb.rows, emb.cols) != (vocab, dim) {
            return Err(RwkvError::Shape {
                name: "emb.weight".into(),
                want: format!("[{dim}, {vocab}] (n_embed, n_vocab)"),
                have: vec![emb.cols, emb.rows],
            });
        }
        let dims = Rwkv7Dims { vocab, dim, n_layers, n_heads };
        let checkpoint = Rwkv7Checkpoint { dims, tensors };
        // What the runtime accepts is what this importer accepts.
        let layers = checkpoint.layers();
        Rwkv7::new(n_heads, checkpoint.globals(), &layers).map_err(|error| RwkvError::Model { error })?;
        Ok((checkpoint, reports))
    }

    /// The runtime's view of tensor `name` (an empty tensor when absent).
    pub fn tensor(&self, name: &str) -> Tensor<'_> {
        self.tensors
            .get(name)
            .and_then(|t| Tensor::new(t.dtype, t.rows, t.cols, t.bytes.as_bytes()))
            .unwrap_or(Tensor::empty())
    }

    /// The global tensors.
    pub fn globals(&self) -> Rwkv7Globals<'_> {
        Rwkv7Globals {
            emb: self.tensor("emb.weight"),
            ln0_weight: self.tensor("blocks.0.ln0.weight"),
            ln0_bias: self.tensor("blocks.0.ln0.bias"),
            ln_out_weight: self.tensor("ln_out.weight"),
            ln_out_bias: self.tensor("ln_out.bias"),
            head: self.tensor("head.weight"),
        }
    }

    /// Each layer's tensors.
    pub fn layers(&self) -> Vec<Rwkv7Layer<'_>> {
        (0..self.dims.n_layers)
            .map(|l| {
                let t = |n: &str| self.tensor(&format!("blocks.{l}.{n}"));
                Rwkv7Layer {
                    ln1_weight: t("ln1.weight"),
                    ln1_bias: t("ln1.bias"),
                    ln2_weight: t("ln2.weight"),
                    ln2_bias: t("ln2.bias"),
                    x_rwkvag: t("att.x_rwkvag"),
                    w0: t("att.w0"),
                    w1: t("att.w1"),
                    w2: t("att.w2"),
                    a0: t("att.a0"),
                    a1: t("att.a1"),
                    a2: t("att.a2"),
                    v0: t("att.v0"),
                    v1: t("att.v1"),
                    v2: t("att.v2"),
                    g1: t("att.g1"),
                    g2: t("att.g2"),
                    k_k: t("att.k_k"),
                    k_a: t("att.k_a"),
                    r_k: t("att.r_k"),
                    receptance: t("att.receptance.weight"),
                    key: t("att.key.weight"),
                    value: t("att.value.weight"),
                    output: t("att.output.weight"),
                    ln_x_weight: t("att.ln_x.weight"),
                    ln_x_bias: t("att.ln_x.bias"),
                    ffn_x_k: t("ffn.x_k"),
                    ffn_key: t("ffn.key.weight"),
                    ffn_value: t("ffn.value.weight"),
                }
            })
            .collect()
    }
}

/// One tensor to write with [`write_ggmf`]: name, ggml shape, type, f32 values.
pub type GgmfSource = (String, Vec<usize>, GgmfType, Vec<f32>);

/// Writes an rwkv.cpp file (version 101) from f32 values (tests and fuzz seeds).
pub fn write_ggmf(
    n_vocab: u32,
    n_embed: u32,
    n_layer: u32,
    data_type: GgmfType,
    tensors: &[GgmfSource],
) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [GGMF_MAGIC, 101, n_vocab, n_embed, n_layer, data_type.code()] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (name, shape, dtype, values) in tensors {
        for v in [shape.len() as u32, name.len() as u32, dtype.code()] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for &d in shape {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        for &v in values {
            match dtype {
                GgmfType::F32 => out.extend_from_slice(&v.to_le_bytes()),
                GgmfType::F16 => out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
            }
        }
    }
    out
}

/// A random RWKV-7 file in rwkv.cpp's layout: `dim` wide, `n_heads` heads, LoRA rank `lora`, channel
/// mix `4 * dim`, matrices in `matrices` (vectors f32, as rwkv.cpp writes them). Values are small and
/// the decay bias negative, like a trained model's, so the logits stay finite.
pub fn random_rwkv7(
    seed: u64,
    vocab: usize,
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    lora: usize,
    matrices: GgmfType,
) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut tensors: Vec<GgmfSource> = Vec::new();
    let (c, f) = (dim, 4 * dim);
    for name in Rwkv7Checkpoint::expected_names(n_layers) {
        let short =
            name.rsplit_once("blocks.").map_or(name.as_str(), |(_, s)| s.split_once('.').map_or(s, |x| x.1));
        let (shape, scale, offset): (Vec<usize>, f32, f32) = match short {
            "emb.weight" | "head.weight" => (vec![c, vocab], 0.5, 0.0),
            "ln0.weight" | "ln1.weight" | "ln2.weight" | "ln_out.weight" | "att.ln_x.weight" => {
                (vec![c], 0.2, 1.0)
            }
            "att.x_rwkvag" => (vec![c, 1, 6], 0.5, 0.5),
            "att.w0" => (vec![c, 1, 1], 0.5, -2.0),
            "att.a0" | "att.v0" | "att.k_a" => (vec![c, 1, 1], 0.5, 0.0),
            "att.k_k" => (vec![c, 1, 1], 0.2, 0.8),
            "att.r_k" => (vec![c / n_heads, n_heads], 0.5, 0.0),
            "ffn.x_k" => (vec![c, 1, 1], 0.5, 0.5),
            "att.w1" | "att.a1" | "att.v1" | "att.g1" => (vec![c, lora], 0.3, 0.0),
            "att.w2" | "att.a2" | "att.v2" | "att.g2" => (vec![lora, c], 0.3, 0.0),
            "ffn.key.weight" => (vec![c, f], 0.3, 0.0),
            "ffn.value.weight" => (vec![f, c], 0.3, 0.0),
            n if n.ends_with(".weight") && n.starts_with("att.") => (vec![c, c], 0.3, 0.0),
            _ => (vec![c], 0.1, 0.0), // biases
        };
        let n: usize = shape.iter().product();
        let values = (0..n).map(|_| rng.uniform() * scale + offset).collect();
        let dtype = if shape.len() == 2 && shape.iter().all(|&d| d > 1) { matrices } else { GgmfType::F32 };
        tensors.push((name, shape, dtype, values));
    }
    write_ggmf(vocab as u32, dim as u32, n_layers as u32, matrices, &tensors)
}

/// The rwkv.cpp name of the glmix tensor `role` (of layer `layer`), for an RWKV-7 model.
pub fn ggmf_name(layer: Option<usize>, role: Role) -> Option<String> {
    let global = match role {
        Role::TokEmbeddings => Some("emb.weight"),
        Role::EmbNorm => Some("blocks.0.ln0.weight"),
        Role::EmbNormBias => Some("blocks.0.ln0.bias"),
        Role::Norm => Some("ln_out.weight"),
        Role::NormBias => Some("ln_out.bias"),
        Role::Output => Some("head.weight"),
        _ => None,
    };
    if let Some(name) = global {
        return layer.is_none().then(|| name.to_string());
    }
    let suffix = match role {
        Role::MixerNorm => "ln1.weight",
        Role::MixerNormBias => "ln1.bias",
        Role::Wq => "att.receptance.weight",
        Role::Wk => "att.key.weight",
        Role::Wv => "att.value.weight",
        Role::Wo => "att.output.weight",
        Role::Mix => "att.x_rwkvag",
        Role::W0 => "att.w0",
        Role::DecayDown => "att.w1",
        Role::DecayUp => "att.w2",
        Role::A0 => "att.a0",
        Role::RateDown => "att.a1",
        Role::RateUp => "att.a2",
        Role::V0 => "att.v0",
        Role::ResidualDown => "att.v1",
        Role::ResidualUp => "att.v2",
        Role::GateDown => "att.g1",
        Role::GateUp => "att.g2",
        Role::KeyNorm => "att.k_k",
        Role::KeyRate => "att.k_a",
        Role::Bonus => "att.r_k",
        Role::GroupNorm => "att.ln_x.weight",
        Role::GroupNormBias => "att.ln_x.bias",
        Role::MlpNorm => "ln2.weight",
        Role::MlpNormBias => "ln2.bias",
        Role::MlpShift => "ffn.x_k",
        Role::W1 => "ffn.key.weight",
        Role::W2 => "ffn.value.weight",
        _ => return None,
    };
    Some(format!("blocks.{}.{suffix}", layer?))
}

/// The glmix architecture of an RWKV-7 checkpoint (`context`: the informational trained context):
/// LayerNorm (eps 1e-5) with the embedding normed (ln0), `rwkv7` mixers on `order(1)` (layer 0 without
/// the value residual), the squared-ReLU MLP with token shift, a separate head, the bytes tokenizer
/// when the vocabulary is 256 (rwkv.cpp's tiny models) and none otherwise.
pub fn rwkv7_arch(ck: &Rwkv7Checkpoint, context: usize) -> (Config, Vec<MixerConfig>) {
    let d = ck.dims;
    let rows = |name: &str| ck.tensor(name).rows();
    let config = Config {
        dim: d.dim,
        hidden_dim: rows("blocks.0.ffn.key.weight"),
        vocab_size: d.vocab,
        n_layers: d.n_layers,
        max_context: context,
        norm: NormKind::LayerNorm,
        norm_eps: glmix::rwkv7::LN_EPS,
        positional: Positional::None,
        rope_theta: 0.0,
        mlp: MlpKind::SqReluShift,
        classifier: Classifier::Separate,
        tokenizer: if d.vocab == 256 { TokenizerKind::Bytes } else { TokenizerKind::None },
        emb_norm: true,
        bos: 0,
        eos: 0,
        max_token_len: 0,
    };
    let mixers = (0..d.n_layers)
        .map(|l| {
            let rank = |n: &str| rows(&format!("blocks.{l}.att.{n}"));
            let lora_v = if l == 0 { 0 } else { rank("v1") };
            MixerConfig {
                lora: [rank("w1"), rank("a1"), lora_v, rank("g1")],
                group_norm_eps: glmix::rwkv7::GROUP_NORM_EPS,
                ..MixerConfig::new(Pattern::Order(1), Form::Rwkv7, d.n_heads, d.dim / d.n_heads.max(1))
            }
        })
        .collect();
    (config, mixers)
}

/// Default of `import-rwkv --context`: rwkv.cpp's files do not record the context a model was trained
/// at; the field is informational (an RWKV-7 model runs in constant memory at any context).
pub const DEFAULT_CONTEXT: u32 = 4096;

/// An rwkv.cpp RWKV-7 file (already parsed) as a glmix model file: every tensor the architecture
/// table lists ([`glmix::arch::checkpoint_tensors`] of [`rwkv7_arch`]), matrices stored as `quant`,
/// vectors f32; with each tensor's encoding error (`convert`'s table). `on_tensor(name, i, total)`
/// follows the progress.
pub fn import_ggmf(
    file: &Ggmf<'_>,
    quant: DType,
    context: u32,
    mut on_tensor: impl FnMut(&str, usize, usize),
) -> Result<(ModelFile, Vec<TensorReport>), RwkvError> {
    // The checks of the runtime's own RWKV-7 view first: a file it refuses is refused here.
    let (ck, _) = Rwkv7Checkpoint::from_ggmf(file, None)?;
    let (config, mixers) = rwkv7_arch(&ck, context as usize);
    // What the model file's fields hold: sizes up to 2^24, heads, head size and ranks in u16.
    let d = ck.dims;
    let wide = [d.vocab, d.dim, config.hidden_dim].into_iter().any(|n| n > glmix::format::MAX_DIM as usize);
    let narrow = |n: usize| n > u16::MAX as usize;
    let heads =
        mixers.iter().any(|m| narrow(m.n_heads) || narrow(m.head_dim) || m.lora.into_iter().any(narrow));
    if wide || heads || d.n_layers > glmix::format::MAX_LAYERS {
        return Err(RwkvError::Header {
            reason: format!(
                "a glmix model holds at most {} layers, sizes up to {} and heads, head sizes and LoRA ranks up to {}",
                glmix::format::MAX_LAYERS,
                glmix::format::MAX_DIM,
                u16::MAX
            ),
        });
    }
    let specs: Vec<_> = glmix::arch::checkpoint_tensors(&config, &mixers).collect();
    let mut tensors = Vec::with_capacity(specs.len());
    let mut reports = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let target = spec.name().to_string();
        let source =
            ggmf_name(spec.layer, spec.role).ok_or_else(|| RwkvError::Missing { name: target.clone() })?;
        let t = file.get(&source).ok_or_else(|| RwkvError::Missing { name: source.clone() })?;
        let ([rows, cols], n_dims) = spec.dims().unwrap_or(([0, 0], 0));
        let shape: Vec<usize> = [rows, cols].iter().take(n_dims).map(|&n| n as usize).collect();
        if shape.iter().product::<usize>() != t.len() || n_dims == 0 {
            return Err(RwkvError::Shape {
                name: source,
                want: format!("{} as {shape:?}", target),
                have: t.shape.clone(),
            });
        }
        let dtype = spec.role.stored_as(quant);
        let (data, error) = encode(&target, dtype, &shape, &t.to_f32())
            .map_err(|e| RwkvError::Encode { name: source.clone(), reason: e.to_string() })?;
        reports.push(TensorReport { name: target.clone(), dtype, shape, error });
        tensors.push(data);
        on_tensor(&target, i + 1, specs.len());
    }
    let layers = mixers.iter().map(MixerConfig::desc).collect();
    Ok((ModelFile { header: config.header(), layers, tensors }, reports))
}

/// Whether the file at `path` starts with rwkv.cpp's magic (how `glmix convert --weights` tells an
/// rwkv.cpp file from a safetensors checkpoint); a file shorter than the magic is not one. Only a
/// regular file is opened (a FIFO or device is an error, without blocking or reading it).
pub fn is_ggmf(path: &std::path::Path) -> anyhow::Result<bool> {
    use std::io::Read;
    let (file, _) = crate::limits::open_regular(path)?;
    let mut magic = Vec::with_capacity(4);
    file.take(4)
        .read_to_end(&mut magic)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(magic.len() == 4 && magic[..] == GGMF_MAGIC.to_le_bytes())
}

/// `glmix import-rwkv`: reads an rwkv.cpp file (a regular file of at most 4 GiB) and imports it
/// ([`import_ggmf`]); errors name the file.
pub fn import(
    path: &std::path::Path,
    quant: DType,
    context: u32,
    on_tensor: impl FnMut(&str, usize, usize),
) -> anyhow::Result<(ModelFile, Vec<TensorReport>)> {
    let bytes = crate::limits::read_bounded(path, u32::MAX as u64, "a model file")?;
    let named = |e: RwkvError| anyhow::anyhow!("{}: {e}", path.display());
    let file = read_ggmf(&bytes).map_err(named)?;
    import_ggmf(&file, quant, context, on_tensor).map_err(named)
}
