"""``python -m kvexp.report SWEEP``: a sweep's runs from MLflow -> summary.csv and plots.

SWEEP is a sweep name (the ``kvexp.sweep`` tag: an experiment's name such as ``regret_ablation``
or ``default_sweep``, ``multirun`` for an ad-hoc ``-m``) or a parent run id. A name launched more
than once has several parents: the report reads the latest one that has ended (FINISHED or
FAILED), so a relaunch still in progress does not hide the last complete sweep; only when none
has ended does it fall back to the latest. Only FINISHED children are summarised.

Rows of summary.csv are (scenario, workload, policy variant) with the mean and sample standard
deviation (ddof=1, empty for a single run) of every metric across the seeds that ran. A policy
variant is the policy plus the parameters that vary among its runs in the sweep (``regret_aware
h=24 w=6``). The scenario is the ``kvexp.scenario`` tag, else tiers/quant/prefetch, plus any other
swept parameter. The CSV and plots are written to the output folder and logged to the parent run
under ``report/``. These are simulator figures (simulated latency and traffic), not runtime claims.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from kvexp import plots, tracking

# Metrics first in summary.csv (the rest follow alphabetically).
KEY_METRICS = ("hit_rate", "misses", "avg_latency_ms", "bytes_moved", "demand_bytes", "prefetch_bytes",
               "prefetch_usefulness", "evictions")
SEED = "params.workload.seed"
ENDED = ("FINISHED", "FAILED")


class ReportError(Exception):
    """Input the report cannot work from; the message is the one line the user sees."""


# ---- reading runs ------------------------------------------------------------------------
def pick_parent(parents: pd.DataFrame) -> str:
    """The latest parent that has ended (FINISHED or FAILED), else the latest of any status."""
    ordered = parents.sort_values("start_time", ascending=False)
    ended = ordered[ordered["status"].isin(ENDED)]
    return str((ended if len(ended) else ordered).iloc[0]["run_id"])


def sweep_parents(uri: str, experiment: str, sweep: str) -> pd.DataFrame:
    """Every parent run tagged with ``sweep`` (run_id, status, start_time columns).

    Stopgap: this belongs in kvexp.tracking (it drives the MLflow client); it calls only
    tracking's helpers so that module stays the only one importing mlflow.
    """
    store = tracking.open_store(uri, experiment)  # the experiment exists: sweep_runs found it
    found = tracking.iter_runs(store.client, [store.experiment_id],
                               f"tags.`kvexp.role` = 'parent' and tags.`kvexp.sweep` = '{sweep}'")
    return tracking.runs_frame(found)


def known_sweeps(uri: str, experiment: str) -> list[str]:
    """Names of the sweeps in the experiment, for the error message of an unknown one."""
    store = tracking.open_store(uri, experiment)
    parents = tracking.runs_frame(tracking.iter_runs(store.client, [store.experiment_id], "tags.`kvexp.role` = 'parent'"))
    return sorted(set(parents["tags.kvexp.sweep"].dropna())) if len(parents) else []


def load_sweep(sweep: str, uri: str | None = None, experiment: str = "kvexp", cwd: str | Path = ".") -> tuple[str, pd.DataFrame]:
    """(parent run id, its child runs laid out like ``mlflow.search_runs``); ReportError if none."""
    uri = tracking.resolve_uri(uri, cwd)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        raise ReportError(f"tracking store {uri[len('sqlite:///'):]} not found (set --uri or run from the project folder)")
    if "'" in sweep:
        raise ReportError(f"sweep: {sweep!r} is not a sweep name or run id")
    try:
        parent, children = tracking.sweep_runs(sweep, uri, experiment, cwd)
    except LookupError as e:
        if "no sweep named" in str(e):
            names = known_sweeps(uri, experiment)
            raise ReportError(f"sweep: no sweep named '{sweep}' in experiment '{experiment}' of {uri}"
                              f" (known: {', '.join(names) or 'none'})") from None
        raise ReportError(str(e)) from None
    if not tracking.RUN_ID.match(sweep):
        chosen = pick_parent(sweep_parents(uri, experiment, sweep))
        if chosen != parent:
            parent, children = tracking.sweep_runs(chosen, uri, experiment, cwd)
    if len(children) == 0:
        raise ReportError(f"sweep: no runs found under parent run {parent} in experiment '{experiment}' of {uri}")
    return parent, children


# ---- summarising -------------------------------------------------------------------------
def _fmt(value: object) -> str:
    """6.0 -> '6', 24 -> '24', other text as is (labels and seeds)."""
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return f"{number:g}" if pd.notna(number) else str(value)


def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """Short labels for policy parameters: initials of the last word (regret_weight -> w) when
    those are unique among ``keys``, else the full name."""
    initials = {k: k.rsplit("_", 1)[-1][0] for k in keys}
    unique = len(set(initials.values())) == len(initials)
    return {k: initials[k] if unique else k for k in keys}


def variant_params(runs: pd.DataFrame) -> dict[str, list[str]]:
    """Per policy, the ``params.policy.*`` columns whose values vary among that policy's runs."""
    cols = [c for c in runs.columns if c.startswith("params.policy.") and c != "params.policy._target_"]
    return {p: [c for c in cols if group[c].nunique(dropna=True) > 1] for p, group in runs.groupby("policy")}


