"""Cross-checking single-tier miss counts against libCacheSim (a test-only dependency).

libCacheSim reads its binary ``oracleGeneral`` format: packed little-endian records of
(uint32 time, uint64 object id, uint32 size, int64 next access position, -1 for never), which
also carries the future its Belady needs. Blocks are written with unit size, so a capacity is
a number of blocks, as in ``kvexp.curves``.
"""
from __future__ import annotations

import math
from pathlib import Path

import libcachesim as lcs
import numpy as np
import pandas as pd

from kvexp.curves import lru_curve, simulated_curve
from kvexp.policies.belady import Belady
from kvexp.policies.lru import LRU
from kvexp.trace import READ, Trace

ORACLE_GENERAL = np.dtype([("time", "<u4"), ("obj_id", "<u8"), ("obj_size", "<u4"), ("next_access", "<i8")])


def write_oracle_general(trace: Trace, path: str | Path) -> Path:
    """The trace's reads as unit-size oracleGeneral records (object id = page id + 1)."""
    if np.any(trace.op != READ):
        raise ValueError(f"{trace.source}: libCacheSim replays reads only; the trace has writes")
    n = len(trace)
    rec = np.zeros(n, dtype=ORACLE_GENERAL)
    rec["time"] = np.arange(n)
    rec["obj_id"] = trace.page.astype(np.uint64) + 1
    rec["obj_size"] = 1
    nxt = trace.next_use.copy()
    nxt[nxt == n] = -1
    rec["next_access"] = nxt
    path = Path(path)
    rec.tofile(path)
    return path


def libcachesim_misses(path: str | Path, cache: type, capacity: int, n_requests: int, n_objects: int) -> int:
    """Misses of libCacheSim's ``cache`` class (``libcachesim.LRU``, ``.Belady``, ...) at
    ``capacity`` blocks; ``hashpower`` sized to the objects (its 2^24 default is slow here)."""
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
    hashpower = max(4, math.ceil(math.log2(max(2, n_objects))) + 2)
    miss_ratio, _ = cache(int(capacity), hashpower=hashpower).process_trace(reader)
    return round(miss_ratio * n_requests)


def validation_table(trace: Trace, workdir: str | Path, fractions: tuple[float, ...] = (0.01, 0.1, 0.25)) -> pd.DataFrame:
    """Single-tier miss counts of kvexp and libCacheSim, side by side, for LRU and Belady.

    Capacities are ``round(f * distinct blocks)`` for each fraction, plus the distinct-block count
    itself (label ``inf``: nothing is ever evicted, only cold misses remain). kvexp's LRU is
    counted twice, by the one-pass stack curve and by the engine.
    """
    reads = len(trace)
    distinct = len(np.unique(trace.page))
    labels = [f"{f:.0%}" for f in fractions] + ["inf"]
    caps = [max(1, round(f * distinct)) for f in fractions] + [distinct]
    path = write_oracle_general(trace, Path(workdir) / "trace.oracleGeneral")
    stack = lru_curve(trace, caps)["misses"].tolist()
    engine = simulated_curve(trace, caps, {"lru": LRU, "belady": Belady})
    rows = []
    for i, (label, cap) in enumerate(zip(labels, caps)):
        rows.append({
            "capacity": label, "blocks": cap, "reads": reads, "distinct": distinct,
            "lru_stack": stack[i],
            "lru_engine": int(engine.loc[(engine.policy == "lru") & (engine.capacity == cap), "misses"].iloc[0]),
            "lru_libcachesim": libcachesim_misses(path, lcs.LRU, cap, reads, distinct),
            "belady_engine": int(engine.loc[(engine.policy == "belady") & (engine.capacity == cap), "misses"].iloc[0]),
            "belady_libcachesim": libcachesim_misses(path, lcs.Belady, cap, reads, distinct),
        })
    return pd.DataFrame(rows)
