fn main() {
    let defmt = std::env::var_os("CARGO_FEATURE_DEFMT").is_some();
    glmix_fw_build::build(if defmt { &["link.x", "defmt.x"] } else { &["link.x"] });
}
