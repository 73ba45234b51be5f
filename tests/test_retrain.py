"""`neonas retrain`: learns held-out infants, is deterministic, stops early, weights classes, fails clearly."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from learnable import edit_folds, make_cohort
from neonas.cli import main
from neonas.config import from_dict, load_yaml
from neonas.engine.space import SpaceConfig, arch_hash, build_model, thesis_best_arch
from neonas.training.evaluate import load_model
from neonas.training.recipe import EarlyStopping, RetrainConfig, kept_epoch
from neonas.training.retrain import class_weights

EPOCHS = 12


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("retrain")
    paths = make_cohort(tmp / "h5", n_infants=5)
    assert main(["folds", *paths, "--out", str(tmp / "folds.json")]) == 0
    return tmp


def _retrain(cohort, out, *extra):
    args = ["retrain", "--folds", str(cohort / "folds.json"), "--fold", "0", "--seed", "7", "--out", str(out), *extra]
    return main(args)


@pytest.fixture(scope="module")
def baseline_run(cohort) -> Path:
    out = cohort / "baseline"
    assert _retrain(cohort, out, "--baseline", "handcrafted", "--set", f"epochs={EPOCHS}", "--set", "patience=50",
                    "--set", "lr=0.003", "--meta", "arm=handcrafted") == 0
    return out


def _history(run: Path) -> list[dict]:
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def _expected_best(hist: list[dict], min_epochs: int, smooth: int) -> int:
    """The epoch early stopping keeps, recomputed from history.csv (docs/retrain.md, step 3)."""
    score = {}
    for e in range(min(min_epochs, len(hist)), len(hist) + 1):
        window = hist[max(0, e - smooth):e]
        score[e] = (np.mean([float(h["val_kappa"]) for h in window]), np.mean([-float(h["val_loss"]) for h in window]))
    return max(score, key=lambda e: (score[e], -e))  # the first epoch reaching the best smoothed score


def test_class_weights_by_hand():
    y = np.array([0, 0, 0, 1])  # classes 2 and 3 absent from training
    # inverse: N / (K n_c) = 4 / (2*3), 4 / (2*1); absent classes get 1
    assert class_weights(y, 4, "inverse") == pytest.approx([2 / 3, 2.0, 1.0, 1.0])
    # sqrt_inverse: N n_c^-1/2 / sum sqrt(n_k) = 4 / (sqrt3 (sqrt3 + 1)), 4 / (sqrt3 + 1)
    s = np.sqrt(3) + 1
    assert class_weights(y, 4, "sqrt_inverse") == pytest.approx([4 / (np.sqrt(3) * s), 4 / s, 1.0, 1.0])
    assert class_weights(y, 4, "none") == pytest.approx([1, 1, 1, 1])
    for scheme in ("inverse", "sqrt_inverse", "none"):  # mean weight over training epochs is 1
        assert class_weights(y, 4, scheme)[y].mean() == pytest.approx(1.0)


def test_baseline_beats_chance_on_held_out_infant(baseline_run, cohort):
    m = json.loads((baseline_run / "metrics.json").read_text())
    folds = json.loads((cohort / "folds.json").read_text())["folds"][0]
    assert m["test_ids"] == folds["test"] and m["split"] == "test" and m["fold"] == 0 and m["seed"] == 7
    # majority class is ~40 % of epochs; chance kappa is 0
    assert m["accuracy"] > 0.7 and m["kappa"] > 0.5, m
    assert m["arch_hash"] == "handcrafted" and m["arch"] == {"baseline": "handcrafted"}
    assert m["meta"] == {"seed": 7, "fold": 0, "arm": "handcrafted", "rank": 0}
    hist = _history(baseline_run)
    assert [int(h["epoch"]) for h in hist] == list(range(1, EPOCHS + 1))
    assert list(hist[0])[:6] == ["epoch", "train_loss", "val_loss", "val_accuracy", "val_kappa",
                                 "val_balanced_accuracy"]
    assert float(hist[-1]["train_loss"]) < float(hist[0]["train_loss"])
    # best: highest kappa (mean of the last `smooth` epochs, from `min_epochs` on), ties broken by the lower
    # validation loss, then by the earlier epoch
    ckpt = torch.load(baseline_run / "model.pt", weights_only=True)
    recipe = from_dict(RetrainConfig, ckpt["config"])
    assert ckpt["config"]["min_epochs"] is None and recipe.first_epoch == 5  # null: min(5, 12 // 2)
    assert ckpt["config"]["smooth"] is None and recipe.window == 3  # null: min(3, 12 // 3)
    assert m["best_epoch"] == _expected_best(hist, recipe.first_epoch, recipe.window)
    assert ckpt["train_ids"] == folds["train"] and ckpt["val_ids"] == folds["val"]
    assert ckpt["ch_names"] == ["Fp1", "C3", "O1", "Cz"] and ckpt["sfreq"] == 32.0 and ckpt["n_samples"] == 256


def test_same_seed_same_result(baseline_run, cohort, tmp_path):
    again = tmp_path / "again"
    assert _retrain(cohort, again, "--baseline", "handcrafted", "--set", f"epochs={EPOCHS}", "--set", "patience=50",
                    "--set", "lr=0.003", "--meta", "arm=handcrafted") == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (baseline_run, again))
    assert a.pop("train_seconds") > 0 and b.pop("train_seconds") > 0  # wall time is the only difference
    assert a == b
    sa, sb = (torch.load(d / "model.pt", weights_only=True)["state_dict"] for d in (baseline_run, again))
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    drop = [{k: v for k, v in h.items() if k != "seconds"} for h in _history(baseline_run)]
    assert drop == [{k: v for k, v in h.items() if k != "seconds"} for h in _history(again)]


def test_early_stopping_keeps_best_weights(cohort, tmp_path):
    out = tmp_path / "es"
    assert _retrain(cohort, out, "--baseline", "handcrafted", "--set", "epochs=60", "--set", "patience=3",
                    "--set", "lr=0.003", "--set", "monitor=macro_f1", "--set", "min_epochs=1", "--set", "smooth=1",
                    "--no-evaluate") == 0
    hist = _history(out)
    assert len(hist) < 60
    ckpt = torch.load(out / "model.pt", weights_only=True)
    assert ckpt["best_epoch"] == len(hist) - 3  # stopped after 3 epochs without improvement
    f1 = [float(h["val_macro_f1"]) for h in hist]
    assert f1[ckpt["best_epoch"] - 1] == max(f1) > f1[0]  # it did learn before stopping
    assert not (out / "metrics.json").exists()
    # the saved weights are those of the best epoch: re-evaluating on the validation infant reproduces it
    assert main(["evaluate", "--model", str(out / "model.pt"), "--folds", str(cohort / "folds.json"), "--fold", "0",
                 "--split", "val", "--out", str(tmp_path / "val.json")]) == 0
    val = json.loads((tmp_path / "val.json").read_text())
    assert val["macro_f1"] == pytest.approx(float(hist[ckpt["best_epoch"] - 1]["val_macro_f1"]), abs=1e-12)


SPACE = SpaceConfig(n_layers=2, filters=6, stem_stride=2, stem_pool=2)
ARCHS = [thesis_best_arch(SPACE),
         {"layers": [{"op": "pool", "kind": "max", "skips": []},
                     {"op": "conv", "span": 1, "dilation": 1, "time_kernel": 3, "skips": [0]}]}]


def _search_run(cohort, run: Path) -> Path:
    """A search run directory as `neonas search` + `neonas derive` leave it (the fields retrain reads)."""
    run.mkdir()
    fold0 = json.loads((cohort / "folds.json").read_text())["folds"][0]
    (run / "summary.json").write_text(json.dumps({
        "reward_name": "plain", "sampler": "controller", "fold": 0, "config": {"space": vars(SPACE)},
        "train_ids": fold0["train"], "val_ids": fold0["val"]}))
    derived = {"run": str(run), "metric_name": "kappa", "n_sampled": 2, "sampled": [],
               "top": [{"rank": r, "hash": arch_hash(a), "arch": a, "supernet_metric": 0.5 - r / 10}
                       for r, a in enumerate(ARCHS)]}
    (run / "derived.json").write_text(json.dumps(derived))
    return run / "derived.json"


def test_derived_json_uses_the_search_space_and_rank(cohort, tmp_path):
    derived = _search_run(cohort, tmp_path / "search")
    archs, space = ARCHS, SPACE
    out = tmp_path / "rank1"
    assert _retrain(cohort, out, "--arch", str(derived), "--rank", "1", "--set", "epochs=2",
                    "--meta", "reward=other") == 0
    model, ckpt = load_model(out / "model.pt", torch.device("cpu"))
    assert ckpt["arch"] == archs[1] and ckpt["arch_hash"] == arch_hash(archs[1])
    assert ckpt["meta"] == {"seed": 7, "fold": 0, "rank": 1, "supernet_metric": 0.4, "arm": "nas", "reward": "other"}
    expect = build_model(archs[1], space, 4, 256, 4)  # filters etc. come from the search's space
    assert ckpt["n_params"] == sum(p.numel() for p in expect.parameters())
    assert [p.shape for p in model.parameters()] == [p.shape for p in expect.parameters()]
    m = json.loads((out / "metrics.json").read_text())
    assert m["arch"] == archs[1] and m["meta"]["rank"] == 1 and m["n_params"] == ckpt["n_params"]


def test_architecture_searched_on_the_test_infant_is_refused(cohort, tmp_path, capsys):
    derived = _search_run(cohort, tmp_path / "search")
    test1 = json.loads((cohort / "folds.json").read_text())["folds"][1]["test"]  # a search infant of fold 0
    out = tmp_path / "out"
    assert main(["retrain", "--arch", str(derived), "--folds", str(cohort / "folds.json"), "--fold", "1",
                 "--seed", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"trained or validated on infant(s) {test1}, which are test infants of fold 1" in err
    assert not out.exists()


def test_bare_architecture_json(cohort, tmp_path):
    arch = thesis_best_arch(SpaceConfig(n_layers=1))
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    out = tmp_path / "bare"
    assert _retrain(cohort, out, "--arch", str(tmp_path / "arch.json"), "--set", "epochs=1", "--no-evaluate") == 0
    _, ckpt = load_model(out / "model.pt", torch.device("cpu"))
    assert ckpt["space"] == vars(SpaceConfig()) and ckpt["arch_hash"] == arch_hash(arch)


def test_fold_that_does_not_match_the_files(cohort, tmp_path, capsys):
    def swap(doc):  # the folds file says inf_a is in one file, but it holds another infant
        files = doc["files"]
        a, b = doc["folds"][0]["train"][:2]
        files[a], files[b] = files[b], files[a]

    bad = edit_folds(cohort / "folds.json", tmp_path / "bad.json", swap)
    out = tmp_path / "out"
    rc = main(["retrain", "--baseline", "handcrafted", "--folds", str(bad), "--fold", "0", "--seed", "0",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "names infant" in err and "for train, but" in err and str(bad) in err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # nothing written


@pytest.mark.parametrize(("extra", "message"), [
    (["--baseline", "handcrafted", "--set", "epoch=3"], "unknown key(s) ['epoch']"),
    (["--baseline", "handcrafted", "--set", "monitor=loss"], "monitor: expected one of"),
    (["--baseline", "handcrafted", "--set", "batch_size=0"], "batch_size must be >= 1"),
    (["--baseline", "handcrafted", "--rank", "1"], "--rank only applies"),
    (["--arch", "missing.json"], "architecture file not found"),
    (["--baseline", "handcrafted", "--fold", "9"], "fold 9 not found"),
])
def test_bad_input_fails_clearly(cohort, tmp_path, capsys, extra, message):
    args = ["retrain", "--folds", str(cohort / "folds.json"), "--fold", "0", "--seed", "0",
            "--out", str(tmp_path / "out"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "model.pt").exists()


def test_arch_outside_the_json_format(cohort, tmp_path, capsys):
    (tmp_path / "arch.json").write_text(json.dumps({"layers": [{"op": "conv", "span": 0}]}))
    assert _retrain(cohort, tmp_path / "out", "--arch", str(tmp_path / "arch.json")) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "arch.json") in err and "layer 0" in err


# --- issue #11: a recipe that holds on small validation sets and on 1-channel montages ---------------------


def test_min_epochs_and_smoothed_monitor(cohort, tmp_path):
    """No weights before `min_epochs`; the best epoch is the one whose last `smooth` epochs have the best mean
    kappa (ties: lower mean validation loss); training stops `patience` epochs after it."""
    out = tmp_path / "smooth"
    assert _retrain(cohort, out, "--baseline", "handcrafted", "--set", "epochs=40", "--set", "patience=3",
                    "--set", "min_epochs=5", "--set", "smooth=3", "--no-evaluate") == 0
    hist = _history(out)
    ckpt = torch.load(out / "model.pt", weights_only=True)
    assert ckpt["config"]["min_epochs"] == 5 and ckpt["config"]["smooth"] == 3
    best = _expected_best(hist, 5, 3)
    assert ckpt["best_epoch"] == best >= 5
    assert len(hist) == 40 or len(hist) == best + 3


def test_a_warmup_as_long_as_the_training_is_refused(cohort, tmp_path, capsys):
    """min_epochs >= epochs would keep the last epoch whatever its score (issue 24: the demo's final model)."""
    assert _retrain(cohort, tmp_path / "short", "--baseline", "handcrafted", "--set", "epochs=5",
                    "--set", "min_epochs=5", "--no-evaluate") == 2
    err = capsys.readouterr().err
    assert "min_epochs 5 >= epochs 5" in err and "only the last" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "short").exists()


