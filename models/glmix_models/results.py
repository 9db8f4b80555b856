"""The tables of docs/results.md from a trained grid (glmix_models.grid), measured three ways.

    cargo build --release -p glmix-tools
    python -m glmix_models.results --runs RUNS --glmix ../target/release/glmix --text INPUT.txt [--jobs 16] \\
        [--samples 500] [--md tables.md] [--pack OUT]

RUNS is a grid's --out: ``tasks/<task>/<structure>/s<seed>/``, ``ablation/<task>/<variant>/s<seed>/`` and
``lm/<family>/`` run directories (train_log.jsonl + export/). For every task run, on the same seeded held-out
samples (the task setting of its training, from its log's start record): PyTorch accuracy (glmix_models.evaluate,
parallel form, f32, CPU) and the runtime's at f32 and q8_0 (`glmix convert`, then `glmix eval --task`, one token
at a time). For every LM: held-out bits/char three ways, state bytes at contexts 4,096 and 65,536 (`glmix
inspect`), decode tok/s. Runs are measured in parallel (--jobs processes, one thread each); each run's row is
cached in its result.json. When the runtime cannot convert a model (a config feature the binary lacks), the row
keeps the PyTorch figure and the runtime's error, and --pack ships that run's f32 export for a later evaluation.

Writes RUNS/results.json and the Markdown tables (stdout, or --md): Table 1 (three tasks x the structures, mean
over seeds with each seed's value), its three-way detail, the ablation, the LM table, and the largest
PyTorch-runtime and f32-q8_0 gaps. --pack OUT writes results.json, tables.md, summary.json and a tarball
(results-partNN.tgz, <= 15 MiB each; `cat results-part*.tgz | tar xz`) of the q8_0 models, logs and configs, in
priority order under a size cap (MANIFEST.txt inside lists what was left out).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from concurrent.futures import ProcessPoolExecutor, as_completed

# The paper's Table 1 (BRIEF section 3): copy, associative recall, multi-hop (%).
PAPER = {
    "attention": (100.00, 100.00, 39.21),
    "local-attention": (23.75, 26.20, 23.59),
    "diagonal-ssm": (42.98, 32.53, 27.17),
    "order-4": (74.66, 41.12, 39.08),
    "dense-recurrence": (100.00, 99.99, 99.80),
    "pow2": (92.63, 49.03, 34.85),
    "pow2-lattice": (75.47, 52.59, 38.63),
    "sq1": (99.66, 53.61, 35.68),
    "sq1-lattice": (91.59, 54.56, 38.02),
}
PAPER_COLUMN = {"copy": 0, "recall": 1, "multihop-hidden": 2}
TOLERANCE = 0.5  # points: PyTorch vs runtime f32 vs runtime q8_0
# held-out samples per task (multihop-hidden has one answer per sample, so it gets more samples)
SAMPLES = {"copy": 500, "recall": 500, "multihop-hidden": 2000}
DEFAULT_SAMPLES = 500
CACHE_VERSION = 3


class ToolError(Exception):
    pass


def sh(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}").splitlines()[-1]
        raise ToolError(f"glmix {cmd[1]}: {last}")
    return r.stdout


def convert(glmix: str, export: str, out: str, quant: str) -> int:
    if not os.path.exists(out):
        sh([glmix, "convert", "--weights", os.path.join(export, "model.safetensors"), "--config",
            os.path.join(export, "config.json"), "-o", out + ".part", "--quant", quant, "--quiet"])
        os.replace(out + ".part", out)
    return os.path.getsize(out)


def log_records(run: str) -> list:
    with open(os.path.join(run, "train_log.jsonl")) as f:
        return [json.loads(line) for line in f]


def classify(runs: str, run: str) -> dict | None:
    """What a run directory is, from its place under RUNS."""
    parts = os.path.relpath(run, runs).split(os.sep)
    if len(parts) == 4 and parts[0] in ("tasks", "ablation", "sweep") and parts[3].startswith("s"):
        return {"grid": parts[0], "task": parts[1], "structure": parts[2], "seed": int(parts[3][1:])}
    if len(parts) == 2 and parts[0] == "lm":
        return {"grid": "lm", "family": parts[1]}
    return None


def ram_bytes(glmix: str, path: str, context: int) -> int:
    out = sh([glmix, "inspect", path, "--context", str(context)])
    return int(re.search(r"total RAM:\s+(\d+) bytes", out).group(1))


def measure(run: str, what: dict, glmix: str, text: str, samples: int | None, seed: int) -> dict:
    """One run's row: training figures from its log, then the three measurements (`samples` None: SAMPLES)."""
    import torch

    from .evaluate import task_accuracy, text_loss, split_bytes
    from .model import load_exported
    from .tasks import TASKS

    torch.set_num_threads(1)
    recs = log_records(run)
    start = next(r for r in recs if r.get("event") == "start")
    done = next((r for r in recs if r.get("event") == "done"), {})
    cfg = start["config"]
    row = dict(what, params=start["params"], steps=done.get("step"), requested_steps=cfg["steps"], lr=cfg["lr"],
               tokens=done.get("tokens"), train_s=done.get("elapsed"), batch=cfg["batch_size"],
               config={k: cfg.get(k) for k in ("pattern", "param", "form", "level_aware") if k in cfg},
               curve=[[r["step"], r["val_acc"] if what["grid"] != "lm" else r["val_bpc"]] for r in recs
                      if "val_loss" in r])
    export = os.path.join(run, "export")
    model = load_exported(export)
    if what["grid"] == "lm":
        with open(text, "rb") as f:
            held = split_bytes(f.read(), "heldout")
        row["torch"] = text_loss(model, held)["bits_per_char"]
    else:
        targs = cfg["task_args"]
        row["task_args"] = targs
        samples = samples or SAMPLES.get(what["task"], DEFAULT_SAMPLES)
        row["samples"] = samples
        row["torch"] = 100 * task_accuracy(model, TASKS[what["task"]](**targs), samples, seed)["accuracy"]
    try:
        for quant in ("f32", "q8_0"):
            path = os.path.join(run, f"model-{quant}.glmx")
            row[f"bytes_{quant}"] = convert(glmix, export, path, quant)
            if what["grid"] == "lm":
                r = json.loads(sh([glmix, "eval", "--model", path, "--text", text, "--json", "--threads", "1"]))
                row[quant] = r["bits_per_char"]
            else:
                flags = [x for k, v in targs.items() for x in ("--" + k.replace("_", "-"), str(v))]
                r = json.loads(sh([glmix, "eval", "--model", path, "--task", what["task"], *flags, "--samples",
                                   str(samples), "--seed", str(seed), "--json", "--threads", "1"]))
                row[quant] = 100 * r["accuracy"]
                row["context"] = r["context"]
            row[f"us_{quant}"] = r["us_per_token"]
            row[f"tok_s_{quant}"] = r["tokens_per_second"]
            row["state_bytes"] = r["state_bytes"]
        if what["grid"] == "lm":
            for ctx in (4096, 65536):
                row[f"ram_{ctx}"] = ram_bytes(glmix, os.path.join(run, "model-q8_0.glmx"), ctx)
    except ToolError as e:
        row["runtime_error"] = str(e)
    return row


