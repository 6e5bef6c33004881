"""Turn the Python objects of a run (tiers, policy, prefetcher) into the kernel's state tuples.

Parameters are read from the policy and prefetcher instances, so a config that builds a
built-in policy runs the same on either engine. Costs are computed here with the same Python
expressions as ``kvexp.engine.Simulation.run`` so the kernel adds bit-identical terms.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np

from kvexp.fast.bits import new_bits
from kvexp.fast.bucket_arrays import ROW_GROWTH, first_hists, new_buckets
from kvexp.fast.calendar_queue import LEAD_PAGES, WIDTH
from kvexp.fast.kernel import EngineState
from kvexp.fast.order import new_order
from kvexp.fast.queues import new_queues
from kvexp.fast.rows import counters, page_rows
from kvexp.fast.policies import (AUX, BELADY, COST_AWARE, DECAY, FIFO, FW, GAP, HEAVY_HITTER, HORIZON, LENGTH, LFU, LRU,
                                 PREDICTIVE, REGRET, RGW, RW, SIZE_COST, WINDOWED, PolicyState)
from kvexp.fast.prefetch import MARKOV, NONE, STRIDE, PrefetchState, new_prefetch
from kvexp.fast.window import BY_LAST, MODE
from kvexp.policies.belady import Belady
from kvexp.policies.cost_aware import CostAware
from kvexp.policies.fifo import FIFO as FIFOPolicy
from kvexp.policies.heavy_hitter import HeavyHitter
from kvexp.policies.lfu import LFU as LFUPolicy
from kvexp.policies.lru import LRU as LRUPolicy
from kvexp.policies.predictive import Predictive
from kvexp.policies.regret_aware import RegretAware
from kvexp.policies.windowed_recency import WindowedRecency
from kvexp.prefetch.base import NoPrefetch, Prefetcher
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.prefetch.stride import StridePrefetch
from kvexp.quant import QuantScheme
from kvexp.tiers import Tier

# Exact classes only: a subclass may override any hook, so it runs on the reference engine.
POLICY_KINDS = {
    LRUPolicy: LRU, FIFOPolicy: FIFO, LFUPolicy: LFU, HeavyHitter: HEAVY_HITTER, WindowedRecency: WINDOWED,
    CostAware: COST_AWARE, Predictive: PREDICTIVE, RegretAware: REGRET, Belady: BELADY,
}
PREFETCH_KINDS = {type(None): NONE, Prefetcher: NONE, NoPrefetch: NONE, StridePrefetch: STRIDE, MarkovPrefetch: MARKOV}


def engine_state(tiers: Sequence[Tier], quant: QuantScheme, page_bytes: np.ndarray,
                 recompute_ms: Sequence[float] | None) -> EngineState:
    """Residency, capacity, cost tables and counters for a run."""
    k, n = len(tiers), len(page_bytes)
    dq = float(quant.dequant_penalty_ms)
    fixed = [[float(a.read_latency_ms) + float(b.write_latency_ms) + dq for b in tiers] for a in tiers]
    bw = [[float(min(a.bandwidth_bytes_per_ms, b.bandwidth_bytes_per_ms)) for b in tiers] for a in tiers]
    # sums (latency, recompute), then constants: hit, write per written row, tier-0 write (recompute)
    t0 = tiers[0]
    flt = [0.0, 0.0, float(t0.read_latency_ms) + dq, float(t0.write_latency_ms), float(t0.write_latency_ms)]
    recompute = np.zeros(1) if recompute_ms is None else np.array(recompute_ms, np.float64)
    uniform = n > 0 and bool((page_bytes == page_bytes[0]).all())
    return EngineState(
        size=np.array(page_bytes[:1] if uniform else page_bytes, np.int64),
        smask=0 if uniform else -1,
        loc=np.full(n, -1, np.int8),
        pending=np.zeros(n, np.uint8),
        used=np.zeros(k, np.int64),
        cap=np.array([int(t.capacity_bytes) for t in tiers], np.int64),
        peak=np.zeros(k, np.int64),
        fixed=np.array(fixed, np.float64).reshape(k, k),
        bw=np.array(bw, np.float64).reshape(k, k),
        served=np.zeros(k + 1, np.int64),
        demotions=np.zeros(k, np.int64),
        bytes_in=np.zeros(k, np.int64),
        bytes_out=np.zeros(k, np.int64),
        cnt=np.zeros(8, np.int64),
        flt=np.array(flt, np.float64),
        recompute=recompute,
        has_recompute=recompute_ms is not None,
        frame_page=np.zeros(k, np.int64),
        frame_cost=np.zeros(k, np.float64),
    )


def _window_ring(window: int, n_rows: int, degree: int) -> int:
    """Ring size for the touches inside a window: at most 1 + degree touches per row."""
    live = min(window, max(n_rows, 1)) * (1 + degree) + 1
    return 1 << max(live - 1, 1).bit_length()


def _unseen_gap(rows: int, unseen_gap: float | None) -> float:
    """predictive's gap for a page touched less than twice (the trace length by default)."""
    return float(rows) if unseen_gap is None else float(unseen_gap)


