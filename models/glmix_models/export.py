"""Export: checkpoint -> model.safetensors + config.json (docs/model-spec.md section 3).

    python -m glmix_models.export --ckpt runs/shakespeare-pow2/best.pt --out shakespeare-pow2 [--dtype f32]

Tensor names are the spec's state_dict keys; the chained form's trained ``gamma_logit`` is written as
``layers.{l}.mixer.gamma = sigmoid(gamma_logit)``; ``output.weight`` only when not tied.
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from .model import ModelArgs, Transformer

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def export_model(model: Transformer, out_dir: str, dtype=torch.float32) -> None:
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    save_file(model.export_state_dict(dtype), os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(model.args.to_json() + "\n")


def load_checkpoint(path: str, map_location="cpu") -> Transformer:
    ck = torch.load(path, map_location=map_location, weights_only=False)
    model = Transformer(ModelArgs.from_config(ck["model_args"]))
    model.load_state_dict(ck["model"])
    return model


def export_checkpoint(ckpt: str, out_dir: str, dtype=torch.float32) -> None:
    export_model(load_checkpoint(ckpt), out_dir, dtype)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    a = ap.parse_args(argv)
    export_checkpoint(a.ckpt, a.out, DTYPES[a.dtype])
    print(f"wrote {a.out}/model.safetensors and {a.out}/config.json")


if __name__ == "__main__":
    main()
