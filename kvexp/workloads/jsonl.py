"""Request traces in JSON Lines (Mooncake FAST'25, Alibaba Bailian "KVCache in the wild") -> Trace.

Each line is one request whose prompt is a list of block hash ids (``hash_ids``); a hash id
names one block of ``tokens_per_block`` tokens, so two requests sharing an id share that block's
KV. The trace replays requests in file order:

- step = request index (0, 1, ... over the requests kept), the same for all of a request's rows;
- one READ row per prompt block, in prompt order; hash ids become dense page ids 0..n-1 in
  first-seen order (an id repeated later is the same page);
- with ``output_blocks``, the decode of each request then WRITEs the blocks its output tokens
  open beyond the prompt's last block: ``ceil((input+output)/B) - len(hash_ids)`` new pages that
  are never read again (output tokens first fill the prompt's partial last block, which is
  already allocated).

Page table: every page is a whole block, ``n_scalars = tokens_per_block x scalars per token``
of the model preset, even the partial last block of a prompt, because serving systems (vLLM,
SGLang, Mooncake) allocate KV memory in whole blocks. ``token_start``/``token_end`` give the
tokens the block really holds within the prompt where the page is first seen (the last block
ends at ``input_length``), so recompute is priced on real tokens; ``seq_id`` is that request's
index; ``layer``/``head_group`` are 0 (a block spans all layers and heads).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from kvexp.models import Model, resolve
from kvexp.trace import READ, WRITE, PageTable, Trace, TraceError
from kvexp.workloads.pagetable import check_int

_ID_TYPES = {int, str}  # exact types: a bool or float hash id is malformed


def _count(record: dict, field: str | None, where: str) -> int:
    """A required non-negative integer field (0 when the field is switched off)."""
    if field is None:
        return 0
    if field not in record:
        raise TraceError(f"{where}: field '{field}' missing")
    value = record[field]
    if type(value) is not int or value < 0:
        raise TraceError(f"{where}: field '{field}' expected an integer >= 0, got {value!r}")
    return value


def _parse(line: str, where: str, ids_field: str, in_field: str, out_field: str | None,
           ts_field: str | None, block: int, check_lengths: bool) -> tuple[list, int, int, float]:
    """One request: (hash ids, input length, output length, timestamp) or TraceError."""
    try:
        record = json.loads(line)
    except ValueError as e:
        raise TraceError(f"{where}: not valid JSON ({e})") from None
    if type(record) is not dict:
        raise TraceError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if ids_field not in record:
        raise TraceError(f"{where}: field '{ids_field}' missing")
    ids = record[ids_field]
    if type(ids) is not list or not set(map(type, ids)) <= _ID_TYPES:
        raise TraceError(f"{where}: field '{ids_field}' expected a list of integers or strings, got {str(ids)[:60]}")
    n_in = _count(record, in_field, where)
    n_out = _count(record, out_field, where)
    if check_lengths and len(ids) != -(-n_in // block):
        raise TraceError(
            f"{where}: len({ids_field}) is {len(ids)}, expected ceil({in_field} / {block}) = {-(-n_in // block)}")
    ts = 0.0
    if ts_field is not None:
        if ts_field not in record:
            raise TraceError(f"{where}: field '{ts_field}' missing")
        ts = record[ts_field]
        if type(ts) not in (int, float) or not math.isfinite(ts):
            raise TraceError(f"{where}: field '{ts_field}' expected a number, got {ts!r}")
    return ids, n_in, n_out, ts


def read_jsonl(
    path: str | Path,
    *,
    tokens_per_block: int,
    model: Model | str = "llama3-8b",
    prefill_tokens_per_s: float | None = None,
    hash_ids_field: str = "hash_ids",
    input_length_field: str = "input_length",
    output_length_field: str | None = "output_length",
    timestamp_field: str | None = "timestamp",
    timestamp_unit_s: float = 1.0,
    check_lengths: bool = True,
    output_blocks: bool = False,
    skip_malformed: bool = False,
    max_requests: int | None = None,
    name: str = "jsonl",
) -> Trace:
    """Read a request trace whose lines carry block hash ids (see the module docstring).

    Field names are configurable (a field set to None is not read; ``output_length_field`` must
    be set for ``output_blocks``). ``check_lengths`` requires ``len(hash_ids) ==
    ceil(input_length / tokens_per_block)``. A malformed line raises ``TraceError`` naming the
    file and line; with ``skip_malformed`` it is skipped instead, counted in
    ``meta['skipped_lines']`` and summarised in one warning. ``max_requests`` keeps the first
    requests only (after skipping). Blank lines are ignored.
    """
    path = Path(path)
    m = resolve(model)
    if prefill_tokens_per_s is not None:
        m = replace(m, prefill_tokens_per_s=prefill_tokens_per_s)
    B = check_int("tokens_per_block", tokens_per_block, 1)
    if max_requests is not None:
        check_int("max_requests", max_requests, 1)
    if output_blocks and output_length_field is None:
        raise ValueError("workload.output_blocks: needs output_length_field, got None")
    if not path.is_file():
        raise TraceError(f"{path}: trace file not found")
    remap: dict = {}  # hash id -> page id
    fresh = 0  # pages opened by output tokens (no hash id); page ids = len(remap) + fresh so far
    rows_page: list[int] = []
    rows_step: list[int] = []
    rows_op: list[int] = []
    starts: list[int] = []   # token_start / token_end per row (kept for a page's first sighting)
    ends: list[int] = []
    skipped, first_error, n_req, t_first, t_last = 0, "", 0, None, None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                ids, n_in, n_out, ts = _parse(line, f"{path}: line {lineno}", hash_ids_field, input_length_field,
                                              output_length_field, timestamp_field, B, check_lengths)
            except TraceError as e:
                if not skip_malformed:
                    raise
                skipped += 1
                first_error = first_error or str(e)
                continue
            k = len(ids)
            rows_page.extend([remap.setdefault(h, len(remap) + fresh) for h in ids])
            rows_step.extend([n_req] * k)
            rows_op.extend([READ] * k)
            starts.extend(range(0, k * B, B))
            ends.extend(range(B, (k + 1) * B, B))
            if k and k == -(-n_in // B):  # the prompt ends inside its last block
                ends[-1] = n_in
            if output_blocks:
                total = n_in + n_out
                for s in range(k * B, total, B):  # blocks opened by output tokens: fresh pages
                    rows_page.append(len(remap) + fresh)
                    fresh += 1
                    rows_step.append(n_req)
                    rows_op.append(WRITE)
                    starts.append(s)
                    ends.append(min(s + B, total))
            t_first = ts if t_first is None else t_first
            t_last = ts
            n_req += 1
            if max_requests is not None and n_req >= max_requests:
                break
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} malformed line(s); first: {first_error}", stacklevel=2)
    if not rows_page:
        raise TraceError(f"{path}: no prompt blocks read ({n_req} requests kept, {skipped} lines skipped)")
    page = np.asarray(rows_page, dtype=np.int64)
    # dense first-seen ids: a row holds a page's first sighting iff its id exceeds all before it
    first = np.flatnonzero(page > np.concatenate(([-1], np.maximum.accumulate(page)[:-1])))
    n_pages = len(first)
    pages = PageTable(
        n_scalars=np.full(n_pages, m.block_scalars(B), dtype=np.int64),
        token_start=np.asarray(starts, dtype=np.int64)[first],
        token_end=np.asarray(ends, dtype=np.int64)[first],
        seq_id=np.asarray(rows_step, dtype=np.int64)[first],
    )
    meta = {
        "workload": name, "path": path.name, "model": m.name,
        "prefill_tokens_per_s": m.prefill_tokens_per_s, "tokens_per_block": B,
        "requests": n_req, "skipped_lines": skipped, "output_blocks": bool(output_blocks),
        "duration_s": float((t_last - t_first) * timestamp_unit_s) if n_req else 0.0,
    }
    return Trace(np.asarray(rows_step), page, np.asarray(rows_op), pages, meta, source=str(path))


def mooncake(
    path: str | Path,
    model: Model | str = "llama3-8b",
    prefill_tokens_per_s: float | None = None,
    *,
    output_blocks: bool = False,
    skip_malformed: bool = False,
    max_requests: int | None = None,
) -> Trace:
    """Mooncake FAST'25 traces: ``timestamp`` (ms), ``input_length``, ``output_length``,
    ``hash_ids`` of 512-token blocks chained by prefix; ``len(hash_ids) == ceil(input/512)``."""
    return read_jsonl(
        path, tokens_per_block=512, model=model, prefill_tokens_per_s=prefill_tokens_per_s,
        timestamp_unit_s=1e-3, check_lengths=True, output_blocks=output_blocks,
        skip_malformed=skip_malformed, max_requests=max_requests, name="mooncake",
    )


def bailian(
    path: str | Path,
    model: Model | str = "llama3-8b",
    prefill_tokens_per_s: float | None = None,
    *,
    output_blocks: bool = False,
    skip_malformed: bool = False,
    max_requests: int | None = None,
    check_lengths: bool = False,
) -> Trace:
    """Alibaba Bailian "KVCache in the wild" traces: ``chat_id``, ``parent_chat_id``, ``timestamp``
    (s), ``input_length``, ``output_length``, ``type``, ``turn``, ``hash_ids`` of 16-token blocks.

    Its blocks are hashed one by one (not chained), so one id may recur at other positions; the
    upstream README does not promise ``len(hash_ids) == ceil(input/16)``, hence no length check by
    default. Session fields (chat ids, turn, type) are not needed for replay and are not read.
    """
    return read_jsonl(
        path, tokens_per_block=16, model=model, prefill_tokens_per_s=prefill_tokens_per_s,
        timestamp_unit_s=1.0, check_lengths=check_lengths, output_blocks=output_blocks,
        skip_malformed=skip_malformed, max_requests=max_requests, name="bailian",
    )
