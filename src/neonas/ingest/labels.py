"""Sleep-stage labels: read them from any supported source and place them on the epoch grid.

Sources (`--label-format`):
  annotations  EDF+ annotations inside the recording (e.g. "Sleep stage QS")
  hypnogram    a separate EDF+ file holding only annotations (Sleep-EDF style), read by mne.read_annotations
  csv / tsv    a table with the columns onset_s, duration_s, stage (seconds from the recording start)
  events       a BIDS `*_events.tsv`: onset, duration, trial_type (the stage); rows without a trial_type skipped
  dreams       DREAMS `Hypnogram_excerptN.txt`: "[Hypnogram]", then one R&K code per 5 s
  none         no labels: every epoch is unlabelled (-1)

The epoch grid starts at the first label and steps by `epoch_s`: a label that spans several epochs is
split into epochs; a label onset off that grid, overlapping labels, an unknown stage or a real stage
running more than one epoch past the end of the recording is an error (the files do not belong
together). Unscored markers ("Sleep stage ?") past the end are ignored.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError

log = logging.getLogger(__name__)

FORMATS = ("auto", "annotations", "hypnogram", "csv", "tsv", "events", "dreams", "none")
TABLE_COLUMNS = ("onset_s", "duration_s", "stage")
EVENTS_COLUMNS = ("onset", "duration", "trial_type")  # BIDS *_events.tsv
#: DREAMS hypnogram codes (one per 5 s), as R&K descriptions understood by the sleep-edf label map
DREAMS_CODES = {5: "W", 4: "R", 3: "1", 2: "2", 1: "3", 0: "4", -1: "Movement time", -2: "?", -3: "?"}
DREAMS_CODE_S = 5.0
TOL_S = 1e-3  # onsets closer than 1 ms to the grid count as on it


@dataclass
class Label:
    onset_s: float  # from the start of the recording
    duration_s: float
    stage: str  # as written in the source
    where: str  # for messages: "row 3", "annotation 12", ...


@dataclass
class Grid:
    """Every full epoch of the recording on the label grid, with its class (-1 = unlabelled)."""

    onset_s: np.ndarray  # (n,) float64
    labels: np.ndarray  # (n,) int8


def normalise_stage(text: str) -> str:
    """Case-fold, collapse spaces and drop a "Sleep stage" prefix: "Sleep stage  QS" -> "qs"."""
    text = " ".join(str(text).replace("_", " ").split()).casefold()
    for prefix in ("sleep stage ", "stage "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def detect_format(labels_path: str | os.PathLike | None, fmt: str) -> str:
    """Resolve `auto`: no file -> annotations in the recording; otherwise by extension/content."""
    if fmt not in FORMATS:
        raise NeonasError(f"unknown label format '{fmt}'; expected one of {', '.join(FORMATS)}")
    if fmt != "auto":
        if fmt not in ("annotations", "none") and labels_path is None:
            raise NeonasError(f"--label-format {fmt} needs a label file (--labels FILE)")
        if fmt in ("annotations", "none") and labels_path is not None:
            raise NeonasError(f"--label-format {fmt} does not read a label file, but --labels was given; "
                              "drop one of them", labels_path)
        return fmt
    if labels_path is None:
        return "annotations"
    path = Path(labels_path)
    suffix = path.suffix.lower()
    if path.name.endswith("_events.tsv"):
        return "events"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    if suffix in (".edf", ".bdf"):
        return "hypnogram"
    if suffix == ".txt" and path.exists():
        with open(path, encoding="latin-1") as f:
            if f.readline().strip().lower() == "[hypnogram]":
                return "dreams"
    raise NeonasError("cannot tell the label format from the file name; give --label-format "
                      "(hypnogram, csv, tsv or dreams)", path)


def read_labels(fmt: str, labels_path: str | os.PathLike | None, recording_annotations=None,
                meas_date=None) -> list[Label]:
    """Labels from one source. `recording_annotations` are the MNE annotations of the EDF+ itself."""
    if fmt == "none":
        return []
    if fmt == "annotations":
        if recording_annotations is None:
            return []
        return _from_annotations(recording_annotations, None)
    path = Path(labels_path)
    if not path.exists():
        raise NeonasError("label file not found", path)
    if path.stat().st_size == 0:
        raise NeonasError("label file is empty", path)
    if fmt == "hypnogram":
        return _read_hypnogram(path, meas_date)
    if fmt in ("csv", "tsv"):
        return _read_table(path, "," if fmt == "csv" else "\t")
    if fmt == "events":
        return _read_table(path, "\t", EVENTS_COLUMNS)
    if fmt == "dreams":
        return _read_dreams(path)
    raise NeonasError(f"unknown label format '{fmt}'; expected one of {', '.join(FORMATS)}")


def _from_annotations(ann, shift_s: float | None) -> list[Label]:
    out = []
    for i, (onset, duration, desc) in enumerate(zip(ann.onset, ann.duration, ann.description, strict=True)):
        if desc.startswith(("BAD_", "EDGE")):  # added by MNE itself (e.g. BAD_ACQ_SKIP), not a stage
            continue
        desc = str(desc).removeprefix("Comment/")  # BrainVision marker type, as MNE reads it
        out.append(Label(float(onset) + (shift_s or 0.0), float(duration), desc, f"annotation {i + 1}"))
    return out


def _read_hypnogram(path: Path, meas_date) -> list[Label]:
    import mne

    from neonas.ingest.edfcheck import read_header

    read_header(path)  # clear messages for a missing/garbage/truncated file
    try:
        ann = mne.read_annotations(path)
    except Exception as err:  # MNE raises many types for broken files
        raise NeonasError(f"cannot read annotations from this hypnogram EDF+ ({type(err).__name__}: {err})",
                          path) from None
    if len(ann) == 0:
        raise NeonasError("the hypnogram holds no annotations", path)
    shift = None
    if ann.orig_time is not None and meas_date is not None:  # both dated: align by clock time
        shift = (ann.orig_time - meas_date).total_seconds()
    return _from_annotations(ann, shift)


def _read_table(path: Path, sep: str, names: tuple[str, str, str] = TABLE_COLUMNS) -> list[Label]:
    onset_col, duration_col, stage_col = names
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, delimiter=sep)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in names if c not in columns]
        if missing:
            name = "tab" if sep == "\t" else "comma"
            raise NeonasError(f"missing column(s) {', '.join(missing)}; expected a {name}-separated table with "
                              f"a header row {', '.join(names)} (found {columns})", path)
        reader.fieldnames = columns
        out = []
        for row_no, row in enumerate(reader, start=2):
            stage = (row[stage_col] or "").strip()
            if names == EVENTS_COLUMNS and stage in ("", "n/a"):
                continue  # a BIDS event that is not a stage
            try:
                onset, duration = float(row[onset_col]), float(row[duration_col])
            except (TypeError, ValueError):
                raise NeonasError(f"line {row_no}: {onset_col} {row[onset_col]!r} and {duration_col} "
                                  f"{row[duration_col]!r} must be numbers (seconds)", path) from None
            if not (math.isfinite(onset) and math.isfinite(duration)) or onset < 0 or duration <= 0:
                raise NeonasError(f"line {row_no}: expected {onset_col} >= 0 and {duration_col} > 0, found "
                                  f"{onset:g} and {duration:g}", path)
            out.append(Label(onset, duration, stage, f"line {row_no}"))
    if not out:
        raise NeonasError("the label table has a header but no rows", path)
    return out


def _read_dreams(path: Path) -> list[Label]:
    """One R&K code per 5 s; runs of equal codes become one label (so a 20 s grid is on-grid)."""
    lines = [ln.strip() for ln in path.read_text(encoding="latin-1").splitlines() if ln.strip()]
    if lines and lines[0].lower() == "[hypnogram]":
        lines = lines[1:]
    codes = []
    for i, text in enumerate(lines):
        try:
            code = int(float(text))
        except ValueError:
            raise NeonasError(f"line {i + 2}: {text!r} is not a DREAMS hypnogram code "
                              f"(expected one of {sorted(DREAMS_CODES)})", path) from None
        if code not in DREAMS_CODES:
            raise NeonasError(f"line {i + 2}: unknown DREAMS stage code {code}; expected one of "
                              f"{sorted(DREAMS_CODES)}", path)
        codes.append(code)
    if not codes:
        raise NeonasError("no hypnogram codes found", path)
    out, start = [], 0
    for i in range(1, len(codes) + 1):
        if i == len(codes) or codes[i] != codes[start]:
            out.append(Label(start * DREAMS_CODE_S, (i - start) * DREAMS_CODE_S, DREAMS_CODES[codes[start]],
                             f"line {start + 2}"))
            start = i
    return out


def stage_lookup(label_map: dict[str, str | None], label_names: list[str]):
    """Return f(label, source) -> class index or -1 (not scored); unknown stages raise NeonasError."""
    table = {normalise_stage(k): (-1 if v is None else label_names.index(v)) for k, v in label_map.items()}
    known = ", ".join(sorted(label_map))

    def lookup(label: Label, source: str) -> int:
        key = normalise_stage(label.stage)
        if key not in table:
            raise NeonasError(f"{label.where}: unknown stage '{label.stage}'; allowed stages (any case, "
                              f"optional 'Sleep stage' prefix): {known} (mapped to {', '.join(label_names)}; "
                              "extend label_map in the config)", source)
        return table[key]

    return lookup


def epoch_grid(labels: list[Label], lookup, epoch_s: float, duration_s: float, source: str,
               grid_start_s: float | None = None) -> Grid:
    """Place labels on the epoch grid of a recording of `duration_s` seconds (see module docstring).

    `grid_start_s` fixes where the grid starts instead of the first label; label parts before it are
    cut off (e.g. DREAMS excerpt 8, scored on a 20 s grid from 10 s with a 10 s fragment before).
    """
    if duration_s + TOL_S < epoch_s:
        raise NeonasError(f"the recording lasts {duration_s:g} s, shorter than one {epoch_s:g} s epoch")
    if grid_start_s is not None:
        cut = []
        for lab in labels:
            end = lab.onset_s + lab.duration_s
            if end > grid_start_s + TOL_S:
                start = max(lab.onset_s, grid_start_s)
                cut.append(Label(start, end - start, lab.stage, lab.where))
        labels = cut
    items = []
    for lab in labels:
        code = lookup(lab, source)
        end = lab.onset_s + lab.duration_s
        if code < 0 and lab.onset_s >= duration_s - TOL_S:
            continue  # unscored marker after the end of the signal (Sleep-EDF has many)
        if code >= 0 and end > duration_s + epoch_s + TOL_S:
            raise NeonasError(f"{lab.where}: stage '{lab.stage}' at {lab.onset_s:g}-{end:g} s runs "
                              f"{end - duration_s:g} s past the end of the recording ({duration_s:g} s); "
                              "the label file does not belong to this recording", source)
        if lab.duration_s <= 0:
            raise NeonasError(f"{lab.where}: stage '{lab.stage}' at {lab.onset_s:g} s has duration "
                              f"{lab.duration_s:g} s; expected a positive duration", source)
        items.append((lab, code))
    items.sort(key=lambda it: it[0].onset_s)
    for (prev, _), (cur, _) in zip(items, items[1:], strict=False):
        prev_end = prev.onset_s + prev.duration_s
        if cur.onset_s < prev_end - TOL_S:
            raise NeonasError(f"overlapping labels: {cur.where} ('{cur.stage}' from {cur.onset_s:g} s) starts "
                              f"before {prev.where} ('{prev.stage}', {prev.onset_s:g}-{prev_end:g} s) ends", source)

    t0 = grid_start_s if grid_start_s is not None else items[0][0].onset_s if items else 0.0
    where = "starts at the first label" if grid_start_s is None else "starts at grid_start_s"
    for lab, _ in items:
        steps = (lab.onset_s - t0) / epoch_s
        if abs(steps - round(steps)) * epoch_s > TOL_S:
            start = lab.onset_s % epoch_s  # a grid start that puts this onset on the grid
            raise NeonasError(f"{lab.where}: onset {lab.onset_s:g} s of '{lab.stage}' is off the {epoch_s:g} s "
                              f"epoch grid that {where} ({t0:g} s); onsets must be {t0:g} s + a multiple of "
                              f"{epoch_s:g} s. If the scoring grid starts elsewhere, set grid_start_s (e.g. "
                              f"grid_start_s={start:g}: label parts before it are cut off); if the epochs "
                              "are not that long, set epoch_s", source)

    # full epochs of the recording on the grid, extended back to the start of the recording
    # (unless the grid start is given)
    k_first = 0 if grid_start_s is not None else -math.floor(t0 / epoch_s + TOL_S / epoch_s)
    k_last = math.floor((duration_s - t0) / epoch_s + TOL_S / epoch_s) - 1  # last k with end <= duration
    k = np.arange(k_first, k_last + 1)
    grid = Grid(onset_s=t0 + k * epoch_s, labels=np.full(k.shape, -1, np.int8))
    for lab, code in items:
        if code < 0:
            continue
        first = round((lab.onset_s - t0) / epoch_s) - k_first
        n_full = math.floor(lab.duration_s / epoch_s + TOL_S / epoch_s)  # a partial tail stays unlabelled
        grid.labels[max(first, 0):max(first + n_full, 0)] = code
    if items:
        log.debug("%d labels on a %g s grid from %g s: %d of %d epochs labelled", len(items), epoch_s, t0,
                 int((grid.labels >= 0).sum()), len(k))
    return grid


#: labels must span at least this share of the recording (`labels_must_fit`); a wrong declared rate misses it
MIN_COVERAGE = 0.9


def label_fit(labels: list[Label], lookup, duration_s: float, source: str) -> tuple[float, float]:
    """(share of the recording the labels span, seconds a scored stage runs past its end).

    The span runs from the first label's onset to the last one's end (unscored markers included, those
    after the end ignored), clipped to the recording. Both numbers say whether labels and signal belong
    together: a text signal declared at half its true rate lasts twice as long as its labels.
    """
    spans, overrun = [], 0.0
    for lab in labels:
        code = lookup(lab, source)
        end = lab.onset_s + lab.duration_s
        if code < 0 and lab.onset_s >= duration_s - TOL_S:
            continue
        spans.append((max(lab.onset_s, 0.0), min(end, duration_s)))
        if code >= 0:
            overrun = max(overrun, end - duration_s)
    if not spans or duration_s <= 0:
        return 0.0, overrun
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    return max(last - first, 0.0) / duration_s, overrun


def crop_sleep(labels: np.ndarray, wake: list[int], margin_epochs: int) -> np.ndarray:
    """Boolean mask of the sleep period (first to last sleep epoch) +- margin_epochs."""
    sleep = np.flatnonzero((labels >= 0) & ~np.isin(labels, wake))
    keep = np.zeros(labels.shape, bool)
    if sleep.size:
        keep[max(sleep[0] - margin_epochs, 0): sleep[-1] + margin_epochs + 1] = True
    return keep
