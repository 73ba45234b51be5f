"""The pure functions behind `neonas aggregate`: layer geometry and offsets, scalp distances, uniform coverage,
and the statistics (Kendall tau, paired t, epoch windows, rolling quantiles) on known numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neonas.study import archstats
from neonas.study.stats import epoch_windows, kendall, paired_test, rolling_quantiles
from studyfixture import BEST, FANCY, LOCAL, PLAIN, SPACE, conv, pool

# ----------------------------------------------------------------------------- single layers and geometry


def test_extent_and_offsets_of_single_layers():
    assert archstats.spatial_extent(2, 4) == 5  # (k-1)*d + 1
    assert archstats.spatial_extent(1, 1) == 1
    assert archstats.spatial_extent(3, 2) == 5
    assert archstats.layer_offsets(2, 4) == {4}
    assert archstats.layer_offsets(3, 2) == {2, 4}
    assert archstats.layer_offsets(1, 1) == set()
    assert archstats.time_extent(5, 1) == 5 and archstats.time_extent(3, 2) == 5


def test_planted_offset_coverage_single_and_stacked():
    assert archstats.covers_offset(BEST, 4)
    assert not archstats.covers_offset(LOCAL, 4)  # spans 2 with dilations 1 and 2: offsets 1 and 2
    assert not archstats.covers_offset(LOCAL, 4, stacked=True)  # field {0,1,2,3}: differences up to 3
    two_by_two = {"layers": [conv(2, 2), conv(2, 2)]}
    assert not archstats.covers_offset(two_by_two, 4)
    assert archstats.covers_offset(two_by_two, 4, stacked=True)  # {0,2} + {0,2} = {0,2,4}
    assert archstats.stacked_offsets(two_by_two) == {2, 4}
    assert archstats.covers_offset(PLAIN, 4)  # span 3, dilation 2 covers {2, 4}


def test_scalp_distances_on_a_35_cm_head():
    # idealised 10-20 on a sphere of circumference 35 cm: arc = angle / 360 * 35
    assert archstats.scalp_distance_cm("Fp1", "Fp2") == pytest.approx(3.5)  # 36 degrees
    assert archstats.scalp_distance_cm("T3", "T4") == pytest.approx(17.5)  # half the circumference
    assert archstats.scalp_distance_cm("C3", "C4") == pytest.approx(8.75)  # over the vertex, 90 degrees
    assert archstats.scalp_distance_cm("Cz", "Cz") == 0.0
    assert archstats.scalp_distance_cm("T3", "T4", head_circumference_cm=30) == pytest.approx(15.0)
    # span 2, dilation 4 on the neonatal montage: pairs Fp1-Fp2, C3-C4, T3-T4, O1-O2, Fp2-Cz
    assert archstats.extent_cm(2, 4, archstats.NEONATAL_MONTAGE) == pytest.approx((3.5 + 8.75 + 17.5 + 3.5 + 8.75) / 5)
    assert archstats.extent_cm(1, 1, archstats.NEONATAL_MONTAGE) == 0.0
    assert math.isnan(archstats.extent_cm(2, 1, ["Fpz-Cz", "Pz-Oz"]))  # bipolar: no positions
    assert archstats.electrode_name("EEG Fp1-Ref") == "Fp1"
    assert archstats.electrode_name("EEG T7-REF") == "T3"
    assert archstats.electrode_name("Fpz-Cz") is None


def test_layer_rows_units():
    geom = archstats.Geometry(sfreq=64.0, step_samples=16)
    rows = archstats.layer_rows({"layers": [conv(2, 4, 5), pool("max"), conv(1, 1, 3)]}, geom)
    assert [r["layer"] for r in rows] == [0, 2]
    assert rows[0]["extent_el"] == 5 and rows[0]["time_extent_samples"] == 80
    assert rows[0]["time_extent_ms"] == pytest.approx(1250.0)  # 5 steps x 16 samples / 64 Hz
    assert rows[1]["time_extent_ms"] == pytest.approx(750.0)
    assert math.isnan(archstats.layer_rows(BEST, archstats.Geometry())[0]["time_extent_ms"])  # unknown sfreq


def test_arch_row_counts_skips():
    row = archstats.arch_row(FANCY, planted_offset=4)
    assert row["n_layers"] == 4 and row["n_conv"] == 3 and row["n_skips"] == 6
    assert row["skip_density"] == 1.0  # every possible skip (4*3/2)
    assert row["covers_planted"] is False and row["covers_planted_stacked"] is True  # {0,1,2}+{0,2}
    assert archstats.op_counts(FANCY) == {"conv": 3, "avgpool": 1}


def test_uniform_coverage_is_exact_on_a_tiny_space():
    space = {**SPACE, "n_layers": 2, "spans": [1, 2], "dilations": [4], "time_kernels": [3], "pools": []}
    # ops: span 1, span 2/dilation 4 -> each layer covers offset 4 with probability 1/2
    assert archstats.uniform_coverage(space, 4) == pytest.approx((0.75, 0.75))
    # offset 8 only by stacking two span-2/dilation-4 layers: probability 1/4
    assert archstats.uniform_coverage(space, 8) == pytest.approx((0.0, 0.25))
    single, _ = archstats.uniform_coverage(SPACE, 4)
    assert single == pytest.approx(1 - (14 / 23) ** 4)  # 9 of the 23 default ops cover offset 4


# ----------------------------------------------------------------------------- statistics


def test_kendall_on_known_rankings():
    same = kendall([0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8])
    assert same["tau"] == pytest.approx(1.0) and same["n"] == 4
    assert same["p"] == pytest.approx(2 / 24)  # exact: only 1 of 24 orders is as extreme, two-sided
    assert kendall([1, 2, 3, 4], [4, 3, 2, 1])["tau"] == pytest.approx(-1.0)
    assert kendall([1, 2, 3], [1, 3, 2])["tau"] == pytest.approx(1 / 3)  # 2 concordant, 1 discordant
    assert "n/a" in kendall([0.5], [0.7])["note"] and math.isnan(kendall([0.5], [0.7])["tau"])
    assert "constant" in kendall([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])["note"]


def test_paired_t_on_known_numbers():
    """Clustered by fold: 2 seeds per fold (+-0.1 around the fold's difference) average to fold means 1..5, and
    the test is the one-sample t of those 5 means (df 4), not of the 10 cells (df 9)."""
    from scipy import stats

    a = {(s, f): f + 1 + (0.1 if s else -0.1) for s in range(2) for f in range(5)}
    res = paired_test(a, dict.fromkeys(a, 0.0))
    assert res["n"] == 5 and res["n_cells"] == 10 and res["mean_diff"] == pytest.approx(3.0)
    assert res["test"] == "paired t over fold means (two-sided)"
    ref = stats.ttest_1samp([1.0, 2.0, 3.0, 4.0, 5.0], 0.0)  # the paired t-test is a one-sample t of a - b
    assert res["statistic"] == pytest.approx(ref.statistic) and res["p"] == pytest.approx(ref.pvalue)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx(tuple(ref.confidence_interval()))
    assert res["p"] > stats.ttest_1samp(list(a.values()), 0.0).pvalue  # the cells' n would overstate it
    assert paired_test({f: float(f + 1) for f in range(5)}, dict.fromkeys(range(5), 0.0))["p"] == pytest.approx(
        ref.pvalue)  # plain keys are folds
    one = paired_test({0: 0.8}, {0: 0.7, 1: 0.6})  # only key 0 is paired
    assert one["n"] == 1 and math.isnan(one["p"]) and one["note"].startswith("n/a")
    tie = paired_test({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.6})
    assert tie["p"] == 1.0 and "zero" in tie["note"]


def test_windows_and_rolling_quantiles():
    index, labels = epoch_windows(np.arange(10), 5)
    assert labels == ["0-1", "2-3", "4-5", "6-7", "8-9"] and list(index) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert epoch_windows(np.arange(8), 5)[1] == ["0-1", "2", "3-4", "5", "6-7"]
    q = rolling_quantiles(np.array([0, 0, 1, 1, 2]), np.array([1.0, 3.0, 5.0, 7.0, 9.0]), width=3)
    # epoch 0 pools epochs 0-1: values 1,3,5,7
    assert q.iloc[0].to_dict() == {"epoch": 0, "n": 4, "q25": 2.5, "median": 4.0, "q75": 5.5}
    assert q.iloc[2]["median"] == 7.0  # epoch 2 pools epochs 1-2: 5,7,9
