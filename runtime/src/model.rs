//! [`Model::parse`]: validates a model file once, then lends its weights in place.
//!
//! Invariants after `Ok`: the header, every layer descriptor and every tensor entry decoded to known
//! codes; every tensor the architecture needs is present exactly once, with the shape the config
//! implies and an allowed dtype; tensor data lies in the file in canonical order (see
//! [`crate::format`]), aligned, with the checksum verified. Accessors therefore cannot fail.

use crate::arch::{self, DEFINED_RULE, GLOBAL_ROLES, LAYER_ROLES, LEVEL_AWARE_RULE};
pub use crate::arch::{Config, MixerConfig, Role};
use crate::format::{
    self, Classifier, FileHeader, Form, LayerDesc, TensorEntry, TokenizerKind, ENTRY_LEN, HEADER_LEN,
    LAYER_LEN, LAYER_LEVEL_AWARE, MAX_DIM, MAX_LAYERS, MAX_TENSORS,
};
use crate::pattern::Pattern;
use crate::tensor::{DType, Tensor};
use crate::tokenizer::{BpeVocab, Tokenizer, TokenizerError};

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
    /// A model dimension is zero or above [`MAX_DIM`], or a float field is
    /// not finite and positive.
    BadDimension {
        /// Which field.
        field: Field,
        /// Its value: the integer, or the bits of the `f32` for [`Field::NormEps`] and
        /// [`Field::RopeTheta`] ([`Field::is_float`]; `Display` prints the float).
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
    /// The header's `emb_norm` byte is neither 0 nor 1.
    UnknownEmbNorm {
        /// The code.
        code: u8,
    },
    /// A layer's LoRA ranks or group-norm epsilon do not fit its form (RWKV-7 needs the decay,
    /// learning-rate and gate ranks >= 1 and a finite positive epsilon; other forms none of them).
    BadLowRank {
        /// Layer index.
        layer: u16,
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
    /// A layer descriptor sets option bits this build does not know.
    UnknownLayerFlags {
        /// Layer index.
        layer: u16,
        /// The flag byte.
        flags: u8,
    },
    /// Level-aware coefficients on a mixer they are not defined for
    /// ([`crate::arch::is_level_aware_defined`]).
    UndefinedLevelAware {
        /// Layer index.
        layer: u16,
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
    BadTokenizer {
        /// What the tokenizer's validation found.
        cause: TokenizerError,
    },
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

impl Field {
    /// The field's name in the file header.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Dim => "dim",
            Field::HiddenDim => "hidden_dim",
            Field::VocabSize => "vocab_size",
            Field::MaxContext => "max_context",
            Field::NormEps => "norm_eps",
            Field::RopeTheta => "rope_theta",
        }
    }

    /// True for the `f32` fields (their [`LoadError::BadDimension`] value holds the float's bits).
    pub const fn is_float(self) -> bool {
        matches!(self, Field::NormEps | Field::RopeTheta)
    }
}

/// A parsed model: the file's bytes, its decoded configuration and the index of every tensor.
#[derive(Clone, Debug)]
pub struct Model<'a> {
    bytes: &'a [u8],
    config: Config,
    /// One per layer (`config.n_layers` entries).
    mixers: heapless::Vec<MixerConfig, MAX_LAYERS>,
    /// Tensor-table index per layer and role (`NO_TENSOR` where the architecture has none).
    layer_tensors: heapless::Vec<[u16; LAYER_ROLES], MAX_LAYERS>,
    global_tensors: [u16; GLOBAL_ROLES],
    /// Entries in the tensor table (from the validated header; read on every tensor lookup).
    n_tensors: usize,
}

const NO_TENSOR: u16 = u16::MAX;

fn read_array<const N: usize>(bytes: &[u8], offset: usize) -> Result<&[u8; N], LoadError> {
    let end = offset.checked_add(N).ok_or(LoadError::Truncated { offset, needed: N })?;
    bytes.get(offset..end).and_then(|s| s.try_into().ok()).ok_or(LoadError::Truncated { offset, needed: N })
}

