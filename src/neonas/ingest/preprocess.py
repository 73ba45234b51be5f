"""Turn one EEG recording (EDF, EDF+ or BDF) and its sleep-stage labels into one neonas HDF5 file.

Steps, each set in the config (a preset, a YAML file and/or --set overrides; see docs/preprocessing.md):
select channels (aliases such as "EEG Fp1-Ref" -> Fp1) and build bipolar derivations ("Fp1-C3") in the
configured order; band-pass and notch filter (zero-phase IIR); resample; cut epochs on the grid of the
labels; map stage names to classes; flag artefacts (flat, clipped, high amplitude); normalise each
channel robustly (median/IQR over clean epochs); write float32 HDF5 (docs/hdf5-layout.md).

Example:  neonas preprocess SC4001E0-PSG.edf --labels SC4001EC-Hypnogram.edf --preset sleep-edf --out sc4001.h5
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError
from neonas.ingest.edfcheck import EdfHeader, Signal, read_header
from neonas.ingest.labels import FORMATS, crop_sleep, detect_format, epoch_grid, read_labels, stage_lookup
from neonas.ingest.presets import PRESETS, PreprocessConfig, resolve_config
from neonas.store.h5io import AMPLITUDE, CLIPPED, FLAT, Recording, write_recording

log = logging.getLogger(__name__)

# MNE's own gain for a physical dimension (mne/io/edf/edf.py): only these exact spellings are scaled
_MNE_MICRO = ("\u03bcV", "\u00b5V", "\x83\xcaV", "uV")
# our reading of a dimension, case-insensitively (DREAMS writes "UV", which MNE leaves unscaled)
NORM_SAMPLES = 1 << 20  # samples per channel used for the normalisation quantiles
_TO_MICROVOLT = {"uv": 1.0, "\u00b5v": 1.0, "\u03bcv": 1.0, "\x83\xcav": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}


def add_arguments(parser) -> None:
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the docstring's line breaks
    parser.add_argument("recording", help="EEG recording: EDF, EDF+ or BDF")
    parser.add_argument("--labels", metavar="FILE",
                        help="label file: hypnogram EDF+, CSV/TSV (onset_s, duration_s, stage) or DREAMS "
                             "Hypnogram_*.txt; omit to use the recording's own EDF+ annotations")
    parser.add_argument("--label-format", default="auto", choices=FORMATS,
                        help="how to read the labels (default auto: from the file name; 'none' = no labels, "
                             "every epoch kept as unlabelled)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", choices=sorted(PRESETS),
                       help="named configuration (default neonatal: 9 referential electrodes written as "
                            "Fp1 C3 T3 O1 Fp2 C4 T4 O2 Cz, 0.5-30 Hz, 50 Hz notch, 64 Hz, AS/QS/W/IS)")
    group.add_argument("--config", metavar="FILE",
                       help="YAML config: any PreprocessConfig field, starting from 'preset: NAME' (default neonatal)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config field, value in YAML (e.g. --set epoch_s=20 --set "
                             "unlabelled=keep --set 'channels=[C3, O1]'); repeatable")
    parser.add_argument("--infant-id", help="id stored in the file (default: the recording's file name stem)")
    parser.add_argument("--pma-weeks", type=float, help="post-menstrual age in weeks, stored as an attribute")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="HDF5 file to write (atomically)")


def run(args) -> int:
    preset_name, cfg = resolve_config(args.preset, args.config, args.overrides)
    extra = {} if args.pma_weeks is None else {"pma_weeks": args.pma_weeks}
    preprocess(args.recording, args.out, cfg, labels_path=args.labels, label_format=args.label_format,
               infant_id=args.infant_id, preset_name=preset_name, extra_attrs=extra)
    return 0


@dataclass
class Derivation:
    """One output channel: `pos` (minus `neg` for a bipolar derivation), signals of the file."""

    name: str
    pos: Signal
    neg: Signal | None = None

    def describe(self) -> str:
        return self.pos.label if self.neg is None else f"{self.pos.label} - {self.neg.label}"


def preprocess(recording: str | os.PathLike, out: str | os.PathLike, cfg: PreprocessConfig | None = None, *,
               labels_path: str | os.PathLike | None = None, label_format: str = "auto",
               infant_id: str | None = None, preset_name: str = "neonatal",
               extra_attrs: dict | None = None) -> Recording:
    """Preprocess one recording into `out` (HDF5, written atomically). Returns what was written."""
    cfg = cfg or PRESETS[preset_name]()
    recording = Path(recording)
    header = read_header(recording)
    montage = resolve_montage(header, cfg)
    sources = _unique([s for d in montage for s in (d.pos, d.neg) if s is not None])
    header.check_calibration(sources)
    fmt = detect_format(labels_path, label_format)
    raw = _open_raw(header, sources)
    fs_in = float(raw.info["sfreq"])
    n_in = int(raw.n_times)
    for s in sources:
        if abs(header.sfreq(s) - fs_in) > 1e-6:
            log.warning("%s: channel '%s' is stored at %g Hz; MNE interpolates it to %g Hz", recording,
                        s.label, header.sfreq(s), fs_in)

    duration_s = n_in / fs_in
    if duration_s < cfg.epoch_s:
        raise NeonasError(f"the recording lasts {duration_s:g} s, shorter than one epoch (epoch_s = "
                          f"{cfg.epoch_s:g} s)", recording)

    # sampling: output rate, resampling ratio, filters (checked before the labels are read)
    fs_out = float(cfg.resample_hz or fs_in)
    up, down = _ratio(fs_in, fs_out, recording)
    n_samples = cfg.epoch_s * fs_out
    if abs(n_samples - round(n_samples)) > 1e-6:
        raise NeonasError(f"epoch_s ({cfg.epoch_s:g} s) x output rate ({fs_out:g} Hz) = {n_samples:g} is not a "
                          "whole number of samples; change epoch_s or resample_hz", recording)
    n_samples = round(n_samples)
    n_out = -(-n_in * up // down)  # length of the resampled signal (scipy.signal.resample_poly)
    filters = design_filter(cfg, fs_in, fs_out, recording)

    # labels -> epoch grid -> which epochs to keep
    labels = read_labels(fmt, labels_path, raw.annotations, raw.info["meas_date"])
    if fmt == "annotations" and not labels:
        if label_format == "annotations":
            raise NeonasError("the recording has no EDF+ annotations to use as labels; give --labels FILE "
                              "or --label-format none", recording)
        log.warning("%s: no labels (no --labels and no EDF+ annotations): every epoch is unlabelled", recording)
        fmt = "none"
    label_source = str(recording if fmt == "annotations" else labels_path or "")
    grid = epoch_grid(labels, stage_lookup(cfg.label_map, cfg.label_names), cfg.epoch_s, duration_s,
                      label_source or str(recording), cfg.grid_start_s)
    keep = np.ones(grid.labels.shape, bool)
    if fmt != "none" and cfg.unlabelled == "drop":
        keep &= grid.labels >= 0
    if cfg.crop_sleep_min is not None:
        if fmt == "none":
            raise NeonasError("crop_sleep_min needs sleep labels, but there are none", recording)
        wake = [cfg.label_names.index(w) for w in cfg.wake_labels]
        keep &= crop_sleep(grid.labels, wake, round(cfg.crop_sleep_min * 60 / cfg.epoch_s))
    if not keep.any():
        raise NeonasError(f"no epochs to write: {keep.size} epochs on the grid, none labelled with one of "
                          f"{cfg.label_names} (use --set unlabelled=keep to keep unlabelled epochs)", label_source)

    # epoch positions in output and input samples
    onset_s = grid.onset_s[keep]
    starts_out = np.round(onset_s * fs_out).astype(np.int64)
    inside = starts_out + n_samples <= n_out
    onset_s, starts_out = onset_s[inside], starts_out[inside]
    epoch_labels = grid.labels[keep][inside]
    starts_in = np.round(onset_s * fs_in).astype(np.int64)
    if not inside.any():
        raise NeonasError(f"no full {cfg.epoch_s:g} s epoch to write inside the recording ({duration_s:g} s)",
                          recording)

    log.info("%s: %d channel(s) at %g Hz, %.2f h; writing %d epochs of %g s at %g Hz", recording.name,
             len(montage), fs_in, duration_s / 3600, len(onset_s), cfg.epoch_s, fs_out)
    eeg, clip_counts = _process(raw, header, sources, montage, cfg, starts_out, starts_in, n_samples,
                                n_in, n_out, up, down, filters)

    artifact = _artifact_flags(eeg, clip_counts, round(cfg.epoch_s * fs_in), cfg)
    median, scale = _normalise(eeg, artifact, [d.name for d in montage], cfg.flat_uv, recording)
    config = {"preset": preset_name, **dataclasses.asdict(cfg)}
    rec = Recording(
        infant_id=infant_id or recording.stem,
        eeg=eeg,
        labels=epoch_labels.astype(np.int8),
        onset_s=onset_s.astype(np.float64),
        artifact=artifact,
        sfreq=fs_out,
        ch_names=[d.name for d in montage],
        label_names=list(cfg.label_names),
        epoch_s=float(cfg.epoch_s),
        source_sha256=sha256(recording),
        preprocess_config=config,
        extra_attrs={
            "source_file": recording.name,
            "source_channels": {d.name: d.describe() for d in montage},
            "source_sfreq": fs_in,
            "label_source": f"{fmt}:{Path(label_source).name}" if fmt != "none" else "none",
            "norm_median_uv": [float(v) for v in median],
            "norm_scale_uv": [float(v) for v in scale],
            **(extra_attrs or {}),
        },
    )
    write_recording(out, rec)
    counts = {name: int((rec.labels == i).sum()) for i, name in enumerate(rec.label_names)}
    log.info("wrote %s: %d epochs %s, %d unlabelled, %d with artefact flags", out, rec.n_epochs, counts,
             int((rec.labels < 0).sum()), int((rec.artifact != 0).sum()))
    return rec


# --- channels -------------------------------------------------------------------------------------

def _names(label: str) -> set[str]:
    """Every name under which a channel of the file can be addressed: "EEG Fp1-Ref" -> {eeg fp1-ref, fp1-ref, eeg fp1, fp1}."""
    full = " ".join(label.split()).casefold()
    names = {full}
    bare = full[4:] if full.startswith("eeg ") else full
    names.add(bare)
    for name in list(names):
        if name.endswith("-ref"):
            names.add(name[:-4])
    return names


def resolve_montage(header: EdfHeader, cfg: PreprocessConfig) -> list[Derivation]:
    """Match every configured channel to the file, as a channel of its own or as "A-B" of two channels."""
    signals = header.data_signals
    aliases = {k.casefold(): v for k, v in cfg.aliases.items()}

    def find(name: str) -> Signal | None:
        wanted = {" ".join(n.split()).casefold() for n in [name, *aliases.get(name.casefold(), [])]}
        hits = [s for s in signals if _names(s.label) & wanted]
        if len(hits) > 1:
            raise NeonasError(f"channel '{name}' matches several channels of the file: "
                              f"{', '.join(s.label for s in hits)}; name one exactly in 'channels'", header.path)
        return hits[0] if hits else None

    montage, missing = [], []
    for name in cfg.channels:
        sig = find(name)
        if sig is not None:
            montage.append(Derivation(name, sig))
            continue
        parts = name.split("-")
        if len(parts) == 2 and all(parts):
            pos, neg = find(parts[0]), find(parts[1])
            if pos is not None and neg is not None:
                montage.append(Derivation(name, pos, neg))
                continue
            missing.extend(p for p, s in zip(parts, (pos, neg), strict=True) if s is None)
        else:
            missing.append(name)
    if missing:
        tried = {m: cfg.aliases.get(m) for m in missing if cfg.aliases.get(m)}
        also = f" (also tried aliases {tried})" if tried else ""
        raise NeonasError(f"configured channel(s) {', '.join(_unique(missing))} not found{also}; the file has: "
                          f"{', '.join(s.label for s in signals)} (set 'channels' or 'aliases' in the config)",
                          header.path)
    return montage


def _unique(items: list) -> list:
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _open_raw(header: EdfHeader, sources: list[Signal]):
    """Open the file with MNE without loading data, restricted to the channels we need."""
    import mne

    reader = mne.io.read_raw_bdf if header.kind == "BDF" else mne.io.read_raw_edf
    try:
        raw = reader(header.path, include=[s.label for s in sources], preload=False, verbose="error")
    except Exception as err:  # MNE raises ValueError/RuntimeError/IndexError... for broken files
        raise NeonasError(f"MNE cannot read this {header.kind} file ({type(err).__name__}: {err})",
                          header.path) from None
    missing = [s.label for s in sources if s.label not in raw.ch_names]
    if missing:
        raise NeonasError(f"MNE did not find channel(s) {missing} (names in the file are not unique?)", header.path)
    return raw


def _microvolt_scale(sig: Signal, path: Path) -> float:
    """Factor from MNE's value to microvolts, from the physical dimension written in the header."""
    mne_gain = 1e-6 if sig.dimension in _MNE_MICRO else 1e-3 if sig.dimension == "mV" else 1.0
    to_uv = _TO_MICROVOLT.get(sig.dimension.casefold())
    if to_uv is None:
        log.warning("%s: channel '%s' has physical dimension %r, not a voltage; its values are used as if in uV",
                    path, sig.label, sig.dimension)
        to_uv = 1.0
    return to_uv / mne_gain


