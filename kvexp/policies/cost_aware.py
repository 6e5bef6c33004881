"""Cost-aware: weigh reuse and recency against the room a page takes."""
from __future__ import annotations

from kvexp.policies.base import RunContext
from kvexp.policies.params import non_negative
from kvexp.policies.priority import PriorityPolicy


class CostAware(PriorityPolicy):
    """Orders by ``(score, last_touch, page)`` with
    ``score = freq_weight*hist + recency_weight*last_touch/L - size_penalty*bytes/max_bytes``.

    ``hist`` is the heavy hitter's touch count, ``L`` the trace length and ``max_bytes`` the
    largest page, so big pages that are rarely reused go first. The reference design divides
    recency by the *current* step, which re-ranks every resident page as time passes and so
    needs a scan per eviction; the constant ``L`` keeps the same intent (recency as a fraction
    of the run) with keys that never go stale. It measures size in KiB; dividing by the largest
    page makes the penalty independent of the quantization scheme's absolute sizes.
    """

    def __init__(self, freq_weight: float = 1.0, recency_weight: float = 1.0, size_penalty: float = 0.5) -> None:
        self.freq_weight = non_negative("freq_weight", freq_weight)
        self.recency_weight = non_negative("recency_weight", recency_weight)
        self.size_penalty = non_negative("size_penalty", size_penalty)

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        n = ctx.n_pages
        self._hist = [0] * n
        self._last = [0] * n
        self._length = max(len(ctx.trace), 1)
        biggest = max(int(ctx.page_bytes.max()), 1) if n else 1
        self._size_cost = [self.size_penalty * b / biggest for b in ctx.page_bytes.tolist()]

    def key(self, page: int, now: int) -> tuple:
        last = self._last[page]
        score = self.freq_weight * self._hist[page] + self.recency_weight * last / self._length - self._size_cost[page]
        return (score, last, page)

    def insert(self, tier: int, page: int, now: int) -> None:
        if tier == 0:
            self._hist[page] += 1
        self._last[page] = now
        self.push(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        self._hist[page] += 1
        self._last[page] = now
        self.push(tier, page, now)
