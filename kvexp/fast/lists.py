"""Intrusive doubly-linked lists, one per tier, for the order-based policies (lru, fifo) (numba).

Node ``p < n_pages`` is page p; node ``n_pages + k`` is tier k's sentinel, so each tier's list
is circular through its sentinel: the sentinel's next is the oldest page, its previous the
newest. Row ``link[node]`` holds (previous, next), one 8-byte row per node, so relinking a
page touches one cache line per node. A page sits in at most one tier, so one array serves the
whole hierarchy. This is the same order the reference keeps in one OrderedDict per tier.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.jit import hot

Lists = namedtuple("Lists", "link n_pages")
PREV, NEXT = 0, 1


def new_lists(n_pages: int, n_tiers: int) -> Lists:
    nodes = np.arange(n_pages + n_tiers, dtype=np.int32)  # every sentinel starts linked to itself
    return Lists(np.stack([nodes, nodes], axis=1), n_pages)


@hot
def list_append(ls, k, p):
    """Page p becomes the newest entry of tier k."""
    link = ls.link
    s = ls.n_pages + k
    last = link[s, PREV]
    link[last, NEXT] = p
    link[p, PREV] = last
    link[p, NEXT] = s
    link[s, PREV] = p


@hot
def list_unlink(ls, p):
    """Take page p out of whatever list it is in."""
    link = ls.link
    a = link[p, PREV]
    b = link[p, NEXT]
    link[a, NEXT] = b
    link[b, PREV] = a


@hot
def list_pop_oldest(ls, k):
    """Remove and return the oldest page of tier k."""
    p = ls.link[ls.n_pages + k, NEXT]
    list_unlink(ls, p)
    return p


@hot
def list_move_to_end(ls, k, p):
    """Page p, already in tier k, becomes its newest entry."""
    if ls.link[ls.n_pages + k, PREV] != p:
        list_unlink(ls, p)
        list_append(ls, k, p)


@hot
def list_second_oldest(ls, k):
    """The page that will be tier k's oldest after the next eviction (the sentinel if none)."""
    return ls.link[ls.link[ls.n_pages + k, NEXT], NEXT]
