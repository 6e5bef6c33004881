"""Constructor-parameter checks shared by the policies: one-line errors naming the config key."""
from __future__ import annotations

import math
from numbers import Integral, Real


def positive_int(name: str, value: object) -> int:
    """``value`` as an int >= 1, else ``ValueError('policy.<name>: ...')``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"policy.{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def non_negative(name: str, value: object) -> float:
    """``value`` as a finite float >= 0, else ``ValueError('policy.<name>: ...')``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"policy.{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def unit_interval(name: str, value: object) -> float:
    """``value`` as a float in (0, 1], else ``ValueError('policy.<name>: ...')``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not (0 < value <= 1):
        raise ValueError(f"policy.{name}: expected a number in (0, 1], got {value!r}")
    return float(value)
