"""Token mixers = pattern x form (docs/model-spec.md, section 2).

Every (pattern, form) mixer exists in three forms, with the same signature
``(form, pattern, q, k, v, gamma=None, decay=None, level_weights=None) -> o``:

- ``mix_step``: the naive decode loop, the *definition*. One position at a time; a ``StepCache`` keeps only
  the positions the pattern still needs (``Pattern.live_after``) and overwrites evicted slots with NaN, so a
  read of an evicted position poisons the output.
- ``mix_matrix``: the matrix (parallel) form. Coefficients in parallel (a masked softmax over ``{t} ∪ R(t)``
  on the full [n, n] score matrix), then ``Y = (I - B)^{-1} A V`` by one unit-lower-triangular solve
  (``torch.linalg.solve_triangular``) per batch and head; attention is just ``A V``. The state-space forms
  build [B, H, d, n, n] (order 1) and [B, H, n, n, d] (log-linear) tensors. Simple, O(n^2) memory: the twin.
- ``mix_parallel``: the training form, which scales. It is ``mix_matrix`` for the dense pattern (and for
  sparse ones shorter than ``GATHER_FROM``, where it is as fast) and otherwise: ``mix_gather`` for sparse
  patterns (scores only at the pattern's positions, gathered through the index table [n, max_reads]; the
  triangular system solved chunk by chunk: a small dense solve inside a chunk, the reads of earlier chunks
  gathered from the outputs already solved), ``_state_space_chunked`` (GLA-style:
  a [d, d] state carried across chunks, a masked [C, C] form inside) and ``_loglinear_chunked`` (the lattice
  segments' [d, d] states at each chunk boundary, exactly the decode cache of that step, as in Guo et al.
  2025's chunkwise log-linear attention; a masked [C, C] form inside). Each is tested equal to ``mix_matrix``
  and ``mix_step`` (tests/test_mixers.py).

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

Level-aware coefficients (the ``level_bias`` [H, L] and ``gate`` [B, H, n] arguments; recurrent and chained on
every pattern but dense, ``is_defined``): the level of a read j in R(t) is its rank by recency in R(t) (0 = the
most recent; on the lattices the lattice level, on the exact 2^k pattern k); levels ``>= L - 1`` share bias
``L - 1``. Each read's score gets ``level_bias[h, level(j)]``:

- recurrent : ``o_t = a_t v_t + (1 - a_t) sum_R softmax_R(q_t . k_j / sqrt(d) + b[level(j)]) o_j`` with the
  gate ``a_t = sigmoid(wa x_t + ba)`` (per head); ``o_t = v_t`` where R(t) is empty (t = 0)
- chained   : today's chained form with ``b[level(j)]`` added to each read's score in the softmax over J (the
  current token's score has none); no gate (``gamma`` already splits A from B)
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


def _check(form: str, pattern: Pattern, q, k, level_bias=None, gate=None):
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}")
    if form != "attention" and k.shape[1] != q.shape[1]:
        raise ValueError("only the attention form supports n_kv_heads != n_heads")
    level_aware = level_bias is not None
    if not is_defined(form, pattern.kind, pattern.param, level_aware):
        raise ValueError(LEVEL_AWARE_RULE if level_aware else DEFINED_RULE)
    if level_aware and form == "recurrent" and gate is None:
        raise ValueError("the level-aware recurrent form needs its gate")


DEFINED_RULE = "state_space is defined on pattern order 1 and pow2_lattice only"
LEVEL_AWARE_RULE = "level_aware is defined for the recurrent and chained forms on every pattern but dense"


def is_defined(form: str, kind: str, param: int, level_aware: bool = False) -> bool:
    """True if ``form`` on pattern ``(kind, param)`` (with level-aware coefficients or not) is a mixer: the
    runtime's ``glmix::arch::is_defined`` (tests/test_arch_table.py checks the two agree). Level-aware needs
    reads with a rank (every pattern but dense, whose L would be the whole context) and a form with read
    scores of its own (recurrent, chained)."""
    if level_aware:
        return form in ("recurrent", "chained") and kind != "dense"
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


CHUNK = 64  # positions per chunk of the chunked forms
# Sparse patterns use the gathered form from this length on: below it the [n, n] matrix form is as fast or
# faster (CPU, f32, forward + backward: at n = 256 up to 2x faster at batch 1, even at batch 8; at n = 512
# even at batch 1, 1.3-1.8x slower at batch 4; docs/results.md "Training forms").
GATHER_FROM = 512


def mix_parallel(form: str, pattern: Pattern, q, k, v, gamma=None, decay=None, level_weights=None,
                 level_bias=None, gate=None) -> torch.Tensor:
    """The training form: the fast forms below (``mix_matrix``'s result, to rounding)."""
    _check(form, pattern, q, k, level_bias, gate)
    if form == "state_space" and is_loglinear(pattern):
        return _loglinear_chunked(pattern, q, k, v, decay, level_weights)
    if form == "state_space":
        return _state_space_chunked(q, k, v, decay)
    if pattern.kind == "dense" or q.shape[2] < GATHER_FROM:
        return mix_matrix(form, pattern, q, k, v, gamma, level_bias=level_bias, gate=gate)
    return mix_gather(form, pattern, q, k, v, gamma, level_bias=level_bias, gate=gate)


def read_levels(count: torch.Tensor, width: int, n_levels: int) -> torch.Tensor:
    """[T, width] int64: the level of column r of an index-table row with ``count`` reads (ascending, so
    column r is the ``count - 1 - r``-th most recent), clamped to ``[0, n_levels - 1]``; padding gets 0."""
    r = torch.arange(width, device=count.device)
    return (count.unsqueeze(-1) - 1 - r).clamp(min=0, max=n_levels - 1)


def mix_matrix(form: str, pattern: Pattern, q, k, v, gamma=None, decay=None, level_weights=None, level_bias=None,
               gate=None) -> torch.Tensor:
    """The matrix form: full [n, n] scores, one triangular solve (module doc)."""
    _check(form, pattern, q, k, level_bias, gate)
    B, H, n, d = q.shape
    if form == "state_space" and is_loglinear(pattern):
        return _loglinear_parallel(pattern, q, k, v, decay, level_weights)
    if form == "state_space":
        return _state_space_parallel(q, k, v, decay)
    k = _expand_kv(k, H)
    v = _expand_kv(v, H)
    allowed = pattern_mask(pattern, n, q.device)  # [n, n]
    s = (q @ k.transpose(-1, -2)) / math.sqrt(d)
    if level_bias is not None:
        return _level_aware_matrix(form, pattern, s, v, gamma, level_bias, gate)
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


def _level_aware_matrix(form, pattern, s, v, gamma, level_bias, gate):
    """``mix_matrix`` with level-aware coefficients (module doc); s [B, H, n, n] the scaled scores."""
    B, H, n, _ = s.shape
    eye = torch.eye(n, dtype=torch.bool, device=s.device)
    reads = pattern_mask(pattern, n, s.device) & ~eye  # R
    lev = (level_table(pattern, n, s.device) - 1).clamp(min=0, max=level_bias.shape[-1] - 1)  # rank on R
    s = s + level_bias.to(s.dtype)[:, lev] * reads  # [B, H, n, n]: the level bias on the reads only
    if form == "chained":
        P = torch.softmax(s.masked_fill(~(reads | eye), float("-inf")), dim=-1)
        g = gamma.to(s.dtype).view(1, H, 1)
        a_self = P.diagonal(dim1=-2, dim2=-1)
        den = (1.0 - g * a_self).unsqueeze(-1)
        rhs = (1.0 - g.unsqueeze(-1)) * (P @ v) / den
        Bm = g.unsqueeze(-1) * P.masked_fill(eye, 0.0) / den
    else:  # recurrent: a softmax over R alone; rows without reads (t = 0) give o_t = v_t
        has = reads.any(-1)  # [n]
        s_R = torch.where(has.unsqueeze(-1), s.masked_fill(~reads, float("-inf")), 0.0)
        P = torch.softmax(s_R, dim=-1) * reads
        a = torch.where(has, gate.to(s.dtype), 1.0)  # [B, H, n]
        rhs = a.unsqueeze(-1) * v
        Bm = (1.0 - a).unsqueeze(-1) * P
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
# Fast training forms (tested equal to mix_matrix and mix_step)
# ------------------------------------------------------------------------------------------------------------
_TABLES: dict = {}


def index_table(pattern: Pattern, n: int, device):
    """(idx [n, L], valid [n, L]) of ``Pattern.index_table``, cached per device."""
    key = (pattern, n, str(device))
    t = _TABLES.get(key)
    if t is None:
        idx, valid = pattern.index_table(n)
        t = _TABLES[key] = (idx.to(device), valid.to(device))
    return t


def mix_gather(form: str, pattern: Pattern, q, k, v, gamma=None, chunk: int = CHUNK, level_bias=None,
               gate=None) -> torch.Tensor:
    """Attention / recurrent / chained on the pattern's positions only: O(n L d) for L = max |R(t)|.

    Scores ``q_t . k_j`` for j in R(t) gathered through the index table; the softmax over {t} ∪ R(t) as in
    ``mix_matrix``. The recurrent and chained forms solve ``o_t = rhs_t + sum_{j in R(t)} c_tj o_j`` one chunk
    [c0, c1) at a time: reads j < c0 come from the outputs already solved (gathered), reads inside the chunk
    form a strictly lower [C, C] matrix solved by ``solve_triangular``. Level-aware coefficients add the
    level bias to the gathered read scores (``read_levels``)."""
    _check(form, pattern, q, k, level_bias, gate)
    B, H, n, d = q.shape
    k, v = _expand_kv(k, H), _expand_kv(v, H)
    idx, valid = index_table(pattern, n, q.device)  # [n, L]
    idx_cpu, valid_cpu = index_table(pattern, n, "cpu")  # for host-side decisions (no device sync)
    s_self = (q * k).sum(-1, keepdim=True) / math.sqrt(d)  # [B, H, n, 1]
    s_R = torch.einsum("bhtd,bhtrd->bhtr", q, k[:, :, idx]) / math.sqrt(d)
    if level_bias is not None:
        s_R = s_R + level_bias.to(q.dtype)[:, read_levels(valid.sum(-1), idx.shape[1], level_bias.shape[-1])]
    s_R = s_R.masked_fill(~valid, float("-inf"))
    if level_bias is not None and form == "recurrent":  # softmax over R alone, the gate for the diagonal
        has = valid.any(-1).unsqueeze(-1)  # [n, 1]; False at t = 0: o_t = v_t
        a_R = torch.softmax(torch.where(has, s_R, 0.0), dim=-1) * valid
        a_t = torch.where(has, gate.to(q.dtype).unsqueeze(-1), 1.0)  # [B, H, n, 1]
        a_R = (1.0 - a_t) * a_R
    else:
        a = torch.softmax(torch.cat([s_self, s_R], dim=-1), dim=-1)
        a_t, a_R = a[..., :1], a[..., 1:]  # [B, H, n, 1], [B, H, n, L]; padding gets exactly 0
    if form in ("attention", "chained"):
        av = a_t * v + torch.einsum("bhtr,bhtrd->bhtd", a_R, v[:, :, idx])  # sum_J a_j v_j
        if form == "attention":
            return av
    if form == "recurrent":
        rhs, c = a_t * v, a_R
    else:  # chained
        g = gamma.to(q.dtype).view(1, H, 1, 1)
        den = 1.0 - g * a_t  # [B, H, n, 1]
        rhs, c = (1.0 - g) * av / den, g * a_R / den
    outs: list[torch.Tensor] = []
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        idx_c, valid_c, c_c = idx[c0:c1], valid[c0:c1], c[:, :, c0:c1]
        rhs_c = rhs[:, :, c0:c1]
        before = valid_c & (idx_c < c0)
        if bool((valid_cpu[c0:c1] & (idx_cpu[c0:c1] < c0)).any()):
            done = torch.cat(outs, dim=2)  # [B, H, c0, d]: solved outputs
            gathered = done[:, :, torch.where(before, idx_c, 0)]  # [B, H, C, L, d]
            rhs_c = rhs_c + torch.einsum("bhtr,bhtrd->bhtd", c_c * before, gathered)
        inside = (idx_c.unsqueeze(-1) == torch.arange(c0, c1, device=q.device)) & valid_c.unsqueeze(-1)
        Bm = torch.einsum("bhtr,trj->bhtj", c_c, inside.to(q.dtype))  # [B, H, C, C], strictly lower
        outs.append(torch.linalg.solve_triangular(-Bm, rhs_c, upper=False, unitriangular=True))
    return torch.cat(outs, dim=2)


def _intra_chunk(q, k, cum):
    """Masked decayed scores inside one chunk: ``[t, s] = sum_c q_t[c] k_s[c] exp(cum_t[c] - cum_s[c])`` for
    s <= t, else 0 (every exponent <= 0). q, k, cum [B, H, C, d] -> [B, H, C, C]."""
    C = q.shape[2]
    causal = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()
    diff = (cum.unsqueeze(3) - cum.unsqueeze(2)).masked_fill(~causal[..., None], float("-inf"))
    return torch.einsum("bhtc,bhsc,bhtsc->bhts", q, k, torch.exp(diff))


def _state_space_chunked(q, k, v, decay, chunk: int = CHUNK):
    """GLA-style chunkwise first-order matrix state: the state S [d, d] at each chunk start, carried by
    ``S <- diag(D_chunk) S + sum_s diag(D(s..c1-1)) k_s v_s^T``; inside a chunk
    ``o_t = (q_t * D(c0-1..t)) S + sum_{s in chunk, s <= t} (q_t . D(s..t) k_s) v_s``, over sqrt(d)."""
    B, H, n, d = q.shape
    S = q.new_zeros(B, H, d, d)
    outs = []
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        qc, kc, vc = q[:, :, c0:c1], k[:, :, c0:c1], v[:, :, c0:c1]
        cum = torch.cumsum(torch.log(decay[:, :, c0:c1]), dim=2)  # [B, H, C, d]: log D(c0-1..t)
        o = (qc * torch.exp(cum)) @ S + _intra_chunk(qc, kc, cum) @ vc
        last = cum[:, :, -1:]  # log D(c0-1..c1-1)
        S = torch.exp(last).transpose(-1, -2) * S + (kc * torch.exp(last - cum)).transpose(-1, -2) @ vc
        outs.append(o)
    return torch.cat(outs, dim=2) / math.sqrt(d)


def _levels(idx, valid, s: torch.Tensor):
    """``level_t(s) = |{j in R(t) : j >= s}|`` for the rows (idx, valid) [T, L] and positions s [S] -> [T, S]."""
    return ((idx.unsqueeze(-1) >= s) & valid.unsqueeze(-1)).sum(1)


def _loglinear_chunked(pattern, q, k, v, decay, lam, chunk: int = CHUNK):
    """Chunkwise log-linear (state_space on a lattice). At a chunk start c0 the past [0, c0) is tiled by the
    segments of the decode cache R(c0) = {j_0 > j_1 > ..}: ``Seg_i = sum_{s in (j_{i+1}, j_i]} D(s..c0-1) k_s
    v_s^T`` (the oldest down to 0). Lattice closure (R(t) ∩ [0, c0) ⊆ R(c0) for t >= c0) makes the level of
    every s in segment i, seen from t, equal ``level_t(j_i)``, so
    ``o_t = sum_i lam_t[level_t(j_i)] (q_t * D(c0-1..t)) Seg_i + sum_{s in chunk} lam_t[level_t(s)] (q_t .
    D(s..t) k_s) v_s``, over sqrt(d). Then the segments are regrouped for R(c1): each old segment and each
    position of the chunk joins the new segment whose top is the nearest R(c1) position at or above it."""
    B, H, n, d = q.shape
    L = lam.shape[-1]
    idx, valid = index_table(pattern, n + 1, q.device)  # row n: R(n), the last boundary (unused)
    tops = q.new_zeros(0, dtype=torch.int64)  # R(c0), descending
    seg = q.new_zeros(B, H, 0, d, d)
    outs = []
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        qc, kc, vc, lc = q[:, :, c0:c1], k[:, :, c0:c1], v[:, :, c0:c1], lam[:, :, c0:c1]
        cum = torch.cumsum(torch.log(decay[:, :, c0:c1]), dim=2)
        pos = torch.arange(c0, c1, device=q.device)
        idx_c, valid_c = idx[c0:c1], valid[c0:c1]
        lev = _levels(idx_c, valid_c, pos).clamp(max=L - 1).expand(B, H, -1, -1)  # [B, H, C, C]
        o = (torch.gather(lc, -1, lev) * _intra_chunk(qc, kc, cum)) @ vc
        if tops.numel():
            lev_x = _levels(idx_c, valid_c, tops).clamp(max=L - 1).expand(B, H, -1, -1)  # [B, H, C, m]
            read = torch.einsum("bhtc,bhmcv->bhtmv", qc * torch.exp(cum), seg)
            o = o + torch.einsum("bhtm,bhtmv->bhtv", torch.gather(lc, -1, lev_x), read)
        outs.append(o)
        # regroup for R(c1): old segment tops and chunk positions go to the nearest new top at or above them
        new_tops = idx[c1][valid[c1]].flip(0)
        last = cum[:, :, -1:]  # log D(c0-1..c1-1)
        owner = lambda x: (new_tops.unsqueeze(0) >= x.unsqueeze(1)).sum(1) - 1  # noqa: E731 (tops descending)
        to_new = (owner(pos).unsqueeze(0) == torch.arange(len(new_tops), device=q.device).unsqueeze(1))
        new = torch.einsum("is,bhsc,bhsv->bhicv", to_new.to(q.dtype), kc * torch.exp(last - cum), vc)
        if tops.numel():
            from_old = owner(tops).unsqueeze(0) == torch.arange(len(new_tops), device=q.device).unsqueeze(1)
            new = new + torch.einsum("im,bhmcv->bhicv", from_old.to(q.dtype), seg) * torch.exp(last).unsqueeze(-1)
        tops, seg = new_tops, new
    return torch.cat(outs, dim=2) / math.sqrt(d)


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

    def step(self, q_t, k_t, v_t, gamma=None, decay_t=None, lam_t=None, level_bias=None, gate_t=None) -> torch.Tensor:
        """One position. q_t [B, H, d], k_t / v_t [B, Hkv, d], decay_t [B, H, d], lam_t [B, H, L],
        level_bias [H, L'], gate_t [B, H]. Returns o_t [B, H, d]."""
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
        s_self = (q_t * kt_e).sum(-1, keepdim=True) / math.sqrt(d)  # [B, H, 1]
        s_R = torch.einsum("bhd,bhrd->bhr", q_t, kR) / math.sqrt(d)
        if level_bias is not None:  # R ascending: read i is the (|R| - 1 - i)-th most recent
            lev = [min(len(R) - 1 - i, level_bias.shape[-1] - 1) for i in range(len(R))]
            s_R = s_R + level_bias.to(q_t.dtype)[:, lev]
        if level_bias is not None and self.form == "recurrent":
            a_t = gate_t.to(q_t.dtype).unsqueeze(-1) if R else torch.ones_like(s_self)  # [B, H, 1]
            a_R = (1.0 - a_t) * torch.softmax(s_R, dim=-1)
        else:
            a = torch.softmax(torch.cat([s_self, s_R], dim=-1), dim=-1)
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


def mix_step(form: str, pattern: Pattern, q, k, v, gamma=None, decay=None, level_weights=None, level_bias=None,
             gate=None) -> torch.Tensor:
    """The naive loop: same signature and result as ``mix_parallel``."""
    _check(form, pattern, q, k, level_bias, gate)
    B, H, n, d = q.shape
    cache = StepCache(form, pattern, B, H, k.shape[1], d, n, q.dtype, q.device)
    outs = []
    for t in range(n):
        dt = decay[:, :, t] if decay is not None else None
        lt = level_weights[:, :, t] if level_weights is not None else None
        gt = gate[:, :, t] if gate is not None else None
        outs.append(cache.step(q[:, :, t], k[:, :, t], v[:, :, t], gamma, dt, lt, level_bias, gt))
    return torch.stack(outs, dim=2)


# ------------------------------------------------------------------------------------------------------------
# Training-form throughput: python -m glmix_models.mixers [--lengths 256,1024,4096] [--threads 1]
# ------------------------------------------------------------------------------------------------------------
BENCH = [  # (row, pattern, form)
    ("attention", Pattern("dense"), "attention"),
    ("pow2 (exact) recurrent", Pattern("pow2"), "recurrent"),
    ("pow2-lattice recurrent", Pattern("pow2_lattice"), "recurrent"),
    ("sq1-lattice chained", Pattern("sq1_lattice"), "chained"),
    ("dense chained", Pattern("dense"), "chained"),
    ("gla (order 1 state space)", Pattern("order", 1), "state_space"),
    ("log-linear (pow2-lattice state space)", Pattern("pow2_lattice"), "state_space"),
]


def _fast_form(form, pattern, q, k, v, gamma, decay, lam):
    """The scaling form of (pattern, form), whatever the length (mix_parallel picks by length)."""
    if form == "state_space" and is_loglinear(pattern):
        return _loglinear_chunked(pattern, q, k, v, decay, lam)
    if form == "state_space":
        return _state_space_chunked(q, k, v, decay)
    if pattern.kind == "dense":
        return mix_matrix(form, pattern, q, k, v, gamma)
    return mix_gather(form, pattern, q, k, v, gamma)


def bench(lengths, batch=1, heads=4, head_dim=32, matrix_max=1024, budget=2.0):
    """Forward + backward tokens/s of the scaling form (and of mix_matrix up to ``matrix_max``, 256 for the
    state-space forms), f32 on the CPU; the median of repeated runs within ``budget`` seconds per cell."""
    import statistics
    import sys
    import time

    def rate(fn, n, args):
        times, start = [], time.perf_counter()
        while len(times) < 3 or (time.perf_counter() - start < budget and len(times) < 50):
            xs = [x.clone().requires_grad_(True) for x in args]
            t0 = time.perf_counter()
            fn(*xs).sum().backward()
            times.append(time.perf_counter() - t0)
        return batch * n / statistics.median(times)

    rows = []
    for name, pattern, form in BENCH:
        row = [name]
        for n in lengths:
            g = torch.Generator().manual_seed(n)
            q, k, v = (torch.randn(batch, heads, n, head_dim, generator=g) for _ in range(3))
            gamma = torch.rand(heads, generator=g) * 0.9 + 0.05
            decay = torch.rand(batch, heads, n, head_dim, generator=g) * 0.5 + 0.5
            lam = torch.rand(batch, heads, n, n_level_weights(pattern, n) if is_loglinear(pattern) else 1,
                             generator=g)
            args = (q, k, v, gamma, decay, lam)
            fast = rate(lambda *a: _fast_form(form, pattern, *a), n, args)
            if n <= (matrix_max if form != "state_space" else min(matrix_max, 256)):  # [n, n, d] tensors
                slow = rate(lambda *a: mix_matrix(form, pattern, *a), n, args)
                row.append(f"{fast:,.0f} ({slow:,.0f})")
            else:
                row.append(f"{fast:,.0f}")
        rows.append(row)
        print(" | ".join(row), file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="training-form tokens/s (forward + backward), f32, CPU")
    ap.add_argument("--lengths", default="256,1024,4096")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--matrix_max", type=int, default=1024, help="also time mix_matrix up to this length")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lengths = [int(x) for x in a.lengths.split(",")]
    print("| form | " + " | ".join(f"n = {n:,}" for n in lengths) + " |")
    print("|---|" + "---|" * len(lengths))
    for r in bench(lengths, a.batch, matrix_max=a.matrix_max):
        print("| " + " | ".join(r) + " |")
