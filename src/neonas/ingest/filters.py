"""Filters, resampling and the block-wise signal pipeline of `neonas preprocess` (see docs/preprocessing.md).

The filters are zero-phase IIR designed by MNE; resampling is polyphase (scipy, with MNE's window).
The signal is processed in blocks with margins longer than the filters' memory, so the result equals
processing the whole signal at once while memory stays bounded.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError
from neonas.ingest.presets import PreprocessConfig

log = logging.getLogger(__name__)


# --- filters and resampling --------------------------------------------------------------------------

def ratio(fs_in: float, fs_out: float, path: Path) -> tuple[int, int]:
    ratio = Fraction(fs_out).limit_denominator(10_000) / Fraction(fs_in).limit_denominator(10_000)
    if max(ratio.numerator, ratio.denominator) > 1000:
        raise NeonasError(f"cannot resample {fs_in:g} Hz to {fs_out:g} Hz with a small integer ratio "
                          f"({ratio}); choose another resample_hz", path)
    if fs_out > fs_in:
        log.warning("%s: resample_hz %g Hz is above the recording's %g Hz (upsampling)", path, fs_out, fs_in)
    return ratio.numerator, ratio.denominator


@dataclass
class Filters:
    """Zero-phase IIR filters designed by MNE (Butterworth, second-order sections).

    The notches run at the input rate. The band-pass runs at the lower of the input and output
    rates: after downsampling it touches 4x fewer samples (256 -> 64 Hz), and before upsampling
    likewise. A notch at or above the output Nyquist frequency is not applied when downsampling:
    the resampler's anti-alias FIR already removes it (50 Hz through 256 -> 64 Hz: -72 dB, measured).
    """

    notch: np.ndarray | None  # sos at the input rate
    notch_decay: int  # input samples for the notch's impulse response to fall below 1e-7 of its peak
    band: np.ndarray | None  # sos at band_hz
    band_decay: int  # the same, in samples at band_hz
    band_hz: float
    band_first: bool  # band-pass before resampling (band_hz is the input rate)

    def margin(self, fs_in: float) -> int:
        """Input samples of filter memory on each side of a block."""
        return self.notch_decay + math.ceil(self.band_decay * fs_in / self.band_hz)


def design_filter(cfg: PreprocessConfig, fs_in: float, fs_out: float, path: Path) -> Filters:
    """Check the frequencies against both rates and design the filters (see `Filters`)."""
    import mne

    nyquist = min(fs_in, fs_out) / 2
    for name in ("l_freq", "h_freq"):
        value = getattr(cfg, name)
        if value is not None and value >= nyquist:
            raise NeonasError(f"{name} = {value:g} Hz must be below the Nyquist frequency {nyquist:g} Hz "
                              f"(recording {fs_in:g} Hz, output {fs_out:g} Hz)", path)
    band_hz = min(fs_in, fs_out)
    band = None
    if (cfg.l_freq, cfg.h_freq) != (None, None):
        btype = "bandpass" if None not in (cfg.l_freq, cfg.h_freq) else "highpass" if cfg.h_freq is None else "lowpass"
        f_pass = [f for f in (cfg.l_freq, cfg.h_freq) if f is not None]
        band = mne.filter.construct_iir_filter(
            dict(order=cfg.filter_order, ftype="butter", output="sos"), f_pass[0] if len(f_pass) == 1 else f_pass,
            None, band_hz, btype, return_copy=True, verbose="error")["sos"]
    notches = []
    for freq in cfg.notch_hz:
        lo, hi = freq - cfg.notch_width_hz / 2, freq + cfg.notch_width_hz / 2
        if hi >= nyquist:
            why = "the resampler's anti-alias filter removes it" if fs_out < fs_in else "not in the recording"
            log.debug("%s: notch at %g Hz not applied: above the Nyquist frequency %g Hz (%s)", path, freq,
                      nyquist, why)
            continue
        notches.append(mne.filter.construct_iir_filter(dict(order=2, ftype="butter", output="sos"), [lo, hi],
                                                       None, fs_in, "bandstop", return_copy=True,
                                                       verbose="error")["sos"])
    notch = np.vstack(notches) if notches else None
    return Filters(notch=notch, notch_decay=_decay(notch, fs_in), band=band, band_decay=_decay(band, band_hz),
                   band_hz=band_hz, band_first=band_hz == fs_in)


def _decay(sos: np.ndarray | None, fs: float) -> int:
    """Samples until the impulse response stays below 1e-7 of its peak (at most 600 s)."""
    from scipy import signal

    if sos is None:
        return 0
    impulse = np.zeros(int(min(600 * fs, 10_000_000)))
    impulse[0] = 1.0
    h = np.abs(signal.sosfilt(sos, impulse))
    return int(np.flatnonzero(h > 1e-7 * h.max())[-1]) + 1


# --- the signal pipeline ----------------------------------------------------------------------------

def process(raw, sources, montage, cfg, starts_out, starts_in, n_samples, n_in, n_out, up, down,
             filters: Filters):
    """Read, derive, filter and resample block by block; write each kept epoch into one float32 array.

    Blocks are aligned to the resampling ratio and read with a margin on both sides that is longer
    than the filters' memory, so the result equals processing the whole signal at once (to float
    precision) while memory stays bounded by the block size plus the output.
    """
    from scipy import signal
    from tqdm import tqdm

    n_epochs, n_ch = len(starts_out), len(montage)
    eeg = np.empty((n_epochs, n_ch, n_samples), np.float32)
    clip_counts = np.zeros((n_epochs, len(sources)), np.int64)
    picks = [raw.ch_names.index(s.label) for s in sources]
    scale = np.array([s.to_uv for s in sources])[:, None]
    limits = [s.limits_uv for s in sources]  # None where the format has no physical range
    pos = [sources.index(d.pos) for d in montage]
    neg = [None if d.neg is None else sources.index(d.neg) for d in montage]
    # margin (input samples, a multiple of `down`): the filters' memory plus resample_poly's FIR half-length
    margin = filters.margin(raw.info["sfreq"]) + 10 * max(up, down) // up + 2 * down
    margin = -(-margin // down) * down
    block = max(up, int(cfg.chunk_s * n_samples / cfg.epoch_s) // up * up)  # output samples, multiple of up
    ends_out = starts_out + n_samples
    ends_in = starts_in + round(cfg.epoch_s * raw.info["sfreq"])

    blocks = []
    for first in range(int(starts_out.min()) // block * block, int(ends_out.max()), block):
        j0, j1 = first, min(first + block, n_out)
        i0, i1 = np.searchsorted(ends_out, j0, "right"), np.searchsorted(starts_out, j1, "left")
        if i0 < i1:
            blocks.append((j0, j1, i0, i1))
    for j0, j1, i0, i1 in tqdm(blocks, desc="preprocess", unit="block", disable=None if len(blocks) > 2 else True):
        a = j0 * down // up
        b = n_in if j1 == n_out else j1 * down // up
        r0, r1 = max(0, a - margin), min(n_in, b + margin)
        x = raw.get_data(picks=picks, start=r0, stop=r1)
        x *= scale
        # clipping, on the raw values of each source channel in this block's own span [a, b)
        core = x[:, a - r0: b - r0]
        for k, lim in enumerate(limits):
            if lim is None:
                continue
            lo, hi = lim
            idx = np.flatnonzero((core[k] <= lo) | (core[k] >= hi)) + a
            if idx.size:
                ep = np.searchsorted(starts_in, idx, "right") - 1
                ok = (ep >= 0) & (idx < ends_in[np.maximum(ep, 0)])
                np.add.at(clip_counts[:, k], ep[ok], 1)
        y = np.empty((n_ch, r1 - r0))
        for c in range(n_ch):
            if neg[c] is None:
                y[c] = x[pos[c]]
            else:
                np.subtract(x[pos[c]], x[neg[c]], out=y[c])
        del x, core
        if filters.notch is not None:
            y = _filtfilt(filters.notch, y, filters.notch_decay)
        if filters.band is not None and filters.band_first:
            y = _filtfilt(filters.band, y, filters.band_decay)
        if (up, down) != (1, 1):
            # scipy directly, with MNE's polyphase window: MNE derives the ratio from the block length
            y = signal.resample_poly(y, up, down, axis=-1, window=("kaiser", 5.0), padtype="reflect")
        if filters.band is not None and not filters.band_first:
            y = _filtfilt(filters.band, y, filters.band_decay)
        offset = r0 * up // down
        for i in range(i0, i1):
            s = int(starts_out[i])
            lo, hi = max(s, j0), min(s + n_samples, j1)
            eeg[i, :, lo - s: hi - s] = y[:, lo - offset: hi - offset]
    return eeg, clip_counts


def _filtfilt(sos: np.ndarray, y: np.ndarray, decay: int) -> np.ndarray:
    """Zero-phase (forward-backward) filtering, as MNE's filter_data(method='iir') does it."""
    from scipy import signal

    return signal.sosfiltfilt(sos, y, axis=-1, padlen=min(decay, y.shape[-1] - 1))