def _predicted_bands(rows: int, unseen_gap: float | None) -> list[tuple[float, float]]:
    """The ranges of predictive's primary keys, ``-(last + gap)``, for its calendar queues: a page
    touched twice or more is predicted before ``2 * rows`` (its mean gap is at most its last
    touch), any other at ``gap .. gap + rows``; one band when the two overlap or nearly, else
    two. (A gap so large that adding the rows to it changes nothing leaves the pages touched
    once all in one bucket, below the band: correct, but each eviction walks them.)"""
    gap = _unseen_gap(rows, unseen_gap)
    if gap <= 2 * rows:
        return [(-(max(2 * rows, rows + gap) + 1.0), 0.0)]
    low = -(gap + rows + 1.0)
    if not math.isfinite(low) or -gap - low < rows:
        return [(-(2 * rows + 1.0), 0.0)]
    return [(low, -gap), (-(2 * rows + 1.0), 0.0)]


def _regret_calendar(rows: int, policy: RegretAware, degree: int) -> tuple[list[tuple[float, float]], float] | None:
    """regret_aware's calendar queue: the range of its primary keys and its bucket width, or
    None for a heap. A key ``rw*last + horizon*(fw*hist + rgw*regret)`` grows with the row of
    the page's last touch, as predictive's does, by up to ``rw`` a row: buckets one row wide
    hold a row's few pages each (with stride prefetch a row files up to three; buckets two
    rows wide measured about 4% slower). ``last`` is below ``rows``; ``hist``, and the regrets
    a page can count, reach at most a touch or a prefetch per row each; regret stays below
    ``1 / (1 - decay)``. A heap unless recency weighs (``rw > 0``, else keys pile up in a few
    buckets) and the buckets number at most ``2 * rows + 2**16`` (4 bytes each a tier)."""
    rw, touches = policy.recency_weight, rows * (1 + degree)
    regret = touches if policy.decay >= 1.0 else min(touches, 1.0 / (1.0 - policy.decay))
    high = rw * rows + policy.regret_horizon * (policy.freq_weight * touches + policy.regret_weight * regret)
    width = rw
    if rw <= 0 or high / width > 2 * rows + 2**16:
        return None
    return [(0.0, high)], width


def size_costs(policy: CostAware, page_bytes: np.ndarray) -> np.ndarray:
    """cost_aware's size penalty of every page, computed as the reference computes it."""
    biggest = max(int(page_bytes.max()), 1) if len(page_bytes) else 1
    return policy.size_penalty * page_bytes.astype(np.float64) / biggest


def ranks_as_heavy_hitter(policy: CostAware, page_bytes: np.ndarray, rows: int) -> bool:
    """True when cost_aware's key orders every two pages of this run as heavy_hitter's does, by
    ``(hist, last, page)``, so its victims are heavy_hitter's and it can run on frequency buckets.

    That needs one size cost for every page (equal sizes, or no size penalty), so that
    ``score = fw*hist + rw*last/L - cost`` differs between pages only by hist and last; then
    one more touch must outweigh any recency, ``fw - rw*(L-1)/L > 0`` (``last`` is below ``L``),
    by more than the float rounding. Each of the score's five roundings is within ``2**-53`` of
    its result, whose size is below ``M = fw*(H+1) + rw + |cost|`` with ``H`` the largest hist
    (a page gains at most ``ROW_GROWTH`` a row), so ``fw - rw*(L-1)/L > M * 2**-49`` keeps
    ``score(h, L-1) < score(h+1, 0)`` for every h, computed as the reference computes it. Every
    rounding is monotone, so within one hist the score never falls as ``last`` grows, and ties
    go to ``last``, then the page, as in heavy_hitter's key. The default weights (1, 1) on
    equal-size pages qualify for traces below about 1.6e7 rows; real KV pages under one
    quantization scheme are all one size."""
    if len(page_bytes) == 0:
        return False
    cost = size_costs(policy, page_bytes)
    if not (cost == cost[0]).all():
        return False
    fw, rw, length = Fraction(policy.freq_weight), Fraction(policy.recency_weight), max(rows, 1)
    most = fw * (ROW_GROWTH * length + 1) + rw + abs(Fraction(float(cost[0])))
    return fw - rw * (length - 1) / length > most / 2**49


