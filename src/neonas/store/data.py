"""Load preprocessed recordings (HDF5, one per infant) into memory for training and evaluation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from neonas.errors import NeonasError
from neonas.store.h5io import read_recording


@dataclass
class EEGDataset:
    """Labelled epochs of several infants. `infant[i]` indexes `infant_ids` for epoch i."""

    x: np.ndarray  # (N, C, T) float32
    y: np.ndarray  # (N,) int64
    infant: np.ndarray  # (N,) int64
    infant_ids: list[str]
    ch_names: list[str]
    label_names: list[str]
    sfreq: float
    epoch_s: float
    source_sha256: list[str] = field(default_factory=list)  # per infant, as stored in its HDF5 file
    epoch: np.ndarray | None = None  # (N,) int64, index of each epoch in its infant's recording (predictions.tsv)
    onset_s: np.ndarray | None = None  # (N,) float64, its onset from the recording start

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=self.n_classes)


def load_infants(paths: list[str | os.PathLike], drop_artifacts: bool = False) -> EEGDataset:
    """Read the labelled epochs of each file; all files must share channels, sfreq, labels and epoch length."""
    if not paths:
        raise NeonasError("no recordings given (expected at least one HDF5 file)")
    xs, ys, infants, ids, shas, epochs, onsets = [], [], [], [], [], [], []
    ref = None
    for i, path in enumerate(paths):
        rec = read_recording(path)
        sig = (rec.ch_names, rec.label_names, rec.sfreq, rec.epoch_s)
        if ref is None:
            ref, ref_path = sig, path
        elif sig != ref:
            names = ("ch_names", "label_names", "sfreq", "epoch_s")
            diff = [f"{n}: {a} vs {b}" for n, a, b in zip(names, sig, ref, strict=True) if a != b]
            raise NeonasError(f"does not match {ref_path} ({'; '.join(diff)}); preprocess all infants alike", path)
        if rec.infant_id in ids:
            raise NeonasError(f"infant id '{rec.infant_id}' appears twice in the data set", path)
        if rec.source_sha256 and rec.source_sha256 in shas:
            other = ids[shas.index(rec.source_sha256)]
            raise NeonasError(f"was preprocessed from the same recording as infant '{other}' (same source_sha256); "
                              "one recording must not count as two infants", path)
        keep = rec.labels >= 0
        if drop_artifacts:
            keep &= rec.artifact == 0
        xs.append(rec.eeg[keep])
        ys.append(rec.labels[keep].astype(np.int64))
        infants.append(np.full(int(keep.sum()), i, np.int64))
        epochs.append(np.flatnonzero(keep).astype(np.int64))
        onsets.append(np.asarray(rec.onset_s, np.float64)[keep])
        ids.append(rec.infant_id)
        shas.append(rec.source_sha256)
    return EEGDataset(
        x=np.concatenate(xs), y=np.concatenate(ys), infant=np.concatenate(infants), infant_ids=ids,
        ch_names=list(ref[0]), label_names=list(ref[1]), sfreq=ref[2], epoch_s=ref[3], source_sha256=shas,
        epoch=np.concatenate(epochs), onset_s=np.concatenate(onsets),
    )
