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

/// The decode target's header-corruption and huge-context modes, on every header byte and a ladder
/// of contexts up to `u32::MAX`.
#[test]
fn decode_refuses_damaged_headers_and_plans_huge_contexts() {
    for at in 0..128u8 {
        for bits in [0x01, 0x80, 0xFF] {
            harness::decode(&[0xFD, at, bits]);
        }
    }
    harness::decode(&[0xFD, 44, 0]); // no flip: parses
    for context in [1u32, 65, 4096, 1 << 20, 1 << 31, u32::MAX] {
        let [a, b, c, d] = context.to_le_bytes();
        harness::decode(&[0xFC, a, b, c, d]);
    }
}

/// Snapshots resealed after an edit (so that only the field checks can refuse them) whose context
/// is huge, or whose model checksum is another model's (a damaged model header), are refused and
/// leave the session as it was, and so are positions the session could never reach. The same inputs also run
/// through the snapshot target.
#[test]
fn snapshots_with_huge_contexts_positions_or_other_models_are_refused() {
    use glmix::{Model, Session, SnapshotError};
    let model = Model::parse(harness::snapshot_model().as_bytes()).unwrap();
    let mut state = vec![0f32; glmix::plan::Plan::new(&model, 9).total_words()];
    let mut session = Session::new(&model, 9, &mut state).unwrap();
    for t in [1, 2, 3, 4] {
        session.step(t).unwrap();
    }
    let mut good = vec![0u8; session.snapshot_len()];
    session.save(&mut good).unwrap();
    // Snapshot header words: magic, version, model checksum (8..12), context (12..16), position (16..20).
    for (at, bits) in [(15usize, 0x80u8), (14, 0xFF), (8, 0x01), (11, 0x80)] {
        let mut snap = good.clone();
        snap[at] ^= bits;
        harness::reseal_snapshot(&mut snap);
        let err = session.restore(&snap).expect_err(&format!("byte {at} ^ {bits:#x} accepted"));
        let expected = match at {
            8..=11 => matches!(err, SnapshotError::WrongModel { .. }),
            _ => matches!(err, SnapshotError::WrongContext { .. }),
        };
        assert!(expected, "byte {at} ^ {bits:#x}: {err:?}");
        assert_eq!(session.position(), 4);
        harness::snapshot(&[8, 5, 4, at as u8, 0, bits]);
    }
    // A huge position is one this session (context 9, a dense layer) never reaches: refused, the
    // session unchanged.
    for (at, bits) in [(19usize, 0x80u8), (18, 0xFF), (16, 0x08)] {
        let mut snap = good.clone();
        snap[at] ^= bits;
        harness::reseal_snapshot(&mut snap);
        let err = session.restore(&snap).expect_err(&format!("byte {at} ^ {bits:#x} accepted"));
        assert!(matches!(err, SnapshotError::UnreachablePosition { .. }), "{err:?}");
        assert_eq!(session.position(), 4);
        harness::snapshot(&[8, 5, 4, at as u8, 0, bits]);
    }
    // The last position it reaches is restored: position 4 ^ 0x0D = 9 (the context is full).
    let mut snap = good.clone();
    snap[16] ^= 0x0D;
    harness::reseal_snapshot(&mut snap);
    session.restore(&snap).unwrap();
    assert_eq!(session.position(), 9);
    let err = session.step(1).map(|_| ()).unwrap_err();
    assert!(matches!(err, glmix::SessionError::ContextOverflow { .. }), "{err:?}");
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
