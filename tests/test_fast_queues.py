"""The fast engine's lazy-deletion queues (lru, fifo) against one OrderedDict per tier.

A random script over three small tiers appends pages, moves them to the end, removes them and
pops the oldest; every pop must return the OrderedDict's oldest page. As in the engine, a page
that was removed or popped keeps naming its old tier in ``loc`` for a while (the engine updates
``loc`` only once the page is placed elsewhere), and pops from that tier meanwhile must skip it.
The rings are small, so they fill and compact many times; the test checks that they did.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from numba import njit

from kvexp.fast.queues import HEAD, TAIL, new_queues, queue_ahead, queue_append, queue_move_to_end, queue_pop_oldest, queue_remove

APPEND, MOVE, REMOVE, POP, RELEASE = range(5)


@njit  # uncached: numba would not see the inlined kvexp.fast code change
def _apply(qs, loc, ops):
    """Apply (op, tier, page) rows; return each pop's page (else -1)."""
    out = np.full(len(ops), -1, np.int64)
    for r in range(len(ops)):
        op, k, p = ops[r, 0], ops[r, 1], ops[r, 2]
        if op == APPEND:
            queue_append(qs, k, p)
            loc[p] = k
        elif op == MOVE:
            queue_move_to_end(qs, k, p)
        elif op == REMOVE:
            queue_remove(qs, k, p)
        elif op == POP:
            out[r] = queue_pop_oldest(qs, k)
        else:
            loc[p] = -1
    return out


def _script(seed: int, n_pages: int, most: list[int], steps: int) -> tuple[np.ndarray, list[int], int]:
    """Random ops, the pops they must return, and the number of entries ever appended."""
    rng = np.random.default_rng(seed)
    order = [OrderedDict() for _ in most]
    limbo: list[int] = []  # left a tier, ``loc`` not yet updated
    ops, expected, appended = [], [], 0
    for _ in range(steps):
        k = int(rng.integers(len(most)))
        r = rng.random()
        placed = {p for o in order for p in o}
        free = [p for p in range(n_pages) if p not in placed and p not in limbo]
        if limbo and rng.random() < 0.3:
            ops.append((RELEASE, 0, limbo.pop(0)))
        if r < 0.35 and free and len(order[k]) < most[k]:
            p = free[int(rng.integers(len(free)))]
            order[k][p] = None
            ops.append((APPEND, k, p))
            appended += 1
        elif r < 0.7 and order[k]:
            p = list(order[k])[int(rng.integers(len(order[k])))]
            if next(reversed(order[k])) != p:
                appended += 1
            order[k].move_to_end(p)
            ops.append((MOVE, k, p))
        elif r < 0.8 and order[k]:
            p = list(order[k])[int(rng.integers(len(order[k])))]
            del order[k][p]
            limbo.append(p)
            ops.append((REMOVE, k, p))
        elif order[k]:
            p, _ = order[k].popitem(last=False)
            limbo.append(p)
            ops.append((POP, k, p))
        expected.extend([-1] * (len(ops) - len(expected)))
        if ops and ops[-1][0] == POP:
            expected[-1] = ops[-1][2]
    return np.array(ops, np.int64).reshape(-1, 3), expected, appended


@pytest.mark.parametrize("seed", range(6))
def test_pops_follow_the_ordered_dicts_through_compactions(seed):
    most = [3, 6, 5]
    ops, expected, appended = _script(seed, n_pages=24, most=most, steps=4000)
    loc = np.full(24, -1, np.int8)
    qs = new_queues(24, np.array(most, np.int64), loc)
    pops = _apply(qs, loc, ops)
    assert pops.tolist() == expected
    assert (ops[:, 0] == POP).sum() > 300
    # every entry ever appended is still counted in the positions unless compaction dropped it
    assert int(qs.pos[:, TAIL].sum()) < appended
    assert (qs.pos[:, TAIL] - qs.pos[:, HEAD] <= qs.mask + 1).all()


def test_ahead_names_the_entry_at_a_distance_from_the_head():
    loc = np.full(8, -1, np.int8)
    qs = new_queues(8, np.array([4], np.int64), loc)
    ops = np.array([(APPEND, 0, 5), (APPEND, 0, 2), (APPEND, 0, 7), (MOVE, 0, 5)], np.int64)
    _apply(qs, loc, ops)
    assert [queue_ahead(qs, 0, d) for d in range(5)] == [5, 2, 7, 5, -1]
    assert _apply(qs, loc, np.array([(POP, 0, 0), (POP, 0, 0)], np.int64)).tolist() == [2, 7]
