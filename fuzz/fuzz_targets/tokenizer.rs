#![no_main]
//! Fuzz target `tokenizer`: see `glmix_fuzz::tokenizer`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| glmix_fuzz::tokenizer(data));
