"""Where the fast engine's compiled code is cached: one directory per version of its sources,
so a cache left by another version (a pull, an upgrade) is never read, even one that can no
longer be unpickled."""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numba
import pytest

import kvexp.fast.driver
from kvexp.fast import jit, kernel
from kvexp.fast.warm import warm

SMALL_RUN = """
import kvexp.fast
from kvexp.policies.lfu import LFU
from kvexp.tiers import reference_tiers
from kvexp.workloads.synthetic import rag_burst
print(kvexp.fast.run(rag_burst(), reference_tiers(0.5), LFU()).metrics["hits"])
"""


def test_the_loop_caches_under_a_directory_named_for_the_sources():
    path = Path(kernel.run_span._cache._cache_path)
    assert path.name == "kvexp-" + jit.sources_digest()[:16]


def test_an_index_another_version_left_is_not_read(tmp_path):
    """An index that names a class this version lacks, where the loop's index would have gone
    before the per-version directory: numba unpickles an index before it compares stamps, so
    reading it would raise instead of recompiling. The run must not see it."""
    cache = kernel.run_span._cache
    shared = Path(cache._cache_path)  # numba's own place for this package's cache ...
    if shared.name.startswith("kvexp-"):
        shared = shared.parent  # ... holds the per-version directories
    stale = shared / f"{cache._impl.filename_base}.nbi"
    with open(stale, "wb") as f:
        pickle.dump(numba.__version__, f, protocol=-1)  # numba's index: its version, then a pickle
        f.write(b"ckvexp.fast.buckets\nNoSuchClass\n.")  # of (stamp, overloads); here a missing class
    try:
        out = subprocess.run([sys.executable, "-c", SMALL_RUN], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        assert int(out.stdout.split()[-1]) >= 0
    finally:
        stale.unlink()


def test_a_warmed_loop_serves_other_runs_from_the_cache():
    """``python -m kvexp.fast.warm shared`` leaves the shared loop in the cache, and a new process
    running another policy, trace, stack, prefetcher and quant scheme on it loads that entry:
    numba counts a cache hit and no compilation."""
    warmed = subprocess.run([sys.executable, "-m", "kvexp.fast.warm", "shared"], capture_output=True, text=True,
                          timeout=900)
    assert warmed.returncode == 0, warmed.stderr[-2000:]
    probe = SMALL_RUN.replace("from kvexp.policies.lfu import LFU", "from kvexp.policies.lfu import LFU\n"
                              "from kvexp.prefetch.markov import MarkovPrefetch\nfrom kvexp.quant import int4")
    probe = probe.replace("LFU()).metrics", "LFU(), MarkovPrefetch(), int4()).metrics")
    probe += ("from kvexp.fast.kernel import run_span\n"
              "print(sum(run_span.stats.cache_hits.values()), len(run_span.stats.cache_misses))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    hits, misses = map(int, out.stdout.split()[-2:])
    assert hits == 1 and misses == 0


def test_each_warmed_name_runs_its_own_loop(monkeypatch):
    """Each name warms the loop it names: cost_aware's must reach the loop with ladders (over
    pages of one size cost_aware runs as heavy_hitter, on the shared loop)."""
    seen = {}
    real = kvexp.fast.driver.run_span

    def spy(*args):
        seen.setdefault(name, set()).add(str(numba.typeof(args[-2].order)))
        return real(*args)

    monkeypatch.setattr(kvexp.fast.driver, "run_span", spy)
    for name in ("shared", "cost_aware", "calendar"):
        warm([name])
    assert [" Ladders(" in str(seen[name]) for name in ("shared", "cost_aware", "calendar")] == [False, True, False]
    assert [" Calendars(" in str(seen[name]) for name in ("shared", "cost_aware", "calendar")] == [False, False, True]


def test_warming_an_unknown_loop_is_one_line_naming_the_choices():
    with pytest.raises(SystemExit, match=r"unknown loop 'nope'; expected one of cost_aware, calendar, shared"):
        warm(["nope"])
