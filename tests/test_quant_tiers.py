"""Quantization footprints and penalties; tier stacks, their scaling and their validation."""
from __future__ import annotations

import numpy as np
import pytest

from kvexp.quant import SCHEMES, QuantScheme, fp8, fp16, int2, int4
from kvexp.tiers import REFERENCE_TIERS, Tier, build_tiers, reference_tiers, scaled


@pytest.mark.parametrize("scheme, expected, penalty", [
    # n_scalars:        1  2  3  5  2048 2049
    (fp16(), [2, 4, 6, 10, 4096, 4098], 0.0),
    (fp8(), [1, 2, 3, 5, 2048, 2049], 0.01),
    (int4(), [1, 1, 2, 3, 1024, 1025], 0.03),   # 0.5 B per scalar, rounded up
    (int2(), [1, 1, 1, 2, 512, 513], 0.06),     # 0.25 B per scalar, rounded up
])
def test_page_bytes_round_up(scheme, expected, penalty):
    got = scheme.page_bytes(np.array([1, 2, 3, 5, 2048, 2049]))
    assert got.tolist() == expected and got.dtype == np.int64
    assert scheme.dequant_penalty_ms == penalty


def test_schemes_by_name():
    assert {name: make().bytes_per_scalar for name, make in SCHEMES.items()} == {"fp16": 2, "fp8": 1, "int4": 0.5, "int2": 0.25}
    assert int4(0.2).dequant_penalty_ms == 0.2


@pytest.mark.parametrize("kwargs, message", [
    (dict(bytes_per_scalar=0), r"^quant\.bytes_per_scalar: expected a positive number, got 0$"),
    (dict(bytes_per_scalar=float("inf")), r"^quant\.bytes_per_scalar: expected a positive number, got inf$"),
    (dict(bytes_per_scalar=1, dequant_penalty_ms=-0.1), r"^quant\.dequant_penalty_ms: expected a number >= 0, got -0\.1$"),
])
def test_quant_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QuantScheme("q", **kwargs)


def test_reference_tiers_and_scale():
    ref = reference_tiers()
    assert [t.name for t in ref] == ["gpu_fast", "gpu_overflow", "host_ram", "nvme"]
    assert [t.capacity_bytes for t in ref] == [128_000, 256_000, 1_000_000, 8_000_000]
    half = reference_tiers(0.5)
    assert [t.capacity_bytes for t in half] == [64_000, 128_000, 500_000, 4_000_000]
    third = reference_tiers(1 / 3)  # rounded down
    assert [t.capacity_bytes for t in third] == [42_666, 85_333, 333_333, 2_666_666]
    # scaling touches capacity only
    assert [(t.read_latency_ms, t.write_latency_ms, t.bandwidth_bytes_per_ms) for t in half] == \
        [(t.read_latency_ms, t.write_latency_ms, t.bandwidth_bytes_per_ms) for t in REFERENCE_TIERS]
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match=r"^tiers\.scale: expected a number > 0"):
            scaled(REFERENCE_TIERS, bad)
    with pytest.raises(ValueError, match="tier 'gpu_fast': capacity_bytes expected a number > 0, got 0"):
        reference_tiers(1e-9)  # scaled down to nothing


@pytest.mark.parametrize("field, value, expected", [
    ("capacity_bytes", 0, "a number > 0"),
    ("capacity_bytes", "100", "a number > 0"),
    ("capacity_bytes", True, "a number > 0"),
    ("bandwidth_bytes_per_ms", -5.0, "a number > 0"),
    ("bandwidth_bytes_per_ms", float("inf"), "a number > 0"),
    ("read_latency_ms", -0.5, "a number >= 0"),
    ("write_latency_ms", float("nan"), "a number >= 0"),
])
def test_tier_validation_names_tier_and_field(field, value, expected):
    good = dict(name="hbm", capacity_bytes=100, read_latency_ms=0.1, write_latency_ms=0.1, bandwidth_bytes_per_ms=10.0)
    with pytest.raises(ValueError) as err:
        Tier(**{**good, field: value})
    assert str(err.value) == f"tier 'hbm': {field} expected {expected}, got {value!r}"
    Tier(**{**good, "read_latency_ms": 0, "write_latency_ms": 0})  # zero latency is allowed


def test_build_tiers():
    levels = [dict(name="a", capacity_bytes=10, read_latency_ms=0.1, write_latency_ms=0.1, bandwidth_bytes_per_ms=5),
              Tier("b", 30, 0.2, 0.3, 2)]
    tiers = build_tiers(levels, scale=2)
    assert [(t.name, t.capacity_bytes) for t in tiers] == [("a", 20), ("b", 60)]
    with pytest.raises(ValueError, match=r"^tiers\.levels: expected at least one tier"):
        build_tiers([])
    with pytest.raises(ValueError, match=r"tier names must be unique, got \['a', 'a'\]"):
        build_tiers([levels[0], levels[0]])


def test_tiers_out_of_order():
    fast, slow = Tier("hbm", 10, 0.1, 0.1, 5), Tier("ssd", 100, 2.0, 2.0, 1)
    with pytest.raises(ValueError, match=r"fastest first, but 'hbm' \(read 0\.1 ms\) comes after 'ssd' \(read 2\.0 ms\)"):
        build_tiers([slow, fast])
    assert build_tiers([fast, slow]) == (fast, slow)
