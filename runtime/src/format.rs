//! The glmix model file (`.glmx`), version 2: defined here once, read in place by [`crate::Model`],
//! written by the host tool from the same structs.
//!
//! # Layout
//!
//! Every integer and float is little-endian. Offsets count bytes from the start of the file.
//!
//! ```text
//! offset              size                   content
//! 0                   128                    FileHeader
//! 128                 32 * n_layers          LayerDesc, one per layer, in order
//! 128 + 32 * L        80 * n_tensors         TensorEntry, one per tensor, any order
//! (32-aligned)        ...                    tensor data, in table order, each starting at the
//!                                            first multiple of 32 after the previous one ends;
//!                                            gaps are zero bytes
//! file_len                                   end: the last tensor's end rounded up to 32
//! ```
//!
//! The layout is canonical: given the header and tables, every offset is determined, so overlapping,
//! out-of-order or stray data cannot pass the parser, and files are bit-reproducible.
//!
//! ## FileHeader (128 bytes)
//!
//! ```text
//! offset type     field          meaning
//!  0     [u8; 4]  magic          b"GLMX"
//!  4     u32      version        1
//!  8     u32      file_len       length of the whole file in bytes
//! 12     u32      checksum       CRC-32/ISO-HDLC (zlib's crc32) of the whole file but this field:
//!                                bytes 0..12 then 16..file_len ([`model_crc`]; version 1: 128..file_len)
//! 16     u32      n_layers       1..=64, entries in the layer table
//! 20     u32      n_tensors      0..=1024, entries in the tensor table
//! 24     u32      dim            model width
//! 28     u32      hidden_dim     MLP width
//! 32     u32      vocab_size     rows of the embedding / classifier
//! 36     u32      max_context    context the model was trained at (informational)
//! 40     f32      norm_eps       RMSNorm epsilon, finite and > 0
//! 44     f32      rope_theta     RoPE base, finite and > 0 when RoPE is used
//! 48     u8       norm           0 = RMSNorm, 1 = LayerNorm with bias (every norm has `.bias`)
//! 49     u8       positional     0 = none, 1 = RoPE on interleaved pairs (llama2.c), 2 = RoPE on halves
//! 50     u8       mlp            0 = SwiGLU, 1 = GELU (tanh approximation), 2 = squared ReLU with
//!                                token shift (RWKV's channel mix: `mlp.shift`, a state of `dim` per layer)
//! 51     u8       classifier     0 = tied to the embedding, 1 = separate `output.weight`
//! 52     u8       tokenizer      0 = none, 1 = bytes, 2 = BPE (tables below)
//! 53     u8       emb_norm       0 = none, 1 = the embedding is normed (`emb_norm.*`, RWKV's ln0)
//! 54     [u8; 2]  reserved       zero
//! 56     u32      bos            BOS id (BPE), else 0
//! 60     u32      eos            EOS id (BPE), else 0
//! 64     u32      max_token_len  longest BPE piece in bytes, else 0
//! 68     [u8; 60] reserved       zero
//! ```
//!
//! Dimensions are 1..=2^24. The dimensions, counts and codes are validated; every reserved byte must
//! be zero.
//!
//! ## LayerDesc (32 bytes)
//!
//! ```text
//!  0     u8       pattern        0 dense, 1 window, 2 order, 3 pow2, 4 pow2 lattice, 5 sq1, 6 sq1 lattice
//!  1     u8       form           0 attention, 1 recurrent, 2 chained, 3 state space (order 1 or pow2
//!                                lattice), 4 RWKV-7 time mix (order 1)
//!  2     u8       flags          bit 0: level-aware coefficients (arch.rs, recurrent/chained only);
//!                                other bits zero
//!  3     u8       reserved       zero
//!  4     u32      param          window width or order (>= 1), or level cap (0 = none)
//!  8     u16      n_heads        query heads
//! 10     u16      n_kv_heads     key/value heads, divides n_heads; == n_heads unless attention
//! 12     u16      head_dim       width of a head (even with RoPE)
//! 14     u16      lora_w         RWKV-7: rank of the decay LoRA (>= 1); other forms 0
//! 16     u16      lora_a         RWKV-7: rank of the in-context learning rate LoRA (>= 1); else 0
//! 18     u16      lora_v         RWKV-7: rank of the value-residual LoRA (0: the layer sets the
//!                                step's first value instead, as RWKV-7's layer 0 does); else 0
//! 20     u16      lora_g         RWKV-7: rank of the output-gate LoRA (>= 1); else 0
//! 22     [u8; 2]  reserved       zero
//! 24     f32      group_norm_eps RWKV-7: epsilon of the per-head group norm (finite, > 0); else 0
//! 28     [u8; 4]  reserved       zero
//! ```
//!
//! Fields 14..28 were reserved before the RWKV-7 form: an older reader refuses such a layer (reserved
//! bytes not zero, or an unknown form), so they needed no version bump.
//!
//! ## TensorEntry (80 bytes)
//!
//! ```text
//!  0     [u8; 48] name           UTF-8, 1..=47 bytes, NUL-padded
//! 48     u8       dtype          0 f32, 1 f16, 2 bf16, 3 q8_0, 4 q4_0, 5 u8, 6 u32 (see crate::tensor)
//! 49     u8       n_dims         1 or 2
//! 50     [u8; 2]  reserved       zero
//! 52     u32      rows           shape[0]
//! 56     u32      cols           shape[1] (0 when n_dims == 1)
//! 60     u32      offset         where the data starts (canonical, see above)
//! 64     u32      len            bytes of data
//! 68     [u8; 12] reserved       zero
//! ```
//!
//! A tensor with `n_dims == 1` has `shape = [n, 0]` and is one row of `n` elements; with `n_dims == 2`
//! `shape = [rows, cols]`, row-major. Quantized rows are whole blocks of 32 (the last block zero-padded),
//! so `len == rows * dtype.row_bytes(cols)` exactly ([`crate::tensor`]).
//!
//! Which tensors a model must carry, with which shapes, follows from the header and layer table; names
//! and the architecture are specified in `docs/model-spec.md`. Norm weights and the chained form's
//! `gamma` are always `f32`; matrices may be any weight dtype. A file can carry its tokenizer:
//! `tokenizer.scores` (f32 `[n]`), `tokenizer.offsets` (u32 `[n+1]`), `tokenizer.sorted` (u32 `[n]`,
//! token ids in byte order of their pieces) and `tokenizer.pieces` (u8, the concatenated pieces).
//!
//! # Versioning
//!
//! `version` is bumped whenever a reader of the previous version would misread a file of the new one:
//! any change of layout, field meaning or arithmetic. Adding a new code to an enumeration (dtype,
//! pattern, form, ...) does **not** bump it: older readers reject such files with a precise
//! `Unknown*` error instead of misreading them. Readers accept exactly the versions they implement.
//!
//! Version 2 extended the checksum over the header (a flipped bit in `rope_theta` or `positional` used
//! to load silently); nothing else changed. This crate writes version 2 and still reads version 1
//! ([`MIN_VERSION`]), whose checksum covers bytes `128..` only: a damaged version-1 header is not
//! detected, so the host tool warns when it loads one.

