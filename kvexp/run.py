"""From a composed config to a simulated run: instantiate each group, then replay the trace.

Every group node names its code by ``_target_`` and ``hydra.utils.instantiate`` builds it; the
parameter check runs first so a misspelt or mistyped parameter fails before any simulation with
one line naming ``group.key``.
"""
from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Mapping, Sequence

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

import numpy as np

from kvexp import fast
from kvexp.config import HYDRA_KEYS, ColdMode, ConfigError, EngineKind, check_params
from kvexp.engine import Observer, Result, Simulation
from kvexp.policies.base import Policy
from kvexp.prefetch.base import Prefetcher
from kvexp.quant import QuantScheme
from kvexp.requests import page_recompute_ms, request_metrics
from kvexp.tiers import Tier
from kvexp.trace import Trace

GROUPS = ("tiers", "workload", "policy", "prefetch", "quant")
# engine=auto takes the compiled engine from this trace length on: below it the reference engine
# finishes before the compiled one has loaded its cache (about a second per process; its first
# compilation on a machine takes about half a minute). Results are identical either way.
AUTO_FAST_MIN_ACCESSES = 50_000


@dataclass
class Parts:
    """Everything one run needs, built from a config."""

    tiers: tuple[Tier, ...]
    trace: Trace
    policy: Policy
    prefetcher: Prefetcher
    quant: QuantScheme
    engine: EngineKind = EngineKind.auto
    recompute_ms: np.ndarray | None = None  # per page, when cold blocks are recomputed


def build_group(cfg: DictConfig, group: str) -> Any:
    """Instantiate one group node, turning instantiate's wrapped errors into one line."""
    node = cfg[group]
    check_params(group, node)
    try:
        return instantiate(node, _convert_="all")
    except InstantiationException as e:
        cause = e.__cause__ or e
        raise ConfigError(_name_key(group, node, str(cause).strip() or cause.__class__.__name__)) from cause


def _name_key(group: str, node: DictConfig, message: str) -> str:
    """Prefix a constructor's error with the config key it is about, when it does not say so."""
    line = message.splitlines()[-1]
    head = line.split(":", 1)[0]
    if head == group or head.startswith(group + "."):
        return line
    if head in node:
        return f"{group}.{line}"
    tier = re.match(r"tier '([^']*)': (\w+) (.*)$", line)  # kvexp.tiers.Tier's own check
    names = [str(level.get("name")) for level in node.get("levels") or [] if isinstance(level, DictConfig)]
    if tier and tier.group(1) in names:
        return f"{group}.levels.{names.index(tier.group(1))}.{tier.group(2)}: {tier.group(3)} (tier '{tier.group(1)}')"
    for key, value in node.items():  # a message about a file names it first: say which key gave it
        if isinstance(value, str) and key not in HYDRA_KEYS and value and line.startswith(str(PurePath(value)) + ":"):
            return f"{group}.{key}: {line}"
    return f"{group} ({node._target_}): {line}"


def build(cfg: DictConfig) -> Parts:
    """All parts of the run ``cfg`` describes; ConfigError names the offending key."""
    built = {group: build_group(cfg, group) for group in GROUPS}
    checks = {"tiers": tuple, "workload": Trace, "policy": Policy, "prefetch": Prefetcher, "quant": QuantScheme}
    for group, kind in checks.items():
        if not isinstance(built[group], kind):
            raise ConfigError(f"{group}._target_: {cfg[group]._target_} gave a {type(built[group]).__name__}, "
                              f"expected a {kind.__name__}")
    parts = Parts(built["tiers"], built["workload"], built["policy"], built["prefetch"], built["quant"],
                  EngineKind(cfg.get("engine", "auto")))
    if ColdMode(cfg.get("cold", "load")) is ColdMode.recompute:
        if parts.trace.meta.get("model") is None:
            raise ConfigError(f"cold: 'recompute' needs a request trace read for a model (workload=mooncake or "
                              f"bailian), but {parts.trace.source} has none; use cold=load")
        parts.recompute_ms = page_recompute_ms(parts.trace)
    if parts.engine is EngineKind.fast and not fast.supports(parts.policy, parts.prefetcher):
        raise ConfigError(f"engine: 'fast' has no compiled path for {type(parts.policy).__name__} with "
                          f"{type(parts.prefetcher).__name__}; use engine=auto or engine=reference")
    return parts


