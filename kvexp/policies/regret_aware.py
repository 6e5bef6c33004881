"""Regret-aware: protect pages whose eviction was soon regretted (they came back quickly)."""
from __future__ import annotations

from kvexp.policies.base import RunContext
from kvexp.policies.params import non_negative, positive_int, unit_interval
from kvexp.policies.priority import PriorityPolicy


class RegretAware(PriorityPolicy):
    """Orders by ``(score, last_touch, page)`` with
    ``score = recency_weight*last_touch + regret_horizon*(freq_weight*hist + regret_weight*regret)``.

    When a page evicted from tier 0 is inserted there again within ``regret_horizon`` accesses,
    that eviction is counted as a mistake: ``regret = decay*regret + 1``. Scores are in units of
    accesses, so one unit of regret buys ``regret_weight`` horizons of extra residency; with
    ``regret_weight = freq_weight = 0`` this is LRU. The reference design divides recency by the
    current step (re-ranking every page as time passes, so it must scan per eviction), grades
    each regret by how soon the page returned and decays regret on every access; here recency
    stays absolute and the other terms are scaled up instead, so keys never go stale and each
    hook is O(log n), and regret moves only when an eviction is judged.
    """

    def __init__(
        self,
        regret_horizon: int = 24,
        regret_weight: float = 6.0,
        freq_weight: float = 0.0,
        recency_weight: float = 1.0,
        decay: float = 0.9,
    ) -> None:
        self.regret_horizon = positive_int("regret_horizon", regret_horizon)
        self.regret_weight = non_negative("regret_weight", regret_weight)
        self.freq_weight = non_negative("freq_weight", freq_weight)
        self.recency_weight = non_negative("recency_weight", recency_weight)
        self.decay = unit_interval("decay", decay)

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        n = ctx.n_pages
        self._hist = [0] * n
        self._last = [0] * n
        self._regret = [0.0] * n
        self._evicted_at = [-1] * n  # position of the page's last eviction from tier 0, -1 if none pending

    def key(self, page: int, now: int) -> tuple:
        last = self._last[page]
        score = self.recency_weight * last + self.regret_horizon * (
            self.freq_weight * self._hist[page] + self.regret_weight * self._regret[page]
        )
        return (score, last, page)

    def insert(self, tier: int, page: int, now: int) -> None:
        if tier == 0:
            self._hist[page] += 1
            evicted = self._evicted_at[page]
            if evicted >= 0:
                if now - evicted <= self.regret_horizon:
                    self._regret[page] = self.decay * self._regret[page] + 1.0
                self._evicted_at[page] = -1
        self._last[page] = now
        self.push(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        self._hist[page] += 1
        self._last[page] = now
        self.push(tier, page, now)

    def evict(self, tier: int, now: int) -> int:
        page = super().evict(tier, now)
        if tier == 0:
            self._evicted_at[page] = now
        return page
