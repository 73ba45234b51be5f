"""Power of neonas's comparisons (neonas.study.power) and the calibration of its verdicts: simulated studies
with planted arm differences (bench/power_calibration.py's model: fold difficulty shared by both arms, paired
SD 0.19) judged by the product's own test (neonas.study.stats.paired_test, what aggregate calls). The checks
can fail: an unpaired Welch test on the same data, and a z-interval at 2 pairs, fail them."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neonas.cli import main
from neonas.errors import NeonasError
from neonas.study import power
from neonas.study.stats import paired_test

REPO = Path(__file__).resolve().parents[1]
SIMS = 2000
SD = power.DEFAULT_SD
# Monte Carlo tolerance on a rate near 5 % with SIMS studies: 3 binomial SEs (a correct test fails this < 0.2 %)
FPR_MAX = 0.05 + 3 * math.sqrt(0.05 * 0.95 / SIMS)


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name.replace(".py", "_bench"), REPO / "bench" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sim():
    return _bench("power_calibration.py")


# ----------------------------------------------------------------------------- the numbers


def test_mdd_and_pairs_needed_are_the_paired_t_tests():
    """n = 40 pairs at SD 0.19 (the DREAMS table): MDD 0.086; Δκ = 0.05 needs 116 pairs, and 115 are not enough.
    At 3 pairs the t-based MDD is far above a z approximation's (which would promise 0.31): no z in here."""
    assert power.mdd(40, SD) == pytest.approx(0.0863, abs=5e-4)
    assert power.power(40, power.mdd(40, SD), SD) == pytest.approx(0.80, abs=1e-6)
    assert power.pairs_needed(0.05, SD) == 116
    assert power.power(115, 0.05, SD) < 0.80 <= power.power(116, 0.05, SD)
    z = (1.959964 + 0.841621) * SD / math.sqrt(3)
    assert power.mdd(3, SD) > 1.9 * z
    assert power.mdd(2000, SD) == pytest.approx((1.959964 + 0.841621) * SD / math.sqrt(2000), rel=2e-3)
    assert math.isnan(power.mdd(1, SD)) and power.mdd(10, 0.0) == 0.0
    with pytest.raises(ValueError):
        power.pairs_needed(0.0, SD)


def test_paired_test_on_known_numbers():
    d = np.array([0.1, 0.3, -0.1, 0.2, 0.0])
    res = paired_test({k: float(v) for k, v in enumerate(d)}, {k: 0.0 for k in range(5)}, "kappa")
    t = d.mean() / (d.std(ddof=1) / math.sqrt(5))
    assert res["statistic"] == pytest.approx(t) and res["p"] == pytest.approx(0.2302, abs=1e-4)  # t = sqrt 2, 4 df
    half = 2.776445 * d.std(ddof=1) / math.sqrt(5)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert res["mdd"] == pytest.approx(power.mdd(5, d.std(ddof=1))) and res["mdd_source"] == "this study"
    two = paired_test({0: 0.5, 1: 0.7}, {0: 0.4, 1: 0.5}, "kappa")  # 2 pairs: the default SD stands in
    assert two["mdd_sd"] == SD and two["mdd"] == pytest.approx(power.mdd(2, SD))
    assert "n/a" in paired_test({0: 0.5}, {0: 0.4}, "kappa")["note"]
    assert paired_test({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.6})["p"] == 1.0


# ----------------------------------------------------------------------------- calibration by simulation


@pytest.mark.parametrize("seeds,folds", [(1, 2), (2, 3), (5, 8)])
def test_false_positive_rate_at_no_difference_is_at_most_5_percent(sim, seeds, folds):
    a, b = sim.simulate(np.random.default_rng(seeds * 100 + folds), SIMS, seeds, folds, 0.0)
    assert sim.neonas_declares(a, b).mean() <= FPR_MAX


def test_a_z_interval_at_two_pairs_fails_the_check_that_neonas_passes(sim):
    """With 2 pairs the sample SD has 1 degree of freedom: a normal quantile declares about 30 % of
    no-difference studies different. The same simulated studies, neonas's test: at most 5 %."""
    a, b = sim.simulate(np.random.default_rng(7), SIMS, 1, 2, 0.0)
    assert sim.z_declares(a, b).mean() > 0.2 > FPR_MAX >= sim.neonas_declares(a, b).mean()


def _plan_mdd(seeds: int, folds: int) -> float:
    """The MDD `neonas plan --power` prints for NAS vs random search (power.plan_report, what plan calls with the
    study's folds; test_plan_power_prints_the_mdd_of_every_comparison runs the command itself)."""
    cfg = {"seeds": list(range(seeds)), "arms": {"nas": True, "random": True}, "rewards": [{"name": "identity"}]}
    out = power.plan_report(cfg, folds)
    assert f"{seeds} seeds × {folds} folds = {seeds * folds} pairs" in out
    return float(re.search(r"^NAS identity vs random search +[\d.]+ +([\d.]+)", out, re.M).group(1))


