"""The common yardstick (`neonas yardstick`) on a tiny synthetic study, and its tables' statistics on
hand-made numbers: seed-level paired differences with t-intervals, and identical policies giving a CI
that includes 0."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neonas.cli import main
from neonas.study.yardstick_tables import (
    YARDSTICK_COLUMNS,
    learned_verdict,
    paired,
    per_run,
    sanity_verdict,
    t_interval,
    top_share_mean,
    yardstick_tables,
)

CONFIG = {
    "space": {"n_layers": 2, "filters": 4, "spans": [1, 2], "dilations": [1, 4], "time_kernels": [3, 5],
              "stem_stride": 2, "stem_pool": 2},
    "controller": {"lstm_size": 16, "train_steps": 2, "num_aggregate": 2},
    "reward": {"name": "identity", "metric": "balanced_accuracy"},
    "training": {"epochs": 2, "batch_size": 32, "val_batch_size": 32},
}
M, K = 6, 2


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def study(tmp_path_factory, one_torch_thread) -> Path:
    """4 synthetic infants x 1 h (neonas synth -> preprocess -> folds), a random and a NAS search of 2 epochs
    each on fold 0 with seed 0, each derived with M samples and top-K, laid out as the workflow lays them out."""
    root = tmp_path_factory.mktemp("ystudy")
    assert main(["synth", "--out", str(root / "syn"), "--n-infants", "4", "--hours", "1", "--seed", "0"]) == 0
    h5 = []
    for i in (1, 2, 3, 4):
        out = root / "h5" / f"syn0{i}.h5"
        assert main(["preprocess", str(root / "syn" / f"syn0{i}.edf"), "--preset", "neonatal", "--out", str(out)]) == 0
        h5.append(str(out))
    assert main(["folds", *h5, "--scheme", "loo", "--out", str(root / "folds.json")]) == 0
    (root / "search.yaml").write_text(yaml.safe_dump(CONFIG))
    for arm, setting, sampler in (("random", "uniform", "random"), ("nas", "identity", "controller")):
        run = root / "search" / arm / setting / "seed0" / "fold0"
        assert main(["search", "--folds", str(root / "folds.json"), "--fold", "0", "--config", str(root / "search.yaml"),
                     "--set", f"sampler={sampler}", "--seed", "0", "--device", "cpu", "--out", str(run)]) == 0
        assert main(["derive", "--run", str(run), "--samples", str(M), "--top-k", str(K), "--seed", "0",
                     "--device", "cpu", "--out", str(run / "derived.json")]) == 0
    ys = root / "yardstick"
    assert main(["yardstick", "--reference", str(root / "search/random/uniform/seed0/fold0"),
                 "--runs", str(root / "search/nas/identity/seed0/fold0"), "--device", "cpu",
                 "--out", str(ys / "fold0.csv"), "--sanity", str(ys / "fold0_sanity.csv"),
                 "--curve", str(ys / "fold0_curve.csv")]) == 0
    return root


def test_yardstick_scores_every_arm_on_the_reference_supernet(study):
    table = rows(study / "yardstick" / "fold0.csv")
    assert list(table[0]) == YARDSTICK_COLUMNS
    by = {(r["arm"], r["setting"], r["source"]): [] for r in table}
    for r in table:
        by[(r["arm"], r["setting"], r["source"])].append(r)
        assert r["seed"] == "0" and r["fold"] == "0" and r["metric_name"] == "balanced_accuracy"
        assert r["constant"] in ("0", "1") and 0.0 <= float(r["metric"]) <= 1.0
    assert sorted(by) == [("nas", "identity", "policy"), ("nas", "identity", "top"),
                          ("random", "uniform", "policy"), ("random", "uniform", "top")]
    assert all(len(by[(a, s, "policy")]) == M for a, s in (("nas", "identity"), ("random", "uniform")))
    # the random arm's derive ranked its M uniform samples with the same weights and metric: its rank 0 is the best
    # of N = M uniform samples on the yardstick (derive never returns a constant net), and its derive scores are the
    # yardstick's scores
    ref_policy = [float(r["metric"]) for r in by[("random", "uniform", "policy")] if r["constant"] == "0"]
    ref_top = sorted(by[("random", "uniform", "top")], key=lambda r: int(r["rank"]))
    assert float(ref_top[0]["metric"]) == pytest.approx(max(ref_policy))

    derived = json.loads((study / "search/random/uniform/seed0/fold0/derived.json").read_text())
    assert [float(r["metric"]) for r in by[("random", "uniform", "policy")]] == pytest.approx(
        [d["supernet_metric"] for d in derived["sampled"]])
    # the NAS arm's samples are its own derive's, rescored on the random arm's weights
    nas_derived = json.loads((study / "search/nas/identity/seed0/fold0/derived.json").read_text())
    assert [r["arch_hash"] for r in by[("nas", "identity", "policy")]] == [d["hash"] for d in nas_derived["sampled"]]


def test_sanity_check_and_curve(study):
    sanity = rows(study / "yardstick" / "fold0_sanity.csv")
    assert {r["net"] for r in sanity} == {"pair", "adjacent", "single"}
    assert len(sanity) == 3 * len(CONFIG["space"]["time_kernels"])
    pair = [r for r in sanity if r["net"] == "pair"]
    assert all((r["span"], r["dilation"]) == ("2", "4") for r in pair)
    for r in sanity:
        recalls = [r[f"recall_{s}"] for s in ("AS", "QS", "W", "IS")]
        assert all(v == "nan" or 0.0 <= float(v) <= 1.0 for v in recalls)
        present = [float(v) for v in recalls if v != "nan"]
        assert float(r["balanced_accuracy"]) == pytest.approx(np.mean(present))
    curve = rows(study / "yardstick" / "fold0_curve.csv")
    assert sorted({(r["arm"], r["epoch"]) for r in curve}) == [("nas", "0"), ("nas", "1"), ("random", "0"),
                                                               ("random", "1")]
    assert all(int(r["n"]) == 4 for r in curve)  # train_steps x num_aggregate children per epoch
    # the aggregate tables read the files: one verdict per NAS setting and the sanity verdict
    tables, verdicts = yardstick_tables([str(study / "yardstick" / "fold0.csv")],
                                        [str(study / "yardstick" / "fold0_sanity.csv")])
    assert set(verdicts) == {"yardstick nas/identity", "sanity"}
    assert verdicts["yardstick nas/identity"].startswith("Cannot tell (fewer than 2 seeds)")
    p = tables["yardstick_paired"]
    assert set(p["n"]) == {1} and p["warning"].str.contains("n = 1 < 2").all()


def test_curve_subsample_scores_the_first_children_of_each_epoch(study, tmp_path):
    """--curve-children N: n = N per epoch, and each epoch's mean is that of its first N children."""
    from neonas.engine.yardstick import Yardstick

    out = tmp_path / "curve.csv"
    assert main(["yardstick", "--reference", str(study / "search/random/uniform/seed0/fold0"),
                 "--runs", str(study / "search/nas/identity/seed0/fold0"), "--device", "cpu",
                 "--out", str(tmp_path / "y.csv"), "--curve", str(out), "--curve-children", "3"]) == 0
    curve = rows(out)
    assert len(curve) == 4 and all(int(r["n"]) == 3 for r in curve)
    run = study / "search/nas/identity/seed0/fold0"
    children = pd.read_csv(run / "children.csv")
    ys = Yardstick(study / "search/random/uniform/seed0/fold0", device="cpu")
    for r in (r for r in curve if r["arm"] == "nas"):
        first = children[children["epoch"] == int(r["epoch"])]["arch"].iloc[:3]
        expect = np.mean([ys.score(json.loads(a))[0] for a in first])
        assert float(r["mean"]) == pytest.approx(expect)


