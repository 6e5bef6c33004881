"""A capacity curve is logged to MLflow as a sweep: parent with files, one child per policy whose
hit_rate history (step = capacity) is the curve itself."""
from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from kvexp import tracking
from kvexp.curves import capacity_curve
from kvexp.policies.belady import Belady
from kvexp.policies.lru import LRU
from kvexp.workloads.synthetic import long_tail_mix


def test_record_curve_logs_parent_and_a_child_per_policy(tmp_path):
    trace = long_tail_mix(n_pages=60, length=600, seed=3)
    curve = capacity_curve(trace, [2, 5, 10, 20], {"lru": LRU, "belady": Belady})
    csv = tmp_path / "curve.csv"
    curve.to_csv(csv, index=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = tracking.record_curve(uri, "curves", curve, {"trace": "long_tail_mix"}, [csv])

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("curves").experiment_id
    runs = client.search_runs([experiment])
    assert {r.info.status for r in runs} == {"FINISHED"} and len(runs) == 3
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
    assert sorted(r.data.tags["kvexp.policy"] for r in children) == ["belady", "lru"]
    for child in children:
        history = client.get_metric_history(child.info.run_id, "hit_rate")
        logged = pd.Series({m.step: m.value for m in history}).sort_index()
        expected = curve[curve.policy == child.data.tags["kvexp.policy"]].set_index("capacity")["hit_rate"]
        assert list(logged.index) == [2, 5, 10, 20]
        assert logged.tolist() == expected.sort_index().tolist()
    assert [a.path for a in client.list_artifacts(parent)] == ["curve.csv"]
    # Belady bounds lru at every capacity in what was logged
    by = {r.data.tags["kvexp.policy"]: r.info.run_id for r in children}
    lru = {m.step: m.value for m in client.get_metric_history(by["lru"], "hit_rate")}
    opt = {m.step: m.value for m in client.get_metric_history(by["belady"], "hit_rate")}
    assert all(opt[c] >= lru[c] for c in lru)
