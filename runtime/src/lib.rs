//! glmix: a `no_std`, allocation-free runtime for small quantized language models whose token mixers
//! are *generalized linear token mixers* (Fagnou et al., ICML 2026):
//!
//! ```text
//! y_i = sum_{j <= i} alpha_ij x_j + sum_{j < i} beta_ij y_j
//! ```
//!
//! Attention, local attention, gated first-order recurrences, k-th order recurrences and the paper's
//! higher-order `2^k` / `k^2+1` recurrences (with their cache-efficient lattices) and gated matrix states
//! (first order, and log-linear on the `2^k` lattice: [`loglinear`]) are all points of one
//! design space here: a [`pattern`] (which past positions a step reads) times a form (how the
//! coefficients are computed; [`session`] runs them).
//!
//! The model file ([`format`]) is read in place ([`Model::parse`]): weights stay in flash, the caller owns
//! the state buffer, whose exact size the memory [`plan`] gives before anything runs.
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

pub mod cache;
pub mod format;
pub mod kernels;
pub mod loglinear;
pub mod math;
pub mod model;
pub mod parallel;
pub mod pattern;
pub mod plan;
pub mod quant;
pub mod sampler;
pub mod session;
pub mod tensor;
pub mod tokenizer;

pub use model::{Config, LoadError, MixerConfig, Model, Role};
pub use session::{Session, SessionError, SnapshotError};
pub use tensor::{DType, Tensor};
