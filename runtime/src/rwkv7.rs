//! RWKV-7 ("Goose", rwkv.cpp's `x070`) in decode form: one token at a time over borrowed weights and a
//! caller-provided `f32` buffer, without allocation.
//!
//! In the paper's terms the time mix is a first-order recurrence with a matrix state per head and a
//! data-dependent, non-diagonal transition (a generalized delta rule):
//!
//! ```text
//! S_t = S_{t-1} (diag(w_t) - kk_t^T (a_t * kk_t)) + v_t k_t^T        S: [n_heads][N][N], row = value index
//! y_t = S_t r_t
//! ```
//!
//! The whole step, as rwkv.cpp computes it (`rwkv_att_v7`, `rwkv_ffn_v7`; LayerNorm eps 1e-5):
//!
//! ```text
//! x = LN(emb[token], ln0)
//! per layer:
//!   xa = LN(x, ln1);  sx = att_xx - xa;  att_xx = xa               token shift
//!   x_i = xa + sx * mix_i   for i in r, w, k, v, a, g                (att.x_rwkvag, [6][C])
//!   r = R x_r;  k = K x_k;  v = V x_v
//!   w = exp(-0.606531 * sigmoid(w0 + W2 tanh(W1 x_w)))                decay in (0, 1)
//!   a = sigmoid(a0 + A2 A1 x_a)                                       in-context learning rate
//!   g = G2 sigmoid(G1 x_g)                                            output gate
//!   kk = l2norm_per_head(k * k_k)   (eps 1e-12);  k = k + (a * (k * k_a) - k * k_a)
//!   layer 0: v_first = v;  else v = v + (v_first - v) * sigmoid(v0 + V2 V1 x_v)   value residual
//!   per head, per row i:  sa = sum_j S[i][j] (-kk[j]);  S[i][j] = S[i][j] w[j] + v[i] k[j] + sa (kk[j] a[j]);
//!                         y[i] = sum_j S[i][j] r[j]
//!   y = group_norm(y, per head, eps 64e-5) * ln_x.weight + ln_x.bias
//!   y = y + v * sum_per_head(k * r * r_k);   x = x + O (y * g)
//!   xf = LN(x, ln2);  xk = xf + (ffn_xx - xf) * ffn.x_k;  ffn_xx = xf
//!   x = x + FV relu(FK xk)^2                                          squared-ReLU channel mix
//! logits = HEAD LN(x, ln_out)
//! ```
//!
//! # Two routes, one time mix
//!
//! A glmix model file holds RWKV-7 as the form `rwkv7` ([`crate::format::Form::Rwkv7`]) with LayerNorm,
//! `emb_norm` and the `sqrelu_shift` MLP: [`crate::Session`] runs it, calling this module's `time_mix`
//! for each layer (its norms and channel mix are the session's, with this module's `layer_norm`,
//! `shift_in_place` and `sqrelu_mlp`). [`Rwkv7Session`] runs the same functions over rwkv.cpp's tensors
//! as borrowed views ([`Rwkv7Layer`]): the independent route the importer's tests compare the imported
//! file against, bit for bit.
//!
//! # Invariants
//!
//! - [`Rwkv7::new`] checks every tensor's shape and dtype against the [`Rwkv7Shape`] it derives; after
//!   `Ok` a step cannot fail on weights. Matrices may be any weight dtype (`f32`, `f16`, `bf16`, `q8_0`,
//!   `q4_0`) and go through the session's matvec (`kernels::matvec`, rows split by a
//!   [`crate::parallel::Parallel`]), so the architecture kernels apply; per-channel vectors
//!   must be float (`f32`, `f16`, `bf16`) and are read in place.
//! - Sizes saturate instead of overflowing (a saturated size is never met by a real buffer).
//! - The state is constant in the context length: [`Rwkv7Shape::state_words`] words
//!   (`n_layers * (2 C + n_heads N^2)`), zero at the start. Scratch ([`Rwkv7Shape::scratch_words`]) holds
//!   nothing between steps. [`Rwkv7Session`] takes one buffer of [`Rwkv7Shape::total_words`].
//! - Float loops are scalar, in rwkv.cpp's operation order, through [`crate::math`] only.

use crate::kernels;
use crate::math::{expf, sqrtf, tanhf};
use crate::parallel::{Parallel, Serial};
use crate::plan::as_blocks;
use crate::quant::BlockQ8_0;
use crate::tensor::{DType, Tensor, QK};
use half::{bf16, f16};

/// LayerNorm epsilon (ln0, ln1, ln2, ln_out).
pub const LN_EPS: f32 = 1e-5;
/// Group-norm epsilon of the time-mix output (`ln_x`).
pub const GROUP_NORM_EPS: f32 = 64e-5;
/// Lower bound of the per-head L2 norm of `kk`.
pub const L2_EPS: f32 = 1e-12;
/// `w = exp(DECAY_SCALE * sigmoid(.))`: `-exp(-0.5)` rounded as rwkv.cpp writes it.
pub const DECAY_SCALE: f32 = -0.606_531;

