"""The page table and trace assembly shared by the synthetic workloads.

Every synthetic workload models the KV cache of ONE long sequence (``seq_id`` 0), cut into
pages of ``tokens_per_page`` tokens for one layer and one head group. Page ids follow storage
order, the way a paged KV cache allocates blocks as the context grows: head group fastest,
then layer, then token block::

    head_group = p % n_head_groups
    layer      = (p // n_head_groups) % n_layers
    block      = p // (n_head_groups * n_layers)     # tokens [block*T, (block+1)*T)

so a page's metadata does not depend on how many pages a trace has, low ids are the oldest
tokens (the prompt prefix), and id p+1 is the page stored right after p.

Parameters are checked here with one-line errors that name the config key (``workload.<name>``),
since a Hydra config is where a bad value comes from.
"""
from __future__ import annotations

import numbers

import numpy as np

from kvexp.trace import READ, PageTable, Trace


def check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]`` (no upper bound when ``hi`` is None), else ValueError."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok and value >= lo and (hi is None or value <= hi)
    if not ok:
        bounds = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"workload.{name}: expected an integer {'in ' if hi is not None else ''}{bounds}, got {value!r}")
    return int(value)


def check_real(name: str, value: object, lo: float, hi: float | None = None) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (no upper bound when ``hi`` is None), else ValueError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and value >= lo and (hi is None or value <= hi)
    if not ok:
        bounds = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"workload.{name}: expected a number {bounds}, got {value!r}")
    return float(value)


def build_page_table(
    n_pages: int,
    rng: np.random.Generator,
    *,
    scalars_per_page: int,
    scalar_jitter: int,
    tokens_per_page: int,
    n_layers: int,
    n_head_groups: int,
) -> PageTable:
    """Pages of ``scalars_per_page`` +- a uniform integer jitter (so byte sizes differ a little
    and size-aware policies have something to weigh), laid out as the module docstring says."""
    scalars_per_page = check_int("scalars_per_page", scalars_per_page, 1)
    scalar_jitter = check_int("scalar_jitter", scalar_jitter, 0, scalars_per_page - 1)
    tokens_per_page = check_int("tokens_per_page", tokens_per_page, 1)
    n_layers = check_int("n_layers", n_layers, 1)
    n_head_groups = check_int("n_head_groups", n_head_groups, 1)
    n_scalars = np.full(n_pages, scalars_per_page, dtype=np.int64)
    if scalar_jitter:
        n_scalars += rng.integers(-scalar_jitter, scalar_jitter + 1, size=n_pages)
    ids = np.arange(n_pages, dtype=np.int64)
    block = ids // (n_head_groups * n_layers)
    return PageTable(
        n_scalars=n_scalars,
        layer=(ids // n_head_groups) % n_layers,
        head_group=ids % n_head_groups,
        token_start=block * tokens_per_page,
        token_end=(block + 1) * tokens_per_page,
        seq_id=np.zeros(n_pages, dtype=np.int64),
    )


def read_trace(name: str, page: np.ndarray, pages: PageTable, params: dict) -> Trace:
    """A read-only trace with one page read per decode step (step = row index).

    One read per step keeps traces comparable across workloads: position and step coincide,
    so windows and horizons measured in accesses are also measured in decode steps.
    """
    page = np.asarray(page, dtype=np.int32)
    step = np.arange(len(page), dtype=np.int64)
    op = np.full(len(page), READ, dtype=np.uint8)
    return Trace(step, page, op, pages, meta={"workload": name, **params}, source=f"<workload {name}>")
