"""Eviction policies: each real policy must choose exactly the victims its naive, scan-based
reference (tests/naive_policies.py, written from the spec) chooses, inside the real engine, on
random multi-tier traces; plus the Belady bound, hand-worked cases and parameter checks."""
from __future__ import annotations

import numpy as np
import pytest

from kvexp.engine import Simulation
from kvexp.policies.base import Policy, RunContext
from kvexp.policies.belady import Belady
from kvexp.policies.cost_aware import CostAware
from kvexp.policies.fifo import FIFO
from kvexp.policies.heavy_hitter import HeavyHitter
from kvexp.policies.lfu import LFU
from kvexp.policies.lru import LRU
from kvexp.policies.predictive import Predictive
from kvexp.policies.regret_aware import RegretAware
from kvexp.policies.windowed_recency import WindowedRecency
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.prefetch.stride import StridePrefetch
from kvexp.tiers import Tier
from kvexp.trace import PageTable, Trace

import naive_policies as naive


class Recording(Policy):
    """Forwards every hook to ``inner`` and records each ``(tier, victim)`` it returns."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.victims: list[tuple[int, int]] = []

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.victims.clear()
        self.inner.bind(ctx)

    def insert(self, tier, page, now):
        self.inner.insert(tier, page, now)

    def access(self, tier, page, now):
        self.inner.access(tier, page, now)

    def remove(self, tier, page):
        self.inner.remove(tier, page)

    def evict(self, tier, now):
        victim = self.inner.evict(tier, now)
        self.victims.append((tier, victim))
        return victim


def random_trace(seed: int, n_pages: int, length: int, write_frac: float, sizes: tuple[int, ...]) -> Trace:
    """Sequential runs, a hot set and uniform noise, so frequency, recency and prefetch all matter."""
    rng = np.random.default_rng(seed)
    hot = rng.choice(n_pages, size=max(2, n_pages // 6), replace=False)
    pages = np.empty(length, dtype=np.int64)
    p = 0
    for i in range(length):
        r = rng.random()
        p = (p + 1) % n_pages if r < 0.3 else int(rng.choice(hot)) if r < 0.7 else int(rng.integers(n_pages))
        pages[i] = p
    ops = (rng.random(length) < write_frac).astype(np.uint8)
    n_scalars = rng.choice(np.array(sizes), size=n_pages)
    return Trace(np.arange(length), pages, ops, PageTable(n_scalars))


def tier_stack(page_slots: tuple[int, ...], page_bytes: int) -> tuple[Tier, ...]:
    """Tiers holding ``page_slots[k]`` pages of ``page_bytes`` each, slower as they go down."""
    return tuple(
        Tier(f"t{k}", slots * page_bytes, 0.01 * (k + 1), 0.02 * (k + 1), 1000.0 / (k + 1))
        for k, slots in enumerate(page_slots)
    )


def run(policy: Policy, trace: Trace, tiers, prefetcher=None, recompute=False):
    rec = Recording(policy)
    costs = [0.5] * len(trace.pages) if recompute else None
    result = Simulation(tiers, rec, prefetcher, recompute_ms=costs).run(trace)
    return rec.victims, result.metrics


POLICIES = {  # name -> (real, naive) factories
    "lru": (LRU, naive.NaiveLRU),
    "fifo": (FIFO, naive.NaiveFIFO),
    "lfu": (LFU, naive.NaiveLFU),
    "heavy_hitter": (HeavyHitter, naive.NaiveHeavyHitter),
    "windowed_recency": (WindowedRecency, naive.NaiveWindowedRecency),
    "windowed_recency_w5": (lambda: WindowedRecency(5), lambda: naive.NaiveWindowedRecency(5)),
    "cost_aware": (CostAware, naive.NaiveCostAware),
    "cost_aware_sized": (lambda: CostAware(2.0, 0.5, 3.0), lambda: naive.NaiveCostAware(2.0, 0.5, 3.0)),
    "predictive": (Predictive, naive.NaivePredictive),
    "predictive_gap": (lambda: Predictive(unseen_gap=12), lambda: naive.NaivePredictive(unseen_gap=12)),
    "regret_aware": (RegretAware, naive.NaiveRegretAware),
    "regret_aware_mixed": (
        lambda: RegretAware(regret_horizon=8, regret_weight=2.0, freq_weight=0.5, recency_weight=0.5, decay=0.5),
        lambda: naive.NaiveRegretAware(8, 2.0, 0.5, 0.5, 0.5),
    ),
    "belady": (Belady, naive.NaiveBelady),
}
SMALL, BIG = 1024, 4096  # scalars per page -> 2 KiB and 8 KiB under fp16
STACKS = {  # name -> (slots per tier in pages of the largest size, page sizes, recompute cold misses)
    "one_tier_mixed": ((6,), (SMALL, 2048, BIG), False),
    "two_tiers_equal": ((4, 8), (BIG,), False),
    "three_tiers_mixed": ((3, 5, 9), (SMALL, 2048, 3072, BIG), False),
    "three_tiers_recompute": ((4, 4, 6), (SMALL, BIG), True),
}
PREFETCHERS = {"none": lambda: None, "stride": lambda: StridePrefetch(2), "markov": lambda: MarkovPrefetch(2, 1)}


@pytest.mark.parametrize("prefetch", PREFETCHERS)
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("name", POLICIES)
def test_real_policy_matches_naive_reference(name, stack, prefetch):
    real, ref = POLICIES[name]
    slots, sizes, recompute = STACKS[stack]
    tiers = tier_stack(slots, 2 * max(sizes))
    for seed in range(3):
        trace = random_trace(seed, n_pages=40, length=400, write_frac=0.15, sizes=sizes)
        got, got_metrics = run(real(), trace, tiers, PREFETCHERS[prefetch](), recompute)
        want, want_metrics = run(ref(), trace, tiers, PREFETCHERS[prefetch](), recompute)
        assert len(want) == want_metrics["evictions"] > 100  # the trace really exercises eviction
        assert {t for t, _ in want} == set(range(len(tiers)))  # every tier had to choose victims
        if prefetch != "none":
            assert want_metrics["prefetch_requests"] > 0
        first_diff = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
        assert got == want, f"seed {seed}: first differing victim #{first_diff}: {got[first_diff]} vs {want[first_diff]}"
        assert got_metrics == want_metrics


def test_rebinding_resets_state():
    trace = random_trace(7, n_pages=40, length=400, write_frac=0.15, sizes=(SMALL, BIG))
    tiers = tier_stack((3, 5), 2 * BIG)
    for make, _ in POLICIES.values():
        policy = make()
        first = run(policy, trace, tiers)
        assert run(policy, trace, tiers) == first


# ---- Belady is a lower bound -----------------------------------------------------------------
@pytest.mark.parametrize("capacity", [2, 5, 10, 20])
def test_belady_never_misses_more_than_online_policies(capacity):
    tiers = (Tier("only", capacity * 2 * SMALL, 0.0, 0.0, 1.0),)
    online = [m() for name, (m, _) in POLICIES.items() if name != "belady"]
    for seed in range(4):
        trace = random_trace(100 + seed, n_pages=50, length=1500, write_frac=0.0, sizes=(SMALL,))
        bound = Simulation(tiers, Belady()).run(trace).metrics["misses"]
        misses = {type(p).__name__: Simulation(tiers, p).run(trace).metrics["misses"] for p in online}
        assert all(bound <= m for m in misses.values()), (bound, misses)
        assert bound < misses["LRU"]


# ---- hand-worked cases (single tier, capacity in pages, page ids A=0, B=1, ...) --------------
def hand_run(policy: Policy, pages: str, slots: int, scalars: dict[str, int] | None = None, capacity: int | None = None):
    """Run a read trace spelled as letters; returns (victims as letters, misses)."""
    ids = [ord(c) - ord("A") for c in pages]
    n = max(ids) + 1
    sizes = np.full(n, SMALL)
    for letter, s in (scalars or {}).items():
        sizes[ord(letter) - ord("A")] = s
    trace = Trace(np.arange(len(ids)), ids, np.zeros(len(ids), np.uint8), PageTable(sizes))
    tiers = (Tier("only", capacity or slots * 2 * SMALL, 0.0, 0.0, 1.0),)
    victims, metrics = run(policy, trace, tiers)
    return "".join(chr(ord("A") + v) for _, v in victims), metrics["misses"]


def test_lfu_and_lru_choose_different_victims():
    # At C, LRU drops A (touched at 1, B at 2); LFU keeps A (2 touches) and drops B.
    assert hand_run(LRU(), "AABCA", 2) == ("AB", 4)
    assert hand_run(LFU(), "AABCA", 2) == ("B", 3)


def test_fifo_ignores_accesses():
    assert hand_run(LRU(), "ABAC", 2)[0] == "B"
    assert hand_run(FIFO(), "ABAC", 2)[0] == "A"


def test_lfu_forgets_dropped_pages_heavy_hitter_does_not():
    # A (2 touches) is dropped at 5; back at 6 it has count 1 under LFU but 3 under heavy hitter,
    # so at 7 LFU drops A (1 < 3 touches of B) while heavy hitter drops B (tie 3-3, B older).
    assert hand_run(HeavyHitter(), "AABBBCAC", 2)[0] == "ACB"
    assert hand_run(LFU(), "AABBBCAC", 2)[0] == "ACA"


def test_windowed_recency_forgets_touches_outside_the_window():
    # At C (position 3) a window of 2 sees one touch of A (position 1) and one of B: A is older.
    assert hand_run(WindowedRecency(window_size=2), "AABC", 2)[0] == "A"
    assert hand_run(WindowedRecency(window_size=32), "AABC", 2)[0] == "B"


def test_cost_aware_evicts_the_big_page():
    # B (small) and A (4x bigger) fill the tier; at C the size penalty outweighs A's recency:
    # score(B) = 1 + 0/3 - 0.5*2048/8192 = 0.875, score(A) = 1 + 1/3 - 0.5 = 0.833.
    room = 2 * (SMALL + BIG)
    assert hand_run(CostAware(), "BAC", 0, {"A": BIG}, capacity=room)[0] == "A"
    assert hand_run(CostAware(size_penalty=0.0), "BAC", 0, {"A": BIG}, capacity=room)[0] == "B"


def test_predictive_evicts_farthest_predicted_touch():
    # A touched at 0, 2 -> next predicted at 4; B at 1, 3 -> 5. At C (4) B is predicted later.
    assert hand_run(Predictive(), "ABABC", 2)[0] == "B"
    assert hand_run(LRU(), "ABABC", 2)[0] == "A"


def test_belady_hand_case():
    # At C (2): A is next used at 3, B at 4 -> drop B. At B (4): A never again, C at 5 -> drop A.
    assert hand_run(Belady(), "ABCABC", 2) == ("BA", 4)
    assert hand_run(LRU(), "ABCABC", 2) == ("ABCA", 6)


def test_regret_protects_a_page_reread_within_the_horizon():
    # A is evicted at 2 and back at 3 (gap 1 <= 3): regret 1, score 3 + 3*6*1 = 21, so at 5 the
    # newer D goes instead of A, where LRU drops A.
    assert hand_run(RegretAware(regret_horizon=3), "ABCADE", 2)[0] == "ABCD"
    assert hand_run(LRU(), "ABCADE", 2)[0] == "ABCA"


def test_regret_needs_the_return_within_the_horizon():
    # A is evicted at 2 and back at 4: gap 2. Horizon 1: no regret, plain LRU (A goes at 6);
    # horizon 2: regret, A's score 4 + 2*6 = 16 beats E's 5, so E goes at 6.
    assert hand_run(RegretAware(regret_horizon=1), "ABCDAEF", 2)[0] == "ABCDA"
    assert hand_run(RegretAware(regret_horizon=2), "ABCDAEF", 2)[0] == "ABCDE"
    assert hand_run(LRU(), "ABCDAEF", 2)[0] == "ABCDA"


def test_regret_decays_and_accumulates():
    # Horizon 2, weight 1. A returns within the horizon at 3 (regret 1) and again at 6
    # (regret decay*1 + 1); B returns at 4 (regret 1) and is read again at 7. At 8 the choice is
    # A (score 6 + 2*(decay + 1)) against B (score 7 + 2*1 = 9): decay 1 gives A 10 and keeps
    # it; decay 0.4 gives A 8.8 and drops it.
    assert hand_run(RegretAware(regret_horizon=2, regret_weight=1.0, decay=1.0), "ABCABDABE", 2)[0] == "ABCADB"
    assert hand_run(RegretAware(regret_horizon=2, regret_weight=1.0, decay=0.4), "ABCABDABE", 2)[0] == "ABCADA"
    assert hand_run(LRU(), "ABCABDABE", 2)[0] == "ABCABDA"


@pytest.mark.parametrize("seed", range(4))
def test_regret_aware_without_weights_is_lru(seed):
    # Equal page sizes and no prefetch: at most one page enters each tier per position, so
    # last_touch is distinct among a tier's residents and the key order is exactly LRU's.
    trace = random_trace(seed, n_pages=40, length=600, write_frac=0.15, sizes=(BIG,))
    tiers = tier_stack((4, 6, 8), 2 * BIG)
    lru_victims, lru_metrics = run(LRU(), trace, tiers)
    victims, metrics = run(RegretAware(regret_weight=0.0, freq_weight=0.0), trace, tiers)
    assert victims == lru_victims and metrics == lru_metrics
    weighted, _ = run(RegretAware(), trace, tiers)
    assert weighted != lru_victims  # the default weights do change decisions on this trace


# ---- parameter validation --------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RegretAware(regret_horizon=0), "policy.regret_horizon: expected an integer >= 1, got 0"),
        (lambda: RegretAware(regret_horizon=2.5), "policy.regret_horizon: expected an integer >= 1, got 2.5"),
        (lambda: RegretAware(decay=0), "policy.decay: expected a number in (0, 1], got 0"),
        (lambda: RegretAware(decay=1.5), "policy.decay: expected a number in (0, 1], got 1.5"),
        (lambda: RegretAware(regret_weight=-1), "policy.regret_weight: expected a finite number >= 0, got -1"),
        (lambda: RegretAware(freq_weight=float("nan")), "policy.freq_weight: expected a finite number >= 0, got nan"),
        (lambda: RegretAware(recency_weight="1"), "policy.recency_weight: expected a finite number >= 0, got '1'"),
        (lambda: WindowedRecency(window_size=0), "policy.window_size: expected an integer >= 1, got 0"),
        (lambda: WindowedRecency(window_size=True), "policy.window_size: expected an integer >= 1, got True"),
        (lambda: CostAware(size_penalty=-0.5), "policy.size_penalty: expected a finite number >= 0, got -0.5"),
        (lambda: CostAware(freq_weight=float("inf")), "policy.freq_weight: expected a finite number >= 0, got inf"),
        (lambda: Predictive(unseen_gap=-3), "policy.unseen_gap: expected a finite number >= 0, got -3"),
    ],
)
def test_bad_parameters_fail_with_a_one_line_message(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value) == message
