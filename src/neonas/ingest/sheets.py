"""`neonas cohort`: write a cohort sheet from a dataset's own layout, instead of by hand.

    neonas cohort --bids DIR --out cohort.tsv     # BIDS-EEG: participants.tsv, sub-*/eeg/*_eeg.*, *_events.tsv
    neonas cohort --dreams DIR --out cohort.tsv   # the DREAMS excerpts, read as text with the dreams preset

Paths are written as given (relative to the working directory, like every cohort sheet); the sheet is
read back with load_cohort before the command ends. See docs/preprocessing.md, "Cohort sheet".
"""

from __future__ import annotations

import logging

from neonas.ingest.cohort import dreams_rows, load_cohort, write_cohort

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bids", metavar="DIR", help="a BIDS-EEG dataset: participants.tsv, sub-*/[ses-*/]eeg/"
                        "*_eeg.<edf|bdf|vhdr|set|fif> with *_events.tsv (onset, duration, trial_type) as labels")
    source.add_argument("--dreams", metavar="DIR", help="the DREAMS Sleep Spindles excerpts (excerptN.txt + "
                        "Hypnogram_excerptN.txt), for `preprocess.preset: dreams`")
    parser.add_argument("--task", help="BIDS: only recordings of this task (default: all)")
    parser.add_argument("--out", required=True, metavar="FILE.tsv", help="cohort sheet to write (atomically)")


def run(args) -> int:
    if args.bids:
        from neonas.ingest.bids import bids_rows

        rows = bids_rows(args.bids, task=args.task)
    else:
        rows = dreams_rows(args.dreams)
    write_cohort(args.out, rows)
    load_cohort(args.out)  # what was written reads back
    log.info("wrote %s: %d recordings", args.out, len(rows))
    return 0
