"""Sleep statistics of one hypnogram (`Hypnogram.stats()`, `neonas predict --stats`).

Every epoch counts with its stage, artefact-flagged ones included (their share is reported apart).
Times are in minutes, shares in percent. Sections:

- always: time and % of the recording per stage, latency to each stage's first epoch from the start
  of the recording, the transition matrix (counts of epoch-to-epoch changes, diagonal included), the
  share of flagged epochs;
- `sleep`: YASA's definitions (yasa.sleep_statistics), every stage but W counting as sleep: TIB (the
  whole hypnogram), SPT (first to last sleep epoch), WASO (W within SPT), TST (sleep within SPT), SE =
  TST / TIB, SME = TST / SPT, SOL (latency to the first sleep epoch);
- `neonatal` (stage sets with AS and QS): AS/QS time ratio, latency to the first QS epoch, and AS->QS
  cycles: a QS run whose preceding epochs, back to the last W or QS, hold AS (IS epochs allowed); the
  cycle runs from that stretch's first AS epoch to the end of the QS run;
- `adult` (W, N1, N2, N3 and R or REM): the stages' time, % of TST and latency with YASA's keys
  (N1, %N1, Lat_N1, ..., REM, NREM).

No smoothing: a predicted hypnogram that flickers between stages has many short runs and cycles.
"""

from __future__ import annotations

import numpy as np

ADULT = ("N1", "N2", "N3")
REM_NAMES = ("R", "REM")


def sleep_stats(stages: list[str], epoch_s: float, label_names: list[str], flagged=None) -> dict:
    """The statistics of one hypnogram: `stages` (one name per epoch, in time order) of `label_names`."""
    n = len(stages)
    minute = epoch_s / 60.0
    st = np.array(stages, dtype=object)
    flagged = np.zeros(n, bool) if flagged is None else np.asarray(flagged, bool)
    counts = {name: int((st == name).sum()) for name in label_names}
    first = {name: _first(st == name) for name in label_names}
    trans = {a: dict.fromkeys(label_names, 0) for a in label_names}
    for a, b in zip(stages, stages[1:], strict=False):
        trans[a][b] += 1
    out = {
        "epochs": n, "epoch_s": float(epoch_s), "recording_min": n * minute,
        "stages": {name: {"minutes": c * minute, "percent": _pct(c, n)} for name, c in counts.items()},
        "latency_min": {name: None if i is None else i * minute for name, i in first.items()},
        "transitions": trans,
        "flagged_epochs": int(flagged.sum()), "flagged_share": float(flagged.mean()) if n else None,
        "sleep": _sleep(st, minute),
    }
    if {"AS", "QS"} <= set(label_names):
        out["neonatal"] = _neonatal(stages, counts, first, minute)
    rem = next((r for r in REM_NAMES if r in label_names), None)
    if rem is not None and {"W", *ADULT} <= set(label_names):
        out["adult"] = _adult(st, rem, out["sleep"]["TST"], minute)
    return out


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def _sleep(st: np.ndarray, minute: float) -> dict:
    """YASA's TIB, SPT, WASO, TST, SE, SME, SOL, with every stage but W counted as sleep."""
    asleep = np.flatnonzero(st != "W")
    if not asleep.size:
        return {"TIB": st.size * minute, "SPT": 0.0, "WASO": None, "TST": 0.0, "SE": 0.0 if st.size else None,
                "SME": None, "SOL": None}
    period = st[asleep[0]: asleep[-1] + 1]
    tst = int((period != "W").sum()) * minute
    spt = period.size * minute
    return {"TIB": st.size * minute, "SPT": spt, "WASO": int((period == "W").sum()) * minute, "TST": tst,
            "SE": _pct(tst, st.size * minute), "SME": _pct(tst, spt), "SOL": int(asleep[0]) * minute}


def _neonatal(stages: list[str], counts: dict, first: dict, minute: float) -> dict:
    lengths = []
    i, n = 0, len(stages)
    while i < n:
        if stages[i] != "QS" or (i > 0 and stages[i - 1] == "QS"):
            i += 1
            continue
        end = i
        while end < n and stages[end] == "QS":
            end += 1
        start = i
        while start > 0 and stages[start - 1] in ("AS", "IS"):
            start -= 1
        as_epochs = [k for k in range(start, i) if stages[k] == "AS"]
        if as_epochs:
            lengths.append((end - as_epochs[0]) * minute)
        i = end
    ratio = counts["AS"] / counts["QS"] if counts["QS"] else None
    return {"as_qs_ratio": ratio, "latency_qs_min": None if first["QS"] is None else first["QS"] * minute,
            "cycles": len(lengths), "cycle_mean_min": float(np.mean(lengths)) if lengths else None,
            "cycle_lengths_min": lengths}


def _adult(st: np.ndarray, rem: str, tst: float, minute: float) -> dict:
    out = {}
    names = {"N1": "N1", "N2": "N2", "N3": "N3", "REM": rem}
    for key, name in names.items():
        out[key] = int((st == name).sum()) * minute
    out["NREM"] = out["N1"] + out["N2"] + out["N3"]
    for key in [*names, "NREM"]:
        out[f"%{key}"] = _pct(out[key], tst)
    for key, name in names.items():
        i = _first(st == name)
        out[f"Lat_{key}"] = None if i is None else i * minute
    return out