def test_yardstick_refuses_a_non_uniform_reference_and_foreign_runs(study, tmp_path, capsys):
    nas = str(study / "search/nas/identity/seed0/fold0")
    assert main(["yardstick", "--reference", nas, "--device", "cpu", "--out", str(tmp_path / "y.csv")]) == 2
    assert "must come from a random-search run" in capsys.readouterr().err
    other = tmp_path / "nas" / "identity" / "seed1" / "fold0"
    assert main(["search", "--folds", str(study / "folds.json"), "--fold", "0", "--config", str(study / "search.yaml"),
                 "--set", "training.epochs=1", "--seed", "1", "--device", "cpu", "--out", str(other)]) == 0
    assert main(["yardstick", "--reference", str(study / "search/random/uniform/seed0/fold0"), "--runs", str(other),
                 "--device", "cpu", "--out", str(tmp_path / "y.csv")]) == 2
    err = capsys.readouterr().err
    assert "seed 1" in err and "reference supernet" in err
    assert not (tmp_path / "y.csv").exists()


# ----------------------------------------------------------------------------- tables on hand-made numbers

def frame(values: dict[tuple[str, str, int], tuple[list[float], list[float]]]) -> pd.DataFrame:
    """Yardstick rows from {(arm, setting, seed): (policy metrics, top metrics)}, fold 0."""
    out = []
    for (arm, setting, seed), (policy, top) in values.items():
        for source, vals in (("policy", policy), ("top", top)):
            for i, v in enumerate(vals):
                out.append({"arm": arm, "setting": setting, "seed": seed, "fold": 0, "source": source, "rank": i,
                            "arch_hash": f"h{i}", "arch": "{}", "metric_name": "balanced_accuracy", "metric": v,
                            "constant": 0})
    return pd.DataFrame(out, columns=YARDSTICK_COLUMNS)


