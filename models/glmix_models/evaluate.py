"""Task accuracy and text bits/char in PyTorch (parallel form), on exactly what `glmix eval` scores.

    python -m glmix_models.evaluate --task copy --checkpoint runs/copy/best.pt --samples 500 --seed 987654321 --json
    python -m glmix_models.evaluate --task multihop-hidden --model DIR --max_depth 6     # tasks: tasks.TASKS
    python -m glmix_models.evaluate --task recall --model DIR --n_pairs 8 --n_queries 4     # exported model dir
    python -m glmix_models.evaluate --text input.txt --model shakespeare-pow2 --split heldout --max_chars 4096

Tasks: samples 0..N-1 of one SplitMix64(seed) stream (tasks.py, as TaskStream draws them); the model reads
tokens[:-1] in one parallel forward pass and prediction argmax(logits) (torch.argmax: ties go to the lowest
token id) is counted at the positions where mask[1:] is set. Task parameters default to tasks.py's defaults
(not to the checkpoint's training task_args), as `glmix eval` does; the JSON echoes them.

Text: train.py's held-out method (ShakespeareData.eval_batches): the split's bytes (optionally only the first
max_chars), non-overlapping windows of context + 1 bytes every context bytes, every position scored; bits =
nats / ln 2. The split is train.py's: held-out = bytes from int(0.9 * len) on.

--checkpoint reads a train.py checkpoint (best.pt / ckpt.pt: "model" state dict + "model_args" config);
--model reads an exported directory (model.safetensors + config.json). Evaluation runs on the CPU in float32
unless --dtype float64.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch
import torch.nn.functional as F

from .model import ModelArgs, Transformer, load_exported
from .tasks import TASKS, SplitMix64

HELDOUT_SEED = 987654321  # train.py's TaskData.eval_seed


def load_checkpoint(path: str, dtype=torch.float32) -> Transformer:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = Transformer(ModelArgs.from_config(ck["model_args"]))
    model.load_state_dict(ck["model"])
    return model.to(dtype).eval()


def task_samples(task, n: int, seed: int):
    """The first n samples of SplitMix64(seed): (tokens [n, len], mask [n, len])."""
    rng = SplitMix64(seed)
    toks, masks = zip(*[task.sample(rng) for _ in range(n)])
    return torch.tensor(toks, dtype=torch.int64), torch.tensor(masks, dtype=torch.bool)


@torch.no_grad()
def task_predictions(model, task, n: int, seed: int, batch: int = 64):
    """Per answer (sample by sample, position by position): (prediction, target, top1 - top2 logit margin)."""
    model.eval()
    if task.vocab_size > model.args.vocab_size:
        raise ValueError(f"the task uses {task.vocab_size} token ids but the model's vocabulary has "
                         f"{model.args.vocab_size}")
    if task.length - 1 > model.args.max_context:
        raise ValueError(f"the task feeds {task.length - 1} tokens but the model's context is "
                         f"{model.args.max_context}")
    toks, masks = task_samples(task, n, seed)
    preds, targets, margins = [], [], []
    for i in range(0, n, batch):
        t, m = toks[i:i + batch], masks[i:i + batch, 1:]
        logits = model(t[:, :-1]).double()
        top2 = logits.topk(2, dim=-1).values
        preds.append(logits.argmax(-1)[m])
        targets.append(t[:, 1:][m])
        margins.append((top2[..., 0] - top2[..., 1])[m])
    return torch.cat(preds), torch.cat(targets), torch.cat(margins)


def task_accuracy(model, task, n: int, seed: int) -> dict:
    p, t, _ = task_predictions(model, task, n, seed)
    correct = int((p == t).sum())
    return {"answers": len(t), "correct": correct, "accuracy": correct / max(1, len(t))}


def split_bytes(raw: bytes, split: str, max_chars: int | None = None) -> bytes:
    cut = int(0.9 * len(raw))
    part = {"heldout": raw[cut:], "train": raw[:cut], "all": raw}[split]
    return part[:max_chars] if max_chars else part


@torch.no_grad()
def text_loss(model, data: bytes, context: int | None = None, batch: int = 32) -> dict:
    """Byte-level models: ShakespeareData.eval_batches' windows over `data`, every position scored."""
    model.eval()
    ctx = context or model.args.max_context
    val = torch.tensor(list(data), dtype=torch.int64)
    n = (len(val) - 1) // ctx
    if n == 0:
        raise ValueError(f"the text is {len(val)} bytes; scoring needs at least context + 1 = {ctx + 1}")
    starts = torch.arange(n) * ctx
    off = torch.arange(ctx + 1)
    nats = 0.0
    for i in range(0, n, batch):
        w = val[starts[i:i + batch].unsqueeze(1) + off]
        logits = model(w[:, :-1]).double()
        nats += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1), reduction="sum").item()
    scored = n * ctx
    return {"chars": len(data), "context": ctx, "windows": n, "scored": scored, "nats_per_token": nats / scored,
            "bits_per_char": nats / scored / math.log(2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--task", choices=sorted(TASKS))
    what.add_argument("--text", help="text file (byte-level models)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="train.py checkpoint (best.pt)")
    src.add_argument("--model", help="exported directory (model.safetensors + config.json)")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=HELDOUT_SEED)
    fields = sorted({f for cls in TASKS.values() for f in cls.__dataclass_fields__})
    for name in fields:
        ap.add_argument("--" + name, type=int, default=None, help="task parameter (tasks.py field)")
    ap.add_argument("--split", choices=["heldout", "train", "all"], default="heldout")
    ap.add_argument("--max_chars", "--max-chars", type=int, default=None)
    ap.add_argument("--context", type=int, default=None, help="--text window (default: the model's context)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    dtype = getattr(torch, a.dtype)
    model = load_checkpoint(a.checkpoint, dtype) if a.checkpoint else load_exported(a.model, dtype).eval()
    if a.task:
        cls = TASKS[a.task]
        params = {f: getattr(a, f) for f in cls.__dataclass_fields__ if getattr(a, f) is not None}
        other = [f for f in fields if getattr(a, f) is not None and f not in params]
        if other:
            sys.exit(f"error: --{other[0]} is not a parameter of the {a.task} task")
        task = cls(**params)
        try:
            r = task_accuracy(model, task, a.samples, a.seed)
        except ValueError as e:
            sys.exit(f"error: {e}")
        r = {"task": a.task, "params": {f: getattr(task, f) for f in cls.__dataclass_fields__},
             "samples": a.samples, "seed": a.seed, **r}
        text = (f"{a.task} {r['params']}: accuracy {100 * r['accuracy']:.2f} % ({r['correct']} / {r['answers']} "
                f"answers, {a.samples} samples, seed {a.seed})")
    else:
        with open(a.text, "rb") as f:
            data = split_bytes(f.read(), a.split, a.max_chars)
        r = {"text": a.text, "split": a.split, **text_loss(model, data, a.context)}
        text = (f"{a.text} ({a.split} split, {r['chars']} bytes): {r['bits_per_char']:.4f} bits per character "
                f"({r['windows']} windows of {r['context']})")
    print(json.dumps(r) if a.json else text)


if __name__ == "__main__":
    main()
