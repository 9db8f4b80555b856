//! glmix on Cortex-M55 (QEMU mps3-an547), under QEMU (see README.md).
#![no_std]
#![no_main]

use cortex_m as _;
#[cfg(feature = "defmt")]
use defmt_semihosting as _;

#[cfg(not(feature = "kernel-check"))]
mod model {
    include!(concat!(env!("OUT_DIR"), "/glmix_model.rs"));
}

/// QEMU's clock for this machine: SysTick ticks once per 1e9 / CORE_CLOCK_HZ instructions.
const CORE_CLOCK_HZ: u32 = 32_000_000;

#[cortex_m_rt::entry]
fn main() -> ! {
    glmix_fw::counter::init(CORE_CLOCK_HZ);
    #[cfg(feature = "kernel-check")]
    glmix_fw::exit(glmix_fw::check::run());
    #[cfg(not(feature = "kernel-check"))]
    glmix_fw::exit(glmix_fw::run_embedded!(model))
}
