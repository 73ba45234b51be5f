"""The files of a run directory as a search writes them: append-only CSV logs that a resume cuts
back to the checkpoint, the checkpoint's settings check, and the SIGTERM flag."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from neonas.errors import NeonasError
from neonas.io import disk_full_names, write_text_atomic

CHILD_COLUMNS = ["epoch", "step", "sampler", "arch_hash", "arch", "metric_name", "metric", "reward", "baseline",
                 "entropy", "log_prob", "skip_rate", "threshold", "constant", "rung", "child_epochs"]
EPOCH_COLUMNS = ["epoch", "shared_loss", "shared_acc", "mean_metric", "mean_reward", "baseline", "entropy", "seconds",
                 "scoring_seconds", "child_epochs"]  # wall times: the whole epoch, and its controller phase (scoring the
# children); child_epochs: the training it cost (a shared pass over the training infants counts 1, docs/search.md)
#: training knobs that may change between a checkpoint and its resume (they do not change the results)
RUNTIME_ONLY = ("max_minutes", "checkpoint_every")


class CsvLog:
    """An append-only CSV, flushed after every row; on resume cut back to the checkpoint's row count."""

    def __init__(self, path: Path, columns: list[str], keep_rows: int | None):
        self.path, self.columns = path, columns
        if keep_rows is None:
            write_text_atomic(path, ",".join(columns) + "\n")
        else:
            lines = path.read_text().splitlines(keepends=True) if path.exists() else []
            if not lines or lines[0].strip() != ",".join(columns) or len(lines) - 1 < keep_rows:
                raise NeonasError(f"has {max(len(lines) - 1, 0)} rows but the checkpoint expects at least "
                                  f"{keep_rows} with columns {columns}; delete the run directory to start over", path)
            if len(lines) - 1 > keep_rows:  # rows written after the last checkpoint: they will be redone
                write_text_atomic(path, "".join(lines[: keep_rows + 1]))
        self.rows = 0 if keep_rows is None else keep_rows
        self.file = path.open("a", newline="")
        self.writer = csv.writer(self.file, lineterminator="\n")

    def write(self, row: dict) -> None:
        with disk_full_names(self.path):  # a flush fails without naming its file
            self.writer.writerow([_fmt(row[c]) for c in self.columns])
            self.file.flush()
        self.rows += 1

    def sync(self) -> None:
        with disk_full_names(self.path):
            self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


def _fmt(value) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def diff(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in diff(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} in the checkpoint vs {b!r} now"]


class Stop:
    """Set by SIGTERM (e.g. SLURM preemption or time limit): the loop saves a checkpoint and exits."""

    def __init__(self):
        self.reason: str | None = None

    def __call__(self, signum, frame):
        self.reason = "SIGTERM"
