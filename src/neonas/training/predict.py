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
  neonas predict night.edf --model model.pt --out night.tsv --stats            (+ night.stats.json)

The same from Python (the code this command runs):
  import mne, neonas
  h = neonas.stage(mne.io.read_raw_edf("night.edf"), "model.pt"); h.to_tsv("night.tsv"); h.stats()

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

from neonas.errors import NeonasError
from neonas.training.hypnogram import Hypnogram

log = logging.getLogger(__name__)

FORMATS = ("tsv", "edf")
#: what predict suggests for channels it cannot find or derive (it cannot change the model's channels)
MONTAGE_HINT = ("the model's channels are fixed; if the file names them differently, map them with "
                "--set 'aliases={C3: [NAME IN FILE]}', or use a model trained on this montage")


@dataclass
class StagingModel:
    """A trained model ready to stage recordings: the network, its model.pt dict, where it came from."""

    net: object  # torch.nn.Module, in eval mode, on `device`
    ckpt: dict
    path: str
    device: object  # torch.device

    @classmethod
    def load(cls, model, device="cpu") -> StagingModel:
        """`model`: a path to model.pt, a StagingModel (returned as it is), or the (net, ckpt) pair of
        neonas.training.evaluate.load_model. `device`: "cpu", "auto", "cuda[:N]" or a torch.device."""
        import torch

        from neonas.torchutil import select_device
        from neonas.training.evaluate import load_model

        if isinstance(model, cls):
            return model
        if isinstance(model, tuple) and len(model) == 2 and isinstance(model[1], dict):
            net, ckpt = model
            dev = next((p.device for p in net.parameters()), torch.device("cpu"))
            return cls(net.eval(), ckpt, "<model>", dev)
        if not isinstance(model, (str, os.PathLike)):
            raise NeonasError(f"model: expected a path to model.pt or a loaded model, found {type(model).__name__}")
        dev = device if isinstance(device, torch.device) else select_device(device)
        net, ckpt = load_model(model, dev)
        return cls(net, ckpt, str(model), dev)


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


def stage(raw, model, *, overrides: list[str] | None = None, infant_id: str | None = None,
          device="cpu") -> Hypnogram:
    """Stage every epoch of one recording with a trained model: `neonas.stage`, and what `neonas predict` runs.

    `raw`: an MNE Raw (mne.io.BaseRaw, as loaded or edited in memory) or the path of a recording in any
    format `neonas preprocess` reads. `model`: a path to model.pt or a loaded model (StagingModel.load).
    The recording goes through the model's stored preprocessing (the code of `neonas preprocess`, no
    labels, every epoch kept); `overrides` ("key=value") may change how it is read (aliases, grid_start_s,
    text_sfreq_hz), never what the model sees. Returns a Hypnogram (stage, probabilities, artefact flags).
    """
    import torch

    from neonas.ingest.preprocess import preprocess
    from neonas.ingest.readers import TEXT_SUFFIXES, open_recording, source_from_raw, suffix
    from neonas.store.h5io import read_recording
    from neonas.training.evaluate import predict

    m = StagingModel.load(model, device)
    ckpt = m.ckpt
    preset, cfg = preprocess_config(ckpt, m.path, overrides)
    if isinstance(raw, (str, os.PathLike)):
        recording = Path(raw)
        if not recording.exists():
            raise NeonasError("recording not found", recording)
        if suffix(recording) in TEXT_SUFFIXES and cfg.text_sfreq_hz is None:
            raise NeonasError("a text signal carries no sampling rate, and predict never assumes the model's "
                              "training rate: declare this file's own with --set text_sfreq_hz=RATE (or a cohort "
                              "row's overrides column)", recording)
        meas_date = _meas_date(recording)
    elif _is_raw(raw):
        meas_date = raw.info.get("meas_date")
        recording = None
    else:
        raise NeonasError(f"expected an mne.io.Raw or the path of a recording, found {type(raw).__name__}")
    needs = (f"the model {m.path} needs channels {', '.join(ckpt['ch_names'])}, {ckpt['sfreq']:g} Hz, "
             f"{cfg.epoch_s:g} s epochs")
    quiet = logging.getLogger("neonas.ingest.preprocess")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))  # its INFO lines name the temporary file; warnings still show
    with tempfile.TemporaryDirectory(prefix="neonas-predict-") as tmp:
        try:
            source = open_recording(recording, cfg) if recording is not None else source_from_raw(raw)
            recording = source.path
            if source.kind == "text":
                check_declared_rate(source, cfg.text_sfreq_hz, ckpt)
            preprocess(source, Path(tmp) / "rec.h5", cfg, label_format="none", preset_name=preset,
                       infant_id=infant_id or recording.stem, excuse_reference=False, montage_hint=MONTAGE_HINT)
        except NeonasError as err:
            raise NeonasError(f"{err} ({needs})") from None
        finally:
            quiet.setLevel(level)
        rec = read_recording(Path(tmp) / "rec.h5")
    check_input(rec, ckpt, cfg, recording)
    cohort = ckpt.get("training_cohort") or {}
    if cohort.get("source") == "synthetic" and not rec.extra_attrs.get("synthetic"):
        from neonas.training.modelcard import cohort_text

        log.warning("%s: the model %s was trained on synthetic data only (%s); its stages of a real recording are "
                    "not validated", recording, m.path, cohort_text(cohort))
    logits = predict(m.net, rec.eeg, m.device)
    proba = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    return Hypnogram(recording=str(recording), infant_id=rec.infant_id, onset_s=rec.onset_s, epoch_s=rec.epoch_s,
                     proba=proba, label_names=list(ckpt["label_names"]), artifact=rec.artifact, meas_date=meas_date)


