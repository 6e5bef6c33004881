"""Lazy bucket queues (numba): cost_aware's tier orders, a ladder of one rung per tier.

A heap of a million entries pays a cache miss per level below the cache on every removal, on a
path chosen level by level (cost_aware's time per access tripled from 1e3 to 1e6 resident pages
on a heap). Here a tier's pages sit in three places, each read in order or at one known spot:

- **bottom**: a small 4-ary heap (in cache) of 16-byte keys (``kvexp.fast.heap``'s), those below
  the rung's current bucket; the tier's smallest key is its root;
- **rung**: ``nb`` buckets over the keys ``[lo, hi]``, bucket ``b`` holding the pages whose key
  has ``min(floor(sqrt((key - lo) * iw)), nb - 1) == b`` (below). Buckets below ``cur`` are
  spent (their pages went to the bottom); a bucket is a list of 16-page chunks (a cache line);
- **top**: the pages whose key is past ``hi``, unsorted.

A page's key is in its row (``rkf``, ``rki``; its ``slot`` reads ``(LADDER, tier)``), and so is
where it is filed (``loc``: a bucket, ``TOP`` or ``BOTTOM``). A new key goes where its bucket
number sends it (below ``cur``: the bottom; past the rung: the top), so every bottom key is
smaller than every rung or top key (the bucket number never falls as the key grows); a key that
stays in its bucket, or in the top, is not filed again. When the bottom empties it takes bucket
``cur``, reading each page's key from its row then; when the rung is spent, the top is spread
over a new rung of about ``len(top) / SPREAD`` buckets between the smallest and largest key it
was given. Each page is thus moved a few times, in order, where a heap would sift it through
every level. A stored key is always the page's current one (no lazy refresh as in a heap).

Deletion is lazy: a filing whose page has left the tier or moved (``loc``), or a bottom key
that is no longer the page's, is dropped when it is reached (the rows are hinted ahead). When a
tier's filings reach ``FILINGS * slots + SLACK`` all are sifted into the top, once per live page,
so a tier never holds more. That compaction, and the spread of the whole top that follows it,
read every live page's row; with ``FILINGS`` 4 they come a third as often as with 2, for 48
more bytes per page a tier can hold.

Why only cost_aware: predictive's new keys land next to the minimum, so its bottom grows into
the very heap this avoids (measured slower than its heap at every size). Runs of the other
policies carry ``no_ladders`` placeholders, a type of their own, so that ``kvexp.fast.order``
compiles their loop with heap code only.

Buckets are finer near ``lo``: ``iw = nb**2 / (hi - lo)`` and a key's bucket is
``floor(sqrt((key - lo) * iw))`` (square root and floor are monotone, so the order holds). Under
skewed keys (Zipf touch counts: most pages within a few counts of the least, a few far above)
equal widths put nearly every page in bucket 0, and the bottom becomes a large heap.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.heap import BLANK_INT, PAGE_MASK, _less
from kvexp.fast.jit import hot, kernel
from kvexp.fast.memhint import prefetch_hint

Ladders = namedtuple("Ladders", "s f ef ei top chunk cnext free meta")
NoLadders = namedtuple("NoLadders", Ladders._fields)  # the same arrays, unused: a run on heaps
LADDER = -3  # a page's heap slot while a ladder holds it
TOP, BOTTOM, MARK = -1, -2, -3  # a page's ``loc`` besides a bucket number (MARK: kept by a compaction)
CHUNK = 16  # pages per bucket chunk: one cache line
SPREAD = 8  # pages per bucket when a rung is laid out
SLACK = 1024
FILINGS = 4  # filings per page a tier can hold, before a compaction
AHEAD = 16  # filings whose rows a pass over the top hints ahead
# per-tier scalars in ``s`` and floats in ``f``
NBOT, NTOP, NBK, NB, CUR, FREE, CAP, EOFF, TOFF, COFF, MOFF, NBMAX, NCH = range(13)
LO, HI, IW, TMIN, TMAX = range(5)
HEAD, TAIL, FILL = range(3)  # a bucket's ``meta`` row


def new_ladders(slots: np.ndarray, slack: int = SLACK, per_slot: int = FILINGS) -> Ladders:
    """A ladder per tier, tier k holding at most ``slots[k]`` pages (and ``per_slot * slots[k] +
    slack`` filings before a compaction)."""
    n = len(slots)
    s = np.zeros((n, 13), np.int64)
    e = c = m = 0
    for k in range(n):
        r = int(slots[k])
        cap, nbmax = per_slot * r + slack, r // SPREAD + 2
        nch = cap // CHUNK + nbmax + 2
        s[k, CAP], s[k, EOFF], s[k, TOFF], s[k, COFF], s[k, MOFF] = cap, e, e, c, m
        s[k, NBMAX], s[k, NCH], s[k, FREE] = nbmax, nch, nch
        e, c, m = e + cap + 1, c + nch, m + nbmax
    f = np.zeros((n, 5))
    f[:, LO], f[:, HI], f[:, TMIN], f[:, TMAX] = -np.inf, -np.inf, np.inf, -np.inf  # all to the top
    ent = np.zeros(2 * e, np.float64)
    free = np.zeros(c, np.int32)
    for k in range(n):  # each tier's free chunks, a stack
        free[s[k, COFF]:s[k, COFF] + s[k, NCH]] = np.arange(s[k, NCH], dtype=np.int32)
    return Ladders(s, f, ent, ent.view(np.int64), np.zeros(e, np.int32), np.zeros(c * CHUNK, np.int32),
                   np.full(c, -1, np.int32), free, np.full((m, 3), -1, np.int32))


def no_ladders() -> NoLadders:
    """Placeholders for a run whose tiers keep heaps: the same arrays, empty, of another type."""
    return NoLadders(*new_ladders(np.zeros(0, np.int64)))


@hot
def _filed(slot, loc, k, p, where):
    """Page p is in tier k, filed at ``where``."""
    return (slot[p, 0] == LADDER) & (slot[p, 1] == k) & (loc[p, 0] == where)


@hot
def _live_bottom(rkf, rki, slot, loc, k, x1, x2):
    """Whether the bottom entry (x1, x2) is its page's current key in tier k (else stale)."""
    p = x2 & PAGE_MASK
    return _filed(slot, loc, k, p, BOTTOM) and rkf[p] == x1 and rki[p] == x2


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
def _bottom_pop(g, base, n):
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
def _bucket_of(g, k, x1):
    """Where key x1 belongs in tier k's rung: its bucket, ``-1`` below it, ``nb`` past it."""
    f = g.f
    if x1 < f[k, LO]:
        return np.int64(-1)
    nb = g.s[k, NB]
    if x1 > f[k, HI]:
        return nb
    x = np.sqrt((x1 - f[k, LO]) * f[k, IW]) if x1 > f[k, LO] else 0.0  # (not 0 * inf in a very narrow rung)
    return min(np.int64(x) if x < nb else nb, nb - 1)


