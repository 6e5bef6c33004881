"""Naive reference policies written straight from the policy specification, for the tests.

Each keeps per-page state in dicts, remembers which pages sit in which tier, and picks a victim
by computing every resident's key at decision time and taking the minimum: O(n) per eviction,
no heaps, no incremental bookkeeping and nothing shared with the real classes. They implement
the same hooks, so the real engine can run them and the victim sequences can be compared.
"""
from __future__ import annotations

import itertools

from kvexp.policies.base import Policy, RunContext


class NaivePolicy(Policy):
    """Residency per tier plus a min-scan over the residents of a tier on ``evict``."""

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.resident: list[set[int]] = [set() for _ in range(ctx.n_tiers)]
        self.length = len(ctx.trace)
        self.last_tier = ctx.n_tiers - 1

    def order_key(self, tier: int, page: int, now: int) -> tuple:
        raise NotImplementedError

    def on_insert(self, tier: int, page: int, now: int) -> None:
        """State update for an insert (before the page joins ``tier``)."""

    def on_access(self, tier: int, page: int, now: int) -> None:
        """State update for an access."""

    def on_evict(self, tier: int, page: int, now: int) -> None:
        """State update after ``page`` was chosen as ``tier``'s victim."""

    def insert(self, tier: int, page: int, now: int) -> None:
        assert all(page not in r for r in self.resident), f"page {page} inserted while resident"
        self.on_insert(tier, page, now)
        self.resident[tier].add(page)

    def access(self, tier: int, page: int, now: int) -> None:
        assert page in self.resident[tier], f"page {page} accessed but not resident in tier {tier}"
        self.on_access(tier, page, now)

    def remove(self, tier: int, page: int) -> None:
        self.resident[tier].remove(page)

    def evict(self, tier: int, now: int) -> int:
        victim = min(self.resident[tier], key=lambda p: self.order_key(tier, p, now))
        self.resident[tier].remove(victim)
        self.on_evict(tier, victim, now)
        return victim


class NaiveLRU(NaivePolicy):
    """Victim: the resident whose latest insert or access into its tier happened first."""

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.clock = itertools.count()
        self.stamp: dict[int, int] = {}

    def on_insert(self, tier, page, now):
        self.stamp[page] = next(self.clock)

    on_access = on_insert

    def order_key(self, tier, page, now):
        return (self.stamp[page],)


class NaiveFIFO(NaiveLRU):
    """Victim: the resident that entered its tier first; accesses change nothing."""

    def on_access(self, tier, page, now):
        pass


class NaiveCounting(NaivePolicy):
    """Shared state: touch count (accesses + inserts into tier 0) and last touch (any insert)."""

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.count: dict[int, int] = {}
        self.last: dict[int, int] = {}

    def on_insert(self, tier, page, now):
        if tier == 0:
            self.count[page] = self.count.get(page, 0) + 1
        self.last[page] = now

    def on_access(self, tier, page, now):
        self.count[page] = self.count.get(page, 0) + 1
        self.last[page] = now


class NaiveHeavyHitter(NaiveCounting):
    def order_key(self, tier, page, now):
        return (self.count[page], self.last[page], page)


class NaiveLFU(NaiveHeavyHitter):
    """Like the heavy hitter, but a page dropped from the last tier forgets its count."""

    def on_evict(self, tier, page, now):
        if tier == self.last_tier:
            self.count[page] = 0


class NaiveWindowedRecency(NaivePolicy):
    """Counts touches at positions in (now - window, now] by scanning each page's touch list."""

    def __init__(self, window_size: int = 32) -> None:
        self.window = window_size

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.touches: dict[int, list[int]] = {}
        self.last: dict[int, int] = {}

    def on_insert(self, tier, page, now):
        if tier == 0:
            self.touches.setdefault(page, []).append(now)
        self.last[page] = now

    def on_access(self, tier, page, now):
        self.touches.setdefault(page, []).append(now)
        self.last[page] = now

    def order_key(self, tier, page, now):
        in_window = sum(1 for t in self.touches.get(page, []) if now - self.window < t <= now)
        return (in_window, self.last[page], page)


class NaiveCostAware(NaiveCounting):
    def __init__(self, freq_weight: float = 1.0, recency_weight: float = 1.0, size_penalty: float = 0.5) -> None:
        self.fw, self.rw, self.sp = freq_weight, recency_weight, size_penalty

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.biggest = max(ctx.page_bytes.tolist())

    def order_key(self, tier, page, now):
        size = int(self.ctx.page_bytes[page])
        biggest = self.biggest
        last = self.last[page]
        score = self.fw * self.count[page] + self.rw * last / self.length - self.sp * size / biggest
        return (score, last, page)


class NaivePredictive(NaivePolicy):
    """Predicted next touch = latest touch + mean gap between touches (or the unseen gap)."""

    def __init__(self, unseen_gap: float | None = None) -> None:
        self.unseen_gap = unseen_gap

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.touches: dict[int, list[int]] = {}

    def on_insert(self, tier, page, now):
        if tier == 0:
            self.touches.setdefault(page, []).append(now)

    def on_access(self, tier, page, now):
        self.touches.setdefault(page, []).append(now)

    def order_key(self, tier, page, now):
        seen = self.touches[page]
        first, last, hist = seen[0], seen[-1], len(seen)
        if hist >= 2:
            gap = (last - first) / (hist - 1)
        else:
            gap = self.unseen_gap if self.unseen_gap is not None else self.length
        return (-(last + gap), last, page)


class NaiveRegretAware(NaiveCounting):
    """Regret grows when a page evicted from tier 0 comes back there within the horizon."""

    def __init__(self, regret_horizon=24, regret_weight=6.0, freq_weight=0.0, recency_weight=1.0, decay=0.9) -> None:
        self.h, self.w_regret, self.w_freq, self.w_rec, self.decay = regret_horizon, regret_weight, freq_weight, recency_weight, decay

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.regret: dict[int, float] = {}
        self.evicted_at: dict[int, int] = {}

    def on_insert(self, tier, page, now):
        super().on_insert(tier, page, now)
        if tier == 0:
            if page in self.evicted_at and now - self.evicted_at[page] <= self.h:
                self.regret[page] = self.decay * self.regret.get(page, 0.0) + 1.0
            self.evicted_at.pop(page, None)

    def on_evict(self, tier, page, now):
        if tier == 0:
            self.evicted_at[page] = now

    def order_key(self, tier, page, now):
        last = self.last[page]
        score = self.w_rec * last + self.h * (self.w_freq * self.count[page] + self.w_regret * self.regret.get(page, 0.0))
        return (score, last, page)


class NaiveBelady(NaivePolicy):
    """Victim: the resident whose next access after ``now`` (found by scanning the trace) is last."""

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.positions: dict[int, list[int]] = {}
        for i, p in enumerate(ctx.trace.page.tolist()):
            self.positions.setdefault(p, []).append(i)

    def order_key(self, tier, page, now):
        upcoming = [i for i in self.positions.get(page, []) if i > now]
        return (-(upcoming[0] if upcoming else self.length), page)
