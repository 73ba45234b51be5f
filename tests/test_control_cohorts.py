"""The control cohorts of `neonas synth --planted` (neonas.ingest.synth_controls): `pair` is the cohort as it was,
byte for byte; `lag` plants a cue only a lagged homologous relation reveals, and the receptive-field rule says which
architectures of the eeg space see it; `none` has labels that carry no information about the signal."""

from __future__ import annotations

import hashlib

import mne
import numpy as np
import pytest

from neonas.config import from_dict
from neonas.engine.space import SpaceConfig, named_space
from neonas.errors import NeonasError
from neonas.ingest import synth
from neonas.ingest.synth_controls import LAG_STEPS
from neonas.ingest.synth_model import AS, IS, QS, W, draw_infant, simulate_infant
from neonas.study.planted_rule import enumerate_space, sees_lag
from synthepochs import band_power, lda_balanced_accuracy, pure_epochs

#: sha256 of simulate_infant(draw_infant(3, 1), 20, 128.0, 3, 1) (eeg, labels, true stages), computed with the code
#: before --planted existed (main at 0e7b3f7): `pair` must stay byte-identical
PAIR_SHA = "ea88924d4de45b4340b306a33308d264fc47e6c4fd0f937e7252ca028e3cd735"
LAG_SAMPLES = LAG_STEPS * 16  # at 64 Hz


def digest(syn) -> str:
    return hashlib.sha256(syn.eeg.tobytes() + syn.stages.tobytes() + syn.true_stages.tobytes()).hexdigest()


def conv(span, dil, tk, skips=()):
    return {"op": "conv", "span": span, "dilation": dil, "time_kernel": tk, "time_dilation": 1, "skips": list(skips)}


def test_pair_is_byte_identical_and_the_default():
    p = draw_infant(3, 1)
    assert digest(simulate_infant(p, 20, 128.0, 3, 1)) == PAIR_SHA
    assert digest(simulate_infant(p, 20, 128.0, 3, 1, planted="pair")) == PAIR_SHA


@pytest.mark.parametrize("planted", ["lag", "none"])
def test_controls_are_deterministic_and_differ_from_pair(planted):
    p = draw_infant(3, 1)
    a, b = (simulate_infant(p, 20, 128.0, 3, 1, planted=planted) for _ in range(2))
    assert digest(a) == digest(b) != PAIR_SHA
    assert a.params == p  # the infants are the same people: only the cue changes


def test_unknown_planted_is_one_clear_error(tmp_path):
    with pytest.raises(NeonasError, match="--planted must be one of pair, lag, none"):
        synth.generate(tmp_path, n_infants=3, hours=0.1, planted="pairs")


def test_rule_share_over_the_eeg_space_by_enumeration():
    """2,536 of 27,000 (9.4 %): every layer a time-kernel-9 conv (2 x 12 = 24 >= 20 steps; one kernel 3 or the pool
    gives 18) whose channel taps together relate rows 4 apart. The issue asked for <= 1 %: in this space no
    receptive-field cue needing >= 19 steps is rarer than 3.2 % (docs/synthetic-cohort.md), so this pins the number."""
    hits, total = enumerate_space(from_dict(SpaceConfig, named_space("eeg"), "space"))
    assert (hits, total) == (2536, 27000)


def test_rule_on_single_architectures():
    t9 = [conv(2, 4, 9), conv(1, 1, 9), conv(1, 1, 9)]
    assert sees_lag({"layers": t9})
    assert sees_lag({"layers": t9[::-1]})  # the pair op last: earlier kernels carry each row's past
    assert not sees_lag({"layers": [conv(2, 4, 9), conv(1, 1, 9), conv(1, 1, 3)]})  # 18 < 20 steps
    assert not sees_lag({"layers": [conv(2, 1, 9)] * 3})  # rows 0..3 apart only
    assert sees_lag({"layers": [conv(2, 2, 9), conv(2, 2, 9), conv(1, 1, 9)]})  # 2 + 2 rows, composed
    # a skip adds a union of fields: it neither makes nor breaks the rule here
    assert not sees_lag({"layers": [conv(2, 4, 9), conv(1, 1, 9), conv(1, 1, 3, skips=[0])]})


def _envelope(x: np.ndarray) -> np.ndarray:
    """Power of the transients' band (2-4.5 Hz), smoothed over one stem step (16 samples at 64 Hz)."""
    y = mne.filter.filter_data(x.astype(np.float64), 64, 2.0, 4.5, verbose="error") ** 2
    return np.apply_along_axis(lambda v: np.convolve(v, np.ones(16) / 16, "same"), -1, y)


def _lagged(x: np.ndarray, lag: int) -> np.ndarray:
    """Correlation of channel c's envelope with channel c+4's `lag` samples later, per epoch and homologous pair."""
    x = _envelope(x)
    a, b = x[:, :4, : x.shape[2] - lag], x[:, 4:8, lag:]
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def _held_out(data, fn) -> float:
    scores = []
    for test in range(len(data)):
        train = [d for i, d in enumerate(data) if i != test]
        scores.append(lda_balanced_accuracy(np.vstack([fn(x) for x, _ in train]), np.concatenate([y for _, y in train]),
                           fn(data[test][0]), data[test][1]))
    return float(np.mean(scores))


