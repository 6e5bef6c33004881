"""Calendar queues (numba): predictive's and regret_aware's tier orders, buckets over a range
known before the run.

predictive's primary key is a predicted next touch, ``-(last + gap)``, and those predictions lie
in ranges fixed by the trace: ``0 .. 2 * rows`` for a page touched twice or more (its mean gap is
at most its last touch), ``unseen_gap .. unseen_gap + rows`` for any other. regret_aware's is its
last touch plus a bounded regret offset (``kvexp.fast.build._regret_calendar``). So a tier's order
is an array of buckets over those ranges (``bands``), each ``WIDTH`` trace rows wide (regret_aware's
one row), never rebalanced: a page sits in the bucket its key falls in, on a doubly-linked list
through the pages' rows (``link``), and a 64-ary bitmap tree (``kvexp.fast.bits``) of the
non-empty buckets finds the first one. The smallest key is the smallest in that bucket, found by
walking its list: predictive's pages are predicted at different rows, so a bucket seldom holds
more than one or two, and regret_aware's a row's page and the pages it prefetched.

A heap of a million entries pays a cache miss per level below the cache on most removals (the
entry that fills the root's place sinks through every level, and each level rewrites a random
page's slot): predictive's time per access tripled from 1e3 to 1e6 resident pages on a heap. Here a new key costs its bucket's head
(hinted rows ahead: the loop computes the key a page will get, ``calendar_hint_key``), at most
two list neighbours and a bitmap word, whatever the tier's size; the first non-empty bucket is
remembered until it empties, so the bitmap is searched once per bucket, not per victim.

Victims, though, are random pages: in a tier too large for the cache each one's row was a miss
to memory, paid in turn (with stride prefetch, a row evicts three pages or so down the tiers).
So each of regret_aware's tiers keeps a look-ahead: a cursor that walks the lists in bucket
order, a page past each victim (two while catching up), hinting the rows of the next
``LEAD_PAGES`` victims; the loop hints the rest of their state from it (``calendar_ahead``). It
only hints: when a hit moves its page or the victims overtake it, it starts again from the
victim. predictive's victims are mostly pages just read once, which new keys place first and
which are in cache already: its calendars keep none.

A page's bucket is a monotone function of its primary key (a linear map, floored and clamped),
so buckets in order hold keys in order, and any key, even one outside the bands, is placed
correctly: the bands only decide how evenly pages spread. A page's key is in its row (``rkf``,
``rki``, always current: no lazy refresh), its ``slot`` reads ``(CALENDAR, tier)``, and its
bucket is recomputed from its key. The price is memory: a 4-byte head per bucket per tier, 4 bytes
per trace row per tier with the default ``unseen_gap`` (where a heap takes 16 bytes per page a
tier can hold), and speed in small tiers, where a heap stays in cache.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.bits import bits_add, bits_discard, bits_min, bits_next, new_bits
from kvexp.fast.heap import BLANK_INT, _less
from kvexp.fast.jit import hot
from kvexp.fast.memhint import prefetch_hint

Calendars = namedtuple("Calendars", "s f first head bits ahead")
NoCalendars = namedtuple("NoCalendars", Calendars._fields)  # the same arrays, unused: a run on other orders
CALENDAR = -4  # a page's heap slot while a calendar holds it
PREV, NEXT = 0, 1
NB1, NB2, UNIVERSE, LEADS = range(4)  # ints in ``s``: each band's buckets, and theirs sum: a tier's
# buckets; the victims each tier's look-ahead keeps hinted (0: none)
LO1, LO2, IW = range(3)  # floats in ``f``: the bands' low ends, buckets per key unit
# (the same for every tier; ``first[k]`` is tier k's first non-empty bucket, -1 when not known,
# searched for when asked; tier k's heads are ``head[k * universe:][:universe]``)
AT, PAGE, LEAD = range(3)  # ``ahead[k]``: the look-ahead's bucket and page, and how many victims it leads by
LEAD_PAGES = 6  # victims a tier's look-ahead keeps hinted when it has one (12 measured no faster)
WIDTH = 2.0  # key units (trace rows) per bucket: 1 measured no faster at 1e6 pages, 4 slower


def new_calendars(n_tiers: int, bands: list[tuple[float, float]], width: float = WIDTH,
                  lead: int = 0) -> Calendars:
    """An empty calendar per tier for primary keys in the ``bands`` (one or two ``(low, high)``
    ranges, increasing and disjoint), a bucket per ``width`` key units, each tier keeping the
    rows of its next ``lead`` victims hinted (``_look_ahead``)."""
    s, f = np.zeros(4, np.int64), np.array([-np.inf, 0.0, 1.0 / width])
    s[LEADS] = lead
    (lo2, hi2) = bands[-1]
    s[NB2], f[LO2] = int((hi2 - lo2) / width) + 1, lo2
    if len(bands) == 2:
        (lo1, hi1) = bands[0]
        s[NB1], f[LO1] = int((hi1 - lo1) / width) + 1, lo1
    universe = s[UNIVERSE] = int(s[NB1] + s[NB2])
    ahead = np.full((n_tiers, 3), -1, np.int64)
    ahead[:, LEAD] = 0
    return Calendars(s, f, np.full(n_tiers, -1, np.int64), np.full(max(n_tiers * universe, 1), -1, np.int32),
                     new_bits(n_tiers, universe), ahead)


def no_calendars() -> NoCalendars:
    """Placeholders for a run whose tiers keep heaps or ladders: a type of their own."""
    return NoCalendars(*new_calendars(0, [(0.0, 1.0)]))


@hot
def _band(x, nb):
    """A band's bucket for a key x buckets past its low end: floored, clamped to ``[0, nb)``."""
    if x < 1.0:  # (and below the low end)
        return np.int64(0)
    if x >= nb - 1:
        return nb - 1
    return np.int64(x)


