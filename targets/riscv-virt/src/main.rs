//! glmix on RISC-V rv32imac, QEMU `virt` machine (see README.md).
#![no_std]
#![no_main]

#[cfg(feature = "defmt")]
use defmt_semihosting as _;
use riscv as _;

// `minstret` counts instructions exactly under `-icount`; the clock argument is unused.
glmix_fw::board!(riscv_rt::entry, 0);
