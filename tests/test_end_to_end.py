"""The whole pipeline on a tiny synthetic cohort, through the real commands and files:

synth (EDF+) -> preprocess (MNE -> HDF5) -> folds -> a short ENAS search -> derive -> retrain -> evaluate,

and the retrained architecture must beat chance on the held-out infant.
"""

import json

import numpy as np
import pytest

from neonas.cli import main
from neonas.store.data import load_infants

N_INFANTS, HOURS = 4, 1.0  # 4 infants = 2 training + 1 validation + 1 test; 120 30-s epochs each


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_synth_to_evaluate_beats_chance(tmp_path):
    syn, h5 = tmp_path / "syn", tmp_path / "h5"
    assert main(["synth", "--out", str(syn), "--n-infants", str(N_INFANTS), "--hours", str(HOURS), "--seed", "0"]) == 0
    edfs = sorted(syn.glob("*.edf"))
    assert len(edfs) == N_INFANTS
    for edf in edfs:
        assert main(["preprocess", str(edf), "--preset", "neonatal", "--out", str(h5 / f"{edf.stem}.h5")]) == 0
    folds = tmp_path / "folds.json"
    assert main(["folds", *sorted(str(p) for p in h5.glob("*.h5")), "--scheme", "loo", "--out", str(folds)]) == 0
    fold = json.loads(folds.read_text())["folds"][0]

    run = tmp_path / "search"
    assert main(["search", "--folds", str(folds), "--fold", "0", "--seed", "0", "--set", "training.epochs=1",
                 "--set", "controller.train_steps=5", "--out", str(run)]) == 0
    derived = run / "derived.json"
    assert main(["derive", "--run", str(run), "--samples", "5", "--top-k", "2", "--out", str(derived)]) == 0
    top0 = json.loads(derived.read_text())["top"][0]

    out = tmp_path / "retrain"
    assert main(["retrain", "--arch", str(derived), "--rank", "0", "--folds", str(folds), "--fold", "0", "--seed", "0",
                 "--set", "epochs=12", "--set", "patience=6", "--no-evaluate", "--out", str(out)]) == 0
    assert main(["evaluate", "--model", str(out / "model.pt"), "--folds", str(folds), "--fold", "0",
                 "--meta", "arm=nas", "--meta", "reward=identity", "--meta", "seed=0", "--meta", "fold=0",
                 "--meta", "rank=0", "--out", str(out / "metrics.json")]) == 0

    m = json.loads((out / "metrics.json").read_text())
    assert m["test_ids"] == fold["test"] and m["arch"] == top0["arch"] and m["arch_hash"] == top0["hash"]
    assert m["meta"]["arm"] == "nas" and m["meta"]["rank"] == 0
    assert m["meta"]["supernet_metric"] == pytest.approx(top0["supernet_metric"])
    # chance levels: kappa 0; balanced accuracy 1 / (stages present); accuracy of guessing with the training
    # infants' stage frequencies = sum over stages of p_train * p_test
    cm = np.array(m["confusion"])
    files = json.loads(folds.read_text())["files"]
    counts = load_infants([files[i] for i in fold["train"]]).class_counts()
    chance_accuracy = float(np.dot(counts / counts.sum(), cm.sum(1) / cm.sum()))
    assert m["kappa"] > 0.2, m
    assert m["balanced_accuracy"] > 1 / int((cm.sum(1) > 0).sum()) + 0.1, m
    assert m["accuracy"] > chance_accuracy + 0.1, (chance_accuracy, m)