def measure_cached(run: str, what: dict, glmix: str, text: str, samples: int, seed: int) -> dict:
    """The row cached in run/result.json if it was measured with these settings and the runtime, or if the run
    has no weights any more (a packed run brought back without its export); otherwise measured now."""
    path = os.path.join(run, "result.json")
    if not os.path.exists(os.path.join(run, "export", "model.safetensors")):
        with open(path) as f:
            return json.load(f)
    key = {"version": CACHE_VERSION, "samples": samples, "seed": seed, "glmix": os.path.abspath(glmix),
           "log_bytes": os.path.getsize(os.path.join(run, "train_log.jsonl"))}
    if os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if cached.get("cache_key") == key and "runtime_error" not in cached:
            return cached
    row = measure(run, what, glmix, text, samples, seed)
    row["cache_key"] = key
    with open(path + ".tmp", "w") as f:
        json.dump(row, f, indent=1)
    os.replace(path + ".tmp", path)
    return row


def find_runs(runs: str) -> list:
    """(run_dir, what) of every finished run (export/config.json present, or a result.json of a packed run), LM
    first, then in path order."""
    out = []
    for root, dirs, files in os.walk(runs):
        dirs.sort()
        if "train_log.jsonl" in files and ("result.json" in files or
                                           os.path.exists(os.path.join(root, "export", "config.json"))):
            what = classify(runs, root)
            if what:
                out.append((root, what))
    return sorted(out, key=lambda rw: (rw[1]["grid"] != "lm", rw[0]))


