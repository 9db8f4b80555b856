//! Small random models for tests, benchmarks and demos: any mix of mixers, any dtype. The builder is
//! the runtime's ([`glmix::builder`]), so the runtime's own tests and the tool write the same files.

pub use glmix::builder::{random_model, RandomLayer, RandomSpec, Rng};
