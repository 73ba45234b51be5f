"""Sleep statistics of a hypnogram: a small neonatal one computed by hand, and YASA's sleep_statistics on the
same hypnograms where the stage sets overlap (adult W/N1/N2/N3/R exactly; neonatal W/IS/QS/AS as W/N1/N3/REM)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neonas.training.sleepstats import sleep_stats

NEONATAL = ["AS", "QS", "W", "IS"]
ADULT = ["W", "N1", "N2", "N3", "R"]


def test_small_neonatal_hypnogram_by_hand():
    stages = "W W AS AS IS QS QS QS W AS AS QS QS IS".split()
    flagged = np.zeros(len(stages), bool)
    flagged[[3, 9]] = True
    s = sleep_stats(stages, 30.0, NEONATAL, flagged)
    assert s["epochs"] == 14 and s["recording_min"] == 7.0
    assert {k: v["minutes"] for k, v in s["stages"].items()} == {"AS": 2.0, "QS": 2.5, "W": 1.5, "IS": 1.0}
    assert s["stages"]["AS"]["percent"] == pytest.approx(100 * 4 / 14)
    assert s["latency_min"] == {"AS": 1.0, "QS": 2.5, "W": 0.0, "IS": 2.0}
    assert s["flagged_epochs"] == 2 and s["flagged_share"] == pytest.approx(2 / 14)
    t = s["transitions"]
    assert (t["W"]["W"], t["W"]["AS"], t["AS"]["AS"], t["AS"]["IS"], t["IS"]["QS"], t["QS"]["QS"], t["QS"]["W"],
            t["AS"]["QS"], t["QS"]["IS"]) == (1, 2, 2, 1, 1, 3, 1, 1, 1)
    assert sum(sum(row.values()) for row in t.values()) == 13
    # sleep period epochs 2..13: 12 epochs, one W inside; sleep 11 epochs
    assert s["sleep"] == pytest.approx({"TIB": 7.0, "SPT": 6.0, "WASO": 0.5, "TST": 5.5, "SE": 100 * 5.5 / 7,
                                        "SME": 100 * 5.5 / 6, "SOL": 1.0})
    # AS (+IS) then QS twice: epochs 2-7 (3 min) and 9-12 (2 min)
    assert s["neonatal"] == {"as_qs_ratio": 0.8, "latency_qs_min": 2.5, "cycles": 2, "cycle_mean_min": 2.5,
                             "cycle_lengths_min": [3.0, 2.0]}
    assert "adult" not in s


def test_no_qs_and_no_sleep():
    s = sleep_stats(["W", "W", "AS"], 30.0, NEONATAL)
    assert s["neonatal"] == {"as_qs_ratio": None, "latency_qs_min": None, "cycles": 0, "cycle_mean_min": None,
                             "cycle_lengths_min": []}
    w = sleep_stats(["W", "W"], 30.0, NEONATAL)["sleep"]
    assert w == {"TIB": 1.0, "SPT": 0.0, "WASO": None, "TST": 0.0, "SE": 0.0, "SME": None, "SOL": None}


def _hypnogram(names: list[str], n: int, seed: int) -> list[str]:
    """Runs of random length and stage, wake at both ends (as a night is)."""
    rng = np.random.default_rng(seed)
    out = ["W"] * 6
    while len(out) < n - 4:
        out += [str(rng.choice(names))] * int(rng.integers(1, 12))
    return out[: n - 4] + ["W"] * 4


def _yasa(codes: list[int], epoch_s: float) -> dict:
    yasa = pytest.importorskip("yasa", reason="yasa is in the test extra (pyproject.toml)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the function form is deprecated in favour of a class
        out = yasa.sleep_statistics(np.array(codes), sf_hyp=1 / epoch_s)
    return {k: None if np.isnan(v) else v for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_adult_statistics_equal_yasa(seed):
    stages = _hypnogram(ADULT, 600, seed)
    ours = sleep_stats(stages, 30.0, ADULT)
    theirs = _yasa([ADULT.index(s) for s in stages], 30.0)  # W N1 N2 N3 R -> 0 1 2 3 4, YASA's codes
    mine = {**ours["sleep"], **ours["adult"]}
    assert set(mine) == set(theirs)
    assert mine == pytest.approx(theirs)


def test_neonatal_statistics_equal_yasa_where_the_stage_sets_overlap():
    stages = _hypnogram(NEONATAL, 360, 3)
    ours = sleep_stats(stages, 30.0, NEONATAL)
    code = {"W": 0, "IS": 1, "QS": 3, "AS": 4}  # as YASA's W, N1, N3, REM
    theirs = _yasa([code[s] for s in stages], 30.0)
    for key in ("TIB", "SPT", "WASO", "TST", "SE", "SME", "SOL"):
        assert ours["sleep"][key] == pytest.approx(theirs[key]), key
    assert ours["stages"]["AS"]["minutes"] == pytest.approx(theirs["REM"])
    assert ours["stages"]["QS"]["minutes"] == pytest.approx(theirs["N3"])
    assert ours["stages"]["IS"]["minutes"] == pytest.approx(theirs["N1"])
    assert ours["neonatal"]["latency_qs_min"] == pytest.approx(theirs["Lat_N3"])
    assert ours["latency_min"]["AS"] == pytest.approx(theirs["Lat_REM"])
    assert ours["neonatal"]["as_qs_ratio"] == pytest.approx(theirs["REM"] / theirs["N3"])
