"""Every (pattern, form) mixer: the naive step loop (evicted slots NaN-poisoned) == the parallel form."""
import pytest
import torch

from glmix_models import mixers
from glmix_models.mixers import StepCache, apply_rope, mix_gather, mix_matrix, mix_parallel, mix_step
from glmix_models.patterns import Pattern

PATTERNS = [Pattern("dense"), Pattern("window", 4), Pattern("order", 1), Pattern("order", 3), Pattern("pow2"),
            Pattern("pow2_lattice"), Pattern("sq1"), Pattern("sq1_lattice"), Pattern("pow2", 3),
            Pattern("sq1_lattice", 4)]
PAIRS = [(p, f) for p in PATTERNS for f in ("attention", "recurrent", "chained")] + [
    (Pattern("order", 1), "state_space"), (Pattern("pow2_lattice"), "state_space"),
    (Pattern("pow2_lattice", 3), "state_space")]
N_LEVEL_WEIGHTS = 4  # fewer than the 9 levels at n = 300: the last weight is shared
LENGTHS = [1, 2, 7, 64, 300]
TOL = {torch.float64: 1e-5, torch.float32: 2e-4}  # f64: the spec's 1e-5 (we see ~1e-15); f32: looser


def inputs(n, dtype, seed, B=2, H=2, Hkv=2, d=8):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, n, d, generator=g, dtype=torch.float64)
    k = torch.randn(B, Hkv, n, d, generator=g, dtype=torch.float64)
    v = torch.randn(B, Hkv, n, d, generator=g, dtype=torch.float64)
    gamma = torch.rand(H, generator=g, dtype=torch.float64) * 0.98 + 0.01
    decay = torch.rand(B, H, n, d, generator=g, dtype=torch.float64) * 0.5 + 0.5
    lam = torch.rand(B, H, n, N_LEVEL_WEIGHTS, generator=g, dtype=torch.float64)
    pos = torch.arange(n)
    q, k = apply_rope(q, pos, "rope_interleaved", 10000.0), apply_rope(k, pos, "rope_interleaved", 10000.0)
    return [x.to(dtype) for x in (q, k, v, gamma, decay, lam)]


CASES = [(p, f, n, dt) for p, f in PAIRS for n, dt in [(n, torch.float64) for n in LENGTHS]
         + [(7, torch.float32), (300, torch.float32)]]


@pytest.mark.parametrize("pattern,form,n,dtype", CASES, ids=[f"{p}-{f}-{n}-{str(d)[6:]}" for p, f, n, d in CASES])
def test_step_equals_parallel(pattern, form, n, dtype):
    q, k, v, gamma, decay, lam = inputs(n, dtype, seed=n)
    a = mix_step(form, pattern, q, k, v, gamma, decay, lam)
    b = mix_parallel(form, pattern, q, k, v, gamma, decay, lam)
    assert not torch.isnan(a).any(), "step form read an evicted (NaN) slot"
    assert torch.allclose(a, b, atol=TOL[dtype], rtol=0), (a - b).abs().max()


@pytest.mark.parametrize("pattern", [Pattern("dense"), Pattern("window", 4), Pattern("pow2_lattice")])
def test_grouped_query_attention(pattern):
    q, k, v, gamma, decay, _ = inputs(33, torch.float64, seed=3, H=4, Hkv=2)
    a = mix_step("attention", pattern, q, k, v)
    b = mix_parallel("attention", pattern, q, k, v)
    assert torch.allclose(a, b, atol=1e-10)


def test_cache_size_and_poisoning():
    """The lattice cache holds exactly R(t+1) after step t, and an evicted slot really is NaN."""
    p = Pattern("pow2_lattice")
    n = 200
    q, k, v, gamma, *_ = inputs(n, torch.float64, seed=5)
    c = StepCache("chained", p, 2, 2, 2, 8, n, torch.float64)
    for t in range(n):
        c.step(q[:, :, t], k[:, :, t], v[:, :, t], gamma)
        assert c.live == p.read_set(t + 1)
        dead = [j for j in range(t + 1) if j not in set(c.live)]
        if dead:
            assert torch.isnan(c.K[:, :, dead]).all() and torch.isnan(c.O[:, :, dead]).all()
    assert len(c.live) <= 9  # O(log n)


def test_poison_is_detected():
    """Sanity of the harness: a cache that evicts one step too early makes the output NaN."""

    class Early(Pattern):
        def live_after(self, t):
            return super().live_after(t)[1:]

    q, k, v, gamma, *_ = inputs(20, torch.float64, seed=7)
    out = mix_step("recurrent", Early("order", 3), q, k, v)
    assert torch.isnan(out).any()


