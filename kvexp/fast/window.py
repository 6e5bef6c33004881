"""windowed_recency's window (numba): the touches inside it, their expiry, and the overflow heap.

windowed_recency counts a page's touches within the last ``window`` trace rows. The touches wait
in a ring (``ps.ring``: position, page; ``ps.ring_state``: head and length), and as the trace
moves on, each that leaves the window lowers its page's count by one. In the frequency buckets
(``kvexp.fast.buckets``) that moves the page down a bucket, keeping its ``last``, so its place
there may lie far back when many pages' touches interleave inside a wide window; past
``EXPIRY_WALK`` entries the page goes to its tier's overflow heap (``kvexp.fast.order``) instead,
marked by the bucket stamp ``OVERFLOW``, and ``kvexp.fast.policies.pol_evict`` compares that
heap's root with the smallest bucket.

Until that order is needed, the buckets keep none of it: each tier starts with every page in its
bucket 0, sorted by (last, page), and an expiry only lowers the count. A page with a touch in the
window was last touched inside it, so while a tier holds more pages than the window's rows
touched or moved (a window small against the tier, the usual case), its oldest page has no touch
in the window: a count of 0, the least, so that page is the victim whatever the other counts are.
The first time a victim candidate still has a count (a window as wide as the tier),
``window_by_count`` moves each page with a count to its count's bucket, once for the run, and
from then on expiries move pages down as above. Those moves were about 40% of the policy's time
with stride prefetch, which touches about three pages a row.
"""
from __future__ import annotations

import numpy as np

from kvexp.fast.bucket_arrays import AT, COUNT, OVERFLOW, STAMP, TOP
from kvexp.fast.buckets import bucket_insert, bucket_remove, bucket_sort_zero
from kvexp.fast.jit import hot, kernel
from kvexp.fast.order import order_delete, order_set

EXPIRY_WALK = 8  # entries an expiry may walk back in its bucket before it takes the heap
HEAD, LENGTH, MODE = range(3)  # ``ps.ring_state``: the ring's head and length, how the buckets file pages
BY_COUNT, BY_LAST = 0, 1  # each page in its count's bucket (lfu, heavy_hitter), or all in bucket 0


@hot
def window_add(ps, p, now):
    """Queue page p's touch at row ``now``."""
    q = ps.ring_state
    tail = (q[HEAD] + q[LENGTH]) & (len(ps.ring) - 1)
    ps.ring[tail, 0] = now
    ps.ring[tail, 1] = p
    q[LENGTH] += 1
    h = ps.buckets.pst[p, COUNT]
    if h > ps.buckets.ctl[TOP]:  # no bucket holds it yet: keep the buckets' growth check in step
        ps.buckets.ctl[TOP] = h


@hot
def window_filed(ps, h):
    """The bucket a page with count ``h`` is filed in (for every bucket policy)."""
    return h if ps.ring_state[MODE] == BY_COUNT else 0


@kernel
def window_by_count(ps):
    """File every page in its count's bucket from now on (see the module's docstring)."""
    for k in range(ps.n_tiers):
        bucket_sort_zero(ps.buckets, k)
    ps.ring_state[MODE] = BY_COUNT


@hot
def in_overflow(bk, p):
    """True when resident page p is in its tier's overflow heap, not in a bucket: its bucket
    stamp is ``OVERFLOW`` (a bucket insert always sets it to a slot), so the check reads the
    word a bucket move reads anyway."""
    return bk.pst[p, STAMP] == OVERFLOW


@kernel
def overflow_set(o, k, p, x1, x2):
    """Put p into tier k's overflow heap with key (x1, x2), or lower its key there (a call,
    not inlined: it is rare, and a sift inlined here would lengthen the loop for every policy)."""
    order_set(o, k, p, x1, x2)


@kernel
def overflow_delete(o, k, p):
    """Take p out of tier k's overflow heap (a call, not inlined: it is rare)."""
    order_delete(o, k, p)


@hot
def pol_advance(ps, loc, now):
    """The trace reached row ``now``: called before the row's first hook, for windowed_recency
    only.

    Drop touches at positions <= now - window; a page resident in tier ``loc[p]`` moves down
    one bucket, keeping its ``last``, or into (or up) the tier's overflow heap when its place
    lies more than ``EXPIRY_WALK`` entries back. The reference expires at every hook call;
    every row calls at least one hook and nothing happens between the start of a row and its
    first hook, so expiring once per row, here, leaves every hook call seeing the same state.
    """
    ring, q, pst = ps.ring, ps.ring_state, ps.buckets.pst
    head, count, by_count = q[HEAD], q[LENGTH], q[MODE] == BY_COUNT
    mask = len(ring) - 1
    edge = now - ps.window
    while count > 0 and ring[head, 0] <= edge:
        p = ring[head, 1]
        head = (head + 1) & mask
        count -= 1
        h = pst[p, COUNT]
        pst[p, COUNT] = h - 1
        if not by_count:  # bucket 0 holds it already
            continue
        k = loc[p]
        if k < 0:
            continue
        last = np.int64(pst[p, AT])
        if not in_overflow(ps.buckets, p):
            bucket_remove(ps.buckets, k, p, h)
            if bucket_insert(ps.buckets, k, p, h - 1, last, EXPIRY_WALK):
                continue
            pst[p, STAMP] = OVERFLOW
        overflow_set(ps.order, k, p, float(h - 1), last)  # a smaller key: moved up at once
    q[HEAD] = head
    q[LENGTH] = count