# the demo's final model, issue 24: validation kappa by epoch; 5 epochs with min_epochs 5 kept epoch 5
DEMO_CURVE = [0.298, 0.749, 0.410, 0.904, 0.472]


@pytest.mark.parametrize("curve", [DEMO_CURVE, [0.1, 0.8, 0.7, 0.6, 0.5], [0.2, 0.3, 0.1, 0.2, 0.6],
                                   [0.5, 0.4, 0.9, 0.3, 0.2]])
def test_the_demo_recipe_keeps_the_best_validation_epoch_after_its_warmup(curve):
    """config/config.yaml's `retrain:` on planted validation curves: the kept epoch is the best one after a
    warm-up shorter than the training (and epoch 4, kappa 0.904, on the curve of the issue)."""
    recipe = from_dict(RetrainConfig, load_yaml(Path(__file__).parents[1] / "config" / "config.yaml")["retrain"])
    assert recipe.warmup_problem() is None and recipe.first_epoch < recipe.epochs
    assert recipe.epochs >= len(curve)
    best = max(range(recipe.first_epoch, len(curve) + 1), key=lambda e: curve[e - 1])
    assert kept_epoch(recipe, curve) == best
    if curve == DEMO_CURVE:
        assert best == 4


def test_warmup_defaults_and_the_old_demo_recipe():
    assert RetrainConfig(epochs=5).first_epoch == 2 and RetrainConfig(epochs=60).first_epoch == 5
    assert RetrainConfig(epochs=5).window == 1 and RetrainConfig(epochs=20).window == 3  # DREAMS: the measured 5, 3
    assert RetrainConfig(epochs=10).window == 3 and RetrainConfig(epochs=10).first_epoch == 5  # as before issue 24
    assert RetrainConfig(epochs=20).first_epoch == 5
    assert RetrainConfig(epochs=2).first_epoch == 1 and RetrainConfig(epochs=1).warmup_problem() is None
    old = RetrainConfig(epochs=5, patience=3, min_epochs=5)  # the demo before issue 24
    assert "only the last" in old.warmup_problem() and kept_epoch(old, DEMO_CURVE) == 5
    # smoothing: the mean of the last 3 epochs; ties broken by the lower validation loss
    smooth = RetrainConfig(epochs=6, min_epochs=3, smooth=3)
    # epochs 3..6 score 0.367, 0.5, 0.367, 0.5: epoch 4 first reaches the best mean (epoch 6 only ties it)
    assert kept_epoch(smooth, [0.1, 0.9, 0.1, 0.5, 0.5, 0.5]) == 4
    stopper = EarlyStopping(RetrainConfig(epochs=4, min_epochs=1, smooth=1, patience=1))
    assert stopper.update(1, 0.5, 1.0) and not stopper.update(2, 0.5, 2.0) and stopper.stop


