"""Sample from / evaluate an exported model (model.safetensors + config.json), in PyTorch, with the step form.

    python -m glmix_models.sample --model shakespeare-pow2 --chars 500 --temperature 0.8 --seed 0
    python -m glmix_models.sample --model shakespeare-pow2 --eval ../shared/data/tinyshakespeare/input.txt
"""

from __future__ import annotations

import argparse
import math

import torch

from .model import load_exported
from .train import ShakespeareData, evaluate, sample_text
from dataclasses import replace


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="directory with model.safetensors + config.json")
    ap.add_argument("--chars", type=int, default=500)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval", default=None, help="tinyshakespeare input.txt: report held-out loss (last 10 %%)")
    a = ap.parse_args(argv)
    m = load_exported(a.model)
    if a.eval:
        from .train import CONFIGS

        cfg = replace(CONFIGS["shakespeare-pow2"], context=m.args.max_context, batch_size=32)
        data = ShakespeareData(a.eval, cfg.context, torch.device("cpu"), 0)
        r = evaluate(m, data, cfg, lambda: torch.autocast("cpu", enabled=False))
        print(f"held-out loss {r['val_loss']:.4f} nats/char = {r['val_bpc']:.4f} bits/char")
    if a.chars:
        print(sample_text(m, a.chars, a.temperature, a.seed))


if __name__ == "__main__":
    main()
