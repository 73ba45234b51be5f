"""Do the shared weights rank architectures? `neonas fidelity` per named search space, side by side (issue 16).

Runs the fidelity check on fold 0 of a study's cohort (default: the calibration study's synthetic cohort) for
each space below and prints one markdown row per space: the reference's split-half agreement, the shared
weights' Kendall tau at each checkpoint, the verdict, the planted pair op's layer-0 gain on both estimates and
the pair net's rank on the shared weights. docs/search.md ("Fidelity of each named space") holds its output.

    .venv/bin/python studies/calibration.py --skip-workflow   # or any run that built results/calibration/{h5,folds.json}
    .venv/bin/python studies/fidelity_spaces.py     # pairs ~6 min, thesis ~15 min on 2 idle cores

Writes results/<study>/fidelity_spaces/<space>/ (each check's fidelity.json, panel.csv, fidelity.png) and
fidelity_spaces.md; a space whose fidelity.json exists is not run again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPACES = {  # name -> --set overrides of the search config (3 layers, as the calibration study)
    "pairs": ["space=pairs"],
    "4 ops (pairs + span 2 x dilation 2)": ["space=pairs", "space.dilations=[1,2,4]"],
    "thesis": ["space=thesis"],
}


def slug(name: str) -> str:
    return name.split(" (")[0].replace(" ", "-")


def run(study: Path, name: str, args: argparse.Namespace) -> dict:
    out = study / "fidelity_spaces" / slug(name)
    if not (out / "fidelity.json").exists():
        sets = [*SPACES[name], "space.n_layers=3", f"training.epochs={max(args.checkpoints)}"]
        budget = [f"panel_samples={args.panel_samples}", f"standalone_epochs={args.standalone_epochs}",
                  f"standalone_seeds={args.standalone_seeds}", f"supernet_seeds={json.dumps(args.supernet_seeds)}",
                  f"checkpoints={json.dumps(args.checkpoints)}", f"workers={args.workers}"]
        cmd = [str(REPO / ".venv/bin/neonas"), "fidelity", "--folds", str(study / "folds.json"), "--fold", "0",
               "--device", "cpu", "--planted", "--out", str(out), *[a for s in sets for a in ("--set", s)],
               *[a for b in budget for a in ("--fidelity-set", b)]]
        print("running:", " ".join(cmd), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"fidelity_spaces: {name} failed:\n{done.stderr[-2000:]}")
    return json.loads((out / "fidelity.json").read_text())


def row(name: str, doc: dict) -> str:
    c = doc["final"]
    curve = " / ".join(f"{p['tau']:+.2f}" for p in doc["curve"])
    gains = doc.get("planted", {}).get("layer0_gain", {})
    gain = " / ".join(f"{g[0]['gain']:+.3f}" if g else "n/a" for g in (gains.get("standalone"), gains.get("supernet")))
    ranks = doc.get("planted", {}).get("pair_net_rank", {})
    rank = "; ".join(", ".join(str(r) for r in per_seed.values()) for per_seed in ranks.values()) or "n/a"
    verdict = "passes" if c["passed"] else ("cannot tell" if not c.get("reference_ranks", True) else "does not rank")
    return (f"| {name} | {doc['panel_size']} | {c['split_half']:+.2f} (p = {c.get('split_half_p', float('nan')):.2g}) "
            f"| {curve} | {c['tau']:+.2f} [{c['tau_ci'][0]:+.2f}, {c['tau_ci'][1]:+.2f}] | {verdict}"
            f" (warm-up {doc['warmup_epochs']}) | {gain} | {rank} | {doc['cost_seconds']['total'] / 60:.0f} min |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", default="results/calibration", help="a study with h5/ and folds.json")
    ap.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES), metavar="SPACE")
    ap.add_argument("--panel-samples", type=int, default=6)
    ap.add_argument("--standalone-epochs", type=int, default=12)
    ap.add_argument("--standalone-seeds", type=int, default=3)
    ap.add_argument("--supernet-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[20, 30, 40])
    ap.add_argument("--workers", type=int, default=2, help="trainings side by side (default 2: the 2-core machine)")
    args = ap.parse_args()
    study = REPO / args.study
    if not (study / "folds.json").exists():
        ap.error(f"{study / 'folds.json'} does not exist: build the study's cohort first (studies/calibration.py)")
    lines = [f"# Fidelity per search space: fold 0 of {args.study}, checkpoints {args.checkpoints}", "",
             "| space | panel | reference split-half τ | shared weights τ per checkpoint | final τ [95 % CI] | verdict "
             "| pair op layer-0 gain: alone / shared | pair net rank (shared, per seed) | cost |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in args.spaces:
        lines.append(row(name, run(study, name, args)))
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    (study / "fidelity_spaces.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
