"""Synthetic workloads: determinism, valid traces, documented sizes, and the pattern each claims."""
from __future__ import annotations

import numpy as np
import pytest
from hydra.utils import instantiate

from kvexp.trace import Trace
from kvexp.workloads import synthetic as wl

# Default (n_pages, length) per workload, as the project spec lists them.
DEFAULTS = {
    "chat_continuation": (64, 256),
    "rag_burst": (96, 320),
    "periodic_reuse": (80, 320),
    "long_tail_mix": (128, 400),
    "prefetch_friendly": (48, 240),
    "adversarial_prefetch": (64, 256),
    "adversarial_burst": (96, 320),
    "mixed_locality": (112, 360),
}
ALL = [*DEFAULTS, "zipf"]


def make(name: str, **kw) -> Trace:
    if name == "zipf":  # its defaults are 1M accesses; keep the generic tests small
        kw = {"n_pages": 500, "length": 2000, **kw}
    return getattr(wl, name)(**kw)


def gaps_and_distinct_between(page: np.ndarray, i: int) -> tuple[int, int]:
    """(positions back to the previous read of page[i], distinct other pages read in between)."""
    prev = np.flatnonzero(page[:i] == page[i])[-1]
    return i - prev, np.unique(page[prev + 1 : i]).size


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_trace_other_seed_differs(name):
    a, b, c = make(name, seed=3), make(name, seed=3), make(name, seed=4)
    assert np.array_equal(a.page, b.page) and np.array_equal(a.pages.n_scalars, b.pages.n_scalars)
    if name == "prefetch_friendly":  # fixed pattern: the seed only draws page sizes
        assert np.array_equal(a.page, c.page)
        assert not np.array_equal(a.pages.n_scalars, c.pages.n_scalars)
    else:
        assert not np.array_equal(a.page, c.page)


@pytest.mark.parametrize("name", DEFAULTS)
def test_defaults_give_documented_sizes_and_a_valid_read_trace(name):
    t = getattr(wl, name)()
    n_pages, length = DEFAULTS[name]
    assert (len(t.pages), len(t)) == (n_pages, length)
    assert t.page.min() >= 0 and t.page.max() < n_pages
    assert np.array_equal(t.step, np.arange(length))  # one read per decode step
    assert not t.op.any()  # all reads
    assert t.meta["workload"] == name
    sizes = t.pages.n_scalars
    assert sizes.min() >= 2048 - 64 and sizes.max() <= 2048 + 64 and np.unique(sizes).size > 1


def test_page_layout_maps_ids_to_block_layer_head_group():
    pages = wl.prefetch_friendly(n_pages=300).pages  # 16 layers x 8 head groups = 128 pages per block
    for pid, (block, layer, hg) in {0: (0, 0, 0), 7: (0, 0, 7), 8: (0, 1, 0), 127: (0, 15, 7), 128: (1, 0, 0), 299: (2, 5, 3)}.items():
        assert (pages.layer[pid], pages.head_group[pid]) == (layer, hg)
        assert (pages.token_start[pid], pages.token_end[pid]) == (16 * block, 16 * block + 16)
    triples = set(zip(pages.token_start.tolist(), pages.layer.tolist(), pages.head_group.tolist()))
    assert len(triples) == 300 and not pages.seq_id.any()
    small = wl.prefetch_friendly(n_pages=10, tokens_per_page=32, n_layers=2, n_head_groups=2).pages
    assert small.token_start[9] == 64 and small.layer[9] == 0 and small.head_group[9] == 1


def test_trace_with_meta_survives_save_and_load(tmp_path):
    t = wl.rag_burst(seed=5)
    back = Trace.load(t.save(tmp_path / "rag.npz"))
    assert np.array_equal(back.page, t.page) and np.array_equal(back.pages.layer, t.pages.layer)
    assert back.meta == t.meta and back.meta["hot_pages"] == 16


def test_config_target_path_builds_a_workload():
    t = instantiate({"_target_": "kvexp.workloads.synthetic.periodic_reuse", "n_pages": 30, "period": 4, "seed": 1})
    assert len(t.pages) == 30 and np.unique(t.page).size == 4


@pytest.mark.parametrize("name", ALL)
def test_large_sizes_generate(name):
    t = getattr(wl, name)(n_pages=50_000, length=200_000, seed=1)
    assert len(t) == 200_000 and len(t.pages) == 50_000
    assert t.page.min() >= 0 and t.page.max() < 50_000