@hot
def _bucket(c, x1):
    """The bucket for primary key x1 (monotone in x1)."""
    s, f = c.s, c.f
    if x1 < f[LO2]:  # below the last band: in the first (or, with one band, in bucket 0)
        return _band((x1 - f[LO1]) * f[IW], s[NB1]) if s[NB1] > 0 else np.int64(0)
    return s[NB1] + _band((x1 - f[LO2]) * f[IW], s[NB2])


@hot
def _head(c, k, b):
    """The index of tier k's bucket b in ``head``."""
    return k * c.s[UNIVERSE] + b


@hot
def _link(c, link, k, b, p):
    """Put page p at the head of tier k's bucket b."""
    j = _head(c, k, b)
    h = c.head[j]
    link[p, PREV] = -1
    link[p, NEXT] = h
    if h >= 0:
        link[h, PREV] = p
    else:
        bits_add(c.bits, k, b)
        if b < c.first[k]:
            c.first[k] = b
    c.head[j] = p


@hot
def _unlink(c, link, k, b, p):
    """Take page p out of tier k's bucket b."""
    a, n = link[p, PREV], link[p, NEXT]
    if a >= 0:
        link[a, NEXT] = n
    else:
        c.head[_head(c, k, b)] = n
        if n < 0:
            bits_discard(c.bits, k, b)
            if b == c.first[k]:
                c.first[k] = -1
    if n >= 0:
        link[n, PREV] = a


@hot
def calendar_set(c, rkf, rki, slot, link, k, p, x1, x2):
    """Give page p the key (x1, x2) in tier k (x2 packs the page id, ``kvexp.fast.heap.pack``)."""
    b = _bucket(c, x1)
    if slot[p, 0] == CALENDAR:
        old = _bucket(c, rkf[p])
        rkf[p], rki[p] = x1, x2
        if old == b:
            return
        _unlink(c, link, k, old, p)
    else:
        slot[p, 0], slot[p, 1] = CALENDAR, k
        rkf[p], rki[p] = x1, x2
    _link(c, link, k, b, p)


@hot
def _take_out(c, slot, link, k, b, p):
    """Take page p, in bucket b, out of tier k."""
    _unlink(c, link, k, b, p)
    slot[p, 0], slot[p, 1] = -1, -1


@hot
def calendar_delete(c, rkf, slot, link, k, p):
    """Take page p out of tier k."""
    _take_out(c, slot, link, k, _bucket(c, rkf[p]), p)


