"""Belady's next-use positions in a compact form (numba).

The reference reads ``Trace.next_use``: 8 bytes per access, built by an argsort. The fast
engine only ever needs the next use of the row being replayed, so it splits the trace into
chunks and rebuilds each chunk's next uses (int32) just before replaying it, by a backward
scan that starts from a snapshot of "each page's first use at or after the chunk's end". One
backward pass over the whole trace records those snapshots (and ``first_use``, the snapshot at
row 0). With about sqrt(rows / pages) chunks the extra memory, snapshots plus one chunk, stays
near ``8 * sqrt(rows * pages)`` bytes instead of ``8 * rows``.
"""
from __future__ import annotations

import math

import numpy as np

from kvexp.fast.jit import kernel


MIN_CHUNK = 4096  # rows


def chunk_starts(n_rows: int, n_pages: int) -> np.ndarray:
    """Row where each chunk starts (first 0) followed by ``n_rows``."""
    n_chunks = max(1, min(n_rows // MIN_CHUNK, round(math.sqrt(n_rows / max(n_pages, 1)))))
    return np.linspace(0, n_rows, n_chunks + 1).astype(np.int64)


@kernel
def snapshots(page, starts, snaps, first, cur):
    """``snaps[j]``: per page, first row >= starts[j + 1] using it (or len(page)); ``first``: the
    first row using each page (or len(page)). ``cur`` is scratch space, one slot per page."""
    n = len(page)
    for p in range(len(cur)):
        cur[p] = n
    m = len(starts) - 1
    for j in range(m - 1, -1, -1):
        if j < m - 1:
            for p in range(len(cur)):
                snaps[j, p] = cur[p]
        for i in range(starts[j + 1] - 1, starts[j] - 1, -1):
            cur[page[i]] = i
    for p in range(len(cur)):
        first[p] = cur[p]


@kernel
def fill_chunk(page, starts, j, snaps, nu, cur):
    """``nu[i - starts[j]]``: the next row using ``page[i]`` after row i, for the rows of chunk j."""
    n = len(page)
    last = j == len(starts) - 2
    for p in range(len(cur)):
        cur[p] = n if last else snaps[j, p]
    a = starts[j]
    for i in range(starts[j + 1] - 1, a - 1, -1):
        p = page[i]
        nu[i - a] = cur[p]
        cur[p] = i


class NextUse:
    """Chunked next-use source for one trace: ``load(j)`` fills ``nu`` for chunk j."""

    def __init__(self, page: np.ndarray, n_pages: int) -> None:
        self.page = page
        self.starts = chunk_starts(len(page), n_pages)
        n_chunks = len(self.starts) - 1
        self.snaps = np.empty((max(n_chunks - 1, 0), n_pages), np.int32)
        self.first = np.empty(n_pages, np.int64)
        self._cur = np.empty(n_pages, np.int32)
        snapshots(page, self.starts, self.snaps, self.first, self._cur)
        self.nu = np.empty(int(np.max(np.diff(self.starts), initial=1)), np.int32)

    def load(self, j: int) -> None:
        fill_chunk(self.page, self.starts, j, self.snaps, self.nu, self._cur)

    @property
    def nbytes(self) -> int:
        return self.snaps.nbytes + self.nu.nbytes + self._cur.nbytes + self.first.nbytes
