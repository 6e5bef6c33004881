"""A tier's priority order as a sorted run plus a heap, for keys that mostly grow with time (numba).

Under recency-weighted keys (regret_aware) nearly every new key is among the largest in its
tier, so a heap sinks almost every entry it takes from its root to the bottom: the whole depth
per eviction. Here each tier also keeps a run: a doubly-linked list of entries in increasing
stored key. An entry whose place is within ``walk`` entries of the run's tail goes into the run,
found by walking back from the tail (those entries were touched last, so they are in cache); any
other goes into the tier's heap (``kvexp.fast.heap``). The smallest entry is the smaller of the
run's head and the heap's root, so taking it costs O(1) when it comes from the run. Keys,
laziness and the refresh of a stale minimum are the heap's (see that module): a page has one
entry, in the run or in the heap, whose stored key never exceeds its current key, so the page
taken is the one with the smallest current key, whichever structure holds it. One difference: a
run entry whose key grows (a hit) moves at once to its new place when that lies within ``walk``
of the tail, as an lru hit moves to the tail, so the run's head is seldom stale; otherwise it
stays put with its old key, lazily. With ``walk`` 0 the run stays empty and this is the heap
alone, and then a large heap gives grown keys their place eagerly (``heap_set``'s ``eager``;
with a run, grown keys mostly move to the run's tail instead). The walk actually tried adapts,
up to ``walk`` (``_run_insert``): it shrinks while insertions fail and grows back as they succeed.
Run entries store their key in ``rkf`` / ``rki`` (in the pages' rows, ``kvexp.fast.rows``, and
+inf for each tier's sentinel ``n_pages + k``, which closes its circular list); their heap slot
is ``IN_RUN``.

cost_aware's tiers keep a lazy bucket queue instead (``kvexp.fast.ladder``), predictive's a
calendar queue (``kvexp.fast.calendar_queue``); neither has a run or a heap. Each ``order_*``
function has a heap, a ladder and a calendar version, and numba compiles the one that the
order's type names (``_three_kinds``): each loop holds one kind's code, not several (typing and
dropping another kind's code doubled the compile time; running beside it, up to twice as slow).
"""
from __future__ import annotations

import functools
from collections import namedtuple

import numpy as np
from numba import types
from numba.extending import overload

from kvexp.fast.calendar_queue import (Calendars, calendar_delete, calendar_hint, calendar_hint_key, calendar_next,
                                       calendar_set, calendar_top, new_calendars, no_calendars)
from kvexp.fast.heap import (BLANK_INT, _less, heap_delete, heap_hint, heap_pop_root, heap_refresh_top,
                             heap_root, heap_set, heap_top, new_heaps, pack)
from kvexp.fast.jit import hot
from kvexp.fast.ladder import (Ladders, ladder_delete, ladder_pop, ladder_rekey, ladder_root, ladder_set,
                               ladder_top, new_ladders, no_ladders)
from kvexp.fast.rows import PageRows

Order = namedtuple("Order", "heaps lad cal link rkf rki walk lim n_pages")
PREV, NEXT = 0, 1
IN_RUN = -2


def new_order(rows: PageRows, slots: np.ndarray, walk: int, ladders: bool = False,
              bands: list[tuple[float, float]] | None = None) -> Order:
    """Empty orders for tiers of at most ``slots[k]`` pages, over the pages' ``rows``;
    ``walk`` bounds a run insertion (0: heaps only); ``ladders``: lazy bucket queues instead
    (their filings' places use the rows' links: no run then); ``bands``: calendar queues over
    primary keys in those ranges instead (their lists use the rows' links)."""
    n_pages = len(rows.slot)
    sentinels = np.arange(n_pages, n_pages + len(slots), dtype=np.int32)
    rows.link[n_pages:, PREV] = sentinels  # each tier's run: its sentinel alone
    rows.link[n_pages:, NEXT] = sentinels
    rows.rkf[n_pages:] = np.inf
    rows.rki[n_pages:] = BLANK_INT
    lad, cal, heap_slots = no_ladders(), no_calendars(), slots
    if ladders:
        lad, walk, heap_slots = new_ladders(slots), 0, np.zeros(len(slots), np.int64)
    elif bands is not None:
        cal, walk, heap_slots = new_calendars(len(slots), bands), 0, np.zeros(len(slots), np.int64)
    heaps = new_heaps(rows.slot, heap_slots)
    return Order(heaps, lad, cal, rows.link, rows.rkf, rows.rki, walk, np.full(len(slots), walk, np.int64), n_pages)