/// The sizes of an RWKV-7 model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rwkv7Shape {
    /// Vocabulary size.
    pub vocab: usize,
    /// Width `C = n_heads * head_size`.
    pub dim: usize,
    /// Layers.
    pub n_layers: usize,
    /// Heads `H`.
    pub n_heads: usize,
    /// Head size `N`.
    pub head_size: usize,
    /// Channel-mix width (`ffn.key` rows).
    pub ffn_dim: usize,
    /// Rank of the decay LoRA (`w1` rows).
    pub lora_w: usize,
    /// Rank of the in-context-learning-rate LoRA (`a1` rows).
    pub lora_a: usize,
    /// Rank of the value-residual LoRA (`v1` rows; layers after the first).
    pub lora_v: usize,
    /// Rank of the gate LoRA (`g1` rows).
    pub lora_g: usize,
}

impl Rwkv7Shape {
    /// `Ok` when every size is non-zero (the value-residual rank too, with more than one layer) and
    /// `dim == n_heads * head_size`.
    pub fn check(&self) -> Result<(), Rwkv7Error> {
        let sizes = [
            self.vocab,
            self.dim,
            self.n_layers,
            self.n_heads,
            self.ffn_dim,
            self.lora_w,
            self.lora_a,
            self.lora_g,
        ];
        let residual = self.n_layers < 2 || self.lora_v > 0;
        if sizes.contains(&0) || !residual || self.n_heads.checked_mul(self.head_size) != Some(self.dim) {
            return Err(Rwkv7Error::BadShape);
        }
        Ok(())
    }

    /// State words of one layer: `att_xx[C]`, `ffn_xx[C]`, `S[H][N][N]`.
    pub const fn layer_state_words(&self) -> usize {
        let matrix = self.n_heads.saturating_mul(self.head_size).saturating_mul(self.head_size);
        self.dim.saturating_mul(2).saturating_add(matrix)
    }

    /// State words of the whole model (constant in the context length).
    pub const fn state_words(&self) -> usize {
        self.n_layers.saturating_mul(self.layer_state_words())
    }

    /// Largest input width of a matrix (what the q8_0 activation blocks must cover).
    const fn max_cols(&self) -> usize {
        const fn max(a: usize, b: usize) -> usize {
            if a > b {
                a
            } else {
                b
            }
        }
        let lora = max(max(self.lora_w, self.lora_a), max(self.lora_v, self.lora_g));
        max(max(self.dim, self.ffn_dim), lora)
    }

    /// Words holding the q8_0 activation blocks of the widest matrix input.
    const fn xq_words(&self) -> usize {
        self.max_cols().div_ceil(QK).saturating_mul(core::mem::size_of::<BlockQ8_0>()).div_ceil(4)
    }

    /// Scratch words of one step: 14 vectors of `C` (`x`, `xa`, `sx`, the mixed input, `r`, `w`, `k`,
    /// `v`, `a`, `g`, `kk`, `y`, the block output, `v_first`), the LoRA hidden vector, the channel-mix
    /// hidden vector, the logits and the q8_0 activation blocks.
    pub const fn scratch_words(&self) -> usize {
        let lora = self.max_cols();
        let vectors = self.dim.saturating_mul(14).saturating_add(lora).saturating_add(self.ffn_dim);
        vectors.saturating_add(self.vocab).saturating_add(self.xq_words())
    }

    /// State plus scratch: the buffer a [`Rwkv7Session`] needs.
    pub const fn total_words(&self) -> usize {
        self.state_words().saturating_add(self.scratch_words())
    }
}

/// Which tensor a [`Rwkv7Error::Tensor`] is about (rwkv.cpp's names, without `blocks.N.`).
pub type TensorName = &'static str;

/// Why a model or a step was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Rwkv7Error {
    /// A size of the model is zero, or `dim != n_heads * head_size`, or the layer count differs from
    /// the number of layers given.
    BadShape,
    /// A tensor has the wrong shape or dtype.
    Tensor {
        /// Layer (`u32::MAX` for a tensor outside the layers).
        layer: u32,
        /// Its name.
        name: TensorName,
        /// Rows and columns expected.
        want: (usize, usize),
        /// Rows and columns found.
        have: (usize, usize),
        /// Its dtype.
        dtype: DType,
    },
    /// The buffer is smaller than [`Rwkv7Shape::total_words`].
    StateTooSmall {
        /// Words needed.
        needed: usize,
        /// Words given.
        have: usize,
    },
    /// A token id outside the vocabulary.
    TokenOutOfRange {
        /// The token.
        token: u32,
        /// Vocabulary size.
        vocab_size: u32,
    },
}

impl core::fmt::Display for Rwkv7Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Rwkv7Error::BadShape => {
                write!(
                    f,
                    "inconsistent RWKV-7 sizes (zero size, or width != heads * head size, or layer count)"
                )
            }
            Rwkv7Error::Tensor { layer, name, want, have, dtype } => {
                if layer != u32::MAX {
                    write!(f, "blocks.{layer}.")?;
                }
                write!(
                    f,
                    "{name}: {}x{} {} found, {}x{} expected (vectors must be f32, f16 or bf16)",
                    have.0,
                    have.1,
                    dtype.name(),
                    want.0,
                    want.1
                )
            }
            Rwkv7Error::StateTooSmall { needed, have } => {
                write!(f, "RWKV-7 buffer too small: {needed} f32 words needed, {have} given")
            }
            Rwkv7Error::TokenOutOfRange { token, vocab_size } => {
                write!(f, "token {token} is outside the vocabulary of {vocab_size}")
            }
        }
    }
}

