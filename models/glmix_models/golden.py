"""Golden files for the converter and the runtime: tiny random models + their logits.

    python -m glmix_models.golden [--out models/golden]

For every (pattern, form) in {dense, window 4, order 1, order 3, pow2, pow2_lattice, sq1, sq1_lattice} x
{attention, recurrent, chained}, plus (order 1, state_space), (pow2_lattice, state_space) and the level-aware
``*_la`` models (``LEVEL_AWARE``: pow2_lattice and sq1_lattice recurrent, pow2_lattice chained): a random model (vocab 256, dim 32, 2 layers,
2 heads of 16, hidden 64, tied, rope_interleaved, swiglu; a few vary: see VARIANTS) written as
``<out>/<name>/model.safetensors`` (F32) + ``config.json`` + ``logits.json`` =
``{"tokens": [40 tokens], "logits": [[256 floats] x 40]}``. The logits are computed in float64 from the F32
weights as stored (the parallel form), then written with 7 significant digits (about float32 precision; compare with a tolerance of 1e-5 or looser).

Evaluation fixtures (``--eval-only`` writes only these; ``tests/test_evaluate.py`` checks that Python still
produces them, ``host-tools/tests/tasks.rs`` / ``eval.rs`` that the runtime does):

- ``tasks.json``: the first samples (tokens and masks) of each synthetic task for a few seeds and parameter sets
  (``TASK_CASES``), which the Rust twin of tasks.py (host-tools/src/tasks.rs) must reproduce exactly.
- ``task_eval.json``: for a few golden models and small task settings (``AGREEMENT_*``), evaluate.py's
  predictions at every answer position (float64 parallel form from the stored F32 weights) with the top-1 minus
  top-2 logit margin, so the runtime's `glmix eval --task` can be checked prediction by prediction.
- ``heldout_bpc.json`` (only when the tinyshakespeare file is found, ``--data_path``): evaluate.py's held-out
  bits/char of ``shakespeare-pow2`` (F32 safetensors, float32) on the first ``HELDOUT_PREFIX`` bytes of the
  held-out split, the reference the runtime's `glmix eval --text` is tested against.
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from .export import export_model
from .model import LayerSpec, ModelArgs, Transformer, load_exported
from .tasks import TASKS, SplitMix64

DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "tinyshakespeare",
                            "input.txt")

PATTERNS = [("dense", 0), ("window", 4), ("order", 1), ("order", 3), ("pow2", 0), ("pow2_lattice", 0),
            ("sq1", 0), ("sq1_lattice", 0)]
FORMS = ["attention", "recurrent", "chained"]
# name -> overrides of the base config
VARIANTS = {
    "dense_attention": {"mlp": "gelu"},
    "pow2_lattice_recurrent": {"positional": "rope_half"},
    "sq1_lattice_chained": {"tied_embeddings": False},
    "window4_attention": {"n_kv_heads": 1},  # grouped queries: 2 query heads share 1 kv head
}
# 40 fixed tokens: the bytes of this text
TOKENS = list(b"ROMEO:\nBut soft, what light through yond")
assert len(TOKENS) == 40


# level-aware models (name suffix _la), after the others so that their seeds stay as they were
LEVEL_AWARE = [("pow2_lattice", 0, "recurrent"), ("sq1_lattice", 0, "recurrent"), ("pow2_lattice", 0, "chained")]


def golden_cases():
    cases = [(f"{k}{p if p else ''}_{form}", k, p, form) for k, p in PATTERNS for form in FORMS]
    cases.append(("order1_state_space", "order", 1, "state_space"))
    cases.append(("pow2_lattice_state_space", "pow2_lattice", 0, "state_space"))
    cases += [(f"{k}{p if p else ''}_{form}_la", k, p, form) for k, p, form in LEVEL_AWARE]
    return cases


def make_model(name, kind, param, form, seed):
    v = VARIANTS.get(name, {})
    ls = LayerSpec(kind, param, form, 2, v.get("n_kv_heads", 2), 16, name.endswith("_la"))
    args = ModelArgs(vocab_size=256, dim=32, hidden_dim=64, n_layers=2, max_context=64,
                     tied_embeddings=v.get("tied_embeddings", True), positional=v.get("positional",
                     "none" if form == "state_space" else "rope_interleaved"), mlp=v.get("mlp", "swiglu"),
                     layers=[ls, ls])
    torch.manual_seed(seed)
    m = Transformer(args)
    with torch.no_grad():  # larger than the training init so that the mixers matter in the logits
        for n, p in m.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif n.endswith("gamma_logit"):
                p.copy_(torch.randn_like(p))
            elif n.endswith("level_bias"):  # a few units, so that levels matter
                p.copy_(2.0 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / p.shape[-1] ** 0.5)
    return m


# (task, parameters, seeds, samples per seed): defaults and non-default parameters, seeds 0, 1 and 2^64 - 1.
# The first six cases predate `copy` with a gap and the Zoology recall defaults: their samples are unchanged,
# only the old copy is now named copy-fixed and the old recall defaults are spelled out.
OLD_RECALL_DEFAULTS = {"n_pairs": 32, "n_queries": 16, "n_keys": 64, "n_values": 64}
TASK_CASES = [
    ("copy-fixed", {}, [0, 1], 3),
    ("copy-fixed", {"n": 5, "vocab": 3}, [2, 18446744073709551615], 4),
    ("recall", OLD_RECALL_DEFAULTS, [0, 1], 3),
    ("recall", {"n_pairs": 6, "n_queries": 4, "n_keys": 7, "n_values": 5}, [3, 18446744073709551615], 4),
    ("multihop", {}, [0, 1], 3),
    ("multihop", {"n_symbols": 12, "n_chains": 3, "hops": 3}, [4, 18446744073709551615], 4),
    ("copy", {}, [0, 1], 3),
    ("copy", {"n": 5, "vocab": 3, "max_gap": 4}, [2, 18446744073709551615], 6),
    ("copy", {"n": 3, "vocab": 2, "max_gap": 0}, [5], 2),
    ("recall", {}, [0, 1], 2),
    ("multihop-hidden", {}, [0, 1], 3),
    ("multihop-hidden", {"n_vars": 9, "n_values": 3, "n_chains": 3, "min_depth": 1, "max_depth": 3},
     [6, 18446744073709551615], 6),
    ("multihop-hidden", {"n_vars": 2, "n_values": 1, "n_chains": 1, "min_depth": 2, "max_depth": 2}, [7], 2),
]


def task_fixture() -> dict:
    """{"cases": [{"task", "params", "seed", "samples": [{"tokens", "mask"}]}]}: consecutive samples of one
    SplitMix64(seed) stream, exactly as TaskStream draws them."""
    cases = []
    for name, params, seeds, n in TASK_CASES:
        task = TASKS[name](**params)
        for seed in seeds:
            rng = SplitMix64(seed)
            samples = []
            for _ in range(n):
                toks, mask = task.sample(rng)
                samples.append({"tokens": toks, "mask": [int(m) for m in mask]})
            cases.append({"task": name, "params": params, "seed": seed, "samples": samples})
    return {"cases": cases}


def write_task_fixture(out: str) -> str:
    return write_json(os.path.join(out, "tasks.json"), task_fixture())


AGREEMENT_MODELS = ["pow2_lattice_recurrent", "dense_attention", "sq1_lattice_chained", "window4_attention",
                    "order1_state_space"]
AGREEMENT_TASKS = [("copy-fixed", {"n": 16, "vocab": 32}),
                   ("recall", {"n_pairs": 8, "n_queries": 4, "n_keys": 16, "n_values": 16}),
                   ("multihop", {"n_symbols": 32, "n_chains": 3, "hops": 3}),
                   ("copy", {"n": 16, "vocab": 32, "max_gap": 8}),
                   ("multihop-hidden", {"n_vars": 32, "n_values": 16, "n_chains": 3, "min_depth": 2,
                                        "max_depth": 4})]
AGREEMENT_SAMPLES, AGREEMENT_SEED = 16, 5
HELDOUT_PREFIX = 4097  # 16 windows of 256 + 1


def agreement_fixture(golden_dir: str) -> dict:
    from .evaluate import task_predictions

    cases = []
    # model by model over the first three tasks, then again over the two added later, so that the cases written
    # before those were added stay the file's first entries
    for tasks in (AGREEMENT_TASKS[:3], AGREEMENT_TASKS[3:]):
        for name in AGREEMENT_MODELS:
            m = load_exported(os.path.join(golden_dir, name), torch.float64).eval()
            for task_name, params in tasks:
                p, t, margin = task_predictions(m, TASKS[task_name](**params), AGREEMENT_SAMPLES, AGREEMENT_SEED)
                cases.append({"model": name, "task": task_name, "params": params, "samples": AGREEMENT_SAMPLES,
                              "seed": AGREEMENT_SEED, "correct": int((p == t).sum()),
                              "predictions": p.tolist(), "margins": [float(f"{x:.4g}") for x in margin.tolist()]})
    return {"cases": cases}


def heldout_fixture(data_path: str, model_dir: str) -> dict:
    from .evaluate import split_bytes, text_loss

    with open(data_path, "rb") as f:
        data = split_bytes(f.read(), "heldout", HELDOUT_PREFIX)
    r = text_loss(load_exported(model_dir, torch.float32), data)
    return {"model": "shakespeare-pow2", "weights": "model.safetensors (F32), float32", "split": "heldout",
            "max_chars": HELDOUT_PREFIX, **r}


def write_json(path: str, obj) -> str:
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    return path


def write_eval_fixtures(out: str, data_path: str) -> None:
    print(f"wrote {write_task_fixture(out)}")
    print(f"wrote {write_json(os.path.join(out, 'task_eval.json'), agreement_fixture(out))}")
    if os.path.exists(data_path):
        model_dir = os.path.join(os.path.dirname(__file__), "..", "shakespeare-pow2")
        print(f"wrote {write_json(os.path.join(out, 'heldout_bpc.json'), heldout_fixture(data_path, model_dir))}")
    else:
        print(f"{data_path} not found: heldout_bpc.json not written")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "golden"))
    ap.add_argument("--eval-only", action="store_true", help="write only the evaluation fixtures (see above)")
    ap.add_argument("--data_path", default=DEFAULT_DATA, help="tinyshakespeare input.txt (for heldout_bpc.json)")
    ap.add_argument("--only", nargs="*", help="write only these cases (names as in golden_cases)")
    a = ap.parse_args(argv)
    if a.eval_only:
        write_eval_fixtures(a.out, a.data_path)
        return
    for i, (name, kind, param, form) in enumerate(golden_cases()):
        if a.only and name not in a.only:
            continue
        d = os.path.join(a.out, name)
        export_model(make_model(name, kind, param, form, seed=1000 + i), d, torch.float32)
        m = load_exported(d, torch.float64)  # exactly the stored F32 weights, in float64
        with torch.no_grad():
            logits = m(torch.tensor([TOKENS]))[0]
        with open(os.path.join(d, "logits.json"), "w") as f:
            json.dump({"tokens": TOKENS, "logits": [[float(f"{x:.7g}") for x in row] for row in logits.tolist()]},
                      f, separators=(",", ":"))
        print(f"{name}: max |logit| {logits.abs().max():.3f}")
    write_eval_fixtures(a.out, a.data_path)


if __name__ == "__main__":
    main()
