//! glmix on a real board: logs over defmt-rtt, run with `probe-rs run` (see README.md).
#![no_std]
#![no_main]

use cortex_m as _;
use defmt_rtt as _;
use glmix_fw::StateBuf;

mod model {
    include!(concat!(env!("OUT_DIR"), "/glmix_model.rs"));
}

/// Core clock after reset (DWT counts cycles; the value is informational).
const CORE_CLOCK_HZ: u32 = 64_000_000;

static STATE: StateBuf<{ model::STATE_WORDS }> = StateBuf::new();

#[cortex_m_rt::entry]
fn main() -> ! {
    glmix_fw::counter::init(CORE_CLOCK_HZ);
    let Some(state) = STATE.take() else { glmix_fw::exit(glmix_fw::code::PANIC) };
    glmix_fw::exit(glmix_fw::app::run(&model::MODEL.bytes, state, &model::CONFIG))
}
