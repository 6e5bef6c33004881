"""Frequency buckets for lfu, heavy_hitter and windowed_recency: O(1) hooks instead of a heap (numba).

These policies evict a tier's page with the smallest ``(hist, last, page)``: hist is a touch
count (windowed_recency: touches inside the window). The pages of one tier with one hist,
ordered by ``(last, page)``, form a bucket, kept as a lazy-deletion queue: entries
``(page, last)`` in chunks of ``CH`` from a shared pool, linked both ways, sorted by that pair.
Entering a bucket writes an entry and stamps the page with the entry's slot; leaving it only
re-stamps the page (and counts the bucket's live pages down), so the entry turns dead where it
stands and is skipped when it reaches the head. Why not a linked list of pages: unlinking a page
writes its two neighbours, random pages no trace row names ahead; here a touch writes only its
own page's stamp and the tail of the bucket it joins, which recent touches keep in cache.

An insert walks back from the tail over the entries that order after it, comparing the pair
the entry was written with (so the whole queue, dead entries too, stays sorted by it, and the
live entries are the reference's order). Every touch and every move sets ``last = now``, the
current trace row, which no stored ``last`` exceeds, so those walks pass only this row's entries
with larger ids. windowed_recency also lowers a count when a touch leaves the window, keeping
``last``, and that insert may lie far back: it is bounded by ``walk`` and, past it, changes
nothing and says so (the policy keeps the page in an overflow heap instead).

Their arrays, sizes and growth: ``kvexp.fast.bucket_arrays``.
"""
from __future__ import annotations

import numpy as np

from kvexp.fast.bits import bits_add, bits_discard, bits_min
from kvexp.fast.bucket_arrays import (BUMP, CH, COMPACTIONS, COUNT, ENT, HD, HFREE, HINTED, LIVE, N_HIST, NFREE, NONE,
                                      PEEKED, ROW_GROWTH, STAMP, TL, TOP)
from kvexp.fast.jit import hot, kernel
from kvexp.fast.memhint import prefetch_hint

COMPACT_AHEAD = 8  # chunks between hinting entries' page stamps and checking them


@hot
def bucket_full(bk):
    return bk.ctl[TOP] + ROW_GROWTH >= bk.ctl[N_HIST]


@hot
def _alloc(bk):
    """A chunk from the free list, else one never used."""
    ctl = bk.ctl
    n = ctl[NFREE]
    if n > 0:
        ctl[NFREE] = n - 1
        return np.int64(bk.free[n - 1])
    c = ctl[BUMP]
    ctl[BUMP] = c + 1
    return c


@hot
def _release(bk, c):
    bk.free[bk.ctl[NFREE]] = c
    bk.ctl[NFREE] += 1


