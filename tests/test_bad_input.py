"""Bad input to `neonas preprocess`: each case exits 2 with one clear line naming the file and the
problem, no traceback, and leaves no output file behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edfmaker import NEONATAL, neonatal_edf, patch_header, signal_field_offset, tone, write_edf
from neonas.cli import main


def run_cli(capsys, tmp_path, recording, *extra) -> tuple[int, str, Path]:
    out = tmp_path / "out" / "rec.h5"
    rc = main(["preprocess", str(recording), *map(str, extra), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    return rc, err, out


def assert_refused(capsys, tmp_path, recording, *extra, match: str, names: Path | None = None) -> str:
    rc, err, out = run_cli(capsys, tmp_path, recording, *extra)
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("neonas preprocess: error: "), err
    assert "Traceback" not in err
    assert str(names or recording) in err, f"message does not name {names or recording}: {err}"
    assert match in err, err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir()), "a temporary file was left behind"
    return err


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return neonatal_edf(tmp_path_factory.mktemp("good") / "good.edf", seconds=120, stages=[(0, 120, "QS")])


def copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def test_missing_file(capsys, tmp_path):
    assert_refused(capsys, tmp_path, tmp_path / "nope.edf", match="file not found")


def test_empty_file(capsys, tmp_path):
    empty = tmp_path / "empty.edf"
    empty.write_bytes(b"")
    assert_refused(capsys, tmp_path, empty, match="file is empty (0 bytes)")


def test_garbage_file(capsys, tmp_path):
    junk = tmp_path / "junk.edf"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_refused(capsys, tmp_path, junk, match="not an EDF or BDF file")


def test_text_file_named_edf(capsys, tmp_path):
    txt = tmp_path / "notes.edf"
    txt.write_text("this is not a recording\n")
    assert_refused(capsys, tmp_path, txt, match="not an EDF or BDF file")


def test_truncated_file(capsys, tmp_path, good):
    cut = tmp_path / "cut.edf"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert_refused(capsys, tmp_path, cut, match="truncated: the header promises")
    short_header = tmp_path / "short.edf"
    short_header.write_bytes(good.read_bytes()[:600])
    assert_refused(capsys, tmp_path, short_header, match="truncated header")


def test_unreadable_header_fields(capsys, tmp_path, good):
    bad = copy(good, tmp_path / "records.edf")
    patch_header(bad, 236, "abc     ")  # number of data records
    assert_refused(capsys, tmp_path, bad, match="header field 'number of data records' (bytes 236-243) is 'abc'")
    bad = copy(good, tmp_path / "samples.edf")
    n_signals = int(good.read_bytes()[252:256])
    patch_header(bad, signal_field_offset(n_signals, "samples_per_record", 2), "many    ")
    assert_refused(capsys, tmp_path, bad, match="number of samples per data record field is 'many'")


def test_physical_min_equals_max(capsys, tmp_path, good):
    bad = copy(good, tmp_path / "calib.edf")
    n_signals = int(good.read_bytes()[252:256])
    patch_header(bad, signal_field_offset(n_signals, "physical_min", 2), "1000    ")  # signal 3 (C3): min = max
    assert_refused(capsys, tmp_path, bad, match="signal 3 'EEG C3-Ref': physical minimum equals physical maximum")


def test_broken_calibration_of_an_unused_channel_is_fine(capsys, tmp_path, good):
    ok = copy(good, tmp_path / "calib_unused.edf")
    n_signals = int(good.read_bytes()[252:256])
    patch_header(ok, signal_field_offset(n_signals, "physical_min", 2), "1000    ")
    rc, err, out = run_cli(capsys, tmp_path, ok, "--set", "channels=[Fp1, Fp2]")
    assert rc == 0, err
    assert out.exists()


def test_non_eeg_channel_configured_as_eeg_is_refused(capsys, tmp_path):
    signals = {f"EEG {n}-Ref": tone(n, 60, 256) for n in NEONATAL[:8]}
    signals["EEG Effort THO"] = tone("Cz", 60, 256)  # a respiration belt labelled "EEG" in the file
    edf = write_edf(tmp_path / "effort.edf", signals, 256, annotations=[(0, 60, "AS")])
    assert_refused(capsys, tmp_path, edf, "--set", "channels=[C3, Effort THO]",
                   match="channel 'Effort THO' is configured as EEG but the file's 'EEG Effort THO' is not EEG (its name "
                         "says 'effort'); drop it from 'channels', or list it in 'non_eeg_channels'")


def test_flat_reference_channel_is_one_warning_not_a_flag_on_every_epoch(caplog, tmp_path):
    signals = {f"EEG {n}-Ref": tone(n, 90, 256) for n in NEONATAL}
    signals["EEG Cz-Ref"] = np.full(90 * 256, 0.1)  # the recording reference
    edf = write_edf(tmp_path / "ref.edf", signals, 256, annotations=[(0, 90, "QS")])
    out = tmp_path / "ref.h5"
    assert main(["preprocess", str(edf), "--out", str(out)]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "channel Cz is flat" in warnings[0], warnings
    assert "recording reference" in warnings[0] and "drop it from 'channels'" in warnings[0]
    from neonas.store.h5io import read_recording

    assert read_recording(out).artifact.tolist() == [0, 0, 0]


def test_absent_channel_lists_the_file_channels(capsys, tmp_path):
    eight = neonatal_edf(tmp_path / "eight.edf", seconds=60, names=NEONATAL[:8], stages=[(0, 60, "AS")])
    err = assert_refused(capsys, tmp_path, eight, match="configured channel(s) Cz not found")
    assert "the file has: EEG Fp1-Ref, EEG Fp2-Ref" in err and "EEG O2-Ref" in err
    err = assert_refused(capsys, tmp_path, eight, "--set", "channels=[Fp1-Pz]", match="channel(s) Pz not found")


def test_labels_unknown_stage(capsys, tmp_path, good):
    edf = neonatal_edf(tmp_path / "rem.edf", seconds=60, stages=[(0, 30, "Sleep stage QS"), (30, 30, "Sleep stage R")])
    assert_refused(capsys, tmp_path, edf, match="annotation 2: unknown stage 'Sleep stage R'; allowed stages (any case")
    tsv = tmp_path / "rem.tsv"
    tsv.write_text("onset_s\tduration_s\tstage\n0\t60\tQS\n60\t30\tdeep\n")
    err = assert_refused(capsys, tmp_path, good, "--labels", tsv, match="line 3: unknown stage 'deep'", names=tsv)
    assert "active sleep" in err and "AS, QS, W, IS" in err


def test_labels_past_the_end(capsys, tmp_path, good):
    tsv = tmp_path / "long.tsv"
    tsv.write_text("onset_s\tduration_s\tstage\n0\t120\tQS\n120\t300\tAS\n")
    assert_refused(capsys, tmp_path, good, "--labels", tsv, names=tsv,
                   match="past the end of the recording (120 s); the label file does not belong to this recording")


def test_labels_off_grid(capsys, tmp_path, good):
    tsv = tmp_path / "grid.tsv"
    tsv.write_text("onset_s\tduration_s\tstage\n0\t30\tQS\n30\t40\tAS\n70\t30\tW\n")
    assert_refused(capsys, tmp_path, good, "--labels", tsv, names=tsv, match="line 4: onset 70 s of 'W' is off the 30 s")


def test_labels_overlapping(capsys, tmp_path, good):
    tsv = tmp_path / "overlap.tsv"
    tsv.write_text("onset_s\tduration_s\tstage\n0\t60\tQS\n30\t30\tAS\n")
    assert_refused(capsys, tmp_path, good, "--labels", tsv, names=tsv, match="overlapping labels: line 3")


def test_recording_shorter_than_one_epoch(capsys, tmp_path):
    short = write_edf(tmp_path / "short.edf", {f"EEG {n}-Ref": tone(n, 20, 256) for n in NEONATAL}, 256)
    assert_refused(capsys, tmp_path, short, "--label-format", "none", match="lasts 20 s, shorter than one epoch")


def test_no_labelled_epochs(capsys, tmp_path):
    edf = neonatal_edf(tmp_path / "unscored.edf", seconds=60, stages=[(0, 60, "Sleep stage ?")])
    assert_refused(capsys, tmp_path, edf, match="no epochs to write")


def test_bad_config(capsys, tmp_path, good):
    err = assert_refused(capsys, tmp_path, good, "--set", "epoch_secs=20", names=Path("preset neonatal"),
                         match="unknown key(s) ['epoch_secs']")
    assert "allowed:" in err
    assert_refused(capsys, tmp_path, good, "--set", "h_freq=40", match="h_freq = 40 Hz must be below the Nyquist")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: eeg-magic\n")
    assert_refused(capsys, tmp_path, good, "--config", cfg, names=Path("unknown preset 'eeg-magic'"),
                   match="available: neonatal, sleep-edf")


def test_subprocess_prints_one_line_without_traceback(tmp_path, good):
    """The real console entry point, with logging on: one line on stderr, exit status 2."""
    tsv = tmp_path / "overlap.tsv"
    tsv.write_text("onset_s\tduration_s\tstage\n0\t60\tQS\n30\t30\tAS\n")
    out = tmp_path / "o.h5"
    proc = subprocess.run([sys.executable, "-m", "neonas.cli", "preprocess", str(good), "--labels", str(tsv),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"neonas preprocess: error: {tsv}: overlapping labels")
    assert not out.exists() and list(tmp_path.glob("*.h5*")) == []


def test_inspect_bad_files(capsys, tmp_path):
    assert main(["inspect", str(tmp_path / "none.h5")]) == 2
    assert "none.h5: file not found" in capsys.readouterr().err
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert main(["inspect", str(junk)]) == 2
    assert "junk.h5: not a readable HDF5 file" in capsys.readouterr().err
