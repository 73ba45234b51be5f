"""The cohort sheet: config/cohort.tsv loads, and each kind of mistake names the sheet and the line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from neonas.errors import NeonasError
from neonas.ingest.cohort import LABEL_FORMATS, CohortRow, format_cohort, load_cohort
from neonas.ingest.labels import FORMATS
from neonas.ingest.synth import cohort_rows

HEADER = "infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks\n"


def sheet(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "cohort.tsv"
    path.write_text(header + "".join(r + "\n" for r in rows))
    return path


def error(path: Path, **kw) -> str:
    with pytest.raises(NeonasError) as err:
        load_cohort(path, **kw)
    return str(err.value)


def test_repo_sheet_is_the_default_synthetic_cohort(repo):
    rows = load_cohort(repo / "config" / "cohort.tsv")
    assert [r.infant_id for r in rows] == [f"syn{i:02d}" for i in range(1, 7)]
    assert all(r.label_format == "annotations" and r.labels_path is None for r in rows)
    assert all(37 <= r.pma_weeks <= 44 for r in rows)
    # exactly what `neonas synth --out data/synthetic` writes as its cohort.tsv
    assert (repo / "config" / "cohort.tsv").read_text() == format_cohort(cohort_rows("data/synthetic", 6, 0))


def test_roundtrip_and_optional_columns(tmp_path):
    (tmp_path / "a.edf").write_bytes(b"x")
    (tmp_path / "a.csv").write_text("x")
    path = sheet(tmp_path, "# a comment line", f"a\t{tmp_path}/a.edf\t{tmp_path}/a.csv\tcsv\t40.5", "",
                 f"b-2.x\t{tmp_path}/a.edf\t\tnone\t")
    rows = load_cohort(path, check_files=True)
    assert rows[0] == CohortRow("a", tmp_path / "a.edf", tmp_path / "a.csv", "csv", 40.5, 3)
    assert rows[1].pma_weeks is None and rows[1].labels_path is None and rows[1].line == 5
    again = load_cohort(sheet(tmp_path, *format_cohort(rows).splitlines()[1:]))
    assert again == [replace(r, line=i) for i, r in enumerate(rows, start=2)]
    # pma_weeks may be left out entirely
    no_pma = sheet(tmp_path, "a\tx.edf\t\tannotations", header="infant_id\teeg_path\tlabels_path\tlabel_format\n")
    assert load_cohort(no_pma)[0].pma_weeks is None


def test_relative_paths_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "a.edf").write_bytes(b"x")
    path = sheet(tmp_path, "a\trec/a.edf\t\tannotations\t40")
    monkeypatch.chdir(tmp_path)
    assert load_cohort(path, check_files=True)[0].eeg_path == Path("rec/a.edf")
    monkeypatch.chdir(tmp_path / "rec")
    assert "rec/a.edf' of infant 'a' does not exist" in error(path, check_files=True)


def test_duplicate_ids(tmp_path):
    msg = error(sheet(tmp_path, "a\tx.edf\t\tannotations\t", "b\ty.edf\t\tannotations\t", "a\tz.edf\t\tannotations\t"))
    assert "cohort.tsv: line 4: duplicate infant_id 'a' (first on line 2)" in msg


def test_row_that_points_nowhere(tmp_path):
    path = sheet(tmp_path, f"a\t{tmp_path}/missing.edf\t\tannotations\t40")
    assert load_cohort(path)[0].infant_id == "a"  # files are only checked on request
    assert "line 2: eeg_path" in error(path, check_files=True) and "missing.edf" in error(path, check_files=True)
    (tmp_path / "a.edf").write_bytes(b"x")
    path = sheet(tmp_path, f"a\t{tmp_path}/a.edf\t{tmp_path}/nolabels.csv\tcsv\t40")
    assert "line 2: labels_path" in error(path, check_files=True)


@pytest.mark.parametrize("header, expected", [
    ("infant_id\teeg_path\tlabel_format\n", "line 1: missing column(s) labels_path"),
    ("infant_id eeg_path labels_path label_format\n", "(is the sheet tab-separated?)"),
    (HEADER.rstrip("\n") + "\tweight\n", "line 1: unknown column(s) weight; allowed: infant_id"),
    ("infant_id\teeg_path\tlabels_path\tlabel_format\teeg_path\n", "column(s) eeg_path appear twice"),
])
def test_bad_columns(tmp_path, header, expected):
    assert expected in error(sheet(tmp_path, "a\tx.edf\t\tannotations", header=header))


@pytest.mark.parametrize("row, expected", [
    ("a\tx.edf\t\tedfplus\t", "line 2: unknown label_format 'edfplus' for infant 'a'; expected one of annotations"),
    ("a\tx.edf\t\tannotations\tforty", "line 2: pma_weeks 'forty' for infant 'a' is not a postmenstrual age"),
    ("a\tx.edf\t\tannotations\t400", "pma_weeks '400'"),
    ("a/b\tx.edf\t\tannotations\t", "line 2: infant_id 'a/b' is not safe as a file name"),
    ("../a\tx.edf\t\tannotations\t", "infant_id '../a' is not safe"),
    ("\tx.edf\t\tannotations\t", "line 2: infant_id is empty"),
    ("a\t\t\tannotations\t", "line 2: eeg_path is empty"),
    ("a\tx.edf\t\tcsv\t", "line 2: label_format 'csv' needs a labels_path"),
    ("a\tx.edf\tl.csv\tnone\t", "labels_path 'l.csv' given but label_format 'none' reads no label file"),
    ("a\tx.edf\tl.edf\tannotations\t", "label_format 'annotations' reads no label file"),
    ("a\tx.edf\t\tannotations\t40\textra", "line 2: 6 tab-separated fields but the header has 5"),
])
def test_bad_rows(tmp_path, row, expected):
    assert expected in error(sheet(tmp_path, row))


def test_label_formats_are_those_of_preprocess():
    assert set(LABEL_FORMATS) == set(FORMATS) - {"auto"}


def test_missing_and_empty_sheets(tmp_path):
    assert "cohort sheet not found" in error(tmp_path / "nope.tsv")
    assert "empty cohort sheet" in error(sheet(tmp_path, header="# nothing\n"))
    assert "no infants listed" in error(sheet(tmp_path))


OVERRIDES = HEADER.rstrip("\n") + "\toverrides\n"


def test_overrides_column_per_recording_settings(tmp_path):
    path = sheet(tmp_path, "a\ta.txt\ta_hyp.txt\tdreams\t\ttext_sfreq_hz=200; grid_start_s=10",
                 "b\tb.edf\t\tannotations\t\t", "c\tc.edf\t\tannotations\t40\taliases.central=[C3-A1, CZ-A1]",
                 header=OVERRIDES)
    rows = load_cohort(path)
    assert rows[0].overrides == ("text_sfreq_hz=200", "grid_start_s=10") and rows[1].overrides == ()
    assert load_cohort(sheet(tmp_path, *format_cohort(rows).splitlines()[1:], header=OVERRIDES)) == rows
    from neonas.ingest.cohort import preprocess_configs

    configs = preprocess_configs(rows, path, "dreams")
    assert configs["a"]["grid_start_s"] == 10 and configs["b"]["grid_start_s"] is None
    assert configs["c"]["aliases"] == {"central": ["C3-A1", "CZ-A1"]} and configs["a"]["preset"] == "dreams"


def test_an_override_that_shapes_the_signal_is_refused_naming_the_row_and_key(tmp_path):
    """A per-recording filter would make the study's searches run on mixed inputs (issue 17): refused when the
    sheet is resolved, as retrain would refuse it after every search; how a file is read may still differ."""
    from neonas.ingest.cohort import preprocess_configs

    ok = sheet(tmp_path, "a\ta.edf\t\tannotations\t\tgrid_start_s=10", "b\tb.edf\t\tannotations\t\t",
               "c\tc.edf\t\tannotations\t\taliases.C3=[EEG C3-REF]", header=OVERRIDES)
    assert preprocess_configs(load_cohort(ok), ok, "neonatal", overrides=["h_freq=30"])["a"]["h_freq"] == 30
    path = sheet(tmp_path, "a\ta.edf\t\tannotations\t\t", "b\tb.edf\t\tannotations\t\th_freq=25",
                 header=OVERRIDES)
    with pytest.raises(NeonasError) as err:
        preprocess_configs(load_cohort(path), path, "neonatal", overrides=["h_freq=30"])
    msg = str(err.value)
    assert msg.startswith(f"{path}: line 3: infant 'b' would be preprocessed differently") and len(msg.splitlines()) == 1
    assert "(h_freq: 25.0 vs 30.0)" in msg


@pytest.mark.parametrize(("cell", "match"), [
    ("grid_start=10", "line 2: overrides of infant 'a': unknown setting 'grid_start'; allowed: channels"),
    ("grid_start_s", "line 2: overrides of infant 'a': 'grid_start_s' is not key=value"),
    ("channels=[C3", "line 2: overrides of infant 'a': value of 'channels' is not valid YAML"),
])
def test_overrides_mistakes_name_sheet_line_and_key(tmp_path, cell, match):
    path = sheet(tmp_path, f"a\ta.edf\t\tannotations\t\t{cell}", header=OVERRIDES)
    msg = error(path)
    assert msg.startswith(str(path)) and match in msg


def test_override_of_the_wrong_type_is_named_with_its_line(tmp_path):
    from neonas.ingest.cohort import preprocess_configs

    path = sheet(tmp_path, "a\ta.edf\t\tannotations\t\t", "b\tb.edf\t\tannotations\t\tepoch_s=long", header=OVERRIDES)
    with pytest.raises(NeonasError) as err:
        preprocess_configs(load_cohort(path), path, "neonatal")
    assert str(err.value).startswith(f"{path}: line 3: overrides of infant 'b' (epoch_s=long)")
    assert "epoch_s" in str(err.value)
