"""The fast engine against the reference engine: identical results, or it is not used.

Every comparison demands exact equality of the whole metrics dict (counts, and floats to the
last bit: the kernel adds the same float terms in the same order as ``kvexp/engine.py``) and
of the per-row ``served_by`` array. The cases cover every built-in policy x every synthetic
workload x four tier stacks x prefetch none/markov/stride x fp16/int4, the other quant schemes
and recompute mode on a subset, random traces with writes and uneven page sizes, observers,
and a cross-check of the full-size Zipf trace against libCacheSim. Cold, the first test also
pays numba's one-time compilation (about a minute), cached on disk afterwards.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import libcachesim as lcs
import numba
import numpy as np
import pytest

import kvexp.fast
import kvexp.fast.driver
import kvexp.fast.nextuse
import kvexp.fast.prefetch
from kvexp.config import EngineKind
from kvexp.crosscheck import libcachesim_misses, write_oracle_general
from kvexp.engine import Simulation
from kvexp.fast.build import policy_state
from kvexp.fast.calendar_queue import LEAD, NB2, PAGE, Calendars
from kvexp.fast.heap import DEEP
from kvexp.fast.kernel import FAR_PAGES
from kvexp.fast.ladder_arrays import SPLIT_B
from kvexp.hardware import h100
from kvexp.policies.belady import Belady
from kvexp.policies.cost_aware import CostAware
from kvexp.policies.fifo import FIFO
from kvexp.policies.heavy_hitter import HeavyHitter
from kvexp.policies.lfu import LFU
from kvexp.policies.lru import LRU
from kvexp.policies.predictive import Predictive
from kvexp.policies.priority import PriorityPolicy
from kvexp.policies.regret_aware import RegretAware
from kvexp.policies.windowed_recency import WindowedRecency
from kvexp.prefetch.base import NoPrefetch, Prefetcher
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.prefetch.stride import StridePrefetch
from kvexp.quant import fp8, fp16, int2, int4
from kvexp.requests import page_recompute_ms
from kvexp.run import AUTO_FAST_MIN_ACCESSES, Parts, execute
from kvexp.tiers import Tier, reference_tiers
from kvexp.trace import PageTable, Trace
from kvexp.workloads import synthetic
from kvexp.workloads.jsonl import mooncake

POLICIES = {
    "lru": LRU, "fifo": FIFO, "lfu": LFU, "heavy_hitter": HeavyHitter, "windowed_recency": WindowedRecency,
    "cost_aware": CostAware, "predictive": Predictive, "regret_aware": RegretAware, "belady": Belady,
}
# Non-default parameters, so the kernels are shown to read them from the instances.
VARIANTS = [
    lambda: WindowedRecency(window_size=5), lambda: CostAware(freq_weight=0.5, recency_weight=3.0, size_penalty=2.0),
    lambda: Predictive(unseen_gap=7.0), lambda: Predictive(unseen_gap=1e9),  # (the latter: a calendar of two bands)
    lambda: RegretAware(regret_horizon=8, regret_weight=2.0, freq_weight=0.5, decay=0.5),
    lambda: RegretAware(recency_weight=0.0, freq_weight=1.0),  # (keys not led by recency: on heaps)
]
WORKLOADS = ["chat_continuation", "rag_burst", "periodic_reuse", "long_tail_mix", "prefetch_friendly",
             "adversarial_prefetch", "adversarial_burst", "mixed_locality"]
STACKS = {
    "reference/2": reference_tiers(1 / 2),
    "reference/6": reference_tiers(1 / 6),
    "one tier": (Tier("hbm", 40_000, 0.02, 0.02, 80_000.0),),
    "two tiers": (Tier("hbm", 30_000, 0.02, 0.02, 80_000.0), Tier("dram", 60_000, 0.4, 0.35, 8_000.0)),
}
PREFETCHERS = {"none": lambda: None, "markov": MarkovPrefetch, "stride": StridePrefetch}
MARKOVS = {"markov": MarkovPrefetch, "markov(3, 3)": lambda: MarkovPrefetch(degree=3, min_confidence=3)}


def assert_same(trace: Trace, tiers, make_policy, make_prefetcher, quant, recompute_ms=None, label: str = "") -> dict:
    """Run both engines on fresh instances; their results must be identical. Returns the metrics."""
    ref = Simulation(tiers, make_policy(), make_prefetcher(), quant, recompute_ms).run(trace)
    fast = kvexp.fast.run(trace, tiers, make_policy(), make_prefetcher(), quant, recompute_ms)
    diff = {k: (ref.metrics[k], fast.metrics.get(k)) for k in ref.metrics if ref.metrics[k] != fast.metrics.get(k)}
    assert not diff and ref.metrics.keys() == fast.metrics.keys(), f"{label}: reference vs fast {diff}"
    assert np.array_equal(ref.served_by, fast.served_by), f"{label}: served_by differs"
    assert fast.served_by.dtype == ref.served_by.dtype
    return fast.metrics


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_workload_stack_prefetcher_matches_reference(policy, workload):
    trace = getattr(synthetic, workload)()
    moved = 0
    for (stack, tiers), (pf, make_pf), quant in itertools.product(STACKS.items(), PREFETCHERS.items(), (fp16, int4)):
        label = f"{policy}/{workload}/{stack}/{pf}/{quant.__name__}"
        m = assert_same(trace, tiers, POLICIES[policy], make_pf, quant(), label=label)
        moved += m["demotions"] + m["drops"] + m["prefetch_requests"]
    assert moved > 0  # the stacks are small enough that pages really move


@pytest.mark.parametrize("make_policy", VARIANTS, ids=["window5", "cost_weights", "unseen_gap", "far_unseen_gap",
                                                       "regret_params", "regret_no_recency"])
@pytest.mark.parametrize("quant", [fp8, int2])
def test_policy_parameters_and_other_quant_schemes(make_policy, quant):
    for workload, (stack, tiers) in itertools.product(WORKLOADS[:4], STACKS.items()):
        for pf, make_pf in PREFETCHERS.items():
            assert_same(getattr(synthetic, workload)(seed=1), tiers, make_policy, make_pf, quant(),
                        label=f"{workload}/{stack}/{pf}")


def random_trace(seed: int, n_pages: int = 40, length: int = 400, write_frac: float = 0.25) -> Trace:
    """Skewed reads and writes over pages of uneven size (so one miss can evict several pages)."""
    rng = np.random.default_rng(seed)
    page = np.minimum(rng.geometric(0.08, length) - 1, n_pages - 1)
    op = (rng.random(length) < write_frac).astype(np.uint8)
    return Trace(np.arange(length), page, op, PageTable(rng.integers(300, 3000, n_pages)))


@pytest.mark.parametrize("seed", range(4))
def test_writes_uneven_sizes_and_recompute_match_reference(seed):
    trace = random_trace(seed)
    assert trace.op.any() and not trace.op.all()
    recompute = np.random.default_rng(seed).random(len(trace.pages)) * 4.0
    stacks = [reference_tiers(1 / 8),
              (Tier("a", 9_000, 0.02, 0.02, 80_000.0), Tier("b", 12_000, 0.1, 0.1, 5_000.0),
               Tier("c", 14_000, 1.0, 1.0, 100.0))]
    policies = list(POLICIES.values()) + VARIANTS
    cases = itertools.product(policies, PREFETCHERS.items(), stacks, (None, recompute))
    for make_policy, (pf, make_pf), tiers, rec in cases:
        label = f"{type(make_policy()).__name__}/{pf}/recompute {rec is not None}"
        m = assert_same(trace, tiers, make_policy, make_pf, int4(), rec, label=label)
        assert m["writes"] == int(trace.op.sum())
        assert (m["recompute_ms"] > 0) == (rec is not None)


def test_observers_see_the_same_counters():
    trace = random_trace(7, length=300)
    tiers = reference_tiers(1 / 8)
    for make_policy in (LRU, Belady, WindowedRecency):
        seen = {"ref": [], "fast": []}

        def observer(key):
            return lambda done, c: seen[key].append((done, c.latency_ms, c.reads, c.writes, list(c.served), c.drops))

        Simulation(tiers, make_policy(), MarkovPrefetch()).run(trace, [observer("ref")], every=37)
        kvexp.fast.run(trace, tiers, make_policy(), MarkovPrefetch(), observers=[observer("fast")], every=37)
        assert seen["fast"] == seen["ref"]
        assert [s[0] for s in seen["fast"]] == [*range(37, 300, 37), 300]


def test_markov_table_growth_two_word_slots_and_next_use_chunks(monkeypatch):
    """Paths the cases above never reach at their size: the Markov table growing from four
    slots, in one-word and in two-word slots, and Belady's next uses rebuilt chunk by chunk."""
    grown = []
    real_grow = kvexp.fast.driver.grow
    monkeypatch.setattr(kvexp.fast.driver, "grow", lambda pf: grown.append(len(pf.table)) or real_grow(pf))
    monkeypatch.setattr(kvexp.fast.prefetch, "MAX_FIRST_SLOTS", 4)
    monkeypatch.setattr(kvexp.fast.nextuse, "MIN_CHUNK", 16)
    assert len(kvexp.fast.nextuse.chunk_starts(320, 96)) > 2  # more than one chunk
    for packed_bits in (62, 0):
        monkeypatch.setattr(kvexp.fast.prefetch, "PACKED_BITS", packed_bits)
        for workload, make_policy, (pf, make_pf) in itertools.product(WORKLOADS, (LRU, Belady, LFU), MARKOVS.items()):
            assert_same(getattr(synthetic, workload)(), reference_tiers(1 / 6), make_policy, make_pf, fp16(),
                        label=f"{workload}/{make_policy.__name__}/{pf}/packed bits {packed_bits}")
        assert len(grown) >= 6 * len(WORKLOADS)
        grown.clear()


