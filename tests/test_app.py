"""`python -m kvexp` end to end, in subprocesses against a temporary MLflow store: single runs,
multiruns through the joblib launcher, and a failing job; plus the tracking schema helpers."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

import kvexp
from kvexp.engine import simulate
from kvexp.policies.regret_aware import RegretAware
from kvexp.quant import QuantScheme
from kvexp.tiers import reference_tiers
from kvexp.tracking import config_hash, flatten, sweep_runs
from kvexp.workloads.synthetic import chat_continuation, rag_burst


def run_kvexp(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, MlflowClient]:
    """Run the command in ``tmp_path`` with its store and Hydra folders inside ``tmp_path``."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "kvexp", *args, f"tracking.uri={uri}",
           f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    return proc, MlflowClient(uri)


def runs_by_experiment(client: MlflowClient) -> dict[str, list]:
    return {e.name: client.search_runs([e.experiment_id]) for e in client.search_experiments()}


def test_single_run_is_tracked_with_params_metrics_and_config(tmp_path):
    proc, client = run_kvexp(tmp_path, "+policy=regret_aware")
    assert proc.returncode == 0, proc.stderr
    runs = runs_by_experiment(client)
    assert runs.get("Default", []) == [] and len(runs["kvexp"]) == 1
    run = runs["kvexp"][0]
    assert run.info.status == "FINISHED" and run.info.run_id in proc.stdout
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert (tags["kvexp.policy"], tags["kvexp.workload"], tags["kvexp.tiers"]) == ("regret_aware", "rag_burst", "half")
    assert tags["kvexp.role"] == "single" and "mlflow.parentRunId" not in tags
    assert params["policy.regret_weight"] == "6.0" and params["tiers.scale"] == "0.5"
    assert params["tiers.levels.0.capacity_bytes"] == "128000" and "tracking.uri" not in params
    # the logged metrics are those of the same run built by hand from the library
    expected = simulate(rag_burst(), reference_tiers(0.5), RegretAware(), None, QuantScheme("fp16", 2.0))
    assert metrics["misses"] == expected["misses"] and metrics["hit_rate"] == pytest.approx(expected["hit_rate"])
    assert metrics["bytes_moved"] == expected["bytes_moved"]
    assert {"config.yaml", "metrics.json", "timeline.csv"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    config = yaml.safe_load(Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))).read_text())
    assert config["policy"]["_target_"] == "kvexp.policies.regret_aware.RegretAware"
    assert tags["kvexp.config_hash"] == config_hash(config)
    timeline = Path(client.download_artifacts(run.info.run_id, "timeline.csv", str(tmp_path))).read_text().splitlines()
    assert timeline[0].startswith("accesses,") and timeline[-1].startswith(f"{expected['accesses']},")
    assert f"hit rate     {expected['hit_rate']:.3f}" in proc.stdout


