"""A sanity check of the fixed-width EDF/BDF header, run before MNE reads the file.

MNE reads many broken files silently (a truncated file loses its last records with a warning) or
fails with obscure messages. This module only *checks* the header (256 bytes, then 256 bytes per
signal, see https://www.edfplus.info/specs/edf.html) and turns problems into one clear message; MNE
still reads the data. It also exposes what MNE does not keep: each signal's physical dimension
string and calibration, used for unit handling and clipping detection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from neonas.errors import NeonasError

# (name, width) of the main header, then of each per-signal field (stored field by field for all signals)
MAIN_FIELDS = (("version", 8), ("patient", 80), ("recording", 80), ("startdate", 8), ("starttime", 8),
               ("header_bytes", 8), ("reserved", 44), ("n_records", 8), ("record_s", 8), ("n_signals", 4))
SIGNAL_FIELDS = (("label", 16), ("transducer", 80), ("dimension", 8), ("physical_min", 8),
                 ("physical_max", 8), ("digital_min", 8), ("digital_max", 8), ("prefilter", 80),
                 ("samples_per_record", 8), ("reserved", 32))
ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")


@dataclass
class Signal:
    index: int
    label: str
    dimension: str  # physical dimension as written, e.g. "uV", "UV", "mV"
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    samples_per_record: int

    @property
    def is_annotation(self) -> bool:
        return self.label in ANNOTATION_LABELS


@dataclass
class EdfHeader:
    path: Path
    kind: str  # "EDF" or "BDF"
    reserved: str  # "EDF+C", "EDF+D", "BDF+C", "" ...
    header_bytes: int
    n_records: int
    record_s: float
    signals: list[Signal]
    recording: str = ""  # the header's recording field (EDF+: "Startdate dd-MMM-yyyy admin technician equipment")

    @property
    def duration_s(self) -> float:
        return self.n_records * self.record_s

    def sfreq(self, sig: Signal) -> float:
        return sig.samples_per_record / self.record_s

    @property
    def data_signals(self) -> list[Signal]:
        return [s for s in self.signals if not s.is_annotation]

    def check_calibration(self, signals: list[Signal]) -> None:
        """The signals we use must convert digital values to physical ones."""
        for s in signals:
            what = f"signal {s.index + 1} '{s.label}'"
            if s.physical_min == s.physical_max:
                raise NeonasError(f"{what}: physical minimum equals physical maximum ({s.physical_min:g} "
                                  f"{s.dimension}), so its values cannot be calibrated", self.path)
            if s.digital_min >= s.digital_max:
                raise NeonasError(f"{what}: digital minimum ({s.digital_min}) must be below the digital "
                                  f"maximum ({s.digital_max})", self.path)
            if s.samples_per_record <= 0:
                raise NeonasError(f"{what}: {s.samples_per_record} samples per data record; expected > 0", self.path)


def read_header(path: str | os.PathLike) -> EdfHeader:
    """Parse and check the header of an EDF/EDF+/BDF file; raise NeonasError naming the broken field."""
    path = Path(path)
    if not path.exists():
        raise NeonasError("file not found (expected an EDF, EDF+ or BDF recording)", path)
    if path.is_dir():
        raise NeonasError("is a directory, not an EDF/BDF recording", path)
    size = path.stat().st_size
    if size == 0:
        raise NeonasError("file is empty (0 bytes); expected an EDF, EDF+ or BDF recording", path)
    with open(path, "rb") as f:
        head = f.read(256)
        if head[:8] == b"0       ":
            kind = "EDF"
        elif head[:8] == b"\xffBIOSEMI":
            kind = "BDF"
        else:
            raise NeonasError(f"not an EDF or BDF file: it starts with {head[:8]!r}, expected b'0       ' (EDF) "
                              "or b'\\xffBIOSEMI' (BDF)", path)
        if len(head) < 256:
            raise NeonasError(f"truncated header: {size} bytes, but an {kind} header alone is at least 256 bytes", path)
        main, offset = {}, 0
        for name, width in MAIN_FIELDS:
            main[name] = (head[offset:offset + width].decode("latin-1").strip(), offset)
            offset += width
        n_signals = _number(main, "n_signals", "number of signals", path)
        header_bytes = _number(main, "header_bytes", "number of bytes in the header", path)
        n_records = _number(main, "n_records", "number of data records", path)
        record_s = _number(main, "record_s", "duration of a data record", path, float)
        if n_signals < 1:
            raise NeonasError(f"header says {n_signals} signals; expected at least 1", path)
        if header_bytes != 256 * (n_signals + 1):
            raise NeonasError(f"header size field says {header_bytes} bytes, but {n_signals} signals need "
                              f"256 x ({n_signals} + 1) = {256 * (n_signals + 1)} bytes", path)
        rest = f.read(256 * n_signals)
    if len(rest) < 256 * n_signals:
        raise NeonasError(f"truncated header: {n_signals} signals need a {header_bytes}-byte header, "
                          f"but the file has only {size} bytes", path)

    columns, offset = {}, 0
    for name, width in SIGNAL_FIELDS:
        columns[name] = [rest[offset + i * width: offset + (i + 1) * width].decode("latin-1").strip()
                         for i in range(n_signals)]
        offset += width * n_signals
    signals = []
    for i in range(n_signals):
        def num(field, cast, what, i=i):
            text = columns[field][i]
            try:
                return cast(float(text)) if cast is int and "." in text else cast(text)
            except ValueError:
                raise NeonasError(f"signal {i + 1} '{columns['label'][i]}': {what} field is {text!r}; "
                                  "expected a number", path) from None
        signals.append(Signal(
            index=i, label=columns["label"][i], dimension=columns["dimension"][i],
            physical_min=num("physical_min", float, "physical minimum"),
            physical_max=num("physical_max", float, "physical maximum"),
            digital_min=num("digital_min", int, "digital minimum"),
            digital_max=num("digital_max", int, "digital maximum"),
            samples_per_record=num("samples_per_record", int, "number of samples per data record"),
        ))

    header = EdfHeader(path=path, kind=kind, reserved=main["reserved"][0], header_bytes=header_bytes,
                       n_records=n_records, record_s=record_s, signals=signals, recording=main["recording"][0])
    only_annotations = all(s.is_annotation for s in signals)
    if record_s <= 0 and not only_annotations:
        raise NeonasError(f"data records last {record_s:g} s; expected a positive duration", path)
    if header.reserved.startswith(("EDF+D", "BDF+D")):
        raise NeonasError("is a discontinuous EDF+D/BDF+D recording; neonas reads continuous recordings only "
                          "(export it as EDF+C, one file per continuous segment)", path)
    bytes_per_sample = 3 if kind == "BDF" else 2
    record_bytes = bytes_per_sample * sum(max(s.samples_per_record, 0) for s in signals)
    if n_records == -1:  # allowed while recording: infer from the size
        n_records = (size - header_bytes) // record_bytes if record_bytes else 0
        header.n_records = n_records
    if n_records < 1:
        raise NeonasError(f"header says {n_records} data records; expected at least 1", path)
    expected = header_bytes + n_records * record_bytes
    if size < expected:
        have = (size - header_bytes) / record_bytes if record_bytes else 0
        raise NeonasError(f"truncated: the header promises {n_records} data records of {record_bytes} bytes "
                          f"({expected} bytes with the header) but the file has {size} bytes "
                          f"({have:.1f} records)", path)
    return header


def _number(main: dict, key: str, what: str, path: Path, kind: type = int):
    """The header field `key` as `kind` (int or float); a clear error naming the field and its bytes if not."""
    text, offset = main[key]
    try:
        return kind(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise NeonasError(f"header field '{what}' (bytes {offset}-{offset + dict(MAIN_FIELDS)[key] - 1}) is "
                          f"{text!r}; expected {expected}", path) from None