impl<'a> Model<'a> {
    /// Validates `bytes` as a model file and indexes it, without copying anything.
    ///
    /// `bytes` must start at a 32-byte boundary (use an aligned wrapper for `include_bytes!`; the host
    /// tool loads files into aligned buffers).
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, LoadError> {
        Self::parse_with_crc(bytes, format::crc32_update)
    }

    /// [`Model::parse`] with the checksum's CRC-32 continued by `crc_update`, which must compute
    /// [`format::crc32_update`] (a host may pass a hardware-assisted CRC-32/ISO-HDLC, such as the
    /// `crc32fast` crate's `Hasher::new_with_initial`; the table version is the twin it is tested
    /// against). The region it covers is [`format::model_crc_with`]'s, the same for every `crc_update`.
    pub fn parse_with_crc(
        bytes: &'a [u8],
        crc_update: impl Fn(u32, &[u8]) -> u32,
    ) -> Result<Model<'a>, LoadError> {
        let header_bytes = read_array::<HEADER_LEN>(bytes, 0)?;
        let magic = [header_bytes[0], header_bytes[1], header_bytes[2], header_bytes[3]];
        if magic != format::MAGIC {
            return Err(LoadError::BadMagic { found: magic });
        }
        let header = FileHeader::read(header_bytes).ok_or(LoadError::ReservedNotZero { offset: 0 })?;
        if !(format::MIN_VERSION..=format::VERSION).contains(&header.version) {
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
        let computed = format::model_crc_with(bytes, header.version, crc_update);
        if computed != header.checksum {
            return Err(LoadError::ChecksumMismatch { stored: header.checksum, computed });
        }

        let config = Config::from_header(&header)?;
        let n_layers = config.n_layers;
        if header.n_tensors as usize > MAX_TENSORS {
            return Err(LoadError::TooManyTensors { n_tensors: header.n_tensors });
        }

        let mut mixers = heapless::Vec::new();
        let mut layer_tensors = heapless::Vec::new();
        for l in 0..n_layers {
            let offset = HEADER_LEN + l * LAYER_LEN;
            let desc = LayerDesc::read(read_array::<LAYER_LEN>(bytes, offset)?)
                .ok_or(LoadError::ReservedNotZero { offset })?;
            let mixer = MixerConfig::from_desc(l as u16, &desc, config.positional)?;
            // `n_layers <= MAX_LAYERS` (checked by `from_header`), so neither push can fail.
            let full = LoadError::BadLayerCount { n_layers: header.n_layers };
            mixers.push(mixer).map_err(|_| full)?;
            layer_tensors.push([NO_TENSOR; LAYER_ROLES]).map_err(|_| full)?;
        }

        let table = HEADER_LEN + n_layers * LAYER_LEN;
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
                Role::from_name(entry.name(), n_layers).ok_or(LoadError::UnknownTensor { tensor: index })?;
            let slot = match layer {
                Some(l) => layer_tensors.get_mut(l).and_then(|r| r.get_mut(role.slot())),
                None => global_tensors.get_mut(role.slot()),
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
            model.bpe_vocab().map_err(|cause| LoadError::BadTokenizer { cause })?;
        }
        Ok(model)
    }

