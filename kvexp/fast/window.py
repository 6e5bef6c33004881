"""windowed_recency's window (numba): the touches inside it, their expiry, and the overflow heap.

windowed_recency counts a page's touches within the last ``window`` trace rows. The touches wait
in a ring (``ps.ring``: position, page; ``ps.ring_state``: head and length), and as the trace
moves on, each that leaves the window lowers its page's count by one. In the frequency buckets
(``kvexp.fast.buckets``) that moves the page down a bucket, keeping its ``last``, so its place
there may lie far back when many pages' touches interleave inside a wide window; past
``EXPIRY_WALK`` entries the page goes to its tier's overflow heap (``kvexp.fast.order``) instead,
marked by the bucket stamp ``OVERFLOW``, and ``kvexp.fast.policies.pol_evict`` compares that
heap's root with the smallest bucket.
"""
from __future__ import annotations

import numpy as np

from kvexp.fast.bucket_arrays import AT, COUNT, OVERFLOW, STAMP
from kvexp.fast.buckets import bucket_insert, bucket_remove
from kvexp.fast.jit import hot, kernel
from kvexp.fast.order import order_delete, order_set

EXPIRY_WALK = 8  # entries an expiry may walk back in its bucket before it takes the heap


@hot
def window_add(ps, p, now):
    """Queue page p's touch at row ``now``."""
    q = ps.ring_state
    tail = (q[0] + q[1]) & (len(ps.ring) - 1)
    ps.ring[tail, 0] = now
    ps.ring[tail, 1] = p
    q[1] += 1


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
    head, count = q[0], q[1]
    mask = len(ring) - 1
    edge = now - ps.window
    while count > 0 and ring[head, 0] <= edge:
        p = ring[head, 1]
        head = (head + 1) & mask
        count -= 1
        h = pst[p, COUNT]
        pst[p, COUNT] = h - 1
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
    q[0] = head
    q[1] = count
