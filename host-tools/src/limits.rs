//! Bounded resources and validated numbers: what the tool checks before it allocates or runs.
//!
//! * **Numbers** ([`temperature`], [`top_p`], [`memory_size`]) are clap value parsers: a value out of
//!   range is refused with the value as the user wrote it, before any file is opened.
//! * **Memory** ([`check_state`]): the state a context needs is the memory planner's exact figure
//!   ([`glmix::plan::Plan`]), known before anything is allocated; above the limit (`--max-memory`,
//!   default: the memory available to this process) the command is refused with that figure, the
//!   largest context that fits, and whether the model's mixers grow with the context at all.
//! * **Files** ([`read_bounded`]): inputs are read only from regular files, and never more than a
//!   stated number of bytes; a model file is read to the length its header declares
//!   ([`read_model`]; [`open_model`] for a tool that maps it instead), so `/dev/zero`, a FIFO or a
//!   huge unrelated file cannot eat the memory.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use glmix::plan::Plan;
use glmix::Model;

/// `--temperature`: a finite number >= 0.
pub fn temperature(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("the temperature must be a finite number >= 0 (0 is greedy), not {s}"));
    }
    Ok(v)
}

/// `--top-p`: a number in [0, 1].
pub fn top_p(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("top-p must be a number in [0, 1] (0 or 1 turns it off), not {s}"));
    }
    Ok(v)
}

/// `--max-memory`: bytes, with an optional binary suffix `K`, `M`, `G` or `T` (`512M`, `2G`,
/// `1.5G`; an optional trailing `B` or `iB` is accepted).
pub fn memory_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (num, scale) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let scale = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("{s:?}: unknown unit {c:?} (use K, M, G or T)")),
            };
            (&t[..i], scale)
        }
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a size (e.g. 512M, 2G)"))?;
    let bytes = v * scale as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("{s:?} is not a size of at least one byte"));
    }
    Ok(bytes as u64)
}

/// Memory this process may use: the smaller of the kernel's `MemAvailable` and the cgroup limit, or
/// `None` where neither is known.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kb.checked_mul(1024)
    });
    let cgroup =
        std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse().ok());
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The memory limit in force and the words that describe it in messages.
pub fn memory_limit(max_memory: Option<u64>) -> Option<(u64, String)> {
    match max_memory {
        Some(m) => Some((m, format!("--max-memory {}", human(m)))),
        None => {
            available_memory().map(|m| (m, format!("the {} of memory available (--max-memory)", human(m))))
        }
    }
}

/// Bytes as the largest binary unit that keeps a number >= 1 (`1.5 GiB`).
pub fn human(bytes: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Refuses a state for `context` positions that the planner says is above the memory limit, naming
/// the planner's figure, the largest context that fits, and whether the mixers grow with context.
/// `flag` is the argument that set the context (`--context`, or `-n` when the context defaults to it).
pub fn check_state(model: &Model<'_>, context: u32, max_memory: Option<u64>, flag: &str) -> Result<()> {
    let Some((limit, what)) = memory_limit(max_memory) else { return Ok(()) };
    let needed = Plan::new(model, context).total_bytes() as u64;
    if needed <= limit {
        return Ok(());
    }
    // The plan grows monotonically with the context: bisect for the largest one within the limit.
    let fits = |c: u32| Plan::new(model, c).total_bytes() as u64 <= limit;
    let (mut lo, mut hi) = (0u32, context);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let fix = if lo == 0 {
        "not even one position fits; raise --max-memory".to_string()
    } else {
        format!("use --context {lo} or less (the largest context within the limit), or raise --max-memory")
    };
    let growth = if grows_linearly(model, context) {
        "; this model's mixers keep O(n) state (every position of the context is cached); a lattice \
         model's state grows O(log n)"
    } else {
        ""
    };
    bail!(
        "the state for a context of {context} tokens ({flag}) needs {needed} bytes ({}, the memory planner's \
         figure), more than {what}; {fix}{growth}",
        human(needed)
    );
}

/// Whether some layer's cache grows in proportion to the context (dense attention, or a pattern
/// whose farthest read is a fixed fraction of the position): its slots at `context` are at least half
/// the context.
fn grows_linearly(model: &Model<'_>, context: u32) -> bool {
    let plan = Plan::new(model, context);
    context >= 64 && plan.layers().iter().any(|l| l.slots >= (context / 2) as usize)
}

/// A zero-filled state buffer of `words` words, or an error instead of the allocator's abort.
pub fn state_buffer(words: usize) -> Result<Vec<f32>> {
    let mut v = Vec::new();
    v.try_reserve_exact(words).map_err(|_| {
        anyhow::anyhow!("cannot allocate {} for the state; use a smaller --context", human(words as u64 * 4))
    })?;
    v.resize(words, 0.0);
    Ok(v)
}

/// Opens `path` for reading, refusing anything but a regular file (a device, a FIFO, a folder).
pub fn open_regular(path: &Path) -> Result<(std::fs::File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading blocks until a writer appears: open without blocking, then refuse
    // it by its type below (the flag changes nothing for regular files).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let meta = file.metadata().with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        bail!("cannot read {}: Is a directory", path.display());
    }
    if !meta.is_file() {
        bail!(
            "cannot read {}: it is {}, not a regular file; glmix reads its inputs from regular files only",
            path.display(),
            crate::output::kind(&meta)
        );
    }
    Ok((file, meta.len()))
}