MOONCAKE = Path(__file__).resolve().parents[2] / "shared" / "traces" / "mooncake" / "synthetic_trace.jsonl"


@pytest.mark.skipif(not MOONCAKE.is_file(), reason=f"shared Mooncake trace not found at {MOONCAKE}")
def test_mooncake_request_trace_with_writes_and_recompute_matches_reference():
    """A real request trace: 160 MiB llama3-70b blocks through the H100 node stack, output
    blocks written, cold blocks recomputed at their per-page cost."""
    trace = mooncake(MOONCAKE, model="llama3-70b", output_blocks=True, max_requests=1500)
    assert trace.op.any()
    recompute = page_recompute_ms(trace)
    for make_policy, (pf, make_pf) in itertools.product((LRU, RegretAware, Belady), list(PREFETCHERS.items())[:2]):
        m = assert_same(trace, h100(), make_policy, make_pf, fp16(), recompute, label=f"{make_policy.__name__}/{pf}")
        assert m["demotions"] > 0 and m["cold_misses"] > 0


@pytest.mark.parametrize("prefetch", ["none", "stride"])
@pytest.mark.parametrize("policy", ["cost_aware", "cost_ladder", "predictive", "regret_aware", "regret_heap",
                                    "windowed_recency", "belady"])
def test_heaps_and_sets_too_large_for_the_cache_match_reference(policy, prefetch):
    """One tier holding more pages than ``DEEP``: the heaps then hint lines ahead and place grown
    keys at once (regret_aware without recency), and every policy hints further state; none of
    it may change a result. A pass over 2R pages fills the tier, then uniform reads over them."""
    resident = DEEP + 4000
    n_pages = 2 * resident
    reads = np.random.default_rng(3).integers(0, n_pages, 3 * resident)
    page = np.concatenate([np.arange(n_pages), reads])
    trace = Trace(np.arange(len(page)), page, np.zeros(len(page), np.uint8), PageTable.uniform(n_pages))
    size = int(fp16().page_bytes(trace.pages.n_scalars[:1])[0])
    tiers = (Tier("hbm", resident * size, 0.02, 0.02, 80_000.0),)
    others = {"regret_heap": lambda: RegretAware(recency_weight=0.0, freq_weight=1.0),
              "cost_ladder": lambda: CostAware(recency_weight=2.0)}  # (pages of one size: else as heavy_hitter)
    make = POLICIES.get(policy, others.get(policy))
    metrics = assert_same(trace, tiers, make, PREFETCHERS[prefetch], fp16(), label=policy)
    assert metrics["hits"] > resident  # the full tier was hit, not only filled


