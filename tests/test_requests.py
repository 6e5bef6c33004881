"""Request-level semantics (block vs prefix hits, recompute, writes), model and hardware presets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from kvexp.engine import Simulation
from kvexp.hardware import gh200, h100, h200
from kvexp.models import Model, preset
from kvexp.policies.lru import LRU
from kvexp.quant import fp8, fp16
from kvexp.requests import page_recompute_ms, prefix_hits, request_metrics
from kvexp.tiers import Tier
from kvexp.trace import PageTable, Trace
from kvexp.workloads.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[1]
# A toy model: 8 KV values per token (one layer) -> a 4-token block is 32 values = 64 bytes in
# fp16; prefill at 1000 tokens/s -> recomputing costs exactly 1 ms per token.
TOY = Model("toy", n_layers=1, kv_values_per_layer=8, prefill_tokens_per_s=1000.0)
BLOCK = 64
# Blocks of 4 tokens; pages in first-seen order: a=0, b=1, c=2, w=3 (written), d=4.
REQUESTS = [
    {"timestamp": 0, "input_length": 12, "output_length": 3, "hash_ids": ["a", "b", "c"]},  # +1 output block
    {"timestamp": 1, "input_length": 8, "output_length": 0, "hash_ids": ["a", "c"]},
    {"timestamp": 2, "input_length": 10, "output_length": 0, "hash_ids": ["a", "c", "d"]},  # d: 2 tokens
]


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in REQUESTS))
    return read_jsonl(path, tokens_per_block=4, model=TOY, output_blocks=True)


def run(trace, tiers):
    return Simulation(tiers, LRU(), recompute_ms=page_recompute_ms(trace, TOY)).run(trace)


def test_trace_layout(trace):
    # request 0 reads a b c and writes w (ceil(15/4) = 4 blocks, 3 in the prompt; w holds tokens 12..15)
    assert trace.page.tolist() == [0, 1, 2, 3, 0, 2, 0, 2, 4]
    assert (trace.pages.token_end - trace.pages.token_start).tolist() == [4, 4, 4, 3, 2]
    assert trace.pages.n_scalars.tolist() == [32] * 5


def test_single_tier_block_and_prefix_hits(trace):
    # LRU, 3 blocks, every cold block recomputed into the tier (order oldest first):
    #   R0: a b c cold -> [a b c]; write w evicts a -> [b c w]
    #   R1: a cold, evicts b -> [c w a]; c HIT -> [w a c]
    #   R2: a HIT, c HIT -> [w a c]; d cold, evicts w -> [a c d]
    res = run(trace, (Tier("t0", 3 * BLOCK, 0.0, 0.0, 1e9),))
    assert res.served_by.tolist() == [-1, -1, -1, -2, -1, 0, 0, 0, -1]
    m = request_metrics(trace, res.served_by, TOY)
    # prompt tokens 12 + 8 + 10 = 30 over 8 block reads
    assert (m["requests"], m["prompt_blocks"], m["prompt_tokens"]) == (3, 8, 30)
    # block semantics: R1 c, R2 a, R2 c -> 3 hits, 12 tokens; 5 cold blocks: a b c (12), a (4), d (2) = 18 tokens
    assert (m["block_hits"], m["block_hit_tokens"]) == (3, 12)
    assert m["block_hit_rate"] == pytest.approx(3 / 8)
    assert (m["recomputed_blocks"], m["recomputed_tokens"]) == (5, 18)
    # prefix semantics: R1 starts with a miss, so its resident c is recomputed; only R2's a c count
    assert (m["prefix_hit_blocks"], m["prefix_hit_tokens"]) == (2, 8)
    assert m["prefix_hit_token_fraction"] == pytest.approx(8 / 30)
    assert (m["prefix_recompute_tokens"], m["prefix_lost_tokens"]) == (22, 4)
    # writes into tier 0: 5 recomputed blocks + 1 output block (3 tokens)
    assert (m["output_blocks"], m["output_tokens"], m["written_blocks"]) == (1, 3, 6)
    assert res.metrics["write_bytes"] == 6 * BLOCK
    # time at 1 ms/token: engine recompute = the block-semantics figure; prefix recomputes 22 tokens
    assert res.metrics["recompute_ms"] == pytest.approx(18.0)
    assert m["block_recompute_ms"] == pytest.approx(18.0)
    assert m["prefix_recompute_ms"] == pytest.approx(22.0)
    assert (res.metrics["hits"], res.metrics["cold_misses"]) == (3, 5)


def test_lower_tier_blocks_count_as_block_hits(trace):
    # tier 0 holds 1 block, tier 1 holds 2; victims are demoted, tier 1's victims dropped:
    #   R0: a, b, c cold (a, b demoted), w written: c demoted, a dropped   -> t0 [w] t1 [b c]
    #   R1: a cold: w demoted, b dropped; c from t1 (a demoted)             -> t0 [c] t1 [w a]
    #   R2: a from t1 (c demoted); c from t1 (a demoted); d cold: c demoted, w dropped
    # 8 demotions of 64 B into t1, 3 promotions of 64 B out of it.
    res = run(trace, (Tier("t0", BLOCK, 0.0, 0.0, 1e9), Tier("t1", 2 * BLOCK, 0.1, 0.1, 1e9)))
    assert res.served_by.tolist() == [-1, -1, -1, -2, -1, 1, 1, 1, -1]
    assert (res.metrics["hits"], res.metrics["demotions"], res.metrics["drops"]) == (0, 8, 3)
    assert (res.metrics["bytes_in_t1"], res.metrics["bytes_out_t1"]) == (8 * BLOCK, 3 * BLOCK)
    m = request_metrics(trace, res.served_by, TOY)
    assert m["block_hit_rate"] == pytest.approx(3 / 8) and m["prefix_hit_tokens"] == 8
    assert m["written_blocks"] == 6 and res.metrics["write_bytes"] == 6 * BLOCK


def test_prefix_hits_stop_at_the_first_miss_of_each_request():
    # requests (steps) 0, 1, 2; step 1 also writes one block (op 1) after its reads
    step = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    op = [0, 0, 0, 0, 0, 0, 1, 0, 0]
    served = np.array([0, 2, -1, 1, 1, -1, -2, -1, 0])
    tr = Trace(step, np.arange(9), op, PageTable.uniform(9))
    assert prefix_hits(tr, served).tolist() == [True, True, False, False, True, False, False, False, False]
    with pytest.raises(ValueError, match="served_by: expected 9 entries"):
        prefix_hits(tr, served[:5])


def test_model_presets_match_published_kv_sizes():
    kib = 1024
    # layers x 2 (K, V) x 8 KV heads x 128 dims x 2 bytes; MLA: 61 x (512 + 64) x 2 bytes
    assert preset("llama3-8b").bytes_per_token() == 32 * 2 * 8 * 128 * 2 == 128 * kib
    assert preset("llama3-70b").bytes_per_token() == 320 * kib
    assert preset("llama3.1-405b").bytes_per_token() == 504 * kib
    assert preset("deepseek-v3").bytes_per_token() == 61 * 576 * 2 == pytest.approx(68.6 * kib, rel=1e-3)
    m = preset("llama3-70b")
    assert m.block_bytes(512) == 512 * 320 * kib
    assert m.block_bytes(512, fp8()) == 512 * 320 * kib // 2
    fast = preset("llama3-70b", prefill_tokens_per_s=5000.0)
    assert fast.recompute_ms(512) == pytest.approx(512 / 5000 * 1000)
    with pytest.raises(ValueError, match="model.prefill_tokens_per_s: expected a number > 0"):
        preset("llama3-8b", prefill_tokens_per_s=0.0)


def test_hardware_tiers_are_link_bound():
    hbm, host, nvme = h100(kv_fraction=0.5, host_gb=512, nvme_gb=3840, nvme_gen=4)
    assert hbm.capacity_bytes == 40e9 and hbm.bandwidth_bytes_per_ms == 3.35e12 / 1000
    assert host.bandwidth_bytes_per_ms == 50e9 / 1000  # PCIe Gen5 x16, achievable
    assert nvme.bandwidth_bytes_per_ms == 7e9 / 1000 and nvme.capacity_bytes == 3840e9
    assert h100(nvme_gen=5)[2].bandwidth_bytes_per_ms == 12e9 / 1000
    assert h200()[0].capacity_bytes == 141e9 * 0.5 and h200()[0].bandwidth_bytes_per_ms == 4.8e12 / 1000
    assert gh200()[1].bandwidth_bytes_per_ms == 450e9 / 1000  # NVLink-C2C, one direction
    assert len(h100(nvme_gb=0)) == 2 and h100(n_gpus=8)[0].capacity_bytes == 8 * 40e9
    with pytest.raises(ValueError, match="tiers.kv_fraction: expected a number > 0.0 and <= 1.0"):
        h100(kv_fraction=0)


@pytest.mark.parametrize("name, preset_tiers", [("h100", h100), ("h200", h200), ("gh200", gh200)])
def test_tier_configs_match_the_hardware_presets(name, preset_tiers):
    node = OmegaConf.load(REPO / "conf" / "tiers" / f"{name}.yaml")
    assert instantiate(node, _convert_="all") == preset_tiers()


def test_a_70b_block_crosses_pcie_at_link_speed():
    # HBM holds one llama3-70b 512-token block (160 MiB): 80 GB x 0.0025 = 200 MB; host is the
    # coldest tier. Reads 0, 1, 0 make 5 HBM<->host moves: load 0; load 1 + demote 0;
    # load 0 from host + demote 1. Each move = host latency 0.01 + HBM latency 0.001 + bytes / 50 GB/s.
    tiers = h100(kv_fraction=0.0025, nvme_gb=0)
    block = preset("llama3-70b").block_scalars(512)
    tr = Trace([0, 1, 2], [0, 1, 0], [0, 0, 0], PageTable.uniform(2, block))
    m = Simulation(tiers, LRU(), quant=fp16()).run(tr).metrics
    assert m["total_latency_ms"] == pytest.approx(5 * (0.011 + 512 * 327680 / 50e6))
