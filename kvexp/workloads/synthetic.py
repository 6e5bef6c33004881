"""Seeded synthetic workloads: each function returns a read-only Trace of one decode stream.

Each generator models one serving access pattern that some policy or prefetcher should win or
lose on. All draws come from ``np.random.default_rng(seed)`` (page sizes from a child stream
spawned from it, so they do not shift when the access pattern changes) and are vectorised, so
a million accesses take well under a second. Same arguments, same trace. Page ids and their
metadata follow ``kvexp.workloads.pagetable``; every trace reads one page per decode step.
"""
from __future__ import annotations

import numpy as np

from kvexp.trace import Trace
from kvexp.workloads.pagetable import build_page_table, check_int, check_real, read_trace


def _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page, n_layers, n_head_groups,
           min_pages=1):
    """Validate the common arguments; return (access rng, page table)."""
    check_int("n_pages", n_pages, min_pages)
    check_int("length", length, 1)
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    pages = build_page_table(n_pages, rng.spawn(1)[0], scalars_per_page=scalars_per_page, scalar_jitter=scalar_jitter,
                             tokens_per_page=tokens_per_page, n_layers=n_layers, n_head_groups=n_head_groups)
    return rng, pages


def sample_distinct(rng: np.random.Generator, rows: int, k: int, m: int) -> np.ndarray:
    """A ``(rows, k)`` array: each row k distinct values of ``range(m)``, uniformly random.

    Draw with replacement and redraw the repeats of the rows that have any: a procedure that
    treats all values alike yields every ordered k-tuple of distinct values equally often.
    When k > m/2 repeats would take many rounds, so rows are then prefixes of random
    permutations (an argsort of random keys), whose rows*m memory is then below 2*rows*k.
    """
    if 2 * k > m:
        return np.argsort(rng.random((rows, m)), axis=1)[:, :k]
    vals = rng.integers(0, m, size=(rows, k))
    todo = np.arange(rows)
    while todo.size:
        sub = vals[todo]
        order = np.argsort(sub, axis=1, kind="stable")
        ranked = np.take_along_axis(sub, order, axis=1)
        repeat_ranked = np.zeros(sub.shape, dtype=bool)
        repeat_ranked[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
        repeat = np.empty_like(repeat_ranked)
        np.put_along_axis(repeat, order, repeat_ranked, axis=1)
        sub[repeat] = rng.integers(0, m, size=int(repeat.sum()))
        vals[todo] = sub
        todo = todo[repeat.any(axis=1)]
    return vals


def chat_continuation(n_pages: int = 64, length: int = 256, seed: int = 0, *, working_set: int = 8,
                      drift: float = 0.05, scalars_per_page: int = 2048, scalar_jitter: int = 64,
                      tokens_per_page: int = 16, n_layers: int = 16, n_head_groups: int = 8) -> Trace:
    """A chat turn being continued: recency-heavy reads over a small working set that drifts.

    The working set is the ``working_set`` most recent entries of a stream of pages (first a
    random distinct set, then one uniformly random page per arrival); each step an arrival
    happens with probability ``drift`` and pushes the oldest entry out. A read picks entry
    k (0 = oldest) with weight k+1, so the newest context is read most. Recency policies
    should do well; a window of accesses touches at most working_set + arrivals pages.
    """
    rng, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page,
                        n_layers, n_head_groups)
    working_set = check_int("working_set", working_set, 1, n_pages)
    drift = check_real("drift", drift, 0.0, 1.0)
    arrivals = rng.random(length) < drift
    entries = np.concatenate([rng.choice(n_pages, size=working_set, replace=False),
                              rng.integers(0, n_pages, size=int(arrivals.sum()))])
    weights = np.arange(1, working_set + 1, dtype=np.float64)
    slot = rng.choice(working_set, size=length, p=weights / weights.sum())
    page = entries[np.cumsum(arrivals) + slot]
    return read_trace("chat_continuation", page, pages,
                      dict(n_pages=n_pages, length=length, seed=seed, working_set=working_set, drift=drift))


