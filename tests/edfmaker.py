"""Small real EDF/EDF+/BDF files for the ingest tests, written with edfio (EDF) or by hand (BDF).

Signals are given in microvolts. Everything is deterministic (seeded), and short: minutes, not hours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NEONATAL = ("Fp1", "Fp2", "C3", "C4", "T3", "T4", "O1", "O2", "Cz")  # file order (not the output order)
#: a distinct frequency (Hz) per electrode, so tests can tell channels apart after preprocessing
FREQ = {"Fp1": 2.0, "Fp2": 3.0, "C3": 4.0, "C4": 5.0, "T3": 6.0, "T4": 7.0, "O1": 8.0, "O2": 9.0, "Cz": 10.0,
        "T7": 6.0, "T8": 7.0}


def tone(name: str, seconds: float, sfreq: float, amp_uv: float = 40.0, noise_uv: float = 5.0,
         seed: int = 0) -> np.ndarray:
    """A sine at FREQ[name] plus a little seeded noise: easy to recognise after filtering."""
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    t = np.arange(round(seconds * sfreq)) / sfreq
    return amp_uv * np.sin(2 * np.pi * FREQ.get(name, 11.0) * t) + noise_uv * rng.standard_normal(t.size)


def write_edf(path, signals: dict[str, np.ndarray], sfreq: float | dict[str, float] = 256.0,
              annotations=(), dimension: str = "uV", physical_range=(-1000.0, 1000.0),
              record_s: float | None = None) -> Path:
    """EDF (EDF+ when annotations are given), 1 s data records unless `record_s`. `signals`: label -> uV."""
    import edfio

    path = Path(path)
    rates = sfreq if isinstance(sfreq, dict) else dict.fromkeys(signals, sfreq)
    edf_signals = [
        edfio.EdfSignal(np.asarray(data, float), sampling_frequency=rates[label], label=label,
                        physical_dimension=dimension, physical_range=physical_range)
        for label, data in signals.items()
    ]
    anns = [edfio.EdfAnnotation(float(o), float(d), str(t)) for o, d, t in annotations] or None
    edfio.Edf(edf_signals, annotations=anns, data_record_duration=record_s).write(path)
    return path


def neonatal_edf(path, seconds: float = 300.0, sfreq: float = 256.0, stages=(), names=None, prefix="EEG ",
                 suffix="-Ref", seed: int = 0) -> Path:
    """9 referential neonatal channels ("EEG Fp1-Ref"...), stages as EDF+ annotations (onset, duration, text)."""
    names = names or NEONATAL
    signals = {f"{prefix}{n}{suffix}": tone(n, seconds, sfreq, seed=seed) for n in names}
    return write_edf(path, signals, sfreq, annotations=stages)


def write_bdf(path, signals: dict[str, np.ndarray], sfreq: int = 256, physical_range=(-1000.0, 1000.0)) -> Path:
    """A plain BDF (24-bit) file with 1 s records, written field by field (edfio writes EDF only)."""
    path = Path(path)
    labels = list(signals)
    n = len(labels)
    n_records = min(len(v) for v in signals.values()) // sfreq
    dmin, dmax = -(2 ** 23), 2 ** 23 - 1
    pmin, pmax = physical_range

    def field(text, width):
        return str(text).ljust(width)[:width].encode("latin-1")

    head = b"\xffBIOSEMI" + field("X X X X", 80) + field("Startdate 01-JAN-2020 X X X", 80)
    head += field("01.01.20", 8) + field("00.00.00", 8) + field(256 * (n + 1), 8) + field("24BIT", 44)
    head += field(n_records, 8) + field(1, 8) + field(n, 4)
    for values, width in ((labels, 16), (["AgAgCl"] * n, 80), (["uV"] * n, 8), ([pmin] * n, 8), ([pmax] * n, 8),
                          ([dmin] * n, 8), ([dmax] * n, 8), (["HP:0.1Hz"] * n, 80), ([sfreq] * n, 8),
                          ([""] * n, 32)):
        head += b"".join(field(v, width) for v in values)
    gain = (pmax - pmin) / (dmax - dmin)
    digital = {k: np.clip(np.round((np.asarray(v[: n_records * sfreq]) - pmin) / gain + dmin), dmin, dmax)
               .astype(np.int32) for k, v in signals.items()}
    body = bytearray()
    for r in range(n_records):
        for k in labels:
            block = digital[k][r * sfreq:(r + 1) * sfreq].astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
            body += block.tobytes()
    path.write_bytes(head + bytes(body))
    return path


def patch_header(path, offset: int, text: str) -> None:
    """Overwrite header bytes in place (to break one field on purpose)."""
    data = bytearray(Path(path).read_bytes())
    raw = text.encode("latin-1")
    data[offset:offset + len(raw)] = raw
    Path(path).write_bytes(bytes(data))


def signal_field_offset(n_signals: int, field: str, index: int) -> int:
    """Byte offset of one per-signal header field (EDF layout: each field stored for all signals)."""
    widths = [("label", 16), ("transducer", 80), ("dimension", 8), ("physical_min", 8), ("physical_max", 8),
              ("digital_min", 8), ("digital_max", 8), ("prefilter", 80), ("samples_per_record", 8)]
    offset = 256
    for name, width in widths:
        if name == field:
            return offset + index * width
        offset += width * n_signals
    raise KeyError(field)
