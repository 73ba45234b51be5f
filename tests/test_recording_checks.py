"""Recording-side checks of issue 17: a text file's rate is never lent by the model, labels must fit the
recording's length, flat or disconnected input channels flag their epochs, and the EDF+ hypnogram of
`neonas predict` reads back as labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_file
from edfmaker import tone, write_edf
from neonas.cli import main
from neonas.store.h5io import read_recording
from predictfixture import CHANNELS, read_tsv, set_args, tiny_model_once

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_once(tmp_path_factory)


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


def test_predict_warns_when_a_declared_rate_looks_wrong(tiny_model, tmp_path, caplog):
    """No labels check a text file's rate in predict (issue 24). A 128 Hz CSV with a 50 Hz power line, declared
    100 Hz: not a rate of the model's training recordings (256 Hz EDF), and its line shows at 39 Hz, where no
    power line is; declared 128 Hz, the line is at 50 Hz: only the training-rate note."""
    seconds, sfreq = 64.0, 128.0
    t = np.arange(round(seconds * sfreq)) / sfreq
    data = np.column_stack([tone(c, seconds, sfreq) + 30 * np.sin(2 * np.pi * 50 * t) for c in CHANNELS])
    rec = tmp_path / "mains.csv"
    np.savetxt(rec, data, delimiter=",", header=",".join(CHANNELS), comments="", fmt="%.3f")
    ckpt = torch.load(tiny_model, weights_only=True)
    assert ckpt["training_cohort"]["source_sfreq_hz"] == [256.0]
    out = tmp_path / "o.tsv"
    assert main(["predict", str(rec), "--model", str(tiny_model), "--set", "text_sfreq_hz=100", "--out", str(out)]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "text_sfreq_hz" in r.getMessage()]
    assert len(warned) == 2 and all(str(rec) in w for w in warned), warned
    assert "declared text_sfreq_hz=100 Hz is not one of the rates of the model's training recordings (256 Hz)" in \
        warned[0]
    assert "narrow line at 39" in warned[1] and "true rate is about 12" in warned[1], warned[1]
    caplog.clear()
    assert main(["predict", str(rec), "--model", str(tiny_model), "--set", "text_sfreq_hz=128", "--out", str(out)]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "text_sfreq_hz" in r.getMessage()]
    assert len(warned) == 1 and "text_sfreq_hz=128 Hz is not one of" in warned[0], warned


def test_the_line_detector_finds_mains_not_rhythms():
    """A 12 dB alpha-like rhythm 1 Hz wide is not a line; a 50 Hz sine 10x below the EEG's amplitude is."""
    from neonas.ingest.ratecheck import line_peak

    rng = np.random.default_rng(0)
    fs, n = 200.0, 200 * 600
    t = np.arange(n) / fs
    eeg = np.cumsum(rng.normal(0, 1, n)) * 0.05 + rng.normal(0, 1, n)
    alpha = 4 * np.sin(2 * np.pi * 10 * t - 10 * np.cos(2 * np.pi * 0.05 * t))  # 10 +- 0.5 Hz, wandering
    assert line_peak((eeg + alpha)[None], fs) is None
    freq, db = line_peak((eeg + alpha + 0.3 * np.sin(2 * np.pi * 50 * t))[None], fs)
    assert freq == 50.0 and db > 8


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
    assert ("its 8192 samples last 128 s, but the labels " + str(labels) + " span 64 s (0-64 s): 64 s apart, more "
            "than one 8 s epoch (they would fit 128 Hz)" if rate == 64 else "run 5.48571 s past its end") in err, err
    assert "--partial-labels" in err and not (tmp_path / "o.h5").exists()
    if case == "partial labels":  # the override: a warning, and the file is written
        assert main([*args, "--partial-labels"]) == 0
        assert "span 64 s" in caplog.text and "labels_must_fit is false: kept" in caplog.text
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
    assert "text_sfreq_hz=100 Hz its 360000 samples last 3600 s, but the labels" in err, err
    assert "span 1800 s (0-1800 s): 1800 s apart" in err and "(they would fit 200 Hz)" in err, err


