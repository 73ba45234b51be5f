"""Power of neonas's comparisons (neonas.study.power) and the calibration of its verdicts: simulated studies
with planted arm differences (studies/power_calibration.py's model: fold difficulty shared by both arms, seed-to-seed
SD 0.19 of the paired difference, with and without an arm x fold interaction) judged by the product's own test
(neonas.study.stats.paired_test, what aggregate calls: a paired t over fold means). The checks can fail: counting
seed x fold cells as independent, an unpaired Welch test, and a z-interval at 2 folds fail them."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neonas.cli import main
from neonas.errors import NeonasError
from neonas.study import power, power_plan
from neonas.study.stats import paired_test
from scriptload import load_script

REPO = Path(__file__).resolve().parents[1]
SIMS = 2000
SD = power.DEFAULT_SD
FOLD_SD = 0.06  # the arm x fold interaction the simulations plant beside none
# Monte Carlo tolerance on a rate near 5 % with SIMS studies: 3 binomial SEs (a correct test fails this < 0.2 %)
FPR_MAX = 0.05 + 3 * math.sqrt(0.05 * 0.95 / SIMS)


def _bench(name: str):
    return load_script(f"studies/{name}", name.replace(".py", "_bench"))


@pytest.fixture(scope="module")
def sim():
    return _bench("power_calibration.py")


# ----------------------------------------------------------------------------- the numbers


def test_mdd_and_units_needed_are_the_t_tests():
    """n = 40 units at SD 0.19: MDD 0.086; Δκ = 0.05 needs 116 units, and 115 are not enough. At 3 units the
    t-based MDD is far above a z approximation's (which would promise 0.31): no z in here."""
    assert power.mdd(40, SD) == pytest.approx(0.0863, abs=5e-4)
    assert power.power(40, power.mdd(40, SD), SD) == pytest.approx(0.80, abs=1e-6)
    assert power.n_needed(0.05, SD) == 116
    assert power.power(115, 0.05, SD) < 0.80 <= power.power(116, 0.05, SD)
    z = (1.959964 + 0.841621) * SD / math.sqrt(3)
    assert power.mdd(3, SD) > 1.9 * z
    assert power.mdd(2000, SD) == pytest.approx((1.959964 + 0.841621) * SD / math.sqrt(2000), rel=2e-3)
    assert math.isnan(power.mdd(1, SD)) and power.mdd(10, 0.0) == 0.0
    with pytest.raises(ValueError):
        power.n_needed(0.0, SD)


def test_the_design_counts_folds_and_seeds_only_shrink_their_part():
    """DREAMS' 8 folds x 5 seeds: n = 8 fold means of SD sqrt(0.19^2 / 5), not 40 cells. More seeds cannot get
    below sigma_fold's floor: at 8 folds and sigma_fold 0.05 no number of seeds detects 0.05."""
    assert power.fold_mean_sd(SD, 0.0, 5) == pytest.approx(SD / math.sqrt(5))
    assert power.design_mdd(8, 5, SD) == pytest.approx(power.mdd(8, SD / math.sqrt(5)))
    assert power.design_mdd(8, 5, SD) > power.mdd(40, SD)  # the cells' n overstated what the study can see
    assert power.design_mdd(8, 5, SD, 0.05) == pytest.approx(power.mdd(8, math.sqrt(0.05 ** 2 + SD ** 2 / 5)))
    assert power.design_mdd(1, 5, SD) == pytest.approx(power.mdd(5, SD))  # one fold: its seeds, that split only
    assert math.isnan(power.design_mdd(1, 1, SD)) and math.isnan(power.design_mdd(0, 5, SD))
    f = power.folds_needed(0.05, 5, SD)
    assert power.design_mdd(f, 5, SD) <= 0.05 < power.design_mdd(f - 1, 5, SD)
    for folds, fold_sd in ((8, 0.0), (10, 0.02), (10, 0.05)):
        s = power.seeds_needed(0.05, folds, SD, fold_sd)
        assert power.design_mdd(folds, s, SD, fold_sd) <= 0.05 + 1e-12 < power.design_mdd(folds, s - 1, SD, fold_sd)
    assert power.mdd(8, 0.05) > 0.05 and power.seeds_needed(0.05, 8, SD, 0.05) is None
    assert power.seeds_needed(0.05, 1, SD) is None


