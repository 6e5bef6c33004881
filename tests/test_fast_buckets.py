"""lfu and heavy_hitter's frequency buckets in the fast engine: exact against the reference where
ties and bucket growth are most frequent, and the bit sets rebuilt when the buckets grow."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from numba import njit

import kvexp.fast
import kvexp.fast.build
from kvexp.engine import Simulation
from kvexp.fast import buckets
from kvexp.fast.bits import bits_add, new_bits
from kvexp.policies.heavy_hitter import HeavyHitter
from kvexp.policies.lfu import LFU
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.prefetch.stride import StridePrefetch
from kvexp.quant import fp16
from kvexp.tiers import Tier
from kvexp.trace import PageTable, Trace

PREFETCHERS = {
    "none": lambda: None, "stride(4)": lambda: StridePrefetch(degree=4),
    "markov(4, 1)": lambda: MarkovPrefetch(degree=4, min_confidence=1),
}


def unit_trace(seed: int, n_pages: int, length: int, write_frac: float = 0.2) -> Trace:
    """Skewed reads and writes over equal-size pages, with runs of one page (self-transitions,
    so Markov may prefetch the page just read) and sequential stretches (stride hits)."""
    rng = np.random.default_rng(seed)
    page = np.minimum(rng.geometric(0.06, length) - 1, n_pages - 1)
    for start in rng.integers(0, length - 8, length // 50):
        page[start:start + 4] = page[start]  # a run of one page
        page[start + 4:start + 8] = (page[start] + np.arange(1, 5)) % n_pages  # then its next pages
    op = (rng.random(length) < write_frac).astype(np.uint8)
    return Trace(np.arange(length), page, op, PageTable.uniform(n_pages))


def stacks(trace: Trace) -> dict[str, tuple[Tier, ...]]:
    size = int(fp16().page_bytes(trace.pages.n_scalars[:1])[0])
    return {
        "1 page, 2 pages, 5 pages": (Tier("a", size, 0.02, 0.02, 80_000.0), Tier("b", 2 * size, 0.1, 0.1, 5_000.0),
                                     Tier("c", 5 * size, 1.0, 1.0, 100.0)),
        "3 pages, 9 pages": (Tier("a", 3 * size, 0.02, 0.02, 80_000.0), Tier("b", 9 * size, 0.4, 0.35, 8_000.0)),
        "one tier of 6 pages": (Tier("a", 6 * size, 0.02, 0.02, 80_000.0),),
    }


@pytest.mark.parametrize("seed", range(3))
def test_ties_writes_and_repeated_growth_match_reference(seed, monkeypatch):
    """Unit-size pages (many evictions in one row, so many pages share a ``last``), prefetch of
    degree 4 and writes; the buckets start at their smallest size and double many times."""
    grown = []
    real_grow = buckets.grow
    monkeypatch.setattr(buckets, "grow", lambda bk: grown.append(int(bk.top[1])) or real_grow(bk))
    monkeypatch.setattr(kvexp.fast.build, "first_hists", lambda page, n: buckets.ROW_GROWTH + 1)
    trace = unit_trace(seed, n_pages=30, length=3000)
    for make_policy, (pf, make_pf), (stack, tiers) in itertools.product(
            (LFU, HeavyHitter), PREFETCHERS.items(), stacks(trace).items()):
        grown.clear()
        ref = Simulation(tiers, make_policy(), make_pf()).run(trace)
        fast = kvexp.fast.run(trace, tiers, make_policy(), make_pf())
        label = f"{make_policy.__name__}/{pf}/{stack}"
        assert fast.metrics == ref.metrics, label
        assert np.array_equal(fast.served_by, ref.served_by), label
        assert len(grown) >= 4, label  # 3 -> 6 -> ... -> 48 at least
        assert ref.metrics["drops"] > 0, label


def test_default_first_size_needs_no_growth_without_prefetch(monkeypatch):
    grown = []
    monkeypatch.setattr(buckets, "grow", lambda bk: grown.append(1))
    trace = unit_trace(5, n_pages=30, length=2000)
    for make_policy, tiers in itertools.product((LFU, HeavyHitter), stacks(trace).values()):
        kvexp.fast.run(trace, tiers, make_policy())
    assert not grown


@njit(cache=True)
def _add_all(b, members):
    for r in range(len(members)):
        bits_add(b, members[r, 0], members[r, 1])


@pytest.mark.parametrize("small, large", [(3, 6), (64, 128), (65, 130), (4096, 8192), (5000, 400_000)])
def test_growing_keeps_the_tier_sets(small, large):
    rng = np.random.default_rng(small)
    members = np.stack([rng.integers(0, 3, 200), rng.integers(0, small, 200)], axis=1)
    old, expected = new_bits(3, small), new_bits(3, large)
    _add_all(old, members)
    _add_all(expected, members)
    assert np.array_equal(buckets._regrow(old, 3, large).words, expected.words)
