"""The glmix language model (docs/model-spec.md, section 1).

    h = tok_embeddings[token]
    for each layer l:
        h += mixer(rmsnorm(h) * mixer_norm.weight)
        h += mlp(rmsnorm(h) * mlp_norm.weight)
    logits = output(rmsnorm(h) * norm.weight)        # output = tok_embeddings when tied

Parameter names are the spec's state_dict keys, with one exception: the chained form trains
``layers.{l}.mixer.gamma_logit`` and the exporter writes ``layers.{l}.mixer.gamma = sigmoid(gamma_logit)``.

A layer with ``level_aware`` (recurrent or chained, every pattern but dense; mixers.py) adds
``layers.{l}.mixer.level_bias`` [H, L] (L = ``n_level_weights``; init 0) and, recurrent only, the gate
``layers.{l}.mixer.wa.weight`` [H, dim] and ``layers.{l}.mixer.wa.bias`` [H] (init 0: a_t near 1/2);
config.json writes ``"level_aware": true`` on such layers only (absent means false).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .mixers import (DEFINED_RULE, FORMS, LEVEL_AWARE_RULE, StepCache, apply_rope, is_defined, is_loglinear, mix_parallel, mix_step,
                     n_level_weights)
from .patterns import KINDS, Pattern


@dataclass
class LayerSpec:
    pattern: str = "pow2_lattice"
    param: int = 0
    form: str = "recurrent"
    n_heads: int = 4
    n_kv_heads: int = 4
    head_dim: int = 32
    level_aware: bool = False


@dataclass
class ModelArgs:
    vocab_size: int = 256
    dim: int = 128
    hidden_dim: int = 256
    n_layers: int = 4
    max_context: int = 256
    tied_embeddings: bool = True
    norm_eps: float = 1e-5
    positional: str = "rope_interleaved"
    rope_theta: float = 10000.0
    mlp: str = "swiglu"
    layers: list = field(default_factory=list)  # list[LayerSpec]; empty -> n_layers copies of LayerSpec()

    def __post_init__(self):
        self.layers = [ls if isinstance(ls, LayerSpec) else LayerSpec(**ls) for ls in self.layers]
        if not self.layers:
            self.layers = [LayerSpec() for _ in range(self.n_layers)]
        if len(self.layers) != self.n_layers:
            raise ValueError("layers must have n_layers entries")
        for ls in self.layers:
            if ls.pattern not in KINDS or ls.form not in FORMS:
                raise ValueError(f"bad layer {ls}")
            if ls.n_heads % ls.n_kv_heads:
                raise ValueError("n_kv_heads must divide n_heads")
            if ls.form != "attention" and ls.n_kv_heads != ls.n_heads:
                raise ValueError("grouped queries need the attention form")
            if not is_defined(ls.form, ls.pattern, ls.param, ls.level_aware):
                raise ValueError(LEVEL_AWARE_RULE if ls.level_aware else DEFINED_RULE)
        if self.positional not in ("none", "rope_interleaved", "rope_half"):
            raise ValueError(f"bad positional {self.positional!r}")
        if self.mlp not in ("swiglu", "gelu"):
            raise ValueError(f"bad mlp {self.mlp!r}")

    # ---- config.json (docs/model-spec.md section 3) ----------------------------------------------------------
    def to_config(self) -> dict:
        return {
            "glmix_config": 1,
            "vocab_size": self.vocab_size,
            "dim": self.dim,
            "hidden_dim": self.hidden_dim,
            "n_layers": self.n_layers,
            "max_context": self.max_context,
            "tied_embeddings": self.tied_embeddings,
            "norm": {"kind": "rmsnorm", "eps": self.norm_eps},
            "positional": {"kind": self.positional, "theta": self.rope_theta},
            "mlp": self.mlp,
            # token ids below 256 are bytes; a smaller vocabulary (the synthetic tasks) has no tokenizer
            "tokenizer": {"kind": "bytes" if self.vocab_size >= 256 else "none"},
            "layers": [_layer_json(ls) for ls in self.layers],
        }

    @classmethod
    def from_config(cls, c: dict) -> "ModelArgs":
        if c.get("glmix_config") != 1:
            raise ValueError("not a glmix_config 1 file")
        if c["norm"]["kind"] != "rmsnorm":
            raise ValueError("only rmsnorm")
        if c["tokenizer"]["kind"] not in ("bytes", "none"):
            raise ValueError("the PyTorch reference supports the bytes tokenizer (or none) only")
        return cls(
            vocab_size=c["vocab_size"], dim=c["dim"], hidden_dim=c["hidden_dim"], n_layers=c["n_layers"],
            max_context=c["max_context"], tied_embeddings=c["tied_embeddings"], norm_eps=c["norm"]["eps"],
            positional=c["positional"]["kind"], rope_theta=c["positional"].get("theta", 10000.0), mlp=c["mlp"],
            layers=[LayerSpec(**{k: ls[k] for k in ("pattern", "param", "form", "n_heads", "n_kv_heads",
                                                       "head_dim")}, level_aware=bool(ls.get("level_aware", False)))
                    for ls in c["layers"]],
        )

    def to_json(self) -> str:
        return json.dumps(self.to_config(), indent=2)


def _layer_json(ls: LayerSpec) -> dict:
    """A layer's config.json entry: ``level_aware`` only when true (older readers see today's files)."""
    d = asdict(ls)
    if not d.pop("level_aware"):
        return d
    return {**d, "level_aware": True}


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.to(y.dtype)).to(x.dtype)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, kind: str):
        super().__init__()
        self.kind = kind
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        if kind == "swiglu":
            self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        if self.kind == "swiglu":
            return self.w2(F.silu(self.w1(x)) * self.w3(x))
        return self.w2(F.gelu(self.w1(x), approximate="tanh"))


class Mixer(nn.Module):
    """Projections + RoPE + the (pattern, form) core + output projection."""

    def __init__(self, args: ModelArgs, ls: LayerSpec):
        super().__init__()
        self.ls = ls
        self.pattern = Pattern(ls.pattern, ls.param)
        self.form = ls.form
        self.positional, self.theta = args.positional, args.rope_theta
        H, Hkv, d = ls.n_heads, ls.n_kv_heads, ls.head_dim
        self.wq = nn.Linear(args.dim, H * d, bias=False)
        self.wk = nn.Linear(args.dim, Hkv * d, bias=False)
        self.wv = nn.Linear(args.dim, Hkv * d, bias=False)
        self.wo = nn.Linear(H * d, args.dim, bias=False)
        if self.form == "chained":
            self.gamma_logit = nn.Parameter(torch.zeros(H))  # gamma = sigmoid(gamma_logit), 0.5 at init
        if self.form == "state_space":
            self.wd = nn.Linear(args.dim, H * d, bias=False)  # d_t = sigmoid(wd x_t)
        self.n_levels = 0
        if self.form == "state_space" and is_loglinear(self.pattern):
            # log-linear: lambda_t[h, l] = sigmoid(wl x_t)[h * n_levels + l]
            self.n_levels = n_level_weights(self.pattern, args.max_context)
            self.wl = nn.Linear(args.dim, H * self.n_levels, bias=False)
        self.level_aware = ls.level_aware
        if ls.level_aware:
            # level-aware coefficients: a bias per (head, level) on the read scores; recurrent: the gate
            # a_t = sigmoid(wa x_t + ba) for the diagonal (mixers.py)
            self.level_bias = nn.Parameter(torch.zeros(H, n_level_weights(self.pattern, args.max_context)))
            if self.form == "recurrent":
                self.wa = nn.Linear(args.dim, H, bias=True)

    def gamma(self):
        return torch.sigmoid(self.gamma_logit) if self.form == "chained" else None

    def _level(self, x):
        """(level_bias [H, L], gate [B, H, n]) of x [B, n, dim], or Nones without level-aware coefficients."""
        if not self.level_aware:
            return None, None
        gate = torch.sigmoid(self.wa(x)).transpose(1, 2) if self.form == "recurrent" else None
        return self.level_bias, gate

    def _qkvd(self, x, pos):
        """x [B, n, dim] -> q [B, H, n, d], k, v [B, Hkv, n, d], decay [B, H, n, d] or None,
        level weights [B, H, n, L] or None."""
        B, n, _ = x.shape
        H, Hkv, d = self.ls.n_heads, self.ls.n_kv_heads, self.ls.head_dim
        q = self.wq(x).view(B, n, H, d).transpose(1, 2)
        k = self.wk(x).view(B, n, Hkv, d).transpose(1, 2)
        v = self.wv(x).view(B, n, Hkv, d).transpose(1, 2)
        dec = lam = None
        if self.form == "state_space":
            dec = torch.sigmoid(self.wd(x).view(B, n, H, d).transpose(1, 2))
            if self.n_levels:
                lam = torch.sigmoid(self.wl(x).view(B, n, H, self.n_levels).transpose(1, 2))
        else:
            q = apply_rope(q, pos, self.positional, self.theta)
            k = apply_rope(k, pos, self.positional, self.theta)
        return q, k, v, dec, lam

    def forward(self, x, naive: bool = False):
        B, n, _ = x.shape
        q, k, v, dec, lam = self._qkvd(x, torch.arange(n, device=x.device))
        # the core runs in float32 at least (softmax, triangular solve), even under bf16 autocast
        ct = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):
            g = self.gamma()
            lb, gate = self._level(x.to(ct))
            fn = mix_step if naive else mix_parallel
            o = fn(self.form, self.pattern, q.to(ct), k.to(ct), v.to(ct),
                   None if g is None else g.to(ct), None if dec is None else dec.to(ct),
                   None if lam is None else lam.to(ct), None if lb is None else lb.to(ct), gate)
        o = o.to(x.dtype).transpose(1, 2).reshape(B, n, -1)
        return self.wo(o)

    def new_cache(self, batch: int, max_len: int, dtype, device) -> StepCache:
        return StepCache(self.form, self.pattern, batch, self.ls.n_heads, self.ls.n_kv_heads, self.ls.head_dim,
                         max_len, dtype, device)

    def step(self, x_t, cache: StepCache):
        """x_t [B, dim] at position cache.t -> [B, dim]."""
        q, k, v, dec, lam = self._qkvd(x_t.unsqueeze(1), torch.tensor([cache.t], device=x_t.device))
        lb, gate = self._level(x_t.unsqueeze(1))
        o = cache.step(q[:, :, 0], k[:, :, 0], v[:, :, 0], self.gamma(), None if dec is None else dec[:, :, 0],
                       None if lam is None else lam[:, :, 0], lb, None if gate is None else gate[:, :, 0])
        return self.wo(o.reshape(o.shape[0], -1))


class Block(nn.Module):
    def __init__(self, args: ModelArgs, ls: LayerSpec, dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)  # training only; not part of the exported model
        self.mixer_norm = RMSNorm(args.dim, args.norm_eps)
        self.mixer = Mixer(args, ls)
        self.mlp_norm = RMSNorm(args.dim, args.norm_eps)
        self.mlp = MLP(args.dim, args.hidden_dim, args.mlp)

    def forward(self, h, naive=False):
        h = h + self.drop(self.mixer(self.mixer_norm(h), naive=naive))
        return h + self.drop(self.mlp(self.mlp_norm(h)))

    def step(self, h, cache):
        h = h + self.mixer.step(self.mixer_norm(h), cache)
        return h + self.mlp(self.mlp_norm(h))


class Transformer(nn.Module):
    def __init__(self, args: ModelArgs, dropout: float = 0.0):
        super().__init__()
        self.args = args
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.drop = nn.Dropout(dropout)  # training only (embedding and residual branches)
        self.layers = nn.ModuleList([Block(args, ls, dropout) for ls in args.layers])
        self.norm = RMSNorm(args.dim, args.norm_eps)
        if not args.tied_embeddings:
            self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        self.reset_parameters()

    def reset_parameters(self):
        std = 0.02
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name.endswith("gamma_logit") or name.endswith("level_bias") or name.endswith("wa.bias"):
                nn.init.zeros_(p)
            elif name.endswith("wo.weight") or name.endswith("w2.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.args.n_layers))
            else:
                nn.init.normal_(p, 0.0, std)

    def head(self, h):
        h = self.norm(h)
        w = self.tok_embeddings.weight if self.args.tied_embeddings else self.output.weight
        return F.linear(h, w)

    def forward(self, tokens, naive: bool = False):
        """tokens [B, n] -> logits [B, n, vocab]. naive=True runs every mixer's step loop (slow; tests)."""
        h = self.drop(self.tok_embeddings(tokens))
        for layer in self.layers:
            h = layer(h, naive=naive)
        return self.head(h)

    def new_caches(self, batch: int, max_len: int, dtype=None, device=None):
        p = self.tok_embeddings.weight
        return [l.mixer.new_cache(batch, max_len, dtype or p.dtype, device or p.device) for l in self.layers]

    def step(self, token, caches):
        """token [B] -> logits [B, vocab] at the next position; caches from new_caches."""
        h = self.tok_embeddings(token)
        for layer, c in zip(self.layers, caches):
            h = layer.step(h, c)
        return self.head(h)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- export / import of the spec's tensors ----------------------------------------------------------------
    def export_state_dict(self, dtype=torch.float32) -> dict:
        """The spec's tensors: gamma_logit -> gamma = sigmoid(gamma_logit); no output.weight when tied."""
        out = {}
        for k, v in self.state_dict().items():
            if k.endswith("mixer.gamma_logit"):
                out[k[: -len("gamma_logit")] + "gamma"] = torch.sigmoid(v.double()).to(dtype).contiguous()
            else:
                out[k] = v.detach().to(dtype).contiguous()
        return out

    def load_export_state_dict(self, sd: dict):
        conv = {}
        for k, v in sd.items():
            if k.endswith("mixer.gamma"):
                g = v.double()
                conv[k + "_logit"] = torch.log(g) - torch.log1p(-g)
            else:
                conv[k] = v
        self.load_state_dict(conv, strict=True)


def load_exported(path: str, dtype=torch.float32) -> Transformer:
    """Load a directory holding model.safetensors + config.json."""
    import os

    from safetensors.torch import load_file

    with open(os.path.join(path, "config.json")) as f:
        args = ModelArgs.from_config(json.load(f))
    model = Transformer(args)
    sd = load_file(os.path.join(path, "model.safetensors"))
    model.to(dtype)
    model.load_export_state_dict({k: v.to(dtype) for k, v in sd.items()})
    return model
