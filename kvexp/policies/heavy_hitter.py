"""Heavy hitter: keep the pages with the most accumulated touches (H2O-style importance)."""
from __future__ import annotations

from kvexp.policies.base import RunContext
from kvexp.policies.priority import PriorityPolicy


class HeavyHitter(PriorityPolicy):
    """Orders by ``(hist, last_touch, page)``: fewest touches evicted first, then least recent.

    ``hist`` counts accesses and inserts into tier 0 over the whole run and is never reset, so a
    page keeps its importance after it has been dropped. The reference design blends the two
    signals as ``freq * 10_000 + last_step``, which stops being lexicographic once a trace is
    longer than 10,000 steps; the key tuple keeps the intended order at any length.
    """

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._hist = [0] * ctx.n_pages
        self._last = [0] * ctx.n_pages

    def key(self, page: int, now: int) -> tuple:
        return (self._hist[page], self._last[page], page)

    def insert(self, tier: int, page: int, now: int) -> None:
        if tier == 0:
            self._hist[page] += 1
        self._last[page] = now
        self.push(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        self._hist[page] += 1
        self._last[page] = now
        self.push(tier, page, now)
