"""Patterns: which past positions R(t) step t reads (docs/model-spec.md, section 2).

Pure integer code, no torch in the definitions. Positions are 0-based. A pattern is a *set*: when several
levels land on one position, the position appears once (duplicates merge) and gets one coefficient.

- ``f(k)`` is ``2^k`` (pow2) or ``k^2 + 1`` (sq1).
- ``cap`` (the ``param`` of the four level patterns) is a level cap: levels ``k >= cap`` are not used;
  ``cap == 0`` means no cap.
- Lattice (cache-efficient) variants, paper Prop. 4.12 in 0-based positions: ``a_0 = 1``,
  ``a_{k+1} = a_k * ceil((f(k+1) - f(k)) / a_k)``; level k (with ``f(k) <= t``) reads
  ``j_k = a_k * ceil((t + 1 - f(k)) / a_k) - 1``; the distance ``t - j_k`` lies in ``(f(k) - a_k, f(k)]``.

``live_after(t)`` gives the positions ``<= t`` some later step still reads: the decode cache keeps exactly
those (for a lattice this is ``R(t+1)``, thanks to the closure ``R(t+1) ⊆ R(t) ∪ {t}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

KINDS = {
    "dense": 0,
    "window": 1,
    "order": 2,
    "pow2": 3,
    "pow2_lattice": 4,
    "sq1": 5,
    "sq1_lattice": 6,
}
LEVEL_KINDS = ("pow2", "pow2_lattice", "sq1", "sq1_lattice")


def f_level(kind: str, k: int) -> int:
    """f(k): the exact distance read at level k."""
    if kind.startswith("pow2"):
        return 1 << k
    if kind.startswith("sq1"):
        return k * k + 1
    raise ValueError(f"pattern {kind!r} has no levels")


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers, b > 0 (a may be negative)."""
    return -((-a) // b)


@lru_cache(maxsize=None)
def lattice_steps(kind: str, n_levels: int) -> tuple[int, ...]:
    """a_0 .. a_{n_levels-1}: a_0 = 1, a_{k+1} = a_k * ceil((f(k+1) - f(k)) / a_k)."""
    a = [1]
    for k in range(n_levels - 1):
        a.append(a[k] * ceil_div(f_level(kind, k + 1) - f_level(kind, k), a[k]))
    return tuple(a)


def n_levels_at(kind: str, cap: int, t: int) -> int:
    """Number of levels active at step t: levels k with f(k) <= t and (cap == 0 or k < cap)."""
    k = 0
    while f_level(kind, k) <= t and (cap == 0 or k < cap):
        k += 1
    return k


@dataclass(frozen=True)
class Pattern:
    kind: str
    param: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown pattern kind {self.kind!r}")
        if self.kind in ("window", "order") and self.param < 1:
            raise ValueError(f"{self.kind} needs param >= 1")
        if self.param < 0:
            raise ValueError("param must be >= 0")

    @property
    def code(self) -> int:
        return KINDS[self.kind]

    # ---- R(t) -------------------------------------------------------------------------------------------
    def read_set(self, t: int) -> list[int]:
        """R(t): the distinct past positions step t reads, ascending."""
        return list(_read_set(self.kind, self.param, t))

    def live_after(self, t: int) -> list[int]:
        """Positions j <= t that some step t' > t still reads (what the decode cache keeps after step t)."""
        kind, p = self.kind, self.param
        if kind == "dense":
            return list(range(t + 1))
        if kind in ("window", "order"):
            return list(range(max(0, t + 1 - p), t + 1))
        if kind in ("pow2", "sq1"):
            if p == 0:
                return list(range(t + 1))  # exact pattern: O(n) cache
            reach = f_level(kind, p - 1)  # largest distance ever read
            return list(range(max(0, t + 1 - reach), t + 1))
        # lattice: exactly R(t+1) (closure: R(t+2) ⊆ R(t+1) ∪ {t+1}, and so on)
        return self.read_set(t + 1)

    # ---- tables for gather / matrix computation -------------------------------------------------------------
    def index_table(self, n: int):
        """(idx [n, L] int64, valid [n, L] bool) as torch tensors: row t lists R(t), padded with 0 / False.

        L = max_t |R(t)| (at least 1 so the tensors are never empty)."""
        import torch

        idx, valid = _index_table(self.kind, self.param, n)
        return torch.tensor(idx, dtype=torch.int64).view(n, -1), torch.tensor(valid, dtype=torch.bool).view(n, -1)

    def read_matrix(self, n: int):
        """[n, n] bool, strictly lower triangular: M[t, j] = (j in R(t))."""
        import torch

        idx, valid = self.index_table(n)
        m = torch.zeros(n, n + 1, dtype=torch.bool)
        rows = torch.arange(n).unsqueeze(1).expand_as(idx)
        cols = torch.where(valid, idx, torch.full_like(idx, n))  # padding goes to the dropped column n
        m[rows, cols] = True
        return m[:, :n].contiguous()

    def to_json(self) -> dict:
        return {"pattern": self.kind, "param": self.param}

    def __str__(self) -> str:
        return self.kind if self.param == 0 else f"{self.kind}{self.param}"


@lru_cache(maxsize=65536)
def _read_set(kind: str, p: int, t: int) -> tuple[int, ...]:
    if t <= 0:
        return ()
    if kind == "dense":
        return tuple(range(t))
    if kind in ("window", "order"):
        return tuple(range(max(0, t - p), t))
    nl = n_levels_at(kind, p, t)
    if kind in ("pow2", "sq1"):
        pos = {t - f_level(kind, k) for k in range(nl)}
    else:  # lattice
        a = lattice_steps(kind, max(nl, 1))
        pos = {a[k] * ceil_div(t + 1 - f_level(kind, k), a[k]) - 1 for k in range(nl)}
    return tuple(sorted(pos))


@lru_cache(maxsize=256)
def _index_table(kind: str, p: int, n: int):
    rows = [_read_set(kind, p, t) for t in range(n)]
    width = max([1] + [len(r) for r in rows])
    idx, valid = [], []
    for r in rows:
        idx.extend(list(r) + [0] * (width - len(r)))
        valid.extend([True] * len(r) + [False] * (width - len(r)))
    return idx, valid


def parse_pattern(kind: str, param: int = 0) -> Pattern:
    return Pattern(kind, int(param))