def _bench_like_run(monkeypatch, n_pages: int, length: int, seed: int, make_policy, look) -> list:
    """``scripts/bench_engine.py``'s setup, smaller: a Zipf trace of jittered page sizes, four
    tiers with tier 0 at a tenth of the distinct pages' bytes, stride prefetch. Both engines
    run; their results must be identical. Returns ``look(state)`` every 1,000 rows of the fast
    run, ``state`` its policy's (``kvexp.fast.build.policy_state``)."""
    trace = synthetic.zipf(n_pages=n_pages, length=length, seed=seed, scalar_jitter=64)
    distinct = fp16().page_bytes(trace.pages.n_scalars)[np.unique(trace.page)]
    tiers = reference_tiers(0.1 * int(distinct.sum()) / reference_tiers()[0].capacity_bytes)
    states, seen = [], []

    def keep(*args, **kwargs):
        states.append(policy_state(*args, **kwargs))
        return states[-1]

    monkeypatch.setattr(kvexp.fast.driver, "policy_state", keep)
    observe = [lambda stop, counters: seen.append(look(states[-1]))]
    fast = kvexp.fast.run(trace, tiers, make_policy(), StridePrefetch(), observers=observe, every=1_000)
    ref = Simulation(tiers, make_policy(), StridePrefetch(), fp16()).run(trace)
    assert fast.metrics == ref.metrics and np.array_equal(fast.served_by, ref.served_by)
    assert fast.metrics["prefetch_requests"] > length // 3
    return seen


