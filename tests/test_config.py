"""conf/: every option of every group composes and builds; experiments expand to the grids the
project specifies; typos and wrong types fail before any simulation."""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

import kvexp
from kvexp.config import ConfigError, register_schemas
from kvexp import hardware
from kvexp.engine import simulate
from kvexp.policies.base import Policy
from kvexp.prefetch.base import Prefetcher
from kvexp.quant import QuantScheme
from kvexp.run import build, build_group, replicates
from kvexp.tracking import config_hash
from kvexp.tiers import REFERENCE_TIERS
from kvexp.trace import Trace
from kvexp.workloads.synthetic import chat_continuation

CONF = Path(kvexp.__file__).resolve().parent.parent / "conf"
GROUPS = ("tiers", "workload", "policy", "prefetch", "quant")
# The options the project specifies for each group.
EXPECTED = {
    "tiers": {"reference", "half", "third", "quarter", "sixth"},
    "workload": {"chat_continuation", "rag_burst", "periodic_reuse", "long_tail_mix", "prefetch_friendly",
                 "adversarial_prefetch", "adversarial_burst", "mixed_locality", "zipf", "trace_file"},
    "policy": {"lru", "fifo", "lfu", "heavy_hitter", "windowed_recency", "cost_aware", "predictive",
               "regret_aware", "belady"},
    "prefetch": {"none", "markov", "stride"},
    "quant": {"fp16", "fp8", "int4", "int2"},
}
# Request traces in the formats the jsonl workloads document (two requests sharing one block).
REQUEST_TRACES = {
    "mooncake": [{"timestamp": 0, "input_length": 1000, "output_length": 10, "hash_ids": [1, 2]},
                 {"timestamp": 5, "input_length": 600, "output_length": 10, "hash_ids": [1, 3]}],
    "bailian": [{"chat_id": 1, "parent_chat_id": -1, "timestamp": 0.0, "input_length": 40, "output_length": 5,
                 "type": "text", "turn": 1, "hash_ids": [1, 2, 3]},
                {"chat_id": 2, "parent_chat_id": 1, "timestamp": 1.0, "input_length": 40, "output_length": 5,
                 "type": "text", "turn": 2, "hash_ids": [1, 2, 4]}],
}
SCALES = {"reference": 1.0, "half": 1 / 2, "third": 1 / 3, "quarter": 1 / 4, "sixth": 1 / 6}
BYTES_PER_SCALAR = {"fp16": 2.0, "fp8": 1.0, "int4": 0.5, "int2": 0.25}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.fixture
def hydra_ctx():
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield


def make(overrides: list[str], hydra: bool = False):
    return compose("config", overrides=overrides, return_hydra_config=hydra)


def small(group: str, option: str, tmp_path: Path) -> list[str]:
    """Overrides selecting ``option`` with a small workload, so building and simulating is quick."""
    pick = f"+policy={option}" if group == "policy" else f"{group}={option}"
    if group != "workload":
        return [pick, "workload=chat_continuation", "workload.length=64"]
    if option == "trace_file":
        path = chat_continuation(n_pages=12, length=40, seed=1).save(tmp_path / "t.npz")
        return [pick, f"workload.path={path}"]
    if option in REQUEST_TRACES:  # a two-request JSONL file in that format
        path = tmp_path / f"{option}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in REQUEST_TRACES[option]) + "\n")
        return [pick, f"workload.path={path}", "tiers.scale=1000"]  # pages are whole model blocks (MBs)
    if option == "zipf":
        return [pick, "workload.n_pages=300", "workload.length=1000"]
    return [pick, "workload.length=64"]


def test_each_group_has_the_specified_options():
    for group in GROUPS:
        assert EXPECTED[group] <= set(options(group)), group


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_builds_and_simulates(hydra_ctx, tmp_path, group, option):
    cfg = make(small(group, option, tmp_path))
    node = cfg[group]
    obj = build_group(cfg, group)
    if group == "tiers" and "levels" not in node:  # a hardware preset: the function with the file's knobs
        knobs = {k: v for k, v in node.items() if k != "_target_"}
        assert obj == getattr(hardware, option)(**knobs)
    elif group == "tiers":
        expected = [int(level.capacity_bytes * node.scale) for level in node.levels]
        assert [t.capacity_bytes for t in obj] == expected and [t.name for t in obj] == [lv.name for lv in node.levels]
        if option in SCALES:  # the reference hierarchy and its scaled scenarios
            assert [t.name for t in obj] == [t.name for t in REFERENCE_TIERS]
            reference = [int(t.capacity_bytes * SCALES[option]) for t in REFERENCE_TIERS]
            assert [t.capacity_bytes for t in obj] == pytest.approx(reference, abs=1)
    elif group == "quant":
        assert isinstance(obj, QuantScheme) and obj.name == option
        assert obj.bytes_per_scalar == BYTES_PER_SCALAR[option]
    elif group == "workload":  # synthetic: `length` accesses; files: one read per page or block listed
        rows = {"trace_file": 40, **{k: sum(len(r["hash_ids"]) for r in v) for k, v in REQUEST_TRACES.items()}}
        assert isinstance(obj, Trace) and len(obj) == (node.length if "length" in node else rows[option])
    else:  # policy, prefetch: an instance of the named class carrying the configured parameters
        kind = Policy if group == "policy" else Prefetcher
        assert isinstance(obj, kind) and type(obj).__name__ == node._target_.rsplit(".", 1)[1]
        for key, value in node.items():
            if key != "_target_" and hasattr(obj, key):
                assert getattr(obj, key) == value, key
    parts = build(cfg)  # and the whole run works with it
    metrics = simulate(parts.trace, parts.tiers, parts.policy, parts.prefetcher, parts.quant)
    assert metrics["accesses"] == len(parts.trace)


