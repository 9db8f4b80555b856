//! `glmix bench`: the cost ladder of the token mixers, measured.
//!
//! For each mixer of [`MIXERS`] one random model of the same shape is built ([`crate::random`]), planned
//! for the largest position, and decoded token by token from position 0. When the session reaches a
//! measured position `p` (that many tokens already in the cache), the next `window` steps (positions
//! `p .. p + window`) are timed one by one and their **median** is reported as the time per token at `p`.
//! The steps between measured positions run untimed: they only fill the cache, so the state a timed step
//! sees is the real one.
//!
//! Time is the thread's CPU time (Linux `CLOCK_THREAD_CPUTIME_ID`; wall time elsewhere), so that on a
//! shared machine a step preempted by another process is not charged for the wait; the wall-clock
//! median is reported beside it.
//!
//! State bytes come from [`glmix::plan::Plan`] for a context of `p` tokens: the layer caches only
//! (the part that grows with context), not the scratch buffers every mixer shares.
//!
//! Filling the cache costs the sum of the step times up to the largest position, so O(n^2) for the
//! dense mixers: they jump to each measured position instead (`Session::seek_for_benchmarks`; a dense
//! step's cost does not depend on the cached values). `dense_max` can still skip dense mixers beyond a
//! position (reported as not measured).

use std::fmt::Write;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use glmix::format::Positional;
use glmix::plan::Plan;
use glmix::{DType, Model, Session};

use crate::random::{random_model, RandomLayer, RandomSpec};
use crate::writer::AlignedBytes;

/// One mixer of the ladder: a pattern (code, parameter) times a form (code); see docs/model-spec.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mixer {
    /// Short name used in tables, CSV and the plot legend.
    pub name: &'static str,
    /// Pattern code (dense 0, window 1, order 2, pow2 3, pow2_lattice 4, sq1 5, sq1_lattice 6).
    pub pattern: u8,
    /// Pattern parameter (window width, order, level cap).
    pub param: u32,
    /// Form code (attention 0, recurrent 1, chained 2, state_space 3).
    pub form: u8,
    /// The cost class the paper gives this mixer: (time per token, cache).
    pub expected: (&'static str, &'static str),
}

impl Mixer {
    /// A table row: name, pattern code, parameter, form code, expected cost classes.
    const fn new(
        name: &'static str,
        pattern: u8,
        param: u32,
        form: u8,
        expected: (&'static str, &'static str),
    ) -> Self {
        Mixer { name, pattern, param, form, expected }
    }
    /// True for the mixers whose time per token grows linearly (their cache fill is quadratic).
    pub fn is_dense(&self) -> bool {
        self.pattern == 0
    }
}

/// The mixers measured, cheapest growth last.
pub const MIXERS: [Mixer; 10] = [
    Mixer::new("attention dense", 0, 0, 0, ("O(n)", "O(n)")),
    Mixer::new("chained dense", 0, 0, 2, ("O(n)", "O(n)")),
    Mixer::new("recurrent sq1_lattice", 6, 0, 1, ("O(sqrt n)", "O(sqrt n)")),
    Mixer::new("recurrent pow2", 3, 0, 1, ("O(log n)", "O(n)")),
    Mixer::new("recurrent pow2_lattice", 4, 0, 1, ("O(log n)", "O(log n)")),
    Mixer::new("state_space pow2_lattice", 4, 0, 3, ("O(log n)", "O(log n)")),
    Mixer::new("attention window 64", 1, 64, 0, ("O(w)", "O(w)")),
    Mixer::new("recurrent order 4", 2, 4, 1, ("O(k)", "O(k)")),
    Mixer::new("recurrent order 1", 2, 1, 1, ("O(1)", "O(1)")),
    Mixer::new("state_space order 1", 2, 1, 3, ("O(1)", "O(1)")),
];

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    /// Positions (tokens already decoded) at which the time per token is measured.
    pub positions: Vec<u32>,
    /// Model width.
    pub dim: usize,
    /// Layers (all layers of a model use the same mixer).
    pub layers: usize,
    /// Heads per layer (`head_dim = dim / heads`).
    pub heads: usize,
    /// MLP width.
    pub hidden: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Weight storage type.
    pub dtype: DType,
    /// Steps timed at each position.
    pub window: u32,
    /// Dense mixers are not measured beyond this position (their cache fill is quadratic).
    pub dense_max: u32,
    /// Only the mixers whose name contains one of these (all when empty).
    pub only: Vec<String>,
    /// Seed of the random weights.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            positions: vec![256, 4096, 65536],
            dim: 64,
            layers: 2,
            heads: 4,
            hidden: 128,
            vocab: 256,
            dtype: DType::F32,
            window: 64,
            dense_max: u32::MAX,
            only: Vec::new(),
            seed: 1,
        }
    }
}