/// The tensors outside the layers.
#[derive(Clone, Copy, Debug)]
pub struct Rwkv7Globals<'a> {
    /// `emb.weight` `[vocab][C]`.
    pub emb: Tensor<'a>,
    /// `blocks.0.ln0.weight` `[1][C]` (applied to the embedding at every step).
    pub ln0_weight: Tensor<'a>,
    /// `blocks.0.ln0.bias` `[1][C]`.
    pub ln0_bias: Tensor<'a>,
    /// `ln_out.weight` `[1][C]`.
    pub ln_out_weight: Tensor<'a>,
    /// `ln_out.bias` `[1][C]`.
    pub ln_out_bias: Tensor<'a>,
    /// `head.weight` `[vocab][C]`.
    pub head: Tensor<'a>,
}

/// One layer's tensors (rwkv.cpp's names; `[rows][cols]`, `out = W x` for matrices).
#[derive(Clone, Copy, Debug)]
pub struct Rwkv7Layer<'a> {
    /// `ln1.weight` `[1][C]`.
    pub ln1_weight: Tensor<'a>,
    /// `ln1.bias` `[1][C]`.
    pub ln1_bias: Tensor<'a>,
    /// `ln2.weight` `[1][C]`.
    pub ln2_weight: Tensor<'a>,
    /// `ln2.bias` `[1][C]`.
    pub ln2_bias: Tensor<'a>,
    /// `att.x_rwkvag` `[6][C]`: the token-shift mix vectors for r, w, k, v, a, g.
    pub x_rwkvag: Tensor<'a>,
    /// `att.w0` `[1][C]`.
    pub w0: Tensor<'a>,
    /// `att.w1` `[lora_w][C]`.
    pub w1: Tensor<'a>,
    /// `att.w2` `[C][lora_w]`.
    pub w2: Tensor<'a>,
    /// `att.a0` `[1][C]`.
    pub a0: Tensor<'a>,
    /// `att.a1` `[lora_a][C]`.
    pub a1: Tensor<'a>,
    /// `att.a2` `[C][lora_a]`.
    pub a2: Tensor<'a>,
    /// `att.v0` `[1][C]` (empty in layer 0).
    pub v0: Tensor<'a>,
    /// `att.v1` `[lora_v][C]` (empty in layer 0).
    pub v1: Tensor<'a>,
    /// `att.v2` `[C][lora_v]` (empty in layer 0).
    pub v2: Tensor<'a>,
    /// `att.g1` `[lora_g][C]`.
    pub g1: Tensor<'a>,
    /// `att.g2` `[C][lora_g]`.
    pub g2: Tensor<'a>,
    /// `att.k_k` `[1][C]`.
    pub k_k: Tensor<'a>,
    /// `att.k_a` `[1][C]`.
    pub k_a: Tensor<'a>,
    /// `att.r_k` `[1][C]` (rwkv.cpp's `[H][N]`, flattened).
    pub r_k: Tensor<'a>,
    /// `att.receptance.weight` `[C][C]`.
    pub receptance: Tensor<'a>,
    /// `att.key.weight` `[C][C]`.
    pub key: Tensor<'a>,
    /// `att.value.weight` `[C][C]`.
    pub value: Tensor<'a>,
    /// `att.output.weight` `[C][C]`.
    pub output: Tensor<'a>,
    /// `att.ln_x.weight` `[1][C]`.
    pub ln_x_weight: Tensor<'a>,
    /// `att.ln_x.bias` `[1][C]`.
    pub ln_x_bias: Tensor<'a>,
    /// `ffn.x_k` `[1][C]`.
    pub ffn_x_k: Tensor<'a>,
    /// `ffn.key.weight` `[ffn_dim][C]`.
    pub ffn_key: Tensor<'a>,
    /// `ffn.value.weight` `[C][ffn_dim]`.
    pub ffn_value: Tensor<'a>,
}

impl Rwkv7Globals<'_> {
    /// Checks the global tensors against `shape`.
    pub fn check(&self, shape: &Rwkv7Shape) -> Result<(), Rwkv7Error> {
        let (v, c) = (shape.vocab, shape.dim);
        let g = u32::MAX;
        check(&self.emb, g, "emb.weight", (v, c), false)?;
        check(&self.ln0_weight, g, "blocks.0.ln0.weight", (1, c), true)?;
        check(&self.ln0_bias, g, "blocks.0.ln0.bias", (1, c), true)?;
        check(&self.ln_out_weight, g, "ln_out.weight", (1, c), true)?;
        check(&self.ln_out_bias, g, "ln_out.bias", (1, c), true)?;
        check(&self.head, g, "head.weight", (v, c), false)?;
        Ok(())
    }
}

