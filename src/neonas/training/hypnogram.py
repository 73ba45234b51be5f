"""`Hypnogram`: the staging of one recording (what `neonas.stage` returns and `neonas predict` writes).

One row per epoch: onset, the model's stage probabilities (the stage is their argmax) and the artefact
flags of the epoch's input. Writers: `.to_tsv()`, `.to_edf()` (annotation-only EDF+ that reads back as
labels), `.plot()` (hypnogram over the probability band), and `.stats()` (sleep statistics,
neonas.training.sleepstats).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from neonas import HYPNOGRAM_ORDER, STAGE_COLORS

#: EDF+ annotation prefix of artefact flags: MNE's "bad span" prefix, which the label reader skips
ARTEFACT_PREFIX = "BAD_artefact "


@dataclass
class Hypnogram:
    """The staging of one recording: one row per epoch."""

    recording: str
    infant_id: str
    onset_s: np.ndarray  # (n,) float64, seconds from the recording's first sample
    epoch_s: float
    proba: np.ndarray  # (n, n_classes) float64, softmax of the model's logits
    label_names: list[str]
    artifact: np.ndarray  # (n,) uint8 bit flags (neonas.store.h5io.ARTIFACT_FLAGS)
    meas_date: object = None  # datetime of the recording's start, when the file says

    @property
    def stage(self) -> np.ndarray:
        """(n,) class index per epoch (argmax of `proba`)."""
        return self.proba.argmax(axis=1)

    @property
    def stage_names(self) -> list[str]:
        """The stage of each epoch, by name."""
        return [self.label_names[k] for k in self.stage]

    def artefact_names(self) -> list[str]:
        from neonas.store.h5io import ARTIFACT_FLAGS

        return ["+".join(n for b, n in enumerate(ARTIFACT_FLAGS) if f >> b & 1) or "none" for f in self.artifact]

    def to_tsv(self, path: str | os.PathLike | None = None) -> str:
        """The TSV text (docs/predict.md); written atomically to `path` when given."""
        text = tsv_text(self)
        if path is not None:
            from neonas.io import write_text_atomic

            write_text_atomic(path, text)
        return text

    def to_edf(self, path: str | os.PathLike) -> None:
        """An annotation-only EDF+ file (see `write_edf`)."""
        write_edf(path, self)

    def plot(self, path: str | os.PathLike | None = None):
        """The hypnogram over the stage probabilities (a matplotlib Figure); saved as PNG to `path` when given."""
        fig = figure(self)
        if path is not None:
            from neonas.io import atomic_path

            with atomic_path(path, suffix=".png") as tmp:
                fig.savefig(tmp, format="png", dpi=120)
        return fig

    def stats(self) -> dict:
        """Sleep statistics (neonas.training.sleepstats.sleep_stats)."""
        from neonas.training.sleepstats import sleep_stats

        return sleep_stats(self.stage_names, self.epoch_s, self.label_names, flagged=self.artifact != 0)


# --- writers ---------------------------------------------------------------------------------------

def tsv_text(h: Hypnogram) -> str:
    header = ["onset_s", "duration_s", "stage", *[f"p_{n}" for n in h.label_names], "artefact"]
    rows = ["\t".join(header)]
    for onset, k, p, art in zip(h.onset_s, h.stage, h.proba, h.artefact_names(), strict=True):
        rows.append("\t".join([f"{onset:.3f}", f"{h.epoch_s:.3f}", h.label_names[k], *[f"{v:.4f}" for v in p], art]))
    return "\n".join(rows) + "\n"


def write_tsv(path: str | os.PathLike, h: Hypnogram) -> None:
    h.to_tsv(path)


def write_edf(path: str | os.PathLike, h: Hypnogram) -> None:
    """An annotation-only EDF+ file (like Sleep-EDF's hypnograms): "Sleep stage <stage>" per epoch and
    "BAD_artefact <flags>" over flagged epochs, with the recording's start date and time.

    The artefact prefix is MNE's for bad spans (epoching with reject_by_annotation drops them), and the
    label reader skips it, so `neonas preprocess REC --labels this.edf` reads the stages back."""
    import datetime

    import edfio

    from neonas.io import atomic_path

    anns = [edfio.EdfAnnotation(float(o), float(h.epoch_s), f"Sleep stage {h.label_names[k]}")
            for o, k in zip(h.onset_s, h.stage, strict=True)]
    anns += [edfio.EdfAnnotation(float(o), float(h.epoch_s), f"{ARTEFACT_PREFIX}{a}")
             for o, a in zip(h.onset_s, h.artefact_names(), strict=True) if a != "none"]
    start = h.meas_date if isinstance(h.meas_date, datetime.datetime) else None
    if start is not None and not 1985 <= start.year <= 2084:  # the years an EDF+ header can hold
        start = None
    kwargs = {} if start is None else {"starttime": start.time().replace(microsecond=0, tzinfo=None),
                                       "recording": edfio.Recording(startdate=start.date())}
    edf = edfio.Edf([], annotations=anns, **kwargs)
    with atomic_path(path, suffix=".edf") as tmp:
        edf.write(tmp)


def write_plot(path: str | os.PathLike, h: Hypnogram) -> None:
    """The PNG of `figure` (headless: the Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = h.plot(path)
    plt.close(fig)


def figure(h: Hypnogram):
    """Hypnogram (step line) over the stage probabilities (stacked band), artefact epochs shaded."""
    import matplotlib.pyplot as plt

    hours = np.append(h.onset_s, h.onset_s[-1] + h.epoch_s) / 3600 if len(h.onset_s) else np.zeros(1)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 4.2), sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
    # the report's hypnogram order and colours (neonatal stages; other label sets keep their own order)
    order = [s for s in HYPNOGRAM_ORDER if s in h.label_names] + [s for s in h.label_names if s not in HYPNOGRAM_ORDER]
    row = np.array([order.index(name) for name in h.label_names])
    stages = row[h.stage]
    ax1.step(hours, np.append(stages, stages[-1:]), where="post", color="k", lw=1)
    ax1.set_yticks(range(len(order)), order)
    ax1.invert_yaxis()
    ax1.set_ylabel("stage")
    ax1.set_title(f"{h.infant_id}: predicted hypnogram")
    band = order[::-1]
    proba = np.vstack([h.proba, h.proba[-1:]])
    ax2.stackplot(hours, *[proba[:, h.label_names.index(s)] for s in band], step="post", labels=band, lw=0,
                  colors=[STAGE_COLORS.get(s, f"C{i}") for i, s in enumerate(band)])
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("probability")
    ax2.set_xlabel("time from recording start (h)")
    ax2.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(h.label_names), fontsize=8, frameon=False)
    for ax in (ax1, ax2):
        for o in h.onset_s[h.artifact != 0] / 3600:
            ax.axvspan(o, o + h.epoch_s / 3600, color="0.6", alpha=0.4, lw=0)
    if (h.artifact != 0).any():
        ax1.text(1.0, 1.02, "grey: artefact-flagged epochs", transform=ax1.transAxes, ha="right", fontsize=8)
    fig.tight_layout()
    return fig
