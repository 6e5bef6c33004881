"""MLflow tracking of kvexp runs; the only module that imports mlflow.

Schema (what reports and notebooks can rely on):
- experiment ``tracking.experiment`` (default "kvexp"); store ``tracking.uri``, by default
  ``sqlite:///<launch dir>/mlflow.db`` with artifacts in ``<launch dir>/mlruns``;
- params: the resolved config flattened with dotted keys (``policy.regret_weight``,
  ``tiers.levels.0.capacity_bytes``), without the ``tracking``, ``output``, ``sweep`` and ``replicate`` nodes;
- tags: ``kvexp.policy/.workload/.tiers/.quant/.prefetch`` (option names), ``kvexp.scenario``,
  ``kvexp.arm`` and ``kvexp.experiment`` when chosen, ``kvexp.sweep`` (experiments set it; an
  ad-hoc multirun is "multirun"), ``kvexp.config_hash``, ``kvexp.role`` (single | parent |
  child), ``kvexp.job`` and ``kvexp.overrides`` on children, ``kvexp.error`` on failure;
- metrics: ``kvexp.metrics.summarize`` keys; artifacts: config.yaml, metrics.json,
  timeline.csv (and timeline.png when plotted).
A multirun has one parent (role parent, tag kvexp.sweep) and one child per job carrying
``mlflow.parentRunId``. Runs are written once they end, so a crashed worker never leaves a
child RUNNING; the parent is created before the workers start (``open_sweep``) and ended by
``close_sweep`` in the launching process, FAILED if any child failed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

SWEEP_FILE = "kvexp-tracking.json"  # in the sweep dir: how jobs find the parent run
NOT_PARAMS = ("tracking", "output", "sweep", "replicate")  # config nodes that do not change results
BATCH = 100  # MLflow accepts at most 100 params per log_batch call
RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Store:
    """An opened tracking store and the id of the experiment runs go to."""

    client: MlflowClient
    uri: str
    experiment_id: str


def resolve_uri(uri: str | None, cwd: str | Path) -> str:
    """``uri``, else $MLFLOW_TRACKING_URI, else an SQLite file in ``cwd`` (not Hydra's run dir)."""
    if uri:
        return uri
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(cwd).resolve() / 'mlflow.db'}"


def artifact_location(uri: str, artifact_root: str | None) -> str | None:
    """Where a new experiment keeps artifacts: ``artifact_root``, else ``mlruns`` beside an SQLite
    database, else the server's default (None)."""
    if artifact_root:
        return artifact_root if "://" in artifact_root else Path(artifact_root).resolve().as_uri()
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlruns").as_uri()
    return None


def open_store(uri: str, experiment: str, artifact_root: str | None = None) -> Store:
    """Open (creating if needed) the store and the experiment.

    Run this once in the launching process before parallel workers start: workers that find a
    fresh SQLite database race on creating its tables, and workers that create the same
    experiment at once can misfile runs into "Default".
    """
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)  # creates the tables of a new database
    use_wal(uri)
    if exp is None:
        try:
            exp_id = client.create_experiment(experiment, artifact_location=artifact_location(uri, artifact_root))
        except MlflowException:  # created meanwhile by another process
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    elif exp.lifecycle_stage != "active":
        raise ValueError(f"tracking.experiment: '{experiment}' is deleted in {uri}; restore it or pick another name")
    else:
        exp_id = exp.experiment_id
    return Store(client, uri, exp_id)


