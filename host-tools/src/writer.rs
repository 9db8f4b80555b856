//! Writes model files: the layout lives in the runtime ([`glmix::builder`], shared with the runtime's
//! own tests); this module adds what a command-line tool needs (reading aligned, writing atomically).

use anyhow::Result;
pub use glmix::builder::{AlignedBytes, ModelFile, TensorData};

/// A model file in memory at a 32-byte-aligned address, as [`glmix::Model::parse`] requires: the file
/// mapped read-only (page aligned, no copy: resident memory is the pages of the file itself, shared
/// with the page cache) or, where it cannot be mapped, an aligned copy.
pub enum LoadedModel {
    /// The whole file, mapped.
    Mapped(memmap2::Mmap),
    /// A copy of the file read by [`crate::limits::read_opened`].
    Copied(AlignedBytes),
}

impl LoadedModel {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            LoadedModel::Mapped(map) => map,
            LoadedModel::Copied(bytes) => bytes.as_bytes(),
        }
    }
}

/// Loads a model file with [`crate::limits::open_model`]'s checks (a regular file only, opened
/// without blocking, starting with the magic, no longer than its header declares; errors name the
/// path). A file of exactly the declared length is mapped (prefaulted); anything else (a file
/// shorter than it declares, one that changed size since it was measured, a map that fails) is read,
/// never more than the declared length, and left to the parser to refuse. The file must not be
/// truncated while the tool runs (reading a mapped page past a truncation stops the process with
/// SIGBUS), as with every tool that maps its input.
pub fn read_aligned(path: &std::path::Path) -> Result<LoadedModel> {
    let opened = crate::limits::open_model(path)?;
    if opened.len == opened.declared {
        // SAFETY: the map is read-only and private to this process; the tool never writes the files
        // it maps, and the contract above excludes truncation by another process.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&opened.file) };
        if let Ok(map) = map {
            if map.len() as u64 == opened.declared && map.as_ptr().align_offset(32) == 0 {
                return Ok(LoadedModel::Mapped(map));
            }
        }
    }
    Ok(LoadedModel::Copied(AlignedBytes::new(&crate::limits::read_opened(opened, path)?)))
}

/// [`glmix::format::crc32_update`] by `crc32fast` (PCLMULQDQ / ARMv8 CRC where the CPU has them,
/// detected at run time): the same CRC-32, at memory speed.
pub fn crc32_update_fast(crc: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(crc);
    h.update(bytes);
    h.finalize()
}

/// [`glmix::Model::parse`] with the checksum computed by [`crc32_update_fast`] over the same region
/// ([`glmix::format::model_crc_with`]).
pub fn parse_model(bytes: &[u8]) -> std::result::Result<glmix::Model<'_>, glmix::LoadError> {
    glmix::Model::parse_with_crc(bytes, crc32_update_fast)
}

/// Writes `bytes` to `path` atomically, with no input to protect; see
/// [`crate::output::write_atomically`] for the promises.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    crate::output::write_atomically(path, bytes, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::{random_model, RandomLayer, RandomSpec};

    /// `crc32fast` (hardware-assisted where the CPU allows) is the runtime's table CRC-32, at lengths
    /// around its vector widths and block sizes, continues like it, and gives the same model checksum
    /// for both format versions.
    #[test]
    fn crc32fast_is_the_runtime_crc32() {
        use glmix::format::{crc32, crc32_update, model_crc, model_crc_with};
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
            assert_eq!(crc32fast::hash(&data[..n]), crc32(&data[..n]), "length {n}");
            assert_eq!(crc32_update_fast(0x1234_5678, &data[..n]), crc32_update(0x1234_5678, &data[..n]));
        }
        assert_eq!(crc32_update_fast(crc32(&data[..1000]), &data[1000..5000]), crc32(&data[..5000]));
        for n in [0, 5, 12, 14, 16, 128, 129, 4097, data.len()] {
            for version in [1, 2] {
                let (d, v) = (&data[..n], version);
                assert_eq!(model_crc_with(d, v, crc32_update_fast), model_crc(d, v), "length {n} v{v}");
            }
        }
    }

    /// A model file of its declared length is mapped at an aligned address; `parse_model` accepts
    /// what `Model::parse` accepts and reports the same checksum mismatch (header or body) on a
    /// corrupted copy; the loader's limits hold for the mapped path (empty and longer files refused,
    /// a shorter one read and left to the parser).
    #[test]
    fn mapped_model_parses_like_the_runtime() {
        let layer = RandomLayer { pattern: 0, param: 0, form: 0, n_heads: 2, n_kv_heads: 2 };
        let bytes = random_model(&RandomSpec::small(vec![layer]), 3).unwrap().to_bytes().unwrap();
        let dir = std::env::temp_dir().join(format!("glmix-writer-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.glmx");
        std::fs::write(&path, &bytes).unwrap();
        let mapped = read_aligned(&path).unwrap();
        assert!(matches!(mapped, LoadedModel::Mapped(_)));
        assert_eq!(mapped.as_bytes(), &bytes[..]);
        assert_eq!(mapped.as_bytes().as_ptr().align_offset(32), 0);
        let fast = parse_model(mapped.as_bytes()).unwrap();
        let table = glmix::Model::parse(mapped.as_bytes()).unwrap();
        assert_eq!(fast.config().n_layers, table.config().n_layers);
        assert_eq!(fast.checksum(), table.checksum());

        for at in [bytes.len() - 1, 44] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            let bad = AlignedBytes::new(&bad);
            let (e1, e2) =
                (parse_model(bad.as_bytes()).unwrap_err(), glmix::Model::parse(bad.as_bytes()).unwrap_err());
            assert!(matches!(e1, glmix::LoadError::ChecksumMismatch { .. }), "byte {at}: {e1:?}");
            assert_eq!(e1, e2);
        }

        std::fs::write(&path, [&bytes[..], b"x"].concat()).unwrap();
        let err = format!("{:#}", read_aligned(&path).err().unwrap());
        assert!(err.contains("bytes appended"), "{err}");
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let short = read_aligned(&path).unwrap();
        assert!(matches!(short, LoadedModel::Copied(_)));
        let (e1, e2) = (parse_model(short.as_bytes()).err(), glmix::Model::parse(short.as_bytes()).err());
        assert!(matches!(
            e1,
            Some(glmix::LoadError::LengthMismatch { .. } | glmix::LoadError::Truncated { .. })
        ));
        assert_eq!(e1, e2);
        std::fs::write(&path, b"").unwrap();
        assert!(read_aligned(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
