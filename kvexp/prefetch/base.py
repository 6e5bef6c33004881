"""The prefetch interface, separate from eviction.

After each demand read the engine asks the prefetcher for candidate pages; every candidate not
already in tier 0 is moved there (a prefetch request), and the engine tracks whether it is read
while still in tier 0 (useful) or leaves tier 0 / is never read (wasted).
"""
from __future__ import annotations

from typing import Sequence

from kvexp.policies.base import RunContext


class Prefetcher:
    """Base class and the ``none`` prefetcher: never suggests anything."""

    enabled = False

    def bind(self, ctx: RunContext) -> None:
        """Reset all state for a new run."""
        self.ctx = ctx

    def on_read(self, page: int, now: int) -> Sequence[int]:
        """Called after the demand read of ``page`` at ``now``; returns pages to bring to tier 0."""
        return ()


class NoPrefetch(Prefetcher):
    """Prefetch disabled."""
