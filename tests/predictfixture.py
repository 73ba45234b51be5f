"""A tiny trained model that carries its preprocessing, for the predict, export and inspect tests.

Three short synthetic EDF+ recordings (edfmaker) go through the real pipeline: `neonas preprocess` with
a small config (3 channels, 32 Hz, 8 s epochs), `neonas folds`, and `neonas retrain` of a 2-layer
architecture for 2 epochs. `tiny_model_once` trains it once per session.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from edfmaker import neonatal_edf
from neonas.cli import main

#: the preprocessing the tiny model is trained with (the neonatal preset with these overrides)
SETTINGS = ["channels=[C3, O1, Cz]", "resample_hz=32", "epoch_s=8", "h_freq=12", "chunk_s=64"]
EPOCH_S, SFREQ, CHANNELS = 8.0, 32.0, ["C3", "O1", "Cz"]
ARCH = {"layers": [{"op": "conv", "span": 2, "dilation": 1, "time_kernel": 3, "skips": []},
                   {"op": "pool", "kind": "avg", "skips": [0]}]}


def read_tsv(path: Path) -> list[dict]:
    """The rows of a TSV file (predict's hypnograms) as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def stages(seconds: float, seed: int) -> list[tuple[float, float, str]]:
    rng = np.random.default_rng(seed)
    n = int(seconds // EPOCH_S)
    return [(i * EPOCH_S, EPOCH_S, f"Sleep stage {s}") for i, s in enumerate(rng.choice(["AS", "QS", "W", "IS"], n))]


def recording(path: Path, seconds: float = 120.0, seed: int = 0, labelled: bool = False, **kw) -> Path:
    """A 9-electrode neonatal EDF (EDF+ with stage annotations when `labelled`)."""
    return neonatal_edf(path, seconds=seconds, stages=stages(seconds, seed) if labelled else (), seed=seed, **kw)


def set_args() -> list[str]:
    return [a for s in SETTINGS for a in ("--set", s)]


def train_tiny(work: Path, settings: list[str] | None = None, edf_kw: dict | None = None) -> Path:
    """EDF -> HDF5 -> folds -> retrain (2 epochs); returns model.pt."""
    work.mkdir(parents=True, exist_ok=True)
    sets = [a for s in (settings or SETTINGS) for a in ("--set", s)]
    h5 = []
    for i in range(3):
        edf = recording(work / f"tr{i}.edf", seconds=96.0, seed=10 + i, labelled=True, **(edf_kw or {}))
        out = work / f"tr{i}.h5"
        assert main(["preprocess", str(edf), "--label-format", "annotations", *sets, "--out", str(out)]) == 0
        h5.append(str(out))
    assert main(["folds", *h5, "--out", str(work / "folds.json")]) == 0
    (work / "arch.json").write_text(json.dumps(ARCH))
    run = work / "run"
    assert main(["retrain", "--arch", str(work / "arch.json"), "--folds", str(work / "folds.json"), "--fold", "0",
                 "--seed", "0", "--set", "epochs=2", "--set", "batch_size=8", "--device", "cpu",
                 "--out", str(run)]) == 0
    return run / "model.pt"


_CACHE: dict[str, Path] = {}


def tiny_model_once(tmp_path_factory) -> Path:
    """The tiny model, trained once per test session (with one torch thread); test modules wrap it in a fixture."""
    import torch

    if "model" not in _CACHE:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            _CACHE["model"] = train_tiny(tmp_path_factory.mktemp("tiny_model"))
        finally:
            torch.set_num_threads(before)
    return _CACHE["model"]
