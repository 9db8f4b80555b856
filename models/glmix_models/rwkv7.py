"""RWKV-7 ("x070") in PyTorch: the generalized delta rule in step form (the definition) and in chunked
form (a triangular solve per chunk), and a small RWKV-7 language model over either, with the weights of
rwkv.cpp's files (``load_ggmf``). The runtime's decode form is ``runtime/src/rwkv7.rs``.

The time-mix state per head is a matrix ``S [N, N]`` (row = value index ``i``, column = key index ``j``):

    S_t = S_{t-1} (diag(w_t) + alpha_t beta_t^T) + v_t k_t^T,    y_t = S_t r_t
    alpha_t = -kk_t,  beta_t = kk_t * a_t                          (kk unit-norm per head, a in (0, 1))

Shapes: r, w, k, v, kk, a ``[B, H, T, N]``; state ``[B, H, N, N]``; both forms return ``(y [B, H, T, N],
final state)`` (mamba / fla's signature ``(x, initial_state) -> (y, final_state)``).

Chunked form. With ``u_t = S_{t-1} alpha_t`` the recurrence is diagonal-decay with two rank-1 inputs,
``S_t = S_{t-1} diag(w_t) + u_t beta_t^T + v_t k_t^T``. Inside a chunk starting from ``S_0``, with
``g_t = sum_{i<=t} log w_i`` (inclusive) and ``e_t = g_t - log w_t`` (exclusive):

    u_t = S_0 (exp(e_t) alpha_t) + sum_{s<t} [u_s (beta_s . D_st alpha_t) + v_s (k_s . D_st alpha_t)],
          D_st = exp(e_t - g_s) (elementwise over j; exponent <= 0)
    => (I - M_ab) U = alpha~ S_0^T + M_ak V                              (unit lower-triangular solve)
    y_t = S_0 (exp(g_t) r_t) + sum_{s<=t} [u_s (beta_s . exp(g_t - g_s) r_t) + v_s (k_s . exp(g_t - g_s) r_t)]
    S_L = S_0 diag(exp(g_L)) + sum_s (u_s beta_s^T + v_s k_s^T) diag(exp(g_L - g_s))

Every decay factor is an exponent of a non-positive sum, so nothing is divided by a cumulative decay.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LN_EPS = 1e-5
GROUP_NORM_EPS = 64e-5
L2_EPS = 1e-12
DECAY_SCALE = -0.606531  # w = exp(DECAY_SCALE * sigmoid(.)), as rwkv.cpp writes it


def wkv7_step(r, w, k, v, kk, a, state=None):
    """The definition: one position at a time."""
    B, H, T, N = r.shape
    S = torch.zeros(B, H, N, N, dtype=r.dtype, device=r.device) if state is None else state.clone()
    ys = []
    for t in range(T):
        alpha, beta = -kk[:, :, t], kk[:, :, t] * a[:, :, t]                 # [B, H, N]
        sa = torch.einsum("bhij,bhj->bhi", S, alpha)                          # S alpha
        S = (S * w[:, :, t, None, :] + v[:, :, t, :, None] * k[:, :, t, None, :]
             + sa[..., None] * beta[:, :, None, :])
        ys.append(torch.einsum("bhij,bhj->bhi", S, r[:, :, t]))
    return torch.stack(ys, dim=2), S


def wkv7_chunked(r, w, k, v, kk, a, state=None, chunk: int = 16):
    """The chunked form (module docs): per chunk, pairwise decays in log space and one triangular solve."""
    B, H, T, N = r.shape
    S = torch.zeros(B, H, N, N, dtype=r.dtype, device=r.device) if state is None else state
    ys = []
    for c0 in range(0, T, chunk):
        sl = slice(c0, min(T, c0 + chunk))
        rc, kc, vc = r[:, :, sl], k[:, :, sl], v[:, :, sl]
        alpha, beta = -kk[:, :, sl], kk[:, :, sl] * a[:, :, sl]
        L = rc.shape[2]
        lw = torch.log(w[:, :, sl])
        g = torch.cumsum(lw, dim=2)                                           # inclusive  [B, H, L, N]
        e = g - lw                                                            # exclusive
        t_idx = torch.arange(L, device=r.device)
        strict = (t_idx[:, None] > t_idx[None, :])[..., None]                 # s < t   [L, L, 1]
        incl = (t_idx[:, None] >= t_idx[None, :])[..., None]                  # s <= t
        neg_inf = torch.tensor(float("-inf"), dtype=r.dtype, device=r.device)
        d_e = torch.exp(torch.where(strict, e[:, :, :, None] - g[:, :, None], neg_inf))  # [B, H, t, s, N]
        d_g = torch.exp(torch.where(incl, g[:, :, :, None] - g[:, :, None], neg_inf))
        m_ab = torch.einsum("bhtsn,bhtn,bhsn->bhts", d_e, alpha, beta)
        m_ak = torch.einsum("bhtsn,bhtn,bhsn->bhts", d_e, alpha, kc)
        m_rb = torch.einsum("bhtsn,bhtn,bhsn->bhts", d_g, rc, beta)
        m_rk = torch.einsum("bhtsn,bhtn,bhsn->bhts", d_g, rc, kc)
        alpha_s0 = torch.einsum("bhij,bhtj->bhti", S, torch.exp(e) * alpha)    # S_0 alpha~_t
        eye = torch.eye(L, dtype=r.dtype, device=r.device)
        u = torch.linalg.solve_triangular(eye - m_ab, alpha_s0 + m_ak @ vc, upper=False, unitriangular=True)
        y = torch.einsum("bhij,bhtj->bhti", S, torch.exp(g) * rc) + m_rb @ u + m_rk @ vc
        ys.append(y)
        tail = torch.exp(g[:, :, -1:] - g)                                    # [B, H, L, N]
        S = (S * torch.exp(g[:, :, -1])[:, :, None, :]
             + torch.einsum("bhti,bhtj->bhij", u, beta * tail) + torch.einsum("bhti,bhtj->bhij", vc, kc * tail))
    return torch.cat(ys, dim=2), S


@dataclass
class Rwkv7Config:
    vocab: int
    dim: int
    n_layers: int
    n_heads: int
    ffn_dim: int
    lora_w: int
    lora_a: int
    lora_v: int
    lora_g: int

    @property
    def head_size(self) -> int:
        return self.dim // self.n_heads

    def state_words(self) -> int:
        """f32 words of the recurrent state, constant in the context: per layer att_xx, ffn_xx, S."""
        return self.n_layers * (2 * self.dim + self.n_heads * self.head_size ** 2)


def tensor_shapes(cfg: Rwkv7Config) -> dict[str, tuple[int, ...]]:
    """rwkv.cpp's tensor names and their shapes here: matrices ``[out, in]`` (``y = W x``), vectors ``[C]``,
    ``att.x_rwkvag`` ``[6, C]`` (mix vectors of r, w, k, v, a, g)."""
    C, F_ = cfg.dim, cfg.ffn_dim
    shapes = {"emb.weight": (cfg.vocab, C), "blocks.0.ln0.weight": (C,), "blocks.0.ln0.bias": (C,)}
    for l in range(cfg.n_layers):
        p = f"blocks.{l}."
        for n in ["ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.w0", "att.a0", "att.k_k", "att.k_a",
                  "att.r_k", "att.ln_x.weight", "att.ln_x.bias", "ffn.x_k"]:
            shapes[p + n] = (C,)
        shapes[p + "att.x_rwkvag"] = (6, C)
        for n, d in [("w", cfg.lora_w), ("a", cfg.lora_a), ("g", cfg.lora_g)] + ([("v", cfg.lora_v)] if l else []):
            shapes[p + f"att.{n}1"] = (d, C)
            shapes[p + f"att.{n}2"] = (C, d)
        if l:
            shapes[p + "att.v0"] = (C,)
        for n in ["receptance", "key", "value", "output"]:
            shapes[p + f"att.{n}.weight"] = (C, C)
        shapes[p + "ffn.key.weight"] = (F_, C)
        shapes[p + "ffn.value.weight"] = (C, F_)
    shapes.update({"ln_out.weight": (C,), "ln_out.bias": (C,), "head.weight": (cfg.vocab, C)})
    return shapes


class Rwkv7LM(torch.nn.Module):
    """A small RWKV-7 language model; parameters under rwkv.cpp's names (``param(name)``)."""

    def __init__(self, cfg: Rwkv7Config, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(seed)
        params = {}
        for name, shape in tensor_shapes(cfg).items():
            if name.endswith(("ln0.weight", "ln1.weight", "ln2.weight", "ln_out.weight", "ln_x.weight")):
                init = torch.ones(shape)
            elif name.endswith("att.w0"):
                init = torch.full(shape, -1.0)
            elif name.endswith("att.k_k"):
                init = torch.full(shape, 0.85)
            elif name.endswith(("x_rwkvag", "ffn.x_k")):
                init = torch.rand(shape, generator=g)
            else:
                fan_in = shape[-1] if len(shape) == 2 else 1
                init = torch.randn(shape, generator=g) * (0.5 / fan_in ** 0.5 if len(shape) == 2 else 0.1)
            params[name.replace(".", "__")] = torch.nn.Parameter(init)
        self.params = torch.nn.ParameterDict(params)

    def param(self, name: str) -> torch.Tensor:
        return self.params[name.replace(".", "__")]

    def initial_state(self, batch: int):
        cfg = self.cfg
        z = lambda *s: torch.zeros(*s, dtype=self.param("emb.weight").dtype)  # noqa: E731
        return [(z(batch, cfg.dim), z(batch, cfg.dim), z(batch, cfg.n_heads, cfg.head_size, cfg.head_size))
                for _ in range(cfg.n_layers)]

    def forward(self, tokens: torch.Tensor, state=None, form: str = "chunked", chunk: int = 16):
        """tokens ``[B, T]`` -> logits ``[B, T, vocab]``, final state (list per layer of att_xx, ffn_xx, S)."""
        cfg, P = self.cfg, self.param
        B, T = tokens.shape
        H, N, C = cfg.n_heads, cfg.head_size, cfg.dim
        state = self.initial_state(B) if state is None else state
        ln = lambda x, n: F.layer_norm(x, (C,), P(n + ".weight"), P(n + ".bias"), LN_EPS)  # noqa: E731
        heads = lambda x: x.view(B, T, H, N).transpose(1, 2)                               # noqa: E731
        x = ln(P("emb.weight")[tokens], "blocks.0.ln0")
        v_first, new_state = None, []
        for l, (att_xx, ffn_xx, S) in enumerate(state):
            p = f"blocks.{l}."
            xa = ln(x, p + "ln1")
            sx = torch.cat([att_xx[:, None], xa[:, :-1]], dim=1) - xa               # token shift
            xr, xw, xk, xv, xa2, xg = (xa + sx * P(p + "att.x_rwkvag")[i] for i in range(6))
            r = xr @ P(p + "att.receptance.weight").T
            w = torch.exp(DECAY_SCALE * torch.sigmoid(
                P(p + "att.w0") + torch.tanh(xw @ P(p + "att.w1").T) @ P(p + "att.w2").T))
            k = xk @ P(p + "att.key.weight").T
            v = xv @ P(p + "att.value.weight").T
            a = torch.sigmoid(P(p + "att.a0") + (xa2 @ P(p + "att.a1").T) @ P(p + "att.a2").T)
            g = torch.sigmoid(xg @ P(p + "att.g1").T) @ P(p + "att.g2").T
            kk = F.normalize((k * P(p + "att.k_k")).view(B, T, H, N), dim=-1, eps=L2_EPS).view(B, T, C)
            k = k + (a * (k * P(p + "att.k_a")) - k * P(p + "att.k_a"))
            if l == 0:
                v_first = v
            else:
                v = v + (v_first - v) * torch.sigmoid(
                    P(p + "att.v0") + (xv @ P(p + "att.v1").T) @ P(p + "att.v2").T)
            args = [heads(t) for t in (r, w, k, v, kk, a)]
            if form == "step":
                y, S = wkv7_step(*args, state=S)
            else:
                y, S = wkv7_chunked(*args, state=S, chunk=chunk)
            y = y.transpose(1, 2).reshape(B * T, C)
            y = F.group_norm(y, H, P(p + "att.ln_x.weight"), P(p + "att.ln_x.bias"), GROUP_NORM_EPS).view(B, T, C)
            bonus = (r * k * P(p + "att.r_k")).view(B, T, H, N).sum(-1, keepdim=True)
            y = y + (v.view(B, T, H, N) * bonus).view(B, T, C)
            x = x + (y * g) @ P(p + "att.output.weight").T
            xf = ln(x, p + "ln2")
            prev = torch.cat([ffn_xx[:, None], xf[:, :-1]], dim=1)
            xk2 = xf + (prev - xf) * P(p + "ffn.x_k")
            x = x + torch.relu(xk2 @ P(p + "ffn.key.weight").T).square() @ P(p + "ffn.value.weight").T
            new_state.append((xa[:, -1], xf[:, -1], S))
        logits = ln(x, "ln_out") @ P("head.weight").T
        return logits, new_state


def read_ggmf(path) -> tuple[dict, dict[str, torch.Tensor]]:
    """An rwkv.cpp file (FP32/FP16): header dict and tensors (f32, shape reversed from ggml's order)."""
    data = open(path, "rb").read()
    magic, version, n_vocab, n_embed, n_layer, data_type = struct.unpack_from("<6I", data, 0)
    if magic != 0x67676D66 or version not in (100, 101):
        raise ValueError(f"{path}: not an rwkv.cpp file (magic {magic:#x}, version {version})")
    pos, tensors = 24, {}
    while pos < len(data):
        dims, key_len, dtype = struct.unpack_from("<3I", data, pos)
        shape = struct.unpack_from(f"<{dims}I", data, pos + 12)
        pos += 12 + 4 * dims
        name = data[pos:pos + key_len].decode()
        pos += key_len
        if dtype not in (0, 1):
            raise ValueError(f"{name}: data type {dtype} (only FP32 and FP16 are read)")
        count = 1
        for d in shape:
            count *= d
        size = count * (4 if dtype == 0 else 2)
        raw = torch.frombuffer(bytearray(data[pos:pos + size]), dtype=torch.float32 if dtype == 0 else torch.float16)
        pos += size
        tensors[name] = raw.float().reshape(tuple(reversed(shape)))
    header = dict(version=version, n_vocab=n_vocab, n_embed=n_embed, n_layer=n_layer, data_type=data_type)
    return header, tensors


def load_ggmf(path) -> Rwkv7LM:
    """An RWKV-7 model with the weights of an rwkv.cpp file."""
    header, t = read_ggmf(path)
    if "blocks.0.att.r_k" not in t:
        raise ValueError(f"{path}: not an RWKV-7 file (no blocks.0.att.r_k)")
    C = header["n_embed"]
    cfg = Rwkv7Config(vocab=header["n_vocab"], dim=C, n_layers=header["n_layer"],
                      n_heads=t["blocks.0.att.r_k"].shape[0], ffn_dim=t["blocks.0.ffn.key.weight"].shape[0],
                      lora_w=t["blocks.0.att.w1"].shape[0], lora_a=t["blocks.0.att.a1"].shape[0],
                      lora_v=t["blocks.1.att.v1"].shape[0] if header["n_layer"] > 1 else 0,
                      lora_g=t["blocks.0.att.g1"].shape[0])
    model = Rwkv7LM(cfg)
    with torch.no_grad():
        for name, shape in tensor_shapes(cfg).items():
            model.param(name).copy_(t[name].reshape(shape))
    return model


# ------------------------------------------------------------------------------------------------------------
# Writing rwkv.cpp files, and the golden model
# ------------------------------------------------------------------------------------------------------------
def ggml_shape(name: str, shape: tuple[int, ...], n_heads: int) -> tuple[int, ...]:
    """The ggml shape rwkv.cpp's converter gives a tensor of shape ``shape`` here (reversed; vectors as it
    writes them: ``r_k`` ``[N, H]``, ``x_rwkvag`` ``[C, 1, 6]``, the other ``att``/``ffn`` vectors ``[C, 1, 1]``)."""
    if name.endswith("att.r_k"):
        return (shape[0] // n_heads, n_heads)
    if name.endswith("att.x_rwkvag"):
        return (shape[1], 1, 6)
    if len(shape) == 1 and (".att." in name or ".ffn." in name) and not name.endswith((".weight", ".bias")):
        return (shape[0], 1, 1)
    return tuple(reversed(shape))


def write_ggmf(model: Rwkv7LM, path) -> None:
    """Writes the model as an rwkv.cpp FP32 file (version 101), tensors in rwkv.cpp's order."""
    cfg = model.cfg
    out = bytearray(struct.pack("<6I", 0x67676D66, 101, cfg.vocab, cfg.dim, cfg.n_layers, 0))
    for name, shape in tensor_shapes(cfg).items():
        dims = ggml_shape(name, shape, cfg.n_heads)
        key = name.encode()
        out += struct.pack(f"<3I{len(dims)}I", len(dims), len(key), 0, *dims) + key
        out += model.param(name).detach().to(torch.float32).contiguous().numpy().tobytes()
    with open(path, "wb") as f:
        f.write(out)


GOLDEN_TOKENS = list(b"ROMEO:\nBut soft, what light through yond")
GOLDEN_CONFIG = Rwkv7Config(vocab=256, dim=16, n_layers=2, n_heads=2, ffn_dim=64, lora_w=4, lora_a=4, lora_v=4,
                            lora_g=4)


def golden_logits(model: Rwkv7LM, tokens) -> torch.Tensor:
    """Per-position logits ``[T, vocab]``, computed in float64 (step form) from the weights as stored."""
    double = Rwkv7LM(model.cfg)
    double.load_state_dict(model.state_dict())
    double = double.double()
    with torch.no_grad():
        logits, _ = double(torch.tensor([tokens]), form="step")
    return logits[0]


def write_golden(out_dir: str, seed: int = 7) -> None:
    """``model.bin`` (rwkv.cpp FP32 file of a random 2-head model) and ``logits.json``
    (``{"tokens": [...], "logits": [[...] per position]}``, 9 significant digits)."""
    import json
    import os

    os.makedirs(out_dir, exist_ok=True)
    model = Rwkv7LM(GOLDEN_CONFIG, seed=seed)
    path = os.path.join(out_dir, "model.bin")
    write_ggmf(model, path)
    logits = golden_logits(load_ggmf(path), GOLDEN_TOKENS)
    with open(os.path.join(out_dir, "logits.json"), "w") as f:
        json.dump({"tokens": GOLDEN_TOKENS, "logits": [[float(f"{v:.9g}") for v in row] for row in logits.tolist()]},
                  f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    import argparse
    import os

    ap = argparse.ArgumentParser(description="Writes the RWKV-7 golden model (rwkv.cpp file + PyTorch logits).")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "golden_rwkv7"))
    write_golden(ap.parse_args().out)
