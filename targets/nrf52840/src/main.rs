//! glmix on a real board: logs over defmt-rtt, run with `probe-rs run` (see README.md).
#![no_std]
#![no_main]

use cortex_m as _;
use defmt_rtt as _;

// Core clock after reset (DWT counts cycles; the value is informational).
glmix_fw::board!(cortex_m_rt::entry, 64_000_000);
