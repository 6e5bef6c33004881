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
child RUNNING; the parent is created before the workers start and ended in the launching
process (kvexp.sweeps), FAILED if any job failed, naming the failed jobs (tag
``kvexp.failed_jobs``). A resumed sweep (``tracking.resume=true``) is a new parent with
the same kvexp.sweep tag and ``kvexp.resumed_from`` = the parent it continues; ``sweep_runs``
follows that chain and keeps one run per ``kvexp.config_hash`` (the latest FINISHED one).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import time
import urllib.parse
import urllib.request
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

NOT_PARAMS = ("tracking", "output", "sweep", "replicate")  # config nodes that do not change results
BATCH = 100  # MLflow accepts at most 100 params per log_batch call
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
# MLflow announces the creation of a new SQLite store's tables at INFO level on stderr, which
# would bury kvexp's own one-line messages.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)


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
    check_reachable(uri)
    check_sqlite_folder(uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)  # creates the tables of a new database
    use_wal(uri)
    if exp is None:
        location = artifact_location(uri, artifact_root)
        check_artifact_folder(location)
        try:
            exp_id = client.create_experiment(experiment, artifact_location=location)
        except MlflowException:  # created meanwhile by another process
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    elif exp.lifecycle_stage != "active":
        raise ValueError(f"tracking.experiment: '{experiment}' is deleted in {uri}; restore it or pick another name")
    else:
        check_artifact_folder(exp.artifact_location)
        exp_id = exp.experiment_id
    return Store(client, uri, exp_id)


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail at once when an HTTP tracking server does not accept connections: MLflow's client
    would retry for minutes, and only when the run is recorded, after its simulation."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout_s):
            pass
    except OSError as e:
        raise ConnectionError(f"tracking.uri: cannot reach an MLflow server at {uri} ({e.strerror or e}); "
                              f"expected a running server, e.g. `mlflow server --port {port}`") from None


def check_sqlite_folder(uri: str) -> None:
    """An SQLite store's folder must exist and be writable (SQLite itself says only "unable to
    open database file")."""
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return
    folder = Path(uri[len("sqlite:///"):]).parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        problem = "is not a writable folder" if folder.exists() else "does not exist"
        raise ValueError(f"tracking.uri: {folder} {problem}; expected the SQLite database's folder to exist")


def check_artifact_folder(location: str | None) -> None:
    """A local artifact folder is created now, so an unwritable one fails before the simulation
    rather than when the run's files are logged."""
    if not location or not location.startswith("file:"):
        return
    folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(location).path))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError as e:
        writable, reason = False, e.strerror
    else:
        reason = "not writable"
    if not writable:
        raise ValueError(f"tracking.artifact_root: cannot create or write the artifact folder {folder} ({reason}); "
                         f"expected a writable folder")


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
    except BaseException as e:  # the run ends FAILED, saying why, whatever stopped it
        fail_run(store, run_id, f"{e.__class__.__name__}: {e}")
        raise
    client.set_terminated(run_id, status, end_time=int(time.time() * 1000))
    return run_id


def end_run(store: Store, run_id: str, status: str, metrics: Mapping[str, float], tags: Mapping[str, str],
            files: Iterable[Path] = ()) -> None:
    """Log a run's last metrics, tags and files, then end it with ``status`` whatever happens."""
    now = int(time.time() * 1000)
    try:
        store.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                               tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])
        for path in files:
            store.client.log_artifact(run_id, str(path))
    finally:
        store.client.set_terminated(run_id, status)


def fail_run(store: Store, run_id: str, message: str) -> None:
    """End a run FAILED with ``message`` as its kvexp.error tag."""
    try:
        store.client.set_tag(run_id, "kvexp.error", message[:5000])
    finally:
        store.client.set_terminated(run_id, "FAILED")


# ---- sweeps: finding runs of earlier sweeps (kvexp.sweeps runs a sweep's parent) -------
def store_for(info: Mapping[str, str]) -> Store:
    """A Store for an experiment someone else already created (no experiment lookup by name)."""
    return Store(MlflowClient(info["uri"]), info["uri"], info["experiment_id"])


