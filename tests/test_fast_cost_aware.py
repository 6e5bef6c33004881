"""cost_aware on the fast engine: when its key ranks pages as heavy_hitter's does, it runs on
frequency buckets (``kvexp.fast.build.ranks_as_heavy_hitter``), else on ladders.

The claim is checked three ways: the reference engine's cost_aware and heavy_hitter evict alike
where the bound says so (and differently in the cases it refuses); the fast engine matches the
reference whichever structure it picked; and the bound is tested against the reference's own
float keys, every (hist, last) pair of small runs sorted both ways.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import kvexp.fast
import kvexp.fast.driver
from kvexp.engine import Simulation
from kvexp.fast.build import policy_state, ranks_as_heavy_hitter
from kvexp.fast.policies import COST_AWARE, HEAVY_HITTER
from kvexp.policies.base import RunContext
from kvexp.policies.cost_aware import CostAware
from kvexp.policies.heavy_hitter import HeavyHitter
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.prefetch.stride import StridePrefetch
from kvexp.quant import fp16, int4
from kvexp.tiers import Tier, reference_tiers
from kvexp.trace import PageTable, Trace
from kvexp.workloads import synthetic

PREFETCHERS = {"none": lambda: None, "markov": MarkovPrefetch, "stride": StridePrefetch}


def _run_both(monkeypatch, trace: Trace, tiers, make_policy, make_prefetcher, quant) -> tuple[int, dict]:
    """Run both engines; they must agree exactly. Returns the kind the fast run was built as,
    and the reference metrics."""
    kinds = []

    def spy(*args, **kwargs):
        state = policy_state(*args, **kwargs)
        kinds.append(state.kind)
        return state

    monkeypatch.setattr(kvexp.fast.driver, "policy_state", spy)
    ref = Simulation(tiers, make_policy(), make_prefetcher(), quant).run(trace)
    fast = kvexp.fast.run(trace, tiers, make_policy(), make_prefetcher(), quant)
    assert fast.metrics == ref.metrics and np.array_equal(fast.served_by, ref.served_by)
    return kinds[-1], ref.metrics


def _reference(trace: Trace, tiers, make_policy, make_prefetcher, quant) -> dict:
    return Simulation(tiers, make_policy(), make_prefetcher(), quant).run(trace).metrics


STACKS = [reference_tiers(1 / 4),
          (Tier("hbm", 30_000, 0.02, 0.02, 80_000.0), Tier("dram", 60_000, 0.4, 0.35, 8_000.0))]


@pytest.mark.parametrize("workload", ["chat_continuation", "rag_burst", "long_tail_mix", "mixed_locality"])
def test_cost_aware_on_one_page_size_evicts_as_heavy_hitter_on_its_buckets(monkeypatch, workload):
    """Pages of one size (no jitter), default weights: the reference's cost_aware and
    heavy_hitter give identical results, and the fast engine runs cost_aware as heavy_hitter."""
    trace = getattr(synthetic, workload)(scalar_jitter=0)
    assert len(set(trace.pages.n_scalars.tolist())) == 1
    for tiers, (pf, make_pf), quant in itertools.product(STACKS, PREFETCHERS.items(), (fp16(), int4())):
        kind, metrics = _run_both(monkeypatch, trace, tiers, CostAware, make_pf, quant)
        assert kind == HEAVY_HITTER, pf
        assert metrics == _reference(trace, tiers, HeavyHitter, make_pf, quant), pf


@pytest.mark.parametrize("case", ["recency_outweighs", "sizes_differ"])
def test_cost_aware_stays_on_its_ladder_where_it_ranks_otherwise(monkeypatch, case):
    """Recency weighing more than a touch, or a size penalty over pages of several sizes, can
    put a page with more touches first: the reference's cost_aware then evicts otherwise than
    heavy_hitter somewhere here, so the fast engine must keep cost_aware's own order."""
    jitter, make = {"recency_outweighs": (0, lambda: CostAware(recency_weight=3.0)),
                    "sizes_differ": (64, CostAware)}[case]
    differ = 0
    for workload, tiers, (pf, make_pf) in itertools.product(["rag_burst", "long_tail_mix"], STACKS,
                                                            PREFETCHERS.items()):
        trace = getattr(synthetic, workload)(scalar_jitter=jitter)
        kind, metrics = _run_both(monkeypatch, trace, tiers, make, make_pf, fp16())
        assert kind == COST_AWARE, (workload, pf)
        differ += metrics != _reference(trace, tiers, HeavyHitter, make_pf, fp16())
    assert differ > 0


