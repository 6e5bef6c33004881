"""`python -m kvexp.report` on a small real sweep (a slice of the regret ablation, two seeds) in a
temporary MLflow store: summary rows and arithmetic against runs read back from MLflow, plots
written and logged to the parent, the choice among several parents, and bad input."""
from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from kvexp.report import ReportError, label_runs, load_sweep, main, summarize, write_report

WEIGHTS, HORIZONS = (1, 6, 12), (8, 24, 64)
VARIANTS = {"lru"} | {f"regret_aware h={h} w={w}" for w in WEIGHTS for h in HORIZONS}
ABLATION_PLOTS = {"ablation_latency_vs_horizon.png", "ablation_hit_rate_vs_weight.png",
                  "ablation_tradeoff_adversarial_burst_constrained.png", "ablation_neutral_periodic_reuse.png"}
PLOTS = {"bars_hit_rate.png", "bars_avg_latency_ms.png", "bars_bytes_moved.png", "latency_vs_bytes.png"} | ABLATION_PLOTS


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, str, MlflowClient]:
    """The ablation's constrained scenario, two workloads, lru and the nine regret_aware arms,
    seeds 7 and 42: 4 Hydra jobs, 40 runs."""
    tmp = tmp_path_factory.mktemp("report")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "kvexp", "-m", "+experiment=regret_ablation", "+scenario=constrained",
           "+ablation/workload=periodic_reuse,adversarial_burst", "+ablation/arm=lru,regret_aware",
           "replicate.workload.seed=[7,42]", "hydra.launcher.n_jobs=2", f"tracking.uri={uri}",
           f"hydra.sweep.dir={tmp / 'multirun'}"]
    proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp, uri, MlflowClient(uri)


@pytest.fixture(scope="module")
def report(sweep) -> tuple[Path, pd.DataFrame]:
    tmp, uri, _ = sweep
    out = tmp / "report"
    assert main(["regret_ablation", "--uri", uri, "--out", str(out)]) == 0
    return out, pd.read_csv(out / "summary.csv", dtype={"seeds": str})


def parent_of(client: MlflowClient) -> str:
    exp = client.get_experiment_by_name("kvexp").experiment_id
    (parent,) = client.search_runs([exp], "tags.`kvexp.role` = 'parent' and attributes.status = 'FINISHED'")
    return parent.info.run_id


def test_summary_has_one_row_per_workload_and_variant_over_both_seeds(report):
    _, summary = report
    assert list(summary.columns[:8]) == ["scenario", "workload", "policy", "variant", "policy.regret_horizon",
                                         "policy.regret_weight", "n_runs", "seeds"]
    assert {"hit_rate_mean", "hit_rate_std", "avg_latency_ms_mean", "bytes_moved_std", "misses_mean"} <= set(summary.columns)
    assert len(summary) == 2 * len(VARIANTS)
    for workload in ("periodic_reuse", "adversarial_burst"):
        assert set(summary.loc[summary["workload"] == workload, "variant"]) == VARIANTS
    assert set(summary["scenario"]) == {"constrained"}
    assert (summary["n_runs"] == 2).all() and (summary["seeds"] == "7 42").all()


