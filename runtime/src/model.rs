//! [`Model::parse`]: validates a model file once, then lends its weights in place.
//!
//! Invariants after `Ok`: the header, every layer descriptor and every tensor entry decoded to known
//! codes; every tensor the architecture needs is present exactly once, with the shape the config
//! implies and an allowed dtype; tensor data lies in the file in canonical order (see
//! [`crate::format`]), aligned, with the checksum verified. Accessors therefore cannot fail.

use crate::format::{
    self, Classifier, FileHeader, Form, LayerDesc, MlpKind, NormKind, Positional, TensorEntry, TokenizerKind,
    ENTRY_LEN, HEADER_LEN, LAYER_LEN, MAX_DIM, MAX_LAYERS, MAX_TENSORS,
};
use crate::pattern::Pattern;
use crate::tensor::{DType, Tensor};
use crate::tokenizer::{BpeVocab, Tokenizer};

/// Why a model file was rejected. Numbers say where; `tensor` fields index the tensor table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LoadError {
    /// The buffer ends before `needed` bytes (a header, table or tensor) starting at `offset`.
    Truncated {
        /// Where the missing part starts.
        offset: usize,
        /// How many bytes it needs.
        needed: usize,
    },
    /// The first four bytes are not `GLMX`.
    BadMagic {
        /// What was found.
        found: [u8; 4],
    },
    /// The file's format version is not the one this runtime reads.
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The header's `file_len` differs from the buffer length (extra or missing bytes).
    LengthMismatch {
        /// Length recorded in the header.
        header: u32,
        /// Length of the buffer.
        actual: usize,
    },
    /// A reserved byte is not zero, in the record starting at `offset`.
    ReservedNotZero {
        /// Offset of the record.
        offset: usize,
    },
    /// The CRC-32 of the payload does not match the header.
    ChecksumMismatch {
        /// Value in the header.
        stored: u32,
        /// Value computed over the file.
        computed: u32,
    },
    /// The buffer does not start at a 32-byte boundary (embed it with an aligned wrapper).
    MisalignedBuffer,
    /// More layers than [`MAX_LAYERS`], or none.
    BadLayerCount {
        /// Count in the header.
        n_layers: u32,
    },
    /// More tensors than [`MAX_TENSORS`].
    TooManyTensors {
        /// Count in the header.
        n_tensors: u32,
    },
    /// A model dimension is zero or above [`MAX_DIM`].
    BadDimension {
        /// Which field.
        field: Field,
        /// Its value.
        value: u32,
    },
    /// Unknown norm kind code.
    UnknownNorm {
        /// The code.
        code: u8,
    },
    /// Unknown positional-encoding code.
    UnknownPositional {
        /// The code.
        code: u8,
    },
    /// Unknown MLP kind code.
    UnknownMlp {
        /// The code.
        code: u8,
    },
    /// Unknown classifier code.
    UnknownClassifier {
        /// The code.
        code: u8,
    },
    /// Unknown tokenizer kind code.
    UnknownTokenizer {
        /// The code.
        code: u8,
    },
    /// Unknown or invalid mixer pattern in a layer (code, or a parameter of zero for window/order).
    UnknownPattern {
        /// Layer index.
        layer: u16,
        /// The code.
        code: u8,
        /// Its parameter.
        param: u32,
    },
    /// Unknown mixer form code in a layer.
    UnknownForm {
        /// Layer index.
        layer: u16,
        /// The code.
        code: u8,
    },
    /// Head counts or sizes that cannot work (zero, kv heads not dividing heads, grouped queries on a
    /// non-attention form, odd head size with RoPE).
    BadHeads {
        /// Layer index.
        layer: u16,
    },
    /// A known pattern and a known form whose pair is not defined (the state-space form runs on
    /// `order 1` and `pow2_lattice` only).
    UndefinedMixer {
        /// Layer index.
        layer: u16,
        /// Pattern code.
        pattern: u8,
        /// Form code.
        form: u8,
    },
    /// Unknown dtype code in a tensor entry.
    UnknownDType {
        /// Tensor index.
        tensor: u16,
        /// The code.
        code: u8,
    },
    /// A tensor name is empty, not UTF-8, or not one the architecture uses.
    UnknownTensor {
        /// Tensor index.
        tensor: u16,
    },
    /// Two entries carry the same name.
    DuplicateTensor {
        /// Index of the second one.
        tensor: u16,
    },
    /// A tensor the architecture needs is absent.
    MissingTensor {
        /// Layer index, or `None` for a model-level tensor.
        layer: Option<u16>,
        /// Which tensor.
        role: Role,
    },
    /// A tensor's shape is not what the config implies.
    WrongShape {
        /// Tensor index.
        tensor: u16,
        /// Expected `[rows, cols]`.
        expected: [u32; 2],
        /// Found `[rows, cols]`.
        found: [u32; 2],
    },
    /// A tensor has a dtype its role does not allow (norms must be f32, for example).
    WrongDType {
        /// Tensor index.
        tensor: u16,
        /// Its dtype.
        dtype: DType,
    },
    /// A tensor's byte length does not equal what its shape and dtype need.
    SizeMismatch {
        /// Tensor index.
        tensor: u16,
        /// Bytes the shape needs.
        expected: u64,
        /// Bytes recorded.
        found: u32,
    },
    /// A tensor is not at its canonical offset (misaligned, overlapping, out of order or with a hole).
    MisplacedTensor {
        /// Tensor index.
        tensor: u16,
        /// Where it must start.
        expected: u64,
        /// Where the entry says it starts.
        found: u32,
    },
    /// The tokenizer tables are inconsistent.
    BadTokenizer,
}

