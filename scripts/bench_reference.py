"""Speed of the Python reference engine: accesses per second, per policy and against residency.

    python scripts/bench_reference.py            # 1M-access Zipf(0.9) over 100k pages, four tiers
    python scripts/bench_reference.py --quick    # a small run (seconds)

Part 1 replays one Zipf trace through the reference four-tier stack (its latencies and
bandwidths) with capacities re-sized to fractions of the distinct pages' bytes, once per
policy with prefetch off, and for lru also with the markov prefetcher. Part 2 times lru per
access with tier 0 sized to hold 1e3, 1e4 and 1e5 pages: one untimed pass over four times that
many pages fills every tier, then uniform reads over them keep the tiers full; a hot path that
never scans resident pages keeps the time per access flat. Every metric is computed in every
run. Times are CPU seconds of this process (steadier than wall time on a shared machine) for
this simulator on this machine; they say nothing about an inference runtime.
"""
from __future__ import annotations

import argparse
import importlib
import time

import numpy as np

from kvexp.engine import Simulation
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.quant import fp16
from kvexp.tiers import Tier, reference_tiers
from kvexp.trace import PageTable, Trace
from kvexp.workloads.synthetic import zipf

POLICIES = {  # module under kvexp.policies -> class
    "lru": "LRU", "fifo": "FIFO", "lfu": "LFU", "heavy_hitter": "HeavyHitter",
    "windowed_recency": "WindowedRecency", "cost_aware": "CostAware", "predictive": "Predictive",
    "regret_aware": "RegretAware", "belady": "Belady",
}


