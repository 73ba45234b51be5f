"""Stage new recordings with a trained model: a hypnogram with per-stage probabilities, no labels needed.

Each recording goes through the preprocessing stored in the model (preset, montage, aliases, filters,
rate, epoch length, robust normalisation: the code of `neonas preprocess`, with no labels), then through
the network. Writes per recording one TSV (default) or EDF+ annotation file (--format edf), and with
--plot a hypnogram PNG with the stage probabilities as a band. Artefact-flagged epochs are staged
but marked (TSV column `artefact`, EDF+ annotation "BAD_artefact ..."), never silently mixed in.

Examples:
  neonas predict night.edf --model results/demo/final/model.pt --out night.tsv --plot
  neonas predict a.edf b.edf --model model.pt --format edf --out hypnograms/
  neonas predict --cohort unlabelled.tsv --model model.pt --out hypnograms/     (rows with label_format none)

TSV columns: onset_s, duration_s (s from the first sample of the recording), stage (argmax), p_<stage>
per class (softmax), artefact (`none`, or the flags joined by '+': flat, clipped, amplitude). See
docs/predict.md.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neonas import HYPNOGRAM_ORDER, STAGE_COLORS
from neonas.errors import NeonasError

log = logging.getLogger(__name__)

FORMATS = ("tsv", "edf")
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
        return self.proba.argmax(axis=1)

    def artefact_names(self) -> list[str]:
        from neonas.store.h5io import ARTIFACT_FLAGS

        return ["+".join(n for b, n in enumerate(ARTIFACT_FLAGS) if f >> b & 1) or "none" for f in self.artifact]


def preprocess_config(ckpt: dict, model_path: str | os.PathLike, overrides: list[str] | None = None):
    """The model's stored preprocessing, for a recording without labels: (preset name, PreprocessConfig)."""
    from neonas.config import from_dict, set_dotted
    from neonas.ingest.presets import PreprocessConfig
    from neonas.training.modelcard import SIGNAL_KEYS

    stored = ckpt.get("preprocess")
    if not stored:
        raise NeonasError("the model carries no preprocessing config (a model.pt from before neonas stored it, or "
                          "trained on HDF5 files without one); retrain it on files from `neonas preprocess`",
                          model_path)
    data = dict(stored)
    preset = data.pop("preset", None) or "neonatal"
    # no labels: keep every epoch, no sleep-period crop, the grid starts at the recording's first sample
    data.update(unlabelled="keep", crop_sleep_min=None, grid_start_s=None)
    # a text file's rate belongs to the file, never to the model: the training infant's rate is not lent to it
    data["text_sfreq_hz"] = None
    for item in overrides or []:  # how to read this file (aliases, grid_start_s, reader settings), not the signal
        key = item.partition("=")[0].strip().split(".")[0]
        if key in SIGNAL_KEYS:
            raise NeonasError(f"--set {item}: predict cannot change {key}, which shapes the signal the model was "
                              f"trained on ({key}: {stored.get(key)!r}); it may change how a file is read, e.g. "
                              "aliases or grid_start_s")
        set_dotted(data, item)
    return preset, from_dict(PreprocessConfig, data, f"{model_path}: preprocess")