/// One measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Mixer name.
    pub mixer: &'static str,
    /// Tokens in the cache when the timed window starts.
    pub position: u32,
    /// Median thread-CPU nanoseconds per decoded token over the window (`None`: not measured).
    pub ns_per_token: Option<f64>,
    /// Median wall-clock nanoseconds per decoded token over the window.
    pub wall_ns_per_token: Option<f64>,
    /// Bytes of the layer caches planned for a context of `position` tokens.
    pub state_bytes: usize,
}

/// The selected mixers.
pub fn selected(opts: &Options) -> Vec<Mixer> {
    MIXERS
        .iter()
        .copied()
        .filter(|m| opts.only.is_empty() || opts.only.iter().any(|o| m.name.contains(o.as_str())))
        .collect()
}

/// The random model of `opts`' shape with `mixer` in every layer, as file bytes.
pub fn model_bytes(mixer: &Mixer, opts: &Options) -> Result<AlignedBytes> {
    ensure!(opts.heads > 0 && opts.dim.is_multiple_of(opts.heads), "--dim must be a multiple of --heads");
    let layer = RandomLayer {
        pattern: mixer.pattern,
        param: mixer.param,
        form: mixer.form,
        n_heads: opts.heads as u16,
        n_kv_heads: opts.heads as u16,
    };
    let spec = RandomSpec {
        dim: opts.dim,
        hidden_dim: opts.hidden,
        vocab_size: opts.vocab,
        head_dim: opts.dim / opts.heads,
        layers: vec![layer; opts.layers],
        dtype: opts.dtype,
        swiglu: true,
        tied: true,
        positional: Positional::RopeInterleaved,
        max_context: 1024,
        level_aware: false,
    };
    let file = random_model(&spec, opts.seed)?;
    Ok(AlignedBytes::new(&file.to_bytes()?))
}

/// Positions of `opts` this mixer is measured at (dense mixers stop at `dense_max`).
fn measured(mixer: &Mixer, opts: &Options) -> Vec<u32> {
    opts.positions.iter().copied().filter(|&p| !mixer.is_dense() || p <= opts.dense_max).collect()
}

/// Steps a run of `opts` decodes in all (for a progress bar).
pub fn total_steps(opts: &Options) -> u64 {
    let steps = |m: &Mixer| {
        let at = measured(m, opts);
        if m.is_dense() {
            // Dense mixers jump to each position and decode only the timed window there.
            at.len() as u64 * u64::from(opts.window)
        } else {
            at.last().map_or(0, |&p| u64::from(p + opts.window))
        }
    };
    selected(opts).iter().map(steps).sum()
}

/// Runs the measurements; `progress(mixer, steps)` is called as steps are decoded.
pub fn run(opts: &Options, mut progress: impl FnMut(&str, u64)) -> Result<Vec<Row>> {
    ensure!(opts.window > 0, "the timed window must hold at least one step");
    let mut positions = opts.positions.clone();
    positions.sort_unstable();
    positions.dedup();
    let opts = Options { positions, ..opts.clone() };
    let mut rows = Vec::new();
    for mixer in selected(&opts) {
        let bytes = model_bytes(&mixer, &opts)?;
        let model = Model::parse(bytes.as_bytes()).context(mixer.name)?;
        let todo = measured(&mixer, &opts);
        let times = match todo.last() {
            Some(&last) => measure(&model, &todo, last + opts.window, opts.window, mixer.is_dense(), |n| {
                progress(mixer.name, n)
            })?,
            None => Vec::new(),
        };
        for &p in &opts.positions {
            let ns = todo.iter().position(|&q| q == p).and_then(|i| times.get(i).copied());
            rows.push(Row {
                mixer: mixer.name,
                position: p,
                ns_per_token: ns.map(|(cpu, _)| cpu),
                wall_ns_per_token: ns.map(|(_, wall)| wall),
                state_bytes: Plan::new(&model, p).state_bytes(),
            });
        }
    }
    Ok(rows)
}

