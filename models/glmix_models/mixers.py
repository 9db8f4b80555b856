"""Token mixers = pattern x form (docs/model-spec.md, section 2).

Every (pattern, form) mixer exists twice, with the same signature
``(form, pattern, q, k, v, gamma=None, decay=None, level_weights=None) -> o``:

- ``mix_step``: the naive decode loop, the *definition*. One position at a time; a ``StepCache`` keeps only
  the positions the pattern still needs (``Pattern.live_after``) and overwrites evicted slots with NaN, so a
  read of an evicted position poisons the output.
- ``mix_parallel``: the training form. Coefficients in parallel (a masked softmax over ``{t} ∪ R(t)``), then
  ``Y = (I - B)^{-1} A V`` by a unit-lower-triangular solve (``torch.linalg.solve_triangular``) per
  batch and head; attention is just ``A V``.

Shapes: q ``[B, H, n, d]``, k / v ``[B, Hkv, n, d]`` (already RoPE-rotated), gamma ``[H]`` in (0, 1) (chained),
decay ``[B, H, n, d]`` in (0, 1) (state_space, ``d_t = sigmoid(wd x_t)``), level_weights ``[B, H, n, L]``
(log-linear state_space, ``lambda_t = sigmoid(wl x_t)``; level ``l >= L - 1`` uses weight ``L - 1``).
Output o ``[B, H, n, d]``.

Forms (per head), with ``a = softmax_J(q_t . k_j / sqrt(d))`` over ``J = {t} ∪ R(t)``:

- attention   : ``o_t = sum_J a_j v_j``                                   (A on the pattern, B = 0)
- recurrent   : ``o_t = a_t v_t + sum_R a_j o_j``                          (A diagonal, beta = a on R)
- chained     : ``o_t = [(1-g) sum_J a_j v_j + g sum_R a_j o_j] / (1 - g a_t)``
- state_space : ``S_t = diag(d_t) S_{t-1} + k_t v_t^T``, ``o_t = S_t^T q_t / sqrt(d)``        (order 1)
- state_space on pow2_lattice (log-linear): one state per segment of the past that the lattice cuts,
  ``o_t = sum_{s <= t} lambda_t[level_t(s)] (q_t . D(s..t) k_s) v_s / sqrt(d)`` with
  ``level_t(s) = |{j in R(t) ∪ {t} : j >= s}| - 1`` and ``D(s..t) = diag(d_{s+1} * .. * d_t)``
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .patterns import Pattern

FORMS = {"attention": 0, "recurrent": 1, "chained": 2, "state_space": 3}


# ------------------------------------------------------------------------------------------------------------
# RoPE
# ------------------------------------------------------------------------------------------------------------
def rope_cos_sin(pos: torch.Tensor, head_dim: int, theta: float, dtype, device):
    """cos, sin of shape [n, head_dim/2]: angle = pos * theta^(-2i/head_dim), computed in float64."""
    i = torch.arange(head_dim // 2, dtype=torch.float64, device=device)
    inv_freq = theta ** (-2.0 * i / head_dim)
    ang = pos.to(device=device, dtype=torch.float64).unsqueeze(-1) * inv_freq
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x: torch.Tensor, pos: torch.Tensor, kind: str, theta: float) -> torch.Tensor:
    """x [..., n, d] rotated at positions pos [n].

    rope_interleaved (llama2.c): pairs (2i, 2i+1); rope_half (GPT-NeoX / HF Llama): pairs (i, i + d/2)."""
    if kind == "none":
        return x
    d = x.shape[-1]
    cos, sin = rope_cos_sin(pos, d, theta, x.dtype, x.device)  # [n, d/2]
    if kind == "rope_interleaved":
        x0, x1 = x[..., 0::2], x[..., 1::2]
        y0 = x0 * cos - x1 * sin
        y1 = x0 * sin + x1 * cos
        return torch.stack((y0, y1), dim=-1).flatten(-2)
    if kind == "rope_half":
        x0, x1 = x[..., : d // 2], x[..., d // 2 :]
        return torch.cat((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    raise ValueError(f"unknown positional kind {kind!r}")


def _expand_kv(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Grouped queries: query head h uses kv head h // (n_heads / n_kv_heads)."""
    hkv = x.shape[1]
    if hkv == n_heads:
        return x
    return x.repeat_interleave(n_heads // hkv, dim=1)


def _check(form: str, pattern: Pattern, q, k):
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}")
    if form != "attention" and k.shape[1] != q.shape[1]:
        raise ValueError("only the attention form supports n_kv_heads != n_heads")
    if not is_defined(form, pattern.kind, pattern.param):
        raise ValueError(DEFINED_RULE)


