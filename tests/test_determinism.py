"""Determinism: one resolved config, one set of metrics, however and wherever it is run.

Library level: every policy option x two setups, composed twice, built twice and replayed on
fresh and on reused objects, on the reference and the fast engine, and in a child process
with another hash seed. App level: the same four-job multirun under the basic launcher and
the joblib launcher with one and two workers; the children read back from each MLflow store,
matched by their config hash tag, must carry the metrics of the same configs run in-process.
Equality is exact throughout (floats to the last bit).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

import kvexp
import kvexp.fast
from kvexp.config import register_schemas
from kvexp.engine import Result, Simulation
from kvexp.run import build, execute
from kvexp.tracking import config_hash

HERE = Path(__file__).resolve().parent
CONF = Path(kvexp.__file__).resolve().parent.parent / "conf"
POLICIES = sorted(p.stem for p in (CONF / "policy").glob("*.yaml"))
SETUPS = {
    "rag_burst/markov": ["workload=rag_burst", "prefetch=markov"],
    "adversarial_burst/stride/int4/sixth": ["workload=adversarial_burst", "prefetch=stride", "quant=int4",
                                            "tiers=sixth", "workload.seed=3"],
}


def compose_all(overrides: dict[str, list[str]]) -> dict[str, DictConfig]:
    """The configs ``python -m kvexp <overrides>`` would run, composed in this process."""
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return {name: compose("config", overrides=ov) for name, ov in overrides.items()}


def library_overrides() -> dict[str, list[str]]:
    return {f"{p}/{s}": [f"+policy={p}", *ov, "engine=reference"] for p in POLICIES for s, ov in SETUPS.items()}


def library_metrics() -> dict[str, dict[str, float]]:
    """Metrics of every policy x setup, each built from its composed config and replayed on the
    reference engine (Python dicts and sets: where a hash seed could leak into results)."""
    return {name: execute(build(cfg)).metrics for name, cfg in compose_all(library_overrides()).items()}


def resolve(cfg: DictConfig) -> dict:
    """The resolved config as plain data, the form whose hash the app tags a run with."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def assert_same(a: Result, b: Result, label: str) -> None:
    diff = {k: (a.metrics[k], b.metrics.get(k)) for k in a.metrics if a.metrics[k] != b.metrics.get(k)}
    assert not diff and a.metrics.keys() == b.metrics.keys(), f"{label}: {diff}"
    assert np.array_equal(a.served_by, b.served_by), f"{label}: per-row serving tiers differ"


@pytest.mark.parametrize("policy", POLICIES)
def test_repeats_and_engines_agree_for_every_policy(policy):
    overrides = {f"{s}/{e}": [f"+policy={policy}", *ov, f"engine={e}"] for s, ov in SETUPS.items()
                 for e in ("reference", "fast")}
    first = compose_all(overrides)
    second = compose_all({name: ov for name, ov in overrides.items() if name.endswith("/reference")})
    for setup in SETUPS:
        key = f"{setup}/reference"
        resolved = [resolve(c[key]) for c in (first, second)]
        assert resolved[0] == resolved[1] and config_hash(resolved[0]) == config_hash(resolved[1])
        a, b = build(first[key]), build(second[key])
        for col in ("step", "page", "op"):
            assert np.array_equal(getattr(a.trace, col), getattr(b.trace, col)), f"{setup}: trace column {col}"
        assert np.array_equal(a.trace.pages.n_scalars, b.trace.pages.n_scalars)
        base = execute(a)
        assert_same(base, execute(a), f"{policy}/{setup}: the same objects run again")  # bind resets all state
        assert_same(base, execute(b), f"{policy}/{setup}: objects built afresh")
        assert_same(base, execute(build(first[f"{setup}/fast"])), f"{policy}/{setup}: engine=fast")
        # and each engine called directly, whatever execute dispatches to
        reference = Simulation(b.tiers, b.policy, b.prefetcher, b.quant).run(b.trace)
        assert_same(base, reference, f"{policy}/{setup}: kvexp.engine.Simulation")
        assert kvexp.fast.supports(b.policy, b.prefetcher), f"{policy}: a built-in policy without a fast path"
        fast = kvexp.fast.run(b.trace, b.tiers, b.policy, b.prefetcher, b.quant)
        assert_same(base, fast, f"{policy}/{setup}: kvexp.fast.run")
        assert base.metrics["evictions"] > 0 and base.metrics["prefetch_requests"] > 0  # the runs exercise both


def test_metrics_do_not_depend_on_the_process_or_its_hash_seed():
    # the child runs with a hash seed other than this process's (random unless set)
    seed = "1" if os.environ.get("PYTHONHASHSEED") == "0" else "0"
    code = "import json, test_determinism as t; print(json.dumps(t.library_metrics()))"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONHASHSEED": seed})
    here = library_metrics()
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    assert json.loads(out) == here  # json writes floats by repr, which reads back exactly
    assert len(here) == len(POLICIES) * len(SETUPS)


# ---- through the app ---------------------------------------------------------------------
GRID = {"policy": ["regret_aware", "windowed_recency"], "workload": ["adversarial_burst", "chat_continuation"]}
COMMON = ["prefetch=markov"]
# overrides, and the line Hydra logs when that launcher starts the jobs (proof it was used)
LAUNCHES = {
    "basic": (["hydra/launcher=basic"], "Launching 4 jobs locally"),
    "joblib, 1 worker": (["hydra.launcher.n_jobs=1"], "Joblib.Parallel(n_jobs=1,"),
    "joblib, 2 workers": (["hydra.launcher.n_jobs=2"], "Joblib.Parallel(n_jobs=2,"),
}


def test_launchers_and_worker_counts_log_identical_metrics(tmp_path):
    sweep = [f"+policy={','.join(GRID['policy'])}", f"workload={','.join(GRID['workload'])}", *COMMON]
    # the same four configs, composed and run in this process, keyed as the app tags them (first:
    # a cold compiled-engine cache is then filled once here, not by every launched process)
    configs = compose_all({f"{p}/{w}": [f"+policy={p}", f"workload={w}", *COMMON]
                           for p in GRID["policy"] for w in GRID["workload"]})
    expected = {config_hash(resolve(cfg)): execute(build(cfg)).metrics for cfg in configs.values()}
    assert len(expected) == 4

    launched = {}
    for i, (name, (extra, _)) in enumerate(LAUNCHES.items()):  # all three at once, each with its own store
        folder = tmp_path / f"launch{i}"
        folder.mkdir()
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        cmd = [sys.executable, "-m", "kvexp", "-m", *sweep, *extra, f"tracking.uri={uri}",
               f"hydra.run.dir={folder / 'run'}", f"hydra.sweep.dir={folder / 'multirun'}"]
        proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        launched[name] = (proc, uri)

    for name, (proc, uri) in launched.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}: {out[-3000:]}{err[-3000:]}"
        assert LAUNCHES[name][1] in out + err, f"{name}: not launched as intended"
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("kvexp")
        children = client.search_runs([experiment.experiment_id], "tags.`kvexp.role` = 'child'")
        assert len(children) == 4 and all(r.info.status == "FINISHED" for r in children), name
        logged = {r.data.tags["kvexp.config_hash"]: r.data.metrics for r in children}
        assert logged.keys() == expected.keys(), f"{name}: config hashes differ from the in-process configs"
        for key, metrics in expected.items():  # logged metrics may add timings; simulated ones must match
            diff = {k: (v, logged[key].get(k)) for k, v in metrics.items() if logged[key].get(k) != v}
            assert not diff, f"{name}: {key}: {diff}"