    /// Checks presence, shape and dtype of every tensor the architecture needs ([`arch::tensors`]),
    /// and the absence of those it does not use.
    fn check_tensors(&self) -> Result<(), LoadError> {
        for spec in arch::tensors(&self.config, &self.mixers) {
            let idx = self.index(spec.layer, spec.role);
            let layer = spec.layer.map(|l| l as u16);
            let entry = match (idx, spec.required) {
                (None, false) => continue,
                (None, true) => return Err(LoadError::MissingTensor { layer, role: spec.role }),
                (Some(tensor), false) => return Err(LoadError::UnknownTensor { tensor }),
                (Some(tensor), true) => {
                    (tensor, self.entry(tensor).ok_or(LoadError::UnknownTensor { tensor })?)
                }
            };
            let (tensor, e) = entry;
            let (rows, cols) = e.rows_cols();
            if !spec.fits(rows, cols) {
                let expected = [spec.rows, spec.cols.unwrap_or(cols)];
                return Err(LoadError::WrongShape { tensor, expected, found: [rows, cols] });
            }
            let dtype = e.dtype().ok_or(LoadError::UnknownDType { tensor, code: e.dtype })?;
            if !spec.role.storage().allows(dtype) {
                return Err(LoadError::WrongDType { tensor, dtype });
            }
        }
        Ok(())
    }

    /// Table index of layer `layer`'s (or the model's, for `None`) tensor of `role`.
    fn index(&self, layer: Option<usize>, role: Role) -> Option<u16> {
        let slot = match layer {
            Some(l) => self.layer_tensors.get(l).and_then(|r| r.get(role.slot())),
            None => self.global_tensors.get(role.slot()),
        };
        slot.copied().filter(|&i| i != NO_TENSOR)
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

    /// The tensor at table `index`, viewed in place (`None` past the end of the table).
    pub fn tensor(&self, index: u16) -> Option<Tensor<'a>> {
        if index as usize >= self.n_tensors() {
            return None;
        }
        let at = HEADER_LEN + self.config.n_layers * LAYER_LEN + index as usize * ENTRY_LEN;
        // The entry's fields but its name (`entry(index)`'s values, without copying the name).
        let (dtype, (rows, cols), offset, len) =
            TensorEntry::read_data(read_array::<ENTRY_LEN>(self.bytes, at).ok()?)?;
        let data = self.bytes.get(offset as usize..(offset as usize).checked_add(len as usize)?)?;
        Tensor::new(DType::from_code(dtype)?, rows as usize, cols as usize, data)
    }

    /// CRC-32 of the whole file but its checksum field: identifies the exact model a snapshot
    /// belongs to. Version 2 files store it in the header; for a version-1 file (whose stored checksum
    /// skips the header) it is computed here, a pass over the file.
    pub fn checksum(&self) -> u32 {
        let b = self.bytes.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok());
        if b.map(u32::from_le_bytes) < Some(2) {
            return format::model_crc(self.bytes, 2);
        }
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

    /// Layer `l`'s mixer configuration (`None` for `l >= n_layers`).
    pub fn mixer(&self, l: usize) -> Option<&MixerConfig> {
        self.mixers.get(l)
    }

    /// All layers' mixer configurations.
    pub fn mixers(&self) -> &[MixerConfig] {
        &self.mixers
    }