use crate::tensor::DType;

/// `b"GLMX"`.
pub const MAGIC: [u8; 4] = *b"GLMX";
/// The format version this crate writes (and the newest it reads).
pub const VERSION: u32 = 2;
/// The oldest format version this crate reads (its checksum does not cover the header).
pub const MIN_VERSION: u32 = 1;

/// Offset of the header's `checksum` field.
pub const CHECKSUM_OFFSET: usize = 12;

/// The checksum a file of format `version` stores: CRC-32 of every byte but the checksum field
/// (version 2 on), or of the bytes after the header (version 1).
pub fn model_crc(bytes: &[u8], version: u32) -> u32 {
    model_crc_with(bytes, version, crc32_update)
}

/// [`model_crc`] with the CRC-32 continued by `crc_update` (which must compute [`crc32_update`]; a
/// host may pass a hardware-assisted one): the one definition of the region the checksum covers.
pub fn model_crc_with(bytes: &[u8], version: u32, crc_update: impl Fn(u32, &[u8]) -> u32) -> u32 {
    if version < 2 {
        return crc_update(0, bytes.get(HEADER_LEN..).unwrap_or(&[]));
    }
    let head = bytes.get(..CHECKSUM_OFFSET).unwrap_or(bytes);
    crc_update(crc_update(0, head), bytes.get(CHECKSUM_OFFSET + 4..).unwrap_or(&[]))
}

