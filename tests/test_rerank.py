"""Re-ranking derive's candidates by short stand-alone training (successive halving, neonas.training.rerank).

The positive control: on 2 channels whose stage is the SIGN between them (channel 1 = +channel 0 in one
stage, -channel 0 in the other), a net that never mixes channels (the stem, span-1 convs and pooling do
not) cannot beat chance, while a span-2 conv can. That net is planted LAST by supernet score; re-ranking
must put it first."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from neonas import NEONATAL_STAGES
from neonas.cli import main
from neonas.engine.space import SpaceConfig, arch_hash
from neonas.store.h5io import Recording, write_recording
from neonas.store.splits import write_folds
from neonas.training.rerank import RerankConfig, planned_child_epochs, rerank
from neonas.training.retrain import RetrainConfig

SPACE = SpaceConfig(n_layers=2, filters=4, spans=[1, 2], dilations=[1], time_kernels=[3], stem_stride=2, stem_pool=2,
                    skips=False)
SPAN1 = {"op": "conv", "span": 1, "dilation": 1, "time_kernel": 3, "skips": []}
SPAN2 = {"op": "conv", "span": 2, "dilation": 1, "time_kernel": 3, "skips": []}
MAX, AVG = ({"op": "pool", "kind": k, "skips": []} for k in ("max", "avg"))
BLIND = [[SPAN1, MAX], [AVG, MAX], [SPAN1, SPAN1], [MAX, SPAN1]]  # never mix the two channels
GOOD = [SPAN2, MAX]
SMALL_BATCHES = RetrainConfig(batch_size=16)  # 200 training epochs: 13 steps per epoch


@pytest.fixture(scope="module")
def sign_cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sign")
    paths = []
    for i in range(4):
        rng = np.random.default_rng(100 + i)
        n, t = 100, np.arange(128) / 32.0
        y = rng.integers(0, 2, n)
        x0 = np.sin(2 * np.pi * rng.uniform(2, 6, (n, 1)) * t + rng.uniform(0, 6.3, (n, 1)))
        x0 += rng.normal(0, 0.3, x0.shape)
        x1 = np.where(y[:, None] == 0, x0, -x0) + rng.normal(0, 0.3, x0.shape)
        rec = Recording(f"inf{i}", np.stack([x0, x1], 1).astype(np.float32), y.astype(np.int8), np.arange(n) * 4.0,
                        np.zeros(n, np.uint8), 32.0, ["a", "b"], list(NEONATAL_STAGES), 4.0)
        write_recording(root / f"inf{i}.h5", rec)
        paths.append(str(root / f"inf{i}.h5"))
    write_folds(paths, root / "folds.json", "loo", 4, 1, 0)
    return root


def planted_doc(root: Path) -> dict:
    """A derived.json whose supernet scores rank the blind nets first and the one good net last."""
    archs = [{"layers": layers} for layers in [*BLIND, GOOD]]
    sampled = [{"hash": arch_hash(a), "arch": a, "supernet_metric": 0.9 - 0.1 * i, "constant": False}
               for i, a in enumerate(archs)]
    return {"run": str(root), "metric_name": "kappa", "n_sampled": len(sampled), "sampled": sampled,
            "top": [{"rank": 0, **sampled[0]}], "sampler": "random", "seed": 0, "space": asdict(SPACE),
            "folds": str(root / "folds.json"), "fold": 0}


def test_rerank_finds_the_net_the_supernet_ranked_last_without_reading_test_infants(sign_cohort, one_torch_thread):
    doc = planted_doc(sign_cohort)
    folds = json.loads((sign_cohort / "folds.json").read_text())
    test_file = Path(folds["files"][folds["folds"][0]["test"][0]])
    moved = test_file.with_suffix(".away")
    test_file.rename(moved)  # a read of the test infant would fail
    try:
        cfg = RerankConfig("halving", candidates=5, epochs=3, eta=4)
        out = rerank(doc, 1, cfg, seed=0, train_cfg=SMALL_BATCHES)
        again = rerank(doc, 1, cfg, seed=0, train_cfg=SMALL_BATCHES)
    finally:
        moved.rename(test_file)
    good = arch_hash({"layers": GOOD})
    assert [t["hash"] for t in out["top"]] == [good] and out["top"][0]["rank"] == 0
    assert out["top_supernet"] == doc["top"]  # the supernet's own choice is kept beside it
    r = out["rerank"]
    assert [rd["epochs"] for rd in r["rounds"]] == [3, 6]  # 5 candidates -> 2 -> 1, epochs doubling
    assert [len(rd["candidates"]) for rd in r["rounds"]] == [5, 2]
    assert r["child_epochs"] == 5 * 3 + 2 * 6 == planned_child_epochs(cfg, 5, 1) and r["seconds"] > 0
    first = {c["hash"]: c["score"] for c in r["rounds"][0]["candidates"]}
    assert first[good] > 0.5 and max(v for h, v in first.items() if h != good) < 0.3  # chance for the blind nets
    last = {c["hash"]: c["score"] for c in r["rounds"][-1]["candidates"]}
    assert out["top"][0]["rerank_metric"] == last[good] == max(last.values())
    # deterministic: the same seed gives the same scores in every round
    strip = [[(c["hash"], c["score"]) for c in rd["candidates"]] for rd in r["rounds"]]
    assert strip == [[(c["hash"], c["score"]) for c in rd["candidates"]] for rd in again["rerank"]["rounds"]]


def test_rerank_keeps_top_k_and_checks_its_options(sign_cohort, one_torch_thread, tmp_path, capsys):
    doc = planted_doc(sign_cohort)
    out = rerank(doc, 2, RerankConfig("halving", candidates=3, epochs=1, eta=2), seed=1,
                 train_cfg=SMALL_BATCHES)
    assert len(out["top"]) == 2 and [t["rank"] for t in out["top"]] == [0, 1]
    assert [len(rd["candidates"]) for rd in out["rerank"]["rounds"]] == [3]  # 3 -> 2 = top_k: one round
    scores = [t["rerank_metric"] for t in out["top"]]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(ValueError, match="eta >= 2"):
        RerankConfig("halving", eta=1)
    assert main(["derive", "--run", str(tmp_path), "--rerank", "halving", "--rerank-eta", "1",
                 "--out", str(tmp_path / "d.json")]) == 2
    assert "--rerank options" in capsys.readouterr().err


def test_planned_cost_of_the_defaults():
    cfg = RerankConfig("halving")
    assert planned_child_epochs(cfg, 100, 1) == planned_child_epochs(cfg, 100, 3) == 16 * 5 + 4 * 10
    assert planned_child_epochs(cfg, 100, 4) == 16 * 5  # 16 -> 4 = top_k: ranked by round 1
    assert planned_child_epochs(cfg, 3, 1) == 3 * 5  # fewer distinct candidates than C
    assert planned_child_epochs(RerankConfig("halving", eta=2), 100, 1) == 16 * 5 + 8 * 10 + 4 * 20 + 2 * 40
    assert planned_child_epochs(RerankConfig(), 100, 1) == 0


def test_plan_counts_the_re_ranking_epochs():
    from neonas.study.plan import search_work

    search = {"training": {"epochs": 2}}
    plain = search_work(search, {"samples": 50, "top_k": 1}, 1000, 100)
    halving = search_work(search, {"samples": 50, "top_k": 1, "rerank": {"method": "halving"}}, 1000, 100)
    measured = search_work(search, {"samples": 50, "rerank_child_epochs": 7}, 1000, 100)
    assert halving - plain == pytest.approx(120 * (measured - plain) / 7) and halving > plain


def test_a_study_reranks_with_its_own_retrain_recipe(tmp_path):
    """Inside a study, derive's re-ranking trains with the study's `retrain:` section (config/retrain.yaml), not
    retrain's defaults (issue 23); without re-ranking the recipe is no input of the searches."""
    from wfutil import copy_workflow, snakemake

    wd = copy_workflow(tmp_path / "wf")
    target = "results/test/search/nas/sigmoid/seed0/fold0"
    on = snakemake(wd, "-n", "-p", target, "--configfile", "config/test.yaml", "--config",
                   "derive={samples: 4, top_k: 1, rerank: {method: halving}}").stdout
    derive = next(line for line in on.splitlines() if "neonas derive" in line)
    assert "--rerank halving" in derive and "--rerank-config results/test/config/retrain.yaml" in derive
    search = on[on.index("rule search:"):].split("\n\n")[0]
    assert "results/test/config/retrain.yaml" in search.split("input:", 1)[1].splitlines()[0]
    off = snakemake(wd, "-n", "-p", target, "--configfile", "config/test.yaml").stdout
    assert "--rerank none" in off and "--rerank-config" not in off
