//! glmix: a `no_std`, allocation-free runtime for small quantized language models whose token mixers
//! are *generalized linear token mixers* (Fagnou et al., ICML 2026):
//!
//! ```text
//! y_i = sum_{j <= i} alpha_ij x_j + sum_{j < i} beta_ij y_j
//! ```
//!
//! Attention, local attention, gated first-order recurrences, k-th order recurrences and the paper's
//! higher-order `2^k` / `k^2+1` recurrences (with their cache-efficient lattices) and gated matrix states
//! (first order, and log-linear on the `2^k` lattice: [`mixer::loglinear`]) are all points of one
//! design space here: a [`pattern`] (which past positions a step reads) times a form (how the
//! coefficients are computed; [`mixer`] runs them, [`session`] runs the blocks around them).
//!
//! The model file ([`format`]) is read in place ([`Model::parse`]): weights stay in flash, the caller owns
//! the state buffer, whose exact size the memory [`plan`] gives before anything runs.
//!
//! # Example
//!
//! Generate from the shipped model: parse it in place, size the state with the plan, step the prompt
//! and sample. On a device the file sits in flash and the state in a `static` buffer.
//!
//! ```
//! use glmix::{plan::Plan, sampler::Sampler, sampler::ProbIndex, Model, Session};
//!
//! // The model file, embedded at the 32-byte alignment `Model::parse` requires.
//! #[repr(C, align(32))]
//! struct Aligned<T: ?Sized>(T);
//! static MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
//!     env!("CARGO_MANIFEST_DIR"),
//!     "/../models/shakespeare-pow2/model.glmx"
//! )));
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = Model::parse(&MODEL.0)?; // checks everything once; accessors cannot fail after
//! const CONTEXT: u32 = 64;
//! let plan = Plan::new(&model, CONTEXT); // exact bytes, before anything runs
//! let mut state = vec![0f32; plan.total_words()];
//! let mut session = Session::new(&model, CONTEXT, &mut state).expect("the plan sized the state");
//!
//! let tokenizer = model.tokenizer().expect("this model carries a bytes tokenizer");
//! let mut tokens = [0u32; 16];
//! let n = tokenizer.encode(b"ROMEO:", true, false, &mut tokens)?;
//!
//! let mut sampler = Sampler::new(0.8, 0.9, 0, 42); // temperature, top-p, top-k (0: off), seed
//! let mut scratch = vec![ProbIndex::default(); sampler.scratch_len(model.config().vocab_size)];
//! let mut next = 0;
//! for &t in &tokens[..n] {
//!     let logits = session.step(t).expect("within the context");
//!     next = sampler.sample(logits, &mut scratch)?;
//! }
//! assert!((next as usize) < model.config().vocab_size);
//! assert_eq!(session.position(), n as u32);
//! # Ok(())
//! # }
//! ```
//!
//! # No panics on data
//!
//! Outside tests the crate denies the lints that find panicking operations (`unwrap`, `expect`,
//! `panic!`, `unreachable!`, `todo!`, `unimplemented!`, unchecked indexing and slicing): whatever
//! bytes a model file, a snapshot, a token id or a position holds, the runtime answers with a typed
//! error or a value, never a panic. No module is exempt: every exception is a narrow `#[allow]` whose
//! comment states the invariant that keeps it in range. One gap remains: integer arithmetic (overflow,
//! division by zero) is outside these lints; the fuzz targets (`fuzz/`) exercise it.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing
    )
)]

#[cfg(target_endian = "big")]
compile_error!("glmix reads little-endian model files in place and supports little-endian targets only");

pub mod arch;
#[cfg(any(test, feature = "builder"))]
pub mod builder;
pub mod cache;
pub mod format;
pub mod kernels;
pub mod math;
pub mod mixer;
pub mod model;
pub mod pattern;
pub mod plan;
pub mod quant;
pub mod rwkv7;
pub mod sampler;
pub mod session;
pub mod snapshot;
pub mod tensor;
pub mod tokenizer;

pub use mixer::loglinear;
pub use model::{Config, LoadError, MixerConfig, Model, Role};
pub use session::{Session, SessionError};
pub use snapshot::SnapshotError;
pub use tensor::{DType, Tensor};
