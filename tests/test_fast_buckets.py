"""The frequency buckets of lfu, heavy_hitter and windowed_recency in the fast engine: exact
against the reference where ties, bucket growth and (windowed) expiries far from a bucket's tail
are most frequent, the bit sets rebuilt when the buckets grow, and a bounded insert's walk."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numba import njit

import kvexp.fast
import kvexp.fast.build
import kvexp.fast.driver
from kvexp.engine import Simulation
from kvexp.fast import bucket_arrays, buckets
from kvexp.fast import window as window_mode
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
    real_grow = bucket_arrays.grow
    monkeypatch.setattr(bucket_arrays, "grow", lambda bk: grown.append(int(bk.ctl[bucket_arrays.N_HIST])) or real_grow(bk))
    monkeypatch.setattr(kvexp.fast.build, "first_hists", lambda page, n: bucket_arrays.ROW_GROWTH + 1)
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


def test_pool_bound_from_touches_holds(monkeypatch):
    """Many pages and few rows: the pool is sized by the touch bound on buckets with a page
    (not by the page or bucket count), and the chunks in use never pass it."""
    states = []
    real_span = kvexp.fast.driver.run_span
    monkeypatch.setattr(kvexp.fast.driver, "run_span", lambda *args: states.append(args[6]) or real_span(*args))
    trace = unit_trace(3, n_pages=3000, length=2000, write_frac=0.0)
    size = int(fp16().page_bytes(trace.pages.n_scalars[:1])[0])
    tiers = (Tier("a", 40 * size, 0.02, 0.02, 80_000.0), Tier("b", 400 * size, 0.4, 0.35, 8_000.0),
             Tier("c", 4000 * size, 1.0, 1.0, 100.0))
    for make_policy in (LFU, HeavyHitter, lambda: WindowedRecency(400)):
        states.clear()
        ref = Simulation(tiers, make_policy()).run(trace)
        assert kvexp.fast.run(trace, tiers, make_policy()).metrics == ref.metrics
        bk = states[-1].buckets
        by_touches = 3 * (math.isqrt(2 * len(trace)) + 2)
        assert by_touches < min(3000, len(bk.hrow))  # the touch bound is the one that binds
        assert len(bk.hdr) == by_touches + 1
        assert bk.ctl[bucket_arrays.CAP] == -(-3 * 3000 // bucket_arrays.CH) + 4 * (by_touches + 1) + 1
        assert 0 < bk.ctl[bucket_arrays.BUMP] <= bk.ctl[bucket_arrays.CAP]  # BUMP: the most chunks ever in use


def test_default_first_size_needs_no_growth_without_prefetch(monkeypatch):
    grown = []
    monkeypatch.setattr(bucket_arrays, "grow", lambda bk: grown.append(1))
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
    assert np.array_equal(bucket_arrays._regrow(old, 3, large).words, expected.words)


def _bucket_order(bk, i) -> list[int]:
    """Live pages of bucket ``i`` (hist * n_tiers + tier) from its head (oldest) on."""
    b = int(bk.hrow[i])
    if b < 0:
        return []
    order, s, tail = [], int(bk.hdr[b, bucket_arrays.HD]), int(bk.hdr[b, bucket_arrays.TL])
    while True:
        p = int(bk.ent[s, 0])
        if bk.pst[p, bucket_arrays.STAMP] == s:
            order.append(p)
        if s == tail:
            return order
        s = s + 1 if (s + 1) % bucket_arrays.CH else int(bk.cnext[s // bucket_arrays.CH]) * bucket_arrays.CH


def test_bounded_insert_places_by_last_then_id_or_changes_nothing():
    bk = bucket_arrays.new_buckets(12, 1, 4, 100)
    for p, last in [(1, 10), (2, 20), (3, 30), (4, 40), (5, 40)]:
        assert buckets.bucket_insert(bk, 0, p, 1, last, 0)  # each at the tail: no walk
    before = [a.copy() for a in (bk.ent, bk.hrow, bk.hdr, bk.pst, bk.ctl)]
    assert not buckets.bucket_insert(bk, 0, 6, 1, 15, 2)  # its place is 4 entries back
    assert all(np.array_equal(a, b) for a, b in zip((bk.ent, bk.hrow, bk.hdr, bk.pst, bk.ctl), before))
    assert buckets.bucket_insert(bk, 0, 6, 1, 15, 4)
    assert buckets.bucket_insert(bk, 0, 0, 1, 40, 2)  # same last as pages 4 and 5, smaller id: before both
    assert buckets.bucket_insert(bk, 0, 7, 1, 5, 12)  # older than every page: the new head
    assert _bucket_order(bk, 1) == [7, 1, 6, 2, 3, 0, 4, 5]  # 8 entries: across a chunk boundary
    buckets.bucket_remove(bk, 0, 6, 1)  # dead where it stands, and passed by a walk like any entry
    assert not buckets.bucket_insert(bk, 0, 8, 1, 12, 5)
    assert buckets.bucket_insert(bk, 0, 8, 1, 12, 6)
    assert _bucket_order(bk, 1) == [7, 1, 8, 2, 3, 0, 4, 5]
    assert buckets.bucket_peek(bk, 0) == (7, 1)


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


def test_sort_zero_moves_counted_pages_to_their_buckets_in_order():
    """windowed_recency's one switch to count order: bucket 0 (every page, by last) keeps the
    pages with count 0; each other page joins its count's bucket, in bucket 0's order, including
    across chunks and past dead entries; a bucket 0 left with no page is closed."""
    bk = bucket_arrays.new_buckets(40, 2, 8, 1000)
    counts = {p: (0, 2, 1, 0, 3, 1, 2, 0)[p % 8] for p in range(20)}
    for p in range(20):
        bk.pst[p, bucket_arrays.COUNT] = counts[p]
        assert buckets.bucket_insert(bk, 1, p, 0, 100 + p // 2, 0)  # tier 1; pairs share a last
    buckets.bucket_remove(bk, 1, 9, 0)  # a dead entry in the middle
    assert buckets.bucket_insert(bk, 0, 30, 0, 5, 0)  # tier 0: a page with count 0 only
    buckets.bucket_sort_zero(bk, 1)
    for h in range(4):
        assert _bucket_order(bk, 2 * h + 1) == [p for p in range(20) if p != 9 and counts[p] == h], h
    buckets.bucket_sort_zero(bk, 0)
    assert _bucket_order(bk, 0) == [30]
    only_counted = bucket_arrays.new_buckets(4, 1, 8, 100)
    for p in range(3):
        only_counted.pst[p, bucket_arrays.COUNT] = 1
        assert buckets.bucket_insert(only_counted, 0, p, 0, p, 0)
    buckets.bucket_sort_zero(only_counted, 0)
    assert only_counted.hrow[0] == -1 and _bucket_order(only_counted, 1) == [0, 1, 2]
    assert buckets.bucket_peek(only_counted, 0) == (0, 1)  # bucket 0's hist left the tier's set


@pytest.mark.parametrize("window, pf, switches", [(8, "none", False), (8, "markov(4, 1)", False),
                                                  (16, "markov(4, 1)", True), (40, "none", True)])
def test_windowed_files_by_last_until_the_oldest_page_has_a_count(window, pf, switches, monkeypatch):
    """windowed_recency keeps every page in bucket 0 (by last) while each tier's oldest page has
    no touch in the window, and switches to count order the first time one has: here either
    never in the run, or after some rows of it. Both match the reference."""
    modes = []
    real_span = kvexp.fast.driver.run_span

    def span(*args):
        reached = real_span(*args)
        modes.append(int(args[6].ring_state[window_mode.MODE]))  # args[6]: the policy state
        return reached

    monkeypatch.setattr(kvexp.fast.driver, "run_span", span)
    trace = unit_trace(7, n_pages=150, length=4000)
    size = int(fp16().page_bytes(trace.pages.n_scalars[:1])[0])
    tiers = (Tier("a", 24 * size, 0.02, 0.02, 80_000.0), Tier("b", 60 * size, 0.4, 0.35, 8_000.0))
    ref = Simulation(tiers, WindowedRecency(window), PREFETCHERS[pf]()).run(trace)
    fast = kvexp.fast.run(trace, tiers, WindowedRecency(window), PREFETCHERS[pf](), observers=[lambda *_: None],
                          every=25)
    assert fast.metrics == ref.metrics
    assert np.array_equal(fast.served_by, ref.served_by)
    assert modes[0] == window_mode.BY_LAST
    assert modes[-1] == (window_mode.BY_COUNT if switches else window_mode.BY_LAST)


def test_windowed_buckets_grow_while_filing_by_last(monkeypatch):
    """While every page sits in bucket 0, no bucket holds the counts, yet they must stay within
    the buckets' range for the switch: the buckets (started at their smallest) grow with the
    largest count, before the switch and after it, and the run matches the reference."""
    seen = []
    real_span = kvexp.fast.driver.run_span

    def span(*args):
        reached = real_span(*args)
        bk = args[6].buckets
        seen.append((int(args[6].ring_state[window_mode.MODE]), int(bk.ctl[bucket_arrays.N_HIST]),
                     int(bk.ctl[bucket_arrays.TOP]), int(bk.pst[:, bucket_arrays.COUNT].max())))
        return reached

    monkeypatch.setattr(kvexp.fast.driver, "run_span", span)
    monkeypatch.setattr(kvexp.fast.build, "first_hists", lambda page, n: bucket_arrays.ROW_GROWTH + 1)
    trace = unit_trace(7, n_pages=150, length=4000)
    size = int(fp16().page_bytes(trace.pages.n_scalars[:1])[0])
    tiers = (Tier("a", 24 * size, 0.02, 0.02, 80_000.0), Tier("b", 60 * size, 0.4, 0.35, 8_000.0))
    ref = Simulation(tiers, WindowedRecency(16), PREFETCHERS["markov(4, 1)"]()).run(trace)
    fast = kvexp.fast.run(trace, tiers, WindowedRecency(16), PREFETCHERS["markov(4, 1)"](),
                          observers=[lambda *_: None], every=25)
    assert fast.metrics == ref.metrics
    assert np.array_equal(fast.served_by, ref.served_by)
    assert all(top >= count for _, _, top, count in seen)  # no count past the buckets' range
    grew = [mode for (mode, n_hist, _, _), after in zip(seen, seen[1:]) if after[1] > n_hist]
    assert window_mode.BY_LAST in grew
    assert seen[-1][0] == window_mode.BY_COUNT


def _live_after(order: list[tuple[int, int]], last: int, p: int) -> int:
    """How many of a bucket's (last, page) pairs order after (last, p)."""
    return sum(1 for pair in order if pair > (last, p))


