"""Building blocks of the synthetic EEG (synth_model.py): coloured noise from an amplitude spectrum, band
and peak spectra, smoothing ramps, and the random interval trains of bursts, alternating patterns and
movement events. Pure functions of a numpy Generator; the model decides what to build from them."""

from __future__ import annotations

import numpy as np


def noise(rng: np.random.Generator, rows: int, n: int, amp: np.ndarray) -> np.ndarray:
    """Gaussian noise with amplitude spectrum `amp` (over rfftfreq(n)), each row at unit RMS."""
    out = np.empty((rows, n), np.float32)
    nz = np.flatnonzero(amp)
    for r in range(rows):
        spec = np.zeros(amp.shape[0], np.complex128)
        spec[nz] = (rng.standard_normal(nz.size) + 1j * rng.standard_normal(nz.size)) * amp[nz]
        x = np.fft.irfft(spec, n)
        out[r] = x / (x.std() + 1e-12)
    return out


def band(f: np.ndarray, lo: float, hi: float, slope: float = 0.0) -> np.ndarray:
    """Amplitude spectrum: smooth band lo..hi Hz (raised-cosine edges) with an optional 1/f^slope tilt."""
    e_lo, e_hi = 0.3 * lo + 0.1, 0.1 * hi + 0.3
    rise = np.clip((f - lo + e_lo) / (2 * e_lo), 0, 1)
    fall = np.clip((hi + e_hi - f) / (2 * e_hi), 0, 1)
    return (np.sin(0.5 * np.pi * rise) * np.sin(0.5 * np.pi * fall)) ** 2 / np.maximum(f, 0.5) ** slope


def peak(f: np.ndarray, f0: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((f - f0) / width) ** 2)


def mix(*parts: tuple[float, np.ndarray]) -> tuple[float, np.ndarray]:
    """Sum of independent spectral parts given as (RMS µV, amplitude spectrum): (total RMS, spectrum)."""
    power = sum(rms**2 * amp**2 / np.sum(amp**2) for rms, amp in parts)
    return float(np.sqrt(sum(rms**2 for rms, _ in parts))), np.sqrt(power)


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average along the last axis (edges of stage/burst changes become ramps, not steps)."""
    if width <= 1:
        return x.astype(np.float32)
    pad = [(0, 0)] * (x.ndim - 1) + [(width // 2, width - 1 - width // 2)]
    c = np.cumsum(np.pad(x.astype(np.float64), pad, mode="edge"), axis=-1)
    c = np.concatenate([np.zeros(c.shape[:-1] + (1,)), c], axis=-1)
    return ((c[..., width:] - c[..., :-width]) / width).astype(np.float32)


def intervals_mask(starts: np.ndarray, stops: np.ndarray, n: int) -> np.ndarray:
    """Boolean (n,) that is True inside [start, stop) sample intervals (overlaps merge)."""
    d = np.zeros(n + 1, np.int32)
    np.add.at(d, np.clip(starts, 0, n), 1)
    np.add.at(d, np.clip(stops, 0, n), -1)
    return np.cumsum(d[:-1]) > 0


def burst_train(rng: np.random.Generator, duration_s: float, burst_s: float, ibi_s: float) -> np.ndarray:
    """(k, 2) burst onsets/offsets in s: gamma-distributed bursts and inter-burst intervals (~6 s each)."""
    k = int(duration_s / (burst_s + ibi_s) * 1.5) + 4
    bursts = rng.gamma(6.0, burst_s / 6.0, k)
    ibis = rng.gamma(6.0, ibi_s / 6.0, k)
    starts = np.cumsum(ibis + np.concatenate([[0.0], bursts[:-1]])) - rng.uniform(0, burst_s + ibi_s)
    return np.stack([starts, starts + bursts], axis=1)


def alternation(rng: np.random.Generator, duration_s: float, fs: float, share: float, mean_s: float) -> np.ndarray:
    """Boolean (n,) alternating stretches: True for `share` of the time, in stretches of ~mean_s seconds."""
    off_mean = mean_s * (1 - share) / share
    k = int(duration_s / (mean_s + off_mean) * 2) + 4
    off, on = rng.exponential(off_mean, k), rng.exponential(mean_s, k)
    starts = np.cumsum(off + np.concatenate([[0], on[:-1]])) - rng.uniform(0, off_mean + mean_s)
    n = int(round(duration_s * fs))
    return intervals_mask((starts * fs).astype(np.int64), ((starts + on) * fs).astype(np.int64), n)


def events(rng, rate_per_s: np.ndarray, sfreq: float, dur_range: tuple[float, float]) -> np.ndarray:
    """(k, 2) sample intervals of Poisson events whose rate (per sample position) varies in time."""
    n = rate_per_s.shape[0]
    peak = float(rate_per_s.max())
    if peak <= 0:
        return np.zeros((0, 2), np.int64)
    k = rng.poisson(peak * n / sfreq)
    onsets = np.sort(rng.integers(0, n, k))
    keep = rng.random(k) < rate_per_s[onsets] / peak
    onsets = onsets[keep]
    dur = (rng.uniform(*dur_range, onsets.size) * sfreq).astype(np.int64)
    return np.stack([onsets, onsets + dur], axis=1)
