//! Writes model files: the layout lives in the runtime ([`glmix::builder`], shared with the runtime's
//! own tests); this module adds what a command-line tool needs (reading aligned, writing atomically).

use anyhow::{ensure, Context, Result};
pub use glmix::builder::{AlignedBytes, ModelFile, TensorData};

/// Reads a model file into an aligned buffer ([`glmix::Model::parse`] needs 32-byte alignment).
pub fn read_aligned(path: &std::path::Path) -> Result<AlignedBytes> {
    AlignedBytes::read(path).with_context(|| format!("cannot read {}", path.display()))
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