@pytest.mark.shared
@pytest.mark.parametrize("rate", [90, 200])
def test_dreams_excerpt1_at_a_wrong_rate_is_refused_naming_it(tmp_path, capsys, rate):
    """DREAMS excerpt1.txt is 100 Hz, 1800 s. Declared 90 Hz it lasts 2000 s: its labels still cover 90 % of it
    (once accepted without a word), but are 200 s (10 epochs) off their EEG by the end; declared 200 Hz the labels
    run past its end (once blamed on the label file, without naming the rate)."""
    rec = shared_file("dreams-spindles", "excerpt1.txt")
    labels = shared_file("dreams-spindles", "Hypnogram_excerpt1.txt")
    out = tmp_path / "x.h5"
    args = ["preprocess", str(rec), "--labels", str(labels), "--preset", "dreams", "--out", str(out)]
    capsys.readouterr()
    assert main([*args, "--set", f"text_sfreq_hz={rate}"]) == 2
    err = capsys.readouterr().err
    last = {90: 2000, 200: 900}[rate]
    assert err.count("\n") == 1 and err.startswith(f"neonas preprocess: error: {rec}: at the declared "
                                                     f"text_sfreq_hz={rate} Hz its 180000 samples last {last} s"), err
    assert f"span 1800 s (0-1800 s): {abs(1800 - last)} s apart" in err and "(they would fit 100 Hz)" in err, err
    assert not out.exists()
    assert main([*args, "--set", "text_sfreq_hz=100"]) == 0 and out.exists()


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


# --- finding 6, recording side: flat or disconnected channels ----------------------------------------

def test_synthetic_loose_electrode_episode_flags_its_epochs(tmp_path):
    """The synthetic cohort's loose electrode (0.02 x its EEG + 0.5 uV noise, a few minutes): std ~1 uV, above
    flat_uv, but a few % of its neighbours' in the same epochs: those epochs are flagged flat, the others not."""
    import dataclasses

    from neonas.ingest.preprocess import preprocess
    from neonas.ingest.synth import write_edf as write_synth
    from neonas.ingest.synth_model import draw_infant, simulate_infant
    from neonas.store.h5io import FLAT

    p = dataclasses.replace(draw_infant(7, 0), flat_channel="C3", flat_start_frac=0.3, flat_min=4.0)
    syn = simulate_infant(p, 30, 256.0, 7, 0)
    write_synth(tmp_path / "syn.edf", syn)
    rec = preprocess(tmp_path / "syn.edf", tmp_path / "syn.h5")
    _, a, b = syn.flat
    inside = (rec.onset_s * 256 >= a) & ((rec.onset_s + 30) * 256 <= b)
    assert inside.sum() == 8  # 4 min episode from 0.3 x 15 min = 270 s: 8 whole 30 s epochs inside it
    flat = (rec.artifact & FLAT) != 0
    assert flat[inside].all()
    outside = ((rec.onset_s + 30) * 256 <= a) | (rec.onset_s * 256 >= b)
    assert not flat[outside].any()
    assert rec.extra_attrs["flat_channels"] == []
    # the file says it is synthetic (the EDF+ equipment code of `neonas synth`), and so does a model's cohort
    from neonas.training.modelcard import training_cohort

    assert rec.extra_attrs["synthetic"] is True
    assert training_cohort([tmp_path / "syn.h5"]) == {"source": "synthetic", "recordings": 1, "infants": 1,
                                                      "synthetic_recordings": 1, "hours": 0.25,
                                                      "source_sfreq_hz": [256.0]}


def test_a_zeroed_channel_flags_every_epoch_in_predict_but_stays_a_reference_in_preprocess(tiny_model, tmp_path,
                                                                                        caplog):
    """Cz zeroed on purpose: the model needs it, so predict flags every epoch; `neonas preprocess` of the same file
    keeps the reference rule (one warning, no epoch flagged)."""
    sfreq, seconds = 256.0, 48.0
    signals = {f"EEG {n}-Ref": tone(n, seconds, sfreq) for n in ("C3", "O1")}
    signals["EEG Cz-Ref"] = np.zeros(round(seconds * sfreq))
    rec = write_edf(tmp_path / "cz0.edf", signals, sfreq)
    assert main(["predict", str(rec), "--model", str(tiny_model), "--out", str(tmp_path / "cz0.tsv")]) == 0
    rows = read_tsv(tmp_path / "cz0.tsv")
    assert len(rows) == 6 and {r["artefact"] for r in rows} == {"flat"}
    assert "channel Cz is flat" in caplog.text and "the model needs it" in caplog.text
    caplog.clear()
    assert main(["preprocess", str(rec), "--label-format", "none", *set_args(), "--out", str(tmp_path / "p.h5")]) == 0
    h5 = read_recording(tmp_path / "p.h5", load_eeg=False)
    assert not h5.artifact.any() and h5.extra_attrs["flat_channels"] == ["Cz"]
    assert "looks like the recording reference" in caplog.text


