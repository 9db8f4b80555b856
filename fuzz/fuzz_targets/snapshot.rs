#![no_main]
//! Fuzz target `snapshot`: see `glmix_fuzz::snapshot`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| glmix_fuzz::snapshot(data));
