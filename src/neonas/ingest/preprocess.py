"""Turn one EEG recording and its sleep-stage labels into one neonas HDF5 file.

Formats (readers.py, all through MNE): EDF/EDF+/BDF, BrainVision (.vhdr), EEGLAB (.set), FIF, and
plain-text/CSV signals with a declared rate (--set text_sfreq_hz=200; DREAMS excerptN.txt).

Steps, each set in the config (a preset, a YAML file and/or --set overrides; see docs/preprocessing.md):
select channels (aliases such as "EEG Fp1-Ref" -> Fp1) and build bipolar derivations ("Fp1-C3") in the
configured order; band-pass and notch filter (zero-phase IIR); resample; cut epochs on the grid of the
labels; map stage names to classes; flag artefacts (flat, clipped, high amplitude); normalise each
channel robustly (median/IQR over clean epochs); write float32 HDF5 (docs/hdf5-layout.md).

Examples: neonas preprocess SC4001E0-PSG.edf --labels SC4001EC-Hypnogram.edf --preset sleep-edf --out sc4001.h5
          neonas preprocess excerpt1.txt --labels Hypnogram_excerpt1.txt --preset dreams \\
              --set text_sfreq_hz=100 --out excerpt1.h5
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError
from neonas.ingest.filters import design_filter, process, ratio
from neonas.ingest.labels import (
    FORMATS,
    MIN_COVERAGE,
    TOL_S,
    crop_sleep,
    detect_format,
    epoch_grid,
    label_fit,
    read_labels,
    stage_lookup,
)
from neonas.ingest.montage import resolve_montage, unique
from neonas.ingest.presets import PRESETS, PreprocessConfig, resolve_config
from neonas.ingest.readers import SUPPORTED, Source, open_recording
from neonas.store.h5io import AMPLITUDE, CLIPPED, FLAT, Recording, write_recording

log = logging.getLogger(__name__)

NORM_SAMPLES = 1 << 20  # samples per channel used for the normalisation quantiles
REFERENCE_SHARE = 0.9  # a channel flat in at least this share of the epochs is taken for a reference
#: an epoch's channel counts as disconnected when its std is below this share of the other channels' median std
DISCONNECTED_SHARE = 0.1


def add_arguments(parser) -> None:
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the docstring's line breaks
    parser.add_argument("recording", help=f"EEG recording: {SUPPORTED}")
    parser.add_argument("--labels", metavar="FILE",
                        help="label file: hypnogram EDF+, CSV/TSV (onset_s, duration_s, stage) or DREAMS "
                             "Hypnogram_*.txt; omit to use the recording's own EDF+ annotations")
    parser.add_argument("--label-format", default="auto", choices=FORMATS,
                        help="how to read the labels (default auto: from the file name; 'none' = no labels, "
                             "every epoch kept as unlabelled)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", choices=sorted(PRESETS),
                       help="named configuration (default neonatal: 9 referential electrodes written as "
                            "Fp1 C3 T3 O1 Fp2 C4 T4 O2 Cz, 0.5-30 Hz, 50 Hz notch, 64 Hz, AS/QS/W/IS; sleep-edf; "
                            "dreams: one central channel, 20 s epochs, 50 Hz, W/N1/N2/N3/REM)")
    group.add_argument("--config", metavar="FILE",
                       help="YAML config: any PreprocessConfig field, starting from 'preset: NAME' (default neonatal)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config field, value in YAML (e.g. --set epoch_s=20 --set "
                             "unlabelled=keep --set 'channels=[C3, O1]'); repeatable")
    parser.add_argument("--partial-labels", action="store_true",
                        help=f"accept labels that span less than {round(MIN_COVERAGE * 100)}%% of the recording or run past its "
                             "end, or a text signal's labels that miss its duration by more than one epoch (a warning "
                             "instead of an error; same as --set labels_must_fit=false)")
    parser.add_argument("--infant-id", help="id stored in the file (default: the recording's file name stem)")
    parser.add_argument("--pma-weeks", type=float, help="post-menstrual age in weeks, stored as an attribute")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="HDF5 file to write (atomically)")


def run(args) -> int:
    overrides = [*args.overrides, *(["labels_must_fit=false"] if args.partial_labels else [])]
    preset_name, cfg = resolve_config(args.preset, args.config, overrides)
    extra = {} if args.pma_weeks is None else {"pma_weeks": args.pma_weeks}
    preprocess(args.recording, args.out, cfg, labels_path=args.labels, label_format=args.label_format,
               infant_id=args.infant_id, preset_name=preset_name, extra_attrs=extra)
    return 0


def preprocess(recording: str | os.PathLike | Source, out: str | os.PathLike, cfg: PreprocessConfig | None = None, *,
               labels_path: str | os.PathLike | None = None, label_format: str = "auto",
               infant_id: str | None = None, preset_name: str = "neonatal",
               extra_attrs: dict | None = None, excuse_reference: bool = True,
               montage_hint: str | None = None) -> Recording:
    """Preprocess one recording into `out` (HDF5, written atomically). Returns what was written.

    `excuse_reference`: a channel flat in nearly every epoch (the recording reference, a dead electrode)
    warns once and flags nothing (for training files: drop it from 'channels'); predict passes False, as a
    model that needs the channel cannot stage those epochs, so they are flagged. `montage_hint`: what to
    suggest when a channel cannot be found (predict: not 'channels', which it cannot change)."""
    cfg = cfg or PRESETS[preset_name]()
    if isinstance(recording, Source):  # already open (an MNE Raw in memory: neonas.stage)
        source, recording = recording, recording.path
    else:
        recording = Path(recording)
        source = open_recording(recording, cfg)
    montage = resolve_montage(source, cfg, *([montage_hint] if montage_hint else []))
    sources = unique([s for d in montage for s in (d.pos, d.neg) if s is not None])
    fmt = detect_format(labels_path, label_format)
    raw = source.open(sources)
    fs_in = float(raw.info["sfreq"])
    n_in = int(raw.n_times)
    for s in sources:
        if abs(s.sfreq - fs_in) > 1e-6:
            log.warning("%s: channel '%s' is stored at %g Hz; MNE interpolates it to %g Hz", recording,
                        s.label, s.sfreq, fs_in)

    duration_s = n_in / fs_in
    if duration_s < cfg.epoch_s:
        raise NeonasError(f"the recording lasts {duration_s:g} s, shorter than one epoch (epoch_s = "
                          f"{cfg.epoch_s:g} s)", recording)

    # sampling: output rate, resampling ratio, filters (checked before the labels are read)
    fs_out = float(cfg.resample_hz or fs_in)
    up, down = ratio(fs_in, fs_out, recording)
    n_samples = cfg.epoch_s * fs_out
    if abs(n_samples - round(n_samples)) > 1e-6:
        raise NeonasError(f"epoch_s ({cfg.epoch_s:g} s) x output rate ({fs_out:g} Hz) = {n_samples:g} is not a "
                          "whole number of samples; change epoch_s or resample_hz", recording)
    n_samples = round(n_samples)
    n_out = -(-n_in * up // down)  # length of the resampled signal (scipy.signal.resample_poly)
    filters = design_filter(cfg, fs_in, fs_out, recording)

    # labels -> epoch grid -> which epochs to keep
    labels = read_labels(fmt, labels_path, raw.annotations, raw.info["meas_date"])
    if fmt == "annotations" and not labels:
        if label_format == "annotations":
            raise NeonasError("the recording has no EDF+ annotations to use as labels; give --labels FILE "
                              "or --label-format none", recording)
        log.warning("%s: no labels (no --labels and no EDF+ annotations): every epoch is unlabelled", recording)
        fmt = "none"
    label_source = str(recording if fmt == "annotations" else labels_path or "")
    if source.kind == "text" and fmt != "none" and labels:
        _check_text_rate(labels, n_in, fs_in, cfg, source, label_source)
    lookup = stage_lookup(cfg.label_map, cfg.label_names)
    grid = epoch_grid(labels, lookup, cfg.epoch_s, duration_s, label_source or str(recording), cfg.grid_start_s)
    if fmt != "none" and labels:
        _check_label_fit(label_fit(labels, lookup, duration_s, label_source), duration_s, cfg, source, label_source)
    keep = np.ones(grid.labels.shape, bool)
    if fmt != "none" and cfg.unlabelled == "drop":
        keep &= grid.labels >= 0
    if cfg.crop_sleep_min is not None:
        if fmt == "none":
            raise NeonasError("crop_sleep_min needs sleep labels, but there are none", recording)
        wake = [cfg.label_names.index(w) for w in cfg.wake_labels]
        keep &= crop_sleep(grid.labels, wake, round(cfg.crop_sleep_min * 60 / cfg.epoch_s))
    if not keep.any():
        raise NeonasError(f"no epochs to write: {keep.size} epochs on the grid, none labelled with one of "
                          f"{cfg.label_names} (use --set unlabelled=keep to keep unlabelled epochs)", label_source)

    # epoch positions in output and input samples
    onset_s = grid.onset_s[keep]
    starts_out = np.round(onset_s * fs_out).astype(np.int64)
    inside = starts_out + n_samples <= n_out
    onset_s, starts_out = onset_s[inside], starts_out[inside]
    epoch_labels = grid.labels[keep][inside]
    starts_in = np.round(onset_s * fs_in).astype(np.int64)
    if not inside.any():
        raise NeonasError(f"no full {cfg.epoch_s:g} s epoch to write inside the recording ({duration_s:g} s)",
                          recording)

    log.info("%s: %d channel(s) at %g Hz, %.2f h; writing %d epochs of %g s at %g Hz", recording.name,
             len(montage), fs_in, duration_s / 3600, len(onset_s), cfg.epoch_s, fs_out)
    eeg, clip_counts = process(raw, sources, montage, cfg, starts_out, starts_in, n_samples,
                                n_in, n_out, up, down, filters)

    names = [d.name for d in montage]
    artifact, flat_channels = _artifact_flags(eeg, clip_counts, round(cfg.epoch_s * fs_in), cfg, names, recording,
                                              excuse_reference)
    median, scale = _normalise(eeg, artifact, names, cfg.flat_uv, recording, quiet=flat_channels)
    config = {"preset": preset_name, **dataclasses.asdict(cfg)}
    rec = Recording(
        infant_id=infant_id or recording.stem,
        eeg=eeg,
        labels=epoch_labels.astype(np.int8),
        onset_s=onset_s.astype(np.float64),
        artifact=artifact,
        sfreq=fs_out,
        ch_names=[d.name for d in montage],
        label_names=list(cfg.label_names),
        epoch_s=float(cfg.epoch_s),
        source_sha256=sha256(recording) if source.kind != "MNE Raw" else "",
        preprocess_config=config,
        extra_attrs={
            "source_file": recording.name,
            "source_channels": {d.name: d.describe() for d in montage},
            "source_sfreq": fs_in,
            "label_source": f"{fmt}:{Path(label_source).name}" if fmt != "none" else "none",
            "norm_median_uv": [float(v) for v in median],
            "norm_scale_uv": [float(v) for v in scale],
            "flat_channels": flat_channels,
            "synthetic": source.synthetic,  # written by `neonas synth`
            **(extra_attrs or {}),
        },
    )
    write_recording(out, rec)
    counts = {name: int((rec.labels == i).sum()) for i, name in enumerate(rec.label_names)}
    log.info("wrote %s: %d epochs %s, %d unlabelled, %d with artefact flags", out, rec.n_epochs, counts,
             int((rec.labels < 0).sum()), int((rec.artifact != 0).sum()))
    return rec


def _check_text_rate(labels, n_in: int, fs_in: float, cfg: PreprocessConfig, source, label_source: str) -> None:
    """A text file carries no rate: its labels must span its duration at the declared rate within one epoch.

    A rate 10 % off still leaves the labels covering 90 % of the signal, but slides them off their EEG by the
    end (90 Hz for a 100 Hz DREAMS excerpt: 200 s, 10 epochs). Refused unless labels_must_fit is false
    (--partial-labels: labels that really cover only part of the recording)."""
    duration_s = n_in / fs_in
    first = min(lab.onset_s for lab in labels)
    last = max(lab.onset_s + lab.duration_s for lab in labels)
    span = last - first
    if abs(span - duration_s) <= cfg.epoch_s + TOL_S:
        return
    msg = (f"at the declared text_sfreq_hz={cfg.text_sfreq_hz:g} Hz its {n_in} samples last {duration_s:g} s, but "
           f"the labels {label_source} span {span:g} s ({first:g}-{last:g} s): {abs(span - duration_s):g} s apart, "
           f"more than one {cfg.epoch_s:g} s epoch (they would fit {n_in / span:.4g} Hz). A text file carries no "
           "rate, and a wrong one slides the labels off their EEG")
    if cfg.labels_must_fit:
        raise NeonasError(f"{msg}: declare the file's true rate, or give --partial-labels if the labels cover only "
                          "part of the recording", source.path)
    log.warning("%s: %s (labels_must_fit is false: kept)", source.path, msg)


def _check_label_fit(fit: tuple[float, float], duration_s: float, cfg: PreprocessConfig, source,
                     label_source: str) -> None:
    """Refuse (or, with labels_must_fit false, warn about) labels that do not fit the recording's length."""
    coverage, overrun = fit
    if coverage >= MIN_COVERAGE and overrun <= TOL_S:
        return
    what = (f"run {overrun:g} s past its end" if overrun > TOL_S else
            f"span only {coverage:.0%} of it (at least {MIN_COVERAGE:.0%} expected)")
    msg = f"the labels {label_source} {what}: the recording lasts {duration_s:g} s"
    if source.kind == "text":
        msg += (f" at the declared text_sfreq_hz={cfg.text_sfreq_hz:g} Hz; a text file carries no rate, so check it "
                "(a wrong rate stretches or squeezes the signal under its labels)")
    if cfg.labels_must_fit:
        raise NeonasError(f"{msg}; if the labels really cover only part of the recording, give --partial-labels "
                          "(or set labels_must_fit=false)", source.path)
    log.warning("%s: %s (labels_must_fit is false: kept)", source.path, msg)