/// Header fields named in [`LoadError::BadDimension`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// `dim`.
    Dim,
    /// `hidden_dim`.
    HiddenDim,
    /// `vocab_size`.
    VocabSize,
    /// `max_context`.
    MaxContext,
    /// `norm_eps` (must be finite and positive).
    NormEps,
    /// `rope_theta` (must be finite and positive with RoPE).
    RopeTheta,
}

/// The role of a tensor in the architecture (names in `docs/model-spec.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Role {
    /// `layers.{l}.mixer_norm.weight`
    MixerNorm = 0,
    /// `layers.{l}.mixer.wq.weight`
    Wq,
    /// `layers.{l}.mixer.wk.weight`
    Wk,
    /// `layers.{l}.mixer.wv.weight`
    Wv,
    /// `layers.{l}.mixer.wo.weight`
    Wo,
    /// `layers.{l}.mixer.gamma`
    Gamma,
    /// `layers.{l}.mixer.wd.weight`
    Wd,
    /// `layers.{l}.mixer.wl.weight`
    Wl,
    /// `layers.{l}.mlp_norm.weight`
    MlpNorm,
    /// `layers.{l}.mlp.w1.weight`
    W1,
    /// `layers.{l}.mlp.w2.weight`
    W2,
    /// `layers.{l}.mlp.w3.weight`
    W3,
    /// `tok_embeddings.weight`
    TokEmbeddings,
    /// `norm.weight`
    Norm,
    /// `output.weight`
    Output,
    /// `tokenizer.scores`
    TokScores,
    /// `tokenizer.offsets`
    TokOffsets,
    /// `tokenizer.sorted`
    TokSorted,
    /// `tokenizer.pieces`
    TokPieces,
}

const LAYER_ROLES: usize = 12;
const GLOBAL_ROLES: usize = 7;