def test_recurrence_is_stable():
    """Rows of B sum to < 1: outputs stay bounded by max |v| on a long sequence."""
    q, k, v, gamma, *_ = inputs(300, torch.float64, seed=9)
    for p in (Pattern("pow2"), Pattern("sq1_lattice"), Pattern("dense")):
        for form in ("recurrent", "chained"):
            y = mix_parallel(form, p, q, k, v, gamma)
            assert y.abs().max() <= v.abs().max() + 1e-9


@pytest.mark.parametrize("kind", ["rope_interleaved", "rope_half"])
def test_rope_pairs(kind):
    x = torch.randn(1, 1, 5, 8, dtype=torch.float64)
    y = apply_rope(x, torch.arange(5), kind, 10000.0)
    if kind == "rope_interleaved":
        nx, ny = x.view(1, 1, 5, 4, 2).norm(dim=-1), y.view(1, 1, 5, 4, 2).norm(dim=-1)
    else:
        nx = (x[..., :4] ** 2 + x[..., 4:] ** 2).sqrt()
        ny = (y[..., :4] ** 2 + y[..., 4:] ** 2).sqrt()
    assert torch.allclose(nx, ny)  # rotations within the pairs preserve their norms
    assert torch.allclose(x[:, :, 0], y[:, :, 0])  # position 0 is not rotated
    # pair 0 rotates by exactly t radians (theta^0 = 1)
    t = 3
    if kind == "rope_interleaved":
        a, b = x[0, 0, t, 0], x[0, 0, t, 1]
        ya = y[0, 0, t, 0]
    else:
        a, b = x[0, 0, t, 0], x[0, 0, t, 4]
        ya = y[0, 0, t, 0]
    assert torch.allclose(ya, a * torch.cos(torch.tensor(3.0, dtype=torch.float64)) - b * torch.sin(
        torch.tensor(3.0, dtype=torch.float64)))


def loglinear_direct(pattern, q, k, v, decay, lam):
    """The spec's sum, one (t, s) pair at a time: level_t(s) = |{j in R(t) ∪ {t}: j >= s}| - 1."""
    B, H, n, d = q.shape
    L = lam.shape[-1]
    o = torch.zeros_like(q)
    for t in range(n):
        cut = pattern.read_set(t) + [t]
        for s in range(t + 1):
            level = sum(j >= s for j in cut) - 1
            D = decay[:, :, s + 1:t + 1].prod(dim=2)  # [B, H, d]
            w = lam[:, :, t, min(level, L - 1)] * (q[:, :, t] * D * k[:, :, s]).sum(-1)
            o[:, :, t] += w.unsqueeze(-1) * v[:, :, s]
    return o / d ** 0.5


@pytest.mark.parametrize("pattern", [Pattern("pow2_lattice"), Pattern("pow2_lattice", 2)])
def test_loglinear_equals_its_direct_sum(pattern):
    q, k, v, gamma, decay, lam = inputs(40, torch.float64, seed=11)
    want = loglinear_direct(pattern, q, k, v, decay, lam)
    assert torch.allclose(mix_parallel("state_space", pattern, q, k, v, decay=decay, level_weights=lam), want,
                          atol=1e-12)
    assert torch.allclose(mix_step("state_space", pattern, q, k, v, decay=decay, level_weights=lam), want,
                          atol=1e-12)


def test_loglinear_with_unit_level_weights_is_first_order_state_space():
    """All lambda = 1: the segments add back up to the one GLA state of (order 1, state_space)."""
    q, k, v, gamma, decay, lam = inputs(64, torch.float64, seed=12)
    ones = torch.ones_like(lam)
    a = mix_parallel("state_space", Pattern("pow2_lattice"), q, k, v, decay=decay, level_weights=ones)
    b = mix_parallel("state_space", Pattern("order", 1), q, k, v, decay=decay)
    assert torch.allclose(a, b, atol=1e-12)


