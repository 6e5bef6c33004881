"""The built-in eviction policies as compiled hooks over one state tuple (numba).

The hooks mirror ``kvexp.policies``: ``pol_insert``, ``pol_access``, ``pol_remove`` and
``pol_evict`` behave exactly like the Python classes' methods of the same names, with the policy
chosen by ``ps.kind`` at run time, so one compiled engine serves every policy (a branch the CPU
predicts perfectly costs less than compiling nine engines). lru and fifo keep lazy-deletion
queues (``kvexp.fast.queues``); lfu, heavy_hitter and windowed_recency, keyed (hist, last, page)
with hist a touch count (windowed: inside the window), keep frequency buckets
(``kvexp.fast.buckets``), and windowed_recency, whose counts also fall as touches leave the
window, an overflow heap per tier for the pages whose fall would walk far in a bucket (its
window, the bucket it files a page in, and ``pol_advance``, the hook that expires touches:
``kvexp.fast.window``); belady keeps each tier's pages in a bitmap-tree set of their next
uses (a next use names its row, so it is unique among resident pages; pages never used again
are members past the trace's rows, largest for the smallest page id, the reference's tie
order), and its victim is the set's largest member. The others keep a calendar queue per tier
(predictive, and regret_aware when its keys stay within a bounded offset of their last touch), a
ladder (cost_aware, unless its key ranks pages as heavy_hitter's does: it then runs as
heavy_hitter, ``kvexp.fast.build.ranks_as_heavy_hitter``) or an indexed heap
(``kvexp.fast.order``), keyed by the same tuples as the reference, the float components computed
with the same operations in the same order, so ties resolve alike. A key that grows is recorded
lazily in a heap (in a heap too large for the cache, at once) and ``pol_evict`` re-keys
a stale minimum before taking it, so the victim is always the page with the smallest current
key, as in the reference (a ladder's and a calendar's keys are always current: their top is
taken as it is).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.bits import bits_add, bits_discard, bits_max
from kvexp.fast.bucket_arrays import AT, COUNT
from kvexp.fast.buckets import bucket_insert, bucket_peek, bucket_remove
from kvexp.fast.heap import pack
from kvexp.fast.jit import hot
from kvexp.fast.order import (order_delete, order_hint, order_hint_key, order_lazy, order_pop, order_refresh_top,
                              order_set, order_top)
from kvexp.fast.queues import queue_append, queue_move_to_end, queue_pop_oldest, queue_remove
from kvexp.fast.window import BY_LAST, MODE, in_overflow, overflow_delete, window_add, window_by_count, window_filed

LRU, FIFO, LFU, HEAVY_HITTER, WINDOWED, COST_AWARE, PREDICTIVE, REGRET, BELADY = range(9)

# Per-page state, one row per page so a touch reads one cache line: ``st`` (int64) holds
# HIST (touch count), LAST (last_touch; last_ref for predictive) and AUX (predictive's
# first_ref, regret's evicted_at); ``fst`` (float64) holds regret's REGRET_F or cost_aware's
# SIZE_COST; both sit in the pages' rows (``kvexp.fast.rows``). lfu, heavy_hitter and
# windowed_recency keep their counts (and windowed its last_touch) in the buckets' int32 page
# rows instead, beside each page's bucket stamp. Belady keeps only each page's next use, in
# ``page_nu`` (int32: 4 bytes a page keeps millions of pages in cache).
# ``ring`` rows are the window's queued touches (position, page), ``ring_state`` its head and
# length and the buckets' filing mode (``kvexp.fast.window``); ``nu`` the next uses of the rows
# from ``nu_base``; ``bits`` belady's per-tier sets of next uses.
PolicyState = namedtuple(
    "PolicyState", "kind n_tiers queues order bits buckets st fst page_at page_nu nu nu_base ring ring_state fp window"
)
HIST, LAST, AUX = range(3)
REGRET_F = SIZE_COST = 0  # one float per page: regret's or cost_aware's
# Float parameters, indices into ``fp``.
FW, RW, LENGTH, HORIZON, RGW, DECAY, GAP = range(7)


@hot
def _key(ps, p):
    """The reference key of page p minus its trailing page id: (float primary, int secondary)."""
    kind = ps.kind
    st, fp = ps.st, ps.fp
    last = st[p, LAST]
    if kind == COST_AWARE:
        return fp[FW] * st[p, HIST] + fp[RW] * last / fp[LENGTH] - ps.fst[p, SIZE_COST], last
    if kind == REGRET:
        return fp[RW] * last + fp[HORIZON] * (fp[FW] * st[p, HIST] + fp[RGW] * ps.fst[p, REGRET_F]), last
    return _predicted(fp, st[p, HIST], last, st[p, AUX]), last  # predictive


@hot
def _predicted(fp, hist, last, first):
    """predictive's primary key: minus the next touch predicted one mean gap after ``last``."""
    if hist >= 2:
        gap = (last - first) / (hist - 1)
    else:
        gap = fp[GAP]
    return -(last + gap)


