//! How much work the firmware did: instructions under QEMU, cycles on real Cortex-M boards.
//!
//! | feature          | source                                      | unit         | exact?                 |
//! |------------------|---------------------------------------------|--------------|------------------------|
//! | `systick-icount` | SysTick on the core clock, `-icount shift=0` | instructions | to one SysTick tick    |
//! | `minstret`       | the RISC-V `minstret`/`minstreth` CSRs       | instructions | yes (QEMU `-icount`)   |
//! | `dwt-cycles`     | DWT `CYCCNT` (real silicon only)             | cycles       | wraps after 2^32       |
//!
//! Under `-icount shift=0` QEMU's virtual clock advances 1 ns per instruction, so a SysTick running at
//! the board's core clock `f` ticks once per `1e9 / f` instructions (40 on mps2 at 25 MHz). SysTick is
//! 24 bits: it runs with the full reload and its exception counts the wraps, so [`now`] never wraps.
//! QEMU implements no DWT cycle counter (it reads 0); that is why the QEMU boards use SysTick.
//!
//! These are instruction counts, not cycles: QEMU models no pipeline, caches or wait states.

/// What [`now`] counts, for printing.
#[cfg(any(feature = "systick-icount", feature = "minstret"))]
pub const UNIT: &str = "instructions";
/// What [`now`] counts, for printing.
#[cfg(feature = "dwt-cycles")]
pub const UNIT: &str = "cycles";
/// What [`now`] counts, for printing.
#[cfg(not(any(feature = "systick-icount", feature = "minstret", feature = "dwt-cycles")))]
pub const UNIT: &str = "none";

#[cfg(feature = "systick-icount")]
mod imp {
    use core::sync::atomic::{AtomicU32, Ordering};
    use cortex_m::peripheral::{syst::SystClkSource, SYST};

    const RELOAD: u32 = 0x00FF_FFFF;
    static WRAPS: AtomicU32 = AtomicU32::new(0);
    static NS_PER_TICK_X1000: AtomicU32 = AtomicU32::new(0);

    pub fn init(core_clock_hz: u32) {
        // Instructions per tick, times 1000 (31.25 at 32 MHz is not an integer).
        let per_tick = (1_000_000_000_000u64 / u64::from(core_clock_hz)) as u32;
        NS_PER_TICK_X1000.store(per_tick, Ordering::Relaxed);
        // SAFETY: called once at start-up, before anything else uses SysTick; the board's main owns
        // the core peripherals and does not touch SYST.
        let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
        syst.disable_counter();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        // The current value reads 0 until the first tick reloads it, which `now` would take for a
        // whole wrap: wait for that tick (one tick, 40 instructions under QEMU mps2).
        while SYST::get_current() == 0 {}
    }

    pub fn now() -> u64 {
        loop {
            let w1 = WRAPS.load(Ordering::Acquire);
            let val = SYST::get_current();
            let w2 = WRAPS.load(Ordering::Acquire);
            if w1 == w2 {
                let ticks = u64::from(w1) * u64::from(RELOAD + 1) + u64::from(RELOAD - val);
                return ticks * u64::from(NS_PER_TICK_X1000.load(Ordering::Relaxed)) / 1000;
            }
        }
    }

    #[cortex_m_rt::exception]
    fn SysTick() {
        WRAPS.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(feature = "dwt-cycles")]
mod imp {
    pub fn init(_core_clock_hz: u32) {
        // SAFETY: called once at start-up; nothing else uses DCB/DWT.
        let mut p = unsafe { cortex_m::Peripherals::steal() };
        p.DCB.enable_trace();
        p.DWT.enable_cycle_counter();
    }

    pub fn now() -> u64 {
        u64::from(cortex_m::peripheral::DWT::cycle_count())
    }
}

#[cfg(feature = "minstret")]
mod imp {
    pub fn init(_core_clock_hz: u32) {}

    pub fn now() -> u64 {
        loop {
            let (hi, lo, hi2): (u32, u32, u32);
            // SAFETY: reads of the machine-mode instruction counter; no memory or side effects.
            unsafe {
                core::arch::asm!(
                    "csrr {0}, minstreth",
                    "csrr {1}, minstret",
                    "csrr {2}, minstreth",
                    out(reg) hi, out(reg) lo, out(reg) hi2,
                    options(nomem, nostack),
                );
            }
            if hi == hi2 {
                return (u64::from(hi) << 32) | u64::from(lo);
            }
        }
    }
}

#[cfg(not(any(feature = "systick-icount", feature = "minstret", feature = "dwt-cycles")))]
mod imp {
    pub fn init(_core_clock_hz: u32) {}
    pub fn now() -> u64 {
        0
    }
}

/// Starts the counter. `core_clock_hz` is the clock SysTick runs on (QEMU mps2: 25 MHz, mps3-an547:
/// 32 MHz); the other counters ignore it.
pub fn init(core_clock_hz: u32) {
    imp::init(core_clock_hz)
}

/// Instructions (or cycles, see [`UNIT`]) since [`init`].
#[inline(never)]
pub fn now() -> u64 {
    imp::now()
}

/// Runs exactly `2 * n` instructions (a `subs`/`bne` or `addi`/`bnez` loop), to check the counter.
#[inline(never)]
pub fn spin(n: u32) {
    if n == 0 {
        return;
    }
    // SAFETY: a register-only countdown loop.
    unsafe {
        #[cfg(target_arch = "arm")]
        core::arch::asm!("2:", "subs {0}, {0}, #1", "bne 2b", inout(reg) n => _, options(nomem, nostack));
        #[cfg(target_arch = "riscv32")]
        core::arch::asm!("2:", "addi {0}, {0}, -1", "bnez {0}, 2b", inout(reg) n => _, options(nomem, nostack));
    }
}
