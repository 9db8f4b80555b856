//! The memory planner: exactly how many bytes of RAM a model needs for a given maximum context,
//! before anything runs.
//!
//! All state lives in one caller-provided `&mut [f32]` (4-byte words). Its layout, in order:
//!
//! ```text
//! per layer l:   tags   [tag_words]                  lattice slot tags (u32 positions), else empty
//!                keys   [slots][kv_dim]              k_j (after RoPE)          attention, recurrent, chained
//!                values [slots][kv_dim]              v_j                       attention, chained
//!                outs   [slots][q_dim]               o_j (the mixer's y_j)     recurrent, chained
//!                matrix [n_heads][head_dim][head_dim] S                        state_space (order 1)
//!                matrix [slots][n_heads][head_dim][head_dim] segment states    state_space (pow2_lattice)
//!                matrix [n_heads][head_dim][head_dim] S                        rwkv7 (order 1)
//!                shift  [dim] the previous token's normed input               rwkv7 mixer
//!                       [dim] the previous token's normed input               sqrelu_shift MLP
//! scratch:       x, xb, xb2 [dim]; hb, hb2 [max(hidden, q_dim, n_heads * L, rwkv7 work)] (state
//!                space: the level weights of crate::mixer::loglinear in hb, decay gates in hb2;
//!                rwkv7: sx, xm [dim], w, a, g, kk [q_dim], the LoRA vector in hb); q [max q_dim];
//!                k, v [max kv_dim]; o [max q_dim]; first [q_dim of rwkv7 layers] (the step's first
//!                value, kept across its layers);
//!                scores [max_reads + 1]; reads [max_reads] (u32 slots); logits [vocab];
//!                xq [q8_0 blocks of the widest activation]
//! ```
//!
//! Each layer's sizes come from its mixer ([`crate::mixer::plan`]): `slots` is the pattern's
//! [`crate::pattern::Pattern::slots`] for the context, so the sizes are O(1), O(k), O(log n),
//! O(sqrt n) or O(n) per layer as the pattern dictates.
//!
//! The layout is written once: [`LayerPlan::regions`] and [`ScratchPlan::regions`] list the word
//! counts in buffer order; the sizes ([`Plan::total_words`]) and the session's views of the buffer
//! (`LayerState::split`, `Scratch::split`) are both derived from them.

use crate::format::{Form, MlpKind, MAX_LAYERS};
use crate::model::{Config, MixerConfig, Model};
use crate::quant::BlockQ8_0;

/// Word counts of one layer's cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerPlan {
    /// Cached positions.
    pub slots: usize,
    /// Tag words (lattice patterns).
    pub tags: usize,
    /// Key words.
    pub keys: usize,
    /// Value words.
    pub values: usize,
    /// Mixer-output words.
    pub outs: usize,
    /// State-matrix words.
    pub matrix: usize,
    /// Token-shift words: the previous token's normed input of the mixer (RWKV-7) and of the MLP
    /// (squared-ReLU with token shift), `dim` each.
    pub shift: usize,
}

impl LayerPlan {
    /// Word counts of the layer's regions, in buffer order: tags, keys, values, outs, matrix, shift.
    pub const fn regions(&self) -> [usize; 6] {
        [self.tags, self.keys, self.values, self.outs, self.matrix, self.shift]
    }

    /// Total words of this layer.
    pub const fn words(&self) -> usize {
        sum(&self.regions())
    }

    /// The cache a mixer needs for `max_context` positions ([`crate::mixer::plan`]), without the
    /// token-shift words, which depend on the model's width ([`LayerPlan::for_model`]).
    pub const fn new(m: &MixerConfig, max_context: u32) -> LayerPlan {
        crate::mixer::plan(m, max_context)
    }

    /// The whole state of a layer with mixer `m` in a model of `c`, for `max_context` positions.
    pub fn for_model(c: &Config, m: &MixerConfig, max_context: u32) -> LayerPlan {
        let mut p = LayerPlan::new(m, max_context);
        let shifts = usize::from(m.form == Form::Rwkv7) + usize::from(c.mlp == MlpKind::SqReluShift);
        p.shift = shifts * c.dim;
        p
    }
}

/// Word counts of the scratch buffers shared by all layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScratchPlan {
    /// Model width.
    pub dim: usize,
    /// MLP width.
    pub hidden: usize,
    /// Widest query projection.
    pub q: usize,
    /// Widest key/value projection.
    pub kv: usize,
    /// The step's first value (widest RWKV-7 layer's `q_dim`; 0 without RWKV-7 layers).
    pub first: usize,
    /// Most positions one step reads, plus the current one.
    pub scores: usize,
    /// Vocabulary size (logits).
    pub vocab: usize,
    /// q8_0 blocks of the widest activation, in words.
    pub xq: usize,
}