@pytest.mark.parametrize("seed", range(4))
def test_random_moves_match_sorted_lists_through_compactions(seed):
    """A random script of inserts (most at the current row, ties included; some far back, with
    a bounded walk), removals and evictions over three tiers of few hist values, against one
    sorted list per bucket. Each eviction must return the list's first page; dead entries pile
    up, so buckets compact many times, empty and reopen, and the pool never passes its bound."""
    rng = np.random.default_rng(seed)
    n_pages, n_tiers, n_hist = 60, 2, 3
    bk = bucket_arrays.new_buckets(n_pages, n_tiers, n_hist, 6000)
    model: dict[tuple[int, int], list[tuple[int, int]]] = {}
    where: dict[int, tuple[int, int]] = {}  # page -> (tier, hist)
    now, pops = 0, 0
    for _ in range(6000):
        now += int(rng.random() < 0.4)  # several moves share a row: ties on last
        p = int(rng.integers(n_pages))
        if p in where:
            k, h = where.pop(p)
            model[k, h].remove(next(pair for pair in model[k, h] if pair[1] == p))
            buckets.bucket_remove(bk, k, p, h)
            continue
        if rng.random() < 0.15:  # an eviction from a random tier
            k = int(rng.integers(n_tiers))
            filled = sorted(h for (kk, h), order in model.items() if kk == k and order)
            v, h = buckets.bucket_peek(bk, k)
            if not filled:
                assert (v, h) == (-1, -1)
                continue
            assert (h, v) == (filled[0], model[k, filled[0]][0][1])
            model[k, h].pop(0)
            del where[v]
            buckets.bucket_remove(bk, k, v, h)
            pops += 1
            continue
        k, h = int(rng.integers(n_tiers)), int(rng.integers(n_hist))
        last, walk = now, 1 << 30
        if rng.random() < 0.2:  # far back, as a windowed expiry
            last, walk = max(now - int(rng.integers(1, 30)), 0), int(rng.integers(0, 6))
        order = model.setdefault((k, h), [])
        placed = buckets.bucket_insert(bk, k, p, h, last, walk)
        if _live_after(order, last, p) > walk:
            assert not placed
        if placed:
            order.append((last, p))
            order.sort()
            where[p] = (k, h)
        for (kk, hh), pairs in model.items():
            assert _bucket_order(bk, hh * n_tiers + kk) == [q for _, q in pairs]
            assert (bk.hrow[hh * n_tiers + kk] < 0) == (not pairs)  # a header row only while it holds a page
            if pairs:
                assert bk.hdr[bk.hrow[hh * n_tiers + kk], bucket_arrays.ENT] < 3 * len(pairs) + 2 * bucket_arrays.CH
    assert pops > 500
    assert bk.ctl[bucket_arrays.COMPACTIONS] > 20
    assert bk.ctl[bucket_arrays.BUMP] <= bk.ctl[bucket_arrays.CAP]
