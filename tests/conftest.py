"""Session set-up: compile the fast engine's loops in the background while the suite runs.

On a fresh checkout numba's cache is empty, and the three compiled loops (about two minutes
each) would be paid one after another on one core by the first tests that need them. When the
session includes such tests, one subprocess compiles them (``kvexp.fast.warm``) on the other
core meanwhile, and the modules that run the loops go last, so the other modules' tests (about
half the suite's time, on one core) hide the compiling. In such a session those modules' tests
then wait for it to finish (a loop compiled by both processes at once would cost the time twice),
at most ``WARM_WAIT`` seconds: past that, if it failed, or in a session of those modules alone, a
test that reaches a loop compiles it itself (numba writes its cache files whole). So no result
depends on the warm-up or the order, only the wall time. On a warm cache the subprocess only
loads the loops, in about a second.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

# modules whose tests run the compiled loops, in the order they run last (test_determinism's first
# policies: belady, on the shared loop, then cost_aware's, then predictive's calendar loop)
COMPILING = ("test_determinism.py", "test_fast_engine.py", "test_properties.py")
WARM_ORDER = ("shared", "cost_aware", "calendar")
WARM_WAIT = 600.0
_WARMER = pytest.StashKey[subprocess.Popen]()
_AWAITED = pytest.StashKey[subprocess.Popen]()  # the warm-up, while the next loop-running module should wait


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the loop-running modules to the end, in ``COMPILING`` order (a stable sort: each
    module's tests keep theirs)."""
    items.sort(key=lambda item: COMPILING.index(item.path.name) + 1 if item.path.name in COMPILING else 0)


def pytest_collection_finish(session: pytest.Session) -> None:
    late = [item.path.name in COMPILING for item in session.items]
    if any(late):
        warmer = subprocess.Popen([sys.executable, "-m", "kvexp.fast.warm", *WARM_ORDER],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        session.config.stash[_WARMER] = warmer
        if not all(late):  # other tests run first: the warm-up has a head start worth waiting for
            session.config.stash[_AWAITED] = warmer


@pytest.fixture(scope="module", autouse=True)
def _loops_warmed(request: pytest.FixtureRequest) -> None:
    """Before a loop-running module (and its own fixtures): wait for the warm-up, once a session."""
    warmer = request.config.stash.get(_AWAITED, None)
    if warmer is not None and request.node.path.name in COMPILING:
        del request.config.stash[_AWAITED]
        try:
            warmer.wait(timeout=WARM_WAIT)
        except subprocess.TimeoutExpired:  # stuck: stop it, and let the tests compile
            warmer.terminate()
            warmer.wait()


def pytest_sessionfinish(session: pytest.Session) -> None:
    warmer = session.config.stash.get(_WARMER, None)
    if warmer is not None and warmer.poll() is None:  # a short session: stop it, do not wait
        warmer.terminate()
        warmer.wait()

