"""The compiled access loop: kvexp.engine's model, move for move, over flat arrays (numba).

It follows ``kvexp/engine.py`` (the ``run`` loop, ``fetch``, ``write``, ``make_room``,
``place``) operation for operation, including the order in which float costs are added, so
latencies match the reference to the last bit. Two structural differences, both invisible in
the results: the reference's recursion "make room in tier k+1 for tier k's victim" is a loop
over one frame per tier (``_admit``), and a row's own move and its prefetches go through one
call site, so each policy hook is inlined into the loop exactly once. The loop also hints the
CPU to load the state of the page ``AHEAD`` rows on (the trace is known in advance), and of a
tier's victims to come, which changes speed only. Counters accumulate in the ``EngineState``
arrays; ``kvexp.fast.driver`` turns them into ``kvexp.metrics.Counters``.
"""
from __future__ import annotations

from collections import namedtuple

from kvexp.fast.buckets import bucket_full, bucket_next_chunk
from kvexp.fast.jit import hot, kernel
from kvexp.fast.order import order_ahead, order_hint, order_next
from kvexp.fast.memhint import FAR_PAGES, prefetch_hint
from kvexp.fast.policies import (BELADY, FIFO, LFU, PREDICTIVE, REGRET, WINDOWED, belady_member, belady_next_victim,
                                 pol_access, pol_evict, pol_hint, pol_insert, pol_remove)
from kvexp.fast.queues import queue_ahead
from kvexp.fast.window import pol_advance
from kvexp.fast.prefetch import MARKOV, NONE, STRIDE, candidates, table_slot

DEMAND, PREFETCH, WRITE = 0, 1, 2
# Indices into EngineState.cnt and .flt.
DEMAND_BYTES, PREFETCH_BYTES, WRITE_BYTES, DROPS, PF_REQUESTS, PF_USEFUL, PF_WASTED, HITS = range(8)
LATENCY, RECOMPUTE, HIT_COST, WRITE_COST, W0 = range(5)  # two sums, then constant costs
AHEAD = 6  # rows between hinting a page's state into the cache and using it
ENTRY_AHEAD = 3  # rows between hinting a page's row and reading it to hint the page's heap lines
CALENDAR_AHEAD = 10  # AHEAD and ENTRY_AHEAD for predictive and regret_aware: their second hints
CALENDAR_ENTRY_AHEAD = 5  # (bucket heads, list neighbours) are random rows out of cache in a large tier
QUEUE_AHEAD = 8  # entries between hinting a queue entry's page state and popping it

EngineState = namedtuple(
    "EngineState",
    "size smask loc pending used cap peak fixed bw served demotions bytes_in bytes_out cnt flt recompute "
    "has_recompute frame_page frame_cost",
)


@hot
def page_size(e, p):
    """Page p's size in bytes (``e.size`` holds one entry when every page has the same size, so
    the run's working set does not carry a size per page)."""
    return e.size[p & e.smask]


@hot
def _hint_size(e, p):
    """Start loading page p's size (``page_size``'s entry)."""
    prefetch_hint(e.size, p & e.smask)


@hot
def _hint_victim(e, ps, k):
    """The bucket policies: a victim just left tier k; when its bucket's head has entered a new
    chunk, start loading the state of the pages of the chunk after it, victims to come or dead
    entries the head will read on its way (finding the smallest bucket on every row, as
    ``_hint`` does for lru's queue, costs more than it saves here). Hinting only the page 8
    entries on, at each eviction, left most of them unhinted: the head often passes several
    dead entries per victim."""
    bk = ps.buckets
    s, m = bucket_next_chunk(bk, k)
    for i in range(m):
        v = bk.ent[s + i, 0]
        prefetch_hint(bk.pst, v)
        _hint_page(e, v)


@hot
def _hint_page(e, p):
    """Start loading the engine's state of page p: its tier, its prefetch flag, its size."""
    prefetch_hint(e.loc, p)
    prefetch_hint(e.pending, p)
    _hint_size(e, p)


