"""Training grids for the expressivity table and the language-model comparison (docs/results.md).

    python -m glmix_models.grid tasks --out runs/grid [--max_time 380] [--tasks copy] [--structures attention,...]
    python -m glmix_models.grid lm    --out runs/lm   [--max_time 450] [--data shakespeare-full]
    python -m glmix_models.grid list                  # the structures and settings, nothing run

Every run is one ``python -m glmix_models.train`` process; all runs of a grid start at once on the same device and
share it, each with the same wall-clock budget (``--max_time``: the cosine schedule follows the wall clock and
training stops there) and the same step cap, so every structure gets the same budget. Each run directory holds
its own train_log.jsonl (the full config in its start record) and export/ (model.safetensors + config.json of
its best held-out checkpoint). ``summary.json`` in --out lists every run with its settings and final figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

# (name, pattern, param, form): the nine structures of the paper's Table 1, then the extra rows.
STRUCTURES = [
    ("attention", "dense", 0, "attention"),
    ("local-attention", "window", 8, "attention"),
    ("diagonal-ssm", "order", 1, "recurrent"),
    ("order-4", "order", 4, "recurrent"),
    ("dense-recurrence", "dense", 0, "chained"),
    ("pow2", "pow2", 0, "recurrent"),
    ("pow2-lattice", "pow2_lattice", 0, "recurrent"),
    ("sq1", "sq1", 0, "recurrent"),
    ("sq1-lattice", "sq1_lattice", 0, "recurrent"),
    # extra rows
    ("gla", "order", 1, "state_space"),  # first-order matrix state (GLA style)
    ("log-linear", "pow2_lattice", 0, "state_space"),  # one matrix state per 2^k-lattice level
]

# Task settings (models/README.md "Synthetic tasks" has the layouts). The model: the task configs of train.py
# (2 layers, width 128, 4 heads x 32, GELU MLP 256, RoPE), batch 64, peak lr 2e-3.
TASK_ARGS = {
    "copy": {"n": 64, "vocab": 32},  # length 129
    "recall": {"n_pairs": 16, "n_queries": 16, "n_keys": 64, "n_values": 64},  # length 65
    "multihop": {"n_symbols": 64, "n_chains": 4, "hops": 4},  # length 38
}
TASK_CONTEXT = {"copy": 128, "recall": 64, "multihop": 40}

# Language-model families at equal size (the shipped model's shape: dim 128, 4 layers, 4 heads x 32, SwiGLU 256).
LM_FAMILIES = [
    ("attention", "dense", 0, "attention"),
    ("local-attention", "window", 32, "attention"),
    ("first-order", "order", 1, "recurrent"),
    ("gla", "order", 1, "state_space"),
    ("pow2-lattice", "pow2_lattice", 8, "recurrent"),
    ("sq1-lattice", "sq1_lattice", 0, "recurrent"),
    ("dense-recurrence", "dense", 0, "chained"),
    ("log-linear", "pow2_lattice", 8, "state_space"),
]


def task_runs(out: str, steps: int, max_time: float, tasks: set[str] | None, structures: set[str] | None):
    for task, targs in TASK_ARGS.items():
        for name, pattern, param, form in STRUCTURES:
            key = f"{task}/{name}"
            if (tasks and task not in tasks) or (structures and name not in structures):
                continue
            args = ["--config", task, "--task_args", json.dumps(targs), "--context", str(TASK_CONTEXT[task]),
                    "--pattern", pattern, "--param", str(param), "--form", form, "--steps", str(steps),
                    "--max_time", str(max_time), "--eval_every", "250"]
            yield key, os.path.join(out, task, name), args


def lm_runs(out: str, steps: int, max_time: float, structures: set[str] | None, data: str, data_path: str | None):
    for name, pattern, param, form in LM_FAMILIES:
        if structures and name not in structures:
            continue
        args = ["--config", "shakespeare-pow2", "--data", data, "--pattern", pattern, "--param", str(param),
                "--form", form, "--steps", str(steps), "--max_time", str(max_time), "--eval_every", "250"]
        if data_path:
            args += ["--data_path", data_path]
        yield name, os.path.join(out, name), args


def last_record(log_path: str, key: str):
    """The last record of train_log.jsonl that has `key`, or None."""
    rec = None
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                r = json.loads(line)
                if key in r:
                    rec = r
    return rec


def summarize(run_dir: str) -> dict:
    log = os.path.join(run_dir, "train_log.jsonl")
    start, done = last_record(log, "config"), last_record(log, "best_val_loss")
    evals = []
    with open(log) as f:
        evals = [r for r in map(json.loads, f) if "val_loss" in r]
    best = min(evals, key=lambda r: r["val_loss"]) if evals else None
    trains = [r for r in map(json.loads, open(log)) if "tok_per_s" in r]
    return {"params": start and start["params"], "config": start and start["config"],
            "steps": done and done["step"], "elapsed": done and done["elapsed"],
            "tokens": done and done["tokens"], "best_val_loss": best and best["val_loss"],
            "best_val_bpc": best and best["val_bpc"], "best_val_acc": best and best["val_acc"],
            "best_step": best and best["step"],
            "tok_per_s": round(sum(r["tok_per_s"] for r in trains[-10:]) / max(1, len(trains[-10:])))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("grid", choices=["tasks", "lm", "list"])
    ap.add_argument("--out", default="runs/grid")
    ap.add_argument("--steps", type=int, default=0, help="step cap (default: 20000 tasks, 1000000 lm)")
    ap.add_argument("--max_time", type=float, default=0, help="seconds per run (default: 380 tasks, 450 lm)")
    ap.add_argument("--tasks", default="", help="comma-separated tasks (default: all)")
    ap.add_argument("--structures", default="", help="comma-separated structure names (default: all)")
    ap.add_argument("--data", default="shakespeare-full", help="lm data: shakespeare | shakespeare-full")
    ap.add_argument("--data_path", default=None, help="tinyshakespeare input.txt for lm runs")
    ap.add_argument("--device", default=None)
    a, extra = ap.parse_known_args(argv)
    tasks = set(filter(None, a.tasks.split(","))) or None
    structures = set(filter(None, a.structures.split(","))) or None
    if a.grid == "list":
        for key, run_dir, args in task_runs(a.out, 0, 0, tasks, structures):
            print(key, " ".join(args))
        for key, run_dir, args in lm_runs(a.out, 0, 0, structures, a.data, a.data_path):
            print("lm/" + key, " ".join(args))
        return
    if a.grid == "tasks":
        runs = list(task_runs(a.out, a.steps or 20000, a.max_time or 380, tasks, structures))
    else:
        runs = list(lm_runs(a.out, a.steps or 1000000, a.max_time or 450, structures, a.data, a.data_path))
    os.makedirs(a.out, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_DISABLE="1")
    procs = []
    t0 = time.time()
    for key, run_dir, args in runs:
        os.makedirs(run_dir, exist_ok=True)
        cmd = [sys.executable, "-m", "glmix_models.train", "--out", run_dir, "--no_sample", *args, *extra]
        if a.device:
            cmd += ["--device", a.device]
        stdout = open(os.path.join(run_dir, "stdout.txt"), "w")
        procs.append((key, run_dir, subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.STDOUT, env=env)))
    print(f"started {len(procs)} runs", flush=True)
    summary, failed = {}, []
    for key, run_dir, p in procs:
        rc = p.wait()
        if rc != 0:
            failed.append(key)
            print(f"{key}: exit {rc} (see {run_dir}/stdout.txt)", flush=True)
            continue
        summary[key] = summarize(run_dir)
        s = summary[key]
        print(f"{key}: {s['steps']} steps, best val loss {s['best_val_loss']:.4f} acc {s['best_val_acc']:.4f}",
              flush=True)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump({"grid": a.grid, "wall_s": round(time.time() - t0, 1), "failed": failed, "runs": summary}, f,
                  indent=1)
    print(f"done in {time.time() - t0:.0f}s; {len(failed)} failed", flush=True)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
