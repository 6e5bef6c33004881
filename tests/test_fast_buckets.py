"""The frequency buckets of lfu, heavy_hitter and windowed_recency in the fast engine: exact
against the reference where ties, bucket growth and (windowed) expiries far from a bucket's tail
are most frequent, the bit sets rebuilt when the buckets grow, and a bounded insert's walk."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from numba import njit

import kvexp.fast
import kvexp.fast.build
import kvexp.fast.driver
from kvexp.engine import Simulation
from kvexp.fast import buckets
from kvexp.fast.bits import bits_add, new_bits
from kvexp.policies.heavy_hitter import HeavyHitter
from kvexp.policies.lfu import LFU
from kvexp.policies.windowed_recency import WindowedRecency
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


@njit  # uncached: numba would not see the inlined kvexp.fast code change
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


def _bucket_order(bk, b) -> list[int]:
    """Pages of bucket index ``b`` from its head (oldest) on."""
    first = int(bk.head[b])
    if first < 0:
        return []
    order, x = [first], int(bk.link[first, buckets.NEXT])
    while x != first:
        order.append(x)
        x = int(bk.link[x, buckets.NEXT])
    return order


def test_bounded_insert_places_by_last_then_id_or_changes_nothing():
    st = np.zeros((12, 3), np.int64)
    bk = buckets.new_buckets(12, 1, 4)
    for p, last in [(1, 10), (2, 20), (3, 30), (4, 40), (5, 40)]:
        st[p, 1] = last
        assert buckets.bucket_insert(bk, 0, p, 1, last, st, 1, 0)  # each at the tail: no walk
    st[6, 1] = 15
    before = (bk.link.copy(), bk.head.copy())
    assert not buckets.bucket_insert(bk, 0, 6, 1, 15, st, 1, 2)  # its place is 4 pages back
    assert np.array_equal(bk.link, before[0]) and np.array_equal(bk.head, before[1])
    assert buckets.bucket_insert(bk, 0, 6, 1, 15, st, 1, 4)
    st[0, 1] = 40  # same last as pages 4 and 5, smaller id: goes before both
    assert buckets.bucket_insert(bk, 0, 0, 1, 40, st, 1, 2)
    st[7, 1] = 5  # older than every page: the new head
    assert buckets.bucket_insert(bk, 0, 7, 1, 5, st, 1, 12)
    assert _bucket_order(bk, 1) == [7, 1, 6, 2, 3, 0, 4, 5]


@pytest.mark.parametrize("window", [40, 400])
def test_wide_windows_use_the_overflow_heap_and_match_reference(window, monkeypatch):
    """With a window of many rows, a touch often leaves it while pages touched after the
    page's last sit ahead of it in its bucket: the page goes to the tier's overflow heap, and
    evictions must choose between heap roots and bucket heads exactly as the reference does."""
    heap_pages = []
    real_span = kvexp.fast.driver.run_span

    def span(*args):
        reached = real_span(*args)
        heap_pages.append(int(args[6].order.heaps.size.sum()))  # args[6]: the policy state
        return reached

    monkeypatch.setattr(kvexp.fast.driver, "run_span", span)
    trace = unit_trace(7, n_pages=150, length=4000)
    size = int(fp16().page_bytes(trace.pages.n_scalars[:1])[0])
    tiers = (Tier("a", 24 * size, 0.02, 0.02, 80_000.0), Tier("b", 60 * size, 0.4, 0.35, 8_000.0))
    for pf, make_pf in PREFETCHERS.items():
        heap_pages.clear()
        ref = Simulation(tiers, WindowedRecency(window), make_pf()).run(trace)
        fast = kvexp.fast.run(trace, tiers, WindowedRecency(window), make_pf(), observers=[lambda *_: None], every=25)
        assert fast.metrics == ref.metrics, pf
        assert np.array_equal(fast.served_by, ref.served_by), pf
        assert max(heap_pages) > 0, pf  # the overflow heap held pages at some point
