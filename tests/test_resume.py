"""Resume: a sweep of three trace files x two tier scales (six runs) where one file is missing,
so its job fails; the file is then written and the same sweep relaunched with
tracking.resume=true. Only the two runs that had failed run again; the resumed parent links to
the first (kvexp.resumed_from); every configuration has exactly one FINISHED run, and the
report's view of the sweep (tracking.sweep_runs) holds each configuration once. (Hydra's basic
launcher, in-process, saves starting workers: runs are skipped inside the job, whichever
process runs it; test_faults covers the worker processes.)"""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from mlflow.tracking import MlflowClient

from kvexp.tracking import sweep_runs
from kvexp.workloads.synthetic import chat_continuation


def write_csv(path: Path, seed: int) -> None:
    trace = chat_continuation(n_pages=16, length=48, seed=seed)
    rows = [f"{s},{p},{'write' if o else 'read'}" for s, p, o in zip(trace.step, trace.page, trace.op)]
    path.write_text("step,page,op\n" + "\n".join(rows) + "\n")


def launch(tmp_path: Path, uri: str, *extra: str) -> subprocess.CompletedProcess:
    paths = ",".join(str(tmp_path / f"t{i}.csv") for i in range(3))
    cmd = [sys.executable, "-m", "kvexp", "-m", "workload=trace_file", f"workload.path={paths}",
           "+replicate.tiers.scale=[0.5,1.0]", "engine=reference", "hydra/launcher=basic", "sweep=resumable",
           f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'multirun'}", *extra]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_resume_runs_only_what_did_not_finish(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_csv(tmp_path / "t0.csv", 0)
    write_csv(tmp_path / "t1.csv", 1)  # t2.csv is missing: job 2 fails, both its runs
    first = launch(tmp_path, uri)
    assert first.returncode == 1 and "1 of 3 jobs failed (#2)" in first.stderr, first.stderr

    write_csv(tmp_path / "t2.csv", 2)  # the failure's cause removed
    second = launch(tmp_path, uri, "tracking.resume=true")
    assert second.returncode == 0, second.stderr
    assert sum(" skipped " in line for line in second.stdout.splitlines()) == 4

    client = MlflowClient(uri)
    (exp,) = [e for e in client.search_experiments() if e.name == "kvexp"]
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parents = sorted((r for r in runs if r.data.tags["kvexp.role"] == "parent"), key=lambda r: r.info.start_time)
    assert [p.info.status for p in parents] == ["FAILED", "FINISHED"]
    assert parents[1].data.tags["kvexp.resumed_from"] == parents[0].info.run_id
    assert parents[1].data.tags["kvexp.sweep"] == parents[0].data.tags["kvexp.sweep"] == "resumable"

    def children(parent):
        return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]

    rerun = children(parents[1])  # only the job that had failed ran again, both its runs
    assert sorted((Path(r.data.params["workload.path"]).name, r.data.params["tiers.scale"], r.info.status)
                  for r in rerun) == [("t2.csv", "0.5", "FINISHED"), ("t2.csv", "1.0", "FINISHED")]
    before = children(parents[0])
    assert Counter(r.info.status for r in before) == {"FINISHED": 4, "FAILED": 2}

    finished = Counter(r.data.tags["kvexp.config_hash"] for r in before + rerun if r.info.status == "FINISHED")
    assert len(finished) == 6 and set(finished.values()) == {1}  # each configuration FINISHED once
    parent_id, frame = sweep_runs("resumable", uri=uri)
    assert parent_id == parents[1].info.run_id
    assert len(frame) == 6 and set(frame["status"]) == {"FINISHED"}
    assert set(frame["tags.kvexp.config_hash"]) == set(finished)