impl Rwkv7Layer<'_> {
    /// Checks layer `l`'s tensors against `shape` (`att.v0/v1/v2` empty in layer 0, present after).
    pub fn check(&self, shape: &Rwkv7Shape, l: usize) -> Result<(), Rwkv7Error> {
        let li = l as u32;
        let c = shape.dim;
        let f = shape.ffn_dim;
        let vecs = [
            (&self.ln1_weight, "ln1.weight"),
            (&self.ln1_bias, "ln1.bias"),
            (&self.ln2_weight, "ln2.weight"),
            (&self.ln2_bias, "ln2.bias"),
            (&self.w0, "att.w0"),
            (&self.a0, "att.a0"),
            (&self.k_k, "att.k_k"),
            (&self.k_a, "att.k_a"),
            (&self.r_k, "att.r_k"),
            (&self.ln_x_weight, "att.ln_x.weight"),
            (&self.ln_x_bias, "att.ln_x.bias"),
            (&self.ffn_x_k, "ffn.x_k"),
        ];
        for (t, name) in vecs {
            check(t, li, name, (1, c), true)?;
        }
        check(&self.x_rwkvag, li, "att.x_rwkvag", (6, c), true)?;
        let (lw, la, lv, lg) = (shape.lora_w, shape.lora_a, shape.lora_v, shape.lora_g);
        let mats = [
            (&self.w1, "att.w1", (lw, c)),
            (&self.w2, "att.w2", (c, lw)),
            (&self.a1, "att.a1", (la, c)),
            (&self.a2, "att.a2", (c, la)),
            (&self.g1, "att.g1", (lg, c)),
            (&self.g2, "att.g2", (c, lg)),
            (&self.receptance, "att.receptance.weight", (c, c)),
            (&self.key, "att.key.weight", (c, c)),
            (&self.value, "att.value.weight", (c, c)),
            (&self.output, "att.output.weight", (c, c)),
            (&self.ffn_key, "ffn.key.weight", (f, c)),
            (&self.ffn_value, "ffn.value.weight", (c, f)),
        ];
        for (t, name, want) in mats {
            check(t, li, name, want, false)?;
        }
        // The value residual exists from layer 1 on (layer 0 defines v_first).
        let (v0, v1, v2) = if l == 0 { ((0, 0), (0, 0), (0, 0)) } else { ((1, c), (lv, c), (c, lv)) };
        check(&self.v0, li, "att.v0", v0, true)?;
        check(&self.v1, li, "att.v1", v1, false)?;
        check(&self.v2, li, "att.v2", v2, false)?;
        if l > 0 && lv == 0 {
            return Err(Rwkv7Error::BadShape);
        }
        Ok(())
    }
}

/// A validated RWKV-7 model: its shape, global tensors and borrowed layers.
#[derive(Clone, Copy, Debug)]
pub struct Rwkv7<'w, 'a> {
    shape: Rwkv7Shape,
    globals: Rwkv7Globals<'a>,
    layers: &'w [Rwkv7Layer<'a>],
}

/// Checks one tensor's shape (and, for a vector, that its dtype is float).
fn check(
    t: &Tensor<'_>,
    layer: u32,
    name: TensorName,
    want: (usize, usize),
    vector: bool,
) -> Result<(), Rwkv7Error> {
    let float = matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16);
    let ok = (t.rows(), t.cols()) == want && t.dtype().is_weight() && (float || !vector);
    if ok {
        Ok(())
    } else {
        Err(Rwkv7Error::Tensor { layer, name, want, have: (t.rows(), t.cols()), dtype: t.dtype() })
    }
}

impl<'w, 'a> Rwkv7<'w, 'a> {
    /// Derives the shape from the tensors (`n_heads` from the caller: rwkv.cpp reads it from `r_k`'s
    /// shape) and checks every tensor against it.
    pub fn new(
        n_heads: usize,
        globals: Rwkv7Globals<'a>,
        layers: &'w [Rwkv7Layer<'a>],
    ) -> Result<Self, Rwkv7Error> {
        let first = layers.first().ok_or(Rwkv7Error::BadShape)?;
        let dim = globals.emb.cols();
        let shape = Rwkv7Shape {
            vocab: globals.emb.rows(),
            dim,
            n_layers: layers.len(),
            n_heads,
            head_size: dim.checked_div(n_heads).unwrap_or(0),
            ffn_dim: first.ffn_key.rows(),
            lora_w: first.w1.rows(),
            lora_a: first.a1.rows(),
            lora_v: layers.get(1).map_or(0, |l| l.v1.rows()),
            lora_g: first.g1.rows(),
        };
        shape.check()?;
        globals.check(&shape)?;
        for (l, layer) in layers.iter().enumerate() {
            layer.check(&shape, l)?;
        }
        Ok(Rwkv7 { shape, globals, layers })
    }

    /// The model's sizes.
    pub fn shape(&self) -> &Rwkv7Shape {
        &self.shape
    }
}

/// One sequence: the model and its state, in one caller-provided buffer of
/// [`Rwkv7Shape::total_words`] (state first, then scratch).
pub struct Rwkv7Session<'m, 'w, 'a, 's> {
    model: &'m Rwkv7<'w, 'a>,
    buf: &'s mut [f32],
}

