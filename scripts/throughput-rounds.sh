#!/usr/bin/env bash
# Interleaved throughput rounds for the issue-3 speed targets: each round times stories260K (f32,
# q8_0; 512 tokens, best of 10) and the stories15M shape (random weights; f32, q8_0, q4_0; 256 tokens,
# best of 3), in thread CPU time, one line per round. On a shared machine a single figure moves by up
# to 2x; compare medians and per-round ratios, never single runs.
#
#   scripts/throughput-rounds.sh            # 10 rounds
#   scripts/throughput-rounds.sh 5
#   RUNC=/path/to/harness scripts/throughput-rounds.sh
#
# RUNC (optional) names a reference binary timed in the same rounds, called as
# `$RUNC MODEL.bin 512 10` and `$RUNC - 256 3 288 768 6 6 6 32000` (dim hidden layers heads kv_heads
# vocab), printing `... best of N: X tok/s`. docs/costs.md used llama2.c's run.c forward pass built with
# `gcc -Ofast -march=native`; that harness is not part of this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-10}"
DATA="${GLMIX_SHARED_DATA:-$PWD/../shared/data}/llama2c_stories260K"
[ -f "$DATA/stories260K.bin" ] || { echo "error: $DATA/stories260K.bin not found (set GLMIX_SHARED_DATA)" >&2; exit 1; }
cargo build --release -q -p glmix-tools
G=target/release/glmix
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for q in f32 q8_0; do
    $G import-llama2c "$DATA/stories260K.bin" --tokenizer "$DATA/tok512.bin" -o "$WORK/S-$q.glmx" \
        --quant "$q" >"$WORK/import.log" 2>&1 || { cat "$WORK/import.log" >&2; exit 1; }
done
SHAPE=(--dim 288 --layers 6 --heads 6 --hidden 768 --vocab 32000)
tok() { grep -o "best of [0-9]*: [0-9.]* tok/s" | head -1 | awk '{print $4}'; }
runc() { if [ -n "${RUNC:-}" ]; then "$RUNC" "$@" | tok; else echo -; fi; }
echo "round runc_260K glmix_260K_f32 glmix_260K_q8_0 runc_15M glmix_15M_f32 glmix_15M_q8_0 glmix_15M_q4_0"
for i in $(seq 1 "$ROUNDS"); do
    a=$(runc "$DATA/stories260K.bin" 512 10)
    b=$($G bench --generate 512 --model "$WORK/S-f32.glmx" --runs 10 2>&1 | tok)
    c=$($G bench --generate 512 --model "$WORK/S-q8_0.glmx" --runs 10 2>&1 | tok)
    d=$(runc - 256 3 288 768 6 6 6 32000)
    e=$($G bench --generate 256 "${SHAPE[@]}" --quant f32 --runs 3 2>&1 | tok)
    f=$($G bench --generate 256 "${SHAPE[@]}" --quant q8_0 --runs 3 2>&1 | tok)
    g=$($G bench --generate 256 "${SHAPE[@]}" --quant q4_0 --runs 3 2>&1 | tok)
    echo "$i $a $b $c $d $e $f $g"
done
