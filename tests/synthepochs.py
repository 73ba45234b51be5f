"""The synthetic cohort's EEG as preprocess would give it, for tests that look at the planted cues directly."""

from __future__ import annotations

import mne
import numpy as np


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