impl ScratchPlan {
    /// Word counts of the scratch regions, in buffer order: x, xb, xb2, hb, hb2, q, k, v, o, first,
    /// scores, reads, logits, xq.
    pub const fn regions(&self) -> [usize; 14] {
        let (d, h, q, kv) = (self.dim, self.hidden, self.q, self.kv);
        let reads = self.scores.saturating_sub(1);
        [d, d, d, h, h, q, kv, kv, q, self.first, self.scores, reads, self.vocab, self.xq]
    }

    /// Total scratch words.
    pub const fn words(&self) -> usize {
        sum(&self.regions())
    }
}

const fn sum(words: &[usize]) -> usize {
    let (mut total, mut rest) = (0, words);
    while let [first, tail @ ..] = rest {
        total += *first;
        rest = tail;
    }
    total
}

/// The memory plan of a model for a maximum context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Context the plan serves: steps `0..max_context`.
    pub max_context: u32,
    /// Per-layer caches, one per layer of the model.
    pub layers: heapless::Vec<LayerPlan, MAX_LAYERS>,
    /// Shared scratch.
    pub scratch: ScratchPlan,
}

/// Blocks of q8_0 needed for an activation of `n` elements.
pub const fn q8_blocks(n: usize) -> usize {
    n.div_ceil(crate::tensor::QK)
}

impl Plan {
    /// Plans `model` for steps `0..max_context`.
    pub fn new(model: &Model<'_>, max_context: u32) -> Plan {
        let c = model.config();
        let mut layers = heapless::Vec::new();
        let (mut q, mut kv, mut reads, mut hidden, mut first, mut rank) = (0, 0, 0, 0, 0, 0);
        for m in model.mixers() {
            // A model has at most MAX_LAYERS layers (checked by the parser), so this never drops one.
            let _ = layers.push(LayerPlan::for_model(c, m, max_context));
            q = q.max(m.q_dim());
            kv = kv.max(m.kv_dim());
            let needs = crate::mixer::scratch(m, c.max_context as u32, max_context);
            reads = reads.max(needs.reads);
            hidden = hidden.max(needs.hidden);
            if m.form == Form::Rwkv7 {
                hidden = hidden.max(crate::mixer::rwkv7_work_words(c.dim, m));
                first = first.max(m.q_dim());
            }
            rank = m.lora.iter().fold(rank, |r, &n| r.max(n));
        }
        let widest = c.dim.max(c.hidden_dim).max(q).max(rank);
        let xq_bytes = q8_blocks(widest) * core::mem::size_of::<BlockQ8_0>();
        let scratch = ScratchPlan {
            dim: c.dim,
            // The MLP's buffers, which the mixers borrow (sized for the widest query too).
            hidden: c.hidden_dim.max(q).max(hidden),
            q,
            kv,
            first,
            scores: reads + 1,
            vocab: c.vocab_size,
            xq: xq_bytes.div_ceil(4),
        };
        Plan { max_context, layers, scratch }
    }

    /// The layers' plans.
    pub fn layers(&self) -> &[LayerPlan] {
        &self.layers
    }

    /// Words of all layer caches.
    pub fn state_words(&self) -> usize {
        self.layers().iter().map(LayerPlan::words).sum()
    }

    /// Words of the whole buffer a [`crate::Session`] needs (caches + scratch).
    pub fn total_words(&self) -> usize {
        self.state_words() + self.scratch.words()
    }

    /// Bytes of the whole buffer.
    pub fn total_bytes(&self) -> usize {
        self.total_words() * 4
    }

    /// Bytes of the layer caches (what grows with context).
    pub fn state_bytes(&self) -> usize {
        self.state_words() * 4
    }

    /// Bytes of scratch.
    pub fn scratch_bytes(&self) -> usize {
        self.scratch.words() * 4
    }
}

/// Splits `buf` into `N` regions of the given word counts, in order (a region is cut short, possibly
/// empty, when `buf` is; a session checks the buffer's size up front).
fn carve<const N: usize>(mut buf: &mut [f32], words: [usize; N]) -> [&mut [f32]; N] {
    words.map(|n| {
        let whole = core::mem::take(&mut buf);
        let (head, tail) = whole.split_at_mut(n.min(whole.len()));
        buf = tail;
        head
    })
}