def test_cost_aware_splits_its_churning_bucket_with_identical_results(monkeypatch):
    """With stride prefetch on a Zipf trace of jittered page sizes, tier 0's lowest keys crowd
    one rung bucket, which the ladder spreads over a fine rung (``kvexp.fast.ladder``); the run
    must still match the reference exactly."""
    split = _bench_like_run(monkeypatch, 2_000, 40_000, 42, CostAware,
                            lambda ps: int(ps.order.lad.s[0, SPLIT_B]) >= 0)
    assert sum(split) > len(split) // 2  # a fine rung was in use at most observations


@pytest.mark.parametrize("make_policy, looks_ahead", [
    (RegretAware, True), (Predictive, False), (CostAware, False),
    (lambda: RegretAware(recency_weight=0.0, freq_weight=1.0), False),  # (on heaps)
], ids=["regret_aware", "predictive", "cost_aware", "regret_on_heaps"])
def test_rows_out_of_cache_are_hinted_with_identical_results(monkeypatch, make_policy, looks_ahead):
    """Past ``FAR_PAGES`` pages the loop hints stride candidates' rows and order entries (in a
    calendar, a ladder or a heap), and the look-ahead victims' engine state
    (``kvexp.fast.kernel``): hints only, so the run must match the reference exactly.
    regret_aware's calendars look ahead (its tier 0 must have led its victims at most
    observations); predictive's do not."""
    seen = _bench_like_run(monkeypatch, FAR_PAGES + 4_000, 30_000, 7, make_policy,
                           lambda ps: (len(ps.st), ps.order.cal.ahead.copy()))
    assert all(rows >= FAR_PAGES for rows, _ in seen)
    led = [bool((ahead[:1, LEAD] > 0).any()) for _, ahead in seen]  # (no tiers: not a calendar)
    if looks_ahead:
        assert sum(led) > len(led) // 2
    else:
        assert not any(led) and all((ahead[:, PAGE] == -1).all() for _, ahead in seen)


