//! glmix on a real board: logs over defmt-rtt, run with `probe-rs run` (see README.md).
#![no_std]
#![no_main]

use cortex_m as _;
use defmt_rtt as _;

/// The RP2350 boot ROM runs an image only if it finds this IMAGE_DEF block in the first 4 KiB of flash
/// (datasheet 5.9.5.1, "minimum viable image metadata"): marker start, IMAGE_TYPE item = EXE | secure |
/// Arm | RP2350, last item (block size 1), link to self, marker end.
#[link_section = ".start_block"]
#[used]
pub static IMAGE_DEF: [u32; 5] = [0xffff_ded3, 0x1021_0142, 0x0000_01ff, 0x0000_0000, 0xab12_3579];

// Core clock after reset (DWT counts cycles; the value is informational).
glmix_fw::board!(cortex_m_rt::entry, 150_000_000);
