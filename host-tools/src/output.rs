//! Files are sacred: how the tool writes its outputs.
//!
//! Promises (tested in `host-tools/tests/hostile.rs`, listed in `docs/errors.md`):
//!
//! 1. **Inputs are never outputs.** [`check_output`] refuses, before anything is read or written, an
//!    output path that is an input of the command or resolves to one (a symlink, a hard link, `..`):
//!    the comparison is by device and inode, so every spelling of the same file is caught.
//! 2. **Only regular files are replaced.** An output that exists and is not a regular file (a folder, a
//!    device such as `/dev/null`, a FIFO, a socket) is refused: the atomic rename would replace the
//!    node itself, which is how `-o /dev/null` as root used to destroy the device.
//! 3. **No half-written outputs, no leftovers.** [`write_atomically`] writes `.NAME.tmpPID` beside the
//!    destination, syncs it and renames it over the destination. The temporary is removed on every
//!    error path (a guard's `Drop`, so a panic too), and on SIGINT, SIGTERM and SIGHUP (a signal
//!    handler that unlinks it and re-raises the signal, so the exit status still says which signal).
//! 4. **SIGKILL leftovers are cleaned up.** SIGKILL cannot be caught; the next write to the same
//!    destination removes every `.NAME.tmpPID` beside it whose process no longer runs, that is a
//!    regular file, is not an input, and is empty or starts with the model magic `GLMX` (so a user's
//!    file that only happens to match the name pattern is left alone).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Refuses an output path that is, or resolves to, one of `inputs` (each `(flag, path)`, the flag
/// naming the argument in the message), or that exists and is not a regular file.
pub fn check_output(output: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    if output.file_name().is_none() {
        bail!("{} is not a file path; give a file path for the output", output.display());
    }
    // `metadata` follows symlinks: a link to a device or to an input is judged by what it points to.
    let Ok(out_meta) = std::fs::metadata(output) else {
        return Ok(()); // nothing there (or a dangling link): the rename creates a new file
    };
    for (flag, input) in inputs {
        if let Ok(in_meta) = std::fs::metadata(input) {
            if same_file(&out_meta, &in_meta) {
                bail!(
                    "refusing to write {}: it is the input file {} ({flag}); writing the output there would \
                     destroy the input, give another -o path",
                    output.display(),
                    input.display()
                );
            }
        }
    }
    if out_meta.is_dir() {
        bail!("{} is a folder; give a file path for the output", output.display());
    }
    if !out_meta.is_file() {
        bail!(
            "refusing to write {}: it exists and is {}, not a regular file; glmix only creates new files or \
             replaces regular ones, give another -o path",
            output.display(),
            kind(&out_meta)
        );
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// Words for a file type, for messages ("a character device").
pub fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// `.NAME.tmp`, the prefix of every temporary file for the destination `NAME`.
fn temp_prefix(file_name: &std::ffi::OsStr) -> OsString {
    let mut s = OsString::from(".");
    s.push(file_name);
    s.push(".tmp");
    s
}

/// Writes `bytes` to `path` atomically (see the [module docs](self)): a refused destination (see
/// [`check_output`]) is checked again here, stale temporaries of earlier killed runs are removed,
/// and the temporary never outlives the call, whatever happens.
pub fn write_atomically(path: &Path, bytes: &[u8], inputs: &[(&str, &Path)]) -> Result<()> {
    write_atomically_with(path, inputs, |f| f.write_all(bytes))
}

/// [`write_atomically`] for content produced by `write`, which writes into the temporary file.
pub fn write_atomically_with(
    path: &Path,
    inputs: &[(&str, &Path)],
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    check_output(path, inputs)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().with_context(|| format!("{} is not a file path", path.display()))?;
    let prefix = temp_prefix(file_name);
    remove_stale_temporaries(dir, &prefix, inputs);
    let mut name = prefix;
    name.push(std::process::id().to_string());
    let mut tmp = TempFile::create(dir.join(name)).with_context(|| {
        format!(
            "cannot write {}: cannot create a temporary file in {} (is the folder writable?)",
            path.display(),
            dir.display()
        )
    })?;
    write(&mut tmp.file).with_context(|| format!("cannot write {} (disk full?)", tmp.path.display()))?;
    tmp.file.sync_all().with_context(|| format!("cannot write {} (disk full?)", tmp.path.display()))?;
    tmp.persist(path)
}

/// A temporary file that is deleted when dropped (unless persisted) or when a termination signal
/// arrives while it exists.
struct TempFile {
    path: PathBuf,
    file: std::fs::File,
    persisted: bool,
}

impl TempFile {
    fn create(path: PathBuf) -> Result<TempFile> {
        // Registered before it exists, so that no instant has a temporary the handler does not know.
        signals::register(&path);
        let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&path);
        match file {
            Ok(file) => Ok(TempFile { path, file, persisted: false }),
            Err(e) => {
                signals::unregister();
                Err(e.into())
            }
        }
    }

    fn persist(mut self, dest: &Path) -> Result<()> {
        std::fs::rename(&self.path, dest)
            .with_context(|| format!("cannot move the output to {}", dest.display()))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
        signals::unregister();
    }
}

/// Removes `.NAME.tmpPID` files in `dir` left by processes that no longer run (see the module docs,
/// promise 4). Failures are ignored: cleaning is a courtesy, the write goes on regardless.
fn remove_stale_temporaries(dir: &Path, prefix: &std::ffi::OsStr, inputs: &[(&str, &Path)]) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = prefix.as_encoded_bytes();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.as_encoded_bytes().strip_prefix(prefix) else { continue };
        let Some(pid) =
            std::str::from_utf8(pid).ok().filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid == std::process::id() || process_exists(pid) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let is_input = inputs.iter().any(|(_, i)| std::fs::metadata(i).is_ok_and(|m| same_file(&m, &meta)));
        if !meta.is_file() || is_input || !looks_like_our_temporary(&path, meta.len()) {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            eprintln!(
                "note: removed {}, a temporary file left by an interrupted glmix run (process {pid})",
                path.display()
            );
        }
    }
}