def test_loglinear_state_count_and_poisoning():
    """One segment state per cached lattice position (O(log n)); dropped segments are NaN."""
    p = Pattern("pow2_lattice")
    n = 200
    q, k, v, gamma, decay, lam = inputs(n, torch.float64, seed=13)
    c = StepCache("state_space", p, 2, 2, 2, 8, n, torch.float64)
    for t in range(n):
        c.step(q[:, :, t], k[:, :, t], v[:, :, t], None, decay[:, :, t], lam[:, :, t])
        assert c.live == p.read_set(t + 1)
        dead = [j for j in range(t + 1) if j not in set(c.live)]
        assert not torch.isnan(c.Seg[:, :, c.live]).any()
        if dead:
            assert torch.isnan(c.Seg[:, :, dead]).all()
    assert len(c.live) <= 8


@pytest.mark.parametrize("pattern,form", [(Pattern("pow2_lattice"), "state_space"),
                                          (Pattern("order", 1), "state_space"),
                                          (Pattern("pow2_lattice"), "recurrent")])
def test_gradients_flow_through_the_parallel_form(pattern, form):
    q, k, v, gamma, decay, lam = inputs(64, torch.float32, seed=14)
    xs = [x.clone().requires_grad_(True) for x in (q, k, v, gamma, decay, lam)]
    out = mix_parallel(form, pattern, *xs)
    out.square().sum().backward()
    used = {"state_space": (0, 1, 2, 4, 5) if pattern.kind == "pow2_lattice" else (0, 1, 2, 4),
            "recurrent": (0, 1, 2)}[form]
    for i in used:
        g = xs[i].grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, i


def test_state_space_rejects_undefined_patterns():
    q, k, v, gamma, decay, lam = inputs(5, torch.float64, seed=15)
    for p in (Pattern("sq1_lattice"), Pattern("pow2"), Pattern("order", 2), Pattern("dense")):
        with pytest.raises(ValueError, match="state_space"):
            mix_parallel("state_space", p, q, k, v, decay=decay, level_weights=lam)


# ---- the fast training forms == the matrix form (f32, 1e-5 relative) -------------------------------------------
SPARSE = [p for p in PATTERNS if p.kind != "dense"]
FAST = [(p, f) for p in SPARSE for f in ("attention", "recurrent", "chained")] + [
    (Pattern("order", 1), "state_space"), (Pattern("pow2_lattice"), "state_space"),
    (Pattern("pow2_lattice", 3), "state_space")]
FAST_LENGTHS = [1, 2, 3, 17, 64, 65, 300]


def fast_form(form, pattern, chunk, *args):
    q, k, v, gamma, decay, lam = args
    if form == "state_space" and pattern.kind == "pow2_lattice":
        return mixers._loglinear_chunked(pattern, q, k, v, decay, lam, chunk=chunk)
    if form == "state_space":
        return mixers._state_space_chunked(q, k, v, decay, chunk=chunk)
    return mix_gather(form, pattern, q, k, v, gamma, chunk=chunk)


def rel_err(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp(min=1e-30)).item()


def check_fast(pattern, form, n, chunk, B=2):
    """The fast form in f32 within 1e-5 (relative to the largest output) of the matrix form on the same
    inputs, the reference computed in f64 (at n = 1,536 the f32 matrix form itself is ~1e-5 off: its decays
    are differences of long cumulative sums); and in f64 equal to it to rounding."""
    args = inputs(n, torch.float32, seed=100 + n, B=B)
    want = mix_matrix(form, pattern, *[x.double() for x in args])
    got = fast_form(form, pattern, chunk, *args)
    assert got.dtype == torch.float32 and got.shape == want.shape and not torch.isnan(got).any()
    assert rel_err(got, want) < 1e-5, rel_err(got, want)
    exact = fast_form(form, pattern, chunk, *[x.double() for x in args])
    assert rel_err(exact, want) < 1e-11, rel_err(exact, want)


FAST_CASES = [(p, f, n, c) for p, f in FAST for n in FAST_LENGTHS for c in (16, 64)]


@pytest.mark.parametrize("pattern,form,n,chunk", FAST_CASES, ids=[f"{p}-{f}-{n}-c{c}" for p, f, n, c in FAST_CASES])
def test_fast_form_equals_matrix_form(pattern, form, n, chunk):
    check_fast(pattern, form, n, chunk)


@pytest.mark.parametrize("pattern,form", [(Pattern("pow2_lattice"), "chained"), (Pattern("sq1"), "recurrent"),
                                          (Pattern("window", 4), "attention"), (Pattern("order", 1), "state_space"),
                                          (Pattern("pow2_lattice"), "state_space")])
def test_fast_form_equals_matrix_form_long(pattern, form):
    check_fast(pattern, form, 1536, 64, B=1)


