"""The kvexp command: each Hydra job builds a run from its config, simulates it, records it in
MLflow and says what happened (a short summary for one run, one line per run in a sweep).

A failed job is recorded too (status FAILED, tag kvexp.error) before the error propagates, so
Hydra still exits non-zero and the sweep's parent run ends FAILED. Whatever fails, the user sees
one line on stderr, ``kvexp: error: <what, naming the key, file or line>``; KVEXP_TRACEBACK=1
(or HYDRA_FULL_ERROR=1) shows the Python traceback instead.
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import Any, Mapping, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from kvexp import sweeps, tracking
from kvexp.config import Progress, register_schemas
from kvexp.engine import Result
from kvexp.run import build, execute, labels, replicates
from kvexp.timeline import ProgressBar, Timeline, observer_every


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


def run_name(tags: dict[str, str], cfg: DictConfig, overrides: list[str]) -> str:
    """A readable MLflow run name: policy (or ablation arm) with its replicate values, workload,
    scenario (or tiers-quant-prefetch) and seed."""
    seed = cfg.workload.get("seed")
    pairs = [o.split("=", 1) for o in overrides if not o.startswith("workload.seed=")]
    varied = ",".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in pairs)
    head = (tags.get("kvexp.arm") or tags["kvexp.policy"]) + (f"[{varied}]" if varied else "")
    where = tags.get("kvexp.scenario") or f"{tags['kvexp.tiers']}-{tags['kvexp.quant']}-{tags['kvexp.prefetch']}"
    return f"{head}/{tags['kvexp.workload']}/{where}" + (f"/s{seed}" if seed is not None else "")


def show_progress(cfg: DictConfig, length: int, multirun: bool) -> bool:
    """A bar for single runs only: always, never, or (auto) long runs on a terminal."""
    mode = cfg.output.progress
    if multirun or mode == Progress.never:
        return False
    return mode == Progress.always or (length >= cfg.output.progress_min_accesses and sys.stderr.isatty())


def write_artifacts(folder: Path, cfg: DictConfig, result: Result | None, timeline: Timeline, title: str,
                    plot: bool) -> Path:
    """The files logged with a run: resolved config, metrics and the cumulative timeline."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if result is not None:
        (folder / "metrics.json").write_text(json.dumps(result.metrics, indent=1))
    if timeline.rows:
        timeline.write_csv(folder / "timeline.csv")
        if plot:
            timeline.plot(folder / "timeline.png", title)
    return folder


@functools.lru_cache(maxsize=4)
def single_store(uri: str, experiment: str, artifact_root: str | None) -> tracking.Store:
    """The store of a single run, opened once per process (replicates reuse it)."""
    return tracking.open_store(uri, experiment, artifact_root)


def record(cfg: DictConfig, hc: Any, tags: dict[str, str], start: float, result: Result | None,
           timeline: Timeline, error: BaseException | None, multirun: bool, overrides: list[str], folder: Path) -> str:
    """Write the run to MLflow: as a child of the sweep's parent in a multirun, else on its own."""
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    uri = tracking.resolve_uri(cfg.tracking.uri, hc.runtime.cwd)
    tags = {**tags, "kvexp.config_hash": tracking.config_hash(resolved), "kvexp.role": "child" if multirun else "single",
            "kvexp.overrides": " ".join([*hc.overrides.task, *(["~replicate", *overrides] if overrides else [])])[:5000]}
    if cfg.sweep:
        tags["kvexp.sweep"] = str(cfg.sweep)
    if multirun:
        info = sweeps.sweep_parent(Path(hc.runtime.cwd) / str(hc.sweep.dir))
        if info["uri"] != uri:
            raise ValueError(f"tracking.uri: {uri} differs from the sweep's {info['uri']}; it cannot be swept")
        store = tracking.store_for(info)
        tags.update({"mlflow.parentRunId": info["parent_run_id"], "kvexp.sweep": info["sweep"],
                     "kvexp.job": str(hc.job.num)})
    else:
        store = single_store(uri, cfg.tracking.experiment, cfg.tracking.artifact_root)
    status = "FINISHED"
    if error is not None:
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        tags["kvexp.error"] = f"{error.__class__.__name__}: {error}"[:5000]
    name = run_name(tags, cfg, overrides)
    plot = cfg.tracking.plot if cfg.tracking.plot is not None else not multirun
    write_artifacts(folder, cfg, result, timeline, name, plot)
    return tracking.record_run(store, name=name, start_s=start, tags=tags, params=tracking.run_params(resolved),
                               metrics=result.metrics if result else {}, artifacts=folder, status=status)


