"""Where the fast engine's compiled code is cached: one directory per version of its sources,
so a cache left by another version (a pull, an upgrade) is never read, even one that can no
longer be unpickled."""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numba

from kvexp.fast import jit, kernel

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