def test_scaled_parameters_keep_their_structure():
    t = wl.adversarial_burst(n_pages=60_000, length=200_000, burst=2_000)
    anchors = t.page[:2_000]
    assert np.unique(anchors).size == 2_000 and np.array_equal(t.page[4_000:6_000], anchors)
    r = wl.rag_burst(n_pages=10_000, length=100_000, hot_pages=1_000, run_length=50, burst_length=5_000)
    burst = r.page[50:5_050]
    assert np.unique(burst).size == 5_000 and burst.min() >= 1_000


# ---- the pattern each workload claims ----------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_chat_continuation_keeps_a_small_working_set(seed):
    t = wl.chat_continuation(seed=seed)
    for w in t.page.reshape(-1, 32):  # arrivals per 32 steps ~ Binomial(32, 0.05)
        assert np.unique(w).size <= 8 + 6
    still = np.bincount(wl.chat_continuation(seed=seed, drift=0.0, length=4000).page)
    assert np.count_nonzero(still) == 8
    assert still.max() > 4 * still[still > 0].min()  # weights 1..8 over entries: not a uniform pick
    long = wl.chat_continuation(seed=seed, length=4000).page
    assert np.unique(long).size > 3 * 8  # the working set drifts over the whole context
    shuffled = np.random.default_rng(0).permutation(long)  # same reads, temporal order destroyed
    recent, recent_shuffled = (np.mean([p[i] in p[i - 16 : i] for i in range(16, len(p))]) for p in (long, shuffled))
    assert recent > 0.8 and recent > 2.5 * recent_shuffled  # recency-heavy


def test_rag_burst_hot_set_dominates_between_distinct_retrieval_bursts():
    t = wl.rag_burst(length=3200, seed=2)
    pos = np.arange(3200) % 14  # runs of 8 hot reads, bursts of 6
    assert t.page[pos < 8].max() < 16 and t.page[pos >= 8].min() >= 16
    for burst in t.page[(pos >= 8)].reshape(-1, 6):
        assert np.unique(burst).size == 6
    counts = np.bincount(t.page, minlength=96)
    assert set(np.argsort(-counts, kind="stable")[:16]) == set(range(16))
    assert counts[:16].min() > 3 * counts[16:].mean()


@pytest.mark.parametrize("period", [1, 9, 17])
def test_periodic_reuse_has_exactly_the_period(period):
    p = wl.periodic_reuse(period=period, seed=period).page
    assert np.array_equal(p[period:], p[:-period])
    assert np.unique(p[:period]).size == period  # no shorter period


def test_long_tail_mix_hot_share_and_one_over_rank_tail():
    p = wl.long_tail_mix(length=40_000, seed=1).page
    assert abs(np.mean(p < 10) - 0.7) < 0.02
    tail = np.bincount(p[p >= 10] - 10, minlength=118) / np.sum(p >= 10)
    harmonic = np.sum(1.0 / np.arange(1, 119))
    assert abs(tail[0] - 1 / harmonic) < 0.15 / harmonic
    assert abs(tail[:10].sum() - np.sum(1.0 / np.arange(1, 11)) / harmonic) < 0.03
    assert abs(np.mean(wl.long_tail_mix(length=20_000, hot_fraction=0.2).page < 10) - 0.2) < 0.02


def test_prefetch_friendly_is_strictly_sequential():
    p = wl.prefetch_friendly(seed=9).page
    assert p[0] == 0 and np.all((p[1:] - p[:-1]) % 48 == 1)


def test_adversarial_prefetch_alternates_halves_and_offers_nothing_to_predict():
    p = wl.adversarial_prefetch(length=20_000, seed=4).page
    assert p[0::2].max() < 32 and p[1::2].min() >= 32
    step = p[1:] - p[:-1]
    assert np.mean((step == 1) | (step == 2)) < 0.01  # a next-page prefetcher is almost never right
    pairs = np.bincount(p[:-1] * 64 + p[1:], minlength=64 * 64).reshape(64, 64)
    assert (pairs.max(axis=1) / pairs.sum(axis=1)).max() < 0.15  # no successor dominates any page