/// Every tensor's data starts at a multiple of this many bytes.
pub const ALIGN: usize = 32;
/// Bytes in a tensor name field (the name is at most `NAME_LEN - 1` bytes, NUL-padded).
pub const NAME_LEN: usize = 48;
/// Upper bound on layers, so per-layer tables can be fixed-size arrays.
pub const MAX_LAYERS: usize = 64;
/// Upper bound on tensors in one file.
pub const MAX_TENSORS: usize = 1024;
/// Upper bound on any single dimension (rows, cols, dim, vocabulary, context).
pub const MAX_DIM: u32 = 1 << 24;

/// Size of [`FileHeader`] on disk.
pub const HEADER_LEN: usize = 128;
/// Size of [`LayerDesc`] on disk.
pub const LAYER_LEN: usize = 32;
/// Size of [`TensorEntry`] on disk.
pub const ENTRY_LEN: usize = 80;

/// Normalisation kind (one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum NormKind {
    /// `x / sqrt(mean(x^2) + eps) * weight`.
    RmsNorm = 0,
    /// `(x - mean) / sqrt(var + eps) * weight + bias` (two passes, as ggml's `norm`).
    LayerNorm = 1,
}

/// Positional encoding applied to queries and keys (one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Positional {
    /// No positional encoding.
    None = 0,
    /// RoPE on interleaved pairs `(2i, 2i+1)` of each head, as llama2.c.
    RopeInterleaved = 1,
    /// RoPE on pairs `(i, i + head_dim/2)`, as GPT-NeoX and Hugging Face Llama.
    RopeHalf = 2,
}

/// Feed-forward block kind (one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum MlpKind {
    /// `w2(silu(w1 x) * w3 x)`.
    SwiGlu = 0,
    /// `w2(gelu_tanh(w1 x))`.
    Gelu = 1,
    /// RWKV's channel mix: `w2(relu(w1 (x + (x_prev - x) * shift))^2)`, `x_prev` the previous token's
    /// normed input (a state of `dim` words per layer).
    SqReluShift = 2,
}

/// Where the output classifier comes from (one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Classifier {
    /// The token embedding matrix doubles as the classifier.
    Tied = 0,
    /// A separate `output.weight`.
    Separate = 1,
}

/// The tokenizer carried by the file (one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum TokenizerKind {
    /// No tokenizer: the caller feeds token ids.
    None = 0,
    /// Token = byte value; no BOS.
    Bytes = 1,
    /// llama2.c-style BPE with scores, carried in the `tokenizer.*` tensors.
    Bpe = 2,
}

/// How the coefficients of a token mixer are computed (one byte); see `docs/model-spec.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Form {
    /// `o_t = sum_{j in {t} ∪ R(t)} a_j v_j` (B = 0).
    Attention = 0,
    /// `o_t = a_t v_t + sum_{j in R(t)} a_j o_j` (A diagonal, B on the pattern).
    Recurrent = 1,
    /// ChaCAL: A and B on the pattern, mixed by a learned `gamma` per head.
    Chained = 2,
    /// Matrix state with data-dependent decay: one matrix on `order 1`, one per level on `pow2_lattice`
    /// (log-linear, [`crate::loglinear`]).
    StateSpace = 3,
    /// RWKV-7's time mix on `order 1`: token shift, LoRA decay / learning rate / value residual / gate,
    /// a generalized-delta-rule matrix state per head, group norm ([`crate::rwkv7`]).
    Rwkv7 = 4,
}

macro_rules! code_enum {
    ($ty:ty { $($code:literal => $variant:ident $name:literal),* $(,)? }) => {
        impl $ty {
            /// Decodes the one-byte code from the file.
            pub const fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some(<$ty>::$variant),)*
                    _ => None,
                }
            }

            /// Lowercase name as in the JSON config (`docs/model-spec.md`, section 3).
            pub const fn name(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $name,)*
                }
            }

            /// The value named `name` in the JSON config.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(<$ty>::$variant),)*
                    _ => None,
                }
            }

            /// Every value, in code order (for messages that list the choices).
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),*];
        }
    };
}
code_enum!(NormKind { 0 => RmsNorm "rmsnorm", 1 => LayerNorm "layernorm" });
code_enum!(Positional { 0 => None "none", 1 => RopeInterleaved "rope_interleaved", 2 => RopeHalf "rope_half" });
code_enum!(MlpKind { 0 => SwiGlu "swiglu", 1 => Gelu "gelu", 2 => SqReluShift "sqrelu_shift" });
code_enum!(Classifier { 0 => Tied "tied", 1 => Separate "separate" });
code_enum!(TokenizerKind { 0 => None "none", 1 => Bytes "bytes", 2 => Bpe "llama2c" });
code_enum!(Form { 0 => Attention "attention", 1 => Recurrent "recurrent", 2 => Chained "chained", 3 => StateSpace "state_space", 4 => Rwkv7 "rwkv7" });

