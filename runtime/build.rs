//! Maps the target to the kernel cfgs `kernels/mod.rs` selects on.
//!
//! Stable Rust sets no 32-bit ARM `target_feature` cfgs (`cfg(target_feature = "dsp")` is silently
//! false), so the Cortex-M DSP kernels are chosen by target triple, as the cortex-m crate does:
//!
//! | cfg | when | kernels |
//! |---|---|---|
//! | `glmix_dsp` | `thumbv7em-*` (M4, M7), `thumbv8m.main-*` (M33, M35P, M55) | `kernels::arm_dsp` (SMLAD) |
//! | `glmix_avx2` | `x86_64` with `avx2`, `fma` and `f16c` enabled at compile time | `kernels::x86` |
//! | (none) | everything else (thumbv6m, riscv32, plain x86_64) | `kernels::generic` only |
//!
//! Environment switches (read at build time):
//! - `GLMIX_KERNELS=generic`: select no architecture kernels at all (the scalar twins everywhere; makes
//!   float results reproducible bit for bit between a desktop and a board).
//! - `GLMIX_NO_DSP=1`: for an Armv8-M Mainline core built without the DSP extension (some M33s).

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(glmix_dsp)");
    println!("cargo::rustc-check-cfg=cfg(glmix_avx2)");
    println!("cargo::rerun-if-env-changed=GLMIX_KERNELS");
    println!("cargo::rerun-if-env-changed=GLMIX_NO_DSP");
    println!("cargo::rerun-if-changed=build.rs");

    let target = env::var("TARGET").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| features.split(',').any(|x| x == f);

    if env::var("GLMIX_KERNELS").is_ok_and(|v| v == "generic") {
        return;
    }
    let dsp_triple = target.starts_with("thumbv7em-") || target.starts_with("thumbv8m.main-");
    if dsp_triple && env::var_os("GLMIX_NO_DSP").is_none() {
        println!("cargo::rustc-cfg=glmix_dsp");
    }
    if arch == "x86_64" && has("avx2") && has("fma") && has("f16c") {
        println!("cargo::rustc-cfg=glmix_avx2");
    }
}
