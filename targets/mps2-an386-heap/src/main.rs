//! glmix on Cortex-M4F (QEMU mps2-an386) with an `embedded-alloc` heap (see README.md): the models of
//! `GLMIX_MODELS` in flash, one picked by the semihosting command line (`[MODEL [STEPS [PROMPT]]]`),
//! its state allocated from the heap that `memory.x` reserves (`glmix_fw::heap`).
#![no_std]
#![no_main]

use cortex_m as _;
use embedded_alloc::LlffHeap;

mod model {
    include!(concat!(env!("OUT_DIR"), "/glmix_models.rs"));
}

/// QEMU's clock for this machine: SysTick ticks once per 1e9 / CORE_CLOCK_HZ instructions.
const CORE_CLOCK_HZ: u32 = 25_000_000;

/// The longest command line read (the semihosting call's buffer, on the stack).
const CMDLINE_BYTES: usize = 1024;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

extern "C" {
    // The bounds of memory.x's HEAP region.
    static _heap_start: u8;
    static _heap_end: u8;
}

#[cortex_m_rt::entry]
fn main() -> ! {
    glmix_fw::counter::init(CORE_CLOCK_HZ);
    // Only the symbols' addresses are taken, never their contents.
    let (start, end) = (&raw const _heap_start as usize, &raw const _heap_end as usize);
    // SAFETY: memory.x reserves `start..end` for the heap alone (RAM, statics and stack lie below
    // it), and this is the only call, before anything allocates.
    unsafe { HEAP.init(start, end - start) };
    let code = match semihosting::experimental::env::args::<CMDLINE_BYTES>() {
        // The first argument is the program's name.
        Ok(args) => {
            glmix_fw::heap::run(&HEAP, model::MODELS, (&args).skip(1).map(Result::ok), &model::CONFIG)
        }
        Err(e) => {
            glmix_fw::out::eprintln(format_args!("error: cannot read the command line: {e}"));
            glmix_fw::code::USAGE
        }
    };
    glmix_fw::exit(code)
}
