#!/usr/bin/env bash
# Runs every glmix fuzz target in this folder in parallel (one process each), each from its corpus
# folder, until -runs executions or SECONDS seconds, whichever comes first; libFuzzer's final
# statistics (executions, exec/s, coverage) end each log.
#
#   ./run.sh [CORPUS_DIR] [OUT_DIR] [SECONDS] [RUNS]
#     CORPUS_DIR  one sub-folder per target (default: ./corpus, the committed corpus)
#     OUT_DIR     logs (<target>.log), the grown corpus (corpus-work/<target>/) and any crash,
#                 leak, timeout or out-of-memory input (<target>-crash-*, ...) go here (default: ./out)
#     SECONDS     time cap per target (default 1200: 20 minutes)
#     RUNS        execution cap per target (default 1000000)
#   TARGETS="decode snapshot" ./run.sh ...   only some targets
#
# The binaries are libFuzzer + AddressSanitizer builds (cargo fuzz build -O, x86_64 Linux, glibc);
# *.xz ones are decompressed on the first run. The tokenizer target reads stories260K's vocabulary
# from ./data (GLMIX_SHARED_DATA). The corpus folders are only read: new inputs go to OUT_DIR.
# Ends with one summary line per target (OUT_DIR/summary.txt: executions, exec/s of wall time, CPU
# seconds and executions per CPU second, coverage at start and end, crash files) and exit status 1 if
# any target failed. Needs xz (for *.xz); /usr/bin/time if present.
set -u
here=$(cd "$(dirname "$0")" && pwd)
corpus=$(cd "${1:-$here/corpus}" && pwd)
out=${2:-$here/out}
secs=${3:-1200}
runs=${4:-1000000}
targets=(${TARGETS:-parse_model tokenizer import_safetensors import_llama2c import_rwkv decode snapshot})
mkdir -p "$out"
out=$(cd "$out" && pwd)
export GLMIX_SHARED_DATA="${GLMIX_SHARED_DATA:-$here/data}"

for t in "${targets[@]}"; do
    if [ ! -x "$here/$t" ] && [ -f "$here/$t.xz" ]; then
        xz -dkc "$here/$t.xz" > "$here/$t.tmp" && chmod +x "$here/$t.tmp" && mv "$here/$t.tmp" "$here/$t"
    fi
    [ -x "$here/$t" ] || { echo "missing binary $here/$t"; exit 2; }
done

pids=()
for t in "${targets[@]}"; do
    # CPU seconds per target (user + system) where /usr/bin/time exists.
    timer=""
    [ -x /usr/bin/time ] && timer="/usr/bin/time -f %U_%S -o $out/$t.cpu"
    mkdir -p "$out/corpus-work/$t"
    [ -d "$corpus/$t" ] || echo "note: no corpus folder $corpus/$t (starting empty)"
    $timer "$here/$t" -artifact_prefix="$out/$t-" -max_total_time="$secs" -runs="$runs" -max_len=65536 \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        "$out/corpus-work/$t" $( [ -d "$corpus/$t" ] && echo "$corpus/$t" ) > "$out/$t.log" 2>&1 &
    pids+=($!)
done

status=0
: > "$out/summary.txt"
for i in "${!targets[@]}"; do
    t=${targets[$i]}
    wait "${pids[$i]}"; rc=$?
    [ "$rc" = 0 ] || status=1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log" | tail -1)
    inited=$(grep -m1 'INITED' "$out/$t.log" | grep -o 'cov: [0-9]* ft: [0-9]*')
    last=$(grep -E '^#[0-9]+' "$out/$t.log" | grep -o 'cov: [0-9]* ft: [0-9]*' | tail -1)
    crashes=$(ls "$out" | grep -c "^$t-" || true)
    cpu=$(tail -n1 "$out/$t.cpu" 2>/dev/null | tr '_' ' ' | awk '{ printf "%.1f", $1 + $2 }')
    per_cpu=$(awk -v n="${execs:-0}" -v c="${cpu:-0}" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print "?" }')
    printf '%s\trc=%s\texecutions=%s\texec/s=%s\tcpu-s=%s\texec/cpu-s=%s\tstart %s\tend %s\tcrash files=%s\n' \
        "$t" "$rc" "${execs:-?}" "${rate:-?}" "${cpu:-?}" "$per_cpu" "${inited:-?}" "${last:-?}" "$crashes" \
        | tee -a "$out/summary.txt"
done
exit $status