def test_means_and_stds_match_the_runs_in_mlflow(sweep, report):
    _, _, client = sweep
    _, summary = report
    children = client.search_runs([client.get_experiment_by_name("kvexp").experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{parent_of(client)}'", max_results=1000)
    assert len(children) == 40
    cells: dict[tuple, list] = {}
    for run in children:
        p = run.data.params
        variant = ("lru" if run.data.tags["kvexp.policy"] == "lru"
                   else f"regret_aware h={int(p['policy.regret_horizon'])} w={float(p['policy.regret_weight']):g}")
        cells.setdefault((run.data.tags["kvexp.workload"], variant), []).append(run.data.metrics)
    for (workload, variant), runs in cells.items():
        row = summary[(summary["workload"] == workload) & (summary["variant"] == variant)].iloc[0]
        for metric in ("hit_rate", "avg_latency_ms", "bytes_moved", "misses"):
            values = [m[metric] for m in runs]
            assert row[f"{metric}_mean"] == pytest.approx(statistics.mean(values), rel=1e-9)
            assert row[f"{metric}_std"] == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-12)
    # the seeds differ on adversarial_burst, so the spread is real there
    assert summary.loc[summary["workload"] == "adversarial_burst", "avg_latency_ms_std"].gt(0).all()


def test_plots_are_written_and_logged_with_the_csv_to_the_parent(sweep, report):
    tmp, _, client = sweep
    out, summary = report
    assert {p.name for p in out.glob("*.png")} == PLOTS  # no prefetch in this sweep: no usefulness bars
    assert all((out / name).stat().st_size > 10_000 for name in PLOTS)
    parent = parent_of(client)
    logged = {Path(a.path).name for a in client.list_artifacts(parent, "report")}
    assert logged == PLOTS | {"summary.csv"}
    copy = pd.read_csv(client.download_artifacts(parent, "report/summary.csv", str(tmp)), dtype={"seeds": str})
    pd.testing.assert_frame_equal(copy, summary)


def test_a_relaunch_still_running_does_not_hide_the_ended_sweep(sweep):
    _, uri, client = sweep
    finished = parent_of(client)
    exp = client.get_experiment_by_name("kvexp").experiment_id
    running = client.create_run(exp, tags={"kvexp.role": "parent", "kvexp.sweep": "regret_ablation"}).info.run_id
    parent, runs = load_sweep("regret_ablation", uri)
    assert parent == finished and len(runs) == 40
    with pytest.raises(ReportError, match=f"no runs found under parent run {running}"):
        load_sweep(running, uri)  # asked for by id, the empty relaunch is an error
    client.set_terminated(running, "FAILED")  # once it has ended it is the latest: an empty sweep
    with pytest.raises(ReportError, match="no runs found"):
        load_sweep("regret_ablation", uri)


def test_bad_input_is_one_line_and_exit_2(sweep, capsys, tmp_path):
    _, uri, _ = sweep
    assert main(["no_such_sweep", "--uri", uri, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no sweep named 'no_such_sweep'" in err[0] and "known: regret_ablation" in err[0]
    assert main(["regret_ablation", "--uri", f"sqlite:///{tmp_path / 'missing.db'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.db not found" in err[0]
    assert not (tmp_path / "missing.db").exists() and not list(tmp_path.iterdir())  # nothing written
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def fake_run(status: str, policy: str, scale: str, seed: str, hit: float, prefetch: str = "none") -> dict:
    """One row as mlflow.search_runs lays it out, for the parts that need no store."""
    return {"run_id": f"{policy}{scale}{seed}{prefetch}", "status": status, "tags.kvexp.policy": policy,
            "tags.kvexp.workload": "rag_burst", "tags.kvexp.tiers": "half", "tags.kvexp.quant": "fp16",
            "tags.kvexp.prefetch": prefetch, "params.tiers.scale": scale, "params.workload.seed": seed,
            "params.policy.decay": "0.9" if policy == "regret_aware" else None, "metrics.hit_rate": hit,
            "metrics.avg_latency_ms": 1.0 - hit, "metrics.bytes_moved": 1e6 * (1.0 - hit),
            "metrics.prefetch_requests": 10.0 if prefetch != "none" else 0.0,
            "metrics.prefetch_usefulness": 0.5 if prefetch != "none" else 0.0}


def test_labels_fold_other_swept_keys_into_the_scenario_and_skip_unfinished_runs():
    runs = pd.DataFrame([fake_run("FINISHED", "lru", "0.5", "1", 0.2), fake_run("FINISHED", "lru", "0.5", "2", 0.4),
                         fake_run("FINISHED", "lru", "0.25", "1", 0.1), fake_run("FAILED", "lru", "0.25", "2", 0.9),
                         fake_run("FINISHED", "regret_aware", "0.5", "1", 0.3)])
    summary = summarize(label_runs(runs)).set_index(["scenario", "variant"])
    assert set(summary.index) == {("half/fp16/none tiers.scale=0.5", "lru"), ("half/fp16/none tiers.scale=0.25", "lru"),
                                  ("half/fp16/none tiers.scale=0.5", "regret_aware")}
    assert summary.loc[("half/fp16/none tiers.scale=0.5", "lru"), "hit_rate_mean"] == pytest.approx(0.3)
    assert summary.loc[("half/fp16/none tiers.scale=0.25", "lru"), "n_runs"] == 1  # the FAILED run is left out
    with pytest.raises(ReportError, match="none of its runs FINISHED"):
        label_runs(runs[runs["status"] == "FAILED"])


def test_a_sweep_without_regret_variants_gets_the_policy_plots_only(tmp_path):
    runs = pd.DataFrame([fake_run("FINISHED", policy, "0.5", seed, hit, prefetch)
                         for policy, hit in (("lru", 0.2), ("regret_aware", 0.3)) for seed in ("1", "2")
                         for prefetch in ("none", "markov")])
    summary = summarize(label_runs(runs))
    assert set(summary["scenario"]) == {"half/fp16/none", "half/fp16/markov"} and set(summary["variant"]) == {"lru", "regret_aware"}
    files = write_report(summary, tmp_path, "adhoc")
    assert {f.name for f in files} == {"summary.csv", "latency_vs_bytes.png", "bars_hit_rate.png", "bars_avg_latency_ms.png",
                                       "bars_bytes_moved.png", "bars_prefetch_usefulness.png"}