    /// Layer `l`'s tensor of `role` (`None` if the layer has no such tensor, or `l` is out of range).
    /// After [`Model::parse`] every tensor [`arch::tensors`] requires is present.
    pub fn layer_tensor(&self, l: usize, role: Role) -> Option<Tensor<'a>> {
        self.tensor(self.index(Some(l), role)?)
    }

    /// A model-level tensor (embedding, final norm, classifier, tokenizer tables), `None` if the
    /// architecture has none of this role.
    pub fn global_tensor(&self, role: Role) -> Option<Tensor<'a>> {
        self.tensor(self.index(None, role)?)
    }

    /// The classifier matrix: `output.weight`, or the embedding when tied.
    pub fn classifier(&self) -> Option<Tensor<'a>> {
        match self.config.classifier {
            Classifier::Tied => self.global_tensor(Role::TokEmbeddings),
            Classifier::Separate => self.global_tensor(Role::Output),
        }
    }

    /// For the decoder: layer `l`'s tensor of `role`, which [`arch::tensors`] requires for this
    /// layer (checked by [`Model::parse`]). Should a caller ask for one the architecture lacks, it
    /// gets an empty tensor and the kernels compute zeros; the decoder only asks for required ones.
    pub(crate) fn weight(&self, l: usize, role: Role) -> Tensor<'a> {
        self.layer_tensor(l, role).unwrap_or(Tensor::empty())
    }

    /// For the decoder: a required model-level tensor (see [`Model::weight`]); the classifier when
    /// `role` is [`Role::Output`] (the embedding when tied).
    pub(crate) fn global_weight(&self, role: Role) -> Tensor<'a> {
        let t = match role {
            Role::Output => self.classifier(),
            _ => self.global_tensor(role),
        };
        t.unwrap_or(Tensor::empty())
    }

    fn bpe_vocab(&self) -> Result<BpeVocab<'a>, TokenizerError> {
        let c = &self.config;
        let table = |role| self.global_tensor(role).unwrap_or(Tensor::empty());
        BpeVocab::new(
            table(Role::TokScores).as_f32(),
            table(Role::TokOffsets).as_u32(),
            table(Role::TokSorted).as_u32(),
            table(Role::TokPieces).bytes(),
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

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use LoadError::*;
        match *self {
            Truncated { offset, needed } => write!(f, "file truncated: {needed} bytes needed at offset {offset}; the copy is incomplete, copy or convert it again"),
            BadMagic { found } => write!(f, "not a glmix model file (magic {found:02x?}, expected \"GLMX\"); convert the checkpoint with `glmix convert` or `glmix import-llama2c`"),
            UnsupportedVersion { found, supported } => write!(f, "model format version {found}, but this build reads versions {} to {supported}; convert the model again with a matching glmix", format::MIN_VERSION),
            LengthMismatch { header, actual } => write!(f, "the header says the file has {header} bytes but it has {actual}; the file is damaged or has bytes appended"),
            ReservedNotZero { offset } => write!(f, "reserved bytes in the record at offset {offset} are not zero; the file is damaged or from a newer writer"),
            ChecksumMismatch { stored, computed } => write!(f, "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}); the file is corrupted"),
            MisalignedBuffer => write!(f, "the model bytes do not start at a 32-byte boundary; embed them with an aligned wrapper"),
            BadLayerCount { n_layers } => write!(f, "{n_layers} layers: a model has 1 to {MAX_LAYERS}"),
            TooManyTensors { n_tensors } => write!(f, "{n_tensors} tensors: at most {MAX_TENSORS} are supported"),
            BadDimension { field, value } if field.is_float() => write!(f, "header field {} is {}; it must be finite and positive", field.name(), f32::from_bits(value)),
            BadDimension { field, value } => write!(f, "header field {} is {value}; it must be 1 to {MAX_DIM}", field.name()),
            UnknownNorm { code } => write!(f, "unknown norm kind code {code}; this build knows rmsnorm (0) and layernorm (1)"),
            UnknownPositional { code } => write!(f, "unknown positional-encoding code {code}"),
            UnknownMlp { code } => write!(f, "unknown MLP kind code {code}"),
            UnknownClassifier { code } => write!(f, "unknown classifier code {code}"),
            UnknownTokenizer { code } => write!(f, "unknown tokenizer kind code {code}"),
            UnknownEmbNorm { code } => write!(f, "header field emb_norm is {code}; it must be 0 or 1"),
            BadLowRank { layer } => write!(f, "layer {layer}: LoRA ranks or group-norm epsilon do not fit its form (rwkv7 needs the w, a and g ranks >= 1 and a finite positive epsilon; other forms all zero)"),
            UnknownPattern { layer, code, param } => {
                let known = (0..=u8::MAX).take_while(|&c| Pattern::from_code(c, 0).is_some()).count();
                write!(f, "layer {layer}: mixer pattern code {code} with param {param} is not valid; this build knows codes 0-{}, with a param of at most {MAX_DIM} (at least 1 for window and order)", known.saturating_sub(1))
            }
            UnknownForm { layer, code } => write!(f, "layer {layer}: unknown mixer form code {code}; this build knows 0-{}", Form::ALL.len().saturating_sub(1)),
            BadHeads { layer } => write!(f, "layer {layer}: invalid head configuration for its mixer form"),
            UndefinedMixer { layer, pattern, form } => {
                let pattern = Pattern::from_code(pattern, 0).map_or("?", |p| p.name());
                let form = Form::from_code(form).map_or("?", |f| f.name());
                write!(f, "layer {layer}: {pattern} x {form} is not a defined mixer ({DEFINED_RULE})")
            }
            UnknownLayerFlags { layer, flags } => write!(f, "layer {layer}: unknown option bits {flags:#04x}; this build knows {LAYER_LEVEL_AWARE:#04x} (level-aware)"),
            UndefinedLevelAware { layer } => write!(f, "layer {layer}: {LEVEL_AWARE_RULE}"),
            UnknownDType { tensor, code } => write!(f, "tensor #{tensor}: unknown dtype code {code}"),
            UnknownTensor { tensor } => write!(f, "tensor #{tensor}: name not used by this architecture"),
            DuplicateTensor { tensor } => write!(f, "tensor #{tensor}: a tensor with this name appears twice"),
            MissingTensor { layer: Some(l), role } => write!(f, "missing tensor layers.{l}.{}", role.name()),
            MissingTensor { layer: None, role } => write!(f, "missing tensor {}", role.name()),
            WrongShape { tensor, expected, found } => write!(f, "tensor #{tensor}: shape {found:?}, the config implies {expected:?}"),
            WrongDType { tensor, dtype } => write!(f, "tensor #{tensor}: dtype {} is not allowed for this tensor", dtype.name()),
            SizeMismatch { tensor, expected, found } => write!(f, "tensor #{tensor}: {found} bytes, its shape and dtype need {expected}"),
            MisplacedTensor { tensor, expected, found } => write!(f, "tensor #{tensor}: data at offset {found}, expected {expected} (misaligned, overlapping or out of order)"),
            // The cause is the `source()`, printed by whoever walks the chain.
            BadTokenizer { .. } => write!(f, "the tokenizer tables are inconsistent"),
        }
    }
}

