"""Lazy bucket queues (numba): cost_aware's tier orders, a ladder of a rung (and a fine rung) per tier.

A heap of a million entries pays a cache miss per level below the cache on every removal, on a
path chosen level by level (cost_aware's time per access tripled from 1e3 to 1e6 resident pages
on a heap). Here a tier's pages sit in three places, each read in order or at one known spot:

- **bottom**: a small 4-ary heap (in cache) of 16-byte keys (``kvexp.fast.heap``'s), those below
  the rung's current bucket; the tier's smallest key is its root;
- **rung**: ``nb`` buckets over the keys ``[lo, hi]``, bucket ``b`` holding the pages whose key
  has ``min(floor(sqrt((key - lo) * iw)), nb - 1) == b`` (below). Buckets below ``cur`` are
  spent (their pages went to the bottom); a bucket is a list of 16-page chunks (a cache line);
- **top**: the pages whose key is past ``hi``, unsorted;
- **fine rung**: when the bucket the bottom takes next holds ``SPLIT`` filings or more, its
  pages are spread instead over ``nb1`` equal buckets from its smallest key to the bucket's
  end (``_split``), and the bottom takes those one at a time. Keys that fall in the split bucket
  are then filed in the fine rung, not the bottom, while it lasts.

The fine rung is for cost_aware's churn: with prefetch, pages come and go at the tier's lowest
keys, a band (one touch count, recency and size spreading it) narrower than a rung bucket and
drifting up with time. Without it all of them sat in the bottom (about 1,700 of tier 0's 9,400
pages in the stride rows of ``scripts/bench_engine.py``), each removal a sift through a heap of
that size; with it the bottom holds a bucket's handful.

A page's key is in its row (``rkf``, ``rki``; its ``slot`` reads ``(LADDER, tier)``), and so is
where it is filed (``loc``: a bucket, ``TOP`` or ``BOTTOM``; fine buckets are numbered from
``NBMAX``). A new key goes where its bucket number sends it (below ``cur``: the fine rung's
bucket at or past its current one, else the bottom; past the rung: the top), so every bottom key
is smaller than every fine rung, rung or top key (bucket numbers never fall as the key grows); a
key that stays in its bucket, or in the top, is not filed again. When the bottom empties it takes bucket
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

import numpy as np

from kvexp.fast.heap import BLANK_INT, PAGE_MASK
from kvexp.fast.jit import hot, kernel
from kvexp.fast.ladder_arrays import (BOTTOM, CAP, CHUNK, COFF, COUNT, CUR, CUR1, EOFF, FILL, FREE, HEAD, HI,
                                      IW, IW1, LADDER, LO, LO1, MARK, MOFF, NB, NB1, NBK, NBMAX, NBOT, NTOP,
                                      SPLIT_B, SPREAD, TAIL, TMAX, TMIN, TOFF, TOP, bottom_add, bottom_pop,
                                      bucket_append, filed, live_bottom, top_add)
from kvexp.fast.memhint import FAR_PAGES, prefetch_hint

AHEAD = 16  # filings whose rows a pass over the top hints ahead
SPLIT = 64  # filings from which a bucket reached is spread over a fine rung, not into the bottom
TO_BOTTOM, TO_TOP, TO_FINE = range(3)  # where ``_drain`` sends a bucket's live pages


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
def _fine_bucket(g, k, x1):
    """Key x1's bucket in tier k's fine rung (clamped to it: a monotone map)."""
    x = (x1 - g.f[k, LO1]) * g.f[k, IW1]
    return max(min(np.int64(x) if x < g.s[k, NB1] else g.s[k, NB1], g.s[k, NB1] - 1), 0)


@hot
def _where(g, k, x1):
    """Where key x1 is filed in tier k: its bucket in the rung, ``TOP`` past the rung; below the
    rung's current bucket, its bucket in the fine rung (numbered from ``NBMAX``) if it falls in
    the rung bucket that one splits and at or past its current bucket, else ``BOTTOM``."""
    s = g.s
    b = _bucket_of(g, k, x1)
    if b >= s[k, CUR]:
        return TOP if b >= s[k, NB] else b
    if b == s[k, SPLIT_B] and s[k, CUR1] < s[k, NB1]:
        b1 = _fine_bucket(g, k, x1)
        if b1 >= s[k, CUR1]:
            return s[k, NBMAX] + b1
    return BOTTOM


@hot
def _hint_rows(g, rkf, c, m):
    """Start loading the rows of the first m pages of chunk c (numbered across tiers)."""
    for j in range(m):
        prefetch_hint(rkf, g.chunk[c * CHUNK + j])


@hot
def _hint_head(g, rkf, k, mb):
    """Start loading the rows of the pages in the first chunk of the bucket in ``meta`` row mb,
    when rows miss the cache (a pass over a bucket hints each next chunk's rows as it goes, so
    without this the first chunk, often the only one, is read cold, one row after another)."""
    c = g.meta[mb, HEAD]
    if c >= 0 and len(rkf) >= FAR_PAGES:
        _hint_rows(g, rkf, g.s[k, COFF] + c, CHUNK if c != g.meta[mb, TAIL] else g.meta[mb, FILL])


@kernel
def _drain(g, rkf, rki, slot, loc, k, b, dest):
    """Empty bucket b of tier k: its live pages go to ``dest``, each page once: the bottom,
    keyed as their rows say; the top, marked (a compaction's); or the fine rung."""
    s, meta, co = g.s, g.meta, g.s[k, COFF]
    mb = s[k, MOFF] + b
    _hint_head(g, rkf, k, mb)
    c = meta[mb, HEAD]
    while c >= 0:
        nxt = g.cnext[co + c]
        m = CHUNK if c != meta[mb, TAIL] else meta[mb, FILL]
        if nxt >= 0:
            _hint_rows(g, rkf, co + nxt, CHUNK)
        for j in range(m):
            p = g.chunk[(co + c) * CHUNK + j]
            if filed(slot, loc, k, p, b):
                if dest == TO_TOP:
                    loc[p, 0] = MARK
                    top_add(g, k, p, rkf[p])
                elif dest == TO_FINE:
                    b1 = s[k, NBMAX] + _fine_bucket(g, k, rkf[p])
                    loc[p, 0] = b1
                    bucket_append(g, k, b1, p)
                else:
                    loc[p, 0] = BOTTOM
                    bottom_add(g, k, rkf[p], rki[p])
        s[k, NBK] -= m
        g.free[co + s[k, FREE]] = c
        s[k, FREE] += 1
        c = nxt
    meta[mb, HEAD] = -1
    meta[mb, TAIL] = -1
    meta[mb, COUNT] = 0


@kernel
def _split(g, rkf, rki, slot, loc, k, b):
    """Spread rung bucket b of tier k (the rung's current one, the bottom empty) over a fine
    rung of equal buckets from its smallest live key to the bucket's end: keys that crowd one
    rung bucket (the pages churning at the tier's lowest keys, whose band drifts up as they
    come and go) are then filed in order, not into the bottom's heap."""
    s, f, meta, co = g.s, g.f, g.meta, g.s[k, COFF]
    mb = s[k, MOFF] + b
    lo, hi = np.inf, -np.inf
    _hint_head(g, rkf, k, mb)
    c, far = meta[mb, HEAD], len(rkf) >= FAR_PAGES
    while c >= 0:
        nxt = g.cnext[co + c]
        m = CHUNK if c != meta[mb, TAIL] else meta[mb, FILL]
        if nxt >= 0 and far:
            _hint_rows(g, rkf, co + nxt, CHUNK)
        for j in range(m):
            p = g.chunk[(co + c) * CHUNK + j]
            if filed(slot, loc, k, p, b):
                lo, hi = min(lo, rkf[p]), max(hi, rkf[p])
        c = nxt
    nb1 = min(max(meta[mb, COUNT] // SPREAD, 1), s[k, NBMAX])
    s[k, NB1], s[k, CUR1], s[k, SPLIT_B] = nb1, 0, b
    end = f[k, HI] if b == s[k, NB] - 1 else f[k, LO] + (b + 1) * (b + 1) / f[k, IW]
    hi = max(hi, end)
    f[k, LO1] = lo if lo <= hi else 0.0  # (no live page: every key to the first bucket)
    f[k, IW1] = nb1 / (hi - lo) if hi > lo else 0.0
    _drain(g, rkf, rki, slot, loc, k, b, TO_FINE)


@kernel
def _spread_top(g, rkf, slot, loc, k):
    """Lay the top's live pages out over a new rung from its smallest to its largest key
    (the rung is spent and the bottom empty); the top ends empty."""
    s, f, top = g.s, g.f, g.top
    base, n = s[k, TOFF], s[k, NTOP]
    nb = min(max(n // SPREAD, 1), s[k, NBMAX])
    s[k, NTOP], s[k, CUR], s[k, NB] = 0, 0, nb
    s[k, NB1], s[k, CUR1], s[k, SPLIT_B] = 0, 0, -1
    lo, hi = f[k, TMIN], f[k, TMAX]
    f[k, LO], f[k, HI], f[k, TMIN], f[k, TMAX] = lo, hi, np.inf, -np.inf
    f[k, IW] = nb * nb / (hi - lo) if hi > lo else 1.0
    for i in range(base, base + n):
        if i + AHEAD < base + n:
            prefetch_hint(rkf, top[i + AHEAD])
        p = top[i]
        if filed(slot, loc, k, p, TOP):
            b = _bucket_of(g, k, rkf[p])  # within [0, nb): lo <= every key given to the top <= hi
            loc[p, 0] = b
            bucket_append(g, k, b, p)


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
        if filed(slot, loc, k, p, TOP):
            loc[p, 0] = MARK
            top_add(g, k, p, rkf[p])
    e0, e1 = s[k, EOFF], s[k, EOFF] + s[k, NBOT]
    for i in range(e0, e1):
        if i + AHEAD < e1:
            prefetch_hint(rkf, ei[2 * (i + AHEAD) + 1] & PAGE_MASK)
        x1, x2 = ef[2 * i], ei[2 * i + 1]
        p = x2 & PAGE_MASK
        if live_bottom(rkf, rki, slot, loc, k, x1, x2):
            loc[p, 0] = MARK
            top_add(g, k, p, x1)
    s[k, NBOT] = 0
    for b in range(s[k, CUR], s[k, NB]):
        _drain(g, rkf, rki, slot, loc, k, b, TO_TOP)
    for b in range(s[k, CUR1], s[k, NB1]):
        _drain(g, rkf, rki, slot, loc, k, s[k, NBMAX] + b, TO_TOP)
    s[k, NB1], s[k, CUR1], s[k, SPLIT_B] = 0, 0, -1
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
    same = where != BOTTOM and filed(slot, loc, k, p, where)
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
        bottom_add(g, k, x1, x2)
    elif where == TOP:
        top_add(g, k, p, x1)
    else:
        bucket_append(g, k, where, p)


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
            if s[k, CUR1] < s[k, NB1]:
                _drain(g, rkf, rki, slot, loc, k, s[k, NBMAX] + s[k, CUR1], TO_BOTTOM)
                s[k, CUR1] += 1
            elif s[k, CUR] < s[k, NB]:
                b = s[k, CUR]
                s[k, CUR] += 1
                if g.meta[s[k, MOFF] + b, COUNT] >= SPLIT:
                    _split(g, rkf, rki, slot, loc, k, b)
                else:
                    _drain(g, rkf, rki, slot, loc, k, b, TO_BOTTOM)
            elif s[k, NTOP] > 0:
                _spread_top(g, rkf, slot, loc, k)
            else:
                return np.int64(0), np.inf, BLANK_INT
        x1, x2 = ef[2 * base], ei[2 * base + 1]
        if live_bottom(rkf, rki, slot, loc, k, x1, x2):
            return x2 & PAGE_MASK, x1, x2
        bottom_pop(g, base, s[k, NBOT])
        s[k, NBOT] -= 1


@hot
def ladder_pop(g, slot, k, p):
    """Take p, just returned by ``ladder_top``, out of tier k; hint the next root's row."""
    s = g.s
    base = s[k, EOFF]
    bottom_pop(g, base, s[k, NBOT])
    s[k, NBOT] -= 1
    ladder_delete(slot, p)
    if s[k, NBOT] > 0:
        prefetch_hint(slot, g.ei[2 * base + 1] & PAGE_MASK)


@hot
def ladder_root(g, k):
    """The page at the root of tier k's bottom (an arbitrary page when it is empty)."""
    return g.ei[2 * g.s[k, EOFF] + 1] & PAGE_MASK


@hot
def ladder_ahead(g, k):
    """The page at the root of tier k's bottom (its next victim unless its key is stale), or -1
    when the bottom is empty. Its row was read when its bucket was drained and is hinted again
    by ``ladder_pop``; the loop hints the engine's state of it, which nothing else reads until
    the page is evicted (at 1e6 resident pages that cut cost_aware's time by about a tenth)."""
    if g.s[k, NBOT] == 0:
        return np.int64(-1)
    return ladder_root(g, k)
