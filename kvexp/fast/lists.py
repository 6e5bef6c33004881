"""Intrusive doubly-linked lists, one per tier, for the order-based policies (lru, fifo) (numba).

Node ``p < n_pages`` is page p; node ``n_pages + k`` is tier k's sentinel, so each tier's list
is circular through its sentinel: ``nxt[sentinel]`` is the oldest page, ``prv[sentinel]`` the
newest. A page sits in at most one tier, so two arrays serve the whole hierarchy. This is the
same order the reference keeps in one OrderedDict per tier.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.jit import hot, kernel

Lists = namedtuple("Lists", "prv nxt n_pages")


def new_lists(n_pages: int, n_tiers: int) -> Lists:
    nodes = np.arange(n_pages + n_tiers, dtype=np.int32)  # every sentinel starts linked to itself
    return Lists(nodes.copy(), nodes, n_pages)


@hot
def list_append(ls, k, p):
    """Page p becomes the newest entry of tier k."""
    s = ls.n_pages + k
    last = ls.prv[s]
    ls.nxt[last] = p
    ls.prv[p] = last
    ls.nxt[p] = s
    ls.prv[s] = p


@hot
def list_unlink(ls, p):
    """Take page p out of whatever list it is in."""
    a = ls.prv[p]
    b = ls.nxt[p]
    ls.nxt[a] = b
    ls.prv[b] = a


@hot
def list_pop_oldest(ls, k):
    """Remove and return the oldest page of tier k."""
    p = ls.nxt[ls.n_pages + k]
    list_unlink(ls, p)
    return p


@hot
def list_move_to_end(ls, k, p):
    """Page p, already in tier k, becomes its newest entry."""
    s = ls.n_pages + k
    if ls.prv[s] != p:
        list_unlink(ls, p)
        list_append(ls, k, p)
