//! Writes model files: the layout lives in the runtime ([`glmix::builder`], shared with the runtime's
//! own tests); this module adds what a command-line tool needs (reading aligned, writing atomically).

use anyhow::Result;
pub use glmix::builder::{AlignedBytes, ModelFile, TensorData};

/// Reads a model file into an aligned buffer ([`glmix::Model::parse`] needs 32-byte alignment): a
/// regular file only, and no more than its header declares (see [`crate::limits::read_model`], whose
/// errors name the path).
pub fn read_aligned(path: &std::path::Path) -> Result<AlignedBytes> {
    Ok(AlignedBytes::new(&crate::limits::read_model(path)?))
}

/// Writes `bytes` to `path` atomically, with no input to protect; see
/// [`crate::output::write_atomically`] for the promises.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    crate::output::write_atomically(path, bytes, &[])
}
