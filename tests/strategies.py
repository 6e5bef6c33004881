"""Hypothesis strategies for random simulation cases, shared by the property and determinism tests.

The built-in policies and prefetchers are found by walking ``kvexp.policies`` and
``kvexp.prefetch``, so a class added there is exercised without touching the tests; parameter
strategies exist for the classes that take parameters (others run with their defaults).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from hypothesis import strategies as st

import kvexp.policies
import kvexp.prefetch
from kvexp.engine import Simulation
from kvexp.policies.base import Policy
from kvexp.policies.priority import PriorityPolicy
from kvexp.prefetch.base import Prefetcher
from kvexp.quant import SCHEMES, QuantScheme
from kvexp.tiers import Tier
from kvexp.trace import PageTable, Trace


def concrete_classes(package: Any, base: type, abstract: Sequence[type]) -> list[type]:
    """The classes defined in ``package``'s modules that subclass ``base``, minus ``abstract``."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, base) and cls not in abstract:
                found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


POLICIES = concrete_classes(kvexp.policies, Policy, (Policy, PriorityPolicy))
PREFETCHERS = concrete_classes(kvexp.prefetch, Prefetcher, (Prefetcher,))

weight = st.sampled_from([0.0, 0.5, 1.0, 6.0]) | st.floats(0.0, 10.0)
degree = st.integers(1, 3)
PARAMS: dict[str, st.SearchStrategy[dict]] = {
    "WindowedRecency": st.fixed_dictionaries({"window_size": st.integers(1, 40)}),
    "CostAware": st.fixed_dictionaries({"freq_weight": weight, "recency_weight": weight, "size_penalty": weight}),
    "Predictive": st.fixed_dictionaries({"unseen_gap": st.none() | st.floats(0.0, 100.0)}),
    "RegretAware": st.fixed_dictionaries({
        "regret_horizon": st.integers(1, 40), "regret_weight": weight, "freq_weight": weight,
        "recency_weight": weight, "decay": st.floats(0.0, 1.0, exclude_min=True),
    }),
    "MarkovPrefetch": st.fixed_dictionaries({"degree": degree, "min_confidence": st.integers(1, 3)}),
    "StridePrefetch": st.fixed_dictionaries({"degree": degree}),
}


def configured(classes: Sequence[type | None]) -> st.SearchStrategy[tuple[type | None, dict]]:
    """A class from ``classes`` with random constructor arguments (``None``: no object)."""
    return st.sampled_from(list(classes)).flatmap(
        lambda cls: st.tuples(st.just(cls), st.just({}) if cls is None else PARAMS.get(cls.__name__, st.just({}))))


@dataclass
class Case:
    """One random run; ``policy()`` and ``prefetcher()`` build fresh objects each call."""

    trace: Trace
    tiers: tuple[Tier, ...]
    quant: QuantScheme
    policy_spec: tuple[type, dict]
    prefetch_spec: tuple[type | None, dict]
    recompute_ms: list[float] | None = None

    def policy(self) -> Policy:
        cls, kwargs = self.policy_spec
        return cls(**kwargs)

    def prefetcher(self) -> Prefetcher | None:
        cls, kwargs = self.prefetch_spec
        return None if cls is None else cls(**kwargs)

    def simulation(self, policy: Policy | None = None) -> Simulation:
        return Simulation(self.tiers, policy or self.policy(), self.prefetcher(), self.quant, self.recompute_ms)

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        t = self.trace
        return (f"Case(pages={t.page.tolist()}, ops={t.op.tolist()}, n_scalars={t.pages.n_scalars.tolist()}, "
                f"tiers={list(self.tiers)}, quant={self.quant}, policy={self.policy_spec}, "
                f"prefetch={self.prefetch_spec}, recompute_ms={self.recompute_ms})")


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    max_pages: int = 24,
    max_length: int = 120,
    max_tiers: int = 4,
    equal_sizes: bool | None = None,
    writes: bool = True,
    recompute: bool = True,
    policies: Sequence[type] = POLICIES,
    prefetchers: Sequence[type | None] = (None, *PREFETCHERS),
) -> Case:
    """A random trace, page table, quant scheme, tier stack (every tier fits the largest page,
    read latencies non-decreasing down the stack), policy and prefetcher.

    ``equal_sizes`` None draws it; ``writes``/``recompute`` False leave those out."""
    n_pages = draw(st.integers(1, max_pages))
    if equal_sizes is None:
        equal_sizes = draw(st.booleans())
    if equal_sizes:
        scalars = [draw(st.integers(1, 600))] * n_pages
    else:
        scalars = draw(st.lists(st.integers(1, 600), min_size=n_pages, max_size=n_pages))
    quant = SCHEMES[draw(st.sampled_from(sorted(SCHEMES)))]()
    biggest = int(quant.page_bytes(np.array(scalars)).max())

    # One byte per row (hypothesis draws and shrinks bytes far faster than tuples of choices):
    # the low bit picks one of a few hot pages or any page, the rest the page id; with writes
    # on, the top eighth of byte values are writes. Zero bytes shrink to reads of page 0.
    writes = writes and draw(st.booleans())
    hot = min(n_pages, 4)
    length = draw(st.integers(1, max_length))
    rows = draw(st.binary(min_size=length, max_size=length))
    pages = [(b >> 1) % (hot if b & 1 else n_pages) for b in rows]
    ops = [int(writes and b >= 0xE0) for b in rows]
    trace = Trace(np.arange(length), pages, ops, PageTable(np.array(scalars)))

    n_tiers = draw(st.integers(1, max_tiers))
    reads = sorted(draw(st.lists(st.floats(0.0, 5.0), min_size=n_tiers, max_size=n_tiers)))
    tiers = tuple(
        Tier(f"t{k}", biggest * draw(st.integers(1, 6)) + draw(st.integers(0, biggest - 1)), reads[k],
             draw(st.floats(0.0, 5.0)), draw(st.floats(0.5, 1e6)))
        for k in range(n_tiers)
    )
    recompute_ms = None
    if recompute and draw(st.integers(0, 4)) == 0:
        recompute_ms = draw(st.lists(st.floats(0.0, 10.0), min_size=n_pages, max_size=n_pages))
    return Case(trace, tiers, quant, draw(configured(policies)), draw(configured(prefetchers)), recompute_ms)
