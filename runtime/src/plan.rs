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
//! scratch:       x, xb, xb2 [dim]; hb, hb2 [max(hidden, q_dim, n_heads * L)] (state space: the level
//!                weights of crate::loglinear in hb, decay gates in hb2); q [max q_dim]; k, v [max kv_dim];
//!                o [max q_dim];
//!                scores [max_reads + 1]; reads [max_reads] (u32 slots); logits [vocab];
//!                xq [q8_0 blocks of the widest activation]
//! ```
//!
//! `slots` is the pattern's [`crate::pattern::Pattern::slots`] for the context; the sizes are therefore O(1), O(k),
//! O(log n), O(sqrt n) or O(n) per layer as the pattern dictates.

use crate::cache;
use crate::format::{Form, MAX_LAYERS};
use crate::model::{MixerConfig, Model};
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
}

impl LayerPlan {
    /// Total words of this layer.
    pub const fn words(&self) -> usize {
        self.tags + self.keys + self.values + self.outs + self.matrix
    }

    /// The cache a mixer needs for `max_context` positions.
    pub const fn new(m: &MixerConfig, max_context: u32) -> LayerPlan {
        let (q, kv, hd) = (m.n_heads * m.head_dim, m.n_kv_heads * m.head_dim, m.head_dim);
        // The order-1 state space keeps one matrix and no slots; log-linear, one matrix per slot.
        let first_order_state = matches!(m.form, Form::StateSpace) && !m.is_loglinear();
        let slots = if first_order_state { 0 } else { m.pattern.slots(max_context) as usize };
        let tags = cache::tag_words(m.pattern, slots as u32);
        let (keys, values, outs, matrix) = match m.form {
            Form::Attention => (slots * kv, slots * kv, 0, 0),
            Form::Recurrent => (slots * kv, 0, slots * q, 0),
            Form::Chained => (slots * kv, slots * kv, slots * q, 0),
            Form::StateSpace => (0, 0, 0, if first_order_state { 1 } else { slots } * m.n_heads * hd * hd),
        };
        LayerPlan { slots, tags, keys, values, outs, matrix }
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
    /// Most positions one step reads, plus the current one.
    pub scores: usize,
    /// Vocabulary size (logits).
    pub vocab: usize,
    /// q8_0 blocks of the widest activation, in words.
    pub xq: usize,
}

impl ScratchPlan {
    /// Total scratch words.
    pub const fn words(&self) -> usize {
        3 * self.dim
            + 2 * self.hidden
            + 2 * self.q
            + 2 * self.kv
            + self.scores
            + (self.scores - 1)
            + self.vocab
            + self.xq
    }
}

/// The memory plan of a model for a maximum context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Context the plan serves: steps `0..max_context`.
    pub max_context: u32,
    /// Number of layers.
    pub n_layers: usize,
    /// Per-layer caches.
    pub layers: [LayerPlan; MAX_LAYERS],
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
        let mut layers = [LayerPlan::default(); MAX_LAYERS];
        let (mut q, mut kv, mut reads, mut lambda) = (0, 0, 0, 0);
        for (l, m) in model.mixers().iter().enumerate() {
            if let Some(slot) = layers.get_mut(l) {
                *slot = LayerPlan::new(m, max_context);
            }
            q = q.max(m.q_dim());
            kv = kv.max(m.kv_dim());
            reads = reads.max(max_reads(m, max_context));
            if m.is_loglinear() {
                let levels = crate::loglinear::level_weights(m.pattern, c.max_context as u32);
                lambda = lambda.max(m.n_heads * levels);
            }
        }
        let widest = c.dim.max(c.hidden_dim).max(q);
        let xq_bytes = q8_blocks(widest) * core::mem::size_of::<BlockQ8_0>();
        let scratch = ScratchPlan {
            dim: c.dim,
            // The state-space form keeps its decay gates (q_dim) in the second hidden buffer and its
            // level weights in the first.
            hidden: c.hidden_dim.max(q).max(lambda),
            q,
            kv,
            scores: reads + 1,
            vocab: c.vocab_size,
            xq: xq_bytes.div_ceil(4),
        };
        Plan { max_context, n_layers: c.n_layers, layers, scratch }
    }

    /// The layers' plans.
    pub fn layers(&self) -> &[LayerPlan] {
        self.layers.get(..self.n_layers).unwrap_or(&[])
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

fn max_reads(m: &MixerConfig, max_context: u32) -> usize {
    match m.form {
        Form::StateSpace => 0,
        _ => m.pattern.max_reads(max_context) as usize,
    }
}
