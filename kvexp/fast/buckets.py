"""Frequency buckets for lfu, heavy_hitter and windowed_recency: O(1) hooks instead of a heap (numba).

These policies evict a tier's page with the smallest ``(hist, last, page)``: hist is a touch
count (windowed_recency: touches inside the window). The pages of one tier with one hist,
ordered by ``(last, page)``, form a list. Each (hist, tier) bucket is such a list, circular and
doubly linked: ``link[p]`` is page p's (previous, next) and ``head[hist * n_tiers + tier]`` the
bucket's oldest page (-1: empty), whose previous is the newest; hist-major, so more hist values
only append buckets, and a tier-0 touch (hist to hist + 1) stays within a cache line or two.
An insert walks back from the tail over the pages that order after it. Every touch and every
move sets ``last = now``, the current trace row, which no stored ``last`` exceeds, so those
inserts walk only over this row's entries with larger ids (a row inserts only its own page, its
prefetches and the pages they push down: a short walk). windowed_recency also lowers a count
when a touch leaves the window, keeping ``last``: in tier 0 a page whose count drops to 0 is
the newest of its bucket (the pages there reached 0 as older touches expired), and any other
drop passes only pages moved or touched since the page's ``last``, in the last ``window`` rows;
a wide window makes that walk long, so that insert is bounded: past the bound it changes
nothing and says so, and the policy keeps the page in an overflow heap instead.
A bitmap-tree set per tier (``kvexp.fast.bits``) holds the tier's non-empty hist values: the
victim is the head of the smallest, found by reading one word per tree level. Nothing scans or
sifts, so a hook costs the same with a thousand resident pages as with a million, and the
buckets take 4 bytes per (hist, tier) plus 8 per page.

Buckets cover hist ``0 .. top[1] - 1``; ``top[0]`` is the largest hist stored so far, and no
page's hist ever exceeds it (every touch is followed by an insert). A page's hist grows at most
``ROW_GROWTH`` per trace row: once as the row's page (read, write or its move into tier 0) and
once more if it is also one of the row's prefetch candidates (Markov's successors of a page may
include the page itself, moved again if the row's own moves pushed it out of tier 0); the other
candidates are distinct pages, and cascades insert below tier 0, which touches nothing. So the
kernel returns before a row when ``top[0] + ROW_GROWTH`` would leave the buckets (``full``) and
the driver calls ``grow``, as it does for the Markov table. The first size is the most reads or
writes of any one page plus that margin (``first_hists``), exact without prefetch.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kvexp.fast.bits import Bits, bits_add, bits_discard, bits_min, new_bits
from kvexp.fast.jit import hot

Buckets = namedtuple("Buckets", "link head bits top n_tiers")
PREV, NEXT = 0, 1
ROW_GROWTH = 2  # the most a page's hist can grow in one trace row


def first_hists(page: np.ndarray, n_pages: int) -> int:
    """Hist values to allocate first: every page's own rows, plus the margin ``full`` keeps.
    Counted a slice at a time: ``np.bincount`` copies its input to 64-bit integers."""
    counts = np.zeros(n_pages, np.int64)
    step = max(1 << 16, n_pages)
    for start in range(0, len(page), step):
        counts += np.bincount(page[start:start + step], minlength=n_pages)
    return int(counts.max(initial=0)) + ROW_GROWTH + 1


def new_buckets(n_pages: int, n_tiers: int, n_hist: int) -> Buckets:
    """Empty buckets for hist values ``0 .. n_hist - 1`` (``n_hist`` > ``ROW_GROWTH``)."""
    return Buckets(np.zeros((n_pages, 2), np.int32), np.full(n_hist * n_tiers, -1, np.int32),
                   new_bits(n_tiers, n_hist), np.array([0, n_hist], np.int64), n_tiers)


def full(bk: Buckets) -> bool:
    """True when one more row could take a hist past the last bucket (plain Python: the driver's
    check; the kernel makes the same comparison)."""
    return int(bk.top[0]) + ROW_GROWTH >= int(bk.top[1])


def grow(bk: Buckets) -> Buckets:
    """The same buckets with room for twice the hist values (the tier sets rebuilt to match)."""
    n_hist = 2 * int(bk.top[1])
    head = np.full(n_hist * bk.n_tiers, -1, np.int32)
    head[:len(bk.head)] = bk.head
    return bk._replace(head=head, bits=_regrow(bk.bits, bk.n_tiers, n_hist), top=np.array([bk.top[0], n_hist]))


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


@hot
def bucket_full(bk):
    return bk.top[0] + ROW_GROWTH >= bk.top[1]


@hot
def bucket_insert(bk, k, p, h, last, st, last_col, walk):
    """Page p (hist h, ``st[p, last_col] == last``) joins tier k: after every page of its
    bucket with an older ``last``, or the same ``last`` and a smaller id. Return False, changing
    nothing, when its place is more than ``walk`` pages back from the bucket's newest."""
    link, head = bk.link, bk.head
    b = h * bk.n_tiers + k
    first = head[b]
    if first < 0:
        link[p, PREV] = p
        link[p, NEXT] = p
        head[b] = p
        bits_add(bk.bits, k, h)
        if h > bk.top[0]:
            bk.top[0] = h
        return True
    x = link[first, PREV]  # the newest page: p goes right after x
    for _ in range(walk + 1):
        if not (st[x, last_col] > last or (st[x, last_col] == last and x > p)):
            break
        if x == first:  # p comes before every page of the bucket: it is the new head
            head[b] = p
            x = link[first, PREV]
            break
        x = link[x, PREV]
    else:
        return False
    y = link[x, NEXT]
    link[p, PREV] = x
    link[p, NEXT] = y
    link[x, NEXT] = p
    link[y, PREV] = p
    return True


@hot
def bucket_remove(bk, k, p, h):
    """Take page p out of tier k's bucket for hist h."""
    link, head = bk.link, bk.head
    b = h * bk.n_tiers + k
    a = link[p, PREV]
    if a == p:  # p was alone: the bucket empties
        head[b] = -1
        bits_discard(bk.bits, k, h)
        return
    y = link[p, NEXT]
    link[a, NEXT] = y
    link[y, PREV] = a
    if head[b] == p:
        head[b] = y


@hot
def bucket_peek(bk, k):
    """Tier k's victim, the oldest page of its smallest non-empty bucket, and that hist
    (-1, -1 when the tier has no page in a bucket)."""
    h = bits_min(bk.bits, k)
    if h < 0:
        return np.int64(-1), h
    return np.int64(bk.head[h * bk.n_tiers + k]), h