def _is_raw(obj) -> bool:
    import mne

    return isinstance(obj, mne.io.BaseRaw)


def check_input(rec, ckpt: dict, cfg, recording) -> None:
    """The preprocessed recording has the model's rate, epoch length and channels, from a rate no lower."""
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


def check_declared_rate(source, declared_hz: float, ckpt: dict) -> None:
    """Warn when a text file's declared rate looks wrong: no labels check it here (ingest/ratecheck.py)."""
    from neonas.ingest.ratecheck import rate_warnings

    rates = (ckpt.get("training_cohort") or {}).get("source_sfreq_hz")  # None in models from before neonas stored it
    for why in rate_warnings(source.open(source.channels).get_data(), declared_hz, rates):
        log.warning("%s: %s. A text file carries no rate and a wrong one stages a stretched signal: check "
                    "text_sfreq_hz", source.path, why)


def _meas_date(path: Path):
    """The recording's start (datetime) as MNE reads it, or None."""
    import mne

    try:
        return mne.io.read_raw(path, preload=False, verbose="error").info["meas_date"]
    except Exception:  # any reader error: the hypnogram is still right, only without a start date
        return None


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
    parser.add_argument("--stats", action="store_true", help="also write sleep statistics as JSON beside each output "
                        "(<out>.stats.json: time and %% per stage, AS/QS ratio, cycles, latency to QS, transitions, "
                        "flagged share; TST and sleep efficiency for adult stage sets; docs/predict.md)")
    parser.add_argument("--device", default="cpu", help="cpu (default), auto or cuda[:N]")


def run(args) -> int:
    from tqdm import tqdm

    from neonas.training.hypnogram import write_edf, write_plot, write_tsv

    todo = jobs(args.recordings, args.cohort, args.out, args.format)
    model = StagingModel.load(args.model, args.device)
    preprocess_config(model.ckpt, args.model, args.overrides)  # a bad model or --set fails before any recording
    bar = tqdm(todo, desc="predict", unit="recording", disable=None if len(todo) > 1 else True)
    for rec, ident, out, row_overrides in bar:
        h = stage(rec, model, overrides=[*row_overrides, *args.overrides], infant_id=ident)
        (write_edf if args.format == "edf" else write_tsv)(out, h)
        if args.plot:
            write_plot(out.with_suffix(".png"), h)
        if args.stats:
            write_stats(out.with_suffix(".stats.json"), h)
        counts = {n: int((h.stage == i).sum()) for i, n in enumerate(h.label_names)}
        log.info("%s: %d epochs %s, %d with artefact flags -> %s", rec, len(h.onset_s), counts,
                 int((h.artifact != 0).sum()), out)
    return 0


def write_stats(path: Path, h: Hypnogram) -> None:
    """Hypnogram.stats() as JSON beside the output."""
    import json

    from neonas.io import write_text_atomic

    write_text_atomic(path, json.dumps(h.stats(), indent=2) + "\n")
