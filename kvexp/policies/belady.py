"""Belady's MIN: the offline oracle that evicts the page needed farthest in the future."""
from __future__ import annotations

from kvexp.policies.base import RunContext
from kvexp.policies.priority import PriorityPolicy


class Belady(PriorityPolicy):
    """Orders by ``(-next_use, page)``: the page whose next access is farthest goes first.

    It reads the future from the trace (``Trace.next_use``), so it is a bound for comparison,
    not a deployable policy: on a single tier with equal page sizes no online policy has fewer
    misses. A page's next use changes only when the page itself is accessed, so keys never go
    stale; inserts that are not that page's own access (demotions, prefetches) keep the stored
    value. Not in the reference design, whose results have no lower bound to compare against.
    """

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._page_at = ctx.trace.page.tolist()
        self._next_at = ctx.trace.next_use.tolist()
        self._next = ctx.trace.first_use.tolist()

    def key(self, page: int, now: int) -> tuple:
        return (-self._next[page], page)

    def insert(self, tier: int, page: int, now: int) -> None:
        if self._page_at[now] == page:
            self._next[page] = self._next_at[now]
        self.push(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        self._next[page] = self._next_at[now]
        self.push(tier, page, now)