/// Empty, or starting with the model file magic.
fn looks_like_our_temporary(path: &Path, len: u64) -> bool {
    use std::io::Read;
    if len == 0 {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && magic == glmix::format::MAGIC
}

#[cfg(unix)]
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 sends nothing; it only reports whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_exists(_: u32) -> bool {
    true // unknown: never remove
}

/// The termination-signal handler: a process-wide slot holding the temporary's path as a C string,
/// which the handler unlinks before re-raising the signal with its default action. Only
/// async-signal-safe calls run in the handler (`unlink`, `signal`, `raise`).
#[cfg(unix)]
mod signals {
    use std::ffi::CString;
    use std::path::Path;
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::sync::Once;

    /// The registered temporary's path (a leaked `CString`), or null.
    static TEMP: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
    static INSTALL: Once = Once::new();

    extern "C" fn on_signal(sig: libc::c_int) {
        let p = TEMP.swap(std::ptr::null_mut(), Ordering::SeqCst);
        // SAFETY: `p` is null or a NUL-terminated string leaked by `register` and never freed while
        // registered; `unlink`, `signal` and `raise` are async-signal-safe.
        unsafe {
            if !p.is_null() {
                libc::unlink(p);
            }
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    fn install() {
        INSTALL.call_once(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                // SAFETY: installs a handler that only makes async-signal-safe calls.
                // A signal the parent set to be ignored (`nohup`) stays ignored.
                unsafe {
                    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                    if libc::signal(sig, handler) == libc::SIG_IGN {
                        libc::signal(sig, libc::SIG_IGN);
                    }
                }
            }
        });
    }

    /// Makes `path` the temporary the handler removes.
    pub fn register(path: &Path) {
        install();
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return };
        let old = TEMP.swap(c.into_raw(), Ordering::SeqCst);
        free(old);
    }

    /// Forgets the registered temporary.
    pub fn unregister() {
        free(TEMP.swap(std::ptr::null_mut(), Ordering::SeqCst));
    }

    fn free(p: *mut libc::c_char) {
        if !p.is_null() {
            // SAFETY: `p` came from `CString::into_raw` in `register` and was swapped out of the slot,
            // so nothing else can reach it.
            drop(unsafe { CString::from_raw(p) });
        }
    }
}

#[cfg(not(unix))]
mod signals {
    pub fn register(_: &std::path::Path) {}
    pub fn unregister() {}
}
