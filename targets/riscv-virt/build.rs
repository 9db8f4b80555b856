fn main() {
    let defmt = std::env::var_os("CARGO_FEATURE_DEFMT").is_some();
    // riscv-rt's link.x does not INCLUDE memory.x: both are passed.
    glmix_fw_build::build(if defmt { &["memory.x", "link.x", "defmt.x"] } else { &["memory.x", "link.x"] });
}