def _artifact_flags(eeg: np.ndarray, clip_counts: np.ndarray, samples_in: int, cfg: PreprocessConfig,
                    ch_names: list[str], path: Path, excuse_reference: bool = True) -> tuple[np.ndarray, list[str]]:
    """Bit flags per epoch (h5io.FLAT | CLIPPED | AMPLITUDE), from the filtered signal in uV.

    FLAT: a channel whose std within the epoch is below `flat_uv`, or (with 2+ channels) below
    DISCONNECTED_SHARE of the median std of the other channels in that epoch: a loose or disconnected
    electrode, which carries almost nothing while its neighbours carry EEG (a quiet stretch of the
    whole recording, e.g. an inter-burst interval, lowers all channels together and is not flagged).
    A channel that is flat in nearly every epoch (REFERENCE_SHARE) is the recording reference or a
    dead electrode, not an artefact of some epochs: with `excuse_reference` it gets one warning
    suggesting to drop it and does not flag the epochs (else every epoch would be flagged); without,
    its epochs are flagged. Returns (flags, those channels).
    """
    flags = np.zeros(len(eeg), np.uint8)
    std = np.zeros(eeg.shape[:2])
    for i in range(0, len(eeg), 256):  # in blocks: std() needs a temporary copy
        part = eeg[i:i + 256]
        std[i:i + 256] = part.std(axis=2, dtype=np.float64)
        peak = np.abs(part).max(axis=2)
        flags[i:i + 256] |= np.where((peak > cfg.amplitude_uv).any(axis=1), AMPLITUDE, 0).astype(np.uint8)
    flat = std < cfg.flat_uv
    if len(ch_names) >= 2:
        for c in range(len(ch_names)):
            others = np.median(np.delete(std, c, axis=1), axis=1)
            flat[:, c] |= std[:, c] < DISCONNECTED_SHARE * others
    share = flat.mean(axis=0)
    reference = [name for name, f in zip(ch_names, share, strict=True) if f >= REFERENCE_SHARE]
    for name in reference:
        c = ch_names.index(name)
        what = (f"flat (std < flat_uv = {cfg.flat_uv:g} uV, or below {DISCONNECTED_SHARE:g} of the other channels') "
                f"in {int(flat[:, c].sum())} of {len(flat)} epochs")
        if excuse_reference:
            log.warning("%s: channel %s is %s: it looks like the recording reference or a dead electrode and "
                        "carries no EEG; drop it from 'channels' (its flatness does not flag epochs)", path, name, what)
        else:
            log.warning("%s: channel %s is %s: a disconnected electrode or the recording reference; the model needs "
                        "it, so those epochs are flagged 'flat'", path, name, what)
    excused = reference if excuse_reference else []
    keep = [c for c, name in enumerate(ch_names) if name not in excused]
    flags |= np.where(flat[:, keep].any(axis=1), FLAT, 0).astype(np.uint8)
    clipped = (clip_counts / max(samples_in, 1) >= cfg.clip_fraction).any(axis=1)
    flags |= np.where(clipped, CLIPPED, 0).astype(np.uint8)
    return flags, reference


