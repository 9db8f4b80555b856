fn main() {
    glmix_fw_build::build_models(&["link.x"]);
}
