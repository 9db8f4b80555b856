//! glmix on RISC-V, QEMU `virt` machine (see README.md): built for `riscv32imac-unknown-none-elf`
//! (no FPU: every f32 operation is a soft-float call) or for `riscv32imafc-unknown-none-elf` (the
//! single-precision F extension; riscv-rt turns the FPU on at reset, `mstatus.FS`). The same code:
//! the triple alone picks the float ABI.
#![no_std]
#![no_main]

#[cfg(feature = "defmt")]
use defmt_semihosting as _;
use riscv as _;

#[cfg(not(feature = "kernel-check"))]
mod model {
    include!(concat!(env!("OUT_DIR"), "/glmix_model.rs"));
}

#[riscv_rt::entry]
fn main() -> ! {
    // `minstret` counts instructions exactly under `-icount`; the clock argument is unused.
    glmix_fw::counter::init(0);
    #[cfg(feature = "kernel-check")]
    glmix_fw::exit(glmix_fw::check::run());
    #[cfg(not(feature = "kernel-check"))]
    glmix_fw::exit(glmix_fw::run_embedded!(model))
}
