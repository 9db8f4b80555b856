//! The decoder: one token at a time over a caller-provided state buffer.
//!
//! ```text
//! h = tok_embeddings[token]                       then h = norm(h) with emb_norm (RWKV's ln0)
//! per layer:  h += wo · mixer(norm(h))            mixer = pattern × form (docs/model-spec.md)
//!             h += mlp(norm(h))
//! logits = classifier · norm(h)
//! ```
//!
//! `norm` is RMSNorm or LayerNorm with bias (the header's `norm`); the squared-ReLU MLP shifts its
//! normed input with the previous token's (a `dim`-word state per layer, at the end of the layer's
//! `shift` region). An RWKV-7 model is this loop with LayerNorm, `emb_norm`, `rwkv7` mixers on
//! `order(1)` and the squared-ReLU MLP.
//!
//! Each layer's token mixer is [`crate::mixer`]'s; this module keeps the block loop, the position and
//! the checks. The state buffer is laid out by [`Plan`]; [`Session::new`] (or [`Session::with_plan`],
//! for a caller that planned already) rejects a buffer that is too small with the exact size needed.
//! Snapshots ([`Session::save`], [`Session::restore`]) follow [`crate::snapshot`]. Context overflow is an error ([`SessionError::ContextOverflow`]) raised before
//! the state is touched, never a wrap: exact patterns serve positions `0..max_context`; window, order,
//! first-order state-space and level-capped lattice patterns (log-linear state space included) run on
//! in constant memory up to position `u32::MAX - 1`.

use crate::cache::SlotMap;
use crate::format::{MlpKind, NormKind};
use crate::kernels;
use crate::mixer;
use crate::model::{Config, Model, Role};
use crate::parallel::{self, Parallel, Serial};
use crate::plan::{LayerState, Plan, Scratch};
use crate::rwkv7;
use crate::snapshot::{self, SnapshotError};

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
    /// The plan given to [`Session::with_plan`] was made for another model.
    PlanMismatch,
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
            SessionError::PlanMismatch => {
                f.write_str("the plan was made for another model; plan this model with glmix::plan::Plan::new")
            }
            SessionError::TokenOutOfRange { token, vocab_size } => {
                write!(f, "token {token} is outside the vocabulary of {vocab_size}")
            }
        }
    }
}

impl core::error::Error for SessionError {}

/// Decoding state of one sequence: the model (borrowed, in flash), the plan, and the caller's buffer.
pub struct Session<'m, 's> {
    model: &'m Model<'m>,
    plan: Plan,
    state: &'s mut [f32],
    pos: u32,
    poison: bool,
    par: &'m dyn Parallel,
    /// The rotary angles of the last position (and their frequencies, kept across positions),
    /// computed by the first layer that needs them.
    rope: kernels::RopeAngles,
}

impl<'m, 's> Session<'m, 's> {
    /// Starts a session at position 0 serving positions `0..max_context`, in `state`.
    pub fn new(model: &'m Model<'m>, max_context: u32, state: &'s mut [f32]) -> Result<Self, SessionError> {
        Self::with_plan(model, Plan::new(model, max_context), state)
    }

