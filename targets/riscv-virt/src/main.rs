//! glmix on RISC-V rv32imac, QEMU `virt` machine (see README.md).
#![no_std]
#![no_main]

#[cfg(feature = "defmt")]
use defmt_semihosting as _;
use glmix_fw::StateBuf;
use riscv as _;

mod model {
    include!(concat!(env!("OUT_DIR"), "/glmix_model.rs"));
}

static STATE: StateBuf<{ model::STATE_WORDS }> = StateBuf::new();

#[riscv_rt::entry]
fn main() -> ! {
    // `minstret` counts instructions exactly under `-icount`; the clock argument is unused.
    glmix_fw::counter::init(0);
    let Some(state) = STATE.take() else { glmix_fw::exit(glmix_fw::code::PANIC) };
    glmix_fw::exit(glmix_fw::app::run(&model::MODEL.bytes, state, &model::CONFIG))
}
