"""The bitmap-tree sets of the fast engine against Python sets, over every tree height."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from kvexp.fast.bits import bits_add, bits_discard, bits_max, bits_min, bits_next, new_bits


@njit  # uncached: numba would not see the inlined kvexp.fast code change
def _apply(b, ops):
    """Apply (set, kind, member, probe) rows (kind 0 add, 1 discard); record (min, max, the
    next member at or past probe) after each."""
    out = np.empty((len(ops), 3), np.int64)
    for r in range(len(ops)):
        k, kind, i = ops[r, 0], ops[r, 1], ops[r, 2]
        if kind == 0:
            bits_add(b, k, i)
        else:
            bits_discard(b, k, i)
        out[r, 0] = bits_min(b, k)
        out[r, 1] = bits_max(b, k)
        out[r, 2] = bits_next(b, k, ops[r, 3])
    return out


@pytest.mark.parametrize("universe", [1, 5, 64, 65, 4096, 4097, 262_145])
def test_min_max_next_follow_python_sets(universe: int) -> None:
    rng = np.random.default_rng(universe)
    sets: list[set[int]] = [set(), set(), set()]
    ops, expected = [], []
    for _ in range(3000):
        k = int(rng.integers(3))
        members = sorted(sets[k])
        if members and rng.random() < 0.55:  # discard a present member (often the extremes)
            i = members[0] if rng.random() < 0.3 else members[-1] if rng.random() < 0.3 else members[
                int(rng.integers(len(members)))]
            sets[k].discard(i)
            ops.append((k, 1, i))
        else:
            i = int(rng.integers(universe))
            sets[k].add(i)
            ops.append((k, 0, i))
        members = sorted(sets[k])  # probe at a member, just past one, or anywhere (the universe's end too)
        probe = int(rng.integers(universe + 1)) if not members or rng.random() < 0.4 else min(
            members[int(rng.integers(len(members)))] + int(rng.integers(2)), universe)
        ops[-1] += (probe,)
        after = [m for m in members if m >= probe]
        expected.append(((min(sets[k]), max(sets[k])) if sets[k] else (-1, -1)) + (after[0] if after else -1,))
    got = _apply(new_bits(3, universe), np.array(ops, np.int64))
    assert got.tolist() == [list(e) for e in expected]