def test_training_uses_the_fast_forms(monkeypatch):
    """mix_parallel (what the model trains with) goes through the fast forms: the state-space ones always,
    the gathered one for sparse patterns from GATHER_FROM positions on."""
    calls = []
    for name in ("mix_gather", "_state_space_chunked", "_loglinear_chunked", "mix_matrix"):
        f = getattr(mixers, name)
        monkeypatch.setattr(mixers, name, lambda *a, _f=f, _n=name, **kw: (calls.append(_n), _f(*a, **kw))[1])
    args = inputs(9, torch.float32, seed=1, B=1, H=1, Hkv=1)
    mix_parallel("recurrent", Pattern("pow2_lattice"), *args)
    mix_parallel("state_space", Pattern("order", 1), *args)
    mix_parallel("state_space", Pattern("pow2_lattice"), *args)
    mix_parallel("chained", Pattern("dense"), *args)
    long = inputs(mixers.GATHER_FROM, torch.float32, seed=1, B=1, H=1, Hkv=1)
    mix_parallel("chained", Pattern("sq1_lattice"), *long)
    assert calls == ["mix_matrix", "_state_space_chunked", "_loglinear_chunked", "mix_matrix", "mix_gather"]


# ---- level-aware coefficients: step == matrix == gathered form -------------------------------------------------
LA_PATTERNS = [Pattern("pow2"), Pattern("pow2_lattice"), Pattern("sq1"), Pattern("sq1_lattice"), Pattern("order", 4),
               Pattern("window", 4), Pattern("pow2", 3)]
LA_PAIRS = [(p, f) for p in LA_PATTERNS for f in ("recurrent", "chained")]
LA_LEVELS = 5  # fewer than the levels at n = 300 on the level patterns: the last bias is shared
LA_CASES = [(p, f, n, dt) for p, f in LA_PAIRS for n, dt in [(n, torch.float64) for n in (1, 2, 17, 300)]
            + [(17, torch.float32), (300, torch.float32)]]


def la_inputs(n, dtype, seed, B=2, H=2):
    q, k, v, gamma, _, _ = inputs(n, dtype, seed, B=B, H=H, Hkv=H)
    g = torch.Generator().manual_seed(seed + 1)
    level_bias = (torch.randn(H, LA_LEVELS, generator=g, dtype=torch.float64) * 2.0).to(dtype)
    gate = torch.rand(B, H, n, generator=g, dtype=torch.float64).to(dtype)
    return q, k, v, gamma, level_bias, gate


@pytest.mark.parametrize("pattern,form,n,dtype", LA_CASES, ids=[f"{p}-{f}-{n}-{str(d)[6:]}" for p, f, n, d in LA_CASES])
def test_level_aware_step_equals_matrix_and_gather(pattern, form, n, dtype):
    q, k, v, gamma, lb, gate = la_inputs(n, dtype, seed=n)
    a = mix_step(form, pattern, q, k, v, gamma, level_bias=lb, gate=gate)
    assert not torch.isnan(a).any(), "step form read an evicted (NaN) slot"
    for b in (mix_matrix(form, pattern, q, k, v, gamma, level_bias=lb, gate=gate),
              mix_parallel(form, pattern, q, k, v, gamma, level_bias=lb, gate=gate),
              mix_gather(form, pattern, q, k, v, gamma, chunk=16, level_bias=lb, gate=gate),
              mix_gather(form, pattern, q, k, v, gamma, chunk=64, level_bias=lb, gate=gate)):
        assert torch.allclose(a, b, atol=TOL[dtype], rtol=0), (a - b).abs().max()


def level_aware_direct(form, pattern, q, k, v, gamma, lb, gate):
    """The module doc's formulas, one position and one head at a time, levels from ``read_set`` ranks."""
    B, H, n, d = q.shape
    L = lb.shape[-1]
    o = torch.zeros_like(q)
    for t in range(n):
        R = sorted(pattern.read_set(t), reverse=True)  # most recent first: index = level
        for b in range(B):
            for h in range(H):
                s = [q[b, h, t] @ k[b, h, j] / d ** 0.5 + lb[h, min(i, L - 1)] for i, j in enumerate(R)]
                if form == "recurrent":
                    if not R:
                        o[b, h, t] = v[b, h, t]
                        continue
                    c = torch.softmax(torch.stack(s), 0)
                    a = gate[b, h, t]
                    o[b, h, t] = a * v[b, h, t] + (1 - a) * sum(c[i] * o[b, h, j] for i, j in enumerate(R))
                else:
                    p = torch.softmax(torch.stack([q[b, h, t] @ k[b, h, t] / d ** 0.5] + s), 0)
                    g = gamma[h]
                    av = p[0] * v[b, h, t] + sum(p[i + 1] * v[b, h, j] for i, j in enumerate(R))
                    ao = sum(p[i + 1] * o[b, h, j] for i, j in enumerate(R)) if R else 0.0
                    o[b, h, t] = ((1 - g) * av + g * ao) / (1 - g * p[0])
    return o