def test_variance_components_recover_the_planted_sds():
    """The one-way ANOVA of the cells by fold: MS_within -> sigma_seed^2, (MS_between - MS_within) / seeds ->
    sigma_fold^2, on a large simulated pilot; exactly on a small hand-made one."""
    rng = np.random.default_rng(5)
    g = rng.normal(0, FOLD_SD, 400)
    big = {(s, f): float(g[f] + rng.normal(0, SD)) for s in range(5) for f in range(400)}
    noise = power.components(big)
    assert noise.sigma_seed == pytest.approx(SD, abs=0.005) and noise.sigma_fold == pytest.approx(FOLD_SD, abs=0.01)
    assert noise.fold_known and noise.folds == 400 and noise.seeds == 5
    small = {(0, 0): 0.1, (1, 0): 0.3, (0, 1): 0.5, (1, 1): 0.5}  # fold means 0.2, 0.5; within: 0.1 -> MS 0.01
    noise = power.components(small)
    assert noise.sigma_seed == pytest.approx(0.1) and noise.sd_means == pytest.approx(0.3 / math.sqrt(2))
    assert noise.sigma_fold == pytest.approx(math.sqrt((2 * 0.045 - 0.01) / 2))  # MS_between = 2 * 0.15^2 * 2
    assert power.components({(0, 0): 0.1, (0, 1): 0.2}).fold_known is False  # 1 seed per fold: not separable
    assert power.components({(0, 0): 0.1, (1, 0): 0.2}).folds == 1 and power.components({(0, 0): 0.1}) is None


def test_paired_test_averages_seeds_within_each_fold():
    """2 seeds x 5 folds: the t-test of the 5 fold means (df 4), its interval and MDD from their SD."""
    d = np.array([0.1, 0.3, -0.1, 0.2, 0.0])
    a = {(s, f): float(d[f] + (0.05 if s else -0.05)) for s in range(2) for f in range(5)}
    res = paired_test(a, dict.fromkeys(a, 0.0), "kappa")
    ref = stats.ttest_1samp(d, 0.0)
    assert res["n"] == 5 and res["n_cells"] == 10 and res["test"] == "paired t over fold means (two-sided)"
    assert res["statistic"] == pytest.approx(ref.statistic) and res["p"] == pytest.approx(0.2302, abs=1e-4)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx(tuple(ref.confidence_interval()))
    assert res["mdd"] == pytest.approx(power.mdd(5, d.std(ddof=1))) and res["mdd_source"] == "this study"
    assert res["sd_seed"] == pytest.approx(0.1 / math.sqrt(2))  # within-fold SD of +-0.05 (df 5)
    two = paired_test({(0, 0): 0.5, (1, 0): 0.6, (0, 1): 0.7, (1, 1): 0.9}, dict.fromkeys([(0, 0), (1, 0), (0, 1), (1, 1)], 0.4),
                      "kappa")  # 2 folds: the default SD of a fold mean of 2 seeds stands in
    assert two["n"] == 2 and two["mdd_sd"] == pytest.approx(SD / math.sqrt(2))
    assert two["mdd"] == pytest.approx(power.design_mdd(2, 2, SD))
    assert "n/a" in paired_test({(0, 0): 0.5}, {(0, 0): 0.4}, "kappa")["note"]
    assert paired_test({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.6})["p"] == 1.0  # plain keys are folds


