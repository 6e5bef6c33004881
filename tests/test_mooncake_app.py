"""The shared Mooncake trace through the app: three-tier H100 preset, llama3-70b pages, cold
blocks recomputed; the run finishes in seconds and lands in MLflow with request-level metrics
that agree with the trace file read independently here."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

TRACE = Path(__file__).resolve().parents[2] / "shared" / "traces" / "mooncake" / "synthetic_trace.jsonl"


@pytest.mark.skipif(not TRACE.is_file(), reason=f"shared Mooncake trace not found at {TRACE}")
def test_mooncake_on_h100_with_llama3_70b_recompute_is_tracked(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "kvexp", "workload=mooncake", f"workload.path={TRACE}", "workload.model=llama3-70b",
           "tiers=h100", "tiers.kv_fraction=0.05", "cold=recompute", "engine=reference", f"tracking.uri={uri}",
           f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("kvexp").experiment_id])
    m, tags = run.data.metrics, run.data.tags
    assert run.info.status == "FINISHED" and tags["kvexp.workload"] == "mooncake" and tags["kvexp.tiers"] == "h100"
    assert run.data.params["workload.model"] == "llama3-70b"

    records = [json.loads(line) for line in TRACE.read_text().splitlines() if line.strip()]
    blocks = [h for r in records for h in r["hash_ids"]]
    assert m["requests"] == len(records) and m["prompt_blocks"] == len(blocks) == m["reads"]
    assert m["prompt_tokens"] == sum(r["input_length"] for r in records)
    # every block never seen before must be recomputed; hits can only come from repeats
    assert m["recomputed_blocks"] >= len(set(blocks)) and m["block_hits"] <= len(blocks) - len(set(blocks))
    assert m["block_hits"] + m["recomputed_blocks"] == m["prompt_blocks"]
    assert m["prefix_hit_tokens"] <= m["block_hit_tokens"] and m["recompute_ms"] > 0
    assert m["transfer_ms"] + m["recompute_ms"] == pytest.approx(m["total_latency_ms"])
    assert m["bytes_moved"] == 0 or m["bytes_in_t1"] > 0  # demotions land in host memory first