impl<'m, 'w, 'a, 's> Rwkv7Session<'m, 'w, 'a, 's> {
    /// A session in the initial (zero) state; `buf` must hold [`Rwkv7Shape::total_words`] words.
    pub fn new(model: &'m Rwkv7<'w, 'a>, buf: &'s mut [f32]) -> Result<Self, Rwkv7Error> {
        let needed = model.shape.total_words();
        if buf.len() < needed {
            return Err(Rwkv7Error::StateTooSmall { needed, have: buf.len() });
        }
        let mut s = Rwkv7Session { model, buf };
        s.reset();
        Ok(s)
    }

    /// Back to the initial state (all zeros).
    pub fn reset(&mut self) {
        self.buf.fill(0.0);
    }

    /// The recurrent state ([`Rwkv7Shape::state_words`] words; per layer `att_xx`, `ffn_xx`, `S`).
    pub fn state(&self) -> &[f32] {
        self.buf.get(..self.model.shape.state_words()).unwrap_or_default()
    }

    /// Feeds `token`; returns the logits of the next token.
    pub fn step(&mut self, token: u32) -> Result<&[f32], Rwkv7Error> {
        let shape = &self.model.shape;
        if token as usize >= shape.vocab {
            return Err(Rwkv7Error::TokenOutOfRange { token, vocab_size: shape.vocab as u32 });
        }
        let (state, scratch) = self.buf.split_at_mut(shape.state_words().min(self.buf.len()));
        let s = Scratch::split(scratch, shape);
        let Scratch { x, xa, sx, xm, r, w, k, v, a, g, kk, y, out, v_first, lora, hidden, logits, xq } = s;
        let g_ = &self.model.globals;
        kernels::embedding_row(&g_.emb, token as usize, x);
        layer_norm(x, elems(&g_.ln0_weight, 0), elems(&g_.ln0_bias, 0), LN_EPS);
        let layer_words = shape.layer_state_words();
        let c = shape.dim;
        let mut tm = TimeMix { sx, xm, r, w, k, v, a, g, kk, y, out, v_first, lora, xq };
        for (l, (layer, st)) in self.model.layers.iter().zip(state.chunks_exact_mut(layer_words)).enumerate()
        {
            let (att_xx, rest) = st.split_at_mut(c.min(st.len()));
            let (ffn_xx, matrix) = rest.split_at_mut(c.min(rest.len()));
            let lora_v = if l == 0 { 0 } else { shape.lora_v };
            let ranks = [shape.lora_w, shape.lora_a, lora_v, shape.lora_g];
            let p = TimeMixShape { head_size: shape.head_size, ranks, group_norm_eps: GROUP_NORM_EPS };

            copy(xa, x);
            layer_norm(xa, elems(&layer.ln1_weight, 0), elems(&layer.ln1_bias, 0), LN_EPS);
            time_mix(&Serial, &p, layer, xa, att_xx, matrix, &mut tm);
            add(x, tm.out);

            copy(xa, x);
            layer_norm(xa, elems(&layer.ln2_weight, 0), elems(&layer.ln2_bias, 0), LN_EPS);
            shift_in_place(xa, ffn_xx, elems(&layer.ffn_x_k, 0));
            sqrelu_mlp(&Serial, &layer.ffn_key, &layer.ffn_value, xa, tm.xq, hidden, tm.out);
            add(x, tm.out);
        }
        copy(xa, x);
        layer_norm(xa, elems(&g_.ln_out_weight, 0), elems(&g_.ln_out_bias, 0), LN_EPS);
        matvec(&Serial, &g_.head, xa, tm.xq, logits);
        Ok(logits)
    }
}

/// The scratch vectors of one [`Rwkv7Session`] step.
struct Scratch<'s> {
    x: &'s mut [f32],
    xa: &'s mut [f32],
    sx: &'s mut [f32],
    xm: &'s mut [f32],
    r: &'s mut [f32],
    w: &'s mut [f32],
    k: &'s mut [f32],
    v: &'s mut [f32],
    a: &'s mut [f32],
    g: &'s mut [f32],
    kk: &'s mut [f32],
    y: &'s mut [f32],
    out: &'s mut [f32],
    v_first: &'s mut [f32],
    lora: &'s mut [f32],
    hidden: &'s mut [f32],
    logits: &'s mut [f32],
    xq: &'s mut [BlockQ8_0],
}

/// Splits the first `n` elements off `buf` (fewer when it is shorter).
pub(crate) fn take<'s, T>(buf: &mut &'s mut [T], n: usize) -> &'s mut [T] {
    let whole = core::mem::take(buf);
    let (head, tail) = whole.split_at_mut(n.min(whole.len()));
    *buf = tail;
    head
}

