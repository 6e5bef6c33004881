"""Columnar traces: a page table and a sequence of page accesses, all numpy arrays.

No Python object exists per access or per page; the engine and the policies index these
arrays by integer page id and by trace position.
"""
from __future__ import annotations

import csv
import json
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

READ, WRITE = 0, 1
OPS = {"read": READ, "write": WRITE}
DEFAULT_SCALARS = 2048  # scalars per page when a hand-made trace does not say


class TraceError(ValueError):
    """A trace or page table that breaks the format; the message names the file and row."""


def _integer_column(source: str, name: str, values: object) -> np.ndarray:
    """``values`` as a 1-d int64 array; a fractional or non-numeric entry raises a TraceError
    naming its row (checked before any narrowing cast, so nothing wraps around silently)."""
    col = np.asarray(values)
    if col.ndim != 1:
        raise TraceError(f"{source}: column '{name}' expected one dimension, got shape {col.shape}")
    if col.size and col.dtype.kind not in "iub":
        bad = np.flatnonzero(~np.isfinite(col) | (col != np.round(col))) if col.dtype.kind == "f" else np.arange(1)
        if bad.size:
            raise TraceError(f"{source}: row {bad[0]}: column '{name}' expected an integer, got {col[bad[0]].item()!r}")
    if col.dtype.kind == "u" and col.size and col.max() > np.iinfo(np.int64).max:
        raise TraceError(f"{source}: row {int(col.argmax())}: column '{name}' value {col.max()} too large")
    return col.astype(np.int64)


