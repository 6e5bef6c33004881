"""Property tests (hypothesis) of the engine's model on random tier stacks, page sizes, traces,
policies, prefetchers and quant schemes.

After every access an observer checks: no tier over capacity; each page in at most one tier;
every read counted exactly once, by the tier it was found in; bytes conserved per tier (what
sits in a tier is what the counted moves brought in minus what they took out, plus the flows
no move counter sees: writes, recomputes, discarded stale copies, drops and the cold loads a
last tier serves without losing the page); the traffic counters equal a ledger kept by a
wrapper around the policy from the hooks it is called with. Belady is checked against every
online policy and against a brute-force MIN; the fast engine against the reference engine.
1,200 examples in all, derandomized (CI sees the same ones every run), no example database.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvexp.fast
from kvexp.metrics import Counters, summarize
from kvexp.policies.base import Policy, RunContext
from kvexp.policies.belady import Belady
from strategies import POLICIES, PREFETCHERS, Case, cases, configured

SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
ONLINE = [cls for cls in POLICIES if cls is not Belady]


class Ledger(Policy):
    """Wraps a policy: keeps its own map of which tier holds each page (refusing a page in two
    tiers, a victim or promoted page that is not there) and files every byte that enters or
    leaves a tier by kind of move, judged only from the hook calls and the trace row."""

    def __init__(self, inner: Policy, recompute: bool) -> None:
        self.inner, self.recompute = inner, recompute

    def bind(self, ctx: RunContext) -> None:
        self.inner.bind(ctx)
        k = ctx.n_tiers
        self.last = k - 1
        self.size = ctx.page_bytes.tolist()
        self.page_at, self.op_at = ctx.trace.page.tolist(), ctx.trace.op.tolist()
        self.where: dict[int, int] = {}
        self.lifted: dict[int, int] = {}   # removed from a lower tier, about to enter tier 0
        self.falling: dict[int, int] = {}  # evicted from a tier above the last, about to enter the next
        self.resident, self.peak = [0] * k, [0] * k
        self.moved_in, self.moved_out = [0] * k, [0] * k  # moves the engine counts as traffic
        self.other_in, self.other_out = [0] * k, [0] * k  # flows it does not
        self.by_cause = [0, 0]  # bytes moved for the row's own read/write, and for prefetches
        self.demotions, self.drops, self.written = [0] * k, 0, 0
        self.served_row = -1  # the row whose own page has been served: later moves there are prefetches

    def _move(self, src: int, dst: int, sz: int, now: int) -> None:
        self.moved_out[src] += sz
        self.moved_in[dst] += sz
        self.by_cause[self.served_row == now] += sz

    def insert(self, tier: int, page: int, now: int) -> None:
        assert page not in self.where, f"page {page} inserted into tier {tier} while in tier {self.where[page]}"
        sz = self.size[page]
        own = self.page_at[now] == page and self.served_row != now
        write = own and self.op_at[now] == 1
        if tier > 0:
            assert page not in self.lifted and self.falling.pop(page, None) == tier - 1, \
                f"page {page} entered tier {tier} without being evicted from tier {tier - 1}"
            self._move(tier - 1, tier, sz, now)
            self.demotions[tier - 1] += 1
        elif page in self.lifted:
            src = self.lifted.pop(page)
            if write:  # the stale copy below is discarded, the new bytes written
                self.other_out[src] += sz
                self.other_in[0] += sz
                self.written += sz
            else:
                self._move(src, 0, sz, now)
        else:
            assert page not in self.falling
            if write or (own and self.recompute):  # written, or rebuilt in place
                self.other_in[0] += sz
                self.written += sz
            else:  # a cold load: read off the last tier, which keeps nothing and loses nothing
                self._move(self.last, 0, sz, now)
                self.other_in[self.last] += sz
        if own:
            self.served_row = now
        self.where[page] = tier
        self.resident[tier] += sz
        self.peak[tier] = max(self.peak[tier], self.resident[tier])
        self.inner.insert(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        assert tier == 0 and self.where.get(page) == 0, f"access of page {page} in tier {tier}"
        if self.page_at[now] == page:
            self.served_row = now
            self.written += self.size[page] if self.op_at[now] == 1 else 0
        self.inner.access(tier, page, now)

    def remove(self, tier: int, page: int) -> None:
        assert tier > 0 and self.where.pop(page, None) == tier, f"page {page} removed from tier {tier}"
        self.resident[tier] -= self.size[page]
        self.lifted[page] = tier
        self.inner.remove(tier, page)

    def evict(self, tier: int, now: int) -> int:
        page = self.inner.evict(tier, now)
        assert self.where.pop(page, None) == tier, f"victim {page} is not in tier {tier}"
        sz = self.size[page]
        self.resident[tier] -= sz
        if tier == self.last:
            self.other_out[tier] += sz
            self.drops += 1
        else:
            self.falling[page] = tier
        return page


@given(case=cases())
@settings(max_examples=500, **SETTINGS)
def test_invariants_hold_after_every_access(case: Case):
    ledger = Ledger(case.policy(), case.recompute_ms is not None)
    sim = case.simulation(ledger)
    pages, ops = case.trace.page.tolist(), case.trace.op.tolist()
    n, K = len(pages), len(case.tiers)
    expected = [-2 if ops[0] else -1] + [None] * (n - 1)  # row 0 finds nothing resident
    tally = {k: 0 for k in range(-1, K)}
    latency = [0.0]

    def observe(done: int, c: Counters) -> None:
        loc, used, size = sim.loc, sim.used, sim.size
        for k in range(K):
            assert used[k] <= sim.cap[k], f"tier {k} over capacity after {done} accesses"
            assert used[k] == sum(size[p] for p, t in enumerate(loc) if t == k) == ledger.resident[k]
            assert used[k] == c.bytes_in[k] - c.bytes_out[k] + ledger.other_in[k] - ledger.other_out[k]
            assert c.peak_bytes[k] == ledger.peak[k] <= sim.cap[k]
        assert {p: t for p, t in enumerate(loc) if t >= 0} == ledger.where  # at most one tier per page
        assert not ledger.lifted and not ledger.falling  # nothing left in flight between accesses
        assert (c.bytes_in, c.bytes_out) == (ledger.moved_in, ledger.moved_out)
        assert [c.demand_bytes, c.prefetch_bytes] == ledger.by_cause
        assert (c.demotions, c.drops, c.write_bytes) == (ledger.demotions, ledger.drops, ledger.written)
        # every read counted once, by the tier that held its page just before (-1: nowhere)
        writes = sum(ops[:done])
        assert (c.accesses, c.reads, c.writes) == (done, done - writes, writes)
        tally[expected[done - 1]] = tally.get(expected[done - 1], 0) + 1
        assert c.served == [tally[k] for k in (*range(K), -1)] and sum(c.served) == c.reads
        pending = [p for p, flag in enumerate(sim.pending) if flag]
        assert all(loc[p] == 0 for p in pending)
        assert c.prefetch_useful + c.prefetch_wasted + len(pending) == c.prefetch_requests
        assert 0 <= c.recompute_ms <= c.latency_ms and c.latency_ms >= latency[0]  # costs are never negative
        latency[0] = c.latency_ms
        if done < n:
            expected[done] = -2 if ops[done] else loc[pages[done]]

    res = sim.run(case.trace, observers=[observe], every=1)
    m = res.metrics
    assert res.served_by.tolist() == expected
    assert m["hits"] + m["misses"] == m["reads"] == n - sum(ops)
    fractions = [m[f"served_frac_t{k}"] for k in range(K)] + [m["served_frac_cold"]]
    assert math.isclose(sum(fractions), 1.0) if m["reads"] else sum(fractions) == 0
    assert m["bytes_moved"] == m["demand_bytes"] + m["prefetch_bytes"] == sum(ledger.moved_in)
    assert m["evictions"] == m["demotions"] + m["drops"]
    if case.prefetch_spec[0] is None or not case.prefetcher().enabled:
        assert m["prefetch_requests"] == m["prefetch_bytes"] == 0
    # observing and wrapping changed nothing: a plain run of fresh objects gives the same numbers
    assert case.simulation().run(case.trace).metrics == m


def min_misses(pages: list[int], slots: int) -> int:
    """Misses of Belady's MIN with ``slots`` page slots, by brute force: on a miss with the
    cache full, scan the future for the resident page needed farthest ahead (or never)."""
    cache: set[int] = set()
    misses = 0
    for i, p in enumerate(pages):
        if p in cache:
            continue
        misses += 1
        if len(cache) == slots:
            future = pages[i + 1:]
            cache.remove(max(cache, key=lambda q: future.index(q) if q in future else len(future)))
        cache.add(p)
    return misses


@given(case=cases(equal_sizes=True, writes=False, recompute=False, prefetchers=(None,), policies=(Belady,)),
       data=st.data())
@settings(max_examples=300, **SETTINGS)
def test_belady_is_never_worse_than_an_online_policy(case: Case, data: st.DataObject):
    # Equal page sizes, reads only, no prefetch: tier 0 is a plain demand-paged cache whatever
    # sits below it (lower tiers only change what a miss costs), so farthest-next-use is optimal.
    slots = case.tiers[0].capacity_bytes // int(case.quant.page_bytes(case.trace.pages.n_scalars[:1])[0])
    best = case.simulation().run(case.trace).metrics["misses"]
    assert best == min_misses(case.trace.page.tolist(), slots)
    for cls, kwargs in (data.draw(configured([cls]), label=cls.__name__) for cls in ONLINE):
        online = case.simulation(cls(**kwargs)).run(case.trace).metrics["misses"]
        assert best <= online, f"belady {best} misses, {cls.__name__}({kwargs}) {online}"


@given(case=cases(), every=st.integers(1, 130))
@settings(max_examples=400, **SETTINGS)
def test_fast_engine_matches_reference_on_random_runs(case: Case, every: int):
    policy, prefetcher = case.policy(), case.prefetcher()
    assert kvexp.fast.supports(policy, prefetcher)  # every built-in class has a compiled path
    seen: dict[str, list] = {"reference": [], "fast": []}

    def snapshots(name: str):
        return lambda done, c: seen[name].append((done, summarize(c, case.tiers)))

    ref = case.simulation().run(case.trace, observers=[snapshots("reference")], every=every)
    fast = kvexp.fast.run(case.trace, case.tiers, case.policy(), case.prefetcher(), case.quant, case.recompute_ms,
                          observers=[snapshots("fast")], every=every)
    assert fast.metrics == ref.metrics
    assert np.array_equal(fast.served_by, ref.served_by)
    assert seen["fast"] == seen["reference"] and len(seen["fast"]) == math.ceil(len(case.trace) / every)


def test_the_strategies_cover_every_built_in_policy_and_prefetcher():
    names = {cls.__name__ for cls in POLICIES}
    assert names == {"LRU", "FIFO", "LFU", "HeavyHitter", "WindowedRecency", "CostAware", "Predictive",
                     "RegretAware", "Belady"}
    assert {cls.__name__ for cls in PREFETCHERS} == {"NoPrefetch", "MarkovPrefetch", "StridePrefetch"}