/// Reads a regular file of at most `limit` bytes; a larger one is refused before it is read.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > limit {
        bail!("{} is {} bytes, more than the {} limit for {what}", path.display(), len, human(limit));
    }
    let mut out = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if out.len() as u64 > limit {
        bail!("{} grew past the {} limit for {what} while being read", path.display(), human(limit));
    }
    Ok(out)
}

/// A model file opened by [`open_model`]: a regular file that starts with the model magic and is
/// no longer than its header declares.
pub struct OpenModel {
    /// The file, positioned after `head`.
    pub file: std::fs::File,
    /// Its length when it was opened.
    pub len: u64,
    /// The length its header declares (`len` when the file is shorter than a header: the parser
    /// reports the truncation).
    pub declared: u64,
    /// Its first bytes (the header, or the whole file when shorter).
    pub head: Vec<u8>,
}

/// Opens a model file for reading: a regular file only (opened without blocking), starting with the
/// model magic (anything else is refused as "not a glmix model file", not as a truncated one), and
/// no longer than its header declares. Warns about a format-1 file.
pub fn open_model(path: &Path) -> Result<OpenModel> {
    use glmix::format::{HEADER_LEN, MAGIC};
    let (mut file, len) = open_regular(path)?;
    let mut head = vec![0u8; HEADER_LEN.min(len as usize)];
    file.read_exact(&mut head).with_context(|| format!("cannot read {}", path.display()))?;
    if len == 0 {
        bail!("{} is empty, not a glmix model file", path.display());
    }
    if head.get(..4) != Some(&MAGIC[..]) {
        bail!(
            "{} is not a glmix model file (it does not start with {:?}); convert a checkpoint with `glmix \
             convert` or `glmix import-llama2c`",
            path.display(),
            std::str::from_utf8(&MAGIC).unwrap_or("GLMX")
        );
    }
    if head.get(4..8) == Some(&1u32.to_le_bytes()[..]) {
        eprintln!(
            "warning: {} is model format version 1, whose checksum does not cover the header (a damaged \
             header goes undetected); convert the model again to get version {}",
            path.display(),
            glmix::format::VERSION
        );
    }
    let declared = match head.get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
        Some(b) => u64::from(u32::from_le_bytes(b)),
        None => len, // shorter than a header: the parser reports the truncation
    };
    if len > declared && head.len() == HEADER_LEN {
        bail!(
            "{}: the header says the file has {declared} bytes but it has {len}; the file is damaged or has \
             bytes appended",
            path.display()
        );
    }
    Ok(OpenModel { file, len, declared, head })
}

/// Reads a model file ([`open_model`]'s checks), to exactly the length its header declares.
pub fn read_model(path: &Path) -> Result<Vec<u8>> {
    read_opened(open_model(path)?, path)
}

/// Reads the rest of an opened model file: what the header declares (a shorter file is reported as
/// truncated by the parser), and one byte more should the file have grown since it was measured.
pub fn read_opened(opened: OpenModel, path: &Path) -> Result<Vec<u8>> {
    let OpenModel { mut file, declared, head, .. } = opened;
    let want = declared.max(head.len() as u64).saturating_add(1);
    let mut out = head;
    (&mut file)
        .take(want - out.len() as u64)
        .read_to_end(&mut out)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(out)
}

/// Reads a text to score (`eval --text`): a regular file, at most an eighth of the memory limit
/// (the encoder holds four bytes per byte of text), 1 GiB where the limit is unknown.
pub fn read_text(path: &Path) -> Result<Vec<u8>> {
    let limit = memory_limit(None).map_or(1 << 30, |(m, _)| m / 8);
    read_bounded(path, limit, "a text to score (an eighth of the available memory)")
}
