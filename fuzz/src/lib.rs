//! What each fuzz target does with its input, shared by the libFuzzer targets (`fuzz/fuzz_targets/`,
//! nightly) and the stable regression test (`host-tools/tests/fuzz_corpus.rs`, which includes this
//! file with `#[path]`), so the committed corpus replays through exactly the same code on every
//! `cargo test`.
//!
//! Every function accepts any bytes. A rejected input is fine; a panic is a bug. Some functions also
//! `assert!` invariants the rest of the tool relies on (a model the importer accepts must parse; a
//! decoded text must equal the encoded one), so a fuzzer finding a broken invariant reports a crash.
//!
//! [`seeds`] builds the seed corpus: small valid files from the random-model generator and the
//! tokenizer.

use std::path::Path;
use std::sync::OnceLock;

use glmix::format::{HEADER_LEN, MAX_LAYERS};
use glmix::plan::Plan;
use glmix::tokenizer::{BpeVocab, Tokenizer};
use glmix::{DType, Model, Session};
use glmix_tools::config::ModelConfig;
use glmix_tools::random::{random_model, RandomLayer, RandomSpec, Rng};
use glmix_tools::vocab::Vocab;
use glmix_tools::writer::{AlignedBytes, ModelFile};

/// The fuzz targets, by name (also the folder names under `fuzz/corpus/`).
pub const TARGETS: [&str; 7] =
    ["parse_model", "tokenizer", "import_safetensors", "import_llama2c", "decode", "snapshot", "import_rwkv"];

/// Runs target `name` on `data` (panics for an unknown name).
pub fn run(name: &str, data: &[u8]) {
    match name {
        "parse_model" => parse_model(data),
        "tokenizer" => tokenizer(data),
        "import_safetensors" => import_safetensors(data),
        "import_llama2c" => import_llama2c(data),
        "decode" => decode(data),
        "snapshot" => snapshot(data),
        "import_rwkv" => import_rwkv(data),
        _ => panic!("unknown fuzz target {name}"),
    }
}

/// Quantizations the importers are driven with, picked by the input length.
const QUANTS: [DType; 5] = [DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0];

/// Largest state (f32 words) a fuzz run allocates for a session.
const MAX_STATE_WORDS: usize = 1 << 22;

// ---------------------------------------------------------------------------------------------
// parse_model

/// `data[0]` is a flag byte: bit 0 set means "fix up `file_len` and the CRC" so that the fuzzer gets
/// past the checksum and exercises the table checks; the rest is the file.
pub fn parse_model(data: &[u8]) {
    let Some((&flags, file)) = data.split_first() else { return };
    let mut file = file.to_vec();
    if flags & 1 != 0 && file.len() >= HEADER_LEN {
        reseal(&mut file);
    }
    let aligned = AlignedBytes::new(&file);
    let Ok(model) = Model::parse(aligned.as_bytes()) else { return };
    exercise_model(&model, data);
}

