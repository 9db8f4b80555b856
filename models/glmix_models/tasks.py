"""Seeded synthetic tasks (copy, associative recall, multi-hop), reproducible in any language.

Tasks (``TASKS``; layouts in models/README.md): ``copy`` (the copy distance varies per sample),
``copy-fixed`` (the original copy: every answer exactly n + 1 positions back), ``recall`` (MQAR),
``multihop`` (pointer chasing, every hop fed and supervised), ``multihop-hidden`` (variable chains in causal
order, only the end of a chain asked for).

PRNG: splitmix64 (Steele, Lea, Flood 2014), 64-bit wrapping arithmetic:

    state += 0x9E3779B97F4A7C15
    z = state
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    return z ^ (z >> 31)

``below(m) = next() % m`` (the modulo bias, < 2^-50 for our m, is part of the definition).
``choose(m, c)``: the first c entries of a partial Fisher-Yates shuffle of [0, m):
``p = [0..m); for i in 0..c: j = i + below(m - i); swap(p[i], p[j])``; returns p[0..c].
``shuffle(list)``: full Fisher-Yates, ``for i in len-1 down to 1: j = below(i + 1); swap(x[i], x[j])``.

A stream with seed s is one ``SplitMix64(s)``; examples are drawn one after the other from it (example i
consumes the draws after example i-1). Each example is ``(tokens, mask)``; the model reads
``tokens[:-1]`` and predicts ``tokens[1:]``; the loss and the accuracy count the positions where
``mask[1:]`` is true (mask[i] marks token i as an answer). The exact layouts are in models/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, m: int) -> int:
        return self.next() % m

    def choose(self, m: int, c: int) -> list[int]:
        """The partial Fisher-Yates of the module doc, with the permutation held sparsely (only the swapped
        slots, O(c) instead of O(m): recall draws from 4,096 keys). Equal to ``choose_dense`` (its twin)."""
        p: dict[int, int] = {}
        for i in range(c):
            j = i + self.below(m - i)
            p[i], p[j] = p.get(j, j), p.get(i, i)
        return [p.get(i, i) for i in range(c)]

    def choose_dense(self, m: int, c: int) -> list[int]:
        """The definition as written: a full list of m entries."""
        p = list(range(m))
        for i in range(c):
            j = i + self.below(m - i)
            p[i], p[j] = p[j], p[i]
        return p[:c]

    def shuffle(self, x: list) -> None:
        for i in range(len(x) - 1, 0, -1):
            j = self.below(i + 1)
            x[i], x[j] = x[j], x[i]


@dataclass
class Copy:
    """Copy over a per-sample distance. Symbols [0, vocab), SEP = vocab, BLANK = vocab + 1.

    g = below(max_gap + 1); x_i = below(vocab) for i < n; tokens = [BLANK] * (max_gap - g) ++ x ++ [BLANK] * g
    ++ [SEP] ++ x. Length 2n + 1 + max_gap; answers: the last n. The copy distance n + 1 + g varies with the
    sample (defaults: 65 .. 96, never a power of two), so no fixed offset reads every answer in one hop."""
    n: int = 64
    vocab: int = 32
    max_gap: int = 31

    @property
    def vocab_size(self) -> int:
        return self.vocab + 2

    @property
    def length(self) -> int:
        return 2 * self.n + 1 + self.max_gap

    def sample(self, rng: SplitMix64):
        g = rng.below(self.max_gap + 1)
        x = [rng.below(self.vocab) for _ in range(self.n)]
        blank = self.vocab + 1
        toks = [blank] * (self.max_gap - g) + x + [blank] * g + [self.vocab] + x
        mask = [False] * (self.n + 1 + self.max_gap) + [True] * self.n
        return toks, mask


@dataclass
class CopyFixed:
    """The original copy (before the gap): n random symbols in [0, vocab), SEP = vocab, then the same n
    symbols. Length 2n+1; answers: the last n, each exactly n + 1 positions after its source (65 by default:
    one hop for an exact pattern with that offset, which is why ``copy`` varies the distance)."""
    n: int = 64
    vocab: int = 32

    @property
    def vocab_size(self) -> int:
        return self.vocab + 1

    @property
    def length(self) -> int:
        return 2 * self.n + 1

    def sample(self, rng: SplitMix64):
        x = [rng.below(self.vocab) for _ in range(self.n)]
        toks = x + [self.vocab] + x
        mask = [False] * (self.n + 1) + [True] * self.n
        return toks, mask


@dataclass
class Recall:
    """MQAR: keys in [0, n_keys), values in [n_keys, n_keys + n_values), SEP = n_keys + n_values.

    keys = choose(n_keys, n_pairs); values[i] = n_keys + below(n_values) for each pair in order;
    sequence k_0 v_0 ... k_{P-1} v_{P-1} SEP, then for each of qi = choose(n_pairs, n_queries): k_qi v_qi.
    Answers: the values after SEP.

    Defaults: Zoology's MQAR (Arora et al. 2023, arXiv 2312.04927, Figure 2 and its configs): a vocabulary of
    8,192 split into keys and values, 16 key-value pairs, every pair queried once. (Zoology spreads the queries
    over a longer sequence at power-law gaps and draws distinct values; here they follow SEP back to back and
    values may repeat.)"""
    n_pairs: int = 16
    n_queries: int = 16
    n_keys: int = 4096
    n_values: int = 4096

    @property
    def vocab_size(self) -> int:
        return self.n_keys + self.n_values + 1

    @property
    def length(self) -> int:
        return 2 * self.n_pairs + 1 + 2 * self.n_queries

    def sample(self, rng: SplitMix64):
        keys = rng.choose(self.n_keys, self.n_pairs)
        vals = [self.n_keys + rng.below(self.n_values) for _ in range(self.n_pairs)]
        toks, mask = [], []
        for kk, vv in zip(keys, vals):
            toks += [kk, vv]
            mask += [False, False]
        toks.append(self.n_keys + self.n_values)
        mask.append(False)
        for qi in rng.choose(self.n_pairs, self.n_queries):
            toks += [keys[qi], vals[qi]]
            mask += [False, True]
        return toks, mask


@dataclass
class MultiHop:
    """Pointer chasing. Symbols [0, n_symbols), SEP = n_symbols.

    perm = choose(n_symbols, n_chains * (hops + 1)); chain c is perm[c*(hops+1) .. (c+1)*(hops+1)), a
    sequence s_0 -> s_1 -> ... -> s_hops. The hops*n_chains assignments (src, dst) are listed chain by chain,
    then shuffled (Fisher-Yates) and written as pairs "src dst". Then SEP, the start symbol of chain 0, and the
    walk s_1 .. s_hops of chain 0. Answers: the walk (the i-th answer needs i hops)."""
    n_symbols: int = 64
    n_chains: int = 4
    hops: int = 4

    @property
    def vocab_size(self) -> int:
        return self.n_symbols + 1

    @property
    def length(self) -> int:
        return 2 * self.n_chains * self.hops + 2 + self.hops

    def sample(self, rng: SplitMix64):
        L = self.hops + 1
        perm = rng.choose(self.n_symbols, self.n_chains * L)
        chains = [perm[c * L:(c + 1) * L] for c in range(self.n_chains)]
        pairs = [(ch[i], ch[i + 1]) for ch in chains for i in range(self.hops)]
        rng.shuffle(pairs)
        toks = [s for p in pairs for s in p] + [self.n_symbols, chains[0][0]] + chains[0][1:]
        mask = [False] * (len(toks) - self.hops) + [True] * self.hops
        return toks, mask


@dataclass
class MultiHopHidden:
    """Multi-hop with hidden hops (variable binding). Variables [0, n_vars), values [n_vars, n_vars +
    n_values), SEP = n_vars + n_values.

    vars = choose(n_vars, n_chains * max_depth); vals = choose(n_values, n_chains); d = min_depth +
    below(max_depth - min_depth + 1). Chain c has the variables u_1 .. u_L = vars[c*L .. (c+1)*L) (L =
    max_depth) and the assignments "u_1 (n_vars + vals[c])", then "u_k u_{k-1}" for k = 2..L (each written
    "assigned source": u_k takes u_{k-1}'s value). order = [0]*L ++ [1]*L ++ .. ++ [C-1]*L, shuffled; the i-th
    entry names the chain whose next assignment comes next, so every chain is in causal order and the chains
    interleave. Then SEP, u_d of chain 0, and its value (n_vars + vals[0]): the only answer, d lookups away.
    Length 2 * n_chains * max_depth + 3."""
    n_vars: int = 64
    n_values: int = 16
    n_chains: int = 4
    min_depth: int = 4
    max_depth: int = 8

    @property
    def vocab_size(self) -> int:
        return self.n_vars + self.n_values + 1

    @property
    def length(self) -> int:
        return 2 * self.n_chains * self.max_depth + 3

    def sample(self, rng: SplitMix64):
        L = self.max_depth
        var = rng.choose(self.n_vars, self.n_chains * L)
        vals = [self.n_vars + v for v in rng.choose(self.n_values, self.n_chains)]
        d = self.min_depth + rng.below(self.max_depth - self.min_depth + 1)
        order = [c for c in range(self.n_chains) for _ in range(L)]
        rng.shuffle(order)
        nxt = [0] * self.n_chains
        toks = []
        for c in order:
            k = nxt[c]
            nxt[c] += 1
            toks += [var[c * L + k], vals[c] if k == 0 else var[c * L + k - 1]]
        toks += [self.n_vars + self.n_values, var[d - 1], vals[0]]
        mask = [False] * (len(toks) - 1) + [True]
        return toks, mask


TASKS = {"copy": Copy, "copy-fixed": CopyFixed, "recall": Recall, "multihop": MultiHop,
         "multihop-hidden": MultiHopHidden}


class TaskStream:
    """Batches from one seeded stream: x [B, len-1], y [B, len-1], m [B, len-1] (bool: count in loss)."""

    def __init__(self, task, seed: int):
        self.task = task
        self.rng = SplitMix64(seed)

    def next_batch(self, batch: int, device="cpu"):
        toks, masks = zip(*[self.task.sample(self.rng) for _ in range(batch)])
        t = torch.tensor(toks, dtype=torch.int64)
        m = torch.tensor(masks, dtype=torch.bool)
        return t[:, :-1].to(device), t[:, 1:].to(device), m[:, 1:].to(device)
