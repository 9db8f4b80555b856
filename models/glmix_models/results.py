"""Build the tables of docs/results.md from trained grids (glmix_models.grid): PyTorch vs the runtime.

    cargo build --release -p glmix-tools
    python -m glmix_models.results --runs RUNS --glmix ../target/release/glmix --text INPUT.txt \\
        [--samples 500] [--ship results] > tables.md

RUNS holds ``tasks/<task>/<structure>/`` and ``lm/<family>/`` run directories (train_log.jsonl + export/). For every
task run: the exported checkpoint is converted to f32 and q8_0 model files (`glmix convert`); PyTorch accuracy
(glmix_models.evaluate, parallel form, f32) and the runtime's (`glmix eval --task`, one token at a time) are
measured on the same seeded held-out samples. For every LM family: held-out bits/char from PyTorch and from the
runtime (`glmix eval --text`), state bytes at contexts 4,096 and 65,536 (`glmix inspect`), decode tok/s. With
--ship, the q8_0 files, train logs and configs are copied there. Prints Markdown; writes RUNS/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import torch

from .evaluate import HELDOUT_SEED, task_accuracy, text_loss, split_bytes
from .grid import LM_FAMILIES, STRUCTURES, TASK_ARGS
from .model import load_exported
from .tasks import TASKS

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
CLI_FLAG = {"n": "--n", "vocab": "--vocab", "n_pairs": "--n-pairs", "n_queries": "--n-queries",
            "n_keys": "--n-keys", "n_values": "--n-values", "n_symbols": "--n-symbols", "n_chains": "--n-chains",
            "hops": "--hops"}


def sh(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def convert(glmix: str, export: str, out: str, quant: str) -> int:
    if not os.path.exists(out):
        sh([glmix, "convert", "--weights", os.path.join(export, "model.safetensors"), "--config",
            os.path.join(export, "config.json"), "-o", out, "--quant", quant, "--quiet"])
    return os.path.getsize(out)


def log_records(run: str):
    with open(os.path.join(run, "train_log.jsonl")) as f:
        return [json.loads(line) for line in f]


def task_row(a, task: str, name: str) -> dict | None:
    run = os.path.join(a.runs, "tasks", task, name)
    if not os.path.exists(os.path.join(run, "export", "config.json")):
        return None
    recs = log_records(run)
    start = next(r for r in recs if r.get("event") == "start")
    done = next((r for r in recs if r.get("event") == "done"), {})
    targs = TASK_ARGS[task]
    flags = [x for k, v in targs.items() for x in (CLI_FLAG[k], str(v))]
    row = {"task": task, "structure": name, "params": start["params"], "steps": done.get("step"),
           "train_s": done.get("elapsed"), "batch": start["config"]["batch_size"]}
    model = load_exported(os.path.join(run, "export"))
    row["torch"] = 100 * task_accuracy(model, TASKS[task](**targs), a.samples, a.seed)["accuracy"]
    for quant in ("f32", "q8_0"):
        path = os.path.join(run, f"model-{quant}.glmx")
        row[f"bytes_{quant}"] = convert(a.glmix, os.path.join(run, "export"), path, quant)
        r = json.loads(sh([a.glmix, "eval", "--model", path, "--task", task, *flags, "--samples",
                           str(a.samples), "--seed", str(a.seed), "--json"]))
        row[quant] = 100 * r["accuracy"]
        row[f"us_{quant}"] = r["us_per_token"]
        row["state_bytes"] = r["state_bytes"]
        row["context"] = r["context"]
    if a.ship:
        dst = os.path.join(a.ship, "tasks", task, name)
        os.makedirs(dst, exist_ok=True)
        shutil.copy(os.path.join(run, "model-q8_0.glmx"), os.path.join(dst, "model.glmx"))
        shutil.copy(os.path.join(run, "export", "config.json"), dst)
        shutil.copy(os.path.join(run, "train_log.jsonl"), dst)
    print(f"{task}/{name}: torch {row['torch']:.2f} f32 {row['f32']:.2f} q8_0 {row['q8_0']:.2f}", file=sys.stderr)
    return row


def ram_bytes(glmix: str, path: str, context: int) -> int:
    out = sh([glmix, "inspect", path, "--context", str(context)])
    return int(re.search(r"total RAM:\s+(\d+) bytes", out).group(1))


def lm_row(a, name: str) -> dict | None:
    run = os.path.join(a.runs, "lm", name)
    if not os.path.exists(os.path.join(run, "export", "config.json")):
        return None
    recs = log_records(run)
    start = next(r for r in recs if r.get("event") == "start")
    done = next((r for r in recs if r.get("event") == "done"), {})
    row = {"family": name, "params": start["params"], "steps": done.get("step"), "tokens": done.get("tokens"),
           "train_s": done.get("elapsed"), "config": {k: start["config"][k] for k in ("pattern", "param", "form")}}
    with open(a.text, "rb") as f:
        held = split_bytes(f.read(), "heldout")
    row["torch_bpc"] = text_loss(load_exported(os.path.join(run, "export")), held)["bits_per_char"]
    for quant in ("f32", "q8_0"):
        path = os.path.join(run, f"model-{quant}.glmx")
        row[f"bytes_{quant}"] = convert(a.glmix, os.path.join(run, "export"), path, quant)
        r = json.loads(sh([a.glmix, "eval", "--model", path, "--text", a.text, "--json"]))
        row[f"bpc_{quant}"] = r["bits_per_char"]
        row[f"tok_s_{quant}"] = r["tokens_per_second"]
    for ctx in (4096, 65536):
        row[f"ram_{ctx}"] = ram_bytes(a.glmix, os.path.join(run, "model-q8_0.glmx"), ctx)
    if a.ship:
        dst = os.path.join(a.ship, "lm", name)
        os.makedirs(dst, exist_ok=True)
        shutil.copy(os.path.join(run, "model-q8_0.glmx"), os.path.join(dst, "model.glmx"))
        shutil.copy(os.path.join(run, "export", "config.json"), dst)
        shutil.copy(os.path.join(run, "train_log.jsonl"), dst)
    print(f"lm/{name}: torch {row['torch_bpc']:.4f} f32 {row['bpc_f32']:.4f} q8_0 {row['bpc_q8_0']:.4f}",
          file=sys.stderr)
    return row


def fmt_bytes(n: int) -> str:
    return f"{n:,}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--glmix", required=True, help="the glmix binary (release build)")
    ap.add_argument("--text", required=True, help="tinyshakespeare input.txt (held-out = last 10 %%)")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=HELDOUT_SEED)
    ap.add_argument("--ship", default=None, help="copy q8_0 models, configs and logs into this directory")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    tasks = [r for t in TASK_ARGS for s, *_ in STRUCTURES if (r := task_row(a, t, s))]
    lms = [r for f, *_ in LM_FAMILIES if (r := lm_row(a, f))]
    with open(os.path.join(a.runs, "results.json"), "w") as f:
        json.dump({"samples": a.samples, "seed": a.seed, "tasks": tasks, "lm": lms}, f, indent=1)

    print("| structure | task | PyTorch | runtime f32 | runtime q8_0 | paper | steps | us/token (f32) "
          "| state bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    col = {t: i for i, t in enumerate(TASK_ARGS)}
    for r in tasks:
        paper = PAPER.get(r["structure"])
        p = f"{paper[col[r['task']]]:.2f}" if paper else "-"
        print(f"| {r['structure']} | {r['task']} | {r['torch']:.2f} | {r['f32']:.2f} | {r['q8_0']:.2f} | {p} "
              f"| {r['steps']} | {r['us_f32']:.1f} | {fmt_bytes(r['state_bytes'])} |")
    print()
    print("| family | mixer | steps | tokens | PyTorch bits/char | runtime f32 | runtime q8_0 | RAM @4,096 "
          "| RAM @65,536 | tok/s (f32) | q8_0 file |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in lms:
        c = r["config"]
        print(f"| {r['family']} | {c['pattern']} {c['param']} {c['form']} | {r['steps']} | {r['tokens']:,} "
              f"| {r['torch_bpc']:.4f} | {r['bpc_f32']:.4f} | {r['bpc_q8_0']:.4f} | {fmt_bytes(r['ram_4096'])} "
              f"| {fmt_bytes(r['ram_65536'])} | {r['tok_s_f32']:,.0f} | {fmt_bytes(r['bytes_q8_0'])} |")


if __name__ == "__main__":
    main()