def test_a_disconnected_episode_on_one_channel_is_flagged(tmp_path):
    """O1 drops to 2 % of its signal (plus 0.5 uV noise) for 16 s: std above flat_uv, still flagged."""
    sfreq, seconds = 256.0, 64.0
    signals = {f"EEG {n}-Ref": tone(n, seconds, sfreq) for n in CHANNELS}
    a, b = round(16 * sfreq), round(32 * sfreq)
    rng = np.random.default_rng(0)
    signals["EEG O1-Ref"][a:b] = 0.02 * signals["EEG O1-Ref"][a:b] + 0.5 * rng.standard_normal(b - a)
    rec = write_edf(tmp_path / "loose.edf", signals, sfreq)
    assert main(["preprocess", str(rec), "--label-format", "none", *set_args(), "--out", str(tmp_path / "l.h5")]) == 0
    h5 = read_recording(tmp_path / "l.h5", load_eeg=False)
    assert h5.artifact.tolist() == [0, 0, 1, 1, 0, 0, 0, 0]  # FLAT is bit 0


def test_model_card_states_the_training_cohort_and_predict_warns_on_synthetic_models(tiny_model, tmp_path, caplog):
    from neonas.training.modelcard import card, card_markdown

    ckpt = torch.load(tiny_model, weights_only=True)
    # fold 0 of 3 infants: one training and one validation infant, 96 s (12 epochs of 8 s) each
    assert ckpt["training_cohort"] == {"source": "real", "recordings": 2, "infants": 2, "synthetic_recordings": 0,
                                       "hours": round(192 / 3600, 3), "source_sfreq_hz": [256.0]}
    assert "training cohort: real recordings (not made by neonas synth): 2 recording(s) of 2 infant(s)" in \
        card_markdown(card(ckpt, tiny_model))
    rec = write_edf(tmp_path / "r.edf", {f"EEG {n}-Ref": tone(n, 24.0, 256.0) for n in CHANNELS})
    assert main(["predict", str(rec), "--model", str(tiny_model), "--out", str(tmp_path / "r.tsv")]) == 0
    assert "trained on synthetic data" not in caplog.text
    ckpt["training_cohort"] = {**ckpt["training_cohort"], "source": "synthetic", "synthetic_recordings": 2}
    torch.save(ckpt, tmp_path / "syn.pt")
    assert "training cohort: synthetic (neonas synth): 2 recording(s)" in card_markdown(card(ckpt, tmp_path / "syn.pt"))
    assert main(["predict", str(rec), "--model", str(tmp_path / "syn.pt"), "--out", str(tmp_path / "r.tsv")]) == 0
    assert "was trained on synthetic data only" in caplog.text and "not validated" in caplog.text


# --- montage tolerance ---------------------------------------------------------------------------------

def test_bipolar_pairs_are_found_under_alias_names_or_derived(tmp_path):
    """T3-C3 is stored in the file as T7-C3 (T3/T7 are aliases): used as it is; F7-C3 is derived from the
    referential F7 and C3; Cz is a channel of its own."""
    from neonas.ingest.montage import resolve_montage
    from neonas.ingest.presets import PreprocessConfig
    from neonas.ingest.readers import open_recording

    signals = {"T7-C3": tone("T7", 16.0, 256.0), **{f"EEG {n}-Ref": tone(n, 16.0, 256.0) for n in ("F7", "C3", "Cz")}}
    rec = write_edf(tmp_path / "mixed.edf", signals)
    cfg = PreprocessConfig(channels=["T3-C3", "F7-C3", "Cz"])
    montage = resolve_montage(open_recording(rec, cfg), cfg)
    assert [d.describe() for d in montage] == ["T7-C3", "EEG F7-Ref - EEG C3-Ref", "EEG Cz-Ref"]


def test_predict_explains_what_cannot_be_derived_without_suggesting_channels(tiny_model, tmp_path, capsys):
    """A referential model (C3, O1, Cz) on a file of bipolar pairs: one line saying a single electrode cannot be
    recovered from pairs, and suggesting aliases (which predict accepts), not 'channels' (which it refuses)."""
    signals = {p: tone(p.split("-")[0], 24.0, 256.0) for p in ("F7-C3", "C3-O1", "O1-Cz", "Fp1-Cz")}
    rec = write_edf(tmp_path / "pairs.edf", signals)
    capsys.readouterr()
    assert main(["predict", str(rec), "--model", str(tiny_model), "--out", str(tmp_path / "p.tsv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "C3, O1, Cz not found" in err, err
    assert "cannot be recovered from pairs" in err and "--set 'aliases={C3: [NAME IN FILE]}'" in err, err
    assert "'channels'" not in err and "the file has: F7-C3, C3-O1, O1-Cz, Fp1-Cz" in err, err
