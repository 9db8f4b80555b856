//! The decoder: one token at a time over a caller-provided state buffer.
//!
//! ```text
//! h = tok_embeddings[token]
//! per layer:  h += wo · mixer(rmsnorm(h))        mixer = pattern × form (docs/model-spec.md)
//!             h += mlp(rmsnorm(h))
//! logits = classifier · rmsnorm(h)
//! ```
//!
//! The state buffer is laid out by [`Plan`]; [`Session::new`] rejects a buffer that is too small with
//! the exact size needed. Context overflow is an error ([`SessionError::ContextOverflow`]) raised before
//! the state is touched, never a wrap: exact patterns serve positions `0..max_context`; window, order,
//! first-order state-space and level-capped lattice patterns (log-linear state space included) run on
//! in constant memory up to position `u32::MAX - 1`.

use crate::cache::{self, SlotMap};
use crate::format::{Form, MlpKind, Positional};
use crate::kernels;
use crate::model::{MixerConfig, Model, Role};
use crate::parallel::{self, Parallel, Serial};
use crate::plan::{LayerPlan, Plan};
use crate::quant::BlockQ8_0;
use crate::tensor::{DType, Tensor};

/// Why a session could not be created or a step could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SessionError {
    /// The state buffer is smaller than the plan for the requested context (in f32 words).
    StateTooSmall {
        /// Words needed.
        needed: usize,
        /// Words provided.
        have: usize,
    },
    /// The next position does not fit the context the state was planned for.
    ContextOverflow {
        /// The position that was to be decoded.
        position: u32,
        /// The context the state serves.
        max_context: u32,
    },
    /// A token id outside the vocabulary.
    TokenOutOfRange {
        /// The token.
        token: u32,
        /// Vocabulary size.
        vocab_size: u32,
    },
}

impl core::fmt::Display for SessionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            SessionError::StateTooSmall { needed, have } => write!(
                f,
                "state buffer too small: {needed} f32 words ({} bytes) needed, {have} given; size it with glmix::plan::Plan",
                needed * 4
            ),
            SessionError::ContextOverflow { position, max_context } => write!(
                f,
                "context full: position {position} does not fit the {max_context}-token context this state was planned for; reset the session or plan a longer context"
            ),
            SessionError::TokenOutOfRange { token, vocab_size } => {
                write!(f, "token {token} is outside the vocabulary of {vocab_size}")
            }
        }
    }
}

/// Why a snapshot could not be saved or restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SnapshotError {
    /// The output buffer is smaller than [`Session::snapshot_len`].
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        have: usize,
    },
    /// The bytes do not start with `GLMS`.
    BadMagic,
    /// A snapshot format version this build does not read.
    UnsupportedVersion {
        /// Version in the snapshot.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The snapshot was taken with another model file (checksums differ).
    WrongModel {
        /// Model checksum in the snapshot.
        snapshot: u32,
        /// Checksum of this session's model.
        session: u32,
    },
    /// The snapshot was taken with a state planned for another context.
    WrongContext {
        /// Context in the snapshot.
        snapshot: u32,
        /// This session's context.
        session: u32,
    },
    /// The snapshot's length does not match its header.
    LengthMismatch {
        /// Bytes the header implies.
        expected: usize,
        /// Bytes given.
        have: usize,
    },
    /// The snapshot's bytes do not match its checksum (damaged in storage or transit).
    BadChecksum {
        /// Checksum in the snapshot.
        stored: u32,
        /// Checksum of its bytes.
        computed: u32,
    },
}

/// `b"GLMS"`: a saved [`Session`] state.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"GLMS";
/// Snapshot format version: bumped whenever the state layout ([`Plan`]) or this header changes.
pub const SNAPSHOT_VERSION: u32 = 2;
/// Snapshot header: magic, version, model checksum, context, position, state words, then the CRC-32
/// ([`crate::format::crc32`]) of every other byte of the snapshot (u32 LE each).
const SNAPSHOT_HEADER: usize = 28;
/// Offset of the snapshot's CRC-32 (the last header word).
pub const SNAPSHOT_CRC_OFFSET: usize = SNAPSHOT_HEADER - 4;