/// The file header: everything the runtime needs that is not per layer or per tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FileHeader {
    /// Must be [`MAGIC`].
    pub magic: [u8; 4],
    /// [`MIN_VERSION`]..=[`VERSION`].
    pub version: u32,
    /// Total file length in bytes.
    pub file_len: u32,
    /// CRC-32 of bytes `HEADER_LEN..file_len`.
    pub checksum: u32,
    /// Number of layers (entries in the layer table).
    pub n_layers: u32,
    /// Number of entries in the tensor table.
    pub n_tensors: u32,
    /// Model width.
    pub dim: u32,
    /// Hidden width of the MLP.
    pub hidden_dim: u32,
    /// Vocabulary size (rows of the embedding and classifier).
    pub vocab_size: u32,
    /// Context the model was trained at (informational; the caller's state decides the limit).
    pub max_context: u32,
    /// Epsilon of the norm.
    pub norm_eps: f32,
    /// RoPE base (ignored without RoPE).
    pub rope_theta: f32,
    /// [`NormKind`] code.
    pub norm: u8,
    /// [`Positional`] code.
    pub positional: u8,
    /// [`MlpKind`] code.
    pub mlp: u8,
    /// [`Classifier`] code.
    pub classifier: u8,
    /// [`TokenizerKind`] code.
    pub tokenizer: u8,
    /// 1 if the embedding is normed (`emb_norm.*`), else 0.
    pub emb_norm: u8,
    /// Beginning-of-sequence token id (BPE tokenizers).
    pub bos: u32,
    /// End-of-sequence token id (BPE tokenizers).
    pub eos: u32,
    /// Longest tokenizer piece in bytes (BPE tokenizers).
    pub max_token_len: u32,
}

/// One layer's token mixer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerDesc {
    /// [`crate::pattern::Pattern`] code.
    pub pattern: u8,
    /// [`Form`] code.
    pub form: u8,
    /// Option bits ([`LAYER_LEVEL_AWARE`]; files before them hold 0 here, a reserved byte then).
    pub flags: u8,
    /// Pattern parameter: window width, order, or level cap (0 = none).
    pub param: u32,
    /// Query heads.
    pub n_heads: u16,
    /// Key/value heads (divides `n_heads`).
    pub n_kv_heads: u16,
    /// Width of one head.
    pub head_dim: u16,
    /// RWKV-7 LoRA ranks `[w, a, v, g]` (zero for other forms).
    pub lora: [u16; 4],
    /// RWKV-7 group-norm epsilon (zero for other forms).
    pub group_norm_eps: f32,
}

/// One tensor-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorEntry {
    /// NUL-padded UTF-8 name.
    pub name: [u8; NAME_LEN],
    /// [`DType`] code.
    pub dtype: u8,
    /// 1 or 2.
    pub n_dims: u8,
    /// `[rows, cols]`, or `[n, 0]` for a vector.
    pub shape: [u32; 2],
    /// Offset of the data from the start of the file (multiple of [`ALIGN`]).
    pub offset: u32,
    /// Length of the data in bytes.
    pub len: u32,
}

