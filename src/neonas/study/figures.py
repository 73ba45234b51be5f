"""The study's figures, drawn from the tables of `neonas aggregate` with matplotlib (Agg backend).

Every figure is at most 6.3 in wide (a LaTeX text width) with 10 pt text, embeds TrueType fonts, and
is byte-identical when redrawn from the same tables (no timestamps in the PDF). Each function takes
DataFrames and returns a Figure; `save` writes it as PDF and PNG. Missing data gives a figure that
says what is missing, never an error, so the report always has every file the workflow expects.
Axes start where a reader expects them (0 for shares, counts and entropies) or say that they are cut, and
curves that look flat at that scale get their range written beside them. This module holds the style and
the search and results figures; neonas.study.figures_arch the architecture figures.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

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
    return {"random": "random search", "evolution": "evolution", "handcrafted": "hand-designed"}.get(arm, f"NAS {setting}")


def placeholder(text: str, height: float = 2.0) -> plt.Figure:
    """A figure that says why it is empty."""
    style()
    fig = plt.figure(figsize=(WIDTH, height))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


SMALL_RANGE = 0.05  # a curve spanning less than this share of its axis gets its range written beside it


def note_small_range(ax: plt.Axes, ranges: list[tuple[str, float, float]], unit: str = "") -> None:
    """Write the range of every curve that looks flat at the axis' scale (span < SMALL_RANGE of the axis):
    an honest axis from 0 must not hide that a quantity changed, nor a cut axis inflate it. The note goes
    into the half of the panel away from the curves, on a white ground."""
    lo, hi = ax.get_ylim()
    flat = [(n, a, b) for n, a, b in ranges
            if not (math.isnan(a) or math.isnan(b)) and hi > lo and (b - a) < SMALL_RANGE * (hi - lo)]
    if not flat:
        return
    lines = []
    for name, a, b in flat:
        if b == a:
            lines.append(f"{name}: constant {a:.3g}{unit}")
        else:  # enough decimals to tell the ends apart
            d = max(0, -math.floor(math.log10(b - a)))
            lines.append(f"{name}: {a:.{d}f}–{b:.{d}f}{unit}")
    middle = np.median([(a + b) / 2 for _, a, b in flat])
    top = middle < (lo + hi) / 2
    ax.text(0.02, 0.97 if top else 0.03, "small range\n" + "\n".join(lines), transform=ax.transAxes, fontsize=6,
            va="top" if top else "bottom", ha="left", color="0.25",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})


def mark_cut(ax: plt.Axes) -> None:
    """Say so on the axes when an axis of a non-negative quantity does not start at 0."""
    cuts = [f"{axis} from {lim[0]:.2f}" for axis, lim in (("x", ax.get_xlim()), ("y", ax.get_ylim())) if lim[0] > 0]
    if cuts:
        ax.text(0.99, 0.02, "axes cut: " + ", ".join(cuts), transform=ax.transAxes, fontsize=6, ha="right",
                va="bottom", color="0.25")


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
    # a share of epochs (accuracy, balanced accuracy, F1) from 0 to 1; kappa from its lowest value or 0
    low = float(np.nanmin(children["metric"])) if len(children) else 0.0
    axes[0].set_ylim(min(0.0, low - 0.05) if metric_name == "kappa" else 0.0, 1.0)
    handles, labels = axes[0].get_legend_handles_labels()
    legend = fig.legend(handles, labels, loc="outside upper center", ncols=3, markerscale=3, frameon=False)
    legend.legend_handles[0].set_alpha(0.6)  # the dots' own alpha may be too faint to see
    return fig


def controller_curves(controller: pd.DataFrame, settings: list[tuple[str, str]],
                      uniform_entropy: float | None = None, reward_max: float = 1.0) -> plt.Figure:
    """Controller entropy and reward baseline per epoch: median over runs, quartile band. Entropy runs from
    0 to the uniform policy's (dashed; a controller that stays there learned nothing), the baseline from 0
    to the largest reward; curves that look flat at that scale get their range written beside them."""
    style()
    if not len(controller) or controller[["entropy_median", "baseline_median"]].isna().all().all():
        return placeholder("No controller curves (epochs.csv has no entropy or baseline).")
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 2.6), layout="constrained")
    col = colors(settings)
    for ax, what, ylabel in ((axes[0], "entropy", "policy entropy (nats)"), (axes[1], "baseline", "reward baseline")):
        ranges, top, bottom = [], 0.0, 0.0
        for arm, setting in settings:
            g = controller[(controller["arm"] == arm) & (controller["setting"] == setting)]
            if not len(g) or g[f"{what}_median"].isna().all():
                continue
            ax.fill_between(g["epoch"], g[f"{what}_q25"], g[f"{what}_q75"], color=col[(arm, setting)], alpha=0.2,
                            linewidth=0)
            ax.plot(g["epoch"], g[f"{what}_median"], color=col[(arm, setting)], label=label(arm, setting))
            med = g[f"{what}_median"]
            ranges.append((label(arm, setting), float(med.min()), float(med.max())))
            top = max(top, float(np.nanmax(g[f"{what}_q75"])))
            bottom = min(bottom, float(np.nanmin(g[f"{what}_q25"])))
        ceiling = uniform_entropy if what == "entropy" else reward_max
        if ceiling is not None and not math.isnan(ceiling):
            top = max(top, ceiling)
            if what == "entropy":
                ax.axhline(ceiling, color="0.4", linestyle="--", linewidth=0.8, label="uniform policy")
        ax.set_ylim(bottom, top * 1.05 if top > 0 else 1.0)
        note_small_range(ax, ranges, " nats" if what == "entropy" else "")
        ax.set_xlabel("search epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
    axes[0].legend(frameon=False, loc="best")
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
    ax.set_ylim(min(0.0, float(curves["reward"].min())), max(1.0, float(curves["reward"].max())) * 1.05)
    ax.legend(loc="upper left", frameon=False)
    return fig


def _formula(cfg: dict) -> str:
    name = cfg.get("name", "")
    if name == "sigmoid":
        t = cfg["threshold"]
        if str(t) == "auto":  # adaptive: the curve is drawn at the median threshold the runs used
            used = cfg.get("threshold_used")
            t = "auto" + (f" (median {float(used):.2f})" if used is not None and not pd.isna(used) else "")
        else:
            t = f"{float(t):g}"
        return f"$C/(1+e^{{-Ax+B}})$, A={float(cfg['steepness']):g}, t={t}, C={float(cfg['scale']):g}"
    return {"identity": "$x$", "cubed": "$x^3$"}.get(name, name)


# ----------------------------------------------------------------------------- results


def confusion_matrices(confusion: pd.DataFrame, settings: list[tuple[str, str]]) -> plt.Figure:
    """Confusion matrices (true stage x predicted), summed over seeds and folds: colour and percentage
    normalised per true stage, and each cell's count of epochs below its percentage."""
    style()
    present = [s for s in settings if ((confusion["arm"] == s[0]) & (confusion["setting"] == s[1])).any()]
    if not present:
        return placeholder("No confusion matrices (no metrics.json given).")
    fig, axes = _grid(len(present), max_cols=4, row_height=1.9)
    for ax, (arm, setting) in zip(axes, present, strict=False):
        g = confusion[(confusion["arm"] == arm) & (confusion["setting"] == setting)]
        labels = list(dict.fromkeys(g["true"]))
        m = g.pivot(index="true", columns="pred", values="row_share").loc[labels, labels].to_numpy(float)
        n = g.pivot(index="true", columns="pred", values="count").loc[labels, labels].to_numpy(int)
        ax.imshow(np.nan_to_num(m), vmin=0, vmax=1, cmap="Blues")
        for (r, c), v in np.ndenumerate(m):
            text = f"{n[r, c]}" if math.isnan(v) else f"{100 * v:.0f}%\n{n[r, c]}"
            ax.text(c, r, text, ha="center", va="center", fontsize=6, linespacing=1.0,
                    color="white" if v > 0.6 else "black")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_title(f"{label(arm, setting)}\n{int(n.sum()):,} epochs", fontsize=9)
        ax.spines[:].set_visible(False)
    axes[0].set_ylabel("true stage")
    return fig


def supernet_vs_retrained(results: pd.DataFrame, kendall: pd.DataFrame, settings: list[tuple[str, str]]) -> plt.Figure:
    """Each retrained architecture: its supernet score vs its accuracy retrained from scratch."""
    style()
    r = results[results["arm"].isin(["nas", "random"]) & results["supernet_metric"].notna()]
    # the score tau was computed on (neonas.study.trust: the searches' reward metric), else accuracy
    metric = str(kendall["metric"].dropna().iloc[0]) if "metric" in kendall and kendall["metric"].notna().any() \
        else "accuracy"
    metric = metric if metric in results else "accuracy"
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
        ax.scatter(g["supernet_metric"], g[metric], s=14, color=col[(arm, setting)], alpha=0.8,
                   label=f"{label(arm, setting)} ({tau_text}, n = {len(g)})")
    ax.set_xlabel("supernet score (shared weights, validation)")
    ax.set_ylabel(f"{metric.replace('_', ' ')} retrained (test)")
    ax.legend(frameon=False, loc="best")
    mark_cut(ax)  # the ranks matter here, not the distance from 0: keep the zoom, but say so
    return fig