def test_without_a_size_penalty_sizes_do_not_matter(monkeypatch):
    trace = synthetic.long_tail_mix(scalar_jitter=64)
    make = lambda: CostAware(size_penalty=0.0)  # noqa: E731
    kind, metrics = _run_both(monkeypatch, trace, STACKS[0], make, StridePrefetch, fp16())
    assert kind == HEAVY_HITTER
    assert metrics == _reference(trace, STACKS[0], HeavyHitter, StridePrefetch, fp16())


def _reference_keys(policy: CostAware, rows: int, hists: range, page_bytes: np.ndarray) -> list[tuple]:
    """The reference's key (``CostAware.key``) of a page at every hist in ``hists`` and every
    ``last`` below ``rows``, in a run of ``rows`` rows: one page id per pair, in (hist, last)
    order, each page of the size ``page_bytes`` gives it."""
    pairs = list(itertools.product(hists, range(rows)))
    sizes = np.resize(page_bytes, len(pairs))
    trace = Trace(np.arange(rows), np.zeros(rows, np.int64), np.zeros(rows, np.uint8), PageTable.uniform(len(pairs)))
    policy.bind(RunContext(trace, sizes, 1))
    for p, (h, last) in enumerate(pairs):
        policy._hist[p], policy._last[p] = h, last
    return [policy.key(p, rows) for p in range(len(pairs))]


WEIGHTS = [(1.0, 1.0, 0.5), (1.0, 0.0, 0.5), (0.0, 1.0, 0.5), (0.0, 0.0, 0.0), (2.0, 3.0, 0.5), (0.5, 3.0, 2.0),
           (1e-3, 1e-3, 1e3), (3.0, 1.0, 7.0)]


@pytest.mark.parametrize("rows", [1, 2, 3, 10, 61])
@pytest.mark.parametrize("fw, rw, penalty", WEIGHTS)
def test_the_bound_admits_only_weights_whose_float_keys_rank_by_hist_then_last(rows, fw, rw, penalty):
    """Sort the reference's float keys of every (hist, last) pair a run of ``rows`` rows can
    reach: where ``ranks_as_heavy_hitter`` says yes, that order must be (hist, last, page).
    Where the order is not, it must say no (it may say no to weights that would have done)."""
    policy = CostAware(freq_weight=fw, recency_weight=rw, size_penalty=penalty)
    one_size = np.array([512])
    keys = _reference_keys(policy, rows, range(2 * rows + 2), one_size)
    by_key = sorted(range(len(keys)), key=keys.__getitem__)
    ranks = by_key == list(range(len(keys)))
    admitted = ranks_as_heavy_hitter(policy, one_size, rows)
    assert ranks or not admitted
    if fw > rw or (fw == rw > 0):  # one touch outweighs any recency: admitted at these small sizes
        assert admitted and ranks


def test_the_bound_refuses_what_it_cannot_show():
    one, two = np.array([512, 512]), np.array([512, 1024])
    assert ranks_as_heavy_hitter(CostAware(), one, 10**6)
    assert not ranks_as_heavy_hitter(CostAware(), two, 10**6)  # the size penalty ranks pages apart
    assert ranks_as_heavy_hitter(CostAware(size_penalty=0.0), two, 10**6)
    assert not ranks_as_heavy_hitter(CostAware(recency_weight=1.01), one, 10**6)
    assert not ranks_as_heavy_hitter(CostAware(), one, 10**8)  # rounding can tie hist h at the end with h+1 at 0:
    policy, rows, h = CostAware(), 10**8, 2 * 10**8 - 2  # (a hist a run of 1e8 rows with prefetch can reach)
    trace = Trace(np.arange(2), np.zeros(2, np.int64), np.zeros(2, np.uint8), PageTable.uniform(2))
    policy.bind(RunContext(trace, one, 1))
    policy._length = rows  # the reference's key in a run of 1e8 rows (a trace that long would take 1.3 GB)
    policy._hist[:], policy._last[:] = [h, h + 1], [rows - 1, 0]
    assert policy.key(1, rows) < policy.key(0, rows)  # the page with one touch more goes first
    assert ranks_as_heavy_hitter(CostAware(recency_weight=0.5), one, 10**8)
    assert not ranks_as_heavy_hitter(CostAware(), np.zeros(0, np.int64), 10)
