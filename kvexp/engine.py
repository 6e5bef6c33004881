"""The reference engine: one access loop that owns residency, capacity, cost and metrics.

Per read: find the page's tier -> on a miss, make room in tier 0 (demotions cascade down the
stack, the last tier drops) and move the page up -> ask the prefetcher for candidates. Policies
only order pages inside tiers. This Python engine is the readable specification of the model;
see the README for the cost model. It never scans resident pages per access.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from kvexp.metrics import Counters, summarize
from kvexp.policies.base import Policy, RunContext
from kvexp.prefetch.base import Prefetcher
from kvexp.quant import QuantScheme, fp16
from kvexp.tiers import Tier
from kvexp.trace import Trace

DEMAND, PREFETCH = 0, 1
Observer = Callable[[int, Counters], None]  # called with (accesses done, counters so far)


@dataclass
class Result:
    """A finished run: the flat metrics and the raw counters behind them."""

    metrics: dict[str, float]
    counters: Counters
    served_by: np.ndarray  # per trace row: tier that served the read, -1 cold/recomputed, -2 write


def check_fit(tiers: Sequence[Tier], quant: QuantScheme, page_bytes: np.ndarray,
              recompute_ms: Sequence[float] | None) -> None:
    """Every page must fit every tier, and recompute costs (if any) cover every page; shared by
    both engines so they reject the same inputs with the same message."""
    biggest = int(page_bytes.max()) if len(page_bytes) else 0
    for t in tiers:
        if biggest > t.capacity_bytes:
            raise ValueError(
                f"tier '{t.name}': capacity_bytes {t.capacity_bytes} is smaller than the largest page "
                f"({biggest} bytes under {quant.name}); expected every page to fit every tier"
            )
    if recompute_ms is not None and len(recompute_ms) != len(page_bytes):
        raise ValueError(f"recompute_ms: expected one cost per page ({len(page_bytes)}), got {len(recompute_ms)}")


class Simulation:
    """One run of a trace through a tier stack under a policy and a prefetcher.

    During ``run`` an observer holding the simulation may read its state: ``loc[p]`` (tier of
    page p, -1 nowhere), ``used[k]`` and ``cap[k]`` (bytes), ``size[p]`` and ``pending[p]`` (a
    prefetched page still unread in tier 0).
    """

    def __init__(
        self,
        tiers: Sequence[Tier],
        policy: Policy,
        prefetcher: Prefetcher | None = None,
        quant: QuantScheme | None = None,
        recompute_ms: Sequence[float] | None = None,
    ) -> None:
        """``recompute_ms``, when given, is the cost per page id of recomputing it: a read of a page
        resident nowhere is then recomputed and written into tier 0 (write traffic, no transfer)
        instead of loaded from the coldest tier, and prefetch never recomputes speculatively."""
        if len(tiers) == 0:
            raise ValueError("tiers: expected at least one tier, got none")
        self.tiers = tuple(tiers)
        self.policy = policy
        self.prefetcher = prefetcher or Prefetcher()
        self.quant = quant or fp16()
        self.recompute_ms = None if recompute_ms is None else [float(x) for x in recompute_ms]
        if self.recompute_ms is not None:
            bad = [p for p, ms in enumerate(self.recompute_ms) if not (ms >= 0 and math.isfinite(ms))]
            if bad:
                raise ValueError(f"recompute_ms: page {bad[0]}: expected a cost >= 0 ms, got {self.recompute_ms[bad[0]]!r}")

    def run(self, trace: Trace, observers: Sequence[Observer] = (), every: int = 65536) -> Result:
        """Replay ``trace``; each observer is called every ``every`` accesses and at the end."""
        tiers, K = self.tiers, len(self.tiers)
        page_bytes = self.quant.page_bytes(trace.pages.n_scalars)
        check_fit(tiers, self.quant, page_bytes, self.recompute_ms)
        ctx = RunContext(trace=trace, page_bytes=page_bytes, n_tiers=K)
        self.policy.bind(ctx)
        self.prefetcher.bind(ctx)

        c = self.counters = Counters(K)
        self.loc = [-1] * len(page_bytes)
        self.used = [0] * K
        self.pending = bytearray(len(page_bytes))  # 1 while a prefetched page waits in tier 0 unread
        # One int object per value among page ids and sizes: dict lookups in the policies then hit
        # the identity fast path and touch less memory (same values, same results).
        shared: dict[int, int] = {}
        fetch, write = self._moves(c, [shared.setdefault(b, b) for b in page_bytes.tolist()])
        pages, ops = [shared.setdefault(p, p) for p in trace.page.tolist()], trace.op.tolist()
        n = len(pages)
        hit_cost = float(tiers[0].read_latency_ms) + float(self.quant.dequant_penalty_ms)
        write_cost = float(tiers[0].write_latency_ms)
        loc, pending, n_pages = self.loc, self.pending, len(page_bytes)
        served_by = bytearray(n)  # per row: serving tier + 1 (0 = cold or recomputed); writes 255
        skip_cold = self.recompute_ms is not None
        access = self.policy.access
        on_read = self.prefetcher.on_read if self.prefetcher.enabled else None
        every = max(1, int(every))
        for start in range(0, n, every):
            hits = useful = 0
            latency = c.latency_ms
            stop = min(n, start + every)
            for i in range(start, stop):
                p = pages[i]
                if ops[i]:
                    served_by[i] = 255
                    latency += write_cost + write(p, i)
                    continue
                t = loc[p]
                served_by[i] = t + 1
                if t == 0:
                    hits += 1
                    latency += hit_cost
                    access(0, p, i)
                    if pending[p]:
                        pending[p] = 0
                        useful += 1
                else:
                    latency += fetch(p, t, i, DEMAND)
                if on_read is not None:
                    for q in on_read(p, i):
                        if not 0 <= q < n_pages:
                            raise ValueError(f"prefetcher {type(self.prefetcher).__name__}: row {i}: candidate page {q} "
                                             f"out of range [0, {n_pages})")
                        if loc[q] != 0 and not (skip_cold and loc[q] < 0):
                            c.prefetch_requests += 1
                            latency += fetch(q, loc[q], i, PREFETCH)
                            pending[q] = 1
            c.latency_ms = latency
            c.served[0] += hits
            c.prefetch_useful += useful
            c.accesses = stop
            c.writes += int(trace.op[start:stop].sum())
            c.reads = stop - c.writes
            for observe in observers:
                observe(stop, c)
        c.prefetch_wasted += sum(pending)  # prefetched and never read by the end
        served = np.frombuffer(served_by, dtype=np.uint8).astype(np.int8) - 1
        served[trace.op == 1] = -2
        return Result(summarize(c, tiers), c, served)

    def _moves(self, c: Counters, size: list[int]) -> tuple[Callable[[int, int, int, int], float], Callable[[int, int], float]]:
        """The run's page moves as closures over its state: ``fetch(p, tier, now, cause)`` brings a
        page into tier 0, ``write(p, now)`` stores a freshly written page there; each returns its
        cost in ms. Closures keep the per-move state in local cells (the hot path of the loop)."""
        tiers, last = self.tiers, len(self.tiers) - 1
        loc, used, pending, peak = self.loc, self.used, self.pending, c.peak_bytes
        cap = self.cap = [int(t.capacity_bytes) for t in tiers]  # plain Python numbers: no numpy scalar math per access
        self.size = size
        served, bytes_in, bytes_out, demotions = c.served, c.bytes_in, c.bytes_out, c.demotions
        insert, remove, evict, access = self.policy.insert, self.policy.remove, self.policy.evict, self.policy.access
        dq = float(self.quant.dequant_penalty_ms)

        def cost_terms(a: Tier, b: Tier) -> tuple[float, float]:
            """Move a -> b costs fixed + bytes / bw: a's read + b's write latency + dequant, and
            the slower of the two bandwidths."""
            fixed = float(a.read_latency_ms) + float(b.write_latency_ms) + dq
            return fixed, float(min(a.bandwidth_bytes_per_ms, b.bandwidth_bytes_per_ms))

        up = [cost_terms(t, tiers[0]) for t in tiers]  # up[src]: src -> tier 0 (a cold load reads the last tier)
        down = [cost_terms(a, b) for a, b in zip(tiers, tiers[1:])]  # down[k]: demotion k -> k+1
        recompute, write0 = self.recompute_ms, float(tiers[0].write_latency_ms)

        def place(p: int, now: int) -> None:  # room has been made in tier 0
            insert(0, p, now)
            loc[p] = 0
            u = used[0] = used[0] + size[p]
            if u > peak[0]:
                peak[0] = u

        def make_room(k: int, need: int, now: int, cause: int) -> float:
            """Evict from tier k until ``need`` more bytes fit (called only when they do not);
            victims cascade to tier k+1 and the last tier drops them. Counters are added once
            per call: the totals are the same and observers only look between accesses."""
            room = cap[k] - need
            if k == last:
                while used[k] > room:
                    v = evict(k, now)
                    used[k] -= size[v]
                    if k == 0 and pending[v]:  # a prefetched page left tier 0 unread
                        pending[v] = 0
                        c.prefetch_wasted += 1
                    loc[v] = -1
                    c.drops += 1
                return 0.0
            below = k + 1
            fixed_ms, bw = down[k]
            room_below = cap[below]
            cost = 0.0
            moved = count = 0
            while used[k] > room:
                v = evict(k, now)
                sv = size[v]
                used[k] -= sv
                if k == 0 and pending[v]:
                    pending[v] = 0
                    c.prefetch_wasted += 1
                if used[below] + sv > room_below:
                    cost += make_room(below, sv, now, cause)
                cost += fixed_ms + sv / bw
                insert(below, v, now)
                loc[v] = below
                u = used[below] = used[below] + sv
                if u > peak[below]:
                    peak[below] = u
                moved += sv
                count += 1
            demotions[k] += count
            bytes_out[k] += moved
            bytes_in[below] += moved
            if cause == DEMAND:
                c.demand_bytes += moved
            else:
                c.prefetch_bytes += moved
            return cost

        def fetch(p: int, t: int, now: int, cause: int) -> float:
            """Bring ``p`` from tier ``t`` (or from the coldest tier when ``t`` is -1) into tier 0."""
            sz = size[p]
            if t > 0:
                remove(t, p)
                used[t] -= sz
                src = t
            elif recompute is not None:  # cold under recompute: rebuild it in tier 0
                served[-1] += 1
                c.write_bytes += sz
                c.recompute_ms += recompute[p]
                cost = write0 + recompute[p]
                if used[0] + sz > cap[0]:
                    cost += make_room(0, sz, now, cause)
                place(p, now)
                return cost
            else:
                src = last
            if cause == DEMAND:
                served[t] += 1  # t == -1 lands in served[-1], the cold-miss slot
                c.demand_bytes += sz
            else:
                c.prefetch_bytes += sz
            bytes_out[src] += sz
            bytes_in[0] += sz
            fixed_ms, bw = up[src]
            cost = fixed_ms + sz / bw
            if used[0] + sz > cap[0]:
                cost += make_room(0, sz, now, cause)
            insert(0, p, now)  # place(p, now), inlined on the hot path
            loc[p] = 0
            u = used[0] = used[0] + sz
            if u > peak[0]:
                peak[0] = u
            return cost

        def write(p: int, now: int) -> float:
            """A page produced during decode: it enters tier 0 without counting a miss."""
            sz, t = size[p], loc[p]
            c.write_bytes += sz
            if t == 0:
                access(0, p, now)
                if pending[p]:  # overwritten before it was read
                    pending[p] = 0
                    c.prefetch_wasted += 1
                return 0.0
            if t > 0:  # the stale copy below is discarded
                remove(t, p)
                used[t] -= sz
            cost = 0.0
            if used[0] + sz > cap[0]:
                cost += make_room(0, sz, now, DEMAND)
            place(p, now)
            return cost

        return fetch, write


def simulate(
    trace: Trace,
    tiers: Sequence[Tier],
    policy: Policy,
    prefetcher: Prefetcher | None = None,
    quant: QuantScheme | None = None,
    observers: Sequence[Observer] = (),
) -> dict[str, float]:
    """Run one simulation and return its flat metrics dict."""
    return Simulation(tiers, policy, prefetcher, quant).run(trace, observers).metrics
