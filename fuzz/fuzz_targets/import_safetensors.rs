#![no_main]
//! Fuzz target `import_safetensors`: see `glmix_fuzz::import_safetensors`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| glmix_fuzz::import_safetensors(data));
