"""A multirun's parent run, kept by the launching process: opened before any job starts,
resumed from an earlier sweep of the same name, told about jobs whose worker died, and closed
FAILED or FINISHED naming the failed jobs (see kvexp.tracking for the schema).

Opening it once, in the launching process, is what keeps parallel workers from racing: they
neither create the tables of a fresh SQLite store nor create the experiment (concurrent creation
misfiles runs into "Default"); they read the store, experiment and parent from the sweep file.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kvexp.tracking import (Store, end_run, fail_run, finished_configs, iter_runs, latest_parent, open_store,
                            resume_chain)

SWEEP_FILE = "kvexp-tracking.json"  # in the sweep dir: how jobs find the parent run


@dataclass
class _Sweep:
    store: Store
    parent_run_id: str
    sweep_dir: Path
    started: float
    info: dict  # what the sweep file holds
    lost: dict = field(default_factory=dict)  # job number -> why its worker died


_open_sweep: _Sweep | None = None  # the sweep this (launching) process has open


def open_sweep(uri: str, experiment: str, artifact_root: str | None, name: str, sweep_dir: Path,
               tags: Mapping[str, str], resume: bool = False) -> str:
    """In the launching process, before any job starts: open the store and the experiment,
    create the parent run and write the sweep file through which jobs find both. Returns the
    parent run id; ``close_sweep`` ends it.

    With ``resume``, the parent continues the latest sweep of the same name in the experiment
    (tag kvexp.resumed_from), and the sweep file lists the config hashes that already have a
    FINISHED run in that chain: jobs skip those runs (see ``sweep_parent``).
    """
    global _open_sweep
    store = open_store(uri, experiment, artifact_root)
    tags = {**tags, "kvexp.role": "parent", "kvexp.sweep": name}
    skip: dict[str, dict] = {}
    previous = latest_parent(store, name) if resume else None
    if previous:
        tags["kvexp.resumed_from"] = previous
        skip = finished_configs(store, resume_chain(store.client, previous))
    run = store.client.create_run(store.experiment_id, tags=tags, run_name=name)
    if previous:  # how many configurations the jobs may skip
        store.client.log_metric(run.info.run_id, "n_resumed", len(skip))
    info = {"uri": uri, "experiment_id": store.experiment_id, "parent_run_id": run.info.run_id, "sweep": name,
            "skip": skip}
    _open_sweep = _Sweep(store, run.info.run_id, Path(sweep_dir), time.time(), info)
    write_sweep_file(Path(sweep_dir), info)
    return run.info.run_id


def write_sweep_file(sweep_dir: Path, info: Mapping[str, Any]) -> None:
    sweep_dir.mkdir(parents=True, exist_ok=True)
    tmp = sweep_dir / (SWEEP_FILE + ".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(sweep_dir / SWEEP_FILE)  # atomic: a job never reads half a file


def sweep_parent(sweep_dir: Path) -> dict[str, Any]:
    """In a job: what the launching process wrote (uri, experiment_id, parent_run_id, sweep, and
    skip: config hash -> {run_id, avg_latency_ms} of runs already FINISHED)."""
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.exists():
        raise RuntimeError(f"{path} not found: a multirun job needs the kvexp tracking callback "
                           f"(hydra.callbacks.tracking) to have opened the sweep, or tracking.enabled=false")
    return json.loads(path.read_text())


def skip_finished_children() -> None:
    """Add this sweep's own FINISHED runs to the sweep file's skip list, so jobs re-run after
    their worker died (hydra_plugins.kvexp_launcher) do not record a run twice. In the
    launching process."""
    sweep = _open_sweep
    if sweep is None:
        return
    sweep.info["skip"].update(finished_configs(sweep.store, [sweep.parent_run_id]))
    write_sweep_file(sweep.sweep_dir, sweep.info)


def note_lost_job(job: int, reason: str) -> None:
    """Record, in the launching process, that job ``job`` died with its worker (it may have no run)."""
    if _open_sweep is not None:
        _open_sweep.lost[int(job)] = reason


def close_sweep(failed: bool = False, error: str | None = None, pool_error: str | None = None) -> str | None:
    """End the parent run of the multirun this process opened, if any: FAILED when the multirun
    failed (``error`` says why, if known; ``pool_error`` when the worker pool itself broke) or
    any job did, else FINISHED. Returns the parent's error message (tag kvexp.error, naming the
    failed jobs) when it FAILED, else None. Safe to call twice.

    A child still RUNNING belonged to a worker that died while writing it: it is marked FAILED.
    A config that FAILED once but has a FINISHED run (a job re-run after its worker died) counts
    as finished.
    """
    global _open_sweep
    sweep, _open_sweep = _open_sweep, None
    if sweep is None:
        return None
    store, run_id = sweep.store, sweep.parent_run_id
    children = list(iter_runs(store.client, [store.experiment_id], f"tags.`mlflow.parentRunId` = '{run_id}'"))
    unfinished = "the job ended before its run was complete"
    for r in children:
        if r.info.status == "RUNNING":
            fail_run(store, r.info.run_id, unfinished)
    finished = {r.data.tags.get("kvexp.config_hash") for r in children if r.info.status == "FINISHED"}
    bad = [r for r in children if r.info.status != "FINISHED" and r.data.tags.get("kvexp.config_hash") not in finished]
    errors = {int(r.data.tags["kvexp.job"]): r.data.tags.get("kvexp.error", unfinished)
              for r in sorted(bad, key=lambda r: r.info.start_time) if r.data.tags.get("kvexp.job", "").isdigit()}
    errors = {**sweep.lost, **errors}
    status = "FAILED" if failed or bad or errors else "FINISHED"
    name = sweep.info["sweep"]
    if status == "FINISHED":
        error = None
    elif errors:
        first = min(errors)
        n_jobs = len({r.data.tags.get("kvexp.job") for r in children} - {None} | {str(j) for j in errors})
        listed = ", ".join(f"#{j}" for j in sorted(errors))
        error = (f"sweep '{name}': {len(errors)} of {n_jobs} jobs failed ({listed}); "
                 f"#{first}: {str(errors[first]).splitlines()[0][:300]}")
    else:
        error = error or f"sweep '{name}' failed" + (f" ({len(bad)} runs failed)" if bad else "")
    if error and pool_error:
        error = f"{pool_error}; {error}"
    metrics = {"n_runs": len(children), "n_failed": len(bad), "n_failed_jobs": len(errors),
               "wall_s": time.time() - sweep.started}
    tags = {"kvexp.error": error, "kvexp.failed_jobs": ",".join(map(str, sorted(errors)))} if error else {}
    multirun_yaml = sweep.sweep_dir / "multirun.yaml"
    end_run(store, run_id, status, metrics, tags, [multirun_yaml] if multirun_yaml.exists() else [])
    return error