def latest_parent(store: Store, sweep: str) -> str | None:
    """The run id of the latest parent run tagged with ``sweep``, if any."""
    runs = store.client.search_runs([store.experiment_id], _parents_named(sweep),
                                    order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def _parents_named(sweep: str) -> str:
    if "'" in sweep:
        raise ValueError(f"sweep: {sweep!r} cannot contain a quote")
    return f"tags.`kvexp.role` = 'parent' and tags.`kvexp.sweep` = '{sweep}'"


def resume_chain(client: MlflowClient, parent_run_id: str) -> list[str]:
    """``parent_run_id`` and the parents it resumed, newest first (tag kvexp.resumed_from)."""
    chain = [parent_run_id]
    while len(chain) < 1000:
        previous = client.get_run(chain[-1]).data.tags.get("kvexp.resumed_from")
        if not previous or previous in chain:
            break
        chain.append(previous)
    return chain


def finished_configs(store: Store, parents: Iterable[str]) -> dict[str, dict]:
    """config hash -> {run_id, avg_latency_ms} of the FINISHED children of ``parents``."""
    done: dict[str, dict] = {}
    for parent in parents:
        query = f"tags.`mlflow.parentRunId` = '{parent}' and attributes.status = 'FINISHED'"
        for r in iter_runs(store.client, [store.experiment_id], query):
            key = r.data.tags.get("kvexp.config_hash")
            if key and key not in done:
                done[key] = {"run_id": r.info.run_id, "avg_latency_ms": r.data.metrics.get("avg_latency_ms")}
    return done


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
    parent = latest_parent(store, sweep)
    if parent is None:
        raise LookupError(f"no sweep named '{sweep}' in experiment {store.experiment_id} of {store.uri}")
    return parent


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
    """(parent run id, its children as a DataFrame) for a sweep name or parent run id.

    A resumed sweep's children include those of the sweeps it resumed (``resume_chain``); one
    run is kept per configuration (``one_per_config``), so a report sees each configuration
    once, also when a job was re-run after its worker died.
    """
    uri = resolve_uri(uri, cwd)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)  # creates the tables of a new database
    use_wal(uri)
    if exp is None:
        raise LookupError(f"no experiment '{experiment}' in {uri}")
    store = Store(client, uri, exp.experiment_id)
    parent = find_parent(store, sweep)
    chain = resume_chain(client, parent)
    children = [r for p in chain for r in iter_runs(client, [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{p}'")]
    return parent, one_per_config(runs_frame(children))


def one_per_config(frame: pd.DataFrame) -> pd.DataFrame:
    """One run per ``tags.kvexp.config_hash``: the latest FINISHED one, else the latest of any
    status (runs without a hash are all kept), in start order."""
    column = "tags.kvexp.config_hash"
    if column not in frame or frame.empty:
        return frame
    ranked = frame.assign(_finished=frame["status"] == "FINISHED").sort_values(["_finished", "start_time"])
    hashed = ranked[ranked[column].notna()].drop_duplicates(column, keep="last")
    kept = pd.concat([hashed, ranked[ranked[column].isna()]]).drop(columns="_finished")
    return kept.sort_values("start_time").reset_index(drop=True)


def log_files(uri: str, run_id: str, paths: Iterable[Path], artifact_path: str | None = None) -> None:
    """Attach files (plots, summary CSVs) to an existing run, e.g. a sweep's parent."""
    client = MlflowClient(uri)
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path)



def record_curve(uri: str, experiment: str, curve: pd.DataFrame, params: Mapping[str, Any],
                 files: Iterable[Path], sweep: str = "capacity_curve") -> str:
    """Log a capacity curve as a sweep: a parent run (``kvexp.sweep``) holding ``params`` and the
    files, and a child per policy whose ``hit_rate`` and ``misses`` are logged with step =
    capacity, so MLflow's metric chart draws the curve. Returns the parent run id."""
    store = open_store(uri, experiment)
    client, now = store.client, int(time.time() * 1000)
    base = {"kvexp.sweep": sweep}
    plist = [Param(k, str(v)) for k, v in params.items()]
    parent = client.create_run(store.experiment_id, tags={**base, "kvexp.role": "parent"}, run_name=sweep).info.run_id
    status = "FAILED"
    try:
        client.log_batch(parent, params=plist)
        for policy, rows in curve.groupby("policy", sort=True):
            tags = {**base, "kvexp.role": "child", "kvexp.policy": str(policy), "mlflow.parentRunId": parent}
            child = client.create_run(store.experiment_id, tags=tags, run_name=f"{sweep}/{policy}").info.run_id
            metrics = [Metric(key, float(value), now, int(cap))
                       for cap, rate, miss in zip(rows["capacity"], rows["hit_rate"], rows["misses"])
                       for key, value in (("hit_rate", rate), ("misses", miss))]
            for i in range(0, len(metrics), BATCH):
                client.log_batch(child, metrics=metrics[i:i + BATCH], params=plist if i == 0 else [])
            client.set_terminated(child, "FINISHED", end_time=int(time.time() * 1000))
        for path in files:
            client.log_artifact(parent, str(path))
        status = "FINISHED"
    finally:
        client.set_terminated(parent, status, end_time=int(time.time() * 1000))
    return parent