def test_defaults_are_lru_rag_burst_half_fp16_no_prefetch(hydra_ctx):
    cfg = make([], hydra=True)
    assert cfg.policy._target_ == "kvexp.policies.lru.LRU" and list(cfg.policy) == ["_target_"]
    assert cfg.hydra.runtime.choices.workload == "rag_burst"
    assert cfg.tiers.scale == 0.5 and cfg.quant.name == "fp16"
    assert cfg.prefetch._target_ == "kvexp.prefetch.base.NoPrefetch"
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")


def test_plus_policy_replaces_the_default_node(hydra_ctx):
    cfg = make(["+policy=regret_aware", "policy.regret_weight=3"])
    assert cfg.policy._target_ == "kvexp.policies.regret_aware.RegretAware"
    assert cfg.policy.regret_weight == 3 and cfg.policy.regret_horizon == 24


def sweep_axes(cfg) -> dict[str, list[str]]:
    return {k: str(v).split(",") for k, v in cfg.hydra.sweeper.params.items()}


def compose_job(axes_choice: dict[str, str], experiment: str):
    return make([f"+experiment={experiment}", *(f"{k}={v}" for k, v in axes_choice.items())], hydra=True)


def test_regret_ablation_is_the_specified_198_run_grid(hydra_ctx):
    axes = sweep_axes(make(["+experiment=regret_ablation"], hydra=True))
    first = {k: v[0] for k, v in axes.items()}
    # scenarios: tiers scale, fp16, prefetch off
    for scenario, scale in (("medium", 1 / 3), ("constrained", 1 / 6)):
        cfg = compose_job({**first, "+scenario": scenario}, "regret_ablation")
        assert cfg.tiers.scale == pytest.approx(scale) and cfg.quant.name == "fp16"
        assert cfg.prefetch._target_.endswith("NoPrefetch") and cfg.sweep == "regret_ablation"
    sizes = {"chat_continuation": (80, 512, {}), "periodic_reuse": (96, 640, {"period": 11}),
             "adversarial_burst": (112, 640, {"burst": 14})}
    assert set(axes["+ablation/workload"]) == set(sizes)
    for name, (n_pages, length, extra) in sizes.items():
        cfg = compose_job({**first, "+ablation/workload": name}, "regret_ablation")
        assert cfg.hydra.runtime.choices.workload == name
        assert (cfg.workload.n_pages, cfg.workload.length) == (n_pages, length)
        assert all(cfg.workload[k] == v for k, v in extra.items())
    # arms: each job runs its replicates; the runs of all arms form the specified grid
    arms = {}
    for arm in axes["+ablation/arm"]:
        runs = replicates(compose_job({**first, "+ablation/arm": arm}, "regret_ablation"))
        arms[arm] = [(v.hydra.runtime.choices.policy, v.policy.get("regret_weight"), v.policy.get("regret_horizon"),
                      v.workload.seed) for _, v in runs]
    runs = [r for rs in arms.values() for r in rs]
    seeds = (7, 42, 91)
    expected = {("lru", None, None, s) for s in seeds} | {("cost_aware", None, None, s) for s in seeds} | {
        ("regret_aware", w, h, s) for w, h, s in itertools.product((1.0, 6.0, 12.0), (8, 24, 64), seeds)}
    assert len(runs) == len(set(runs)) == 33 and set(runs) == expected
    jobs_per_arm = len(axes["+scenario"]) * len(axes["+ablation/workload"])
    assert jobs_per_arm * len(runs) == 198


def test_each_replicate_is_the_run_its_overrides_compose(hydra_ctx):
    job = ["+experiment=regret_ablation", "+scenario=constrained", "+ablation/workload=periodic_reuse",
           "+ablation/arm=regret_aware"]
    runs = replicates(make(job))
    assert len(runs) == 27
    for overrides, variant in (runs[0], runs[13], runs[-1]):
        alone = make([*job, "~replicate", *overrides])
        assert OmegaConf.to_container(variant, resolve=True) == OmegaConf.to_container(alone, resolve=True)
        assert config_hash(OmegaConf.to_container(variant)) == config_hash(OmegaConf.to_container(alone))
    assert runs[13][0] == ["workload.seed=42", "policy.regret_weight=6.0", "policy.regret_horizon=24"]


