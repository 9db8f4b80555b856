//! One decode step of each token mixer at positions 256 and 4096 (`glmix bench`'s ladder, under
//! criterion). A measurement, not a gate (docs/costs.md has the table and the command).
//!
//! Each benchmark steps one prepared session: the cache is filled untimed up to the position, then every
//! iteration decodes one token. The position therefore drifts; once it is `drift` past the measured one
//! (1/16 of it for the dense mixers, whose cost grows linearly, 1/4 for the others), the session is reset
//! and refilled untimed. So a figure is the mean step time over positions `p .. p + drift`.
//!
//! `cargo bench -p glmix-benches --bench decode` (add `-- --quick` for a faster, rougher pass).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glmix::plan::Plan;
use glmix::{Model, Session};
use glmix_tools::bench::{model_bytes, Options, MIXERS};

const POSITIONS: [u32; 2] = [256, 4096];

/// A fixed pseudo-random token stream (the cost does not depend on the tokens).
fn token(t: u32, vocab: u32) -> u32 {
    (t.wrapping_mul(2_654_435_761) >> 7) % vocab
}

/// Steps `session` (untimed) until `p` tokens are cached.
fn fill(session: &mut Session<'_, '_>, p: u32, vocab: u32) {
    while session.position() < p {
        session.step(token(session.position(), vocab)).expect("planned context");
    }
}

fn decode(c: &mut Criterion) {
    let opts = Options::default();
    let mut group = c.benchmark_group("decode");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for mixer in MIXERS {
        let bytes = model_bytes(&mixer, &opts).expect("random model");
        let model = Model::parse(bytes.as_bytes()).expect("random model parses");
        let vocab = model.config().vocab_size as u32;
        for p in POSITIONS {
            let drift = if mixer.is_dense() { p / 16 } else { p / 4 };
            let context = p + drift;
            let mut state = vec![0f32; Plan::new(&model, context).total_words()];
            let mut session = Session::new(&model, context, &mut state).expect("planned state");
            fill(&mut session, p, vocab);
            group.bench_function(BenchmarkId::new(mixer.name, p), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        if session.position() >= context {
                            session.reset();
                            fill(&mut session, p, vocab);
                        }
                        let t = token(session.position(), vocab);
                        let start = Instant::now();
                        black_box(session.step(t).expect("planned context"));
                        total += start.elapsed();
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
