//! glmix on a real board: logs over defmt-rtt, run with `probe-rs run` (see README.md).
#![no_std]
#![no_main]

use cortex_m as _;
use defmt_rtt as _;

mod model {
    include!(concat!(env!("OUT_DIR"), "/glmix_model.rs"));
}

/// The RP2350 boot ROM runs an image only if it finds this IMAGE_DEF block in the first 4 KiB of flash
/// (datasheet 5.9.5.1, "minimum viable image metadata"): marker start, IMAGE_TYPE item = EXE | secure |
/// Arm | RP2350, last item (block size 1), link to self, marker end.
#[link_section = ".start_block"]
#[used]
pub static IMAGE_DEF: [u32; 5] = [0xffff_ded3, 0x1021_0142, 0x0000_01ff, 0x0000_0000, 0xab12_3579];

/// Core clock after reset (DWT counts cycles; the value is informational).
const CORE_CLOCK_HZ: u32 = 150_000_000;

#[cortex_m_rt::entry]
fn main() -> ! {
    glmix_fw::counter::init(CORE_CLOCK_HZ);
    glmix_fw::exit(glmix_fw::run_embedded!(model))
}