def summary(tags: dict[str, str], m: dict[str, float], run_id: str | None, uri: str, seed: Any,
            overrides: list[str]) -> str:
    varied = f" [{' '.join(overrides)}]" if overrides else ""
    lines = [
        f"kvexp: {tags['kvexp.policy']} on {tags['kvexp.workload']} (seed {seed}), tiers {tags['kvexp.tiers']}, "
        f"{tags['kvexp.quant']}, prefetch {tags['kvexp.prefetch']}{varied}",
        f"  accesses     {m['accesses']:,.0f} ({m['reads']:,.0f} reads, {m['writes']:,.0f} writes)",
        f"  hit rate     {m['hit_rate']:.3f}",
        f"  misses       {m['misses']:,.0f} ({m['cold_misses']:,.0f} cold)",
        f"  avg latency  {m['avg_latency_ms']:.4f} ms (simulated)",
        f"  bytes moved  {human_bytes(m['bytes_moved'])} (demand {human_bytes(m['demand_bytes'])}, "
        f"prefetch {human_bytes(m['prefetch_bytes'])})",
    ]
    lines.append(f"  mlflow run   {run_id} in {uri}" if run_id else "  mlflow run   (tracking disabled)")
    return "\n".join(lines)


def sweep_line(num: str, name: str, m: dict[str, float] | None, run_id: str | None, error: BaseException | None) -> str:
    rid = run_id[:8] if run_id else "-"
    if error is not None:
        first_line = str(error).splitlines()[0] if str(error) else ""
        return f"#{num:<4} FAILED   {name}: {error.__class__.__name__}: {first_line} [{rid}]"
    return (f"#{num:<4} {name}: hit {m['hit_rate']:.3f}  misses {m['misses']:.0f}  "
            f"lat {m['avg_latency_ms']:.3f} ms  moved {human_bytes(m['bytes_moved'])} [{rid}]")


def run_one(cfg: DictConfig, hc: Any, tags: dict[str, str], overrides: list[str], number: str,
            folder: Path, skip: Mapping[str, dict]) -> tuple[dict | None, BaseException | None]:
    """Build, simulate and record one run; report it (a summary, or one line in a sweep).
    Returns its metrics (None if it failed) and its error. A run whose config hash is in
    ``skip`` (already FINISHED: ``tracking.resume``) is not run again."""
    multirun = hc.mode == RunMode.MULTIRUN
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True) if skip else None
    done = skip.get(tracking.config_hash(resolved)) if skip else None
    if done:
        print(f"#{number:<4} skipped  {run_name(tags, cfg, overrides)}: FINISHED before [{done['run_id'][:8]}]", flush=True)
        return {"avg_latency_ms": done.get("avg_latency_ms")}, None
    start = time.time()
    timeline, bar = Timeline(), None
    result: Result | None = None
    error: BaseException | None = None
    try:
        parts = build(cfg)
        length = len(parts.trace)
        observers: list = [timeline]
        if show_progress(cfg, length, multirun):
            bar = ProgressBar(length, f"{tags['kvexp.policy']}/{tags['kvexp.workload']}")
            observers.append(bar)
        result = execute(parts, observers, observer_every(length, cfg.tracking.timeline_points))
    except BaseException as e:  # recorded below, then re-raised by the caller
        error = e
    finally:
        if bar is not None:
            bar.close()
    run_id = None
    if cfg.tracking.enabled:
        try:
            run_id = record(cfg, hc, tags, start, result, timeline, error, multirun, overrides, folder)
        except Exception as track_error:
            if error is None:
                raise
            print(f"kvexp: the failed run could not be recorded: {track_error}", file=sys.stderr)
    if multirun:
        metrics = result.metrics if result else None
        print(sweep_line(number, run_name(tags, cfg, overrides), metrics, run_id, error), flush=True)
    elif result is not None:
        uri = tracking.resolve_uri(cfg.tracking.uri, hc.runtime.cwd)
        print(summary(tags, result.metrics, run_id, uri, cfg.workload.get("seed"), overrides))
    return (result.metrics if result else None), error