def test_multirun_of_four_jobs_nests_four_children_under_one_parent(tmp_path):
    proc, client = run_kvexp(tmp_path, "-m", "+policy=lru,regret_aware", "workload=chat_continuation,rag_burst",
                         "hydra.launcher.n_jobs=2", "sweep=pair")
    assert proc.returncode == 0, proc.stderr
    runs = runs_by_experiment(client)
    assert runs.get("Default", []) == []  # none misfiled
    parents = [r for r in runs["kvexp"] if r.data.tags.get("kvexp.role") == "parent"]
    children = [r for r in runs["kvexp"] if r.data.tags.get("kvexp.role") == "child"]
    assert len(parents) == 1 and len(children) == 4 and len(runs["kvexp"]) == 5
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_runs"] == 4
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id and c.info.status == "FINISHED" for c in children)
    pairs = {(c.data.tags["kvexp.policy"], c.data.tags["kvexp.workload"]) for c in children}
    assert pairs == {(p, w) for p in ("lru", "regret_aware") for w in ("chat_continuation", "rag_burst")}
    assert sum(line.startswith("#") for line in proc.stdout.splitlines()) == 4  # one line per finished run
    # a report finds the sweep by name
    parent_id, frame = sweep_runs("pair", uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert parent_id == parent.info.run_id and len(frame) == 4 and set(frame["tags.kvexp.sweep"]) == {"pair"}


def test_a_failing_job_fails_its_child_and_the_parent_only(tmp_path):
    # tier 0 at 1/1000 of 128 kB cannot hold a 4 kB page: the engine refuses that one job
    proc, client = run_kvexp(tmp_path, "-m", "+policy=lru", "workload=chat_continuation", "tiers.scale=0.5,0.4,0.3,0.001",
                         "hydra.launcher.n_jobs=2")
    assert proc.returncode != 0
    runs = runs_by_experiment(client)["kvexp"]
    parent = [r for r in runs if r.data.tags["kvexp.role"] == "parent"][0]
    children = {r.data.params["tiers.scale"]: r for r in runs if r.data.tags["kvexp.role"] == "child"}
    assert parent.info.status == "FAILED" and "1 of 4" in parent.data.tags["kvexp.error"]
    assert children["0.001"].info.status == "FAILED" and "capacity_bytes" in children["0.001"].data.tags["kvexp.error"]
    assert [children[s].info.status for s in ("0.5", "0.4", "0.3")] == ["FINISHED"] * 3
    assert not any(r.info.status == "RUNNING" for r in runs)


def test_replicates_are_one_child_each_named_by_their_overrides(tmp_path):
    # (that those overrides compose the same run alone is checked in test_config)
    proc, client = run_kvexp(tmp_path, "-m", "+policy=lru,regret_aware", "workload=chat_continuation",
                             "+replicate.workload.seed=[1,2]", "hydra.launcher.n_jobs=1")
    assert proc.returncode == 0, proc.stderr
    children = [r for r in runs_by_experiment(client)["kvexp"] if r.data.tags["kvexp.role"] == "child"]
    got = {(r.data.tags["kvexp.policy"], r.data.params["workload.seed"]) for r in children}
    assert len(children) == 4 and got == {(p, s) for p in ("lru", "regret_aware") for s in ("1", "2")}
    child = next(r for r in children
                 if r.data.tags["kvexp.policy"] == "regret_aware" and r.data.params["workload.seed"] == "2")
    assert child.data.tags["kvexp.overrides"].endswith("~replicate workload.seed=2")
    expected = simulate(chat_continuation(seed=2), reference_tiers(0.5), RegretAware(), None, QuantScheme("fp16", 2.0))
    assert child.data.metrics["misses"] == expected["misses"]  # the replicate's seed reached the workload


def test_bad_parameter_is_one_line_and_a_failed_run(tmp_path):
    proc, client = run_kvexp(tmp_path, "+policy=regret_aware", "+policy.regret_wieght=3")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("kvexp: error: policy.regret_wieght: not a parameter")
    (run,) = runs_by_experiment(client)["kvexp"]
    assert run.info.status == "FAILED" and "regret_wieght" in run.data.tags["kvexp.error"]


def test_only_the_tracking_module_imports_mlflow():
    package = Path(kvexp.__file__).parent
    importers = {p.relative_to(package).as_posix() for p in package.rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+mlflow\b", p.read_text(), re.MULTILINE)}
    assert importers == {"tracking.py"}


def test_flatten_uses_dotted_keys_and_list_indices():
    flat = flatten({"a": {"b": 1, "c": [{"d": 2}, 3]}, "e": None, "f": []})
    assert flat == {"a.b": 1, "a.c.0.d": 2, "a.c.1": 3, "e": None, "f": []}


def test_config_hash_ignores_tracking_and_output_but_not_parameters():
    base = {"policy": {"_target_": "x.Y", "w": 1}, "tracking": {"uri": "a"}, "output": {"progress": "auto"}}
    same = {**base, "tracking": {"uri": "b"}, "output": {"progress": "never"}, "sweep": "s"}
    other = {**base, "policy": {"_target_": "x.Y", "w": 2}}
    assert config_hash(base) == config_hash(same) != config_hash(other)
