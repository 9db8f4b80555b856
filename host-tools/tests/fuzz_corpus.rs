//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) and the generated seeds through the
//! same code the libFuzzer targets run (`fuzz/src/lib.rs`), on stable Rust, on every `cargo test`.
//!
//! `GLMIX_WRITE_SEEDS=1 cargo test -p glmix-tools --test fuzz_corpus write_seeds -- --ignored`
//! rewrites the seed files (`seed-*`) of the committed corpus.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
fn seeds_run_clean() {
    for (target, name, bytes) in harness::seeds() {
        eprintln!("{target}/{name} ({} bytes)", bytes.len());
        harness::run(target, &bytes);
    }
}

#[test]
fn seeds_are_accepted_inputs() {
    // The seeds are valid files: they must get past the importers and the parser, so the fuzzer
    // starts from deep inside the code.
    let model = harness::seeds().into_iter().find(|s| s.0 == "parse_model").unwrap().2;
    let aligned = glmix_tools::writer::AlignedBytes::new(&model[1..]);
    glmix::Model::parse(aligned.as_bytes()).unwrap();
    let cfg: glmix_tools::config::ModelConfig = serde_json::from_str(harness::FUZZ_CONFIG).unwrap();
    let st = harness::fuzz_safetensors(1);
    glmix_tools::convert::convert_bytes(&st, "seed", &cfg, None, glmix::DType::Q8_0, |_, _, _| {}).unwrap();
    for v in [harness::llama2c_v0(1, true), harness::llama2c_v0(2, false), harness::llama2c_v2(3)] {
        glmix_tools::llama2c::read_checkpoint_bytes(&v, Path::new("seed")).unwrap();
    }
    for (target, name, bytes) in harness::seeds() {
        if target == "import_rwkv" {
            let file = glmix_tools::rwkv::read_ggmf(&bytes).unwrap();
            glmix_tools::rwkv::Rwkv7Checkpoint::from_ggmf(&file, None)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn committed_corpus_replays_without_panics() {
    let root = corpus_dir();
    let mut total = 0;
    for target in harness::TARGETS {
        let dir = root.join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            panic!("{} is missing: the committed fuzz corpus has a folder per target", dir.display());
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        files.sort();
        assert!(
            files.len() <= 64,
            "{}: {} files; minimize with `cargo fuzz cmin`",
            dir.display(),
            files.len()
        );
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| harness::run(target, &bytes));
            assert!(
                outcome.is_ok(),
                "{} panicked (replay: cargo +nightly fuzz run {target} {})",
                file.display(),
                file.display()
            );
            total += 1;
        }
    }
    eprintln!("replayed {total} corpus files");
}

#[test]
#[ignore = "writes files; run with GLMIX_WRITE_SEEDS=1 to refresh the seed corpus"]
fn write_seeds() {
    if std::env::var_os("GLMIX_WRITE_SEEDS").is_none() {
        return;
    }
    for (target, name, bytes) in harness::seeds() {
        let dir = corpus_dir().join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
