//! glmix on RISC-V rv32imac, QEMU `virt` machine (see README.md).
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
