//! The shared test data for the tests that need it: `../shared/data` beside the checkout, or
//! `$GLMIX_SHARED_DATA`. A missing item skips the test with a message, and fails it when `CI` is set.

use std::path::PathBuf;

/// The shared data item `rel` (a file or folder) if it exists; else `None`, having printed why the
/// caller skips (a panic instead when `CI` is set).
pub fn shared(rel: &str) -> Option<PathBuf> {
    let base = std::env::var_os("GLMIX_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let path = base.join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "CI is set but {} is missing", path.display());
    eprintln!("SKIPPED: {} not found (set GLMIX_SHARED_DATA)", path.display());
    None
}
