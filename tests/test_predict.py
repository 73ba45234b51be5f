"""`neonas predict`: stages unlabelled EDFs with the preprocessing stored in model.pt; TSV and EDF+ read back
with MNE; several recordings and cohort sheets; bad input fails with one clear line; real neonatal EDFs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mne
import numpy as np
import pytest
import torch

from conftest import shared_file
from edfmaker import tone, write_edf
from neonas.cli import main
from neonas.store.h5io import read_recording
from neonas.training.evaluate import load_model, predict
from predictfixture import (
    CHANNELS,
    EPOCH_S,
    SETTINGS,
    read_tsv,
    recording,
    set_args,
    tiny_model_once,
    train_tiny,
)
from wfutil import copy_workflow, snakemake

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_once(tmp_path_factory)


def edited_model(model: Path, out: Path, edit) -> Path:
    ckpt = torch.load(model, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, out)
    return out


def test_model_carries_its_preprocessing(tiny_model):
    ckpt = torch.load(tiny_model, weights_only=True)
    pre = ckpt["preprocess"]
    assert pre["preset"] == "neonatal" and pre["channels"] == CHANNELS
    assert (pre["resample_hz"], pre["epoch_s"], pre["h_freq"]) == (32.0, EPOCH_S, 12.0)
    assert ckpt["neonas_version"] and ckpt["ch_names"] == CHANNELS


def test_tsv_equals_preprocess_then_model(tiny_model, tmp_path, capsys):
    """The TSV's probabilities are the model's softmax on exactly what `neonas preprocess` makes of the file."""
    rec = recording(tmp_path / "new.edf", seconds=100.0, seed=5)
    assert main(["predict", str(rec), "--model", str(tiny_model), "--out", str(tmp_path / "new.tsv"), "--plot"]) == 0
    rows = read_tsv(tmp_path / "new.tsv")
    assert list(rows[0]) == ["onset_s", "duration_s", "stage", "p_AS", "p_QS", "p_W", "p_IS", "artefact"]
    assert len(rows) == 12  # 100 s in whole 8 s epochs
    assert [float(r["onset_s"]) for r in rows] == [8.0 * i for i in range(12)]
    assert {r["duration_s"] for r in rows} == {"8.000"} and {r["artefact"] for r in rows} == {"none"}
    proba = np.array([[float(r[f"p_{s}"]) for s in ("AS", "QS", "W", "IS")] for r in rows])
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=3e-4)
    assert [r["stage"] for r in rows] == [("AS", "QS", "W", "IS")[k] for k in proba.argmax(1)]

    # the same file through `neonas preprocess` with the training settings and no labels, then the model
    assert main(["preprocess", str(rec), "--label-format", "none", *set_args(), "--out", str(tmp_path / "n.h5")]) == 0
    h5 = read_recording(tmp_path / "n.h5")
    model, _ = load_model(tiny_model, torch.device("cpu"))
    want = torch.softmax(torch.from_numpy(predict(model, h5.eeg, torch.device("cpu"))).double(), 1).numpy()
    np.testing.assert_allclose(proba, want, atol=6e-5)  # the TSV has 4 decimals
    png = (tmp_path / "new.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_edf_annotations_read_back_with_mne_and_artefacts_are_marked(tiny_model, tmp_path):
    sfreq, seconds = 256.0, 64.0
    signals = {f"EEG {n}-Ref": tone(n, seconds, sfreq) for n in ("C3", "O1", "Cz", "Fp1")}
    signals["EEG O1-Ref"][round(24 * sfreq):round(32 * sfreq)] = 1000.0  # epoch 3 sits on the amplifier's rail
    rec = write_edf(tmp_path / "rail.edf", signals, sfreq)
    assert main(["predict", str(rec), "--model", str(tiny_model), "--out", str(tmp_path / "rail.tsv")]) == 0
    assert main(["predict", str(rec), "--model", str(tiny_model), "--format", "edf",
                 "--out", str(tmp_path / "rail_hyp.edf")]) == 0
    rows = read_tsv(tmp_path / "rail.tsv")
    flagged = [r["onset_s"] for r in rows if r["artefact"] != "none"]
    assert flagged == ["24.000"] and "clipped" in rows[3]["artefact"]
    assert rows[3]["stage"] in ("AS", "QS", "W", "IS")  # staged, and marked

    ann = mne.read_annotations(tmp_path / "rail_hyp.edf")
    stages = [(o, d, t) for o, d, t in zip(ann.onset, ann.duration, ann.description, strict=True)
              if t.startswith("Sleep stage ")]
    assert [(o, d, t) for o, d, t in stages] == [(8.0 * i, 8.0, f"Sleep stage {r['stage']}") for i, r in enumerate(rows)]
    arts = [(o, t) for o, t in zip(ann.onset, ann.description, strict=True) if t.startswith("BAD_artefact")]
    assert arts == [(24.0, f"BAD_artefact {rows[3]['artefact']}")]


def test_several_recordings_and_a_cohort_sheet(tiny_model, tmp_path):
    a = recording(tmp_path / "a.edf", seconds=40.0, seed=1)
    b = recording(tmp_path / "b.edf", seconds=40.0, seed=2)
    c = recording(tmp_path / "c.edf", seconds=40.0, seed=3, labelled=True)
    sheet = tmp_path / "cohort.tsv"
    sheet.write_text("infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks\n"
                     f"inf_b\t{b}\t\tnone\t40\ninf_c\t{c}\t\tannotations\t41\n")
    out = tmp_path / "hyp"
    assert main(["predict", str(a), "--cohort", str(sheet), "--model", str(tiny_model), "--format", "edf",
                 "--plot", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.edf", "a.png", "inf_b.edf", "inf_b.png"]  # c has labels
    assert len(mne.read_annotations(out / "inf_b.edf")) == 5


def test_retrain_refuses_infants_preprocessed_differently(tmp_path, capsys):
    sets = lambda h: [a for s in [*SETTINGS[:3], f"h_freq={h}"] for a in ("--set", s)]  # noqa: E731
    h5 = []
    for i, h in enumerate((12, 12, 12)):
        edf = recording(tmp_path / f"r{i}.edf", seconds=48.0, seed=i, labelled=True)
        assert main(["preprocess", str(edf), *sets(h), "--out", str(tmp_path / f"r{i}.h5")]) == 0
        h5.append(str(tmp_path / f"r{i}.h5"))
    assert main(["folds", *h5, "--out", str(tmp_path / "folds.json")]) == 0
    # r2 preprocessed again with another filter after the folds were made (`neonas folds` would refuse it now)
    assert main(["preprocess", str(tmp_path / "r2.edf"), *sets(10), "--out", h5[2]]) == 0
    capsys.readouterr()
    assert main(["folds", *h5, "--out", str(tmp_path / "refused.json")]) == 2
    assert "infant 'r2' was preprocessed differently" in capsys.readouterr().err
    folds = json.loads((tmp_path / "folds.json").read_text())["folds"]
    fold = next(i for i, f in enumerate(folds) if "r2" in f["train"] + f["val"])  # r2 trains with a 12 Hz infant
    (tmp_path / "arch.json").write_text('{"layers": [{"op": "pool", "kind": "max", "skips": []}]}')
    capsys.readouterr()
    assert main(["retrain", "--arch", str(tmp_path / "arch.json"), "--folds", str(tmp_path / "folds.json"),
                 "--fold", str(fold), "--seed", "0", "--set", "epochs=1", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "preprocessed differently" in err and "h_freq: " in err and ("10.0 vs 12.0" in err or "12.0 vs 10.0" in err)
    assert err.count("\n") == 1 and not (tmp_path / "m" / "model.pt").exists()


@pytest.mark.parametrize("case", ["missing channels", "lower rate", "rate kept", "too short", "no preprocess",
                                  "bad set"])
def test_bad_input_fails_with_one_clear_line(tiny_model, tmp_path, capsys, case):
    model, rec, extra = tiny_model, None, []
    if case == "missing channels":
        rec = recording(tmp_path / "r.edf", seconds=40.0, names=("Fp1", "C3", "Cz"))
        expect = ["O1", "not found", "the file has: EEG Fp1-Ref, EEG C3-Ref, EEG Cz-Ref", "needs channels C3, O1, Cz"]
    elif case == "lower rate":  # 28 Hz: the filters fit, but the model was trained on 32 Hz
        rec = recording(tmp_path / "r.edf", seconds=40.0, sfreq=28.0)
        expect = ["sampled at 28 Hz, below the model's 32 Hz"]
    elif case == "rate kept":  # the model keeps the recording's rate; this one has another
        model = edited_model(tiny_model, tmp_path / "m.pt", lambda c: c["preprocess"].update(resample_hz=None))
        rec = recording(tmp_path / "r.edf", seconds=40.0)
        expect = ["sampled at 256 Hz", "the model expects 32 Hz x 256 samples", "resample_hz: null"]
    elif case == "too short":
        rec = recording(tmp_path / "r.edf", seconds=5.0)
        expect = ["lasts 5 s, shorter than one epoch"]
    elif case == "no preprocess":
        model = edited_model(tiny_model, tmp_path / "m.pt", lambda c: c.pop("preprocess"))
        rec = recording(tmp_path / "r.edf", seconds=40.0)
        expect = ["carries no preprocessing config"]
    else:
        rec = recording(tmp_path / "r.edf", seconds=40.0)
        extra = ["--set", "h_freq=20"]
        expect = ["predict cannot change h_freq", "h_freq: 12.0"]
    out = tmp_path / "out.tsv"
    capsys.readouterr()
    assert main(["predict", str(rec), "--model", str(model), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in expect:
        assert text in err, err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_aliases_can_be_set_for_other_channel_names(tiny_model, tmp_path, capsys):
    names = write_edf(tmp_path / "renamed.edf", {"C3x": tone("C3", 40.0, 256.0), "O1": tone("O1", 40.0, 256.0),
                                                 "Cz": tone("Cz", 40.0, 256.0)})
    assert main(["predict", str(names), "--model", str(tiny_model), "--out", str(tmp_path / "renamed.tsv")]) == 2
    assert "C3 not found" in capsys.readouterr().err
    assert main(["predict", str(names), "--model", str(tiny_model), "--set", "aliases={C3: [C3x]}",
                 "--out", str(tmp_path / "renamed.tsv")]) == 0
    assert len(read_tsv(tmp_path / "renamed.tsv")) == 5


@pytest.mark.slow  # two snakemake runs, ~25 s on 2 busy cores
def test_workflow_stages_unlabelled_rows_with_the_final_model(tiny_model, tmp_path):
    """Cohort rows with label_format none stay out of the folds; rule predict stages them with final/model.pt."""
    wd = copy_workflow(tmp_path / "wd")
    recording(wd / "u1.edf", seconds=40.0, seed=3)
    for i in range(3):
        (wd / f"l{i}.edf").touch()  # labelled rows: only planned (-n) here, never read
    rows = "".join(f"l{i}\tl{i}.edf\t\tannotations\t\t\n" for i in range(3))
    rows += "u1\tu1.edf\t\tnone\t\tgrid_start_s=8\n"  # a per-recording override: how to read this file
    (wd / "sheet.tsv").write_text("infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks\toverrides\n" + rows)
    (wd / "study.yaml").write_text("study: pr\ncohort: sheet.tsv\nsynthetic: {enabled: false}\n")
    (wd / "results/pr/final").mkdir(parents=True)
    shutil.copy(tiny_model, wd / "results/pr/final/model.pt")
    configs = ["--configfile", "config/test.yaml", "study.yaml"]
    dry = snakemake(wd, "results/pr/folds.json", "-n", "--cores", "1", *configs).stdout
    assert "h5/l2.h5" in dry and "u1" not in dry  # u1 is in no fold
    # only the predict rules may run: final/ stands in for the final rule's output
    snakemake(wd, "predict_all", "--cores", "1", *configs, "--allowed-rules", "predict", "predict_all")
    rows = read_tsv(wd / "results/pr/predict/u1.tsv")
    assert [r["onset_s"] for r in rows] == ["8.000", "16.000", "24.000", "32.000"]  # the grid from 8 s
    assert (wd / "results/pr/predict/u1.png").exists()
    assert json.loads((wd / "results/pr/predict/u1.stats.json").read_text())["epochs"] == 4


@pytest.mark.shared
def test_real_neonatal_edfs(tiny_model, tmp_path, capsys, caplog):
    """The two real neonatal EDFs, through the CLI and `neonas.stage` (the same code): a referential model stages
    the referential file (whose header claims EDF+ without an annotation signal; its Cz is the flat reference,
    so every epoch is flagged); a bipolar-montage model stages the bipolar file, and the referential file through
    derivation (F7-C3 = F7 - C3); the referential model fails on the bipolar file with one line naming what is
    missing and why it cannot be derived."""
    import neonas
    from neonas.training.hypnogram import Hypnogram

    ref = shared_file("neonatal-eeg-examples", "eeg_burst_eg.edf")
    bip = shared_file("neonatal-eeg-examples", "demo.edf")
    montage = "channels=[F7-C3, C3-T5, F7-T3, T3-T5, F8-C4, C4-T6, F8-T4, T4-T6]"
    torch.set_num_threads(1)
    bip_model = train_tiny(tmp_path / "bip", settings=[montage, *SETTINGS[1:]],
                           edf_kw={"names": ("F7", "C3", "T5", "T3", "F8", "C4", "T6", "T4"), "prefix": "",
                                   "suffix": ""})
    capsys.readouterr()
    assert main(["predict", str(ref), "--model", str(tiny_model), "--stats", "--out", str(tmp_path / "ref.tsv")]) == 0
    rows = read_tsv(tmp_path / "ref.tsv")
    assert len(rows) == 211 // 8 and {r["artefact"] for r in rows} == {"flat"}
    h = neonas.stage(mne.io.read_raw_edf(ref, verbose="error"), tiny_model)
    assert isinstance(h, Hypnogram) and h.to_tsv() == (tmp_path / "ref.tsv").read_text()
    stats = json.loads((tmp_path / "ref.stats.json").read_text())
    assert stats == json.loads(json.dumps(h.stats())) and stats["flagged_share"] == 1.0
    assert stats["epochs"] == 26 and sum(v["minutes"] for v in stats["stages"].values()) == pytest.approx(26 * 8 / 60)

    assert main(["predict", str(bip), "--model", str(bip_model), "--format", "edf", "--stats", "--out",
                 str(tmp_path / "bip_hyp.edf")]) == 0
    assert len([d for d in mne.read_annotations(tmp_path / "bip_hyp.edf").description
                if d.startswith("Sleep stage")]) == 661 // 8
    hb = neonas.stage(mne.io.read_raw_edf(bip, verbose="error"), bip_model)
    assert len(hb.onset_s) == 661 // 8 and json.loads((tmp_path / "bip_hyp.stats.json").read_text())["epochs"] == 82
    # the bipolar model on the referential file: each pair derived from two referential channels
    hd = neonas.stage(ref, bip_model)
    assert len(hd.onset_s) == 211 // 8 and not hd.artifact.any()  # Cz, the flat reference, is in no pair
    capsys.readouterr()
    assert main(["predict", str(bip), "--model", str(tiny_model), "--out", str(tmp_path / "x.tsv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found" in err and "the file has: F7-C3" in err, err


def test_stage_api_takes_a_raw_in_memory_and_a_loaded_model(tiny_model, tmp_path):
    """`neonas.stage(raw, model)`: a path or an MNE Raw (also one edited in memory), a model.pt path or a loaded
    model; the Hypnogram writes what predict writes and draws the figure."""
    import neonas
    from neonas.errors import NeonasError

    rec = recording(tmp_path / "a.edf", seconds=64.0, seed=4)
    from_path = neonas.stage(rec, tiny_model)
    raw = mne.io.read_raw_edf(rec, preload=True, verbose="error")
    from_raw = neonas.stage(raw, load_model(tiny_model, torch.device("cpu")))
    np.testing.assert_allclose(from_raw.proba, from_path.proba, atol=1e-6)
    assert from_raw.stage_names == from_path.stage_names and not from_raw.artifact.any()
    assert from_raw.recording == str(rec) and from_raw.meas_date == raw.info["meas_date"]
    raw._data[raw.ch_names.index("EEG Cz-Ref")] = 0.0  # Cz disconnected, in memory only
    assert neonas.stage(raw, tiny_model).artefact_names() == ["flat"] * 8
    from_path.to_edf(tmp_path / "h.edf")
    assert [d for d in mne.read_annotations(tmp_path / "h.edf").description] == \
        [f"Sleep stage {s}" for s in from_path.stage_names]
    fig = from_path.plot(tmp_path / "h.png")
    assert len(fig.axes) == 2 and (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    import matplotlib.pyplot as plt

    plt.close(fig)
    with pytest.raises(NeonasError, match="expected an mne.io.Raw or the path of a recording, found int"):
        neonas.stage(42, tiny_model)
    array = mne.io.RawArray(raw.get_data(), raw.info, verbose="error")  # a Raw made in memory, no file
    assert neonas.stage(array, tiny_model).infant_id == "mne_raw"
    with pytest.raises(NeonasError, match="model: expected a path to model.pt or a loaded model"):
        neonas.stage(raw, 3.5)