@hot
def _where(g, k, x1):
    """Where key x1 is filed in tier k: its bucket in the rung, ``BOTTOM`` below the rung's
    current bucket, ``TOP`` past the rung."""
    b = _bucket_of(g, k, x1)
    return BOTTOM if b < g.s[k, CUR] else (TOP if b >= g.s[k, NB] else b)


@hot
def _append(g, k, b, p):
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
    s[k, NBK] += 1


@hot
def _top_add(g, k, p, x1):
    s, f = g.s, g.f
    g.top[s[k, TOFF] + s[k, NTOP]] = p
    s[k, NTOP] += 1
    f[k, TMIN] = min(f[k, TMIN], x1)
    f[k, TMAX] = max(f[k, TMAX], x1)


@hot
def _bottom_add(g, k, x1, x2):
    s = g.s
    _bottom_push(g, s[k, EOFF], s[k, NBOT], x1, x2)
    s[k, NBOT] += 1


@kernel
def _drain(g, rkf, rki, slot, loc, k, b, keep):
    """Empty bucket b of tier k: its live pages go to the bottom, keyed as their rows say
    (``keep`` 0), or to the top, marked (``keep`` 1, a compaction's); each page once."""
    s, meta, co = g.s, g.meta, g.s[k, COFF]
    mb = s[k, MOFF] + b
    c = meta[mb, HEAD]
    while c >= 0:
        nxt = g.cnext[co + c]
        m = CHUNK if c != meta[mb, TAIL] else meta[mb, FILL]
        if nxt >= 0:
            for j in range(CHUNK):
                prefetch_hint(rkf, g.chunk[(co + nxt) * CHUNK + j])
        for j in range(m):
            p = g.chunk[(co + c) * CHUNK + j]
            if _filed(slot, loc, k, p, b):
                if keep:
                    loc[p, 0] = MARK
                    _top_add(g, k, p, rkf[p])
                else:
                    loc[p, 0] = BOTTOM
                    _bottom_add(g, k, rkf[p], rki[p])
        s[k, NBK] -= m
        g.free[co + s[k, FREE]] = c
        s[k, FREE] += 1
        c = nxt
    meta[mb, HEAD] = -1
    meta[mb, TAIL] = -1