@pytest.mark.parametrize("replicate,message", [("+replicate.workload.sed=[1]", "replicate.workload.sed: 'workload.sed' is"),
                                               ("+replicate.workload.seed=3", "expected a non-empty list")])
def test_bad_replicates_are_one_line_errors(hydra_ctx, replicate, message):
    with pytest.raises(ConfigError, match=message):
        replicates(make([replicate]))


def test_default_sweep_is_the_specified_grid(hydra_ctx):
    axes = sweep_axes(make(["+experiment=default_sweep"], hydra=True))
    assert set(axes["workload"]) == EXPECTED["workload"] - {"adversarial_prefetch", "zipf", "trace_file"}
    assert set(axes["+policy"]) == {"lru", "windowed_recency", "heavy_hitter", "cost_aware", "predictive", "regret_aware"}
    spec = {  # scenario: (tiers scale, quant, prefetch target class)
        "small_fp16_prefetch": (1 / 2, "fp16", "MarkovPrefetch"),
        "small_fp16_no_prefetch": (1 / 2, "fp16", "NoPrefetch"),
        "small_int4_no_prefetch": (1 / 2, "int4", "NoPrefetch"),
        "base_fp8_prefetch": (1.0, "fp8", "MarkovPrefetch"),
        "constrained_fp16_prefetch": (1 / 4, "fp16", "MarkovPrefetch"),
    }
    assert set(axes["+scenario"]) == set(spec)
    first = {k: v[0] for k, v in axes.items()}
    for scenario, (scale, quant, prefetch) in spec.items():
        cfg = compose_job({**first, "+scenario": scenario}, "default_sweep")
        assert cfg.tiers.scale == pytest.approx(scale) and cfg.quant.name == quant
        assert cfg.prefetch._target_.endswith(prefetch)
    assert np.prod([len(v) for v in axes.values()]) == 5 * 7 * 6
    runs = replicates(compose_job(first, "default_sweep"))
    assert sorted(v.workload.seed for _, v in runs) == [7, 42, 91]  # 630 runs in all


@pytest.mark.parametrize("override", ["tiers.scael=0.3", "tracking.urii=x", "quant.bytes_per_scalar=two",
                                      "output.progress=sometimes", "policy.regret_weight=3", "engine=quick",
                                      "cold=never"])
def test_typed_parts_reject_misspelt_keys_and_wrong_types_while_composing(hydra_ctx, override):
    with pytest.raises(ConfigCompositionException):
        make([override])


@pytest.mark.parametrize("group,old,new", [("quant/int4", "bytes_per_scalar: 0.5", "bytes_per_scalar: half"),
                                           ("config", "timeline_points: 100", "timeline_point: 100")])
def test_a_typo_in_a_config_file_fails_while_composing(tmp_path, group, old, new):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    path = conf / f"{group}.yaml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    register_schemas()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        pick = [f"{group.split('/')[0]}={group.split('/')[1]}"] if "/" in group else []
        with pytest.raises(ConfigCompositionException):
            compose("config", overrides=pick)


@pytest.mark.parametrize("overrides,message", [
    (["+policy=regret_aware", "+policy.regret_wieght=3"], "policy.regret_wieght: not a parameter"),
    (["+policy=regret_aware", "policy.regret_horizon=abc"], "policy.regret_horizon: expected an integer"),
    # tiers options differ in shape (levels, or a hardware preset's knobs): checked when built
    (["tiers.scale=abc"], "tiers.scale: expected a number"),
    (["tiers=h100", "+tiers.kv_fractoin=0.3"], "tiers.kv_fractoin: not a parameter"),
    (["tiers=reference", "tiers.levels.0.capacity_bytes=-1"], "tiers.levels.0.capacity_bytes: expected a number > 0"),
    (["cold=recompute"], "cold: 'recompute' needs a request trace"),
    (["+workload.burts=3", "workload=adversarial_burst"], "workload.burts: not a parameter"),
    (["workload=trace_file"], "workload.path: no value given"),
    (["+policy=regret_aware", "policy.decay=0"], "policy.decay"),
    (["prefetch=markov", "prefetch.degree=1.5"], "prefetch.degree: expected an integer"),
])
def test_group_parameter_errors_are_one_line_naming_the_key(hydra_ctx, overrides, message):
    cfg = make(overrides)
    with pytest.raises(ConfigError) as err:
        build(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_config_file_is_valid_yaml_with_a_comment():
    # a group option's file is its command-line name; each says in a comment what it is
    for path in CONF.rglob("*.yaml"):
        text = path.read_text()
        assert text.lstrip().startswith("#"), path
        OmegaConf.create(text)
