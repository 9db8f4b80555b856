//! The `glmix` binary against the mistakes a new user makes: each case runs the built binary and
//! checks for one clear message on stderr, a non-zero exit code and no panic. The same table generates
//! `docs/errors.md` (`GLMIX_WRITE_ERRORS_DOC=1 cargo test -p glmix-tools --test cli`); without the
//! variable the test fails when the document is stale.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use glmix_tools::random::{random_model, RandomLayer, RandomSpec};

/// Files the cases use, in a fresh folder.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let layer = RandomLayer { pattern: 0, param: 0, form: 0, n_heads: 2, n_kv_heads: 2 };
        let model = random_model(&RandomSpec::small(vec![layer]), 3).unwrap().to_bytes().unwrap();
        std::fs::write(dir.join("model.glmx"), &model).unwrap();
        let mut future = model.clone();
        future[4..8].copy_from_slice(&2u32.to_le_bytes());
        std::fs::write(dir.join("future.glmx"), &future).unwrap();
        std::fs::write(dir.join("truncated.glmx"), &model[..model.len() / 2]).unwrap();
        std::fs::write(dir.join("config.json"), harness::FUZZ_CONFIG).unwrap();
        std::fs::write(dir.join("bad-pattern.json"), harness::FUZZ_CONFIG.replace("pow2_lattice", "pow3"))
            .unwrap();
        let undefined = harness::FUZZ_CONFIG
            .replace(r#""dense", "form": "attention""#, r#""dense", "form": "state_space""#);
        assert_ne!(undefined, harness::FUZZ_CONFIG);
        std::fs::write(dir.join("undefined-mixer.json"), undefined).unwrap();
        std::fs::write(dir.join("model.safetensors"), harness::fuzz_safetensors(1)).unwrap();
        std::fs::write(dir.join("missing.safetensors"), safetensors_without("norm.weight")).unwrap();
        std::fs::write(dir.join("llama.bin"), harness::llama2c_v0(1, true)).unwrap();
        std::fs::write(dir.join("tok.bin"), llama2c_tokenizer(8)).unwrap();
        std::fs::write(dir.join("a-file"), b"not a folder").unwrap();
        std::fs::create_dir_all(dir.join("existing-dir.glmx/inside")).unwrap();
        std::fs::write(dir.join("short.txt"), b"hello").unwrap();
        std::fs::write(dir.join("text.txt"), "To be, or not to be: that is the question.\n".repeat(20))
            .unwrap();
        Fixture { dir }
    }

    fn path(&self, name: &str) -> OsString {
        self.dir.join(name).into_os_string()
    }

    /// Files in the fixture folder whose name marks them as temporaries of an atomic write.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect()
    }
}

/// The fuzz config's checkpoint without one tensor.
fn safetensors_without(name: &str) -> Vec<u8> {
    let full = harness::fuzz_safetensors(1);
    let st = safetensors::SafeTensors::deserialize(&full).unwrap();
    let kept: Vec<_> = st.tensors().into_iter().filter(|(n, _)| n != name).collect();
    safetensors::serialize(kept, &None).unwrap()
}

/// A llama2.c tokenizer.bin of `n` tokens.
fn llama2c_tokenizer(n: usize) -> Vec<u8> {
    let mut out = 6i32.to_le_bytes().to_vec();
    for i in 0..n {
        let piece = match i {
            0 => "<unk>".to_string(),
            1 => "\n<s>\n".to_string(),
            2 => "\n</s>\n".to_string(),
            _ => format!("t{i}"),
        };
        out.extend_from_slice(&0f32.to_le_bytes());
        out.extend_from_slice(&(piece.len() as i32).to_le_bytes());
        out.extend_from_slice(piece.as_bytes());
    }
    out
}

/// One situation: how it is shown in the document, the arguments, and what the tool must say.
struct Case {
    situation: &'static str,
    command: &'static str,
    args: Vec<OsString>,
    message: &'static str,
    code: i32,
}

fn args(parts: &[&dyn AsRefOs]) -> Vec<OsString> {
    parts.iter().map(|p| p.os()).collect()
}

