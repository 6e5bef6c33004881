"""The README's validation table on the shared Mooncake trace, cross-checked against libCacheSim.

Single tier, unit-size blocks (one block per entry), block-level hits, cold misses included.
The trace is read from the shared folder next to the checkout and never copied into the repo;
the tests skip when it is absent.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvexp.crosscheck import validation_table
from kvexp.engine import Simulation
from kvexp.hardware import h100
from kvexp.models import preset
from kvexp.policies.lru import LRU
from kvexp.requests import page_recompute_ms, request_metrics
from kvexp.workloads.jsonl import mooncake

TRACE = Path(__file__).resolve().parents[2] / "shared" / "traces" / "mooncake" / "synthetic_trace.jsonl"
pytestmark = pytest.mark.skipif(not TRACE.is_file(), reason=f"shared Mooncake trace not found at {TRACE}")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return validation_table(mooncake(TRACE), tmp_path_factory.mktemp("lcs"))


def test_trace_matches_its_published_counts(table):
    # the shared traces README: 121,877 block accesses over 43,924 distinct blocks
    assert (table.reads[0], table.distinct[0]) == (121_877, 43_924)
    assert table.blocks.tolist() == [439, 4392, 10981, 43924]  # 1%, 10%, 25% rounded; all


def test_lru_and_belady_miss_counts_equal_libcachesim(table):
    for row in table.itertuples():
        assert row.lru_stack == row.lru_engine == row.lru_libcachesim, row.capacity
        assert row.belady_engine == row.belady_libcachesim, row.capacity
        assert row.belady_engine <= row.lru_engine


def test_infinite_capacity_leaves_only_cold_misses(table):
    inf = table[table.capacity == "inf"].iloc[0]
    reads, distinct = int(inf.reads), int(inf.distinct)
    assert inf.lru_engine == inf.belady_engine == inf.lru_libcachesim == inf.belady_libcachesim == distinct
    ceiling = (reads - distinct) / reads  # (121,877 - 43,924) / 121,877 = 0.6396
    finite = table[table.capacity != "inf"]
    assert ((reads - finite.belady_engine) / reads < ceiling).all()


def test_three_tier_h100_run_with_llama3_70b_pages():
    """The shared trace through HBM -> DDR5 -> NVMe with 160 MiB blocks, cold blocks recomputed."""
    tr = mooncake(TRACE, model="llama3-70b", output_blocks=True)
    tiers = h100()
    block = preset("llama3-70b").block_bytes(512)
    assert block == 512 * 320 * 1024
    res = Simulation(tiers, LRU(), recompute_ms=page_recompute_ms(tr)).run(tr)
    m, r = res.metrics, request_metrics(tr, res.served_by)
    # every tier was used and its peak stayed within capacity
    for k, t in enumerate(tiers):
        assert 0 < m[f"peak_bytes_t{k}"] <= t.capacity_bytes
        assert m[f"peak_bytes_t{k}"] > t.capacity_bytes - block
    # block hits = reads served by any tier; the rest were recomputed and written into HBM
    assert r["block_hit_rate"] == pytest.approx(1 - m["served_frac_cold"])
    assert r["recomputed_blocks"] == m["cold_misses"]
    assert m["write_bytes"] == r["written_blocks"] * block
    assert m["recompute_ms"] == pytest.approx(r["block_recompute_ms"])
    assert r["prefix_hit_tokens"] <= r["block_hit_tokens"] and r["prompt_tokens"] == sum_input_tokens()
    # everything beyond the cold floor must come from a tier: hits can't exceed the ceiling
    assert r["block_hit_rate"] <= (121_877 - 43_924) / 121_877
    assert m["transfer_ms"] > 0 and m["recompute_ms"] > 0


def sum_input_tokens() -> int:
    """Prompt tokens counted straight from the file, independently of the reader."""
    with open(TRACE) as f:
        return sum(json.loads(line)["input_length"] for line in f if line.strip())
