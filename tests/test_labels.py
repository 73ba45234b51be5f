"""Label readers and the epoch grid (neonas.ingest.labels): pure, fast checks on small label files."""

from __future__ import annotations

import numpy as np
import pytest

from edfmaker import write_edf
from neonas.errors import NeonasError
from neonas.ingest.labels import (
    Label,
    crop_sleep,
    detect_format,
    epoch_grid,
    normalise_stage,
    read_labels,
    stage_lookup,
)
from neonas.ingest.presets import PreprocessConfig, preset

NEO = PreprocessConfig()
LOOKUP = stage_lookup(NEO.label_map, NEO.label_names)


def grid(labels, epoch_s=30.0, duration_s=300.0):
    labs = [Label(o, d, s, f"row {i + 2}") for i, (o, d, s) in enumerate(labels)]
    return epoch_grid(labs, LOOKUP, epoch_s, duration_s, "labels.tsv")


@pytest.mark.parametrize("text, key", [("Sleep stage AS", "as"), ("  sleep   STAGE qs ", "qs"),
                                       ("Sleep_stage_W", "w"), ("Active Sleep", "active sleep"), ("TS", "ts")])
def test_normalise_stage(text, key):
    assert normalise_stage(text) == key


@pytest.mark.parametrize("text, code", [("Sleep stage AS", 0), ("active sleep", 0), ("QS", 1), ("Quiet sleep", 1),
                                        ("W", 2), ("wake", 2), ("IS", 3), ("indeterminate", 3), ("TS", 3),
                                        ("transitional", 3), ("Sleep stage ?", -1)])
def test_neonatal_spellings(text, code):
    assert LOOKUP(Label(0, 30, text, "row 2"), "x.tsv") == code


def test_sleep_edf_map_merges_s3_s4():
    cfg = preset("sleep-edf")
    lookup = stage_lookup(cfg.label_map, cfg.label_names)
    codes = [lookup(Label(0, 30, f"Sleep stage {s}", "a"), "h.edf") for s in ("W", "1", "2", "3", "4", "R", "?")]
    assert codes == [0, 1, 2, 3, 3, 4, -1]
    assert lookup(Label(0, 30, "Movement time", "a"), "h.edf") == -1


def test_split_into_epochs_and_partial_tail():
    g = grid([(0, 90, "QS"), (90, 45, "AS")], duration_s=150)
    assert g.onset_s.tolist() == [0, 30, 60, 90, 120]
    assert g.labels.tolist() == [1, 1, 1, 0, -1]  # 45 s of AS: one full epoch, the rest unlabelled


def test_grid_starts_at_first_label_and_extends_back():
    g = grid([(40, 60, "W")], duration_s=200)
    assert g.onset_s.tolist() == [10, 40, 70, 100, 130, 160]
    assert g.labels.tolist() == [-1, 2, 2, -1, -1, -1]


def test_unscored_after_end_ignored_real_stage_past_end():
    # like SC4001: "Sleep stage ?" runs from the end of the signal far beyond it
    g = grid([(0, 300, "QS"), (300, 6900, "Sleep stage ?")], duration_s=300)
    assert g.labels.tolist() == [1] * 10
    # a real stage may overhang the end by at most one epoch (truncated) ...
    assert grid([(0, 320, "QS")], duration_s=300).labels.tolist() == [1] * 10
    # ... more means the label file belongs to another recording
    with pytest.raises(NeonasError, match=r"labels.tsv: row 3: stage 'AS' at 270-360 s runs 60 s past the end"):
        grid([(0, 270, "QS"), (270, 90, "AS")], duration_s=300)


def test_off_grid_overlap_unknown_errors():
    with pytest.raises(NeonasError, match=r"row 3: onset 75 s of 'AS' is off the 30 s epoch grid"):
        grid([(0, 60, "QS"), (75, 30, "AS")])
    with pytest.raises(NeonasError, match=r"overlapping labels: row 3 \('AS' from 30 s\) starts before row 2"):
        grid([(0, 60, "QS"), (30, 30, "AS")])
    with pytest.raises(NeonasError, match=r"labels.tsv: row 2: unknown stage 'REM'; allowed stages .*active sleep"):
        grid([(0, 60, "REM")])
    with pytest.raises(NeonasError, match="shorter than one 30 s epoch"):
        grid([(0, 20, "QS")], duration_s=20)