impl core::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            LoadError::BadTokenizer { cause } => Some(cause),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::error::Error;
    use core::fmt::Write;

    fn text(e: &dyn core::fmt::Display) -> heapless::String<256> {
        let mut s = heapless::String::new();
        write!(s, "{e}").unwrap();
        s
    }

    #[test]
    fn errors_print_the_values_written() {
        let eps = LoadError::BadDimension { field: Field::NormEps, value: (-1.5f32).to_bits() };
        assert_eq!(text(&eps), "header field norm_eps is -1.5; it must be finite and positive");
        let dim = LoadError::BadDimension { field: Field::Dim, value: 0 };
        assert_eq!(text(&dim), "header field dim is 0; it must be 1 to 16777216");
        let form = LoadError::UnknownForm { layer: 1, code: 9 };
        assert_eq!(text(&form), "layer 1: unknown mixer form code 9; this build knows 0-4");
        let pattern = LoadError::UnknownPattern { layer: 0, code: 7, param: 0 };
        assert!(text(&pattern).ends_with(
            "this build knows codes 0-6, with a param of at most 16777216 (at least 1 for window and order)"
        ));
        let mixer = LoadError::UndefinedMixer { layer: 2, pattern: 1, form: 3 };
        assert_eq!(
            text(&mixer),
            "layer 2: window x state_space is not a defined mixer (state_space is defined on pattern order 1 \
             (param 1) and pow2_lattice only, rwkv7 on order 1 only)"
        );
    }

    fn small(layers: &[(u8, u32, u8)]) -> crate::builder::ModelFile {
        use crate::builder::{random_model, RandomLayer, RandomSpec};
        let layers = layers
            .iter()
            .map(|&(pattern, param, form)| RandomLayer { pattern, param, form, n_heads: 2, n_kv_heads: 2 })
            .collect();
        random_model(&RandomSpec::small(layers), 7).unwrap()
    }

    #[test]
    fn accessors_answer_none_outside_the_architecture() {
        // Layer 0: chained on order 3 (has gamma, no wd); layer 1: first-order state space.
        let bytes = crate::builder::AlignedBytes::new(&small(&[(2, 3, 2), (2, 1, 3)]).to_bytes().unwrap());
        let model = Model::parse(bytes.as_bytes()).unwrap();
        assert_eq!(model.mixers().len(), 2);
        assert_eq!(model.mixer(1).map(|m| m.form), Some(Form::StateSpace));
        assert!(model.mixer(2).is_none(), "no silent layer 0");
        assert_eq!(model.layer_tensor(0, Role::Gamma).map(|t| t.cols()), Some(2));
        assert!(model.layer_tensor(0, Role::Wd).is_none());
        assert_eq!(model.layer_tensor(1, Role::Wd).map(|t| t.rows()), Some(32));
        assert!(model.layer_tensor(2, Role::Wq).is_none());
        assert!(model.global_tensor(Role::Output).is_none(), "tied");
        assert!(model.classifier().is_some());
        assert!(model.tensor(model.n_tensors() as u16).is_none());
    }

    #[test]
    fn level_aware_layers_parse_where_defined_only() {
        extern crate std;
        use crate::builder::{random_model, AlignedBytes, RandomLayer, RandomSpec};
        let spec = |pattern, form| RandomSpec {
            level_aware: true,
            ..RandomSpec::small(std::vec![RandomLayer { pattern, param: 0, form, n_heads: 2, n_kv_heads: 2 }])
        };
        let bytes = AlignedBytes::new(&random_model(&spec(6, 1), 7).unwrap().to_bytes().unwrap());
        let model = Model::parse(bytes.as_bytes()).unwrap();
        assert!(model.mixer(0).is_some_and(|m| m.level_aware));
        // L = |R(1023)| + 1 levels on the sq1 lattice at the header's 1024.
        let levels = crate::arch::level_biases(Pattern::Sq1Lattice { cap: 0 }, 1024);
        assert_eq!(model.layer_tensor(0, Role::LevelBias).map(|t| (t.rows(), t.cols())), Some((2, levels)));
        assert_eq!(model.layer_tensor(0, Role::WaBias).map(|t| t.cols()), Some(2));
        for (pattern, form) in [(0, 1), (4, 0), (4, 3)] {
            let bytes =
                AlignedBytes::new(&random_model(&spec(pattern, form), 7).unwrap().to_bytes().unwrap());
            let err = Model::parse(bytes.as_bytes()).unwrap_err();
            assert_eq!(err, LoadError::UndefinedLevelAware { layer: 0 }, "{pattern} {form}");
            assert_eq!(
                text(&err),
                "layer 0: level_aware is defined for the recurrent and chained forms on every pattern but dense"
            );
        }
    }

    #[test]
    fn a_missing_tensor_is_named() {
        let mut file = small(&[(2, 1, 3)]);
        file.tensors.retain(|t| t.name != "layers.0.mixer.wd.weight");
        let bytes = crate::builder::AlignedBytes::new(&file.to_bytes().unwrap());
        let err = Model::parse(bytes.as_bytes()).unwrap_err();
        assert_eq!(err, LoadError::MissingTensor { layer: Some(0), role: Role::Wd });
        assert_eq!(text(&err), "missing tensor layers.0.mixer.wd.weight");
    }

    #[test]
    fn bad_tokenizer_keeps_its_cause() {
        let cause = TokenizerError::OffsetsDecreasing { id: 7 };
        let e = LoadError::BadTokenizer { cause };
        let source = e.source().map(|s| text(&s));
        assert_eq!(source.as_deref(), Some("offsets decrease at token 7"));
        assert!(LoadError::MisalignedBuffer.source().is_none());
    }
}
