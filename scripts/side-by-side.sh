#!/usr/bin/env bash
# glmix beside llama2.c's run.c / runq.c, on the same weights, in one run (issue 16's instrument).
#
#   scripts/side-by-side.sh [ROUNDS]        (default 7; needs gcc, python3 + numpy)
#
# Builds glmix (release, this checkout's .cargo/config.toml: target-cpu=native) and runs
# ../shared/peers/side-by-side.sh with it (or $GLMIX_PEERS/side-by-side.sh). That script builds the
# peers, writes the random stories15M-shape model, times each pair as whole processes, rounds
# interleaved, and prints median ratios peer time / glmix time (> 1: glmix is faster). The C code is
# a measuring instrument and stays outside this repository. Work files: $SIDE_BY_SIDE_DIR (default
# /tmp/glmix-side-by-side; delete it after changing the importer). Run it on a quiet machine: the
# OpenMP peers and glmix's --threads pool spin while they wait, and both suffer from other load.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="${GLMIX_PEERS:-$PWD/../shared/peers}"
[ -x "$PEERS/side-by-side.sh" ] || [ -f "$PEERS/side-by-side.sh" ] \
    || { echo "error: $PEERS/side-by-side.sh not found (set GLMIX_PEERS)" >&2; exit 1; }
cargo build --release -q -p glmix-tools
echo "glmix $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d)"
exec bash "$PEERS/side-by-side.sh" target/release/glmix "${1:-7}"
