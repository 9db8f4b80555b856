//! On-target kernel check (feature `kernel-check`): the runtime's kernel conformance suite
//! ([`glmix::kernels::conformance`]) on the target itself, every dispatched kernel against its scalar
//! twin in `glmix::kernels::generic`. The suite (families, cases, tolerances) is written once in the
//! runtime, where the host's unit tests run it too; this module lends it a static buffer and the
//! console.
//!
//! On the firmware targets every comparison is bit for bit (the Cortex-M DSP/VFP `asm!` kernels keep
//! the twins' order; only x86 and aarch64 reorder float sums). On targets without architecture
//! kernels (riscv32, the plain M55 build) the dispatched entry points are the twins, and the check is
//! trivial but still exercises the dispatch.
//!
//! Output (stdout): one line per family, `check <name>: N cases ok`, or the first mismatch followed by
//! `check <name>: FAILED, M of N cases differ`; then `kernel-check: all N cases ok` or `kernel-check:
//! FAILED ...`; stderr gets `glmix-fw: kernel-check, N instructions`. [`run`] returns
//! [`crate::code::OK`] or [`crate::code::KERNEL_MISMATCH`].

use crate::{code, counter, out, StaticBuf};
use core::fmt;
use glmix::kernels::conformance::{self, Bufs, Report};

static BUFS: StaticBuf<Bufs, 1> = StaticBuf::new(Bufs::ZERO);

/// The suite's report, on the console.
struct Console;

impl Report for Console {
    fn line(&mut self, args: fmt::Arguments<'_>) {
        out::println(args);
    }
}

/// Runs the suite and prints the report; returns the exit code.
pub fn run() -> i32 {
    let Some(b) = BUFS.take().and_then(|bufs| bufs.first_mut()) else {
        return code::PANIC;
    };
    let start = counter::now();
    let summary = conformance::run(b, &mut Console);
    out::eprintln(format_args!("glmix-fw: kernel-check, {} {}", counter::now() - start, counter::UNIT));
    if summary.ok() {
        code::OK
    } else {
        code::KERNEL_MISMATCH
    }
}
