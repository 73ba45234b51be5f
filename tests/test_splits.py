"""Folds are by infant: no infant may ever be in two of train/val/test, whatever the scheme or seed."""

import json
from pathlib import Path

import numpy as np
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


# --- cohort checks before any search (issue #11) ------------------------------------------------------


def _write(directory: Path, infant_id: str, seed: int, sha: str = "", labels=None, **kwargs) -> str:
    """A small recording with a given source_sha256 (and, optionally, given labels for its 12 epochs)."""
    from dataclasses import replace

    from learnable import make_recording
    from neonas.store.h5io import write_recording

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{infant_id}.h5"
    rec = replace(make_recording(infant_id, seed, n_epochs=12, **kwargs), source_sha256=sha)
    if labels is not None:
        rec.labels = np.asarray(labels, np.int8)
    write_recording(path, rec)
    return str(path)


def _refused(capsys, paths, out: Path) -> str:
    rc = main(["folds", *paths, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()
    return err


def test_mixed_montage_cohort_is_refused_naming_every_odd_one(capsys, tmp_path):
    paths = [_write(tmp_path, f"b{i}", i, sha=f"{i:064x}") for i in range(4)]
    paths.append(_write(tmp_path, "odd_channels", 7, sha="e" * 64, ch_names=["Fp1", "C3", "O1", "Pz"]))
    paths.append(_write(tmp_path, "odd_rate", 8, sha="f" * 64, sfreq=16.0))
    err = _refused(capsys, paths, tmp_path / "folds.json")
    assert "odd ones out" in err
    assert f"{paths[4]} (channels ['Fp1', 'C3', 'O1', 'Pz'], most have ['Fp1', 'C3', 'O1', 'Cz'])" in err
    assert f"{paths[5]} (rate 16 Hz, most have 32 Hz)" in err
    assert not any(f"{p} (" in err for p in paths[:4])  # the majority is not listed


def test_infants_preprocessed_with_other_filters_are_refused(capsys, tmp_path):
    """A per-recording h_freq override: `neonas folds` stops it before any search (retrain's message), while
    settings of how a file is read (grid start, text rate) may differ per recording."""
    from dataclasses import asdict

    from neonas.ingest.presets import preset
    from neonas.store.h5io import read_recording, write_recording

    base = {"preset": "neonatal", **asdict(preset("neonatal"))}
    paths = []
    for i in range(4):
        paths.append(_write(tmp_path, f"b{i}", i, sha=f"{i:064x}"))
        rec = read_recording(paths[-1])
        rec.preprocess_config = {**base, "grid_start_s": 10.0 * i, "text_sfreq_hz": 100.0 + i}
        write_recording(paths[-1], rec)
    assert main(["folds", *paths, "--out", str(tmp_path / "ok.json")]) == 0
    rec = read_recording(paths[2])
    rec.preprocess_config = {**rec.preprocess_config, "h_freq": 25.0}
    write_recording(paths[2], rec)
    err = _refused(capsys, paths, tmp_path / "folds.json")
    assert f"{paths[2]}: infant 'b2' was preprocessed differently from infant 'b0'" in err
    assert f"(h_freq: 25.0 vs {base['h_freq']!r})" in err and "grid_start_s" not in err


def test_same_recording_under_two_ids_is_refused(capsys, tmp_path):
    paths = [_write(tmp_path, f"b{i}", i, sha=f"{i:064x}") for i in range(4)]
    paths.append(_write(tmp_path, "b1_again", 1, sha=f"{1:064x}"))
    err = _refused(capsys, paths, tmp_path / "folds.json")
    assert "same source recording" in err and paths[1] in err and paths[4] in err and "'b1_again'" in err


def test_missing_training_classes_are_reported(caplog, tmp_path):
    # only b0 has IS (3) epochs, only b1 has W (2) epochs: folds that hold them out of training lack the class
    stages = {"b0": [0, 1, 3] * 4, "b1": [0, 1, 2] * 4, "b2": [0, 1, -1] * 4, "b3": [0, 1] * 6}
    paths = [_write(tmp_path, i, n, sha=f"{n:064x}", labels=stages[i]) for n, i in enumerate(stages)]
    out = tmp_path / "folds.json"
    assert main(["folds", *paths, "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["source_sha256"] == {i: f"{n:064x}" for n, i in enumerate(stages)}
    for f in doc["folds"]:
        want = [name for name, holder in (("W", "b1"), ("IS", "b0")) if holder not in f["train"]]
        assert f.get("missing_train_classes", []) == want, f
        assert (f"fold {f['fold']}: no training epoch of class(es) {want}" in caplog.text) == bool(want)


def test_load_fold_refuses_one_recording_in_two_splits(folds_file, tmp_path):
    def same_source(doc):
        f = doc["folds"][0]
        doc["source_sha256"] = {i: f"{n:064x}" for n, i in enumerate(doc["files"])}
        doc["source_sha256"][f["test"][0]] = doc["source_sha256"][f["train"][0]]

    bad = edit_folds(folds_file, tmp_path / "bad.json", same_source)
    with pytest.raises(NeonasError, match="were preprocessed from the same recording") as err:
        load_fold(bad, 0)
    assert str(bad) in str(err.value)


# --- issue 24: a file copied over another infant's after `neonas folds` ----------------------------------------


@pytest.fixture
def swapped(tmp_path) -> tuple[Path, Path, str]:
    """A folds file whose fold-0 validation file was overwritten by a training infant's file after `neonas folds`
    (the same training data would be scored again as validation). Returns (folds file, that file, its infant)."""
    paths = make_cohort(tmp_path / "h5", n_infants=4, n_epochs=24)
    folds = tmp_path / "folds.json"
    assert main(["folds", *paths, "--out", str(folds)]) == 0
    doc = json.loads(folds.read_text())
    train, val = doc["folds"][0]["train"][0], doc["folds"][0]["val"][0]
    Path(doc["files"][val]).write_bytes(Path(doc["files"][train]).read_bytes())
    (tmp_path / "search.yaml").write_text("space: {n_layers: 1, filters: 4}\ntraining: {epochs: 1}\n")
    return folds, Path(doc["files"][val]), train


@pytest.mark.parametrize("command", ["search", "fidelity"])
def test_search_and_fidelity_refuse_a_swapped_file(swapped, tmp_path, capsys, command):
    folds, path, train = swapped
    out = tmp_path / "out"
    rc = main([command, "--folds", str(folds), "--fold", "0", "--config", str(tmp_path / "search.yaml"),
               "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert f"{path} holds infant '{train}'" in err and "for val" in err and str(folds) in err
    assert not out.exists() or not any(out.iterdir())


def test_load_fold_refuses_a_file_from_another_recording(tmp_path):
    from dataclasses import replace

    from learnable import make_recording
    from neonas.store.h5io import write_recording

    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f"inf{i}.h5"))
        write_recording(paths[-1], replace(make_recording(f"inf{i}", i, 8), source_sha256=str(i) * 64))
    folds = tmp_path / "folds.json"
    assert main(["folds", *paths, "--out", str(folds)]) == 0
    # inf1 preprocessed again from another recording, under its own id
    write_recording(paths[1], replace(make_recording("inf1", 9, 8), source_sha256="9" * 64))
    for fold in range(4):
        with pytest.raises(NeonasError, match=r"inf1.h5 was preprocessed from another recording \(source_sha256 "
                                              r"999999999999…\) than the folds file records for 'inf1' \(111111111111…\)"):
            load_fold(folds, fold)