impl TensorEntry {
    /// The name without its NUL padding (empty if not valid UTF-8).
    pub fn name(&self) -> &str {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        let bytes = self.name.get(..end).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// `(rows, cols)` as the tensor is laid out: a vector of n is one row of n.
    pub fn rows_cols(&self) -> (u32, u32) {
        rows_cols(self.n_dims, self.shape)
    }

    /// The dtype, if the code is known.
    pub fn dtype(&self) -> Option<DType> {
        DType::from_code(self.dtype)
    }
}

/// `(rows, cols)` of a tensor of `n_dims` dimensions and `shape` (a vector is one row).
const fn rows_cols(n_dims: u8, shape: [u32; 2]) -> (u32, u32) {
    if n_dims == 1 {
        (1, shape[0])
    } else {
        (shape[0], shape[1])
    }
}

/// Little-endian field reader over a fixed-size record. Reads past the end return zero, so a record
/// must be length-checked before reading (every caller reads from a `[u8; N]` of the exact size).
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.bytes.get(self.pos..self.pos + N) {
            out.copy_from_slice(src);
        }
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.take())
    }
    /// True if all bytes from here to the end of the record are zero.
    fn rest_is_zero(&self) -> bool {
        self.bytes.get(self.pos..).is_none_or(|r| r.iter().all(|&b| b == 0))
    }
}

/// Little-endian field writer into a fixed-size record.
struct Writer<const N: usize> {
    bytes: [u8; N],
    pos: usize,
}

impl<const N: usize> Writer<N> {
    fn new() -> Self {
        Writer { bytes: [0; N], pos: 0 }
    }
    fn put(&mut self, src: &[u8]) {
        if let Some(dst) = self.bytes.get_mut(self.pos..self.pos + src.len()) {
            dst.copy_from_slice(src);
        }
        self.pos += src.len();
    }
    fn finish(self) -> [u8; N] {
        debug_assert!(self.pos <= N);
        self.bytes
    }
}

impl FileHeader {
    /// Decodes the header; `None` if a reserved byte is non-zero.
    pub fn read(bytes: &[u8; HEADER_LEN]) -> Option<FileHeader> {
        let mut r = Reader::new(bytes);
        let h = FileHeader {
            magic: r.take(),
            version: r.u32(),
            file_len: r.u32(),
            checksum: r.u32(),
            n_layers: r.u32(),
            n_tensors: r.u32(),
            dim: r.u32(),
            hidden_dim: r.u32(),
            vocab_size: r.u32(),
            max_context: r.u32(),
            norm_eps: r.f32(),
            rope_theta: r.f32(),
            norm: r.u8(),
            positional: r.u8(),
            mlp: r.u8(),
            classifier: r.u8(),
            tokenizer: r.u8(),
            emb_norm: r.u8(),
            bos: {
                let _pad: [u8; 2] = r.take();
                r.u32()
            },
            eos: r.u32(),
            max_token_len: r.u32(),
        };
        r.rest_is_zero().then_some(h)
    }

    /// Encodes the header (reserved bytes zero).
    pub fn write(&self) -> [u8; HEADER_LEN] {
        let mut w = Writer::<HEADER_LEN>::new();
        w.put(&self.magic);
        for v in [
            self.version,
            self.file_len,
            self.checksum,
            self.n_layers,
            self.n_tensors,
            self.dim,
            self.hidden_dim,
            self.vocab_size,
            self.max_context,
        ] {
            w.put(&v.to_le_bytes());
        }
        w.put(&self.norm_eps.to_le_bytes());
        w.put(&self.rope_theta.to_le_bytes());
        w.put(&[self.norm, self.positional, self.mlp, self.classifier, self.tokenizer, self.emb_norm, 0, 0]);
        for v in [self.bos, self.eos, self.max_token_len] {
            w.put(&v.to_le_bytes());
        }
        w.finish()
    }
}

/// [`LayerDesc::flags`] bit: the layer's recurrent or chained mixer has level-aware coefficients
/// ([`crate::arch::is_level_aware_defined`]).
pub const LAYER_LEVEL_AWARE: u8 = 1;

impl LayerDesc {
    /// Decodes a layer descriptor; `None` if a reserved byte is non-zero (flag bits are checked by
    /// [`crate::arch::MixerConfig::from_desc`]).
    pub fn read(bytes: &[u8; LAYER_LEN]) -> Option<LayerDesc> {
        let mut r = Reader::new(bytes);
        let (pattern, form, flags) = (r.u8(), r.u8(), r.u8());
        if r.u8() != 0 {
            return None;
        }
        let d = LayerDesc {
            pattern,
            form,
            flags,
            param: r.u32(),
            n_heads: r.u16(),
            n_kv_heads: r.u16(),
            head_dim: r.u16(),
            lora: [r.u16(), r.u16(), r.u16(), r.u16()],
            group_norm_eps: {
                if r.u16() != 0 {
                    return None;
                }
                r.f32()
            },
        };
        r.rest_is_zero().then_some(d)
    }

