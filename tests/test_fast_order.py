"""The fast engine's per-tier priority orders (heap, ladder, calendar) against a naive minimum.

Random inserts, key changes (larger ones recorded lazily, smaller ones at once), removals and
evictions over three tiers; every eviction must take the page with the smallest current key
``(primary, secondary, page)``, which the test finds by scanning a Python dict. Keys are drawn
to be mostly increasing (as under recency) with frequent ties, so stale roots and the heap's
root hole are exercised. A heap of ``DEEP`` pages or more (taken to be out of cache: it hints
lines ahead and places grown keys at once) is checked the same way against a lazy-deletion
``heapq``.
"""
from __future__ import annotations

import heapq

import numpy as np
import pytest
from numba import njit

from kvexp.fast.calendar_queue import AT, CALENDAR, LEAD, LEAD_PAGES, PAGE, Calendars, NoCalendars
from kvexp.fast.heap import DEEP, pack
from kvexp.fast.ladder_arrays import FILINGS, LADDER, NB1, NBOT, SLACK, SPLIT_B, Ladders, NoLadders, new_ladders
from kvexp.fast.order import new_order, order_delete, order_pop, order_refresh_top, order_set, order_top
from kvexp.fast.rows import page_rows

SET, DELETE, EVICT = range(3)


@njit  # uncached: numba would not see the inlined kvexp.fast code change
def _apply(o, ops, cur1, cur2):
    """Apply (op, tier, page, primary, secondary) rows; return each eviction's page (else -1)."""
    out = np.full(len(ops), -1, np.int64)
    for r in range(len(ops)):
        op, k, p = ops[r, 0], ops[r, 1], ops[r, 2]
        if op == SET:
            cur1[p] = float(ops[r, 3])
            cur2[p] = ops[r, 4]
            order_set(o, k, p, cur1[p], cur2[p])
        elif op == DELETE:
            order_delete(o, k, p)
        else:
            while True:
                v, y1, y2 = order_top(o, k)
                if cur1[v] == y1 and pack(cur2[v], v) == y2:
                    break
                order_refresh_top(o, k, v, cur1[v], cur2[v])
            order_pop(o, k, v)
            out[r] = v
    return out