@hot
def _admit(e, ps, p, now, cause):
    """Put ``p`` into tier 0, evicting as needed; return the cost of the demotions it caused.

    Frame k places page ``frame_page[k]`` into tier k: while it does not fit, tier k's victim is
    dropped (last tier) or becomes frame k+1. When frame k+1 has placed its page, frame k adds
    its cost and the demotion move's, as the reference's recursive ``make_room`` returns them.
    """
    n_tiers = len(e.cap)
    used, cap, loc = e.used, e.cap, e.loc
    page, cost = e.frame_page, e.frame_cost
    k = 0
    page[0] = p
    cost[0] = 0.0
    while True:
        x = page[k]
        need = page_size(e, x)
        if used[k] + need > cap[k]:
            v = pol_evict(ps, k, now)
            if LFU <= ps.kind <= WINDOWED:
                _hint_victim(e, ps, k)
            elif len(ps.st) >= FAR_PAGES:  # a victim to come: a calendar's look-ahead, a ladder's root (else -1)
                w = order_ahead(ps.order, k)
                if w >= 0:
                    _hint_page(e, w)
            used[k] -= page_size(e, v)
            if k == 0 and e.pending[v]:  # a prefetched page left tier 0 unread
                e.pending[v] = 0
                e.cnt[PF_WASTED] += 1
            if k + 1 == n_tiers:
                loc[v] = -1
                e.cnt[DROPS] += 1
            else:
                k += 1
                page[k] = v
                cost[k] = 0.0
            continue
        pol_insert(ps, k, x, now)
        loc[x] = k
        used[k] += need
        if used[k] > e.peak[k]:
            e.peak[k] = used[k]
        if k == 0:
            return cost[0]
        k -= 1  # x has moved from tier k to k+1
        cost[k] += cost[k + 1]
        cost[k] += e.fixed[k, k + 1] + need / e.bw[k, k + 1]
        e.demotions[k] += 1
        e.bytes_out[k] += need
        e.bytes_in[k + 1] += need
        e.cnt[DEMAND_BYTES if cause != PREFETCH else PREFETCH_BYTES] += need


@hot
def _move_in(e, ps, q, t, now, cause):
    """Bring ``q`` from tier ``t`` (-1: nowhere) into tier 0 for a demand read, a prefetch or a
    write; return the cost the reference's ``fetch`` (or ``write``, without its constant) returns."""
    n_tiers = len(e.cap)
    sz = page_size(e, q)
    if t > 0:
        pol_remove(ps, t, q)
        e.used[t] -= sz
    if cause == WRITE:
        cost = 0.0
    elif t < 0 and e.has_recompute:  # cold under recompute: rebuild it in tier 0
        e.served[n_tiers] += 1
        e.cnt[WRITE_BYTES] += sz
        e.flt[RECOMPUTE] += e.recompute[q]
        cost = e.flt[W0] + e.recompute[q]
    else:
        src = t if t > 0 else n_tiers - 1
        if cause == DEMAND:
            e.served[t if t >= 0 else n_tiers] += 1
            e.cnt[DEMAND_BYTES] += sz
        else:
            e.cnt[PREFETCH_BYTES] += sz
        e.bytes_out[src] += sz
        e.bytes_in[0] += sz
        cost = e.fixed[src, 0] + sz / e.bw[src, 0]
    return cost + _admit(e, ps, q, now, PREFETCH if cause == PREFETCH else DEMAND)


@hot
def _hint_candidates(ps, pf, q, entries):
    """Stride prefetch under a priority policy whose rows are out of cache: start loading the
    rows of page q's candidates (q+1 .. q+degree, known before q is read), or with ``entries``
    what moving them will read in their tiers' orders (``order_hint``: their rows were hinted
    ``ENTRY_AHEAD`` rows before). Below ``FAR_PAGES`` the rows stay in cache and the hints
    measured slower."""
    if pf.kind != STRIDE or len(ps.st) < FAR_PAGES:
        return
    for d in range(1, min(pf.degree, pf.n_pages - 1 - q) + 1):
        if entries:
            order_hint(ps.order, q + d)
        else:
            prefetch_hint(ps.st, q + d)


