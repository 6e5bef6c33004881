"""Windowed recency: keep the pages touched most often in the last ``window_size`` accesses."""
from __future__ import annotations

from collections import deque

from kvexp.policies.base import RunContext
from kvexp.policies.params import positive_int
from kvexp.policies.priority import PriorityPolicy

NEVER = 1 << 62  # a position no trace reaches


class WindowedRecency(PriorityPolicy):
    """Orders by ``(wcount, last_touch, page)``: fewest touches in the window first.

    ``wcount`` counts touches (accesses and inserts into tier 0) at trace positions in
    ``(now - window_size, now]``. Touches are queued; each hook first expires the ones that fell
    out of the window and re-keys those pages, so every key is exact at decision time while each
    touch costs one push when it enters and one when it leaves. The reference design counts a
    page's occurrences in the last ``window_size`` accesses by scanning the window per candidate
    and blends ``count * 1e6 + last_step``; here the window is the same span of trace positions,
    counted incrementally, and the blend is a key tuple.
    """

    def __init__(self, window_size: int = 32) -> None:
        self.window_size = positive_int("window_size", window_size)

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        n = ctx.n_pages
        self._count = [0] * n
        self._last = [0] * n
        self._tier = [-1] * n  # tier the page is resident in, -1 when nowhere
        self._events: deque[tuple[int, int]] = deque()  # (position, page) of touches in the window
        self._due = NEVER  # first position at which the oldest queued touch leaves the window

    def key(self, page: int, now: int) -> tuple:
        return (self._count[page], self._last[page], page)

    def _expire(self, now: int) -> None:
        """Drop the touches at positions <= now - window_size and re-key their resident pages."""
        events, count, where = self._events, self._count, self._tier
        edge = now - self.window_size
        while events and events[0][0] <= edge:
            page = events.popleft()[1]
            count[page] -= 1
            if where[page] >= 0:
                self.push(where[page], page, now)
        self._due = events[0][0] + self.window_size if events else NEVER

    def _record(self, page: int, now: int) -> None:
        """Count a touch of ``page`` at ``now`` and queue its expiry."""
        self._count[page] += 1
        if not self._events:
            self._due = now + self.window_size
        self._events.append((now, page))

    def insert(self, tier: int, page: int, now: int) -> None:
        if now >= self._due:
            self._expire(now)
        if tier == 0:
            self._record(page, now)
        self._last[page] = now
        self._tier[page] = tier
        self.push(tier, page, now)

    def access(self, tier: int, page: int, now: int) -> None:
        if now >= self._due:
            self._expire(now)
        self._record(page, now)
        self._last[page] = now
        self.push(tier, page, now)

    def remove(self, tier: int, page: int) -> None:
        super().remove(tier, page)
        self._tier[page] = -1

    def evict(self, tier: int, now: int) -> int:
        if now >= self._due:
            self._expire(now)
        page = super().evict(tier, now)
        self._tier[page] = -1
        return page
