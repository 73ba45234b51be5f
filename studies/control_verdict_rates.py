"""How often the negative control's verdict (studies/controls.py) says "found" when nothing is planted, and how
often it flags a leak: simulated test infants, each a labels hypnogram and an independent signal hypnogram that
every seed's predictions follow (80 % of epochs; the rest random, so seeds differ), shared by all seeds and arms as
one fold's test infant is. An arm with leak q copies the true label with probability q. The chance null is taken
from predictions.tsv files on disk, as in a study. tests/test_controls_study.py runs these on 40 infants.

    .venv/bin/python studies/control_verdict_rates.py --infants 100 --seeds 5
    .venv/bin/python studies/control_verdict_rates.py --per-check 0.05   # the verdict before 2026-12-08

Prints, per design, how many infants the verdict flagged ("Something was found ...").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import controls  # noqa: E402

STAGES = ["AS", "QS", "W", "IS"]
EPOCHS = 240  # one 2-h test infant
CFG = {"study": "control-negative", "seeds": list(range(10)), "folds": {"run": [0]},
       "search": {"space": "eeg", "estimator": "standalone"}}
ARMS = ("nas/identity", "random/uniform", "evolution/evolution")
#: (name, leak per arm): the designs main() prints
DESIGNS = [("2 arms, nothing planted", {"nas/identity": 0.0, "random/uniform": 0.0}),
           ("3 arms, nothing planted", dict.fromkeys(ARMS, 0.0)),
           *((f"3 arms, nas copies {q:.0%} of the labels", {**dict.fromkeys(ARMS, 0.0), "nas/identity": q})
             for q in (0.3, 0.15, 0.1, 0.05))]


def hypnogram(rng: np.random.Generator, n: int) -> np.ndarray:
    """Stage runs of 5-30 epochs, as a sleeping infant's."""
    out: list[int] = []
    while len(out) < n:
        out += [int(rng.integers(4))] * int(rng.integers(5, 31))
    return np.array(out[:n])


def write_predictions(path: Path, true: np.ndarray, pred: np.ndarray) -> None:
    path.mkdir(parents=True)
    pd.DataFrame({"infant": "syn04", "epoch": range(len(true)), "true_stage": [STAGES[i] for i in true],
                  "predicted_stage": [STAGES[i] for i in pred]}).to_csv(path / "predictions.tsv", sep="\t",
                                                                         index=False)


def runs(tmp: Path, leak: dict[str, float], seeds: int = 10, realisation: int = 0) -> pd.DataFrame:
    """Rows as controls.run_row writes them for one simulated test infant shared by every seed and arm."""
    rng = np.random.default_rng(realisation)
    true, signal = hypnogram(rng, EPOCHS), hypnogram(rng, EPOCHS)
    rows = []
    for name, q in leak.items():
        arm, setting = name.split("/")
        for s in range(seeds):
            pred = np.where(rng.random(EPOCHS) < 0.8, signal, rng.integers(4, size=EPOCHS))  # nets differ by seed
            pred = np.where(rng.random(EPOCHS) < q, true, pred)
            cell = tmp / f"r{realisation}" / name / f"seed{s}"
            write_predictions(cell, true, pred)
            null, stage_runs = controls.rotation_null(cell / "predictions.tsv")
            rows.append({"arm": arm, "setting": setting, "seed": s, "fold": 0, "children": 40, "distinct": 38,
                         "child_epochs": 60.0,
                         "kappa": controls.cohen_kappa(controls.confusion_matrix(true, pred, 4)),
                         "null": null, "runs": stage_runs})
    return pd.DataFrame(rows)


def verdicts(tmp: Path, leak: dict[str, float], infants: int, seeds: int = 5, first: int = 0,
             per_check: float | None = None) -> list[str]:
    """The verdict text for each of `infants` simulated test infants (realisations first, first + 1, ...)."""
    return [controls.report(CFG, runs(tmp, leak, seeds, r), "none", (0, 0), 60.0, "", per_check)
            for r in range(first, first + infants)]


def flagged(texts: list[str]) -> int:
    return sum("Something was found where nothing was planted" in t for t in texts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--infants", type=int, default=100, help="simulated test infants per design (default 100)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds per arm, sharing each infant (default 5)")
    ap.add_argument("--first", type=int, default=1000, help="first realisation (the tests use 0-39; default 1000)")
    ap.add_argument("--per-check", type=float, metavar="ALPHA", help="run every check at ALPHA instead of "
                    "controls.check_level's 5 %% / k (0.05: the verdict as it was before 2026-12-08)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, leak) in enumerate(DESIGNS):
            n = flagged(verdicts(Path(tmp) / str(i), leak, args.infants, args.seeds, args.first, args.per_check))
            print(f"{name}: flagged in {n} of {args.infants} ({n / args.infants:.0%})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
