#![no_main]
//! Fuzz target `import_llama2c`: see `glmix_fuzz::import_llama2c`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| glmix_fuzz::import_llama2c(data));