DEFINED_RULE = "state_space is defined on pattern order 1 and pow2_lattice only"


def is_defined(form: str, kind: str, param: int) -> bool:
    """True if ``form`` on pattern ``(kind, param)`` is a mixer: the runtime's ``glmix::arch::is_defined``
    (tests/test_arch_table.py checks the two agree)."""
    return form != "state_space" or kind == "pow2_lattice" or (kind, param) == ("order", 1)


def is_loglinear(pattern: Pattern) -> bool:
    """state_space on this pattern is log-linear (one matrix state per lattice segment)."""
    return pattern.kind == "pow2_lattice"


def n_level_weights(pattern: Pattern, max_context: int) -> int:
    """L, the level weights per head of a log-linear layer: one per level a step of a ``max_context``
    sequence can see (the current token, then one per cached lattice position): ``cap + 1`` when capped,
    else ``|R(max_context - 1)| + 1``. Levels beyond ``L - 1`` (a longer context) share weight ``L - 1``."""
    from .patterns import n_levels_at

    return n_levels_at(pattern.kind, pattern.param, max(max_context - 1, 0)) + 1 if pattern.param == 0 \
        else pattern.param + 1


# ------------------------------------------------------------------------------------------------------------
# Parallel (training) form
# ------------------------------------------------------------------------------------------------------------
_MASKS: dict = {}


def pattern_mask(pattern: Pattern, n: int, device) -> torch.Tensor:
    """[n, n] bool: the read matrix R plus the diagonal ({t} ∪ R(t)), cached per device."""
    key = (pattern, n, str(device))
    m = _MASKS.get(key)
    if m is None:
        m = (pattern.read_matrix(n) | torch.eye(n, dtype=torch.bool)).to(device)
        _MASKS[key] = m
    return m


def mix_parallel(form: str, pattern: Pattern, q, k, v, gamma=None, decay=None, level_weights=None) -> torch.Tensor:
    _check(form, pattern, q, k)
    B, H, n, d = q.shape
    if form == "state_space" and is_loglinear(pattern):
        return _loglinear_parallel(pattern, q, k, v, decay, level_weights)
    if form == "state_space":
        return _state_space_parallel(q, k, v, decay)
    k = _expand_kv(k, H)
    v = _expand_kv(v, H)
    allowed = pattern_mask(pattern, n, q.device)  # [n, n]
    s = (q @ k.transpose(-1, -2)) / math.sqrt(d)
    s = s.masked_fill(~allowed, float("-inf"))
    P = torch.softmax(s, dim=-1)  # [B, H, n, n]; each row has its diagonal, never all -inf
    if form == "attention":
        return P @ v
    eye = torch.eye(n, dtype=torch.bool, device=q.device)
    a_self = P.diagonal(dim1=-2, dim2=-1)  # [B, H, n]: a_t
    P_off = P.masked_fill(eye, 0.0)  # beta on R(t)
    if form == "recurrent":
        rhs = a_self.unsqueeze(-1) * v  # A V with A = diag(a_t)
        Bm = P_off
    else:  # chained
        g = gamma.to(q.dtype).view(1, H, 1)
        den = (1.0 - g * a_self).unsqueeze(-1)  # [B, H, n, 1]: 1 - g a_t
        rhs = (1.0 - g.unsqueeze(-1)) * (P @ v) / den
        Bm = g.unsqueeze(-1) * P_off / den
    # (I - B) Y = A V; unitriangular=True: the diagonal is taken as 1 and not read.
    return torch.linalg.solve_triangular(-Bm, rhs, upper=False, unitriangular=True)


def _state_space_parallel(q, k, v, decay):
    """Per key channel c, S[c] is a first-order recurrence: (I - B_c) S_c = A_c V with B_c on the
    sub-diagonal (B_c[t, t-1] = d_t[c]) and A_c = diag(k_t[c]); then o_t = sum_c q_t[c] S_c[t] / sqrt(d)."""
    B, H, n, d = q.shape
    dk = decay.permute(0, 1, 3, 2)  # [B, H, d, n]
    M = torch.diag_embed(-dk[..., 1:], offset=-1)  # [B, H, d, n, n]
    rhs = k.permute(0, 1, 3, 2).unsqueeze(-1) * v.unsqueeze(2)  # [B, H, d, n, d]: k_t[c] v_t
    S = torch.linalg.solve_triangular(M, rhs, upper=False, unitriangular=True)  # [B, H, c, n, dv]
    return torch.einsum("bhtc,bhctv->bhtv", q, S) / math.sqrt(d)


