"""Least recently used: evict the page whose last insert or access is oldest."""
from __future__ import annotations

from collections import OrderedDict

from kvexp.policies.base import Policy, RunContext


class LRU(Policy):
    """One OrderedDict per tier, oldest first; a page demoted into a tier enters as most recent."""

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._order = [OrderedDict() for _ in range(ctx.n_tiers)]

    def insert(self, tier: int, page: int, now: int) -> None:
        self._order[tier][page] = None

    def access(self, tier: int, page: int, now: int) -> None:
        self._order[tier].move_to_end(page)

    def remove(self, tier: int, page: int) -> None:
        del self._order[tier][page]

    def evict(self, tier: int, now: int) -> int:
        return self._order[tier].popitem(last=False)[0]
