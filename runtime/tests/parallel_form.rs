//! The decisive check of the token mixers: an independent f64 reference of the whole model in its
//! PARALLEL (training) form against the runtime's step-by-step decoder.
//!
//! The reference reads every weight back from the parsed model file (dequantized with
//! `glmix::kernels::embedding_row`, so every dtype is read exactly as the runtime reads it), then
//! computes all positions at once, following `docs/model-spec.md` and nothing of the runtime:
//!
//! - R(t) from this file's own derivation of the pattern formulas (cross-checked against
//!   `glmix::pattern::Pattern::reads` in `reads_rederived_from_the_spec_match_the_runtime`);
//! - per head, the mixer as matrices: `A` (lower triangular) and `B` (strictly lower triangular) built
//!   from the softmax coefficients over `{t} ∪ R(t)`, and `Y = (I - B)^{-1} A V` by forward
//!   substitution, in f64;
//! - the state-space form as one first-order recurrence per key channel `i`
//!   (`S[i, :]_t = d_t[i] S[i, :]_{t-1} + k_t[i] v_t`: `A = diag(k[i])`, `B` = sub-diagonal `d[i]`),
//!   solved the same way, then `o_t = S_t^T q_t / sqrt(head_dim)`;
//! - the log-linear state space (state space on pow2_lattice) as its defining double sum
//!   `o_t = sum_{s<=t} lambda_t[min(level_t(s), L-1)] (q_t · D(s..t) k_s) v_s / sqrt(head_dim)`, with
//!   `level_t(s) = |{j in R(t) ∪ {t} : j >= s}| - 1` from this file's R(t): no segments, no merging.
//!
//! - level-aware layers: each read's score gets `level_bias[h, min(level, L - 1)]` with `level` the
//!   number of reads of R(t) nearer than it; the recurrent form's `A` is the gate
//!   `a_t = sigmoid(wa x_t + ba)[h]` (1 where R(t) is empty) and its `B` row `(1 - a_t)` times the
//!   softmax over R(t) alone (docs/model-spec.md).
//!
//! The runtime decodes with `poison_evicted(true)`, planned for exactly the sequence length, so a
//! read of a position the cache no longer keeps turns the logits into NaN and fails the comparison.

use std::collections::BTreeSet;

use glmix::builder::{random_model, RandomLayer, RandomSpec, Rng};
use glmix::builder::{AlignedBytes, ModelFile};
use glmix::format::{Classifier, Form, MlpKind, Positional};
use glmix::pattern::Pattern;
use glmix::plan::Plan;
use glmix::{DType, Model, Role, Session, Tensor};

/// Relative tolerance `|runtime - reference| <= TOL * max(1, |reference|)` on every logit.
const TOL: f64 = 1e-5;

/// Sequence lengths every (pattern, form) pair is checked at.
const LENGTHS: [usize; 5] = [1, 2, 7, 64, 300];

/// The patterns under test: (code, param, label).
const PATTERNS: [(u8, u32, &str); 11] = [
    (0, 0, "dense"),
    (1, 4, "window 4"),
    (2, 1, "order 1"),
    (2, 3, "order 3"),
    (3, 0, "pow2"),
    (3, 3, "pow2 cap 3"),
    (4, 0, "pow2_lattice"),
    (4, 4, "pow2_lattice cap 4"),
    (5, 0, "sq1"),
    (6, 0, "sq1_lattice"),
    (6, 5, "sq1_lattice cap 5"),
];

// ---------------------------------------------------------------------------------------------
// R(t), re-derived from docs/model-spec.md section 2.
// ---------------------------------------------------------------------------------------------

/// `f(k)`: `2^k` for pow2 (codes 3, 4), `k^2 + 1` for sq1 (codes 5, 6).
fn f_of(code: u8, k: u64) -> u64 {
    if code == 3 || code == 4 {
        1u64 << k
    } else {
        k * k + 1
    }
}

