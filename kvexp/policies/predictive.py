"""Predictive: evict the page whose next touch, extrapolated from its history, is farthest."""
from __future__ import annotations

from kvexp.policies.base import RunContext
from kvexp.policies.params import non_negative
from kvexp.policies.priority import PriorityPolicy


class Predictive(PriorityPolicy):
    """Orders by ``(-predicted, last_ref, page)``: farthest predicted next touch first, ties to
    the least recently touched.

    A page touched ``hist >= 2`` times is predicted to come back one mean gap
    ``(last_ref - first_ref) / (hist - 1)`` after its latest touch; a page seen once gets
    ``unseen_gap`` (default: the trace length, i.e. "not soon"). Touches are inserts into tier 0
    and accesses; demotions change nothing. The reference design's "predictive" policy is a
    Markov prefetcher whose eviction key is just ``freq * 100 + last_step``; here prediction
    is split out: the transition model lives in the ``markov`` prefetcher and this class
    predicts reuse for eviction, an online stand-in for Belady's next-use key.
    """

    def __init__(self, unseen_gap: float | None = None) -> None:
        self.unseen_gap = None if unseen_gap is None else non_negative("unseen_gap", unseen_gap)

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        n = ctx.n_pages
        self._hist = [0] * n
        self._first = [-1] * n
        self._last = [0] * n
        self._default_gap = float(len(ctx.trace)) if self.unseen_gap is None else self.unseen_gap

    def key(self, page: int, now: int) -> tuple:
        hist, last = self._hist[page], self._last[page]
        gap = (last - self._first[page]) / (hist - 1) if hist >= 2 else self._default_gap
        return (-(last + gap), last, page)

    def insert(self, tier: int, page: int, now: int) -> None:
        if tier == 0:
            self._touch(page, now)
        self.push(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        self._touch(page, now)
        self.push(tier, page, now)

    def _touch(self, page: int, now: int) -> None:
        self._hist[page] += 1
        self._last[page] = now
        if self._first[page] < 0:
            self._first[page] = now
