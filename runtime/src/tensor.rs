//! Tensor element types and borrowed tensor views.
//!
//! A tensor in a model file is a row-major matrix `[rows][cols]` (a vector is one row). Quantized rows are
//! stored as whole blocks: a row of `cols` elements takes `ceil(cols / 32)` blocks, and the padding
//! elements of the last block are zero, so a dot product over the padded row equals the dot product over
//! the real one. Rows are never truncated.

/// Element type of a tensor, as stored in the model file (one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum DType {
    /// IEEE 754 binary32.
    F32 = 0,
    /// IEEE 754 binary16.
    F16 = 1,
    /// bfloat16.
    BF16 = 2,
    /// ggml's `block_q8_0`: f16 scale `d` + 32 int8 `qs`, value `d * q` (34 bytes per 32 weights).
    Q8_0 = 3,
    /// ggml's `block_q4_0`: f16 scale `d` + 16 bytes of nibbles; element `j` is the low nibble of byte
    /// `j`, element `j + 16` the high nibble; value `d * (nibble - 8)` (18 bytes per 32 weights).
    Q4_0 = 4,
    /// Raw bytes (tokenizer pieces).
    U8 = 5,
    /// Little-endian u32 (tokenizer tables).
    U32 = 6,
}

/// Number of elements in one quantization block.
pub const QK: usize = 32;

impl DType {
    /// Decodes a dtype code from the file.
    pub const fn from_code(code: u8) -> Option<DType> {
        Some(match code {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::BF16,
            3 => DType::Q8_0,
            4 => DType::Q4_0,
            5 => DType::U8,
            6 => DType::U32,
            _ => return None,
        })
    }

    /// Elements per storage unit (32 for block types, 1 otherwise).
    pub const fn block_len(self) -> usize {
        match self {
            DType::Q8_0 | DType::Q4_0 => QK,
            _ => 1,
        }
    }

    /// Bytes per storage unit.
    pub const fn block_bytes(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Q8_0 => 34,
            DType::Q4_0 => 18,
            DType::U8 => 1,
        }
    }

    /// Bytes taken by one row of `cols` elements (whole blocks), or `None` on overflow.
    pub const fn row_bytes(self, cols: usize) -> Option<usize> {
        let blocks = cols.div_ceil(self.block_len());
        blocks.checked_mul(self.block_bytes())
    }

    /// True for the types matrix-vector products accept as weights.
    pub const fn is_weight(self) -> bool {
        !matches!(self, DType::U8 | DType::U32)
    }

    /// Short lowercase name (`"q8_0"`), as the host tool prints and parses it.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::Q8_0 => "q8_0",
            DType::Q4_0 => "q4_0",
            DType::U8 => "u8",
            DType::U32 => "u32",
        }
    }
}

/// A borrowed, validated 2-D tensor: `rows` rows of `cols` elements, `row_bytes` bytes each.
///
/// Invariant (established by the model parser or by [`Tensor::new`]): `data.len() == rows * row_bytes`
/// and `row_bytes == dtype.row_bytes(cols)`; for `F32`/`U32` data the slice is 4-byte aligned.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    dtype: DType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    data: &'a [u8],
}

impl<'a> Tensor<'a> {
    /// Wraps `data` as a `[rows][cols]` tensor of `dtype`; `None` if the length or alignment is wrong.
    pub fn new(dtype: DType, rows: usize, cols: usize, data: &'a [u8]) -> Option<Self> {
        let row_bytes = dtype.row_bytes(cols)?;
        if rows.checked_mul(row_bytes)? != data.len() {
            return None;
        }
        if matches!(dtype, DType::F32 | DType::U32) && data.as_ptr().align_offset(4) != 0 {
            return None;
        }
        Some(Tensor { dtype, rows, cols, row_bytes, data })
    }

    /// A tensor with no rows (kernels given it compute nothing).
    pub const fn empty() -> Tensor<'static> {
        Tensor { dtype: DType::F32, rows: 0, cols: 0, row_bytes: 0, data: &[] }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Elements per row.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }
    /// All bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// Bytes of row `r`; an empty slice when `r >= rows`.
    pub fn row(&self, r: usize) -> &'a [u8] {
        let start = r.saturating_mul(self.row_bytes);
        self.data.get(start..start.saturating_add(self.row_bytes)).unwrap_or(&[])
    }

    /// The data as `f32`s when the dtype is `F32` (empty otherwise).
    pub fn as_f32(&self) -> &'a [f32] {
        if self.dtype != DType::F32 {
            return &[];
        }
        cast_le_words(self.data)
    }

    /// The data as `u32`s when the dtype is `U32` (empty otherwise).
    pub fn as_u32(&self) -> &'a [u32] {
        if self.dtype != DType::U32 {
            return &[];
        }
        cast_le_words(self.data)
    }
}

/// Reinterprets 4-byte-aligned little-endian bytes as 32-bit words (`f32` or `u32`).
fn cast_le_words<T: Word>(data: &[u8]) -> &[T] {
    // SAFETY: `T` is `f32` or `u32` (sealed trait): 4 bytes, alignment 4, every bit pattern valid.
    // `align_to` only yields the correctly aligned middle part; the target is little-endian
    // (compile_error in lib.rs), so the in-memory representation equals the file's.
    let (head, words, tail) = unsafe { data.align_to::<T>() };
    if head.is_empty() && tail.is_empty() {
        words
    } else {
        &[]
    }
}

/// Plain 32-bit words that may be viewed in place.
trait Word: Copy {}
impl Word for f32 {}
impl Word for u32 {}
