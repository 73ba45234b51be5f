"""Classification metrics for sleep staging: accuracy alone hides class imbalance, so kappa and
macro-F1 are always reported beside it."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def accuracy(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes that occur in the true labels."""
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return 0.0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def cohen_kappa(cm: np.ndarray) -> float:
    total = cm.sum()
    if total == 0:
        return 0.0
    po = np.trace(cm) / total
    pe = float(np.dot(cm.sum(axis=0), cm.sum(axis=1))) / total**2
    return float((po - pe) / (1 - pe)) if pe < 1 else 0.0


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(float)
    denom = cm.sum(axis=0) + cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return f1


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes present in the true labels or the predictions."""
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return float(per_class_f1(cm)[present].mean()) if present.any() else 0.0


METRICS = {"accuracy": accuracy, "balanced_accuracy": balanced_accuracy, "kappa": cohen_kappa, "macro_f1": macro_f1}


def classification_report(y_true, y_pred, label_names: list[str]) -> dict:
    """All metrics as a JSON-ready dict."""
    cm = confusion_matrix(y_true, y_pred, len(label_names))
    report = {name: fn(cm) for name, fn in METRICS.items()}
    report["per_class_f1"] = {n: float(v) for n, v in zip(label_names, per_class_f1(cm), strict=True)}
    report["confusion"] = cm.tolist()
    report["label_names"] = list(label_names)
    report["n_epochs"] = int(cm.sum())
    return report
