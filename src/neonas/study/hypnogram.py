"""True vs predicted hypnogram of the best retrained model on one held-out infant (report figure fig_hypnogram).

`neonas aggregate` picks the best model from the metrics table it already has (highest test kappa; ties: higher
accuracy, then path) and reads ONLY that model's predictions.tsv (docs/contracts.md), never the thousands of a
large study; it keeps the rows of the test infant with the most scored epochs as aggregate/hypnogram.csv.
`neonas report` draws it: the two hypnograms, the epochs where they disagree, and the stage probabilities.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from neonas import HYPNOGRAM_ORDER, STAGE_COLORS

log = logging.getLogger(__name__)

IDENTITY = ["arm", "setting", "seed", "fold", "rank", "kappa"]  # of the model, over all its test infants
STAGE_ORDER = list(HYPNOGRAM_ORDER)


def best_predictions(metrics: pd.DataFrame) -> pd.DataFrame:
    """hypnogram.csv: the best model's predictions for one of its test infants, with the model's identity.
    Empty when there are no metrics or the best model has no predictions.tsv (runs of older neonas)."""
    if not len(metrics) or "path" not in metrics:
        return pd.DataFrame(columns=IDENTITY)
    best = metrics.sort_values(["kappa", "accuracy", "path"], ascending=[False, False, True], kind="mergesort").iloc[0]
    path = Path(best["path"]).with_name("predictions.tsv")
    if not path.exists():
        log.warning("no hypnogram figure: the best model (%s) has no predictions.tsv beside its metrics.json", best["path"])
        return pd.DataFrame(columns=IDENTITY)
    pred = pd.read_csv(path, sep="\t", dtype={"infant": str, "true_stage": str, "predicted_stage": str})
    if not len(pred):
        return pd.DataFrame(columns=IDENTITY)
    counts = pred["infant"].value_counts()
    infant = sorted(counts[counts == counts.max()].index)[0]
    rows = pred[pred["infant"] == infant].sort_values("epoch").reset_index(drop=True)
    for k in IDENTITY:
        rows.insert(IDENTITY.index(k), k, best[k])
    return rows


def _stage_order(labels: list[str]) -> list[str]:
    known = [s for s in STAGE_ORDER if s in labels]
    return known + [s for s in labels if s not in known]


SHORT_S = 2 * 3600  # recordings shorter than this get a time axis in minutes, longer ones in hours


def time_unit(span_s: float) -> tuple[float, str]:
    """(seconds per unit, unit) of a hypnogram's time axis: minutes below SHORT_S, else hours."""
    return (60.0, "min") if span_s < SHORT_S else (3600.0, "h")


def hypnogram_figure(df: pd.DataFrame):
    """Top: true and predicted stage per epoch (gaps: unlabelled or dropped epochs), disagreements marked;
    bottom: the predicted probability of each stage, stacked."""
    from neonas.study.figures import WIDTH, label, placeholder, plt, style

    if not len(df):
        return placeholder("No hypnogram: the best retrained model has no predictions.tsv (written by neonas retrain "
                           "and evaluate since per-epoch predictions exist), or no metrics.json was given.")
    style()
    labels = [c[2:] for c in df.columns if c.startswith("p_")]
    order = _stage_order(labels)
    level = {s: len(order) - 1 - i for i, s in enumerate(order)}  # first of `order` on top
    epoch = df["epoch"].to_numpy()
    onset = df["onset_s"].to_numpy(float)
    step_s = float(np.median(np.diff(onset) / np.diff(epoch))) if len(df) > 1 else 30.0
    per_unit, unit = time_unit(float(onset.max() - min(onset.min(), 0.0)) + step_s)
    hours, step_h = onset / per_unit, step_s / per_unit  # in `unit`: minutes for a short recording
    runs = np.split(np.arange(len(df)), np.flatnonzero(np.diff(epoch) > 1) + 1)  # no line across missing epochs

    def steps(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x, y for drawstyle steps-post: each run of adjacent epochs ends one epoch later, then a break."""
        xs, ys = [], []
        for r in runs:
            xs += [hours[r], [hours[r[-1]] + step_h, np.nan]]
            ys += [values[r], [values[r[-1]], np.nan]]
        return np.concatenate(xs), np.concatenate(ys)

    def trace(stages: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        return steps(stages.map(level).to_numpy(float))

    fig, (ax, axp) = plt.subplots(2, 1, figsize=(WIDTH, 3.6), sharex=True, height_ratios=[1.4, 1],
                                  layout="constrained")
    wrong = (df["true_stage"] != df["predicted_stage"]).to_numpy()
    for t in hours[wrong]:
        ax.axvspan(t, t + step_h, color="#f3c0c0", lw=0, zorder=0)
    ax.plot(*trace(df["true_stage"]), drawstyle="steps-post", color="0.1", lw=1.2, label="true (scorer)")
    ax.plot(*trace(df["predicted_stage"]), drawstyle="steps-post", color="#2b8cbe", lw=0.9, ls="--",
            label="predicted")
    ax.set_yticks([level[s] for s in order], order)
    ax.set_ylim(-0.5, len(order) - 0.5)
    agree = 1 - wrong.mean()
    r = df.iloc[0]
    ax.set_title(f"{label(str(r['arm']), str(r['setting']))}, seed {r['seed']}, fold {r['fold']}, rank {r['rank']} "
                 f"(test kappa {float(r['kappa']):.2f})\nheld-out infant {r['infant']}: {agree:.0%} of {len(df)} "
                 "epochs agree", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, handles=[*ax.get_lines(),
              plt.Rectangle((0, 0), 1, 1, color="#f3c0c0", label="disagree")])
    prob = [steps(df[f"p_{s}"].to_numpy(float)) for s in order[::-1]]
    x = prob[0][0]
    ok = ~np.isnan(x)  # stackplot cannot break: draw each run of epochs without the breaks
    axp.stackplot(x[ok], *[y[ok] for _, y in prob], colors=[STAGE_COLORS.get(s, "0.6") for s in order[::-1]],
                  labels=order[::-1], step="post", lw=0)
    axp.set_ylim(0, 1)
    axp.set_ylabel("probability")
    axp.set_xlabel(f"time from recording start ({unit})")
    handles, names = axp.get_legend_handles_labels()
    axp.legend(handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig
