"""Run a trace through the compiled engine and hand back the reference engine's ``Result``."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from kvexp.engine import Observer, Result, check_fit
from kvexp.fast import bucket_arrays
from kvexp.fast.build import POLICY_KINDS, PREFETCH_KINDS, engine_state, policy_state, prefetch_state
from kvexp.fast.jit import quiet_compile
from kvexp.fast.kernel import (DEMAND_BYTES, DROPS, HITS, LATENCY, PF_REQUESTS, PF_USEFUL, PF_WASTED,
                               PREFETCH_BYTES, RECOMPUTE, WRITE_BYTES, EngineState, run_span)
from kvexp.fast.nextuse import NextUse
from kvexp.fast.policies import BELADY
from kvexp.fast.prefetch import grow
from kvexp.metrics import Counters, summarize
from kvexp.policies.base import Policy
from kvexp.prefetch.base import Prefetcher
from kvexp.quant import QuantScheme, fp16
from kvexp.tiers import Tier
from kvexp.trace import Trace


def supports(policy: Policy, prefetcher: Prefetcher | None = None) -> bool:
    """True when both objects are instances of the exact built-in classes the fast engine
    compiles (a subclass, or any other policy, runs on the reference engine unchanged)."""
    return type(policy) in POLICY_KINDS and type(prefetcher) in PREFETCH_KINDS


def _check(tiers: tuple[Tier, ...], quant: QuantScheme, page_bytes: np.ndarray,
           recompute_ms: Sequence[float] | None) -> None:
    """The reference engine's input checks, in its order and with its messages."""
    if len(tiers) == 0:
        raise ValueError("tiers: expected at least one tier, got none")
    if recompute_ms is not None:
        bad = [p for p, ms in enumerate(recompute_ms) if not (ms >= 0 and math.isfinite(ms))]
        if bad:
            raise ValueError(f"recompute_ms: page {bad[0]}: expected a cost >= 0 ms, got {recompute_ms[bad[0]]!r}")
    check_fit(tiers, quant, page_bytes, recompute_ms)
    if len(tiers) > 127:
        raise ValueError(f"tiers: the fast engine handles at most 127 tiers, got {len(tiers)}")


def _counters(c: Counters, e: EngineState, done: int, writes: int) -> None:
    """Copy the kernel's counters into ``c`` (as the reference has them after ``done`` rows)."""
    cnt = e.cnt
    c.accesses, c.writes, c.reads = done, writes, done - writes
    c.latency_ms = float(e.flt[LATENCY])
    c.recompute_ms = float(e.flt[RECOMPUTE])
    c.demand_bytes, c.prefetch_bytes = int(cnt[DEMAND_BYTES]), int(cnt[PREFETCH_BYTES])
    c.write_bytes, c.drops = int(cnt[WRITE_BYTES]), int(cnt[DROPS])
    c.prefetch_requests, c.prefetch_useful = int(cnt[PF_REQUESTS]), int(cnt[PF_USEFUL])
    c.prefetch_wasted = int(cnt[PF_WASTED])
    c.served = e.served.tolist()
    c.served[0] = int(cnt[HITS])
    c.demotions, c.bytes_in, c.bytes_out = e.demotions.tolist(), e.bytes_in.tolist(), e.bytes_out.tolist()
    c.peak_bytes = e.peak.tolist()


def run(
    trace: Trace,
    tiers: Sequence[Tier],
    policy: Policy,
    prefetcher: Prefetcher | None = None,
    quant: QuantScheme | None = None,
    recompute_ms: Sequence[float] | None = None,
    observers: Sequence[Observer] = (),
    every: int = 65536,
) -> Result:
    """Replay ``trace`` like ``kvexp.engine.Simulation(tiers, policy, prefetcher, quant,
    recompute_ms).run(trace, observers, every)``, with identical results, in compiled code.

    Parameters are read from ``policy`` and ``prefetcher``, which must satisfy ``supports``;
    their own Python state is neither bound nor changed."""
    if not supports(policy, prefetcher):
        raise TypeError(
            f"kvexp.fast: no compiled path for policy {type(policy).__name__} with prefetcher "
            f"{type(prefetcher).__name__}; expected the built-in classes (use the reference engine)"
        )
    tiers, quant = tuple(tiers), quant or fp16()
    recompute_ms = None if recompute_ms is None else [float(x) for x in recompute_ms]
    page_bytes = quant.page_bytes(trace.pages.n_scalars)
    _check(tiers, quant, page_bytes, recompute_ms)
    n, n_pages = len(trace), len(page_bytes)
    if n >= 2**31 - 1:
        raise ValueError(f"trace: the fast engine handles traces below 2**31 rows, got {n:,}")
    page = np.ascontiguousarray(trace.page, dtype=np.int32)
    op = np.ascontiguousarray(trace.op, dtype=np.uint8)
    e = engine_state(tiers, quant, page_bytes, recompute_ms)
    pf = prefetch_state(prefetcher, n_pages, n)
    degree = pf.degree if PREFETCH_KINDS[type(prefetcher)] else 0
    every = max(1, int(every))
    stops = set(range(every, n, every)) | {n} if observers else {n}
    nu = NextUse(page, n_pages) if POLICY_KINDS[type(policy)] == BELADY else None
    ps = policy_state(policy, page_bytes, e.cap, page, degree, e.loc, None if nu is None else nu.first)
    if nu is not None:
        ps = ps._replace(nu=nu.nu)
        stops |= set(nu.starts[1:].tolist())
    served = np.empty(n, np.int8)
    c = Counters(len(tiers))
    chunk, pos, writes = 0, 0, 0
    with quiet_compile():  # (the first run compiles)
        for stop in sorted(stops):
            writes += int(np.count_nonzero(op[pos:stop]))
            if nu is not None and pos == nu.starts[chunk]:
                nu.load(chunk)
                ps.nu_base[0] = pos
                chunk += 1
            while pos < stop:
                pos = run_span(pos, stop, page, op, served, e, ps, pf)
                if pos < stop:
                    if bucket_arrays.full(ps.buckets):
                        ps = ps._replace(buckets=bucket_arrays.grow(ps.buckets))
                    else:
                        pf = grow(pf)
            if observers and stop > 0 and (stop % every == 0 or stop == n):
                _counters(c, e, stop, writes)
                for observe in observers:
                    observe(stop, c)
    _counters(c, e, n, writes)
    c.prefetch_wasted += int(np.count_nonzero(e.pending))  # prefetched and never read by the end
    return Result(summarize(c, tiers), c, served)