    /// Encodes the descriptor.
    pub fn write(&self) -> [u8; LAYER_LEN] {
        let mut w = Writer::<LAYER_LEN>::new();
        w.put(&[self.pattern, self.form, self.flags, 0]);
        w.put(&self.param.to_le_bytes());
        for v in [self.n_heads, self.n_kv_heads, self.head_dim].iter().chain(&self.lora) {
            w.put(&v.to_le_bytes());
        }
        w.put(&[0, 0]);
        w.put(&self.group_norm_eps.to_le_bytes());
        w.finish()
    }
}

const _: () = assert!(4 + 4 + 7 * 2 + 2 + 4 <= LAYER_LEN);

impl TensorEntry {
    /// Decodes an entry; `None` if a reserved byte is non-zero.
    pub fn read(bytes: &[u8; ENTRY_LEN]) -> Option<TensorEntry> {
        let mut r = Reader::new(bytes);
        let e = TensorEntry {
            name: r.take(),
            dtype: r.u8(),
            n_dims: r.u8(),
            shape: {
                let _pad = r.u16();
                [r.u32(), r.u32()]
            },
            offset: r.u32(),
            len: r.u32(),
        };
        r.rest_is_zero().then_some(e)
    }

    /// An entry's dtype code, `(rows, cols)` ([`TensorEntry::rows_cols`]), offset and length, read
    /// without copying its name: [`TensorEntry::read`]'s values of those fields, `None` in the same
    /// cases. The decoder looks its weights up through this, every token.
    pub(crate) fn read_data(bytes: &[u8; ENTRY_LEN]) -> Option<(u8, (u32, u32), u32, u32)> {
        let mut r = Reader::new(bytes);
        r.pos = NAME_LEN;
        let (dtype, n_dims) = (r.u8(), r.u8());
        let _pad = r.u16();
        let shape = [r.u32(), r.u32()];
        let (offset, len) = (r.u32(), r.u32());
        r.rest_is_zero().then_some((dtype, rows_cols(n_dims, shape), offset, len))
    }

    /// Encodes the entry.
    pub fn write(&self) -> [u8; ENTRY_LEN] {
        let mut w = Writer::<ENTRY_LEN>::new();
        w.put(&self.name);
        w.put(&[self.dtype, self.n_dims, 0, 0]);
        for v in [self.shape[0], self.shape[1], self.offset, self.len] {
            w.put(&v.to_le_bytes());
        }
        w.finish()
    }

    /// Builds an entry's name field; `None` if the name is too long or contains NUL.
    pub fn name_field(name: &str) -> Option<[u8; NAME_LEN]> {
        let bytes = name.as_bytes();
        if bytes.len() >= NAME_LEN || bytes.contains(&0) || bytes.is_empty() {
            return None;
        }
        let mut field = [0u8; NAME_LEN];
        field.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(field)
    }
}

const _: () = assert!(NAME_LEN + 4 + 4 * 4 <= ENTRY_LEN);

/// CRC-32/ISO-HDLC (the zlib `crc32`: reflected polynomial 0xEDB88320, init and xorout 0xFFFFFFFF).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32_update(0, bytes)
}

/// Continues a CRC-32 over more bytes (`crc32_update(crc32(a), b) == crc32(a ++ b)`).
pub fn crc32_update(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        // A `u8` index into 256 entries: `get` cannot miss (and compiles to a plain load).
        c = CRC_TABLE.get(usize::from((c as u8) ^ b)).copied().unwrap_or(0) ^ (c >> 8);
    }
    !c
}