def _normalise(eeg: np.ndarray, artifact: np.ndarray, ch_names: list[str], flat_uv: float, path: Path,
               quiet: list[str] = ()):
    """In place: (x - median) / IQR per channel, both taken over the epochs without artefact flags.

    A channel whose IQR is below `flat_uv` (a disconnected electrode, the recording reference) is
    centred but not scaled: scaling would blow its noise up to the size of real EEG. The quantiles
    are taken over at most NORM_SAMPLES evenly strided samples per channel (all of them in short
    recordings): exact enough for a scale, and 10x faster on a 22 h recording.
    """
    clean = np.flatnonzero(artifact == 0)
    if clean.size == 0:
        log.warning("%s: every epoch has an artefact flag; normalising over all epochs", path)
        clean = np.arange(len(eeg))
    medians, iqrs = [], []
    for c, name in enumerate(ch_names):
        values = eeg[clean, c, :].ravel()
        values = values[:: -(-values.size // NORM_SAMPLES)]  # evenly strided subset: quantiles cost O(n)
        q25, q50, q75 = np.percentile(values, [25, 50, 75])
        iqr = q75 - q25
        if not iqr >= flat_uv:
            (log.debug if name in quiet else log.warning)("%s: channel %s is flat (IQR %.2g uV < flat_uv); it is centred but not scaled", path,
                        name, iqr)
            iqr = 1.0
        eeg[:, c, :] -= np.float32(q50)
        eeg[:, c, :] /= np.float32(iqr)
        medians.append(q50)
        iqrs.append(iqr)
    return medians, iqrs


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

