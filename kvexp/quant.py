"""Quantization schemes: how many bytes a KV scalar takes and what decoding it costs.

kvexp models footprint and a configurable dequantization penalty only; it has no model of
accuracy loss. A smaller footprint lets more pages fit a tier, the penalty offsets some of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QuantScheme:
    """A storage format for KV scalars.

    ``dequant_penalty_ms`` is charged on every hit and on every page move (the page is decoded
    on the consumer side, see the README's cost model).
    """

    name: str
    bytes_per_scalar: float
    dequant_penalty_ms: float = 0.0

    def __post_init__(self) -> None:
        if not (self.bytes_per_scalar > 0 and math.isfinite(self.bytes_per_scalar)):
            raise ValueError(f"quant.bytes_per_scalar: expected a positive number, got {self.bytes_per_scalar!r}")
        if not (self.dequant_penalty_ms >= 0 and math.isfinite(self.dequant_penalty_ms)):
            raise ValueError(f"quant.dequant_penalty_ms: expected a number >= 0, got {self.dequant_penalty_ms!r}")

    def page_bytes(self, n_scalars: np.ndarray) -> np.ndarray:
        """Bytes of each page holding ``n_scalars`` values (rounded up to whole bytes)."""
        return np.ceil(np.asarray(n_scalars, dtype=np.float64) * self.bytes_per_scalar).astype(np.int64)


def fp16(dequant_penalty_ms: float = 0.0) -> QuantScheme:
    return QuantScheme("fp16", 2.0, dequant_penalty_ms)


def fp8(dequant_penalty_ms: float = 0.01) -> QuantScheme:
    return QuantScheme("fp8", 1.0, dequant_penalty_ms)


def int4(dequant_penalty_ms: float = 0.03) -> QuantScheme:
    return QuantScheme("int4", 0.5, dequant_penalty_ms)


def int2(dequant_penalty_ms: float = 0.06) -> QuantScheme:
    return QuantScheme("int2", 0.25, dequant_penalty_ms)


SCHEMES = {"fp16": fp16, "fp8": fp8, "int4": int4, "int2": int2}