impl Role {
    /// Suffixes after `layers.{l}.`, indexed by role number.
    const LAYER_SUFFIX: [(&'static str, Role); LAYER_ROLES] = [
        ("mixer_norm.weight", Role::MixerNorm),
        ("mixer.wq.weight", Role::Wq),
        ("mixer.wk.weight", Role::Wk),
        ("mixer.wv.weight", Role::Wv),
        ("mixer.wo.weight", Role::Wo),
        ("mixer.gamma", Role::Gamma),
        ("mixer.wd.weight", Role::Wd),
        ("mixer.wl.weight", Role::Wl),
        ("mlp_norm.weight", Role::MlpNorm),
        ("mlp.w1.weight", Role::W1),
        ("mlp.w2.weight", Role::W2),
        ("mlp.w3.weight", Role::W3),
    ];
    const GLOBAL_NAMES: [(&'static str, Role); GLOBAL_ROLES] = [
        ("tok_embeddings.weight", Role::TokEmbeddings),
        ("norm.weight", Role::Norm),
        ("output.weight", Role::Output),
        ("tokenizer.scores", Role::TokScores),
        ("tokenizer.offsets", Role::TokOffsets),
        ("tokenizer.sorted", Role::TokSorted),
        ("tokenizer.pieces", Role::TokPieces),
    ];

    /// The tensor name of this role (for per-layer roles, the part after `layers.{l}.`).
    pub fn name(self) -> &'static str {
        let all = Self::LAYER_SUFFIX.iter().chain(Self::GLOBAL_NAMES.iter());
        all.into_iter().find(|(_, r)| *r == self).map_or("", |(n, _)| n)
    }

    fn layer_slot(self) -> usize {
        self as usize
    }
    fn global_slot(self) -> usize {
        (self as usize).saturating_sub(LAYER_ROLES)
    }
}

/// Model-wide configuration, decoded from the header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Model width.
    pub dim: usize,
    /// MLP hidden width.
    pub hidden_dim: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Number of layers.
    pub n_layers: usize,
    /// Context the model was trained at.
    pub max_context: usize,
    /// Norm kind.
    pub norm: NormKind,
    /// Norm epsilon.
    pub norm_eps: f32,
    /// Positional encoding.
    pub positional: Positional,
    /// RoPE base.
    pub rope_theta: f32,
    /// MLP kind.
    pub mlp: MlpKind,
    /// Tied or separate classifier.
    pub classifier: Classifier,
    /// Tokenizer kind.
    pub tokenizer: TokenizerKind,
    /// BOS token id (BPE).
    pub bos: u32,
    /// EOS token id (BPE).
    pub eos: u32,
    /// Longest tokenizer piece (BPE).
    pub max_token_len: u32,
}

/// One layer's token mixer configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MixerConfig {
    /// Which past positions each step reads.
    pub pattern: Pattern,
    /// How the coefficients are computed.
    pub form: Form,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl MixerConfig {
    /// Width of all query heads together.
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }
    /// Width of all key/value heads together.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
    /// True for the log-linear state space (one matrix per lattice level; [`crate::loglinear`]).
    pub const fn is_loglinear(&self) -> bool {
        crate::loglinear::is_loglinear(self.pattern, self.form)
    }
}

/// Rows of `wl` (`n_heads * L`, [`crate::loglinear::level_weights`]) for a file's `max_context`.
fn level_weight_rows(m: &MixerConfig, max_context: usize) -> u32 {
    let levels = crate::loglinear::level_weights(m.pattern, max_context.min(u32::MAX as usize) as u32);
    (m.n_heads.saturating_mul(levels)).min(u32::MAX as usize) as u32
}

const NO_TENSOR: u16 = u16::MAX;

/// Which dtypes a tensor role accepts.
type DTypeRule = fn(DType) -> bool;

fn is_f32(d: DType) -> bool {
    d == DType::F32
}

fn is_weight(d: DType) -> bool {
    d.is_weight()
}

/// A parsed model: the file's bytes, its decoded configuration and the index of every tensor.
#[derive(Clone, Debug)]
pub struct Model<'a> {
    bytes: &'a [u8],
    config: Config,
    mixers: [MixerConfig; MAX_LAYERS],
    /// Tensor-table index per layer and role (`NO_TENSOR` where the architecture has none).
    layer_tensors: [[u16; LAYER_ROLES]; MAX_LAYERS],
    global_tensors: [u16; GLOBAL_ROLES],
    /// Entries in the tensor table (from the validated header; read on every tensor lookup).
    n_tensors: usize,
}

fn read_array<const N: usize>(bytes: &[u8], offset: usize) -> Result<&[u8; N], LoadError> {
    let end = offset.checked_add(N).ok_or(LoadError::Truncated { offset, needed: N })?;
    bytes.get(offset..end).and_then(|s| s.try_into().ok()).ok_or(LoadError::Truncated { offset, needed: N })
}

fn check_dim(field: Field, value: u32) -> Result<usize, LoadError> {
    if value == 0 || value > MAX_DIM {
        return Err(LoadError::BadDimension { field, value });
    }
    Ok(value as usize)
}

/// Parses `layers.{l}.<suffix>` or a global name into (layer, role).
fn classify(name: &str, n_layers: usize) -> Option<(Option<usize>, Role)> {
    if let Some(rest) = name.strip_prefix("layers.") {
        let (num, suffix) = rest.split_once('.')?;
        if num.is_empty() || (num.len() > 1 && num.starts_with('0')) {
            return None;
        }
        let layer: usize = num.parse().ok()?;
        if layer >= n_layers {
            return None;
        }
        let role = Role::LAYER_SUFFIX.iter().find(|(s, _)| *s == suffix)?.1;
        return Some((Some(layer), role));
    }
    Role::GLOBAL_NAMES.iter().find(|(n, _)| *n == name).map(|&(_, r)| (None, r))
}