@hot
def calendar_pop(c, slot, link, k, p):
    """Take out tier k's top page p, just found by ``calendar_top`` in the first non-empty
    bucket (its bucket is known: no key to read)."""
    _take_out(c, slot, link, k, c.first[k], p)


@hot
def _first(c, k):
    """The head page of tier k's first non-empty bucket, or -1."""
    b = c.first[k]
    if b < 0:
        b = bits_min(c.bits, k)
        if b < 0:
            return np.int64(-1)
        c.first[k] = b
    return np.int64(c.head[_head(c, k, b)])


@hot
def calendar_top(c, rkf, rki, slot, link, k):
    """Tier k's page with the smallest key: (page, x1, x2); page 0 and a blank key when the tier
    holds no page. The caller takes it out: the look-ahead counts it as a victim."""
    best = _first(c, k)
    if best < 0:
        return np.int64(0), np.inf, BLANK_INT
    q = link[best, NEXT]
    while q >= 0:
        if _less(rkf[q], rki[q], rkf[best], rki[best]):
            best = np.int64(q)
        q = link[q, NEXT]
    _look_ahead(c, rkf, slot, link, k, best)
    return best, rkf[best], rki[best]


@hot
def _look_ahead(c, rkf, slot, link, k, victim):
    """Keep the rows of tier k's next ``s[LEADS]`` victims loading: a cursor walks the
    buckets' lists in order, a page or two past each victim, hinting each page it reaches (so
    the rows it reads next were hinted a few victims ago; ``bits_next`` finds the next
    non-empty bucket, so sparse buckets cost no more than dense ones). Victims are random pages
    of a tier too large for the cache: unhinted, each costs a miss to memory. When the first
    bucket has passed the cursor, or the cursor's page has left its bucket (a hit moved it),
    the walk starts again from the victim (the pages before it in its bucket were just read).
    Hints only: the order does not depend on it."""
    if c.s[LEADS] == 0:
        return
    a = c.ahead[k]
    a[LEAD] -= 1
    b, q = a[AT], a[PAGE]
    if b < c.first[k] or (q >= 0 and (slot[q, 0] != CALENDAR or slot[q, 1] != k or _bucket(c, rkf[q]) != b)):
        b, q, a[LEAD] = c.first[k], victim, 0
    for _ in range(2):
        if a[LEAD] >= c.s[LEADS]:
            break
        if q >= 0:
            q = np.int64(link[q, NEXT])
        if q < 0:  # past bucket b's last page: the next non-empty bucket's first
            n = bits_next(c.bits, k, b + 1)
            if n < 0:  # (none yet: look again from b next time)
                break
            b, q = n, np.int64(c.head[_head(c, k, n)])
        prefetch_hint(rkf, q)
        a[LEAD] += 1
    a[AT], a[PAGE] = b, q


@hot
def calendar_next(c, k):
    """A page of tier k's first bucket (any page when the tier is empty): the likely victim."""
    return max(_first(c, k), 0)


@hot
def calendar_ahead(c, k):
    """The page tier k's look-ahead last reached (one of its next victims, its row hinted), or
    -1 (none yet, or no look-ahead)."""
    return c.ahead[k, PAGE]


@hot
def calendar_hint(c, rkf, slot, link, p):
    """Start loading what taking page p out of its bucket reads: the bucket's head and p's list
    neighbours' rows (p's row should be in cache already)."""
    if slot[p, 0] != CALENDAR:
        return
    k = slot[p, 1]
    prefetch_hint(c.head, _head(c, k, _bucket(c, rkf[p])))
    if link[p, PREV] >= 0:
        prefetch_hint(rkf, link[p, PREV])
    if link[p, NEXT] >= 0:
        prefetch_hint(rkf, link[p, NEXT])


@hot
def calendar_hint_key(c, k, x1):
    """Start loading what filing primary key x1 in tier k reads: its bucket's head, its set word."""
    b = _bucket(c, x1)
    prefetch_hint(c.head, _head(c, k, b))
    prefetch_hint(c.bits.words[k], c.bits.offs[0] + (b >> 6))
