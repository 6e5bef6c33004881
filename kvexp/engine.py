"""The reference engine: one access loop that owns residency, capacity, cost and metrics.

Per read: find the page's tier -> on a miss, make room in tier 0 (demotions cascade down the
stack, the last tier drops) and move the page up -> ask the prefetcher for candidates. Policies
only order pages inside tiers. This Python engine is the readable specification of the model;
see the README for the cost model. It never scans resident pages per access.
"""
from __future__ import annotations

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


class Simulation:
    """One run of a trace through a tier stack under a policy and a prefetcher."""

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

    def run(self, trace: Trace, observers: Sequence[Observer] = (), every: int = 65536) -> Result:
        """Replay ``trace``; each observer is called every ``every`` accesses and at the end."""
        tiers, K = self.tiers, len(self.tiers)
        page_bytes = self.quant.page_bytes(trace.pages.n_scalars)
        biggest = int(page_bytes.max()) if len(page_bytes) else 0
        for t in tiers:
            if biggest > t.capacity_bytes:
                raise ValueError(
                    f"tier '{t.name}': capacity_bytes {t.capacity_bytes} is smaller than the largest page "
                    f"({biggest} bytes under {self.quant.name}); expected every page to fit every tier"
                )
        if self.recompute_ms is not None and len(self.recompute_ms) != len(page_bytes):
            raise ValueError(f"recompute_ms: expected one cost per page ({len(page_bytes)}), got {len(self.recompute_ms)}")
        ctx = RunContext(trace=trace, page_bytes=page_bytes, n_tiers=K)
        self.policy.bind(ctx)
        self.prefetcher.bind(ctx)

        c = self.counters = Counters(K)
        self.size = page_bytes.tolist()
        self.loc = [-1] * len(page_bytes)
        self.used = [0] * K
        self.peak = c.peak_bytes
        self.cap = [t.capacity_bytes for t in tiers]
        self.pending = bytearray(len(page_bytes))  # 1 while a prefetched page waits in tier 0 unread
        dq = self.quant.dequant_penalty_ms
        # move cost src -> dst = fixed[src][dst] + bytes / min_bw[src][dst]
        self.fixed = [[a.read_latency_ms + b.write_latency_ms + dq for b in tiers] for a in tiers]
        self.min_bw = [[min(a.bandwidth_bytes_per_ms, b.bandwidth_bytes_per_ms) for b in tiers] for a in tiers]

        pages, ops = trace.page.tolist(), trace.op.tolist()
        n = len(pages)
        hit_cost = tiers[0].read_latency_ms + dq
        write_cost = tiers[0].write_latency_ms
        loc, pending = self.loc, self.pending
        served_by = bytearray(n)  # per row: serving tier + 1 (0 = cold or recomputed); writes 255
        skip_cold = self.recompute_ms is not None
        access, fetch, write = self.policy.access, self._fetch, self._write
        on_read = self.prefetcher.on_read if self.prefetcher.enabled else None
        every = max(1, int(every))
        for start in range(0, n, every):
            hits = useful = 0
            latency = c.latency_ms
            for i in range(start, min(n, start + every)):
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
                        if loc[q] != 0 and not (skip_cold and loc[q] < 0):
                            c.prefetch_requests += 1
                            latency += fetch(q, loc[q], i, PREFETCH)
                            pending[q] = 1
            stop = min(n, start + every)
            c.latency_ms = latency
            c.served[0] += hits
            c.prefetch_useful += useful
            c.accesses = stop
            for observe in observers:
                observe(stop, c)
        c.writes = int(trace.op.sum())
        c.reads = n - c.writes
        c.prefetch_wasted += sum(pending)  # prefetched and never read by the end
        served = np.frombuffer(served_by, dtype=np.uint8).astype(np.int8) - 1
        served[trace.op == 1] = -2
        return Result(summarize(c, tiers), c, served)

    # ---- moves --------------------------------------------------------------------------
    def _fetch(self, p: int, t: int, now: int, cause: int) -> float:
        """Bring ``p`` from tier ``t`` (or from the coldest tier when ``t`` is -1) into tier 0."""
        c, sz = self.counters, self.size[p]
        if t > 0:
            self.policy.remove(t, p)
            self.used[t] -= sz
            src = t
        elif self.recompute_ms is not None:  # cold under recompute: rebuild it in tier 0
            c.served[-1] += 1
            c.write_bytes += sz
            c.recompute_ms += self.recompute_ms[p]
            cost = self.tiers[0].write_latency_ms + self.recompute_ms[p]
            cost += self._make_room(0, sz, now, cause)
            self._place(0, p, now)
            return cost
        else:
            src = len(self.tiers) - 1
        if cause == DEMAND:
            c.served[t] += 1  # t == -1 lands in served[-1], the cold-miss slot
            c.demand_bytes += sz
        else:
            c.prefetch_bytes += sz
        c.bytes_out[src] += sz
        c.bytes_in[0] += sz
        cost = self.fixed[src][0] + sz / self.min_bw[src][0]
        cost += self._make_room(0, sz, now, cause)
        self._place(0, p, now)
        return cost

    def _write(self, p: int, now: int) -> float:
        """A page produced during decode: it enters tier 0 without counting a miss."""
        c, sz, t = self.counters, self.size[p], self.loc[p]
        c.write_bytes += sz
        if t == 0:
            self.policy.access(0, p, now)
            if self.pending[p]:  # overwritten before it was read
                self.pending[p] = 0
                c.prefetch_wasted += 1
            return 0.0
        if t > 0:
            self.policy.remove(t, p)
            self.used[t] -= sz
        cost = self._make_room(0, sz, now, DEMAND)
        self._place(0, p, now)
        return cost

    def _make_room(self, k: int, need: int, now: int, cause: int) -> float:
        """Evict from tier ``k`` until ``need`` bytes fit; victims cascade to tier k+1."""
        used, cap = self.used, self.cap
        if used[k] + need <= cap[k]:
            return 0.0
        c, size, loc, pending = self.counters, self.size, self.loc, self.pending
        evict, insert, peak = self.policy.evict, self.policy.insert, self.peak
        below = k + 1
        if below < len(cap):
            fixed, min_bw = self.fixed[k][below], self.min_bw[k][below]
        cost = 0.0
        while used[k] + need > cap[k]:
            v = evict(k, now)
            sv = size[v]
            used[k] -= sv
            if k == 0 and pending[v]:  # a prefetched page left tier 0 unread
                pending[v] = 0
                c.prefetch_wasted += 1
            if below == len(cap):
                loc[v] = -1
                c.drops += 1
                continue
            if used[below] + sv > cap[below]:
                cost += self._make_room(below, sv, now, cause)
            cost += fixed + sv / min_bw
            c.demotions[k] += 1
            c.bytes_out[k] += sv
            c.bytes_in[below] += sv
            if cause == DEMAND:
                c.demand_bytes += sv
            else:
                c.prefetch_bytes += sv
            insert(below, v, now)
            loc[v] = below
            used[below] += sv
            if used[below] > peak[below]:
                peak[below] = used[below]
        return cost

    def _place(self, k: int, p: int, now: int) -> None:
        self.policy.insert(k, p, now)
        self.loc[p] = k
        used = self.used[k] = self.used[k] + self.size[p]
        if used > self.peak[k]:
            self.peak[k] = used


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