impl<'a> Model<'a> {
    /// Validates `bytes` as a model file and indexes it, without copying anything.
    ///
    /// `bytes` must start at a 32-byte boundary (use an aligned wrapper for `include_bytes!`; the host
    /// tool loads files into aligned buffers).
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, LoadError> {
        Self::parse_with_crc(bytes, format::crc32)
    }

    /// [`Model::parse`] with the checksum of bytes `128..` computed by `crc`, which must compute
    /// [`format::crc32`] (a host may pass a hardware-assisted CRC-32/ISO-HDLC, such as the
    /// `crc32fast` crate's `hash`; the table version is the twin it is tested against).
    pub fn parse_with_crc(bytes: &'a [u8], crc: impl FnOnce(&[u8]) -> u32) -> Result<Model<'a>, LoadError> {
        let header_bytes = read_array::<HEADER_LEN>(bytes, 0)?;
        let magic = [header_bytes[0], header_bytes[1], header_bytes[2], header_bytes[3]];
        if magic != format::MAGIC {
            return Err(LoadError::BadMagic { found: magic });
        }
        let header = FileHeader::read(header_bytes).ok_or(LoadError::ReservedNotZero { offset: 0 })?;
        if header.version != format::VERSION {
            return Err(LoadError::UnsupportedVersion { found: header.version, supported: format::VERSION });
        }
        if header.file_len as usize != bytes.len() {
            if (header.file_len as usize) > bytes.len() {
                return Err(LoadError::Truncated {
                    offset: bytes.len(),
                    needed: header.file_len as usize - bytes.len(),
                });
            }
            return Err(LoadError::LengthMismatch { header: header.file_len, actual: bytes.len() });
        }
        if bytes.as_ptr().align_offset(format::ALIGN) != 0 {
            return Err(LoadError::MisalignedBuffer);
        }
        let computed = crc(bytes.get(HEADER_LEN..).unwrap_or(&[]));
        if computed != header.checksum {
            return Err(LoadError::ChecksumMismatch { stored: header.checksum, computed });
        }

        let config = Self::decode_config(&header)?;
        let n_layers = config.n_layers;
        if header.n_tensors as usize > MAX_TENSORS {
            return Err(LoadError::TooManyTensors { n_tensors: header.n_tensors });
        }

        let mut mixers = [MixerConfig {
            pattern: Pattern::Dense,
            form: Form::Attention,
            n_heads: 0,
            n_kv_heads: 0,
            head_dim: 0,
        }; MAX_LAYERS];
        for (l, slot) in mixers.iter_mut().enumerate().take(n_layers) {
            let offset = HEADER_LEN + l * LAYER_LEN;
            let desc = LayerDesc::read(read_array::<LAYER_LEN>(bytes, offset)?)
                .ok_or(LoadError::ReservedNotZero { offset })?;
            *slot = Self::decode_mixer(l as u16, &desc, &config)?;
        }

        let table = HEADER_LEN + n_layers * LAYER_LEN;
        let mut layer_tensors = [[NO_TENSOR; LAYER_ROLES]; MAX_LAYERS];
        let mut global_tensors = [NO_TENSOR; GLOBAL_ROLES];
        let n_tensors = header.n_tensors as usize;
        let mut expected_offset =
            format::align_up(table + n_tensors * ENTRY_LEN).unwrap_or(usize::MAX) as u64;
        for i in 0..n_tensors {
            let offset = table + i * ENTRY_LEN;
            let entry = TensorEntry::read(read_array::<ENTRY_LEN>(bytes, offset)?)
                .ok_or(LoadError::ReservedNotZero { offset })?;
            let index = i as u16;
            let dtype = entry.dtype().ok_or(LoadError::UnknownDType { tensor: index, code: entry.dtype })?;
            if !(entry.n_dims == 1 && entry.shape[1] == 0 || entry.n_dims == 2) {
                return Err(LoadError::WrongShape { tensor: index, expected: [0, 0], found: entry.shape });
            }
            let (rows, cols) = entry.rows_cols();
            // Up to 2^34 bytes per row times 2^32 rows: checked, a wrapped product could match `len`.
            let size = dtype
                .row_bytes(cols as usize)
                .and_then(|rb| (rb as u64).checked_mul(rows as u64))
                .unwrap_or(u64::MAX);
            if size != entry.len as u64 {
                return Err(LoadError::SizeMismatch { tensor: index, expected: size, found: entry.len });
            }
            if entry.offset as u64 != expected_offset {
                return Err(LoadError::MisplacedTensor {
                    tensor: index,
                    expected: expected_offset,
                    found: entry.offset,
                });
            }
            let end = entry.offset as u64 + entry.len as u64;
            if end > bytes.len() as u64 {
                return Err(LoadError::Truncated {
                    offset: entry.offset as usize,
                    needed: entry.len as usize,
                });
            }
            expected_offset = format::align_up(end as usize).unwrap_or(usize::MAX) as u64;

            let (layer, role) =
                classify(entry.name(), n_layers).ok_or(LoadError::UnknownTensor { tensor: index })?;
            let slot = match layer {
                Some(l) => layer_tensors.get_mut(l).and_then(|r| r.get_mut(role.layer_slot())),
                None => global_tensors.get_mut(role.global_slot()),
            }
            .ok_or(LoadError::UnknownTensor { tensor: index })?;
            if *slot != NO_TENSOR {
                return Err(LoadError::DuplicateTensor { tensor: index });
            }
            *slot = index;
        }
        if expected_offset != bytes.len() as u64 {
            return Err(LoadError::LengthMismatch {
                header: header.file_len,
                actual: expected_offset as usize,
            });
        }

        let model = Model { bytes, config, mixers, layer_tensors, global_tensors, n_tensors };
        model.check_tensors()?;
        if model.config.tokenizer == TokenizerKind::Bpe {
            model.bpe_vocab().map_err(|_| LoadError::BadTokenizer)?;
        }
        Ok(model)
    }

    fn decode_config(h: &FileHeader) -> Result<Config, LoadError> {
        if h.n_layers == 0 || h.n_layers as usize > MAX_LAYERS {
            return Err(LoadError::BadLayerCount { n_layers: h.n_layers });
        }
        let positional =
            Positional::from_code(h.positional).ok_or(LoadError::UnknownPositional { code: h.positional })?;
        let eps_ok = h.norm_eps.is_finite() && h.norm_eps > 0.0;
        if !eps_ok {
            return Err(LoadError::BadDimension { field: Field::NormEps, value: h.norm_eps.to_bits() });
        }
        if positional != Positional::None && !(h.rope_theta.is_finite() && h.rope_theta > 0.0) {
            return Err(LoadError::BadDimension { field: Field::RopeTheta, value: h.rope_theta.to_bits() });
        }
        Ok(Config {
            dim: check_dim(Field::Dim, h.dim)?,
            hidden_dim: check_dim(Field::HiddenDim, h.hidden_dim)?,
            vocab_size: check_dim(Field::VocabSize, h.vocab_size)?,
            n_layers: h.n_layers as usize,
            max_context: check_dim(Field::MaxContext, h.max_context)?,
            norm: NormKind::from_code(h.norm).ok_or(LoadError::UnknownNorm { code: h.norm })?,
            norm_eps: h.norm_eps,
            positional,
            rope_theta: h.rope_theta,
            mlp: MlpKind::from_code(h.mlp).ok_or(LoadError::UnknownMlp { code: h.mlp })?,
            classifier: Classifier::from_code(h.classifier)
                .ok_or(LoadError::UnknownClassifier { code: h.classifier })?,
            tokenizer: TokenizerKind::from_code(h.tokenizer)
                .ok_or(LoadError::UnknownTokenizer { code: h.tokenizer })?,
            bos: h.bos,
            eos: h.eos,
            max_token_len: h.max_token_len,
        })
    }

    fn decode_mixer(layer: u16, d: &LayerDesc, config: &Config) -> Result<MixerConfig, LoadError> {
        let unknown = LoadError::UnknownPattern { layer, code: d.pattern, param: d.param };
        let pattern = Pattern::from_code(d.pattern, d.param).ok_or(unknown)?;
        if matches!(pattern, Pattern::Window(0) | Pattern::Order(0)) || d.param > MAX_DIM {
            return Err(unknown);
        }
        let form = Form::from_code(d.form).ok_or(LoadError::UnknownForm { layer, code: d.form })?;
        let (n_heads, n_kv_heads, head_dim) =
            (d.n_heads as usize, d.n_kv_heads as usize, d.head_dim as usize);
        let bad = LoadError::BadHeads { layer };
        if n_heads == 0 || n_kv_heads == 0 || head_dim == 0 || n_heads % n_kv_heads != 0 {
            return Err(bad);
        }
        if form != Form::Attention && n_kv_heads != n_heads {
            return Err(bad);
        }
        if form == Form::StateSpace
            && !(pattern == Pattern::Order(1) || crate::loglinear::is_loglinear(pattern, form))
        {
            return Err(LoadError::UndefinedMixer { layer, pattern: d.pattern, form: d.form });
        }
        if config.positional != Positional::None && head_dim % 2 != 0 {
            return Err(bad);
        }
        Ok(MixerConfig { pattern, form, n_heads, n_kv_heads, head_dim })
    }

    /// Checks presence, shape and dtype of every tensor the architecture needs, and the absence of
    /// those it does not use.
    fn check_tensors(&self) -> Result<(), LoadError> {
        let c = &self.config;
        let layers = self.mixers.iter().zip(&self.layer_tensors).take(c.n_layers);
        for (l, (&m, slots)) in layers.enumerate() {
            let (d, h, q, kv) = (c.dim as u32, c.hidden_dim as u32, m.q_dim() as u32, m.kv_dim() as u32);
            let needs: [(Role, bool, [u32; 2], DTypeRule); LAYER_ROLES] = [
                (Role::MixerNorm, true, [1, d], is_f32),
                (Role::Wq, true, [q, d], is_weight),
                (Role::Wk, true, [kv, d], is_weight),
                (Role::Wv, true, [kv, d], is_weight),
                (Role::Wo, true, [d, q], is_weight),
                (Role::Gamma, m.form == Form::Chained, [1, m.n_heads as u32], is_f32),
                (Role::Wd, m.form == Form::StateSpace, [q, d], is_weight),
                (Role::Wl, m.is_loglinear(), [level_weight_rows(&m, c.max_context), d], is_weight),
                (Role::MlpNorm, true, [1, d], is_f32),
                (Role::W1, true, [h, d], is_weight),
                (Role::W2, true, [d, h], is_weight),
                (Role::W3, c.mlp == MlpKind::SwiGlu, [h, d], is_weight),
            ];
            for (role, wanted, shape, dtype_ok) in needs {
                let idx = slots.get(role.layer_slot()).copied().unwrap_or(NO_TENSOR);
                self.check_one(idx, Some(l as u16), role, wanted, shape, &dtype_ok)?;
            }
        }
        let (v, d) = (c.vocab_size as u32, c.dim as u32);
        let bpe = c.tokenizer == TokenizerKind::Bpe;
        self.check_one(self.global(Role::TokEmbeddings), None, Role::TokEmbeddings, true, [v, d], &|t| {
            t.is_weight()
        })?;
        self.check_one(self.global(Role::Norm), None, Role::Norm, true, [1, d], &|t| t == DType::F32)?;
        let separate = c.classifier == Classifier::Separate;
        self.check_one(self.global(Role::Output), None, Role::Output, separate, [v, d], &|t| t.is_weight())?;
        // Tokenizer tables: shapes are checked here, content by the tokenizer.
        let n = v;
        self.check_one(self.global(Role::TokScores), None, Role::TokScores, bpe, [1, n], &|t| {
            t == DType::F32
        })?;
        self.check_one(self.global(Role::TokOffsets), None, Role::TokOffsets, bpe, [1, n + 1], &|t| {
            t == DType::U32
        })?;
        self.check_one(self.global(Role::TokSorted), None, Role::TokSorted, bpe, [1, n], &|t| {
            t == DType::U32
        })?;
        let pieces = self.global(Role::TokPieces);
        if bpe {
            let cols = self.entry(pieces).map_or(0, |e| e.rows_cols().1);
            self.check_one(pieces, None, Role::TokPieces, true, [1, cols], &|t| t == DType::U8)?;
        } else {
            self.check_one(pieces, None, Role::TokPieces, false, [0, 0], &|_| true)?;
        }
        Ok(())
    }

    fn check_one(
        &self,
        idx: u16,
        layer: Option<u16>,
        role: Role,
        wanted: bool,
        shape: [u32; 2],
        dtype_ok: &dyn Fn(DType) -> bool,
    ) -> Result<(), LoadError> {
        match (idx != NO_TENSOR, wanted) {
            (false, false) => Ok(()),
            (false, true) => Err(LoadError::MissingTensor { layer, role }),
            (true, false) => Err(LoadError::UnknownTensor { tensor: idx }),
            (true, true) => {
                let e = self.entry(idx).ok_or(LoadError::UnknownTensor { tensor: idx })?;
                let (rows, cols) = e.rows_cols();
                if [rows, cols] != shape {
                    return Err(LoadError::WrongShape { tensor: idx, expected: shape, found: [rows, cols] });
                }
                let dtype = e.dtype().ok_or(LoadError::UnknownDType { tensor: idx, code: e.dtype })?;
                if !dtype_ok(dtype) {
                    return Err(LoadError::WrongDType { tensor: idx, dtype });
                }
                Ok(())
            }
        }
    }

    fn global(&self, role: Role) -> u16 {
        self.global_tensors.get(role.global_slot()).copied().unwrap_or(NO_TENSOR)
    }

    /// The tensor-table entry at `index` (`None` past the end).
    pub fn entry(&self, index: u16) -> Option<TensorEntry> {
        if index as usize >= self.n_tensors() {
            return None;
        }
        let offset = HEADER_LEN + self.config.n_layers * LAYER_LEN + index as usize * ENTRY_LEN;
        let bytes = read_array::<ENTRY_LEN>(self.bytes, offset).ok()?;
        TensorEntry::read(bytes)
    }

    /// Number of tensors in the file.
    pub fn n_tensors(&self) -> usize {
        self.n_tensors
    }

    /// The tensor at table `index`, viewed in place (an empty tensor if `index` is out of range).
    pub fn tensor(&self, index: u16) -> Tensor<'a> {
        let view = self.entry(index).and_then(|e| {
            let (rows, cols) = e.rows_cols();
            let data = self.bytes.get(e.offset as usize..(e.offset as usize).checked_add(e.len as usize)?)?;
            Tensor::new(e.dtype()?, rows as usize, cols as usize, data)
        });
        view.unwrap_or(EMPTY)
    }