@pytest.mark.parametrize("seeds,folds", [(2, 3), (5, 8)])
def test_power_at_the_mdd_plan_states_is_80_percent(sim, seeds, folds):
    """Studies with the difference plan says the design detects: neonas declares 70-90 % of them different;
    ignoring the pairing (Welch, the fold's difficulty left in the noise) clearly does not."""
    m = _plan_mdd(seeds, folds)
    assert m == pytest.approx(power.mdd(seeds * folds, SD), abs=5e-4)
    a, b = sim.simulate(np.random.default_rng(seeds + folds), SIMS, seeds, folds, m)
    paired = sim.neonas_declares(a, b).mean()
    assert 0.70 <= paired <= 0.90
    assert sim.welch_declares(a, b).mean() < paired - 0.15


@pytest.mark.parametrize("delta", [0.05, 0.10])
def test_planted_differences_are_found_as_often_as_predicted(sim, delta):
    """DREAMS' design (5 seeds x 8 folds): the share declared different matches the noncentral t's power
    within 4 Monte Carlo SEs."""
    n, sims = 40, 1000
    a, b = sim.simulate(np.random.default_rng(int(delta * 1000)), sims, 5, 8, delta)
    expected = power.power(n, delta, SD)
    assert abs(sim.neonas_declares(a, b).mean() - expected) <= 4 * math.sqrt(expected * (1 - expected) / sims)


def test_the_aggregate_calls_the_calibrated_test(sim):
    """aggregate's paired table (results.paired_table) pairs the same seed x fold cells and gives the p of
    paired_test, so the calibration above is the calibration of the report's verdicts."""
    from neonas.study.checks import indistinguishable
    from neonas.study.results import paired_table

    a, b = sim.simulate(np.random.default_rng(3), 1, 3, 4, 0.10)
    rows = [{"arm": arm, "setting": setting, "seed": s, "fold": f, "rank": 0, "accuracy": 0.8, "balanced_accuracy": 0.7,
             "kappa": float(x[0, s, f]), "macro_f1": 0.6}
            for arm, setting, x in (("nas", "identity", a), ("random", "uniform", b)) for s in range(3) for f in range(4)]
    best = pd.DataFrame(rows)
    table = paired_table(best, [("nas", "identity"), ("random", "uniform")])
    row = table[table["metric"] == "kappa"].iloc[0]
    direct = paired_test(sim.cells(a[0]), sim.cells(b[0]), "kappa")
    assert row["n"] == 12 and row["p"] == pytest.approx(direct["p"]) and row["mdd"] == pytest.approx(direct["mdd"])
    verdict = indistinguishable(table, None)[0]
    assert (verdict["status"] == "ok") == (direct["p"] < 0.05)


def test_an_arm_by_fold_interaction_is_flagged():
    """Cells of one fold are independent only when the difference does not vary between folds: a planted
    interaction gets the note, a plain one does not."""
    rng = np.random.default_rng(0)
    keys = [(s, f) for s in range(5) for f in range(8)]
    plain = {k: float(rng.normal(0, 0.02)) for k in keys}
    varies = {(s, f): float(rng.normal(0.3 * (f % 2), 0.02)) for s, f in keys}
    zero = dict.fromkeys(keys, 0.0)
    assert "varies between folds" in paired_test(varies, zero)["note"]
    assert paired_test(plain, zero)["note"] == ""


# ----------------------------------------------------------------------------- plan and the summary


def test_plan_power_prints_the_mdd_of_every_comparison(capsys, monkeypatch):
    """The issue's done-when: the thesis config on 30 infants, 10 seeds x 10 folds, default SD stated."""
    monkeypatch.chdir(REPO)
    assert main(["plan", "--configfile", "config/thesis.yaml", "--infants", "30", "--power"]) == 0
    out = capsys.readouterr().out
    assert "10 seeds × 10 folds = 100 pairs" in out and "default SD 0.19" in out
    for what in ("NAS vs random search (19 comparisons)", "NAS vs hand-designed (19 comparisons)",
                 "random search vs hand-designed", "NAS vs NAS (reward settings) (171 comparisons)"):
        assert re.search(rf"^{re.escape(what)} +0\.190 +0\.054 +116 \(12 seeds × 10 folds\)", out, re.M), what


