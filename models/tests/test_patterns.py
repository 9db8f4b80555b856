"""Pattern properties: R(t) definitions, lattice closure, distance bounds, live sets."""
import pytest

from glmix_models.patterns import Pattern, f_level, lattice_steps, n_levels_at

N = 3000


def test_lattice_steps_match_brief():
    assert lattice_steps("pow2", 6) == (1, 1, 2, 4, 8, 16)
    assert lattice_steps("sq1", 8) == (1, 1, 3, 6, 12, 12, 12, 24)


def test_brief_distances_pow2_lattice():
    # BRIEF: 1-based i = 1000 -> distances {1,2,4,8,16,24,40,104,232,488}; 0-based t = 999
    t = 999
    assert sorted(t - j for j in Pattern("pow2_lattice").read_set(t)) == [1, 2, 4, 8, 16, 24, 40, 104, 232, 488]


@pytest.mark.parametrize("t,count", [(999, 10), (4095, 12)])
def test_brief_cache_counts_pow2(t, count):
    assert len(Pattern("pow2_lattice").read_set(t)) == count


def test_brief_cache_counts_sq1():
    assert len(Pattern("sq1_lattice").read_set(999)) == 24
    assert len(Pattern("sq1_lattice").read_set(4095)) == 47


@pytest.mark.parametrize("kind,cap", [("pow2_lattice", 0), ("sq1_lattice", 0), ("pow2_lattice", 3),
                                      ("sq1_lattice", 4), ("pow2_lattice", 1)])
def test_lattice_closure(kind, cap):
    p = Pattern(kind, cap)
    for t in range(N):
        assert set(p.read_set(t + 1)) <= set(p.read_set(t)) | {t}, t


@pytest.mark.parametrize("kind", ["pow2_lattice", "sq1_lattice"])
def test_lattice_distances(kind):
    base = kind.split("_")[0]
    for t in range(N):
        nl = n_levels_at(base, 0, t)
        a = lattice_steps(base, max(nl, 1))
        got = set()
        for k in range(nl):
            j = a[k] * -(-(t + 1 - f_level(base, k)) // a[k]) - 1
            assert f_level(base, k) - a[k] < t - j <= f_level(base, k)
            assert 0 <= j < t
            got.add(j)
        assert sorted(got) == Pattern(kind).read_set(t)


def test_exact_patterns():
    for t in range(300):
        assert Pattern("dense").read_set(t) == list(range(t))
        assert Pattern("window", 4).read_set(t) == list(range(max(0, t - 4), t))
        assert Pattern("order", 3).read_set(t) == list(range(max(0, t - 3), t))
        assert Pattern("pow2").read_set(t) == sorted({t - 2 ** k for k in range(12) if 2 ** k <= t})
        assert Pattern("sq1").read_set(t) == sorted({t - (k * k + 1) for k in range(20) if k * k + 1 <= t})
        assert Pattern("pow2", 3).read_set(t) == sorted({t - 2 ** k for k in range(3) if 2 ** k <= t})


@pytest.mark.parametrize("p", [Pattern("dense"), Pattern("window", 4), Pattern("order", 1), Pattern("pow2"),
                               Pattern("pow2", 4), Pattern("sq1", 3), Pattern("pow2_lattice"),
                               Pattern("sq1_lattice"), Pattern("sq1_lattice", 5)])
def test_live_after_is_exactly_what_the_future_reads(p):
    n = 400
    for t in range(n - 1):
        future = set()
        for u in range(t + 1, n):
            future |= {j for j in p.read_set(u) if j <= t}
        live = set(p.live_after(t))
        assert future <= live
        if p.kind.endswith("lattice") or p.kind in ("window", "order"):
            assert live == future  # the cache keeps nothing that is never read again


def test_index_table_and_read_matrix():
    for p in [Pattern("pow2_lattice"), Pattern("sq1"), Pattern("dense")]:
        idx, valid = p.index_table(50)
        m = p.read_matrix(50)
        for t in range(50):
            r = p.read_set(t)
            assert idx[t][valid[t]].tolist() == r
            assert m[t].nonzero().flatten().tolist() == r
