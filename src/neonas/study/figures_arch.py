"""Figures of the architectures a study found: distributions of their layers (span, dilation, extent, time
kernel, ops, skips), how the sampled children change over the search, and diagrams of single networks.
The same style, sizes and byte-identical output as neonas.study.figures (whose helpers they use)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from neonas.study import archstats
from neonas.study.figures import WIDTH, _grid, colors, label, note_small_range, placeholder, plt, style

DIST_PANELS = (("span", "channel span (electrodes)"), ("dilation", "channel dilation"),
               ("extent_el", "extent (electrodes)"), ("time_extent_ms", "time kernel (ms)"),
               ("op", "operation"), ("n_skips", "skips per architecture"))


def arch_distributions(dist: pd.DataFrame, source: str, settings: list[tuple[str, str]]) -> plt.Figure:
    """Grouped bars: share of conv layers (ops: of layers; skips: of architectures) per value, per setting,
    pooled over seeds and folds."""
    style()
    d = dist[dist["source"] == source]
    if not len(d):
        return placeholder(f"No architectures of kind '{source}' (no derived.json given).")
    panels = list(DIST_PANELS)
    if not (d["quantity"] == "time_extent_ms").any():
        panels[3] = ("time_kernel", "time kernel (steps)")
    fig, axes = _grid(len(panels), row_height=1.9)
    col = colors(settings)
    present = [s for s in settings if ((d["arm"] == s[0]) & (d["setting"] == s[1])).any()]
    width = 0.8 / max(len(present), 1)
    for ax, (q, xlabel) in zip(axes, panels, strict=False):
        dq = d[d["quantity"] == q]
        values = sorted(dq["value"].unique(), key=_value_key)
        x = np.arange(len(values))
        for k, (arm, setting) in enumerate(present):
            g = dq[(dq["arm"] == arm) & (dq["setting"] == setting)].groupby("value")["count"].sum()
            share = np.array([g.get(v, 0) for v in values], float) / max(g.sum(), 1)
            ax.bar(x - 0.4 + width * (k + 0.5), share, width, color=col[(arm, setting)], label=label(arm, setting))
        ax.set_xticks(x, [_short(v) for v in values], rotation=45 if q in ("op", "time_extent_ms") else 0)
        ax.set_xlabel(xlabel)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("share")
    axes[3].set_ylabel("share")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 4), frameon=False)
    return fig


def _value_key(v: str):
    try:
        return (0, float(v), "")
    except ValueError:
        return (1, 0.0, v)


def _short(v: str) -> str:
    try:
        f = float(v)
    except ValueError:
        return v
    return f"{f:g}"


OVER_TIME = (("mean_extent_el", "spatial extent (electrodes)"), ("mean_time_extent_ms", "time kernel (ms)"),
             ("skip_freq", "share with skips"), ("share_conv", "share of conv layers"))
SHARES = {"skip_freq", "share_conv"}  # drawn from 0 to 1; the other panels from 0


def arch_over_time(summary: pd.DataFrame, windows: pd.DataFrame, settings: list[tuple[str, str]]) -> plt.Figure:
    """How the sampled children change during the search: means per window of epochs, per setting."""
    style()
    s = summary[(summary["source"] == "children") & (summary["window"] > 0)]
    if not len(s):
        return placeholder("No sampled children to summarise over time.")
    panels = [p for p in OVER_TIME if p[0] in s and s[p[0]].notna().any()]
    if "mean_time_extent_ms" not in [p[0] for p in panels] and "mean_time_kernel" in s:
        panels.insert(1, ("mean_time_kernel", "time kernel (steps)"))
    fig, axes = _grid(len(panels), max_cols=2, row_height=1.9, sharex=True)
    col = colors(settings)
    ticks = windows["window"].tolist()
    for ax, (q, ylabel) in zip(axes, panels, strict=False):
        ranges = []
        for arm, setting in settings:
            g = s[(s["arm"] == arm) & (s["setting"] == setting)].sort_values("window")
            if len(g):
                ax.plot(g["window"], g[q], marker="o", markersize=3, color=col[(arm, setting)],
                        label=label(arm, setting))
                ranges.append((label(arm, setting), float(g[q].min()), float(g[q].max())))
        top = float(np.nanmax(s[q])) if s[q].notna().any() else 1.0
        ax.set_ylim(0.0, 1.0 if q in SHARES else max(top, 1e-9) * 1.1)
        note_small_range(ax, ranges, " ms" if q.endswith("_ms") else "")
        ax.set_ylabel(ylabel)
        ax.set_xticks(ticks, windows["epochs"].tolist(), rotation=30)
    for ax in axes[-2:]:
        ax.set_xlabel("search epochs (window)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 4), frameon=False)
    return fig


def arch_diagram(arch: dict | None, title: str, geometry: archstats.Geometry | None = None,
                 missing: str | None = None, score: str | None = None) -> plt.Figure:
    """The architecture as a left-to-right DAG: stem, searched layers (op, span x dilation, time kernel),
    head; skips drawn as arcs above the chain from the layer whose output is added. The title names its
    hash and, when given, its `score` (e.g. "mean test κ 0.412"). Without one, a placeholder that says
    why (`missing`)."""
    style()
    if not arch:
        return placeholder(f"{title}: no architecture available ({missing or 'no derived.json or metrics.json'}).")
    layers = arch["layers"]
    n = len(layers) + 2
    fig, ax = plt.subplots(figsize=(WIDTH, 2.4), layout="constrained")
    max_gap = max((i - j for i, layer in enumerate(layers) for j in layer.get("skips", [])), default=0)
    ax.set_xlim(-0.55, n - 0.45)
    ax.set_ylim(-0.75, 0.75 + 0.35 * max_gap)
    ax.axis("off")
    texts = ["EEG\n+ stem", *[_layer_text(layer, geometry) for layer in layers], "head\n(avg, linear)"]
    for k, text in enumerate(texts):
        is_conv = 0 < k < n - 1 and layers[k - 1]["op"] == "conv"
        face = "#dbe8f5" if is_conv else ("#f2e6d0" if 0 < k < n - 1 else "0.92")
        ax.add_patch(FancyBboxPatch((k - 0.4, -0.5), 0.8, 1.0, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=face, edgecolor="0.3", linewidth=0.8))
        ax.text(k, 0.0, text, ha="center", va="center", fontsize=7 if 0 < k < n - 1 else 8)
        if k:
            ax.add_patch(FancyArrowPatch((k - 0.6, 0), (k - 0.4, 0), arrowstyle="-|>", mutation_scale=8, color="0.3"))
    for i, layer in enumerate(layers):
        for j in layer.get("skips", []):
            # output of layer j (box j+1) is added to the output of layer i (box i+1)
            gap = i - j
            ax.add_patch(FancyArrowPatch((j + 1 + 0.15, 0.5), (i + 1 - 0.15, 0.5),
                                         connectionstyle=f"arc3,rad={-min(0.25 + 0.08 * gap, 0.6)}",
                                         arrowstyle="-|>", mutation_scale=8, color="#b2182b", linewidth=0.9))
    n_skips = sum(len(layer.get("skips", [])) for layer in layers)
    ax.set_title(f"{title} {archstats.arch_hash(arch)} ({len(layers)} layers, {n_skips} skips"
                 + (f"; {score})" if score else ")"))
    return fig


def _layer_text(layer: dict, geometry: archstats.Geometry | None) -> str:
    if layer["op"] == "pool":
        return f"{layer['kind']} pool\n(time)"
    span, dil, tk = layer["span"], layer["dilation"], layer["time_kernel"]
    rows = archstats.layer_rows({"layers": [layer]}, geometry or archstats.Geometry(ch_names=None))
    ms = rows[0]["time_extent_ms"]
    text = f"conv\nspan {span} x dil {dil}\n= {archstats.spatial_extent(span, dil)} el.\nt = {tk}"
    if layer.get("time_dilation", 1) != 1:
        text += f" (dil {layer['time_dilation']})"
    return text + (f"\n({ms:.0f} ms)" if not math.isnan(ms) else "")


def highlight_arch(highlights: dict, key: str) -> dict | None:
    item = highlights.get(key)
    if not item:
        return None
    arch = item["arch"]
    return json.loads(arch) if isinstance(arch, str) else arch
