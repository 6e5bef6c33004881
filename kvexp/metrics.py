"""Raw counters kept by an engine and the flat metrics dict derived from them.

Every engine (the Python reference and any compiled one) fills the same ``Counters``, so the
metric definitions live in one place: ``summarize``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from kvexp.tiers import Tier


@dataclass
class Counters:
    """Raw per-run counts. ``served[k]`` counts reads served by tier k; ``served[-1]`` cold misses."""

    n_tiers: int
    accesses: int = 0
    reads: int = 0
    writes: int = 0
    latency_ms: float = 0.0
    recompute_ms: float = 0.0
    demand_bytes: int = 0
    prefetch_bytes: int = 0
    write_bytes: int = 0
    drops: int = 0
    prefetch_requests: int = 0
    prefetch_useful: int = 0
    prefetch_wasted: int = 0
    # Per-tier lists (plain lists: the reference engine updates them per move).
    served: list[int] = field(init=False)
    demotions: list[int] = field(init=False)  # demotions[k]: moves from tier k to k+1
    bytes_in: list[int] = field(init=False)   # bytes moved into tier k
    bytes_out: list[int] = field(init=False)  # bytes moved out of tier k (cold loads read the last tier)
    peak_bytes: list[int] = field(init=False)

    def __post_init__(self) -> None:
        k = self.n_tiers
        self.served = [0] * (k + 1)
        self.demotions = [0] * k
        self.bytes_in = [0] * k
        self.bytes_out = [0] * k
        self.peak_bytes = [0] * k


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def summarize(c: Counters, tiers: Sequence[Tier]) -> dict[str, float]:
    """The flat metrics dict of a run (every value a number, keys safe for MLflow).

    Tier-indexed keys use ``t0`` for the fastest tier; ``served_frac_tk`` is the fraction of
    reads served by tier k (``served_frac_t0`` equals ``hit_rate``).
    """
    hits = int(c.served[0])
    demotions = int(sum(c.demotions))
    m: dict[str, float] = {
        "accesses": c.accesses,
        "reads": c.reads,
        "writes": c.writes,
        "hits": hits,
        "misses": c.reads - hits,
        "cold_misses": int(c.served[-1]),
        "hit_rate": _ratio(hits, c.reads),
        "evictions": demotions + c.drops,
        "demotions": demotions,
        "drops": c.drops,
        "total_latency_ms": c.latency_ms,
        "avg_latency_ms": _ratio(c.latency_ms, c.accesses),
        "recompute_ms": c.recompute_ms,
        "transfer_ms": c.latency_ms - c.recompute_ms,
        "bytes_moved": c.demand_bytes + c.prefetch_bytes,
        "demand_bytes": c.demand_bytes,
        "prefetch_bytes": c.prefetch_bytes,
        "write_bytes": c.write_bytes,
        "prefetch_requests": c.prefetch_requests,
        "prefetch_useful": c.prefetch_useful,
        "prefetch_wasted": c.prefetch_wasted,
        "prefetch_usefulness": _ratio(c.prefetch_useful, c.prefetch_requests),
    }
    for k in range(len(tiers)):
        m[f"served_frac_t{k}"] = _ratio(c.served[k], c.reads)
        m[f"peak_bytes_t{k}"] = int(c.peak_bytes[k])
        m[f"bytes_in_t{k}"] = int(c.bytes_in[k])
        m[f"bytes_out_t{k}"] = int(c.bytes_out[k])
    m["served_frac_cold"] = _ratio(c.served[-1], c.reads)
    return m