/// Decodes `model` up to `context` tokens, timing `window` steps from each of `positions` (sorted);
/// returns the median (CPU, wall) nanoseconds per step at each.
fn measure(
    model: &Model<'_>,
    positions: &[u32],
    context: u32,
    window: u32,
    dense: bool,
    mut progress: impl FnMut(u64),
) -> Result<Vec<(f64, f64)>> {
    let plan = Plan::new(model, context);
    let mut state = vec![0f32; plan.total_words()];
    let mut session = Session::with_plan(model, plan, &mut state)?;
    session.set_parallel(crate::pool::global());
    let vocab = model.config().vocab_size as u32;
    // Tokens: a fixed pseudo-random byte stream (the cost does not depend on them).
    let token = |t: u32| (t.wrapping_mul(2_654_435_761) >> 7) % vocab;
    let mut out = Vec::with_capacity(positions.len());
    let mut cpu = Vec::with_capacity(window as usize);
    let mut wall = Vec::with_capacity(window as usize);
    let mut pending = 0u64;
    for &p in positions {
        // Dense mixers jump (the cost of a step does not depend on cached values, and reaching 65,536
        // by decoding costs O(p^2)); the others decode their way there.
        if dense && session.position() < p {
            session.seek_for_benchmarks(p)?;
        }
        while session.position() < p {
            session.step(token(session.position()))?;
            pending += 1;
            if pending == 256 {
                progress(pending);
                pending = 0;
            }
        }
        cpu.clear();
        wall.clear();
        for _ in 0..window {
            let t = token(session.position());
            let (start, start_cpu) = (Instant::now(), thread_cpu_ns());
            let logits = session.step(t)?;
            std::hint::black_box(logits);
            let (end_cpu, elapsed) = (thread_cpu_ns(), start.elapsed().as_nanos() as f64);
            wall.push(elapsed);
            cpu.push(match (start_cpu, end_cpu) {
                (Some(a), Some(b)) => b.saturating_sub(a) as f64,
                _ => elapsed,
            });
        }
        progress(u64::from(window));
        cpu.sort_by(f64::total_cmp);
        wall.sort_by(f64::total_cmp);
        out.push((median(&cpu), median(&wall)));
    }
    progress(pending);
    Ok(out)
}

/// Decoding throughput of a llama-shaped model: [`throughput`]'s result.
#[derive(Clone, Debug)]
pub struct Throughput {
    /// Tokens decoded per run (positions `0..tokens`).
    pub tokens: u32,
    /// Tokens per second of thread CPU time, best run (None where there is no thread clock).
    pub cpu_tok_s: Option<f64>,
    /// Tokens per second of wall-clock time, best run.
    pub wall_tok_s: f64,
    /// Layer caches for a context of `tokens` (`Plan::state_bytes`).
    pub state_bytes: usize,
    /// Caches plus scratch: the whole state buffer (`Plan::total_words` * 4).
    pub total_bytes: usize,
}

/// Decodes `tokens` positions from position 0, `runs` times, with a random llama-shaped model of
/// `opts`' shape (dense attention in every layer, as many key/value heads as heads), like
/// `glmix generate -n tokens`; reports the best run (the least disturbed on a shared machine).
pub fn throughput(opts: &Options, tokens: u32, runs: u32) -> Result<Throughput> {
    let bytes = model_bytes(&MIXERS[0], opts)?;
    let model = Model::parse(bytes.as_bytes()).context("random model")?;
    throughput_of(&model, tokens, runs)
}

/// [`throughput`] of a given model (e.g. a file: `glmix bench --generate 512 --model M.glmx`).
pub fn throughput_of(model: &Model<'_>, tokens: u32, runs: u32) -> Result<Throughput> {
    ensure!(tokens > 0 && runs > 0, "--generate and --runs must be positive");
    let plan = Plan::new(model, tokens);
    let mut state = vec![0f32; plan.total_words()];
    let mut session = Session::with_plan(model, plan, &mut state)?;
    session.set_parallel(crate::pool::global());
    let vocab = model.config().vocab_size as u32;
    let (mut best_cpu, mut best_wall) = (None::<u64>, f64::INFINITY);
    for _ in 0..runs {
        session.reset();
        let (c0, w0) = (thread_cpu_ns(), Instant::now());
        let mut token = 1 % vocab;
        for _ in 0..tokens {
            let logits = session.step(token)?;
            // Greedy, as `generate -t 0`.
            let mut best = 0;
            for (i, &v) in logits.iter().enumerate() {
                if v > logits[best] {
                    best = i;
                }
            }
            token = best as u32;
        }
        let wall = w0.elapsed().as_secs_f64();
        best_wall = best_wall.min(wall);
        if let (Some(c0), Some(c1)) = (c0, thread_cpu_ns()) {
            best_cpu = Some(best_cpu.map_or(c1 - c0, |b: u64| b.min(c1 - c0)));
        }
    }
    Ok(Throughput {
        tokens,
        cpu_tok_s: best_cpu.map(|ns| tokens as f64 / (ns as f64 * 1e-9)),
        wall_tok_s: tokens as f64 / best_wall,
        state_bytes: session.plan().state_bytes(),
        total_bytes: session.plan().total_bytes(),
    })
}

