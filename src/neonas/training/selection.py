"""Choosing the final architecture without the winner's curse (config `final.choose: validation`, issue 23).

The best of many noisy test scores is the luckiest architecture, not the best, and its score is optimistic.
So the candidates (every distinct architecture retrained on a fold: every arm's top-k and the hand-designed
net) are each retrained with >= 3 selection seeds per fold (`neonas select`, neonas.training.select) and
scored on the fold's VALIDATION infants at the epoch early stopping kept. The choice is the best mean of those
scores; the test infants never enter it. Their kappa, from the same trainings, only measures the choice:

- per fold, the fold's own winner: its selection score (mean validation kappa over seeds) against its held-out
  score (mean test kappa of the same trainings); the difference is the selection's optimism;
- for the study's choice, the same over every fold it was scored on.

This module reads the per-fold scores.csv files and writes the candidates table (selection.csv) and
selection.json (candidates, per-fold winners, optimism). torch-free: the report reads it too.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError
from neonas.io import write_text_atomic

SCORES = "scores.csv"
SCORE_COLUMNS = ("fold", "arch_hash", "seed", "val_kappa", "val_accuracy", "val_macro_f1", "best_epoch",
                 "epochs_run", "test_kappa", "sources", "val_ids", "test_ids", "reused")
TABLE_COLUMNS = ("arch_hash", "sources", "n_runs", "n_folds", "n_seeds", "selection_kappa", "ci_low", "ci_high",
                 "interval_over", "held_out_kappa", "optimism", "chosen")
MIN_SEEDS = 3  # fewer: the mean of two seeds agrees with another two's at Kendall tau ~0.5 (issue 23)


def t_interval(values) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of a 95 % t-interval; no interval from fewer than 2 values."""
    from scipy.stats import t

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], float)
    if len(v) == 0:
        return math.nan, None, None
    if len(v) < 2:
        return float(v.mean()), None, None
    half = float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def read_scores(paths: list[str]) -> list[dict]:
    """The rows of the scores.csv of `neonas select` (files, or folders holding one)."""
    rows = []
    for name in paths:
        path = Path(name)
        path = path / SCORES if path.is_dir() else path
        if not path.exists():
            raise NeonasError("no selection scores (run `neonas select` for this fold first)", path)
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("fold", "arch_hash", "seed", "val_kappa", "test_kappa")
                       if c not in (reader.fieldnames or [])]
            if missing:
                raise NeonasError(f"not a selection scores file: no column(s) {missing}", path)
            for i, row in enumerate(reader, start=2):
                try:
                    rows.append({**row, "fold": int(row["fold"]), "seed": int(row["seed"]),
                                 "val_kappa": float(row["val_kappa"]), "test_kappa": _float(row["test_kappa"])})
                except ValueError as err:
                    raise NeonasError(f"line {i}: {err}", path) from None
    if not rows:
        raise NeonasError(f"the selection scores {paths} hold no run")
    return rows


def _float(v: str) -> float | None:
    return float(v) if v not in ("", None) else None


def _by(rows: list[dict], *keys: str) -> dict:
    out = defaultdict(list)
    for r in rows:
        out[tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]].append(r)
    return out


def candidates(rows: list[dict]) -> list[dict]:
    """One row per architecture: the mean validation kappa over its (fold, seed) runs with a 95 % interval over
    folds (their mean over seeds; over seeds where it was scored on one fold only), and its held-out kappa."""
    table = []
    for h, runs in sorted(_by(rows, "arch_hash").items()):
        folds = _by(runs, "fold")
        fold_means = [np.mean([r["val_kappa"] for r in fr]) for fr in folds.values()]
        over = "folds" if len(folds) > 1 else "seeds"
        _, lo, hi = t_interval(fold_means if over == "folds" else [r["val_kappa"] for r in runs])
        held = [r["test_kappa"] for r in runs if r["test_kappa"] is not None]
        sel = float(np.mean([r["val_kappa"] for r in runs]))
        held_mean = float(np.mean(held)) if held else None
        table.append({"arch_hash": h, "sources": ";".join(sorted({s for r in runs for s in r.get("sources", "").split(";") if s})),
                      "n_runs": len(runs), "n_folds": len(folds), "n_seeds": len({r["seed"] for r in runs}),
                      "selection_kappa": sel, "ci_low": lo, "ci_high": hi, "interval_over": over,
                      "held_out_kappa": held_mean, "optimism": None if held_mean is None else sel - held_mean,
                      "chosen": False})
    return table


def best(table: list[dict]) -> dict:
    """The highest mean validation kappa, then more runs, then the smaller hash (deterministic)."""
    return min(table, key=lambda r: (-r["selection_kappa"], -r["n_runs"], r["arch_hash"]))


def fold_winners(rows: list[dict]) -> list[dict]:
    """Each fold's own choice among its candidates, and its optimism: selection minus held-out kappa."""
    out = []
    for fold, fr in sorted(_by(rows, "fold").items()):
        win = best(candidates(fr))
        out.append({"fold": fold, "arch_hash": win["arch_hash"], "n_candidates": len(_by(fr, "arch_hash")),
                    "selection_kappa": win["selection_kappa"], "held_out_kappa": win["held_out_kappa"],
                    "optimism": win["optimism"]})
    return out


def select(rows: list[dict]) -> dict:
    """The study's choice, the candidates table (chosen first, then by selection score) and the optimism."""
    seeds = min(len(v) for v in _by(rows, "arch_hash", "fold").values())
    table = candidates(rows)
    win = best(table)
    win["chosen"] = True
    table.sort(key=lambda r: (not r["chosen"], -r["selection_kappa"], r["arch_hash"]))
    per_fold = fold_winners(rows)
    opt = [f["optimism"] for f in per_fold if f["optimism"] is not None]
    mean, lo, hi = t_interval(opt)
    why = (f"best mean validation kappa ({win['selection_kappa']:.4f} over {win['n_runs']} trainings: "
           f"{win['n_folds']} fold(s) x {win['n_seeds']} selection seed(s)) among {len(table)} candidates; "
           "no test infant entered the choice")
    return {"method": "validation", "arch_hash": win["arch_hash"], "sources": win["sources"], "why": why,
            "min_seeds": seeds, "candidates": table, "per_fold": per_fold,
            "optimism": {"chosen": win["optimism"], "per_fold_mean": None if not opt else mean,
                         "per_fold_ci": [lo, hi], "n_folds": len(opt),
                         "note": "selection (validation) minus held-out (test) kappa of the same trainings; "
                                 "> 0: the selection score flatters the chosen net"}}


def write(out: Path, doc: dict) -> None:
    """selection.csv (the candidates table) and selection.json (the whole choice) into `out`."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=TABLE_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in doc["candidates"]:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else "" if v is None else v) for k, v in r.items()})
    write_text_atomic(Path(out) / "selection.csv", buf.getvalue())
    write_text_atomic(Path(out) / "selection.json", json.dumps(doc, indent=2) + "\n")