def test_full_size_zipf_matches_libcachesim(tmp_path):
    """The 1M-access Zipf(0.9) trace over 100k pages at 10% of the distinct pages, one tier:
    the fast LRU and Belady miss exactly as often as libCacheSim's (an independent simulator)."""
    trace = synthetic.zipf()
    distinct = len(np.unique(trace.page))
    slots = distinct // 10
    tier = (Tier("only", slots * int(fp16().page_bytes(trace.pages.n_scalars[:1])[0]), 0.02, 0.02, 80_000.0),)
    path = write_oracle_general(trace, tmp_path / "zipf.oracleGeneral")
    for ours, theirs in ((LRU, lcs.LRU), (Belady, lcs.Belady)):
        fast = kvexp.fast.run(trace, tier, ours()).metrics["misses"]
        assert fast == libcachesim_misses(path, theirs, slots, len(trace), distinct), ours.__name__


class MyLRU(LRU):
    """A user's subclass: it may override any hook, so it must not be replaced by compiled code."""


class Custom(PriorityPolicy):
    def key(self, page: int, now: int) -> tuple:
        return (-page, page)


class MyStride(StridePrefetch):
    pass


def test_supports_only_the_exact_builtin_classes():
    for make in POLICIES.values():
        for pf in (None, Prefetcher(), NoPrefetch(), MarkovPrefetch(), StridePrefetch()):
            assert kvexp.fast.supports(make(), pf)
    assert not kvexp.fast.supports(MyLRU())
    assert not kvexp.fast.supports(Custom())
    assert not kvexp.fast.supports(LRU(), MyStride())
    with pytest.raises(TypeError, match="MyLRU"):
        kvexp.fast.run(synthetic.rag_burst(), reference_tiers(), MyLRU())


def test_input_errors_match_the_reference():
    trace = synthetic.rag_burst()
    tiny = (Tier("tiny", 100, 0.02, 0.02, 80_000.0),)
    for run in (lambda: Simulation(tiny, LRU()).run(trace), lambda: kvexp.fast.run(trace, tiny, LRU())):
        with pytest.raises(ValueError, match="tier 'tiny': capacity_bytes 100 is smaller than the largest page"):
            run()
    with pytest.raises(ValueError, match=r"recompute_ms: expected one cost per page \(96\), got 3"):
        kvexp.fast.run(trace, reference_tiers(), LRU(), recompute_ms=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="recompute_ms: page 1: expected a cost >= 0 ms"):
        kvexp.fast.run(trace, reference_tiers(), LRU(), recompute_ms=[1.0, -2.0] + [0.0] * 94)


def test_empty_trace():
    trace = Trace(np.zeros(0), np.zeros(0), np.zeros(0), PageTable.uniform(3))
    for make in POLICIES.values():
        fast = kvexp.fast.run(trace, reference_tiers(), make(), MarkovPrefetch())
        assert fast.metrics == Simulation(reference_tiers(), make(), MarkovPrefetch()).run(trace).metrics
        assert len(fast.served_by) == 0


@pytest.mark.parametrize("params, calendar", [({}, True), ({"regret_weight": 0.0}, True), ({"decay": 1.0}, False),
                                              ({"recency_weight": 0.0}, False), ({"freq_weight": 0.5}, False)])
def test_regret_aware_orders_by_calendar_when_its_keys_follow_the_rows(params, calendar):
    """regret_aware's key is ``rw*last + horizon*(fw*hist + rgw*regret)``: with the defaults, the
    row of the last touch plus at most ``24 * 6 / (1 - 0.9)`` rows, so each tier's calendar has a
    bucket per row over ``rows + 1440``. Unbounded regrets (decay 1), a hit count that could
    reach a touch per row, or no weight on recency leave it on heaps."""
    rows = 100_000
    policy = RegretAware(**params)
    state = policy_state(policy, np.full(50, 10), np.array([100, 200]), np.zeros(rows, np.int64), 1,
                         np.full(50, -1, np.int8))
    assert isinstance(state.order.cal, Calendars) == calendar
    if calendar:
        high = rows + 24 * policy.regret_weight / (1 - 0.9)
        assert state.order.cal.s[NB2] == int(high) + 1 and len(state.order.cal.first) == 2