def policy_class(name: str) -> type | None:
    """The policy class, or None when its module is not there (yet)."""
    try:
        module = importlib.import_module(f"kvexp.policies.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"kvexp.policies.{name}":
            raise
        return None
    return getattr(module, POLICIES[name])


def sized_tiers(page_bytes: np.ndarray, fractions: list[float]) -> list[Tier]:
    """The reference stack's costs with capacity k = fractions[k] of ``page_bytes.sum()``."""
    total = int(page_bytes.sum())
    return [Tier(t.name, max(int(total * f), int(page_bytes.max())), t.read_latency_ms, t.write_latency_ms,
                 t.bandwidth_bytes_per_ms) for t, f in zip(reference_tiers(), fractions)]


def timed(trace: Trace, tiers: list[Tier], policy, prefetcher=None, repeat: int = 1) -> tuple[float, dict]:
    """Best CPU time over ``repeat`` runs, and the metrics."""
    best, metrics = float("inf"), {}
    for _ in range(repeat):
        sim = Simulation(tiers, policy, prefetcher)
        start = time.process_time()
        metrics = sim.run(trace).metrics
        best = min(best, time.process_time() - start)
    return best, metrics


def row(cells: list[str], widths: list[int]) -> str:
    return "| " + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([row(header, widths), rule, *(row(r, widths) for r in rows)])


def policy_table(args: argparse.Namespace) -> None:
    trace = zipf(n_pages=args.pages, length=args.length, alpha=args.alpha, seed=args.seed)
    distinct = fp16().page_bytes(trace.pages.n_scalars)[np.unique(trace.page)]  # the engine's default scheme
    tiers = sized_tiers(distinct, args.fractions)
    print(f"Zipf({args.alpha}) trace: {len(trace):,} accesses over {args.pages:,} pages "
          f"({len(distinct):,} distinct, {int(distinct.sum()):,} bytes, seed {args.seed})")
    print("tiers: " + ", ".join(f"{t.name} {t.capacity_bytes:,} B ({f:.0%})" for t, f in zip(tiers, args.fractions)))
    rows, skipped = [], []
    for name in args.policies:
        cls = policy_class(name)
        if cls is None:
            skipped.append(name)
            continue
        runs = [("none", None)] + ([("markov", MarkovPrefetch)] if name == "lru" else [])
        for label, prefetch in runs:
            seconds, m = timed(trace, tiers, cls(), prefetch() if prefetch else None, args.repeat)
            rows.append([name, label, f"{seconds:.2f}", f"{len(trace) / seconds:,.0f}",
                         f"{1e6 * seconds / len(trace):.2f}", f"{m['hit_rate']:.4f}", f"{m['avg_latency_ms']:.4f}"])
    print(table(["policy", "prefetch", "seconds", "accesses/s", "us/access", "hit_rate", "avg_latency_ms"], rows))
    if skipped:
        print(f"skipped (module not present under kvexp.policies): {', '.join(skipped)}")


def residency_table(args: argparse.Namespace) -> None:
    rows = []
    for resident in args.resident:
        n_pages, measured = 4 * resident, args.resident_length
        rng = np.random.default_rng(args.seed)
        # one pass over every page fills all tiers (not timed), then uniform reads keep them full
        pages = np.concatenate([rng.permutation(n_pages), rng.integers(0, n_pages, measured)])
        trace = Trace(np.arange(len(pages)), pages, np.zeros(len(pages)), PageTable.uniform(n_pages))
        page = int(fp16().page_bytes(trace.pages.n_scalars[:1])[0])
        tiers = [Tier(t.name, c * page, t.read_latency_ms, t.write_latency_ms, t.bandwidth_bytes_per_ms)
                 for t, c in zip(reference_tiers(), [resident, resident, 2 * resident, 4 * resident])]
        best = float("inf")
        for _ in range(args.repeat):
            stamps: list[tuple[float, int]] = []  # (time, hits so far) after the warm-up and at the end
            result = Simulation(tiers, policy_class("lru")()).run(
                trace, observers=[lambda done, c: stamps.append((time.process_time(), c.served[0]))], every=n_pages)
            best = min(best, stamps[-1][0] - stamps[0][0])
        hit_rate = (stamps[-1][1] - stamps[0][1]) / measured
        rows.append([f"{resident:,}", f"{n_pages:,}", f"{measured:,}", f"{1e6 * best / measured:.2f}",
                     f"{measured / best:,.0f}", f"{hit_rate:.3f}", f"{result.metrics['peak_bytes_t0'] // page:,}"])
    print("\nlru after a warm-up pass: uniform reads over 4x the tier-0 pages; tiers hold 1x, 1x, 2x, 4x the "
          "tier-0 pages (timed part only; its hit rate)")
    print(table(["tier-0 pages", "pages", "timed accesses", "us/access", "accesses/s", "hit_rate", "peak tier-0 pages"],
                rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run: 100k accesses over 10k pages, 100k timed residency accesses")
    ap.add_argument("--length", type=int, default=1_000_000, help="Zipf trace length (default 1,000,000)")
    ap.add_argument("--pages", type=int, default=100_000, help="Zipf page ids (default 100,000)")
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fractions", type=float, nargs=4, default=[0.01, 0.05, 0.2, 1.0],
                    help="tier capacities as fractions of the distinct pages' bytes (default 0.01 0.05 0.2 1.0)")
    ap.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    ap.add_argument("--resident", type=int, nargs="+", default=None,
                    help="tier-0 sizes in pages for the residency table (default 1000 10000 100000; --quick: 1000 10000)")
    ap.add_argument("--resident-length", type=int, default=1_000_000, help="timed accesses per residency run (after the warm-up pass)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the best time is kept")
    ap.add_argument("--skip-policies", action="store_true", help="only the residency table")
    args = ap.parse_args()
    if args.quick:
        args.length, args.pages, args.resident_length = 100_000, 10_000, 100_000
    if args.resident is None:
        args.resident = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    for name in ("length", "pages", "resident_length", "repeat"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: expected an integer >= 1, got {getattr(args, name)}")
    if min(args.resident) < 1:
        ap.error(f"--resident: expected integers >= 1, got {args.resident}")
    if not args.skip_policies:
        policy_table(args)
    residency_table(args)


if __name__ == "__main__":
    main()
