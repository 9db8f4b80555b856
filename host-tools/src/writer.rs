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
        header.checksum = format::crc32(&out[HEADER_LEN..]);
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

/// A model file in memory at a 32-byte-aligned address, as [`glmix::Model::parse`] requires: an
/// aligned copy ([`AlignedBytes::new`]) or the file mapped read-only ([`AlignedBytes::read`]; page
/// aligned, no copy: resident memory is the pages of the file itself, shared with the page cache).
pub struct AlignedBytes {
    storage: Storage,
    len: usize,
}

enum Storage {
    Owned(Vec<Chunk>),
    Mapped(memmap2::Mmap),
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
        AlignedBytes { storage: Storage::Owned(words), len: bytes.len() }
    }

    /// Maps a file read-only (prefaulted), or reads it into an aligned buffer where it cannot be
    /// mapped (an empty file, a pipe). The file must not be truncated while the tool runs (reading a
    /// page past a truncation stops the process with SIGBUS), as with every tool that maps its input.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let is_file = file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0);
        if is_file {
            // SAFETY: the map is read-only and private to this process; the tool never writes the
            // files it maps, and the contract above excludes truncation by another process.
            if let Ok(map) = unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
                if map.as_ptr().align_offset(32) == 0 {
                    let len = map.len();
                    return Ok(AlignedBytes { storage: Storage::Mapped(map), len });
                }
            }
        }
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Self::new(&bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Owned(words) => &bytemuck_bytes(words)[..self.len],
            Storage::Mapped(map) => &map[..self.len],
        }
    }
}

/// [`glmix::Model::parse`] with the checksum computed by `crc32fast` (PCLMULQDQ / ARMv8 CRC where the
/// CPU has them, detected at run time): the same CRC-32 as the runtime's table version, at memory
/// speed.
pub fn parse_model(bytes: &[u8]) -> std::result::Result<glmix::Model<'_>, glmix::model::LoadError> {
    glmix::Model::parse_with_crc(bytes, crc32fast::hash)
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

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename, so an
/// interrupted run never leaves a half-written model behind.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let file_name = path.file_name().with_context(|| format!("{} is not a file path", path.display()))?;
    ensure!(!path.is_dir(), "{} is a folder; give a file path for the output", path.display());
    let tmp = dir.join(format!(".{}.tmp{}", file_name.to_string_lossy(), std::process::id()));
    let mut created = false;
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp).with_context(|| {
            format!(
                "cannot write {}: cannot create a temporary file in {} (is the folder writable?)",
                path.display(),
                dir.display()
            )
        })?;
        created = true;
        f.write_all(bytes).with_context(|| format!("cannot write {} (disk full?)", tmp.display()))?;
        f.sync_all().with_context(|| format!("cannot write {} (disk full?)", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move the output to {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() && created {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::{random_model, RandomLayer, RandomSpec};

    /// `crc32fast` (hardware-assisted where the CPU allows) is the runtime's table CRC-32, at lengths
    /// around its vector widths and block sizes, and continues like it.
    #[test]
    fn crc32fast_is_the_runtime_crc32() {
        let mut x = 0x9E37_79B9u32;
        let data: Vec<u8> = (0..(1 << 20) + 77)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for n in [0, 1, 15, 16, 17, 31, 33, 63, 64, 65, 127, 172, 4097, 65_536, data.len()] {
            assert_eq!(crc32fast::hash(&data[..n]), glmix::format::crc32(&data[..n]), "length {n}");
        }
        let mut h = crc32fast::Hasher::new_with_initial(glmix::format::crc32(&data[..1000]));
        h.update(&data[1000..5000]);
        assert_eq!(h.finalize(), glmix::format::crc32(&data[..5000]));
    }

    /// A mapped file has the file's bytes at an aligned address; `parse_model` accepts what
    /// `Model::parse` accepts and reports the same checksum mismatch on a corrupted copy.
    #[test]
    fn mapped_model_parses_like_the_runtime() {
        let layer = RandomLayer { pattern: 0, param: 0, form: 0, n_heads: 2, n_kv_heads: 2 };
        let bytes = random_model(&RandomSpec::small(vec![layer]), 3).unwrap().to_bytes().unwrap();
        let dir = std::env::temp_dir().join(format!("glmix-writer-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.glmx");
        std::fs::write(&path, &bytes).unwrap();
        let mapped = AlignedBytes::read(&path).unwrap();
        assert!(matches!(mapped.storage, Storage::Mapped(_)));
        assert_eq!(mapped.as_bytes(), &bytes[..]);
        assert_eq!(mapped.as_bytes().as_ptr().align_offset(32), 0);
        let fast = parse_model(mapped.as_bytes()).unwrap();
        let table = glmix::Model::parse(mapped.as_bytes()).unwrap();
        assert_eq!(fast.config().n_layers, table.config().n_layers);

        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let bad = AlignedBytes::new(&bad);
        let (e1, e2) =
            (parse_model(bad.as_bytes()).unwrap_err(), glmix::Model::parse(bad.as_bytes()).unwrap_err());
        assert!(matches!(e1, glmix::LoadError::ChecksumMismatch { .. }), "{e1:?}");
        assert_eq!(e1, e2);

        std::fs::write(&path, b"").unwrap();
        assert!(AlignedBytes::read(&path).unwrap().as_bytes().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