def test_adversarial_burst_rereads_anchors_after_a_short_gap():
    t = wl.adversarial_burst(seed=6)
    p = t.page
    for start in range(0, 320 - 36 + 1, 36):
        anchors, fillers = p[start : start + 12], p[start + 12 : start + 24]
        assert np.unique(anchors).size == 12 and anchors.max() < 32
        assert np.unique(fillers).size == 12 and fillers.min() >= 32
        for i in range(start + 24, start + 36):
            # 23 other pages since its first read: an LRU tier 0 of < 24 pages just evicted it
            assert gaps_and_distinct_between(p, i) == (24, 23)


def test_mixed_locality_phases_are_hot_tail_and_strided():
    p = wl.mixed_locality(length=720, seed=8).page
    phases = p.reshape(-1, 40)
    for k, ph in enumerate(phases):
        if k % 3 == 0:
            assert ph.max() < 12
        elif k % 3 == 1:
            assert ph.min() >= 12 and np.unique(ph).size > 12
        else:
            assert np.all((ph[1:] - ph[:-1]) % 112 == 5)


def test_zipf_matches_the_recorded_reference_trace():
    t = wl.zipf()
    assert (len(t), len(t.pages)) == (1_000_000, 100_000)
    assert np.unique(t.page).size == 91_284  # distinct ids of the libCacheSim cross-check trace
    assert np.all(t.pages.n_scalars == 2048)
    counts = np.bincount(t.page, minlength=100_000)
    p0 = 1.0 / np.sum(np.arange(1, 100_001, dtype=float) ** -0.9)  # P(id 0) = 1^-0.9 / H
    assert abs(counts[0] / 1e6 - p0) < 0.03 * p0
    assert abs(counts[0] / counts[1] - 2**0.9) < 0.1


# ---- parameter validation ------------------------------------------------------------------
@pytest.mark.parametrize("name, kw, key", [
    ("periodic_reuse", {"period": 0}, "period"),
    ("periodic_reuse", {"period": 81}, "period"),
    ("periodic_reuse", {"period": 2.5}, "period"),
    ("chat_continuation", {"working_set": 0}, "working_set"),
    ("chat_continuation", {"drift": 1.5}, "drift"),
    ("rag_burst", {"hot_pages": 96}, "hot_pages"),
    ("rag_burst", {"burst_length": 81}, "burst_length"),
    ("rag_burst", {"run_length": 0}, "run_length"),
    ("long_tail_mix", {"hot_fraction": -0.1}, "hot_fraction"),
    ("long_tail_mix", {"hot_fraction": float("nan")}, "hot_fraction"),
    ("adversarial_burst", {"burst": 33}, "burst"),
    ("mixed_locality", {"phase_length": 0}, "phase_length"),
    ("mixed_locality", {"stride": 0}, "stride"),
    ("zipf", {"alpha": -1.0}, "alpha"),
    ("prefetch_friendly", {"n_pages": 0}, "n_pages"),
    ("prefetch_friendly", {"length": 0}, "length"),
    ("prefetch_friendly", {"seed": -1}, "seed"),
    ("prefetch_friendly", {"seed": True}, "seed"),
    ("adversarial_prefetch", {"n_pages": 1}, "n_pages"),
    ("prefetch_friendly", {"scalar_jitter": 2048}, "scalar_jitter"),
    ("prefetch_friendly", {"scalars_per_page": 0}, "scalars_per_page"),
    ("prefetch_friendly", {"n_layers": 0}, "n_layers"),
])
def test_bad_parameters_raise_one_line_error_naming_the_key(name, kw, key):
    with pytest.raises(ValueError, match=rf"^workload\.{key}: expected ") as err:
        make(name, **kw)
    assert "\n" not in str(err.value) and "got" in str(err.value)


@pytest.mark.parametrize("k, m", [(12, 32), (20, 32)])  # the redraw path and the permutation path
def test_sample_distinct_rows_are_distinct_and_uniform(k, m):
    v = wl.sample_distinct(np.random.default_rng(0), 20_000, k, m)
    ranked = np.sort(v, axis=1)
    assert v.shape == (20_000, k) and np.all(ranked[:, 1:] > ranked[:, :-1])
    assert np.all(np.abs(np.bincount(v.ravel(), minlength=m) / (20_000 * k / m) - 1) < 0.05)
    assert np.all(np.abs(np.bincount(v[:, -1], minlength=m) / (20_000 / m) - 1) < 0.2)  # no position bias