    /// The file's CRC-32 (from its header): identifies the exact model a snapshot belongs to.
    pub fn checksum(&self) -> u32 {
        let b = self.bytes.get(12..16).and_then(|b| <[u8; 4]>::try_from(b).ok());
        b.map_or(0, u32::from_le_bytes)
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Model-wide configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Layer `l`'s mixer configuration (layer 0's for `l` out of range).
    pub fn mixer(&self, l: usize) -> &MixerConfig {
        self.mixers.get(l).unwrap_or(&self.mixers[0])
    }

    /// All layers' mixer configurations.
    pub fn mixers(&self) -> &[MixerConfig] {
        self.mixers.get(..self.config.n_layers).unwrap_or(&[])
    }

    /// Layer `l`'s tensor of `role` (empty if the layer has no such tensor).
    pub fn layer_tensor(&self, l: usize, role: Role) -> Tensor<'a> {
        let idx = self.layer_tensors.get(l).and_then(|r| r.get(role.layer_slot())).copied();
        self.tensor(idx.unwrap_or(NO_TENSOR))
    }

    /// A model-level tensor (embedding, final norm, classifier, tokenizer tables).
    pub fn global_tensor(&self, role: Role) -> Tensor<'a> {
        self.tensor(self.global(role))
    }

    /// The classifier matrix: `output.weight`, or the embedding when tied.
    pub fn classifier(&self) -> Tensor<'a> {
        match self.config.classifier {
            Classifier::Tied => self.global_tensor(Role::TokEmbeddings),
            Classifier::Separate => self.global_tensor(Role::Output),
        }
    }

    fn bpe_vocab(&self) -> Result<BpeVocab<'a>, crate::tokenizer::TokenizerError> {
        let c = &self.config;
        BpeVocab::new(
            self.global_tensor(Role::TokScores).as_f32(),
            self.global_tensor(Role::TokOffsets).as_u32(),
            self.global_tensor(Role::TokSorted).as_u32(),
            self.global_tensor(Role::TokPieces).bytes(),
            c.max_token_len,
            c.bos,
            c.eos,
        )
    }

    /// The tokenizer the file carries (`None` when it carries none: feed token ids directly).
    pub fn tokenizer(&self) -> Option<Tokenizer<'a>> {
        match self.config.tokenizer {
            TokenizerKind::None => None,
            TokenizerKind::Bytes => Some(Tokenizer::Bytes),
            // Validated by `parse`, so this cannot fail.
            TokenizerKind::Bpe => self.bpe_vocab().ok().map(Tokenizer::Bpe),
        }
    }

    /// Bytes of weights and tables (the whole file: what a device keeps in flash).
    pub fn flash_bytes(&self) -> usize {
        self.bytes.len()
    }
}