def rag_burst(n_pages: int = 96, length: int = 320, seed: int = 0, *, hot_pages: int = 16, run_length: int = 8,
              burst_length: int = 6, scalars_per_page: int = 2048, scalar_jitter: int = 64, tokens_per_page: int = 16,
              n_layers: int = 16, n_head_groups: int = 8) -> Trace:
    """Retrieval-augmented decoding: runs over a hot set, interleaved with retrieval bursts.

    Pages ``0..hot_pages-1`` (the prompt and instructions) are read ``run_length`` times at
    random, then a burst reads ``burst_length`` distinct random pages from the rest (the
    retrieved chunks), and so on. Each hot page is read far more often than any retrieved
    page, so frequency-aware policies should keep the hot set resident through the bursts.
    """
    rng, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page,
                        n_layers, n_head_groups, min_pages=2)
    hot_pages = check_int("hot_pages", hot_pages, 1, n_pages - 1)
    run_length = check_int("run_length", run_length, 1)
    burst_length = check_int("burst_length", burst_length, 1, n_pages - hot_pages)
    cycle = run_length + burst_length
    pos = np.arange(length) % cycle
    page = rng.integers(0, hot_pages, size=length)
    in_burst = np.flatnonzero(pos >= run_length)
    retrieved = hot_pages + sample_distinct(rng, -(-length // cycle), burst_length, n_pages - hot_pages)
    page[in_burst] = retrieved[in_burst // cycle, pos[in_burst] - run_length]
    return read_trace("rag_burst", page, pages,
                      dict(n_pages=n_pages, length=length, seed=seed, hot_pages=hot_pages, run_length=run_length,
                           burst_length=burst_length))


def periodic_reuse(n_pages: int = 80, length: int = 320, seed: int = 0, *, period: int = 9,
                   scalars_per_page: int = 2048, scalar_jitter: int = 64, tokens_per_page: int = 16,
                   n_layers: int = 16, n_head_groups: int = 8) -> Trace:
    """Induction-like revisits: the same ``period`` distinct pages read in the same order, cyclically.

    Like an induction head that re-reads an earlier span each time the pattern recurs; the
    pages are a random distinct set in a random order. Every page's reuse distance is exactly
    ``period``, so any tier-0 holding fewer than ``period`` pages under LRU misses on every read,
    while a frequency or oracle policy keeps part of the cycle.
    """
    rng, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page,
                        n_layers, n_head_groups)
    period = check_int("period", period, 1, n_pages)
    cycle = rng.choice(n_pages, size=period, replace=False)
    page = cycle[np.arange(length) % period]
    return read_trace("periodic_reuse", page, pages, dict(n_pages=n_pages, length=length, seed=seed, period=period))


def long_tail_mix(n_pages: int = 128, length: int = 400, seed: int = 0, *, hot_pages: int = 10,
                  hot_fraction: float = 0.7, scalars_per_page: int = 2048, scalar_jitter: int = 64,
                  tokens_per_page: int = 16, n_layers: int = 16, n_head_groups: int = 8) -> Trace:
    """A small hot set plus a long tail: each read is hot with probability ``hot_fraction``.

    Hot reads are uniform over pages ``0..hot_pages-1``; the others pick tail page
    ``hot_pages + r`` with weight 1/(r+1), so a few tail pages recur and most are read once
    or twice. Separates policies that value frequency from those that only see recency.
    """
    rng, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page,
                        n_layers, n_head_groups, min_pages=2)
    hot_pages = check_int("hot_pages", hot_pages, 1, n_pages - 1)
    hot_fraction = check_real("hot_fraction", hot_fraction, 0.0, 1.0)
    is_hot = rng.random(length) < hot_fraction
    hot = rng.integers(0, hot_pages, size=length)
    cdf = np.cumsum(1.0 / np.arange(1, n_pages - hot_pages + 1))
    cdf /= cdf[-1]
    tail = hot_pages + np.searchsorted(cdf, rng.random(length), side="right")
    page = np.where(is_hot, hot, tail)
    return read_trace("long_tail_mix", page, pages,
                      dict(n_pages=n_pages, length=length, seed=seed, hot_pages=hot_pages, hot_fraction=hot_fraction))


def prefetch_friendly(n_pages: int = 48, length: int = 240, seed: int = 0, *, scalars_per_page: int = 2048,
                      scalar_jitter: int = 64, tokens_per_page: int = 16, n_layers: int = 16,
                      n_head_groups: int = 8) -> Trace:
    """A strictly sequential scan 0, 1, ..., n_pages-1, 0, 1, ...: what a full attention pass reads.

    Every read is the page after the previous one (wrapping at ``n_pages``), so a next-page
    prefetcher is always right. The pattern is fixed; ``seed`` only draws the page sizes.
    """
    _, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page,
                      n_layers, n_head_groups)
    page = np.arange(length) % n_pages
    return read_trace("prefetch_friendly", page, pages, dict(n_pages=n_pages, length=length, seed=seed))


def adversarial_prefetch(n_pages: int = 64, length: int = 256, seed: int = 0, *, scalars_per_page: int = 2048,
                         scalar_jitter: int = 64, tokens_per_page: int = 16, n_layers: int = 16,
                         n_head_groups: int = 8) -> Trace:
    """Alternating random jumps between the two halves of the cache: defeats next-page prefetch.

    Even steps read a random page of the lower half ``[0, n_pages//2)``, odd steps one of the
    upper half. The next read is p+1 only for the single pair (n_pages//2 - 1 -> n_pages//2),
    and each page's successors are spread over half the pages, so neither stride nor
    transition-count prefetchers find anything to bet on; their prefetches are wasted traffic.
    """
    rng, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter,
                        tokens_per_page, n_layers, n_head_groups, min_pages=2)
    half = n_pages // 2
    low = rng.integers(0, half, size=length)
    high = rng.integers(half, n_pages, size=length)
    page = np.where(np.arange(length) % 2 == 0, low, high)
    return read_trace("adversarial_prefetch", page, pages, dict(n_pages=n_pages, length=length, seed=seed))