/// R(t) as a set (duplicates merge), straight from the spec's table.
fn spec_reads(code: u8, param: u32, t: usize) -> BTreeSet<usize> {
    match code {
        0 => (0..t).collect(),
        1 | 2 => (t.saturating_sub(param as usize)..t).collect(),
        3..=6 => {
            let lattice = code == 4 || code == 6;
            let t = t as u64;
            let mut out = BTreeSet::new();
            let mut a = 1u64; // a_0
            let mut k = 0u64;
            while f_of(code, k) <= t && (param == 0 || k < param as u64) {
                let fk = f_of(code, k);
                let j = if lattice { a * (t + 1 - fk).div_ceil(a) - 1 } else { t - fk };
                assert!(j < t, "R({t}) must read the past");
                out.insert(j as usize);
                // a_{k+1} = a_k * ceil((f(k+1) - f(k)) / a_k)
                a *= (f_of(code, k + 1) - fk).div_ceil(a);
                k += 1;
            }
            out
        }
        _ => unreachable!("pattern code {code}"),
    }
}

#[test]
fn reads_rederived_from_the_spec_match_the_runtime() {
    for &(code, param, label) in
        PATTERNS.iter().chain(&[(6u8, 8u32, "sq1_lattice cap 8"), (4, 8, "pow2_lattice cap 8")])
    {
        let p = Pattern::from_code(code, param).unwrap();
        for t in 0..3_000usize {
            let want = spec_reads(code, param, t);
            let got: Vec<u32> = p.reads(t as u32).collect();
            assert!(got.windows(2).all(|w| w[0] > w[1]), "{label} t={t}: runtime reads not nearest-first");
            let got: BTreeSet<usize> = got.iter().map(|&j| j as usize).collect();
            assert_eq!(got, want, "{label} t={t}");
        }
    }
    // Spot values from the brief (1-based i = 1000 is t = 999): pow2 lattice distances.
    let d: Vec<usize> = spec_reads(4, 0, 999).iter().rev().map(|j| 999 - j).collect();
    assert_eq!(d, [1, 2, 4, 8, 16, 24, 40, 104, 232, 488]);
    assert_eq!(spec_reads(6, 0, 999).len(), 24);
}

// ---------------------------------------------------------------------------------------------
// Weights, read back from the parsed file.
// ---------------------------------------------------------------------------------------------

/// A matrix `[rows][cols]` in f64.
struct Mat {
    rows: usize,
    cols: usize,
    w: Vec<f64>,
}

impl Mat {
    fn read(t: &Tensor<'_>) -> Mat {
        let (rows, cols) = (t.rows(), t.cols());
        let mut row = vec![f32::NAN; cols];
        let mut w = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            glmix::kernels::embedding_row(t, r, &mut row);
            w.extend(row.iter().map(|&v| v as f64));
        }
        assert!(w.iter().all(|v| v.is_finite()));
        Mat { rows, cols, w }
    }

    /// A vector tensor (norm weights, gamma).
    fn read_vec(t: &Tensor<'_>) -> Vec<f64> {
        let m = Mat::read(t);
        assert_eq!(m.rows, 1, "a vector tensor has one row");
        m.w
    }

    fn row(&self, r: usize) -> &[f64] {
        &self.w[r * self.cols..(r + 1) * self.cols]
    }

    /// `W x` for one position.
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        assert_eq!(x.len(), self.cols);
        (0..self.rows).map(|r| self.row(r).iter().zip(x).map(|(a, b)| a * b).sum()).collect()
    }

    /// `W x_t` for every position.
    fn apply_all(&self, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        xs.iter().map(|x| self.apply(x)).collect()
    }
}