_LEVELS: dict = {}


def level_table(pattern: Pattern, n: int, device) -> torch.Tensor:
    """[n, n] int64: ``level_t(s) = |{j in R(t) : j >= s}|`` for s <= t (0 on the diagonal: the current
    token), 0 above it. A reversed cumulative sum of the read matrix (R(t) only holds j < t)."""
    key = (pattern, n, str(device))
    m = _LEVELS.get(key)
    if m is None:
        r = pattern.read_matrix(n).to(torch.int64)
        m = r.flip(-1).cumsum(-1).flip(-1).tril().to(device)
        _LEVELS[key] = m
    return m


def _loglinear_parallel(pattern, q, k, v, decay, lam):
    """Masked quadratic form: ``o_t = sum_{s<=t} lambda_t[min(level_t(s), L-1)] sum_c q_t[c] k_s[c]
    exp(sum_{r=s+1..t} log d_r[c]) v_s / sqrt(d)``. Memory O(n^2 d) per head (chunking is left to do)."""
    B, H, n, d = q.shape
    L = lam.shape[-1]
    causal = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
    cum = torch.cumsum(torch.log(decay), dim=2)  # [B, H, n, d]: sum_{r<=t} log d_r
    diff = (cum.unsqueeze(3) - cum.unsqueeze(2)).masked_fill(~causal[..., None], 0.0)  # [B, H, t, s, d]
    scores = torch.einsum("bhtc,bhsc,bhtsc->bhts", q, k, torch.exp(diff))
    lev = level_table(pattern, n, q.device).clamp(max=L - 1).expand(B, H, n, n)
    weights = torch.gather(lam, -1, lev) * scores * causal  # [B, H, t, s]
    return weights @ v / math.sqrt(d)


