"""The built-in prefetchers as compiled code (numba): none, stride and markov.

Markov transition counts live in an open-addressing hash table keyed by the transition
``prev * n_pages + page`` (linear probing, Fibonacci hashing, never deleted), stored plus one so
0 marks an empty slot and untouched parts of a large table cost no memory. A slot is one int64
``(key + 1) << count_bits | count`` when that fits in 62 bits (a count never exceeds the number
of reads), else two words (key + 1, count): a read costs one cache miss in the table, and
smaller slots keep more of the hot transitions in cache. Each page's best ``degree``
successors sit in one row of ``top``, (successor, count) pairs in the reference's order
(highest count first, ties to the lower id), with their number in ``top_n``. The table starts
with two slots per read (up to ``MAX_FIRST_SLOTS``) and never fills inside the kernel: the
engine returns to Python before a read could push the load past one half, and ``grow``
rehashes into a table twice the size.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.jit import hot, kernel

NONE, STRIDE, MARKOV = range(3)

PrefetchState = namedtuple("PrefetchState", "kind degree min_conf n_pages prev table fill top top_n buf")
_FIB = np.uint64(0x9E3779B97F4A7C15)
MAX_FIRST_SLOTS = 1 << 21  # up to this size the table starts big enough for every read
PACKED_BITS = 62  # one-word slots when key + 1 and the count fit in this many bits


def new_prefetch(kind: int, degree: int, min_conf: int, n_pages: int, n_reads: int) -> PrefetchState:
    """Fresh state for a prefetcher of ``kind`` (``degree`` >= 1 for every kind)."""
    markov = kind == MARKOV
    rows = n_pages if markov else 1
    count_bits = max(n_reads, 1).bit_length()
    packed = (n_pages * n_pages).bit_length() + count_bits <= PACKED_BITS
    slots = 1 << max(2 * n_reads - 1, 1).bit_length() if markov else 1  # two slots per read at most
    table, fill = _table(min(slots, MAX_FIRST_SLOTS), 1 if packed else 2, count_bits if packed else 0)
    return PrefetchState(kind, degree, min_conf, n_pages, np.full(1, -1, np.int64), table, fill,
                         np.zeros((rows, 2 * degree), np.int64), np.zeros(rows, np.int64), np.zeros(degree, np.int64))


def _table(slots: int, width: int, count_bits: int) -> tuple[np.ndarray, np.ndarray]:
    table = np.zeros((slots, width), np.int64)
    fill = np.array([0, slots // 2, slots.bit_length() - 1, count_bits], dtype=np.int64)
    return table, fill  # fill: entries, limit, log2(slots), count bits (0: two-word slots)


def grow(pf: PrefetchState) -> PrefetchState:
    """The same state with a Markov table of twice the slots."""
    table, fill = _table(2 * len(pf.table), pf.table.shape[1], int(pf.fill[3]))
    _rehash(pf.table, table, fill)
    return pf._replace(table=table, fill=fill)


@hot
def _slot(key, bits):
    return np.int64((np.uint64(key) * _FIB) >> np.uint64(64 - bits))


@hot
def table_slot(pf, key):
    """The first slot probed for ``key``."""
    return _slot(key, pf.fill[2])


@kernel
def _rehash(old, table, fill):
    mask = len(table) - 1
    cb = fill[3]
    for j in range(len(old)):
        v = old[j, 0]
        if v != 0:
            s = _slot((v >> cb) - 1, fill[2])
            while table[s, 0] != 0:
                s = (s + 1) & mask
            for w in range(table.shape[1]):
                table[s, w] = old[j, w]
            fill[0] += 1


@hot
def _count_up(pf, key):
    """Add one to the count of ``key`` and return the new count."""
    table = pf.table
    mask = len(table) - 1
    cb = pf.fill[3]
    s = _slot(key, pf.fill[2])
    stored = key + 1
    while True:
        v = table[s, 0]
        if v == 0:
            pf.fill[0] += 1
            if cb:
                table[s, 0] = (stored << cb) | 1
            else:
                table[s, 0] = stored
                table[s, 1] = 1
            return np.int64(1)
        if cb:
            if v >> cb == stored:
                table[s, 0] = v + 1
                return (v + 1) & ((1 << cb) - 1)
        elif v == stored:
            table[s, 1] += 1
            return table[s, 1]
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
