"""Tier hierarchy: an ordered stack of cost models, fastest first.

Tiers are latency/bandwidth/capacity models, not claims about exact hardware.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Tier:
    """One storage tier. Latencies in ms, capacity in bytes, bandwidth in bytes per ms."""

    name: str
    capacity_bytes: int
    read_latency_ms: float
    write_latency_ms: float
    bandwidth_bytes_per_ms: float

    def __post_init__(self) -> None:
        positive = {"capacity_bytes": True, "bandwidth_bytes_per_ms": True, "read_latency_ms": False, "write_latency_ms": False}
        for field, strict in positive.items():
            value = getattr(self, field)
            number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < 0 or (strict and value == 0):
                expected = "a number >= 0" if "latency" in field else "a number > 0"
                raise ValueError(f"tier '{self.name}': {field} expected {expected}, got {value!r}")


# The reference design's four-tier hierarchy (scale 1.0).
REFERENCE_TIERS: tuple[Tier, ...] = (
    Tier("gpu_fast", 128_000, 0.02, 0.02, 80_000.0),
    Tier("gpu_overflow", 256_000, 0.06, 0.06, 40_000.0),
    Tier("host_ram", 1_000_000, 0.4, 0.35, 8_000.0),
    Tier("nvme", 8_000_000, 2.5, 2.0, 2_000.0),
)


def scaled(tiers: Sequence[Tier], scale: float) -> tuple[Tier, ...]:
    """The same hierarchy with every capacity multiplied by ``scale`` (rounded down)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"tiers.scale: expected a number > 0, got {scale!r}")
    return tuple(
        Tier(t.name, int(t.capacity_bytes * scale), t.read_latency_ms, t.write_latency_ms, t.bandwidth_bytes_per_ms)
        for t in tiers
    )


def reference_tiers(scale: float = 1.0) -> tuple[Tier, ...]:
    """The reference hierarchy; the reference scenarios use scale 1/2, 1/3, 1/4 and 1/6."""
    return scaled(REFERENCE_TIERS, scale)


def build_tiers(levels: Sequence[Tier | dict], scale: float = 1.0) -> tuple[Tier, ...]:
    """A hierarchy from tier objects or mappings (as a config file gives them), fastest first."""
    if len(levels) == 0:
        raise ValueError("tiers.levels: expected at least one tier, got none")
    tiers = tuple(t if isinstance(t, Tier) else Tier(**dict(t)) for t in levels)
    names = [t.name for t in tiers]
    if len(set(names)) != len(names):
        raise ValueError(f"tiers.levels: tier names must be unique, got {names}")
    for upper, lower in zip(tiers, tiers[1:]):
        if lower.read_latency_ms < upper.read_latency_ms:
            raise ValueError(
                f"tiers.levels: tiers must be ordered fastest first, but '{lower.name}' "
                f"(read {lower.read_latency_ms} ms) comes after '{upper.name}' (read {upper.read_latency_ms} ms)"
            )
    return scaled(tiers, scale)
