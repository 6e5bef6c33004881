"""A workload that fails on purpose, for the sweep fault tests only (never shipped in conf/).

The tests put this folder on PYTHONPATH of the `python -m kvexp` subprocess and select it with
``workload._target_=fault_injection.flaky_chat``: the job whose seed is ``raise_seed`` raises,
the one whose seed is ``kill_seed`` kills its own process with SIGKILL, as the kernel's
out-of-memory killer would.
"""
from __future__ import annotations

import os
import signal
from typing import Any

from kvexp.trace import Trace
from kvexp.workloads.synthetic import chat_continuation


def flaky_chat(raise_seed: int = -1, kill_seed: int = -1, **params: Any) -> Trace:
    """chat_continuation(**params), except for the two chosen seeds."""
    seed = params.get("seed", 0)
    if seed == kill_seed:
        os.kill(os.getpid(), signal.SIGKILL)
    if seed == raise_seed:
        raise RuntimeError(f"injected failure for seed {seed}")
    return chat_continuation(**params)
