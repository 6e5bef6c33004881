"""Print the numbers behind the README's findings table from the two sweeps in an MLflow store.

    python -m kvexp -m +experiment=default_sweep
    python -m kvexp -m +experiment=regret_ablation
    python scripts/findings.py [--uri URI] [--experiment kvexp]

Reads the runs the way ``python -m kvexp.report`` does (latest ended parent of each sweep, mean
and sample std across seeds) and prints, for each claim of the reference design, the figures
that decide it. Simulator figures on synthetic traces, not runtime measurements.
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from kvexp.report import ReportError, label_runs, load_sweep, summarize

POLICIES = ("lru", "windowed_recency", "heavy_hitter", "cost_aware", "predictive", "regret_aware")


def table(sweep: str, uri: str | None, experiment: str) -> pd.DataFrame:
    _, runs = load_sweep(sweep, uri, experiment)
    return summarize(label_runs(runs)).set_index(["scenario", "workload", "variant"])


def pm(row: pd.Series, metric: str, fmt: str = ".3f") -> str:
    """'mean ± std (n)' for one summary row."""
    std = row[f"{metric}_std"]
    spread = f" ± {std:{fmt}}" if pd.notna(std) else ""
    return f"{row[f'{metric}_mean']:{fmt}}{spread}"


def change(new: float, old: float) -> str:
    return f"{100.0 * (new - old) / old:+.1f}%" if old else "n/a"


def default_sweep(s: pd.DataFrame) -> None:
    print("## default_sweep (seeds: %s)" % s["seeds"].iloc[0])
    lru, reg = s.loc[("small_fp16_prefetch", "rag_burst", "lru")], s.loc[("small_fp16_prefetch", "rag_burst", "regret_aware")]
    print("(a) small_fp16_prefetch / rag_burst")
    for name, row in (("lru", lru), ("regret_aware", reg)):
        print(f"    {name:13s} misses {pm(row, 'misses', '.1f')}  bytes {pm(row, 'bytes_moved', ',.0f')}  "
              f"hit {pm(row, 'hit_rate')}  latency {pm(row, 'avg_latency_ms', '.3f')} ms")
    print(f"    regret_aware vs lru: misses {change(reg['misses_mean'], lru['misses_mean'])}, "
          f"bytes {change(reg['bytes_moved_mean'], lru['bytes_moved_mean'])}, "
          f"latency {change(reg['avg_latency_ms_mean'], lru['avg_latency_ms_mean'])}")

    print("(b) rag_burst, 1/2 capacity, no prefetch: fp16 -> int4")
    fp16 = s.loc[("small_fp16_no_prefetch", "rag_burst")]
    int4 = s.loc[("small_int4_no_prefetch", "rag_burst")]
    for policy in POLICIES:
        a, b = fp16.loc[policy], int4.loc[policy]
        print(f"    {policy:16s} hit {pm(a, 'hit_rate')} -> {pm(b, 'hit_rate')}   "
              f"bytes {pm(a, 'bytes_moved', ',.0f')} -> {pm(b, 'bytes_moved', ',.0f')} "
              f"({change(b['bytes_moved_mean'], a['bytes_moved_mean'])})")
    a, b = (t.loc[list(POLICIES)].mean(numeric_only=True) for t in (fp16, int4))
    print(f"    mean of the six  hit {a['hit_rate_mean']:.3f} -> {b['hit_rate_mean']:.3f}   bytes "
          f"{a['bytes_moved_mean']:,.0f} -> {b['bytes_moved_mean']:,.0f} ({change(b['bytes_moved_mean'], a['bytes_moved_mean'])})")

    print("(c) small_fp16_prefetch / prefetch_friendly (markov prefetch on)")
    cell = s.loc[("small_fp16_prefetch", "prefetch_friendly")]
    for policy in POLICIES:
        row = cell.loc[policy]
        print(f"    {policy:16s} misses {pm(row, 'misses', '.1f')}  latency {pm(row, 'avg_latency_ms')} ms  "
              f"bytes {pm(row, 'bytes_moved', ',.0f')}  prefetch bytes {row['prefetch_bytes_mean']:,.0f}  "
              f"usefulness {pm(row, 'prefetch_usefulness')}")
    pred, lru, cost = cell.loc["predictive"], cell.loc["lru"], cell.loc["cost_aware"]
    print(f"    predictive vs lru misses {change(pred['misses_mean'], lru['misses_mean'])}; "
          f"predictive vs cost_aware latency {change(pred['avg_latency_ms_mean'], cost['avg_latency_ms_mean'])}")
    print("    every scenario with prefetch, predictive vs lru misses / vs cost_aware latency:")
    for scenario in ("small_fp16_prefetch", "base_fp8_prefetch", "constrained_fp16_prefetch"):
        c = s.loc[(scenario, "prefetch_friendly")]
        print(f"      {scenario:26s} {change(c.loc['predictive', 'misses_mean'], c.loc['lru', 'misses_mean'])} / "
              f"{change(c.loc['predictive', 'avg_latency_ms_mean'], c.loc['cost_aware', 'avg_latency_ms_mean'])}")

    print("(d) periodic_reuse, regret_aware vs lru in every scenario")
    for scenario in dict.fromkeys(s.index.get_level_values("scenario")):
        c = s.loc[(scenario, "periodic_reuse")]
        print(f"    {scenario:26s} misses lru {pm(c.loc['lru'], 'misses', '.1f')} regret {pm(c.loc['regret_aware'], 'misses', '.1f')}"
              f"  latency lru {c.loc['lru', 'avg_latency_ms_mean']:.4f} regret {c.loc['regret_aware', 'avg_latency_ms_mean']:.4f}")


def ablation(s: pd.DataFrame) -> None:
    print("## regret_ablation (seeds: %s)" % s["seeds"].iloc[0])
    for scenario in ("constrained", "medium"):
        c = s.loc[(scenario, "adversarial_burst")]
        lru = c.loc["lru"]
        regret = c[c["policy"] == "regret_aware"]
        best = regret["avg_latency_ms_mean"].idxmin()
        least = regret["bytes_moved_mean"].idxmin()
        print(f"(e) {scenario} / adversarial_burst: lru latency {pm(lru, 'avg_latency_ms')} ms, hit {pm(lru, 'hit_rate')}, "
              f"bytes {pm(lru, 'bytes_moved', ',.0f')}")
        print(f"    cost_aware latency {pm(c.loc['cost_aware'], 'avg_latency_ms')} ms, hit {pm(c.loc['cost_aware'], 'hit_rate')}")
        print(f"    lowest latency: {best} {pm(c.loc[best], 'avg_latency_ms')} ms ({change(c.loc[best, 'avg_latency_ms_mean'], lru['avg_latency_ms_mean'])}), "
              f"bytes {change(c.loc[best, 'bytes_moved_mean'], lru['bytes_moved_mean'])}")
        print(f"    fewest bytes: {least} {change(c.loc[least, 'bytes_moved_mean'], lru['bytes_moved_mean'])} vs lru")
        print("    latency by weight x horizon (mean ms):")
        grid = regret.pivot_table(index="policy.regret_weight", columns="policy.regret_horizon", values="avg_latency_ms_mean")
        print("      " + grid.round(3).to_string().replace("\n", "\n      "))
    print("(f) chat_continuation hit rate by weight (horizon 24) and baselines")
    for scenario in ("constrained", "medium"):
        c = s.loc[(scenario, "chat_continuation")]
        ws = c[(c["policy"] == "regret_aware") & (c["policy.regret_horizon"] == 24)]
        parts = [f"w={row['policy.regret_weight']:g} {pm(row, 'hit_rate')}" for _, row in ws.iterrows()]
        print(f"    {scenario:12s} lru {pm(c.loc['lru'], 'hit_rate')}  cost_aware {pm(c.loc['cost_aware'], 'hit_rate')}  " + "  ".join(parts))
    print("(g) periodic_reuse: regret_aware variants vs lru")
    for scenario in ("constrained", "medium"):
        c = s.loc[(scenario, "periodic_reuse")]
        regret = c[c["policy"] == "regret_aware"]
        lru = c.loc["lru"]
        spread = {m: (regret[f"{m}_mean"] - lru[f"{m}_mean"]).abs().max() for m in ("misses", "hit_rate", "avg_latency_ms", "bytes_moved")}
        print(f"    {scenario:12s} lru misses {pm(lru, 'misses', '.1f')} hit {pm(lru, 'hit_rate')} latency {pm(lru, 'avg_latency_ms', '.4f')}; "
              f"largest |regret - lru|: " + ", ".join(f"{m} {v:.3g}" for m, v in spread.items()))
        print(f"    {'':12s} cost_aware misses {pm(c.loc['cost_aware'], 'misses', '.1f')} hit {pm(c.loc['cost_aware'], 'hit_rate')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uri", help="tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db)")
    ap.add_argument("--experiment", default="kvexp")
    args = ap.parse_args()
    try:
        default, abl = table("default_sweep", args.uri, args.experiment), table("regret_ablation", args.uri, args.experiment)
    except ReportError as e:
        print(f"findings: error: {e}", file=sys.stderr)
        return 2
    print("Simulator figures on synthetic traces: mean ± sample std over seeds.\n")
    default_sweep(default)
    print()
    ablation(abl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
