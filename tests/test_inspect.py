"""`neonas inspect` on a model.pt, on a search run directory (interrupted, then finished) and on an HDF5 file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from neonas.cli import main
from neonas.engine.search import EXIT_RESUMABLE
from neonas.engine.space import arch_hash
from predictfixture import ARCH, tiny_model_once

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEARCH = {
    "space": {"n_layers": 2, "filters": 4, "spans": [1, 2], "dilations": [1], "time_kernels": [3],
              "stem_stride": 2, "stem_pool": 2},
    "controller": {"lstm_size": 8, "train_steps": 2, "num_aggregate": 2},
    "reward": {"name": "sigmoid", "metric": "accuracy", "threshold": 0.4, "steepness": 10.0},
    "training": {"epochs": 2, "batch_size": 8, "val_batch_size": 8},
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_once(tmp_path_factory)


def inspect(capsys, *args) -> str:
    capsys.readouterr()
    assert main(["inspect", *map(str, args)]) == 0
    return capsys.readouterr().out


def test_model(tiny_model, capsys):
    text = inspect(capsys, tiny_model)
    for line in (f"arch        {arch_hash(ARCH)}", "channels    C3 O1 Cz", "32 Hz, 8 s epochs", "classes     AS QS W IS",
                 "preprocess  stored", "metrics     fold 0 seed 0 test"):
        assert line in text, text
    s = json.loads(inspect(capsys, tiny_model, "--json"))
    metrics = json.loads((tiny_model.parent / "metrics.json").read_text())
    assert s["test_metrics"][0]["kappa"] == metrics["kappa"] and s["input"]["sfreq_hz"] == 32.0


def test_search_run_interrupted_then_finished(tiny_model, tmp_path, capsys):
    work = tiny_model.parent.parent
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(SEARCH))
    args = ["search", "--folds", str(work / "folds.json"), "--fold", "0", "--config", str(tmp_path / "search.yaml"),
            "--seed", "0", "--device", "cpu", "--out", str(tmp_path / "run")]
    assert main([*args, "--stop-after-epochs", "1"]) == EXIT_RESUMABLE
    s = json.loads(inspect(capsys, tmp_path / "run", "--json"))
    assert (s["finished"], s["epochs_done"], s["epochs_total"]) == (False, 1, 2)
    assert s["state"].startswith("running or interrupted") and s["children"] > 0
    assert s["threshold"]["value"] == 0.4
    assert main([*args, "--resume"]) == 0
    text = inspect(capsys, tmp_path / "run")
    assert "state       finished" in text and "epochs      2 of 2" in text, text
    s = json.loads(inspect(capsys, tmp_path / "run", "--json"))
    with open(tmp_path / "run" / "children.csv", newline="") as f:
        best = max(float(r["metric"]) for r in csv.DictReader(f))
    assert s["children"] == json.loads((tmp_path / "run" / "summary.json").read_text())["n_children"]
    assert s["best"]["metric"] == pytest.approx(best)


def test_hdf5_as_before(tiny_model, capsys):
    text = inspect(capsys, tiny_model.parent.parent / "tr0.h5")
    assert "infant      tr0" in text and "channels    3: C3 O1 Cz" in text


def test_not_a_run_directory(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 2
    assert "not a search run directory" in capsys.readouterr().err