@hot
def _unlink(o, p):
    link = o.link
    a, b = link[p, PREV], link[p, NEXT]
    link[a, NEXT] = b
    link[b, PREV] = a
    o.heaps.slot[p, 0] = -1
    o.heaps.slot[p, 1] = -1


@hot
def _relink(o, k, p, a, b):
    """Put run entry p back between a and b, where ``_unlink`` took it from."""
    o.link[a, NEXT] = p
    o.link[b, PREV] = p
    o.heaps.slot[p, 0] = IN_RUN
    o.heaps.slot[p, 1] = k


@hot
def _run_insert(o, k, p, x1, y2):
    """Put p, key (x1, y2), into tier k's run if its place is within ``lim[k]`` of the tail.
    ``lim[k]`` starts at ``walk``; a failure (which walked all of it for nothing) halves it, a
    success doubles it back, up to ``walk``: when most new keys land far from the tail (under
    regret_aware, pages with large regret offsets hold the tail), failures stay cheap."""
    link = o.link
    s = o.n_pages + k
    q = link[s, PREV]
    lim = o.lim[k]
    for _ in range(lim):
        if q == s or _less(o.rkf[q], o.rki[q], x1, y2):  # p goes right after q
            o.lim[k] = min(2 * lim, o.walk)
            b = link[q, NEXT]
            link[q, NEXT] = p
            link[p, PREV] = q
            link[p, NEXT] = b
            link[b, PREV] = p
            o.rkf[p] = x1
            o.rki[p] = y2
            o.heaps.slot[p, 0] = IN_RUN
            o.heaps.slot[p, 1] = k
            return True
        q = link[q, PREV]
    if lim > 1:
        o.lim[k] = lim >> 1
    return False


@hot
def _heap_set(o, k, p, x1, x2):
    """Insert page p into tier k with key (x1, pack(x2, p)), or give it that key (a larger key
    is recorded lazily, as in ``heap_set``, unless p is in the run and its new place there
    is within ``walk`` of the tail)."""
    y2 = pack(x2, p)
    i = o.heaps.slot[p, 0]
    if i == IN_RUN:
        grows = not _less(x1, y2, o.rkf[p], o.rki[p])
        a, b = o.link[p, PREV], o.link[p, NEXT]
        _unlink(o, p)
        if grows:  # to its place near the tail, else back where it was with its key recorded lazily
            if not _run_insert(o, k, p, x1, y2):
                _relink(o, k, p, a, b)
            return
        i = -1
    if i >= 0 or not _run_insert(o, k, p, x1, y2):  # one call site: each inlines a sift
        heap_set(o.heaps, k, p, x1, x2, o.walk == 0)


@hot
def _heap_delete(o, k, p):
    """Remove page p from tier k."""
    if o.heaps.slot[p, 0] == IN_RUN:
        _unlink(o, p)
    else:
        heap_delete(o.heaps, k, p)


@hot
def _heap_top(o, k):
    """The page with tier k's smallest stored key, and that key (possibly smaller than current)."""
    p, x1, x2 = heap_top(o.heaps, k)
    if o.walk > 0:
        r = o.link[o.n_pages + k, NEXT]
        if _less(o.rkf[r], o.rki[r], x1, x2):  # the sentinel's +inf never is
            return np.int64(r), o.rkf[r], o.rki[r]
    return p, x1, x2


@hot
def _heap_refresh_top(o, k, p, x1, x2):
    """``p``, just returned by ``order_top``, has the larger current key (x1, pack(x2, p))."""
    if o.heaps.slot[p, 0] == IN_RUN:
        _unlink(o, p)
        _heap_set(o, k, p, x1, x2)  # p is nowhere now: placed anew
    else:
        heap_refresh_top(o.heaps, k, x1, x2)


@hot
def _heap_pop(o, k, p):
    """Take ``p``, just returned by ``order_top`` with its current key, out of tier k."""
    if o.heaps.slot[p, 0] == IN_RUN:
        _unlink(o, p)
    else:
        heap_pop_root(o.heaps, k)


@hot
def _heap_next(o, k):
    """A page likely to be among tier k's next victims, for cache hints: the run's second entry
    (its first is usually taken before a hint could help), else its first, else the heap's
    root (any page when the tier is empty)."""
    first = o.link[o.n_pages + k, NEXT]
    second = o.link[first, NEXT]
    if second < o.n_pages:
        return np.int64(second)
    if first < o.n_pages:
        return np.int64(first)
    return heap_root(o.heaps, k)