// Evaluated at compile time: an out-of-range index would fail the build, not panic at run time.
#[allow(clippy::indexing_slicing)]
static CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Rounds `n` up to a multiple of [`ALIGN`] (`None` on overflow).
pub const fn align_up(n: usize) -> Option<usize> {
    match n.checked_add(ALIGN - 1) {
        Some(v) => Some(v / ALIGN * ALIGN),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_offsets_hold() {
        let mut h = FileHeader::read(&[0; HEADER_LEN]).unwrap();
        h.bos = 0x0102_0304;
        h.tokenizer = 2;
        let b = h.write();
        assert_eq!(b[52], 2);
        assert_eq!(&b[56..60], &0x0102_0304u32.to_le_bytes());
        h.emb_norm = 1;
        assert_eq!(h.write()[53], 1);
        let d = LayerDesc {
            pattern: 4,
            form: 1,
            flags: LAYER_LEVEL_AWARE,
            param: 7,
            n_heads: 3,
            n_kv_heads: 1,
            head_dim: 9,
            lora: [10, 11, 12, 13],
            group_norm_eps: 2.0,
        };
        let b = d.write();
        assert_eq!((b[0], b[1], b[2], b[3], b[4], b[8], b[10], b[12]), (4, 1, 1, 0, 7, 3, 1, 9));
        assert_eq!((b[14], b[16], b[18], b[20]), (10, 11, 12, 13));
        assert_eq!(&b[24..28], &2.0f32.to_le_bytes());
        let e =
            TensorEntry { name: [b'a'; NAME_LEN], dtype: 3, n_dims: 2, shape: [5, 6], offset: 64, len: 7 };
        let b = e.write();
        assert_eq!((b[48], b[49], b[52], b[56], b[60], b[64]), (3, 2, 5, 6, 64, 7));
    }

    #[test]
    fn crc32_matches_zlib_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_update(crc32(b"1234"), b"56789"), 0xCBF4_3926);
    }

    #[test]
    fn header_round_trips() {
        let h = FileHeader {
            magic: MAGIC,
            version: VERSION,
            file_len: 12345,
            checksum: 0xDEAD_BEEF,
            n_layers: 5,
            n_tensors: 44,
            dim: 64,
            hidden_dim: 172,
            vocab_size: 512,
            max_context: 512,
            norm_eps: 1e-5,
            rope_theta: 10000.0,
            norm: 0,
            positional: 1,
            mlp: 0,
            classifier: 0,
            tokenizer: 2,
            emb_norm: 1,
            bos: 1,
            eos: 2,
            max_token_len: 7,
        };
        assert_eq!(FileHeader::read(&h.write()), Some(h));
        let mut bytes = h.write();
        bytes[HEADER_LEN - 1] = 1;
        assert_eq!(FileHeader::read(&bytes), None, "reserved bytes must be zero");
    }

    #[test]
    fn layer_and_entry_round_trip() {
        let d = LayerDesc {
            pattern: 4,
            form: 1,
            flags: 0,
            param: 9,
            n_heads: 8,
            n_kv_heads: 4,
            head_dim: 8,
            lora: [0, 1, 2, 3],
            group_norm_eps: 64e-5,
        };
        assert_eq!(LayerDesc::read(&d.write()), Some(d));
        let flagged = LayerDesc { flags: LAYER_LEVEL_AWARE, ..d };
        assert_eq!(LayerDesc::read(&flagged.write()), Some(flagged));
        // Byte 3, the pad 22..24 and the tail 28..32 are reserved; the flags byte (2) is not.
        for at in [3, 22, 23, LAYER_LEN - 1] {
            let mut bytes = d.write();
            bytes[at] = 1;
            assert_eq!(LayerDesc::read(&bytes), None, "byte {at} is reserved");
        }
        let e = TensorEntry {
            name: TensorEntry::name_field("layers.3.mixer.wq.weight").unwrap(),
            dtype: 3,
            n_dims: 2,
            shape: [64, 172],
            offset: 4096,
            len: 64 * 6 * 34,
        };
        assert_eq!(TensorEntry::read(&e.write()), Some(e));
        assert_eq!(e.name(), "layers.3.mixer.wq.weight");
        // The name-less read: the same fields, and `None` where `read` is.
        assert_eq!(TensorEntry::read_data(&e.write()), Some((3, (64, 172), 4096, 64 * 6 * 34)));
        let v = TensorEntry { n_dims: 1, shape: [300, 0], ..e };
        assert_eq!(TensorEntry::read_data(&v.write()), Some((3, v.rows_cols(), 4096, 64 * 6 * 34)));
        let mut bytes = e.write();
        bytes[ENTRY_LEN - 1] = 1;
        assert_eq!((TensorEntry::read(&bytes), TensorEntry::read_data(&bytes)), (None, None));
        assert!(TensorEntry::name_field(&"x".repeat(NAME_LEN)).is_none());
    }
}