def test_one_fold_is_tested_over_its_seeds_for_that_split_only():
    a = {(s, 0): v for s, v in enumerate([0.4, 0.5, 0.7])}
    res = paired_test(a, dict.fromkeys(a, 0.3), "kappa")
    ref = stats.ttest_1samp([0.1, 0.2, 0.4], 0.0)
    assert res["n"] == 1 and res["n_cells"] == 3 and res["p"] == pytest.approx(ref.pvalue)
    assert "holds for that split (its test infants) only, not for new infants" in res["note"]
    assert res["test"] == "paired t over seeds of one fold (two-sided)"


def test_an_exact_difference_is_a_difference_only_across_two_folds_or_more():
    """Zero SD: the same mean difference in every fold (2+) is p = 0; seeds of one fold that agree exactly show
    no spread, not a difference for new infants: no test."""
    folds = paired_test({(s, f): 0.2 + 0.01 * s for s in range(2) for f in range(3)},
                        {(s, f): 0.0 for s in range(2) for f in range(3)})
    assert folds["p"] == 0.0 and folds["note"] == "the same mean difference in every fold"
    one = paired_test({(s, 0): 0.2 for s in range(4)}, {(s, 0): 0.0 for s in range(4)})
    assert math.isnan(one["p"]) and "no spread" in one["note"] and "that split" in one["note"]


def test_an_arm_by_fold_interaction_widens_the_test_instead_of_shrinking_p():
    """8 folds whose difference varies between them (SD 0.1 around +0.06), 5 seeds that agree closely: the cells
    as independent pairs give p < 0.001; the fold means, the honest n, give p = 0.13."""
    z = np.array([1.2, -0.8, 0.3, -1.5, 0.9, 0.1, -0.6, 0.4])
    g = 0.06 + 0.1 * (z - z.mean()) / z.std(ddof=1)
    rng = np.random.default_rng(2)
    a = {(s, f): float(g[f] + rng.normal(0, 0.01)) for s in range(5) for f in range(8)}
    res = paired_test(a, dict.fromkeys(a, 0.0))
    fold_means = [np.mean([a[(s, f)] for s in range(5)]) for f in range(8)]
    assert res["p"] == pytest.approx(stats.ttest_1samp(fold_means, 0.0).pvalue) and res["p"] > 0.1
    assert stats.ttest_1samp(list(a.values()), 0.0).pvalue < 0.001
    assert res["sd_fold"] == pytest.approx(0.1, abs=0.01) and res["sd_seed"] == pytest.approx(0.01, abs=0.003)


# ----------------------------------------------------------------------------- calibration by simulation


@pytest.mark.parametrize("seeds,folds,fold_sd", [(1, 2, 0.0), (2, 3, 0.0), (5, 8, 0.0), (2, 3, FOLD_SD),
                                                 (5, 8, FOLD_SD)])
def test_false_positive_rate_at_no_difference_is_at_most_5_percent(sim, seeds, folds, fold_sd):
    a, b = sim.simulate(np.random.default_rng(seeds * 100 + folds), SIMS, seeds, folds, 0.0, SD, fold_sd)
    assert sim.neonas_declares(a, b).mean() <= FPR_MAX


@pytest.mark.parametrize("seeds,folds,floor", [(5, 8, FPR_MAX), (10, 10, 0.10)])
def test_counting_cells_as_independent_fails_the_check_that_neonas_passes(sim, seeds, folds, floor):
    """The negative control of the clustering: with an arm x fold interaction (SD 0.06) and no difference, a
    paired t over the seed x fold cells declares 8-14 % of the studies different; neonas, on the same ones, 5 %."""
    a, b = sim.simulate(np.random.default_rng(seeds + 11), SIMS, seeds, folds, 0.0, SD, FOLD_SD)
    assert sim.cell_declares(a, b).mean() > floor > FPR_MAX - 1e-12 >= sim.neonas_declares(a, b).mean() - 1e-12


