"""The study's figures, drawn from the tables of `neonas aggregate` with matplotlib (Agg backend).

Every figure is at most 6.3 in wide (a LaTeX text width) with 10 pt text, embeds TrueType fonts, and
is byte-identical when redrawn from the same tables (no timestamps in the PDF). Each function takes
DataFrames and returns a Figure; `save` writes it as PDF and PNG. Missing data gives a figure that
says what is missing, never an error, so the report always has every file the workflow expects.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from neonas.study import archstats  # noqa: E402

WIDTH = 6.3  # inches: the text width of a typical thesis page
DPI = 200  # PNG resolution
RC = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: same glyphs on every machine
    "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8,
    "pdf.fonttype": 42, "ps.fonttype": 42,  # embed TrueType, not Type 3
    "axes.spines.top": False, "axes.spines.right": False,
    "savefig.bbox": None, "figure.dpi": 100, "svg.hashsalt": "neonas",
}
METADATA = {
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": "neonas (matplotlib)", "Creator": "neonas report"},
    "png": {"Software": "neonas report (matplotlib)"},
}
ARM_COLORS = {"random": "0.55", "handcrafted": "0.15"}
NAS_COLORS = plt.get_cmap("tab10").colors
METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "kappa": "Cohen's kappa"}


def style() -> None:
    """Apply the thesis style (also sets SOURCE_DATE_EPOCH so nothing is stamped with today's date)."""
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    matplotlib.rcParams.update(RC)


def save(fig: plt.Figure, stem: Path) -> list[Path]:
    """Write `stem`.pdf and `stem`.png, then close the figure."""
    style()
    fig.draw_without_rendering()  # lay out once, then keep it: each savefig would redo it twice
    fig.set_layout_engine("none")
    paths = []
    for ext in ("pdf", "png"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, format=ext, dpi=DPI, metadata=METADATA[ext])
        paths.append(path)
    plt.close(fig)
    return paths


def colors(settings: list[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """One colour per (arm, setting): NAS settings from tab10 in study order, random grey, baseline black."""
    out, k = {}, 0
    for arm, setting in settings:
        if arm == "nas":
            out[(arm, setting)] = NAS_COLORS[k % len(NAS_COLORS)]
            k += 1
        else:
            out[(arm, setting)] = ARM_COLORS.get(arm, "0.4")
    return out


def label(arm: str, setting: str) -> str:
    return {"random": "random search", "handcrafted": "hand-designed"}.get(arm, f"NAS {setting}")


def placeholder(text: str, height: float = 2.0) -> plt.Figure:
    """A figure that says why it is empty."""
    style()
    fig = plt.figure(figsize=(WIDTH, height))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def _grid(n: int, max_cols: int = 3, row_height: float = 2.3, **kw) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, row_height * rows + 0.4), squeeze=False,
                             layout="constrained", **kw)
    axes = list(axes.flat)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


# ----------------------------------------------------------------------------- search curves


def accuracy_over_epochs(children: pd.DataFrame, curves: pd.DataFrame, panels: list[tuple[str, str]],
                         all_settings: list[tuple[str, str]], metric_name: str = "accuracy",
                         totals: dict | None = None) -> plt.Figure:
    """Children's metric over search epochs, one panel per setting: children as dots (all seeds and
    folds; a fixed subsample in long studies), the rolling median of all of them as a line and their
    quartiles as a band. `totals` gives the number of children per (arm, setting) for the titles."""
    style()
    panels = [p for p in panels if ((children["arm"] == p[0]) & (children["setting"] == p[1])).any()]
    if not panels:
        return placeholder("No sampled children to plot (children.csv is empty).")
    fig, axes = _grid(len(panels), sharey=True, sharex=True)
    col = colors(all_settings)
    for ax, (arm, setting) in zip(axes, panels, strict=False):
        c = children[(children["arm"] == arm) & (children["setting"] == setting)]
        alpha = float(np.clip(1500 / max(len(c), 1), 0.05, 0.3))  # dense clouds get lighter dots
        ax.scatter(c["epoch"], c["metric"], s=3, color=col[(arm, setting)], alpha=alpha, linewidths=0,
                   rasterized=True, label="child", zorder=1)
        q = curves[(curves["arm"] == arm) & (curves["setting"] == setting)]
        ax.fill_between(q["epoch"], q["q25"], q["q75"], color="black", alpha=0.2, linewidth=0, label="quartiles",
                        zorder=2)
        ax.plot(q["epoch"], q["median"], color="black", linewidth=1.2, label="rolling median", zorder=3)
        n_runs = c.groupby(["seed", "fold"]).ngroups
        total = (totals or {}).get((arm, setting), len(c))
        ax.set_title(f"{label(arm, setting)}\n{n_runs} run{'s' * (n_runs != 1)}, {total:,} children", fontsize=9)
        ax.set_xlabel("search epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[:: min(len(panels), 3)]:
        ax.set_ylabel(f"child {METRIC_LABELS.get(metric_name, metric_name)}\n(each arm on its own supernet)")
    handles, labels = axes[0].get_legend_handles_labels()
    legend = fig.legend(handles, labels, loc="outside upper center", ncols=3, markerscale=3, frameon=False)
    legend.legend_handles[0].set_alpha(0.6)  # the dots' own alpha may be too faint to see
    return fig


def controller_curves(controller: pd.DataFrame, settings: list[tuple[str, str]]) -> plt.Figure:
    """Controller entropy and reward baseline per epoch: median over runs, quartile band."""
    style()
    if not len(controller) or controller[["entropy_median", "baseline_median"]].isna().all().all():
        return placeholder("No controller curves (epochs.csv has no entropy or baseline).")
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 2.6), layout="constrained")
    col = colors(settings)
    for ax, what, ylabel in ((axes[0], "entropy", "policy entropy (nats)"), (axes[1], "baseline", "reward baseline")):
        for arm, setting in settings:
            g = controller[(controller["arm"] == arm) & (controller["setting"] == setting)]
            if not len(g) or g[f"{what}_median"].isna().all():
                continue
            ax.fill_between(g["epoch"], g[f"{what}_q25"], g[f"{what}_q75"], color=col[(arm, setting)], alpha=0.2,
                            linewidth=0)
            ax.plot(g["epoch"], g[f"{what}_median"], color=col[(arm, setting)], label=label(arm, setting))
        ax.set_xlabel("search epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
    axes[0].legend(frameon=False)
    return fig


def reward_functions(curves: pd.DataFrame, configs: pd.DataFrame, settings: list[tuple[str, str]]) -> plt.Figure:
    """Each NAS setting's reward as a function of the child's metric x in [0, 1]."""
    style()
    if not len(curves):
        return placeholder("No reward settings (no NAS runs).")
    fig, ax = plt.subplots(figsize=(WIDTH, 2.6), layout="constrained")
    col = colors(settings)
    for arm, setting in settings:
        g = curves[curves["setting"] == setting]
        if arm != "nas" or not len(g):
            continue
        cfg = configs[configs["setting"] == setting].iloc[0].to_dict() if len(configs) else {}
        ax.plot(g["x"], g["reward"], color=col[(arm, setting)], label=f"{setting}: {_formula(cfg)}")
    ax.set_xlabel("child metric x")
    ax.set_ylabel("reward r(x)")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper left", frameon=False)
    return fig


def _formula(cfg: dict) -> str:
    name = cfg.get("name", "")
    if name == "sigmoid":
        return f"$C/(1+e^{{-Ax+B}})$, A={cfg['steepness']:g}, t={cfg['threshold']:g}, C={cfg['scale']:g}"
    return {"identity": "$x$", "cubed": "$x^3$"}.get(name, name)


# ----------------------------------------------------------------------------- architectures


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
        for arm, setting in settings:
            g = s[(s["arm"] == arm) & (s["setting"] == setting)].sort_values("window")
            if len(g):
                ax.plot(g["window"], g[q], marker="o", markersize=3, color=col[(arm, setting)],
                        label=label(arm, setting))
        ax.set_ylabel(ylabel)
        ax.set_xticks(ticks, windows["epochs"].tolist(), rotation=30)
    for ax in axes[-2:]:
        ax.set_xlabel("search epochs (window)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 4), frameon=False)
    return fig


def arch_diagram(arch: dict | None, title: str, geometry: archstats.Geometry | None = None) -> plt.Figure:
    """The architecture as a left-to-right DAG: stem, searched layers (op, span x dilation, time kernel),
    head; skips drawn as arcs above the chain from the layer whose output is added."""
    style()
    if not arch:
        return placeholder(f"{title}: no architecture available (no derived.json or metrics.json).")
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
    ax.set_title(f"{title} ({len(layers)} layers, {n_skips} skips)")
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


# ----------------------------------------------------------------------------- results


def confusion_matrices(confusion: pd.DataFrame, settings: list[tuple[str, str]]) -> plt.Figure:
    """Row-normalised confusion matrices (true stage x predicted), summed over seeds and folds."""
    style()
    present = [s for s in settings if ((confusion["arm"] == s[0]) & (confusion["setting"] == s[1])).any()]
    if not present:
        return placeholder("No confusion matrices (no metrics.json given).")
    fig, axes = _grid(len(present), max_cols=4, row_height=1.9)
    for ax, (arm, setting) in zip(axes, present, strict=False):
        g = confusion[(confusion["arm"] == arm) & (confusion["setting"] == setting)]
        labels = list(dict.fromkeys(g["true"]))
        m = g.pivot(index="true", columns="pred", values="row_share").loc[labels, labels].to_numpy(float)
        ax.imshow(np.nan_to_num(m), vmin=0, vmax=1, cmap="Blues")
        for (r, c), v in np.ndenumerate(m):
            if not math.isnan(v):
                ax.text(c, r, f"{100 * v:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 else "black")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_title(label(arm, setting), fontsize=9)
        ax.spines[:].set_visible(False)
    axes[0].set_ylabel("true stage")
    return fig


def supernet_vs_retrained(results: pd.DataFrame, kendall: pd.DataFrame, settings: list[tuple[str, str]]) -> plt.Figure:
    """Each retrained architecture: its supernet score vs its accuracy retrained from scratch."""
    style()
    r = results[results["arm"].isin(["nas", "random"]) & results["supernet_metric"].notna()]
    if not len(r):
        return placeholder("No retrained architectures with a supernet score (meta.supernet_metric).")
    fig, ax = plt.subplots(figsize=(WIDTH * 0.75, 3.0), layout="constrained")
    col = colors(settings)
    for arm, setting in settings:
        g = r[(r["arm"] == arm) & (r["setting"] == setting)]
        if not len(g):
            continue
        k = kendall[(kendall["scope"] == "setting") & (kendall["arm"] == arm) & (kendall["setting"] == setting)]
        tau = k["tau"].iloc[0] if len(k) else math.nan
        tau_text = f"τ = {tau:.2f}" if not math.isnan(tau) else "τ n/a"
        ax.scatter(g["supernet_metric"], g["accuracy"], s=14, color=col[(arm, setting)], alpha=0.8,
                   label=f"{label(arm, setting)} ({tau_text}, n = {len(g)})")
    ax.set_xlabel("supernet score (shared weights, validation)")
    ax.set_ylabel("accuracy retrained (test)")
    ax.legend(frameon=False, loc="best")
    return fig


def highlight_arch(highlights: dict, key: str) -> dict | None:
    item = highlights.get(key)
    if not item:
        return None
    arch = item["arch"]
    return json.loads(arch) if isinstance(arch, str) else arch
