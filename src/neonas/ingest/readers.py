"""Open an EEG recording in any format MNE reads well, or a plain-text signal, as one `Source`.

| suffix | format | read by |
|---|---|---|
| .edf .bdf | EDF, EDF+, BDF (header checked first, edfcheck.py) | mne.io.read_raw_edf / read_raw_bdf |
| .vhdr | BrainVision | mne.io.read_raw_brainvision |
| .set | EEGLAB | mne.io.read_raw_eeglab |
| .fif .fif.gz | FIF (MNE's own) | mne.io.read_raw_fif |
| .txt .csv .tsv .asc | plain text, one sample per line (DREAMS: a `[channel]` line first) or one column per channel under a header row of channel names | numpy, then mne.io.RawArray |

Plain text carries no sampling rate or unit, so they are declared in the config (`text_sfreq_hz`,
`text_unit`, `text_channels`), usually per recording in the cohort sheet's `overrides` column.
Every reader reports its channels with a factor to microvolts; only EDF/BDF carry the physical
range that clipping detection needs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError

log = logging.getLogger(__name__)

# MNE's own gain for an EDF physical dimension (mne/io/edf/edf.py): only these exact spellings are scaled
_MNE_MICRO = ("\u03bcV", "\u00b5V", "\x83\xcaV", "uV")
# our reading of a dimension, case-insensitively (DREAMS writes "UV", which MNE leaves unscaled)
TO_MICROVOLT = {"uv": 1.0, "\u00b5v": 1.0, "\u03bcv": 1.0, "\x83\xcav": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
MNE_SUFFIXES = {".vhdr": "BrainVision", ".set": "EEGLAB", ".fif": "FIF", ".fif.gz": "FIF"}
TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".asc")
#: the EDF+ equipment code `neonas synth` writes: a file with it in its recording field is synthetic
SYNTHETIC_EQUIPMENT = "neonas_synth"
SUPPORTED = ".edf, .bdf, .vhdr (BrainVision), .set (EEGLAB), .fif, .txt/.csv/.tsv (text with text_sfreq_hz)"


@dataclass(frozen=True)
class Channel:
    """One signal of a recording, as the pipeline needs it."""

    label: str  # as in the file
    sfreq: float  # its own rate (EDF channels may differ; MNE brings them to the highest)
    kind: str  # MNE channel type ("eeg", "ecg", "resp", ...); "eeg" where the format does not say
    to_uv: float  # multiply MNE's values by this to get microvolts
    limits_uv: tuple[float, float] | None = None  # clipping thresholds (EDF/BDF physical range), else None
    sig: object = None  # the EDF header's Signal, where there is one
    unit: str = "uV"  # as the file states it, for the warning about a non-voltage channel that is used
    voltage: bool = True  # stored in a voltage unit (else its values are used as if in uV)


@dataclass
class Source:
    """A recording: its channels, and how to open them with MNE (`open(channels)` -> mne.io.Raw)."""

    path: Path
    kind: str  # "EDF", "BDF", "BrainVision", "EEGLAB", "FIF", "text"
    channels: list[Channel]
    _raw: object = None  # the MNE Raw (not loaded; a RawArray for text), except for EDF/BDF
    _header: object = None  # EDF/BDF: edfcheck.EdfHeader

    @property
    def synthetic(self) -> bool:
        """Written by `neonas synth` (its EDF+ header names SYNTHETIC_EQUIPMENT)."""
        return self._header is not None and SYNTHETIC_EQUIPMENT in self._header.recording.split()

    @property
    def duration_s(self) -> float:
        """Length in seconds, from the header alone where the format has one (EDF/BDF, MNE's lazy readers)."""
        if self._header is not None:
            return float(self._header.duration_s)
        return self._raw.n_times / float(self._raw.info["sfreq"])

    def open(self, used: list[Channel]):
        """An MNE Raw restricted to `used` (not loaded for file formats MNE reads lazily)."""
        for c in used:
            if not c.voltage:
                log.warning("%s: channel '%s' has unit %r, not a voltage; its values are used as if in uV",
                            self.path, c.label, c.unit)
        if self.kind in ("EDF", "BDF"):
            self._header.check_calibration([c.sig for c in used])
            return _open_edf(self._header, used)
        return self._raw.copy().pick([c.label for c in used])


def suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


def open_recording(path: str | os.PathLike, cfg) -> Source:
    """Read the channel list of any supported recording; raise NeonasError naming the file and the problem."""
    path = Path(path)
    ext = suffix(path)
    if not path.exists():
        raise NeonasError(f"file not found (expected a recording: {SUPPORTED})", path)
    if ext not in MNE_SUFFIXES and ext not in TEXT_SUFFIXES:  # EDF/BDF, or whatever else: the header says
        from neonas.ingest.edfcheck import read_header

        header = read_header(path)
        channels = [Channel(s.label, header.sfreq(s), "eeg", _edf_microvolt_scale(s), _edf_limits(s), s,
                            s.dimension, s.dimension.casefold() in TO_MICROVOLT) for s in header.data_signals]
        return Source(path, header.kind, channels, _header=header)
    if path.is_dir() or path.stat().st_size == 0:
        raise NeonasError(f"{'is a directory' if path.is_dir() else 'file is empty (0 bytes)'}; expected a "
                          f"recording ({SUPPORTED})", path)
    if ext in MNE_SUFFIXES:
        kind = MNE_SUFFIXES[ext]
        raw = _mne_read(path, kind)
        return Source(path, kind, _mne_channels(raw, path), _raw=raw)
    raw = read_text(path, cfg)
    return Source(path, "text", _mne_channels(raw, path), _raw=raw)


def source_from_raw(raw, name: str | os.PathLike | None = None) -> Source:
    """An MNE Raw already in memory (as loaded, or edited) as a Source: its channels as MNE gives them, no
    physical range (so no clipping detection), the path of its file (or "mne_raw") for messages."""
    files = [f for f in (getattr(raw, "filenames", None) or ()) if f]
    path = Path(name or (files[0] if files else "mne_raw"))
    if raw.n_times == 0 or not raw.ch_names:
        raise NeonasError("the MNE Raw holds no samples or no channels", path)
    return Source(path, "MNE Raw", _mne_channels(raw, path), _raw=raw)


# --- EDF / BDF ---------------------------------------------------------------------------------------

def _edf_microvolt_scale(sig) -> float:
    """Factor from MNE's value to microvolts, from the physical dimension written in the header (a
    dimension that is not a voltage: values used as they are)."""
    mne_gain = 1e-6 if sig.dimension in _MNE_MICRO else 1e-3 if sig.dimension == "mV" else 1.0
    return TO_MICROVOLT.get(sig.dimension.casefold(), 1.0) / mne_gain


def _edf_limits(sig) -> tuple[float, float]:
    """A sample counts as clipped within half a digital step of the physical limits (in uV)."""
    uv = TO_MICROVOLT.get(sig.dimension.casefold(), 1.0)
    lo, hi = sorted((sig.physical_min * uv, sig.physical_max * uv))
    half_step = (hi - lo) / max(sig.digital_max - sig.digital_min, 1) / 2
    return lo + half_step, hi - half_step


def _open_edf(header, used: list[Channel]):
    import mne

    reader = mne.io.read_raw_bdf if header.kind == "BDF" else mne.io.read_raw_edf
    try:
        raw = reader(header.path, include=[c.label for c in used], preload=False, verbose="error")
    except Exception as err:  # MNE raises ValueError/RuntimeError/IndexError... for broken files
        raise NeonasError(f"MNE cannot read this {header.kind} file ({type(err).__name__}: {err})",
                          header.path) from None
    missing = [c.label for c in used if c.label not in raw.ch_names]
    if missing:
        raise NeonasError(f"MNE did not find channel(s) {missing} (names in the file are not unique?)", header.path)
    return raw


# --- BrainVision, EEGLAB, FIF ------------------------------------------------------------------------

def _mne_read(path: Path, kind: str):
    import mne

    reader = {"BrainVision": mne.io.read_raw_brainvision, "EEGLAB": mne.io.read_raw_eeglab,
              "FIF": mne.io.read_raw_fif}[kind]
    try:
        return reader(path, preload=False, verbose="error")
    except Exception as err:  # MNE raises many types for broken or incomplete files
        raise NeonasError(f"MNE cannot read this {kind} file ({type(err).__name__}: {err}); a BrainVision "
                          ".vhdr needs its .vmrk and .eeg, an EEGLAB .set its .fdt when it names one", path) from None


def _mne_channels(raw, path: Path) -> list[Channel]:
    """Channels of an MNE Raw: volts for voltage channels (MNE's unit), anything else used as it is."""
    from mne.io.constants import FIFF

    out = []
    for ch, kind in zip(raw.info["chs"], raw.get_channel_types(), strict=True):
        volts = ch["unit"] == FIFF.FIFF_UNIT_V
        out.append(Channel(ch["ch_name"], float(raw.info["sfreq"]), kind, 1e6 if volts else 1.0,
                           unit="V" if volts else f"FIFF unit {int(ch['unit'])}", voltage=volts))
    return out


# --- plain text --------------------------------------------------------------------------------------

def read_text(path: Path, cfg):
    """A text/CSV signal as an MNE RawArray (volts), with the declared rate, unit and channel names.

    Accepted layouts: one number per line (DREAMS `excerptN.txt`: the channel name in brackets on the
    first line), or columns separated by commas, tabs or spaces, under an optional header row of names.
    """
    import mne

    if cfg.text_sfreq_hz is None:
        raise NeonasError("a text signal has no sampling rate: set text_sfreq_hz (e.g. in the cohort sheet's "
                          "overrides column: text_sfreq_hz=200)", path)
    unit = TO_MICROVOLT.get(cfg.text_unit.casefold())
    if unit is None:
        raise NeonasError(f"text_unit '{cfg.text_unit}' is not a voltage unit; expected one of uV, mV, V, nV", path)
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        first = f.readline().strip()
    sep = "," if suffix(path) == ".csv" or ("," in first and "\t" not in first) else "\t" if "\t" in first else None
    names: list[str] | None = None
    skip = 0
    if first.startswith("[") and first.endswith("]"):
        names, skip = [first[1:-1].strip()], 1
    elif first and not _numeric(first.split(sep)[0]):
        names, skip = [n.strip() for n in first.split(sep)], 1
    try:
        data = np.loadtxt(path, delimiter=sep, skiprows=skip, ndmin=2, encoding="utf-8-sig").T
    except ValueError as err:
        raise NeonasError(f"cannot read the text signal as numbers ({err}); expected one sample per line, "
                          "or one column per channel under a header row of channel names", path) from None
    if cfg.text_channels:
        names = list(cfg.text_channels)
    if names is None:
        raise NeonasError(f"the text signal names no channel: give text_channels (one name per column, "
                          f"{data.shape[0]} column(s)) or start the file with a '[name]' line", path)
    if len(names) != data.shape[0]:
        raise NeonasError(f"{len(names)} channel name(s) {names} for {data.shape[0]} column(s) of samples "
                          "(set text_channels to one name per column)", path)
    if data.shape[1] == 0 or not np.isfinite(data).all():
        raise NeonasError("the text signal is empty or holds non-finite values", path)
    info = mne.create_info(names, float(cfg.text_sfreq_hz), "eeg")
    log.info("%s: text signal, %d channel(s) x %d samples, declared %g Hz in %s", path.name, len(names),
             data.shape[1], cfg.text_sfreq_hz, cfg.text_unit)
    return mne.io.RawArray(data * (unit * 1e-6), info, verbose="error")


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
