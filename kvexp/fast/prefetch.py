"""The built-in prefetchers as compiled code (numba): none, stride and markov.

Markov transition counts live in an open-addressing hash table, one 16-byte slot (key, count)
per transition ``prev * n_pages + page`` (linear probing, Fibonacci hashing, never deleted), so
a read costs one cache miss there. Each page's best ``degree`` successors sit in one row of
``top``, (successor, count) pairs in the reference's order (highest count first, ties to the
lower id), with their number in ``top_n``. The table never fills inside the kernel: the engine
returns to Python before a read could push the load past one half, and ``grow`` rehashes into
a table twice the size.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.jit import hot, kernel

NONE, STRIDE, MARKOV = range(3)

PrefetchState = namedtuple("PrefetchState", "kind degree min_conf n_pages prev table fill top top_n buf")
_FIB = np.uint64(0x9E3779B97F4A7C15)
FIRST_SLOTS = 1 << 16


def new_prefetch(kind: int, degree: int, min_conf: int, n_pages: int) -> PrefetchState:
    """Fresh state for a prefetcher of ``kind`` (``degree`` >= 1 for every kind)."""
    markov = kind == MARKOV
    rows = n_pages if markov else 1
    table, fill = _table(FIRST_SLOTS if markov else 1)
    return PrefetchState(kind, degree, min_conf, n_pages, np.full(1, -1, np.int64), table, fill,
                         np.zeros((rows, 2 * degree), np.int64), np.zeros(rows, np.int64), np.zeros(degree, np.int64))


def _table(slots: int) -> tuple[np.ndarray, np.ndarray]:
    table = np.zeros((slots, 2), np.int64)
    table[:, 0] = -1
    fill = np.array([0, slots // 2, slots.bit_length() - 1], dtype=np.int64)  # entries, limit, log2(slots)
    return table, fill


def grow(pf: PrefetchState) -> PrefetchState:
    """The same state with a Markov table of twice the slots."""
    table, fill = _table(2 * len(pf.table))
    _rehash(pf.table, table, fill)
    return pf._replace(table=table, fill=fill)


@hot
def _slot(key, bits):
    return np.int64((np.uint64(key) * _FIB) >> np.uint64(64 - bits))


@kernel
def _rehash(old, table, fill):
    mask = len(table) - 1
    for j in range(len(old)):
        key = old[j, 0]
        if key >= 0:
            s = _slot(key, fill[2])
            while table[s, 0] >= 0:
                s = (s + 1) & mask
            table[s, 0] = key
            table[s, 1] = old[j, 1]
            fill[0] += 1


@hot
def _count_up(pf, key):
    """Add one to the count of ``key`` and return the new count."""
    table = pf.table
    mask = len(table) - 1
    s = _slot(key, pf.fill[2])
    while True:
        k = table[s, 0]
        if k == key:
            table[s, 1] += 1
            return table[s, 1]
        if k < 0:
            table[s, 0] = key
            table[s, 1] = 1
            pf.fill[0] += 1
            return np.int64(1)
        s = (s + 1) & mask


@hot
def _promote(pf, prev, page, c):
    """``page``'s count after ``prev`` rose to ``c``: keep ``prev``'s top list exact."""
    row = pf.top[prev]
    m = pf.top_n[prev]
    j = -1
    for i in range(m):
        if row[2 * i] == page:
            j = i
            break
    if j < 0:
        if m >= pf.degree:
            worst, wc = row[2 * m - 2], row[2 * m - 1]
            if c < wc or (c == wc and worst < page):
                return
            j = m - 1
        else:
            j = m
            pf.top_n[prev] = m + 1
    while j > 0 and (row[2 * j - 1] < c or (row[2 * j - 1] == c and row[2 * j - 2] > page)):
        row[2 * j] = row[2 * j - 2]  # the entry only got better: bubble it towards the front
        row[2 * j + 1] = row[2 * j - 1]
        j -= 1
    row[2 * j] = page
    row[2 * j + 1] = c


@hot
def candidates(pf, page):
    """Called after each demand read of ``page``: fill ``pf.buf``, return how many candidates."""
    if pf.kind == STRIDE:
        m = min(pf.degree, pf.n_pages - 1 - page)
        for j in range(m):
            pf.buf[j] = page + 1 + j
        return m
    prev = pf.prev[0]
    pf.prev[0] = page
    if prev >= 0:
        c = _count_up(pf, prev * pf.n_pages + page)
        if c >= pf.min_conf:
            _promote(pf, prev, page, c)
    m = pf.top_n[page]
    row = pf.top[page]
    for j in range(m):
        pf.buf[j] = row[2 * j]
    return m
