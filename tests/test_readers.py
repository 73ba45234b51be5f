"""Every recording format through `neonas preprocess`: BrainVision, EEGLAB and FIF files written here with MNE's
exporters, plain-text/CSV signals with a declared rate; non-EEG channels and symmetric 10-20 aliases."""

from __future__ import annotations

import numpy as np
import pytest

from edfmaker import tone, write_edf
from neonas.cli import main
from neonas.errors import NeonasError
from neonas.ingest.preprocess import preprocess
from neonas.ingest.presets import PreprocessConfig, resolve_config
from neonas.store.h5io import read_recording

NAMES = ["Fp1", "Fp2", "C3", "C4", "T7", "T8", "O1", "O2", "Cz"]  # new 10-20 names: T3/T4 found through aliases
ORDER = ["Fp1", "C3", "T3", "O1", "Fp2", "C4", "T4", "O2", "Cz"]
STAGES = (["Sleep stage AS", "Sleep stage QS", "Sleep stage W"], [0.0, 30.0, 60.0], [30.0, 30.0, 30.0])


def microvolts(rec) -> np.ndarray:
    med = np.array(rec.extra_attrs["norm_median_uv"])[None, :, None]
    scale = np.array(rec.extra_attrs["norm_scale_uv"])[None, :, None]
    return rec.eeg.astype(np.float64) * scale + med


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One 90 s recording (9 EEG + ECG, 256 Hz, 3 stage annotations) as BrainVision, EEGLAB and FIF, and EDF+."""
    import mne

    d = tmp_path_factory.mktemp("formats")
    uv = {n: tone(n, 90, 256) for n in NAMES}
    data = np.array([uv[n] for n in NAMES] + [tone("ECG", 90, 256, amp_uv=500)]) * 1e-6
    raw = mne.io.RawArray(data, mne.create_info([*NAMES, "ECG"], 256.0, ["eeg"] * 9 + ["ecg"]), verbose="error")
    raw.set_annotations(mne.Annotations(STAGES[1], STAGES[2], STAGES[0]))
    files = {"edf": write_edf(d / "r.edf", uv, 256, annotations=list(zip(STAGES[1], STAGES[2], STAGES[0],
                                                                          strict=True)))}
    mne.export.export_raw(d / "r.vhdr", raw, fmt="brainvision", verbose="error")
    mne.export.export_raw(d / "r.set", raw, fmt="eeglab", verbose="error")
    raw.save(d / "r_raw.fif", verbose="error")
    files.update(vhdr=d / "r.vhdr", set=d / "r.set", fif=d / "r_raw.fif")
    return files


@pytest.mark.parametrize("fmt", ["vhdr", "set", "fif"])
def test_mne_formats_give_what_the_edf_gives(exported, fmt, tmp_path):
    out = tmp_path / f"{fmt}.h5"
    assert main(["preprocess", str(exported[fmt]), "--out", str(out)]) == 0  # labels: the file's own annotations
    rec, ref = read_recording(out), preprocess(exported["edf"], tmp_path / "edf.h5")
    assert rec.ch_names == ORDER and rec.labels.tolist() == [0, 1, 2] == ref.labels.tolist()
    assert rec.extra_attrs["source_channels"]["T3"] == "T7"  # the old name finds the new one
    # the same microvolts as the EDF (16-bit over +-1000 uV: steps of 0.03 uV), so units are right
    assert np.abs(microvolts(rec) - microvolts(ref)).max() < 0.1
    assert rec.eeg.shape == (3, 9, 1920)


def test_channel_typed_ecg_is_refused_as_eeg_unless_listed(exported, tmp_path):
    cfg = PreprocessConfig(channels=["C3", "ECG"])
    with pytest.raises(NeonasError, match=r"channel 'ECG' is configured as EEG but the file's 'ECG' is not EEG "
                                          r"\(its channel type in the file is 'ecg'\); drop it from 'channels', "
                                          r"or list it in 'non_eeg_channels'"):
        preprocess(exported["fif"], tmp_path / "x.h5", cfg)
    rec = preprocess(exported["fif"], tmp_path / "ok.h5", PreprocessConfig(channels=["C3", "ECG"],
                                                                            non_eeg_channels=["ECG"]))
    assert rec.ch_names == ["C3", "ECG"]


def test_aliases_work_both_ways(tmp_path):
    """A config naming T7 finds T3 in a file, as one naming T3 finds T7."""
    old = write_edf(tmp_path / "old.edf", {f"EEG {n}-Ref": tone(n, 60, 64) for n in ("T3", "T4", "C3")}, 64,
                    annotations=[(0, 60, "AS")])
    rec = preprocess(old, tmp_path / "o.h5", PreprocessConfig(channels=["T7", "T8", "C3"]))
    assert rec.extra_attrs["source_channels"] == {"T7": "EEG T3-Ref", "T8": "EEG T4-Ref", "C3": "EEG C3-Ref"}
    rec = preprocess(old, tmp_path / "b.h5", PreprocessConfig(channels=["T7-C3"]))  # inside derivations too
    assert rec.extra_attrs["source_channels"] == {"T7-C3": "EEG T3-Ref - EEG C3-Ref"}


def test_text_signals_with_declared_rate_unit_and_names(tmp_path):
    x = {n: tone(n, 60, 100) for n in ("C3", "O1")}
    dreams = tmp_path / "excerpt.txt"  # DREAMS layout: [channel], then one sample per line (uV)
    dreams.write_text("[C3-A1]\n" + "".join(f"{v:.4f}\n" for v in x["C3"]))
    csv = tmp_path / "two.csv"  # a header row of names, one column per channel, in mV
    csv.write_text("C3,O1\n" + "".join(f"{a / 1000:.7f},{b / 1000:.7f}\n" for a, b in zip(x["C3"], x["O1"],
                                                                                          strict=True)))
    base = ["resample_hz=null", "notch_hz=[]", "l_freq=null", "h_freq=null", "unlabelled=keep"]
    _, cfg = resolve_config(None, None, [*base, "channels=[C3-A1]", "text_sfreq_hz=100"])
    one = preprocess(dreams, tmp_path / "one.h5", cfg, label_format="none")
    assert one.sfreq == 100.0 and one.eeg.shape == (2, 1, 3000)
    assert np.abs(microvolts(one)[:, 0].ravel() - x["C3"]).max() < 1e-3
    _, cfg = resolve_config(None, None, [*base, "channels=[O1, C3]", "text_sfreq_hz=100", "text_unit=mV"])
    two = preprocess(csv, tmp_path / "two.h5", cfg, label_format="none")
    assert two.ch_names == ["O1", "C3"]
    assert np.abs(microvolts(two)[:, 0].ravel() - x["O1"]).max() < 1e-3
    assert two.preprocess_config["text_unit"] == "mV" and two.extra_attrs["source_sfreq"] == 100.0
    # the rate is not in the file: without text_sfreq_hz the error names the setting
    with pytest.raises(NeonasError, match="a text signal has no sampling rate: set text_sfreq_hz"):
        preprocess(csv, tmp_path / "x.h5", PreprocessConfig(channels=["C3"]), label_format="none")
    bare = tmp_path / "bare.txt"
    bare.write_text("".join(f"{v:.4f}\n" for v in x["C3"]))
    with pytest.raises(NeonasError, match="names no channel: give text_channels"):
        preprocess(bare, tmp_path / "x.h5", cfg, label_format="none")
    _, cfg = resolve_config(None, None, [*base, "channels=[C3]", "text_sfreq_hz=100", "text_channels=[C3]"])
    assert preprocess(bare, tmp_path / "bare.h5", cfg, label_format="none").ch_names == ["C3"]


def test_bids_dataset_becomes_a_cohort_sheet(tmp_path):
    """A tiny BIDS-EEG dataset written with mne-bids (BrainVision and EDF, stages as events) -> `neonas cohort
    --bids` -> a sheet whose rows preprocess with their *_events.tsv labels."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids

    from neonas.ingest.cohort import load_cohort

    root = tmp_path / "bids"
    for i, fmt in enumerate(["BrainVision", "EDF", "BrainVision"], start=1):
        data = np.array([tone(n, 90, 128, seed=i) for n in NAMES]) * 1e-6
        raw = mne.io.RawArray(data, mne.create_info(NAMES, 128.0, "eeg"), verbose="error")
        raw.set_meas_date(1_600_000_000 + i * 86400)
        raw.set_annotations(mne.Annotations(STAGES[1], STAGES[2], ["QS", "AS", "AS"][:i] + ["W"] * (3 - i)))
        write_raw_bids(raw, BIDSPath(subject=f"{i:02d}", task="sleep", root=root), format=fmt, allow_preload=True,
                       verbose="error")
    (root / "participants.tsv").write_text("participant_id\tpma_weeks\nsub-01\t38.5\nsub-02\tn/a\nsub-03\t41\n")
    sheet = tmp_path / "cohort.tsv"
    assert main(["cohort", "--bids", str(root), "--out", str(sheet)]) == 0
    rows = load_cohort(sheet, check_files=True)
    assert [(r.infant_id, r.label_format, r.pma_weeks) for r in rows] == [
        ("sub-01", "events", 38.5), ("sub-02", "events", None), ("sub-03", "events", 41.0)]
    assert rows[0].eeg_path.name == "sub-01_task-sleep_eeg.vhdr" and rows[1].eeg_path.suffix == ".edf"
    assert rows[2].labels_path.name == "sub-03_task-sleep_events.tsv"
    for row, stages in zip(rows, ([1, 2, 2], [1, 0, 2], [1, 0, 0]), strict=True):
        out = tmp_path / f"{row.infant_id}.h5"
        assert main(["preprocess", str(row.eeg_path), "--labels", str(row.labels_path), "--out", str(out)]) == 0
        rec = read_recording(out)
        assert rec.labels.tolist() == stages and rec.ch_names == ORDER
    # one recording per infant: a second task of sub-01 is refused unless --task picks one
    raw.set_annotations(None)
    write_raw_bids(raw, BIDSPath(subject="01", task="rest", root=root), format="EDF", allow_preload=True,
                   verbose="error", overwrite=True)
    assert main(["cohort", "--bids", str(root), "--out", str(sheet)]) == 2
    assert main(["cohort", "--bids", str(root), "--task", "sleep", "--out", str(sheet)]) == 0


def test_non_eeg_names_and_types():
    from neonas.ingest.montage import non_eeg_reason
    from neonas.ingest.readers import Channel

    def why(label, kind="eeg"):
        return non_eeg_reason(Channel(label, 256.0, kind, 1.0))

    # DREAMS excerpt3.edf, Sleep-EDF and the usual PSG names
    for label in ("EMG1", "ECG", "NAF1", "VAB", "VTH", "EOG1-A1", "SAO2", "PULSE", "POS", "EEG Effort THO",
                  "Resp oro-nasal", "EMG submental", "Event marker", "Temp rectal", "EKG", "Thor", "Abdo"):
        assert why(label) is not None, label
    for label in ("EEG Fp1-Ref", "C3-A1", "CZ-A1", "FP1-A1", "O1-A1", "EEG Fpz-Cz", "T7", "PO3", "TP9", "FT10",
                  "CP1-Ref", "central"):
        assert why(label) is None, label
    assert why("X1", "resp") == "its channel type in the file is 'resp'"
