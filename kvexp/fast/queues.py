"""Lazy-deletion queues, one per tier, for the order-based policies (lru, fifo) (numba).

Tier k's order is a ring of page ids, oldest first. Entering the tier, or (lru) being touched,
appends an entry at the tail and stamps the page with the entry's position, a count that only
grows (its low 32 bits are kept). An entry is live when its page sits in tier k (the engine's
``loc``) and carries that entry's stamp; a touched page's older entry, or the entry of a page
that left, is dead and is skipped when it reaches the head. The live entries, in ring order,
are the reference's OrderedDict for the tier. A full ring is compacted to its live entries
first; a ring holds twice the pages its tier can, so that is amortized O(1).

Why not a linked list: relinking a page writes its two neighbours, random pages whose state
the loop cannot know ahead. Here a row touches only its own page's state, which the trace
names ahead, and the head's, which the ring names ahead; with 4-byte stamps the per-page state
of millions of pages also stays in the CPU's last-level cache.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.jit import hot, kernel

Queues = namedtuple("Queues", "ring off mask pos stamp loc")
HEAD, TAIL = 0, 1  # columns of ``pos``: positions of the oldest entry and of the next one


def new_queues(n_pages: int, most: np.ndarray, loc: np.ndarray) -> Queues:
    """Queues for tiers holding at most ``most[k]`` pages each, over the engine's ``loc``."""
    sizes = [1 << max(2 * int(m) + 1, 15).bit_length() for m in most]
    off = np.zeros(len(sizes), np.int64)
    off[1:] = np.cumsum(sizes)[:-1]
    return Queues(
        ring=np.zeros(int(sum(sizes)), np.int32), off=off, mask=np.array(sizes, np.int64) - 1,
        pos=np.zeros((len(sizes), 2), np.int64), stamp=np.zeros(n_pages, np.uint32), loc=loc,
    )


@hot
def _stamp(r):
    """A position's stamp: its low 32 bits (a ring's live span is far shorter than 2**32)."""
    return np.uint32(r & 0xFFFFFFFF)


@hot
def _live(qs, k, p, r):
    return qs.loc[p] == k and qs.stamp[p] == _stamp(r)


@kernel
def _compact(qs, k):
    """Keep only tier k's live entries, in order, from the head on (rare: a call, not inlined)."""
    ring, base, mask = qs.ring, qs.off[k], qs.mask[k]
    w = head = qs.pos[k, HEAD]
    for r in range(head, qs.pos[k, TAIL]):
        p = ring[base + (r & mask)]
        if _live(qs, k, p, r):
            ring[base + (w & mask)] = p
            qs.stamp[p] = _stamp(w)
            w += 1
    qs.pos[k, TAIL] = w


@hot
def queue_append(qs, k, p):
    """Page p becomes the newest entry of tier k (any older entry of p turns dead)."""
    tail = qs.pos[k, TAIL]
    if tail - qs.pos[k, HEAD] > qs.mask[k]:
        _compact(qs, k)
        tail = qs.pos[k, TAIL]
    qs.ring[qs.off[k] + (tail & qs.mask[k])] = p
    qs.stamp[p] = _stamp(tail)
    qs.pos[k, TAIL] = tail + 1


@hot
def queue_move_to_end(qs, k, p):
    """Page p, already in tier k, becomes its newest entry."""
    if qs.stamp[p] != _stamp(qs.pos[k, TAIL] - 1):
        queue_append(qs, k, p)


@hot
def queue_remove(qs, k, p):
    """Page p leaves tier k: stamp it with the tail's position, which no entry of p holds
    (its ``loc`` still names tier k until the engine places it elsewhere)."""
    qs.stamp[p] = _stamp(qs.pos[k, TAIL])


@hot
def queue_pop_oldest(qs, k):
    """Remove and return the oldest live page of tier k (which must hold one)."""
    ring, base, mask = qs.ring, qs.off[k], qs.mask[k]
    r = qs.pos[k, HEAD]
    while True:
        p = ring[base + (r & mask)]
        r += 1
        if _live(qs, k, p, r - 1):
            qs.pos[k, HEAD] = r
            return np.int64(p)


@hot
def queue_ahead(qs, k, d):
    """The page of tier k's entry ``d`` places from the head (live or not; -1 past the tail)."""
    r = qs.pos[k, HEAD] + d
    if r >= qs.pos[k, TAIL]:
        return np.int64(-1)
    return np.int64(qs.ring[qs.off[k] + (r & qs.mask[k])])
