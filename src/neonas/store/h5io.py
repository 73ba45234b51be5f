"""The neonas HDF5 layout: one file per infant recording. See docs/hdf5-layout.md.

Every later stage reads recordings through `read_recording`, which checks the layout, so a bad file
fails early with a message naming the file and the broken field.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from neonas import __version__
from neonas.errors import NeonasError
from neonas.io import write_bytes_atomic

LAYOUT_VERSION = 1
#: bits of the `artifact` dataset
ARTIFACT_FLAGS = ("flat", "clipped", "amplitude")
FLAT, CLIPPED, AMPLITUDE = 1, 2, 4
#: preprocessing fields (`preprocess_config`) that shape the signal a net sees; the infants of one study, and the
#: training infants of a model, must agree on all of them. The rest (preset name, aliases, label_map, grid_start_s,
#: text_sfreq_hz, unlabelled, crop_sleep_min, chunk_s, ...) say how a file was read or labelled, and may differ per
#: recording (per-recording overrides of the cohort sheet).
SIGNAL_KEYS = ("channels", "label_names", "epoch_s", "resample_hz", "l_freq", "h_freq", "notch_hz",
               "notch_width_hz", "filter_order", "flat_uv", "clip_fraction", "amplitude_uv")


def signal_diff(config: dict, reference: dict) -> list[str]:
    """'key: value vs reference value' for every SIGNAL_KEYS field where two preprocessing configs differ."""
    return [f"{k}: {config.get(k)!r} vs {reference.get(k)!r}" for k in SIGNAL_KEYS if config.get(k) != reference.get(k)]


REQUIRED_ATTRS = (
    "infant_id", "sfreq", "ch_names", "label_names", "epoch_s", "source_sha256",
    "neonas_version", "preprocess_config", "layout_version",
)


@dataclass
class Recording:
    """One infant's preprocessed recording, as stored in HDF5."""

    infant_id: str
    eeg: np.ndarray  # (n_epochs, n_channels, n_samples) float32, robust-normalised
    labels: np.ndarray  # (n_epochs,) int8, -1 = unlabelled
    onset_s: np.ndarray  # (n_epochs,) float64, epoch onset from recording start
    artifact: np.ndarray  # (n_epochs,) uint8 bit flags (ARTIFACT_FLAGS)
    sfreq: float
    ch_names: list[str]
    label_names: list[str]
    epoch_s: float
    source_sha256: str = ""
    preprocess_config: dict = field(default_factory=dict)
    neonas_version: str = __version__
    extra_attrs: dict = field(default_factory=dict)  # e.g. pma_weeks, montage

    @property
    def n_epochs(self) -> int:
        return int(self.labels.shape[0])


def write_recording(path: str | os.PathLike, rec: Recording) -> None:
    """Write `rec` atomically: a temp file is renamed onto `path` only when complete.

    The HDF5 image is built in memory and written with one plain write: HDF5 on a full disk or quota leaves
    its objects half-closed, and h5py then crashes the interpreter (segmentation fault) when they are freed.
    A plain write fails cleanly, as one line naming the file and its size (neonas.io)."""
    n, c, t = rec.eeg.shape
    _check_shapes(path, n, c, t, rec.labels, rec.onset_s, rec.artifact, rec.ch_names, rec.sfreq, rec.epoch_s)
    buf = io.BytesIO()
    _write_h5(buf, rec)
    write_bytes_atomic(path, buf.getbuffer())


def _write_h5(target, rec: Recording) -> None:
    c, t = rec.eeg.shape[1:]
    with h5py.File(target, "w") as f:
        f.create_dataset("eeg", data=rec.eeg.astype(np.float32, copy=False), chunks=(1, c, t))
        f.create_dataset("labels", data=rec.labels.astype(np.int8, copy=False))
        f.create_dataset("onset_s", data=rec.onset_s.astype(np.float64, copy=False))
        art = f.create_dataset("artifact", data=rec.artifact.astype(np.uint8, copy=False))
        art.attrs["flags"] = json.dumps({name: 1 << i for i, name in enumerate(ARTIFACT_FLAGS)})
        f.attrs["infant_id"] = str(rec.infant_id)
        f.attrs["sfreq"] = float(rec.sfreq)
        f.attrs["ch_names"] = json.dumps(list(rec.ch_names))
        f.attrs["label_names"] = json.dumps(list(rec.label_names))
        f.attrs["epoch_s"] = float(rec.epoch_s)
        f.attrs["source_sha256"] = str(rec.source_sha256)
        f.attrs["neonas_version"] = str(rec.neonas_version)
        f.attrs["preprocess_config"] = json.dumps(rec.preprocess_config, sort_keys=True)
        f.attrs["layout_version"] = LAYOUT_VERSION
        for key, value in rec.extra_attrs.items():
            f.attrs[key] = json.dumps(value)


