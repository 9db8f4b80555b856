//! Maps the target to the kernel cfgs `kernels/mod.rs` selects on.
//!
//! Stable Rust sets no 32-bit ARM `target_feature` cfgs (`cfg(target_feature = "dsp")` is silently
//! false), so the Cortex-M DSP kernels are chosen by target triple, as the cortex-m crate does:
//!
//! | cfg | when | kernels |
//! |---|---|---|
//! | `glmix_dsp` | `thumbv7em-*` (M4, M7); `thumbv8m.main-*` built with `-C target-feature=+dsp` or `-C target-cpu=cortex-m33/m35p/m55/m85` | `kernels::arm_dsp` (SMLAD) |
//! | `glmix_vfp` | `glmix_dsp` and a hard-float triple (`*-eabihf`) | `kernels::arm_dsp` f32 row pairs (VLDM + VMLA) |
//! | `glmix_mve` | `thumbv8m.main-*-eabihf` built with `-C target-cpu=cortex-m55/m85` or `-C target-feature=+mve.fp` (Helium with float; set only together with the two above, as every MVE core has DSP and an FPU) | `kernels::mve` |
//! | `glmix_avx2` | `x86_64` with `avx2`, `fma` and `f16c` enabled at compile time | `kernels::x86` |
//! | `glmix_neon` | `aarch64` with `neon` (the AArch64 baseline; off only on `*-softfloat` triples) | `kernels::neon` |
//! | `glmix_rvf` | `riscv32*`/`riscv64*` whose ISA string has `f` or `g` (`riscv32imafc-unknown-none-elf`) | `kernels::rv_f` |
//! | (none) | everything else (thumbv6m, riscv32imac, plain x86_64, aarch64 softfloat) | `kernels::generic` only |
//!
//! Environment switches (read at build time):
//! - `GLMIX_KERNELS=generic`: select no architecture kernels at all (the scalar twins everywhere; makes
//!   float results reproducible bit for bit between a desktop and a board).

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(glmix_dsp)");
    println!("cargo::rustc-check-cfg=cfg(glmix_avx2)");
    println!("cargo::rustc-check-cfg=cfg(glmix_vfp)");
    println!("cargo::rustc-check-cfg=cfg(glmix_neon)");
    println!("cargo::rustc-check-cfg=cfg(glmix_rvf)");
    println!("cargo::rustc-check-cfg=cfg(glmix_mve)");
    println!("cargo::rerun-if-env-changed=GLMIX_KERNELS");
    println!("cargo::rerun-if-changed=build.rs");

    let target = env::var("TARGET").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| features.split(',').any(|x| x == f);

    if env::var("GLMIX_KERNELS").is_ok_and(|v| v == "generic") {
        return;
    }
    let dsp = if target.starts_with("thumbv7em-") {
        true
    } else if target.starts_with("thumbv8m.main-") {
        v8m_dsp_requested()
    } else {
        false
    };
    if dsp {
        println!("cargo::rustc-cfg=glmix_dsp");
        // Hard-float ABI: a single-precision FPU with VLDM/VMLA (FPv4-SP on M4, FPv5 on M7/M33/M55).
        if target.ends_with("eabihf") {
            println!("cargo::rustc-cfg=glmix_vfp");
            if target.starts_with("thumbv8m.main-") && v8m_mve_fp_requested() {
                println!("cargo::rustc-cfg=glmix_mve");
            }
        }
    }
    if arch == "x86_64" && has("avx2") && has("fma") && has("f16c") {
        println!("cargo::rustc-cfg=glmix_avx2");
    }
    if arch == "aarch64" && has("neon") {
        println!("cargo::rustc-cfg=glmix_neon");
    }
    if riscv_has_f(&target) {
        println!("cargo::rustc-cfg=glmix_rvf");
    }
}

/// RISC-V with the single-precision float extension, from the triple's ISA string (`riscv32imafc`,
/// `riscv64gc`): the letters after `riscv32`/`riscv64` include `f` (or `g` = `imafd`).
fn riscv_has_f(target: &str) -> bool {
    let isa = target.split('-').next().unwrap_or_default();
    let ext = isa.strip_prefix("riscv32").or_else(|| isa.strip_prefix("riscv64"));
    ext.is_some_and(|e| e.contains('f') || e.contains('g'))
}

/// Armv8-M Mainline: the DSP extension is optional, and LLVM's assembler only accepts DSP instructions
/// when the `dsp` feature is on (it is unstable, so no cfg reports it). Look at the flags instead:
/// `-C target-feature=+dsp`, or a `-C target-cpu` whose LLVM definition includes DSP.
fn v8m_dsp_requested() -> bool {
    rustflags_request(&["+dsp"], &["-dsp"], &["cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85"])
}

/// Armv8.1-M with Helium floating point (MVE-F): `-C target-cpu=cortex-m55`/`cortex-m85`, or
/// `-C target-feature=+mve.fp` (later flags win, as in [`v8m_dsp_requested`]).
fn v8m_mve_fp_requested() -> bool {
    rustflags_request(&["+mve.fp"], &["-mve.fp", "-mve"], &["cortex-m55", "cortex-m85"])
}

/// Whether the rustflags turn a feature on: a `target-feature` entry in `on` or `off`, or a
/// `target-cpu` (in `cpus` or not), the later flag winning.
fn rustflags_request(on: &[&str], off: &[&str], cpus: &[&str]) -> bool {
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let mut wanted = false;
    // Flags come as `-C`, `key=value` or `-Ckey=value`.
    for flag in flags.split('\x1f') {
        let flag = flag.trim_start_matches("-C");
        if let Some(list) = flag.strip_prefix("target-feature=") {
            for f in list.split(',') {
                if on.contains(&f) {
                    wanted = true;
                } else if off.contains(&f) {
                    wanted = false;
                }
            }
        } else if let Some(cpu) = flag.strip_prefix("target-cpu=") {
            wanted = cpus.contains(&cpu);
        }
    }
    wanted
}
