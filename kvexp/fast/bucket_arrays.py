"""The frequency buckets' arrays: layout, sizes and growth (``kvexp.fast.buckets`` holds the hooks).

Memory: a bucket whose dead entries reach twice its live ones plus two chunks (``_crowded`` in
``kvexp.fast.buckets``) is compacted in place to its live entries when it next gains or loses a
page, so compaction is amortized O(1) per entry written; it reads random pages' stamps, so it
hints them into the cache a few chunks ahead of its scan. The pool is allocated for the most
chunks that rule allows (``_pool_chunks``, ``_most_buckets``), so it never runs out, and hands
chunks out from its front, so the memory touched follows use. Each (hist, tier) pair costs 4
bytes (``hrow``), and a 16-byte header row (``hdr``: head and tail slots, live pages, entries)
only while it holds a page. A bitmap-tree set per tier (``kvexp.fast.bits``) holds the tier's
hist values with live pages: the victim is the live head of the smallest, found by reading one
word per tree level.

Buckets cover hist ``0 .. ctl[N_HIST] - 1``; ``ctl[TOP]`` is the largest hist stored so far,
and no page's hist ever exceeds it (every touch is followed by an insert). A page's hist grows
at most ``ROW_GROWTH`` per trace row: once as the row's page (read, write or its move into tier
0) and once more if it is also one of the row's prefetch candidates (Markov's successors of a
page may include the page itself, moved again if the row's own moves pushed it out of tier 0);
the other candidates are distinct pages, and cascades insert below tier 0, which touches
nothing. So the kernel returns before a row when ``TOP + ROW_GROWTH`` would leave the buckets
(``full``) and the driver calls ``grow``, as it does for the Markov table. The first size is
the most reads or writes of any one page plus that margin (``first_hists``), exact without
prefetch.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from kvexp.fast.bits import Bits, new_bits

Buckets = namedtuple("Buckets", "ent cnext cprev free hrow hdr hfree pst bits ctl n_tiers")
CH = 8  # entries per chunk: 8 x (page, last) int32 pairs, one 64-byte line
HD, TL, LIVE, ENT = range(4)  # ``hdr`` columns of a bucket with a page: head and tail slots, live pages, entries
TOP, N_HIST, CAP, BUMP, NFREE, HFREE, COMPACTIONS, TOUCHES, PEEKED, HINTED = range(10)  # ``ctl`` entries
# (``HINTED + k``: the head chunk of tier k whose next chunk's pages were last hinted)
STAMP, COUNT, AT = range(3)  # ``pst`` columns: the page's entry slot, its hist, and (windowed) its last
NONE = -1  # the stamp of a page in no bucket
OVERFLOW = -2  # a stamp the policy may give a page it keeps elsewhere
ROW_GROWTH = 2  # the most a page's hist can grow in one trace row


def first_hists(page: np.ndarray, n_pages: int) -> int:
    """Hist values to allocate first: every page's own rows, plus the margin ``full`` keeps.
    Counted a slice at a time: ``np.bincount`` copies its input to 64-bit integers."""
    counts = np.zeros(n_pages, np.int64)
    step = max(1 << 16, n_pages)
    for start in range(0, len(page), step):
        counts += np.bincount(page[start:start + step], minlength=n_pages)
    return int(counts.max(initial=0)) + ROW_GROWTH + 1


def _most_buckets(n_pages: int, n_buckets: int, n_tiers: int, touches: int) -> int:
    """The most buckets that can hold a page at once: no more than the pages, or the buckets;
    and a tier's B buckets with a page hold distinct pages of distinct hists, at least 0, 1,
    .., B - 1, which took B(B - 1) / 2 touches, so B is at most about sqrt(2 touches)."""
    return min(n_pages, n_buckets, n_tiers * (math.isqrt(2 * touches) + 2))


def _pool_chunks(n_pages: int, most_buckets: int) -> int:
    """The most chunks the buckets can hold at once: a bucket with L live pages keeps fewer
    than 3L + 2 CH entries (``_crowded``), from a head anywhere in its first chunk, so fewer
    than 3L / CH + 4 chunks, and an empty bucket none. Slots are int32: below 2**31 of them."""
    chunks = -(-3 * n_pages // CH) + 4 * most_buckets + 1
    if chunks * CH >= 2 ** 31:
        raise ValueError(f"the fast engine's buckets hold at most about 5e8 pages; this trace has {n_pages:,}")
    return chunks


def new_buckets(n_pages: int, n_tiers: int, n_hist: int, touches: int, at: bool = False) -> Buckets:
    """Empty buckets for hist values ``0 .. n_hist - 1`` (``n_hist`` > ``ROW_GROWTH``) over a
    run of at most ``touches`` touches, and the pages' rows: 8 bytes (stamp, count), or 16 with
    ``at`` (an ``AT`` column for the policy's ``last``; 16 bytes, not 12, so no row straddles
    two cache lines). A (hist, tier) pair costs 4 bytes, its header row only while it holds a
    page. The pool is allocated, not written: chunks are handed out from its front, and the rest
    are never touched."""
    pst = np.zeros((n_pages, 4 if at else 2), np.int32)
    pst[:, STAMP] = NONE
    most = _most_buckets(n_pages, n_hist * n_tiers, n_tiers, touches) + 1
    cap = _pool_chunks(n_pages, most)
    ctl = np.array([0, n_hist, cap, 0, 0, most, 0, touches, 0] + [-1] * n_tiers, np.int64)
    return Buckets(np.empty((cap * CH, 2), np.int32), np.empty(cap, np.int32), np.empty(cap, np.int32),
                   np.empty(cap, np.int32), np.full(n_hist * n_tiers, -1, np.int32), np.zeros((most, 4), np.int32),
                   np.arange(most - 1, -1, -1, dtype=np.int32), pst, new_bits(n_tiers, n_hist), ctl, n_tiers)


def full(bk: Buckets) -> bool:
    """True when one more row could take a hist past the last bucket (plain Python: the driver's
    check; the kernel makes the same comparison)."""
    return int(bk.ctl[TOP]) + ROW_GROWTH >= int(bk.ctl[N_HIST])


def grow(bk: Buckets) -> Buckets:
    """The same buckets with room for twice the hist values (the tier sets rebuilt to match, and
    the header rows and the pool enlarged if the new bucket count raises their bounds)."""
    n_hist = 2 * int(bk.ctl[N_HIST])
    hrow = np.full(n_hist * bk.n_tiers, -1, np.int32)
    hrow[:len(bk.hrow)] = bk.hrow
    ctl = bk.ctl.copy()
    ctl[N_HIST] = n_hist
    grown = bk._replace(hrow=hrow, bits=_regrow(bk.bits, bk.n_tiers, n_hist), ctl=ctl)
    most = _most_buckets(len(bk.pst), n_hist * bk.n_tiers, bk.n_tiers, int(ctl[TOUCHES])) + 1
    if most <= len(bk.hdr):
        return grown
    old, n_free = len(bk.hdr), int(ctl[HFREE])
    hdr, hfree = np.zeros((most, 4), np.int32), np.empty(most, np.int32)
    hdr[:old] = bk.hdr
    hfree[:most - old] = np.arange(most - 1, old - 1, -1)  # the new rows, then the free old ones on top
    hfree[most - old:most - old + n_free] = bk.hfree[:n_free]
    ctl[HFREE] = most - old + n_free
    cap = _pool_chunks(len(bk.pst), most)
    used = int(ctl[BUMP])  # chunks ever handed out: the part of the pool with content
    ent, cnext, cprev, free = (np.empty((cap * CH, 2), np.int32), np.empty(cap, np.int32),
                               np.empty(cap, np.int32), np.empty(cap, np.int32))
    ent[:used * CH], cnext[:used], cprev[:used] = bk.ent[:used * CH], bk.cnext[:used], bk.cprev[:used]
    free[:ctl[NFREE]] = bk.free[:ctl[NFREE]]
    ctl[CAP] = cap
    return grown._replace(ent=ent, cnext=cnext, cprev=cprev, free=free, hdr=hdr, hfree=hfree)


def _regrow(old: Bits, n_sets: int, universe: int) -> Bits:
    """``old``'s sets in a tree over a larger universe: level 0 copied, the levels above
    recomputed (bit j of a level is set when word j below it is non-zero)."""
    b = new_bits(n_sets, universe)
    offs = b.offs
    b.words[:, :old.offs[1]] = old.words[:, :old.offs[1]]
    for level in range(1, len(offs) - 1):
        below = b.words[:, offs[level - 1]:offs[level]] != 0
        bits = np.zeros((n_sets, 64 * (offs[level + 1] - offs[level])), np.bool_)
        bits[:, :below.shape[1]] = below
        b.words[:, offs[level]:offs[level + 1]] = np.packbits(bits, axis=1, bitorder="little").view("<i8")
    return b
