"""Speed of the fast engine against the reference engine and libCacheSim, in one run.

    python scripts/bench_engine.py                 # the full benchmark (several minutes)
    python scripts/bench_engine.py --quick         # a small run (about a minute)
    python scripts/bench_engine.py --tables scaling  # one table (speed, window, working_set, scaling,
                                                     # latency, memory, startup)

Table 1: one Zipf(0.9) trace, 1M accesses over 100k pages. Rows "1 tier": unit-size pages
(every page the same size), one tier holding 10% of the distinct pages, next to libCacheSim's
LRU and Belady (``process_trace`` timed alone; writing its trace file is preparation) with
their miss counts. Rows "4 tiers": the reference stack's latencies and bandwidths, pages of
jittered byte sizes, tier 0 holding 10% of the distinct pages' bytes and the lower tiers the
reference ratios, every policy with prefetch none, markov and stride. Fast runs time the whole
``kvexp.fast.run`` call (Belady's next-use pass included), best of ``--repeat`` runs spread among
the reference runs, which are timed once (libCacheSim's runs are spread alike; so are the scaling
table's, in rounds). Times are CPU seconds of this process (steadier than wall time on a shared
machine). "moves/access" counts fetches into tier 0, prefetches, demotions and drops per access:
the work a run does. Then: windowed_recency by window size on the 4-tier runs (fast engine
only), the stride runs again over 5,000 pages (their rows fit in L2: the time per page move
there is mostly work), steady-state time per access from 1e3 to 1e6 resident pages (next to
libCacheSim's LRU on the same traces; its pages are of one size, where default cost_aware runs
as heavy_hitter, so a column with recency outweighing a touch times cost_aware's ladder), the
machine's latency of a load that misses each cache level and its kernel time to fault in fresh
memory (which the scaling table keeps out of its cells), trace and run bytes per access with
the peak memory of a 10M-access run, and first-run compile and cached start-up times (fresh
processes).
Figures are for this simulator on this machine; they say nothing about an inference runtime.
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import libcachesim as lcs
import numpy as np
from numba import njit

import kvexp.fast
from kvexp.crosscheck import write_oracle_general
from kvexp.engine import Simulation
from kvexp.policies.belady import Belady
from kvexp.policies.cost_aware import CostAware
from kvexp.policies.fifo import FIFO
from kvexp.policies.heavy_hitter import HeavyHitter
from kvexp.policies.lfu import LFU
from kvexp.policies.lru import LRU
from kvexp.policies.predictive import Predictive
from kvexp.policies.regret_aware import RegretAware
from kvexp.policies.windowed_recency import WindowedRecency
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.prefetch.stride import StridePrefetch
from kvexp.quant import fp16
from kvexp.tiers import Tier, reference_tiers
from kvexp.trace import PageTable, Trace
from kvexp.workloads.synthetic import zipf

POLICIES = {"lru": LRU, "fifo": FIFO, "belady": Belady, "lfu": LFU, "heavy_hitter": HeavyHitter,
            "cost_aware": CostAware, "regret_aware": RegretAware, "windowed_recency": WindowedRecency,
            "predictive": Predictive}
PREFETCH = {"none": lambda: None, "markov": MarkovPrefetch, "stride": StridePrefetch}
# Pages of one size: default cost_aware ranks as heavy_hitter and runs on its buckets
# (``kvexp.fast.build.ranks_as_heavy_hitter``); with recency outweighing a touch it keeps its ladder.
SCALING_POLICIES = {**POLICIES, "cost_aware rw=2 (ladder)": lambda: CostAware(recency_weight=2.0)}
WORKING_SET_POLICIES = ["lru", "lfu", "cost_aware", "regret_aware", "windowed_recency", "predictive"]
SMALL_PAGES = 5_000  # 64-byte rows: 320 KiB of page state, inside one core's L2


def timed(fn) -> tuple[float, object]:
    """CPU seconds of one call to ``fn``, and what it returned."""
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def spread_best(runs: list, repeat: int, between: list | None = None) -> list[tuple[float, object]]:
    """Each of ``runs`` (callables returning ``(seconds, result)``) called ``repeat`` times, the best
    time kept: not in a row but spread over the whole measurement, so that a slow spell of this
    shared machine (they last minutes, and move a row by up to 2x) sets no row's figure. With
    ``between`` (one slow call per run: the reference engine), round r's call of run j comes after
    slow call ``(j + r * n // repeat) % n``; without, each round calls every run in turn."""
    n = len(runs)
    if between is None:
        between, due = [lambda: None] * repeat, [range(n)] * repeat
    else:
        due = [[] for _ in range(n)]
        for j in range(n):
            for r in range(repeat):
                due[(j + r * n // repeat) % n].append(j)
    best: list[tuple[float, object]] = [(math.inf, None)] * n
    for slow, now in zip(between, due):
        slow()
        for j in now:
            best[j] = min(best[j], runs[j](), key=lambda t: t[0])
    return best


def one_tier(trace, fraction: float) -> tuple[tuple[Tier, ...], int]:
    """One tier holding ``fraction`` of the distinct pages (pages are of equal size here)."""
    size = int(fp16().page_bytes(trace.pages.n_scalars[:1])[0])
    pages = int(len(np.unique(trace.page)) * fraction)
    return (Tier("tier0", pages * size, 0.02, 0.02, 80_000.0),), pages


def four_tiers(trace, fraction: float) -> tuple[Tier, ...]:
    """The reference stack rescaled so tier 0 holds ``fraction`` of the distinct pages' bytes."""
    distinct = fp16().page_bytes(trace.pages.n_scalars)[np.unique(trace.page)]
    return reference_tiers(fraction * int(distinct.sum()) / reference_tiers()[0].capacity_bytes)


def libcachesim_once(path: Path, cache: type, capacity: int, n: int, objects: int) -> tuple[float, int]:
    """CPU seconds of libCacheSim's ``process_trace`` alone (reader and cache made before), and
    its miss count; hashpower fitted to the object count."""
    hashpower = max(4, math.ceil(math.log2(max(2, objects))) + 2)
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
    sim = cache(int(capacity), hashpower=hashpower)
    seconds, (ratio, _) = timed(lambda: sim.process_trace(reader))
    return seconds, round(ratio * n)


def rate(n: int, seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{n / seconds / 1e6:.2f}M"


def ratio(t_ref: float, t_fast: float) -> str:
    return "-" if math.isnan(t_ref) else f"{t_ref / t_fast:.0f}x"


def moves(m: dict, n: int) -> str:
    """Page moves per access (fetches into tier 0, prefetches, demotions, drops): the work."""
    return f"{(m['misses'] + m['prefetch_requests'] + m['demotions'] + m['drops']) / n:.2f}"


def speed_table(args: argparse.Namespace) -> None:
    """Table 1. Every row's fast runs (and libCacheSim's) are spread among the reference runs."""
    trace = zipf(n_pages=args.pages, length=args.length, seed=42)
    sized = zipf(n_pages=args.pages, length=args.length, seed=42, scalar_jitter=64)
    n, objects = len(trace), len(np.unique(trace.page))
    one, capacity = one_tier(trace, 0.10)
    four = four_tiers(sized, 0.10)
    cases = [("1 tier, unit size", name, "none", trace, one, POLICIES[name], PREFETCH["none"], cache)
             for name, cache in (("lru", lcs.LRU), ("belady", lcs.Belady))]
    cases += [("4 tiers, byte sizes", name, pf_name, sized, four, policy, prefetcher, None)
              for name, policy in POLICIES.items() for pf_name, prefetcher in PREFETCH.items()]
    refs: list = [None] * len(cases)

    def reference(i: int):
        _, name, pf_name, tr, tiers, policy, prefetcher, _ = cases[i]
        refs[i] = timed(lambda: Simulation(tiers, policy(), prefetcher()).run(tr))
        print(f"  {name}/{pf_name}: reference {rate(n, refs[i][0])}/s", file=sys.stderr, flush=True)

    def fast(c):
        return lambda: timed(lambda: kvexp.fast.run(c[3], c[4], c[5](), c[6]()))

    with tempfile.TemporaryDirectory() as tmp:
        path = write_oracle_general(trace, Path(tmp) / "zipf.oracleGeneral")
        runs = [fast(c) for c in cases]
        runs += [lambda cache=c[7]: libcachesim_once(path, cache, capacity, n, objects) for c in cases[:2]]
        slow = None
        if not args.no_reference:
            slow = [lambda i=i: reference(i) for i in range(len(cases))] + [lambda: None] * 2
        best = spread_best(runs, args.repeat, slow)
    rows = []
    for i, (setup, name, pf_name, *_rest) in enumerate(cases):
        t_fast, res = best[i]
        t_ref = math.nan
        if refs[i] is not None:
            t_ref = refs[i][0]
            assert refs[i][1].metrics == res.metrics, f"{name}/{pf_name}: fast and reference metrics differ"
        row = [setup, name, pf_name, f"{res.metrics['misses']:,}", moves(res.metrics, n), rate(n, t_fast),
               rate(n, t_ref), ratio(t_ref, t_fast), "", ""]
        if i < 2:
            t_lcs, lcs_misses = best[len(cases) + i]
            same = "" if lcs_misses == res.metrics["misses"] else " (differs!)"
            row[-2:] = [rate(n, t_lcs), f"{lcs_misses:,}{same}"]
        rows.append(row)
    header = ["setup", "policy", "prefetch", "misses", "moves/access", "fast acc/s", "reference acc/s", "fast/ref",
              "libCacheSim acc/s", "libCacheSim misses"]
    print(f"\nZipf(0.9), {n:,} accesses over {args.pages:,} pages ({objects:,} distinct); fast and libCacheSim: "
          f"best of {args.repeat} spread over the run; reference once\n")
    print(table(header, rows))


def window_table(args: argparse.Namespace) -> None:
    """windowed_recency's speed as its window widens (the 4-tier setup of table 1): a wider
    window leaves more touches to expire out of order, the case its overflow heap is for."""
    sized = zipf(n_pages=args.pages, length=args.length, seed=42, scalar_jitter=64)
    tiers = four_tiers(sized, 0.10)
    cases = [(window, pf_name) for window in (32, 1024, 16384, 262144) for pf_name in ("none", "stride")]
    best = spread_best([lambda w=w, pf=pf: timed(lambda: kvexp.fast.run(sized, tiers, WindowedRecency(w),
                                                                         PREFETCH[pf]()).metrics)
                        for w, pf in cases], args.repeat)
    rows = [[f"{cases[i][0]:,}", *(c for t, m in best[i:i + 2] for c in (f"{m['misses']:,}", rate(len(sized), t)))]
            for i in range(0, len(cases), 2)]
    print(f"\nwindowed_recency by window_size, 4 tiers as in table 1 (fast engine, best of {args.repeat} rounds)\n")
    print(table(["window_size", "misses (none)", "acc/s (none)", "misses (stride)", "acc/s (stride)"], rows))


def working_set_table(args: argparse.Namespace) -> None:
    """The stride runs of table 1 next to the same runs over ``SMALL_PAGES`` pages, whose rows
    fit in one core's L2 cache: the time per page move left there is mostly work, and the
    difference is mostly what the larger working set costs in cache misses."""
    cases = []
    for pages in (SMALL_PAGES, args.pages):
        sized = zipf(n_pages=pages, length=args.length, seed=42, scalar_jitter=64)
        tiers = four_tiers(sized, 0.10)
        cases += [(pages, name, lambda tr=sized, tiers=tiers, name=name:
                   timed(lambda: kvexp.fast.run(tr, tiers, POLICIES[name](), StridePrefetch()).metrics))
                  for name in WORKING_SET_POLICIES]
    rows = []
    for (pages, name, _), (t, metrics) in zip(cases, spread_best([c[2] for c in cases], args.repeat)):
        m = float(moves(metrics, args.length))
        rows.append([f"{pages:,}", name, f"{m:.2f}", rate(args.length, t), f"{t / args.length / m * 1e9:.0f}"])
    print(f"\nStride prefetch, 4 tiers as in table 1, over {SMALL_PAGES:,} and {args.pages:,} pages (fast engine, "
          f"best of {args.repeat} rounds)\n")
    print(table(["pages", "policy", "moves/access", "fast acc/s", "ns per move"], rows))


def uniform_case(resident: int, min_reads: int) -> tuple[Trace, Trace, tuple[Tier, ...]]:
    """The scaling table's case for ``resident`` pages: a trace that reads 2R pages once each (a
    fill pass) and then max(``min_reads``, 4R) uniform reads over them, that trace's fill pass
    alone, and one tier of R unit-size pages."""
    n_pages, reads = 2 * resident, max(min_reads, 4 * resident)
    fill = np.arange(n_pages)
    reads_pages = np.random.default_rng(7).integers(0, n_pages, reads)
    pages = PageTable.uniform(n_pages)
    rows = n_pages + reads
    whole = Trace(np.arange(rows), np.concatenate([fill, reads_pages]), np.zeros(rows, np.uint8), pages)
    head = Trace(np.arange(n_pages), fill, np.zeros(n_pages, np.uint8), pages)
    size = int(fp16().page_bytes(pages.n_scalars[:1])[0])
    return whole, head, (Tier("tier0", resident * size, 0.02, 0.02, 80_000.0),)


def scaling_table(args: argparse.Namespace) -> None:
    """Steady-state ns per access with one tier of R pages: a pass over 2R pages fills it, then
    uniform reads over those pages (the hit rate is then the same at every R: 1/2 under lru).
    The time of the fill alone is subtracted, so per-page setup and the cold start do not
    count. libCacheSim's LRU runs the same two traces: what both lose at large R is the memory
    hierarchy (state beyond the CPU caches), not work per access. Every run is repeated in
    rounds over the whole table (``spread_best``), each cell's pair after an untimed run of its
    whole trace (``_cell``)."""
    with tempfile.TemporaryDirectory() as tmp:
        _scaling_table(args, Path(tmp))


def _fast_once(trace: Trace, tiers: tuple[Tier, ...], make_policy) -> tuple[float, dict]:
    """CPU seconds of one fast run of a new ``make_policy()``, and its metrics."""
    return timed(lambda: kvexp.fast.run(trace, tiers, make_policy()).metrics)


def _cell(resident: int, name: str, head, whole) -> list[tuple]:
    """A scaling cell's two timed runs, called side by side: its whole trace, after an untimed
    run of it, then the fill pass. This VM's kernel hands memory that stays free for a few
    seconds back to the host (free page reporting), and touching such memory again costs kernel
    time; after the untimed run both timed runs reuse memory just freed, so neither pays it
    (unwarmed, the first of the two paid up to 0.3 s of it at 1e6 pages, a set-up cost the
    subtraction then took for time per access)."""
    return [(resident, name, "whole", lambda: (whole(), whole())[1]), (resident, name, "head", head)]


def _scaling_table(args: argparse.Namespace, workdir: Path) -> None:
    """``scaling_table`` with libCacheSim's trace files in ``workdir``."""
    runs, reads_at = [], {}
    for resident in args.resident:
        whole, head, tiers = uniform_case(resident, args.scale_length)
        n_pages, reads = len(head), len(whole) - len(head)
        reads_at[resident] = reads
        for name in SCALING_POLICIES:
            runs += _cell(resident, name, *(partial(_fast_once, tr, tiers, SCALING_POLICIES[name]) for tr in (head, whole)))
        paths = [write_oracle_general(tr, workdir / f"scaling-{resident}-{part}.oracleGeneral")
                 for tr, part in ((head, "head"), (whole, "whole"))]
        runs += _cell(resident, "libCacheSim LRU", *(partial(libcachesim_once, path, lcs.LRU, resident, len(tr), n_pages)
                                                     for path, tr in zip(paths, (head, whole))))
    best = dict(zip(((r, name, part) for r, name, part, _ in runs), spread_best([f for *_, f in runs], args.repeat)))
    columns = [*SCALING_POLICIES, "libCacheSim LRU"]
    rows = []
    for resident, reads in reads_at.items():
        cells = [f"{resident:,}"]
        for name in columns:
            (t_whole, _), (t_head, _) = best[resident, name, "whole"], best[resident, name, "head"]
            cells.append(f"{max(t_whole - t_head, 0.0) / reads * 1e9:.0f}")
        (_, m_whole), (_, m_head) = best[resident, "lru", "whole"], best[resident, "lru", "head"]
        rows.append([*cells, f"{(m_whole['hits'] - m_head['hits']) / reads:.3f}"])
    print(f"\nSteady-state time per access (ns): one tier of R pages, uniform reads over 2R pages after a fill "
          f"pass, max({args.scale_length:,}, 4R) timed reads; best of {args.repeat} rounds over the table\n")
    print(table(["resident pages R", *columns, "lru hit rate (timed)"], rows))


@njit(cache=True)
def _chase(nxt, steps):
    i = 0
    for _ in range(steps):
        i = nxt[i]
    return i


def latency_table(args: argparse.Namespace) -> None:
    """Time per dependent load in a random cycle over a working set of each size: what a page's
    state costs when it is not in cache (the scaling table's growth is mostly this). Then the
    kernel time a new array's first touch costs, by how long the memory was free before."""
    rows = []
    for kib in (32, 1024, 4096, 16384, 65536):
        n = kib * 1024 // 64  # one 8-byte slot per 64-byte line
        order = np.random.default_rng(0).permutation(n)
        nxt = np.zeros(n * 8, np.int64)
        nxt[order * 8] = np.roll(order, -1) * 8
        _chase(nxt, 2 * n)  # two laps load the set; the timed laps then find what the caches kept
        steps = 2_000_000
        start = time.perf_counter()
        _chase(nxt, steps)
        rows.append([f"{kib:,} KiB", f"{(time.perf_counter() - start) / steps * 1e9:.1f}"])
    print("\nMemory latency on this machine (ns per dependent load, random cycle over the working set)\n")
    print(table(["working set", "ns/load"], rows))
    rows = [[f"{idle:g}", f"{_fresh_touch(idle) * 1e3:.1f}"] for idle in (0, 0, 0, 5, 5, 5)]
    print("\nKernel CPU time to fault in a new 128 MiB array, after the process freed one as large and "
          "idled (ms; this VM returns memory left free about 2 s to its host)\n")
    print(table(["idle (s)", "kernel ms"], rows))


def _fresh_touch(idle: float, mib: int = 128) -> float:
    """Kernel CPU seconds to fault in a new ``mib`` MiB array, ``idle`` seconds after one as large
    was touched and freed: the set-up a run's fresh state pays, which depends on how long the
    memory it reuses has been free (``_cell``)."""
    np.ones(mib << 17)  # touched, then freed
    time.sleep(idle)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    np.ones(mib << 17)
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime - before


MEMORY_PROBE = """
import resource, sys, time, tracemalloc
import numpy as np
import kvexp.fast
from kvexp.policies.{module} import {cls}
from kvexp.tiers import reference_tiers
from kvexp.workloads.synthetic import zipf
trace = zipf(n_pages=100_000, length={length}, seed=3, scalar_jitter=64)
trace_bytes = trace.step.nbytes + trace.page.nbytes + trace.op.nbytes
tiers = reference_tiers(0.1 * 4096 * 100_000 / 128_000)  # tier 0: about 10% of the pages
kvexp.fast.run(zipf(n_pages=100, length=100), tiers, {cls}())  # load the compiled code first
tracemalloc.start()
start = time.process_time()
kvexp.fast.run(trace, tiers, {cls}())
seconds = time.process_time() - start
peak = tracemalloc.get_traced_memory()[1]
# this process's own peak RSS (Linux): ru_maxrss carries the parent's peak at fork across exec
try:
    hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
except OSError:
    hwm = []
rss = int(hwm[0]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(trace_bytes, peak, rss, seconds)
"""


def memory_table(args: argparse.Namespace) -> None:
    """Trace bytes per access and the peak memory of a 10M-access run, in fresh processes."""
    rows = []
    for module, cls in (("lru", "LRU"), ("belady", "Belady"), ("lfu", "LFU"), ("predictive", "Predictive")):
        code = MEMORY_PROBE.format(module=module, cls=cls, length=args.memory_length)
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
        trace_bytes, peak, rss, seconds = int(out[0]), int(out[1]), int(out[2]), float(out[3])
        n = args.memory_length
        rows.append([module, f"{trace_bytes / n:.1f}", f"{peak / n:.2f}", f"{peak / 2**20:.0f}",
                     f"{rss / 2**20:.0f}", rate(n, seconds)])
    print(f"\nMemory, {args.memory_length:,}-access Zipf(0.9) over 100k pages, four tiers as in table 1 "
          "(run = tracemalloc peak of the kvexp.fast.run call: its state, next uses and served_by)\n")
    print(table(["policy", "trace B/access", "run B/access", "run peak MiB", "process max RSS MiB", "acc/s"], rows))


STARTUP_PROBE = """
import time
t0 = time.perf_counter()
import kvexp.fast
from kvexp.policies.{module} import {cls}
from kvexp.prefetch.markov import MarkovPrefetch
from kvexp.tiers import reference_tiers
from kvexp.workloads.synthetic import rag_burst
t1 = time.perf_counter()
kvexp.fast.run(rag_burst(), reference_tiers(0.5), {cls}(), MarkovPrefetch())
print(t1 - t0, time.perf_counter() - t1)
"""


def startup_table(args: argparse.Namespace) -> None:
    """First run with an empty numba cache (compiles), then the same with the cache filled; then
    cost_aware and predictive, whose orders (lazy bucket queues; calendar queues, which
    regret_aware shares) are each in a loop of their own, compiled on its first run."""
    rows = []
    cases = [("lru", "LRU", "first run (compiles, empty cache)"), ("lru", "LRU", "cached start-up (fresh process)"),
             ("cost_aware", "CostAware", "first cost_aware run (compiles its loop)"),
             ("cost_aware", "CostAware", "cost_aware, cached start-up"),
             ("predictive", "Predictive", "first predictive run (compiles its loop)"),
             ("predictive", "Predictive", "predictive, cached start-up")]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for module, cls, label in cases:
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", STARTUP_PROBE.format(module=module, cls=cls)], env=env,
                                 check=True, capture_output=True, text=True).stdout.split()
            rows.append([label, f"{float(out[0]):.2f}", f"{float(out[1]):.2f}", f"{time.perf_counter() - start:.2f}"])
    print("\nStart-up (seconds; one small run of the engine in a new process)\n")
    print(table(["case", "import", "first kvexp.fast.run", "whole process"], rows))


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    def line(cells: list[str]) -> str:  # text columns left-aligned, numbers right-aligned
        padded = (c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "| " + " | ".join(padded) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


TABLES = {"speed": speed_table, "window": window_table, "working_set": working_set_table,  # in the order they print
          "scaling": scaling_table, "latency": latency_table, "memory": memory_table, "startup": startup_table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=1_000_000)
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-reference", action="store_true", help="skip the (slow) Python engine runs")
    ap.add_argument("--resident", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--scale-length", type=int, default=2_000_000)
    ap.add_argument("--memory-length", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="100k accesses, smaller scaling and memory runs")
    ap.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES),
                    help="the tables to print, in this order (default: all)")
    args = ap.parse_args()
    if args.quick:
        args.length, args.scale_length, args.memory_length = 100_000, 200_000, 1_000_000
        args.resident = [1_000, 10_000, 100_000]
    kvexp.fast.run(zipf(n_pages=100, length=100), reference_tiers(), LRU())  # compile (or load) before timing
    for name in args.tables:
        TABLES[name](args)


if __name__ == "__main__":
    main()