def job(cfg: DictConfig) -> float:
    """One Hydra job: one run, or one per combination of ``replicate`` values. Returns the mean
    simulated average latency (an objective for optimizing sweepers)."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    tags = labels(cfg, hc.runtime.choices)
    skip: dict[str, dict] = {}
    try:
        runs = replicates(cfg)
        if cfg.tracking.enabled and multirun:
            skip = sweeps.sweep_parent(Path(hc.runtime.cwd) / str(hc.sweep.dir)).get("skip", {})
        elif cfg.tracking.enabled:  # open the store now: an unreachable one fails before simulating
            single_store(tracking.resolve_uri(cfg.tracking.uri, hc.runtime.cwd), cfg.tracking.experiment,
                         cfg.tracking.artifact_root)
    except Exception as e:
        if multirun:
            raise
        fail(e)
    out = Path(hc.runtime.output_dir) / "kvexp"
    num = str(hc.job.num) if multirun else "0"
    outcomes = []
    for i, (overrides, variant) in enumerate(runs):
        many = len(runs) > 1
        outcome = run_one(variant, hc, tags, overrides, f"{num}.{i}" if many else num, out / str(i) if many else out,
                          skip)
        outcomes.append(outcome)
        if isinstance(outcome[1], KeyboardInterrupt):
            raise outcome[1]
    errors = [e for _, e in outcomes if e is not None]
    if errors:
        if not multirun:
            fail(errors[0])
        raise errors[0]
    latencies = [m["avg_latency_ms"] for m, _ in outcomes if m and m.get("avg_latency_ms") is not None]
    return sum(latencies) / len(latencies) if latencies else float("nan")


def record_lost_job(sweep_config: DictConfig, reason: str) -> None:
    """In the launching process: record a FAILED run for a job whose worker died before it could
    record its own (see hydra_plugins.kvexp_launcher), with the job's config, so the sweep names
    it and a resumed sweep runs it again."""
    hc = sweep_config.hydra
    cfg = OmegaConf.create(OmegaConf.to_container(sweep_config, resolve=False))
    with open_dict(cfg):
        del cfg["hydra"]
    folder = Path(hc.runtime.cwd) / str(hc.sweep.dir) / str(hc.sweep.subdir) / "kvexp"
    error, tags = WorkerDied(reason), labels(cfg, hc.runtime.choices)
    run_id = record(cfg, hc, tags, time.time(), None, Timeline(), error, True, [], folder)
    print(sweep_line(str(hc.job.num), run_name(tags, cfg, []), None, run_id, error), flush=True)


class WorkerDied(RuntimeError):
    """The process running a job ended without reporting back (killed, out of memory, crashed)."""


# ---- errors: one line ----------------------------------------------------------------------
def traceback_wanted() -> bool:
    """KVEXP_TRACEBACK=1 asks for tracebacks (``cli`` sets it when the user set HYDRA_FULL_ERROR)."""
    return os.environ.get("KVEXP_TRACEBACK", "") not in ("", "0")


def error_line(error: BaseException) -> str:
    """``error`` as one line that names the key, option, file or line at fault and what was
    expected: kvexp's own messages already do; Hydra's and OmegaConf's are condensed."""
    text = str(error)
    if isinstance(error, MissingConfigException):
        wanted = re.search(r"Could not find '([^']*)'", text)
        options = re.findall(r"^\t(\S+)$", text.split("Config search path")[0], re.MULTILINE)
        if wanted and "/" in wanted.group(1):
            group, option = wanted.group(1).rsplit("/", 1)
            return f"{group}: no option '{option}'; expected one of: {', '.join(options) or '(none)'}"
    cause = error.__cause__
    if isinstance(error, HydraException) and isinstance(cause, OmegaConfBaseException) and cause.full_key:
        key = cause.full_key
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
            known = list(cause.parent_node.keys()) if cause.parent_node is not None else []
            return f"{key}: no such key; expected one of: {', '.join(map(str, known))} (a new key needs +{key}=...)"
        return f"{key}: {str(cause).splitlines()[0]}"
    if isinstance(error, BrokenExecutor):  # joblib's own launcher, when a worker process died
        codes = re.search(r"exit codes of the workers are (\{.*?\})", text)
        return (f"a worker process died{f' (exit codes {codes.group(1)})' if codes else ''} and the jobs not yet "
                f"finished were lost with it; expected hydra/launcher=resilient_joblib, which re-runs them")
    if isinstance(error, OSError) and error.filename:  # Hydra creating or writing its output folders
        return (f"{error.filename}: cannot create or write ({error.strerror}); expected a writable output folder "
                f"(hydra.run.dir, hydra.sweep.dir)")
    lines = [line.strip() for line in text.split("Config search path")[0].splitlines() if line.strip()]
    message = "; ".join(lines) or "(no message)"
    if isinstance(error, (ValueError, LookupError, OSError, HydraException)):
        return message
    return f"{error.__class__.__name__}: {message}"


def fail(error: BaseException) -> NoReturn:
    """Report ``error`` in one line and exit 1 (or re-raise it when a traceback is wanted)."""
    if traceback_wanted():
        raise error
    print(f"kvexp: error: {error_line(error)}", file=sys.stderr, flush=True)
    sys.exit(1)


# conf/ sits beside the package in the source tree (absolute: `python -m` would read a relative
# path as a Python package).
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")(job)


def cli() -> None:
    """``python -m kvexp``: Hydra's command line, with the sweep's parent run closed however it
    ends, and any error reported in one line (``fail``)."""
    register_schemas()
    if os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0"):
        os.environ["KVEXP_TRACEBACK"] = "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra then raises its errors to us instead of printing them
    try:
        main()
    except SystemExit as e:
        sweeps.close_sweep(failed=e.code not in (0, None))
        raise
    except Exception as e:
        pool_error = error_line(e) if isinstance(e, BrokenExecutor) else None
        sweep_error = sweeps.close_sweep(failed=True, error=error_line(e), pool_error=pool_error)
        if sweep_error and not traceback_wanted():  # names the failed jobs, if any
            print(f"kvexp: error: {sweep_error}", file=sys.stderr, flush=True)
            sys.exit(1)
        fail(e)
    except BaseException:
        sweeps.close_sweep(failed=True)
        raise
    sweeps.close_sweep(failed=False)
