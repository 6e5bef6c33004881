"""The README's validation table: kvexp against libCacheSim on the Mooncake trace.

    python scripts/validate_mooncake.py [path/to/synthetic_trace.jsonl]

Single tier, unit-size blocks (one block per cache entry), block-level hits, cold misses
included; capacities are 1%, 10% and 25% of the distinct blocks, and "inf" holds them all
(the ceiling (reads - distinct) / reads). Prints a markdown table; exits 1 if any kvexp miss
count differs from libCacheSim's. The default path is the shared trace next to the checkout.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from kvexp.crosscheck import validation_table
from kvexp.workloads.jsonl import mooncake

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "traces" / "mooncake" / "synthetic_trace.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace", nargs="?", type=Path, default=DEFAULT)
    args = ap.parse_args()
    if not args.trace.is_file():
        print(f"{args.trace}: trace file not found", file=sys.stderr)
        return 2
    t = time.perf_counter()
    trace = mooncake(args.trace)
    with tempfile.TemporaryDirectory() as tmp:
        table = validation_table(trace, tmp)
    seconds = time.perf_counter() - t
    reads, distinct = int(table.reads[0]), int(table.distinct[0])
    print(f"Mooncake `{args.trace.name}`: {trace.meta['requests']:,} requests, {reads:,} block reads, "
          f"{distinct:,} distinct blocks; single tier, one block per entry, cold misses included.\n")
    print("| capacity | blocks | LRU hit rate | LRU misses (kvexp / libCacheSim) "
          "| Belady hit rate | Belady misses (kvexp / libCacheSim) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    ok = True
    for r in table.itertuples():
        ok &= r.lru_stack == r.lru_engine == r.lru_libcachesim and r.belady_engine == r.belady_libcachesim
        name = "∞ (ceiling)" if r.capacity == "inf" else f"{r.capacity} of distinct"
        print(f"| {name} | {r.blocks:,} | {(reads - r.lru_engine) / reads:.4f} | {r.lru_engine:,} / {r.lru_libcachesim:,} "
              f"| {(reads - r.belady_engine) / reads:.4f} | {r.belady_engine:,} / {r.belady_libcachesim:,} |")
    print(f"\nceiling (reads - distinct) / reads = {(reads - distinct) / reads:.4f}; "
          f"{'all miss counts identical' if ok else 'MISMATCH'}; {seconds:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