def _script(seed: int, n_pages: int, cap: int, steps: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    tier_of: dict[int, int] = {}
    keys: dict[int, tuple[int, int]] = {}
    ops, expected = [], []
    t = 0
    for _ in range(steps):
        t += int(rng.integers(0, 3))
        r = rng.random()
        k = int(rng.integers(3))
        members = [p for p, tk in tier_of.items() if tk == k]
        if r < 0.45 and len(members) < cap:  # insert a page that is nowhere
            free = [p for p in range(n_pages) if p not in tier_of]
            p = free[int(rng.integers(len(free)))]
            key = (t + int(rng.integers(-6, 2)), int(rng.integers(0, 3)))
            tier_of[p], keys[p] = k, key
            ops.append((SET, k, p, *key))
            expected.append(-1)
        elif r < 0.75 and members:  # a resident page's key changes: mostly up, sometimes down
            p = members[int(rng.integers(len(members)))]
            key = (t, int(rng.integers(0, 3))) if rng.random() < 0.7 else (keys[p][0] - int(rng.integers(1, 9)), 0)
            keys[p] = key
            ops.append((SET, k, p, *key))
            expected.append(-1)
        elif r < 0.85 and members:
            p = members[int(rng.integers(len(members)))]
            del tier_of[p], keys[p]
            ops.append((DELETE, k, p, 0, 0))
            expected.append(-1)
        elif members:
            v = min(members, key=lambda p: (*keys[p], p))
            del tier_of[v], keys[v]
            ops.append((EVICT, k, 0, 0, 0))
            expected.append(v)
    return np.array(ops, np.int64), expected


def _ladder_order(rows, slots: np.ndarray, slack: int = SLACK):
    """An order whose tiers all keep a ladder, compacting after ``FILINGS * slots + slack``
    filings as built, or with a slack other than ``SLACK`` after ``slots + slack`` (often)."""
    per_slot = FILINGS if slack == SLACK else 1
    return new_order(rows, slots, ladders=True)._replace(lad=new_ladders(slots, slack, per_slot))


@pytest.mark.parametrize("slack", [None, SLACK, 3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_evictions_take_the_smallest_current_key(slack: int | None, seed: int) -> None:
    """Three tiers of heaps, or of lazy bucket queues (ladders) when ``slack`` is set (a small
    one compacts often). Keys fall as well as grow, and tie."""
    n_pages, cap = 300, 60
    ops, expected = _script(seed, n_pages, cap, 6000)
    rows = page_rows(n_pages)
    slots = np.full(3, cap, np.int64)
    order = new_order(rows, slots) if slack is None else _ladder_order(rows, slots, slack)
    got = _apply(order, ops, np.zeros(n_pages), np.zeros(n_pages, np.int64))
    assert got.tolist() == expected
    assert sum(e >= 0 for e in expected) > 500
    if slack is not None:  # the ladders were used, no heap
        assert (rows.slot[:, 0] == LADDER).any() and (order.heaps.size == 0).all()


def _set_all(o, k, pages, primaries):
    """Give ``pages`` the keys (primaries, 0)."""
    _set_keys(o, k, pages, np.asarray(primaries, np.float64), np.zeros(len(pages), np.int64))


@pytest.mark.parametrize("bands", [
    [(-50.0, 13_000.0)],  # every key inside: about one page per bucket
    [(0.0, 40.0)],  # most keys past the band: they share its last bucket, a long list
    [(-50.0, 3_000.0), (6_000.0, 13_000.0)],  # two bands, keys between them in the first's last bucket
])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_calendar_takes_the_smallest_current_key(bands, seed: int) -> None:
    """Three tiers of calendar queues (predictive's): any key, inside its bands or not, lands in
    a bucket whose order agrees with the keys', and a victim is the smallest key of the first
    non-empty bucket; the victims must be the naive minimum's."""
    n_pages, cap = 300, 60
    ops, expected = _script(seed, n_pages, cap, 6000)
    rows = page_rows(n_pages)
    order = new_order(rows, np.full(3, cap, np.int64), bands=bands)
    got = _apply(order, ops, np.zeros(n_pages), np.zeros(n_pages, np.int64))
    assert got.tolist() == expected
    assert sum(e >= 0 for e in expected) > 500
    assert (rows.slot[:, 0] == CALENDAR).any() and (order.heaps.size == 0).all()


@njit  # uncached: numba would not see the inlined kvexp.fast code change
def _set_keys(o, k, pages, primaries, secondaries):
    for i in range(len(pages)):
        order_set(o, k, pages[i], primaries[i], secondaries[i])


def test_a_calendar_breaks_ties_in_a_bucket_like_the_key_tuples() -> None:
    """Keys below, inside and past the band, several in one bucket: equal primaries fall to
    the secondary, then to the page id; pages leave in the tuples' sorted order."""
    keys = [(-100.0, 0), (5.5, 1), (5.7, 0), (1e9, 0), (5.5, 0), (5.5, 0), (-3.0, 2), (9.9, 0), (1e9, 0)]
    n = len(keys)
    rows = page_rows(n)
    o = new_order(rows, np.array([n], np.int64), bands=[(0.0, 10.0)])
    cur1, cur2 = np.array([k[0] for k in keys]), np.array([k[1] for k in keys], np.int64)
    _set_keys(o, 0, np.arange(n), cur1, cur2)
    ops = np.array([(EVICT, 0, 0, 0, 0)] * n, np.int64)
    assert _apply(o, ops, cur1, cur2).tolist() == sorted(range(n), key=lambda p: (*keys[p], p))
    assert (rows.slot[:, 0] == -1).all()  # all gone


@njit  # uncached: numba would not see the inlined kvexp.fast code change
def _evict_watching(o, k, n):
    """Evict n pages from tier k; return the victims and, after each, the look-ahead's page,
    its lead, and whether that page is in the tier."""
    out = np.empty((n, 4), np.int64)
    for i in range(n):
        v, _, _ = order_top(o, k)
        order_pop(o, k, v)
        q = o.cal.ahead[k, PAGE]
        out[i, 0], out[i, 1], out[i, 2] = v, q, o.cal.ahead[k, LEAD]
        out[i, 3] = q >= 0 and o.heaps.slot[q, 0] == CALENDAR and o.heaps.slot[q, 1] == k
    return out


def test_a_calendars_look_ahead_leads_its_victims() -> None:
    """The look-ahead walks ``LEAD_PAGES`` victims ahead of the evictions, through empty
    buckets; when a hit moves the page it stands on, it starts again from the victim and
    catches up, and never stands on a page outside the tier."""
    n = 400
    rows = page_rows(n)
    o = new_order(rows, np.array([n], np.int64), bands=[(0.0, 4.0 * n)], width=1.0, lead=LEAD_PAGES)
    _set_all(o, 0, np.arange(n), 3.0 * np.arange(n))  # a page every third bucket
    first = _evict_watching(o, 0, 100)
    assert first[:, 0].tolist() == list(range(100))
    assert first[5:, 1].tolist() == list(range(5 + LEAD_PAGES, 100 + LEAD_PAGES))
    assert (first[5:, 2] == LEAD_PAGES).all()
    hit = int(first[-1, 1])  # a hit gives the page under the look-ahead the largest key
    _set_all(o, 0, np.array([hit]), [10.0 * n])
    then = _evict_watching(o, 0, 100)
    rest = [p for p in range(100, n) if p != hit] + [hit]
    assert then[:, 0].tolist() == rest[:100]
    assert then[0, 2] < LEAD_PAGES and then[10:, 1].tolist() == rest[10 + LEAD_PAGES:100 + LEAD_PAGES]
    assert first[:, 3].all() and then[:, 3].all()
    assert o.cal.ahead[0, AT] == 3 * rest[99 + LEAD_PAGES]


class _HeapqScript:
    """Operations on one tier for ``_apply``, and the victims a lazy-deletion heapq takes."""

    def __init__(self) -> None:
        self.keys: dict[int, tuple[int, int]] = {}
        self.queue: list[tuple[int, int, int]] = []
        self.ops: list[tuple[int, ...]] = []
        self.expected: list[int] = []

    def put(self, p: int, key: tuple[int, int]) -> None:
        self.keys[p] = key
        heapq.heappush(self.queue, (*key, p))
        self.ops.append((SET, 0, p, *key))
        self.expected.append(-1)

    def delete(self, p: int) -> None:
        del self.keys[p]
        self.ops.append((DELETE, 0, p, 0, 0))
        self.expected.append(-1)

    def evict(self) -> int:
        while self.keys.get(self.queue[0][2]) != self.queue[0][:2]:  # a stale or removed page's entry
            heapq.heappop(self.queue)
        v = heapq.heappop(self.queue)[2]
        del self.keys[v]
        self.ops.append((EVICT, 0, 0, 0, 0))
        self.expected.append(v)
        return v

    def script(self) -> tuple[np.ndarray, list[int]]:
        return np.array(self.ops, np.int64), self.expected


def _large_script(seed: int, n_pages: int, steps: int) -> tuple[np.ndarray, list[int]]:
    """One tier: all but 500 of ``n_pages`` inserted, then ``steps`` random inserts, key
    changes (mostly up), removals and evictions; expected victims from a lazy-deletion heapq."""
    rng = np.random.default_rng(seed)
    h = _HeapqScript()
    for p in range(n_pages - 500):
        h.put(p, (int(rng.integers(0, n_pages)), int(rng.integers(0, 3))))
    free = list(range(n_pages - 500, n_pages))
    t = n_pages
    for _ in range(steps):
        t += 1
        r = rng.random()
        if r < 0.3 and free:
            h.put(free.pop(int(rng.integers(len(free)))), (t + int(rng.integers(-n_pages, 2)), 0))
        elif r < 0.7:
            p = int(rng.integers(n_pages))
            if p in h.keys:
                h.put(p, (t, 1) if rng.random() < 0.7 else (h.keys[p][0] - int(rng.integers(1, 50)), 0))
        elif r < 0.8:
            p = int(rng.integers(n_pages))
            if p in h.keys:
                h.delete(p)
                free.append(p)
        else:
            free.append(h.evict())
    return h.script()


@pytest.mark.parametrize("slack", [None, SLACK, 100, "calendar"])
def test_a_large_order_keeps_the_order_against_heapq(slack: int | str | None) -> None:
    """A heap past ``DEEP`` entries: its sifts hint the next levels' lines and it places a grown
    key at once. A ladder of as many pages: several rungs laid out, buckets of many
    chunks, stale filings everywhere (with the small slack, compacted whenever its filings exceed
    its pages by 100). A calendar over the keys' range. Each victim must equal a lazy-deletion
    heapq's."""
    n_pages = DEEP + 2000
    ops, expected = _large_script(4, n_pages, 40_000)
    rows = page_rows(n_pages)
    slots = np.array([n_pages], np.int64)
    if slack == "calendar":
        order = new_order(rows, slots, bands=[(-float(n_pages), float(n_pages + 40_000))])
    else:
        order = new_order(rows, slots) if slack is None else _ladder_order(rows, slots, slack)
    got = _apply(order, ops, np.zeros(n_pages), np.zeros(n_pages, np.int64))
    assert got.tolist() == expected
    assert sum(e >= 0 for e in expected) > 6000


@pytest.mark.parametrize("n_pages, eager", [(64, False), (DEEP + 64, True)])
def test_a_large_heap_places_grown_keys_at_once(n_pages: int, eager: bool) -> None:
    """A hit that grows a key is recorded lazily in a small heap (the entry keeps its old key
    until it surfaces) and at once in a heap of ``DEEP`` entries or more, where the stale
    entry's later sift from the root would cost a cache miss per level."""
    rows = page_rows(n_pages)
    o = new_order(rows, np.array([n_pages], np.int64))
    _set_all(o, 0, np.arange(n_pages), np.arange(n_pages))
    _set_all(o, 0, np.array([5]), np.array([10 * n_pages]))
    entry = 2 * (o.heaps.off[0] + rows.slot[5, 0])
    assert o.heaps.kf[entry] == (10 * n_pages if eager else 5)
    leaves = (n_pages + 2) // 4  # entries from here on have no children
    assert (rows.slot[5, 0] >= leaves) == eager  # eager: sunk to a leaf; lazy: left at entry 5
    cur1 = np.arange(n_pages, dtype=np.float64)
    cur1[5] = 10 * n_pages
    ops = np.array([(EVICT, 0, 0, 0, 0)] * n_pages, np.int64)
    assert _apply(o, ops, cur1, np.zeros(n_pages, np.int64)).tolist() == [*range(5), *range(6, n_pages), 5]


def test_a_crowded_rung_bucket_is_split_over_a_fine_rung() -> None:
    """cost_aware's churn: pages arrive and leave at keys in a narrow band that drifts up with
    time, far below a few hot pages, so the whole band falls in one of the rung's buckets.
    Reached, that bucket is spread over a fine rung, and the band's new keys are filed there
    instead of piling into the bottom's heap; the victims must still equal heapq's."""
    rng = np.random.default_rng(5)
    n_pages, cap, band = 6_000, 3_000, 3_000
    h = _HeapqScript()
    for p in range(100):  # hot pages, far above the band
        h.put(p, (10**9 + int(rng.integers(10**6)), 0))
    free = list(range(100, n_pages))
    for t in range(60_000):
        if len(h.keys) == cap:
            free.append(h.evict())
        h.put(free.pop(int(rng.integers(len(free)))), (t + int(rng.integers(band)), t))
        if rng.random() < 0.2:  # a band page is touched: its key grows past the band's
            p = int(rng.integers(100, n_pages))
            if p in h.keys:
                h.put(p, (t + band + int(rng.integers(band)), t))
    ops, expected = h.script()
    rows = page_rows(n_pages)
    order = _ladder_order(rows, np.array([cap], np.int64))
    got = _apply(order, ops, np.zeros(n_pages), np.zeros(n_pages, np.int64))
    assert got.tolist() == expected
    assert sum(e >= 0 for e in expected) > 50_000
    assert order.lad.s[0, SPLIT_B] >= 0 and order.lad.s[0, NB1] > 1  # the fine rung is in use
    bottoms = []  # ... and the bottom stays small (about 3,000 entries without it: the whole band)
    for cut in range(20_000, len(ops), 10_000):
        part = _ladder_order(page_rows(n_pages), np.array([cap], np.int64))
        _apply(part, ops[:cut], np.zeros(n_pages), np.zeros(n_pages, np.int64))
        bottoms.append(part.lad.s[0, NBOT])
    assert max(bottoms) < 256, bottoms


def test_only_a_ladder_order_carries_ladders() -> None:
    """The loop compiled for heaps must not see ladders or calendars, and a ladder or calendar
    order lays out no heap."""
    rows = page_rows(100)
    heaps = new_order(rows, np.array([10, 50]))
    assert isinstance(heaps.lad, NoLadders) and isinstance(heaps.cal, NoCalendars)
    assert len(heaps.heaps.kf) >= 2 * 60
    ladders = new_order(rows, np.array([10, 50]), ladders=True)
    assert isinstance(ladders.lad, Ladders) and isinstance(ladders.cal, NoCalendars)
    assert ladders.lad.s.shape[0] == 2 and len(ladders.heaps.kf) < 2 * 60
    calendars = new_order(rows, np.array([10, 50]), bands=[(0.0, 100.0)])
    assert isinstance(calendars.cal, Calendars) and isinstance(calendars.lad, NoLadders)
    assert len(calendars.cal.first) == 2 and len(calendars.heaps.kf) < 2 * 60


def test_a_ladder_keeps_the_order_under_skewed_keys() -> None:
    """cost_aware-like keys: a heavy-tailed touch count (most pages within a few counts of the
    least, a few thousands above) that grows by one per touch, ties broken by the last touch.
    Buckets are finer near the rung's low end here; the victims must still equal heapq's."""
    rng = np.random.default_rng(11)
    n_pages, cap = 5_000, 4_000
    count = np.minimum(rng.zipf(1.3, n_pages), 100_000)
    h = _HeapqScript()
    for t in range(40_000):
        p = int(rng.integers(n_pages))
        if p not in h.keys and len(h.keys) == cap:
            h.evict()
        count[p] += 1
        h.put(p, (int(count[p]), t))
    ops, expected = h.script()
    rows = page_rows(n_pages)
    got = _apply(_ladder_order(rows, np.array([cap], np.int64)), ops, np.zeros(n_pages), np.zeros(n_pages, np.int64))
    assert got.tolist() == expected
    assert sum(e >= 0 for e in expected) > 5_000
