"""Prefetchers: the Markov transition model, sequential readahead, and both inside the engine."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kvexp.engine import Simulation
from kvexp.policies.base import RunContext
from kvexp.policies.lru import LRU
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.prefetch.stride import StridePrefetch
from kvexp.tiers import Tier
from kvexp.trace import PageTable, Trace


def bound(prefetcher, n_pages: int):
    tr = Trace([0], [0], [0], PageTable.uniform(n_pages))
    prefetcher.bind(RunContext(trace=tr, page_bytes=np.full(n_pages, 4096), n_tiers=1))
    return prefetcher


def feed(prefetcher, pages: list[int]) -> list[list[int]]:
    return [list(prefetcher.on_read(p, i)) for i, p in enumerate(pages)]


def test_markov_by_hand():
    m = bound(MarkovPrefetch(degree=2, min_confidence=2), 10)
    out = feed(m, [1, 5, 1, 5, 1, 7, 1, 7, 1, 3, 1])
    # transitions into p are counted before p's successors are returned
    assert out[:4] == [[], [], [], []]          # 1->5 reaches 2 only at the 4th read (of 5)
    assert out[4] == [5]                        # 1: 5 seen twice, 1->... nothing else twice yet
    assert out[8] == [5, 7]                     # 1: 5 x2, 7 x2 (tie -> lower id)
    assert out[10] == [5, 7]                    # 1->3 seen once, below min_confidence
    assert out[6] == [5] and out[7] == []       # row 7: 7's only successor (1) was seen once
    assert m.successor_count(1, 5) == 2 and m.successor_count(5, 1) == 2 and m.successor_count(1, 3) == 1


def test_markov_ranks_by_count_then_lower_id_and_respects_degree():
    m = bound(MarkovPrefetch(degree=1, min_confidence=1), 10)
    feed(m, [0, 9, 0, 4, 0, 9])  # 0->9 twice, 0->4 once
    assert list(m.on_read(0, 6)) == [9]
    m = bound(MarkovPrefetch(degree=3, min_confidence=1), 10)
    feed(m, [0, 8, 0, 2, 0, 5])  # all once: ties to the lower id
    assert list(m.on_read(0, 6)) == [2, 5, 8]


def naive_successors(history: list[int], page: int, degree: int, min_conf: int) -> list[int]:
    """Recount every transition from scratch (the definition, no incremental state)."""
    counts: dict[int, int] = {}
    for a, b in zip(history, history[1:]):
        if a == page:
            counts[b] = counts.get(b, 0) + 1
    ranked = sorted((q for q, c in counts.items() if c >= min_conf), key=lambda q: (-counts[q], q))
    return ranked[:degree]


@pytest.mark.parametrize("seed", range(6))
def test_markov_incremental_top_list_matches_a_full_recount(seed):
    rng = random.Random(seed)
    degree, min_conf = rng.randint(1, 4), rng.randint(1, 3)
    m = bound(MarkovPrefetch(degree=degree, min_confidence=min_conf), 12)
    history: list[int] = []
    for i in range(400):
        p = rng.choice([0, 0, 0, 1, 2]) if rng.random() < 0.5 else rng.randrange(12)
        history.append(p)
        assert list(m.on_read(p, i)) == naive_successors(history, p, degree, min_conf), (i, p)


def test_markov_rebinding_forgets():
    m = bound(MarkovPrefetch(min_confidence=1), 4)
    feed(m, [0, 1, 0])
    assert list(bound(m, 4).on_read(0, 0)) == []


def test_stride():
    s = bound(StridePrefetch(degree=3), 6)
    assert [list(s.on_read(p, 0)) for p in (0, 3, 4, 5)] == [[1, 2, 3], [4, 5], [5], []]


@pytest.mark.parametrize("make, name, value", [
    (lambda v: MarkovPrefetch(degree=v), "degree", 0),
    (lambda v: MarkovPrefetch(min_confidence=v), "min_confidence", 0),
    (lambda v: MarkovPrefetch(degree=v), "degree", 1.5),
    (lambda v: MarkovPrefetch(degree=v), "degree", True),
    (lambda v: StridePrefetch(degree=v), "degree", -1),
])
def test_parameter_validation(make, name, value):
    with pytest.raises(ValueError, match=rf"^prefetch\.{name}: expected an integer >= 1, got {value!r}$"):
        make(value)


def test_both_are_enabled():
    assert MarkovPrefetch.enabled and StridePrefetch.enabled


# ---- in the engine -------------------------------------------------------------------------------
TIERS = [Tier("fast", 100 * 4096, 0.0, 0.0, 1e9), Tier("slow", 100 * 4096, 1.0, 1.0, 1e9)]


def scan(pages: list[int], n_pages: int) -> Trace:
    return Trace(np.arange(len(pages)), pages, [0] * len(pages), PageTable.uniform(n_pages))


def test_stride_on_a_sequential_scan():
    # r0 is cold and prefetches 1, 2; each later read hits and prefetches one new page
    # (the next one is already there) until page 9, the last id: 9 requests, all used.
    m = Simulation(TIERS, LRU(), StridePrefetch(degree=2)).run(scan(list(range(10)), 10)).metrics
    assert (m["misses"], m["hits"]) == (1, 9)
    assert (m["prefetch_requests"], m["prefetch_useful"], m["prefetch_wasted"]) == (9, 9, 0)


def test_markov_learns_only_from_demand_reads():
    # Rows: read 0, read 1, write 3, read 2, repeated three times. Fast holds one page, so the
    # learned suggestions are prefetched. Counts must be the demand-read transitions only:
    # prefetched pages and writes never enter the model (the write does not break 1 -> 2).
    pages, ops = [0, 1, 3, 2] * 3, [0, 0, 1, 0] * 3
    tr = Trace(np.arange(12), pages, ops, PageTable.uniform(4))
    tiers = [Tier("fast", 4096, 0.0, 0.0, 1e9), Tier("slow", 4 * 4096, 1.0, 1.0, 1e9)]
    sim = Simulation(tiers, LRU(), MarkovPrefetch(degree=1, min_confidence=1))
    m = sim.run(tr).metrics
    assert m["prefetch_requests"] > 0
    markov = sim.prefetcher
    assert [markov.successor_count(a, b) for a, b in [(0, 1), (1, 2), (2, 0), (1, 3), (3, 2)]] == [3, 3, 2, 0, 0]