def test_a_z_interval_at_two_folds_fails_the_check_that_neonas_passes(sim):
    """With 2 folds the SD of the fold means has 1 degree of freedom: a normal quantile declares about 30 % of
    no-difference studies different. The same simulated studies, neonas's test: at most 5 %."""
    a, b = sim.simulate(np.random.default_rng(7), SIMS, 1, 2, 0.0)
    assert sim.z_declares(a, b).mean() > 0.2 > FPR_MAX >= sim.neonas_declares(a, b).mean()


def _plan_mdd(seeds: int, folds: int, fold_sd: float | None = None) -> float:
    """The MDD `neonas plan --power [--sd-fold]` prints for NAS vs random search (power.plan_report, what plan
    calls with the study's folds; test_plan_power_prints_the_mdd_of_every_comparison runs the command itself)."""
    cfg = {"seeds": list(range(seeds)), "arms": {"nas": True, "random": True}, "rewards": [{"name": "identity"}]}
    out = power_plan.plan_report(cfg, folds, sds=(None, fold_sd))
    assert f"this study: {folds} folds × {seeds} seeds" in out
    return float(re.search(r"^NAS identity vs random search +[\d.]+ +[\d.]+ +[\d.]+ +([\d.]+)", out, re.M).group(1))


@pytest.mark.parametrize("seeds,folds,fold_sd", [(2, 3, None), (5, 8, None), (5, 8, FOLD_SD)])
def test_power_at_the_mdd_plan_states_is_80_percent(sim, seeds, folds, fold_sd):
    """Studies with the difference plan says the design detects (its SDs the simulation's true ones): neonas
    declares 70-90 % of them different. Without an interaction, at 8 folds, ignoring the pairing (Welch over the
    cells, the fold's difficulty left in the noise) clearly does not (at 3 folds, 2 df, Welch's 10 win; with the
    interaction Welch's cells understate the noise as much as the difficulty overstates it)."""
    m = _plan_mdd(seeds, folds, fold_sd)
    assert m == pytest.approx(power.design_mdd(folds, seeds, SD, fold_sd or 0.0), abs=5e-4)
    a, b = sim.simulate(np.random.default_rng(seeds + folds), SIMS, seeds, folds, m, SD, fold_sd or 0.0)
    paired = sim.neonas_declares(a, b).mean()
    assert 0.70 <= paired <= 0.90
    if folds >= 8 and not fold_sd:
        assert sim.welch_declares(a, b).mean() < paired - 0.15


@pytest.mark.parametrize("delta", [0.05, 0.10])
def test_planted_differences_are_found_as_often_as_predicted(sim, delta):
    """DREAMS' design (5 seeds x 8 folds): the share declared different matches the noncentral t's power over
    8 fold means within 4 Monte Carlo SEs."""
    sims = 1000
    a, b = sim.simulate(np.random.default_rng(int(delta * 1000)), sims, 5, 8, delta)
    expected = power.power(8, delta, power.fold_mean_sd(SD, 0.0, 5))
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
    assert row["n"] == 4 and row["n_cells"] == 12 and row["p"] == pytest.approx(direct["p"])
    assert row["mdd"] == pytest.approx(direct["mdd"])
    verdict = indistinguishable(table, None)[0]
    assert (verdict["status"] == "ok") == (direct["p"] < 0.05) and "n = 4 folds × 3 seeds" in verdict["message"]


# ----------------------------------------------------------------------------- plan and the summary


