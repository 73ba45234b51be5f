"""`neonas preprocess` on the real recordings in ../shared/data (see each folder's README.md for the
numbers checked here). SC4001 (22 h) is preprocessed once per session."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_file
from neonas.errors import NeonasError
from neonas.ingest.preprocess import preprocess
from neonas.ingest.presets import PreprocessConfig, preset, resolve_config
from neonas.store.h5io import CLIPPED, FLAT, read_recording

pytestmark = pytest.mark.shared

SC4001_SHA256 = "aa5db372afd34e9ef66cf8fd29a17f0cc2c906b2d09e925d74ed1ac114bf8f54"
R_AND_K = dict(label_names=["W", "S1", "S2", "S3", "S4", "REM"],
               label_map={"w": "W", "1": "S1", "2": "S2", "3": "S3", "4": "S4", "r": "REM", "?": None,
                          "movement time": None})


def microvolts(rec, epochs=slice(None)) -> np.ndarray:
    """Undo the robust normalisation with the stored centre and scale."""
    med = np.array(rec.extra_attrs["norm_median_uv"])[None, :, None]
    scale = np.array(rec.extra_attrs["norm_scale_uv"])[None, :, None]
    return rec.eeg[epochs].astype(np.float64) * scale + med


def stage_counts(rec) -> dict[str, int]:
    return {name: int((rec.labels == i).sum()) for i, name in enumerate(rec.label_names)}


@pytest.fixture(scope="module")
def sc4001(tmp_path_factory):
    psg = shared_file("sleep-edf-sc4001", "SC4001E0-PSG.edf")
    hyp = shared_file("sleep-edf-sc4001", "SC4001EC-Hypnogram.edf")
    out = tmp_path_factory.mktemp("sc4001") / "sc4001.h5"
    preprocess(psg, out, preset("sleep-edf"), labels_path=hyp, preset_name="sleep-edf")
    return psg, hyp, read_recording(out)


def test_sc4001_whole_recording(sc4001):
    _, _, rec = sc4001
    assert stage_counts(rec) == {"W": 1997, "N1": 58, "N2": 250, "N3": 220, "REM": 125}
    assert rec.eeg.shape == (2650, 3, 3000) and rec.sfreq == 100.0
    assert rec.ch_names == ["Fpz-Cz", "Pz-Oz", "EOG horizontal"]
    assert rec.source_sha256 == SC4001_SHA256
    assert rec.onset_s[0] == 0.0 and rec.onset_s[-1] == 2649 * 30.0
    # microvolts, not volts: a robust spread of some tens of uV (README: std 25.9 / 11.4 / 73.3 uV)
    scale = rec.extra_attrs["norm_scale_uv"]
    assert 10 < scale[0] < 40 and 4 < scale[1] < 20 and 15 < scale[2] < 100


def test_sc4001_sleep_period_crop_matches_whole_run(sc4001, tmp_path):
    psg, hyp, whole = sc4001
    _, cfg = resolve_config("sleep-edf", None, ["crop_sleep_min=30"])
    rec = preprocess(psg, tmp_path / "crop.h5", cfg, labels_path=hyp, preset_name="sleep-edf")
    assert rec.n_epochs == 841
    assert stage_counts(rec) == {"W": 188, "N1": 58, "N2": 250, "N3": 220, "REM": 125}
    assert rec.onset_s[0] == 961 * 30.0 and rec.onset_s[-1] == 1801 * 30.0
    # the crop reads only its blocks; the filtered signal is the same as in the whole-record run
    assert np.abs(microvolts(rec) - microvolts(whole, slice(961, 1802))).max() < 1e-3


def test_dreams_excerpt3_20s_grid_mixed_rates_and_uppercase_units(tmp_path):
    edf = shared_file("dreams-spindles", "excerpt3.edf")
    hyp = shared_file("dreams-spindles", "Hypnogram_excerpt3.txt")
    cfg = PreprocessConfig(channels=["C3-A1", "FP1-A1", "O1-A1"], epoch_s=20.0, resample_hz=None, h_freq=20.0,
                           notch_hz=[], **R_AND_K)
    rec = preprocess(edf, tmp_path / "d3.h5", cfg, labels_path=hyp)  # label format detected: dreams
    # README table, native 20 s epochs of excerpt 3
    assert stage_counts(rec) == {"W": 8, "S1": 22, "S2": 56, "S3": 4, "S4": 0, "REM": 0}
    assert rec.eeg.shape == (90, 3, 1000) and rec.sfreq == 50.0
    assert rec.ch_names == ["C3-A1", "FP1-A1", "O1-A1"]


def test_dreams_excerpt3_units_match_the_text_export(tmp_path):
    """Unit "UV" (which MNE leaves unscaled) comes out in microvolts: equal to excerpt3.txt."""
    edf = shared_file("dreams-spindles", "excerpt3.edf")
    txt = shared_file("dreams-spindles", "excerpt3.txt")
    cfg = PreprocessConfig(channels=["C3-A1"], epoch_s=20.0, resample_hz=None, l_freq=None, h_freq=None,
                           notch_hz=[], **R_AND_K)
    rec = preprocess(edf, tmp_path / "raw.h5", cfg, label_format="none")
    reference = np.loadtxt(txt, skiprows=1)
    assert np.abs(microvolts(rec)[:, 0, :].ravel() - reference).max() < 1e-3
    assert reference.std() == pytest.approx(20.7, abs=0.05)


def test_neonatal_burst_example_referential_and_double_banana(tmp_path):
    edf = shared_file("neonatal-eeg-examples", "eeg_burst_eg.edf")
    ref = preprocess(edf, tmp_path / "ref.h5", label_format="none")  # neonatal preset, 9 referential
    assert ref.eeg.shape == (7, 9, 1920) and ref.labels.tolist() == [-1] * 7
    assert ref.ch_names == ["Fp1", "C3", "T3", "O1", "Fp2", "C4", "T4", "O2", "Cz"]
    assert ref.extra_attrs["source_channels"]["Fp1"] == "EEG Fp1-Ref"
    # Cz is the recording reference (IQR 0.2 uV): one warning to drop it, no epoch flagged, centred not scaled
    assert ref.extra_attrs["flat_channels"] == ["Cz"] and not any(a & FLAT for a in ref.artifact)
    assert ref.extra_attrs["norm_scale_uv"][8] == 1.0
    banana = ["Fp1-C3", "C3-O1", "Fp1-T3", "T3-O1", "Fp2-C4", "C4-O2", "Fp2-T4", "T4-O2"]
    bip = preprocess(edf, tmp_path / "bip.h5", PreprocessConfig(channels=banana), label_format="none")
    assert bip.ch_names == banana and bip.artifact.tolist() == [0] * 7
    assert bip.extra_attrs["source_channels"]["T3-O1"] == "EEG T3-Ref - EEG O1-Ref"
    uv_ref, uv_bip = microvolts(ref), microvolts(bip)
    idx = {name: i for i, name in enumerate(ref.ch_names)}
    for c, name in enumerate(banana):
        a, b = name.split("-")
        assert np.abs(uv_bip[:, c] - (uv_ref[:, idx[a]] - uv_ref[:, idx[b]])).max() < 1e-3


def test_neonatal_demo_bipolar_file(tmp_path):
    edf = shared_file("neonatal-eeg-examples", "demo.edf")
    channels = ["F7-C3", "C3-T5", "F7-T3", "T3-T5", "F8-C4", "C4-T6", "F8-T4", "T4-T6"]
    rec = preprocess(edf, tmp_path / "demo.h5", PreprocessConfig(channels=channels), label_format="none")
    assert rec.eeg.shape == (22, 8, 1920) and rec.labels.tolist() == [-1] * 22  # 661 s -> 22 epochs
    assert rec.extra_attrs["source_channels"]["F7-C3"] == "F7-C3"  # the file's own bipolar channel
    # the amplifier saturates at +-1000 uV in preterm bursts: >= 1 % of samples at the rail in epochs 3-6
    assert np.flatnonzero(rec.artifact & CLIPPED).tolist() == [3, 4, 5, 6]


# README table: native 20 s epochs per excerpt (W, S1, S2, S3, S4, REM)
DREAMS_COUNTS = {1: (14, 3, 55, 17, 1, 0), 2: (1, 5, 50, 20, 14, 0), 3: (8, 22, 56, 4, 0, 0), 4: (27, 20, 36, 5, 2, 0),
                 5: (10, 2, 52, 26, 0, 0), 6: (3, 3, 55, 23, 6, 0), 7: (2, 9, 61, 10, 1, 7), 8: (18, 6, 65, 0, 0, 0)}


def test_dreams_cohort_reads_the_text_excerpts_as_they_are(tmp_path):
    """`neonas cohort --dreams` on ../shared, then each row preprocessed from its excerptN.txt with the dreams
    preset and the row's overrides (declared rate; excerpt 8's grid starts at 10 s): no conversion step."""
    from neonas.cli import main
    from neonas.ingest.cohort import load_cohort, preprocess_configs

    folder = shared_file("dreams-spindles", "excerpt1.txt").parent
    sheet = tmp_path / "dreams.tsv"
    assert main(["cohort", "--dreams", str(folder), "--out", str(sheet)]) == 0
    rows = load_cohort(sheet, check_files=True)
    assert [r.infant_id for r in rows] == [f"excerpt{i}" for i in range(1, 9)]
    assert rows[7].overrides == ("text_sfreq_hz=200", "grid_start_s=10")
    configs = preprocess_configs(rows, sheet, "dreams")
    for row in rows:
        i = int(row.infant_id.removeprefix("excerpt"))
        _, cfg = resolve_config("dreams", None, list(row.overrides))
        rec = preprocess(row.eeg_path, tmp_path / f"{row.infant_id}.h5", cfg, labels_path=row.labels_path,
                         label_format=row.label_format, infant_id=row.infant_id, preset_name="dreams")
        w, s1, s2, s3, s4, r = DREAMS_COUNTS[i]  # README's native 20 s epochs, in AASM classes
        assert stage_counts(rec) == {"W": w, "N1": s1, "N2": s2, "N3": s3 + s4, "REM": r}, row.infant_id
        assert rec.ch_names == ["central"] and rec.sfreq == 50.0 and rec.eeg.shape[1:] == (1, 1000)
        assert rec.preprocess_config == configs[row.infant_id]  # what the workflow tracks is what was used
        assert rec.extra_attrs["source_channels"]["central"] == ("C3-A1" if i in (1, 3) else "CZ-A1")
    # excerpt 8 without its override: the error names the setting that fixes it
    with pytest.raises(NeonasError, match=r"set grid_start_s \(e.g. grid_start_s=10"):
        preprocess(rows[7].eeg_path, tmp_path / "x.h5", resolve_config("dreams", None, ["text_sfreq_hz=200"])[1],
                   labels_path=rows[7].labels_path)