def test_baseline_on_one_channel_is_not_scaled_by_a_random_weight(tmp_path):
    """On 1 channel the spatial stage is the identity (as braindecode's SleepStagerChambon2018): the 1x1 conv it
    replaces drew w = -0.0075 at seed 0 and shrank the EEG 133-fold. The net must learn a 1-channel cohort."""
    from learnable import make_recording
    from neonas.store.h5io import write_recording
    from neonas.training.baseline import build_model

    model = build_model(1, 256, 4, 32.0)
    assert isinstance(model.spatial, torch.nn.Identity) and not any("spatial" in k for k in model.state_dict())
    assert isinstance(build_model(2, 256, 4, 32.0).spatial, torch.nn.Conv2d)
    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f"c{i}.h5"))
        write_recording(paths[-1], make_recording(f"c{i}", 50 + i, n_epochs=48, ch_names=["C3"]))
    assert main(["folds", *paths, "--out", str(tmp_path / "folds.json")]) == 0
    assert main(["retrain", "--baseline", "handcrafted", "--folds", str(tmp_path / "folds.json"), "--fold", "0",
                 "--seed", "0", "--set", "epochs=8", "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["kappa"] > 0.5


def test_every_shipped_study_config_lets_early_stopping_choose():
    """config.yaml's `retrain:` with each config/*.yaml merged on top (key by key, as snakemake merges them): no
    recipe whose warm-up is as long as its training (workflow/rules/common.smk refuses those at parse time)."""
    root = Path(__file__).parents[1] / "config"
    base = load_yaml(root / "config.yaml")["retrain"]
    for path in sorted(root.glob("*.yaml")):
        merged = {**base, **(load_yaml(path).get("retrain") or {})}
        merged.pop("pack", None)
        recipe = from_dict(RetrainConfig, merged, str(path))
        assert recipe.warmup_problem() is None and recipe.first_epoch < recipe.epochs or recipe.epochs == 1, path