/// CPU time of the calling thread in nanoseconds, where the platform has a clock for it.
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `clock_gettime` is the C library's (std links it on Linux); it writes one `timespec`,
    // which on 64-bit Linux is two `i64`s as declared, into the valid, exclusively borrowed `ts`.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0 && cfg!(target_pointer_width = "64"))
        .then(|| (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64))
}

/// CPU time of the calling thread: not available here (wall time is used instead).
#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> Option<u64> {
    None
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if !n.is_multiple_of(2) => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn ns_text(ns: Option<f64>) -> String {
    ns.map_or_else(|| "not measured".into(), |ns| format!("{ns:.0}"))
}

/// The rows as a Markdown table: one line per mixer, time per token and state bytes per position.
pub fn markdown(rows: &[Row]) -> String {
    let positions = positions_of(rows);
    let mut out = String::new();
    let _ = write!(out, "| mixer |");
    for p in &positions {
        let _ = write!(out, " ns/token @{p} |");
    }
    for p in &positions {
        let _ = write!(out, " state bytes @{p} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in 0..positions.len() * 2 {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    for name in mixers_of(rows) {
        let _ = write!(out, "| {name} |");
        let line: Vec<&Row> = rows.iter().filter(|r| r.mixer == name).collect();
        for r in &line {
            let _ = write!(out, " {} |", ns_text(r.ns_per_token));
        }
        for r in &line {
            let _ = write!(out, " {} |", r.state_bytes);
        }
        out.push('\n');
    }
    out
}

/// The rows as CSV: `mixer,position,ns_per_token,state_bytes,wall_ns_per_token` (an empty time: not
/// measured; `ns_per_token` is thread CPU time).
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from("mixer,position,ns_per_token,state_bytes,wall_ns_per_token\n");
    let text = |ns: Option<f64>| ns.map_or_else(String::new, |ns| format!("{ns:.0}"));
    for r in rows {
        let (ns, wall) = (text(r.ns_per_token), text(r.wall_ns_per_token));
        let _ = writeln!(out, "{},{},{ns},{},{wall}", r.mixer, r.position, r.state_bytes);
    }
    out
}

fn positions_of(rows: &[Row]) -> Vec<u32> {
    let mut p: Vec<u32> = rows.iter().map(|r| r.position).collect();
    p.sort_unstable();
    p.dedup();
    p
}

fn mixers_of(rows: &[Row]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for r in rows {
        if !names.contains(&r.mixer) {
            names.push(r.mixer);
        }
    }
    names
}

/// Line colours of the plot (one per mixer, cycled).
const COLOURS: [&str; 9] =
    ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];

/// A log-log panel's axis range: whole decades around `lo..hi`.
fn decades(lo: f64, hi: f64) -> (f64, f64) {
    let lo = lo.max(f64::MIN_POSITIVE).log10().floor();
    let hi = hi.max(f64::MIN_POSITIVE).log10().ceil();
    (lo, if hi > lo { hi } else { lo + 1.0 })
}

