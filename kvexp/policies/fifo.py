"""First in, first out: evict the page that entered the tier earliest."""
from __future__ import annotations

from collections import OrderedDict

from kvexp.policies.base import Policy, RunContext


class FIFO(Policy):
    """One OrderedDict per tier in insertion order; accesses do not reorder it.

    Not in the reference design: the classic baseline that isolates what recency buys over
    plain arrival order (and matches libCacheSim's FIFO, which the tests cross-check).
    """

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._order = [OrderedDict() for _ in range(ctx.n_tiers)]

    def insert(self, tier: int, page: int, now: int) -> None:
        self._order[tier][page] = None

    def access(self, tier: int, page: int, now: int) -> None:
        pass

    def remove(self, tier: int, page: int) -> None:
        del self._order[tier][page]

    def evict(self, tier: int, now: int) -> int:
        return self._order[tier].popitem(last=False)[0]
