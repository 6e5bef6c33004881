"""Request-level metrics of a request trace (``kvexp.workloads.jsonl``) from a finished run.

The engine replays blocks one by one and records per row which tier served it
(``Result.served_by``: tier index, -1 cold, -2 write). Here the rows are regrouped by request
(``step``) and priced in tokens, under two hit definitions:

- block semantics: every resident block counts as a hit (``served_by >= 0``, any tier); a
  block resident nowhere is recomputed (when the engine got ``recompute_ms``; otherwise it was
  loaded from the coldest tier, and "recomputed" reads "cold").
- prefix semantics, as vLLM and SGLang serve a prompt: only the leading run of resident blocks
  of each request is reused; from the first non-resident block on, the rest of the prompt is
  prefilled again, resident or not.

The residency simulation is the same for both: the engine still touches (and promotes) the
resident blocks after a miss, so the cache state, hit rates per tier, bytes moved and the
engine's ``transfer_ms`` follow block semantics. Prefix semantics is an accounting overlay on
that run: it reports which tokens a prefix-caching server would recompute
(``prefix_recompute_tokens``) and their prefill time at the model's throughput
(``prefix_recompute_ms`` = tokens / prefill tokens per s); it does not rerun the cache with
those blocks rewritten. ``prefix_lost_tokens`` are resident tokens wasted by that rule.

Tokens of a row are its page's ``token_end - token_start`` (the real tokens a block holds,
fewer than a block for a prompt's partial last block).
"""
from __future__ import annotations

import numpy as np

from kvexp.models import PRESETS, Model, preset, resolve
from kvexp.trace import READ, WRITE, Trace


def row_tokens(trace: Trace) -> np.ndarray:
    """Tokens covered by each row's page."""
    span = trace.pages.token_end - trace.pages.token_start
    return span[trace.page]


def trace_model(trace: Trace) -> Model | None:
    """The model a request trace was read for (preset name and prefill rate in ``meta``)."""
    name = trace.meta.get("model")
    if name not in PRESETS:
        return None
    return preset(name, trace.meta.get("prefill_tokens_per_s"))


def page_recompute_ms(trace: Trace, model: Model | str | None = None) -> np.ndarray:
    """Per page id: time to recompute its tokens, for ``Simulation(recompute_ms=...)``.

    ``model`` defaults to the trace's own (``trace_model``)."""
    mdl = resolve(model) if model is not None else trace_model(trace)
    if mdl is None:
        raise ValueError(f"{trace.source}: no model preset in the trace's meta; pass model=")
    return mdl.recompute_ms(trace.pages.token_end - trace.pages.token_start)


def prefix_hits(trace: Trace, served_by: np.ndarray) -> np.ndarray:
    """Per row: True for a read in the leading run of resident blocks of its request."""
    served_by = np.asarray(served_by)
    if served_by.shape != (len(trace),):
        raise ValueError(f"served_by: expected {len(trace)} entries (one per trace row), got {served_by.shape}")
    out = np.zeros(len(trace), dtype=bool)
    reads = np.flatnonzero(trace.op == READ)
    if reads.size == 0:
        return out
    miss = (served_by[reads] < 0).astype(np.int64)
    seen = np.cumsum(miss)  # misses so far, including this row
    step = trace.step[reads]
    first = np.concatenate(([True], step[1:] != step[:-1]))  # a request's first read
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    before = (seen - miss)[starts]  # misses before each request's first read
    out[reads] = seen - before[group] == 0
    return out


def request_metrics(trace: Trace, served_by: np.ndarray, model: Model | str | None = None) -> dict[str, float]:
    """Per-run request metrics (see the module docstring); time keys need a model.

    ``model`` defaults to ``trace_model(trace)``; without one the ``*_ms`` keys are omitted.
    ``written_blocks`` counts tier-0 writes: recomputed blocks plus output blocks.
    """
    served_by = np.asarray(served_by)
    prefix = prefix_hits(trace, served_by)
    tokens = row_tokens(trace)
    read = trace.op == READ
    write = trace.op == WRITE
    hit = read & (served_by >= 0)
    cold = read & (served_by == -1)
    prompt_tokens = int(tokens[read].sum())
    hit_tokens = int(tokens[hit].sum())
    prefix_tokens = int(tokens[prefix].sum())
    n_reads = int(read.sum())
    requests = trace.meta.get("requests", len(np.unique(trace.step[read])))
    m: dict[str, float] = {
        "requests": int(requests),
        "prompt_blocks": n_reads,
        "prompt_tokens": prompt_tokens,
        "block_hits": int(hit.sum()),
        "block_hit_rate": float(hit.sum() / n_reads) if n_reads else 0.0,
        "block_hit_tokens": hit_tokens,
        "recomputed_blocks": int(cold.sum()),
        "recomputed_tokens": int(tokens[cold].sum()),
        "prefix_hit_blocks": int(prefix.sum()),
        "prefix_hit_tokens": prefix_tokens,
        "prefix_hit_token_fraction": prefix_tokens / prompt_tokens if prompt_tokens else 0.0,
        "prefix_recompute_tokens": prompt_tokens - prefix_tokens,
        "prefix_lost_tokens": hit_tokens - prefix_tokens,
        "output_blocks": int(write.sum()),
        "output_tokens": int(tokens[write].sum()),
        "written_blocks": int(cold.sum() + write.sum()),
    }
    mdl = resolve(model) if model is not None else trace_model(trace)
    if mdl is not None:
        m["block_recompute_ms"] = float(mdl.recompute_ms(m["recomputed_tokens"]))
        m["prefix_recompute_ms"] = float(mdl.recompute_ms(m["prefix_recompute_tokens"]))
    return m
