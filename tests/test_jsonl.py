"""JSONL request-trace readers: small hand-written files in both formats, and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from kvexp.models import preset
from kvexp.trace import READ, WRITE, TraceError
from kvexp.workloads.jsonl import bailian, mooncake, read_jsonl

REPO = Path(__file__).resolve().parents[1]
# Mooncake: 512-token blocks, len(hash_ids) == ceil(input_length / 512).
MOONCAKE = [
    {"timestamp": 0, "input_length": 1200, "output_length": 10, "hash_ids": [10, 11, 12]},   # 3 blocks
    {"timestamp": 5, "input_length": 1024, "output_length": 600, "hash_ids": [10, 11]},      # 2 blocks
    {"timestamp": 9, "input_length": 700, "output_length": 1, "hash_ids": [10, 20]},         # 2 blocks
]
# Bailian: 16-token blocks hashed one by one, so an id may recur elsewhere (9 at positions 2 and 0).
BAILIAN = [
    {"chat_id": 1, "parent_chat_id": -1, "timestamp": 0.5, "input_length": 40, "output_length": 20,
     "type": "text", "turn": 1, "hash_ids": [7, 8, 9]},
    {"chat_id": 2, "parent_chat_id": 1, "timestamp": 2.0, "input_length": 70, "output_length": 5,
     "type": "text", "turn": 2, "hash_ids": [7, 8, 9, 4, 5]},
    {"chat_id": 3, "parent_chat_id": -1, "timestamp": 3.25, "input_length": 32, "output_length": 3,
     "type": "search", "turn": 1, "hash_ids": [9, 7]},
]


def write(path, records, extra_lines=()):
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_mooncake_rows_pages_and_token_spans(tmp_path):
    tr = mooncake(write(tmp_path / "m.jsonl", MOONCAKE), model="llama3-8b")
    # one step per request, prompt blocks in order; ids remapped in first-seen order 10,11,12,20 -> 0..3
    assert tr.step.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert tr.page.tolist() == [0, 1, 2, 0, 1, 0, 3]
    assert tr.op.tolist() == [READ] * 7
    # page 2 (id 12) is request 0's last block: tokens 1024..1200; page 3 (id 20): 512..700
    assert tr.pages.token_start.tolist() == [0, 512, 1024, 512]
    assert tr.pages.token_end.tolist() == [512, 1024, 1200, 700]
    assert tr.pages.seq_id.tolist() == [0, 0, 0, 2]
    # whole blocks are allocated: 512 tokens x 32 layers x 2 x 8 heads x 128 dims = 33,554,432 values
    assert tr.pages.n_scalars.tolist() == [512 * 65536] * 4
    assert tr.meta["requests"] == 3 and tr.meta["tokens_per_block"] == 512
    assert tr.meta["duration_s"] == pytest.approx(0.009)  # 9 ms
    assert tr.meta["prefill_tokens_per_s"] == preset("llama3-8b").prefill_tokens_per_s


def test_output_blocks_are_fresh_written_pages(tmp_path):
    tr = mooncake(write(tmp_path / "m.jsonl", MOONCAKE), output_blocks=True)
    # request 0: ceil(1210/512) = 3 = its prompt blocks -> no new block
    # request 1: ceil(1624/512) = 4, prompt 2 -> 2 written blocks, tokens 1024..1536 and 1536..1624
    # request 2: ceil(701/512) = 2 -> none; its new id 20 gets the next page id, 5
    assert tr.step.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert tr.page.tolist() == [0, 1, 2, 0, 1, 3, 4, 0, 5]
    assert tr.op.tolist() == [READ] * 5 + [WRITE, WRITE] + [READ, READ]
    assert tr.pages.token_start[[3, 4, 5]].tolist() == [1024, 1536, 512]
    assert tr.pages.token_end[[3, 4, 5]].tolist() == [1536, 1624, 700]
    # written pages are never read again
    assert not np.isin(tr.page[tr.op == READ], tr.page[tr.op == WRITE]).any()


def test_bailian_16_token_blocks_and_recurring_ids(tmp_path):
    tr = bailian(write(tmp_path / "b.jsonl", BAILIAN), model="deepseek-v3")
    # ids 7,8,9,4,5 -> pages 0..4; request 2 reads 9 then 7
    assert tr.page.tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 2, 0]
    assert tr.step.tolist() == [0] * 3 + [1] * 5 + [2] * 2
    # spans from the first sighting: id 9 is request 0's last block, tokens 32..40 (input 40)
    assert tr.pages.token_start.tolist() == [0, 16, 32, 48, 64]
    assert tr.pages.token_end.tolist() == [16, 32, 40, 64, 70]
    assert tr.pages.n_scalars[0] == 16 * 61 * 576
    assert tr.meta["duration_s"] == pytest.approx(2.75)  # seconds: 3.25 - 0.5


def test_generic_reader_with_renamed_fields(tmp_path):
    lines = [{"blocks": ["a", "b"], "prompt_tokens": 7}, {"blocks": ["b", "c"], "prompt_tokens": 8}]
    tr = read_jsonl(write(tmp_path / "g.jsonl", lines), tokens_per_block=4, hash_ids_field="blocks",
                    input_length_field="prompt_tokens", output_length_field=None, timestamp_field=None)
    assert tr.page.tolist() == [0, 1, 1, 2]
    assert tr.pages.token_end.tolist() == [4, 7, 8]  # "b" first seen as request 0's partial last block
    assert tr.pages.n_scalars[0] == 4 * preset("llama3-8b").scalars_per_token


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"timestamp": 1, "input_length": 10, "output_length": 1', "line 2: not valid JSON"),
        ('[1, 2]', "line 2: expected a JSON object, got list"),
        ('{"timestamp": 1, "input_length": 10, "output_length": 1}', "line 2: field 'hash_ids' missing"),
        ('{"timestamp": 1, "input_length": 10, "output_length": 1, "hash_ids": "1,2"}',
         "line 2: field 'hash_ids' expected a list of integers or strings"),
        ('{"timestamp": 1, "input_length": 10, "output_length": 1, "hash_ids": [1.5]}',
         "line 2: field 'hash_ids' expected a list of integers or strings"),
        ('{"timestamp": 1, "input_length": "10", "output_length": 1, "hash_ids": [1]}',
         "line 2: field 'input_length' expected an integer >= 0, got '10'"),
        ('{"timestamp": 1, "input_length": 10, "output_length": -1, "hash_ids": [1]}',
         "line 2: field 'output_length' expected an integer >= 0, got -1"),
        ('{"timestamp": "x", "input_length": 10, "output_length": 1, "hash_ids": [1]}',
         "line 2: field 'timestamp' expected a number"),
        ('{"timestamp": 1, "input_length": 1100, "output_length": 1, "hash_ids": [1, 2]}',
         "line 2: len(hash_ids) is 2, expected ceil(input_length / 512) = 3"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, bad, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(MOONCAKE[0]) + "\n" + bad + "\n" + json.dumps(MOONCAKE[1]) + "\n")
    with pytest.raises(TraceError) as e:
        mooncake(path)
    assert str(e.value).startswith(f"{path}: ")
    assert message in str(e.value)


def test_skip_malformed_counts_and_keeps_the_rest(tmp_path):
    clean = mooncake(write(tmp_path / "clean.jsonl", MOONCAKE))
    path = tmp_path / "dirty.jsonl"
    lines = [json.dumps(MOONCAKE[0]), "not json", json.dumps(MOONCAKE[1]), "",
             '{"input_length": 5, "output_length": 0, "timestamp": 1}', json.dumps(MOONCAKE[2])]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match="line 2: not valid JSON"):
        mooncake(path)
    with pytest.warns(UserWarning, match=r"skipped 2 malformed line\(s\); first: .*line 2: not valid JSON"):
        tr = mooncake(path, skip_malformed=True)
    assert tr.meta["skipped_lines"] == 2  # the blank line is not malformed
    assert tr.page.tolist() == clean.page.tolist() and tr.step.tolist() == clean.step.tolist()


def test_max_requests_and_empty_or_missing_files(tmp_path):
    tr = mooncake(write(tmp_path / "m.jsonl", MOONCAKE), max_requests=2)
    assert tr.step.tolist() == [0, 0, 0, 1, 1] and tr.meta["requests"] == 2
    with pytest.raises(TraceError, match="trace file not found"):
        mooncake(tmp_path / "absent.jsonl")
    with pytest.raises(TraceError, match="no prompt blocks read"):
        mooncake(write(tmp_path / "empty.jsonl", [], ["", "  "]))
    with pytest.raises(ValueError, match="tokens_per_block: expected an integer >= 1"):
        read_jsonl(tmp_path / "m.jsonl", tokens_per_block=0)
    with pytest.raises(ValueError, match="model: unknown preset 'gpt-9'"):
        mooncake(tmp_path / "m.jsonl", model="gpt-9")


@pytest.mark.parametrize("option, records", [("mooncake", MOONCAKE), ("bailian", BAILIAN)])
def test_workload_configs_build_the_reader(tmp_path, option, records):
    node = OmegaConf.load(REPO / "conf" / "workload" / f"{option}.yaml")
    node.path = str(write(tmp_path / "t.jsonl", records))
    node.model = "llama3-70b"
    tr = instantiate(node, _convert_="all")
    assert tr.meta["workload"] == option and tr.meta["model"] == "llama3-70b"
    assert tr.pages.n_scalars[0] == tr.meta["tokens_per_block"] * 80 * 2 * 8 * 128