trait AsRefOs {
    fn os(&self) -> OsString;
}
impl AsRefOs for &str {
    fn os(&self) -> OsString {
        OsString::from(*self)
    }
}
impl AsRefOs for OsString {
    fn os(&self) -> OsString {
        self.clone()
    }
}

fn invalid_utf8() -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(vec![b'h', 0xff, 0xfe, b'i'])
}

fn cases(fx: &Fixture) -> Vec<Case> {
    let model = fx.path("model.glmx");
    let gen = |extra: &[&dyn AsRefOs]| {
        let mut a = args(&[&"generate", &"-m", &model, &"-t", &"0"]);
        a.extend(args(extra));
        a
    };
    let eval = |extra: &[&dyn AsRefOs]| {
        let mut a = args(&[&"eval", &"-m", &model]);
        a.extend(args(extra));
        a
    };
    let convert = |weights: &str, config: &str, output: OsString, extra: &[&dyn AsRefOs]| {
        let mut a = args(&[
            &"convert",
            &"--weights",
            &fx.path(weights),
            &"--config",
            &fx.path(config),
            &"-o",
            &output,
        ]);
        a.extend(args(extra));
        a
    };
    vec![
        Case {
            situation: "model file does not exist",
            command: "glmix inspect nope.glmx",
            args: args(&[&"inspect", &fx.path("nope.glmx")]),
            message: "cannot read ",
            code: 1,
        },
        Case {
            situation: "a folder where a model file is expected",
            command: "glmix inspect some-folder/",
            args: args(&[&"inspect", &fx.dir.clone().into_os_string()]),
            message: "Is a directory",
            code: 1,
        },
        Case {
            situation: "model file from a newer format version",
            command: "glmix inspect future.glmx",
            args: args(&[&"inspect", &fx.path("future.glmx")]),
            message: "model format version 2, but this build reads version 1; convert the model again",
            code: 1,
        },
        Case {
            situation: "truncated model file",
            command: "glmix generate -m truncated.glmx",
            args: args(&[&"generate", &"-m", &fx.path("truncated.glmx")]),
            message: "file truncated: ",
            code: 1,
        },
        Case {
            situation: "`--steps 0`",
            command: "glmix generate -m model.glmx --steps 0",
            args: gen(&[&"--steps", &"0"]),
            message: "--steps must be at least 1",
            code: 1,
        },
        Case {
            situation: "prompt longer than the context",
            command: "glmix generate -m model.glmx -p 'hello world' --context 4",
            args: gen(&[&"-p", &"hello world", &"--context", &"4"]),
            message: "the prompt is 11 tokens but the context is 4; shorten the prompt or pass a larger --context",
            code: 1,
        },
        Case {
            situation: "`--context` of 0",
            command: "glmix generate -m model.glmx --context 0",
            args: gen(&[&"--context", &"0"]),
            message: "--context must be at least 1",
            code: 1,
        },
        Case {
            situation: "unknown `--quant` value",
            command: "glmix convert ... --quant q3_k",
            args: convert("model.safetensors", "config.json", fx.path("out.glmx"), &[&"--quant", &"q3_k"]),
            message: "invalid value 'q3_k' for '--quant <QUANT>'",
            code: 2,
        },
        Case {
            situation: "config with an unknown mixer pattern",
            command: "glmix convert --weights model.safetensors --config bad-pattern.json -o out.glmx",
            args: convert("model.safetensors", "bad-pattern.json", fx.path("out.glmx"), &[]),
            message: "layer 1: unknown pattern \"pow3\"; expected one of: dense, window, order, pow2",
            code: 1,
        },
        Case {
            situation: "config pairing a pattern and a form that define no mixer",
            command: "glmix convert --weights model.safetensors --config undefined-mixer.json -o out.glmx",
            args: convert("model.safetensors", "undefined-mixer.json", fx.path("out.glmx"), &[]),
            message: "layer 0: state_space is defined on pattern order 1 (param 1) and pow2_lattice only, not dense 0",
            code: 1,
        },
        Case {
            situation: "safetensors checkpoint missing a tensor",
            command: "glmix convert --weights missing.safetensors --config config.json -o out.glmx",
            args: convert("missing.safetensors", "config.json", fx.path("out.glmx"), &[]),
            message: "missing tensors [\"norm.weight\"] that the config needs",
            code: 1,
        },
        Case {
            situation: "convert: output folder does not exist or is not writable",
            command: "glmix convert ... -o /proc/nope/x.glmx",
            args: convert("model.safetensors", "config.json", "/proc/nope/x.glmx".into(), &[]),
            message: "cannot write /proc/nope/x.glmx: cannot create a temporary file in /proc/nope",
            code: 1,
        },
        Case {
            situation: "convert: output path inside a regular file",
            command: "glmix convert ... -o a-file/x.glmx",
            args: convert("model.safetensors", "config.json", fx.dir.join("a-file/x.glmx").into(), &[]),
            message: "(is the folder writable?)",
            code: 1,
        },
        Case {
            situation: "convert: output path is an existing folder",
            command: "glmix convert ... -o existing-dir.glmx",
            args: convert("model.safetensors", "config.json", fx.path("existing-dir.glmx"), &[]),
            message: "existing-dir.glmx is a folder; give a file path for the output",
            code: 1,
        },
        Case {
            situation: "import-llama2c: output folder not writable",
            command: "glmix import-llama2c model.bin --tokenizer tok.bin -o /proc/nope/x.glmx",
            args: args(&[
                &"import-llama2c",
                &fx.path("llama.bin"),
                &"--tokenizer",
                &fx.path("tok.bin"),
                &"-o",
                &"/proc/nope/x.glmx",
            ]),
            message: "cannot write /proc/nope/x.glmx: cannot create a temporary file in /proc/nope",
            code: 1,
        },
        Case {
            situation: "import-llama2c: tokenizer of another size",
            command: "glmix import-llama2c model.bin --tokenizer model.bin -o x.glmx",
            args: args(&[
                &"import-llama2c",
                &fx.path("llama.bin"),
                &"--tokenizer",
                &fx.path("llama.bin"),
                &"-o",
                &fx.path("x.glmx"),
            ]),
            message: "token 1 has length 134217728 (max_token_length is 8): is this the llama2.c tokenizer.bin of this model?",
            code: 1,
        },
        Case {
            situation: "eval: neither `--task` nor `--text`",
            command: "glmix eval -m model.glmx",
            args: eval(&[]),
            message: "the following required arguments were not provided",
            code: 2,
        },
        Case {
            situation: "eval: unknown task",
            command: "glmix eval -m model.glmx --task sort",
            args: eval(&[&"--task", &"sort"]),
            message: "invalid value 'sort' for '--task <TASK>'",
            code: 2,
        },
        Case {
            situation: "eval: model file does not exist",
            command: "glmix eval -m nope.glmx --task copy",
            args: args(&[&"eval", &"-m", &fx.path("nope.glmx"), &"--task", &"copy"]),
            message: "cannot read ",
            code: 1,
        },
        Case {
            situation: "eval: text file does not exist",
            command: "glmix eval -m model.glmx --text nope.txt",
            args: eval(&[&"--text", &fx.path("nope.txt")]),
            message: "cannot read ",
            code: 1,
        },
        Case {
            situation: "eval: the task's tokens exceed the model's vocabulary",
            command: "glmix eval -m model.glmx --task copy --vocab 1000",
            args: eval(&[&"--task", &"copy", &"--vocab", &"1000"]),
            message: "the copy task uses 1002 token ids but the model's vocabulary has 256",
            code: 1,
        },
        Case {
            situation: "eval: the task's sequences exceed the model's context",
            command: "glmix eval -m model.glmx --task copy --n 600",
            args: eval(&[&"--task", &"copy", &"--n", &"600"]),
            message: "the copy task feeds 1231 tokens per sample but the model's context is 1024",
            code: 1,
        },
        Case {
            situation: "eval: a task parameter of 0",
            command: "glmix eval -m model.glmx --task copy --n 0",
            args: eval(&[&"--task", &"copy", &"--n", &"0"]),
            message: "copy: --n (0) and --vocab (32) must be at least 1",
            code: 1,
        },
        Case {
            situation: "eval: a number that is not one",
            command: "glmix eval -m model.glmx --task copy --n abc",
            args: eval(&[&"--task", &"copy", &"--n", &"abc"]),
            message: "invalid value 'abc' for '--n <N>'",
            code: 2,
        },
        Case {
            situation: "eval: `--samples 0`",
            command: "glmix eval -m model.glmx --task copy --samples 0",
            args: eval(&[&"--task", &"copy", &"--samples", &"0"]),
            message: "--samples must be at least 1",
            code: 1,
        },
        Case {
            situation: "eval: a parameter of another task",
            command: "glmix eval -m model.glmx --task copy --hops 3",
            args: eval(&[&"--task", &"copy", &"--hops", &"3"]),
            message: "--hops is a parameter of the multihop task, not of copy",
            code: 1,
        },
        Case {
            situation: "eval: more recall queries than pairs",
            command: "glmix eval -m model.glmx --task recall --n-queries 40",
            args: eval(&[&"--task", &"recall", &"--n-queries", &"40"]),
            message: "recall: --n-queries (40) must not exceed --n-pairs (16)",
            code: 1,
        },
        Case {
            situation: "eval: multihop chains need more symbols than there are",
            command: "glmix eval -m model.glmx --task multihop --n-chains 20",
            args: eval(&[&"--task", &"multihop", &"--n-chains", &"20"]),
            message: "multihop: --n-chains x (--hops + 1) = 100 distinct symbols needed but --n-symbols is 64",
            code: 1,
        },
        Case {
            situation: "eval: text shorter than one window",
            command: "glmix eval -m model.glmx --text short.txt --split all",
            args: eval(&[&"--text", &fx.path("short.txt"), &"--split", &"all"]),
            message: "the text is 5 tokens (5 bytes); scoring needs at least context + 1 = 1025 tokens",
            code: 1,
        },
    ]
}