impl<'s> Scratch<'s> {
    fn split(mut buf: &'s mut [f32], p: &Rwkv7Shape) -> Scratch<'s> {
        let b = &mut buf;
        let c = p.dim;
        Scratch {
            x: take(b, c),
            xa: take(b, c),
            sx: take(b, c),
            xm: take(b, c),
            r: take(b, c),
            w: take(b, c),
            k: take(b, c),
            v: take(b, c),
            a: take(b, c),
            g: take(b, c),
            kk: take(b, c),
            y: take(b, c),
            out: take(b, c),
            v_first: take(b, c),
            lora: take(b, p.max_cols()),
            hidden: take(b, p.ffn_dim),
            logits: take(b, p.vocab),
            xq: as_blocks(take(b, p.xq_words())),
        }
    }
}

/// The elements of row `row` of a float vector tensor, widened to f32 (empty for other dtypes).
pub(crate) fn elems<'t>(t: &Tensor<'t>, row: usize) -> impl Iterator<Item = f32> + 't {
    let bytes = t.row(row);
    let dtype = t.dtype();
    let (w4, w2) = match dtype {
        DType::F32 => (bytes.as_chunks::<4>().0, &[][..]),
        DType::F16 | DType::BF16 => (&[][..], bytes.as_chunks::<2>().0),
        _ => (&[][..], &[][..]),
    };
    let wide = w4.iter().map(|&b| f32::from_le_bytes(b));
    let half = w2.iter().map(move |&b| match dtype {
        DType::F16 => f16::from_le_bytes(b).to_f32(),
        _ => bf16::from_le_bytes(b).to_f32(),
    });
    wide.chain(half)
}

/// `out = W x` (rows split by `par`), quantizing `x` into `xq` first when `W` is block-quantized.
fn matvec(par: &dyn Parallel, w: &Tensor<'_>, x: &[f32], xq: &mut [BlockQ8_0], out: &mut [f32]) {
    crate::mixer::matvec(par, w, x, xq, out);
}

/// `dst = src` over the common prefix.
fn copy(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v);
}

/// `x += y` over the common prefix.
fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, &b)| *a += b);
}

/// `1 / (1 + e^-x)` (ggml's sigmoid).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + expf(-x))
}

/// Normalizes `x` to zero mean and unit variance (ggml_norm: two passes, `eps` inside the root).
fn normalize(x: &mut [f32], eps: f32) {
    let n = x.len() as f32;
    let mut sum = 0.0f32;
    for &v in x.iter() {
        sum += v;
    }
    let mean = sum / n;
    let mut sum2 = 0.0f32;
    for v in x.iter_mut() {
        *v -= mean;
        sum2 += *v * *v;
    }
    let scale = 1.0 / sqrtf(sum2 / n + eps);
    for v in x.iter_mut() {
        *v *= scale;
    }
}

/// LayerNorm in place: `normalize(x) * weight + bias` (the norm of [`crate::format::NormKind::LayerNorm`]).
pub(crate) fn layer_norm(
    x: &mut [f32],
    weight: impl Iterator<Item = f32>,
    bias: impl Iterator<Item = f32>,
    eps: f32,
) {
    normalize(x, eps);
    for ((v, w), b) in x.iter_mut().zip(weight).zip(bias) {
        *v = *v * w + b;
    }
}

/// The channel mix's token shift in place: `x = x + (prev - x) * mix`, then `prev =` the old `x`.
pub(crate) fn shift_in_place(x: &mut [f32], prev: &mut [f32], mix: impl Iterator<Item = f32>) {
    for ((v, p), m) in x.iter_mut().zip(prev.iter_mut()).zip(mix) {
        let cur = *v;
        *v = (*p - cur) * m + cur;
        *p = cur;
    }
}

/// The squared-ReLU channel mix on the shifted input `x`: `out = W2 relu(W1 x)^2` (`hidden` holds
/// `W1 x`).
pub(crate) fn sqrelu_mlp(
    par: &dyn Parallel,
    w1: &Tensor<'_>,
    w2: &Tensor<'_>,
    x: &[f32],
    xq: &mut [BlockQ8_0],
    hidden: &mut [f32],
    out: &mut [f32],
) {
    matvec(par, w1, x, xq, hidden);
    for h in hidden.iter_mut() {
        let r = h.max(0.0);
        *h = r * r;
    }
    matvec(par, w2, hidden, xq, out);
}

/// `xm = xa + sx * mix` (the token shift of one branch).
fn shift_mix(xm: &mut [f32], xa: &[f32], sx: &[f32], mix: impl Iterator<Item = f32>) {
    for (((o, &a), &d), m) in xm.iter_mut().zip(xa).zip(sx).zip(mix) {
        *o = d * m + a;
    }
}

/// What one layer's time mix needs besides its tensors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeMixShape {
    /// Head size `N`.
    pub head_size: usize,
    /// LoRA ranks `[w, a, v, g]` (`v == 0`: this layer sets the step's first value).
    pub ranks: [usize; 4],
    /// Group-norm epsilon.
    pub group_norm_eps: f32,
}

/// The buffers of one layer's time mix: the output `out` (`[C]`),
/// `v_first` (`[H N]`, kept across the layers of a step), and work vectors (`sx`, `xm` `[C]`;
/// `r` ... `y` `[H N]`; `lora` the widest rank; the q8_0 blocks of the widest input).
pub(crate) struct TimeMix<'s> {
    pub sx: &'s mut [f32],
    pub xm: &'s mut [f32],
    pub r: &'s mut [f32],
    pub w: &'s mut [f32],
    pub k: &'s mut [f32],
    pub v: &'s mut [f32],
    pub a: &'s mut [f32],
    pub g: &'s mut [f32],
    pub kk: &'s mut [f32],
    pub y: &'s mut [f32],
    pub out: &'s mut [f32],
    pub v_first: &'s mut [f32],
    pub lora: &'s mut [f32],
    pub xq: &'s mut [BlockQ8_0],
}