# --- filters and resampling --------------------------------------------------------------------------

def _ratio(fs_in: float, fs_out: float, path: Path) -> tuple[int, int]:
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

def _process(raw, header, sources, montage, cfg, starts_out, starts_in, n_samples, n_in, n_out, up, down,
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
    scale = np.array([_microvolt_scale(s, header.path) for s in sources])[:, None]
    # a sample counts as clipped within half a digital step of the physical limits
    limits = []
    for s in sources:
        uv = _TO_MICROVOLT.get(s.dimension.casefold(), 1.0)
        lo, hi = sorted((s.physical_min * uv, s.physical_max * uv))
        half_step = (hi - lo) / (s.digital_max - s.digital_min) / 2
        limits.append((lo + half_step, hi - half_step))
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
        for k, (lo, hi) in enumerate(limits):
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


def _artifact_flags(eeg: np.ndarray, clip_counts: np.ndarray, samples_in: int, cfg: PreprocessConfig) -> np.ndarray:
    """Bit flags per epoch (h5io.FLAT | CLIPPED | AMPLITUDE), from the filtered signal in uV."""
    flags = np.zeros(len(eeg), np.uint8)
    for i in range(0, len(eeg), 256):  # in blocks: std() needs a temporary copy
        part = eeg[i:i + 256]
        std = part.std(axis=2, dtype=np.float64)
        peak = np.abs(part).max(axis=2)
        flags[i:i + 256] |= np.where((std < cfg.flat_uv).any(axis=1), FLAT, 0).astype(np.uint8)
        flags[i:i + 256] |= np.where((peak > cfg.amplitude_uv).any(axis=1), AMPLITUDE, 0).astype(np.uint8)
    clipped = (clip_counts / max(samples_in, 1) >= cfg.clip_fraction).any(axis=1)
    flags |= np.where(clipped, CLIPPED, 0).astype(np.uint8)
    return flags


def _normalise(eeg: np.ndarray, artifact: np.ndarray, ch_names: list[str], flat_uv: float, path: Path):
    """In place: (x - median) / IQR per channel, both taken over the epochs without artefact flags.

    A channel whose IQR is below `flat_uv` (a disconnected electrode, the recording reference) is
    centred but not scaled: scaling would blow its noise up to the size of real EEG. The quantiles
    are taken over at most NORM_SAMPLES evenly strided samples per channel (all of them in short
    recordings): exact enough for a scale, and 10x faster on a 22 h recording.
    """
    clean = np.flatnonzero(artifact == 0)
    if clean.size == 0:
        log.warning("%s: every epoch has an artefact flag; normalising over all epochs", path)
        clean = np.arange(len(eeg))
    medians, iqrs = [], []
    for c, name in enumerate(ch_names):
        values = eeg[clean, c, :].ravel()
        values = values[:: -(-values.size // NORM_SAMPLES)]  # evenly strided subset: quantiles cost O(n)
        q25, q50, q75 = np.percentile(values, [25, 50, 75])
        iqr = q75 - q25
        if not iqr >= flat_uv:
            log.warning("%s: channel %s is flat (IQR %.2g uV < flat_uv); it is centred but not scaled", path,
                        name, iqr)
            iqr = 1.0
        eeg[:, c, :] -= np.float32(q50)
        eeg[:, c, :] /= np.float32(iqr)
        medians.append(q50)
        iqrs.append(iqr)
    return medians, iqrs


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

