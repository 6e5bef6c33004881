"""Sequential prefetch: after reading p, fetch p+1 .. p+degree (ids past the last page skipped).

Page ids of a sequence are laid out in token order by the workloads, so this is the classic
next-block readahead; it needs no learning and is the baseline the Markov prefetcher must beat.
"""
from __future__ import annotations

from typing import Sequence

from kvexp.policies.base import RunContext
from kvexp.prefetch.base import Prefetcher
from kvexp.prefetch.markov import check_positive_int


class StridePrefetch(Prefetcher):
    """Returns the next ``degree`` page ids after the page just read."""

    enabled = True

    def __init__(self, degree: int = 2) -> None:
        self.degree = check_positive_int("degree", degree)

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._n = ctx.n_pages

    def on_read(self, page: int, now: int) -> Sequence[int]:
        return range(page + 1, min(page + 1 + self.degree, self._n))
