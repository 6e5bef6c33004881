"""Cross-check against libCacheSim, an independent cache simulator: on one tier holding k
equal-size pages, our LRU, FIFO and Belady must miss exactly as often as its LRU, FIFO and
Belady on the same request stream."""
from __future__ import annotations

import math
from pathlib import Path

import libcachesim as lcs
import numpy as np
import pytest

from kvexp.engine import Simulation
from kvexp.policies.belady import Belady
from kvexp.policies.fifo import FIFO
from kvexp.policies.lru import LRU
from kvexp.tiers import Tier
from kvexp.trace import PageTable, Trace
from kvexp.workloads import synthetic

OURS = {"LRU": LRU, "FIFO": FIFO, "Belady": Belady}
WORKLOADS = [
    "chat_continuation", "rag_burst", "periodic_reuse", "long_tail_mix",
    "prefetch_friendly", "adversarial_prefetch", "adversarial_burst", "mixed_locality",
]


def unit_trace(pages: np.ndarray) -> Trace:
    """The page-id stream as reads of equal-size pages, so a capacity in bytes is a page count."""
    pages = np.asarray(pages)
    return Trace(np.arange(len(pages)), pages, np.zeros(len(pages), np.uint8), PageTable.uniform(int(pages.max()) + 1, 1))


def our_misses(trace: Trace, slots: int) -> dict[str, int]:
    tier = (Tier("only", slots * 2, 0.0, 0.0, 1.0),)  # fp16: 1 scalar = 2 bytes per page
    return {name: Simulation(tier, make()).run(trace).metrics["misses"] for name, make in OURS.items()}


def write_oracle_general(trace: Trace, path: Path) -> Path:
    """libCacheSim's oracleGeneral binary format: (time u32, id u64, size u32, next vtime i64), -1 = never."""
    n = len(trace)
    rec = np.zeros(n, dtype=[("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
    rec["time"] = np.arange(n)
    rec["id"] = trace.page.astype(np.uint64) + 1  # keep id 0 out of libCacheSim's way
    rec["size"] = 1
    following = np.full(n, -1, dtype=np.int64)  # next position of the same id, found independently
    last_seen: dict[int, int] = {}
    for i, p in enumerate(trace.page.tolist()):
        if p in last_seen:
            following[last_seen[p]] = i
        last_seen[p] = i
    rec["next"] = following
    rec.tofile(path)
    return path


def their_misses(path: Path, n: int, n_ids: int, slots: int) -> dict[str, int]:
    hashpower = max(4, math.ceil(math.log2(max(n_ids, 2))) + 2)
    out = {}
    for name in OURS:
        reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
        miss_ratio, _ = getattr(lcs, name)(slots, hashpower=hashpower).process_trace(reader)
        out[name] = round(miss_ratio * n)
    return out


@pytest.mark.parametrize("slots", [200, 2000])
def test_zipf_miss_counts_match_libcachesim(tmp_path, slots):
    trace = unit_trace(synthetic.zipf(n_pages=20_000, length=200_000, alpha=0.9).page)
    ours = our_misses(trace, slots)
    theirs = their_misses(write_oracle_general(trace, tmp_path / "zipf.bin"), len(trace), 20_000, slots)
    assert ours == theirs
    assert ours["Belady"] < ours["LRU"] < ours["FIFO"]  # the cache is really under pressure


@pytest.mark.parametrize("workload", WORKLOADS)
def test_synthetic_workload_miss_counts_match_libcachesim(tmp_path, workload):
    pages = getattr(synthetic, workload)(seed=3).page
    trace = unit_trace(pages)
    n_ids = len(np.unique(pages))
    path = write_oracle_general(trace, tmp_path / f"{workload}.bin")
    for slots in (4, max(5, n_ids // 3)):
        ours = our_misses(trace, slots)
        assert ours == their_misses(path, len(trace), n_ids, slots), f"{workload} at {slots} pages"
        assert ours["Belady"] < ours["LRU"]