    /// Starts a session at position 0 with `plan`, which the caller made with
    /// [`Plan::new`]`(model, max_context)` (to size `state`), in `state`.
    pub fn with_plan(model: &'m Model<'m>, plan: Plan, state: &'s mut [f32]) -> Result<Self, SessionError> {
        let c = model.config();
        if plan.layers.len() != c.n_layers || plan.scratch.dim != c.dim || plan.scratch.vocab != c.vocab_size
        {
            return Err(SessionError::PlanMismatch);
        }
        let needed = plan.total_words();
        if state.len() < needed {
            return Err(SessionError::StateTooSmall { needed, have: state.len() });
        }
        let mut session = Session {
            model,
            plan,
            state,
            pos: 0,
            poison: false,
            par: &Serial,
            rope: kernels::RopeAngles::default(),
        };
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

    /// Forgets the sequence: position 0, empty caches, zero scratch.
    pub fn reset(&mut self) {
        let (mut caches, scratch) = self.state.split_at_mut(self.plan.state_words().min(self.state.len()));
        scratch.fill(0.0);
        for (m, p) in self.model.mixers().iter().zip(self.plan.layers()) {
            let (layer, rest) = LayerState::split(caches, p);
            caches = rest;
            mixer::reset(m, layer);
        }
        self.pos = 0;
    }

    /// Benchmark aid: continues at position `pos` as if the tokens before it had been decoded, keeping
    /// whatever values the caches hold (a step's cost does not depend on them). Errors, changing
    /// nothing, if `pos` does not fit the planned context.
    #[doc(hidden)]
    pub fn seek_for_benchmarks(&mut self, pos: u32) -> Result<(), SessionError> {
        check_capacity(self.model, &self.plan, pos)?;
        let mut caches = &mut *self.state;
        for (m, p) in self.model.mixers().iter().zip(self.plan.layers()) {
            let (layer, rest) = LayerState::split(caches, p);
            caches = rest;
            SlotMap::attach(m.pattern, p.slots as u32, layer.tags).assume_position(pos);
        }
        self.pos = pos;
        Ok(())
    }

    /// Bytes a snapshot of this session takes: a 28-byte header and the layer caches.
    pub fn snapshot_len(&self) -> usize {
        snapshot::len(self.plan.state_words())
    }

    /// What ties this session's snapshots to it.
    fn identity(&self) -> snapshot::Identity {
        snapshot::Identity {
            model: self.model.checksum(),
            max_context: self.plan.max_context,
            words: self.plan.state_words(),
        }
    }

    /// Saves the position and the layer caches into `out` ([`crate::snapshot`]: versioned, tied to the
    /// model file and the planned context); returns the bytes written. Restore it later to continue or
    /// rewind.
    pub fn save(&self, out: &mut [u8]) -> Result<usize, SnapshotError> {
        snapshot::save(self.identity(), self.pos, self.state, out)
    }

    /// Restores a snapshot taken by [`Session::save`] with the same model file and planned context.
    /// Nothing changes when it is rejected; damaged bytes are rejected by the checksum
    /// ([`SnapshotError::BadChecksum`]), so an accepted snapshot is one this model's session saved.
    /// The next [`Session::step`] continues from the saved position.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        // A session stands at `pos` once it has decoded `pos - 1`.
        let (model, plan) = (self.model, &self.plan);
        let reachable = |pos: u32| pos == 0 || check_capacity(model, plan, pos - 1).is_ok();
        let identity = self.identity();
        let pos = snapshot::restore(identity, bytes, self.state, reachable)?;
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
        check_capacity(self.model, &self.plan, pos)?;

        let (mut caches, scratch) = self.state.split_at_mut(self.plan.state_words().min(self.state.len()));
        let mut s = Scratch::split(scratch, &self.plan.scratch);
        // RWKV-7's first value is the step's own: a layer with a value residual before any layer sets
        // it mixes towards zero, never towards the previous step's (which a restore does not carry).
        s.first.fill(0.0);
        kernels::embedding_row(&model.global_weight(Role::TokEmbeddings), token as usize, s.x);
        if c.emb_norm {
            let (w, b) = (model.global_weight(Role::EmbNorm), model.global_weight(Role::EmbNormBias));
            norm(c, s.xb, s.x, w.as_f32(), b.as_f32());
            s.x.copy_from_slice(s.xb);
        }
        let mlp_shift = if c.mlp == MlpKind::SqReluShift { c.dim } else { 0 };
        for (l, (m, p)) in model.mixers().iter().zip(self.plan.layers()).enumerate() {
            let (mut state, rest) = LayerState::split(caches, p);
            caches = rest;
            // The MLP's token shift is the end of the layer's shift region; the mixer's the front.
            let shift = core::mem::take(&mut state.shift);
            let (mixer_shift, mlp_prev) = shift.split_at_mut(shift.len().saturating_sub(mlp_shift));
            state.shift = mixer_shift;
            let weight = |role| model.weight(l, role);
            norm(c, s.xb, s.x, weight(Role::MixerNorm).as_f32(), weight(Role::MixerNormBias).as_f32());
            let layer =
                mixer::Layer { model, index: l, mixer: m, plan: p, pos, poison: self.poison, par: self.par };
            mixer::step(&layer, state, &mut s, &mut self.rope);
            add(s.x, s.xb2);

            norm(c, s.xb, s.x, weight(Role::MlpNorm).as_f32(), weight(Role::MlpNormBias).as_f32());
            let (w1, w3) = (weight(Role::W1), weight(Role::W3));
            if c.mlp == MlpKind::SqReluShift {
                rwkv7::shift_in_place(s.xb, mlp_prev, weight(Role::MlpShift).as_f32().iter().copied());
                let hidden = mixer::prefix_mut(s.hb, c.hidden_dim);
                rwkv7::sqrelu_mlp(self.par, &w1, &weight(Role::W2), s.xb, s.xq, hidden, s.xb2);
                add(s.x, s.xb2);
                continue;
            }
            mixer::quantize_for(&[&w1, &w3], s.xb, s.xq);
            parallel::matvec(self.par, &w1, s.xb, s.xq, s.hb);
            match c.mlp {
                MlpKind::SwiGlu => {
                    parallel::matvec(self.par, &w3, s.xb, s.xq, s.hb2);
                    kernels::swiglu(s.hb, s.hb2);
                }
                MlpKind::Gelu => kernels::gelu_tanh(s.hb),
                MlpKind::SqReluShift => {}
            }
            mixer::matvec(self.par, &weight(Role::W2), s.hb, s.xq, s.xb2);
            add(s.x, s.xb2);
        }
        let (w, b) = (model.global_weight(Role::Norm), model.global_weight(Role::NormBias));
        norm(c, s.xb, s.x, w.as_f32(), b.as_f32());
        mixer::matvec(self.par, &model.global_weight(Role::Output), s.xb, s.xq, s.logits);
        self.pos = pos + 1;
        Ok(s.logits)
    }