def read_recording(path: str | os.PathLike, load_eeg: bool = True) -> Recording:
    """Read and validate one recording. With `load_eeg=False`, `eeg` is an empty (0, C, T) array."""
    path = Path(path)
    if not path.exists():
        raise NeonasError("file not found (expected a neonas HDF5 recording)", path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NeonasError(f"not a readable HDF5 file ({err})", path) from None
    with f:
        for name in ("eeg", "labels", "onset_s", "artifact"):
            if name not in f:
                raise NeonasError(f"missing dataset '{name}' (is this a neonas recording? see docs/hdf5-layout.md)", path)
        missing = [a for a in REQUIRED_ATTRS if a not in f.attrs]
        if missing:
            raise NeonasError(f"missing attribute(s) {', '.join(missing)} (see docs/hdf5-layout.md)", path)
        if int(f.attrs["layout_version"]) != LAYOUT_VERSION:
            raise NeonasError(
                f"layout_version {int(f.attrs['layout_version'])} but this neonas reads {LAYOUT_VERSION}; "
                "re-run `neonas preprocess`", path)
        eeg_ds = f["eeg"]
        if eeg_ds.ndim != 3 or eeg_ds.dtype != np.float32:
            raise NeonasError(f"dataset 'eeg' must be 3-D float32, found {eeg_ds.ndim}-D {eeg_ds.dtype}", path)
        if f["labels"].dtype != np.int8:
            raise NeonasError(f"dataset 'labels' must be int8, found {f['labels'].dtype}", path)
        n, c, t = eeg_ds.shape
        try:
            ch_names = json.loads(f.attrs["ch_names"])
            label_names = json.loads(f.attrs["label_names"])
            config = json.loads(f.attrs["preprocess_config"])
        except (TypeError, ValueError) as err:
            raise NeonasError(f"attribute is not valid JSON ({err})", path) from None
        reserved = set(REQUIRED_ATTRS)
        extra = {}
        for k, v in f.attrs.items():
            if k in reserved:
                continue
            try:
                extra[k] = json.loads(v)
            except (TypeError, ValueError):
                extra[k] = v.item() if hasattr(v, "item") else v
        rec = Recording(
            infant_id=str(f.attrs["infant_id"]),
            eeg=eeg_ds[()] if load_eeg else np.empty((0, c, t), np.float32),
            labels=f["labels"][()],
            onset_s=f["onset_s"][()],
            artifact=f["artifact"][()],
            sfreq=float(f.attrs["sfreq"]),
            ch_names=list(ch_names),
            label_names=list(label_names),
            epoch_s=float(f.attrs["epoch_s"]),
            source_sha256=str(f.attrs["source_sha256"]),
            preprocess_config=config,
            neonas_version=str(f.attrs["neonas_version"]),
            extra_attrs=extra,
        )
    _check_shapes(path, n, c, t, rec.labels, rec.onset_s, rec.artifact, rec.ch_names, rec.sfreq, rec.epoch_s)
    if rec.labels.size and (rec.labels.min() < -1 or rec.labels.max() >= len(rec.label_names)):
        raise NeonasError(
            f"labels must lie in -1..{len(rec.label_names) - 1} (label_names={rec.label_names}), "
            f"found {int(rec.labels.min())}..{int(rec.labels.max())}", path)
    return rec


def _check_shapes(path, n, c, t, labels, onset_s, artifact, ch_names, sfreq, epoch_s) -> None:
    for name, arr in (("labels", labels), ("onset_s", onset_s), ("artifact", artifact)):
        if arr.shape != (n,):
            raise NeonasError(f"dataset '{name}' has shape {arr.shape}, expected ({n},) to match 'eeg'", path)
    if len(ch_names) != c:
        raise NeonasError(f"ch_names has {len(ch_names)} names but 'eeg' has {c} channels", path)
    if sfreq <= 0 or epoch_s <= 0:
        raise NeonasError(f"sfreq ({sfreq}) and epoch_s ({epoch_s}) must be positive", path)
    if abs(sfreq * epoch_s - t) > 0.5:
        raise NeonasError(f"'eeg' has {t} samples per epoch but sfreq*epoch_s = {sfreq * epoch_s:g}", path)
