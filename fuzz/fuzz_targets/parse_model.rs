#![no_main]
//! Fuzz target `parse_model`: see `glmix_fuzz::parse_model`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| glmix_fuzz::parse_model(data));
