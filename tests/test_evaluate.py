"""`neonas evaluate`: the metrics of a retrained model on held-out infants, and the refusals."""

import json
from pathlib import Path

import pytest
import torch

from learnable import make_cohort, make_recording
from neonas.cli import main
from neonas.errors import NeonasError
from neonas.metrics import classification_report
from neonas.store.data import load_infants
from neonas.store.h5io import write_recording
from neonas.store.splits import Fold
from neonas.training.evaluate import check_no_leak, load_model, predict

CONTEXT = ("split", "test_ids", "fold", "seed", "arch_hash", "arch", "n_params", "train_seconds", "best_epoch",
           "device", "meta")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 5-infant leave-one-out folds file and a baseline model retrained on fold 0."""
    tmp = tmp_path_factory.mktemp("evaluate")
    paths = make_cohort(tmp / "h5", n_infants=5, seed=1)
    assert main(["folds", *paths, "--out", str(tmp / "folds.json")]) == 0
    assert main(["retrain", "--baseline", "handcrafted", "--folds", str(tmp / "folds.json"), "--fold", "0",
                 "--seed", "1", "--set", "epochs=6", "--set", "lr=0.003", "--meta", "arm=handcrafted",
                 "--out", str(tmp / "run")]) == 0
    return tmp


def _evaluate(trained, out, *extra, folds=None, fold="0"):
    return main(["evaluate", "--model", str(trained / "run" / "model.pt"), "--folds", str(folds or trained / "folds.json"),
                 "--fold", fold, "--out", str(out), *extra])


def _fold(trained, i):
    return json.loads((trained / "folds.json").read_text())["folds"][i]


def test_metrics_match_an_independent_recomputation(trained, tmp_path):
    out = tmp_path / "m.json"
    assert _evaluate(trained, out, "--meta", "seed=3", "--meta", "reward=plain") == 0
    m = json.loads(out.read_text())
    for key in ("accuracy", "balanced_accuracy", "kappa", "macro_f1", "per_class_f1", "confusion", *CONTEXT):
        assert key in m, key
    test_ids = _fold(trained, 0)["test"]
    assert m["split"] == "test" and m["test_ids"] == test_ids and m["fold"] == 0 and m["seed"] == 1
    # --meta values are YAML: seed=3 is a number; they override what the model carries
    assert m["meta"] == {"seed": 3, "fold": 0, "arm": "handcrafted", "rank": 0, "reward": "plain"}
    model, ckpt = load_model(trained / "run" / "model.pt", torch.device("cpu"))
    files = json.loads((trained / "folds.json").read_text())["files"]
    ds = load_infants([files[i] for i in test_ids])
    expect = classification_report(ds.y, predict(model, ds.x, torch.device("cpu")).argmax(1), ds.label_names)
    assert {k: m[k] for k in expect} == expect
    assert m["n_params"] == sum(p.numel() for p in model.parameters())


def test_same_as_retrain_metrics(trained, tmp_path):
    out = tmp_path / "m.json"
    assert _evaluate(trained, out) == 0
    assert json.loads(out.read_text()) == json.loads((trained / "run" / "metrics.json").read_text())


def test_validation_split(trained, tmp_path):
    out = tmp_path / "val.json"
    assert _evaluate(trained, out, "--split", "val") == 0
    m = json.loads(out.read_text())
    assert m["split"] == "val" and m["test_ids"] == _fold(trained, 0)["val"]


def _fold_testing(trained, infant):
    """The leave-one-out fold whose test infant is `infant`."""
    doc = json.loads((trained / "folds.json").read_text())
    return next(f["fold"] for f in doc["folds"] if f["test"] == [infant])


def test_refuses_infants_the_model_was_trained_on(trained, tmp_path, capsys):
    train_infant = _fold(trained, 0)["train"][0]
    fold = _fold_testing(trained, train_infant)
    assert _evaluate(trained, tmp_path / "m.json", fold=str(fold)) == 2
    err = capsys.readouterr().err
    assert f"used infant(s) ['{train_infant}'] for training" in err and f"test split of fold {fold}" in err
    assert not (tmp_path / "m.json").exists()


def test_refuses_its_early_stopping_infants_as_test(trained, tmp_path, capsys):
    val_infant = _fold(trained, 0)["val"][0]
    fold = _fold_testing(trained, val_infant)
    assert _evaluate(trained, tmp_path / "m.json", fold=str(fold)) == 2
    assert f"['{val_infant}'] for validation (early stopping)" in capsys.readouterr().err


def test_wrong_fold_and_missing_model(trained, tmp_path, capsys):
    assert _evaluate(trained, tmp_path / "m.json", fold="7") == 2
    assert "fold 7 not found; folds are [0, 1, 2, 3, 4]" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_text("not a model")
    for model, message in ((tmp_path / "none.pt", "model file not found"), (tmp_path / "junk.pt", "not a readable neonas model")):
        assert main(["evaluate", "--model", str(model), "--folds", str(trained / "folds.json"), "--fold", "0",
                     "--out", str(tmp_path / "m.json")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ch_names": ["Fp2", "C4", "O2", "Cz"]}, "model was trained on channels ['Fp1', 'C3', 'O1', 'Cz'] but the data has "
                                              "['Fp2', 'C4', 'O2', 'Cz']"),
    ({"sfreq": 64.0}, "model was trained on sfreq (Hz) 32.0 but the data has 64.0"),
])
def test_mismatched_data_is_refused(trained, tmp_path, capsys, kwargs, message):
    """A test infant preprocessed differently from the training infants."""
    doc = json.loads((trained / "folds.json").read_text())
    other = tmp_path / "new01.h5"
    write_recording(other, make_recording("new01", 99, n_epochs=8, **kwargs))
    doc["files"]["new01"] = str(other)
    doc["folds"] = [{**doc["folds"][0], "test": ["new01"]}]
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps(doc))
    assert _evaluate(trained, tmp_path / "m.json", folds=folds) == 2
    err = capsys.readouterr().err
    assert message in err and str(trained / "run" / "model.pt") in err and "Traceback" not in err


def test_search_infants_are_not_test_infants():
    """A model whose architecture was picked by a search that saw the test infant is refused on test only."""
    ckpt = {"train_ids": ["a", "b"], "val_ids": ["c"], "search_ids": ["a", "b", "d"]}
    fold = Fold(fold=3, train=[], val=[], test=[], train_ids=["a"], val_ids=["d"], test_ids=["d"])
    with pytest.raises(NeonasError, match=r"used infant\(s\) \['d'\] for the architecture search, and they are in "
                                          r"the test split of fold 3"):
        check_no_leak(ckpt, fold, "test", "model.pt")
    check_no_leak(ckpt, Fold(3, [], [], [], ["a"], ["d"], ["e"]), "test", "model.pt")
    check_no_leak(ckpt, fold, "val", "model.pt")  # validation infants may be the search's


def test_same_recording_under_another_id_is_a_leak():
    """The leakage guard compares the source recordings (sha256), not only the infant ids."""
    ckpt = {"train_ids": ["a", "b"], "val_ids": ["c"], "train_sha256": ["1" * 64, "2" * 64], "val_sha256": ["3" * 64]}
    sha = {"a": "1" * 64, "b": "2" * 64, "c": "3" * 64, "a2": "1" * 64, "c2": "3" * 64, "e": "5" * 64}
    for split_id, what in (("a2", "training"), ("c2", "validation \\(early stopping\\)")):
        fold = Fold(4, [], [], [], ["a"], ["c"], [split_id], sha256=sha)
        with pytest.raises(NeonasError, match=rf"recording\(s\) of \['{split_id}'\] for {what} \(same source_sha256"):
            check_no_leak(ckpt, fold, "test", "model.pt")
    check_no_leak(ckpt, Fold(4, [], [], [], ["a"], ["c"], ["e"], sha256=sha), "test", "model.pt")
    check_no_leak(ckpt, Fold(4, [], [], [], ["a"], ["c2"], ["e"], sha256=sha), "val", "model.pt")  # val may repeat val
    check_no_leak({"train_ids": ["a"]}, Fold(4, [], [], [], ["a"], ["c"], ["a2"], sha256=sha), "test", "m")  # old model


def test_retrained_model_stores_its_recordings_hashes(trained):
    ckpt = torch.load(trained / "run" / "model.pt", weights_only=True)
    assert ckpt["train_sha256"] == [] and ckpt["val_sha256"] == []  # learnable.py files carry no source hash