def policy_state(policy, page_bytes: np.ndarray, cap: np.ndarray, page: np.ndarray, degree: int,
                 loc: np.ndarray, first_use: np.ndarray | None = None) -> PolicyState:
    """State for ``policy`` (an instance of one of the exact classes in ``POLICY_KINDS``) over
    the engine's ``loc`` (lru and fifo read it); belady needs ``first_use`` (its initial next
    use of every page)."""
    kind = POLICY_KINDS[type(policy)]
    n, k, rows = len(page_bytes), len(cap), len(page)
    if kind == COST_AWARE and ranks_as_heavy_hitter(policy, page_bytes, rows):
        kind = HEAVY_HITTER  # the same victims, on frequency buckets (O(1) a touch, not a ladder)
    ordered = kind in (WINDOWED, COST_AWARE, PREDICTIVE, REGRET)  # on kvexp.fast.order (windowed: its overflow heap)
    # At least two rows everywhere: numba types a one-row view as contiguous, a different array
    # type, and each distinct type compiles the whole loop again (rows past n are never used).
    per_page = page_rows(max(n, 2) if ordered else 2)
    in_rows = ordered and kind != WINDOWED  # windowed counts in its buckets: its heap is rare
    st, fst = per_page.st if in_rows else counters(2), per_page.fst  # the bucket policies count in their buckets
    page_nu = np.zeros(1, np.int32)
    smallest = max(int(page_bytes.min()), 1) if n else 1
    most = np.minimum(cap // smallest, n)  # pages a tier can hold
    fp = np.zeros(7, np.float64)
    window, ring, ring_state = 1, np.zeros((1, 2), np.int64), np.zeros(3, np.int64)
    no_pages = np.zeros(k, np.int64)  # placeholders for the structures this policy does not use
    queues, order, bits = new_queues(0, no_pages, loc), new_order(per_page, no_pages + 1), new_bits(k, 1)
    buckets = new_buckets(0, k, ROW_GROWTH + 1, 0)  # never full, never used
    if kind <= FIFO:
        queues = new_queues(n, most, loc)
    elif kind == BELADY:
        bits = new_bits(k, rows + n)  # next uses (rows), then pages never used again
    if LFU <= kind <= WINDOWED:
        buckets = new_buckets(n, k, first_hists(page, n), rows * (1 + degree), at=kind == WINDOWED)
    if ordered:
        calendar = ((_predicted_bands(rows, policy.unseen_gap), WIDTH) if kind == PREDICTIVE
                    else _regret_calendar(rows, policy, degree) if kind == REGRET else None)
        bands, width = calendar or (None, WIDTH)
        order = new_order(per_page, most, ladders=kind == COST_AWARE, bands=bands, width=width,
                          lead=LEAD_PAGES if kind == REGRET else 0)
    if kind == COST_AWARE:
        fp[FW], fp[RW], fp[LENGTH] = policy.freq_weight, policy.recency_weight, max(rows, 1)
        fst[:n, SIZE_COST] = size_costs(policy, page_bytes)
    elif kind == REGRET:
        fp[FW], fp[RW], fp[HORIZON] = policy.freq_weight, policy.recency_weight, policy.regret_horizon
        fp[RGW], fp[DECAY] = policy.regret_weight, policy.decay
        st[:, AUX] = -1  # evicted_at: none pending
    elif kind == PREDICTIVE:
        fp[GAP] = _unseen_gap(rows, policy.unseen_gap)
        st[:, AUX] = -1  # first_ref: never touched
    elif kind == WINDOWED:
        window = int(policy.window_size)
        ring = np.zeros((_window_ring(window, rows, degree), 2), np.int64)
        ring_state[MODE] = BY_LAST
    elif kind == BELADY:
        page_nu = first_use.astype(np.int32)
    return PolicyState(
        kind=kind, n_tiers=k, queues=queues, order=order, bits=bits, buckets=buckets, st=st, fst=fst,
        page_at=page, page_nu=page_nu, nu=np.zeros(1, np.int32), nu_base=np.zeros(1, np.int64), ring=ring,
        ring_state=ring_state, fp=fp, window=window,
    )


def prefetch_state(prefetcher, n_pages: int, n_reads: int) -> PrefetchState:
    kind = PREFETCH_KINDS[type(prefetcher)]
    degree = int(getattr(prefetcher, "degree", 0)) if kind != NONE else 0
    min_conf = int(prefetcher.min_confidence) if kind == MARKOV else 0
    return new_prefetch(kind, max(degree, 1) if kind != NONE else 1, min_conf, n_pages, n_reads)
