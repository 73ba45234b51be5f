"""The stand-alone multi-fidelity estimator (estimator: standalone): it ranks a planted panel and cannot on
shuffled labels; successive halving, the cache and its cost in child-epochs; a stand-alone search resumes
bit-identically, gives the same children with 1 or 2 workers, and derive ranks it by rung."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from neonas.cli import main
from neonas.config import to_dict
from neonas.engine.searcher import Search, load_config
from neonas.engine.space import arch_hash
from neonas.store.splits import load_fold
from neonas.training.evaluate import load_split
from test_rerank import AVG, BLIND, GOOD, MAX, SPACE, SPAN1, SPAN2, sign_cohort  # noqa: F401 - the planted sign cohort and its panel
from test_search import assert_same_run, cohort, rows, search  # noqa: F401 - the search test cohort

PANEL = [{"layers": layers} for layers in [*BLIND, GOOD]]


def estimator(root, rungs=(3, 6), eta=3, seed=0):
    folds = str(root / "folds.json")
    cfg = load_config(None, ["estimator=standalone", f"space={json.dumps(to_dict(SPACE))}", "reward.metric=kappa",
                             f"standalone.rungs={list(rungs)}", f"standalone.eta={eta}",
                             "standalone.recipe.batch_size=16"])
    split = load_fold(folds, 0)
    tr, va = load_split(split, "train", folds), load_split(split, "val", folds)
    return Search(cfg, tr, va, seed, torch.device("cpu"), folds, 0).estimator


def test_the_stand_alone_estimator_ranks_a_planted_panel(sign_cohort, one_torch_thread):  # noqa: F811
    """The sign between two channels tells the stage: only the span-2 net (GOOD) can see it."""
    est = estimator(sign_cohort)
    scores = est.score(PANEL)
    good = scores[-1]
    assert good.metric > 0.5 and max(s.metric for s in scores[:-1]) < 0.3, [s.metric for s in scores]
    # successive halving: 5 children x 3 epochs, the best ceil(5 / 3) = 2 x 6 epochs; GOOD reached the top rung
    assert good.rung == 6 and sorted(s.rung for s in scores) == [3, 3, 3, 6, 6]
    assert sum(s.child_epochs for s in scores) == 5 * 3 + 2 * 6
    again = est.score([PANEL[-1], PANEL[-1]])  # cached by hash x rung: no training, the same score
    assert [s.child_epochs for s in again] == [0, 0] and again[0].metric == good.metric
    assert set(est.state_dict()["cache"]) >= {f"{arch_hash(PANEL[-1])}@3", f"{arch_hash(PANEL[-1])}@6"}


def shuffled_copy(source: Path, tmp_path: Path) -> Path:
    """A copy of the cohort whose labels are permuted within each recording: nothing left to rank."""
    shuffled = tmp_path / "sign"
    shutil.copytree(source, shuffled)
    doc = json.loads((shuffled / "folds.json").read_text())
    doc["files"] = {k: str(shuffled / (k + ".h5")) for k in doc["files"]}
    (shuffled / "folds.json").write_text(json.dumps(doc))
    rng = np.random.default_rng(0)
    for path in sorted(shuffled.glob("*.h5")):
        with h5py.File(path, "r+") as f:
            f["labels"][...] = rng.permutation(f["labels"][...])
    return shuffled


def test_the_stand_alone_estimator_cannot_rank_on_shuffled_labels(sign_cohort, one_torch_thread, tmp_path):  # noqa: F811
    shuffled = shuffled_copy(sign_cohort, tmp_path)
    scores = estimator(shuffled).score(PANEL)
    assert scores[-1].metric < 0.3 and max(abs(s.metric) for s in scores) < 0.3, [s.metric for s in scores]


STANDALONE = ["--set", "estimator=standalone", "--set", "standalone.rungs=[1,2]", "--set", "standalone.eta=2",
              "--set", "standalone.recipe.batch_size=32", "--set", "training.epochs=3",
              "--set", "controller.train_steps=2", "--set", "controller.num_aggregate=3"]


@pytest.fixture(scope="module")
def straight_standalone(cohort, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("standalone")
    torch.set_num_threads(1)
    assert search(cohort, out, *STANDALONE) == 0
    return out


def test_a_stand_alone_search_records_rungs_and_cost_and_derive_ranks_by_rung(straight_standalone, tmp_path):
    children = rows(straight_standalone / "children.csv")
    assert len(children) == 3 * 2 * 3
    for step in range(6):  # per batch of 3: all at rung 1, the best ceil(3 / 2) = 2 at rung 2
        batch = [r for r in children if int(r["step"]) == step]
        assert sorted(int(r["rung"]) for r in batch) == [1, 2, 2]
    summary = json.loads((straight_standalone / "summary.json").read_text())
    epochs = rows(straight_standalone / "epochs.csv")
    spent = sum(float(r["child_epochs"]) for r in children)
    assert 0 < spent <= 6 * (3 * 1 + 2 * 2) and summary["child_epochs"] == pytest.approx(spent)
    assert sum(float(e["child_epochs"]) for e in epochs) == pytest.approx(spent)  # no shared pass is charged
    assert summary["estimator"] == "standalone"
    final = torch.load(straight_standalone / "final.pt", weights_only=False)
    assert final["supernet"] is None and final["estimator"] == "standalone"
    out = tmp_path / "derived.json"
    assert main(["derive", "--run", str(straight_standalone), "--top-k", "3", "--out", str(out)]) == 0
    top = json.loads(out.read_text())["top"]
    best = max((int(r["rung"]), float(r["metric"])) for r in children if r["constant"] == "0")
    assert (top[0]["rung"], top[0]["supernet_metric"]) == best
    assert [t["rung"] for t in top] == sorted((t["rung"] for t in top), reverse=True)


def test_a_resumed_stand_alone_search_is_bit_identical(cohort, straight_standalone, tmp_path):  # noqa: F811
    out = tmp_path / "resumed"
    assert search(cohort, out, *STANDALONE, "--stop-after-epochs", "1") == 75
    assert search(cohort, out, *STANDALONE, "--resume") == 0
    assert_same_run(straight_standalone, out)


def test_two_workers_train_the_same_children_as_one(cohort, straight_standalone, tmp_path):  # noqa: F811
    out = tmp_path / "workers"
    assert search(cohort, out, *STANDALONE, "--set", "standalone.workers=2") == 0
    assert (out / "children.csv").read_text() == (straight_standalone / "children.csv").read_text()


def test_plan_prices_a_stand_alone_search_by_child_epochs():
    from neonas.engine.registry import implementation
    from neonas.study.plan import search_work

    search = {"estimator": "standalone", "standalone": {"rungs": [1, 3, 9], "eta": 3},
              "controller": {"train_steps": 2, "num_aggregate": 9}, "training": {"epochs": 4, "warmup_epochs": 1}}
    cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in search.items()])
    per_batch = 9 * 1 + 3 * 3 + 1 * 9  # 9 children -> 3 -> 1
    assert implementation("estimator", "standalone").planned_child_epochs(cfg) == 3 * 2 * per_batch
    one = search_work(search, {"samples": 50}, 1000, 100)
    assert search_work({**search, "training": {"epochs": 7, "warmup_epochs": 1}}, {"samples": 50}, 1000, 100) == 2 * one
    assert search_work({"training": {"epochs": 4}}, {"samples": 50}, 1000, 100) < one  # 4 shared passes vs 162
    assert search_work({**search, "estimator": "auto"}, {"samples": 50}, 1000, 100) == one  # auto: the dearer one


# ----------------------------------------------------------------------------- its fidelity check (issue 22)

FULL = [*BLIND, [SPAN2, SPAN1], [SPAN2, SPAN2], [SPAN2, MAX], [SPAN2, AVG]]  # 4 nets see the sign, 4 cannot


def fidelity_parts(root, rungs, ref_epochs=10, estimates=True):
    """The stand-alone reference (retrain's loop, 4 seeds) and the stand-alone estimator's scores (its own seeds,
    at its rungs) of the planted panel, as `neonas fidelity` computes them."""
    from neonas.training import fidelity_estimators as fe
    from neonas.training.fidelity import FidelityConfig, train_alone

    folds = str(root / "folds.json")
    cfg = load_config(None, ["estimator=standalone", f"space={json.dumps(to_dict(SPACE))}", "reward.metric=kappa",
                             f"standalone.rungs={list(rungs)}", "standalone.recipe.batch_size=16"])
    fid = FidelityConfig(standalone_seeds=4, standalone_epochs=ref_epochs, estimator_seeds=[0, 1], bootstrap=200)
    split = load_fold(folds, 0)
    tr, va = load_split(split, "train", folds), load_split(split, "val", folds)
    panel = [{"layers": layers} for layers in FULL]
    cpu = torch.device("cpu")
    reference = np.array([[train_alone(a, s, cfg, fid, tr, va, cpu) for s in range(4)] for a in panel])
    state = {"train": tr, "val": va, "device": cpu}
    tasks = fe.standalone_tasks(panel, cfg, fid.estimator_seeds, fid.standalone_seeds)
    scores = {t[0][1:]: fe.run_estimate(state, t) for t in tasks} if estimates else None
    return cfg, fid, panel, reference, scores, (tr, va)


@pytest.fixture(scope="module")
def planted_check(sign_cohort):  # noqa: F811
    torch.set_num_threads(1)
    return fidelity_parts(sign_cohort, (2, 6))


@pytest.mark.slow
def test_the_fidelity_check_passes_the_stand_alone_estimator_where_short_training_separates_the_nets(planted_check):
    from neonas.training.fidelity_estimators import standalone_check

    cfg, fid, _, reference, scores, _ = planted_check
    c = standalone_check(reference, scores, cfg, fid)
    assert [r["rung"] for r in c["rungs"]] == [2, 6] and c["passed"], c["verdict"]
    top = c["rungs"][-1]
    assert top["reference_ranks"] and len(top["tau_per_seed"]) == 2 and min(top["tau_per_seed"]) > 0
    assert top["tau"] >= fid.ratio * top["split_half"] and c["top_quarter"] >= 0.5
    assert c["verdict"].startswith("Yes:") and "rung 2: tau" in c["verdict"] and "top quarter" in c["verdict"]


@pytest.mark.slow
def test_the_stand_alone_estimate_is_not_the_reference_and_fails_untrained(planted_check):
    """Its trainings seed themselves as a search's children do, never with the reference's seeds; untrained nets
    (0 epochs) do not pass."""
    from neonas.engine.registry import implementation
    from neonas.engine.reward import metric
    from neonas.torchutil import seed_everything
    from neonas.training.evaluate import make_model, predict
    from neonas.training.fidelity_estimators import REFERENCE_SEED, standalone_check

    cfg, fid, panel, reference, _, (tr, va) = planted_check
    seed_of = implementation("estimator", "standalone").seed_of
    seeds = {seed_of(s, arch_hash(a), r) for a in panel for s in fid.estimator_seeds for r in cfg.standalone.rungs}
    assert len(seeds) == len(panel) * 2 * 2 and not seeds & {REFERENCE_SEED + s for s in range(4)}
    untrained = {}
    for k, a in enumerate(panel):
        for s in fid.estimator_seeds:
            seed_everything(seed_of(s, arch_hash(a), 0))
            model = make_model(a, to_dict(SPACE), tr.n_channels, tr.n_samples, tr.n_classes, tr.sfreq)
            pred = predict(model, va.x, torch.device("cpu")).argmax(1)
            for r in cfg.standalone.rungs:
                untrained[(k, s, r)] = metric(va.y, pred, "kappa", va.n_classes)
    c = standalone_check(reference, untrained, cfg, fid)
    assert c["rungs"][-1]["reference_ranks"] and not c["passed"], c["verdict"]
    assert c["verdict"].startswith("No:") and "standalone.rungs" in c["verdict"]


@pytest.mark.slow
def test_the_fidelity_check_of_the_stand_alone_estimator_cannot_pass_on_shuffled_labels(sign_cohort, tmp_path,  # noqa: F811
                                                                                          one_torch_thread):
    from neonas.training.fidelity_estimators import standalone_check

    shuffled = shuffled_copy(sign_cohort, tmp_path)
    cfg, fid, _, reference, scores, _ = fidelity_parts(shuffled, (2,))
    c = standalone_check(reference, scores, cfg, fid)
    assert not c["passed"], c["verdict"]