def test_plan_power_prints_the_mdd_of_every_comparison(capsys, monkeypatch):
    """The issue's done-when: the thesis config on 30 infants, 10 folds x 10 seeds, default SDs stated, and that
    sigma_fold = 0 makes the MDD a lower bound."""
    monkeypatch.chdir(REPO)
    assert main(["plan", "--configfile", "config/thesis.yaml", "--infants", "30", "--power"]) == 0
    out = capsys.readouterr().out
    assert "this study: 10 folds × 10 seeds" in out and "default σ_seed 0.19" in out and "lower bound" in out
    for what in ("NAS vs random search (19 comparisons)", "NAS vs hand-designed (19 comparisons)",
                 "random search vs hand-designed", "NAS vs NAS (reward settings) (171 comparisons)"):
        assert re.search(rf"^{re.escape(what)} +0\.190 +0\.000 +0\.060 +0\.060 +14 folds × 10 seeds \| 15$", out,
                         re.M), what
    assert "if the arms' difference varies between infants with SD 0.05, the MDD is 0.078 and Δκ = 0.05 needs 22 " \
           "folds at 10 seeds" in out
    assert main(["plan", "--configfile", "config/thesis.yaml", "--infants", "30", "--power", "--sd-fold", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "given: σ_seed 0.19 (default), σ_fold 0.05" in out and "more seeds alone cannot reach" not in out
    assert re.search(r"^random search vs hand-designed +0\.190 +0\.050 +0\.078 +0\.078 +22 folds × 10 seeds \| 1795$",
                     out, re.M)
    assert main(["plan", "--configfile", "config/thesis.yaml", "--infants", "30", "--power", "--sd-fold", "0.07"]) == 0
    assert "more seeds alone cannot reach Δκ = 0.05 at 10 folds" in capsys.readouterr().out  # mdd(10, 0.07) > 0.05


def _pilot(tmp_path: Path, seeds: int, folds: int) -> tuple[Path, dict]:
    """A pilot's results.csv: NAS differs from random search by a fold effect (SD 0.1) plus seed noise (SD 0.3);
    random search and hand-designed are the same in every cell."""
    rng = np.random.default_rng(1)
    rows, diffs = [], {}
    g = rng.normal(0, 0.1, folds)
    for s in range(seeds):
        for f in range(folds):
            base = rng.normal(0.4, 0.1)
            diffs[(s, f)] = g[f] + rng.normal(0, 0.3)
            for arm, setting, v in (("nas", "identity", base + diffs[(s, f)]), ("random", "uniform", base),
                                    ("handcrafted", "reference", base)):
                rows.append({"arm": arm, "setting": setting, "seed": s, "fold": f, "rank": 0, "kappa": v})
    agg = tmp_path / f"pilot{seeds}x{folds}" / "aggregate"
    agg.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(agg / "results.csv", index=False)
    return agg.parent, diffs


def test_plan_power_from_a_pilot_takes_both_sds(tmp_path, capsys, monkeypatch):
    """--from results/<study>: sigma_seed and sigma_fold of the pilot's paired kappa differences (one-way ANOVA by
    fold), per comparison, pooled for the comparisons it did not make."""
    pilot, diffs = _pilot(tmp_path, 3, 4)
    noise = power.components(diffs)
    monkeypatch.chdir(REPO)
    assert main(["plan", "--configfile", "config/thesis.yaml", "--infants", "30", "--power", "--from", str(pilot),
                 "--delta", "0.1"]) == 0
    out = capsys.readouterr().out
    assert f"pilot {pilot / 'aggregate' / 'results.csv'} (one-way ANOVA" in out and "Δκ = 0.1 at 10 seeds" in out
    for what in (r"NAS identity vs random search", r"NAS vs random search \(18 comparisons\)"):  # its own, pooled
        line = re.search(rf"^{what} +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) .*\[SD: (.*)\]$", out, re.M)
        assert float(line.group(1)) == pytest.approx(noise.sigma_seed, abs=1e-3), what
        assert float(line.group(2)) == pytest.approx(noise.sigma_fold, abs=1e-3), what
        assert float(line.group(4)) == pytest.approx(power.design_mdd(10, 10, noise.sigma_seed, noise.sigma_fold),
                                                     abs=1e-3)
    assert re.search(r"^random search vs hand-designed +0\.000 +0\.000 ", out, re.M)  # the same kappa in every cell
    one_seed, _ = _pilot(tmp_path, 1, 4)
    assert main(["plan", "--configfile", "config/thesis.yaml", "--infants", "30", "--power", "--from", str(one_seed)]) == 0
    assert "cannot separate σ_fold from σ_seed" in capsys.readouterr().out
    with pytest.raises(NeonasError, match="no results.csv"):
        power_plan.pilot_noise(tmp_path)
    with pytest.raises(NeonasError, match="use one"):
        power_plan.plan_report({"seeds": [0]}, 3, pilot, sds=(0.1, None))


def test_plan_from_a_pilot_with_the_same_seeds_uses_its_fold_means():
    """Same seeds per fold as the plan: the observed SD of the pilot's fold means, no model in between."""
    noise = power.components({(s, f): 0.1 * f + 0.05 * s for s in range(3) for f in range(4)})
    row = power_plan._plan_row(noise, 6, 3, 0.05)
    assert row["observed"] and row["sdm"] == pytest.approx(noise.sd_means)
    assert not power_plan._plan_row(noise, 6, 5, 0.05)["observed"]


def test_the_summary_says_what_a_cannot_tell_could_have_detected():
    sdm = power.fold_mean_sd(SD, 0.0, 5)
    tests = pd.DataFrame([{"a_arm": "nas", "a_setting": "x", "b_arm": b, "b_setting": "s", "metric": "kappa",
                           "n": 8, "n_cells": 40, "mdd": power.mdd(8, sdm), "mdd_sd": sdm, "mdd_source": "this study"}
                          for b in ("random", "handcrafted")])
    note = power.verdict_note("comparison", "No evidence of a difference (p >= 0.05 ...): ...", tests)
    assert note.startswith("This study could detect Δκ ≥ 0.10 (80 % power") and "n = 8 folds (test infants), 5 seeds" in note
    assert f"Δκ = 0.05 needs {power.folds_needed(0.05, 5, SD)} folds (test infants) at 5 seeds each" in note
    assert power.verdict_note("comparison", "Yes, in every comparison: ...", tests) == ""
    assert power.verdict_note("reward", "Cannot tell: ...", tests) == ""  # no NAS vs NAS comparison here
    same = tests.assign(mdd=0.0, mdd_sd=0.0)  # identical arms: no spread, no "needs" (and no crash)
    assert power.verdict_note("comparison", "No evidence ...", same).startswith("This study could detect Δκ ≥ 0.00")
    split = tests.assign(n=1, n_cells=5, mdd=power.mdd(5, SD), mdd_sd=SD)
    assert "for that split (its test infants) only, not for new infants" in power.verdict_note(
        "comparison", "No evidence ...", split)
    one = tests.assign(n=1, n_cells=1, mdd=math.nan, mdd_sd=math.nan, mdd_source="")
    assert power.verdict_note("comparison", "Cannot tell (too few ...)", one).startswith(
        "This study could detect no difference of any size: no test is possible with 1 fold(s) × 1 seed(s) (its MDD "
        "is unbounded). Δκ = 0.05 needs 116 folds (test infants) at 1 seed each")


# ----------------------------------------------------------------------------- DREAMS bench


def test_dreams_table_prints_the_mdd_of_each_paired_comparison():
    """studies/dreams_loso.py's printing helper on a small fake input (the bench itself takes 45 min): the paired
    differences are tested over the 3 folds' means, as aggregate does."""
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
    d = {(r["seed"], r["fold"]): r["nas"] - r["random"] for r in rows}
    means = [np.mean([d[(s, f)] for s in range(2)]) for f in range(3)]
    ci = stats.ttest_1samp(means, 0.0).confidence_interval()
    assert f"| nas − random | {np.mean(means):+.3f} | [{ci.low:+.3f}, {ci.high:+.3f}] | {power.mdd(3, np.std(means, ddof=1)):.3f} |" \
        in text
    assert "optimism" in text and "n = 3 folds × 2 seeds" in text