def measure_all(a) -> list:
    todo = find_runs(a.runs)
    if a.cached_only:  # another process may be measuring: read its finished rows, write nothing
        rows = []
        for run, _ in todo:
            if os.path.exists(os.path.join(run, "result.json")):
                with open(os.path.join(run, "result.json")) as f:
                    rows.append(json.load(f))
        return rows
    rows = []
    with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        futs = {ex.submit(measure_cached, run, what, a.glmix, a.text, a.samples, a.seed): run for run, what in todo}
        for fut in as_completed(futs):
            run = futs[fut]
            try:
                r = fut.result()
            except Exception as e:  # a broken run must not hide the others
                what = classify(a.runs, run)
                r = dict(what, error=f"{type(e).__name__}: {e}")
            rows.append(r)
            name = r.get("family") or f"{r['grid']}/{r['task']}/{r['structure']}/s{r['seed']}"
            figs = " ".join(f"{k} {r[k]:.4g}" for k in ("torch", "f32", "q8_0") if isinstance(r.get(k), float))
            print(f"{name}: {figs} {r.get('runtime_error', '')}{r.get('error', '')}", file=sys.stderr, flush=True)
    return rows


# ------------------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------------------
def mean_both(vals: list, digits: int = 2) -> str:
    """'mean (v1, v2)' over the seeds' values; a missing value shows as '-' and is left out of the mean."""
    have = [v for v in vals if isinstance(v, (int, float))]
    if not have:
        return "-"
    m = sum(have) / len(have)
    if len(vals) == 1:
        return f"{m:.{digits}f}"
    each = ", ".join(f"{v:.{digits}f}" if isinstance(v, (int, float)) else "-" for v in vals)
    return f"{m:.{digits}f} ({each})"


def cell_rows(rows, grid, task, structure):
    return sorted((r for r in rows if r["grid"] == grid and r.get("task") == task and r.get("structure") == structure
                   and "error" not in r), key=lambda r: r["seed"])


def gaps(rows) -> tuple:
    """(largest |PyTorch - runtime f32|, largest |f32 - q8_0|, rows over TOLERANCE), in points (bits for LM)."""
    g1 = g2 = 0.0
    over = []
    for r in rows:
        if not all(isinstance(r.get(k), float) for k in ("torch", "f32", "q8_0")):
            continue
        d1, d2 = abs(r["torch"] - r["f32"]), abs(r["f32"] - r["q8_0"])
        g1, g2 = max(g1, d1), max(g2, d2)
        if r["grid"] != "lm" and max(d1, d2, abs(r["torch"] - r["q8_0"])) > TOLERANCE:
            over.append(f"{r['grid']}/{r['task']}/{r['structure']}/s{r['seed']}")
    return g1, g2, over