def test_plan_power_from_a_pilot_takes_its_sd(tmp_path, capsys, monkeypatch):
    """--from results/<study>: the SD of the pilot's paired kappa differences per seed x fold, per comparison."""
    rng = np.random.default_rng(1)
    rows = []
    for s in range(3):
        for f in range(4):
            base = rng.normal(0.4, 0.1)
            for arm, setting, noise in (("nas", "identity", 0.3), ("random", "uniform", 0.0),
                                        ("handcrafted", "reference", 0.0)):
                rows.append({"arm": arm, "setting": setting, "seed": s, "fold": f, "rank": 0,
                             "kappa": base + rng.normal(0, noise) if noise else base})
    agg = tmp_path / "results" / "pilot" / "aggregate"
    agg.mkdir(parents=True)
    res = pd.DataFrame(rows)
    res.to_csv(agg / "results.csv", index=False)
    nas = res[res["arm"] == "nas"]["kappa"].to_numpy() - res[res["arm"] == "random"]["kappa"].to_numpy()
    monkeypatch.chdir(REPO)
    assert main(["plan", "--configfile", "config/thesis.yaml", "--infants", "30", "--power",
                 "--from", str(tmp_path / "results" / "pilot"), "--delta", "0.1"]) == 0
    out = capsys.readouterr().out
    assert f"pilot {agg / 'results.csv'}" in out and "pairs for Δκ = 0.1" in out
    for what in (r"NAS identity vs random search", r"NAS vs random search \(18 comparisons\)"):  # its own, pooled
        line = re.search(rf"^{what} +([\d.]+) .*\[SD: (.*)\]$", out, re.M)
        assert float(line.group(1)) == pytest.approx(nas.std(ddof=1), abs=1e-3), what
    assert re.search(r"^random search vs hand-designed +0\.000 ", out, re.M)  # the same kappa in every cell
    with pytest.raises(NeonasError, match="no results.csv"):
        power.pilot_sds(tmp_path)


def test_the_summary_says_what_a_cannot_tell_could_have_detected():
    tests = pd.DataFrame([{"a_arm": "nas", "a_setting": "x", "b_arm": b, "b_setting": "s", "metric": "kappa",
                           "n": 40, "mdd": power.mdd(40, SD), "mdd_sd": SD, "mdd_source": "this study"}
                          for b in ("random", "handcrafted")])
    note = power.verdict_note("comparison", "No evidence of a difference (p >= 0.05 ...): ...", tests)
    assert note.startswith("This study could detect Δκ ≥ 0.09 (80 % power") and "n = 40 seed × fold pairs" in note
    assert "Δκ = 0.05 needs 116 seed × fold pairs" in note
    assert power.verdict_note("comparison", "Yes, in every comparison: ...", tests) == ""
    assert power.verdict_note("reward", "Cannot tell: ...", tests) == ""  # no NAS vs NAS comparison here
    same = tests.assign(mdd=0.0, mdd_sd=0.0)  # identical arms: no spread, no "needs" (and no crash)
    assert power.verdict_note("comparison", "No evidence ...", same).startswith("This study could detect Δκ ≥ 0.00")
    one = tests.assign(n=1, mdd=math.nan, mdd_sd=math.nan, mdd_source="")
    assert power.verdict_note("comparison", "Cannot tell (too few ...)", one).startswith(
        "With fewer than 2 seed × fold pairs no test is possible: Δκ = 0.05 needs 116")


# ----------------------------------------------------------------------------- DREAMS bench


def test_dreams_table_prints_the_mdd_of_each_paired_comparison():
    """bench/dreams_loso.py's printing helper on a small fake input (the bench itself takes 45 min)."""
    dreams = _bench("dreams_loso.py")
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(2):
        for fold in range(3):
            r = {"fold": fold, "seed": seed, **{arm: float(rng.normal(0.3, 0.1)) for arm in dreams.ARMS}}
            for arm in ("nas", "random"):
                r |= {f"supernet_{arm}": float(rng.random()), f"supernet_{arm}+rr": 0.5, f"hash_{arm}": "a", f"hash_{arm}+rr": "b",
                      f"rerank_val_{arm}+rr": float(rng.random()), f"rerank_seconds_{arm}": 10.0, f"rerank_child_epochs_{arm}": 20,
                      f"seconds_search_{arm}": 100.0}
            rows.append(r)
    text = dreams.table(rows, "3 folds x 2 seeds")
    assert "| paired difference | mean Δκ | 95 % CI | MDD (80 %) | better in |" in text
    d = np.array([r["nas"] - r["random"] for r in rows])
    assert f"| nas − random | {d.mean():+.3f} |" in text and f"{power.mdd(6, d.std(ddof=1)):.3f}" in text
    assert "optimism" in text
