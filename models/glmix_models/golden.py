"""Golden files for the converter and the runtime: tiny random models + their logits.

    python -m glmix_models.golden [--out models/golden]

For every (pattern, form) in {dense, window 4, order 1, order 3, pow2, pow2_lattice, sq1, sq1_lattice} x
{attention, recurrent, chained}, plus (order 1, state_space) and (pow2_lattice, state_space): a random model (vocab 256, dim 32, 2 layers,
2 heads of 16, hidden 64, tied, rope_interleaved, swiglu; a few vary: see VARIANTS) written as
``<out>/<name>/model.safetensors`` (F32) + ``config.json`` + ``logits.json`` =
``{"tokens": [40 tokens], "logits": [[256 floats] x 40]}``. The logits are computed in float64 from the F32
weights as stored (the parallel form), then written with 7 significant digits (about float32 precision; compare with a tolerance of 1e-5 or looser).
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from .export import export_model
from .model import LayerSpec, ModelArgs, Transformer, load_exported

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


def golden_cases():
    cases = [(f"{k}{p if p else ''}_{form}", k, p, form) for k, p in PATTERNS for form in FORMS]
    cases.append(("order1_state_space", "order", 1, "state_space"))
    cases.append(("pow2_lattice_state_space", "pow2_lattice", 0, "state_space"))
    return cases


def make_model(name, kind, param, form, seed):
    v = VARIANTS.get(name, {})
    ls = LayerSpec(kind, param, form, 2, v.get("n_kv_heads", 2), 16)
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
            else:
                p.copy_(torch.randn_like(p) / p.shape[-1] ** 0.5)
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "golden"))
    ap.add_argument("--only", nargs="*", help="write only these cases (names as in golden_cases)")
    a = ap.parse_args(argv)
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


if __name__ == "__main__":
    main()
