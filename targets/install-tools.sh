#!/usr/bin/env bash
# Install the host tools the firmware tests need: QEMU 10 (from bookworm-backports; bookworm's own 7.2
# would conflict with the preinstalled qemu-utils 10) and binutils-arm-none-eabi (arm-none-eabi-size).
# Optional: flip-link (stack-overflow protection for the real-board builds).
# Idempotent: does nothing when the tools are already there. Needs root (or sudo) for apt.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=0
command -v qemu-system-arm >/dev/null 2>&1 || need_apt=1
command -v qemu-system-riscv32 >/dev/null 2>&1 || need_apt=1
command -v arm-none-eabi-size >/dev/null 2>&1 || need_apt=1

if [ "$need_apt" = 1 ]; then
    src=/etc/apt/sources.list.d/bookworm-backports.sources
    if [ ! -f "$src" ]; then
        $SUDO tee "$src" >/dev/null <<'EOS'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
    fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -t bookworm-backports qemu-system-arm qemu-system-misc
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        binutils-arm-none-eabi
fi

# flip-link is only needed to link the real-board crates (nrf52840, rp2350); QEMU boards do not use it.
if [ "${GLMIX_SKIP_FLIP_LINK:-0}" != 1 ] && ! command -v flip-link >/dev/null 2>&1; then
    cargo install flip-link --locked -j 1
fi

qemu-system-arm --version | head -n1
qemu-system-riscv32 --version | head -n1
arm-none-eabi-size --version | head -n1
command -v flip-link >/dev/null 2>&1 && echo "flip-link: $(command -v flip-link)" || echo "flip-link: not installed"
