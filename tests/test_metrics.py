"""Metrics against values computed by hand."""

import json

import numpy as np
import pytest

from neonas.metrics import (
    balanced_accuracy,
    classification_report,
    cohen_kappa,
    confusion_matrix,
    macro_f1,
    per_class_f1,
)

LABELS = ["AS", "QS", "W", "IS"]
# class IS (3) occurs neither in the truth nor in the predictions
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_confusion_rows_are_true_classes():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_report_by_hand_with_a_missing_class():
    r = classification_report(Y_TRUE, Y_PRED, LABELS)
    assert r["accuracy"] == pytest.approx(4 / 6)
    # recalls 2/3, 1/2, 1/1 over the three classes present in the truth
    assert r["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # po = 4/6; column sums (2, 2, 2, 0), row sums (3, 2, 1, 0): pe = (6 + 4 + 2) / 36 = 1/3
    assert r["kappa"] == pytest.approx((4 / 6 - 1 / 3) / (1 - 1 / 3))
    # F1 = 2 tp / (row + column): 4/5, 2/4, 2/3; IS is absent everywhere and left out of the mean
    assert r["per_class_f1"] == pytest.approx({"AS": 0.8, "QS": 0.5, "W": 2 / 3, "IS": 0.0})
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["n_epochs"] == 6 and r["label_names"] == LABELS
    json.dumps(r)  # JSON-ready: no numpy scalars or arrays


def test_kappa_textbook_two_by_two():
    # po = 35/50 = 0.7; pe = (30*25 + 20*25) / 2500 = 0.5 -> kappa = 0.4
    cm = np.array([[20, 5], [10, 15]])
    assert cohen_kappa(cm) == pytest.approx(0.4)


def test_predicted_but_absent_class_counts_in_macro_f1_not_in_balanced_accuracy():
    cm = confusion_matrix([0, 0, 1, 1], [0, 2, 1, 1], 3)  # class 2 predicted once, never true
    assert balanced_accuracy(cm) == pytest.approx((1 / 2 + 1) / 2)
    f1 = per_class_f1(cm)
    assert f1 == pytest.approx([2 / 3, 1.0, 0.0])
    assert macro_f1(cm) == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_degenerate_inputs_give_numbers_not_nan():
    one_class = classification_report([1, 1, 1], [1, 1, 1], LABELS)
    assert one_class["accuracy"] == 1.0 and one_class["kappa"] == 0.0  # pe = 1: kappa undefined, reported 0
    assert one_class["macro_f1"] == 1.0
    empty = classification_report([], [], LABELS)
    assert empty["n_epochs"] == 0
    assert all(empty[k] == 0.0 for k in ("accuracy", "balanced_accuracy", "kappa", "macro_f1"))


def test_perfect_and_chance_level_kappa():
    y = np.arange(400) % 4
    assert classification_report(y, y, LABELS)["kappa"] == pytest.approx(1.0)
    # predictions independent of the truth, with the same marginals: kappa exactly 0
    y_true = np.repeat([0, 1], 50)
    y_pred = np.tile([0, 1], 50)
    assert classification_report(y_true, y_pred, LABELS)["kappa"] == pytest.approx(0.0)