@dataclass(frozen=True, eq=False)
class PageTable:
    """Per-page metadata, indexed by page id 0..n-1.

    ``n_scalars`` is the number of KV values a page holds; its byte size follows from the
    quantization scheme of a run (``QuantScheme.page_bytes``).
    """

    n_scalars: np.ndarray
    layer: np.ndarray | None = None
    head_group: np.ndarray | None = None
    token_start: np.ndarray | None = None
    token_end: np.ndarray | None = None
    seq_id: np.ndarray | None = None

    COLUMNS = ("n_scalars", "layer", "head_group", "token_start", "token_end", "seq_id")

    def __post_init__(self) -> None:
        n = len(self.n_scalars)
        for name in self.COLUMNS:
            col = getattr(self, name)
            col = np.zeros(n, dtype=np.int64) if col is None else np.asarray(col, dtype=np.int64)
            if col.shape != (n,):
                raise TraceError(f"page table: column '{name}' has {col.shape} entries, expected {n}")
            object.__setattr__(self, name, col)
        bad = np.flatnonzero(self.n_scalars <= 0)
        if bad.size:
            raise TraceError(f"page table: page {bad[0]}: n_scalars expected > 0, got {self.n_scalars[bad[0]]}")

    def __len__(self) -> int:
        return len(self.n_scalars)

    @classmethod
    def uniform(cls, n_pages: int, n_scalars: int = DEFAULT_SCALARS) -> "PageTable":
        return cls(np.full(n_pages, n_scalars, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class Trace:
    """A sequence of page accesses: decode step, page id and op (``READ``/``WRITE``) per row."""

    step: np.ndarray
    page: np.ndarray
    op: np.ndarray
    pages: PageTable
    meta: dict = field(default_factory=dict)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        for name in ("step", "page", "op"):
            object.__setattr__(self, name, _integer_column(self.source, name, getattr(self, name)))
        self.validate()  # on the int64 columns, before narrowing page and op
        object.__setattr__(self, "page", self.page.astype(np.int32))
        object.__setattr__(self, "op", self.op.astype(np.uint8))

    def __len__(self) -> int:
        return len(self.page)

    def validate(self) -> None:
        """Raise ``TraceError`` naming the first offending row."""
        n = len(self.page)
        if self.step.shape != (n,) or self.op.shape != (n,):
            raise TraceError(f"{self.source}: columns step/page/op have different lengths")
        n_pages = len(self.pages)
        bad = np.flatnonzero((self.page < 0) | (self.page >= n_pages))
        if bad.size:
            r = bad[0]
            raise TraceError(f"{self.source}: row {r}: page id {self.page[r]} out of range [0, {n_pages})")
        bad = np.flatnonzero(np.diff(self.step) < 0)
        if bad.size:
            r = bad[0] + 1
            raise TraceError(f"{self.source}: row {r}: step {self.step[r]} goes backwards (previous {self.step[r - 1]})")
        bad = np.flatnonzero((self.op < READ) | (self.op > WRITE))
        if bad.size:
            raise TraceError(f"{self.source}: row {bad[0]}: op code {self.op[bad[0]]} unknown, expected 0 (read) or 1 (write)")

    @cached_property
    def next_use(self) -> np.ndarray:
        """For each position, the position of the same page's next access, or ``len(trace)``."""
        n = len(self.page)
        order = np.argsort(self.page, kind="stable")
        nxt = np.full(n, n, dtype=np.int64)
        same = self.page[order[1:]] == self.page[order[:-1]]
        nxt[order[:-1][same]] = order[1:][same]
        return nxt

    @cached_property
    def first_use(self) -> np.ndarray:
        """For each page id, the position of its first access, or ``len(trace)``."""
        first = np.full(len(self.pages), len(self.page), dtype=np.int64)
        np.minimum.at(first, self.page, np.arange(len(self.page), dtype=np.int64))
        return first

    # ---- files -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write trace and page table to one ``.npz`` file (written to a temp name, then renamed)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        cols = {f"pages_{c}": getattr(self.pages, c) for c in PageTable.COLUMNS}
        np.savez_compressed(tmp, step=self.step, page=self.page, op=self.op, meta=np.array(json.dumps(self.meta)), **cols)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        """Read a trace saved by ``save`` (``.npz``) or a hand-made CSV (``.csv``)."""
        path = Path(path)
        if not path.is_file():
            raise TraceError(f"{path}: trace file not found")
        if path.suffix.lower() == ".csv":
            return cls.from_csv(path)
        if not zipfile.is_zipfile(path):
            raise TraceError(f"{path}: not a kvexp trace, expected a .npz archive written by Trace.save or a .csv")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in ("step", "page", "op", "pages_n_scalars") if k not in z]
                if missing:
                    raise TraceError(f"{path}: not a kvexp trace, missing arrays {missing}")
                pages = PageTable(**{c: z[f"pages_{c}"] for c in PageTable.COLUMNS if f"pages_{c}" in z})
                meta = json.loads(str(z["meta"])) if "meta" in z else {}
                return cls(z["step"], z["page"], z["op"], pages, meta, source=str(path))
        except TraceError as e:
            if str(path) in str(e):
                raise
            raise TraceError(f"{path}: {e}") from None
        except (OSError, ValueError, KeyError) as e:
            raise TraceError(f"{path}: cannot read as a .npz trace ({e})") from None

    @classmethod
    def from_csv(cls, path: str | Path) -> "Trace":
        """A hand-made trace: header ``step,page[,op][,scalars]``; op is read/write (default read).

        ``scalars`` gives a page's size in KV values (default 2048) and must agree between rows.
        Page ids run 0..max(page); ids that never appear get the default size.
        """
        path = Path(path)
        if not path.is_file():
            raise TraceError(f"{path}: trace file not found")
        steps, pages, ops, scalars = [], [], [], {}
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None:
                raise TraceError(f"{path}: file is empty, expected a header 'step,page[,op][,scalars]'")
            header = reader.fieldnames = [h.strip() for h in reader.fieldnames]
            for need in ("step", "page"):
                if need not in header:
                    raise TraceError(f"{path}: line 1: header must name a '{need}' column, got {header}")
            for row in reader:
                line = reader.line_num
                try:
                    step, page = int(row["step"]), int(row["page"])
                except (TypeError, ValueError):
                    raise TraceError(f"{path}: line {line}: step and page must be integers, got {row['step']!r}, {row['page']!r}") from None
                if page < 0:
                    raise TraceError(f"{path}: line {line}: page id {page} must be >= 0")
                if steps and step < steps[-1]:
                    raise TraceError(f"{path}: line {line}: step {step} goes backwards (previous {steps[-1]})")
                op = (row.get("op") or "read").strip().lower()
                if op not in OPS:
                    raise TraceError(f"{path}: line {line}: op {op!r} unknown, expected 'read' or 'write'")
                if row.get("scalars"):
                    try:
                        s = int(row["scalars"])
                    except ValueError:
                        raise TraceError(f"{path}: line {line}: scalars must be an integer, got {row['scalars']!r}") from None
                    if s <= 0:
                        raise TraceError(f"{path}: line {line}: scalars expected > 0, got {s}")
                    if scalars.setdefault(page, s) != s:
                        raise TraceError(f"{path}: line {line}: page {page} has scalars {s}, earlier {scalars[page]}")
                steps.append(step)
                pages.append(page)
                ops.append(OPS[op])
        if not pages:
            raise TraceError(f"{path}: trace has a header but no rows")
        n_scalars = np.full(max(pages) + 1, DEFAULT_SCALARS, dtype=np.int64)
        for page, s in scalars.items():
            n_scalars[page] = s
        return cls(np.asarray(steps), np.asarray(pages), np.asarray(ops), PageTable(n_scalars), source=str(path))
