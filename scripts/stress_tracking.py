"""Parallel load on the tracking store, at a size CI cannot afford (issue 6, part 4).

    python scripts/stress_tracking.py [--sqlite 8x80] [--server 4x40] [--keep DIR]

Two sweeps of small runs (`python -m kvexp -m workload.seed=range(0,N) ...`), each in a fresh
temporary folder: one against an SQLite store that does not exist yet, one against a local
`mlflow server` (127.0.0.1, a free port, its own SQLite database, one worker) that this script
starts, waits for and stops. After each, the store is read back and the script prints one row:
FINISHED = children that finished, misfiled = runs outside the named experiment (e.g. in
"Default"), lost = jobs without a FINISHED run. It exits 1 unless every job has exactly one
FINISHED run in the named experiment. Only loopback addresses are used.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from mlflow.tracking import MlflowClient

EXPERIMENT = "stress"
SERVER_READY_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sweep(folder: Path, uri: str, workers: int, jobs: int) -> tuple[int, float, str]:
    """Run the sweep; (exit status, wall seconds, last stderr line)."""
    cmd = [sys.executable, "-m", "kvexp", "-m", f"hydra.launcher.n_jobs={workers}", "workload=chat_continuation",
           f"workload.seed=range(0,{jobs})", "workload.length=64", "engine=reference", "sweep=stress",
           f"tracking.experiment={EXPERIMENT}", f"tracking.uri={uri}", f"hydra.sweep.dir={folder / 'multirun'}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    return proc.returncode, wall, (proc.stderr.strip().splitlines() or [""])[-1]


def count(uri: str, jobs: int) -> dict[str, int]:
    """FINISHED children in the experiment, runs elsewhere, jobs without a FINISHED run."""
    client = MlflowClient(uri)
    runs = {e.name: client.search_runs([e.experiment_id], max_results=10_000) for e in client.search_experiments()}
    ours = runs.get(EXPERIMENT, [])
    finished = Counter(int(r.data.tags["kvexp.job"]) for r in ours
                       if r.data.tags.get("kvexp.role") == "child" and r.info.status == "FINISHED")
    return {
        "finished": sum(finished.values()),
        "misfiled": sum(len(v) for name, v in runs.items() if name != EXPERIMENT),
        "lost": sum(1 for job in range(jobs) if job not in finished),
        "twice": sum(1 for n in finished.values() if n > 1),
        "running": sum(r.info.status == "RUNNING" for r in ours),
    }


def start_server(folder: Path, port: int) -> subprocess.Popen:
    """`mlflow server` on 127.0.0.1:port, its store and artifacts in ``folder``; returns once it answers."""
    cmd = ["mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--artifacts-destination",
           (folder / "artifacts").as_uri()]
    log = open(folder / "server.log", "w")
    server = subprocess.Popen(cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + SERVER_READY_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with status {server.returncode}; see {folder / 'server.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(f"mlflow server not ready after {SERVER_READY_S} s")


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server and its worker processes (its own process group, started above)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def shape(text: str) -> tuple[int, int]:
    workers, jobs = text.lower().split("x")
    return int(workers), int(jobs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sqlite", type=shape, default=(8, 80), help="workers x jobs against SQLite (default 8x80)")
    ap.add_argument("--server", type=shape, default=(4, 40), help="workers x jobs against mlflow server (default 4x40)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="kvexp-stress-") as tmp:
        root = args.keep or Path(tmp)
        for store, (workers, jobs) in (("sqlite (fresh file)", args.sqlite), ("mlflow server", args.server)):
            folder = root / store.split()[0]
            folder.mkdir(parents=True, exist_ok=False)
            server = None
            if store.startswith("sqlite"):
                uri = f"sqlite:///{folder / 'mlflow.db'}"
            else:
                port = free_port()
                started = time.perf_counter()
                server = start_server(folder, port)
                print(f"mlflow server on 127.0.0.1:{port} ready after {time.perf_counter() - started:.0f} s", flush=True)
                uri = f"http://127.0.0.1:{port}"
            try:
                status, wall, last = sweep(folder, uri, workers, jobs)
                got = count(uri, jobs)
            finally:
                if server is not None:
                    stop_server(server)
            problems = got["misfiled"] or got["lost"] or got["twice"] or got["running"]
            good = status == 0 and got["finished"] == jobs and not problems
            ok &= good
            rows.append((store, workers, jobs, got["finished"], got["misfiled"], got["lost"], f"{wall:.1f}",
                         "ok" if good else f"FAIL (exit {status}: {last})"))
    header = ("store", "workers", "jobs", "FINISHED", "misfiled", "lost", "wall s", "check")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
