"""Compile the fast engine's loops ahead of use: ``python -m kvexp.fast.warm [loop ...]``.

The first run on a machine compiles the loop its policy needs, about two minutes each, and
numba caches it on disk. A multirun's workers started on a cold cache would each compile the
same loop at once; run this first and they load it instead. The test suite starts it in the
background (``tests/conftest.py``), so a fresh checkout compiles on a second core while the
first runs tests. A tiny run per loop is enough: every trace, tier stack, prefetcher and quant
scheme shares the loop's one compiled signature.
"""
from __future__ import annotations

import sys

from kvexp.fast.driver import run
from kvexp.policies.cost_aware import CostAware
from kvexp.policies.lru import LRU
from kvexp.policies.predictive import Predictive
from kvexp.tiers import reference_tiers
from kvexp.workloads.synthetic import zipf

LOOPS = {"cost_aware": CostAware, "calendar": Predictive, "shared": LRU}  # a policy of each loop


def warm(loops: list[str]) -> None:
    """Compile (or load from the cache) each named loop."""
    unknown = [name for name in loops if name not in LOOPS]
    if unknown:
        raise SystemExit(f"kvexp.fast.warm: unknown loop {unknown[0]!r}; expected one of {', '.join(LOOPS)}")
    for name in loops:  # (pages of several sizes: over one size, cost_aware runs on the shared loop)
        run(zipf(n_pages=100, length=100, scalar_jitter=8), reference_tiers(), LOOPS[name]())


if __name__ == "__main__":
    warm(sys.argv[1:] or list(LOOPS))
