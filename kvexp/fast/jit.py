"""The compile settings every fast-engine kernel uses, and how their disk cache is keyed.

``cache=True`` writes machine code next to the sources (``__pycache__``), so only the first
run on a machine compiles. ``_nrt=False`` compiles without numba's reference-counting
runtime: the kernels only index arrays that Python allocated and keeps alive for the whole
call, and with the runtime on, every call between kernels increments and decrements the
count of each state array it is handed (measured at about 1 us per hook call, 100x the work
itself). For the same reason the per-access hooks are inlined into the loop (``hot``): a
numba call passes every array of a state tuple as seven separate values. The numpy error
model skips zero-division checks; no divisor can be zero (tier bandwidths are positive, the
trace length is at least 1, gaps divide by hist - 1 >= 1).

numba checks a cached function against its own source file only, but the loop inlines code
from every module here; so the cache of a kernel in this package is stamped with all of the
package's sources, and editing or upgrading any of them recompiles instead of loading stale
machine code. Each version of the sources also caches into a directory of its own: numba
unpickles a cache's index before it compares stamps, and an index written by another version
may name a class this one no longer has (it would fail to load, not miss).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from numba import njit
from numba.core import caching
from numba.core.errors import NumbaIRAssumptionWarning

HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def sources_digest() -> str:
    """SHA-256 over this package's source files (names and contents)."""
    h = hashlib.sha256()
    for path in sorted(HERE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class _WholePackageStamp:
    """Locator mixin: applies to functions defined in this package, stamped with all its sources."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != HERE:
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return sources_digest()

    def get_cache_path(self):
        return os.path.join(super().get_cache_path(), "kvexp-" + sources_digest()[:16])


def _stamp_whole_package() -> None:
    """Put a whole-package-stamped variant before each of numba's file-backed cache locators."""
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    backed = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    if impl is None or backed is None or any(c.__name__.startswith("KvexpFast") for c in impl._locator_classes):
        return  # unknown numba layout (default per-file stamps), or already done
    ours = [type(f"KvexpFast{c.__name__}", (_WholePackageStamp, c), {}) for c in impl._locator_classes
            if issubclass(c, backed) and c.get_source_stamp is backed.get_source_stamp]
    impl._locator_classes = ours + list(impl._locator_classes)


_stamp_whole_package()

kernel = njit(cache=True, _nrt=False, error_model="numpy")
hot = njit(cache=True, _nrt=False, error_model="numpy", inline="always")


@contextlib.contextmanager
def quiet_compile() -> Iterator[None]:
    """Silence numba's pedantic SSA check while the loop may compile: it reports the loop-carried
    variables of ladder code that an overload inlines (``kvexp.fast.order._three_kinds``) as "not in
    scope", a known false alarm of that check (the differential tests hold the results equal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaIRAssumptionWarning)
        yield
