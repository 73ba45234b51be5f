"""Does the planted cue reach the shared weights? The supernet sanity check (issue #9, point 7) per search space.

For each named space below: a uniformly trained supernet (random search, warm-up only: no controller, one
child scored per epoch) on fold 0 of the calibration study's cohort, one per seed, then the sanity check of
`neonas yardstick` (homogeneous pair / adjacent / single-channel nets on those shared weights). Prints, side
by side, the best pair net minus the best other net per seed and over seeds (95 % t-interval), and the mean
balanced accuracy of the homogeneous nets (how well the shared weights are trained at all).

    .venv/bin/python studies/calibration.py                      # first: builds results/calibration/{h5,folds.json}
    .venv/bin/python studies/gate_spaces.py --epochs 40          # 4 spaces x 5 seeds, ~13 min on 2 idle cores

Writes results/calibration/gate_spaces/<space>/seed<s>/ (the runs) and gate_spaces.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from neonas.study.yardstick_tables import t_interval

REPO = Path(__file__).resolve().parents[1]
BASE = ["sampler=random", "space.n_layers=3", "reward.metric=balanced_accuracy", "controller.train_steps=1"]
SPACES = {  # name -> --set overrides of the default space
    "default (23 ops, skips)": [],
    "8 ops (time kernel 5, max pool, skips)": ["space.time_kernels=[5]", "space.pools=[max]"],
    "7 ops (time kernel 5, no pools, no skips)": ["space.time_kernels=[5]", "space.pools=[]", "space.skips=false"],
    "3 ops (span 1; span 2 x dilation 1, 4; no skips)": ["space.spans=[1,2]", "space.dilations=[1,4]",
                                                          "space.time_kernels=[5]", "space.pools=[]", "space.skips=false"],
}
SANITY = """
import json, sys
from neonas.engine.yardstick import Yardstick
print(json.dumps(Yardstick(sys.argv[1], device="cpu").sanity()))
"""


def slug(name: str) -> str:
    return name.split(" (")[0].replace(" ", "-")


def one(study: Path, space: str, seed: int, epochs: int) -> list[dict]:
    run = study / "gate_spaces" / slug(space) / f"seed{seed}"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if not (run / "final.pt").exists():
        sets = [*BASE, f"training.epochs={epochs}", f"training.warmup_epochs={epochs - 1}", *SPACES[space]]
        cmd = [str(REPO / ".venv/bin/neonas"), "search", "--folds", str(study / "folds.json"), "--fold", "0",
               "--seed", str(seed), "--device", "cpu", "--out", str(run), *[a for s in sets for a in ("--set", s)]]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"gate_spaces: search {run} failed:\n{done.stderr[-2000:]}")
    done = subprocess.run([str(REPO / ".venv/bin/python"), "-c", SANITY, str(run)], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        sys.exit(f"gate_spaces: sanity check of {run} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", default="results/calibration", help="a study with h5/ and folds.json")
    ap.add_argument("--epochs", type=int, default=40, help="uniform training epochs of each supernet")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    study = REPO / args.study
    if not (study / "folds.json").exists():
        ap.error(f"{study / 'folds.json'} does not exist: run studies/calibration.py first (it builds the cohort)")
    lines = [f"# Sanity check per search space: {args.epochs} epochs of uniform training, fold 0, seeds {args.seeds}",
             "", "| space | pair − best other, per seed | mean [95 % t-CI] | seeds > 0 | mean balanced acc. "
             "(homogeneous nets) | QS / IS recall of the best pair net (mean) |", "|---|---|---|---|---|---|"]
    for space in SPACES:
        with ThreadPoolExecutor(args.cores) as pool:
            results = list(pool.map(lambda s, space=space: one(study, space, s, args.epochs), args.seeds))
        diffs, levels, recalls = [], [], []
        for rows in results:
            best = {}
            for r in rows:
                if r["net"] not in best or r["metric"] > best[r["net"]]["metric"]:
                    best[r["net"]] = r
            diffs.append(best["pair"]["metric"] - max(best["adjacent"]["metric"], best["single"]["metric"]))
            levels += [r["metric"] for r in rows]
            recalls.append((best["pair"].get("recall_QS", np.nan), best["pair"].get("recall_IS", np.nan)))
        n, mean, _, lo, hi, _ = t_interval(diffs)
        qs, is_ = np.nanmean(recalls, axis=0)
        lines.append(f"| {space} | " + " ".join(f"{d:+.3f}" for d in diffs) + f" | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                     f" | {sum(d > 0 for d in diffs)} of {n} | {np.mean(levels):.3f} | {qs:.2f} / {is_:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    (study / "gate_spaces.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
