"""The reference engine: invariants on random runs, and costs worked out by hand on tiny traces.

Hand-case tiers (latencies ms, bandwidth bytes/ms); a move a -> b costs
a.read + b.write + dequant + bytes / min(a.bw, b.bw), a hit costs fast.read + dequant:
    fast: read 1,   write 2,   bw 100
    mid:  read 10,  write 20,  bw 50
    slow: read 100, write 200, bw 25
A page of 50 scalars is 100 bytes under fp16. With three tiers a cold load reads "slow":
100 + 2 + 100/25 = 106; mid -> fast 10 + 2 + 100/50 = 14; slow -> fast 106; demotions
fast -> mid 1 + 20 + 100/50 = 23 and mid -> slow 10 + 200 + 100/25 = 214.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from kvexp.engine import Simulation, simulate
from kvexp.policies.base import Policy, RunContext
from kvexp.policies.belady import Belady
from kvexp.policies.lfu import LFU
from kvexp.policies.lru import LRU
from kvexp.policies.regret_aware import RegretAware
from kvexp.prefetch.base import Prefetcher
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.prefetch.stride import StridePrefetch
from kvexp.quant import fp16, int4
from kvexp.tiers import Tier
from kvexp.trace import PageTable, Trace

SPECS = [("fast", 1.0, 2.0, 100.0), ("mid", 10.0, 20.0, 50.0), ("slow", 100.0, 200.0, 25.0)]


def stack(*caps: int) -> list[Tier]:
    return [Tier(name, cap, r, w, bw) for (name, r, w, bw), cap in zip(SPECS, caps)]


def trace(pages: list[int], ops: list[int] | None = None, scalars: list[int] | None = None) -> Trace:
    n_pages = max(pages) + 1 if scalars is None else len(scalars)
    table = PageTable(np.array(scalars or [50] * n_pages))
    return Trace(np.arange(len(pages)), pages, ops or [0] * len(pages), table)


def run(tr: Trace, tiers: list[Tier], **kw):
    policy = kw.pop("policy", None) or LRU()
    return Simulation(tiers, policy, **kw).run(tr)


class Scripted(Prefetcher):
    """Suggests fixed pages after the read at given positions (tests the engine's accounting)."""

    enabled = True

    def __init__(self, script: dict[int, list[int]]) -> None:
        self.script = script

    def on_read(self, page: int, now: int) -> list[int]:
        return self.script.get(now, [])


# ---- invariants on random runs -------------------------------------------------------------
class Recorder(Policy):
    """Wraps a policy; checks the hook contract and keeps its own residency model, and files
    every byte that enters or leaves a tier without a counted move (writes, recomputes, cold
    loads, drops) so the byte-conservation identity can be checked against the counters."""

    def __init__(self, inner: Policy, recompute: bool) -> None:
        self.inner, self.recompute = inner, recompute

    def bind(self, ctx: RunContext) -> None:
        self.inner.bind(ctx)
        k = ctx.n_tiers
        self.size, self.page_at, self.op_at = ctx.page_bytes.tolist(), ctx.trace.page.tolist(), ctx.trace.op.tolist()
        self.where: dict[int, int] = {}
        self.lifted: dict[int, int] = {}  # removed from a lower tier, on its way to tier 0
        self.bytes, self.peak = [0] * k, [0] * k
        self.extra_in, self.extra_out = [0] * k, [0] * k
        self.last = k - 1
        self.recomputed = 0

    def insert(self, tier: int, page: int, now: int) -> None:
        assert page not in self.where, f"page {page} inserted into tier {tier} while in tier {self.where.get(page)}"
        sz = self.size[page]
        own_row = self.page_at[now] == page
        if tier == 0 and page in self.lifted:
            if own_row and self.op_at[now] == 1:  # a write: stale copy discarded, new bytes written
                self.extra_out[self.lifted[page]] += sz
                self.extra_in[0] += sz
            del self.lifted[page]
        elif tier == 0:  # from nowhere: a write, a recompute, or a cold load read off the last tier
            rebuilt = own_row and self.op_at[now] == 0 and self.recompute
            self.recomputed += sz if rebuilt else 0
            self.extra_in[0 if rebuilt or (own_row and self.op_at[now] == 1) else self.last] += sz
        self.where[page] = tier
        self.bytes[tier] += sz
        self.peak[tier] = max(self.peak[tier], self.bytes[tier])
        self.inner.insert(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        assert self.where.get(page) == tier
        self.inner.access(tier, page, now)

    def remove(self, tier: int, page: int) -> None:
        assert self.where.pop(page) == tier and tier > 0
        self.bytes[tier] -= self.size[page]
        self.lifted[page] = tier
        self.inner.remove(tier, page)

    def evict(self, tier: int, now: int) -> int:
        page = self.inner.evict(tier, now)
        assert self.where.pop(page) == tier, f"victim {page} is not in tier {tier}"
        self.bytes[tier] -= self.size[page]
        if tier == self.last:
            self.extra_out[tier] += self.size[page]  # dropped from the hierarchy
        return page


POLICIES = [LRU, LFU, Belady, lambda: RegretAware(regret_horizon=4)]
PREFETCHERS = [lambda: None, lambda: MarkovPrefetch(degree=2, min_confidence=1), lambda: StridePrefetch(degree=3)]


def random_case(seed: int):
    """A random trace and a factory of identical simulations (``wrap``: policy inside a Recorder)."""
    rng = random.Random(seed)
    n_pages = rng.randint(2, 30)
    scalars = [rng.choice([50, 64, 100, 150, 333]) for _ in range(n_pages)]
    quant = rng.choice([fp16(), int4()])
    biggest = int(quant.page_bytes(np.array(scalars)).max())
    n_tiers = rng.randint(1, 4)
    tiers = [Tier(f"t{k}", biggest * rng.randint(1, 6) + rng.randint(0, biggest), 0.5 * (k + 1), 0.7 * (k + 1),
                  100.0 / (k + 1)) for k in range(n_tiers)]
    length = rng.randint(50, 250)
    hot = rng.sample(range(n_pages), max(1, n_pages // 4))
    pages = [rng.choice(hot) if rng.random() < 0.6 else rng.randrange(n_pages) for _ in range(length)]
    ops = [1 if rng.random() < 0.15 else 0 for _ in range(length)]
    recompute = [rng.uniform(0, 5) for _ in range(n_pages)] if rng.random() < 0.25 else None
    tr = Trace(np.arange(length), pages, ops, PageTable(np.array(scalars)))

    def make(wrap: bool) -> Simulation:
        policy = POLICIES[seed % len(POLICIES)]()
        policy = Recorder(policy, recompute is not None) if wrap else policy
        return Simulation(tiers, policy, PREFETCHERS[(seed // len(POLICIES)) % len(PREFETCHERS)](), quant, recompute)

    return tr, make


@pytest.mark.parametrize("seed", range(48))
def test_invariants_hold_after_every_access(seed):
    tr, make = random_case(seed)
    sim = make(wrap=True)
    rec = sim.policy
    pages, ops = tr.page.tolist(), tr.op.tolist()
    expected_served = [None] * len(tr)

    def observe(done: int, c) -> None:
        loc = np.array(sim.loc)
        size = np.array(sim.size)
        for k in range(len(sim.tiers)):
            assert sim.used[k] <= sim.cap[k], f"tier {k} over capacity"
            assert sim.used[k] == size[loc == k].sum() == rec.bytes[k]
            assert sim.used[k] == c.bytes_in[k] - c.bytes_out[k] + rec.extra_in[k] - rec.extra_out[k]
            assert rec.peak[k] == c.peak_bytes[k] <= sim.cap[k]
        assert {p: int(t) for p, t in enumerate(loc) if t >= 0} == rec.where  # one tier per page
        assert not rec.lifted
        assert c.reads == done - sum(ops[:done]) and c.writes == sum(ops[:done])
        assert sum(c.served) == c.reads  # every read served exactly once
        assert c.demand_bytes + c.prefetch_bytes == sum(c.bytes_in)  # every counted move has one cause
        assert c.prefetch_useful + c.prefetch_wasted + sum(sim.pending) == c.prefetch_requests
        if done < len(tr):
            expected_served[done] = -2 if ops[done] else int(loc[pages[done]])

    expected_served[0] = -2 if ops[0] else -1
    res = sim.run(tr, observers=[observe], every=1)
    m, c = res.metrics, res.counters
    assert res.served_by.tolist() == expected_served
    assert m["hits"] + m["misses"] == m["reads"] == int((res.served_by >= -1).sum())
    for k in range(len(sim.tiers)):
        assert c.served[k] == int((res.served_by == k).sum())
    assert c.served[-1] == int((res.served_by == -1).sum())
    assert m["demand_bytes"] + m["prefetch_bytes"] == m["bytes_moved"]
    assert m["prefetch_useful"] + m["prefetch_wasted"] == m["prefetch_requests"]
    assert m["evictions"] == m["demotions"] + m["drops"]
    if sim.prefetcher.enabled is False:
        assert m["prefetch_bytes"] == 0 == m["prefetch_requests"]
    written = int(np.array(sim.size)[tr.page[tr.op == 1]].sum())
    assert m["write_bytes"] == written + rec.recomputed
    assert (rec.recomputed > 0) == (sim.recompute_ms is not None and m["cold_misses"] > 0)
    # the same run unobserved and unwrapped gives the same results
    assert make(wrap=False).run(tr).metrics == m


# ---- costs by hand ---------------------------------------------------------------------------
def test_hit_and_cold_miss():
    res = run(trace([0, 0]), stack(200, 200, 300))
    m = res.metrics
    assert m["total_latency_ms"] == pytest.approx(106 + 1)  # cold load from slow, then a hit
    assert (m["hits"], m["misses"], m["cold_misses"], m["hit_rate"]) == (1, 1, 1, 0.5)
    assert res.served_by.tolist() == [-1, 0]
    assert (m["bytes_in_t0"], m["bytes_out_t2"], m["demand_bytes"]) == (100, 100, 100)


def test_lower_tier_hit_moves_the_page_up():
    # fast holds one page. r0: cold 106. r1: cold 106 + demote 0 to mid 23 = 129.
    # r0 again: mid -> fast 14 + demote 1 to mid 23 = 37. Total 272.
    res = run(trace([0, 1, 0]), stack(100, 200, 300))
    m = res.metrics
    assert m["total_latency_ms"] == pytest.approx(106 + 129 + 37)
    assert res.served_by.tolist() == [-1, -1, 1]
    assert (m["served_frac_t0"], m["served_frac_t1"], m["served_frac_cold"]) == pytest.approx((0, 1 / 3, 2 / 3))
    assert m["demotions"] == 2 and m["bytes_out_t1"] == 100 and m["bytes_in_t1"] == 200


def test_cascade_of_demotions_and_drop_from_last_tier():
    # Every tier holds one page. r0: 106. r1: 106 + 23 = 129. r2: 106 + (mid full: 0 -> slow 214)
    # + 23 = 343. r3: the same 343, and slow must drop page 0 (free). r1 (in slow): slow -> fast
    # 106 + (mid full: 2 -> slow, which has room now, 214) + 3 -> mid 23 = 343.
    res = run(trace([0, 1, 2, 3, 1]), stack(100, 100, 100))
    m, c = res.metrics, res.counters
    assert m["total_latency_ms"] == pytest.approx(106 + 129 + 343 + 343 + 343)
    assert c.demotions == [4, 3, 0] and m["drops"] == 1 and m["evictions"] == 8
    assert res.served_by.tolist() == [-1, -1, -1, -1, 2]
    assert (m["served_frac_t2"], m["served_frac_cold"]) == pytest.approx((0.2, 0.8))
    # 5 fetches + 4 demotions into mid + 3 into slow, 100 bytes each
    assert (c.bytes_in, c.bytes_out) == ([500, 400, 300], [400, 300, 500])  # slow: 4 cold loads + page 1
    assert m["demand_bytes"] == 1200 and m["prefetch_bytes"] == 0
    sim = Simulation(stack(100, 100, 100), LRU())
    sim.run(trace([0, 1, 2, 3, 1]))
    assert sim.loc == [-1, 0, 2, 1]
    assert [m[f"peak_bytes_t{k}"] for k in range(3)] == [100, 100, 100]


def test_writes_enter_tier_zero_without_a_miss():
    # fast holds two pages. w0: 2. r0: hit 1. w1: 2. w2: 2 + demote LRU page 0 to mid 23.
    # w0 (page 0 is in mid): stale copy discarded, 2 + demote page 1 23. Total 55.
    res = run(trace([0, 0, 1, 2, 0], ops=[1, 0, 1, 1, 1]), stack(200, 200))
    m = res.metrics
    assert m["total_latency_ms"] == pytest.approx(2 + 1 + 2 + 25 + 25)
    assert (m["reads"], m["writes"], m["hits"], m["misses"]) == (1, 4, 1, 0)
    assert m["write_bytes"] == 400 and m["demand_bytes"] == 200 and m["bytes_in_t0"] == 0
    assert res.served_by.tolist() == [-2, 0, -2, -2, -2]


def test_peak_is_a_running_maximum():
    # Page 0 is 200 bytes (100 scalars), others 100. Two tiers: fast 200, mid 300 (mid is last).
    # r0: cold from mid 10 + 2 + 200/50 = 16. r1: cold 14 + demote page 0 (1 + 20 + 200/50 = 25)
    # = 39. w0: page 0 leaves mid (mid empty), 2 + demote page 1 23 = 25. Mid peaked at 200.
    sim = Simulation(stack(200, 300), LRU())
    m = sim.run(trace([0, 1, 0], ops=[0, 0, 1], scalars=[100, 50])).metrics
    assert m["total_latency_ms"] == pytest.approx(16 + 39 + 25)
    assert (m["peak_bytes_t0"], m["peak_bytes_t1"]) == (200, 200)
    assert sim.used == [200, 100]


def test_dequant_penalty_under_int4():
    # 200 scalars are 100 bytes under int4 (0.5 B each), and int4 adds 0.03 ms to every hit and
    # move. fast holds one page. r0: 106.03. r1: 106.03 + demote 23.03. r1: hit 1.03.
    tiers = stack(100, 200, 300)
    m = Simulation(tiers, LRU(), quant=int4()).run(trace([0, 1, 1], scalars=[200, 200])).metrics
    assert m["total_latency_ms"] == pytest.approx(106.03 + 129.06 + 1.03)
    assert m["demand_bytes"] == 300
    # the same pages under fp16 are 400 bytes and do not fit the 100-byte tier
    with pytest.raises(ValueError, match="tier 'fast'"):
        Simulation(tiers, LRU()).run(trace([0, 1, 1], scalars=[200, 200]))


def test_recompute_mode():
    # fast and mid hold one page each (mid is last). Cold reads are rebuilt in fast: write 2 +
    # recompute. r0: 2 + 5 = 7. r1: 2 + 7 + demote 0 (23) = 32. r0 (in mid): 14 + demote 1 (23)
    # = 37. r2: 2 + 11 + demote 0 to mid, which drops page 1 first: 23 -> 36. Total 112.
    res = run(trace([0, 1, 0, 2]), stack(100, 100), recompute_ms=[5.0, 7.0, 11.0])
    m = res.metrics
    assert m["total_latency_ms"] == pytest.approx(7 + 32 + 37 + 36)
    assert m["recompute_ms"] == pytest.approx(23) and m["transfer_ms"] == pytest.approx(89)
    assert (m["cold_misses"], m["served_frac_t1"], m["drops"]) == (3, 0.25, 1)
    assert m["write_bytes"] == 300 and m["demand_bytes"] == 400 and m["bytes_out_t1"] == 100
    with pytest.raises(ValueError, match="recompute_ms"):
        Simulation(stack(100), LRU(), recompute_ms=[1.0]).run(trace([0, 1]))
    with pytest.raises(ValueError, match="recompute_ms: page 1"):
        Simulation(stack(100), LRU(), recompute_ms=[1.0, -2.0])


def test_page_larger_than_a_tier_names_the_tier():
    with pytest.raises(ValueError, match=r"tier 'mid'.*capacity_bytes 99.*100 bytes"):
        run(trace([0]), stack(100, 99))


# ---- prefetch accounting -----------------------------------------------------------------------
# Two tiers: fast (the size given) and mid 300 (last). Cold loads read mid: 10 + 2 + 100/50 = 14.
def test_useful_prefetch():
    # r0: cold 14, then prefetch page 1 cold 14. r1: hit 1.
    m = run(trace([0, 1]), stack(200, 300), prefetcher=Scripted({0: [1]})).metrics
    assert m["total_latency_ms"] == pytest.approx(14 + 14 + 1)
    assert (m["prefetch_requests"], m["prefetch_useful"], m["prefetch_wasted"]) == (1, 1, 0)
    assert (m["demand_bytes"], m["prefetch_bytes"], m["bytes_moved"]) == (100, 100, 200)
    assert m["hits"] == 1 and m["prefetch_usefulness"] == 1.0


def test_prefetch_evicted_before_use_is_wasted():
    # fast holds one page. r0: 14; prefetch 1: 14 + demote 0 (23), 200 prefetch bytes.
    # r2: 14 + demote prefetched page 1 unread (23) -> wasted. r1 from mid: 14 + demote 2 (23).
    m = run(trace([0, 2, 1]), stack(100, 300), prefetcher=Scripted({0: [1]})).metrics
    assert m["total_latency_ms"] == pytest.approx(14 + 37 + 37 + 37)
    assert (m["prefetch_requests"], m["prefetch_useful"], m["prefetch_wasted"]) == (1, 0, 1)
    assert (m["demand_bytes"], m["prefetch_bytes"]) == (500, 200)
    assert m["hits"] == 0


def test_prefetch_never_read_or_overwritten_is_wasted():
    m = run(trace([0], scalars=[50] * 3), stack(300, 300), prefetcher=Scripted({0: [1, 2]})).metrics
    assert (m["prefetch_requests"], m["prefetch_useful"], m["prefetch_wasted"]) == (2, 0, 2)
    assert (m["demand_bytes"], m["prefetch_bytes"]) == (100, 200)
    m = run(trace([0, 1], ops=[0, 1]), stack(300, 300), prefetcher=Scripted({0: [1]})).metrics
    assert (m["prefetch_requests"], m["prefetch_wasted"], m["write_bytes"]) == (1, 1, 100)


def test_candidates_already_in_tier_zero_are_not_requests():
    m = run(trace([0, 1, 0]), stack(300, 300), prefetcher=Scripted({2: [1, 0]})).metrics
    assert (m["prefetch_requests"], m["prefetch_bytes"]) == (0, 0)
    with pytest.raises(ValueError, match=r"prefetcher Scripted: row 1: candidate page -1 out of range \[0, 2\)"):
        run(trace([0, 1]), stack(300, 300), prefetcher=Scripted({1: [-1]}))


def test_simulate_matches_simulation_and_is_deterministic():
    tr = trace([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3])
    a = simulate(tr, stack(300, 300, 1000), LRU(), MarkovPrefetch(min_confidence=1))
    b = Simulation(stack(300, 300, 1000), LRU(), MarkovPrefetch(min_confidence=1)).run(tr, every=3).metrics
    assert a == b and a["accesses"] == len(tr)
