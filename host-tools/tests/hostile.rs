//! Issue 15's table, row by row: the `glmix` binary against hostile and careless input. Each test
//! reproduces a row and checks that no file is destroyed, the error is clean (one `error:` line, no
//! panic, no abort) with a non-zero exit status where the input was bad, and that memory stays
//! bounded: the child's peak resident set (`wait4`'s `ru_maxrss`) under 200 MB for rows 3-5.
//! No test measures time. (Linux carries a process's peak RSS across `exec`, so the figure also
//! counts this test process as it was when the child was spawned: an upper bound on the child's own.)
//!
//! Models: A = the shipped dense-attention model (`models/shakespeare-attention`) converted to q8_0
//! (trained context 256); M = the shipped `models/shakespeare-pow2/model.glmx`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MB: u64 = 1 << 20;

/// What a finished child did.
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    /// Peak resident set size in bytes.
    max_rss: u64,
}

impl Outcome {
    /// Exit status 1 and exactly one clean `error:` line containing `message`.
    fn assert_clean_error(&self, message: &str) {
        assert_eq!((self.code, self.signal), (Some(1), None), "stderr: {}", self.stderr);
        assert_eq!(self.stderr.matches("error:").count(), 1, "stderr: {}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "stderr: {}", self.stderr);
        assert!(self.stderr.contains(message), "want {message:?} in stderr: {}", self.stderr);
    }
}

/// Runs `glmix args` with `stdin` bytes, measuring the child's peak RSS with `wait4`.
fn glmix_with_stdin(args: &[&std::ffi::OsStr], stdin: &[u8]) -> Outcome {
    #[allow(clippy::zombie_processes)] // reaped by `wait4` below, which also reports its rusage
    let mut child = Command::new(env!("CARGO_BIN_EXE_glmix"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin); // the child may exit before reading it all
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut err, &mut stderr).unwrap();
    let stdout = reader.join().unwrap();
    feeder.join().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid `spawn` returned; the pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    let status = std::process::ExitStatus::from_raw(status);
    Outcome {
        code: status.code(),
        signal: status.signal(),
        stdout,
        stderr,
        max_rss: usage.ru_maxrss as u64 * 1024, // kilobytes on Linux
    }
}

fn glmix(args: &[&std::ffi::OsStr]) -> Outcome {
    glmix_with_stdin(args, b"")
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// A fresh folder for one test.
fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Copies the shipped dense-attention checkpoint into `dir` and converts it to q8_0: model A.
fn model_a(dir: &Path) -> PathBuf {
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(repo("models/shakespeare-attention").join(f), dir.join(f)).unwrap();
    }
    let out = dir.join("a.glmx");
    let o = glmix(args![
        "convert",
        "--weights",
        &dir.join("model.safetensors"),
        "--config",
        &dir.join("config.json"),
        "-o",
        &out,
        "--quant",
        "q8_0",
        "-q"
    ]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    out
}

fn model_m() -> PathBuf {
    repo("models/shakespeare-pow2/model.glmx")
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

/// Row 1: `-o` naming an input, directly or through a symlink, a hard link or `..`, is refused
/// before anything is read or written; both inputs stay byte for byte.
#[test]
fn row1_an_output_that_is_an_input_is_refused() {
    let dir = folder("row1");
    model_a(&dir);
    let (weights, config) = (dir.join("model.safetensors"), dir.join("config.json"));
    let before = (std::fs::read(&weights).unwrap(), std::fs::read(&config).unwrap());
    std::fs::hard_link(&weights, dir.join("hard.safetensors")).unwrap();
    std::os::unix::fs::symlink(&config, dir.join("link.json")).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    for (output, input) in [
        (weights.clone(), "model.safetensors (--weights)"),
        (config.clone(), "config.json (--config)"),
        (dir.join("hard.safetensors"), "(--weights)"),
        (dir.join("link.json"), "(--config)"),
        (dir.join("sub/../model.safetensors"), "(--weights)"),
    ] {
        let o = glmix(args!["convert", "--weights", &weights, "--config", &config, "-o", &output, "-q"]);
        o.assert_clean_error("it is the input file");
        assert!(o.stderr.contains(input), "{}", o.stderr);
    }
    assert_eq!((std::fs::read(&weights).unwrap(), std::fs::read(&config).unwrap()), before);
    assert!(std::fs::symlink_metadata(dir.join("link.json")).unwrap().file_type().is_symlink());
    assert_eq!(temporaries(&dir), Vec::<String>::new());
}

/// Row 2: an output that exists and is not a regular file (a device, a FIFO, a folder) is refused;
/// `/dev/null` stays the character device (this matters as root, where the rename would succeed).
#[test]
fn row2_an_output_that_is_not_a_regular_file_is_refused() {
    use std::os::unix::fs::FileTypeExt;
    let dir = folder("row2");
    model_a(&dir);
    let (weights, config) = (dir.join("model.safetensors"), dir.join("config.json"));
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    for (output, kind) in [
        (PathBuf::from("/dev/null"), "a character device"),
        (fifo.clone(), "a FIFO"),
        (dir.clone(), "is a folder"),
    ] {
        let o = glmix(args!["convert", "--weights", &weights, "--config", &config, "-o", &output, "-q"]);
        o.assert_clean_error(kind);
    }
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(temporaries(&dir), Vec::<String>::new());
}

/// Row 3: a context whose state cannot be allocated is refused with the planner's figure and the
/// fix, before allocating: no abort, a small resident set.
#[test]
fn row3_an_impossible_context_is_refused_before_allocating() {
    let dir = folder("row3");
    let a = model_a(&dir);
    for extra in [&["--context", "4294967295"][..], &["-n", "100000000"]] {
        let mut argv: Vec<&std::ffi::OsStr> = args!["generate", "-m", &a, "-t", "0"].to_vec();
        argv.extend(extra.iter().map(std::ffi::OsStr::new));
        let o = glmix(&argv);
        o.assert_clean_error("the memory planner's figure), more than");
        assert!(o.stderr.contains("use --context ") && o.stderr.contains("O(n)"), "{}", o.stderr);
        assert!(o.max_rss < 200 * MB, "{} bytes resident", o.max_rss);
    }
}

/// Row 4: a model or text that is not a regular file is refused, not read without limit.
#[test]
fn row4_devices_and_fifos_are_not_read() {
    let o = glmix(args!["generate", "-m", "/dev/zero"]);
    o.assert_clean_error("it is a character device, not a regular file");
    assert!(o.max_rss < 200 * MB, "{} bytes resident", o.max_rss);
    let o = glmix(args!["eval", "-m", &model_m(), "--text", "/dev/zero"]);
    o.assert_clean_error("it is a character device, not a regular file");
    assert!(o.max_rss < 200 * MB, "{} bytes resident", o.max_rss);
    // A FIFO with no writer would block a plain open: it is refused without waiting.
    let dir = folder("row4");
    let fifo = dir.join("model.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    glmix(args!["generate", "-m", &fifo]).assert_clean_error("it is a FIFO (named pipe), not a regular file");
    // A model file with more bytes than its header declares is refused by its size, unread.
    std::fs::copy(model_m(), dir.join("long.glmx")).unwrap();
    let long = std::fs::OpenOptions::new().write(true).open(dir.join("long.glmx")).unwrap();
    long.set_len(long.metadata().unwrap().len() + 1024 * MB).unwrap(); // sparse: no disk used
    let o = glmix(args!["generate", "-m", &dir.join("long.glmx")]);
    o.assert_clean_error("the header says the file has 739040 bytes but it has 1074480864");
    assert!(o.max_rss < 200 * MB, "{} bytes resident for a 1 GB file", o.max_rss);
}

/// Row 5: `-n` far beyond what memory allows (the context defaults to it) is refused with the
/// figure, under a `--max-memory` limit, instead of growing to gigabytes.
#[test]
fn row5_the_default_context_is_bounded_by_the_memory_limit() {
    let dir = folder("row5");
    let a = model_a(&dir);
    let o = glmix(args!["generate", "-m", &a, "-n", "2000000", "--max-memory", "150M"]);
    o.assert_clean_error("(-n, the default context) needs");
    assert!(o.stderr.contains("more than --max-memory 150.0 MiB; use --context "), "{}", o.stderr);
    assert!(o.max_rss < 200 * MB, "{} bytes resident", o.max_rss);
    // Within the limit it runs.
    let o = glmix(args!["generate", "-m", &a, "-n", "40", "-t", "0", "--max-memory", "150M"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}

/// The child of [`row6_signals_remove_the_temporary`]: holds a temporary file open until killed.
#[test]
#[ignore = "run by row6_signals_remove_the_temporary as a child process"]
fn child_holding_a_temporary() {
    let Some(dest) = std::env::var_os("GLMIX_HOSTILE_DEST") else { return };
    let _ = glmix_tools::output::write_atomically_with(Path::new(&dest), &[], |f| {
        f.write_all(b"GLMX half a model")?;
        println!("ready");
        std::io::stdout().flush()?;
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    });
}

/// Starts [`child_holding_a_temporary`] for `dest` and returns it once its temporary exists.
fn hold_temporary(dest: &Path) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--ignored", "--exact", "child_holding_a_temporary", "--nocapture", "--test-threads=1"])
        .env("GLMIX_HOSTILE_DEST", dest)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // glmix keeps a signal its parent ignores ignored (as under `nohup`, or a background job of a
    // shell without job control, which ignores SIGINT): start the child with the default dispositions
    // so that the test measures the handler, not how the test run was started.
    // SAFETY: only `signal`, which is async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        // libtest prints "test NAME ... " on the same line before the test runs.
        if line.unwrap().trim_end().ends_with("ready") {
            return child;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the child never became ready");
}

/// Row 6: SIGINT, SIGTERM and SIGHUP remove the temporary (and the process still dies of the
/// signal); the temporary a SIGKILL leaves is removed by the next write to the same destination.
#[test]
fn row6_signals_remove_the_temporary() {
    let dir = folder("row6");
    let dest = dir.join("out.glmx");
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let mut child = hold_temporary(&dest);
        let tmp = dir.join(format!(".out.glmx.tmp{}", child.id()));
        assert!(tmp.is_file(), "the child's temporary {} exists", tmp.display());
        // SAFETY: signals our own child.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(sig), "the child dies of signal {sig}");
        assert_eq!(temporaries(&dir), Vec::<String>::new(), "signal {sig} left the temporary");
        assert!(!dest.exists());
    }
    let mut child = hold_temporary(&dest);
    child.kill().unwrap(); // SIGKILL: nothing can clean up
    child.wait().unwrap();
    assert_eq!(temporaries(&dir).len(), 1);
    // A user's file that merely matches the pattern (not empty, not a model) is left alone.
    std::fs::write(dir.join(".out.glmx.tmp999999999"), b"my notes").unwrap();
    let a = model_a(&folder("row6-model"));
    let weights = a.with_file_name("model.safetensors");
    let config = a.with_file_name("config.json");
    let o = glmix(args!["convert", "--weights", &weights, "--config", &config, "-o", &dest, "-q"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("a temporary file left by an interrupted glmix run"), "{}", o.stderr);
    assert_eq!(temporaries(&dir), vec![".out.glmx.tmp999999999".to_string()]);
    assert!(dest.is_file());
}

/// Row 8: non-finite or out-of-range sampling parameters are refused (clap's exit status 2),
/// printing nothing on stdout.
#[test]
fn row8_sampling_parameters_are_validated() {
    let m = model_m();
    for (flag, value) in [
        ("--temperature", "nan"),
        ("--temperature", "inf"),
        ("--temperature", "-inf"),
        ("--temperature", "-1"),
        ("--top-p", "nan"),
        ("--top-p", "2"),
        ("--top-p", "-0.5"),
    ] {
        let arg = format!("{flag}={value}");
        let o = glmix(args!["generate", "-m", &m, "-n", "8", &arg]);
        assert_eq!(o.code, Some(2), "{arg}: {}", o.stderr);
        assert!(o.stderr.contains(&format!("invalid value '{value}' for '{flag}")), "{arg}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{arg} printed {:?}", o.stdout);
    }
}

/// Row 9: NaN or infinite weights are refused naming the tensor and the index, unless allowed.
#[test]
fn row9_nonfinite_weights_are_refused() {
    let dir = folder("row9");
    model_a(&dir);
    let st = std::fs::read(dir.join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&st[8..8 + header_len]).unwrap();
    let start = header["layers.2.mlp.w1.weight"]["data_offsets"][0].as_u64().unwrap() as usize;
    let cols = header["layers.2.mlp.w1.weight"]["shape"][1].as_u64().unwrap() as usize;
    let config = dir.join("config.json");
    for (value, index) in [(f32::NAN, 3 * cols + 5), (f32::NEG_INFINITY, 17)] {
        let mut bad = st.clone();
        let at = 8 + header_len + start + 4 * index;
        bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let weights = dir.join("bad.safetensors");
        std::fs::write(&weights, &bad).unwrap();
        let out = dir.join("bad.glmx");
        let o = glmix(args!["convert", "--weights", &weights, "--config", &config, "-o", &out, "-q"]);
        let want = format!(
            "tensor layers.2.mlp.w1.weight holds {value} at index [{}, {}]",
            index / cols,
            index % cols
        );
        o.assert_clean_error(&want);
        assert!(!out.exists());
        let o = glmix(args![
            "convert",
            "--weights",
            &weights,
            "--config",
            &config,
            "-o",
            &out,
            "-q",
            "--allow-nonfinite"
        ]);
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        std::fs::remove_file(&out).unwrap();
    }
}

/// Row 10: running past the trained context warns once; a full context is reported.
#[test]
fn row10_trained_context_warning_and_context_full_report() {
    let dir = folder("row10");
    let a = model_a(&dir);
    let o = glmix(args!["generate", "-m", &a, "-n", "300", "-t", "0"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(o.stderr.matches("warning:").count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("runs past the 256 positions this model was trained on"), "{}", o.stderr);
    let o = glmix(args!["generate", "-m", &a, "-n", "4294967295", "--context", "200", "-t", "0"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(!o.stderr.contains("warning:"), "200 positions are within the trained 256: {}", o.stderr);
    assert!(o.stderr.contains("stopped: the context of 200 tokens is full"), "{}", o.stderr);
}

/// Row 11: prompts from a file and from stdin, equal to the same `-p`; a prompt that cannot fit is
/// refused by its length before it is encoded.
#[test]
fn row11_prompt_file_and_stdin() {
    let dir = folder("row11");
    let m = model_m();
    let prompt = b"ROMEO:\nWhat light";
    std::fs::write(dir.join("prompt.txt"), prompt).unwrap();
    let by_arg = glmix(args!["generate", "-m", &m, "-n", "40", "-t", "0", "-p", "ROMEO:\nWhat light"]);
    let by_file =
        glmix(args!["generate", "-m", &m, "-n", "40", "-t", "0", "--prompt-file", &dir.join("prompt.txt")]);
    let by_stdin = glmix_with_stdin(args!["generate", "-m", &m, "-n", "40", "-t", "0", "-p", "-"], prompt);
    assert_eq!(by_arg.code, Some(0), "{}", by_arg.stderr);
    assert!(by_arg.stdout.starts_with(prompt));
    assert_eq!(by_file.stdout, by_arg.stdout, "{}", by_file.stderr);
    assert_eq!(by_stdin.stdout, by_arg.stdout, "{}", by_stdin.stderr);
    // 1 MB through stdin (more than one argument can hold), refused by its length.
    let big = vec![b'a'; 1 << 20];
    let o = glmix_with_stdin(args!["generate", "-m", &m, "-p", "-", "--context", "4096"], &big);
    o.assert_clean_error("the prompt is 1048576 tokens (1048576 bytes) but the context is 4096");
}

/// Row 12: bad configs, checkpoints and model files get one short error in the tool's words,
/// naming the value as written and the right tensor, before any weight is converted.
#[test]
fn row12_errors_say_what_is_wrong() {
    let dir = folder("row12");
    model_a(&dir);
    let weights = dir.join("model.safetensors");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let out = dir.join("out.glmx");
    let variant = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut c = config.clone();
        edit(&mut c);
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
        path
    };
    let layers = variant("layers.json", &|c| {
        let layer = c["layers"][0].clone();
        c["layers"] = serde_json::Value::Array(vec![layer; 100_000]);
        c["n_layers"] = 100_000.into();
    });
    let param = variant("param.json", &|c| c["layers"][0]["param"] = 4294967295u64.into());
    let window = variant("window.json", &|c| {
        c["layers"][1]["pattern"] = "window".into();
        c["layers"][1]["param"] = 0.into();
    });
    let theta = variant("theta.json", &|c| c["positional"]["theta"] = (-1).into());
    for (config, message) in [
        (&layers, "n_layers is 100000, but a model file holds at most 64 layers"),
        (&param, "layer 0: param 4294967295 of pattern dense is not in 0..=16777216"),
        (&window, "layer 1: pattern window needs param >= 1 (the width), got 0"),
        (&theta, "positional.theta is -1; it must be a positive finite number"),
    ] {
        let o = glmix(args!["convert", "--weights", &weights, "--config", config, "-o", &out, "-q"]);
        o.assert_clean_error(message);
        assert!(o.stderr.len() < 400, "a short message: {} bytes", o.stderr.len());
    }
    // Safetensors offsets past the end, and overlapping tensors.
    let st = std::fs::read(&weights).unwrap();
    let header_len = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&st[8..8 + header_len]).unwrap();
    let data = &st[8 + header_len..];
    let rewrite = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut h = header.clone();
        edit(&mut h);
        let mut json = serde_json::to_vec(&h).unwrap();
        json.resize(json.len().next_multiple_of(8), b' ');
        let mut file = (json.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(&json);
        file.extend_from_slice(data);
        let path = dir.join(name);
        std::fs::write(&path, file).unwrap();
        path
    };
    // The tensor stored last: moving it back overlaps the one before it, moving it on runs past the end.
    let name = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(n, _)| *n != "__metadata__")
        .max_by_key(|(_, t)| t["data_offsets"][0].as_u64().unwrap())
        .map(|(n, _)| n.as_str())
        .unwrap();
    let end = data.len() as u64;
    let past = rewrite("past.safetensors", &|h| {
        let len = h[name]["data_offsets"][1].as_u64().unwrap() - h[name]["data_offsets"][0].as_u64().unwrap();
        h[name]["data_offsets"] = serde_json::json!([end - len + 64, end + 64]);
    });
    let overlap = rewrite("overlap.safetensors", &|h| {
        let [s, e] = [0, 1].map(|i| h[name]["data_offsets"][i].as_u64().unwrap());
        h[name]["data_offsets"] = serde_json::json!([s - 8, e - 8]);
    });
    let config = dir.join("config.json");
    let o = glmix(args!["convert", "--weights", &past, "--config", &config, "-o", &out, "-q"]);
    o.assert_clean_error(&format!("tensor {name}'s data_offsets"));
    assert!(o.stderr.contains("are not inside the"), "{}", o.stderr);
    let o = glmix(args!["convert", "--weights", &overlap, "--config", &config, "-o", &out, "-q"]);
    o.assert_clean_error("overlap in the file");
    assert!(o.stderr.contains(name), "{}", o.stderr);
    // An empty file, and a file that is not a model at all.
    std::fs::write(dir.join("empty.glmx"), b"").unwrap();
    glmix(args!["generate", "-m", &dir.join("empty.glmx")])
        .assert_clean_error("is empty, not a glmix model file");
    glmix(args!["inspect", &config]).assert_clean_error("is not a glmix model file");
    assert!(!out.exists());
}

/// Row 7: the checksum covers the header (format version 2): a flipped bit in `positional`,
/// `rope_theta` or `norm_eps` is rejected. A version-1 file still loads, with a warning; a snapshot
/// records the model's full checksum, so one taken with the intact model is refused by a model
/// whose version-1 header was damaged.
#[test]
fn row7_the_checksum_covers_the_header() {
    use glmix::format::{model_crc, HEADER_LEN};
    use glmix::{Model, Session, SnapshotError};
    use glmix_tools::writer::AlignedBytes;
    let dir = folder("row7");
    let a = model_a(&dir);
    let intact = std::fs::read(&a).unwrap();
    assert_eq!(u32::from_le_bytes(intact[4..8].try_into().unwrap()), glmix::format::VERSION);
    for (field, offset) in [("positional", 49), ("rope_theta", 44), ("norm_eps", 40)] {
        let mut bad = intact.clone();
        bad[offset] ^= 0x04;
        let path = dir.join(format!("{field}.glmx"));
        std::fs::write(&path, &bad).unwrap();
        glmix(args!["generate", "-m", &path, "-n", "4"]).assert_clean_error("checksum mismatch");
    }
    // The same model as a version-1 file: loads, with a warning.
    let mut v1 = intact.clone();
    v1[4..8].copy_from_slice(&1u32.to_le_bytes());
    let crc = model_crc(&v1, 1);
    v1[12..16].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(dir.join("v1.glmx"), &v1).unwrap();
    let o = glmix(args!["generate", "-m", &dir.join("v1.glmx"), "-n", "4", "-t", "0"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("warning: ") && o.stderr.contains("is model format version 1"), "{}", o.stderr);
    // Its damaged header goes unnoticed by the version-1 checksum, but not by the snapshot.
    let mut v1_bad = v1.clone();
    v1_bad[44] ^= 0x04; // rope_theta
    assert_eq!(model_crc(&v1_bad, 1), crc, "version 1 does not see the header");
    let (good, bad) = (AlignedBytes::new(&v1), AlignedBytes::new(&v1_bad));
    let (good, bad) = (Model::parse(good.as_bytes()).unwrap(), Model::parse(bad.as_bytes()).unwrap());
    assert_eq!(good.checksum(), model_crc(&v1, 2), "the full checksum, whatever the version");
    assert_ne!(good.checksum(), bad.checksum());
    let words = glmix::plan::Plan::new(&good, 8).total_words();
    let (mut s1, mut s2) = (vec![0f32; words], vec![0f32; words]);
    let mut session = Session::new(&good, 8, &mut s1).unwrap();
    session.step(1).unwrap();
    let mut snap = vec![0u8; session.snapshot_len()];
    let n = session.save(&mut snap).unwrap();
    let mut other = Session::new(&bad, 8, &mut s2).unwrap();
    assert!(matches!(other.restore(&snap[..n]), Err(SnapshotError::WrongModel { .. })));
    assert!(intact.len() > HEADER_LEN);
}
