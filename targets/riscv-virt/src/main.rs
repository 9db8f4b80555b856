//! glmix on RISC-V, QEMU `virt` machine (see README.md): built for `riscv32imac-unknown-none-elf`
//! (no FPU: every f32 operation is a soft-float call) or for `riscv32imafc-unknown-none-elf` (the
//! single-precision F extension; riscv-rt turns the FPU on at reset, `mstatus.FS`). The same code:
//! the triple alone picks the float ABI.
#![no_std]
#![no_main]

#[cfg(feature = "defmt")]
use defmt_semihosting as _;
use riscv as _;

// `minstret` counts instructions exactly under `-icount`; the clock argument is unused.
glmix_fw::board!(riscv_rt::entry, 0);
