"""The cohort sheet: which recordings make up a study, one row per infant.

A tab-separated file with a header line (see config/cohort.tsv):

    infant_id  eeg_path  labels_path  label_format  pma_weeks

Relative paths are relative to the current working directory, i.e. the directory `snakemake` (or
`neonas`) is run from, which for the workflow is the repository root. `labels_path` is empty exactly
when the labels are EDF+ annotations inside the EEG file (`label_format` annotations) or absent (`none`).
`pma_weeks` (postmenstrual age) is optional. Lines starting with `#` and blank lines are ignored.

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
LABEL_FORMATS = ("annotations", "hypnogram", "csv", "tsv", "dreams", "none")
REQUIRED_COLUMNS = ("infant_id", "eeg_path", "labels_path", "label_format")
OPTIONAL_COLUMNS = ("pma_weeks",)
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
                     labels_path=Path(labels) if labels else None, label_format=fmt, pma_weeks=pma, line=no)


def _check_files(row: CohortRow, path: Path) -> None:
    for what, file in (("eeg_path", row.eeg_path), ("labels_path", row.labels_path)):
        if file is not None and not file.is_file():
            raise NeonasError(f"line {row.line}: {what} '{file}' of infant '{row.infant_id}' does not exist "
                              f"(relative paths are relative to the working directory {Path.cwd()})", path)


def format_cohort(rows: list[CohortRow]) -> str:
    """The sheet text for `rows` (the inverse of load_cohort)."""
    out = ["\t".join(COLUMNS)]
    for r in rows:
        pma = "" if r.pma_weeks is None else f"{r.pma_weeks:g}"
        out.append("\t".join([r.infant_id, str(r.eeg_path), "" if r.labels_path is None else str(r.labels_path),
                              r.label_format, pma]))
    return "\n".join(out) + "\n"


def write_cohort(path: str | os.PathLike, rows: list[CohortRow]) -> None:
    """Write a cohort sheet atomically."""
    write_text_atomic(path, format_cohort(rows))
