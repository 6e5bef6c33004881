"""The bad-input catalogue (docs/bad_input.md): every case is `python -m kvexp ...` in a
subprocess with its own tracking store, and must end with exit status 1 and exactly one line
on stderr, ``kvexp: error: ...``, that names the key, file or line at fault and what was
expected; no traceback unless asked for (KVEXP_TRACEBACK=1 or HYDRA_FULL_ERROR=1); and no
MLflow run left RUNNING: a run opened before the error ends FAILED with the message as its
kvexp.error tag.

The cases run concurrently (one subprocess per CPU) in a module fixture; each test checks one.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

PREFIX = "kvexp: error: "


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # "{data}" stands for the folder of the files below, "{port}" for a closed port
    expect: tuple[str, ...]  # substrings of the message: what is at fault, and what was expected
    opens_run: bool = False  # the error comes from building the run: one FAILED run is recorded
    env: dict = field(default_factory=dict)


CASES = [
    # options and keys: Hydra composes the config, nothing is opened
    Case("unknown policy", ("+policy=lru_k",), ("policy: no option 'lru_k'", "expected one of", "regret_aware")),
    Case("unknown workload", ("workload=chat",), ("workload: no option 'chat'", "chat_continuation")),
    Case("unknown quant", ("quant=fp4",), ("quant: no option 'fp4'", "int4")),
    Case("unknown tier preset", ("tiers=b200",), ("tiers: no option 'b200'", "h100")),
    Case("misspelt key", ("tracking.experimnet=x",), ("tracking.experimnet: no such key", "experiment")),
    Case("unknown option in a sweep", ("-m", "+policy=lru,lru_k"), ("policy: no option 'lru_k'",)),
    # values: the run is built, fails, and is recorded FAILED
    Case("misspelt policy parameter", ("+policy=regret_aware", "+policy.regret_wieght=3"),
         ("policy.regret_wieght: not a parameter", "regret_weight"), opens_run=True),
    Case("negative capacity", ("tiers.levels.0.capacity_bytes=-5",),
         ("tiers.levels.0.capacity_bytes: expected a number > 0, got -5",), opens_run=True),
    Case("zero capacity", ("tiers.levels.3.capacity_bytes=0",),
         ("tiers.levels.3.capacity_bytes: expected a number > 0, got 0",), opens_run=True),
    Case("zero bandwidth", ("tiers.levels.1.bandwidth_bytes_per_ms=0",),
         ("tiers.levels.1.bandwidth_bytes_per_ms: expected a number > 0",), opens_run=True),
    Case("negative latency", ("tiers.levels.2.read_latency_ms=-0.4",),
         ("tiers.levels.2.read_latency_ms: expected a number >= 0",), opens_run=True),
    Case("tiers out of order", ("tiers.levels.0.read_latency_ms=5",), ("tiers.levels", "fastest first"), opens_run=True),
    Case("zero tiers", ("tiers.levels=[]",), ("tiers.levels: expected at least one tier",), opens_run=True),
    Case("page larger than tier 0", ("tiers.scale=0.001",),
         ("tier 'gpu_fast'", "largest page", "expected every page to fit"), opens_run=True),
    Case("regret_horizon 0", ("+policy=regret_aware", "policy.regret_horizon=0"),
         ("policy.regret_horizon: expected an integer >= 1",), opens_run=True),
    Case("decay above 1", ("+policy=regret_aware", "policy.decay=1.5"), ("policy.decay: expected a number in (0, 1]",),
         opens_run=True),
    Case("window_size 0", ("+policy=windowed_recency", "policy.window_size=0"),
         ("policy.window_size: expected an integer >= 1",), opens_run=True),
    # trace files
    Case("trace file missing", ("workload=trace_file", "workload.path={data}/nothere.csv"),
         ("workload.path", "nothere.csv: trace file not found"), opens_run=True),
    Case("trace file empty", ("workload=trace_file", "workload.path={data}/empty.csv"),
         ("empty.csv: file is empty", "expected a header"), opens_run=True),
    Case("trace truncated mid-line", ("workload=trace_file", "workload.path={data}/truncated.csv"),
         ("truncated.csv: line 4", "must be integers"), opens_run=True),
    Case("non-numeric field", ("workload=trace_file", "workload.path={data}/letters.csv"),
         ("letters.csv: line 3", "must be integers", "'x'"), opens_run=True),
    Case("negative size", ("workload=trace_file", "workload.path={data}/negative_size.csv"),
         ("negative_size.csv: line 3", "scalars expected > 0"), opens_run=True),
    Case("page id out of range", ("workload=trace_file", "workload.path={data}/out_of_range.npz"),
         ("out_of_range.npz: row 1", "page id 7 out of range [0, 2)"), opens_run=True),
    Case("steps going backwards", ("workload=trace_file", "workload.path={data}/backwards.csv"),
         ("backwards.csv: line 4", "step 3 goes backwards"), opens_run=True),
    Case("unknown op", ("workload=trace_file", "workload.path={data}/unknown_op.csv"),
         ("unknown_op.csv: line 3", "op 'delete' unknown", "expected 'read' or 'write'"), opens_run=True),
    Case("jsonl truncated mid-line", ("workload=mooncake", "workload.path={data}/truncated.jsonl"),
         ("truncated.jsonl: line 2", "not valid JSON"), opens_run=True),
    # output and tracking
    Case("unwritable output folder", ("hydra.run.dir={data}/afile/sub",),
         ("afile/sub", "Not a directory", "expected a writable output folder (hydra.run.dir")),
    Case("unwritable artifact folder", ("tracking.artifact_root={data}/afile/sub",),
         ("tracking.artifact_root", "afile/sub", "writable")),
    Case("unwritable tracking store", ("tracking.uri=sqlite:///{data}/afile/sub/mlflow.db",),
         ("tracking.uri", "afile/sub", "expected")),
    Case("unreachable tracking server", ("tracking.uri=http://127.0.0.1:{port}",),
         ("tracking.uri: cannot reach an MLflow server at http://127.0.0.1:", "expected a running server")),
]
TRACEBACK_CASES = {  # errors of both kinds, with a traceback asked for
    "KVEXP_TRACEBACK=1": Case("decay 0", ("+policy=regret_aware", "policy.decay=0"), ("policy.decay",),
                              opens_run=True, env={"KVEXP_TRACEBACK": "1"}),
    "HYDRA_FULL_ERROR=1": Case("unknown quant", ("quant=fp4",), ("fp4",), env={"HYDRA_FULL_ERROR": "1"}),
}

CSV = {
    "empty.csv": "",
    "truncated.csv": "step,page,op\n0,1,read\n1,2,write\n2,",
    "letters.csv": "step,page,op\n0,1,read\n1,x,read\n",
    "negative_size.csv": "step,page,op,scalars\n0,1,read,2048\n1,2,read,-8\n",
    "backwards.csv": "step,page,op\n0,1,read\n5,2,read\n3,1,read\n",
    "unknown_op.csv": "step,page,op\n0,1,read\n1,2,delete\n",
    "afile": "a regular file: nothing can be created under it, not even by root\n",
}


def write_data(folder: Path) -> Path:
    """The broken input files the cases point at."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in CSV.items():
        (folder / name).write_text(text)
    request = {"timestamp": 0, "input_length": 1000, "output_length": 10, "hash_ids": [1, 2]}
    (folder / "truncated.jsonl").write_text(json.dumps(request) + "\n" + json.dumps(request)[:40])
    # a saved trace whose second access names page 7 of a two-page table (written without Trace.save,
    # which would refuse it)
    np.savez(folder / "out_of_range.npz", step=np.array([0, 1]), page=np.array([0, 7]), op=np.array([0, 0]),
             pages_n_scalars=np.array([2048, 2048]))
    return folder


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_case(case: Case, folder: Path, data: Path, template: Path, port: int) -> subprocess.CompletedProcess:
    folder.mkdir(parents=True)
    args = [a.format(data=data, port=port) for a in case.args]
    own = {a.split("=", 1)[0] for a in args}
    base = {"tracking.uri": f"sqlite:///{folder / 'mlflow.db'}", "hydra.run.dir": str(folder / "run"),
            "hydra.sweep.dir": str(folder / "multirun")}
    shutil.copy(template, folder / "mlflow.db")  # a store with its tables made: saves seconds per case
    cmd = [sys.executable, "-m", "kvexp", *args, *(f"{k}={v}" for k, v in base.items() if k not in own)]
    env = {k: v for k, v in os.environ.items() if k not in ("KVEXP_TRACEBACK", "HYDRA_FULL_ERROR")}
    return subprocess.run(cmd, cwd=folder, env={**env, **case.env}, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    root = tmp_path_factory.mktemp("bad_input")
    data = write_data(root / "data")
    template = root / "template.db"
    MlflowClient(f"sqlite:///{template}").search_experiments()  # creates the tables
    port = closed_port()
    jobs = {c.id: c for c in CASES} | {flag: case for flag, case in TRACEBACK_CASES.items()}
    folders = {key: root / f"case{i}" for i, key in enumerate(jobs)}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {key: pool.submit(run_case, case, folders[key], data, template, port) for key, case in jobs.items()}
        return {key: (future.result(), folders[key]) for key, future in futures.items()}


def runs_in(store: Path) -> list[tuple[str, str | None]]:
    """(status, kvexp.error tag) of every run in an MLflow SQLite store (read with sqlite3:
    opening 30 stores through MLflow would cost more than the cases)."""
    if not store.exists():
        return []
    with sqlite3.connect(store) as con:
        return con.execute("SELECT r.status, t.value FROM runs r LEFT JOIN tags t "
                           "ON t.run_uuid = r.run_uuid AND t.key = 'kvexp.error'").fetchall()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_naming_what_was_expected(outcomes, case):
    proc, folder = outcomes[case.id]
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), proc.stderr
    message = lines[0][len(PREFIX):]
    for part in case.expect:
        assert part in message, (part, message)
    assert "Traceback" not in proc.stderr + proc.stdout
    runs = runs_in(folder / "mlflow.db")
    assert not [r for r in runs if r[0] == "RUNNING"]
    if case.opens_run:  # the run that was opened ends FAILED and says why
        assert len(runs) == 1 and runs[0][0] == "FAILED" and message in runs[0][1], runs
    elif "-m" in case.args:  # a sweep's parent ends FAILED with the message
        assert all(status == "FAILED" and error == message for status, error in runs), runs
    else:
        assert runs == []


@pytest.mark.parametrize("flag", TRACEBACK_CASES)
def test_a_traceback_is_shown_only_when_asked_for(outcomes, flag):
    proc, folder = outcomes[flag]
    case = TRACEBACK_CASES[flag]
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and case.expect[0] in proc.stderr
    assert not proc.stderr.strip().splitlines()[-1].startswith(PREFIX)  # the exception itself, not our line
    assert [status for status, _ in runs_in(folder / "mlflow.db")] == (["FAILED"] if case.opens_run else [])
