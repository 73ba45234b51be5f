"""A BIDS-EEG dataset as a cohort source (`neonas cohort --bids DIR`), found with mne-bids.

One row per participant of participants.tsv: its `sub-*/[ses-*/]eeg/*_eeg.<edf|bdf|vhdr|set|fif>` recording
and, as labels, the `*_events.tsv` beside it (onset, duration, trial_type = the stage; label format
`events`), or none when there is no events file. neonas splits by infant, so a participant with several
recordings is refused (choose one with --task, or keep one recording per infant); a participant's
`pma_weeks` column, when participants.tsv has one, is copied.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from neonas.errors import NeonasError
from neonas.ingest.cohort import SAFE_ID, CohortRow

log = logging.getLogger(__name__)

EXTENSIONS = [".edf", ".bdf", ".vhdr", ".set", ".fif"]


def _participants(root: Path) -> list[dict[str, str]]:
    path = root / "participants.tsv"
    if not path.is_file():
        raise NeonasError("not a BIDS dataset: participants.tsv is missing (a BIDS root holds participants.tsv, "
                          "dataset_description.json and sub-*/ folders)", root)
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or "participant_id" not in rows[0]:
        raise NeonasError("expected a tab-separated table with a participant_id column and one row per "
                          "participant", path)
    return rows


def bids_rows(root: str | os.PathLike, task: str | None = None) -> list[CohortRow]:
    """The cohort rows of a BIDS-EEG dataset (paths under `root` as given)."""
    from mne_bids import find_matching_paths

    root = Path(root)
    participants = _participants(root)
    found = find_matching_paths(root, tasks=task, datatypes="eeg", suffixes="eeg", extensions=EXTENSIONS)
    by_subject: dict[str, list] = {}
    for bp in found:
        by_subject.setdefault(bp.subject, []).append(bp)
    listed = {p["participant_id"].strip().removeprefix("sub-") for p in participants}
    unlisted = sorted(set(by_subject) - listed)
    if unlisted:
        raise NeonasError(f"EEG recordings of sub-{', sub-'.join(unlisted)}, who are not in participants.tsv", root)
    rows = []
    for p in participants:
        sub = p["participant_id"].strip().removeprefix("sub-")
        recordings = sorted(by_subject.get(sub, []), key=lambda bp: str(bp.fpath))
        if not recordings:
            log.warning("%s: participant sub-%s has no EEG recording (%s); left out", root, sub, "/".join(EXTENSIONS))
            continue
        if len(recordings) > 1:
            names = ", ".join(bp.fpath.name for bp in recordings)
            raise NeonasError(f"participant sub-{sub} has {len(recordings)} EEG recordings ({names}); neonas splits "
                              "by infant and takes one recording each: choose one with --task, or keep one", root)
        eeg = Path(recordings[0].fpath)
        events = eeg.with_name(eeg.name[: -len(eeg.name.split("_")[-1])] + "events.tsv")
        infant_id = f"sub-{sub}"
        if not SAFE_ID.match(infant_id):
            raise NeonasError(f"participant id '{infant_id}' is not safe as a file name", root / "participants.tsv")
        pma = (p.get("pma_weeks") or "").strip()
        try:
            pma = float(pma) if pma not in ("", "n/a") else None
        except ValueError:
            raise NeonasError(f"pma_weeks '{pma}' of sub-{sub} is not a number of weeks",
                              root / "participants.tsv") from None
        rows.append(CohortRow(
            infant_id=infant_id, eeg_path=eeg, labels_path=events if events.is_file() else None,
            label_format="events" if events.is_file() else "none",
            pma_weeks=pma, line=len(rows) + 2))
    if not rows:
        raise NeonasError(f"no EEG recordings found (sub-*/[ses-*/]eeg/*_eeg{{{','.join(EXTENSIONS)}}}"
                          f"{' for task ' + task if task else ''})", root)
    return rows
