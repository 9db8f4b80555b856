//! Shared helpers for the glmix benchmarks.
