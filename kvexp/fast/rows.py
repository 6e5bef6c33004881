"""A priority policy's per-page state in one 64-byte row per page (numba views).

Moving a page (a promotion, a demotion, an eviction) reads and writes everything the policy
keeps about it: its counters, its stored key, its place in its tier's order. Kept in separate
arrays that is one cache miss per array for a page out of cache; kept side by side in one
cache-line-aligned row it is one. The row's words are:

    0-2  ``st``: HIST, LAST, AUX (int64)       3  ``fst``: the policy's float (float64)
    4-5  ``rkf``, ``rki``: key in a ladder or calendar (float64, int64)
    6    ``link``: list neighbours or filing (2 x int32)
    7    ``slot``: heap position (or the order's kind) and tier (2 x int32)

Every field is a strided view of the one buffer, so the kernels index them as separate arrays.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

PageRows = namedtuple("PageRows", "st fst rkf rki link slot")
WORDS = 8  # int64 words per row: 64 bytes, one cache line


def counters(n_pages: int) -> np.ndarray:
    """``st`` alone, for the policies that keep no key per page (32-byte rows, the same array
    type as ``page_rows``' ``st``, so one compiled kernel serves every policy)."""
    return np.zeros((n_pages, 4), np.int64)[:, :3]


def page_rows(n_pages: int) -> PageRows:
    """Zeroed rows for ``n_pages`` pages, line-aligned."""
    raw = np.zeros(n_pages * WORDS + WORDS, np.int64)
    skip = (-raw.ctypes.data % 64) // 8  # words to the first 64-byte boundary
    words = raw[skip:skip + n_pages * WORDS].reshape(n_pages, WORDS)
    floats, halves = words.view(np.float64), words.view(np.int32)
    return PageRows(st=words[:, 0:3], fst=floats[:, 3:4], rkf=floats[:, 4], rki=words[:, 5], link=halves[:, 12:14],
                    slot=halves[:, 14:16])
