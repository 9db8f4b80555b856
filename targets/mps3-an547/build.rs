fn main() {
    let defmt = std::env::var_os("CARGO_FEATURE_DEFMT").is_some();
    // The model does not fit in the 512 KiB ITCM: memory.x puts `.weights` in the 2 MiB SRAM.
    let scripts: &[&str] = if defmt { &["link.x", "defmt.x"] } else { &["link.x"] };
    glmix_fw_build::build_with_section(scripts, Some(".weights"));
}