/// Views f32 words as u32 words (tags and slot lists live in the same buffer as floats).
fn as_u32(words: &mut [f32]) -> &mut [u32] {
    // SAFETY: f32 and u32 have the same size and alignment and every bit pattern is valid for both;
    // the returned slice covers exactly the same memory under the same exclusive borrow.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u32>(), words.len()) }
}

/// Views f32 words as q8_0 blocks (as many whole blocks as fit).
pub(crate) fn as_blocks(words: &mut [f32]) -> &mut [BlockQ8_0] {
    let n = core::mem::size_of_val(words) / core::mem::size_of::<BlockQ8_0>();
    // SAFETY: BlockQ8_0 is `repr(C)` plain bytes with alignment 1 and no invalid bit patterns; `n`
    // blocks fit in the words' memory; the borrow is exclusive for the returned lifetime.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<BlockQ8_0>(), n) }
}

/// One layer's cache regions, as [`LayerPlan::regions`] lays them out.
pub(crate) struct LayerState<'a> {
    pub tags: &'a mut [u32],
    pub keys: &'a mut [f32],
    pub values: &'a mut [f32],
    pub outs: &'a mut [f32],
    pub matrix: &'a mut [f32],
    pub shift: &'a mut [f32],
}

impl<'a> LayerState<'a> {
    /// Views the front of `buf` as the layer's regions; returns them and the rest of `buf`.
    pub fn split(buf: &'a mut [f32], p: &LayerPlan) -> (LayerState<'a>, &'a mut [f32]) {
        let (layer, rest) = buf.split_at_mut(p.words().min(buf.len()));
        let [tags, keys, values, outs, matrix, shift] = carve(layer, p.regions());
        (LayerState { tags: as_u32(tags), keys, values, outs, matrix, shift }, rest)
    }
}

/// The scratch buffers of one step, as [`ScratchPlan::regions`] lays them out.
pub(crate) struct Scratch<'a> {
    pub x: &'a mut [f32],
    pub xb: &'a mut [f32],
    pub xb2: &'a mut [f32],
    pub hb: &'a mut [f32],
    pub hb2: &'a mut [f32],
    pub q: &'a mut [f32],
    pub k: &'a mut [f32],
    pub v: &'a mut [f32],
    pub o: &'a mut [f32],
    pub first: &'a mut [f32],
    pub scores: &'a mut [f32],
    pub reads: &'a mut [u32],
    pub logits: &'a mut [f32],
    pub xq: &'a mut [BlockQ8_0],
}

impl<'a> Scratch<'a> {
    /// Views `buf` (the words after the layer caches) as the scratch regions.
    pub fn split(buf: &'a mut [f32], p: &ScratchPlan) -> Scratch<'a> {
        let [x, xb, xb2, hb, hb2, q, k, v, o, first, scores, reads, logits, xq] = carve(buf, p.regions());
        let reads = as_u32(reads);
        Scratch { x, xb, xb2, hb, hb2, q, k, v, o, first, scores, reads, logits, xq: as_blocks(xq) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carve_cuts_in_order_and_short() {
        let mut buf = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        let [a, b, c] = carve(&mut buf, [2, 0, 2]);
        assert_eq!((&a[..], &b[..], &c[..]), (&[0.0, 1.0][..], &[][..], &[2.0, 3.0][..]));
        let [a, b] = carve(&mut buf, [4, 3]);
        assert_eq!((a.len(), b.len()), (4, 1), "the last region is cut short");
    }

    #[test]
    fn sizes_are_the_sum_of_the_regions() {
        let p = ScratchPlan { dim: 3, hidden: 5, q: 7, kv: 11, first: 2, scores: 13, vocab: 17, xq: 19 };
        assert_eq!(p.words(), 3 * 3 + 2 * 5 + 2 * 7 + 2 * 11 + 2 + 13 + 12 + 17 + 19);
        let l = LayerPlan { slots: 9, tags: 1, keys: 2, values: 3, outs: 4, matrix: 5, shift: 6 };
        assert_eq!(l.words(), 21);
        let mut buf = [0.0f32; 26];
        let (s, rest) = LayerState::split(&mut buf, &l);
        assert_eq!(
            [s.tags.len(), s.keys.len(), s.values.len(), s.outs.len(), s.matrix.len(), s.shift.len()],
            [1, 2, 3, 4, 5, 6]
        );
        assert_eq!(rest.len(), 5);
    }
}
