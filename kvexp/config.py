"""Typed schema of the primary config, and the parameter check for `_target_` groups.

The schema (a dataclass stored in Hydra's ConfigStore as ``kvexp_schema``) types the parts whose
shape is fixed: quant, engine, cold, tracking, output. Hydra then rejects a misspelt key or a
value of the wrong type while composing, before any simulation. The tiers, policy, prefetch and
workload groups have one shape per option (a list of levels, or a hardware preset's knobs), so
they are open mappings here and ``check_params`` compares each against the signature of its
``_target_`` instead: the same early failure, one line naming the key.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object
from omegaconf import MISSING, DictConfig, OmegaConf

# Keys instantiate() reads itself; they are never parameters of the target.
HYDRA_KEYS = frozenset({"_target_", "_args_", "_recursive_", "_convert_", "_partial_"})


class ConfigError(ValueError):
    """A config that cannot describe a run; the message names the key and what was expected."""


@dataclass
class QuantConf:
    _target_: str = "kvexp.quant.QuantScheme"
    name: str = MISSING
    bytes_per_scalar: float = MISSING
    dequant_penalty_ms: float = 0.0


@dataclass
class TrackingConf:
    enabled: bool = True
    uri: Optional[str] = None
    experiment: str = "kvexp"
    artifact_root: Optional[str] = None
    timeline_points: int = 100
    plot: Optional[bool] = None
    resume: bool = False


class EngineKind(Enum):
    auto = "auto"          # the compiled engine where the policy and prefetcher have one
    fast = "fast"          # the compiled engine, or an error if there is none
    reference = "reference"  # the Python engine (the model's specification)


class ColdMode(Enum):
    load = "load"            # a block resident nowhere is loaded from the coldest tier
    recompute = "recompute"  # ... is recomputed at the model's prefill rate (request traces)


class Progress(Enum):
    auto = "auto"
    always = "always"
    never = "never"


@dataclass
class OutputConf:
    progress: Progress = Progress.auto
    progress_min_accesses: int = 100_000


@dataclass
class KvexpConfig:
    """One run: a trace from ``workload`` through ``tiers`` under ``policy`` and ``prefetch``."""

    tiers: Dict[str, Any] = MISSING
    workload: Dict[str, Any] = MISSING
    quant: QuantConf = MISSING
    prefetch: Dict[str, Any] = MISSING
    policy: Dict[str, Any] = field(default_factory=lambda: {"_target_": "kvexp.policies.lru.LRU"})
    engine: EngineKind = EngineKind.auto
    cold: ColdMode = ColdMode.load
    sweep: Optional[str] = None
    replicate: Dict[str, Any] = field(default_factory=dict)
    tracking: TrackingConf = field(default_factory=TrackingConf)
    output: OutputConf = field(default_factory=OutputConf)


def register_schemas() -> None:
    """Store the schema under the name conf/config.yaml's defaults list uses (idempotent)."""
    ConfigStore.instance().store(name="kvexp_schema", node=KvexpConfig)


def _type_error(value: object, default: object) -> str | None:
    """What is wrong with ``value`` for a parameter whose default is ``default`` (None if fine)."""
    if default is None or default is inspect.Parameter.empty or value is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if isinstance(default, float):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    return None


def check_params(group: str, node: DictConfig) -> None:
    """Raise ConfigError unless ``node``'s keys are parameters of its ``_target_`` with values of
    the type their defaults have, and every parameter without a default is given."""
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if not target:
        raise ConfigError(f"{group}: expected a mapping with a _target_ import path, got {node!r}")
    try:
        obj = get_object(target)
    except Exception as e:  # hydra raises ImportError or a generic error here
        raise ConfigError(f"{group}._target_: cannot import '{target}' ({e.__class__.__name__})") from None
    params = inspect.signature(obj).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [name for name, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    given = [k for k in node.keys() if k not in HYDRA_KEYS]
    for key in given:
        if key not in params:
            expected = ", ".join(accepted) or "no parameters"
            raise ConfigError(f"{group}.{key}: not a parameter of {target}; expected one of: {expected}")
        if OmegaConf.is_missing(node, key):
            raise ConfigError(f"{group}.{key}: no value given (set it with {group}.{key}=...)")
        value = node[key]
        problem = _type_error(value, params[key].default)
        if problem:
            raise ConfigError(f"{group}.{key}: expected {problem}, got {value!r}")
    for name in accepted:
        if params[name].default is inspect.Parameter.empty and name not in given:
            raise ConfigError(f"{group}: {target} needs parameter '{name}', which the config does not set")
