"""The synthetic cohort's EEG as preprocess would give it, for tests that look at the planted cues directly."""

from __future__ import annotations

import mne
import numpy as np
from scipy.signal import welch


def pure_epochs(syn) -> tuple[np.ndarray, np.ndarray]:
    """Band-pass 0.5-30 Hz at 64 Hz (as preprocess), 30 s epochs whose signal is one stage throughout:
    (epochs x 9 channels x 1920 samples, their stages)."""
    x = mne.filter.filter_data(syn.eeg.astype(np.float64), syn.sfreq, 0.5, 30.0, verbose="error")
    x = mne.filter.resample(x, down=syn.sfreq / 64, verbose="error")
    n = len(syn.stages)
    x = x[:, : n * 1920].reshape(9, n, 1920).transpose(1, 0, 2)
    sig = syn.signal_stage.reshape(n, -1)
    pure = (sig == sig[:, :1]).all(axis=1)
    return x[pure], syn.stages[pure]


def band_power(x: np.ndarray) -> np.ndarray:
    """Log power per channel in 5 bands (0.5-30 Hz) of 64 Hz epochs: (epochs, channels x 5)."""
    f, pxx = welch(x, fs=64, nperseg=256, axis=-1)
    bands = [(0.5, 2), (2, 4), (4, 8), (8, 13), (13, 30)]
    return np.log(np.stack([pxx[..., (f >= a) & (f < b)].mean(-1) for a, b in bands], -1)).reshape(len(x), -1)


def lda_balanced_accuracy(f_train, y_train, f_test, y_test) -> float:
    """Shrinkage LDA fitted on some infants, balanced accuracy on another."""
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-9
    f_train, f_test = (f_train - mu) / sd, (f_test - mu) / sd
    classes = np.unique(y_train)
    means = np.stack([f_train[y_train == c].mean(0) for c in classes])
    cov = sum(np.atleast_2d(np.cov(f_train[y_train == c].T)) for c in classes) / len(classes)
    prec = np.linalg.inv(cov + 0.1 * np.eye(f_train.shape[1]))
    score = f_test @ prec @ means.T - 0.5 * np.einsum("ij,jk,ik->i", means, prec, means)
    pred = classes[score.argmax(1)]
    return float(np.mean([np.mean(pred[y_test == c] == c) for c in classes]))