@hot
def pol_hint(ps, p, now):
    """Start loading what touching page p at row ``now`` will read in tier 0's order (p's row
    should be in cache already): its entry (``order_hint``) and, for predictive, where its new
    key will be filed (known now: the key depends only on p's row and ``now``)."""
    order_hint(ps.order, p)
    if ps.kind == PREDICTIVE:
        first = ps.st[p, AUX] if ps.st[p, AUX] >= 0 else now
        order_hint_key(ps.order, 0, _predicted(ps.fp, ps.st[p, HIST] + 1, now, first))


@hot
def belady_member(ps, p, nu):
    """Belady's member for page p with next use ``nu``: ``nu``, or past the rows for a page
    never used again."""
    n = len(ps.page_at)
    return nu if nu < n else n + len(ps.page_nu) - 1 - p


@hot
def _next_use_member(ps, p):
    """Belady's member for page p now."""
    return belady_member(ps, p, ps.page_nu[p])


@hot
def _belady_page(ps, m):
    """The page whose member is m (m >= 0): the page read at row m, or past the rows, a page
    never used again (undo ``belady_member``)."""
    n = len(ps.page_at)
    if m < n:
        return np.int64(ps.page_at[m])
    return n + len(ps.page_nu) - 1 - m


@hot
def belady_next_victim(ps, k):
    """The page belady would evict from tier ``k`` now (an arbitrary page if it is empty)."""
    m = bits_max(ps.bits, k)
    if m < 0:
        return np.int64(0)
    return _belady_page(ps, m)


@hot
def _rekey(ps, k, p):
    x1, x2 = _key(ps, p)
    order_set(ps.order, k, p, x1, x2)


@hot
def _touch(ps, p, now):
    """State update of an access or an insert into tier 0 (before the key is recomputed)."""
    st = ps.st
    st[p, HIST] += 1
    if ps.kind == PREDICTIVE:
        if st[p, AUX] < 0:
            st[p, AUX] = now
    st[p, LAST] = now


@hot
def pol_insert(ps, k, p, now):
    """``p`` entered tier ``k`` at ``now`` (promotion, demotion, prefetch or write)."""
    kind = ps.kind
    if kind <= FIFO:
        queue_append(ps.queues, k, p)
        return
    if kind <= WINDOWED:  # lfu, heavy_hitter, windowed_recency: buckets
        pst = ps.buckets.pst
        if k == 0:
            pst[p, COUNT] += 1
            if kind == WINDOWED:
                window_add(ps, p, now)
        if kind == WINDOWED:
            pst[p, AT] = now
        bucket_insert(ps.buckets, k, p, window_filed(ps, pst[p, COUNT]), now, len(ps.buckets.ent))
        return
    if kind == BELADY:
        if ps.page_at[now] == p:  # row ``now`` reads p: its next use is known, not read back
            nu = ps.nu[now - ps.nu_base[0]]
            ps.page_nu[p] = nu
        else:
            nu = ps.page_nu[p]
        bits_add(ps.bits, k, belady_member(ps, p, nu))
        return
    if k == 0:
        if kind == REGRET:
            e = ps.st[p, AUX]
            if e >= 0:
                if now - e <= ps.fp[HORIZON]:
                    ps.fst[p, REGRET_F] = ps.fp[DECAY] * ps.fst[p, REGRET_F] + 1.0
                ps.st[p, AUX] = -1
        _touch(ps, p, now)
    elif kind != PREDICTIVE:  # predictive's last_ref moves only on touches
        ps.st[p, LAST] = now
    _rekey(ps, k, p)


