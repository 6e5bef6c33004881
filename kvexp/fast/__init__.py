"""The fast engine: the reference model compiled with numba for the built-in policies.

``supports(policy, prefetcher)`` says whether a run has a compiled path (only the exact
built-in classes do; a user's own policy, subclasses included, keeps running on
``kvexp.engine``), and ``run(...)`` replays a trace with results identical to
``kvexp.engine.Simulation(...).run(trace)``. Compiled code is cached on disk by numba, so only
the first run on a machine pays for compilation.
"""
from kvexp.fast.driver import run, supports

__all__ = ["run", "supports"]