@pytest.mark.parametrize("pattern,form", [(Pattern("pow2_lattice"), "recurrent"), (Pattern("sq1_lattice"), "chained"),
                                          (Pattern("order", 4), "recurrent")])
def test_level_aware_equals_its_direct_formula(pattern, form):
    q, k, v, gamma, lb, gate = la_inputs(40, torch.float64, seed=21, B=1)
    want = level_aware_direct(form, pattern, q, k, v, gamma, lb, gate)
    got = mix_parallel(form, pattern, q, k, v, gamma, level_bias=lb, gate=gate)
    assert torch.allclose(got, want, atol=1e-10), (got - want).abs().max()


def test_read_levels_are_lattice_levels():
    """On the 2^k lattice the rank by recency is the lattice level k (distance in (2^(k-1), 2^k]); on the exact
    2^k pattern the read at distance 2^k has level k."""
    for kind in ("pow2_lattice", "pow2"):
        p = Pattern(kind)
        idx, valid = p.index_table(300)
        lev = mixers.read_levels(valid.sum(-1), idx.shape[1], 100)
        for t in range(300):
            for r in range(int(valid[t].sum())):
                dist, k = t - int(idx[t, r]), int(lev[t, r])
                assert (dist == 1 << k) if kind == "pow2" else ((1 << k) // 2 < dist <= 1 << k), (t, dist, k)


def test_level_aware_zero_bias_chained_is_chained():
    q, k, v, gamma, lb, gate = la_inputs(70, torch.float64, seed=22)
    for p in (Pattern("pow2_lattice"), Pattern("sq1")):
        a = mix_parallel("chained", p, q, k, v, gamma, level_bias=torch.zeros_like(lb))
        assert torch.allclose(a, mix_parallel("chained", p, q, k, v, gamma), atol=1e-12)


def test_level_aware_is_refused_where_undefined():
    q, k, v, gamma, lb, gate = la_inputs(5, torch.float64, seed=23)
    for p, f in [(Pattern("dense"), "recurrent"), (Pattern("dense"), "chained"), (Pattern("pow2"), "attention"),
                 (Pattern("pow2_lattice"), "state_space")]:
        with pytest.raises(ValueError, match="level_aware"):
            mix_parallel(f, p, q, k, v, gamma, level_bias=lb, gate=gate)
    with pytest.raises(ValueError, match="gate"):
        mix_parallel("recurrent", Pattern("pow2"), q, k, v, level_bias=lb)


def test_level_aware_gradients_flow():
    q, k, v, gamma, lb, gate = la_inputs(64, torch.float32, seed=24)
    for form in ("recurrent", "chained"):
        xs = [x.clone().requires_grad_(True) for x in (q, k, v, gamma, lb, gate)]
        for fn in (mix_matrix, mix_gather):
            for x in xs:
                x.grad = None
            fn(form, Pattern("pow2_lattice"), *xs[:4], level_bias=xs[4], gate=xs[5]).square().sum().backward()
            for i in (0, 1, 2, 4) + ((5,) if form == "recurrent" else (3,)):
                g = xs[i].grad
                assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, (form, fn, i)


@pytest.mark.parametrize("pattern,form", [(Pattern("pow2_lattice"), "recurrent"), (Pattern("sq1_lattice"), "chained")])
def test_level_aware_training_form_long(pattern, form):
    """mix_parallel at a length where it takes the gathered form, in f32, within 1e-5 (relative to the largest
    output) of the f64 matrix form."""
    n = mixers.GATHER_FROM + 88
    q, k, v, gamma, lb, gate = la_inputs(n, torch.float32, seed=25, B=1)
    want = mix_matrix(form, pattern, *[x.double() for x in (q, k, v, gamma)], level_bias=lb.double(),
                      gate=gate.double())
    got = mix_parallel(form, pattern, q, k, v, gamma, level_bias=lb, gate=gate)
    assert got.dtype == torch.float32 and rel_err(got, want) < 1e-5, rel_err(got, want)