def test_crop_sleep():
    labels = np.array([2, 2, 2, 2, 1, 0, -1, 1, 2, 2, 2, 2], np.int8)
    assert np.flatnonzero(crop_sleep(labels, [2], 2)).tolist() == list(range(2, 10))
    assert not crop_sleep(np.array([2, 2, -1], np.int8), [2], 5).any()


def test_table_readers(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text("onset_s\tduration_s\tstage\tscorer\n0\t30\tQS\tA\n30\t60\tSleep stage AS\tB\n")
    labs = read_labels("tsv", tsv)
    assert [(lab.onset_s, lab.duration_s, lab.stage, lab.where) for lab in labs] == [
        (0.0, 30.0, "QS", "line 2"), (30.0, 60.0, "Sleep stage AS", "line 3")]
    bad = tmp_path / "b.csv"
    bad.write_text("onset,duration,stage\n0,30,QS\n")
    with pytest.raises(NeonasError, match=r"b.csv: missing column\(s\) onset_s, duration_s"):
        read_labels("csv", bad)
    bad.write_text("onset_s,duration_s,stage\n0,thirty,QS\n")
    with pytest.raises(NeonasError, match=r"b.csv: line 2: onset_s '0' and duration_s 'thirty' must be numbers"):
        read_labels("csv", bad)
    with pytest.raises(NeonasError, match="label file not found"):
        read_labels("csv", tmp_path / "missing.csv")


def test_dreams_reader_merges_5s_codes(tmp_path):
    txt = tmp_path / "Hypnogram_excerptX.txt"
    txt.write_text("[Hypnogram]\n" + "\n".join(["5"] * 4 + ["2"] * 8 + ["1"] * 4 + ["0"] * 4) + "\n")
    assert detect_format(txt, "auto") == "dreams"
    labs = read_labels("dreams", txt)
    assert [(lab.onset_s, lab.duration_s, lab.stage) for lab in labs] == [
        (0.0, 20.0, "W"), (20.0, 40.0, "2"), (60.0, 20.0, "3"), (80.0, 20.0, "4")]
    cfg = preset("sleep-edf")
    g = epoch_grid(labs, stage_lookup(cfg.label_map, cfg.label_names), 20.0, 100.0, str(txt))
    assert g.labels.tolist() == [0, 2, 2, 3, 3]
    txt.write_text("[Hypnogram]\n5\n7\n")
    with pytest.raises(NeonasError, match="line 3: unknown DREAMS stage code 7"):
        read_labels("dreams", txt)


def test_hypnogram_edf_plus(tmp_path):
    """A Sleep-EDF style hypnogram: an EDF+ file whose only content is annotations."""
    hyp = write_edf(tmp_path / "h.edf", {"dummy": np.zeros(120)}, 1.0,
                    annotations=[(0, 60, "Sleep stage W"), (60, 60, "Sleep stage 2")])
    assert detect_format(hyp, "auto") == "hypnogram"
    labs = read_labels("hypnogram", hyp)
    assert [(lab.onset_s, lab.duration_s, lab.stage) for lab in labs] == [
        (0.0, 60.0, "Sleep stage W"), (60.0, 60.0, "Sleep stage 2")]


def test_detect_format_errors(tmp_path):
    with pytest.raises(NeonasError, match="cannot tell the label format"):
        detect_format(tmp_path / "labels.dat", "auto")
    with pytest.raises(NeonasError, match="--label-format csv needs a label file"):
        detect_format(None, "csv")
    assert detect_format(None, "auto") == "annotations"
    with pytest.raises(NeonasError, match="--label-format none does not read a label file"):
        detect_format("x.tsv", "none")


def test_grid_start_cuts_leading_fragment():
    # DREAMS excerpt 8 style: a 10 s fragment, then 20 s epochs from t = 10 s
    labs = [(0, 30, "QS"), (30, 40, "AS"), (70, 10, "W")]
    g = epoch_grid([Label(o, d, s, f"row {i}") for i, (o, d, s) in enumerate(labs)], LOOKUP, 20.0, 80.0, "x",
                   grid_start_s=10.0)
    assert g.onset_s.tolist() == [10, 30, 50] and g.labels.tolist() == [1, 0, 0]
    with pytest.raises(NeonasError, match="off the 20 s epoch grid that starts at the first label"):
        grid(labs, epoch_s=20.0, duration_s=80.0)