def label_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """FINISHED runs with the columns the summary groups by: scenario, workload, policy, variant,
    seed, and one ``policy.<param>`` column per varying policy parameter (numeric)."""
    df = runs[runs["status"] == "FINISHED"].copy()
    if df.empty:
        raise ReportError("sweep: none of its runs FINISHED; nothing to summarise")
    df["policy"] = df["tags.kvexp.policy"].astype(str)
    df["workload"] = df["tags.kvexp.workload"].astype(str)
    where = df["tags.kvexp.tiers"].astype(str) + "/" + df["tags.kvexp.quant"].astype(str) + "/" + df["tags.kvexp.prefetch"].astype(str)
    df["scenario"] = df["tags.kvexp.scenario"].fillna(where) if "tags.kvexp.scenario" in df else where
    df["seed"] = df[SEED].map(_fmt) if SEED in df else ""
    varying = variant_params(df)
    keys = sorted({c for cols in varying.values() for c in cols})
    for c in keys:
        df[c.removeprefix("params.")] = pd.to_numeric(df[c], errors="coerce")
    labels = []
    for _, row in df.iterrows():
        cols = varying[row["policy"]]
        short = _short_names([c.removeprefix("params.policy.") for c in cols])
        labels.append(" ".join([row["policy"], *(f"{short[c.removeprefix('params.policy.')]}={_fmt(row[c])}" for c in cols)]))
    df["variant"] = labels
    # anything else swept (e.g. tiers.scale=0.5,0.4 in an ad-hoc multirun) belongs to the scenario
    fixed = {SEED, *(c for c in df.columns if c.startswith("params.policy."))}
    params = [c for c in df.columns if c.startswith("params.") and c not in fixed]
    groups = df.groupby(["scenario", "workload", "variant"])
    extra = [c for c in params if (groups[c].nunique(dropna=False) > 1).any()]
    for c in extra:
        df["scenario"] = df["scenario"] + " " + c.removeprefix("params.") + "=" + df[c].map(_fmt)
    return df


def summarize(labelled: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, workload, policy variant): runs, seeds, mean and std of each metric."""
    metrics = [c.removeprefix("metrics.") for c in labelled.columns if c.startswith("metrics.")]
    metrics = [m for m in KEY_METRICS if m in metrics] + sorted(m for m in metrics if m not in KEY_METRICS)
    pcols = [c for c in labelled.columns if c.startswith("policy.")]
    keys = ["scenario", "workload", "policy", *pcols, "variant"]
    rows = []
    for key, group in labelled.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, key))
        row["n_runs"] = len(group)
        row["seeds"] = " ".join(sorted(group["seed"].astype(str), key=lambda s: (len(s), s)))
        for m in metrics:
            values = group[f"metrics.{m}"].astype(float)
            row[f"{m}_mean"] = values.mean()
            row[f"{m}_std"] = values.std(ddof=1)
        rows.append(row)
    cols = ["scenario", "workload", "policy", "variant", *pcols, "n_runs", "seeds"]
    table = pd.DataFrame(rows)
    return table[cols + [c for c in table.columns if c not in cols]]


# ---- the command ---------------------------------------------------------------------------
def write_report(summary: pd.DataFrame, out: Path, sweep: str) -> list[Path]:
    """summary.csv and every plot the summary supports, in ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "summary.csv"
    summary.to_csv(csv, index=False)
    return [csv, *plots.draw_all(summary, out, sweep)]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kvexp.report",
                                 description="Summarise a kvexp sweep from MLflow: summary.csv (mean and std across "
                                             "seeds) and plots, logged to the sweep's parent run.")
    ap.add_argument("sweep", help="sweep name (kvexp.sweep tag, e.g. regret_ablation, default_sweep, multirun) "
                                  "or a parent run id")
    ap.add_argument("--uri", help="tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db)")
    ap.add_argument("--experiment", default="kvexp", help="MLflow experiment (default: kvexp)")
    ap.add_argument("--out", type=Path, help="output folder (default: outputs/report/<sweep>)")
    ap.add_argument("--no-log", action="store_true", help="do not log the files to the parent run")
    args = ap.parse_args(argv)
    try:
        parent, runs = load_sweep(args.sweep, args.uri, args.experiment)
        labelled = label_runs(runs)
    except ReportError as e:
        print(f"kvexp.report: error: {e}", file=sys.stderr)
        return 2
    skipped = len(runs) - len(labelled)
    if skipped:
        print(f"kvexp.report: note: {skipped} of {len(runs)} runs did not finish and are left out", file=sys.stderr)
    name = str(labelled["tags.kvexp.sweep"].iloc[0]) if "tags.kvexp.sweep" in labelled else args.sweep
    out = args.out or Path("outputs") / "report" / args.sweep
    files = write_report(summarize(labelled), out, name)
    if not args.no_log:
        tracking.log_files(tracking.resolve_uri(args.uri, "."), parent, files, "report")
    logged = "" if args.no_log else f"; logged to run {parent} under report/"
    print(f"kvexp.report: {len(labelled)} runs of sweep '{name}' (parent {parent}) -> {out}: "
          f"{', '.join(f.name for f in files)}{logged}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