def test_t_interval_on_hand_made_numbers():
    n, mean, sd, lo, hi, warning = t_interval([0.1, 0.2, 0.3])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2 df) x sd / sqrt(n)
    assert (n, warning) == (3, "")
    assert (mean, sd, lo, hi) == pytest.approx((0.2, 0.1, 0.2 - half, 0.2 + half))
    n, mean, sd, lo, hi, warning = t_interval([0.05])
    assert n == 1 and mean == 0.05 and math.isnan(lo) and "n = 1 < 2" in warning
    assert top_share_mean([0.1, 0.9, 0.5]) == 0.9  # 10 % of 3 -> the best one
    assert top_share_mean(np.arange(20) / 20) == pytest.approx((0.95 + 0.9) / 2)


def test_paired_differences_are_seed_level_against_uniform():
    # NAS beats uniform by 0.10, 0.12, 0.08 on the policy mean in seeds 0-2; top-10 % of 10 samples = the best
    vals = {}
    for seed, gain in zip((0, 1, 2), (0.10, 0.12, 0.08), strict=True):
        uni = [0.3 + 0.01 * i + 0.01 * seed for i in range(10)]
        vals[("random", "uniform", seed)] = (uni, [max(uni)])
        vals[("nas", "identity", seed)] = ([u + gain for u in uni], [max(uni) + gain])
    p = paired(per_run(frame(vals))).set_index("quantity")
    row = p.loc["policy_mean"]
    half = 4.302652729911275 * 0.02 / math.sqrt(3)
    assert row["n"] == 3 and row["seeds"] == "0 1 2"
    assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == pytest.approx((0.10, 0.10 - half, 0.10 + half))
    assert bool(row["excludes_zero"])
    assert p.loc["policy_top10", "mean_diff"] == pytest.approx(0.10)
    assert p.loc["top_best", "mean_diff"] == pytest.approx(0.10)
    assert p.loc["policy_best", "mean_diff"] == pytest.approx(0.10)
    assert p.loc["top_best", "note"].startswith("biased towards random") and p.loc["policy_mean", "note"] == ""
    verdict = learned_verdict(p.reset_index(), "nas", "identity")
    assert verdict.startswith("Yes: its final policy samples better architectures")


def test_identical_policies_give_a_ci_that_includes_zero():
    vals = {}
    rng = np.random.default_rng(0)
    for seed in range(4):
        uni = list(rng.uniform(0.2, 0.6, 10))
        vals[("random", "uniform", seed)] = (uni, [max(uni)])
        vals[("nas", "sigmoid", seed)] = (list(uni), [max(uni)])
    p = paired(per_run(frame(vals)))
    assert (p["mean_diff"] == 0).all() and (p["ci_low"] <= 0).all() and (p["ci_high"] >= 0).all()
    assert not p["excludes_zero"].any()
    assert learned_verdict(p, "nas", "sigmoid").startswith("No evidence")
    # noise around zero: no verdict of learning either
    for seed in range(4):
        uni = vals[("random", "uniform", seed)][0]
        vals[("nas", "sigmoid", seed)] = ([u + (0.01 if seed % 2 else -0.01) for u in uni], [max(uni)])
    assert learned_verdict(paired(per_run(frame(vals))), "nas", "sigmoid").startswith("No evidence")


def test_sanity_verdict():
    def sanity(gap: list[float]) -> pd.DataFrame:
        out = []
        for seed, g in enumerate(gap):
            for net, m in (("pair", 0.5 + g), ("adjacent", 0.5), ("single", 0.45)):
                out.append({"seed": seed, "fold": 0, "net": net, "metric_name": "balanced_accuracy", "metric": m,
                            "recall_IS": 0.1})
        return pd.DataFrame(out)

    assert sanity_verdict(sanity([0.10, 0.12, 0.09])).startswith("Yes")
    assert sanity_verdict(sanity([0.01, -0.02, 0.0])).startswith("No evidence")
    assert sanity_verdict(sanity([-0.10, -0.12, -0.09])).startswith("No: the shared weights score pair-mixing nets lower")
    assert sanity_verdict(sanity([0.1])).startswith("Cannot tell")
    assert sanity_verdict(sanity([0.1]).query("net != 'pair'")).startswith("Cannot tell")