def adversarial_burst(n_pages: int = 96, length: int = 320, seed: int = 0, *, burst: int = 12,
                      scalars_per_page: int = 2048, scalar_jitter: int = 64, tokens_per_page: int = 16,
                      n_layers: int = 16, n_head_groups: int = 8) -> Trace:
    """Bursts that come back for pages just pushed out: the case a regret signal is built for.

    Cycles of 3*burst reads: ``burst`` distinct anchor pages from the first third of the ids,
    ``burst`` distinct filler pages from the rest, then the same anchors again in the same
    order. Each anchor is re-read exactly 2*burst accesses after its first read, with
    2*burst-1 other pages in between, so a recency policy whose tier 0 holds fewer than
    2*burst pages has just evicted every anchor when it returns.
    """
    rng, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page,
                        n_layers, n_head_groups, min_pages=3)
    anchor_pool = n_pages // 3
    burst = check_int("burst", burst, 1, anchor_pool)
    cycles = -(-length // (3 * burst))
    anchors = sample_distinct(rng, cycles, burst, anchor_pool)
    fillers = anchor_pool + sample_distinct(rng, cycles, burst, n_pages - anchor_pool)
    page = np.concatenate([anchors, fillers, anchors], axis=1).ravel()[:length]
    return read_trace("adversarial_burst", page, pages, dict(n_pages=n_pages, length=length, seed=seed, burst=burst))


def mixed_locality(n_pages: int = 112, length: int = 360, seed: int = 0, *, phase_length: int = 40,
                   hot_pages: int = 12, stride: int = 5, scalars_per_page: int = 2048, scalar_jitter: int = 64,
                   tokens_per_page: int = 16, n_layers: int = 16, n_head_groups: int = 8) -> Trace:
    """Locality that shifts between phases: hot, then tail, then strided, repeating.

    Phases of ``phase_length`` reads cycle through: uniform reads of the hot pages
    ``0..hot_pages-1``; uniform reads of the other (tail) pages; a strided scan
    start, start+stride, ... (mod n_pages) from a random start. No single policy or
    prefetcher suits all three, which is the point: it rewards adapting.
    """
    rng, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page,
                        n_layers, n_head_groups, min_pages=2)
    phase_length = check_int("phase_length", phase_length, 1)
    hot_pages = check_int("hot_pages", hot_pages, 1, n_pages - 1)
    stride = check_int("stride", stride, 1, n_pages - 1)
    pos = np.arange(length)
    phase_no, offset = np.divmod(pos, phase_length)
    kind = phase_no % 3
    hot = rng.integers(0, hot_pages, size=length)
    tail = rng.integers(hot_pages, n_pages, size=length)
    starts = rng.integers(0, n_pages, size=int(phase_no[-1]) + 1)
    strided = (starts[phase_no] + offset * stride) % n_pages
    page = np.select([kind == 0, kind == 1], [hot, tail], strided)
    return read_trace("mixed_locality", page, pages,
                      dict(n_pages=n_pages, length=length, seed=seed, phase_length=phase_length, hot_pages=hot_pages,
                           stride=stride))


def zipf(n_pages: int = 100_000, length: int = 1_000_000, alpha: float = 0.9, seed: int = 42, *,
         scalars_per_page: int = 2048, scalar_jitter: int = 0, tokens_per_page: int = 16, n_layers: int = 16,
         n_head_groups: int = 8) -> Trace:
    """The finite Zipf trace libCacheSim was cross-checked on: P(page k-1) proportional to k^-alpha.

    Built exactly as in that check (ids 1..n_pages, inverse CDF over
    ``default_rng(seed).random(length)`` with ``searchsorted(..., side="right")``), minus one so
    ids are 0-based; its miss counts can thus be compared with the recorded libCacheSim ones.
    Pages are uniform in size unless ``scalar_jitter`` is set.
    """
    rng, pages = _setup(n_pages, length, seed, scalars_per_page, scalar_jitter, tokens_per_page, n_layers,
                        n_head_groups)
    alpha = check_real("alpha", alpha, 0.0)
    cdf = np.cumsum(np.arange(1, n_pages + 1, dtype=np.float64) ** -alpha)
    cdf /= cdf[-1]
    page = np.searchsorted(cdf, rng.random(length), side="right")
    return read_trace("zipf", page, pages, dict(n_pages=n_pages, length=length, seed=seed, alpha=alpha))