# ------------------------------------------------------------------------------------------------------------
# Step (decode) form
# ------------------------------------------------------------------------------------------------------------
class StepCache:
    """Decode state of one mixer for one batch of sequences.

    Slots are indexed by position (a buffer of ``max_len`` rows, so a test can poison them); only the
    positions in ``Pattern.live_after(t)`` are kept after step t, the others are overwritten with NaN.
    ``live`` holds the kept positions: ``len(live)`` is the cache size in positions.
    Per form it stores: attention k, v; recurrent k, o; chained k, v, o; state_space S only (order 1) or,
    log-linear, ``Seg[:, :, j]``: the state of the segment whose newest position is the cached j.

    Log-linear invariant at the start of step t: the cached positions are R(t) = {j_0 > j_1 > ..}, and
    ``Seg[j_i] = sum_{s in (j_{i+1}, j_i]} D(s..t-1) k_s v_s^T`` (the oldest segment reaches down to 0).
    Step t decays every segment by d_t, reads segment i as level i + 1 and k_t v_t^T as level 0, then
    merges: a position R(t+1) drops adds its segment into the nearest kept segment above it (or into the
    new segment of t), so the segments keep tiling [0, t]."""

    def __init__(self, form: str, pattern: Pattern, batch: int, n_heads: int, n_kv_heads: int, head_dim: int,
                 max_len: int, dtype=torch.float32, device="cpu"):
        self.form, self.pattern = form, pattern
        self.n_heads, self.head_dim = n_heads, head_dim
        self.t = 0
        self.live: list[int] = []
        nan = float("nan")
        shape_kv = (batch, n_kv_heads, max_len, head_dim)
        shape_o = (batch, n_heads, max_len, head_dim)
        self.K = self.V = self.O = None
        if form == "state_space" and is_loglinear(pattern):
            self.Seg = torch.full((batch, n_heads, max_len, head_dim, head_dim), nan, dtype=dtype, device=device)
            return
        if form == "state_space":
            self.S = torch.zeros(batch, n_heads, head_dim, head_dim, dtype=dtype, device=device)
            return
        self.K = torch.full(shape_kv, nan, dtype=dtype, device=device)
        if form in ("attention", "chained"):
            self.V = torch.full(shape_kv, nan, dtype=dtype, device=device)
        if form in ("recurrent", "chained"):
            self.O = torch.full(shape_o, nan, dtype=dtype, device=device)

    def step(self, q_t, k_t, v_t, gamma=None, decay_t=None, lam_t=None) -> torch.Tensor:
        """One position. q_t [B, H, d], k_t / v_t [B, Hkv, d], decay_t [B, H, d], lam_t [B, H, L].
        Returns o_t [B, H, d]."""
        t, d, H = self.t, self.head_dim, self.n_heads
        if self.form == "state_space" and is_loglinear(self.pattern):
            return self._loglinear_step(q_t, k_t, v_t, decay_t, lam_t)
        if self.form == "state_space":
            self.S = decay_t.unsqueeze(-1) * self.S + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
            self.t += 1
            return torch.einsum("bhcv,bhc->bhv", self.S, q_t) / math.sqrt(d)
        R = self.pattern.read_set(t)
        kt_e = _expand_kv(k_t.unsqueeze(2), H).squeeze(2)  # [B, H, d]
        vt_e = _expand_kv(v_t.unsqueeze(2), H).squeeze(2)
        kR = _expand_kv(self.K[:, :, R], H)  # [B, H, |R|, d]
        s_self = (q_t * kt_e).sum(-1, keepdim=True)  # [B, H, 1]
        s_R = torch.einsum("bhd,bhrd->bhr", q_t, kR)
        a = torch.softmax(torch.cat([s_self, s_R], dim=-1) / math.sqrt(d), dim=-1)
        a_t, a_R = a[..., :1], a[..., 1:]  # [B, H, 1], [B, H, |R|]
        if self.form in ("attention", "chained"):
            vR = _expand_kv(self.V[:, :, R], H)
            av = a_t * vt_e + torch.einsum("bhr,bhrd->bhd", a_R, vR)  # sum_J a_j v_j
        if self.form in ("recurrent", "chained"):
            ao = torch.einsum("bhr,bhrd->bhd", a_R, self.O[:, :, R])  # sum_R a_j o_j
        if self.form == "attention":
            o = av
        elif self.form == "recurrent":
            o = a_t * vt_e + ao
        else:
            g = gamma.to(q_t.dtype).view(1, H, 1)
            o = ((1.0 - g) * av + g * ao) / (1.0 - g * a_t)
        # store position t, then evict what no later step reads
        self.K[:, :, t] = k_t
        if self.V is not None:
            self.V[:, :, t] = v_t
        if self.O is not None:
            self.O[:, :, t] = o
        keep = self.pattern.live_after(t)
        keep_set = set(keep)
        for j in self.live + [t]:
            if j not in keep_set:
                for buf in (self.K, self.V, self.O):
                    if buf is not None:
                        buf[:, :, j] = float("nan")
        self.live = keep
        self.t += 1
        return o


    def _loglinear_step(self, q_t, k_t, v_t, decay_t, lam_t):
        t, L = self.t, lam_t.shape[-1]
        reads = sorted(self.pattern.read_set(t), reverse=True)  # j_0 > j_1 > ..: segment i is level i + 1
        kv = k_t.unsqueeze(-1) * v_t.unsqueeze(-2)  # [B, H, d, d]: the current token, level 0
        o = lam_t[..., :1] * torch.einsum("bhcv,bhc->bhv", kv, q_t)
        for i, j in enumerate(reads):
            self.Seg[:, :, j] = decay_t.unsqueeze(-1) * self.Seg[:, :, j]
            o = o + lam_t[..., min(i + 1, L - 1)].unsqueeze(-1) * torch.einsum("bhcv,bhc->bhv", self.Seg[:, :, j], q_t)
        # merge: each dropped segment joins the nearest kept one above it (t's new segment at the top)
        keep = set(self.pattern.read_set(t + 1))
        new, above = kv, None
        for j in reads:
            if j in keep:
                above = j
                continue
            if above is None:
                new = new + self.Seg[:, :, j]
            else:
                self.Seg[:, :, above] = self.Seg[:, :, above] + self.Seg[:, :, j]
            self.Seg[:, :, j] = float("nan")
        self.Seg[:, :, t] = new
        self.live = sorted(keep)
        self.t += 1
        return o / math.sqrt(self.head_dim)


def mix_step(form: str, pattern: Pattern, q, k, v, gamma=None, decay=None, level_weights=None) -> torch.Tensor:
    """The naive loop: same signature and result as ``mix_parallel``."""
    _check(form, pattern, q, k)
    B, H, n, d = q.shape
    cache = StepCache(form, pattern, B, H, k.shape[1], d, n, q.dtype, q.device)
    outs = []
    for t in range(n):
        dt = decay[:, :, t] if decay is not None else None
        lt = level_weights[:, :, t] if level_weights is not None else None
        outs.append(cache.step(q[:, :, t], k[:, :, t], v[:, :, t], gamma, dt, lt))
    return torch.stack(outs, dim=2)