def stage(recording: str | os.PathLike, model, ckpt: dict, model_path: str | os.PathLike, device,
          overrides: list[str] | None = None, infant_id: str | None = None) -> Hypnogram:
    """Preprocess one recording like the model's training data and stage every epoch."""
    import torch

    from neonas.ingest.preprocess import preprocess
    from neonas.store.h5io import read_recording
    from neonas.training.evaluate import predict

    recording = Path(recording)
    if not recording.exists():
        raise NeonasError("recording not found", recording)
    preset, cfg = preprocess_config(ckpt, model_path, overrides)
    from neonas.ingest.readers import TEXT_SUFFIXES, suffix

    if suffix(recording) in TEXT_SUFFIXES and cfg.text_sfreq_hz is None:
        raise NeonasError("a text signal carries no sampling rate, and predict never assumes the model's training "
                          "rate: declare this file's own with --set text_sfreq_hz=RATE (or a cohort row's overrides "
                          "column)", recording)
    needs = (f"the model {model_path} needs channels {', '.join(ckpt['ch_names'])}, {ckpt['sfreq']:g} Hz, "
             f"{cfg.epoch_s:g} s epochs")
    quiet = logging.getLogger("neonas.ingest.preprocess")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))  # its INFO lines name the temporary file; warnings still show
    with tempfile.TemporaryDirectory(prefix="neonas-predict-") as tmp:
        try:
            preprocess(recording, Path(tmp) / "rec.h5", cfg, label_format="none", preset_name=preset,
                       infant_id=infant_id or recording.stem, excuse_reference=False)
        except NeonasError as err:
            raise NeonasError(f"{err} ({needs})") from None
        finally:
            quiet.setLevel(level)
        rec = read_recording(Path(tmp) / "rec.h5")
    source_hz = float(rec.extra_attrs.get("source_sfreq", rec.sfreq))
    if abs(rec.sfreq - float(ckpt["sfreq"])) > 1e-6 or rec.eeg.shape[2] != int(ckpt["n_samples"]):
        keeps = " and its preprocessing keeps the recording's rate (resample_hz: null)" if cfg.resample_hz is None else ""
        raise NeonasError(f"sampled at {source_hz:g} Hz, which gives {rec.sfreq:g} Hz x {rec.eeg.shape[2]} samples per "
                          f"epoch, but the model expects {ckpt['sfreq']:g} Hz x {ckpt['n_samples']} samples{keeps}; "
                          "use a model trained at this rate", recording)
    if source_hz < float(ckpt["sfreq"]) - 1e-6:
        raise NeonasError(f"sampled at {source_hz:g} Hz, below the model's {ckpt['sfreq']:g} Hz: upsampling cannot "
                          "restore the frequencies the model was trained on", recording)
    if rec.ch_names != list(ckpt["ch_names"]):
        raise NeonasError(f"preprocessing gave channels {rec.ch_names}, but the model expects {ckpt['ch_names']}",
                          recording)
    cohort = ckpt.get("training_cohort") or {}
    if cohort.get("source") == "synthetic" and not rec.extra_attrs.get("synthetic"):
        from neonas.training.modelcard import cohort_text

        log.warning("%s: the model %s was trained on synthetic data only (%s); its stages of a real recording are "
                    "not validated", recording, model_path, cohort_text(cohort))
    logits = predict(model, rec.eeg, device)
    proba = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    return Hypnogram(recording=str(recording), infant_id=rec.infant_id, onset_s=rec.onset_s, epoch_s=rec.epoch_s,
                     proba=proba, label_names=list(ckpt["label_names"]), artifact=rec.artifact,
                     meas_date=_meas_date(recording))


def _meas_date(path: Path):
    """The recording's start (datetime) as MNE reads it, or None."""
    import mne

    try:
        return mne.io.read_raw(path, preload=False, verbose="error").info["meas_date"]
    except Exception:  # any reader error: the hypnogram is still right, only without a start date
        return None


# --- writers ---------------------------------------------------------------------------------------

def tsv_text(h: Hypnogram) -> str:
    header = ["onset_s", "duration_s", "stage", *[f"p_{n}" for n in h.label_names], "artefact"]
    rows = ["\t".join(header)]
    for onset, k, p, art in zip(h.onset_s, h.stage, h.proba, h.artefact_names(), strict=True):
        rows.append("\t".join([f"{onset:.3f}", f"{h.epoch_s:.3f}", h.label_names[k], *[f"{v:.4f}" for v in p], art]))
    return "\n".join(rows) + "\n"