/// One layer's time mix: reads the normed input `xa` (`[C]`), writes `s.out = O (y * g)`, updates the token shift `att_xx`
/// (`[C]`) and the heads' matrices `matrix` (`[H][N][N]`). The layer's `ln*` and `ffn*` tensors are
/// not read.
pub(crate) fn time_mix(
    par: &dyn Parallel,
    p: &TimeMixShape,
    l: &Rwkv7Layer<'_>,
    xa: &[f32],
    att_xx: &mut [f32],
    matrix: &mut [f32],
    s: &mut TimeMix<'_>,
) {
    let [rank_w, rank_a, rank_v, rank_g] = p.ranks;
    // Token shift: sx = att_xx - xa; att_xx = xa.
    for ((d, prev), &cur) in s.sx.iter_mut().zip(att_xx.iter_mut()).zip(xa.iter()) {
        *d = *prev - cur;
        *prev = cur;
    }
    let mix = &l.x_rwkvag;

    // r = R x_r
    shift_mix(s.xm, xa, s.sx, elems(mix, 0));
    matvec(par, &l.receptance, s.xm, s.xq, s.r);

    // w = exp(-0.606531 * sigmoid(w0 + W2 tanh(W1 x_w)))
    shift_mix(s.xm, xa, s.sx, elems(mix, 1));
    let lw = s.lora.get_mut(..rank_w).unwrap_or_default();
    matvec(par, &l.w1, s.xm, s.xq, lw);
    lw.iter_mut().for_each(|h| *h = tanhf(*h));
    matvec(par, &l.w2, lw, s.xq, s.w);
    for (w, w0) in s.w.iter_mut().zip(elems(&l.w0, 0)) {
        *w = expf(sigmoid(*w + w0) * DECAY_SCALE);
    }

    // k = K x_k
    shift_mix(s.xm, xa, s.sx, elems(mix, 2));
    matvec(par, &l.key, s.xm, s.xq, s.k);

    // v = V x_v, with the value residual when the layer has one (x_v stays in xm for its LoRA).
    shift_mix(s.xm, xa, s.sx, elems(mix, 3));
    matvec(par, &l.value, s.xm, s.xq, s.v);
    if rank_v == 0 {
        copy(s.v_first, s.v);
    } else {
        let lv = s.lora.get_mut(..rank_v).unwrap_or_default();
        matvec(par, &l.v1, s.xm, s.xq, lv);
        // The gate's logits go to `y` (free until the delta rule writes it).
        matvec(par, &l.v2, lv, s.xq, s.y);
        for (((v, &vf), &h), v0) in s.v.iter_mut().zip(s.v_first.iter()).zip(s.y.iter()).zip(elems(&l.v0, 0))
        {
            *v += (vf - *v) * sigmoid(h + v0);
        }
    }

    // a = sigmoid(a0 + A2 A1 x_a)
    shift_mix(s.xm, xa, s.sx, elems(mix, 4));
    let la = s.lora.get_mut(..rank_a).unwrap_or_default();
    matvec(par, &l.a1, s.xm, s.xq, la);
    matvec(par, &l.a2, la, s.xq, s.a);
    for (a, a0) in s.a.iter_mut().zip(elems(&l.a0, 0)) {
        *a = sigmoid(*a + a0);
    }

    // g = G2 sigmoid(G1 x_g)
    shift_mix(s.xm, xa, s.sx, elems(mix, 5));
    let lg = s.lora.get_mut(..rank_g).unwrap_or_default();
    matvec(par, &l.g1, s.xm, s.xq, lg);
    lg.iter_mut().for_each(|h| *h = sigmoid(*h));
    matvec(par, &l.g2, lg, s.xq, s.g);

    // kk = l2norm_per_head(k * k_k); k = k + (a * (k * k_a) - k * k_a)
    for (((kk, k), (kkw, ka)), &a) in
        s.kk.iter_mut().zip(s.k.iter_mut()).zip(elems(&l.k_k, 0).zip(elems(&l.k_a, 0))).zip(s.a.iter())
    {
        *kk = *k * kkw;
        let kka = *k * ka;
        *k += a * kka - kka;
    }
    let n = p.head_size.max(1);
    for head in s.kk.chunks_exact_mut(n) {
        let mut ss = 0.0f32;
        for &v in head.iter() {
            ss += v * v;
        }
        let scale = 1.0 / sqrtf(ss).max(L2_EPS);
        head.iter_mut().for_each(|v| *v *= scale);
    }

    // The generalized delta rule, per head: S = S diag(w) + v k^T + (S (-kk)) (kk * a)^T; y = S r.
    let heads =
        s.y.chunks_exact_mut(n)
            .zip(matrix.chunks_exact_mut(n * n))
            .zip(s.r.chunks_exact(n).zip(s.w.chunks_exact(n)))
            .zip(s.k.chunks_exact(n).zip(s.v.chunks_exact(n)))
            .zip(s.kk.chunks_exact(n).zip(s.a.chunks_exact(n)));
    for ((((y, sm), (r, w)), (k, v)), (kk, a)) in heads {
        for ((yi, row), &vi) in y.iter_mut().zip(sm.chunks_exact_mut(n)).zip(v) {
            let mut sa = 0.0f32;
            for (&sij, &kkj) in row.iter().zip(kk) {
                sa += -kkj * sij;
            }
            let mut acc = 0.0f32;
            for (((sij, &wj), (&kj, &rj)), (&kkj, &aj)) in
                row.iter_mut().zip(w).zip(k.iter().zip(r)).zip(kk.iter().zip(a))
            {
                *sij = *sij * wj + vi * kj + sa * (kkj * aj);
                acc += *sij * rj;
            }
            *yi = acc;
        }
    }

    // y = group_norm(y) * ln_x.weight + ln_x.bias
    for head in s.y.chunks_exact_mut(n) {
        normalize(head, p.group_norm_eps);
    }
    for ((y, wt), b) in s.y.iter_mut().zip(elems(&l.ln_x_weight, 0)).zip(elems(&l.ln_x_bias, 0)) {
        *y = *y * wt + b;
    }

    // y += v * sum_per_head(k * r * r_k); out = O (y * g)
    let bonus =
        s.y.chunks_exact_mut(n).zip(s.v.chunks_exact(n)).zip(s.k.chunks_exact(n).zip(s.r.chunks_exact(n)));
    let mut rk = elems(&l.r_k, 0);
    for ((y, v), (k, r)) in bonus {
        let mut sum = 0.0f32;
        for ((&kj, &rj), rkj) in k.iter().zip(r).zip(rk.by_ref()) {
            sum += kj * rj * rkj;
        }
        for (yi, &vi) in y.iter_mut().zip(v) {
            *yi += vi * sum;
        }
    }
    for (y, &g) in s.y.iter_mut().zip(s.g.iter()) {
        *y *= g;
    }
    matvec(par, &l.output, s.y, s.xq, s.out);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn tiny() -> Rwkv7Shape {
        // rwkv.cpp's tiny-rwkv-7v0-834K.
        Rwkv7Shape {
            vocab: 256,
            dim: 64,
            n_layers: 12,
            n_heads: 1,
            head_size: 64,
            ffn_dim: 256,
            lora_w: 32,
            lora_a: 32,
            lora_v: 32,
            lora_g: 32,
        }
    }

    #[test]
    fn sizes() {
        let s = tiny();
        assert_eq!(s.layer_state_words(), 2 * 64 + 64 * 64);
        assert_eq!(s.state_words(), 12 * 4224);
        // 8 q8_0 blocks of 34 bytes for the 256-wide channel-mix input: 68 words.
        assert_eq!(s.xq_words(), 68);
        assert_eq!(s.scratch_words(), 14 * 64 + 256 + 256 + 256 + 68);
        let huge = Rwkv7Shape { dim: usize::MAX / 2, n_heads: 2, head_size: usize::MAX / 4, ..s };
        assert_eq!(huge.total_words(), usize::MAX);
    }

    #[test]
    fn no_layers_is_an_error() {
        let e = Tensor::empty();
        let g =
            Rwkv7Globals { emb: e, ln0_weight: e, ln0_bias: e, ln_out_weight: e, ln_out_bias: e, head: e };
        assert_eq!(Rwkv7::new(1, g, &[]).err(), Some(Rwkv7Error::BadShape));
    }

    #[test]
    fn vectors_of_every_float_dtype_read_the_same() {
        #[repr(C, align(4))]
        struct Aligned([u8; 12]);
        let vals = [1.5f32, -2.0, 0.25];
        let mut f32b = Aligned([0; 12]);
        for (c, v) in f32b.0.chunks_exact_mut(4).zip(vals) {
            c.copy_from_slice(&v.to_le_bytes());
        }
        let f16b: std::vec::Vec<u8> = vals.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect();
        let bf16b: std::vec::Vec<u8> = vals.iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes()).collect();
        for (dtype, bytes) in [(DType::F32, &f32b.0[..]), (DType::F16, &f16b[..]), (DType::BF16, &bf16b[..])]
        {
            let t = Tensor::new(dtype, 1, 3, bytes).unwrap();
            assert!(elems(&t, 0).eq(vals), "{dtype:?}");
            assert_eq!(elems(&t, 1).count(), 0, "past the last row");
        }
        let q = Tensor::new(DType::Q8_0, 1, 3, &[0u8; 34]).unwrap();
        assert_eq!(elems(&q, 0).count(), 0, "quantized vectors read as empty");
        assert!(check(&q, 0, "att.w0", (1, 3), true).is_err(), "and the checks refuse them");
        assert!(check(&q, 0, "att.w1", (1, 3), false).is_ok(), "as matrices they are fine");
    }

    #[test]
    fn norms() {
        let mut x = [1.0f32, 2.0, 3.0, 4.0];
        normalize(&mut x, 0.0);
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        let var: f32 = x.iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{x:?}");
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(-200.0) == 0.0 && sigmoid(200.0) == 1.0);
    }
}