fn run(args: &[OsString]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_glmix")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_mistake_gets_one_clear_message() {
    let fx = Fixture::new("cases");
    let mut failures = Vec::new();
    for case in cases(&fx) {
        let (code, stderr) = run(&case.args);
        let errors = stderr.matches("error:").count();
        let ok =
            code == case.code && stderr.contains(case.message) && errors == 1 && !stderr.contains("panicked");
        if !ok {
            failures.push(format!(
                "{}: exit {code} (want {}), {errors} `error:` lines, stderr:\n{stderr}",
                case.situation, case.code
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n---\n"));
    assert_eq!(fx.leftovers(), Vec::<String>::new(), "a failed write left a temporary file");
    assert!(!fx.dir.join("out.glmx").exists(), "a failed convert left an output file");
    assert!(fx.dir.join("existing-dir.glmx/inside").is_dir(), "the existing folder was touched");
}

#[test]
fn successful_runs_leave_exactly_the_output() {
    let fx = Fixture::new("ok");
    let out = fx.path("ok.glmx");
    let (code, stderr) = run(&args(&[
        &"convert",
        &"--weights",
        &fx.path("model.safetensors"),
        &"--config",
        &fx.path("config.json"),
        &"-o",
        &out,
        &"-q",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr) = run(&args(&[&"generate", &"-m", &out, &"-n", &"8", &"-t", &"0", &"-p", &"hi"]));
    assert_eq!(code, 0, "{stderr}");
    let out_json = |a: Vec<OsString>| {
        let out = Command::new(env!("CARGO_BIN_EXE_glmix")).args(a).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let model = fx.path("model.glmx");
    let r = out_json(args(&[
        &"eval",
        &"-m",
        &model,
        &"--task",
        &"copy-fixed",
        &"--n",
        &"8",
        &"--samples",
        &"3",
        &"--json",
    ]));
    assert_eq!((r["answers"].as_u64(), r["context"].as_u64()), (Some(24), Some(16)), "{r}");
    let r = out_json(args(&[
        &"eval",
        &"-m",
        &model,
        &"--text",
        &fx.path("text.txt"),
        &"--split",
        &"all",
        &"--context",
        &"64",
        &"--json",
    ]));
    assert_eq!((r["windows"].as_u64(), r["scored"].as_u64()), (Some(13), Some(13 * 64)), "{r}");
    assert!(r["bits_per_char"].as_f64().is_some_and(|b| b > 0.0), "{r}");
    let (code, stderr) = run(&args(&[
        &"import-llama2c",
        &fx.path("llama.bin"),
        &"--tokenizer",
        &fx.path("tok.bin"),
        &"-o",
        &fx.path("llama.glmx"),
        &"-q",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"));
    assert_eq!(fx.leftovers(), Vec::<String>::new());
}

#[test]
fn a_prompt_that_is_not_utf8_is_encoded_as_bytes() {
    let fx = Fixture::new("bytes");
    let a =
        args(&[&"generate", &"-m", &fx.path("model.glmx"), &"-n", &"6", &"-t", &"0", &"-p", &invalid_utf8()]);
    let out = Command::new(env!("CARGO_BIN_EXE_glmix")).args(&a).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // A byte-level model echoes the prompt bytes as they are, then continues.
    assert!(out.stdout.starts_with(b"h\xff\xfei"), "{:?}", out.stdout);
    assert_eq!(out.stdout.len(), 1 + 6 + 1, "the first byte, one per position, and the final newline");
}

#[test]
fn write_failure_removes_the_temporary_file() {
    // The library call directly: a rename onto a non-empty folder fails after the temporary file
    // was fully written; the temporary must be gone and the folder untouched.
    let fx = Fixture::new("atomic");
    let target = fx.dir.join("existing-dir.glmx");
    let err = glmix_tools::writer::write_atomically(&target, b"model bytes").unwrap_err();
    assert!(format!("{err:#}").contains("is a folder"), "{err:#}");
    assert_eq!(fx.leftovers(), Vec::<String>::new());
    assert!(target.join("inside").is_dir());
    // Replacing an existing file is atomic: the old content stays until the new one is complete.
    let file = fx.dir.join("model.glmx");
    glmix_tools::writer::write_atomically(&file, b"new").unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"new");
    assert_eq!(fx.leftovers(), Vec::<String>::new());
}

fn errors_doc() -> String {
    let fx = Fixture::new("doc");
    let mut doc = String::from(
        "# `glmix` error messages\n\n\
         What the command-line tool prints on stderr (after `error: `) for common mistakes, and its exit \
         code: 1 for errors the tool reports, 2 for command-line syntax errors (clap). Generated from \
         the cases `host-tools/tests/cli.rs` asserts: \
         `GLMIX_WRITE_ERRORS_DOC=1 cargo test -p glmix-tools --test cli` rewrites this file; \
         `cargo test` fails when it is stale. The message column is the part the test checks; the \
         tool prints the file names and the operating system's reason around it. No case panics, and a \
         failed `convert` / `import-llama2c` never leaves a partial or temporary file behind (the \
         output is written to `.NAME.tmpPID` beside it and renamed).\n\n\
         A `--prompt` that is not valid UTF-8 is not a mistake: its bytes are encoded as they are \
         (byte-level models) or as llama2.c encodes them (BPE: bytes that no piece covers become \
         the byte-fallback tokens `<0xXX>`).\n\n\
         | situation | command | message (contains) | exit code |\n|---|---|---|---|\n",
    );
    for c in cases(&fx) {
        let msg = c.message.replace('|', "\\|");
        doc.push_str(&format!("| {} | `{}` | `{}` | {} |\n", c.situation, c.command, msg, c.code));
    }
    doc
}

#[test]
fn errors_doc_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/errors.md");
    let doc = errors_doc();
    if std::env::var_os("GLMIX_WRITE_ERRORS_DOC").is_some() {
        std::fs::write(&path, &doc).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == doc,
        "docs/errors.md is stale: GLMIX_WRITE_ERRORS_DOC=1 cargo test -p glmix-tools --test cli"
    );
}
