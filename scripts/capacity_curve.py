"""Hit rate against tier-0 capacity for a set of policies, with Belady as the bound.

    python scripts/capacity_curve.py ../shared/traces/mooncake/synthetic_trace.jsonl \
        --format mooncake --policies lru fifo belady --out outputs/curve

Writes <out>/curve.csv (policy, capacity, hit_rate, misses, reads, method) and curve.png; with
--tier1-fractions also grid.csv for a two-tier hierarchy (tier-0 x tier-1 capacities). The curve
is logged to MLflow as a sweep (tag kvexp.sweep=capacity_curve: a parent with the files, a child
per policy with hit_rate per capacity as the metric's step) in the app's default store
(./mlflow.db) unless --uri names another or --no-track is given.
Capacities are fractions of the distinct blocks; blocks are unit size, hits are block-level
tier-0 hits, cold misses included. lru comes from one stack-distance pass (--simulate-lru
runs the engine per capacity instead). A policy is a name under conf/policy/ (its _target_
and parameters) or an import path such as kvexp.policies.lfu.LFU.
"""
from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import get_object
from omegaconf import OmegaConf

from kvexp import tracking
from kvexp.curves import capacity_curve, lru_grid, plot_curves, simulated_grid
from kvexp.policies.lru import LRU
from kvexp.trace import Trace
from kvexp.workloads.jsonl import bailian, mooncake

POLICY_CONF = Path(__file__).resolve().parents[1] / "conf" / "policy"
READERS = {"mooncake": mooncake, "bailian": bailian}


def policy_factory(spec: str):
    """A zero-argument policy factory from a conf/policy name or an import path."""
    if "." in spec:
        return get_object(spec)
    path = POLICY_CONF / f"{spec}.yaml"
    if not path.is_file():
        raise SystemExit(f"--policies: no {path.name} under conf/policy and not an import path: {spec!r}")
    node = OmegaConf.to_container(OmegaConf.load(path))
    cls = get_object(node.pop("_target_"))
    return functools.partial(cls, **node) if node else cls


def load(args: argparse.Namespace) -> Trace:
    if args.format == "kvexp":
        return Trace.load(args.trace)
    return READERS[args.format](args.trace, output_blocks=args.output_blocks, max_requests=args.max_requests)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace", help="a request trace (.jsonl) or a kvexp trace (.npz/.csv)")
    ap.add_argument("--format", choices=["mooncake", "bailian", "kvexp"], default="mooncake")
    ap.add_argument("--policies", nargs="+", default=["lru", "fifo", "belady"])
    ap.add_argument("--fractions", nargs="+", type=float,
                    default=[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0],
                    help="tier-0 capacities as fractions of the distinct blocks")
    ap.add_argument("--tier1-fractions", nargs="*", type=float, default=[],
                    help="also sweep a two-tier grid with these tier-1 capacities")
    ap.add_argument("--output-blocks", action="store_true", help="output tokens write new blocks")
    ap.add_argument("--max-requests", type=int, default=None)
    ap.add_argument("--simulate-lru", action="store_true", help="run the engine for lru too")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--uri", default=None, help="MLflow tracking URI (default: the app's, ./mlflow.db)")
    ap.add_argument("--experiment", default="kvexp")
    ap.add_argument("--no-track", action="store_true", help="do not log the curve to MLflow")
    args = ap.parse_args()

    trace = load(args)
    distinct = len(np.unique(trace.page))
    caps = sorted({max(1, round(f * distinct)) for f in args.fractions})
    policies = {spec.rsplit(".", 1)[-1].lower(): policy_factory(spec) for spec in args.policies}
    args.out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    curve = capacity_curve(trace, caps, policies, lru_one_pass=not args.simulate_lru)
    seconds = time.perf_counter() - t
    curve.insert(2, "capacity_frac", curve["capacity"] / distinct)
    curve.to_csv(args.out / "curve.csv", index=False)
    plot_curves(curve, args.out / "curve.png", f"{Path(args.trace).name}: {len(trace)} accesses, {distinct} blocks")
    print(curve.pivot(index="capacity", columns="policy", values="hit_rate").round(4).to_string())
    print(f"\n{len(caps)} capacities x {len(policies)} policies in {seconds:.2f} s -> {args.out}/curve.csv, curve.png")
    if args.tier1_fractions:
        caps1 = sorted({max(1, round(f * distinct)) for f in args.tier1_fractions})
        engine = {k: v for k, v in policies.items() if v is not LRU or args.simulate_lru}
        frames = [simulated_grid(trace, caps, caps1, engine)] if engine else []
        if len(engine) < len(policies):
            frames.append(lru_grid(trace, caps, caps1))
        grid = pd.concat(frames, ignore_index=True)
        grid.to_csv(args.out / "grid.csv", index=False)
        print(f"two-tier grid: {len(grid)} rows -> {args.out}/grid.csv")
    if not args.no_track:
        uri = tracking.resolve_uri(args.uri, Path.cwd())
        files = [args.out / "curve.csv", args.out / "curve.png"] + ([args.out / "grid.csv"] if args.tier1_fractions else [])
        params = {"trace": Path(args.trace).name, "format": args.format, "policies": " ".join(args.policies),
                  "fractions": " ".join(map(str, args.fractions)), "distinct_blocks": distinct, "accesses": len(trace)}
        parent = tracking.record_curve(uri, args.experiment, curve, params, files)
        print(f"mlflow: sweep capacity_curve, parent run {parent} in {uri}")


if __name__ == "__main__":
    main()