@kernel
def _spread_top(g, rkf, slot, loc, k):
    """Lay the top's live pages out over a new rung from its smallest to its largest key
    (the rung is spent and the bottom empty); the top ends empty."""
    s, f, top = g.s, g.f, g.top
    base, n = s[k, TOFF], s[k, NTOP]
    nb = min(max(n // SPREAD, 1), s[k, NBMAX])
    s[k, NTOP], s[k, CUR], s[k, NB] = 0, 0, nb
    lo, hi = f[k, TMIN], f[k, TMAX]
    f[k, LO], f[k, HI], f[k, TMIN], f[k, TMAX] = lo, hi, np.inf, -np.inf
    f[k, IW] = nb * nb / (hi - lo) if hi > lo else 1.0
    for i in range(base, base + n):
        if i + AHEAD < base + n:
            prefetch_hint(rkf, top[i + AHEAD])
        p = top[i]
        if _filed(slot, loc, k, p, TOP):
            b = _bucket_of(g, k, rkf[p])  # within [0, nb): lo <= every key given to the top <= hi
            loc[p, 0] = b
            _append(g, k, b, p)


@kernel
def _compact(g, rkf, rki, slot, loc, k):
    """Move every live page of tier k into its top, once each; the rung is then spent."""
    s, f, ef, ei, top = g.s, g.f, g.ef, g.ei, g.top
    base, n = s[k, TOFF], s[k, NTOP]
    s[k, NTOP] = 0
    f[k, TMIN], f[k, TMAX] = np.inf, -np.inf
    for i in range(base, base + n):  # rewritten in place, at or before i
        if i + AHEAD < base + n:
            prefetch_hint(rkf, top[i + AHEAD])
        p = top[i]
        if _filed(slot, loc, k, p, TOP):
            loc[p, 0] = MARK
            _top_add(g, k, p, rkf[p])
    e0, e1 = s[k, EOFF], s[k, EOFF] + s[k, NBOT]
    for i in range(e0, e1):
        if i + AHEAD < e1:
            prefetch_hint(rkf, ei[2 * (i + AHEAD) + 1] & PAGE_MASK)
        x1, x2 = ef[2 * i], ei[2 * i + 1]
        p = x2 & PAGE_MASK
        if _live_bottom(rkf, rki, slot, loc, k, x1, x2):
            loc[p, 0] = MARK
            _top_add(g, k, p, x1)
    s[k, NBOT] = 0
    for b in range(s[k, CUR], s[k, NB]):
        _drain(g, rkf, rki, slot, loc, k, b, 1)
    for i in range(base, base + s[k, NTOP]):
        if i + AHEAD < base + s[k, NTOP]:
            prefetch_hint(rkf, top[i + AHEAD])
        loc[top[i], 0] = TOP
    s[k, NB], s[k, CUR] = 0, 0
    f[k, LO], f[k, HI] = -np.inf, -np.inf  # every key goes to the top until the next rung


@hot
def ladder_set(g, rkf, rki, slot, loc, k, p, x1, x2):
    """Give page p the key (x1, x2) in tier k (x2 packs the page id, ``kvexp.fast.heap.pack``)."""
    s = g.s
    where = _where(g, k, x1)
    same = where != BOTTOM and _filed(slot, loc, k, p, where)
    rkf[p], rki[p] = x1, x2
    slot[p, 0], slot[p, 1] = LADDER, k
    if same:  # still filed where it belongs
        if where == TOP:
            g.f[k, TMIN], g.f[k, TMAX] = min(g.f[k, TMIN], x1), max(g.f[k, TMAX], x1)
        return
    if s[k, NBOT] + s[k, NTOP] + s[k, NBK] >= s[k, CAP]:
        _compact(g, rkf, rki, slot, loc, k)
        where = _where(g, k, x1)
    loc[p, 0] = where
    if where == BOTTOM:
        _bottom_add(g, k, x1, x2)
    elif where == TOP:
        _top_add(g, k, p, x1)
    else:
        _append(g, k, where, p)


@kernel
def ladder_rekey(g, rkf, rki, slot, loc, k, p, x1, x2):
    """``ladder_set`` as a call (for rare paths: each inlined copy lengthens the loop)."""
    ladder_set(g, rkf, rki, slot, loc, k, p, x1, x2)


@hot
def ladder_delete(slot, p):
    """Take page p out of its tier (its filings go stale)."""
    slot[p, 0], slot[p, 1] = -1, -1


@hot
def ladder_top(g, rkf, rki, slot, loc, k):
    """Tier k's page with the smallest key: (page, x1, x2); stale bottom keys are dropped on the
    way. (Page 0 and a blank key when the tier holds no page.)"""
    s, ef, ei = g.s, g.ef, g.ei
    base = s[k, EOFF]
    while True:
        while s[k, NBOT] == 0:
            if s[k, CUR] < s[k, NB]:
                _drain(g, rkf, rki, slot, loc, k, s[k, CUR], 0)
                s[k, CUR] += 1
            elif s[k, NTOP] > 0:
                _spread_top(g, rkf, slot, loc, k)
            else:
                return np.int64(0), np.inf, BLANK_INT
        x1, x2 = ef[2 * base], ei[2 * base + 1]
        if _live_bottom(rkf, rki, slot, loc, k, x1, x2):
            return x2 & PAGE_MASK, x1, x2
        _bottom_pop(g, base, s[k, NBOT])
        s[k, NBOT] -= 1


@hot
def ladder_pop(g, slot, k, p):
    """Take p, just returned by ``ladder_top``, out of tier k; hint the next root's row."""
    s = g.s
    base = s[k, EOFF]
    _bottom_pop(g, base, s[k, NBOT])
    s[k, NBOT] -= 1
    ladder_delete(slot, p)
    if s[k, NBOT] > 0:
        prefetch_hint(slot, g.ei[2 * base + 1] & PAGE_MASK)


@hot
def ladder_root(g, k):
    """The page at the root of tier k's bottom (an arbitrary page when it is empty)."""
    return g.ei[2 * g.s[k, EOFF] + 1] & PAGE_MASK