def execute(parts: Parts, observers: Sequence[Observer] = (), every: int = 65536) -> Result:
    """Replay the trace: through the compiled engine when asked for, or under engine=auto for
    traces of AUTO_FAST_MIN_ACCESSES or more, and available (identical results, see
    kvexp.fast); else through the reference engine. Request traces get request-level
    metrics (block and prefix hits, recompute) added to the run's metrics."""
    wanted = parts.engine is EngineKind.fast or (
        parts.engine is EngineKind.auto and len(parts.trace) >= AUTO_FAST_MIN_ACCESSES)
    compiled = wanted and fast.supports(parts.policy, parts.prefetcher)
    if compiled:
        result = fast.run(parts.trace, parts.tiers, parts.policy, parts.prefetcher, parts.quant,
                          recompute_ms=parts.recompute_ms, observers=observers, every=every)
    else:
        sim = Simulation(parts.tiers, parts.policy, parts.prefetcher, parts.quant, recompute_ms=parts.recompute_ms)
        result = sim.run(parts.trace, observers=observers, every=every)
    if "tokens_per_block" in parts.trace.meta:
        result.metrics.update(request_metrics(parts.trace, result.served_by))
    return result


def replicates(cfg: DictConfig) -> list[tuple[list[str], DictConfig]]:
    """One (overrides, config) per combination of the value lists under ``replicate``.

    ``replicate: {workload: {seed: [7, 42]}, policy: {regret_weight: [1.0, 6.0]}}`` makes one job
    run four times, each with those keys set; ``~replicate`` plus the overrides returned
    (``workload.seed=7``...), added to the job's own, compose that run alone. Without
    ``replicate`` the job is one run. Only values
    vary, never the config's structure, which is why this is cheaper than a Hydra job per run.
    """
    node = cfg.get("replicate")
    if not node:
        return [([], cfg)]
    axes = flatten_lists(OmegaConf.to_container(node, resolve=True), "")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"replicate.{key}: expected a non-empty list of values, got {values!r}")
        if OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT:
            raise ConfigError(f"replicate.{key}: '{key}' is not a key of the run's config")
    runs = []
    for combo in itertools.product(*axes.values()):
        variant = copy.deepcopy(cfg)
        with open_dict(variant):  # the run alone, as `~replicate key=value ...` would compose it
            del variant["replicate"]
        for key, value in zip(axes, combo):
            OmegaConf.update(variant, key, value, merge=False)
        runs.append(([f"{k}={v}" for k, v in zip(axes, combo)], variant))
    return runs


_ABSENT = object()


def flatten_lists(node: Any, prefix: str) -> dict[str, Any]:
    """Nested mappings down to their leaves (the value lists), keyed by dotted path."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(flatten_lists(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def option_name(choices: Mapping[str, Any], cfg: DictConfig, group: str) -> str:
    """The option a group was chosen by; for a policy set without ``+policy=`` (the default
    node), the name of its module, which by convention is the option's name."""
    choice = choices.get(group)
    if choice:
        return str(choice)
    target = str(cfg[group].get("_target_", "?"))
    return target.rsplit(".", 2)[-2] if target.count(".") >= 2 else target


def labels(cfg: DictConfig, choices: Mapping[str, Any]) -> dict[str, str]:
    """The tags that name a run's choices (see kvexp.tracking for the schema)."""
    tags = {f"kvexp.{g}": option_name(choices, cfg, g) for g in GROUPS}
    for tag, group in (("kvexp.scenario", "scenario"), ("kvexp.arm", "ablation/arm"), ("kvexp.experiment", "experiment")):
        if choices.get(group):
            tags[tag] = str(choices[group])
    if tags["kvexp.workload"] == "trace_file" and cfg.workload.get("path"):
        tags["kvexp.trace"] = PurePath(str(cfg.workload.path)).name
    return tags
