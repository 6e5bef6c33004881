"""Hit rate against capacity: per-capacity engine runs for any policy, one pass for LRU.

Curves count blocks, not bytes: every page is treated as one unit-size block (``unit_trace``),
so a capacity is a number of blocks and a hit is a block-level hit in tier 0. Writes (output
blocks) occupy the cache like any insert but are not counted as hits or misses; cold misses
are included.

LRU has the inclusion property: a cache of C blocks holds exactly the C most recently used
blocks. So a read hits at every capacity >= its stack distance (1 + the number of distinct
blocks touched since the block's previous touch), and one pass over the trace gives the whole
curve. Under this engine an exclusive LRU hierarchy with demote-on-evict and promote-on-hit
keeps the same stack split across tiers, so the same distances give a two-tier grid:
tier 0 serves d <= C0 and tier 1 serves C0 < d <= C0 + C1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kvexp.engine import Result, Simulation
from kvexp.policies.base import Policy
from kvexp.policies.lru import LRU
from kvexp.quant import QuantScheme
from kvexp.tiers import Tier
from kvexp.trace import READ, PageTable, Trace

UNIT = QuantScheme("unit", 1.0)  # 1 byte per scalar: a 1-scalar page is a 1-byte block
COLD = np.iinfo(np.int64).max  # stack distance of a first touch: a miss at every capacity


def unit_trace(trace: Trace) -> Trace:
    """The same accesses with every page one byte under ``UNIT`` (capacities count blocks)."""
    return Trace(trace.step, trace.page, trace.op, PageTable.uniform(len(trace.pages), 1), trace.meta, trace.source)


def stack_distances(pages: np.ndarray) -> np.ndarray:
    """LRU stack distance of every access (``COLD`` for a first touch), in O(n log n).

    For a touch at i whose previous touch of the same block was at j, the distance is 1 + the
    distinct blocks touched in (j, i) = ``i - j - c``, where c counts the positions k in (j, i)
    that are repeats within (j, i), i.e. with ``j < prev[k]``. Positions k <= j have
    prev[k] < j, so c is the number of prev values > j among all k < i: a Fenwick tree over
    prev values, one query and one insert per repeat touch.
    """
    pages = np.asarray(pages, dtype=np.int64)
    n = len(pages)
    order = np.argsort(pages, kind="stable")
    prev = np.full(n, -1, dtype=np.int64)  # previous touch of the same block, or -1
    same = pages[order[1:]] == pages[order[:-1]]
    prev[order[1:][same]] = order[:-1][same]
    out = np.full(n, COLD, dtype=np.int64)
    repeat = np.flatnonzero(prev >= 0)
    dist = []
    tree = [0] * (n + 1)  # counts of inserted prev values v, at 1-based index v + 1
    inserted = 0
    for i, j in zip(repeat.tolist(), prev[repeat].tolist()):
        k, below = j + 1, 0  # inserted values <= j
        while k:
            below += tree[k]
            k &= k - 1
        dist.append(i - j - inserted + below)
        k = j + 1
        while k <= n:
            tree[k] += 1
            k += k & -k
        inserted += 1
    out[repeat] = dist
    return out


def _capacities(capacities: Sequence[int]) -> np.ndarray:
    caps = np.asarray(capacities, dtype=np.int64)
    if caps.ndim != 1 or caps.size == 0 or (caps < 1).any():
        raise ValueError(f"capacities: expected one or more block counts >= 1, got {list(capacities)!r}")
    return caps


def _read_distances(trace: Trace) -> np.ndarray:
    return stack_distances(trace.page)[trace.op == READ]


def lru_curve(trace: Trace, capacities: Sequence[int]) -> pd.DataFrame:
    """The LRU curve at ``capacities`` (blocks) from one pass: a read hits iff distance <= C."""
    caps = _capacities(capacities)
    d = np.sort(_read_distances(trace))
    hits = np.searchsorted(d, caps, side="right")
    return _frame("lru", caps, len(d) - hits, len(d), "stack")


def simulated_curve(
    trace: Trace, capacities: Sequence[int], policies: Mapping[str, Callable[[], Policy]]
) -> pd.DataFrame:
    """One single-tier engine run per (policy, capacity) on unit-size blocks.

    ``policies`` maps a label to a zero-argument factory (a class such as
    ``kvexp.policies.belady.Belady`` works); a fresh policy is made for every run.
    """
    caps = _capacities(capacities)
    unit = unit_trace(trace)
    reads = int((unit.op == READ).sum())
    frames = []
    for label, make in policies.items():
        misses = [_run(unit, make, (int(c),)).metrics["misses"] for c in caps]
        frames.append(_frame(label, caps, np.asarray(misses), reads, "engine"))
    return pd.concat(frames, ignore_index=True)


def capacity_curve(
    trace: Trace, capacities: Sequence[int], policies: Mapping[str, Callable[[], Policy]], *, lru_one_pass: bool = True
) -> pd.DataFrame:
    """Tidy curve (policy, capacity, hit_rate, misses, reads, method) for every policy.

    A policy whose factory is ``kvexp.policies.lru.LRU`` comes from ``lru_curve`` (one pass)
    unless ``lru_one_pass`` is False; the others from ``simulated_curve``.
    """
    frames = []
    for label, make in policies.items():
        if lru_one_pass and make is LRU:
            frames.append(lru_curve(trace, capacities).assign(policy=label))
        else:
            frames.append(simulated_curve(trace, capacities, {label: make}))
    return pd.concat(frames, ignore_index=True)


def lru_grid(trace: Trace, capacities0: Sequence[int], capacities1: Sequence[int]) -> pd.DataFrame:
    """Two-tier LRU from one pass: per (C0, C1), tier-0 hit rate and reads served by tier 1."""
    d = np.sort(_read_distances(trace))
    reads = len(d)
    rows = []
    for c0 in capacities0:
        h0 = int(np.searchsorted(d, c0, side="right"))
        for c1 in capacities1:
            h01 = int(np.searchsorted(d, c0 + c1, side="right"))
            rows.append(_grid_row("lru", c0, c1, reads, h0, h01 - h0, "stack"))
    return pd.DataFrame(rows)


def simulated_grid(
    trace: Trace, capacities0: Sequence[int], capacities1: Sequence[int], policies: Mapping[str, Callable[[], Policy]]
) -> pd.DataFrame:
    """Two-tier engine runs (unit-size blocks) over the grid ``capacities0 x capacities1``."""
    unit = unit_trace(trace)
    reads = int((unit.op == READ).sum())
    rows = []
    for label, make in policies.items():
        for c0 in capacities0:
            for c1 in capacities1:
                served = _run(unit, make, (int(c0), int(c1))).counters.served
                rows.append(_grid_row(label, c0, c1, reads, served[0], served[1], "engine"))
    return pd.DataFrame(rows)


def plot_curves(curve: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Hit rate against capacity, one line per policy; ``belady`` drawn dashed as the bound."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for label, part in curve.groupby("policy", sort=False):
        bound = label == "belady"
        ax.plot(part["capacity"], part["hit_rate"], "k--" if bound else "-", marker="" if bound else "o",
                markersize=3, label=f"{label} (bound)" if bound else label)
    ax.set_xscale("log")
    ax.set_xlabel("tier-0 capacity (blocks)")
    ax.set_ylabel("block hit rate")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title)
    path = Path(path)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _run(unit: Trace, make: Callable[[], Policy], capacities: tuple[int, ...]) -> Result:
    """A run with tiers of ``capacities`` blocks (costs are irrelevant to hit counts)."""
    tiers = tuple(Tier(f"t{k}", c, float(k), float(k), 1.0) for k, c in enumerate(capacities))
    return Simulation(tiers, make(), quant=UNIT).run(unit)


def _grid_row(policy: str, c0: int, c1: int, reads: int, hits: int, served_t1: int, method: str) -> dict:
    return {"policy": policy, "capacity_t0": int(c0), "capacity_t1": int(c1), "hit_rate": hits / reads,
            "served_t1": int(served_t1), "resident_rate": (hits + served_t1) / reads, "reads": reads, "method": method}


def _frame(policy: str, caps: np.ndarray, misses: np.ndarray, reads: int, method: str) -> pd.DataFrame:
    misses = np.asarray(misses, dtype=np.int64)
    return pd.DataFrame({
        "policy": policy, "capacity": caps, "hit_rate": (reads - misses) / reads if reads else 0.0,
        "misses": misses, "reads": reads, "method": method,
    })
