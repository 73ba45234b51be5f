"""Recording-side checks of issue 17: a text file's rate is never lent by the model, labels must fit the
recording's length, flat or disconnected input channels flag their epochs, and the EDF+ hypnogram of
`neonas predict` reads back as labels."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_file
from edfmaker import tone, write_edf
from neonas.cli import main
from neonas.store.h5io import read_recording
from predictfixture import CHANNELS, set_args, tiny_model_once

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_once(tmp_path_factory)


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def text_recording(path: Path, seconds: float, sfreq: float) -> Path:
    """A CSV signal with the tiny model's channels, one column each (uV)."""
    data = np.column_stack([tone(c, seconds, sfreq) for c in CHANNELS])
    np.savetxt(path, data, delimiter=",", header=",".join(CHANNELS), comments="", fmt="%.3f")
    return path


# --- finding 3: text sampling rates ------------------------------------------------------------------

def test_predict_never_lends_the_models_rate_to_a_text_file(tiny_model, tmp_path, capsys):
    rec = text_recording(tmp_path / "night.csv", 48.0, 128.0)
    # a model whose first training infant was a text file at 256 Hz: its stored rate must not be used
    ckpt = torch.load(tiny_model, weights_only=True)
    ckpt["preprocess"]["text_sfreq_hz"] = 256.0
    model = tmp_path / "m.pt"
    torch.save(ckpt, model)
    out = tmp_path / "night.tsv"
    capsys.readouterr()
    assert main(["predict", str(rec), "--model", str(model), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "night.csv" in err and "never assumes the model's training rate" in err, err
    assert "text_sfreq_hz=RATE" in err and not out.exists()
    assert main(["predict", str(rec), "--model", str(model), "--set", "text_sfreq_hz=128", "--out", str(out)]) == 0
    assert len(read_tsv(out)) == 6  # 48 s at its true rate: six 8 s epochs (at 256 Hz it would have been three)
    # a cohort row's overrides column declares the rate the same way
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text(f"infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks\toverrides\n"
                     f"n1\t{rec}\t\tnone\t\ttext_sfreq_hz=128\n")
    assert main(["predict", "--cohort", str(sheet), "--model", str(model), "--out", str(tmp_path / "hyp")]) == 0
    assert len(read_tsv(tmp_path / "hyp" / "n1.tsv")) == 6


def _labels(path: Path, seconds: float) -> Path:
    rows = [f"{i * 8.0:.1f}\t8.0\t{('AS', 'QS')[i % 2]}" for i in range(int(seconds // 8))]
    path.write_text("onset_s\tduration_s\tstage\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("case", ["rate too low", "rate too high", "partial labels"])
def test_preprocess_refuses_labels_that_do_not_fit_the_recording(tmp_path, capsys, caplog, case):
    """A 64 s signal at 128 Hz with 64 s of labels: declared at 64 Hz it lasts 128 s (labels span 50 %);
    declared at 140 Hz it lasts 58.5 s (the labels run past its end, by less than one epoch)."""
    rec = text_recording(tmp_path / "sig.csv", 64.0, 128.0)
    labels = _labels(tmp_path / "lab.tsv", 64.0)
    rate = {"rate too low": 64, "rate too high": 140, "partial labels": 64}[case]
    args = ["preprocess", str(rec), "--labels", str(labels), *set_args(), "--set", f"text_sfreq_hz={rate}",
            "--out", str(tmp_path / "o.h5")]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sig.csv" in err and f"text_sfreq_hz={rate} Hz" in err, err
    assert ("span only 50%" if rate == 64 else "run 5.48571 s past its end") in err, err
    assert "--partial-labels" in err and not (tmp_path / "o.h5").exists()
    if case == "partial labels":  # the override: a warning, and the file is written
        assert main([*args, "--partial-labels"]) == 0
        assert "span only 50%" in caplog.text and "labels_must_fit is false: kept" in caplog.text
        assert read_recording(tmp_path / "o.h5", load_eeg=False).preprocess_config["labels_must_fit"] is False


def test_preprocess_accepts_labels_that_fit(tmp_path):
    rec = text_recording(tmp_path / "sig.csv", 64.0, 128.0)
    labels = _labels(tmp_path / "lab.tsv", 64.0)
    assert main(["preprocess", str(rec), "--labels", str(labels), *set_args(), "--set", "text_sfreq_hz=128",
                 "--out", str(tmp_path / "o.h5")]) == 0
    assert read_recording(tmp_path / "o.h5", load_eeg=False).n_epochs == 8


@pytest.mark.shared
def test_dreams_excerpt2_at_half_its_rate_is_refused(tmp_path, capsys):
    """DREAMS excerpt2.txt is 200 Hz (README); declared 100 Hz, its 1800 s of labels span half of it."""
    rec = shared_file("dreams-spindles", "excerpt2.txt")
    labels = shared_file("dreams-spindles", "Hypnogram_excerpt2.txt")
    capsys.readouterr()
    assert main(["preprocess", str(rec), "--labels", str(labels), "--preset", "dreams", "--set", "text_sfreq_hz=100",
                 "--out", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert "span only 50%" in err and "3600 s at the declared text_sfreq_hz=100 Hz" in err, err


# --- finding 4: the EDF+ round trip --------------------------------------------------------------------

def test_predicted_edf_hypnogram_reads_back_as_labels_with_artefacts(tiny_model, tmp_path):
    """predict --format edf on a recording with a clipped epoch, then `neonas preprocess --labels` of that file:
    the labels are the predicted stages, the artefact annotation is skipped, not read as a stage."""
    sfreq, seconds = 256.0, 64.0
    signals = {f"EEG {n}-Ref": tone(n, seconds, sfreq) for n in ("C3", "O1", "Cz")}
    signals["EEG O1-Ref"][round(24 * sfreq):round(32 * sfreq)] = 1000.0  # epoch 3 on the amplifier's rail
    rec = write_edf(tmp_path / "rail.edf", signals, sfreq)
    hyp = tmp_path / "rail_hyp.edf"
    assert main(["predict", str(rec), "--model", str(tiny_model), "--format", "edf", "--out", str(hyp)]) == 0
    assert main(["predict", str(rec), "--model", str(tiny_model), "--out", str(tmp_path / "rail.tsv")]) == 0
    rows = read_tsv(tmp_path / "rail.tsv")
    assert [r["artefact"] for r in rows].count("none") == 7 and rows[3]["artefact"] != "none"
    assert main(["preprocess", str(rec), "--labels", str(hyp), *set_args(), "--out", str(tmp_path / "back.h5")]) == 0
    back = read_recording(tmp_path / "back.h5", load_eeg=False)
    assert back.onset_s.tolist() == [8.0 * i for i in range(8)]
    assert [back.label_names[k] for k in back.labels] == [r["stage"] for r in rows]
    assert back.artifact[3] != 0 and not back.artifact[[0, 1, 2, 4, 5, 6, 7]].any()