@hot
def order_tier(o, p):
    """The tier holding page p, or -1."""
    return o.heaps.slot[p, 1]


@hot
def _heap_hint(o, p):
    """Start loading what giving page p a new key will read in its tier's heap (``heap_hint``)."""
    heap_hint(o.heaps, p)


@hot
def _ladder_set(o, k, p, x1, x2):
    ladder_set(o.lad, o.rkf, o.rki, o.heaps.slot, o.link, k, p, x1, pack(x2, p))


@hot
def _ladder_delete(o, k, p):
    ladder_delete(o.heaps.slot, p)


@hot
def _ladder_top(o, k):
    return ladder_top(o.lad, o.rkf, o.rki, o.heaps.slot, o.link, k)


@hot
def _ladder_refresh_top(o, k, p, x1, x2):  # (never: a ladder's stored keys are current)
    ladder_rekey(o.lad, o.rkf, o.rki, o.heaps.slot, o.link, k, p, x1, pack(x2, p))


@hot
def _ladder_pop(o, k, p):
    ladder_pop(o.lad, o.heaps.slot, k, p)


@hot
def _ladder_next(o, k):
    return ladder_root(o.lad, k)


@hot
def _ladder_hint(o, p):
    """Nothing: a ladder reads p's row only, which the loop hints anyway."""


@hot
def _calendar_set(o, k, p, x1, x2):
    calendar_set(o.cal, o.rkf, o.rki, o.heaps.slot, o.link, k, p, x1, pack(x2, p))


@hot
def _calendar_delete(o, k, p):
    calendar_delete(o.cal, o.rkf, o.heaps.slot, o.link, k, p)


@hot
def _calendar_top(o, k):
    return calendar_top(o.cal, o.rkf, o.rki, o.link, k)


@hot
def _calendar_refresh_top(o, k, p, x1, x2):  # (never: a calendar's stored keys are current)
    _calendar_set(o, k, p, x1, x2)


@hot
def _calendar_next(o, k):
    return calendar_next(o.cal, k)


@hot
def _calendar_hint(o, p):
    calendar_hint(o.cal, o.rkf, o.heaps.slot, o.link, p)


@hot
def _calendar_hint_key(o, k, x1):
    calendar_hint_key(o.cal, k, x1)


@hot
def _no_hint_key(o, k, x1):
    """Start loading what filing primary key x1 in tier k will read: a calendar's bucket (in a
    heap or a ladder, nothing: where a key lands there is not known before it is placed)."""


def _holds(o, field: str, cls: type) -> bool:
    """Whether order ``o`` (or its numba type) holds a ``cls`` in ``field``."""
    if isinstance(o, types.BaseNamedTuple):
        t = o.types[Order._fields.index(field)]
        return isinstance(t, types.BaseNamedTuple) and t.instance_class is cls
    return isinstance(getattr(o, field), cls)


def _pick(o, heap_fn, ladder_fn, calendar_fn):
    if _holds(o, "lad", Ladders):
        return ladder_fn
    return calendar_fn if _holds(o, "cal", Calendars) else heap_fn


def _three_kinds(heap_fn, ladder_fn, calendar_fn):
    """One function over the three kinds of order, documented and called as ``heap_fn``: from
    Python it calls the version for ``o``; compiled, numba inlines the version that ``o``'s
    type names."""
    @functools.wraps(heap_fn.py_func)
    def fn(o, *args):
        return _pick(o, heap_fn, ladder_fn, calendar_fn)(o, *args)

    @overload(fn, inline="always")
    @functools.wraps(heap_fn.py_func)
    def _typed(o, *args):
        return _pick(o, heap_fn, ladder_fn, calendar_fn).py_func

    return fn


order_set = _three_kinds(_heap_set, _ladder_set, _calendar_set)
order_delete = _three_kinds(_heap_delete, _ladder_delete, _calendar_delete)
order_top = _three_kinds(_heap_top, _ladder_top, _calendar_top)
order_refresh_top = _three_kinds(_heap_refresh_top, _ladder_refresh_top, _calendar_refresh_top)
order_pop = _three_kinds(_heap_pop, _ladder_pop, _calendar_delete)
order_next = _three_kinds(_heap_next, _ladder_next, _calendar_next)
order_hint = _three_kinds(_heap_hint, _ladder_hint, _calendar_hint)
order_hint_key = _three_kinds(_no_hint_key, _no_hint_key, _calendar_hint_key)
