//! Terminal output helpers: progress bars and tables.

use std::fmt::Write;

use indicatif::{ProgressBar, ProgressStyle};

use crate::convert::TensorReport;

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(prefix: &str, len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(prefix.to_string());
    bar
}

/// The per-tensor quantization error table.
pub fn error_table(reports: &[TensorReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36} {:>6} {:>14} {:>12} {:>12}",
        "tensor", "dtype", "shape", "max abs err", "rms err"
    );
    for r in reports {
        let shape = r.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
        let _ = writeln!(
            out,
            "{:<36} {:>6} {:>14} {:>12.3e} {:>12.3e}",
            r.name,
            r.dtype.name(),
            shape,
            r.error.max_abs,
            r.error.rms
        );
    }
    out
}