const EMPTY: Tensor<'static> = Tensor::empty();

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use LoadError::*;
        match *self {
            Truncated { offset, needed } => write!(f, "file truncated: {needed} bytes needed at offset {offset}; the copy is incomplete, copy or convert it again"),
            BadMagic { found } => write!(f, "not a glmix model file (magic {found:02x?}, expected \"GLMX\"); convert the checkpoint with `glmix convert` or `glmix import-llama2c`"),
            UnsupportedVersion { found, supported } => write!(f, "model format version {found}, but this build reads version {supported}; convert the model again with a matching glmix"),
            LengthMismatch { header, actual } => write!(f, "the header says the file has {header} bytes but it has {actual}; the file is damaged or has bytes appended"),
            ReservedNotZero { offset } => write!(f, "reserved bytes in the record at offset {offset} are not zero; the file is damaged or from a newer writer"),
            ChecksumMismatch { stored, computed } => write!(f, "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}); the file is corrupted"),
            MisalignedBuffer => write!(f, "the model bytes do not start at a 32-byte boundary; embed them with an aligned wrapper"),
            BadLayerCount { n_layers } => write!(f, "{n_layers} layers: a model has 1 to {MAX_LAYERS}"),
            TooManyTensors { n_tensors } => write!(f, "{n_tensors} tensors: at most {MAX_TENSORS} are supported"),
            BadDimension { field, value } => write!(f, "header field {field:?} has an invalid value ({value})"),
            UnknownNorm { code } => write!(f, "unknown norm kind code {code}; this build knows rmsnorm (0)"),
            UnknownPositional { code } => write!(f, "unknown positional-encoding code {code}"),
            UnknownMlp { code } => write!(f, "unknown MLP kind code {code}"),
            UnknownClassifier { code } => write!(f, "unknown classifier code {code}"),
            UnknownTokenizer { code } => write!(f, "unknown tokenizer kind code {code}"),
            UnknownPattern { layer, code, param } => write!(f, "layer {layer}: unknown mixer pattern code {code} (param {param}); this build knows codes 0-6 with non-zero window/order"),
            UnknownForm { layer, code } => write!(f, "layer {layer}: unknown mixer form code {code}; this build knows 0-3"),
            BadHeads { layer } => write!(f, "layer {layer}: invalid head configuration for its mixer form"),
            UndefinedMixer { layer, pattern, form } => write!(f, "layer {layer}: pattern code {pattern} with form code {form} is not a defined mixer (state_space runs on order 1 and pow2_lattice only)"),
            UnknownDType { tensor, code } => write!(f, "tensor #{tensor}: unknown dtype code {code}"),
            UnknownTensor { tensor } => write!(f, "tensor #{tensor}: name not used by this architecture"),
            DuplicateTensor { tensor } => write!(f, "tensor #{tensor}: a tensor with this name appears twice"),
            MissingTensor { layer: Some(l), role } => write!(f, "missing tensor layers.{l}.{}", role.name()),
            MissingTensor { layer: None, role } => write!(f, "missing tensor {}", role.name()),
            WrongShape { tensor, expected, found } => write!(f, "tensor #{tensor}: shape {found:?}, the config implies {expected:?}"),
            WrongDType { tensor, dtype } => write!(f, "tensor #{tensor}: dtype {} is not allowed for this tensor", dtype.name()),
            SizeMismatch { tensor, expected, found } => write!(f, "tensor #{tensor}: {found} bytes, its shape and dtype need {expected}"),
            MisplacedTensor { tensor, expected, found } => write!(f, "tensor #{tensor}: data at offset {found}, expected {expected} (misaligned, overlapping or out of order)"),
            BadTokenizer => write!(f, "the tokenizer tables are inconsistent"),
        }
    }
}
