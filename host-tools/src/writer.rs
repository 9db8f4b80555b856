//! Writes model files in the canonical layout of [`glmix::format`], from the same header structs the
//! runtime reads.

use anyhow::{bail, ensure, Context, Result};
use glmix::format::{self, FileHeader, LayerDesc, TensorEntry, ALIGN, ENTRY_LEN, HEADER_LEN, LAYER_LEN};
use glmix::DType;

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

impl ModelFile {
    /// Lays the file out canonically and returns its bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        ensure!(
            self.layers.len() == self.header.n_layers as usize,
            "layer table length differs from n_layers"
        );
        let table_end = HEADER_LEN + self.layers.len() * LAYER_LEN + self.tensors.len() * ENTRY_LEN;
        let mut offset = align(table_end);
        let mut entries = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            let name = TensorEntry::name_field(&t.name)
                .with_context(|| format!("tensor name {:?} is empty or longer than 47 bytes", t.name))?;
            let (n_dims, shape, rows, cols) = match t.shape[..] {
                [n] => (1u8, [n, 0], 1, n),
                [r, c] => (2u8, [r, c], r, c),
                _ => bail!("tensor {}: only 1-D and 2-D tensors are stored, got shape {:?}", t.name, t.shape),
            };
            let expected = rows * t.dtype.row_bytes(cols).context("row size overflows")?;
            ensure!(
                t.bytes.len() == expected,
                "tensor {}: {} bytes of data, but shape {:?} in {} needs {}",
                t.name,
                t.bytes.len(),
                t.shape,
                t.dtype.name(),
                expected
            );
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
        let mut pos = HEADER_LEN;
        for l in &self.layers {
            out[pos..pos + LAYER_LEN].copy_from_slice(&l.write());
            pos += LAYER_LEN;
        }
        for e in &entries {
            out[pos..pos + ENTRY_LEN].copy_from_slice(&e.write());
            pos += ENTRY_LEN;
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

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

fn to_u32(n: usize) -> Result<u32> {
    u32::try_from(n).context("the model file format stores sizes as u32: the model is larger than 4 GiB")
}

/// A model file loaded into memory at a 32-byte-aligned address, as [`glmix::Model::parse`] requires.
pub struct AlignedBytes {
    words: Vec<Chunk>,
    len: usize,
}

/// 32 bytes at a 32-byte boundary.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Chunk([u8; 32]);

impl AlignedBytes {
    /// Copies `bytes` into an aligned buffer.
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![Chunk([0; 32]); bytes.len().div_ceil(32)];
        let dst: &mut [u8] = bytemuck_bytes_mut(&mut words);
        dst[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes { words, len: bytes.len() }
    }

    /// Reads a model file into an aligned buffer: a regular file only, and no more than its header
    /// declares (see [`crate::limits::read_model`]).
    pub fn read(path: &std::path::Path) -> Result<Self> {
        Ok(Self::new(&crate::limits::read_model(path)?))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        let all = bytemuck_bytes(&self.words);
        &all[..self.len]
    }
}

fn bytemuck_bytes(words: &[Chunk]) -> &[u8] {
    // SAFETY: `Chunk` is 32 bytes with no padding; any initialized memory is valid `u8`; the length
    // is the exact byte size of the slice.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

fn bytemuck_bytes_mut(words: &mut [Chunk]) -> &mut [u8] {
    // SAFETY: as above; the borrow is exclusive, and every byte pattern is a valid `Chunk`.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

/// Writes `bytes` to `path` atomically, with no input to protect; see
/// [`crate::output::write_atomically`] for the promises.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    crate::output::write_atomically(path, bytes, &[])
}
