fn main() {
    glmix_fw_build::build(&["link.x", "defmt.x"]);
}