def use_wal(uri: str) -> None:
    """Put an SQLite store in write-ahead-log mode (a persistent setting of the file): each run
    is written in about two thirds of the time, and `mlflow ui` can read while a sweep writes."""
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return
    try:
        with closing(sqlite3.connect(uri[len("sqlite:///"):], timeout=10)) as con:
            con.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error:  # e.g. another process holds it; the default journal works too
        pass


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists -> one level with dotted keys (list items by index)."""
    flat: dict[str, Any] = {}
    items = node.items() if isinstance(node, Mapping) else enumerate(node)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (Mapping, list, tuple)) and len(value):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def run_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The params of a run: its resolved config minus the nodes that do not affect results."""
    return flatten({k: v for k, v in config.items() if k not in NOT_PARAMS})


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of what determines a run's results (same hash, same metrics)."""
    text = json.dumps(run_params(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_run(
    store: Store,
    *,
    name: str,
    start_s: float,
    tags: Mapping[str, str],
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    artifacts: Path | None,
    status: str = "FINISHED",
) -> str:
    """Write one finished (or failed) run in a few store calls and return its id."""
    client = store.client
    run = client.create_run(store.experiment_id, start_time=int(start_s * 1000), tags=dict(tags), run_name=name)
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        plist = [Param(k, "None" if v is None else str(v)) for k, v in params.items()]
        mlist = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        for i in range(0, max(len(plist), len(mlist), 1), BATCH):
            client.log_batch(run_id, metrics=mlist[i:i + BATCH], params=plist[i:i + BATCH])
        if artifacts is not None:  # straight to the run's artifact store: no lookup of the run
            get_artifact_repository(run.info.artifact_uri, tracking_uri=store.uri).log_artifacts(str(artifacts))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, status, end_time=int(time.time() * 1000))
    return run_id


# ---- sweeps ------------------------------------------------------------------------------
@dataclass
class _Sweep:
    store: Store
    parent_run_id: str
    sweep_dir: Path
    started: float


_open_sweep: _Sweep | None = None


def open_sweep(uri: str, experiment: str, artifact_root: str | None, name: str, sweep_dir: Path,
               tags: Mapping[str, str]) -> str:
    """In the launching process, before any job starts: open the store and the experiment,
    create the parent run and write the sweep file through which jobs find both. Returns the
    parent run id; ``close_sweep`` ends it."""
    global _open_sweep
    store = open_store(uri, experiment, artifact_root)
    run = store.client.create_run(store.experiment_id, tags={**tags, "kvexp.role": "parent", "kvexp.sweep": name},
                                  run_name=name)
    _open_sweep = _Sweep(store, run.info.run_id, Path(sweep_dir), time.time())
    info = {"uri": uri, "experiment_id": store.experiment_id, "parent_run_id": run.info.run_id, "sweep": name}
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(sweep_dir) / (SWEEP_FILE + ".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(Path(sweep_dir) / SWEEP_FILE)
    return run.info.run_id


def sweep_parent(sweep_dir: Path) -> dict[str, str]:
    """In a job: what the launching process wrote (uri, experiment_id, parent_run_id, sweep)."""
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.exists():
        raise RuntimeError(f"{path} not found: a multirun job needs the kvexp tracking callback "
                           f"(hydra.callbacks.tracking) to have opened the sweep, or tracking.enabled=false")
    return json.loads(path.read_text())


def store_for(info: Mapping[str, str]) -> Store:
    """A Store for an experiment someone else already created (no experiment lookup by name)."""
    return Store(MlflowClient(info["uri"]), info["uri"], info["experiment_id"])


def close_sweep(failed: bool = False) -> str | None:
    """End the parent run of the multirun this process opened, if any: FAILED when the multirun
    failed or any child did, else FINISHED. Safe to call twice; returns the final status."""
    global _open_sweep
    sweep, _open_sweep = _open_sweep, None
    if sweep is None:
        return None
    client, run_id = sweep.store.client, sweep.parent_run_id
    children = list(iter_runs(client, [sweep.store.experiment_id], f"tags.`mlflow.parentRunId` = '{run_id}'"))
    for r in children:  # a worker that died while writing its run
        if r.info.status == "RUNNING":
            client.set_tag(r.info.run_id, "kvexp.error", "the job ended before its run was complete")
            client.set_terminated(r.info.run_id, "FAILED")
    n_failed = sum(r.info.status != "FINISHED" for r in children)
    status = "FAILED" if failed or n_failed else "FINISHED"
    now = int(time.time() * 1000)
    error = f"{n_failed} of {len(children)} jobs failed" if n_failed else "the multirun failed (see its console output)"
    try:
        client.log_batch(run_id, metrics=[
            Metric("n_runs", len(children), now, 0),
            Metric("n_failed", n_failed, now, 0),
            Metric("wall_s", time.time() - sweep.started, now, 0),
        ], tags=[RunTag("kvexp.error", error)] if status == "FAILED" else [])
        multirun_yaml = sweep.sweep_dir / "multirun.yaml"
        if multirun_yaml.exists():
            client.log_artifact(run_id, str(multirun_yaml))
    finally:
        client.set_terminated(run_id, status)
    return status


# ---- reading runs back (reports, notebooks) -----------------------------------------------
def iter_runs(client: MlflowClient, experiment_ids: list[str], filter_string: str = "") -> Iterable[Any]:
    """Every run matching ``filter_string`` (all pages of the search)."""
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def find_parent(store: Store, sweep: str) -> str:
    """The parent run id of ``sweep``: a run id itself, or the latest parent tagged with that name."""
    if RUN_ID.match(sweep):
        return sweep
    parents = f"tags.`kvexp.role` = 'parent' and tags.`kvexp.sweep` = '{sweep}'"
    runs = store.client.search_runs([store.experiment_id], parents,
                                    order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        raise LookupError(f"no sweep named '{sweep}' in experiment {store.experiment_id} of {store.uri}")
    return runs[0].info.run_id


def runs_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """Runs as a DataFrame laid out like ``mlflow.search_runs``: run_id, status, start_time,
    then ``params.*``, ``metrics.*`` and ``tags.*`` columns."""
    rows = []
    for r in runs:
        row = {"run_id": r.info.run_id, "status": r.info.status, "start_time": r.info.start_time}
        row.update({f"params.{k}": v for k, v in r.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
        row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_runs(sweep: str, uri: str | None = None, experiment: str = "kvexp",
               cwd: str | Path = ".") -> tuple[str, pd.DataFrame]:
    """(parent run id, its children as a DataFrame) for a sweep name or parent run id."""
    uri = resolve_uri(uri, cwd)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)  # creates the tables of a new database
    use_wal(uri)
    if exp is None:
        raise LookupError(f"no experiment '{experiment}' in {uri}")
    store = Store(client, uri, exp.experiment_id)
    parent = find_parent(store, sweep)
    children = iter_runs(client, [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    return parent, runs_frame(children)


def log_files(uri: str, run_id: str, paths: Iterable[Path], artifact_path: str | None = None) -> None:
    """Attach files (plots, summary CSVs) to an existing run, e.g. a sweep's parent."""
    client = MlflowClient(uri)
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path)

