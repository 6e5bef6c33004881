"""Sets of small integers as 64-ary bitmap trees, one set per tier (numba).

An ordering structure for keys that are integers below a known bound (a trace position, a page
id, a touch count): level 0 has one bit per possible member, and each bit of level L + 1 says
whether the 64-bit word below it is non-empty, up to a single top word. Adding or removing a
member touches one word per level at most (usually one), and the smallest or largest member is
found by reading one word per level, top-down, with a count of trailing or leading zeros: with
a million possible members that is four words, of which only the last is likely out of cache.
So nothing scans: the cost does not grow with how many members a set holds.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros

from kvexp.fast.jit import hot

Bits = namedtuple("Bits", "words offs")  # words[set, offs[L] + j]: word j of level L


def new_bits(n_sets: int, universe: int) -> Bits:
    """``n_sets`` empty sets, each of members in ``[0, universe)``."""
    sizes = []
    n = max(int(universe), 1)
    while True:
        n = (n + 63) // 64
        sizes.append(n)
        if n == 1:
            break
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return Bits(np.zeros((n_sets, int(offs[-1])), np.int64), offs)


@hot
def bits_add(b, k, i):
    """Add member ``i`` to set ``k``."""
    words, offs = b.words, b.offs
    for level in range(len(offs) - 1):
        j = offs[level] + (i >> 6)
        w = words[k, j]
        words[k, j] = w | (np.int64(1) << (i & 63))
        if w != 0:
            return
        i >>= 6


@hot
def bits_discard(b, k, i):
    """Remove member ``i`` (present) from set ``k``."""
    words, offs = b.words, b.offs
    for level in range(len(offs) - 1):
        j = offs[level] + (i >> 6)
        w = words[k, j] & ~(np.int64(1) << (i & 63))
        words[k, j] = w
        if w != 0:
            return
        i >>= 6


@hot
def bits_min(b, k):
    """The smallest member of set ``k``, or -1 when it is empty."""
    words, offs = b.words, b.offs
    top = len(offs) - 2
    w = words[k, offs[top]]
    if w == 0:
        return np.int64(-1)
    i = np.int64(trailing_zeros(w))
    for level in range(top - 1, -1, -1):
        i = (i << 6) + trailing_zeros(words[k, offs[level] + i])
    return i


@hot
def bits_next(b, k, i):
    """The smallest member of set ``k`` at or past ``i`` (>= 0), or -1 when there is none: up
    the levels until a word holds a member past the point reached, then down as ``bits_min``.
    Near ``i`` (a dense set) that is one word."""
    words, offs = b.words, b.offs
    for level in range(len(offs) - 1):
        j = i >> 6
        if j >= offs[level + 1] - offs[level]:
            return np.int64(-1)
        w = words[k, offs[level] + j] & (np.int64(-1) << (i & 63))
        if w != 0:
            i = (j << 6) + trailing_zeros(w)
            for down in range(level - 1, -1, -1):
                i = (i << 6) + trailing_zeros(words[k, offs[down] + i])
            return np.int64(i)
        i = j + 1  # the next word's bit one level up
    return np.int64(-1)


@hot
def bits_max(b, k):
    """The largest member of set ``k``, or -1 when it is empty."""
    words, offs = b.words, b.offs
    top = len(offs) - 2
    w = words[k, offs[top]]
    if w == 0:
        return np.int64(-1)
    i = np.int64(63 - leading_zeros(w))
    for level in range(top - 1, -1, -1):
        i = (i << 6) + 63 - leading_zeros(words[k, offs[level] + i])
    return i