    /// The logits of the last step (zeros before the first).
    pub fn logits(&mut self) -> &mut [f32] {
        let start = self.plan.state_words();
        let scratch = self.state.get_mut(start..).unwrap_or(&mut []);
        Scratch::split(scratch, &self.plan.scratch).logits
    }
}

/// Errors if some layer of `model` cannot serve position `pos` within `plan` (checked before any
/// state changes).
fn check_capacity(model: &Model<'_>, plan: &Plan, pos: u32) -> Result<(), SessionError> {
    let overflow = SessionError::ContextOverflow { position: pos, max_context: plan.max_context };
    // Position u32::MAX is never decoded, even by unbounded patterns: the counter would overflow,
    // and u32::MAX is a lattice's empty-slot tag (`cache::EMPTY`).
    if pos == u32::MAX {
        return Err(overflow);
    }
    for (m, p) in model.mixers().iter().zip(plan.layers()) {
        if !mixer::can_step(m, p, plan.max_context, pos) {
            return Err(overflow);
        }
    }
    Ok(())
}

/// `out = norm(x)` with the model's norm: RMSNorm (`bias` unused) or LayerNorm with `bias`.
fn norm(c: &Config, out: &mut [f32], x: &[f32], weight: &[f32], bias: &[f32]) {
    match c.norm {
        NormKind::RmsNorm => kernels::rmsnorm(out, x, weight, c.norm_eps),
        NormKind::LayerNorm => {
            out.copy_from_slice(x);
            rwkv7::layer_norm(out, weight.iter().copied(), bias.iter().copied(), c.norm_eps);
        }
    }
}

/// `x += y`, elementwise (the residual stream).
fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}
