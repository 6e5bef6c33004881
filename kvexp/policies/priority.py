"""Shared machinery for policies that evict the page with the smallest key: a lazy-deletion heap.

A page's key is recomputed only when something about that page changes (it is inserted or
accessed), so keys must not depend on the current time; each such change pushes a new heap
entry and the stale one is skipped when it surfaces. The heap is rebuilt when stale entries
outnumber live ones, so memory stays O(resident pages) and each hook is O(log n) amortised.
"""
from __future__ import annotations

import heapq

from kvexp.policies.base import Policy, RunContext


class PriorityPolicy(Policy):
    """Evicts the resident page with the smallest ``key``; keys end with the page id, so ties are
    broken deterministically."""

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._heaps: list[list[tuple]] = [[] for _ in range(ctx.n_tiers)]
        self._keys: list[dict[int, tuple]] = [{} for _ in range(ctx.n_tiers)]

    def key(self, page: int, now: int) -> tuple:
        """The page's eviction key; smaller is evicted first. Must end with ``page``."""
        raise NotImplementedError

    def touch(self, page: int, now: int, hit: bool) -> None:
        """Update per-page state before the key is recomputed (insert: ``hit`` False)."""

    def push(self, tier: int, page: int, now: int) -> None:
        key = self.key(page, now)
        keys = self._keys[tier]
        keys[page] = key
        heap = self._heaps[tier]
        heapq.heappush(heap, key)
        if len(heap) > 2 * len(keys) + 64:
            heap[:] = list(keys.values())
            heapq.heapify(heap)

    def insert(self, tier: int, page: int, now: int) -> None:
        self.touch(page, now, False)
        self.push(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        self.touch(page, now, True)
        self.push(tier, page, now)

    def remove(self, tier: int, page: int) -> None:
        del self._keys[tier][page]

    def evict(self, tier: int, now: int) -> int:
        heap, keys = self._heaps[tier], self._keys[tier]
        while True:
            key = heapq.heappop(heap)
            page = key[-1]
            if keys.get(page) == key:
                del keys[page]
                return page