@hot
def _hint(e, ps, pf, page, j, back):
    """Start loading the state that row ``j`` will touch (its page's engine and policy rows,
    belady's set word for its next use, the Markov slot and successor row it will read; all
    known from the trace), and the state of tier 0's next victim (the bucket policies:
    ``_hint_victim``, a chunk of victims to come at a time). The priority policies also load what
    row ``j - back`` will read in tier 0's order (``pol_hint``: its page's heap lines, or its
    calendar bucket and, for predictive, the new one), found from the page's row, hinted ``back``
    rows ago (``ENTRY_AHEAD``; the calendars' ``CALENDAR_ENTRY_AHEAD``), and the same for its
    stride candidates (``_hint_candidates``).
    (Hinting the next victims of every tier measured slower: the hints only compete with the
    loads they would save.)"""
    if j >= len(page):
        return
    q = page[j]
    _hint_page(e, q)
    if ps.kind <= FIFO:
        prefetch_hint(ps.queues.stamp, q)
        v = queue_ahead(ps.queues, 0, QUEUE_AHEAD)
        if v >= 0:
            prefetch_hint(ps.queues.stamp, v)
            _hint_page(e, v)
    elif ps.kind <= WINDOWED:
        prefetch_hint(ps.buckets.pst, q)
    elif ps.kind == BELADY:
        prefetch_hint(ps.page_nu, q)
        d = j - ps.nu_base[0]
        if d < len(ps.nu):  # the word of tier 0's set that row j's next use will be added to
            prefetch_hint(ps.bits.words[0], ps.bits.offs[0] + (belady_member(ps, q, ps.nu[d]) >> 6))
        v = belady_next_victim(ps, 0)
        if ps.n_tiers > 1:  # its next use is read when it moves down (a last tier's victim leaves)
            prefetch_hint(ps.page_nu, v)
        _hint_size(e, v)
        prefetch_hint(e.loc, v)
    else:
        prefetch_hint(ps.st, q)
        _hint_candidates(ps, pf, q, False)
        if j >= back:
            pol_hint(ps, page[j - back], j - back)
            _hint_candidates(ps, pf, page[j - back], True)
        v = order_next(ps.order, 0)
        prefetch_hint(ps.st, v)
        _hint_size(e, v)
    if pf.kind == MARKOV:
        prefetch_hint(pf.top, q)
        if j > 0:
            prefetch_hint(pf.table, table_slot(pf, page[j - 1] * pf.n_pages + q))


@kernel
def run_span(start, stop, page, op, served_by, e, ps, pf):
    """Replay trace rows ``[start, stop)``; return the row reached.

    Returns early (before a row) when the Markov table or the frequency buckets need to grow;
    the caller grows them and calls again from the returned row.
    """
    lat = e.flt[LATENCY]
    hit_cost, write_cost = e.flt[HIT_COST], e.flt[WRITE_COST]
    skip_cold = e.has_recompute
    loc, pending, cnt = e.loc, e.pending, e.cnt
    calendar = PREDICTIVE <= ps.kind <= REGRET
    ahead, back = (CALENDAR_AHEAD, CALENDAR_ENTRY_AHEAD) if calendar else (AHEAD, ENTRY_AHEAD)
    for i in range(start, stop):
        if (pf.kind == MARKOV and pf.fill[0] >= pf.fill[1]) or bucket_full(ps.buckets):
            e.flt[LATENCY] = lat
            return i
        _hint(e, ps, pf, page, i + ahead, back)
        if ps.kind == WINDOWED:
            pol_advance(ps, loc, i)
        p = page[i]
        t = loc[p]
        own = t != 0  # the row's own page must move into tier 0
        write = op[i] != 0
        m = 0
        if write:
            served_by[i] = -2
            cnt[WRITE_BYTES] += page_size(e, p)
        else:
            served_by[i] = t
            if pf.kind != NONE:
                m = candidates(pf, p)  # Markov learns here; the moves below never read its state
        if not own:  # a hit, or an overwrite in place
            pol_access(ps, 0, p, i)
            if write:
                lat += write_cost + 0.0
            else:
                cnt[HITS] += 1
                lat += hit_cost
            if pending[p]:
                pending[p] = 0
                cnt[PF_WASTED if write else PF_USEFUL] += 1
        for j in range(-1 if own else 0, m):
            if j < 0:
                q, tq, cause = p, t, WRITE if write else DEMAND
            else:
                q, cause = pf.buf[j], PREFETCH
                tq = loc[q]
                if tq == 0 or (skip_cold and tq < 0):
                    continue
                cnt[PF_REQUESTS] += 1
            cost = _move_in(e, ps, q, tq, i, cause)
            if cause == WRITE:
                lat += write_cost + cost
            else:
                lat += cost
            if cause == PREFETCH:
                pending[q] = 1
    e.flt[LATENCY] = lat
    return stop