/// One log-log panel at `(x0, y0)` of size `w x h`: a line per mixer of `value(row)` vs position.
fn panel(
    out: &mut String,
    rows: &[Row],
    (x0, y0, w, h): (f64, f64, f64, f64),
    title: &str,
    value: impl Fn(&Row) -> Option<f64>,
) {
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| value(r).filter(|v| *v > 0.0).map(|v| (f64::from(r.position), v)))
        .collect();
    let (px, py): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
    let (xa, xb) =
        decades(px.iter().copied().fold(f64::MAX, f64::min), px.iter().copied().fold(0.0, f64::max));
    let (ya, yb) =
        decades(py.iter().copied().fold(f64::MAX, f64::min), py.iter().copied().fold(0.0, f64::max));
    let sx = |x: f64| x0 + (x.log10() - xa) / (xb - xa) * w;
    let sy = |y: f64| y0 + h - (y.log10() - ya) / (yb - ya) * h;
    let _ =
        writeln!(out, r##"<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#333"/>"##);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{title}</text>"#,
        x0 + w / 2.0,
        y0 - 10.0
    );
    // Decade grid lines and labels.
    let mut d = xa;
    while d <= xb {
        let x = sx(10f64.powf(d));
        let _ = writeln!(out, r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{}" stroke="#ddd"/>"##, y0 + h);
        let _ = writeln!(out, r#"<text x="{x:.1}" y="{}" text-anchor="middle">1e{d}</text>"#, y0 + h + 16.0);
        d += 1.0;
    }
    let mut d = ya;
    while d <= yb {
        let y = sy(10f64.powf(d));
        let _ = writeln!(out, r##"<line x1="{x0}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/>"##, x0 + w);
        let _ = writeln!(out, r#"<text x="{}" y="{:.1}" text-anchor="end">1e{d}</text>"#, x0 - 6.0, y + 4.0);
        d += 1.0;
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">position (tokens in cache)</text>"#,
        x0 + w / 2.0,
        y0 + h + 34.0
    );
    for (i, name) in mixers_of(rows).iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let line: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.mixer == *name)
            .filter_map(|r| value(r).filter(|v| *v > 0.0).map(|v| (sx(f64::from(r.position)), sy(v))))
            .collect();
        let path: Vec<String> = line.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for (x, y) in line {
            let _ = writeln!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"/>"#);
        }
    }
}

/// The rows as an SVG: two log-log panels (ns per token, state bytes, both vs position) and a legend.
pub fn svg(rows: &[Row], caption: &str) -> String {
    let (w, h) = (380.0, 300.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="1100" height="420" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    panel(&mut out, rows, (70.0, 40.0, w, h), "time per token (ns, median thread CPU)", |r| r.ns_per_token);
    panel(&mut out, rows, (530.0, 40.0, w, h), "state bytes (layer caches)", |r| Some(r.state_bytes as f64));
    for (i, name) in mixers_of(rows).iter().enumerate() {
        let y = 50.0 + 18.0 * i as f64;
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            out,
            r#"<line x1="930" y1="{y}" x2="955" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="960" y="{}">{name}</text>"#,
            y + 4.0
        );
    }
    let _ = writeln!(out, r#"<text x="70" y="405" font-size="11">{}</text>"#, escape(caption));
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Options {
        Options {
            positions: vec![4, 32],
            dim: 16,
            layers: 1,
            heads: 2,
            hidden: 32,
            window: 4,
            ..Options::default()
        }
    }

    #[test]
    fn every_mixer_runs_and_state_follows_the_plan() {
        let opts = tiny();
        let rows = run(&opts, |_, _| {}).unwrap();
        assert_eq!(rows.len(), MIXERS.len() * 2);
        assert!(rows.iter().all(|r| r.ns_per_token.is_some_and(|ns| ns > 0.0)));
        let bytes = |name: &str, p: u32| {
            rows.iter().find(|r| r.mixer == name && r.position == p).map(|r| r.state_bytes).unwrap()
        };
        // Dense caches grow with the context; first-order caches do not.
        assert!(bytes("attention dense", 32) > bytes("attention dense", 4));
        assert_eq!(bytes("recurrent order 1", 32), bytes("recurrent order 1", 4));
        assert_eq!(bytes("state_space order 1", 32), bytes("state_space order 1", 4));
        // Log-linear: one head_dim^2 matrix per head and level (2 levels at 4, 5 at 32).
        let per_slot = 4 * (2 * 8 * 8 + 2);
        assert_eq!(bytes("state_space pow2_lattice", 4), 2 * per_slot);
        assert_eq!(bytes("state_space pow2_lattice", 32), 5 * per_slot);
    }

    #[test]
    fn dense_max_skips_dense_mixers_only() {
        let opts = Options { dense_max: 8, only: vec!["dense".into(), "order 1".into()], ..tiny() };
        let rows = run(&opts, |_, _| {}).unwrap();
        let at = |name: &str, p: u32| rows.iter().find(|r| r.mixer == name && r.position == p).unwrap();
        assert!(at("attention dense", 4).ns_per_token.is_some());
        assert!(at("attention dense", 32).ns_per_token.is_none());
        assert!(at("recurrent order 1", 32).ns_per_token.is_some());
        assert!(csv(&rows)
            .lines()
            .any(|l| l == format!("attention dense,32,,{},", at("attention dense", 32).state_bytes)));
        assert!(markdown(&rows).contains("not measured"));
        let svg = svg(&rows, "test");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2 * 4);
    }

    #[test]
    fn progress_counts_every_step() {
        let opts = tiny();
        let mut seen = 0;
        run(&opts, |_, n| seen += n).unwrap();
        assert_eq!(seen, total_steps(&opts));
    }
}
