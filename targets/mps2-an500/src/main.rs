//! glmix on Cortex-M7 (QEMU mps2-an500), under QEMU (see README.md).
#![no_std]
#![no_main]

use cortex_m as _;
#[cfg(feature = "defmt")]
use defmt_semihosting as _;
use glmix_fw::StateBuf;

mod model {
    include!(concat!(env!("OUT_DIR"), "/glmix_model.rs"));
}

/// QEMU's clock for this machine: SysTick ticks once per 1e9 / CORE_CLOCK_HZ instructions.
const CORE_CLOCK_HZ: u32 = 25_000_000;

static STATE: StateBuf<{ model::STATE_WORDS }> = StateBuf::new();

#[cortex_m_rt::entry]
fn main() -> ! {
    glmix_fw::counter::init(CORE_CLOCK_HZ);
    let Some(state) = STATE.take() else { glmix_fw::exit(glmix_fw::code::PANIC) };
    glmix_fw::exit(glmix_fw::app::run(&model::MODEL.bytes, state, &model::CONFIG))
}