def test_the_policies_and_prefetchers_share_three_compiled_loops(monkeypatch):
    """numba compiles the loop once per distinct tuple of argument types, so state arrays whose
    types differ by policy, prefetcher or trace size (a one-row view is typed contiguous) would
    make a first sweep over the policies compile several times. There are three loops by design:
    cost_aware's, whose orders are ladders (``kvexp.fast.ladder``), predictive's and
    regret_aware's, whose orders are calendar queues (``kvexp.fast.calendar_queue``), and
    everyone else's. cost_aware over pages of one size runs as heavy_hitter
    (``kvexp.fast.build.ranks_as_heavy_hitter``), on everyone else's loop."""
    seen: dict[str, set] = {"cost_aware": set(), "calendars": set(), "others": set()}
    real = kvexp.fast.driver.run_span
    name = ""

    def spy(*args):
        loop = ("calendars" if name in ("predictive", "regret_aware")
                else "cost_aware" if name == "cost_aware" and n_pages > 2 else "others")
        seen[loop].add(tuple(str(numba.typeof(a)) for a in args))
        return real(*args)

    monkeypatch.setattr(kvexp.fast.driver, "run_span", spy)
    for n_pages, (name, policy), pf in itertools.product((1, 2, 60), POLICIES.items(), PREFETCHERS.values()):
        trace = synthetic.zipf(n_pages=n_pages, length=200, seed=n_pages, scalar_jitter=8 if n_pages > 2 else 0)
        kvexp.fast.run(trace, reference_tiers(1 / 2), policy(), pf())
    for loop, types in seen.items():
        assert len(types) == 1, f"{len(types)} distinct argument types reach the {loop} loop"
    others, ladders, calendars = (str(seen[k]) for k in ("others", "cost_aware", "calendars"))
    assert "NoLadders(" in others and "NoCalendars(" in others
    assert " Ladders(" in ladders and "NoCalendars(" in ladders
    assert " Calendars(" in calendars and "NoLadders(" in calendars


def test_engine_choice_routes_each_run(monkeypatch):
    """``engine=fast`` takes the compiled path; ``engine=auto`` does from AUTO_FAST_MIN_ACCESSES
    accesses on, for the built-in classes only (a policy of the user's own, even a subclass,
    keeps the reference engine); ``engine=reference`` never does. Results agree whichever ran."""
    compiled = []
    real = kvexp.fast.run
    monkeypatch.setattr(kvexp.fast, "run", lambda *a, **kw: compiled.append(1) or real(*a, **kw))

    class MyLRU(LRU):
        """A user's policy: the same behaviour, but not the exact built-in class."""

    short = synthetic.rag_burst()
    long = synthetic.zipf(n_pages=2_000, length=AUTO_FAST_MIN_ACCESSES, seed=5)
    tiers = reference_tiers(1 / 6)
    cases = [(short, LRU, EngineKind.auto, False), (short, LRU, EngineKind.fast, True),
             (long, LRU, EngineKind.auto, True), (long, MyLRU, EngineKind.auto, False),
             (long, LRU, EngineKind.reference, False)]
    metrics = {}
    for trace, make, engine, fast_path in cases:
        compiled.clear()
        result = execute(Parts(tiers, trace, make(), NoPrefetch(), fp16(), engine))
        assert bool(compiled) == fast_path, f"{make.__name__}, {len(trace):,} accesses, engine={engine.value}"
        metrics.setdefault(len(trace), []).append(result.metrics)
    assert all(m == ms[0] for ms in metrics.values() for m in ms)