/// CRC-32 of a snapshot's bytes, skipping its checksum word.
fn snapshot_crc(bytes: &[u8]) -> u32 {
    let head = bytes.get(..SNAPSHOT_CRC_OFFSET).unwrap_or(bytes);
    let body = bytes.get(SNAPSHOT_HEADER..).unwrap_or(&[]);
    crate::format::crc32_update(crate::format::crc32(head), body)
}

/// Decoding state of one sequence: the model (borrowed, in flash), the plan, and the caller's buffer.
pub struct Session<'m, 's> {
    model: &'m Model<'m>,
    plan: Plan,
    state: &'s mut [f32],
    pos: u32,
    poison: bool,
    par: &'m dyn Parallel,
}

/// Splits `n` words off the front of `buf` (empty if too short; sizes are checked up front).
fn take<'a>(buf: &mut &'a mut [f32], n: usize) -> &'a mut [f32] {
    let whole = core::mem::take(buf);
    let n = n.min(whole.len());
    let (head, tail) = whole.split_at_mut(n);
    *buf = tail;
    head
}

/// The first `n` elements of `buf` (all of it when shorter; the plan sizes every buffer).
fn prefix_mut<T>(buf: &mut [T], n: usize) -> &mut [T] {
    let n = n.min(buf.len());
    buf.split_at_mut(n).0
}

/// Views f32 words as u32 words (tags and slot lists live in the same buffer as floats).
fn as_u32(words: &mut [f32]) -> &mut [u32] {
    // SAFETY: f32 and u32 have the same size and alignment and every bit pattern is valid for both;
    // the returned slice covers exactly the same memory under the same exclusive borrow.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u32>(), words.len()) }
}

/// Views f32 words as q8_0 blocks (as many whole blocks as fit).
fn as_blocks(words: &mut [f32]) -> &mut [BlockQ8_0] {
    let n = core::mem::size_of_val(words) / core::mem::size_of::<BlockQ8_0>();
    // SAFETY: BlockQ8_0 is `repr(C)` plain bytes with alignment 1 and no invalid bit patterns; `n`
    // blocks fit in the words' memory; the borrow is exclusive for the returned lifetime.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<BlockQ8_0>(), n) }
}

/// The scratch buffers of one step.
struct Scratch<'a> {
    x: &'a mut [f32],
    xb: &'a mut [f32],
    xb2: &'a mut [f32],
    hb: &'a mut [f32],
    hb2: &'a mut [f32],
    q: &'a mut [f32],
    k: &'a mut [f32],
    v: &'a mut [f32],
    o: &'a mut [f32],
    scores: &'a mut [f32],
    reads: &'a mut [u32],
    logits: &'a mut [f32],
    xq: &'a mut [BlockQ8_0],
    /// Runs the matrix-vector products' row ranges.
    par: &'a dyn Parallel,
}

impl<'a> Scratch<'a> {
    fn split(mut buf: &'a mut [f32], p: &crate::plan::ScratchPlan, par: &'a dyn Parallel) -> Scratch<'a> {
        let buf = &mut buf;
        Scratch {
            x: take(buf, p.dim),
            xb: take(buf, p.dim),
            xb2: take(buf, p.dim),
            hb: take(buf, p.hidden),
            hb2: take(buf, p.hidden),
            q: take(buf, p.q),
            k: take(buf, p.kv),
            v: take(buf, p.kv),
            o: take(buf, p.q),
            scores: take(buf, p.scores),
            reads: as_u32(take(buf, p.scores.saturating_sub(1))),
            logits: take(buf, p.vocab),
            xq: as_blocks(take(buf, p.xq)),
            par,
        }
    }
}

/// One layer's cache regions.
struct LayerState<'a> {
    tags: &'a mut [u32],
    keys: &'a mut [f32],
    values: &'a mut [f32],
    outs: &'a mut [f32],
    matrix: &'a mut [f32],
}

