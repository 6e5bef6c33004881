"""The fast engine: the reference model compiled with numba for the built-in policies.

``supports(policy, prefetcher)`` says whether a run has a compiled path (only the exact
built-in classes do; a user's own policy, subclasses included, keeps running on
``kvexp.engine``), and ``run(...)`` replays a trace like ``kvexp.engine.Simulation(...).run``
with identical results: the same counters, metrics (floats to the last bit) and ``served_by``,
which ``tests/test_fast_engine.py`` checks case by case against the reference. Compiled code is
cached on disk, so only the first run on a machine pays for compilation.

Modules: ``driver`` (the API), ``build`` (state from the Python objects), ``kernel`` (the access
loop), ``policies`` with ``queues`` / ``buckets`` and ``bucket_arrays`` / ``bits`` / ``order`` /
``heap`` / ``ladder`` and ``ladder_arrays`` / ``calendar_queue`` / ``rows`` (eviction orders and
per-page state), ``window`` (windowed_recency's window and overflow heap), ``prefetch`` (stride, markov),
``nextuse`` (Belady's future, chunked), ``memhint`` (CPU prefetch hints), ``jit`` (compile
settings and cache keying), ``warm`` (compiling the loops ahead of use).
"""
from kvexp.fast.driver import run, supports

__all__ = ["run", "supports"]
