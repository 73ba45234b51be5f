"""The preprocessing config (one plain dataclass) and its named presets.

A preset is just an instance of `PreprocessConfig`. A user YAML (`--config`) starts from a preset
(`preset: sleep-edf`, default `neonatal`) and overrides any field; `--set key=value` overrides come
last. The resolved config is stored in every HDF5 file, so a file says how it was made.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Literal

from neonas import NEONATAL_STAGES
from neonas.config import from_dict, load_yaml, set_dotted
from neonas.errors import NeonasError


def _neonatal_label_map() -> dict[str, str | None]:
    # keys are matched after `labels.normalise_stage` (case-folded, "Sleep stage " prefix removed)
    return {
        "as": "AS", "active sleep": "AS", "active": "AS",
        "qs": "QS", "quiet sleep": "QS", "quiet": "QS",
        "w": "W", "wake": "W", "awake": "W", "wakefulness": "W",
        "is": "IS", "indeterminate": "IS", "indeterminate sleep": "IS",
        "ts": "IS", "transitional": "IS", "transitional sleep": "IS",
        # explicit "not scored" markers: the epoch stays unlabelled (-1)
        "?": None, "unscored": None, "movement time": None,
    }


@dataclass
class PreprocessConfig:
    """Every step of `neonas preprocess`. Defaults are the `neonatal` preset.

    Channels: each entry of `channels` is an output channel, written in this order. It names a
    channel of the file (matched case-insensitively, with or without an "EEG " prefix and a "-Ref"
    suffix, or through `aliases`), or, when no channel has that name, a bipolar derivation "A-B" of
    two channels A and B of the file (A minus B, each matched the same way).
    """

    channels: list[str] = field(default_factory=lambda: ["Fp1", "C3", "T3", "O1", "Fp2", "C4", "T4", "O2", "Cz"])
    # interchangeable names of a channel or electrode, both ways: old/new 10-20 names of the temporal sites
    aliases: dict[str, list[str]] = field(default_factory=lambda: {
        "T3": ["T7"], "T4": ["T8"], "T5": ["P7"], "T6": ["P8"]})
    label_names: list[str] = field(default_factory=lambda: list(NEONATAL_STAGES))
    # stage text in the label source -> one of label_names, or null for "not scored"
    label_map: dict[str, str | None] = field(default_factory=_neonatal_label_map)
    epoch_s: float = 30.0  # epoch length (s); the grid starts at the first label
    grid_start_s: float | None = None  # start the grid here instead (s); label parts before it are cut off
    resample_hz: float | None = 64.0  # output sampling rate (Hz); null keeps the recording's rate
    l_freq: float | None = 0.5  # band-pass high-pass edge (Hz); null = no high-pass
    h_freq: float | None = 30.0  # band-pass low-pass edge (Hz); null = no low-pass
    notch_hz: list[float] = field(default_factory=lambda: [50.0])  # mains notch(es) (Hz), skipped above Nyquist
    notch_width_hz: float = 2.0  # width of each notch (Hz)
    filter_order: int = 4  # Butterworth order of the band-pass (zero-phase: applied forward and backward)
    unlabelled: Literal["drop", "keep"] = "drop"  # epochs without a label: drop them or keep them as -1
    crop_sleep_min: float | None = None  # keep only the sleep period +- this many minutes (null: whole record)
    wake_labels: list[str] = field(default_factory=lambda: ["W"])  # classes that are not sleep (for the crop)
    flat_uv: float = 0.5  # artefact "flat": a channel's std within an epoch below this (uV)
    clip_fraction: float = 0.01  # artefact "clipped": this fraction of an epoch's samples at the physical limits
    amplitude_uv: float = 1000.0  # artefact "amplitude": |filtered signal| above this (uV)
    chunk_s: float = 1800.0  # signal is processed in blocks of this many seconds (bounds memory)
    non_eeg_channels: list[str] = field(default_factory=list)  # output channels allowed to be ECG/EOG/EMG/...
    # plain-text signals (.txt/.csv/.tsv) carry no rate or unit: declare them (per recording: cohort overrides)
    text_sfreq_hz: float | None = None  # sampling rate of a text signal (Hz)
    text_unit: str = "uV"  # unit of its values: uV, mV, V or nV
    text_channels: list[str] | None = None  # channel names, one per column (default: the file's header)
    # labels that do not fit the recording (a wrong text_sfreq_hz, the wrong label file): refuse, or only warn
    labels_must_fit: bool = True  # refuse labels covering < 90 % of the recording, past its end, or (text) > 1 epoch off

    def __post_init__(self):
        if not self.channels:
            raise ValueError("channels: expected at least one channel")
        dupes = sorted({c for c in self.channels if self.channels.count(c) > 1})
        if dupes:
            raise ValueError(f"channels: listed twice: {dupes}")
        if not self.label_names or len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"label_names: expected distinct names, found {self.label_names}")
        bad = sorted({str(v) for v in self.label_map.values() if v is not None and v not in self.label_names})
        if bad:
            raise ValueError(f"label_map: maps to {bad}, which are not in label_names {self.label_names}")
        bad = sorted(set(self.wake_labels) - set(self.label_names))
        if bad:
            raise ValueError(f"wake_labels: {bad} are not in label_names {self.label_names}")
        positive = {"epoch_s": self.epoch_s, "resample_hz": self.resample_hz, "l_freq": self.l_freq,
                    "h_freq": self.h_freq, "notch_width_hz": self.notch_width_hz, "flat_uv": self.flat_uv,
                    "amplitude_uv": self.amplitude_uv, "chunk_s": self.chunk_s, "filter_order": self.filter_order,
                    "text_sfreq_hz": self.text_sfreq_hz}
        for name, value in positive.items():
            if value is not None and value <= 0:
                raise ValueError(f"{name}: expected a positive number, found {value}")
        if any(f <= 0 for f in self.notch_hz):
            raise ValueError(f"notch_hz: expected positive frequencies, found {self.notch_hz}")
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ValueError(f"l_freq ({self.l_freq} Hz) must be below h_freq ({self.h_freq} Hz)")
        if not 0 < self.clip_fraction <= 1:
            raise ValueError(f"clip_fraction: expected a fraction in (0, 1], found {self.clip_fraction}")
        if self.grid_start_s is not None and self.grid_start_s < 0:
            raise ValueError(f"grid_start_s: expected seconds >= 0, found {self.grid_start_s}")
        if self.crop_sleep_min is not None and self.crop_sleep_min < 0:
            raise ValueError(f"crop_sleep_min: expected minutes >= 0, found {self.crop_sleep_min}")
        if self.chunk_s < self.epoch_s:
            raise ValueError(f"chunk_s ({self.chunk_s}) must be at least epoch_s ({self.epoch_s})")


def _sleep_edf() -> PreprocessConfig:
    """Sleep-EDF (Expanded) PSG: 2 bipolar EEG + horizontal EOG at 100 Hz, R&K scoring mapped to AASM."""
    r_and_k = {
        "w": "W", "wake": "W",
        "1": "N1", "s1": "N1", "n1": "N1",
        "2": "N2", "s2": "N2", "n2": "N2",
        "3": "N3", "4": "N3", "s3": "N3", "s4": "N3", "n3": "N3", "n4": "N3",  # R&K S3 + S4 -> AASM N3
        "r": "REM", "rem": "REM",
        "?": None, "movement time": None, "unscored": None,
    }
    return PreprocessConfig(
        channels=["Fpz-Cz", "Pz-Oz", "EOG horizontal"],
        aliases={},
        label_names=["W", "N1", "N2", "N3", "REM"],
        label_map=r_and_k,
        epoch_s=30.0,
        resample_hz=None,  # keep 100 Hz
        l_freq=0.5,
        h_freq=35.0,
        notch_hz=[],  # 50 Hz is the Nyquist frequency at 100 Hz
        amplitude_uv=500.0,
        non_eeg_channels=["EOG horizontal"],
    )


#: sampling rate (Hz) of each DREAMS excerptN.txt (../shared/data/dreams-spindles/README.md)
DREAMS_RATES = {1: 100.0, 2: 200.0, 3: 50.0, 4: 200.0, 5: 200.0, 6: 200.0, 7: 200.0, 8: 200.0}


def _dreams() -> PreprocessConfig:
    """DREAMS Sleep Spindles excerpts: one central channel (C3-A1 or CZ-A1) at 50/100/200 Hz, 20 s R&K epochs.

    Both montages map to one output channel, "central", so every recording has the same channel
    order. The common rate is 50 Hz, the lowest of the excerpts (h_freq 20 Hz below its Nyquist).
    The rate of each text file is declared per recording (cohort overrides `text_sfreq_hz=...`).
    """
    cfg = _sleep_edf()
    return dataclasses.replace(
        cfg, channels=["central"], aliases={"central": ["C3-A1", "CZ-A1"]}, epoch_s=20.0, resample_hz=50.0,
        l_freq=0.5, h_freq=20.0, notch_hz=[], amplitude_uv=500.0, non_eeg_channels=[], text_unit="uV")


PRESETS = {"neonatal": PreprocessConfig, "sleep-edf": _sleep_edf, "dreams": _dreams}


def preset(name: str) -> PreprocessConfig:
    if name not in PRESETS:
        raise NeonasError(f"unknown preset '{name}'; available: {', '.join(PRESETS)}")
    return PRESETS[name]()


def resolve_config(preset_name: str | None = None, config_path: str | os.PathLike | None = None,
                   overrides: list[str] | tuple[str, ...] = ()) -> tuple[str, PreprocessConfig]:
    """Preset, then YAML fields, then `--set` overrides. Returns (preset name, config)."""
    if preset_name and config_path:
        raise NeonasError("give either --preset or --config (a config file names its preset with 'preset: NAME')")
    data: dict = {}
    where = f"preset {preset_name or 'neonatal'}"
    if config_path:
        data = load_yaml(config_path)
        preset_name = data.pop("preset", None) or "neonatal"
        if not isinstance(preset_name, str):
            raise NeonasError(f"'preset' must be a preset name ({', '.join(PRESETS)})", config_path)
        where = str(config_path)
    name = preset_name or "neonatal"
    merged = dataclasses.asdict(preset(name))
    merged.update(data)
    for assignment in overrides:
        set_dotted(merged, assignment)
    if overrides:
        where += " with --set " + " ".join(overrides)
    return name, from_dict(PreprocessConfig, merged, where)
