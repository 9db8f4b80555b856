//! BPE encoding of 40 KB of text through the stories260K tokenizer: `encode_fast` (O(n log n)) and,
//! on 4 KB, its quadratic twin `encode` (40 KB takes the twin tens of seconds). A measurement, not a
//! gate. The repeatable figure is an instruction count: 40,000 bytes of tinyshakespeare (24,745
//! tokens) cost 95.6M instructions in `Tokenizer::encode_fast` (x86-64-v3 release build,
//! `valgrind --tool=callgrind --toggle-collect='glmix::tokenizer::Tokenizer::encode_fast' glmix
//! generate -m stories260K.glmx --prompt-file 40k.txt -n 6000`, which encodes the prompt and then
//! refuses it as longer than the context): a few tens of milliseconds.
//!
//! `cargo bench -p glmix-benches --bench tokenizer`. Reads `../shared/data` (or
//! `$GLMIX_SHARED_DATA`); without it there is nothing to measure and the bench says so.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glmix::tokenizer::Tokenizer;
use glmix::DType;

fn shared() -> PathBuf {
    std::env::var_os("GLMIX_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn encode(c: &mut Criterion) {
    let dir = shared();
    let (Ok(text), true) = (
        std::fs::read(dir.join("tinyshakespeare/input.txt")),
        dir.join("llama2c_stories260K/stories260K.bin").is_file(),
    ) else {
        eprintln!("SKIPPED: {} not found (set GLMIX_SHARED_DATA)", dir.display());
        return;
    };
    let stories = dir.join("llama2c_stories260K");
    let (file, _) = glmix_tools::llama2c::import(
        &stories.join("stories260K.bin"),
        &stories.join("tok512.bin"),
        DType::Q8_0,
        |_, _, _| {},
    )
    .expect("stories260K imports");
    let bytes = glmix_tools::writer::AlignedBytes::new(&file.to_bytes().expect("layout"));
    let model = glmix::Model::parse(bytes.as_bytes()).expect("parses");
    let tok = model.tokenizer().expect("BPE tokenizer");
    let mut group = c.benchmark_group("bpe_encode");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for len in [4_000usize, 40_000] {
        let text = &text[..len];
        group.throughput(Throughput::Bytes(len as u64));
        let mut out = vec![0u32; len + 3];
        let mut work = vec![0u32; Tokenizer::encode_work_len(len)];
        group.bench_with_input(BenchmarkId::new("encode_fast", len), text, |b, text| {
            b.iter(|| tok.encode_fast(black_box(text), true, false, &mut out, &mut work).expect("encodes"))
        });
        if len <= 4_000 {
            group.bench_with_input(BenchmarkId::new("encode (twin)", len), text, |b, text| {
                b.iter(|| tok.encode(black_box(text), true, false, &mut out).expect("encodes"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
