"""Paired runs: is one checkout's fast engine faster than another's, on one benchmark case?

    git worktree add --detach ../kvexp-before HEAD~1
    python scripts/bench_paired.py ../kvexp-before . --policy belady --resident 1000000
    python scripts/bench_paired.py ../kvexp-before . --policy lfu --prefetch stride     # 4 tiers
    python scripts/bench_paired.py ../kvexp-before . --policy windowed_recency --param window_size=16384

This shared machine's speed drifts by up to 2x in spells of minutes, so two benchmark runs minutes
apart cannot show a 5% change. Here two worker processes, one per checkout (each imports kvexp
from its own tree and keeps its own compiled-code cache), run the same case in turns, ABBA, and
each pair's ratio (time after / time before) is taken from two runs seconds apart; the median
and quartiles of the ratios are printed. The first run in each worker (it may compile) is not
timed. Cases are ``scripts/bench_engine.py``'s: the 1M-access Zipf trace on four tiers, or, with
``--resident R``, one tier of R pages read uniformly over 2R pages after a fill pass (its whole
run timed; with ``--steady`` too, the time of its fill pass alone is taken off each run, as in
the scaling table, so the ratio is of steady-state time). Both workers must give the same miss
count, or the script stops.
Times are CPU seconds of the simulator, not of any serving system.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_engine import POLICIES, PREFETCH, four_tiers, uniform_case

import kvexp
import kvexp.fast
from kvexp.workloads.synthetic import zipf

CASE_ARGS = ("policy", "prefetch", "resident")


def policy_params(pairs: list[str]) -> dict[str, float]:
    """``--param NAME=VALUE`` options as the policy's keyword arguments (an int where the value
    reads as one, else a float), e.g. ``window_size=16384``."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            params[name] = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            sep = ""
        if not (sep and name):
            raise SystemExit(f"bench_paired: --param {pair!r}: expected NAME=NUMBER, e.g. window_size=16384")
    return params
SCALE_LENGTH = 2_000_000  # bench_engine.py's --scale-length default


def build_case(policy: str, prefetch: str, resident: int):
    """The trace, tiers, policy class and prefetcher class of one case, and the trace's fill
    pass alone (None for the 4-tier case)."""
    if resident <= 0:
        trace = zipf(n_pages=100_000, length=1_000_000, seed=42, scalar_jitter=64)
        return trace, four_tiers(trace, 0.10), POLICIES[policy], PREFETCH[prefetch], None
    whole, head, tiers = uniform_case(resident, SCALE_LENGTH)
    return whole, tiers, POLICIES[policy], PREFETCH[prefetch], head


def worker(args: argparse.Namespace) -> None:
    """Time one run per line read from stdin; print ``seconds misses``. (A worker imports kvexp
    from its checkout: the parent puts that first on ``PYTHONPATH``.)"""
    trace, tiers, make_policy, prefetcher, head = build_case(args.policy, args.prefetch, args.resident)
    params = policy_params(args.param)

    def policy():
        return make_policy(**params)

    def timed(tr) -> tuple[float, int]:
        start = time.process_time()
        misses = kvexp.fast.run(tr, tiers, policy(), prefetcher()).metrics["misses"]
        return time.process_time() - start, misses

    def once() -> tuple[float, int]:
        seconds, misses = timed(trace)
        return (seconds - timed(head)[0] if args.steady else seconds), misses

    once()  # compiles or loads the loop
    print(f"ready {Path(kvexp.__file__).resolve().parent.parent}", flush=True)
    for _ in sys.stdin:
        seconds, misses = once()
        print(f"{seconds:.6f} {misses}", flush=True)


class Worker:
    """A worker process importing kvexp from ``tree``."""

    def __init__(self, tree: Path, args: argparse.Namespace) -> None:
        cmd = [sys.executable, __file__, "--worker", str(tree), str(tree)]
        cmd += [f"--{a}={getattr(args, a)}" for a in CASE_ARGS] + (["--steady"] if args.steady else [])
        cmd += [f"--param={pair}" for pair in args.param]
        path = [str(tree), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        self.proc = subprocess.Popen(cmd, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit(f"bench_paired: the worker for {tree} did not start (see its error above)")
        if Path(line[1]) != tree.resolve():
            raise SystemExit(f"bench_paired: the worker for {tree} imported kvexp from {line[1]}")

    def run(self) -> tuple[float, int]:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        seconds, misses = self.proc.stdout.readline().split()
        return float(seconds), int(misses)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path, help="checkout timed as the reference (ratio denominator)")
    ap.add_argument("after", type=Path, help="checkout timed against it")
    ap.add_argument("--policy", default="lru", help="one of scripts/bench_engine.py's policies")
    ap.add_argument("--prefetch", default="none", choices=["none", "markov", "stride"])
    ap.add_argument("--resident", type=int, default=0, help="one tier of this many pages (default: 4 tiers)")
    ap.add_argument("--steady", action="store_true", help="with --resident: take the fill pass's time off each run")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a policy parameter, e.g. window_size=16384 (repeatable)")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    policy_params(args.param)  # (a bad one stops here, not in the workers)
    if args.steady and args.resident <= 0:
        raise SystemExit("bench_paired: --steady needs --resident (the 4-tier case has no fill pass)")
    for tree in (args.before, args.after):
        if not (tree / "kvexp" / "fast").is_dir():
            raise SystemExit(f"bench_paired: {tree} is not a kvexp checkout (no kvexp/fast)")
    before, after = Worker(args.before, args), Worker(args.after, args)
    ratios, t_before, t_after = [], [], []
    try:
        for i in range(args.pairs):
            first, second = (before, after) if i % 2 == 0 else (after, before)
            got = {id(first): first.run(), id(second): second.run()}
            (b, mb), (a, ma) = got[id(before)], got[id(after)]
            if ma != mb:
                raise SystemExit(f"bench_paired: the checkouts' results differ ({mb:,} and {ma:,} misses)")
            ratios.append(a / b)
            t_before.append(b)
            t_after.append(a)
    finally:
        before.close()
        after.close()
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    case = f"{args.policy}{''.join(f' {p}' for p in args.param)}, " + (f"1 tier of {args.resident:,} pages" if args.resident > 0 else "4 tiers")
    case += ", steady state" if args.steady else ""
    print(f"{case}, prefetch {args.prefetch}: after / before, median of {args.pairs} pairs "
          f"{statistics.median(ratios):.3f} (quartiles {q1:.3f} to {q3:.3f}); "
          f"best run {min(t_before):.3f} s before, {min(t_after):.3f} s after")


if __name__ == "__main__":
    main()