def tables(rows: list, summary: dict | None) -> str:
    from .grid import ABLATION_LATTICES, ABLATION_TASKS, LM_FAMILIES, STRUCTURES, TASKS

    out = []
    w = out.append
    task_rows = [r for r in rows if r["grid"] == "tasks"]
    steps = sorted({r["steps"] for r in rows if r["grid"] != "lm" and r.get("steps")})
    lm_steps = sorted({r["steps"] for r in rows if r["grid"] == "lm" and r.get("steps")})
    if summary:
        w(f"Grid: task steps {summary.get('task_steps')}, LM steps {summary.get('lm_steps')}, {summary.get('parallel')}"
          f" runs at once, {len(summary.get('runs', {}))} runs in {summary.get('wall_s')} s; failed: "
          f"{summary.get('failed') or 'none'}; notes: {'; '.join(summary.get('notes', [])) or 'none'}.")
    w(f"Steps trained: tasks {steps}, LM {lm_steps} (every run its grid's count: "
      f"{'yes' if len(steps) <= 1 and len(lm_steps) <= 1 else 'NO'}).")
    w("")
    w("### Table 1 (PyTorch accuracy %, mean over seeds (each seed); state bytes at the task length, runtime)")
    w("")
    w("| structure | copy | recall (MQAR) | multi-hop (hidden) | paper copy / recall / multi-hop | state bytes copy "
      "/ recall / multi-hop |")
    w("|---|---|---|---|---|---|")
    for name, *_ in STRUCTURES:
        cells = [cell_rows(rows, "tasks", t, name) for t in TASKS]
        if not any(cells):
            continue
        paper = PAPER.get(name)
        sb = [f"{c[0]['state_bytes']:,}" if c and c[0].get("state_bytes") else "-" for c in cells]
        w(f"| {name} | " + " | ".join(mean_both([r["torch"] for r in c]) for c in cells) +
          f" | {' / '.join(f'{p:.2f}' for p in paper) if paper else '-'} | {' / '.join(sb)} |")
    w("")
    w("### Table 1, three ways (mean over seeds (each seed); runtime one token at a time)")
    w("")
    w("| structure | task | PyTorch | runtime f32 | runtime q8_0 | paper | steps | train s | us/token (f32) |")
    w("|---|---|---|---|---|---|---|---|---|")
    for task in TASKS:
        for name, *_ in STRUCTURES:
            c = cell_rows(rows, "tasks", task, name)
            if not c:
                continue
            paper = PAPER.get(name)
            p = f"{paper[PAPER_COLUMN[task]]:.2f}" if paper else "-"
            us = mean_both([r.get("us_f32") for r in c], 1).split(" ")[0]
            w(f"| {name} | {task} | {mean_both([r['torch'] for r in c])} | {mean_both([r.get('f32') for r in c])} "
              f"| {mean_both([r.get('q8_0') for r in c])} | {p} | {'/'.join(str(r['steps']) for r in c)} "
              f"| {'/'.join(format(r['train_s'], '.0f') for r in c if r.get('train_s'))} | {us} |")
    curves = [r for r in rows if r["grid"] != "lm" and r.get("curve") and "error" not in r]
    if curves:
        w("")
        w("### Learning curves (held-out accuracy % during training: train.py's 4,096 samples of the same seed; "
          "mean over seeds)")
        w("")
        marks = (0.125, 0.25, 0.5, 0.75, 1.0)
        w("| structure | task | " + " | ".join(f"{m:g} of the steps" for m in marks) + " |")
        w("|---|---|" + "---|" * len(marks))
        keys = sorted({(r["grid"], r["task"], r["structure"]) for r in curves},
                      key=lambda k: (("tasks", "ablation", "sweep").index(k[0]), TASKS.index(k[1]), k[2]))
        for grid, task, name in keys:
            c = [r for r in cell_rows(rows, grid, task, name) if r.get("curve")]
            cols = []
            for m in marks:
                vals = []
                for r in c:
                    want = m * r["requested_steps"]
                    pts = [p for p in r["curve"] if p[0] <= want + 1e-9]
                    vals.append(100 * pts[-1][1] if pts else None)
                cols.append(mean_both(vals, 1).split(" ")[0])
            w(f"| {name if grid == 'tasks' else grid + ' ' + name} | {task} | " + " | ".join(cols) + " |")
    ab = [r for r in rows if r["grid"] == "ablation"]
    if ab:
        w("")
        w("### Ablation: lattice coefficients (PyTorch / runtime f32 / runtime q8_0 accuracy %, mean (each seed))")
        w("")
        w("| lattice | form | level-aware | " + " | ".join(ABLATION_TASKS) + " |")
        w("|---|---|---|" + "---|" * len(ABLATION_TASKS))
        for lat in ABLATION_LATTICES:
            for form in ("recurrent", "chained"):
                for la in (False, True):
                    variant = f"{lat}-{form}" + ("-la" if la else "")
                    cols = []
                    for task in ABLATION_TASKS:
                        c = (cell_rows(rows, "tasks", task, lat) if (form, la) == ("recurrent", False)
                             else cell_rows(rows, "ablation", task, variant))
                        cols.append(" / ".join(mean_both([r.get(k) for r in c]) for k in ("torch", "f32", "q8_0"))
                                    if c else "-")
                    if any(col != "-" for col in cols):
                        w(f"| {lat} | {form} | {'yes' if la else 'no'} | " + " | ".join(cols) + " |")
        errs = sorted({r["runtime_error"] for r in ab if r.get("runtime_error")})
        if errs:
            w("")
            w("Runtime not measured for some ablation runs (their f32 exports are packed): " + "; ".join(errs))
    sw = sorted((r for r in rows if r["grid"] == "sweep" and "error" not in r), key=lambda r: r["lr"])
    if sw:
        main = cell_rows(rows, "tasks", "recall", "attention")
        w("")
        w("### Recall (MQAR) learning-rate check: attention (accuracy %, PyTorch / runtime f32 / runtime q8_0)")
        w("")
        w("| peak lr | seed | steps | PyTorch | runtime f32 | runtime q8_0 |")
        w("|---|---|---|---|---|---|")
        for r in sorted(sw + main, key=lambda r: (r["lr"], r["seed"])):
            w(f"| {r['lr']:g}{' (the grid)' if r['grid'] == 'tasks' else ''} | {r['seed']} | {r['steps']} "
              f"| {r['torch']:.2f} | {mean_both([r.get('f32')])} | {mean_both([r.get('q8_0')])} |")
    lms = {r["family"]: r for r in rows if r["grid"] == "lm" and "error" not in r}
    if lms:
        w("")
        w("### Language models (held-out bits/char)")
        w("")
        w("| family | mixer | steps | tokens | train s | PyTorch | runtime f32 | runtime q8_0 | RAM @4,096 "
          "| RAM @65,536 | tok/s (f32) | q8_0 file |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|")

        def num(v, spec):
            return format(v, spec) if isinstance(v, (int, float)) else "-"

        for name, *_ in LM_FAMILIES:
            r = lms.get(name)
            if not r:
                continue
            c = r["config"]
            w(f"| {name} | {c['pattern']} {c['param']} {c['form']} | {r['steps']} | {num(r['tokens'], ',')} "
              f"| {num(r['train_s'], '.0f')} | {r['torch']:.4f} | {num(r.get('f32'), '.4f')} "
              f"| {num(r.get('q8_0'), '.4f')} | {num(r.get('ram_4096'), ',')} | {num(r.get('ram_65536'), ',')} "
              f"| {num(r.get('tok_s_f32'), ',.0f')} | {num(r.get('bytes_q8_0'), ',')} |")
    g1, g2, over = gaps([r for r in rows if "error" not in r])
    lm_g = gaps([r for r in rows if r["grid"] == "lm" and "error" not in r])
    w("")
    w(f"Largest gaps (tasks, points): PyTorch vs runtime f32 {gaps(task_rows + ab)[0]:.2f}, f32 vs q8_0 "
      f"{gaps(task_rows + ab)[1]:.2f}; over {TOLERANCE}: {over or 'none'}. LM (bits/char): {lm_g[0]:.4f}, "
      f"{lm_g[1]:.4f}. All rows: {g1:.4f} / {g2:.4f}.")
    bad = [r for r in rows if "error" in r or r.get("runtime_error")]
    if bad:
        w("Not measured: " + "; ".join(f"{r.get('family') or r['grid'] + '/' + r['task'] + '/' + r['structure']}"
                                       f"{'/s' + str(r['seed']) if 'seed' in r else ''}: "
                                       f"{r.get('error') or r.get('runtime_error')}" for r in bad))
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------------------
# packing for the trip back from the GPU machine
# ------------------------------------------------------------------------------------------------------------
def pack(runs: str, rows: list, out: str, limit_mb: float, part_mb: float = 15.0) -> list:
    """Tar (gzip) into out/results-partNN.tgz: every run's train_log.jsonl + config.json + result.json, then, in
    priority order while the raw total stays under limit_mb: f32 exports the runtime could not convert, q8_0 models
    (LM, copy, multi-hop, ablation, recall; smaller first within a class). MANIFEST.txt lists what was left out."""
    items, optional = [], []
    for extra in ("summary.json", "probe.json", "status.json", "results.json", "tables.md", "grid.log"):
        p = os.path.join(runs, extra)
        if os.path.exists(p):
            items.append((p, extra))
    prio = {"lm": 1, "copy": 2, "multihop-hidden": 3, "recall": 5}  # then +1 for the ablation and the sweep
    for r in rows:
        if "error" in r:
            continue
        rel = os.path.join(r["grid"], r.get("family") or os.path.join(r["task"], r["structure"], f"s{r['seed']}"))
        run = os.path.join(runs, rel)
        for f in ("train_log.jsonl", "result.json"):
            if os.path.exists(os.path.join(run, f)):
                items.append((os.path.join(run, f), os.path.join(rel, f)))
        items.append((os.path.join(run, "export", "config.json"), os.path.join(rel, "config.json")))
        p = prio.get(r.get("task") or "lm", 4) + (1 if r["grid"] in ("ablation", "sweep") else 0)
        if r.get("runtime_error"):
            st = os.path.join(run, "export", "model.safetensors")
            optional.append((0, os.path.getsize(st), st, os.path.join(rel, "export", "model.safetensors")))
            items.append((os.path.join(run, "export", "config.json"), os.path.join(rel, "export", "config.json")))
        q = os.path.join(run, "model-q8_0.glmx")
        if os.path.exists(q):
            optional.append((p, os.path.getsize(q), q, os.path.join(rel, "model.glmx")))
    total = sum(os.path.getsize(p) for p, _ in items)
    left = []
    for _, size, p, arc in sorted(optional):
        if total + size <= limit_mb * 2 ** 20:
            items.append((p, arc))
            total += size
        else:
            left.append(arc)
    manifest = (f"{len(items)} files, {total:,} bytes before compression; left out (size cap {limit_mb} MiB): "
                f"{len(left)}\n" + "".join(f"  {x}\n" for x in left))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        info = tarfile.TarInfo("results/MANIFEST.txt")
        data = manifest.encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for p, arc in items:
            tar.add(p, arcname=os.path.join("results", arc))
        for root, _, files in os.walk(runs):  # the end of every run's stdout (progress bars, errors), failed too
            if "stdout.txt" in files and not os.path.relpath(root, runs).startswith("probe"):
                with open(os.path.join(root, "stdout.txt"), "rb") as f:
                    f.seek(max(0, os.path.getsize(f.name) - 2048))
                    data = f.read()
                info = tarfile.TarInfo(os.path.join("results", os.path.relpath(root, runs), "stdout-tail.txt"))
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    os.makedirs(out, exist_ok=True)
    step = int(part_mb * 2 ** 20)
    parts = []
    for i in range(0, len(raw), step):
        path = os.path.join(out, f"results-part{i // step:02d}.tgz")
        with open(path, "wb") as f:
            f.write(raw[i:i + step])
        parts.append(path)
    print(f"packed {len(items)} files ({total:,} bytes raw, {len(raw):,} compressed) into {len(parts)} parts; "
          f"{len(left)} model files left out (MANIFEST.txt)", file=sys.stderr)
    return parts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--glmix", required=True, help="the glmix binary (release build)")
    ap.add_argument("--text", default="", help="tinyshakespeare input.txt (held-out = last 10 %%); needed for LM runs")
    ap.add_argument("--samples", type=int, default=None, help=f"held-out samples per task run (default: {SAMPLES})")
    ap.add_argument("--seed", type=int, default=None, help="held-out stream (default: train.py's, 987654321)")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                    help="runs measured at once (default: the CPUs this process may use)")
    ap.add_argument("--md", default=None, help="write the tables here (default: stdout)")
    ap.add_argument("--pack", default=None, help="directory for results.json, tables.md and the tarball parts")
    ap.add_argument("--pack_limit_mb", type=float, default=58)
    ap.add_argument("--cached_only", action="store_true", help="use the rows already measured, measure nothing")
    a = ap.parse_args(argv)
    if a.seed is None:
        a.seed = 987654321  # evaluate.HELDOUT_SEED (not imported here: this module starts without torch)
    if not os.path.exists(a.glmix):
        raise SystemExit(f"{a.glmix}: no such binary")
    rows = measure_all(a)
    summary = None
    sp = os.path.join(a.runs, "summary.json")
    if os.path.exists(sp):
        with open(sp) as f:
            summary = json.load(f)
    md = tables(rows, summary)
    with open(os.path.join(a.runs, "results.json"), "w") as f:
        json.dump({"samples": a.samples, "seed": a.seed, "rows": sorted(rows, key=lambda r: json.dumps(
            [r["grid"], r.get("task", ""), r.get("structure", r.get("family")), r.get("seed", 0)]))}, f, indent=1)
    with open(os.path.join(a.runs, "tables.md"), "w") as f:
        f.write(md)
    if a.md:
        if os.path.abspath(a.md) != os.path.abspath(os.path.join(a.runs, "tables.md")):
            with open(a.md, "w") as f:
                f.write(md)
    else:
        print(md)
    if a.pack:
        import shutil

        os.makedirs(a.pack, exist_ok=True)
        for name in ("results.json", "tables.md", "summary.json"):
            if os.path.exists(os.path.join(a.runs, name)):
                shutil.copy(os.path.join(a.runs, name), os.path.join(a.pack, name))
        pack(a.runs, rows, a.pack, a.pack_limit_mb)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
