"""Parallel load at CI size: a 24-job sweep on three workers against an SQLite store that does
not exist yet, into an experiment that does not exist yet (the two races REFERENCE.md records:
workers creating the tables at once, and runs misfiled into "Default"). Every job must have
exactly one FINISHED run in the named experiment, under the sweep's parent; none in Default,
none lost. (scripts/stress_tracking.py runs 8 x 80 and a local MLflow server.)"""
from __future__ import annotations

import subprocess
import sys

from mlflow.tracking import MlflowClient

JOBS, WORKERS = 24, 3


def test_parallel_jobs_all_land_finished_in_the_named_experiment(tmp_path):
    db = tmp_path / "fresh" / "mlflow.db"
    db.parent.mkdir()
    uri = f"sqlite:///{db}"
    cmd = [sys.executable, "-m", "kvexp", "-m", f"hydra.launcher.n_jobs={WORKERS}", "workload=chat_continuation",
           f"workload.seed=range(0,{JOBS})", "workload.length=64", "engine=reference", "sweep=load",
           "tracking.experiment=load_test", f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    assert not db.exists()
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr

    client = MlflowClient(uri)
    runs = {e.name: client.search_runs([e.experiment_id], max_results=1000) for e in client.search_experiments()}
    assert set(runs) == {"Default", "load_test"} and runs["Default"] == []  # none misfiled
    (parent,) = [r for r in runs["load_test"] if r.data.tags["kvexp.role"] == "parent"]
    children = [r for r in runs["load_test"] if r.data.tags["kvexp.role"] == "child"]
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_runs"] == JOBS
    assert len(runs["load_test"]) == JOBS + 1
    assert all(r.info.status == "FINISHED" for r in children)
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)
    assert sorted(int(r.data.tags["kvexp.job"]) for r in children) == list(range(JOBS))  # none lost, none twice
    assert sorted(int(r.data.params["workload.seed"]) for r in children) == list(range(JOBS))
    assert all(r.data.metrics["accesses"] == 64 for r in children)