def test_lag_cue_lives_only_in_the_lagged_homologous_relation():
    blocks = np.repeat(np.array([QS, IS, QS, IS], np.int8), 10)
    data = [pure_epochs(simulate_infant(draw_infant(0, i), 0, 128.0, 0, i, true_stages=blocks, planted="lag"))
            for i in range(3)]
    acc = {"band power": _held_out(data, band_power),
           "zero lag": _held_out(data, lambda x: _lagged(x, 0)),
           "half the lag": _held_out(data, lambda x: _lagged(x, LAG_SAMPLES // 2)),
           "the lag": _held_out(data, lambda x: _lagged(x, LAG_SAMPLES))}
    assert acc["band power"] <= 0.65, acc
    assert acc["zero lag"] <= 0.65, acc
    assert acc["half the lag"] <= 0.65, acc
    assert acc["the lag"] >= 0.8, acc


def _balanced(pred, y) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def _observed_and_shifted(data, fn, shifts: int = 40) -> tuple[float, np.ndarray]:
    """Held-out balanced accuracy (mean over the infants left out) and its null: the same predictions scored against
    the held-out labels rotated by 1/shifts .. (shifts-1)/shifts of the recording, which keeps their block structure
    (sleep comes in long stages, so a chance score varies far more than independent epochs would)."""
    observed, null = [], []
    for test in range(len(data)):
        train = [d for i, d in enumerate(data) if i != test]
        f_tr, y_tr = np.vstack([fn(x) for x, _ in train]), np.concatenate([y for _, y in train])
        mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-9
        f_tr, f_te = (f_tr - mu) / sd, (fn(data[test][0]) - mu) / sd
        classes = np.unique(y_tr)
        means = np.stack([f_tr[y_tr == c].mean(0) for c in classes])
        cov = sum(np.atleast_2d(np.cov(f_tr[y_tr == c].T)) for c in classes) / len(classes)
        prec = np.linalg.inv(cov + 0.1 * np.eye(f_tr.shape[1]))
        pred = classes[(f_te @ prec @ means.T - 0.5 * np.einsum("ij,jk,ik->i", means, prec, means)).argmax(1)]
        y = data[test][1]
        observed.append(_balanced(pred, y))
        null.append([_balanced(pred, np.roll(y, k * len(y) // shifts)) for k in range(1, shifts)])
    return float(np.mean(observed)), np.mean(null, axis=0)


def test_none_labels_carry_no_information_on_held_out_infants():
    """The same features and classifier that stage the `pair` cohort far above its label-rotation null score within
    that null on `none` (a test that can fail: a signal that follows the labels scores like `pair`)."""
    result = {}
    for planted in ("pair", "none"):
        data = [pure_epochs(simulate_infant(draw_infant(0, i), 240, 128.0, 0, i, planted=planted)) for i in range(3)]
        result[planted] = _observed_and_shifted(data, band_power)
    pair, pair_null = result["pair"]
    none, none_null = result["none"]
    assert pair > pair_null.max() + 0.1, result
    # measured: none 0.395, its null 0.13-0.46 (95th percentile 0.385; 3 infants x 2 h, lumpy by design), pair
    # 0.708 against a null of 0.20-0.45: within the null's range, as a score with no information must be
    assert none <= none_null.max(), result


def test_none_signal_follows_its_own_hypnogram():
    syn = simulate_infant(draw_infant(0, 0), 240, 128.0, 0, 0, planted="none")
    assert set(np.unique(syn.stages)) == set(np.unique(syn.true_stages)) == {AS, QS, W, IS}
    assert np.mean(syn.stages != syn.true_stages) > 0.2  # two independent hypnograms (measured 0.34; a scorer: ~0.04)


def test_a_reference_that_ranks_nothing_reads_as_nothing_to_find():
    """The negative control's summary: where the fidelity check measured that the architectures did not differ (its
    reference ranks its own panel in no fold), the verdict and the headline say so in plain words."""
    from neonas.study import trust
    from neonas.study.display import headline

    nothing = {"n": 2, "passed": [], "unknown": [0, 1], "failed": []}
    assert "nothing to find" in trust.fidelity_verdict(nothing)
    assert headline({}, None, nothing).startswith("Nothing for a search to find: trained alone, the architectures "
                                                  "tested did not differ")
    mixed = {"n": 2, "passed": [], "unknown": [0], "failed": [1]}  # one fold that does not rank: not "nothing"
    assert "nothing to find" not in trust.fidelity_verdict(mixed)
    assert headline({}, None, mixed).startswith("No NAS conclusion")


@pytest.mark.parametrize("planted", ["lag", "none"])
def test_control_cohort_sheets_are_what_synth_writes(planted, tmp_path):
    """config/cohort-<planted>.tsv (the control studies' sheets) lists what `neonas synth --planted` writes."""
    from pathlib import Path

    from neonas.ingest.cohort import write_cohort

    write_cohort(tmp_path / "sheet.tsv", synth.cohort_rows(f"data/synthetic-{planted}", 6, 0))
    repo = Path(__file__).resolve().parents[1]
    assert (tmp_path / "sheet.tsv").read_text() == (repo / f"config/cohort-{planted}.tsv").read_text()
