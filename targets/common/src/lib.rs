//! Shared firmware pieces for the glmix boards under `targets/`.
//!
//! A board crate is a `memory.x`, a `build.rs` (which embeds the model, see `glmix-fw-build`) and a
//! short `main.rs` that starts the counter and calls [`app::run`]. Everything board-independent lives
//! here:
//!
//! * [`out`]: text to the host (semihosting stdout/stderr under QEMU, defmt on real boards);
//! * [`exit`]: the exit code reaches QEMU's exit status through semihosting; on a real board a
//!   breakpoint (success) or `udf` (failure) stops `probe-rs run`;
//! * [`counter`]: instructions executed (QEMU `-icount shift=0`: SysTick, or `minstret` on RISC-V), or
//!   cycles (DWT on real Cortex-M boards). Which one is chosen by exactly one feature;
//! * [`app`]: the generation loop itself;
//! * `heap` (feature `heap`): the `embedded-alloc` board's program: several models in flash, one
//!   picked at run time, its state allocated from a heap, out-of-memory reported before allocating;
//! * `check` (feature `kernel-check`): firmware that checks every dispatched kernel against its
//!   scalar twin on the target, instead of running a model.
//!
//! Features are additive except the exclusive choices, which are a `compile_error!`.
#![no_std]

#[cfg(all(feature = "semihosting", feature = "rtt"))]
compile_error!("glmix-fw: features `semihosting` (QEMU) and `rtt` (real boards) are exclusive");
#[cfg(not(any(feature = "semihosting", feature = "rtt")))]
compile_error!("glmix-fw: enable one of `semihosting` (QEMU) or `rtt` (real boards)");
#[cfg(any(
    all(feature = "systick-icount", feature = "dwt-cycles"),
    all(feature = "systick-icount", feature = "minstret"),
    all(feature = "dwt-cycles", feature = "minstret"),
))]
compile_error!("glmix-fw: choose one counter: `systick-icount`, `dwt-cycles` or `minstret`");

pub mod app;
#[cfg(feature = "kernel-check")]
pub mod check;
pub mod counter;
#[cfg(feature = "heap")]
pub mod heap;
pub mod out;

pub use glmix;
pub use glmix::sampler;

/// Process exit codes reported by the firmware (and by QEMU, where semihosting passes them on).
pub mod code {
    /// Success.
    pub const OK: i32 = 0;
    /// The embedded model file did not parse.
    pub const BAD_MODEL: i32 = 2;
    /// The state buffer or context was rejected by the runtime.
    pub const BAD_STATE: i32 = 3;
    /// Encoding the prompt or decoding failed.
    pub const RUN_FAILED: i32 = 4;
    /// The kernel check (feature `kernel-check`) found a dispatched kernel that differs from its
    /// generic twin.
    pub const KERNEL_MISMATCH: i32 = 5;
    /// The heap board (feature `heap`): the state for the requested model and context does not
    /// fit the heap.
    pub const OUT_OF_MEMORY: i32 = 6;
    /// The heap board: its command line names no embedded model or has a malformed value.
    pub const USAGE: i32 = 7;
    /// A panic (should never happen: the runtime returns errors).
    pub const PANIC: i32 = 101;
}

/// Ends the program with `code` (0 = success).
pub fn exit(code: i32) -> ! {
    out::flush();
    #[cfg(feature = "semihosting")]
    {
        semihosting::process::exit(code)
    }
    #[cfg(all(not(feature = "semihosting"), target_arch = "arm"))]
    {
        if code == 0 {
            // `probe-rs run` stops at a breakpoint and reports success.
            loop {
                cortex_m::asm::bkpt();
            }
        } else {
            // A HardFault: `probe-rs run` prints a backtrace and exits non-zero.
            cortex_m::asm::udf()
        }
    }
    #[cfg(all(not(feature = "semihosting"), not(target_arch = "arm")))]
    {
        let _ = code;
        loop {
            core::hint::spin_loop();
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(feature = "defmt")]
    defmt::error!("panic: {}", defmt::Display2Format(info));
    #[cfg(not(feature = "defmt"))]
    out::eprintln(format_args!("panic: {info}"));
    exit(code::PANIC)
}

/// A byte array aligned to 32 bytes, as `glmix::Model::parse` requires of the model file:
/// `static MODEL: &Aligned<[u8]> = &Aligned { _align: [], bytes: *include_bytes!(...) };`
#[repr(C)]
pub struct Aligned<T: ?Sized> {
    /// Zero-sized; only lends its alignment to the struct.
    pub _align: [A32; 0],
    /// The payload, at offset 0 and therefore 32-byte aligned.
    pub bytes: T,
}

/// A 32-byte aligned zero-sized unit.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub struct A32;

/// A statically allocated `[T; N]` handed out once as `&'static mut [T]`: the runtime state and the
/// other buffers, placed in `.bss` so their size shows in the link map (and an oversized state fails
/// to link: "will not fit in region RAM").
pub struct StaticBuf<T, const N: usize> {
    taken: core::sync::atomic::AtomicBool,
    buf: core::cell::UnsafeCell<[T; N]>,
}

// SAFETY: the buffer is only reachable through `take`, which hands it out at most once.
unsafe impl<T: Send, const N: usize> Sync for StaticBuf<T, N> {}

impl<T: Copy, const N: usize> StaticBuf<T, N> {
    /// A buffer filled with `init` (zero bits land in `.bss`).
    pub const fn new(init: T) -> Self {
        Self {
            taken: core::sync::atomic::AtomicBool::new(false),
            buf: core::cell::UnsafeCell::new([init; N]),
        }
    }

    /// The buffer, the first time; `None` afterwards.
    // `&self -> &mut` is sound here (clippy cannot see it): the atomic flag hands the buffer out once.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut [T]> {
        if self.taken.swap(true, core::sync::atomic::Ordering::AcqRel) {
            return None;
        }
        // SAFETY: `taken` flipped from false to true exactly once, so this is the only reference.
        Some(unsafe { &mut *self.buf.get() })
    }
}

/// The sampler's scratch entry, zeroed (for `StaticBuf::new`).
pub const PROB_INDEX_ZERO: glmix::sampler::ProbIndex = glmix::sampler::ProbIndex { prob: 0.0, index: 0 };

/// Declares the board's static buffers from the generated `model` module and runs [`app::run`]:
/// `glmix_fw::run_embedded!(model)` in the board's `main`, after the counter is started.
#[macro_export]
macro_rules! run_embedded {
    ($model:ident) => {{
        static STATE: $crate::StaticBuf<f32, { $model::STATE_WORDS }> = $crate::StaticBuf::new(0.0);
        static SCRATCH: $crate::StaticBuf<$crate::sampler::ProbIndex, { $model::SCRATCH_LEN }> =
            $crate::StaticBuf::new($crate::PROB_INDEX_ZERO);
        static TOKENS: $crate::StaticBuf<u32, { $model::PROMPT_CAP }> = $crate::StaticBuf::new(0);
        match (STATE.take(), SCRATCH.take(), TOKENS.take()) {
            (Some(state), Some(scratch), Some(tokens)) => $crate::app::run(
                &$model::MODEL.bytes,
                $crate::app::Buffers { state, scratch, tokens },
                &$model::CONFIG,
            ),
            _ => $crate::code::PANIC,
        }
    }};
}
