"""Indexed 4-ary min-heaps, one per tier, over flat arrays (numba).

A priority policy keys each resident page by ``(primary: float64, secondary: int, page)``,
compared lexicographically exactly like the reference's key tuples (the page id breaks ties).
An entry is 16 bytes: the primary at ``kf[2j]`` and ``secondary << 31 | page`` at ``ki[2j + 1]``,
where ``kf`` and ``ki`` view one buffer as float64 and int64 (secondaries are trace positions,
below 2**31, so the packed pair orders like the tuple). Four children share one cache line, and
the three slots past a heap's last entry always hold the largest key (+inf, 2**63 - 1), so a
level reads all four children unconditionally and picks the smallest without a jump.
A page is resident in at most one tier, so one ``slot`` row per page, (position in its tier's
heap, tier) or (-1, -1), serves every tier. Each page has exactly one entry; its stored key is
never larger than the page's current key (``heap_set``), and the policy refreshes a stale root
before taking it (``heap_top`` / ``heap_refresh_top``), so the page removed is the one with the
smallest current key: the reference's lazy-deletion heap's choice, since keys are unique.
Taking the root (``heap_pop_root``) leaves a hole there; when the next operation on that tier
inserts a page (an eviction usually makes room for one), the new entry fills the hole and sinks
from the root: one sift instead of two. Any other operation first fills it with the last entry.
Tier k's entries are ``off[k] .. off[k] + size[k] - 1``.

A heap of ``DEEP`` entries or more is taken to be out of cache. Its lower levels then cost a
cache miss each, on a path no one can know before the sift chooses it, so a sift hints the lines
of the next levels' candidates (the four lines of the children's children from entry
``DEEP / 4`` on, and the sixteen lines of their children from entry ``DEEP`` on) while it
compares the current one. (In a smaller heap, mostly in cache, those hints measured slower.)
Such a heap also gives a grown key its place at once instead of lazily: the entry sits in the
heap's lower levels, which the caller hints a few rows ahead (``heap_hint``; the page's row is
in the trace), so the short sift down costs less than the full sift from the root the stale
entry would take when it surfaced.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.jit import hot, kernel
from kvexp.fast.memhint import prefetch_hint

Heaps = namedtuple("Heaps", "kf ki slot off size hole")
PAGE_BITS = 31
PAGE_MASK = (1 << PAGE_BITS) - 1
PAD = 3  # blank slots kept past the last entry: the rest of a last child group
BLANK_INT = np.iinfo(np.int64).max
DEEP = 1 << 16  # entries (1 MiB, a core's L2 here) from which a heap is taken to be out of cache


def new_heaps(slot: np.ndarray, slots: np.ndarray) -> Heaps:
    """Heaps for tiers holding at most ``slots[k]`` pages each, children groups line-aligned;
    ``slot`` (one int32 pair per page) is filled with -1 and used as the heaps' page index."""
    n_tiers = len(slots)
    entries = int(np.sum(slots)) + (PAD + 4) * n_tiers + 4
    buf = np.zeros(2 * entries, np.float64)
    buf[0::2] = np.inf
    buf.view(np.int64)[1::2] = BLANK_INT
    shift = (buf.ctypes.data // 16) % 4  # entries from the buffer start to a 64-byte line
    off = np.zeros(n_tiers, np.int64)
    start = 0
    for k in range(n_tiers):
        off[k] = start + (3 - (shift + start) % 4) % 4  # entry off+1 (first child group) starts a line
        start = off[k] + int(slots[k]) + PAD
    slot[:] = -1
    return Heaps(buf, buf.view(np.int64), slot, off,
                 np.zeros(n_tiers, np.int64), np.zeros(n_tiers, np.int64))


@hot
def pack(secondary, page):
    return (secondary << PAGE_BITS) | page


@hot
def _less(a1, a2, b1, b2):
    return (a1 < b1) | ((a1 == b1) & (a2 < b2))  # no short circuit: compiles without branches


@hot
def _put(h, base, i, x1, x2):
    j = 2 * (base + i)
    h.kf[j] = x1
    h.ki[j + 1] = x2
    h.slot[x2 & PAGE_MASK, 0] = i


@hot
def _blank(h, base, i):
    j = 2 * (base + i)
    h.kf[j] = np.inf
    h.ki[j + 1] = BLANK_INT


@hot
def _hint_lines(kf, i, lines):
    """Hint ``lines`` consecutive cache lines of entries from entry i (a child group's first)."""
    for q in range(lines):
        prefetch_hint(kf, 2 * i + 8 * q)


@hot
def _hint_below(kf, base, g, n):
    """A sift is at the parents of entries g.. (heap-local) in a heap of n entries: hint the
    four lines of those children, one of which it reads next, and from ``DEEP`` on the sixteen
    lines of their children."""
    _hint_lines(kf, base + g, 4)
    g = 4 * g + 1
    if g >= DEEP and g < n:
        _hint_lines(kf, base + g, 16)


@hot
def _sift_up(h, base, i, x1, x2):
    """Put entry x at slot i (heap-local), moving larger ancestors down."""
    kf, ki = h.kf, h.ki
    while i > 0:
        parent = (i - 1) >> 2
        j = 2 * (base + parent)
        if not _less(x1, x2, kf[j], ki[j + 1]):
            break
        _put(h, base, i, kf[j], ki[j + 1])
        i = parent
    _put(h, base, i, x1, x2)


@hot
def _sift_down(h, base, n, i, x1, x2):
    """Put entry x at slot i of a heap of n entries, moving smaller children up."""
    kf, ki = h.kf, h.ki
    while True:
        c = 4 * i + 1
        if c >= n:
            break
        j = 2 * (base + c)
        g = 4 * c + 1
        if n >= DEEP and g >= DEEP >> 2 and g < n:
            _hint_below(kf, base, g, n)
        # the smallest child by a tournament, (0, 1) and (2, 3) then the winners, picked by
        # index arithmetic: selects between values compile to jumps the CPU mispredicts
        s = np.int64(_less(kf[j + 2], ki[j + 3], kf[j], ki[j + 1]))
        t = np.int64(_less(kf[j + 6], ki[j + 7], kf[j + 4], ki[j + 5])) + 2
        e = j + 2 * s
        f = j + 2 * t
        u = np.int64(_less(kf[f], ki[f + 1], kf[e], ki[e + 1]))
        m = c + s + u * (t - s)
        jm = j + 2 * (m - c)
        m1, m2 = kf[jm], ki[jm + 1]
        if not _less(m1, m2, x1, x2):
            break
        _put(h, base, i, m1, m2)
        i = m
    _put(h, base, i, x1, x2)


@hot
def _settle(h, base, n, i, x1, x2):
    """Put x at slot i of a heap of n entries, sifting whichever way restores the order."""
    up = False
    if i > 0:
        j = 2 * (base + ((i - 1) >> 2))
        up = _less(x1, x2, h.kf[j], h.ki[j + 1])
    if up:
        _sift_up(h, base, i, x1, x2)
    else:
        _sift_down(h, base, n, i, x1, x2)


@hot
def _take_last(h, base, n, i):
    """The heap shrinks to n entries: its last entry (at n) fills slot i, which is vacant."""
    j = 2 * (base + n)
    x1, x2 = h.kf[j], h.ki[j + 1]
    _blank(h, base, n)
    if i != n:
        _settle(h, base, n, i, x1, x2)


@kernel
def _fill_hole_now(h, k):
    h.hole[k] = 0
    n = h.size[k] - 1
    h.size[k] = n
    _take_last(h, h.off[k], n, 0)


@hot
def _fill_hole(h, k):
    """Fill a hole left at tier k's root by ``heap_pop_root``, if any, with the last entry (a
    call, not inlined: it is rare, since an insert usually takes the hole first, and each
    inlined copy of a sift lengthens the kernel's compilation)."""
    if h.hole[k]:
        _fill_hole_now(h, k)


@hot
def heap_set(h, k, p, x1, x2):
    """Insert page p into tier k's heap with key (x1, pack(x2, p)), or give it that key.

    A key that grows is only recorded lazily: the entry keeps its smaller key, which still
    orders correctly below everything it precedes, and the policy re-sifts it when it
    surfaces. Most touches raise a page's key (recency, counts), so a hit costs O(1) instead
    of a sift to the bottom of the heap. A key that shrinks is moved up at once; so is one
    that grows when the heap has ``DEEP`` entries or more.
    """
    y2 = pack(x2, p)
    n = h.size[k]
    if h.slot[p, 0] < 0:  # a new entry: into the root's hole if there is one, else at the end
        h.slot[p, 1] = k
        if h.hole[k]:
            h.hole[k] = 0
            i = 0
        else:
            i = n
            n += 1
            h.size[k] = n
    else:
        j = 2 * (h.off[k] + h.slot[p, 0])
        if not _less(x1, y2, h.kf[j], h.ki[j + 1]) and h.size[k] < DEEP:
            return
        _fill_hole(h, k)
        n = h.size[k]
        i = h.slot[p, 0]
    _settle(h, h.off[k], n, i, x1, y2)


@hot
def heap_hint(h, p):
    """Start loading the lines an eager update of page p would read: its entry, its parent, its
    children and their children. Only while tier 0's heap (a hit's) has ``DEEP`` entries or more:
    a smaller one stays in cache. Reads p's slot, so p's row should be in cache already."""
    kf = h.kf
    if h.size[0] < DEEP:
        return
    i = h.slot[p, 0]
    if i < 0:
        return
    base = h.off[h.slot[p, 1]]
    prefetch_hint(kf, 2 * (base + i))
    if i > 0:
        prefetch_hint(kf, 2 * (base + ((i - 1) >> 2)))
    c = base + 4 * i + 1
    if 2 * c < len(kf):  # (lines past this heap's entries are blank or another tier's: harmless)
        _hint_lines(kf, c, 1)
        c = base + 4 * (4 * i + 1) + 1
        if 2 * c + 64 <= len(kf):
            _hint_lines(kf, c, 4)


@hot
def heap_delete(h, k, p):
    """Remove page p from tier k's heap; the last entry fills its slot."""
    _fill_hole(h, k)
    i = h.slot[p, 0]
    n = h.size[k] - 1
    h.size[k] = n
    h.slot[p, 0] = -1
    h.slot[p, 1] = -1
    _take_last(h, h.off[k], n, i)


@hot
def heap_top(h, k):
    """The page at the root of tier k's heap and its stored key (possibly smaller than current)."""
    _fill_hole(h, k)
    j = 2 * h.off[k]
    x2 = h.ki[j + 1]
    return x2 & PAGE_MASK, h.kf[j], x2


@hot
def heap_refresh_top(h, k, x1, x2):
    """The root's page has the larger current key (x1, pack(x2, page)): sift it down."""
    j = 2 * h.off[k]
    _sift_down(h, h.off[k], h.size[k], 0, x1, pack(x2, h.ki[j + 1] & PAGE_MASK))


@hot
def heap_pop_root(h, k):
    """Take the root's page (just returned by ``heap_top``) out of tier k's heap."""
    p = h.ki[2 * h.off[k] + 1] & PAGE_MASK
    h.slot[p, 0] = -1
    h.slot[p, 1] = -1
    h.hole[k] = 1


@hot
def heap_root(h, k):
    """The page at the root of tier k's heap (an arbitrary page when it is empty or has a hole)."""
    return h.ki[2 * h.off[k] + 1] & PAGE_MASK


@hot
def heap_tier(h, p):
    """The tier whose heap holds page p, or -1."""
    return h.slot[p, 1]
