"""A tier's priority order (numba): an indexed heap, a lazy bucket queue or a calendar queue.

Each priority policy keys its pages by the reference's tuples, and its tiers keep one kind of
order, the one whose costs its keys suit: cost_aware's a lazy bucket queue (``kvexp.fast.ladder``),
predictive's and (when its keys stay within a bounded offset of their last touch, as they do by
default: ``kvexp.fast.build._regret_calendar``) regret_aware's a calendar queue
(``kvexp.fast.calendar_queue``), and windowed_recency's overflow and any other regret_aware an
indexed heap (``kvexp.fast.heap``) whose grown keys are recorded lazily (in a heap too large for
the cache, at once). Every ``order_*`` function has a heap, a ladder and a calendar version, and
numba compiles the one that the order's type names (``_three_kinds``): each loop holds one kind's
code, not several (typing and dropping another kind's code doubled the compile time; running
beside it, up to twice as slow). The ladders and calendars keep each page's key in its row
(``rkf``, ``rki``) and their lists in its ``link`` (``kvexp.fast.rows``).
"""
from __future__ import annotations

import functools
from collections import namedtuple

import numpy as np
from numba import types
from numba.extending import overload

from kvexp.fast.calendar_queue import (WIDTH, Calendars, calendar_ahead, calendar_delete, calendar_hint,
                                       calendar_hint_key, calendar_next, calendar_pop, calendar_set, calendar_top,
                                       new_calendars, no_calendars)
from kvexp.fast.heap import (heap_delete, heap_hint, heap_pop_root, heap_refresh_top, heap_root, heap_set,
                             heap_top, new_heaps, pack)
from kvexp.fast.jit import hot
from kvexp.fast.ladder import ladder_ahead, ladder_delete, ladder_pop, ladder_rekey, ladder_root, ladder_set, ladder_top
from kvexp.fast.ladder_arrays import Ladders, new_ladders, no_ladders
from kvexp.fast.rows import PageRows

Order = namedtuple("Order", "heaps lad cal link rkf rki")


def new_order(rows: PageRows, slots: np.ndarray, ladders: bool = False,
              bands: list[tuple[float, float]] | None = None, width: float = WIDTH, lead: int = 0) -> Order:
    """Empty orders for tiers of at most ``slots[k]`` pages, over the pages' ``rows``: heaps,
    or with ``ladders`` lazy bucket queues, or with ``bands`` calendar queues over primary keys in
    those ranges, a bucket per ``width`` key units, each hinting its next ``lead`` victims."""
    lad, cal, heap_slots = no_ladders(), no_calendars(), np.zeros(len(slots), np.int64)
    if ladders:
        lad = new_ladders(slots)
    elif bands is not None:
        cal = new_calendars(len(slots), bands, width, lead)
    else:
        heap_slots = slots
    return Order(new_heaps(rows.slot, heap_slots), lad, cal, rows.link, rows.rkf, rows.rki)


@hot
def _heap_set(o, k, p, x1, x2):
    """Insert page p into tier k with key (x1, pack(x2, p)), or give it that key (a larger key
    recorded lazily, as in ``heap_set``)."""
    heap_set(o.heaps, k, p, x1, x2)


@hot
def _heap_delete(o, k, p):
    heap_delete(o.heaps, k, p)


@hot
def _heap_top(o, k):
    """The page with tier k's smallest stored key, and that key (possibly smaller than current)."""
    return heap_top(o.heaps, k)


@hot
def _heap_refresh_top(o, k, p, x1, x2):
    """``p``, just returned by ``order_top``, has the larger current key (x1, pack(x2, p))."""
    heap_refresh_top(o.heaps, k, x1, x2)


@hot
def _heap_pop(o, k, p):
    """Take ``p``, just returned by ``order_top`` with its current key, out of tier k."""
    heap_pop_root(o.heaps, k)


@hot
def _heap_next(o, k):
    """A page likely to be among tier k's next victims, for cache hints: the root (any page when
    the tier is empty)."""
    return heap_root(o.heaps, k)


@hot
def _no_ahead(o, k):
    """One of tier k's next victims whose row is already loading, for the loop to hint the rest
    of its state; -1 when the order does not look ahead (a heap's next victim is not known
    before the current one leaves)."""
    return np.int64(-1)


@hot
def _calendar_ahead(o, k):
    return calendar_ahead(o.cal, k)


@hot
def _lazy_keys(o):
    """Whether a stored key may be stale (smaller than the page's current key), so the top must
    be checked before it is taken: in a heap, yes (``kvexp.fast.heap``); a ladder's and a
    calendar's keys are always current (a constant of the loop's type: the check compiles away)."""
    return True


@hot
def _current_keys(o):
    return False


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
def _ladder_ahead(o, k):
    return ladder_ahead(o.lad, k)


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
def _calendar_pop(o, k, p):
    calendar_pop(o.cal, o.heaps.slot, o.link, k, p)


@hot
def _calendar_top(o, k):
    return calendar_top(o.cal, o.rkf, o.rki, o.heaps.slot, o.link, k)


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
order_pop = _three_kinds(_heap_pop, _ladder_pop, _calendar_pop)
order_next = _three_kinds(_heap_next, _ladder_next, _calendar_next)
order_hint = _three_kinds(_heap_hint, _ladder_hint, _calendar_hint)
order_hint_key = _three_kinds(_no_hint_key, _no_hint_key, _calendar_hint_key)
order_ahead = _three_kinds(_no_ahead, _ladder_ahead, _calendar_ahead)
order_lazy = _three_kinds(_lazy_keys, _current_keys, _current_keys)
