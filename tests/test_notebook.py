"""The analysis notebook runs top to bottom (nbclient, the python3 kernel) against a small real
sweep in a temporary MLflow store, and shows that sweep's policies and numbers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
from mlflow.tracking import MlflowClient
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "kv_policy_analysis.ipynb"


def outputs(cell) -> str:
    """Everything a code cell showed as text (streams and the plain-text form of results)."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def test_notebook_compares_the_policies_of_a_sweep(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = [sys.executable, "-m", "kvexp", "-m", "+policy=lru,regret_aware", "workload=rag_burst,periodic_reuse",
             "hydra.launcher.n_jobs=2", f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    proc = subprocess.run(sweep, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the kernel inherits it
    monkeypatch.delenv("KVEXP_SWEEP", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    text = "\n".join(outputs(c) for c in code)
    assert "sweep multirun" in text and "4 child runs, 4 finished" in text
    # the means table holds every policy x workload with the hit rate MLflow has for that run
    table = next(outputs(c) for c in code if c.source.startswith("metrics = "))
    client = MlflowClient(uri)
    children = client.search_runs([client.get_experiment_by_name("kvexp").experiment_id], "tags.`kvexp.role` = 'child'")
    assert len(children) == 4
    for run in children:
        tags = run.data.tags
        assert tags["kvexp.policy"] in table and tags["kvexp.workload"] in table
        assert f"{run.data.metrics['hit_rate']:.3f}" in table
    # both figures were drawn, and the closing cell names a best policy for each workload
    assert sum("image/png" in o.get("data", {}) for c in code for o in c.outputs) == 2
    verdicts = [line for line in text.splitlines() if "lowest simulated latency" in line]
    assert len(verdicts) == 2 and {"rag_burst", "periodic_reuse"} == {line.split(" / ")[1].split(":")[0] for line in verdicts}
    assert "simulator" in nb.cells[0].source