/// Rewrites `file_len` and the checksum of a model file after an edit.
pub fn reseal(file: &mut [u8]) {
    let len = u32::try_from(file.len()).unwrap_or(u32::MAX);
    file[8..12].copy_from_slice(&len.to_le_bytes());
    let version = u32::from_le_bytes([file[4], file[5], file[6], file[7]]);
    let crc = glmix::format::model_crc(file, version);
    file[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// A parsed model must run: a few steps with token ids taken from `ids`, a reset, and a tokenizer
/// round trip. Nothing here may panic, and the logits of a finite model must be finite.
fn exercise_model(model: &Model<'_>, ids: &[u8]) {
    let vocab = model.config().vocab_size as u32;
    if let Some(tok) = model.tokenizer() {
        let text = &ids[..ids.len().min(64)];
        let mut out = vec![0u32; text.len() + 3];
        if let Ok(n) = tok.encode(text, true, true, &mut out) {
            let mut prev = out.first().copied().unwrap_or(0);
            for &id in &out[..n] {
                assert!(id < tok.vocab_size(), "encode produced id {id} >= {}", tok.vocab_size());
                let _ = tok.decode(prev, id).printable();
                prev = id;
            }
        }
    }
    let context = 6;
    let plan = Plan::new(model, context);
    if plan.total_words() > MAX_STATE_WORDS {
        return;
    }
    let mut state = vec![0f32; plan.total_words()];
    let mut session = Session::with_plan(model, plan, &mut state).expect("the plan's size is enough");
    for (i, chunk) in ids.chunks(2).take(8).enumerate() {
        if i == 5 {
            session.reset();
        }
        let raw = u32::from(chunk[0]) | u32::from(*chunk.get(1).unwrap_or(&0)) << 8;
        // Mostly in range, sometimes just past the end.
        let token = raw % (vocab + 2);
        match session.step(token) {
            Ok(_) => assert!(token < vocab),
            Err(_) => assert!(token >= vocab || session.position() >= context),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tokenizer

/// Owned tables of a BPE vocabulary, laid out as the model file holds them.
pub struct VocabTables {
    scores: Vec<f32>,
    offsets: Vec<u32>,
    sorted: Vec<u32>,
    pieces: Vec<u8>,
    max_token_len: u32,
}

impl VocabTables {
    /// The tables of `vocab`.
    pub fn new(vocab: &Vocab) -> Self {
        let mut offsets = vec![0u32];
        let mut pieces = Vec::new();
        for (piece, _) in &vocab.tokens {
            pieces.extend_from_slice(piece);
            offsets.push(pieces.len() as u32);
        }
        let mut sorted: Vec<u32> = (0..vocab.tokens.len() as u32).collect();
        sorted.sort_by(|&a, &b| vocab.tokens[a as usize].0.cmp(&vocab.tokens[b as usize].0).then(a.cmp(&b)));
        VocabTables {
            scores: vocab.tokens.iter().map(|t| t.1).collect(),
            offsets,
            sorted,
            pieces,
            max_token_len: vocab.max_token_len,
        }
    }

    /// The validated tokenizer over these tables.
    pub fn tokenizer(&self) -> Tokenizer<'_> {
        let v =
            BpeVocab::new(&self.scores, &self.offsets, &self.sorted, &self.pieces, self.max_token_len, 1, 2)
                .expect("a valid vocabulary");
        Tokenizer::Bpe(v)
    }
}

/// A llama2.c-style vocabulary: `<unk>`, BOS, EOS, the 256 byte pieces `<0xXX>`, the printable ASCII
/// characters and every `extra` piece, scored so that longer pieces merge first.
pub fn generated_vocab(extra: &[&str]) -> Vocab {
    let mut tokens: Vec<(Vec<u8>, f32)> =
        vec![(b"<unk>".to_vec(), 0.0), (b"\n<s>\n".to_vec(), 0.0), (b"\n</s>\n".to_vec(), 0.0)];
    tokens.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>").into_bytes(), 0.0)));
    let mut score = -1.0;
    for c in b' '..=b'~' {
        tokens.push((vec![c], score));
        score -= 1.0;
    }
    for piece in extra {
        tokens.push((piece.as_bytes().to_vec(), piece.len() as f32 - 1000.0 / (1.0 + tokens.len() as f32)));
    }
    let max_token_len = tokens.iter().map(|t| t.0.len()).max().unwrap_or(1) as u32;
    Vocab { tokens, max_token_len }
}

/// Where the shared test data lives: `$GLMIX_SHARED_DATA`, or `../shared/data` beside the checkout.
pub fn shared_data() -> std::path::PathBuf {
    std::env::var_os("GLMIX_SHARED_DATA").map(std::path::PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").join("shared").join("data")
    })
}

/// stories260K's `tok512.bin` if the shared data is present, else [`generated_vocab`].
pub fn fuzz_vocab() -> &'static VocabTables {
    static TABLES: OnceLock<VocabTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let path = shared_data().join("llama2c_stories260K").join("tok512.bin");
        let vocab = Vocab::read_llama2c(&path, 512).unwrap_or_else(|_| {
            generated_vocab(&[
                "he", "the", " the", "ll", "llo", "hello", " a", "an", "and", " and", "é", "日本",
            ])
        });
        VocabTables::new(&vocab)
    })
}

/// Encodes `data` with BOS (and EOS when `data[0]` is odd), checks every id is in range, decodes
/// every id, and checks the round trip: the decoded pieces after BOS are the text again.
pub fn tokenizer(data: &[u8]) {
    let tok = fuzz_vocab().tokenizer();
    let mut out = vec![0u32; data.len() + 3];
    let eos = data.first().is_some_and(|b| b & 1 == 1);
    let n = tok.encode(data, true, eos, &mut out).expect("text.len() + 3 slots always suffice");
    let ids = &out[..n];
    let body = if eos { &ids[..n - 1] } else { ids };
    let mut text = Vec::new();
    for w in body.windows(2) {
        assert!(w[1] < tok.vocab_size());
        text.extend_from_slice(tok.decode(w[0], w[1]).as_bytes());
        let _ = tok.decode(w[0], w[1]).printable();
    }
    assert_eq!(text, data, "decode(encode(text)) != text; ids {ids:?}");
    // Every id decodes after every kind of predecessor, and ids past the end decode to nothing.
    for id in ids.iter().copied().chain([tok.vocab_size(), u32::MAX]) {
        let _ = tok.decode(1, id);
        let _ = tok.decode(id, 1);
    }
    // A buffer that is too small is an error, not a panic.
    let _ = tok.encode(data, true, true, &mut out[..data.len() / 2]);
    let _ = Tokenizer::Bytes.encode(data, true, true, &mut out);
}