fn rmsnorm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let s = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, w)| v * s * w).collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn gelu_tanh(x: f64) -> f64 {
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// RoPE in f64 on every head of `v` at position `pos`.
fn rope(v: &mut [f64], head_dim: usize, pos: usize, theta: f64, half: bool) {
    for head in v.chunks_exact_mut(head_dim) {
        for i in 0..head_dim / 2 {
            let freq = theta.powf(-((2 * i) as f64) / head_dim as f64);
            let (sin, cos) = (pos as f64 * freq).sin_cos();
            let (a, b) = if half { (i, i + head_dim / 2) } else { (2 * i, 2 * i + 1) };
            let (v0, v1) = (head[a], head[b]);
            head[a] = v0 * cos - v1 * sin;
            head[b] = v0 * sin + v1 * cos;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parallel form.
// ---------------------------------------------------------------------------------------------

/// `Y = (I - B)^{-1} A V` for `A` lower triangular and `B` strictly lower triangular (`n x n`,
/// row-major), `V` `n x w`: `Y_t = (A V)_t + sum_{j<t} B_tj Y_j`, a forward substitution.
fn solve(n: usize, a: &[f64], b: &[f64], v: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let w = v.first().map_or(0, Vec::len);
    let mut y: Vec<Vec<f64>> = Vec::with_capacity(n);
    for t in 0..n {
        assert!((t + 1..n).all(|j| a[t * n + j] == 0.0), "A must be lower triangular");
        assert!((t..n).all(|j| b[t * n + j] == 0.0), "B must be strictly lower triangular");
        let mut yt = vec![0f64; w];
        for j in 0..=t {
            let c = a[t * n + j];
            if c != 0.0 {
                yt.iter_mut().zip(&v[j]).for_each(|(y, v)| *y += c * v);
            }
        }
        for j in 0..t {
            let c = b[t * n + j];
            if c != 0.0 {
                yt.iter_mut().zip(&y[j]).for_each(|(y, yj)| *y += c * yj);
            }
        }
        y.push(yt);
    }
    y
}

/// Slice of head `h` (width `hd`) of a position's vector.
fn head(x: &[f64], h: usize, hd: usize) -> &[f64] {
    &x[h * hd..(h + 1) * hd]
}

/// One layer's token mixer over all positions: returns `concat_heads(o_t)` per position.
fn mixer(
    model: &Model<'_>,
    l: usize,
    xs: &[Vec<f64>],
    reads: &[BTreeSet<usize>],
    rope_kind: Positional,
    theta: f64,
) -> Vec<Vec<f64>> {
    let m = model.mixer(l).unwrap();
    let (nh, nkv, hd, n) = (m.n_heads, m.n_kv_heads, m.head_dim, xs.len());
    let mut q = Mat::read(&model.layer_tensor(l, Role::Wq).unwrap()).apply_all(xs);
    let mut k = Mat::read(&model.layer_tensor(l, Role::Wk).unwrap()).apply_all(xs);
    let v = Mat::read(&model.layer_tensor(l, Role::Wv).unwrap()).apply_all(xs);
    let scale = (hd as f64).sqrt();
    let mut out = vec![vec![0f64; nh * hd]; n];

    if m.form == Form::StateSpace {
        let d: Vec<Vec<f64>> = Mat::read(&model.layer_tensor(l, Role::Wd).unwrap())
            .apply_all(xs)
            .into_iter()
            .map(|row| row.into_iter().map(sigmoid).collect())
            .collect();
        if let Pattern::Pow2Lattice { .. } = m.pattern {
            let lambda: Vec<Vec<f64>> = Mat::read(&model.layer_tensor(l, Role::Wl).unwrap())
                .apply_all(xs)
                .into_iter()
                .map(|row| row.into_iter().map(sigmoid).collect())
                .collect();
            let levels = lambda[0].len() / nh;
            for t in 0..n {
                for h in 0..nh {
                    let mut decay = vec![1f64; hd]; // D(s..t) = d_{s+1} * .. * d_t
                    for s in (0..=t).rev() {
                        if s < t {
                            decay.iter_mut().zip(head(&d[s + 1], h, hd)).for_each(|(a, b)| *a *= b);
                        }
                        let level = reads[t].range(s..).count(); // |{j in R(t) ∪ {t}: j >= s}| - 1
                        let w = lambda[t][h * levels + level.min(levels - 1)];
                        let qk: f64 = (0..hd).map(|c| q[t][h * hd + c] * decay[c] * k[s][h * hd + c]).sum();
                        let coef = w * qk / scale;
                        head_mut(&mut out[t], h, hd)
                            .iter_mut()
                            .zip(head(&v[s], h, hd))
                            .for_each(|(o, v)| *o += coef * v);
                    }
                }
            }
            return out;
        }
        assert_eq!(m.pattern, Pattern::Order(1), "state space is defined on order 1 and pow2_lattice");
        for h in 0..nh {
            let vh: Vec<Vec<f64>> = v.iter().map(|vt| head(vt, h, hd).to_vec()).collect();
            for i in 0..hd {
                // Row i of S over time: S_t[i,:] = d_t[i] S_{t-1}[i,:] + k_t[i] v_t.
                let c = h * hd + i;
                let (mut a, mut b) = (vec![0f64; n * n], vec![0f64; n * n]);
                for t in 0..n {
                    a[t * n + t] = k[t][c];
                    if t > 0 {
                        b[t * n + t - 1] = d[t][c];
                    }
                }
                let s = solve(n, &a, &b, &vh);
                for t in 0..n {
                    let qi = q[t][c] / scale;
                    head_mut(&mut out[t], h, hd).iter_mut().zip(&s[t]).for_each(|(o, s)| *o += qi * s);
                }
            }
        }
        return out;
    }

    if rope_kind != Positional::None {
        let half = rope_kind == Positional::RopeHalf;
        for t in 0..n {
            rope(&mut q[t], hd, t, theta, half);
            rope(&mut k[t], hd, t, theta, half);
        }
    }
    let gamma = match m.form {
        Form::Chained => Mat::read_vec(&model.layer_tensor(l, Role::Gamma).unwrap()),
        _ => vec![0.0; nh],
    };
    let group = nh / nkv;
    // Level-aware: the biases [nh][L] and, recurrent, the gates sigmoid(wa x_t + ba) [n][nh].
    let level_bias = m.level_aware.then(|| Mat::read(&model.layer_tensor(l, Role::LevelBias).unwrap()));
    let gates: Option<Vec<Vec<f64>>> = (m.level_aware && m.form == Form::Recurrent).then(|| {
        let ba = Mat::read_vec(&model.layer_tensor(l, Role::WaBias).unwrap());
        let wa = Mat::read(&model.layer_tensor(l, Role::Wa).unwrap());
        wa.apply_all(xs)
            .into_iter()
            .map(|r| r.iter().zip(&ba).map(|(x, b)| sigmoid(x + b)).collect())
            .collect()
    });
    for (h, &g) in gamma.iter().enumerate() {
        let kvh = h / group;
        let (mut a, mut b) = (vec![0f64; n * n], vec![0f64; n * n]);
        for t in 0..n {
            if let Some(gates) = &gates {
                // a_t v_t + (1 - a_t) sum_R softmax_R(q_t · k_j / sqrt(head_dim) + bias) o_j
                let s: Vec<f64> = reads[t]
                    .iter()
                    .map(|&j| {
                        let level = reads[t].range(j + 1..).count();
                        let lb = level_bias.as_ref().unwrap();
                        dot(head(&q[t], h, hd), head(&k[j], kvh, hd)) / scale
                            + lb.row(h)[level.min(lb.cols - 1)]
                    })
                    .collect();
                let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = s.iter().map(|s| (s - max).exp()).sum();
                let a_t = if reads[t].is_empty() { 1.0 } else { gates[t][h] };
                a[t * n + t] = a_t;
                for (&j, s) in reads[t].iter().zip(&s) {
                    b[t * n + j] = (1.0 - a_t) * (s - max).exp() / sum;
                }
                continue;
            }
            // softmax over J = {t} ∪ R(t) of q_t · k_j / sqrt(head_dim) (+ the level bias on R(t))
            let js: Vec<usize> = reads[t].iter().copied().chain([t]).collect();
            let bias = |j: usize| match &level_bias {
                Some(lb) if j != t => lb.row(h)[reads[t].range(j + 1..).count().min(lb.cols - 1)],
                _ => 0.0,
            };
            let s: Vec<f64> =
                js.iter().map(|&j| dot(head(&q[t], h, hd), head(&k[j], kvh, hd)) / scale + bias(j)).collect();
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            let coef: Vec<f64> = e.iter().map(|e| e / sum).collect();
            let a_t = *coef.last().unwrap();
            for (&j, &c) in js.iter().zip(&coef) {
                match m.form {
                    Form::Attention => a[t * n + j] = c,
                    Form::Recurrent => {
                        if j == t {
                            a[t * n + t] = c;
                        } else {
                            b[t * n + j] = c;
                        }
                    }
                    Form::Chained => {
                        let norm = 1.0 - g * a_t;
                        a[t * n + j] = (1.0 - g) * c / norm;
                        if j != t {
                            b[t * n + j] = g * c / norm;
                        }
                    }
                    Form::StateSpace | Form::Rwkv7 => unreachable!(),
                }
            }
        }
        let vh: Vec<Vec<f64>> = v.iter().map(|vt| head(vt, kvh, hd).to_vec()).collect();
        let y = solve(n, &a, &b, &vh);
        for t in 0..n {
            head_mut(&mut out[t], h, hd).copy_from_slice(&y[t]);
        }
    }
    out
}

fn head_mut(x: &mut [f64], h: usize, hd: usize) -> &mut [f64] {
    &mut x[h * hd..(h + 1) * hd]
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// The whole model in parallel form: logits at every position of `tokens`.
fn reference(model: &Model<'_>, tokens: &[u32]) -> Vec<Vec<f64>> {
    let c = model.config();
    let eps = c.norm_eps as f64;
    let emb = Mat::read(&model.global_tensor(Role::TokEmbeddings).unwrap());
    let mut h: Vec<Vec<f64>> = tokens.iter().map(|&t| emb.row(t as usize).to_vec()).collect();
    for (l, m) in model.mixers().iter().enumerate() {
        let reads: Vec<BTreeSet<usize>> =
            (0..tokens.len()).map(|t| spec_reads(m.pattern.code(), m.pattern.param(), t)).collect();
        let w = Mat::read_vec(&model.layer_tensor(l, Role::MixerNorm).unwrap());
        let x: Vec<Vec<f64>> = h.iter().map(|h| rmsnorm(h, &w, eps)).collect();
        let o = mixer(model, l, &x, &reads, c.positional, c.rope_theta as f64);
        let wo = Mat::read(&model.layer_tensor(l, Role::Wo).unwrap());
        for (h, o) in h.iter_mut().zip(&o) {
            h.iter_mut().zip(wo.apply(o)).for_each(|(h, d)| *h += d);
        }

        let w = Mat::read_vec(&model.layer_tensor(l, Role::MlpNorm).unwrap());
        let w1 = Mat::read(&model.layer_tensor(l, Role::W1).unwrap());
        let w2 = Mat::read(&model.layer_tensor(l, Role::W2).unwrap());
        let w3 = (c.mlp == MlpKind::SwiGlu).then(|| Mat::read(&model.layer_tensor(l, Role::W3).unwrap()));
        for h in h.iter_mut() {
            let x = rmsnorm(h, &w, eps);
            let mut hid = w1.apply(&x);
            match &w3 {
                Some(w3) => {
                    hid.iter_mut().zip(w3.apply(&x)).for_each(|(a, b)| *a = *a * sigmoid(*a) * b);
                }
                None => hid.iter_mut().for_each(|a| *a = gelu_tanh(*a)),
            }
            h.iter_mut().zip(w2.apply(&hid)).for_each(|(h, d)| *h += d);
        }
    }
    let w = Mat::read_vec(&model.global_tensor(Role::Norm).unwrap());
    let cls = match c.classifier {
        Classifier::Tied => emb,
        Classifier::Separate => Mat::read(&model.global_tensor(Role::Output).unwrap()),
    };
    h.iter().map(|h| cls.apply(&rmsnorm(h, &w, eps))).collect()
}

// ---------------------------------------------------------------------------------------------
// Models and the comparison.
// ---------------------------------------------------------------------------------------------

/// Model shapes every pair is checked under.
#[derive(Clone, Copy, Debug)]
enum Variant {
    /// dim 32, heads of 8 (4 query heads over 2 kv heads for attention), SwiGLU, tied, interleaved
    /// RoPE, vocab 256, one layer, f32.
    Base,
    /// dim 16, GELU, untied, vocab 64, two layers of the same mixer, bf16 weights.
    GeluUntied,
    /// dim 24, 3 heads (one shared kv head for attention), half RoPE, vocab 128, f16 weights.
    RopeHalf,
    /// dim 32, no positional encoding, MLP output weights zero (the residual stream carries the
    /// mixer alone), untied, two layers, f32.
    MixerAlone,
}

const VARIANTS: [Variant; 4] = [Variant::Base, Variant::GeluUntied, Variant::RopeHalf, Variant::MixerAlone];

fn build(variant: Variant, code: u8, param: u32, form: u8, level_aware: bool, seed: u64) -> ModelFile {
    let attention = form == 0;
    let layer =
        |n_heads: u16, n_kv_heads: u16| RandomLayer { pattern: code, param, form, n_heads, n_kv_heads };
    let mut spec = RandomSpec { level_aware, ..RandomSpec::small(vec![]) };
    match variant {
        Variant::Base => {
            spec.dim = 32;
            spec.head_dim = 8;
            spec.layers = vec![if attention { layer(4, 2) } else { layer(4, 4) }];
        }
        Variant::GeluUntied => {
            spec.dim = 16;
            spec.hidden_dim = 40;
            spec.vocab_size = 64;
            spec.head_dim = 8;
            spec.swiglu = false;
            spec.tied = false;
            spec.dtype = DType::BF16;
            spec.layers = vec![layer(2, 2), layer(2, 2)];
        }
        Variant::RopeHalf => {
            spec.dim = 24;
            spec.hidden_dim = 48;
            spec.vocab_size = 128;
            spec.head_dim = 8;
            spec.positional = Positional::RopeHalf;
            spec.dtype = DType::F16;
            spec.layers = vec![if attention { layer(3, 1) } else { layer(3, 3) }];
        }
        Variant::MixerAlone => {
            spec.dim = 32;
            spec.head_dim = 16;
            spec.vocab_size = 96;
            spec.tied = false;
            spec.positional = Positional::None;
            spec.layers = vec![layer(2, 2), layer(2, 2)];
        }
    }
    if (form == 3 || level_aware) && matches!(variant, Variant::GeluUntied) {
        // Level weights (biases) for a 64-token context (L = 7 on the 2^k lattice): the longer tests
        // share the last one.
        spec.max_context = 64;
    }
    let mut file = random_model(&spec, seed).unwrap();
    if matches!(variant, Variant::MixerAlone) {
        for t in file.tensors.iter_mut().filter(|t| t.name.ends_with("mlp.w2.weight")) {
            t.bytes.fill(0);
        }
    }
    file
}

/// Decodes `tokens` step by step (state planned for exactly their length, evicted slots poisoned) and
/// returns the worst relative error against the parallel reference.
fn compare(model: &Model<'_>, tokens: &[u32], what: &str) -> f64 {
    let want = reference(model, tokens);
    let context = tokens.len() as u32;
    let mut state = vec![0f32; Plan::new(model, context).total_words()];
    let mut session = Session::new(model, context, &mut state).unwrap();
    session.poison_evicted(true);
    let mut worst = 0f64;
    for (t, (&token, want)) in tokens.iter().zip(&want).enumerate() {
        let got = session.step(token).unwrap_or_else(|e| panic!("{what}: step {t}: {e}"));
        assert_eq!(got.len(), want.len());
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            let rel = (a as f64 - b).abs() / b.abs().max(1.0);
            // Written so that NaN (a poisoned read) fails.
            assert!(
                rel <= TOL,
                "{what}: position {t} logit {i}: runtime {a} vs parallel form {b} (rel {rel:.2e})"
            );
            worst = worst.max(rel);
        }
    }
    worst
}

/// Checks one form under every pattern, variant and length; prints the worst error per pattern and
/// length.
fn check_form(form: u8, patterns: &[(u8, u32, &str)]) {
    check_form_with(form, false, patterns);
}

/// [`check_form`], with level-aware coefficients or not.
fn check_form_with(form: u8, level_aware: bool, patterns: &[(u8, u32, &str)]) {
    let name = Form::from_code(form).unwrap().name();
    let name = if level_aware { format!("{name} level-aware") } else { name.to_string() };
    for (pi, &(code, param, label)) in patterns.iter().enumerate() {
        let mut row = String::new();
        for (li, &n) in LENGTHS.iter().enumerate() {
            let mut worst = 0f64;
            for (vi, &variant) in VARIANTS.iter().enumerate() {
                let seed =
                    1 + (form as u64) * 1000 + pi as u64 * 10 + vi as u64 + 50_000 * level_aware as u64;
                let file = build(variant, code, param, form, level_aware, seed);
                let bytes = AlignedBytes::new(&file.to_bytes().unwrap());
                let model = Model::parse(bytes.as_bytes()).unwrap();
                let mut rng = Rng::new(seed * 7919 + li as u64);
                let vocab = model.config().vocab_size as u64;
                let tokens: Vec<u32> = (0..n).map(|_| rng.below(vocab) as u32).collect();
                let what = format!("{label} x {name}, {variant:?}, n={n}");
                worst = worst.max(compare(&model, &tokens, &what));
            }
            row += &format!("  n={n}: {worst:.1e}");
        }
        eprintln!("{:<20} {:<12}{row}", label, name);
    }
}

#[test]
fn attention_form_equals_its_parallel_form() {
    check_form(0, &PATTERNS);
}

#[test]
fn recurrent_form_equals_its_parallel_form() {
    check_form(1, &PATTERNS);
}

#[test]
fn chained_form_equals_its_parallel_form() {
    check_form(2, &PATTERNS);
}

/// Level-aware coefficients on every pattern they are defined for (all but dense).
#[test]
fn level_aware_recurrent_form_equals_its_parallel_form() {
    check_form_with(1, true, &PATTERNS[1..]);
}

#[test]
fn level_aware_chained_form_equals_its_parallel_form() {
    check_form_with(2, true, &PATTERNS[1..]);
}

#[test]
fn state_space_form_equals_its_parallel_form() {
    check_form(
        3,
        &[
            (2, 1, "order 1"),
            (4, 0, "pow2_lattice"),
            (4, 4, "pow2_lattice cap 4"),
            (4, 1, "pow2_lattice cap 1"),
        ],
    );
}

/// Different mixers stacked: a lattice recurrence feeding grouped-query dense attention feeding a
/// state-space layer, and the reverse, so layers hand each other non-trivial residual streams.
#[test]
fn mixed_stacks_equal_their_parallel_form() {
    let stacks: [(&str, Vec<RandomLayer>); 3] = [
        (
            "sq1_lattice chained / dense attention gqa / order-1 state space",
            vec![
                RandomLayer { pattern: 6, param: 0, form: 2, n_heads: 2, n_kv_heads: 2 },
                RandomLayer { pattern: 0, param: 0, form: 0, n_heads: 4, n_kv_heads: 1 },
                RandomLayer { pattern: 2, param: 1, form: 3, n_heads: 2, n_kv_heads: 2 },
            ],
        ),
        (
            "state space / pow2 recurrent / window 3 attention",
            vec![
                RandomLayer { pattern: 2, param: 1, form: 3, n_heads: 2, n_kv_heads: 2 },
                RandomLayer { pattern: 3, param: 0, form: 1, n_heads: 2, n_kv_heads: 2 },
                RandomLayer { pattern: 1, param: 3, form: 0, n_heads: 4, n_kv_heads: 2 },
            ],
        ),
        (
            "log-linear state space / pow2_lattice recurrent / log-linear cap 3",
            vec![
                RandomLayer { pattern: 4, param: 0, form: 3, n_heads: 4, n_kv_heads: 4 },
                RandomLayer { pattern: 4, param: 0, form: 1, n_heads: 2, n_kv_heads: 2 },
                RandomLayer { pattern: 4, param: 3, form: 3, n_heads: 2, n_kv_heads: 2 },
            ],
        ),
    ];
    for (si, (label, layers)) in stacks.into_iter().enumerate() {
        let mut spec = RandomSpec::small(layers);
        spec.dim = 32;
        spec.head_dim = 8;
        spec.vocab_size = 128;
        let bytes = AlignedBytes::new(&random_model(&spec, 4242 + si as u64).unwrap().to_bytes().unwrap());
        let model = Model::parse(bytes.as_bytes()).unwrap();
        let mut rng = Rng::new(99 + si as u64);
        let tokens: Vec<u32> = (0..300).map(|_| rng.below(128) as u32).collect();
        let worst = compare(&model, &tokens, label);
        eprintln!("{label}: n=300 worst {worst:.1e}");
    }
}
