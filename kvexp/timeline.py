"""Engine observers for the app: a cumulative timeline of a run and a progress bar.

The engine calls each observer with (accesses done, counters so far) every ``every`` accesses
and at the end; these turn that into a small CSV (how hit rate, latency and traffic evolve
over a run, not only where they end) and, on long runs, a tqdm bar.
"""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import TextIO

from matplotlib.figure import Figure  # no pyplot: nothing interactive, and it loads faster
from tqdm import tqdm

from kvexp.metrics import Counters

COLUMNS = ("accesses", "reads", "hits", "hit_rate", "avg_latency_ms", "bytes_moved", "demand_bytes", "prefetch_bytes")


def observer_every(length: int, points: int) -> int:
    """Accesses between observer calls so that a run of ``length`` yields about ``points`` rows."""
    return max(1, math.ceil(length / max(1, points)))


class Timeline:
    """Collects one row of cumulative figures per observer call."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def __call__(self, done: int, c: Counters) -> None:
        reads = sum(c.served)  # demand reads served so far, cold misses included
        hits = c.served[0]
        moved = c.demand_bytes + c.prefetch_bytes
        self.rows.append((done, reads, hits, hits / reads if reads else 0.0, c.latency_ms / done if done else 0.0,
                          moved, c.demand_bytes, c.prefetch_bytes))

    def write_csv(self, path: Path) -> Path:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            w.writerows(self.rows)
        return path

    def plot(self, path: Path, title: str) -> Path:
        """Cumulative hit rate, average latency and bytes moved against accesses, one panel each."""
        x = [r[0] for r in self.rows]
        fig = Figure(figsize=(6, 6))
        axes = fig.subplots(3, 1, sharex=True)
        for ax, col, label in zip(axes, (3, 4, 5), ("hit rate", "avg latency (ms)", "bytes moved")):
            ax.plot(x, [r[col] for r in self.rows])
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[-1].set_xlabel("accesses")
        axes[0].set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        return path


class ProgressBar:
    """A tqdm bar over the accesses of one run (on stderr, so stdout stays the summary)."""

    def __init__(self, total: int, desc: str, file: TextIO | None = None) -> None:
        self.bar = tqdm(total=total, desc=desc, unit="acc", unit_scale=True, file=file or sys.stderr, leave=False)
        self.done = 0

    def __call__(self, done: int, c: Counters) -> None:
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        self.bar.close()
