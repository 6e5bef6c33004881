"""Report figures drawn from a sweep summary (kvexp.report.summarize): one PNG per question.

Built on matplotlib's object API (Figure, no pyplot): drawing needs no display or backend
choice, so importing this module leaves a notebook's inline plotting alone, and no figure state
is kept between reports. Every function takes the summary table (``<metric>_mean``
and ``<metric>_std`` columns per scenario/workload/variant row) and returns the file it wrote,
or None when the sweep does not hold the runs the figure needs.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from kvexp.policies.regret_aware import RegretAware

BAR_METRICS = {"hit_rate": "hit rate (tier 0)", "avg_latency_ms": "avg latency (ms, simulated)",
               "bytes_moved": "bytes moved", "prefetch_usefulness": "prefetch usefulness"}
# The ablation's fixed points are regret_aware's defaults: vary one knob, hold the other there.
_DEFAULTS = inspect.signature(RegretAware).parameters
WEIGHT, HORIZON = float(_DEFAULTS["regret_weight"].default), float(_DEFAULTS["regret_horizon"].default)
W, H = "policy.regret_weight", "policy.regret_horizon"
TRADEOFF = ("constrained", "adversarial_burst")  # the ablation's hardest cell: 1/6 capacity, bursts
NEUTRAL = "periodic_reuse"  # where the reference design saw regret_aware behave exactly like lru
NOTE = "simulator figures on synthetic traces"
MARKERS = "osD^v<>ph*"


def colors(labels: list[str]) -> dict[str, tuple]:
    """A stable colour per variant (order of first appearance)."""
    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _std(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """Error bar half-widths: the std across seeds, 0 where a cell has one run."""
    return frame[f"{metric}_std"].fillna(0.0).to_numpy()


def _save(fig: Figure, path: Path, title: str) -> Path:
    fig.suptitle(f"{title}\n({NOTE})", fontsize=11)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def policy_bars(summary: pd.DataFrame, metric: str, path: Path, sweep: str) -> Path | None:
    """Grouped bars of ``metric`` (mean ± std): one panel per scenario, workloads along x, one
    bar per policy variant. Scenarios without prefetch are left out of prefetch usefulness."""
    table = summary
    if metric.startswith("prefetch_") and "prefetch_requests_mean" in summary:
        with_prefetch = summary.groupby("scenario")["prefetch_requests_mean"].transform("max") > 0
        table = summary[with_prefetch]
    if table.empty or f"{metric}_mean" not in table:
        return None
    scenarios = list(dict.fromkeys(table["scenario"]))
    variants = list(dict.fromkeys(table["variant"]))
    workloads = sorted(table["workload"].unique())
    palette = colors(variants)
    width = 0.8 / len(variants)
    fig = Figure(layout="constrained", figsize=(max(8.0, 0.16 * len(workloads) * len(variants) + 3), 2.8 * len(scenarios)))
    axes = fig.subplots(len(scenarios), 1, squeeze=False)[:, 0]
    for ax, scenario in zip(axes, scenarios):
        cell = table[table["scenario"] == scenario]
        for i, variant in enumerate(variants):
            rows = cell[cell["variant"] == variant].set_index("workload").reindex(workloads)
            x = np.arange(len(workloads)) + (i - (len(variants) - 1) / 2) * width
            ax.bar(x, rows[f"{metric}_mean"].to_numpy(), width, yerr=_std(rows, metric),
                   color=palette[variant], label=variant, capsize=1.5, error_kw={"elinewidth": 0.7})
        ax.set_xticks(np.arange(len(workloads)), workloads, fontsize=8)
        ax.set_title(scenario, fontsize=9)
        ax.set_ylabel(BAR_METRICS.get(metric, metric), fontsize=8)
    axes[0].legend(fontsize=7, ncols=1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path, f"{sweep}: {BAR_METRICS.get(metric, metric)} by policy (mean ± std over seeds)")


def latency_vs_bytes(summary: pd.DataFrame, path: Path, sweep: str) -> Path:
    """Average latency against bytes moved, one panel per workload: colour = policy variant,
    marker = scenario. Bytes are on a log axis when a panel spans more than 20x."""
    workloads = sorted(summary["workload"].unique())
    variants = list(dict.fromkeys(summary["variant"]))
    scenarios = list(dict.fromkeys(summary["scenario"]))
    palette, marks = colors(variants), {s: MARKERS[i % len(MARKERS)] for i, s in enumerate(scenarios)}
    ncols = min(4, len(workloads))
    nrows = -(-len(workloads) // ncols)
    fig = Figure(layout="constrained", figsize=(3.6 * ncols + 2.5, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, workload in zip(axes, workloads):
        cell = summary[summary["workload"] == workload]
        for _, row in cell.iterrows():
            ax.scatter(row["bytes_moved_mean"], row["avg_latency_ms_mean"], color=palette[row["variant"]],
                       marker=marks[row["scenario"]], s=28, edgecolors="black", linewidths=0.3)
        moved = cell["bytes_moved_mean"][cell["bytes_moved_mean"] > 0]
        if len(moved) and moved.max() > 20 * moved.min():
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # decade labels only: minor ones overlap
        ax.set_title(workload, fontsize=9)
        ax.set_xlabel("bytes moved", fontsize=8)
        ax.set_ylabel("avg latency (ms)", fontsize=8)
    for ax in axes[len(workloads):]:
        ax.set_visible(False)
    handles = [axes[0].scatter([], [], color=palette[v], label=v) for v in variants]
    handles += [axes[0].scatter([], [], facecolors="none", edgecolors="black", marker=marks[s], label=s)
                for s in scenarios]
    fig.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 0.95))
    return _save(fig, path, f"{sweep}: latency vs bytes moved (means over seeds)")


def _regret_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """regret_aware rows of a sweep that varied both its weight and its horizon (the ablation)."""
    if W not in summary or H not in summary:
        return summary.iloc[0:0]
    return summary[(summary["policy"] == "regret_aware") & summary[W].notna() & summary[H].notna()]


def ablation_curve(summary: pd.DataFrame, metric: str, knob: str, path: Path, sweep: str) -> Path | None:
    """``metric`` against one regret knob with the other held at its default, one panel per
    scenario x workload; the baselines (every non-regret_aware variant) as horizontal lines."""
    regret = _regret_rows(summary)
    if regret.empty:
        return None
    other, held = (W, WEIGHT) if knob == H else (H, HORIZON)
    regret = regret[regret[other] == held]
    if regret[knob].nunique() < 2:
        return None
    scenarios, workloads = list(dict.fromkeys(regret["scenario"])), sorted(regret["workload"].unique())
    baselines = list(dict.fromkeys(summary.loc[summary["policy"] != "regret_aware", "variant"]))
    palette = colors(["regret_aware", *baselines])
    fig = Figure(layout="constrained", figsize=(3.4 * len(workloads) + 2, 2.8 * len(scenarios)))
    axes = fig.subplots(len(scenarios), len(workloads), squeeze=False)
    for r, scenario in enumerate(scenarios):
        for c, workload in enumerate(workloads):
            ax = axes[r, c]
            line = regret[(regret["scenario"] == scenario) & (regret["workload"] == workload)].sort_values(knob)
            ax.errorbar(line[knob], line[f"{metric}_mean"], yerr=_std(line, metric), marker="o", capsize=2,
                        color=palette["regret_aware"], label=f"regret_aware ({other.rsplit('_', 1)[-1]} {held:g})")
            base = summary[(summary["scenario"] == scenario) & (summary["workload"] == workload)]
            for variant in baselines:
                value = base.loc[base["variant"] == variant, f"{metric}_mean"]
                if len(value):
                    ax.axhline(value.iloc[0], linestyle="--", linewidth=1, color=palette[variant], label=variant)
            ax.set_xticks(sorted(line[knob].unique()), [f"{v:g}" for v in sorted(line[knob].unique())])
            ax.set_title(f"{scenario} / {workload}", fontsize=9)
            ax.set_xlabel(knob.removeprefix("policy."), fontsize=8)
            ax.set_ylabel(BAR_METRICS.get(metric, metric), fontsize=8)
            ax.ticklabel_format(axis="y", useOffset=False)
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    what = f"{BAR_METRICS.get(metric, metric)} vs {knob.removeprefix('policy.')}"
    return _save(fig, path, f"{sweep}: {what} ({other.removeprefix('policy.')} = {held:g}; mean ± std over seeds)")


def tradeoff(summary: pd.DataFrame, path: Path, sweep: str, scenario: str = TRADEOFF[0],
             workload: str = TRADEOFF[1]) -> Path | None:
    """Latency against bytes moved for every variant of one scenario x workload, with std bars
    in both directions and each point labelled."""
    cell = summary[(summary["scenario"] == scenario) & (summary["workload"] == workload)]
    if len(_regret_rows(cell)) == 0:
        return None
    palette = colors(list(dict.fromkeys(cell["variant"])))
    fig = Figure(layout="constrained", figsize=(8, 5.5))
    ax = fig.subplots()
    for _, row in cell.iterrows():
        ax.errorbar(row["bytes_moved_mean"], row["avg_latency_ms_mean"], xerr=np.nan_to_num(row["bytes_moved_std"]),
                    yerr=np.nan_to_num(row["avg_latency_ms_std"]), marker="o", capsize=2, color=palette[row["variant"]])
        ax.annotate(row["variant"], (row["bytes_moved_mean"], row["avg_latency_ms_mean"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("bytes moved (mean ± std)")
    ax.set_ylabel("avg latency, ms (mean ± std)")
    return _save(fig, path, f"{sweep}: latency / bytes trade-off on {workload} x {scenario}")


def neutral_case(summary: pd.DataFrame, path: Path, sweep: str, workload: str = NEUTRAL) -> Path | None:
    """Every variant's latency and hit rate on ``workload``, per scenario, side by side: the case
    where the regret signal is expected to change nothing."""
    cell = summary[summary["workload"] == workload]
    if len(_regret_rows(cell)) == 0:
        return None
    scenarios = list(dict.fromkeys(cell["scenario"]))
    variants = list(dict.fromkeys(cell["variant"]))
    palette = colors(variants)
    fig = Figure(layout="constrained", figsize=(10, 0.3 * len(variants) * len(scenarios) + 1.5))
    axes = fig.subplots(len(scenarios), 2, squeeze=False)
    for r, scenario in enumerate(scenarios):
        rows = cell[cell["scenario"] == scenario].set_index("variant").reindex(variants).reset_index()
        for c, metric in enumerate(("avg_latency_ms", "hit_rate")):
            ax = axes[r, c]
            ax.barh(np.arange(len(variants)), rows[f"{metric}_mean"], xerr=_std(rows, metric),
                    color=[palette[v] for v in variants], capsize=1.5)
            ax.set_yticks(np.arange(len(variants)), variants if c == 0 else [""] * len(variants), fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{scenario}: {BAR_METRICS[metric]}", fontsize=9)
    return _save(fig, path, f"{sweep}: the neutral case, {workload} (mean ± std over seeds)")


def draw_all(summary: pd.DataFrame, out: Path, sweep: str) -> list[Path]:
    """Every figure the summary supports, written to ``out``."""
    drawn = [policy_bars(summary, m, out / f"bars_{m}.png", sweep) for m in BAR_METRICS]
    drawn.append(latency_vs_bytes(summary, out / "latency_vs_bytes.png", sweep))
    drawn.append(ablation_curve(summary, "avg_latency_ms", H, out / "ablation_latency_vs_horizon.png", sweep))
    drawn.append(ablation_curve(summary, "hit_rate", W, out / "ablation_hit_rate_vs_weight.png", sweep))
    drawn.append(tradeoff(summary, out / f"ablation_tradeoff_{TRADEOFF[1]}_{TRADEOFF[0]}.png", sweep))
    drawn.append(neutral_case(summary, out / f"ablation_neutral_{NEUTRAL}.png", sweep))
    return [p for p in drawn if p is not None]
