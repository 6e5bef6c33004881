"""The policy interface: a policy only orders the pages inside each tier.

The engine owns residency, capacity, costs and metrics. It tells the policy when a page enters
a tier (``insert``), is read there (``access``) or leaves it for another reason (``remove``), and
asks it for a victim (``evict``) when a tier must make room. One policy instance serves the whole
hierarchy and keeps one ordering structure per tier; per-page state (frequency, regret, next
use) therefore survives a page's moves between tiers. Every hook must be O(1) or O(log n) in the
number of resident pages: no hook may scan the candidates.

``now`` is always the trace position (row index) of the access being served, so horizons and
windows in policy parameters count accesses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kvexp.trace import Trace


@dataclass(frozen=True, eq=False)
class RunContext:
    """What a policy may read about the run it is bound to."""

    trace: Trace
    page_bytes: np.ndarray  # bytes per page id under the run's quantization scheme
    n_tiers: int

    @property
    def n_pages(self) -> int:
        return len(self.page_bytes)


class Policy:
    """Base class: subclasses keep one ordering structure per tier."""

    def bind(self, ctx: RunContext) -> None:
        """Reset all state for a new run (called once by the engine before the first access)."""
        self.ctx = ctx

    def insert(self, tier: int, page: int, now: int) -> None:
        """``page`` entered ``tier`` (a promotion, demotion, prefetch or write)."""
        raise NotImplementedError

    def access(self, tier: int, page: int, now: int) -> None:
        """``page``, resident in ``tier``, was accessed at ``now`` (a hit or an overwrite)."""
        raise NotImplementedError

    def remove(self, tier: int, page: int) -> None:
        """``page`` left ``tier`` without being chosen as a victim (it was promoted)."""
        raise NotImplementedError

    def evict(self, tier: int, now: int) -> int:
        """Choose a victim in ``tier``, drop it from the ordering and return its page id."""
        raise NotImplementedError
