"""Sweep faults: in a 20-job sweep on two workers, one job raises and one job's worker process
is killed with SIGKILL (tests/fault_injection.py); the 18 other jobs still run and are logged
with the right results, the parent run ends FAILED naming the two jobs, each failed job has a
FAILED run saying why, nothing is left RUNNING, and the command exits non-zero.

This is the default launcher, kvexp's (hydra_plugins/kvexp_launcher): with joblib's own, the
killed worker breaks the pool and every job not finished by then is lost."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from kvexp.engine import simulate
from kvexp.policies.lru import LRU
from kvexp.quant import QuantScheme
from kvexp.tiers import reference_tiers
from kvexp.workloads.synthetic import chat_continuation

TESTS = Path(__file__).resolve().parent
RAISE, KILL, JOBS, LENGTH = 3, 11, 20, 64


def test_a_raising_job_and_a_killed_worker_fail_only_their_own_jobs(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "kvexp", "-m", "hydra.launcher.n_jobs=2",
           "workload=chat_continuation", "workload._target_=fault_injection.flaky_chat",
           f"+workload.raise_seed={RAISE}", f"+workload.kill_seed={KILL}", f"workload.seed=range(0,{JOBS})",
           f"workload.length={LENGTH}", "engine=reference", "sweep=faults", f"tracking.uri={uri}",
           f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kvexp: error: sweep 'faults': 2 of 20 jobs failed (#3, #11)"), proc.stderr

    client = MlflowClient(uri)
    experiments = {e.name: e.experiment_id for e in client.search_experiments()}
    assert client.search_runs([experiments["Default"]]) == []
    runs = client.search_runs([experiments["kvexp"]], max_results=1000)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    (parent,) = [r for r in runs if r.data.tags["kvexp.role"] == "parent"]
    assert parent.info.status == "FAILED" and parent.data.tags["kvexp.failed_jobs"] == f"{RAISE},{KILL}"
    assert parent.data.tags["kvexp.error"] == last[len("kvexp: error: "):]

    children = [r for r in runs if r.data.tags["kvexp.role"] == "child"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)
    finished = {int(r.data.tags["kvexp.job"]): r for r in children if r.info.status == "FINISHED"}
    failed = {int(r.data.tags["kvexp.job"]): r for r in children
              if r.info.status == "FAILED" and int(r.data.tags["kvexp.job"]) not in finished}
    assert sorted(finished) == sorted(set(range(JOBS)) - {RAISE, KILL})  # one FINISHED run per job (a dict key)
    assert sum(r.info.status == "FINISHED" for r in children) == len(finished)
    assert sorted(failed) == [RAISE, KILL]
    # a job killed along with the pool while writing its run leaves that run FAILED, and is re-run
    interrupted = [r for r in children if r.info.status == "FAILED" and int(r.data.tags["kvexp.job"]) in finished]
    assert all(r.data.tags["kvexp.error"] == "the job ended before its run was complete" for r in interrupted)
    assert "injected failure for seed 3" in failed[RAISE].data.tags["kvexp.error"]
    assert failed[KILL].data.tags["kvexp.error"].startswith("WorkerDied: job #11")
    assert "SIGKILL" in failed[KILL].data.tags["kvexp.error"] and failed[KILL].data.params["workload.seed"] == str(KILL)
    # the surviving jobs' runs carry the metrics of the same runs made here with the library
    tiers, fp16 = reference_tiers(0.5), QuantScheme("fp16", 2.0)
    for job, run in finished.items():
        assert run.data.params["workload.seed"] == str(job)
        expected = simulate(chat_continuation(length=LENGTH, seed=job), tiers, LRU(), None, fp16)
        logged = run.data.metrics
        assert (logged["misses"], logged["bytes_moved"]) == (expected["misses"], expected["bytes_moved"])