def write_tsv(path: str | os.PathLike, h: Hypnogram) -> None:
    from neonas.io import write_text_atomic

    write_text_atomic(path, tsv_text(h))


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
    """Hypnogram (step line) over the stage probabilities (stacked band), artefact epochs shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neonas.io import atomic_path

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
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


# --- many recordings ---------------------------------------------------------------------------------

def jobs(recordings: list[str], cohort: str | None, out: str, fmt: str) -> list[tuple[Path, str, Path, list[str]]]:
    """(recording, infant id, output file, the cohort row's overrides) for every recording to stage."""
    items: list[tuple[Path, str, list[str]]] = [(Path(r), Path(r).stem, []) for r in recordings]
    if cohort:
        from neonas.ingest.cohort import load_cohort

        rows = [r for r in load_cohort(cohort) if r.label_format == "none"]
        if not rows:
            raise NeonasError("no rows with label_format none (predict stages unlabelled recordings)", cohort)
        items += [(Path(r.eeg_path), r.infant_id, list(getattr(r, "overrides", ()))) for r in rows]
    if not items:
        raise NeonasError("give at least one recording, or --cohort SHEET")
    out = Path(out)
    if len(items) == 1 and not cohort and not out.is_dir():
        result = [(items[0][0], items[0][1], out, items[0][2])]
    else:
        if out.exists() and not out.is_dir():
            raise NeonasError("with several recordings (or --cohort), --out must be a directory", out)
        result = [(rec, ident, out / f"{ident}.{fmt}", extra) for rec, ident, extra in items]
    names = [o.resolve() for _, _, o, _ in result]
    dupes = sorted({str(n) for n in names if names.count(n) > 1})
    if dupes:
        raise NeonasError(f"two recordings would write the same file {dupes[0]}; give them distinct names")
    for rec, _, o, _ in result:
        if rec.exists() and o.exists() and os.path.samefile(rec, o):
            raise NeonasError("--out would overwrite the recording itself; choose another output", o)
    return result


def add_arguments(parser) -> None:
    parser.add_argument("recordings", nargs="*", metavar="REC", help="EEG recording(s) in any format `neonas preprocess` reads (EDF, EDF+, BDF, ...)")
    parser.add_argument("--cohort", metavar="SHEET", help="cohort sheet (config/cohort.tsv format): stage every row "
                        "with label_format none, named by its infant_id")
    parser.add_argument("--model", required=True, metavar="MODEL.pt", help="model.pt from `neonas retrain` "
                        "(or a study's final/model.pt); it carries its preprocessing")
    parser.add_argument("--out", required=True, metavar="OUT", help="output file for one recording; a directory "
                        "for several or --cohort (one <id>.tsv or <id>.edf each)")
    parser.add_argument("--format", choices=FORMATS, default="tsv", help="tsv: onset_s, duration_s, stage, "
                        "p_<stage>..., artefact (default); edf: EDF+ annotations that EDFbrowser and MNE read")
    parser.add_argument("--plot", action="store_true", help="also write a hypnogram PNG (probabilities as a band) "
                        "beside each output")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change how files are read (not what the model sees: channels, filters, rate and "
                             "epoch length stay the model's), e.g. --set 'aliases={Fp1: [EEG FP1-REF]}' or --set "
                             "grid_start_s=10; repeatable. A cohort row's overrides column applies the same way")
    parser.add_argument("--device", default="cpu", help="cpu (default), auto or cuda[:N]")


def run(args) -> int:
    from tqdm import tqdm

    from neonas.torchutil import select_device
    from neonas.training.evaluate import load_model

    todo = jobs(args.recordings, args.cohort, args.out, args.format)
    device = select_device(args.device)
    model, ckpt = load_model(args.model, device)
    preprocess_config(ckpt, args.model, args.overrides)  # a bad model or --set fails before any recording
    bar = tqdm(todo, desc="predict", unit="recording", disable=None if len(todo) > 1 else True)
    for rec, ident, out, row_overrides in bar:
        h = stage(rec, model, ckpt, args.model, device, [*row_overrides, *args.overrides], ident)
        (write_edf if args.format == "edf" else write_tsv)(out, h)
        if args.plot:
            write_plot(out.with_suffix(".png"), h)
        counts = {n: int((h.stage == i).sum()) for i, n in enumerate(h.label_names)}
        log.info("%s: %d epochs %s, %d with artefact flags -> %s", rec, len(h.onset_s), counts,
                 int((h.artifact != 0).sum()), out)
    return 0
