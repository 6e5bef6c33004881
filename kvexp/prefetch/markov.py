"""First-order Markov prefetch: after reading p, fetch the pages that most often followed p.

Transition counts are learned online from demand reads only (prefetches do not teach it). Each
page keeps its best ``degree`` successors up to date as counts grow, so a read costs O(degree)
regardless of how many successors the page has seen: counts only ever rise by one, so a page
can enter a top list only on its own increment, and then it displaces the current worst.
"""
from __future__ import annotations

from typing import Sequence

from kvexp.policies.base import RunContext
from kvexp.prefetch.base import Prefetcher


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int >= 1, or a one-line ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"prefetch.{name}: expected an integer >= 1, got {value!r}")
    return value


class MarkovPrefetch(Prefetcher):
    """Returns up to ``degree`` successors of the page just read whose transition count is at
    least ``min_confidence``, highest count first, ties to the lower page id."""

    enabled = True

    def __init__(self, degree: int = 2, min_confidence: int = 2) -> None:
        self.degree = check_positive_int("degree", degree)
        self.min_confidence = check_positive_int("min_confidence", min_confidence)

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._n = ctx.n_pages
        self._counts: dict[int, int] = {}  # prev * n_pages + next -> transitions seen
        self._top: dict[int, tuple[int, ...]] = {}  # page -> best successors (count >= min_confidence)
        self._prev = -1

    def successor_count(self, prev: int, page: int) -> int:
        """How many demand reads of ``page`` directly followed a demand read of ``prev``."""
        return self._counts.get(prev * self._n + page, 0)

    def on_read(self, page: int, now: int) -> Sequence[int]:
        prev, self._prev = self._prev, page
        if prev >= 0:
            base = prev * self._n
            counts = self._counts
            c = counts[base + page] = counts.get(base + page, 0) + 1
            if c >= self.min_confidence:
                self._promote(prev, base, page, c)
        return self._top.get(page, ())

    def _promote(self, prev: int, base: int, page: int, c: int) -> None:
        """``page``'s count after ``prev`` just rose to ``c``: keep ``prev``'s top list exact."""
        top = self._top.get(prev, ())
        if page not in top:
            if len(top) >= self.degree:
                worst = top[-1]
                wc = self._counts[base + worst]
                if c < wc or (c == wc and worst < page):
                    return
                top = top[:-1]
            top = top + (page,)
        counts = self._counts
        self._top[prev] = tuple(sorted(top, key=lambda q: (-counts[base + q], q)))
