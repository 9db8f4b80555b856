//! glmix on Cortex-M4F (QEMU mps2-an386), under QEMU (see README.md).
#![no_std]
#![no_main]

use cortex_m as _;
#[cfg(feature = "defmt")]
use defmt_semihosting as _;

// QEMU's clock for this machine: SysTick ticks once per 1e9 / core clock (Hz) instructions.
glmix_fw::board!(cortex_m_rt::entry, 25_000_000);