// ---------------------------------------------------------------------------------------------
// import_safetensors

/// The fixed config the safetensors target converts against: 2 layers (attention with grouped
/// queries, then a chained pow2-lattice mixer), dim 8, byte tokenizer.
pub const FUZZ_CONFIG: &str = r#"{
  "glmix_config": 1, "vocab_size": 256, "dim": 8, "hidden_dim": 16, "n_layers": 2, "max_context": 64,
  "tied_embeddings": true, "norm": {"kind": "rmsnorm", "eps": 1e-5},
  "positional": {"kind": "rope_interleaved", "theta": 10000.0}, "mlp": "swiglu",
  "tokenizer": {"kind": "bytes"},
  "layers": [
    {"pattern": "dense", "form": "attention", "n_heads": 2, "n_kv_heads": 1, "head_dim": 4},
    {"pattern": "pow2_lattice", "form": "chained", "n_heads": 2, "n_kv_heads": 2, "head_dim": 4}
  ]
}"#;

fn fuzz_config() -> &'static ModelConfig {
    static CONFIG: OnceLock<ModelConfig> = OnceLock::new();
    CONFIG.get_or_init(|| serde_json::from_str(FUZZ_CONFIG).expect("FUZZ_CONFIG is valid"))
}

/// `data` as a safetensors checkpoint for [`FUZZ_CONFIG`]. If the converter accepts it, the model it
/// builds must lay out, parse and run.
pub fn import_safetensors(data: &[u8]) {
    let quant = QUANTS[data.len() % QUANTS.len()];
    let result = glmix_tools::convert::convert_bytes(
        data,
        "fuzz.safetensors",
        fuzz_config(),
        None,
        quant,
        |_, _, _| {},
    );
    if let Ok((file, _)) = result {
        check_written(&file, data);
    }
}

