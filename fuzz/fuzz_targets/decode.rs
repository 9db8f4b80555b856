#![no_main]
//! Fuzz target `decode`: see `glmix_fuzz::decode`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| glmix_fuzz::decode(data));
