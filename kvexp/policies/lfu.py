"""Least frequently used, forgetting a page's count once it leaves the hierarchy."""
from __future__ import annotations

from kvexp.policies.base import RunContext
from kvexp.policies.heavy_hitter import HeavyHitter


class LFU(HeavyHitter):
    """Orders by ``(freq, last_touch, page)``: fewest touches first, ties to the least recent.

    ``freq`` counts accesses and inserts into tier 0 like the heavy hitter's ``hist``, but is
    reset to 0 when the page is dropped from the last tier: classic in-cache LFU, where a page
    must earn its count again after it has been thrown away. Not in the reference design.
    """

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._bottom = ctx.n_tiers - 1

    def evict(self, tier: int, now: int) -> int:
        page = super().evict(tier, now)
        if tier == self._bottom:
            self._hist[page] = 0
        return page
