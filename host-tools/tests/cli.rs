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
        future[4..8].copy_from_slice(&3u32.to_le_bytes());
        std::fs::write(dir.join("future.glmx"), &future).unwrap();
        std::fs::write(dir.join("truncated.glmx"), &model[..model.len() / 2]).unwrap();
        std::fs::write(dir.join("config.json"), harness::FUZZ_CONFIG).unwrap();
        std::fs::write(dir.join("bad-pattern.json"), harness::FUZZ_CONFIG.replace("pow2_lattice", "pow3"))
            .unwrap();
        let undefined = harness::FUZZ_CONFIG
            .replace(r#""dense", "form": "attention""#, r#""dense", "form": "state_space""#);
        assert_ne!(undefined, harness::FUZZ_CONFIG);
        std::fs::write(dir.join("undefined-mixer.json"), undefined).unwrap();
        let level_aware = harness::FUZZ_CONFIG.replace(
            r#""dense", "form": "attention","#,
            r#""dense", "form": "attention", "level_aware": true,"#,
        );
        assert_ne!(level_aware, harness::FUZZ_CONFIG);
        std::fs::write(dir.join("undefined-level-aware.json"), level_aware).unwrap();
        let rwkv_form = harness::FUZZ_CONFIG
            .replace(r#""dense", "form": "attention""#, r#""order", "param": 1, "form": "rwkv7""#);
        assert_ne!(rwkv_form, harness::FUZZ_CONFIG);
        std::fs::write(dir.join("rwkv7-form.json"), rwkv_form).unwrap();
        {
            use glmix_tools::rwkv::{write_ggmf, GgmfType};
            let t = |name: &str, shape: Vec<usize>| {
                let n = shape.iter().product();
                (name.to_string(), shape, GgmfType::F32, vec![0.0; n])
            };
            let v5 = [t("blocks.0.att.ln_x.weight", vec![4]), t("blocks.0.att.gate.weight", vec![4, 4])];
            std::fs::write(dir.join("rwkv-v5.2.bin"), write_ggmf(256, 4, 1, GgmfType::F32, &v5)).unwrap();
        }
        std::fs::write(dir.join("model.safetensors"), harness::fuzz_safetensors(1)).unwrap();
        std::fs::write(dir.join("missing.safetensors"), safetensors_without("norm.weight")).unwrap();
        std::fs::write(dir.join("llama.bin"), harness::llama2c_v0(1, true)).unwrap();
        std::fs::write(dir.join("tok.bin"), llama2c_tokenizer(8)).unwrap();
        std::fs::write(dir.join("a-file"), b"not a folder").unwrap();
        std::fs::create_dir_all(dir.join("existing-dir.glmx/inside")).unwrap();
        std::fs::write(dir.join("short.txt"), b"hello").unwrap();
        std::fs::write(dir.join("empty.glmx"), b"").unwrap();
        std::fs::write(
            dir.join("nan.safetensors"),
            safetensors_with_value("layers.1.mlp.w2.weight", 19, f32::NAN),
        )
        .unwrap();
        let layers: Vec<&str> = vec![
            r#"{"pattern": "dense", "form": "attention", "n_heads": 2, "n_kv_heads": 1, "head_dim": 4}"#;
            100_000
        ];
        let huge = harness::FUZZ_CONFIG.replace(r#""n_layers": 2"#, r#""n_layers": 100000"#);
        let start = huge.find(r#""layers": ["#).unwrap();
        std::fs::write(
            dir.join("100000-layers.json"),
            format!("{}\"layers\": [{}]}}", &huge[..start], layers.join(",")),
        )
        .unwrap();
        let edit = |from: &str, to: &str| {
            let edited = harness::FUZZ_CONFIG.replace(from, to);
            assert_ne!(edited, harness::FUZZ_CONFIG, "{from}");
            edited
        };
        std::fs::write(
            dir.join("window-0.json"),
            edit(r#""pattern": "dense", "form""#, r#""pattern": "window", "param": 0, "form""#),
        )
        .unwrap();
        std::fs::write(
            dir.join("dense-param.json"),
            edit(r#""pattern": "dense", "form""#, r#""pattern": "dense", "param": 4294967295, "form""#),
        )
        .unwrap();
        std::fs::write(dir.join("theta.json"), edit(r#""theta": 10000.0"#, r#""theta": -1"#)).unwrap();
        std::fs::write(dir.join("past-end.safetensors"), safetensors_moved("norm.weight", 1 << 20)).unwrap();
        std::fs::write(dir.join("overlap.safetensors"), safetensors_moved("norm.weight", -8)).unwrap();
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

/// The fuzz config's checkpoint with element `index` of tensor `name` set to `value`.
fn safetensors_with_value(name: &str, index: usize, value: f32) -> Vec<u8> {
    let mut st = harness::fuzz_safetensors(1);
    let (header_len, header) = safetensors_header(&st);
    let start = header[name]["data_offsets"][0].as_u64().unwrap() as usize;
    let at = 8 + header_len + start + 4 * index;
    st[at..at + 4].copy_from_slice(&value.to_le_bytes());
    st
}

fn safetensors_header(st: &[u8]) -> (usize, serde_json::Value) {
    let header_len = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    (header_len, serde_json::from_slice(&st[8..8 + header_len]).unwrap())
}

/// The fuzz config's checkpoint with tensor `name`'s `data_offsets` moved by `by` bytes.
fn safetensors_moved(name: &str, by: i64) -> Vec<u8> {
    let st = harness::fuzz_safetensors(1);
    let (header_len, mut header) = safetensors_header(&st);
    let offsets = header[name]["data_offsets"].as_array().unwrap().clone();
    header[name]["data_offsets"] =
        serde_json::json!(offsets.iter().map(|o| o.as_i64().unwrap() + by).collect::<Vec<_>>());
    let mut json = serde_json::to_vec(&header).unwrap();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&st[8 + header_len..]);
    out
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
    let import = |tokenizer: &str, output: OsString| {
        args(&[&"import-llama2c", &fx.path("llama.bin"), &"--tokenizer", &fx.path(tokenizer), &"-o", &output])
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
            message: "model format version 3, but this build reads versions 1 to 2; convert the model again",
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
            message: "the prompt is 11 tokens (11 bytes) but the context is 4; shorten the prompt or pass a larger --context",
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
            message: "layer 0: state_space is defined on pattern order 1 (param 1) and pow2_lattice only, rwkv7 on order 1 only, not dense 0",
            code: 1,
        },
        Case {
            situation: "config with the rwkv7 form (it comes from an rwkv.cpp file, not a config)",
            command: "glmix convert --weights model.safetensors --config rwkv7-form.json -o out.glmx",
            args: convert("model.safetensors", "rwkv7-form.json", fx.path("out.glmx"), &[]),
            message: "layer 0: the rwkv7 form comes from rwkv.cpp files (`glmix convert --weights FILE.bin` without --config, or `glmix import-rwkv`",
            code: 1,
        },
        Case {
            situation: "convert: an rwkv.cpp file with a config (the file carries its shape)",
            command: "glmix convert --weights rwkv-v5.2.bin --config config.json -o out.glmx",
            args: convert("rwkv-v5.2.bin", "config.json", fx.path("out.glmx"), &[]),
            message: "rwkv-v5.2.bin is an rwkv.cpp file, which carries its own shape: drop --config",
            code: 1,
        },
        Case {
            situation: "convert: a safetensors checkpoint without a config",
            command: "glmix convert --weights model.safetensors -o out.glmx",
            args: vec![
                "convert".into(),
                "--weights".into(),
                fx.path("model.safetensors"),
                "-o".into(),
                fx.path("out.glmx"),
            ],
            message: "model.safetensors is not an rwkv.cpp file, so it needs --config",
            code: 1,
        },
        Case {
            situation: "import-rwkv: an RWKV v5.2 file (only RWKV-7 is imported)",
            command: "glmix import-rwkv rwkv-v5.2.bin -o out.glmx",
            args: vec!["import-rwkv".into(), fx.path("rwkv-v5.2.bin"), "-o".into(), fx.path("out.glmx")],
            message: "this is an RWKV v5.2 model; glmix imports RWKV-7 (x070) files only for now",
            code: 1,
        },
        Case {
            situation: "import-rwkv: not an rwkv.cpp file",
            command: "glmix import-rwkv model.glmx -o out.glmx",
            args: vec!["import-rwkv".into(), fx.path("model.glmx"), "-o".into(), fx.path("out.glmx")],
            message: "not an rwkv.cpp model file: magic 0x584d4c47, expected 0x67676d66 (\"ggmf\")",
            code: 1,
        },
        Case {
            situation: "config asking for level-aware coefficients where they are not defined",
            command: "glmix convert --weights model.safetensors --config undefined-level-aware.json -o out.glmx",
            args: convert("model.safetensors", "undefined-level-aware.json", fx.path("out.glmx"), &[]),
            message: "layer 0: level_aware is defined for the recurrent and chained forms on every pattern but \
                      dense, not dense 0 x attention",
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
            args: import("tok.bin", "/proc/nope/x.glmx".into()),
            message: "cannot write /proc/nope/x.glmx: cannot create a temporary file in /proc/nope",
            code: 1,
        },
        Case {
            situation: "import-llama2c: tokenizer of another size",
            command: "glmix import-llama2c model.bin --tokenizer model.bin -o x.glmx",
            args: import("llama.bin", fx.path("x.glmx")),
            message: "token 1 has length 134217728 (max_token_length is 8): is this the llama2.c tokenizer.bin of this model?",
            code: 1,
        },
        Case {
            situation: "convert: the output is an input (directly, or by a symlink, hard link or `..`)",
            command: "glmix convert --weights w.safetensors --config c.json -o w.safetensors",
            args: convert("model.safetensors", "config.json", fx.path("model.safetensors"), &[]),
            message: "model.safetensors (--weights); writing the output there would destroy the input, give another -o path",
            code: 1,
        },
        Case {
            situation: "convert: the output exists and is not a regular file",
            command: "glmix convert ... -o /dev/null",
            args: convert("model.safetensors", "config.json", "/dev/null".into(), &[]),
            message: "refusing to write /dev/null: it exists and is a character device, not a regular file; glmix only creates new files or replaces regular ones",
            code: 1,
        },
        Case {
            situation: "convert: NaN or infinite weights",
            command: "glmix convert --weights nan.safetensors --config config.json -o out.glmx",
            args: convert("nan.safetensors", "config.json", fx.path("out.glmx"), &[]),
            message: "tensor layers.1.mlp.w2.weight holds NaN at index [1, 3]; non-finite weights make the model print garbage (pass --allow-nonfinite to convert it anyway)",
            code: 1,
        },
        Case {
            situation: "convert: more layers than a model file holds",
            command: "glmix convert ... --config 100000-layers.json",
            args: convert("model.safetensors", "100000-layers.json", fx.path("out.glmx"), &[]),
            message: "n_layers is 100000, but a model file holds at most 64 layers",
            code: 1,
        },
        Case {
            situation: "convert: a pattern parameter out of range",
            command: "glmix convert ... --config dense-param.json",
            args: convert("model.safetensors", "dense-param.json", fx.path("out.glmx"), &[]),
            message: "layer 0: param 4294967295 of pattern dense is not in 0..=16777216",
            code: 1,
        },
        Case {
            situation: "convert: a window of width 0",
            command: "glmix convert ... --config window-0.json",
            args: convert("model.safetensors", "window-0.json", fx.path("out.glmx"), &[]),
            message: "layer 0: pattern window needs param >= 1 (the width), got 0",
            code: 1,
        },
        Case {
            situation: "convert: a negative RoPE base",
            command: "glmix convert ... --config theta.json",
            args: convert("model.safetensors", "theta.json", fx.path("out.glmx"), &[]),
            message: "positional.theta is -1; it must be a positive finite number",
            code: 1,
        },
        Case {
            situation: "convert: safetensors offsets past the end of the file",
            command: "glmix convert --weights past-end.safetensors ...",
            args: convert("past-end.safetensors", "config.json", fx.path("out.glmx"), &[]),
            message: "tensor norm.weight's data_offsets",
            code: 1,
        },
        Case {
            situation: "convert: safetensors tensors that overlap",
            command: "glmix convert --weights overlap.safetensors ...",
            args: convert("overlap.safetensors", "config.json", fx.path("out.glmx"), &[]),
            message: "overlap in the file (their data_offsets share bytes)",
            code: 1,
        },
        Case {
            situation: "a device where a model file is expected",
            command: "glmix generate -m /dev/zero",
            args: args(&[&"generate", &"-m", &"/dev/zero"]),
            message: "cannot read /dev/zero: it is a character device, not a regular file; glmix reads its inputs from regular files only",
            code: 1,
        },
        Case {
            situation: "an empty model file",
            command: "glmix generate -m empty.glmx",
            args: args(&[&"generate", &"-m", &fx.path("empty.glmx")]),
            message: "empty.glmx is empty, not a glmix model file",
            code: 1,
        },
        Case {
            situation: "a file that is not a model file",
            command: "glmix inspect config.json",
            args: args(&[&"inspect", &fx.path("config.json")]),
            message: "config.json is not a glmix model file (it does not start with \"GLMX\")",
            code: 1,
        },
        Case {
            situation: "`inspect --context 0`",
            command: "glmix inspect model.glmx --context 0",
            args: args(&[&"inspect", &model, &"--context", &"0"]),
            message: "--context must be at least 1",
            code: 1,
        },
        Case {
            situation: "a state larger than the memory available",
            command: "glmix generate -m model.glmx --context 4294967295",
            args: gen(&[&"--context", &"4294967295"]),
            message: "the state for a context of 4294967295 tokens (--context) needs 1133871368120 bytes (1.0 TiB, the memory planner's figure), more than",
            code: 1,
        },
        Case {
            situation: "`-n` (the default context) beyond `--max-memory`",
            command: "glmix generate -m model.glmx -n 2000000 --max-memory 100M",
            args: gen(&[&"-n", &"2000000", &"--max-memory", &"100M"]),
            message: "(-n, the default context) needs 528002240 bytes (503.5 MiB, the memory planner's figure), more than --max-memory 100.0 MiB; use --context 397179 or less (the largest context within the limit), or raise --max-memory; this model's mixers keep O(n) state",
            code: 1,
        },
        Case {
            situation: "`--max-memory` that is not a size",
            command: "glmix generate -m model.glmx --max-memory lots",
            args: gen(&[&"--max-memory", &"lots"]),
            message: "invalid value 'lots' for '--max-memory <SIZE>'",
            code: 2,
        },
        Case {
            situation: "a temperature that is NaN, infinite or negative",
            command: "glmix generate -m model.glmx --temperature=nan",
            args: args(&[&"generate", &"-m", &model, &"--temperature=nan"]),
            message: "invalid value 'nan' for '--temperature <TEMPERATURE>': the temperature must be a finite number >= 0 (0 is greedy), not nan",
            code: 2,
        },
        Case {
            situation: "a top-p outside [0, 1]",
            command: "glmix generate -m model.glmx --top-p=2",
            args: gen(&[&"--top-p=2"]),
            message: "invalid value '2' for '--top-p <TOP_P>': top-p must be a number in [0, 1] (0 or 1 turns it off), not 2",
            code: 2,
        },
        Case {
            situation: "both `--prompt` and `--prompt-file`",
            command: "glmix generate -m model.glmx -p hi --prompt-file short.txt",
            args: gen(&[&"-p", &"hi", &"--prompt-file", &fx.path("short.txt")]),
            message: "give the prompt either with --prompt or with --prompt-file, not both",
            code: 1,
        },
        Case {
            situation: "eval: a device as the text",
            command: "glmix eval -m model.glmx --text /dev/zero",
            args: eval(&[&"--text", &"/dev/zero"]),
            message: "cannot read /dev/zero: it is a character device, not a regular file",
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
         Promises, each checked by a test of `host-tools/tests/hostile.rs` (one per row of issue 15):\n\n\
         * **Files are sacred.** An output path that is, or resolves to (symlink, hard link, `..`: \
         compared by device and inode), an input of the command, or that exists and is not a regular \
         file (a folder, `/dev/null`, a FIFO), is refused before anything is read or written. The \
         temporary `.NAME.tmpPID` is removed on every error, on SIGINT, SIGTERM and SIGHUP (the process \
         then dies of the signal as usual); one left by SIGKILL is removed by the next write to the same \
         destination (only if its process is gone and it is empty or starts with `GLMX`).\n\
         * **Bounded resources.** The state a context needs is the memory planner's figure, checked \
         before allocating against `--max-memory` (default: the memory available) and refused with the \
         figure and the largest context that fits. Model files are read only from regular files and only \
         to the length their header declares; texts and prompt files only from regular files, within a \
         bound. A prompt that cannot fit the context is refused by its length, before it is encoded.\n\
         * **Warnings, not silence.** `generate` past the model's trained context warns once on stderr \
         (attention and the other exact-position mixers degrade there); a run cut short by a full \
         context says so.\n\n\
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
