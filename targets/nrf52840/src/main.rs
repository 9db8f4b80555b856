//! glmix on a real board: logs over defmt-rtt, run with `probe-rs run` (see README.md).
#![no_std]
#![no_main]

use cortex_m as _;
use defmt_rtt as _;

mod model {
    include!(concat!(env!("OUT_DIR"), "/glmix_model.rs"));
}

/// Core clock after reset (DWT counts cycles; the value is informational).
const CORE_CLOCK_HZ: u32 = 64_000_000;

#[cortex_m_rt::entry]
fn main() -> ! {
    glmix_fw::counter::init(CORE_CLOCK_HZ);
    glmix_fw::exit(glmix_fw::run_embedded!(model))
}
