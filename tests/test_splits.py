"""Folds are by infant: no infant may ever be in two of train/val/test, whatever the scheme or seed."""

import json
from pathlib import Path

import pytest

from learnable import edit_folds, make_cohort
from neonas.cli import main
from neonas.errors import NeonasError
from neonas.store.splits import load_fold, make_folds


def _check(folds, ids, n_val):
    tested = []
    for f in folds:
        train, val, test = set(f["train"]), set(f["val"]), set(f["test"])
        assert not (train & val) and not (train & test) and not (val & test), f
        assert train | val | test == set(ids), f  # every infant is used in every fold
        assert len(val) == n_val and train and test
        tested += f["test"]
    assert sorted(tested) == sorted(ids)  # each infant is a test infant exactly once


@pytest.mark.parametrize("n", range(3, 14))
@pytest.mark.parametrize("seed", range(4))
def test_loo_never_leaks(n, seed):
    ids = [f"b{i:02d}" for i in range(n)]
    for n_val in (1, 2):
        if n < n_val + 2:
            continue
        folds = make_folds(ids, "loo", n_val=n_val, seed=seed)
        assert len(folds) == n
        _check(folds, ids, n_val)


@pytest.mark.parametrize("n", range(4, 14))
@pytest.mark.parametrize("seed", range(4))
def test_kfold_never_leaks(n, seed):
    ids = [f"b{i:02d}" for i in range(n)]
    for k in range(2, n + 1):
        if n - -(-n // k) < 2:  # the largest test group must leave a validation and a training infant
            with pytest.raises(NeonasError, match="too few"):
                make_folds(ids, "kfold", k=k, n_val=1, seed=seed)
            continue
        folds = make_folds(ids, "kfold", k=k, n_val=1, seed=seed)
        assert len(folds) == k
        _check(folds, ids, 1)


def test_folds_depend_on_seed_only():
    ids = [f"b{i}" for i in range(8)]
    assert make_folds(ids, seed=3) == make_folds(list(reversed(ids)), seed=3)
    assert make_folds(ids, seed=3) != make_folds(ids, seed=4)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"scheme": "random"}, "unknown split scheme"),
    ({"scheme": "kfold", "k": 1}, "2 <= k"),
    ({"scheme": "loo", "n_val": 3}, "too few"),
    ({"scheme": "loo", "n_val": 0}, "n_val"),
])
def test_bad_split_requests(kwargs, match):
    with pytest.raises(NeonasError, match=match):
        make_folds(["a", "b", "c", "d"], **kwargs)


def test_duplicate_ids_rejected():
    with pytest.raises(NeonasError, match="duplicate infant ids"):
        make_folds(["a", "b", "a", "c"])


@pytest.fixture(scope="module")
def folds_file(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("splits")
    paths = make_cohort(tmp / "h5", n_infants=4, n_epochs=4)
    out = tmp / "folds.json"
    assert main(["folds", *paths, "--scheme", "loo", "--seed", "1", "--out", str(out)]) == 0
    return out


def test_folds_cli_and_load_fold_round_trip(folds_file):
    doc = json.loads(folds_file.read_text())
    assert set(doc["files"]) == {"inf01", "inf02", "inf03", "inf04"}
    for spec in doc["folds"]:
        fold = load_fold(folds_file, spec["fold"])
        assert fold.test_ids == spec["test"] and fold.val_ids == spec["val"] and fold.train_ids == spec["train"]
        assert fold.test == [doc["files"][i] for i in spec["test"]]


def test_hand_edited_overlap_is_rejected(folds_file, tmp_path):
    def leak(doc):
        doc["folds"][0]["train"].append(doc["folds"][0]["test"][0])

    bad = edit_folds(folds_file, tmp_path / "bad.json", leak)
    test_id = json.loads(folds_file.read_text())["folds"][0]["test"][0]
    with pytest.raises(NeonasError, match=rf"fold 0: infant\(s\) \['{test_id}'\] are in both train and test") as err:
        load_fold(bad, 0)
    assert str(bad) in str(err.value)
    load_fold(bad, 1)  # other folds of the file are still usable


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d["folds"][0].update(val=[]), "the val set is empty"),
    (lambda d: d["folds"][0].pop("val"), "'val' must be a list of infant ids"),
    (lambda d: d["folds"][0]["train"].append("nobody"), r"names infants \['nobody'\] that have no file"),
    (lambda d: d.pop("files"), "not a valid folds file"),
])
def test_other_broken_folds_files(folds_file, tmp_path, edit, match):
    bad = edit_folds(folds_file, tmp_path / "bad.json", edit)
    with pytest.raises(NeonasError, match=match):
        load_fold(bad, 0)


def test_missing_fold_and_file(folds_file, tmp_path):
    with pytest.raises(NeonasError, match=r"fold 9 not found; folds are \[0, 1, 2, 3\]"):
        load_fold(folds_file, 9)
    with pytest.raises(NeonasError, match="folds file not found"):
        load_fold(tmp_path / "nope.json", 0)