@hot
def _back(bk, s):
    """The slot before slot s in its bucket."""
    if s % CH:
        return s - 1
    return np.int64(bk.cprev[s // CH]) * CH + CH - 1


@hot
def _fwd(bk, s):
    """The slot after slot s in its bucket (which must have one)."""
    if (s + 1) % CH:
        return s + 1
    return np.int64(bk.cnext[s // CH]) * CH


@hot
def _live(bk, s):
    return bk.pst[bk.ent[s, 0], STAMP] == s


@hot
def _put(bk, s, p, last):
    bk.ent[s, 0] = p
    bk.ent[s, 1] = last
    bk.pst[p, STAMP] = s


@hot
def _crowded(bk, b):
    """True when bucket b's dead entries reach twice its live ones plus two chunks."""
    return bk.hdr[b, ENT] >= 3 * bk.hdr[b, LIVE] + 2 * CH


@kernel
def _compact(bk, b):
    """Keep only bucket b's live entries, in order, from its head slot on, and free the chunks
    left empty (rare: a call, not inlined). Checking an entry reads its page's stamp, a random
    page's: the stamps ``COMPACT_AHEAD`` chunks further on are hinted into the cache meanwhile."""
    hdr, ent = bk.hdr, bk.ent
    r = w = hdr[b, HD]
    tail, kept = hdr[b, TL], -1
    a, lead = r // CH, 0
    while True:
        if r % CH == 0 or lead == 0:
            while lead < COMPACT_AHEAD and a != tail // CH:
                a = np.int64(bk.cnext[a])
                for i in range(CH if a != tail // CH else tail % CH + 1):
                    prefetch_hint(bk.pst, ent[a * CH + i, 0])
                lead += 1
            lead -= 1
        if _live(bk, r):
            if w != r:
                _put(bk, w, ent[r, 0], ent[r, 1])
            kept = w
            if r != tail:
                w = _fwd(bk, w)  # exists: r, at or past w, has a slot after it
        if r == tail:
            break
        r = _fwd(bk, r)
    c = kept // CH
    while c != tail // CH:
        c = np.int64(bk.cnext[c])
        _release(bk, c)
    hdr[b, TL] = kept
    hdr[b, ENT] = hdr[b, LIVE]
    bk.ctl[COMPACTIONS] += 1


@hot
def _after(ent, s, p, last):
    """True when the entry in slot s orders after (last, p): a later ``last``, or the same and a
    larger page id."""
    return ent[s, 1] > last or (ent[s, 1] == last and ent[s, 0] > p)


@hot
def _insert_back(bk, b, p, last, walk):
    """``bucket_insert`` when p's place is before the tail entry: walk back to it and move the
    entries after it one slot on."""
    hdr, ent = bk.hdr, bk.ent
    head, s, n = hdr[b, HD], hdr[b, TL], 0
    while _after(ent, s, p, last):
        if n == walk:
            return False
        n += 1
        if s == head:
            break
        s = _back(bk, s)
    t = _extend(bk, b)
    for _ in range(n):  # the n entries that order after p each move one slot on
        s = _back(bk, t)
        x = ent[s, 0]
        ent[t, 0] = x
        ent[t, 1] = ent[s, 1]
        if bk.pst[x, STAMP] == s:
            bk.pst[x, STAMP] = t
        t = s
    _put(bk, t, p, last)
    return True


@hot
def _extend(bk, b):
    """Add a slot past bucket b's tail (a chunk when the tail's is full), counted, and return it."""
    t = bk.hdr[b, TL]
    if (t + 1) % CH:
        t += 1
    else:
        c = _alloc(bk)
        bk.cnext[t // CH] = c
        bk.cprev[c] = t // CH
        t = c * CH
    bk.hdr[b, TL] = t
    bk.hdr[b, LIVE] += 1
    bk.hdr[b, ENT] += 1
    return t


@hot
def _open(bk, k, h, i):
    """Give empty bucket i (tier k, hist h) a header row and a first chunk; return the row."""
    n = bk.ctl[HFREE] - 1
    bk.ctl[HFREE] = n
    b = np.int64(bk.hfree[n])
    bk.hrow[i] = b
    s = _alloc(bk) * CH
    bk.hdr[b, HD] = s
    bk.hdr[b, TL] = s
    bk.hdr[b, LIVE] = 1  # for the page about to be put in slot s
    bk.hdr[b, ENT] = 1
    bits_add(bk.bits, k, h)
    if h > bk.ctl[TOP]:
        bk.ctl[TOP] = h
    return b


@hot
def bucket_insert(bk, k, p, h, last, walk):
    """Page p (hist h, last touched at ``last``) joins tier k: after every entry of its
    bucket with an older ``last``, or the same ``last`` and a smaller id. Return False,
    changing no order (a compaction may have run), when its place is more than ``walk``
    entries back from the tail."""
    hdr, ent = bk.hdr, bk.ent
    i = h * bk.n_tiers + k
    b = np.int64(bk.hrow[i])
    if b < 0:  # an empty bucket holds no chunk
        _put(bk, hdr[_open(bk, k, h, i), HD], p, last)
        return True
    if _crowded(bk, b):
        _compact(bk, b)
    s = hdr[b, TL]
    if _after(ent, s, p, last):
        return _insert_back(bk, b, p, last, walk)
    _put(bk, _extend(bk, b), p, last)
    return True


@hot
def _close(bk, k, h, i, b):
    """Free the header row b and the chunks of bucket i (tier k, hist h), which has no live
    page left."""
    c = bk.hdr[b, HD] // CH
    end = bk.hdr[b, TL] // CH
    while c != end:
        nxt = np.int64(bk.cnext[c])
        _release(bk, c)
        c = nxt
    _release(bk, c)
    bk.hrow[i] = -1
    bk.hfree[bk.ctl[HFREE]] = b
    bk.ctl[HFREE] += 1
    bits_discard(bk.bits, k, h)


@hot
def bucket_remove(bk, k, p, h):
    """Take page p out of tier k's bucket for hist h: its entry turns dead where it stands."""
    bk.pst[p, STAMP] = NONE
    i = h * bk.n_tiers + k
    b = np.int64(bk.hrow[i])
    n = bk.hdr[b, LIVE] - 1
    bk.hdr[b, LIVE] = n
    if n == 0:
        _close(bk, k, h, i, b)
    elif _crowded(bk, b):
        _compact(bk, b)


@hot
def bucket_peek(bk, k):
    """Tier k's victim, the oldest live page of its smallest non-empty bucket, and that hist
    (-1, -1 when the tier has no page in a bucket); dead entries before it are dropped."""
    h = bits_min(bk.bits, k)
    if h < 0:
        return np.int64(-1), h
    b = bk.hrow[h * bk.n_tiers + k]
    bk.ctl[PEEKED] = b
    s = np.int64(bk.hdr[b, HD])
    while not _live(bk, s):
        bk.hdr[b, ENT] -= 1
        if (s + 1) % CH:
            s += 1
        else:
            c = s // CH
            s = np.int64(bk.cnext[c]) * CH
            _release(bk, c)
    bk.hdr[b, HD] = s
    return np.int64(bk.ent[s, 0]), h


@hot
def bucket_next_chunk(bk, k):
    """The first slot of the chunk after the head's in the bucket ``bucket_peek`` last found in
    tier k, and how many of its slots are in use, the first time that head is seen in its chunk;
    else (-1, 0), as when the bucket has emptied since or the head is in its last chunk. The head
    passes every entry, live or dead (a dead one costs a read of its page's stamp), so hinting
    each chunk's pages once, as the head enters the chunk before, hints every page it reads."""
    b = bk.ctl[PEEKED]
    if bk.hdr[b, LIVE] == 0:
        return np.int64(-1), 0
    c, t = np.int64(bk.hdr[b, HD]) // CH, np.int64(bk.hdr[b, TL])
    if c == t // CH or bk.ctl[HINTED + k] == c:
        return np.int64(-1), 0
    bk.ctl[HINTED + k] = c
    n = np.int64(bk.cnext[c])
    return n * CH, CH if n != t // CH else t % CH + 1


@kernel
def bucket_sort_zero(bk, k):
    """Move every live page of tier k's bucket 0 whose ``COUNT`` is above 0 to the bucket of that
    count, in order (a call: windowed_recency does it at most once a run). Bucket 0 is sorted by
    (last, page), so each page joins its new bucket at the tail; bucket 0 keeps the rest, and is
    closed or compacted once the pass is over, not during it."""
    i = k  # bucket 0 of tier k
    b = np.int64(bk.hrow[i])
    if b < 0:
        return
    hdr, ent, pst = bk.hdr, bk.ent, bk.pst
    s, tail = np.int64(hdr[b, HD]), np.int64(hdr[b, TL])
    while True:
        p = ent[s, 0]
        if _live(bk, s) and pst[p, COUNT] > 0:
            pst[p, STAMP] = NONE
            hdr[b, LIVE] -= 1
            bucket_insert(bk, k, p, pst[p, COUNT], ent[s, 1], 0)
        if s == tail:
            break
        s = _fwd(bk, s)
    if hdr[b, LIVE] == 0:
        _close(bk, k, 0, i, b)
    elif _crowded(bk, b):
        _compact(bk, b)
