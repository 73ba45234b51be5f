"""The cohort sheet: which recordings make up a study, one row per infant.

A tab-separated file with a header line (see config/cohort.tsv):

    infant_id  eeg_path  labels_path  label_format  pma_weeks

Relative paths are relative to the current working directory, i.e. the directory `snakemake` (or
`neonas`) is run from, which for the workflow is the repository root. `labels_path` is empty exactly
when the labels are EDF+ annotations inside the EEG file (`label_format` annotations) or absent (`none`).
`pma_weeks` (postmenstrual age) is optional. Lines starting with `#` and blank lines are ignored.

An optional `overrides` column holds per-recording preprocessing settings, `key=value` pairs separated
by `;` (values in YAML, as for `neonas preprocess --set`), applied after the study's preset, config
file and `set`: e.g. `text_sfreq_hz=200;grid_start_s=10` for a DREAMS excerpt, or
`aliases.central=[CZ-A1]` for a recording with its own channel names.

Every problem is reported as a NeonasError naming the sheet, the line and what was expected, so a typo
in a 200-row sheet fails the workflow at parse time, not hours later in one preprocess job.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from neonas.errors import NeonasError
from neonas.io import write_text_atomic

#: how the labels of a recording are stored: `neonas preprocess --label-format` (all but its `auto`)
LABEL_FORMATS = ("annotations", "hypnogram", "csv", "tsv", "events", "dreams", "none")
REQUIRED_COLUMNS = ("infant_id", "eeg_path", "labels_path", "label_format")
OPTIONAL_COLUMNS = ("pma_weeks", "overrides")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
#: infant ids become file names and Snakemake wildcards (same pattern as workflow/rules/common.smk)
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PMA_RANGE_WEEKS = (20.0, 60.0)


@dataclass(frozen=True)
class CohortRow:
    """One infant of the cohort. Paths are as written in the sheet (relative to the working directory)."""

    infant_id: str
    eeg_path: Path
    labels_path: Path | None
    label_format: str
    pma_weeks: float | None
    line: int  # line number in the sheet, for error messages downstream
    overrides: tuple[str, ...] = ()  # "key=value" preprocessing settings of this recording (`--set`)


def load_cohort(path: str | os.PathLike, check_files: bool = False) -> list[CohortRow]:
    """Read and validate a cohort sheet.

    With `check_files=True` every eeg_path and labels_path must exist; the default is False because the
    workflow may generate the (synthetic) recordings only after reading the sheet.
    """
    path = Path(path)
    if not path.exists():
        raise NeonasError("cohort sheet not found (expected a tab-separated file with columns "
                          f"{', '.join(COLUMNS)})", path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise NeonasError(f"cannot read the cohort sheet ({err})", path) from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise NeonasError(f"empty cohort sheet; expected a header line with columns {', '.join(COLUMNS)}", path)

    header_no, header_line = lines[0]
    header = [h.strip() for h in next(csv.reader([header_line], delimiter="\t"))]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        hint = " (is the sheet tab-separated?)" if len(header) == 1 else ""
        raise NeonasError(f"line {header_no}: missing column(s) {', '.join(missing)}{hint}; "
                          f"expected {', '.join(COLUMNS)}", path)
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise NeonasError(f"line {header_no}: unknown column(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(COLUMNS)}", path)
    dup_cols = sorted({c for c in header if header.count(c) > 1})
    if dup_cols:
        raise NeonasError(f"line {header_no}: column(s) {', '.join(dup_cols)} appear twice", path)

    rows: list[CohortRow] = []
    seen: dict[str, int] = {}
    for no, line in lines[1:]:
        fields = next(csv.reader([line], delimiter="\t"))
        if len(fields) > len(header):
            raise NeonasError(f"line {no}: {len(fields)} tab-separated fields but the header has {len(header)}", path)
        fields += [""] * (len(header) - len(fields))
        rec = {name: value.strip() for name, value in zip(header, fields, strict=True)}
        row = _parse_row(rec, no, path)
        if row.infant_id in seen:
            raise NeonasError(f"line {no}: duplicate infant_id '{row.infant_id}' (first on line "
                              f"{seen[row.infant_id]}); every infant must appear once", path)
        seen[row.infant_id] = no
        if check_files:
            _check_files(row, path)
        rows.append(row)
    if not rows:
        raise NeonasError("no infants listed (only a header line)", path)
    return rows


def _parse_row(rec: dict[str, str], no: int, path: Path) -> CohortRow:
    infant_id = rec["infant_id"]
    if not infant_id:
        raise NeonasError(f"line {no}: infant_id is empty", path)
    if not SAFE_ID.match(infant_id):
        raise NeonasError(f"line {no}: infant_id '{infant_id}' is not safe as a file name; use letters, digits, "
                          "'.', '_' and '-' (starting with a letter or digit, at most 64 characters)", path)
    if not rec["eeg_path"]:
        raise NeonasError(f"line {no}: eeg_path is empty for infant '{infant_id}'", path)
    fmt = rec["label_format"]
    if fmt not in LABEL_FORMATS:
        raise NeonasError(f"line {no}: unknown label_format '{fmt}' for infant '{infant_id}'; "
                          f"expected one of {', '.join(LABEL_FORMATS)}", path)
    labels = rec["labels_path"]
    if fmt not in ("annotations", "none") and not labels:
        raise NeonasError(f"line {no}: label_format '{fmt}' needs a labels_path (infant '{infant_id}')", path)
    if fmt in ("annotations", "none") and labels:
        raise NeonasError(f"line {no}: labels_path '{labels}' given but label_format '{fmt}' reads no label "
                          f"file (infant '{infant_id}'); leave labels_path empty or name the file's format", path)
    pma = None
    if rec.get("pma_weeks"):
        try:
            pma = float(rec["pma_weeks"])
        except ValueError:
            pma = math.nan
        lo, hi = PMA_RANGE_WEEKS
        if not lo <= pma <= hi:  # also catches nan
            raise NeonasError(f"line {no}: pma_weeks '{rec['pma_weeks']}' for infant '{infant_id}' is not a "
                              f"postmenstrual age in weeks ({lo:g}-{hi:g}); leave it empty if unknown", path)
    return CohortRow(infant_id=infant_id, eeg_path=Path(rec["eeg_path"]),
                     labels_path=Path(labels) if labels else None, label_format=fmt, pma_weeks=pma, line=no,
                     overrides=parse_overrides(rec.get("overrides", ""), no, infant_id, path))


def parse_overrides(text: str, no: int, infant_id: str, path: Path) -> tuple[str, ...]:
    """`key=value;key=value` -> ("key=value", ...), each key a preprocessing setting and each value YAML."""
    import dataclasses

    import yaml

    from neonas.ingest.presets import PreprocessConfig

    fields = [f.name for f in dataclasses.fields(PreprocessConfig)]
    out = []
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise NeonasError(f"line {no}: overrides of infant '{infant_id}': '{item}' is not key=value "
                              "(pairs separated by ';', e.g. grid_start_s=10;text_sfreq_hz=200)", path)
        if key.split(".")[0] not in fields:
            raise NeonasError(f"line {no}: overrides of infant '{infant_id}': unknown setting '{key}'; "
                              f"allowed: {', '.join(fields)}", path)
        try:
            yaml.safe_load(value)
        except yaml.YAMLError as err:
            first = str(err).splitlines()[0]
            raise NeonasError(f"line {no}: overrides of infant '{infant_id}': value of '{key}' is not valid "
                              f"YAML ({first})", path) from None
        out.append(f"{key}={value.strip()}")
    return tuple(out)


def _check_files(row: CohortRow, path: Path) -> None:
    for what, file in (("eeg_path", row.eeg_path), ("labels_path", row.labels_path)):
        if file is not None and not file.is_file():
            raise NeonasError(f"line {row.line}: {what} '{file}' of infant '{row.infant_id}' does not exist "
                              f"(relative paths are relative to the working directory {Path.cwd()})", path)


def format_cohort(rows: list[CohortRow]) -> str:
    """The sheet text for `rows` (the inverse of load_cohort)."""
    with_overrides = any(r.overrides for r in rows)  # the column only when some row has overrides
    out = ["\t".join(COLUMNS if with_overrides else REQUIRED_COLUMNS + ("pma_weeks",))]
    for r in rows:
        pma = "" if r.pma_weeks is None else f"{r.pma_weeks:g}"
        fields = [r.infant_id, str(r.eeg_path), "" if r.labels_path is None else str(r.labels_path),
                  r.label_format, pma]
        out.append("\t".join(fields + [";".join(r.overrides)] * with_overrides))
    return "\n".join(out) + "\n"


def write_cohort(path: str | os.PathLike, rows: list[CohortRow]) -> None:
    """Write a cohort sheet atomically."""
    write_text_atomic(path, format_cohort(rows))


def preprocess_configs(rows: list[CohortRow], sheet: str | os.PathLike, preset: str | None = None,
                       config_path: str | os.PathLike | None = None, overrides=()) -> dict[str, dict]:
    """The resolved preprocessing config of every row (preset, config file, `set`, then the row's overrides),
    as stored in its HDF5 file's `preprocess_config`. Errors in a row's overrides name the sheet and line; so
    does an override of a setting that shapes the signal (h5io.SIGNAL_KEYS: filters, rate, epoch length, ...):
    the infants of one study need one preprocessing, and retrain would refuse them only after every search."""
    import dataclasses

    from neonas.ingest.presets import resolve_config
    from neonas.store.h5io import signal_diff

    preset = None if config_path else preset
    name, base = resolve_config(preset, config_path, list(overrides))  # errors here are the study config's
    out = {}
    for row in rows:
        cfg = base
        if row.overrides:
            try:
                name, cfg = resolve_config(preset, config_path, [*overrides, *row.overrides])
            except NeonasError as err:
                raise NeonasError(f"line {row.line}: overrides of infant '{row.infant_id}' "
                                  f"({';'.join(row.overrides)}): {err}", sheet) from None
        out[row.infant_id] = {"preset": name, **dataclasses.asdict(cfg)}
        diff = signal_diff(out[row.infant_id], dataclasses.asdict(base))
        if diff:
            raise NeonasError(f"line {row.line}: infant '{row.infant_id}' would be preprocessed differently from the "
                              f"study's other infants ({'; '.join(diff)}); the infants of a study need one "
                              "preprocessing: remove that setting from its overrides (set it for all in the study "
                              "config's preprocess section)", sheet)
    return out


# --- `neonas cohort`: write a sheet from a dataset's layout ---------------------------------------------

#: DREAMS excerpt 8 is scored on a 20 s grid that starts at 10 s (../shared/data/dreams-spindles/README.md)
DREAMS_GRID_START_S = {8: 10.0}


def dreams_rows(folder: str | os.PathLike) -> list[CohortRow]:
    """The DREAMS Sleep Spindles excerpts of `folder` (excerptN.txt + Hypnogram_excerptN.txt), read as they are
    with the `dreams` preset: each row declares its text file's rate, and excerpt 8 its grid start."""
    from neonas.ingest.presets import DREAMS_RATES

    folder = Path(folder)
    rows = []
    for i, rate in DREAMS_RATES.items():
        eeg, hyp = folder / f"excerpt{i}.txt", folder / f"Hypnogram_excerpt{i}.txt"
        if not (eeg.is_file() and hyp.is_file()):
            continue
        overrides = [f"text_sfreq_hz={rate:g}"]
        if i in DREAMS_GRID_START_S:
            overrides.append(f"grid_start_s={DREAMS_GRID_START_S[i]:g}")
        rows.append(CohortRow(f"excerpt{i}", eeg, hyp, "dreams", None, len(rows) + 2, tuple(overrides)))
    if not rows:
        raise NeonasError("no DREAMS excerpts here (expected excerptN.txt with Hypnogram_excerptN.txt)", folder)
    return rows
