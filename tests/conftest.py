"""Session set-up: compile the fast engine's loops in the background while the suite runs.

On a fresh checkout numba's cache is empty, and the three compiled loops (about two minutes
each) would be paid one after another on one core by the first tests that need them. When the
session includes such tests, one subprocess compiles them (``kvexp.fast.warm``) on the other
core meanwhile. Nothing waits for it: a test that reaches a loop first compiles it itself
(numba writes its cache files whole), so no result depends on the warm-up, only the wall time.
On a warm cache the subprocess only loads the loops, in about a second.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

COMPILING = {"test_determinism.py", "test_fast_engine.py"}  # modules whose tests run every loop
_WARMER = pytest.StashKey[subprocess.Popen]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.path.name in COMPILING for item in session.items):
        session.config.stash[_WARMER] = subprocess.Popen(
            [sys.executable, "-m", "kvexp.fast.warm"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pytest_sessionfinish(session: pytest.Session) -> None:
    warmer = session.config.stash.get(_WARMER, None)
    if warmer is not None and warmer.poll() is None:  # a short session: stop it, do not wait
        warmer.terminate()
        warmer.wait()

