"""Small HDF5 cohorts with learnable labels, for retrain/evaluate tests.

Each epoch is a sinusoid whose frequency depends on the stage (plus noise and a random phase per
channel), with imbalanced classes, so a small CNN learns it in a few epochs on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neonas import NEONATAL_STAGES
from neonas.store.h5io import Recording, write_recording

SFREQ = 32.0  # Hz
EPOCH_S = 8.0  # s -> 256 samples
CH_NAMES = ["Fp1", "C3", "O1", "Cz"]
FREQS_HZ = (2.0, 5.0, 8.0, 11.0)  # AS, QS, W, IS
CLASS_P = (0.4, 0.3, 0.2, 0.1)


def make_recording(infant_id: str, seed: int, n_epochs: int = 48, ch_names: list[str] | None = None,
                   sfreq: float = SFREQ) -> Recording:
    rng = np.random.default_rng(seed)
    ch_names = ch_names or CH_NAMES
    n = int(round(sfreq * EPOCH_S))
    t = np.arange(n) / sfreq
    labels = rng.choice(len(FREQS_HZ), size=n_epochs, p=CLASS_P).astype(np.int8)
    phase = rng.uniform(0, 2 * np.pi, size=(n_epochs, len(ch_names), 1))
    eeg = np.sin(2 * np.pi * np.asarray(FREQS_HZ)[labels][:, None, None] * t + phase)
    eeg = eeg * rng.uniform(0.7, 1.3) + rng.normal(0, 0.7, size=eeg.shape)  # infant gain, noise
    labels[rng.random(n_epochs) < 0.05] = -1  # a few unlabelled epochs, dropped by load_infants
    return Recording(
        infant_id=infant_id, eeg=eeg.astype(np.float32), labels=labels,
        onset_s=np.arange(n_epochs) * EPOCH_S, artifact=np.zeros(n_epochs, np.uint8), sfreq=sfreq,
        ch_names=list(ch_names), label_names=list(NEONATAL_STAGES), epoch_s=EPOCH_S,
    )


def make_cohort(directory: Path, n_infants: int = 5, seed: int = 0, n_epochs: int = 48) -> list[str]:
    """Write `inf01.h5`, ... and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_infants):
        path = directory / f"inf{i + 1:02d}.h5"
        write_recording(path, make_recording(f"inf{i + 1:02d}", seed * 1000 + i, n_epochs))
        paths.append(str(path))
    return paths


def edit_folds(src: Path, dst: Path, edit) -> Path:
    """Copy a folds.json with `edit(doc)` applied (for hand-edited, broken folds files)."""
    doc = json.loads(src.read_text())
    edit(doc)
    dst.write_text(json.dumps(doc))
    return dst