/// A model an importer accepted: it must lay out, pass the runtime's parser and run.
fn check_written(file: &ModelFile, ids: &[u8]) {
    let bytes = file.to_bytes().expect("an accepted model lays out");
    let aligned = AlignedBytes::new(&bytes);
    match Model::parse(aligned.as_bytes()) {
        Ok(model) => exercise_model(&model, ids),
        Err(e) => panic!("the importer accepted a model the runtime rejects: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// import_llama2c

/// `data` as a llama2.c checkpoint (v0 or v2), imported with a generated vocabulary of its size.
pub fn import_llama2c(data: &[u8]) {
    let Ok((cfg, raw)) = glmix_tools::llama2c::read_checkpoint_bytes(data, Path::new("fuzz.bin")) else {
        return;
    };
    let mut tokens: Vec<(Vec<u8>, f32)> =
        (0..cfg.vocab_size).map(|i| (format!("t{i}").into_bytes(), 0.0)).collect();
    for (i, t) in tokens.iter_mut().enumerate().take(3) {
        t.0 = ["<unk>", "\n<s>\n", "\n</s>\n"][i].as_bytes().to_vec();
    }
    let max_token_len = tokens.iter().map(|t| t.0.len()).max().unwrap_or(1) as u32;
    let vocab = Vocab { tokens, max_token_len };
    let quant = QUANTS[data.len() % QUANTS.len()];
    if let Ok((file, _)) = glmix_tools::llama2c::import_parts(&cfg, &raw, &vocab, quant, |_, _, _| {}) {
        assert!(file.layers.len() <= MAX_LAYERS);
        check_written(&file, data);
    }
}

// ---------------------------------------------------------------------------------------------
// decode

/// The model the decode target runs: byte-level, one layer of each kind of mixer, q8_0.
pub fn decode_model() -> &'static AlignedBytes {
    static MODEL: OnceLock<AlignedBytes> = OnceLock::new();
    MODEL.get_or_init(|| mixers_model(DType::Q8_0))
}

/// [`decode_model`] in f32, for the snapshot target: a q8_0 matvec quantizes its input and maps NaN
/// to 0, which would hide a damaged cache; in f32 a NaN reaches the logits.
pub fn snapshot_model() -> &'static AlignedBytes {
    static MODEL: OnceLock<AlignedBytes> = OnceLock::new();
    MODEL.get_or_init(|| mixers_model(DType::F32))
}

/// [`decode_model`], parsed once (parsing checks the file's CRC: per input, that was a fifth of a run).
fn parsed_decode_model() -> &'static Model<'static> {
    static MODEL: OnceLock<Model<'static>> = OnceLock::new();
    MODEL.get_or_init(|| Model::parse(decode_model().as_bytes()).expect("the decode model parses"))
}

/// [`snapshot_model`], parsed once.
fn parsed_snapshot_model() -> &'static Model<'static> {
    static MODEL: OnceLock<Model<'static>> = OnceLock::new();
    MODEL.get_or_init(|| Model::parse(snapshot_model().as_bytes()).expect("the snapshot model parses"))
}

/// Most tokens one `decode` input steps through (the work of one input is bounded so that the
/// target runs thousands of inputs per second; deep positions are reached by seeking, `0xFD`).
pub const DECODE_MAX_STEPS: usize = 6;
/// Most tokens one `snapshot` input steps before saving (deeper positions are sought).
pub const SNAPSHOT_MAX_STEPS: usize = 2;

fn mixers_model(dtype: DType) -> AlignedBytes {
    {
        let l = |pattern, param, form, n_heads, n_kv_heads| RandomLayer {
            pattern,
            param,
            form,
            n_heads,
            n_kv_heads,
        };
        let mut spec = RandomSpec::small(vec![
            l(0, 0, 0, 2, 1), // dense attention, grouped queries
            l(1, 3, 1, 2, 2), // window 3, recurrent
            l(4, 0, 2, 2, 2), // pow2 lattice, chained
            l(2, 1, 3, 2, 2), // order 1, state space
            l(6, 0, 1, 2, 2), // sq1 lattice, recurrent
            l(3, 0, 0, 2, 2), // pow2, attention
            l(4, 2, 3, 2, 2), // pow2 lattice cap 2, state space (log-linear)
        ]);
        // Small, so a step costs little: the target is the control flow, not the arithmetic (under
        // libFuzzer's comparison tracing, the matvec rows are most of a run's time).
        spec.dim = 4;
        spec.head_dim = 2;
        spec.hidden_dim = 8;
        spec.vocab_size = 32;
        spec.dtype = dtype;
        AlignedBytes::new(&random_model(&spec, 11).expect("valid spec").to_bytes().expect("lays out"))
    }
}

/// `data[0]` picks the context (1..=64); then each byte `b` is the token `b % (vocab + 1)` (the last
/// one out of range, which must be refused with `TokenOutOfRange`), except `0xFF` (reset), `0xFE` (the
/// next byte's token repeated as a run of 16, cut at the step bound) and `0xFD` (seek to the position in the next byte,
/// [`Session::seek_for_benchmarks`], to reach deep positions without stepping through them). At most
/// [`DECODE_MAX_STEPS`] tokens are stepped. Steps and seeks past the context must be refused with
/// `ContextOverflow` (the model has a dense layer, so every position from the context on is refused);
/// logits must stay finite.
///
/// Two other modes, by `data[0]`: `0xFD, at, bits` flips `bits` in header byte `at % 128` of the
/// model, which the parser must refuse (the checksum covers the header; CRC-32 catches every burst of
/// up to 32 bits); `0xFC` followed by a u32 plans that context, however huge, and checks that a
/// buffer one word short of the plan is refused, with nothing allocated.
pub fn decode(data: &[u8]) {
    if let [0xFD, at, bits, ..] = *data {
        let mut bytes = decode_model().as_bytes().to_vec();
        bytes[usize::from(at) % HEADER_LEN] ^= bits;
        let aligned = AlignedBytes::new(&bytes);
        assert_eq!(Model::parse(aligned.as_bytes()).is_ok(), bits == 0, "header byte {at} ^ {bits:#x}");
        return;
    }
    let model = parsed_decode_model();
    if let [0xFC, a, b, c, d, ..] = *data {
        let context = u32::from_le_bytes([a, b, c, d]).max(1);
        let words = Plan::new(model, context).total_words();
        let mut small = [0f32; 64];
        let have = words.saturating_sub(1).min(small.len());
        match Session::new(model, context, &mut small[..have]) {
            Err(glmix::SessionError::StateTooSmall { needed, .. }) => assert_eq!(needed, words),
            other => panic!("a buffer of {have} words for a plan of {words}: {:?}", other.err()),
        }
        return;
    }
    let Some((&first, ops)) = data.split_first() else { return };
    let context = u32::from(first % 64) + 1;
    let plan = Plan::new(model, context);
    let mut state = vec![0f32; plan.total_words()];
    let mut session = Session::with_plan(model, plan, &mut state).expect("planned size");
    let vocab = model.config().vocab_size as u32;
    let token_of = |b: u8| u32::from(b) % (vocab + 1);
    let mut i = 0;
    let mut steps = 0;
    while i < ops.len() && steps < DECODE_MAX_STEPS {
        let (token, repeat) = match ops[i] {
            0xFF => {
                session.reset();
                i += 1;
                continue;
            }
            0xFD => {
                let pos = u32::from(*ops.get(i + 1).unwrap_or(&0));
                match session.seek_for_benchmarks(pos) {
                    Ok(()) => assert!(pos < context, "seek to {pos} past a context of {context}"),
                    Err(glmix::SessionError::ContextOverflow { position, .. }) => {
                        assert_eq!(position, pos);
                        assert!(pos >= context, "seek to {pos} refused inside a context of {context}");
                    }
                    Err(e) => panic!("unexpected error seeking to {pos}: {e}"),
                }
                i += 2;
                continue;
            }
            0xFE => (token_of(*ops.get(i + 1).unwrap_or(&0)), 16),
            b => (token_of(b), 1),
        };
        i += if repeat > 1 { 2 } else { 1 };
        // A run counts against the bound too (16 steps would be most of an input's work).
        for _ in 0..repeat.min(DECODE_MAX_STEPS - steps) {
            steps += 1;
            let pos = session.position();
            match session.step(token) {
                Ok(logits) => {
                    assert!(logits.iter().all(|v| v.is_finite()), "non-finite logits at position {pos}");
                }
                Err(glmix::SessionError::ContextOverflow { position, .. }) => {
                    assert_eq!(position, pos);
                    assert!(pos >= context, "overflow at {pos} inside a context of {context}");
                }
                Err(glmix::SessionError::TokenOutOfRange { .. }) => assert!(token >= vocab),
                Err(e) => panic!("unexpected error at position {pos}: {e}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// snapshot

/// `Session::restore` on arbitrary bytes and on damaged valid snapshots, over [`snapshot_model`].
///
/// `data[0]` picks the context (1..=64) and `data[1]` the mode:
/// * bit 0 clear: the rest of `data` is the snapshot, restored as it is;
/// * bit 0 set: a valid snapshot is taken at position `data[2]` (at most the context; the last
///   [`SNAPSHOT_MAX_STEPS`] positions stepped with bytes of `data`, the rest sought), then the rest of
///   `data` is edits, 3 bytes each: a `u16` offset (modulo the snapshot length) and a byte XORed
///   there; bit 1 also drops the last byte, bit 2 reseals the checksum so the edit gets past it.
///
/// A rejected restore must leave the session as it was. An accepted one must then decode: steps in
/// the context give logits (finite, unless the edit was resealed: then anything but a panic goes),
/// steps past it are refused with `ContextOverflow`. An unedited snapshot must be accepted.
pub fn snapshot(data: &[u8]) {
    let model = parsed_snapshot_model();
    let [first, mode, rest @ ..] = data else { return };
    let context = u32::from(first % 64) + 1;
    let plan = Plan::new(model, context);
    let mut state = vec![0f32; plan.total_words()];
    let mut session = Session::with_plan(model, plan, &mut state).expect("planned size");
    let vocab = model.config().vocab_size as u32;
    let (bytes, trusted, edited) = if mode & 1 == 0 {
        (rest.to_vec(), false, true)
    } else {
        let (taken, edits) = rest.split_first().map_or((0, &[][..]), |(n, e)| (usize::from(*n), e));
        advance(&mut session, taken.min(context as usize), data, vocab);
        let mut snap = vec![0u8; session.snapshot_len()];
        session.save(&mut snap).expect("snapshot_len bytes suffice");
        for e in edits.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([e[0], e[1]])) % snap.len();
            snap[at] ^= e[2];
        }
        if mode & 2 != 0 {
            snap.pop();
        }
        let reseal = mode & 4 != 0;
        if reseal {
            reseal_snapshot(&mut snap);
        }
        let edited = mode & 2 != 0 || edits.chunks_exact(3).any(|e| e[2] != 0);
        (snap, !reseal, edited)
    };
    let before = session.position();
    if let Err(e) = session.restore(&bytes) {
        assert!(edited, "an unedited snapshot was rejected: {e:?}");
        assert_eq!(session.position(), before, "a rejected restore changed the position");
        return;
    }
    for token in [0, vocab - 1] {
        let pos = session.position();
        match session.step(token) {
            Ok(logits) => {
                let finite = logits.iter().all(|v| v.is_finite());
                assert!(finite || !trusted, "non-finite logits at position {pos} after a restore");
            }
            Err(glmix::SessionError::ContextOverflow { position, .. }) => {
                assert_eq!(position, pos);
                assert!(!trusted || pos >= context, "overflow at {pos} inside a context of {context}");
                return;
            }
            Err(e) => panic!("unexpected error at position {pos}: {e}"),
        }
    }
}

/// Takes a fresh session to position `taken` (inside its context): seeks to `taken -`
/// [`SNAPSHOT_MAX_STEPS`], then steps the rest with tokens from the bytes of `data`.
fn advance(session: &mut Session<'_, '_>, taken: usize, data: &[u8], vocab: u32) {
    let stepped = taken.min(SNAPSHOT_MAX_STEPS);
    if taken > stepped {
        session.seek_for_benchmarks((taken - stepped) as u32).expect("inside the context");
    }
    for &t in data.iter().cycle().take(stepped) {
        session.step(u32::from(t) % vocab).expect("inside the context");
    }
}

/// Rewrites a snapshot's checksum after an edit (a no-op on bytes too short to have one).
pub fn reseal_snapshot(snap: &mut [u8]) {
    let at = glmix::snapshot::SNAPSHOT_CRC_OFFSET;
    if snap.len() < at + 4 {
        return;
    }
    let crc = glmix::format::crc32_update(glmix::format::crc32(&snap[..at]), &snap[at + 4..]);
    snap[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

// ---------------------------------------------------------------------------------------------
// import_rwkv

/// `data` as an rwkv.cpp model file; the matrices kept, or re-encoded as q8_0 or q4_0 (by the input
/// length). A checkpoint the importer accepts must pass the runtime's check and run: a few steps with
/// token ids from the input's last bytes (sometimes out of range), with a reset. The same file through
/// `glmix import-rwkv`'s path (`import_ggmf`, the model file, `Model::parse`, `Session`) must be
/// accepted too and, where both re-encode the matrices the same way (q8_0, q4_0, or an all-FP32
/// file), give the same logits bit for bit.
pub fn import_rwkv(data: &[u8]) {
    use glmix::rwkv7::{Rwkv7, Rwkv7Session};
    use glmix_tools::rwkv::{import_ggmf, read_ggmf, GgmfType, Rwkv7Checkpoint};
    let Ok(file) = read_ggmf(data) else { return };
    let _ = file.arch().to_string();
    let quant = [None, Some(DType::Q8_0), Some(DType::Q4_0)][data.len() % 3];
    let Ok((ck, _)) = Rwkv7Checkpoint::from_ggmf(&file, quant) else { return };
    let all_f32 = file.tensors.iter().all(|t| t.dtype == GgmfType::F32);
    let imported = match import_ggmf(&file, quant.unwrap_or(DType::F32), 4096, |_, _, _| {}) {
        Ok((model_file, _)) => Some(model_file),
        Err(glmix_tools::rwkv::RwkvError::Header { .. }) => None, // beyond the model file's fields
        Err(e) => panic!("the RWKV-7 view accepts a file the importer refuses: {e}"),
    };
    let layers = ck.layers();
    let model = match Rwkv7::new(ck.dims.n_heads, ck.globals(), &layers) {
        Ok(m) => m,
        Err(e) => panic!("the importer accepted a checkpoint the runtime rejects: {e}"),
    };
    let words = model.shape().total_words();
    if words > MAX_STATE_WORDS {
        return;
    }
    let mut buf = vec![0f32; words];
    let mut session = Rwkv7Session::new(&model, &mut buf).expect("sized by the shape");
    let vocab = ck.dims.vocab as u32;
    let tokens: Vec<u32> = data.iter().rev().take(6).map(|&b| u32::from(b) % (vocab + 1)).collect();
    let mut reference = Vec::new();
    for (i, &token) in tokens.iter().enumerate() {
        if i == 4 {
            session.reset();
        }
        match session.step(token) {
            Ok(logits) => {
                assert!(token < vocab && logits.len() == vocab as usize);
                reference.push(Some(logits.to_vec()));
            }
            Err(_) => {
                assert!(token >= vocab);
                reference.push(None);
            }
        }
    }
    let Some(model_file) = imported else { return };
    let Ok(bytes) = model_file.to_bytes() else { return }; // over 4 GiB: the writer refuses it
    let aligned = glmix_tools::writer::AlignedBytes::new(&bytes);
    let model = match Model::parse(aligned.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("import-rwkv wrote a file the runtime rejects: {e}"),
    };
    let plan = Plan::new(&model, 64);
    if plan.total_words() > MAX_STATE_WORDS {
        return;
    }
    let mut state = vec![0f32; plan.total_words()];
    let mut session = Session::new(&model, 64, &mut state).expect("sized by the plan");
    let same_encoding = quant.is_some() || all_f32;
    for (i, (&token, want)) in tokens.iter().zip(&reference).enumerate() {
        if i == 4 {
            session.reset();
        }
        match (session.step(token), want) {
            (Ok(logits), Some(want)) if same_encoding => {
                let same = logits
                    .iter()
                    .zip(want)
                    .all(|(a, b)| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan());
                assert!(same, "Session and Rwkv7Session differ at step {i}");
            }
            (Ok(_), Some(_)) | (Err(_), None) => {}
            (got, want) => panic!("step {i}: Session {:?}, Rwkv7Session {}", got.map(|_| ()), want.is_some()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// seeds

/// Seed inputs: `(target, file name, bytes)`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    // parse_model: random models of several kinds, flag byte 0 (as is) and 1 (resealed).
    let layer = RandomLayer { pattern: 4, param: 0, form: 1, n_heads: 2, n_kv_heads: 2 };
    let specs = [
        RandomSpec::small(vec![layer]),
        RandomSpec { dtype: DType::Q4_0, swiglu: false, tied: false, ..RandomSpec::small(vec![layer]) },
        RandomSpec {
            dim: 8,
            hidden_dim: 16,
            head_dim: 4,
            dtype: DType::Q8_0,
            ..RandomSpec::small(vec![RandomLayer { pattern: 1, param: 2, form: 2, ..layer }])
        },
    ];
    for (i, spec) in specs.iter().enumerate() {
        let bytes = random_model(spec, i as u64 + 1).unwrap().to_bytes().unwrap();
        out.push(("parse_model", format!("seed-random-{i}"), [&[0u8][..], &bytes].concat()));
    }
    // A model with a BPE tokenizer (the generated vocabulary).
    let vocab = generated_vocab(&["he", "ll", "hello"]);
    let mut spec = RandomSpec::small(vec![layer]);
    spec.dim = 8;
    spec.head_dim = 4;
    spec.hidden_dim = 8;
    spec.vocab_size = vocab.tokens.len();
    let mut file = random_model(&spec, 5).unwrap();
    file.header.tokenizer = 2;
    file.header.bos = 1;
    file.header.eos = 2;
    file.header.max_token_len = vocab.max_token_len;
    file.tensors.extend(vocab.tensors());
    out.push(("parse_model", "seed-bpe".into(), [&[1u8][..], &file.to_bytes().unwrap()].concat()));

    for (i, text) in
        ["", "hello world", "Once upon a time, there was a little girl.", "日本 é\u{0}\u{7f}\u{ff}"]
            .iter()
            .enumerate()
    {
        out.push(("tokenizer", format!("seed-text-{i}"), text.as_bytes().to_vec()));
    }
    out.push(("tokenizer", "seed-invalid-utf8".into(), vec![0xff, 0xc3, 0x28, 0xe2, 0x82, b'a', 0x80]));

    out.push(("import_safetensors", "seed-valid".into(), fuzz_safetensors(1)));
    out.push(("import_llama2c", "seed-v0-tied".into(), llama2c_v0(1, true)));
    out.push(("import_llama2c", "seed-v0-untied".into(), llama2c_v0(2, false)));
    out.push(("import_llama2c", "seed-v2".into(), llama2c_v2(3)));
    out.push(("decode", "seed-short".into(), b"\x10hello\xffhi".to_vec()));
    out.push(("decode", "seed-overflow".into(), b"\x03abcdef\xff\xfeA".to_vec()));
    out.push(("decode", "seed-long".into(), [&[63u8][..], b"\xfea\xfeb\xfec\xfed\xfee"].concat()));
    out.push(("decode", "seed-seek".into(), [&[31u8][..], b"ab\xfd\x1ecd\xfd\x40e\xfd\x05f"].concat()));
    // snapshot: valid snapshots as they are, edited, resealed, truncated; and a raw one (mode 0).
    out.push(("snapshot", "seed-valid".into(), b"\x1f\x01\x05".to_vec()));
    out.push(("snapshot", "seed-full".into(), b"\x03\x01\x09".to_vec()));
    out.push(("snapshot", "seed-deep".into(), b"\x3f\x01\x3c".to_vec()));
    out.push(("snapshot", "seed-edit-body".into(), b"\x1f\x01\x05\x40\x00\x7f".to_vec()));
    out.push(("snapshot", "seed-edit-position".into(), b"\x1f\x05\x05\x10\x00\x30".to_vec()));
    out.push(("snapshot", "seed-truncated".into(), b"\x1f\x03\x02".to_vec()));
    out.push(("snapshot", "seed-nan-cache".into(), nan_cache_edit()));
    let mut raw = vec![0x1f, 0x00];
    raw.extend_from_slice(&glmix::snapshot::SNAPSHOT_MAGIC);
    raw.extend_from_slice(&glmix::snapshot::SNAPSHOT_VERSION.to_le_bytes());
    out.push(("snapshot", "seed-raw-header".into(), raw));
    // import_rwkv: tiny random RWKV-7 files in rwkv.cpp's format, FP32 (two heads) and FP16.
    use glmix_tools::rwkv::{random_rwkv7, GgmfType};
    out.push(("import_rwkv", "seed-v7-fp32".into(), random_rwkv7(1, 16, 8, 2, 2, 4, GgmfType::F32)));
    out.push(("import_rwkv", "seed-v7-fp16".into(), random_rwkv7(2, 8, 8, 1, 1, 4, GgmfType::F16)));
    // parse_model: an imported RWKV-7 file (form rwkv7, LayerNorm with bias, emb_norm, the squared-ReLU
    // MLP with token shift), as is (flag 0).
    let rwkv = random_rwkv7(3, 256, 8, 2, 2, 4, GgmfType::F32);
    let file = glmix_tools::rwkv::read_ggmf(&rwkv).expect("a random RWKV-7 file parses");
    let (model_file, _) =
        glmix_tools::rwkv::import_ggmf(&file, DType::Q8_0, 64, |_, _, _| {}).expect("and imports");
    out.push(("parse_model", "seed-rwkv7".into(), [&[0u8][..], &model_file.to_bytes().unwrap()].concat()));
    out
}

/// A `snapshot` input whose edits turn the first cache word (layer 0's first key) into NaN: the
/// checksum must reject it (without the check the logits go NaN and the target fails).
pub fn nan_cache_edit() -> Vec<u8> {
    let mut data = vec![0x1f, 0x01, 0x05];
    let at = [28u16, 29, 30, 31];
    let model = Model::parse(snapshot_model().as_bytes()).expect("the snapshot model parses");
    let context = 0x1f + 1;
    let mut state = vec![0f32; Plan::new(&model, context).total_words()];
    let mut session = Session::new(&model, context, &mut state).expect("planned size");
    // The target's way to position 5 (`data[2]`), with the same bytes.
    advance(&mut session, 5, &data, model.config().vocab_size as u32);
    let mut snap = vec![0u8; session.snapshot_len()];
    session.save(&mut snap).expect("snapshot_len bytes suffice");
    for (&a, nan) in at.iter().zip(f32::NAN.to_le_bytes()) {
        data.extend_from_slice(&a.to_le_bytes());
        data.push(snap[usize::from(a)] ^ nan);
    }
    data
}

/// A valid safetensors checkpoint for [`FUZZ_CONFIG`] (f32, random values).
pub fn fuzz_safetensors(seed: u64) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let config = fuzz_config();
    let mut rng = Rng::new(seed);
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for t in glmix_tools::convert::expected_tensors(config).expect("FUZZ_CONFIG is valid") {
        let (dims, n_dims) = t.dims().expect("checkpoint tensors have a fixed shape");
        let shape: Vec<usize> = dims.iter().take(n_dims).map(|&n| n as usize).collect();
        let name = t.name().to_string();
        let n: usize = shape.iter().product();
        let bytes = (0..n).flat_map(|_| (rng.uniform() * 0.5).to_le_bytes()).collect();
        data.push((name, shape, bytes));
    }
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, &None).unwrap()
}

fn llama2c_dims() -> (usize, usize, usize, usize, usize, usize, usize) {
    // dim, hidden, layers, heads, kv heads, vocab, seq_len
    (8, 16, 1, 2, 1, 8, 4)
}

/// A tiny llama2.c v0 checkpoint (random f32 weights).
pub fn llama2c_v0(seed: u64, tied: bool) -> Vec<u8> {
    let (dim, hd, l, nh, nkv, vocab, seq) = llama2c_dims();
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let v = if tied { vocab as i32 } else { -(vocab as i32) };
    for x in [dim as i32, hd as i32, l as i32, nh as i32, nkv as i32, v, seq as i32] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    let kv = dim * nkv / nh;
    let head = dim / nh;
    let n = vocab * dim
        + l * (dim + dim * dim + 2 * kv * dim + dim * dim + dim + 3 * hd * dim)
        + dim
        + seq * head
        + if tied { 0 } else { vocab * dim };
    for _ in 0..n {
        out.extend_from_slice(&(rng.uniform() * 0.5).to_le_bytes());
    }
    out
}

/// A tiny llama2.c v2 (int8, group 4) checkpoint.
pub fn llama2c_v2(seed: u64) -> Vec<u8> {
    let (dim, hd, l, nh, nkv, vocab, seq) = llama2c_dims();
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    out.extend_from_slice(&0x616b_3432u32.to_le_bytes());
    out.extend_from_slice(&2i32.to_le_bytes());
    for x in [dim, hd, l, nh, nkv, vocab, seq] {
        out.extend_from_slice(&(x as i32).to_le_bytes());
    }
    out.push(1); // shared classifier
    let group = 4usize;
    out.extend_from_slice(&(group as i32).to_le_bytes());
    out.resize(256, 0);
    for _ in 0..(2 * l * dim + dim) {
        out.extend_from_slice(&(1.0f32 + 0.1 * rng.uniform()).to_le_bytes());
    }
    let kv = dim * nkv / nh;
    let mut q80 = |out: &mut Vec<u8>, n: usize| {
        out.extend((0..n).map(|_| rng.next_u64() as u8));
        for _ in 0..n / group {
            out.extend_from_slice(&0.01f32.to_le_bytes());
        }
    };
    q80(&mut out, vocab * dim);
    for n in [dim * dim, kv * dim, kv * dim, dim * dim, hd * dim, dim * hd, hd * dim] {
        for _ in 0..l {
            q80(&mut out, n);
        }
    }
    out
}