@hot
def pol_access(ps, k, p, now):
    """``p``, resident in tier ``k``, was read or overwritten at ``now``."""
    kind = ps.kind
    if kind == LRU:
        queue_move_to_end(ps.queues, k, p)
        return
    if kind == FIFO:
        return
    if kind <= WINDOWED:  # lfu, heavy_hitter, windowed_recency: to the next bucket up
        pst = ps.buckets.pst
        h = pst[p, COUNT]
        _leave_bucket(ps, k, p, h)
        pst[p, COUNT] = h + 1
        if kind == WINDOWED:
            window_add(ps, p, now)
            pst[p, AT] = now
        bucket_insert(ps.buckets, k, p, window_filed(ps, h + 1), now, len(ps.buckets.ent))
        return
    if kind == BELADY:  # row ``now`` was p's next use: its member (no read of page_nu)
        bits_discard(ps.bits, k, now)
        nu = ps.nu[now - ps.nu_base[0]]
        ps.page_nu[p] = nu
        bits_add(ps.bits, k, belady_member(ps, p, nu))
        return
    _touch(ps, p, now)
    _rekey(ps, k, p)


@hot
def _leave_bucket(ps, k, p, h):
    """Take p (hist h) out of tier k's bucket, or out of windowed_recency's overflow heap."""
    if ps.kind == WINDOWED and in_overflow(ps.buckets, p):
        overflow_delete(ps.order, k, p)
    else:
        bucket_remove(ps.buckets, k, p, window_filed(ps, h))


@hot
def pol_remove(ps, k, p):
    """``p`` left tier ``k`` without being a victim (it was promoted or overwritten)."""
    if ps.kind <= FIFO:
        queue_remove(ps.queues, k, p)
    elif ps.kind == BELADY:
        bits_discard(ps.bits, k, _next_use_member(ps, p))
    elif ps.kind <= WINDOWED:
        _leave_bucket(ps, k, p, ps.buckets.pst[p, COUNT])
    else:
        order_delete(ps.order, k, p)


@hot
def pol_evict(ps, k, now):
    """Choose tier ``k``'s victim, drop it from the ordering and return it."""
    kind = ps.kind
    if kind <= FIFO:
        return queue_pop_oldest(ps.queues, k)
    if kind <= WINDOWED:
        v, h = bucket_peek(ps.buckets, k)
        if ps.ring_state[MODE] == BY_LAST and v >= 0 and ps.buckets.pst[v, COUNT] > 0:
            window_by_count(ps)  # the oldest page has a touch in the window: the counts now order
            v, h = bucket_peek(ps.buckets, k)
        if kind == WINDOWED:  # the overflow heap's root may come first
            r, y1, y2 = order_top(ps.order, k)
            if v < 0 or y1 < h or (y1 == h and y2 < pack(np.int64(ps.buckets.pst[v, AT]), v)):  # last: on a tie only
                order_pop(ps.order, k, r)
                return r
        bucket_remove(ps.buckets, k, v, h)
        if kind == LFU and k == ps.n_tiers - 1:
            ps.buckets.pst[v, COUNT] = 0
        return v
    if kind == BELADY:  # the largest member names the victim: its page_nu is not read
        m = bits_max(ps.bits, k)
        bits_discard(ps.bits, k, m)
        return _belady_page(ps, m)
    while True:  # a heap's root may hold a stale (smaller) key: refresh it until the root is current
        v, y1, y2 = order_top(ps.order, k)
        if not order_lazy(ps.order):
            break
        x1, x2 = _key(ps, v)
        if x1 == y1 and pack(x2, v) == y2:
            break
        order_refresh_top(ps.order, k, v, x1, x2)
    order_pop(ps.order, k, v)
    if kind == REGRET:
        if k == 0:
            ps.st[v, AUX] = now
    return v
