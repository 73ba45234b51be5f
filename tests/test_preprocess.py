"""`neonas preprocess` / `neonas inspect` on small EDF/EDF+/BDF files written here (real files, read by MNE)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from edfmaker import FREQ, NEONATAL, neonatal_edf, tone, write_bdf, write_edf
from neonas import NEONATAL_STAGES
from neonas.cli import main
from neonas.ingest.preprocess import preprocess
from neonas.ingest.presets import PreprocessConfig, resolve_config
from neonas.store.h5io import AMPLITUDE, CLIPPED, FLAT, read_recording

ORDER = ["Fp1", "C3", "T3", "O1", "Fp2", "C4", "T4", "O2", "Cz"]
STAGES = [(0, 60, "Sleep stage AS"), (60, 90, "Sleep stage QS"), (150, 30, "W"), (180, 60, "indeterminate"),
          (240, 60, "active sleep")]


def dominant_hz(x: np.ndarray, sfreq: float) -> float:
    spec = np.abs(np.fft.rfft(x - x.mean()))
    return float(np.fft.rfftfreq(x.size, 1 / sfreq)[spec.argmax()])


def microvolts(rec) -> np.ndarray:
    """Undo the robust normalisation with the stored centre and scale."""
    med = np.array(rec.extra_attrs["norm_median_uv"])[None, :, None]
    scale = np.array(rec.extra_attrs["norm_scale_uv"])[None, :, None]
    return rec.eeg.astype(np.float64) * scale + med


@pytest.fixture(scope="module")
def neonatal(tmp_path_factory):
    """One EDF+ with the 9 neonatal electrodes in file order and stage annotations, preprocessed once."""
    d = tmp_path_factory.mktemp("neonatal")
    edf = neonatal_edf(d / "inf01.edf", seconds=300, stages=STAGES)
    out = d / "inf01.h5"
    assert main(["preprocess", str(edf), "--out", str(out), "--pma-weeks", "36.5"]) == 0
    return edf, read_recording(out)


def test_neonatal_preset_layout_order_and_labels(neonatal):
    edf, rec = neonatal
    assert rec.eeg.dtype == np.float32 and rec.eeg.shape == (10, 9, 30 * 64)
    assert rec.ch_names == ORDER  # homologous pairs 4 apart
    assert rec.label_names == list(NEONATAL_STAGES) and rec.sfreq == 64.0 and rec.epoch_s == 30.0
    # AS AS QS QS QS W IS IS AS AS (a 60 s label is split into two epochs)
    assert rec.labels.tolist() == [0, 0, 1, 1, 1, 2, 3, 3, 0, 0]
    assert rec.onset_s.tolist() == [30.0 * i for i in range(10)]
    assert rec.infant_id == "inf01" and rec.extra_attrs["pma_weeks"] == 36.5
    assert rec.source_sha256 == hashlib.sha256(edf.read_bytes()).hexdigest()
    assert rec.preprocess_config["preset"] == "neonatal" and rec.preprocess_config["resample_hz"] == 64.0
    assert rec.extra_attrs["source_channels"]["T3"] == "EEG T3-Ref"
    # each output channel carries its own electrode's tone
    for c, name in enumerate(ORDER):
        assert dominant_hz(rec.eeg[3, c], 64.0) == pytest.approx(FREQ[name], abs=1 / 30)


def test_robust_normalisation(neonatal):
    _, rec = neonatal
    assert rec.artifact.tolist() == [0] * 10
    for c in range(9):
        x = rec.eeg[:, c, :]
        q25, q50, q75 = np.percentile(x, [25, 50, 75])
        assert abs(q50) < 1e-4 and q75 - q25 == pytest.approx(1.0, abs=1e-4)
    # the stored centre/scale give back microvolts: a 40 uV sine has an IQR of about 2 x 40 x sin(pi/4)
    assert np.array(microvolts(rec)[:, 0, :]).std() == pytest.approx(40 / np.sqrt(2), rel=0.05)


def test_inspect_prints_summary(neonatal, tmp_path, capsys):
    edf, _ = neonatal
    out = tmp_path / "x.h5"
    assert main(["preprocess", str(edf), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    for needle in ("infant      inf01", "AS", "QS", "unlabelled", "Fp1 C3 T3 O1 Fp2 C4 T4 O2 Cz", "64 Hz",
                   "30 s", "flat", "clipped", "amplitude", "sha256", "resample_hz: 64.0"):
        assert needle in text
    assert main(["inspect", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["epochs_per_stage"] == {"AS": 4, "QS": 3, "W": 1, "IS": 2, "unlabelled": 0}
    assert s["artifact_epochs"]["any"] == 0 and s["n_epochs"] == 10


def test_deterministic(neonatal, tmp_path):
    edf, rec = neonatal
    again = preprocess(edf, tmp_path / "again.h5")
    assert np.array_equal(again.eeg, rec.eeg) and np.array_equal(again.labels, rec.labels)


def test_blockwise_equals_whole_signal(tmp_path):
    """Blocks with margins give the same result as processing the whole signal at once."""
    edf = neonatal_edf(tmp_path / "b.edf", seconds=600, stages=[(0, 600, "QS")])
    whole = preprocess(edf, tmp_path / "whole.h5", PreprocessConfig(chunk_s=1e6))
    blocks = preprocess(edf, tmp_path / "blocks.h5", PreprocessConfig(chunk_s=90))  # 7 blocks, edges mid-epoch
    assert whole.eeg.shape == blocks.eeg.shape == (20, 9, 1920)
    assert np.abs(whole.eeg - blocks.eeg).max() < 1e-4


def test_aliases_case_and_bare_names(tmp_path):
    names = ["fp1", "FP2", "c3", "C4", "T7", "T8", "O1", "o2", "CZ"]  # 10-10 temporal names, odd case
    edf = neonatal_edf(tmp_path / "a.edf", seconds=60, names=names, prefix="", suffix="", stages=[(0, 60, "QS")])
    rec = preprocess(edf, tmp_path / "a.h5")
    assert rec.ch_names == ORDER
    assert rec.extra_attrs["source_channels"]["T3"] == "T7"
    assert dominant_hz(rec.eeg[0, 2], 64.0) == pytest.approx(FREQ["T3"], abs=1 / 30)


def test_bipolar_derivation_is_difference(tmp_path):
    edf = neonatal_edf(tmp_path / "bi.edf", seconds=120, stages=[(0, 120, "AS")])
    cfg = PreprocessConfig(channels=["Fp1", "C3", "Fp1-C3", "T4-O2"])
    rec = preprocess(edf, tmp_path / "bi.h5", cfg)
    assert rec.ch_names == ["Fp1", "C3", "Fp1-C3", "T4-O2"]
    assert rec.extra_attrs["source_channels"]["Fp1-C3"] == "EEG Fp1-Ref - EEG C3-Ref"
    uv = microvolts(rec)
    assert np.abs(uv[:, 2] - (uv[:, 0] - uv[:, 1])).max() < 1e-3


def test_bdf_input(tmp_path):
    signals = {f"{n}": tone(n, 90, 256) for n in NEONATAL}
    bdf = write_bdf(tmp_path / "r.bdf", signals)
    rec = preprocess(bdf, tmp_path / "r.h5", PreprocessConfig(unlabelled="keep"), label_format="none")
    assert rec.eeg.shape == (3, 9, 1920) and rec.labels.tolist() == [-1, -1, -1]
    assert dominant_hz(rec.eeg[1, 3], 64.0) == pytest.approx(FREQ["O1"], abs=1 / 30)
    assert np.array(rec.extra_attrs["norm_scale_uv"]) == pytest.approx(2 * 40 * np.sin(np.pi / 4), rel=0.15)


def test_mixed_sampling_rates_and_uppercase_units(tmp_path):
    """A 128 Hz channel among 256 Hz ones is resampled, not refused; "UV" is read as microvolts."""
    rates = {f"EEG {n}-Ref": (128.0 if n == "O2" else 256.0) for n in NEONATAL}
    signals = {k: tone(k.split()[1][:-4], 60, r) for k, r in rates.items()}
    lower = write_edf(tmp_path / "lower.edf", signals, rates, annotations=[(0, 60, "W")])
    upper = write_edf(tmp_path / "upper.edf", signals, rates, annotations=[(0, 60, "W")], dimension="UV")
    a = preprocess(lower, tmp_path / "lower.h5")
    b = preprocess(upper, tmp_path / "upper.h5")
    assert a.eeg.shape == (2, 9, 1920)
    assert dominant_hz(a.eeg[0, 7], 64.0) == pytest.approx(FREQ["O2"], abs=1 / 30)
    assert a.extra_attrs["norm_scale_uv"] == pytest.approx(b.extra_attrs["norm_scale_uv"], rel=1e-6)
    assert np.array(a.extra_attrs["norm_scale_uv"]) == pytest.approx(56.6, rel=0.15)  # 40 uV sines, not 40e-6


def test_artifact_flags(tmp_path):
    sf, seconds = 256, 150
    signals = {f"EEG {n}-Ref": tone(n, seconds, sf) for n in NEONATAL}
    o1 = signals["EEG O1-Ref"]
    o1[30 * sf + 100: 30 * sf + 400] = 1000.0  # epoch 1: 300 samples (4 %) at the physical maximum
    c3 = signals["EEG C3-Ref"]
    c3[60 * sf: 61 * sf] += 800 * np.sin(2 * np.pi * 5 * np.arange(sf) / sf)  # epoch 2: a 0.8 mV 5 Hz burst
    signals["EEG Fp2-Ref"][120 * sf:] = 0.0  # epoch 4: Fp2 flat
    edf = write_edf(tmp_path / "art.edf", signals, sf, annotations=[(0, seconds, "QS")],
                    physical_range=(-1000.0, 1000.0))
    rec = preprocess(edf, tmp_path / "art.h5", PreprocessConfig(amplitude_uv=600.0))
    flags = rec.artifact.tolist()
    assert flags[0] == 0 and flags[3] == 0
    assert flags[1] & CLIPPED and not flags[1] & FLAT
    assert flags[2] == AMPLITUDE
    assert flags[4] == FLAT
    # normalisation ignored the flagged epochs: clean epochs still have IQR 1
    clean = rec.eeg[np.array(flags) == 0]
    q25, q75 = np.percentile(clean[:, 1, :], [25, 75])
    assert q75 - q25 == pytest.approx(1.0, abs=1e-3)


def test_flat_reference_channel_warns_once_and_flags_no_epoch(tmp_path, caplog):
    signals = {f"EEG {n}-Ref": tone(n, 90, 256) for n in NEONATAL}
    signals["EEG Cz-Ref"] = np.full(90 * 256, 3.0)  # the recording reference: flat all along
    signals["EEG O1-Ref"][30 * 256:60 * 256] = 1.0  # a loose electrode in epoch 1 only: an artefact
    edf = write_edf(tmp_path / "flat.edf", signals, 256, annotations=[(0, 90, "AS")])
    rec = preprocess(edf, tmp_path / "flat.h5")
    assert rec.artifact.tolist() == [0, FLAT, 0]  # the reference does not flag every epoch; O1 flags its one
    assert rec.extra_attrs["flat_channels"] == ["Cz"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "channel Cz is flat" in warnings[0] and "drop it from 'channels'" in warnings[0]
    assert rec.extra_attrs["norm_scale_uv"][8] == 1.0  # centred, not blown up
    assert np.abs(rec.eeg[:, 8]).max() < 0.1


def test_unlabelled_epochs_drop_keep_and_grid_offset(tmp_path):
    # labels start at 20 s and leave a gap: grid = 20 + 30 k, extended back to the start only when kept
    stages = [(20, 60, "QS"), (110, 30, "AS"), (170, 45, "W")]  # 170 + 45: the partial tail is unlabelled
    edf = neonatal_edf(tmp_path / "g.edf", seconds=240, stages=stages)
    partial = PreprocessConfig(labels_must_fit=False)  # the labels span 20-215 s of 240 s (81 %)
    drop = preprocess(edf, tmp_path / "drop.h5", partial)
    assert drop.onset_s.tolist() == [20.0, 50.0, 110.0, 170.0]
    assert drop.labels.tolist() == [1, 1, 0, 2]
    keep = preprocess(edf, tmp_path / "keep.h5", PreprocessConfig(unlabelled="keep", labels_must_fit=False))
    assert keep.onset_s.tolist() == [20.0, 50.0, 80.0, 110.0, 140.0, 170.0, 200.0]
    assert keep.labels.tolist() == [1, 1, -1, 0, -1, 2, -1]


def test_label_tables_and_none(tmp_path):
    edf = neonatal_edf(tmp_path / "t.edf", seconds=120)
    tsv = tmp_path / "t_labels.tsv"
    tsv.write_text("onset_s\tduration_s\tstage\n0\t90\tQuiet Sleep\n90\t30\tTS\n")
    csv = tmp_path / "t_labels.csv"
    csv.write_text("onset_s,duration_s,stage\n0,90,QS\n90,30,IS\n")
    a = preprocess(edf, tmp_path / "a.h5", labels_path=tsv)
    b = preprocess(edf, tmp_path / "b.h5", labels_path=csv, label_format="csv")
    assert a.labels.tolist() == b.labels.tolist() == [1, 1, 1, 3]
    none = preprocess(edf, tmp_path / "n.h5", label_format="none")
    assert none.labels.tolist() == [-1] * 4
    auto = preprocess(edf, tmp_path / "auto.h5")  # no --labels, no annotations: unlabelled, with a warning
    assert auto.labels.tolist() == [-1] * 4


def test_crop_to_sleep_period(tmp_path):
    stages = [(0, 300, "W"), (300, 60, "QS"), (360, 60, "AS"), (420, 180, "W")]
    edf = neonatal_edf(tmp_path / "c.edf", seconds=600, stages=stages)
    rec = preprocess(edf, tmp_path / "c.h5", PreprocessConfig(crop_sleep_min=1.0))  # +- 2 epochs
    assert rec.onset_s.tolist() == [240.0 + 30 * i for i in range(8)]
    assert rec.labels.tolist() == [2, 2, 1, 1, 0, 0, 2, 2]


def test_config_yaml_preset_and_set(tmp_path):
    cfg_file = tmp_path / "p.yaml"
    cfg_file.write_text("preset: sleep-edf\nepoch_s: 20\nlabel_map:\n  quiet: N3\n")
    name, cfg = resolve_config(None, cfg_file, ["h_freq=25", "aliases.Fpz=[FP1]"])
    assert name == "sleep-edf" and cfg.epoch_s == 20 and cfg.h_freq == 25.0
    assert cfg.label_map == {"quiet": "N3"} and cfg.aliases == {"Fpz": ["FP1"]}
    assert cfg.channels == ["Fpz-Cz", "Pz-Oz", "EOG horizontal"]
    # through the CLI: a YAML config and --set end up in the file's attributes
    edf = neonatal_edf(tmp_path / "y.edf", seconds=60, stages=[(0, 60, "QS")])
    cfg_file.write_text("epoch_s: 20\nchannels: [Fp1, Fp2]\n")
    out = tmp_path / "y.h5"
    assert main(["preprocess", str(edf), "--config", str(cfg_file), "--set", "resample_hz=128",
                 "--infant-id", "baby7", "--out", str(out)]) == 0
    rec = read_recording(out)
    assert rec.eeg.shape == (3, 2, 20 * 128) and rec.infant_id == "baby7"
    assert rec.preprocess_config["epoch_s"] == 20 and rec.preprocess_config["resample_hz"] == 128


@pytest.mark.slow  # 23 s alone (51 s on the shared machine under load): 6 snakemake starts, 4 preprocess jobs
def test_workflow_reruns_preprocessing_exactly_when_its_config_changes(tmp_path):
    """Real snakemake, preprocess jobs only: a changed row override reruns that infant's HDF5 only, a changed
    config file those it changes, nothing changed nothing; an invalid preset fails at parse time in one line."""
    import re

    from wfutil import copy_workflow, snakemake

    wd = copy_workflow(tmp_path / "wd")
    for name in "abc":
        neonatal_edf(wd / f"{name}.edf", seconds=60, sfreq=64, stages=[(0, 60, "AS")], seed=ord(name))
    cohort = "infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks\toverrides\n"
    cohort += "".join(f"{n}\t{n}.edf\t\tannotations\t\t\n" for n in "abc")
    (wd / "cohort.tsv").write_text(cohort)
    (wd / "pre.yaml").write_text("preset: neonatal\nh_freq: 30\n")
    (wd / "study.yaml").write_text("study: rr\ncohort: cohort.tsv\nsynthetic: {enabled: false}\n"
                                   "preprocess: {config: pre.yaml}\n")
    h5 = [f"results/rr/h5/{n}.h5" for n in "abc"]

    def planned() -> list[str]:
        out = snakemake(wd, *h5, "-n", "--configfile", "study.yaml").stdout
        return sorted(set(re.findall(r"output: results/rr/h5/(\w)\.h5", out)))

    snakemake(wd, *h5, "--cores", "2", "--configfile", "study.yaml")
    assert planned() == []  # nothing changed: nothing to do
    first = {n: (wd / f"results/rr/h5/{n}.h5").stat().st_mtime_ns for n in "abc"}

    # a per-recording setting that does not shape the signal (its own epoch grid); a filter per row is refused
    (wd / "cohort.tsv").write_text(cohort.replace("b\tb.edf\t\tannotations\t\t",
                                                  "b\tb.edf\t\tannotations\t\tgrid_start_s=10"))
    assert planned() == ["b"]
    snakemake(wd, *h5, "--cores", "1", "--configfile", "study.yaml")
    after = {n: (wd / f"results/rr/h5/{n}.h5").stat().st_mtime_ns for n in "abc"}
    assert [n for n in "abc" if after[n] != first[n]] == ["b"]
    assert read_recording(wd / "results/rr/h5/b.h5").preprocess_config["grid_start_s"] == 10

    # the config file's contents: every recording whose resolved config changes
    (wd / "pre.yaml").write_text("preset: neonatal\nh_freq: 25\n")
    assert planned() == ["a", "b", "c"]
    (wd / "pre.yaml").write_text("preset: neonatl\n")
    proc = snakemake(wd, *h5, "-n", "--configfile", "study.yaml", check=False)
    assert proc.returncode != 0
    assert "unknown preset 'neonatl'; available: neonatal, sleep-edf, dreams (config key 'preprocess')" in (
        proc.stdout + proc.stderr)
