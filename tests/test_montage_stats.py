"""Architecture statistics that know the montage: spatial ones are left out (NaN, with a note) on 1-2 channels."""

import math

import pandas as pd

from neonas.study import archstats
from neonas.study.display import archstats_table

ARCH = {"layers": [{"op": "conv", "span": 2, "dilation": 4, "time_kernel": 5, "skips": []},
                   {"op": "pool", "kind": "max", "skips": [0]}]}


def test_spatial_statistics_need_three_channels():
    nine = archstats.layer_rows(ARCH, archstats.Geometry(sfreq=64.0, step_samples=4))[0]
    assert (nine["span"], nine["dilation"], nine["extent_el"]) == (2, 4, 5) and nine["extent_cm"] > 0
    for ch in (("C3",), ("C3", "C4")):
        row = archstats.layer_rows(ARCH, archstats.Geometry(ch_names=ch, sfreq=64.0, step_samples=4))[0]
        assert all(math.isnan(row[k]) for k in ("span", "dilation", "extent_el", "extent_cm")), row
        assert row["time_extent_ms"] == 5 * 4 / 64.0 * 1000  # time statistics stay
    three = archstats.layer_rows(ARCH, archstats.Geometry(ch_names=("C3", "Cz", "C4")))[0]
    assert three["extent_el"] == 5
    assert archstats.arch_row(ARCH, planted_offset=4, n_channels=9)["covers_planted"] is True
    small = archstats.arch_row(ARCH, planted_offset=4, n_channels=4)  # offset 4 needs 5 channels
    assert math.isnan(small["covers_planted"]) and small["max_extent_el"] == 5
    assert math.isnan(archstats.arch_row(ARCH, n_channels=1)["max_extent_el"])


def test_note_and_report_table():
    note = archstats.spatial_note(1, ["conv 2x1 t3", "conv 2x2 t3"])
    assert "left out: the montage has 1 channel(s), they need at least 3" in note
    assert "2 op(s) removed from the space for the 1-channel montage" in note and "conv 2x2 t3" in note
    assert archstats.spatial_note(9) == ""
    nan = math.nan
    summary = pd.DataFrame([{"source": "top", "arm": "nas", "setting": "s", "window": 0, "n_archs": 2,
                             "mean_span": nan, "mean_dilation": nan, "mean_extent_el": nan, "mean_extent_cm": nan,
                             "mean_time_extent_ms": 80.0, "skip_freq": 0.5, "share_conv": 0.5, "note": note}])
    table = archstats_table(summary, None)
    assert "Span" not in table and "Extent (cm)" not in table and table["Note"].iloc[0] == note
    assert table["Time (ms)"].iloc[0] == "80"
    nine = summary.assign(mean_span=2.0, mean_dilation=4.0, mean_extent_el=5.0, mean_extent_cm=6.0, note="")
    table = archstats_table(nine, None)
    assert table["Span"].iloc[0] == "2.00" and "Note" not in table
