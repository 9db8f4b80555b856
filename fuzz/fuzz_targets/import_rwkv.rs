#![no_main]
//! Fuzz target `import_rwkv`: see `glmix_fuzz::import_rwkv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| glmix_fuzz::import_rwkv(data));
