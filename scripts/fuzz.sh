#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, then copies any crash into the committed
# regression corpus (fuzz/corpus/<target>/), which `cargo test` replays on stable
# (host-tools/tests/fuzz_corpus.rs).
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 30         # 30 s per target
#   scripts/fuzz.sh 60 decode  # only some targets
#   FUZZ_RUNS=1000000 scripts/fuzz.sh 480 decode   # stop at 1,000,000 executions or 480 s
#
# Runs at the lowest priority (`nice -n 19`): the machine is shared. The last lines of each target's
# log (fuzz/artifacts/<target>/last-run.log) hold libFuzzer's final stats (executions, rate, coverage),
# which fuzz/README.md records.
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). libFuzzer grows
# its working corpus in fuzz/corpus-work/ (ignored by git), seeded from the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(parse_model tokenizer import_safetensors import_llama2c import_rwkv decode snapshot)
export GLMIX_SHARED_DATA="${GLMIX_SHARED_DATA:-$PWD/../shared/data}"
JOBS="${FUZZ_JOBS:-1}"
RUNS="${FUZZ_RUNS:--1}"

cd fuzz
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus-work/$t" "corpus/$t" "artifacts/$t"
    log="artifacts/$t/last-run.log"
    echo "==== $t (${SECS}s)"
    # decode and snapshot run 3x and 2x more inputs per CPU second without comparison tracing (their
    # inputs are op codes and token bytes, not magic values; fuzz/README.md); their own target
    # directory, so that switching flags never rebuilds the other targets.
    build=()
    case "$t" in decode | snapshot) build=(--no-trace-compares --target-dir target-ntc) ;; esac
    if ! nice -n 19 cargo +nightly fuzz run "${build[@]}" "$t" "corpus-work/$t" "corpus/$t" --jobs "$JOBS" -- \
        -max_total_time="$SECS" -runs="$RUNS" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=1
    fi
    grep -E '^Done|^#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec' "$log" | tail -3 || true
    grep -E 'SUMMARY|panicked' "$log" | head -3 || true
    for crash in artifacts/"$t"/crash-* artifacts/"$t"/oom-* artifacts/"$t"/timeout-*; do
        [ -f "$crash" ] || continue
        name="regression-$(basename "$crash")"
        if [ ! -f "corpus/$t/$name" ]; then
            cp "$crash" "corpus/$t/$name"
            echo "new crash: fuzz/corpus/$t/$name (replay: cargo test -p glmix-tools --test fuzz_corpus)"
            status=1
        fi
    done
done
exit $status
