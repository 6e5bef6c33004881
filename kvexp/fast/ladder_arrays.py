"""A ladder's arrays (numba): where cost_aware's lazy bucket queues file their pages, and the
three places a filing goes (``kvexp.fast.ladder`` holds the queue itself).

Per tier: ``s`` (ints) and ``f`` (floats) hold its scalars; the bottom is a 4-ary heap of 16-byte
keys in ``ef``/``ei`` (``kvexp.fast.heap``'s layout); the top an unsorted list of pages in
``top``; each bucket of the rung and of the fine rung a list of 16-page chunks (``chunk``, linked
by ``cnext``, handed out from the tier's ``free`` stack) named by its ``meta`` row (head and tail
chunk, fill of the tail, filings). A tier may hold ``FILINGS * slots + SLACK`` filings: its
bottom and top are sized for that many, its chunks for that many plus a part-filled one per
bucket. Memory: 24 bytes per filing, about 100 per page a tier can hold.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.heap import PAGE_MASK, _less
from kvexp.fast.jit import hot

Ladders = namedtuple("Ladders", "s f ef ei top chunk cnext free meta")
NoLadders = namedtuple("NoLadders", Ladders._fields)  # the same arrays, unused: a run on heaps
LADDER = -3  # a page's heap slot while a ladder holds it
TOP, BOTTOM, MARK = -1, -2, -3  # a page's ``loc`` besides a bucket number (MARK: kept by a compaction)
CHUNK = 16  # pages per bucket chunk: one cache line
SPREAD = 8  # pages per bucket when a rung is laid out
SLACK = 1024
FILINGS = 4  # filings per page a tier can hold, before a compaction
# per-tier scalars in ``s`` and floats in ``f``
NBOT, NTOP, NBK, NB, CUR, FREE, CAP, EOFF, TOFF, COFF, MOFF, NBMAX, NCH, NB1, CUR1, SPLIT_B = range(16)
LO, HI, IW, TMIN, TMAX, LO1, IW1 = range(7)
HEAD, TAIL, FILL, COUNT = range(4)  # a bucket's ``meta`` row


def new_ladders(slots: np.ndarray, slack: int = SLACK, per_slot: int = FILINGS) -> Ladders:
    """A ladder per tier, tier k holding at most ``slots[k]`` pages (and ``per_slot * slots[k] +
    slack`` filings before a compaction)."""
    n = len(slots)
    s = np.zeros((n, 16), np.int64)
    e = c = m = 0
    for k in range(n):
        r = int(slots[k])
        cap, nbmax = per_slot * r + slack, r // SPREAD + 2  # buckets per rung
        nch = cap // CHUNK + 2 * nbmax + 2
        s[k, CAP], s[k, EOFF], s[k, TOFF], s[k, COFF], s[k, MOFF] = cap, e, e, c, m
        s[k, NBMAX], s[k, NCH], s[k, FREE], s[k, SPLIT_B] = nbmax, nch, nch, -1
        e, c, m = e + cap + 1, c + nch, m + 2 * nbmax
    f = np.zeros((n, 7))
    f[:, LO], f[:, HI], f[:, TMIN], f[:, TMAX] = -np.inf, -np.inf, np.inf, -np.inf  # all to the top
    ent = np.zeros(2 * e, np.float64)
    free = np.zeros(c, np.int32)
    for k in range(n):  # each tier's free chunks, a stack
        free[s[k, COFF]:s[k, COFF] + s[k, NCH]] = np.arange(s[k, NCH], dtype=np.int32)
    meta = np.full((m, 4), -1, np.int32)
    meta[:, COUNT] = 0
    return Ladders(s, f, ent, ent.view(np.int64), np.zeros(e, np.int32), np.zeros(c * CHUNK, np.int32),
                   np.full(c, -1, np.int32), free, meta)


def no_ladders() -> NoLadders:
    """Placeholders for a run whose tiers keep heaps: the same arrays, empty, of another type."""
    return NoLadders(*new_ladders(np.zeros(0, np.int64)))


@hot
def filed(slot, loc, k, p, where):
    """Page p is in tier k, filed at ``where``."""
    return (slot[p, 0] == LADDER) & (slot[p, 1] == k) & (loc[p, 0] == where)


@hot
def live_bottom(rkf, rki, slot, loc, k, x1, x2):
    """Whether the bottom entry (x1, x2) is its page's current key in tier k (else stale)."""
    p = x2 & PAGE_MASK
    return filed(slot, loc, k, p, BOTTOM) and rkf[p] == x1 and rki[p] == x2


@hot
def _bottom_push(g, base, n, x1, x2):
    ef, ei = g.ef, g.ei
    i = n
    while i > 0:
        par = (i - 1) >> 2
        j = 2 * (base + par)
        if not _less(x1, x2, ef[j], ei[j + 1]):
            break
        ef[2 * (base + i)] = ef[j]
        ei[2 * (base + i) + 1] = ei[j + 1]
        i = par
    ef[2 * (base + i)] = x1
    ei[2 * (base + i) + 1] = x2


@hot
def bottom_pop(g, base, n):
    """Drop the root of a bottom heap of n entries."""
    ef, ei = g.ef, g.ei
    n -= 1
    x1, x2 = ef[2 * (base + n)], ei[2 * (base + n) + 1]
    i, c = 0, 1
    while c < n:
        m = c
        for d in range(1, 4):
            j, jm = 2 * (base + c + d), 2 * (base + m)
            if c + d < n and _less(ef[j], ei[j + 1], ef[jm], ei[jm + 1]):
                m = c + d
        jm = 2 * (base + m)
        if not _less(ef[jm], ei[jm + 1], x1, x2):
            break
        ef[2 * (base + i)] = ef[jm]
        ei[2 * (base + i) + 1] = ei[jm + 1]
        i, c = m, 4 * m + 1
    ef[2 * (base + i)] = x1
    ei[2 * (base + i) + 1] = x2


@hot
def bucket_append(g, k, b, p):
    s, meta = g.s, g.meta
    mb = s[k, MOFF] + b
    t = meta[mb, TAIL]
    if t < 0 or meta[mb, FILL] == CHUNK:
        s[k, FREE] -= 1
        c = g.free[s[k, COFF] + s[k, FREE]]
        g.cnext[s[k, COFF] + c] = -1
        if t < 0:
            meta[mb, HEAD] = c
        else:
            g.cnext[s[k, COFF] + t] = c
        meta[mb, TAIL] = c
        meta[mb, FILL] = 0
        t = c
    g.chunk[(s[k, COFF] + t) * CHUNK + meta[mb, FILL]] = p
    meta[mb, FILL] += 1
    meta[mb, COUNT] += 1
    s[k, NBK] += 1


@hot
def top_add(g, k, p, x1):
    s, f = g.s, g.f
    g.top[s[k, TOFF] + s[k, NTOP]] = p
    s[k, NTOP] += 1
    f[k, TMIN] = min(f[k, TMIN], x1)
    f[k, TMAX] = max(f[k, TMAX], x1)


@hot
def bottom_add(g, k, x1, x2):
    s = g.s
    _bottom_push(g, s[k, EOFF], s[k, NBOT], x1, x2)
    s[k, NBOT] += 1
