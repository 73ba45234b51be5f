"""`neonas synth`: real EDF+ through MNE, deterministic bytes, realistic stages, and the planted cue.

The planted-structure test is the contract the architecture search relies on: QS vs IS must be
invisible to per-channel features and to near neighbours, and obvious to homologous pairs (i, i+4).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mne
import numpy as np
import pytest

from neonas import NEONATAL_STAGES
from neonas.cli import main
from neonas.ingest.cohort import load_cohort
from neonas.ingest.synth_model import (
    AS,
    CHANNEL_ORDER,
    EDF_ELECTRODES,
    IS,
    MIN_EPOCHS_FOR_SHARES,
    PAIR_OFFSET,
    QS,
    SHARE_RANGES,
    W,
    draw_infant,
    hypnogram,
    simulate_infant,
    stage_shares,
)
from synthepochs import band_power, lda_balanced_accuracy, pure_epochs

SEED = 3


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def synth(out: Path, *args: str) -> int:
    return main(["synth", "--out", str(out), *args])


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    assert synth(out, "--hours", "0.5", "--n-infants", "2", "--seed", str(SEED)) == 0
    return out


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["synth", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for word in ("--out DIR", "--n-infants", "--hours", "--seed", "--sfreq", "planted.json", "homologous"):
        assert word in text


def test_bad_arguments(tmp_path, capsys):
    assert synth(tmp_path / "a", "--n-infants", "0") == 2
    assert "--n-infants must be 1..99" in capsys.readouterr().err
    assert synth(tmp_path / "b", "--sfreq", "100") == 2
    assert "--sfreq must be" in capsys.readouterr().err
    assert synth(tmp_path / "c", "--hours", "0") == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_files_and_cohort_sheet(cohort):
    names = sorted(p.name for p in cohort.iterdir())
    assert names == ["cohort.tsv", "planted.json", "syn01.edf", "syn01_labels.tsv", "syn02.edf", "syn02_labels.tsv"]
    rows = load_cohort(cohort / "cohort.tsv", check_files=True)
    assert [(r.infant_id, r.eeg_path, r.label_format) for r in rows] == [
        ("syn01", cohort / "syn01.edf", "annotations"), ("syn02", cohort / "syn02.edf", "annotations")]
    assert [r.pma_weeks for r in rows] == [draw_infant(SEED, i).pma_weeks for i in range(2)]
    planted = json.loads((cohort / "planted.json").read_text())
    assert planted["pair_offset"] == PAIR_OFFSET == 4 and planted["stages"] == ["QS", "IS"]
    assert planted["channel_order"] == list(CHANNEL_ORDER)
    order = planted["channel_order"]
    assert all(order.index(r) - order.index(left) == 4 for left, r in planted["pairs"])
    assert sorted(planted["infants"]) == ["syn01", "syn02"] and planted["seed"] == SEED


def test_edf_readable_by_mne_with_annotations_and_microvolts(cohort):
    raw = mne.io.read_raw_edf(cohort / "syn01.edf", preload=True, verbose="error")
    assert raw.ch_names == [f"EEG {e}-Ref" for e in EDF_ELECTRODES]
    assert raw.info["sfreq"] == 256 and raw.n_times == 1800 * 256
    assert raw.info["meas_date"].year == 2000
    ann = raw.annotations
    labels = np.loadtxt(cohort / "syn01_labels.tsv", dtype=str, delimiter="\t", skiprows=1)
    assert len(ann) == len(labels) == 60
    np.testing.assert_allclose(ann.onset, np.arange(60) * 30.0)
    np.testing.assert_allclose(ann.duration, 30.0)
    assert list(ann.description) == [f"Sleep stage {s}" for s in labels[:, 2]]
    assert set(labels[:, 2]) <= set(NEONATAL_STAGES)
    # the file holds exactly the simulated µV, in the EDF channel order (16-bit: 0.1 µV steps)
    syn = simulate_infant(draw_infant(SEED, 0), 60, 256.0, SEED, 0)
    assert [NEONATAL_STAGES[s] for s in syn.stages] == list(labels[:, 2])
    order = [CHANNEL_ORDER.index(e) for e in EDF_ELECTRODES]
    np.testing.assert_allclose(raw.get_data() * 1e6, syn.eeg[order], atol=0.06)


def test_deterministic_bytes(cohort, tmp_path):
    assert synth(tmp_path / "same", "--hours", "0.5", "--n-infants", "2", "--seed", str(SEED)) == 0
    for name in ("syn01.edf", "syn02.edf", "syn01_labels.tsv", "syn02_labels.tsv", "planted.json"):
        assert sha(tmp_path / "same" / name) == sha(cohort / name), name
    assert synth(tmp_path / "other", "--hours", "0.5", "--n-infants", "1", "--seed", str(SEED + 1)) == 0
    assert sha(tmp_path / "other" / "syn01.edf") != sha(cohort / "syn01.edf")
    assert sha(tmp_path / "other" / "syn01_labels.tsv") != sha(cohort / "syn01_labels.tsv")
    # infants do not depend on how many there are
    assert json.loads((tmp_path / "other" / "planted.json").read_text())["infants"]["syn01"]["pma_weeks"] == \
        draw_infant(SEED + 1, 0).pma_weeks


@pytest.mark.parametrize("hours", [2.0, 3.0])
def test_stage_shares_and_ultradian_order(hours):
    n = int(hours * 120)
    assert n >= MIN_EPOCHS_FOR_SHARES
    allowed = {(AS, IS), (IS, QS), (QS, IS), (IS, AS), (AS, W), (W, AS)}
    qs_runs, disagree = [], []
    for seed in range(3):
        for i in range(6):
            p = draw_infant(seed, i)
            true, scored = hypnogram(p, n, np.random.default_rng([seed, i]))
            shares = stage_shares(scored)
            for name, (lo, hi) in SHARE_RANGES.items():
                assert lo <= shares[name] <= hi, (seed, i, shares)
            change = np.flatnonzero(np.diff(true)) + 1
            assert {(int(true[c - 1]), int(true[c])) for c in change} <= allowed
            runs = np.split(true, change)
            qs_runs += [len(r) / 2 for r in runs[1:-1] if r[0] == QS]  # minutes, whole runs only
            disagree.append(np.mean(true != scored))
    assert 12 <= np.median(qs_runs) <= 25  # QS stretches of ~15-20 min in 50-60 min cycles
    assert 0.01 <= np.mean(disagree) <= 0.08  # the scorer is good, not perfect


def _windows(x: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """Peak-to-peak (µV) in every `width`-sample window lying fully inside `mask`, over all channels.

    `mask` is (n,) for all channels or (channels, n) per channel."""
    mask = np.broadcast_to(mask, x.shape)
    n = (x.shape[1] // width) * width
    w = x[:, :n].reshape(x.shape[0], -1, width)
    inside = mask[:, :n].reshape(x.shape[0], -1, width).all(axis=2)
    return np.ptp(w[inside], axis=-1)


def _blocks(*stages: int, each: int) -> np.ndarray:
    return np.repeat(np.array(stages * 2, np.int8), each)


def test_amplitudes_per_stage():
    for index in range(2):
        p = draw_infant(SEED, index)
        syn = simulate_infant(p, 0, 256.0, SEED, index, true_stages=_blocks(AS, IS, QS, W, each=12))
        keep = [c for c in range(9) if syn.flat is None or c != syn.flat[0]]  # no loose electrode
        x = mne.filter.filter_data(syn.eeg[keep].astype(np.float64), 256.0, 0.5, 30.0, verbose="error")
        sig, env = syn.signal_stage, syn.burst_env[keep]
        ta = np.isin(sig, (QS, IS)) & ~syn.hvs
        ibi = _windows(x, ta & (env < 0.01), 256)
        burst = _windows(x, ta & (env > 0.99), 256)
        as_ = _windows(x, sig == AS, 512)
        wake = _windows(x, sig == W, 512)
        assert ibi.size > 100 and burst.size > 100, (ibi.size, burst.size)
        assert np.median(ibi) >= 25.0  # tracé alternant, not discontinu: IBI at least 25 µV
        assert np.median(burst) >= 100.0 and np.median(burst) >= 3 * np.median(ibi)
        assert 25.0 <= np.median(as_) <= 100.0  # low voltage, continuous
        assert np.median(wake) < np.median(as_)  # wake: lower voltage...
        big = 3 * np.median(as_)
        assert np.mean(wake > big) > 2 * np.mean(as_ > big)  # ...with movement artefacts
        # AS is continuous: its 1-s amplitude varies far less than tracé alternant's
        as_1s, ta_1s = _windows(x, sig == AS, 256), _windows(x, ta, 256)
        assert np.std(np.log(as_1s)) < 0.6 * np.std(np.log(ta_1s))


# --- the planted structure ---------------------------------------------------------------------


def _corr(x: np.ndarray, offset: int) -> np.ndarray:
    a, b = x[:, : 9 - offset], x[:, offset:]
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def test_planted_pairs_alone_separate_qs_from_is():
    data = []
    for index in range(3):
        syn = simulate_infant(draw_infant(SEED, index), 0, 256.0, SEED, index, true_stages=_blocks(QS, IS, each=20))
        data.append(pure_epochs(syn))
    features = {
        "per-channel band power": lambda x: band_power(x),
        "other pairs (offsets 1-3, 5-8)": lambda x: np.hstack([_corr(x, k) for k in (1, 2, 3, 5, 6, 7, 8)]),
        "homologous pairs (offset 4)": lambda x: _corr(x, PAIR_OFFSET)[:, :4],
        "band power + pairs": lambda x: np.hstack([band_power(x), _corr(x, PAIR_OFFSET)[:, :4]]),
    }
    acc = {}
    for name, fn in features.items():
        scores = []
        for test in range(3):
            train = [d for i, d in enumerate(data) if i != test]
            scores.append(lda_balanced_accuracy(np.vstack([fn(x) for x, _ in train]),
                                                 np.concatenate([y for _, y in train]),
                                                 fn(data[test][0]), data[test][1]))
        acc[name] = float(np.mean(scores))
    assert acc["per-channel band power"] <= 0.65, acc
    assert acc["other pairs (offsets 1-3, 5-8)"] <= 0.65, acc
    assert acc["homologous pairs (offset 4)"] >= 0.85, acc
    assert acc["band power + pairs"] >= 0.85, acc
    # and the cue is where planted.json says: QS pairs correlate, IS pairs do not
    x = np.concatenate([d[0] for d in data])
    y = np.concatenate([d[1] for d in data])
    r = _corr(x, PAIR_OFFSET)[:, :4].mean(1)
    assert r[y == QS].mean() > r[y == IS].mean() + 0.2
