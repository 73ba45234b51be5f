"""Positive and negative controls (issue 22, item 7): do the search arms find a rare planted optimum, at equal compute?

Runs a control study (config/control-positive.yaml: the `lag` cohort; config/control-negative.yaml: the `none`
cohort) with Snakemake: synthetic cohort -> preprocess -> folds -> every search (NAS with each reward shape,
random search, regularised evolution; every child trained alone, estimator standalone, the same budget) -> the
retraining of each search's rank 0 on the test infant. Then, per arm, over seeds:

  1. how often the planted combination is found: the search proposed an architecture that satisfies the rule
     (neonas.study.planted_rule.sees_lag), and its derived rank 0 satisfies it, against random search's stated
     rate 1 - (1 - p)^N (p: the rule's share of the space by enumeration, N: the random arm's distinct children);
  2. child-epochs to the first rule-satisfying child (a miss counts as the whole budget + 1, as studies/samplers.py);
  3. the retrained rank-0 net's held-out kappa, paired against random search (seed x fold cells; neonas.study.stats
     paired_test: over fold means, or over the seeds of one fold with its note), with the 95 % t-interval;
  4. its chance level: a prediction interval for the arm's mean kappa with each test infant's labels rotated in
     time (ROTATIONS; chance_range). On the negative control, "nothing to find" is printed only when every arm
     lies in that interval and no arm differs from random search. The verdict is one claim made of k checks (each
     arm's chance check, each arm's paired test), so each check runs at 5 % / k (Bonferroni): the verdict's false
     alarm rate is then <= 5 %, where 5 % per check made it 13-19 % (studies/control_verdict_rates.py).

    .venv/bin/python studies/controls.py --configfile config/control-positive.yaml
    .venv/bin/python studies/controls.py --configfile config/control-negative.yaml
    .venv/bin/python studies/controls.py --configfile config/control-positive.yaml --seeds 0 1 --no-retrain \
        --set search.training.epochs=2      # a reduced run: say so beside its numbers

Writes results/<study>/controls/{runs.csv, controls.md} and prints controls.md. The issue's targets are printed
beside the numbers, never used to choose anything.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_run import REPO, add_study_args, snakemake  # noqa: E402
from study_run import merged_config as merge_study_config  # noqa: E402

from neonas.config import from_dict  # noqa: E402
from neonas.engine.space import SpaceConfig, named_space  # noqa: E402
from neonas.metrics import cohen_kappa, confusion_matrix  # noqa: E402
from neonas.study.planted_rule import enumerate_space, sees_lag  # noqa: E402
from neonas.study.stats import paired_test  # noqa: E402

SETTABLE = ("search", "derive", "retrain")  # the sections --set may change (a reduced run says so in controls.md)
merged_config = partial(merge_study_config, settable=SETTABLE, who="controls")


def arms(cfg: dict) -> list[tuple[str, str]]:
    out = [("nas", r["name"]) for r in cfg["rewards"]] if cfg["arms"].get("nas", True) else []
    out += [("random", "uniform")] if cfg["arms"].get("random", True) else []
    out += [("evolution", "evolution")] if cfg["arms"].get("evolution", False) else []
    return out


#: circular shifts of each test infant's labels, as fractions of its length: the chance level of kappa for that
#: infant's own hypnogram (its stage runs and proportions), which every seed of a fold shares
ROTATIONS = np.linspace(0.1, 0.9, 161)


def rotation_null(predictions: Path) -> tuple[np.ndarray, int]:
    """Kappa of the predictions against the true labels rotated by each of ROTATIONS (within each infant), and
    the number of stage runs in those labels. Predictions that know nothing of the labels score like these; a
    leak scores above them."""
    table = pd.read_csv(predictions, sep="\t")
    names = sorted(set(table["true_stage"]) | set(table["predicted_stage"]))
    code = {n: i for i, n in enumerate(names)}
    infants = [g for _, g in table.groupby("infant", sort=False)]
    true = [g["true_stage"].map(code).to_numpy() for g in infants]
    pred = np.concatenate([g["predicted_stage"].map(code).to_numpy() for g in infants])
    out = np.empty(len(ROTATIONS))
    for i, f in enumerate(ROTATIONS):
        rolled = np.concatenate([np.roll(t, int(round(f * len(t)))) for t in true])
        out[i] = cohen_kappa(confusion_matrix(rolled, pred, len(names)))
    return out, sum(1 + int(np.count_nonzero(np.diff(t))) for t in true)


def chance_range(nulls: list[np.ndarray], runs: int, alpha: float = 0.05) -> tuple[float, float]:
    """(1 - alpha) prediction interval for an arm's MEAN kappa over its cells under chance: the rotation null of that
    mean (the same rotation in every cell, so the cells' shared test infants stay shared), as mean +- t * SD *
    sqrt(1 + 1/n). The rotations are not independent draws: a hypnogram of `runs` stage runs has about that many
    distinct alignments, so n = runs. (On 100 simulated null infants per arm, the plain 2.5-97.5 % quantiles of
    the rotations cried "found" for 17, mean +- 1.96 SD for 13, this interval for 8.)"""
    from scipy.stats import t as student

    mean = np.mean(np.stack(nulls), axis=0)
    n = max(int(runs), 2)
    half = float(student.ppf(1 - alpha / 2, n - 1)) * float(mean.std(ddof=1)) * math.sqrt(1 + 1 / n)
    return float(mean.mean()) - half, float(mean.mean()) + half


def run_row(study: Path, arm: str, setting: str, seed: int, fold: int, planted: str) -> dict:
    """One search (and its retrained rank 0, when there): what it found, when, at what cost, and its test kappa."""
    run = study / f"search/{arm}/{setting}/seed{seed}/fold{fold}"
    children = pd.read_csv(run / "children.csv")
    spent = children["child_epochs"].cumsum()
    budget = float(spent.iloc[-1]) if len(children) else 0.0
    row = {"arm": arm, "setting": setting, "seed": seed, "fold": fold, "children": len(children),
           "distinct": children["arch_hash"].nunique(), "child_epochs": budget}
    if planted == "lag":
        hits = [sees_lag(json.loads(a)) for a in children["arch"]]
        first = next((i for i, h in enumerate(hits) if h), None)
        row.update(proposed=first is not None, to_first=float(spent.iloc[first]) if first is not None else budget + 1,
                   share_rule=sum(hits) / max(len(hits), 1))
        derived = json.loads((run / "derived.json").read_text())
        row["rank0_rule"] = bool(derived["top"] and sees_lag(derived["top"][0]["arch"]))
    metrics = study / f"retrain/{arm}/{setting}/seed{seed}/fold{fold}/rank0/metrics.json"
    row["kappa"] = json.loads(metrics.read_text())["kappa"] if metrics.exists() else math.nan
    predictions = metrics.parent / "predictions.tsv"
    row["null"], row["runs"] = rotation_null(predictions) if metrics.exists() and predictions.exists() \
        else (None, 0)
    return row


def ci(test: dict) -> str:
    if math.isnan(test["ci_low"]):
        return f"{test['mean_diff']:+.3f} ({test['note'] or 'no CI'})"
    return f"{test['mean_diff']:+.3f} [{test['ci_low']:+.3f}, {test['ci_high']:+.3f}] (n={test['n']}, p={test['p']:.3g})"


#: the negative control's verdict is wrong at most this often when nothing is planted (family-wise, Bonferroni)
FAMILY_ALPHA = 0.05


def check_level(groups: list[tuple[str, str]]) -> float:
    """The level of each of the verdict's checks: FAMILY_ALPHA / k, k = one chance check per arm plus one paired
    test per arm other than random search. The checks share test infants, so Bonferroni is conservative."""
    k = len(groups) + sum(arm != "random" for arm, _ in groups)
    return FAMILY_ALPHA / max(k, 1)


def no_difference(test: dict | None, alpha: float) -> bool | None:
    """Whether a paired test does not reject at `alpha`; None where it has no p (too few cells)."""
    if not test or math.isnan(test["ci_low"]) or math.isnan(test["p"]):
        return None
    return test["p"] >= alpha


def within(chance: tuple[float, float, float] | None) -> bool | None:
    """Whether an arm's mean kappa lies inside the prediction interval of its label-rotation null."""
    return None if chance is None else chance[1] <= chance[0] <= chance[2]


def nothing_to_find(tests: list[tuple[str, tuple | None, dict | None]], alpha: float = FAMILY_ALPHA) -> str:
    """The negative control's verdict, from the measured kappas alone (never from planted.json): nothing was found
    iff every arm's rank 0 scores a mean kappa inside its label-rotation null's (1 - alpha) prediction interval
    (chance for the test infants' own hypnograms; 0 is not it, because every seed of a fold shares one test
    infant) and no arm differs from random search (paired test, p >= alpha). alpha is FAMILY_ALPHA / k for k
    checks (check_level), so the verdict as a whole cries "found" at most FAMILY_ALPHA of the time."""
    checks = [(name, "kappa vs its label-rotation null", within(chance)) for name, chance, _ in tests]
    checks += [(name, "minus random search", no_difference(diff, alpha)) for name, _, diff in tests
               if diff is not None]
    if not tests or any(ok is None for _, _, ok in checks):
        return ("**No verdict:** some arm has no retrained rank 0 with its predictions, or too few seeds for an "
                "interval (run 2 or more seeds, without --no-retrain).")
    bad = [f"{name} ({kind})" for name, kind, ok in checks if not ok]
    level = (f"{len(checks)} checks at {alpha:.2%} each: at most {min(alpha * len(checks), 1.0):.0%} for the verdict "
             "as a whole, Bonferroni")
    if bad:
        return ("**Something was found where nothing was planted:** outside chance at " + level + ": " +
                ", ".join(bad) + ". On a cohort whose labels are independent of the signal this points to a leak between training "
                "and test infants, or to chance: with one test infant per fold the label-rotation null is coarse "
                "(studies/control_verdict_rates.py measures how often a study with nothing planted is flagged). "
                "Run more folds before trusting any study.")
    return ("**Nothing for a search to find, as planted:** every arm's retrained rank 0 scores a held-out mean kappa "
            "inside the prediction interval of its label-rotation null, and no arm differs from random search "
            f"({level}).")


def report(cfg: dict, runs: pd.DataFrame, planted: str, share: tuple[int, int], wall: float, note: str,
           per_check: float | None = None) -> str:
    """controls.md. `per_check` replaces check_level's 5 %/k (control_verdict_rates.py --per-check)."""
    seeds, folds = cfg["seeds"], cfg["folds"]["run"]
    lines = [f"# Control study {cfg['study']} (planted: {planted}): {len(seeds)} seeds x fold(s) {folds}, space "
             f"{cfg['search'].get('space')}, estimator {cfg['search'].get('estimator')}", "",
             f"Wall time {wall / 60:.1f} min. {note}".strip(), ""]
    random = runs[runs["arm"] == "random"].set_index(["seed", "fold"])
    alpha = per_check or check_level([key for key, _ in runs.groupby(["arm", "setting"], sort=False)])
    if planted == "lag":
        p = share[0] / share[1]
        n = float(random["distinct"].mean()) if len(random) else math.nan
        lines += [f"The rule (rows 4 apart at the lag, by receptive fields) holds for {share[0]:,} of {share[1]:,} "
                  f"architectures (p = {p:.2%}). Random search's stated chance with its mean {n:.0f} distinct "
                  f"children: 1 - (1 - p)^N = {1 - (1 - p) ** n:.1%}.", ""]
    lines += ["| arm | setting | child-epochs (mean) | children (distinct) | proposed the rule | rank 0 has it | "
              "child-epochs to first (mean) | rank-0 test kappa (mean) | chance: label-rotation null of the mean, "
              f"{1 - alpha:.1%} PI | "
              "kappa minus random search, 95 % CI |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    tests = []
    for (arm, setting), g in runs.groupby(["arm", "setting"], sort=False):
        g = g.set_index(["seed", "fold"])
        kappa = g["kappa"].dropna().to_dict()
        nulls = [n for n in g["null"] if n is not None] if "null" in g else []
        runs_per_fold = {fold: r for (_, fold), r in g["runs"].items()} if "runs" in g else {}
        chance = (float(np.mean(list(kappa.values()))), *chance_range(nulls, sum(runs_per_fold.values()), alpha)) \
            if kappa and len(nulls) == len(kappa) else None
        test = paired_test(kappa, random["kappa"].dropna().to_dict(), "kappa") \
            if arm != "random" and kappa else None
        tests.append((f"{arm}/{setting}", chance, test))
        found = f"{int(g['proposed'].sum())} of {len(g)}" if "proposed" in g else "n/a"
        rank0 = f"{int(g['rank0_rule'].sum())} of {len(g)}" if "rank0_rule" in g else "n/a"
        first = f"{g['to_first'].mean():.0f}" if "to_first" in g else "n/a"
        kappa = f"{g['kappa'].mean():.3f}" if g["kappa"].notna().any() else "not retrained"
        lines.append(f"| {arm} | {setting} | {g['child_epochs'].mean():.0f} | {g['children'].mean():.0f} "
                     f"({g['distinct'].mean():.0f}) | {found} | {rank0} | {first} | {kappa} | "
                     f"{f'[{chance[1]:+.3f}, {chance[2]:+.3f}]' if chance else '-'} | {ci(test) if test else '-'} |")
    if planted == "none":
        lines += ["", nothing_to_find(tests, alpha)]
    lines += ["", "Targets (issue 22): positive control: the best NAS arm's rank 0 beats random search's, paired over "
              ">= 10 seeds with a 95 % CI excluding 0, and the combination is found in >= 8 of 10 seeds; negative "
              "control: the CI includes 0 (nothing to find)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_args(ap, "config/control-positive.yaml",
                   "override a search, derive or retrain key (a reduced run; controls.md prints the overrides)")
    ap.add_argument("--folds", type=int, nargs="+", metavar="FOLD",
                    help="override the config's folds.run (another test infant: a replication, said in controls.md)")
    ap.add_argument("--rewards", nargs="+", metavar="NAME",
                    help="run only these reward settings of the NAS arm (a reduced run)")
    ap.add_argument("--no-retrain", action="store_true", help="searches only: no rank-0 retraining, no kappa")
    args = ap.parse_args()
    cfg, overrides = merged_config(args.configfile, args.seeds, args.set, args.rewards, args.folds)
    study = REPO / "results" / cfg["study"]
    out = study / "controls"
    out.mkdir(parents=True, exist_ok=True)
    extra = out / "overrides.yaml"
    extra.write_text(yaml.safe_dump(overrides))
    folds = cfg["folds"]["run"]
    settings = arms(cfg)
    kind = "search" if args.no_retrain else "retrain"
    targets = [study / f"{kind}/{a}/{s}/seed{seed}/fold{f}" for a, s in settings for seed in cfg["seeds"] for f in folds]
    started = time.monotonic()
    if not args.skip_workflow:
        snakemake(targets, args, extra, out / "snakemake.log", "controls")
    wall_file = out / "wall_seconds.txt"
    if not args.skip_workflow or not wall_file.exists():
        wall_file.write_text(f"{time.monotonic() - started:.1f}\n")
    planted = json.loads((REPO / cfg["synthetic"]["out"] / "planted.json").read_text()).get("planted", "pair")
    space = cfg["search"].get("space", "thesis")
    space = from_dict(SpaceConfig, named_space(space) if isinstance(space, str) else space, "space")
    share = enumerate_space(space) if planted == "lag" else (0, 0)
    runs = pd.DataFrame([run_row(study, a, s, seed, f, planted) for a, s in settings for seed in cfg["seeds"]
                         for f in folds])
    runs.drop(columns=["null", "runs"]).to_csv(out / "runs.csv", index=False)
    note = (f"Overrides: {json.dumps(overrides)}." if overrides else "") + \
        (" Searches only (--no-retrain): no rank-0 kappa." if args.no_retrain else "")
    text = report(cfg, runs, planted, share, float(wall_file.read_text()), note)
    (out / "controls.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
