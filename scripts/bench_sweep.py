"""Time the full regret ablation (198 runs) as users run it, tracking on, into a fresh store.

    python scripts/bench_sweep.py [--n-jobs 2] [--keep DIR] [extra Hydra overrides...]

Runs ``python -m kvexp -m +experiment=regret_ablation`` in a temporary folder with its own SQLite
store, then reads the store back to check every run landed (198 FINISHED children under one
FINISHED parent) and prints the wall time and runs per second. Wall time
covers everything a user waits for: interpreter and library start-up, creating the database,
Hydra composing each job, the simulations, and MLflow writes.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kvexp.tracking import sweep_runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-jobs", type=int, default=2, help="joblib workers (hydra.launcher.n_jobs)")
    ap.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    ap.add_argument("overrides", nargs="*", help="extra overrides passed to kvexp")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="kvexp-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if (work / "mlflow.db").exists():
            sys.exit(f"{work / 'mlflow.db'} exists; the benchmark needs a fresh store")
        uri = f"sqlite:///{work.resolve() / 'mlflow.db'}"
        cmd = [sys.executable, "-m", "kvexp", "-m", "+experiment=regret_ablation", f"hydra.launcher.n_jobs={args.n_jobs}",
               f"tracking.uri={uri}", f"hydra.sweep.dir={work / 'multirun'}", *args.overrides]
        print("$", " ".join(cmd), flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        parent, runs = sweep_runs("regret_ablation", uri=uri)
        finished = int((runs["status"] == "FINISHED").sum()) if len(runs) else 0
        print(f"runs: {len(runs)} children ({finished} FINISHED) under parent {parent}")
        print(f"wall: {wall:.1f} s for {len(runs)} runs = {len(runs) / wall:.1f} runs/s (n_jobs={args.n_jobs})")
        return 0 if finished == len(runs) == 198 else 1


if __name__ == "__main__":
    sys.exit(main())