impl<'a> LayerState<'a> {
    fn split(mut buf: &'a mut [f32], p: &LayerPlan) -> LayerState<'a> {
        let buf = &mut buf;
        LayerState {
            tags: as_u32(take(buf, p.tags)),
            keys: take(buf, p.keys),
            values: take(buf, p.values),
            outs: take(buf, p.outs),
            matrix: take(buf, p.matrix),
        }
    }
}

/// `out = W x` (rows split by `par`), quantizing `x` into `xq` first when `W` is block-quantized.
fn matvec(par: &dyn Parallel, w: &Tensor<'_>, x: &[f32], xq: &mut [BlockQ8_0], out: &mut [f32]) {
    quantize_for(&[w], x, xq);
    parallel::matvec(par, w, x, xq, out);
}

/// Quantizes `x` into `xq` once when any of the matrices that read it is block-quantized, so that
/// several products of the same input (wq, wk, wv; w1, w3) share one quantization.
fn quantize_for(weights: &[&Tensor<'_>], x: &[f32], xq: &mut [BlockQ8_0]) {
    if weights.iter().any(|w| matches!(w.dtype(), DType::Q8_0 | DType::Q4_0)) {
        kernels::quantize_q8_0(x, xq);
    }
}

fn record(buf: &[f32], slot: usize, width: usize) -> &[f32] {
    let start = slot.saturating_mul(width);
    buf.get(start..start.saturating_add(width)).unwrap_or(&[])
}

fn record_mut(buf: &mut [f32], slot: usize, width: usize) -> &mut [f32] {
    let start = slot.saturating_mul(width);
    buf.get_mut(start..start.saturating_add(width)).unwrap_or(&mut [])
}

/// `buf[start..start + len]` (empty when out of range; the plan sizes every buffer).
#[inline(always)]
fn at(buf: &[f32], start: usize, len: usize) -> &[f32] {
    buf.get(start..start + len).unwrap_or(&[])
}

fn head(buf: &[f32], h: usize, hd: usize) -> &[f32] {
    record(buf, h, hd)
}

impl<'m, 's> Session<'m, 's> {
    /// Starts a session at position 0 serving positions `0..max_context`, in `state`.
    pub fn new(model: &'m Model<'m>, max_context: u32, state: &'s mut [f32]) -> Result<Self, SessionError> {
        let plan = Plan::new(model, max_context);
        let needed = plan.total_words();
        if state.len() < needed {
            return Err(SessionError::StateTooSmall { needed, have: state.len() });
        }
        let mut session = Session { model, plan, state, pos: 0, poison: false, par: &Serial };
        session.reset();
        Ok(session)
    }

    /// Runs the matrix-vector products' row ranges on `par` from the next step on (a new session
    /// runs them serially, [`Serial`]). The logits are the same bits for every `par`
    /// ([`crate::parallel`]).
    pub fn set_parallel(&mut self, par: &'m dyn Parallel) {
        self.par = par;
    }

    /// The memory plan this session runs with.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Next position to decode (number of tokens consumed since the last reset).
    pub fn position(&self) -> u32 {
        self.pos
    }

    /// Forgets the sequence: position 0, empty caches.
    pub fn reset(&mut self) {
        self.state.fill(0.0);
        let mut caches = &mut *self.state;
        for (l, m) in self.model.mixers().iter().enumerate() {
            let p = self.plan.layers.get(l).copied().unwrap_or_default();
            let layer = LayerState::split(take(&mut caches, p.words()), &p);
            cache::reset_tags(m.pattern, layer.tags);
        }
        self.pos = 0;
    }

    /// Benchmark aid: continues at position `pos` as if the tokens before it had been decoded, keeping
    /// whatever values the caches hold (a step's cost does not depend on them). Errors, changing
    /// nothing, if `pos` does not fit the planned context.
    #[doc(hidden)]
    pub fn seek_for_benchmarks(&mut self, pos: u32) -> Result<(), SessionError> {
        self.check_capacity(pos)?;
        let mut caches = &mut *self.state;
        for (l, m) in self.model.mixers().iter().enumerate() {
            let p = self.plan.layers.get(l).copied().unwrap_or_default();
            let layer = LayerState::split(take(&mut caches, p.words()), &p);
            SlotMap::attach(m.pattern, p.slots as u32, layer.tags).assume_position(pos);
        }
        self.pos = pos;
        Ok(())
    }

    /// Bytes a snapshot of this session takes: a 28-byte header and the layer caches.
    pub fn snapshot_len(&self) -> usize {
        SNAPSHOT_HEADER + 4 * self.plan.state_words()
    }

    /// Saves the position and the layer caches into `out` (versioned, tied to the model file and the
    /// planned context); returns the bytes written. Restore it later to continue or rewind.
    pub fn save(&self, out: &mut [u8]) -> Result<usize, SnapshotError> {
        let needed = self.snapshot_len();
        let have = out.len();
        let out = out.get_mut(..needed).ok_or(SnapshotError::BufferTooSmall { needed, have })?;
        let (head, body) = out.split_at_mut(SNAPSHOT_HEADER);
        let fields = [
            u32::from_le_bytes(SNAPSHOT_MAGIC),
            SNAPSHOT_VERSION,
            self.model.checksum(),
            self.plan.max_context,
            self.pos,
            self.plan.state_words() as u32,
        ];
        for (dst, v) in head.chunks_exact_mut(4).zip(fields) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        let words = self.state.get(..self.plan.state_words()).unwrap_or(&[]);
        for (dst, w) in body.chunks_exact_mut(4).zip(words) {
            dst.copy_from_slice(&w.to_le_bytes());
        }
        let crc = snapshot_crc(out);
        if let Some(dst) = out.get_mut(SNAPSHOT_CRC_OFFSET..SNAPSHOT_HEADER) {
            dst.copy_from_slice(&crc.to_le_bytes());
        }
        Ok(needed)
    }

    /// Restores a snapshot taken by [`Session::save`] with the same model file and planned context.
    /// Nothing changes when it is rejected; damaged bytes are rejected by the checksum
    /// ([`SnapshotError::BadChecksum`]), so an accepted snapshot is one this model's session saved. The next [`Session::step`] continues from the saved position.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let word = |i: usize| {
            let b = bytes.get(4 * i..4 * i + 4).and_then(|b| <[u8; 4]>::try_from(b).ok());
            b.map(u32::from_le_bytes)
        };
        let expected_len = self.snapshot_len();
        let short = SnapshotError::LengthMismatch { expected: expected_len, have: bytes.len() };
        if word(0).ok_or(short)? != u32::from_le_bytes(SNAPSHOT_MAGIC) {
            return Err(SnapshotError::BadMagic);
        }
        let version = word(1).ok_or(short)?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion { found: version, supported: SNAPSHOT_VERSION });
        }
        let (model, context) = (word(2).ok_or(short)?, word(3).ok_or(short)?);
        if model != self.model.checksum() {
            return Err(SnapshotError::WrongModel { snapshot: model, session: self.model.checksum() });
        }
        if context != self.plan.max_context {
            return Err(SnapshotError::WrongContext { snapshot: context, session: self.plan.max_context });
        }
        let (pos, words) = (word(4).ok_or(short)?, word(5).ok_or(short)? as usize);
        if words != self.plan.state_words() || bytes.len() != expected_len {
            return Err(short);
        }
        let (stored, computed) = (word(6).ok_or(short)?, snapshot_crc(bytes));
        if stored != computed {
            return Err(SnapshotError::BadChecksum { stored, computed });
        }
        let body = bytes.get(SNAPSHOT_HEADER..).unwrap_or(&[]);
        let state = self.state.get_mut(..words).unwrap_or(&mut []);
        for (dst, &src) in state.iter_mut().zip(body.as_chunks::<4>().0) {
            *dst = f32::from_le_bytes(src);
        }
        self.pos = pos;
        Ok(())
    }

    /// Testing aid: fill the records of evicted positions with NaN, so a read of a position the
    /// pattern no longer keeps poisons the output instead of passing silently.
    pub fn poison_evicted(&mut self, on: bool) {
        self.poison = on;
    }

    /// Feeds `token` at the current position and returns the logits for the next one.
    pub fn step(&mut self, token: u32) -> Result<&mut [f32], SessionError> {
        let model = self.model;
        let c = model.config();
        if token as usize >= c.vocab_size {
            return Err(SessionError::TokenOutOfRange { token, vocab_size: c.vocab_size as u32 });
        }
        let pos = self.pos;
        self.check_capacity(pos)?;

        let (mut caches, scratch) = self.state.split_at_mut(self.plan.state_words().min(self.state.len()));
        let s = Scratch::split(scratch, &self.plan.scratch, self.par);
        kernels::embedding_row(&model.global_tensor(Role::TokEmbeddings), token as usize, s.x);

        let s = {
            let mut s = s;
            // The rotary angles of `pos`, computed by the first layer that needs them.
            let mut rope = kernels::RopeAngles::default();
            for (l, m) in model.mixers().iter().enumerate() {
                let p = self.plan.layers.get(l).copied().unwrap_or_default();
                let layer = LayerState::split(take(&mut caches, p.words()), &p);
                kernels::rmsnorm(s.xb, s.x, model.layer_tensor(l, Role::MixerNorm).as_f32(), c.norm_eps);
                mixer_step(model, l, m, &p, pos, layer, &mut s, &mut rope, self.poison);
                add(s.x, s.xb2);

                kernels::rmsnorm(s.xb, s.x, model.layer_tensor(l, Role::MlpNorm).as_f32(), c.norm_eps);
                let (w1, w3) = (model.layer_tensor(l, Role::W1), model.layer_tensor(l, Role::W3));
                quantize_for(&[&w1, &w3], s.xb, s.xq);
                parallel::matvec(s.par, &w1, s.xb, s.xq, s.hb);
                match c.mlp {
                    MlpKind::SwiGlu => {
                        parallel::matvec(s.par, &w3, s.xb, s.xq, s.hb2);
                        kernels::swiglu(s.hb, s.hb2);
                    }
                    MlpKind::Gelu => kernels::gelu_tanh(s.hb),
                }
                matvec(s.par, &model.layer_tensor(l, Role::W2), s.hb, s.xq, s.xb2);
                add(s.x, s.xb2);
            }
            s
        };
        kernels::rmsnorm(s.xb, s.x, model.global_tensor(Role::Norm).as_f32(), c.norm_eps);
        matvec(s.par, &model.classifier(), s.xb, s.xq, s.logits);
        self.pos = pos + 1;
        Ok(s.logits)
    }

    /// The logits of the last step (zeros before the first).
    pub fn logits(&mut self) -> &mut [f32] {
        let start = self.plan.state_words();
        let scratch = self.state.get_mut(start..).unwrap_or(&mut []);
        Scratch::split(scratch, &self.plan.scratch, self.par).logits
    }

    /// Errors if some layer cannot serve position `pos` (checked before any state changes).
    fn check_capacity(&self, pos: u32) -> Result<(), SessionError> {
        let overflow = SessionError::ContextOverflow { position: pos, max_context: self.plan.max_context };
        // Position u32::MAX is never decoded, even by unbounded patterns: the counter would overflow,
        // and u32::MAX is a lattice's empty-slot tag (`cache::EMPTY`).
        if pos == u32::MAX {
            return Err(overflow);
        }
        for (l, m) in self.model.mixers().iter().enumerate() {
            let slots = self.plan.layers.get(l).map_or(0, |p| p.slots) as u32;
            if !cache::can_step(m.pattern, slots, self.plan.max_context, pos) {
                return Err(overflow);
            }
        }
        Ok(())
    }
}

