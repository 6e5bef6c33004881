"""Capacity curves: one-pass LRU stack distances against per-capacity engine runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kvexp.curves import (
    COLD, capacity_curve, lru_curve, lru_grid, plot_curves, simulated_curve, simulated_grid, stack_distances,
)
from kvexp.policies.belady import Belady
from kvexp.policies.fifo import FIFO
from kvexp.policies.lru import LRU
from kvexp.workloads.jsonl import mooncake
from kvexp.workloads.synthetic import long_tail_mix, rag_burst

REPO = Path(__file__).resolve().parents[1]


def naive_distances(pages):
    """Move-to-front list: the distance is the 1-based depth of the block in the LRU stack."""
    stack, out = [], []
    for p in pages:
        if p in stack:
            out.append(len(stack) - stack.index(p))
            stack.remove(p)
        else:
            out.append(COLD)
        stack.append(p)
    return out


@pytest.fixture
def request_trace(tmp_path):
    """A small Mooncake-format trace whose prefixes overlap, with output blocks (writes)."""
    rng = np.random.default_rng(3)
    lines = []
    for r in range(60):
        root = int(rng.integers(0, 6))  # one of 6 shared prefixes, then a private tail
        n = int(rng.integers(1, 7))
        ids = [root * 100 + j for j in range(min(n, 3))] + [10_000 + r * 10 + j for j in range(max(0, n - 3))]
        lines.append({"timestamp": r, "input_length": 512 * len(ids) - 7, "output_length": int(rng.integers(0, 900)),
                      "hash_ids": ids})
    path = tmp_path / "req.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return mooncake(path, output_blocks=True)


def test_stack_distances_by_hand_and_against_a_move_to_front_list():
    # 0 1 2 0 -> 0 was 3 deep ({1, 2} touched since); 1 -> 3 deep ({2, 0}); 3 new; 0 -> 3 deep ({1, 3})
    assert stack_distances(np.array([0, 1, 2, 0, 1, 3, 0])).tolist() == [COLD, COLD, COLD, 3, 3, COLD, 3]
    assert stack_distances(np.array([5, 5, 5])).tolist() == [COLD, 1, 1]
    rng = np.random.default_rng(0)
    for n_pages in (3, 40, 300):
        pages = rng.integers(0, n_pages, 2000)
        assert stack_distances(pages).tolist() == naive_distances(pages.tolist())


@pytest.mark.parametrize("make", [rag_burst, long_tail_mix])
def test_one_pass_lru_equals_engine_at_every_capacity_synthetic(make):
    tr = make()
    caps = list(range(1, len(np.unique(tr.page)) + 2))
    stack = lru_curve(tr, caps)
    engine = simulated_curve(tr, caps, {"lru": LRU})
    assert stack["misses"].tolist() == engine["misses"].tolist()
    assert stack["hit_rate"].tolist() == engine["hit_rate"].tolist()
    # at full capacity only cold misses remain
    assert stack["misses"].iloc[-1] == len(np.unique(tr.page))


def test_one_pass_lru_equals_engine_on_a_request_trace_with_writes(request_trace):
    tr = request_trace
    assert (tr.op == 1).any()  # output blocks occupy the cache but are not reads
    caps = list(range(1, len(tr.pages) + 1, 3))
    stack = lru_curve(tr, caps)
    engine = simulated_curve(tr, caps, {"lru": LRU})
    assert stack["misses"].tolist() == engine["misses"].tolist()
    assert (stack["reads"] == (tr.op == 0).sum()).all()


def test_two_tier_lru_grid_equals_engine(request_trace):
    caps0, caps1 = [1, 4, 9, 20], [1, 5, 30]
    stack = lru_grid(request_trace, caps0, caps1)
    engine = simulated_grid(request_trace, caps0, caps1, {"lru": LRU})
    cols = ["capacity_t0", "capacity_t1", "hit_rate", "served_t1", "resident_rate"]
    pd.testing.assert_frame_equal(stack[cols], engine[cols])
    assert (stack["served_t1"] > 0).any()


def test_belady_bounds_the_online_policies(request_trace):
    caps = [1, 2, 5, 10, 20, 40, 80]
    curve = capacity_curve(request_trace, caps, {"lru": LRU, "fifo": FIFO, "belady": Belady})
    assert curve.loc[curve.policy == "lru", "method"].eq("stack").all()
    assert curve.loc[curve.policy == "fifo", "method"].eq("engine").all()
    misses = curve.pivot(index="capacity", columns="policy", values="misses")
    assert (misses["belady"] <= misses["lru"]).all() and (misses["belady"] <= misses["fifo"]).all()
    assert (misses["belady"] < misses["lru"]).any()
    assert misses["lru"].is_monotonic_decreasing  # LRU has the inclusion property


def test_plot_writes_a_png(tmp_path, request_trace):
    curve = capacity_curve(request_trace, [1, 4, 16], {"lru": LRU, "belady": Belady})
    path = plot_curves(curve, tmp_path / "curve.png", "t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_capacity_curve_script_writes_csv_and_png(tmp_path, request_trace):
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "scripts" / "capacity_curve.py"), request_trace.source, "--format", "mooncake",
           "--output-blocks", "--policies", "lru", "kvexp.policies.belady.Belady", "--fractions", "0.05", "0.5", "1.0",
           "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=tmp_path)
    curve = pd.read_csv(out / "curve.csv")
    assert (out / "curve.png").stat().st_size > 0
    distinct = len(np.unique(request_trace.page))
    caps = [round(f * distinct) for f in (0.05, 0.5, 1.0)]
    assert curve.loc[curve.policy == "lru", "misses"].tolist() == lru_curve(request_trace, caps)["misses"].tolist()
    expected = simulated_curve(request_trace, caps, {"belady": Belady})["misses"].tolist()
    assert curve.loc[curve.policy == "belady", "misses"].tolist() == expected


def test_capacities_must_be_positive_block_counts(request_trace):
    for bad in ([0, 4], [], [-1]):
        with pytest.raises(ValueError, match="capacities: expected one or more block counts >= 1"):
            lru_curve(request_trace, bad)
        with pytest.raises(ValueError, match="capacities: expected one or more block counts >= 1"):
            simulated_curve(request_trace, bad, {"lru": LRU})
