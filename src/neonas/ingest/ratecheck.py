"""Is a declared sampling rate plausible? For text recordings staged without labels (`neonas predict`).

A text file carries no rate, and without labels nothing checks the one declared: a wrong rate stretches
or squeezes the signal and the model stages it silently. Two hints remain, and each gives a warning:
- the rate is not one of the rates the model's training recordings had (model.pt's training_cohort);
- the signal's spectrum: a power line shows as a narrow peak at 50 or 60 Hz. At a wrong declared rate it
  appears scaled (a 200 Hz file declared at 180 Hz has its 50 Hz line at 45 Hz), and the line's true
  frequency tells the true rate. Only narrow, strong lines count (`LINE_DB` above the surrounding
  spectrum, `NARROW_DB` above the bins 0.5-1 Hz away), so EEG rhythms such as alpha are not taken for one.
"""

from __future__ import annotations

import numpy as np

MAINS_HZ = (50.0, 60.0)
LINE_DB = 8.0  # a line's bin stands this far above the median of the spectrum within +-5 Hz
NARROW_DB = 6.0  # ... and this far above every bin 0.5-1 Hz away (a power line is far narrower than an EEG rhythm)
MIN_HZ = 5.0  # lines below this are not looked for (slow waves dominate)
MAX_SECONDS = 1800.0  # the spectrum of at most this much signal, from the middle of the recording


def line_peak(data: np.ndarray, sfreq: float) -> tuple[float, float] | None:
    """(frequency in Hz at `sfreq`, prominence in dB) of the strongest narrow spectral line, or None.

    `data`: (channels, samples). Welch spectra at 0.25 Hz resolution, averaged over channels in dB."""
    from scipy.signal import welch

    data = np.atleast_2d(np.asarray(data, dtype=np.float64))
    n = data.shape[1]
    keep = int(min(n, MAX_SECONDS * sfreq))
    data = data[:, (n - keep) // 2:(n - keep) // 2 + keep]
    nperseg = int(round(4 * sfreq))
    if keep < 2 * nperseg:
        return None
    f, p = welch(data, fs=sfreq, nperseg=nperseg, axis=1)
    db = 10 * np.log10(p + np.finfo(float).tiny).mean(axis=0)
    best = None
    for k in np.flatnonzero(f >= MIN_HZ):
        near = np.abs(f - f[k])
        prominence = db[k] - np.median(db[near <= 5.0])
        flank = db[(near >= 0.5) & (near <= 1.0)]
        if prominence >= LINE_DB and flank.size and db[k] - flank.max() >= NARROW_DB:
            if best is None or prominence > best[1]:
                best = (float(f[k]), float(prominence))
    return best


def rate_warnings(data: np.ndarray, declared_hz: float, training_hz: list[float] | None = None) -> list[str]:
    """Why `declared_hz` may be wrong for this signal, one sentence each (empty when nothing points to it)."""
    out = []
    if training_hz and not any(abs(declared_hz - r) < 1e-6 for r in training_hz):
        out.append(f"the declared text_sfreq_hz={declared_hz:g} Hz is not one of the rates of the model's training "
                   f"recordings ({', '.join(f'{r:g}' for r in sorted(training_hz))} Hz)")
    peak = line_peak(data, declared_hz)
    if peak is not None:
        freq, db = peak
        harmonics = [m * k for m in MAINS_HZ for k in (1, 2, 3)]
        if all(abs(freq - h) > 1.0 for h in harmonics):
            rates = " or ".join(f"{declared_hz * m / freq:.4g} Hz (if the line is {m:g} Hz mains)" for m in MAINS_HZ)
            out.append(f"at the declared {declared_hz:g} Hz the signal's spectrum has a narrow line at {freq:g} Hz "
                       f"({db:.0f} dB above its surroundings), where no power line is: if it is the power line, the "
                       f"true rate is about {rates}")
    return out