/// `dst = src` over their common length (records are sized by the plan, so lengths agree).
fn copy(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
}

fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// One token-mixer step of layer `l` at position `pos`: reads `s.xb`, writes `s.xb2 = wo · o`.
#[allow(clippy::too_many_arguments)]
fn mixer_step(
    model: &Model<'_>,
    l: usize,
    m: &MixerConfig,
    p: &LayerPlan,
    pos: u32,
    layer: LayerState<'_>,
    s: &mut Scratch<'_>,
    rope: &mut kernels::RopeAngles,
    poison: bool,
) {
    let c = model.config();
    let (hd, nh) = (m.head_dim, m.n_heads);
    let (qd, kvd) = (m.q_dim(), m.kv_dim());
    let (q, k, v, o) = (prefix_mut(s.q, qd), prefix_mut(s.k, kvd), prefix_mut(s.v, kvd), prefix_mut(s.o, qd));
    let (wq, wk, wv) =
        (model.layer_tensor(l, Role::Wq), model.layer_tensor(l, Role::Wk), model.layer_tensor(l, Role::Wv));
    // Also the state-space decay gates and level weights, which read the same input.
    let (wd, wl) = (model.layer_tensor(l, Role::Wd), model.layer_tensor(l, Role::Wl));
    quantize_for(&[&wq, &wk, &wv, &wd, &wl], s.xb, s.xq);
    parallel::matvec(s.par, &wq, s.xb, s.xq, q);
    parallel::matvec(s.par, &wk, s.xb, s.xq, k);
    parallel::matvec(s.par, &wv, s.xb, s.xq, v);

    if m.form == Form::StateSpace {
        // S = diag(d) S + k v^T ; o = S^T q / sqrt(hd), per head. `hb2` holds the decay gates d.
        let d = prefix_mut(s.hb2, qd);
        parallel::matvec(s.par, &wd, s.xb, s.xq, d);
        d.iter_mut().for_each(|g| *g = 1.0 / (1.0 + crate::math::expf(-*g)));
        if m.is_loglinear() {
            // Level weights in `hb` (the plan sizes it for them), then the step of crate::loglinear.
            let levels = crate::loglinear::level_weights(m.pattern, c.max_context as u32);
            let lambda = prefix_mut(s.hb, nh * levels);
            parallel::matvec(s.par, &wl, s.xb, s.xq, lambda);
            lambda.iter_mut().for_each(|g| *g = 1.0 / (1.0 + crate::math::expf(-*g)));
            let shape = crate::loglinear::Shape {
                pattern: m.pattern,
                slots: p.slots as u32,
                n_heads: nh,
                head_dim: hd,
                levels,
            };
            let x = crate::loglinear::Inputs { q, k, v, d, lambda };
            crate::loglinear::step(shape, pos, layer.tags, layer.matrix, &x, o, poison);
            matvec(s.par, &model.layer_tensor(l, Role::Wo), o, s.xq, s.xb2);
            return;
        }
        let scale = 1.0 / crate::math::sqrtf(hd as f32);
        for h in 0..nh {
            let sm = record_mut(layer.matrix, h, hd * hd);
            let oh = record_mut(o, h, hd);
            oh.fill(0.0);
            for i in 0..hd {
                let row = record_mut(sm, i, hd);
                let (di, ki, qi) = (
                    d.get(h * hd + i).copied().unwrap_or(0.0),
                    k.get(h * hd + i).copied().unwrap_or(0.0),
                    q.get(h * hd + i).copied().unwrap_or(0.0),
                );
                let vh = head(v, h, hd);
                row.iter_mut().zip(vh).for_each(|(sij, vj)| *sij = di * *sij + ki * vj);
                kernels::axpy(oh, qi * scale, row);
            }
        }
        matvec(s.par, &model.layer_tensor(l, Role::Wo), o, s.xq, s.xb2);
        return;
    }

    match c.positional {
        Positional::None => {}
        Positional::RopeInterleaved => match rope.get(hd, pos as usize, c.rope_theta) {
            Some(angles) => kernels::rope_interleaved_qk_angles(q, k, hd, angles),
            None => kernels::rope_interleaved_qk(q, k, hd, pos as usize, c.rope_theta),
        },
        Positional::RopeHalf => match rope.get(hd, pos as usize, c.rope_theta) {
            Some(angles) => kernels::rope_half_qk_angles(q, k, hd, angles),
            None => kernels::rope_half_qk(q, k, hd, pos as usize, c.rope_theta),
        },
    }

    let slots = SlotMap::attach(m.pattern, p.slots as u32, layer.tags);
    // The slots of R(pos), nearest first.
    let n = slots.lookup_into(pos, s.reads);
    // Farthest first, so that dense attention sums in llama2.c's order (ascending positions, the
    // current one last).
    let reads = prefix_mut(s.reads, n);
    reads.reverse();
    let reads = kernels::Slots::new(reads);
    let scale = crate::math::sqrtf(hd as f32);
    let group = nh / m.n_kv_heads.max(1);
    let gamma = model.layer_tensor(l, Role::Gamma).as_f32();
    for h in 0..nh {
        let kvh = h / group.max(1);
        let qh = head(q, h, hd);
        // The reads' scores, then the current position's (the plan sizes `scores` for both; a shorter
        // buffer would leave the head's output zero).
        let scores = s.scores.get_mut(..=n).unwrap_or_default();
        if let Some((current, past)) = scores.split_last_mut() {
            kernels::gather_scores(qh, layer.keys, kvd, kvh * hd, reads, scale, past);
            *current = kernels::dot_f32(qh, head(k, kvh, hd)) / scale;
        }
        kernels::softmax(scores);
        let a_t = scores.last().copied().unwrap_or(0.0);
        let oh = record_mut(o, h, hd);
        oh.fill(0.0);
        match m.form {
            Form::Attention => {
                kernels::gather_axpy(oh, scores, layer.values, kvd, kvh * hd, reads);
                kernels::axpy(oh, a_t, head(v, kvh, hd));
            }
            Form::Recurrent => {
                kernels::gather_axpy(oh, scores, layer.outs, qd, h * hd, reads);
                kernels::axpy(oh, a_t, head(v, kvh, hd));
            }
            Form::Chained => {
                let g = gamma.get(h).copied().unwrap_or(0.0);
                for (&a, &slot) in scores.iter().zip(reads.list()) {
                    kernels::axpy(oh, (1.0 - g) * a, at(layer.values, slot as usize * kvd + kvh * hd, hd));
                    kernels::axpy(oh, g * a, at(layer.outs, slot as usize * qd + h * hd, hd));
                }
                kernels::axpy(oh, (1.0 - g) * a_t, head(v, kvh, hd));
                let norm = 1.0 / (1.0 - g * a_t);
                oh.iter_mut().for_each(|x| *x *= norm);
            }
            Form::StateSpace => {}
        }
    }

    // Cache position `pos` where the pattern puts it (evicting what R(pos + 1) no longer reads).
    let mut slots = slots;
    let (keys, values, outs) = (layer.keys, layer.values, layer.outs);
    let inserted = slots.insert(pos, |evicted| {
        if poison {
            record_mut(keys, evicted, kvd).fill(f32::NAN);
            record_mut(values, evicted, kvd).fill(f32::NAN);
            record_mut(outs, evicted, qd).fill(f32::NAN);
        }
    });
    if let Some(slot) = inserted {
        let layer = LayerState { tags: &mut [], keys, values, outs, matrix: &mut [] };
        copy(record_mut(layer.keys, slot, kvd), k);
        copy(record_mut(layer.values, slot, kvd), v);
        copy(record_mut(layer.outs, slot, qd), o);
    }
    matvec(s.par, &model.layer_tensor(l, Role::Wo), o, s.xq, s.xb2);
}
