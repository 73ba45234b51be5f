"""Are neonas's verdicts calibrated? Simulated studies with planted arm differences, judged by the product's test.

    nice .venv/bin/python studies/power_calibration.py [--sims 4000] [--sd 0.19] [--fold-sd 0.06] [--difficulty 0.15]

Each simulated study has two arms (A, B) and seeds x folds cells. The test kappa of arm X in seed s, fold f is
0.5 + delta + g_f (arm A only) + u_f + e_Xsf: u_f ~ N(0, difficulty) is the fold's (test infant's) difficulty,
shared by both arms, so pairing removes it; g_f ~ N(0, fold_sd) is the arm x fold interaction (A's advantage
varies between test infants: sigma_fold of neonas.study.power); e ~ N(0, sd / sqrt 2) per arm and cell, so the
paired difference has a seed-to-seed SD `sd` within a fold (sigma_seed; 0.19: the DREAMS measurement,
neonas.study.power.DEFAULT_SD). Every study is judged by neonas.study.stats.paired_test, the function
aggregate's paired tests call (paired t over fold means; a difference is declared at p < 0.05), and beside it by
three tests that are NOT calibrated, to show what the checks catch: a paired t over the seed x fold cells as if
they were independent (pseudo-replication: too many false positives once sigma_fold > 0), an unpaired Welch
t-test (ignores that both arms share the fold), and a z-interval over the fold means (normal quantile with the
sample SD).

It prints, per design (seeds x folds) and sigma_fold (0 and --fold-sd), the rate of declared differences at
planted delta = 0 (false positives, must be <= 5 %), 0.02, 0.05, 0.10 and at the MDD that `neonas plan
--power` states for that design with the simulation's true SDs (power.design_mdd; must be 80 % +- 10 points),
with the noncentral-t prediction beside each. tests/test_power.py runs the same simulation in CI at fewer designs.
About 2 minutes at 4000 simulations, single core.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from neonas.study.power import DEFAULT_SD, design_mdd, fold_mean_sd, power
from neonas.study.stats import paired_test

DELTAS = (0.0, 0.02, 0.05, 0.10)
DESIGNS = ((1, 2), (1, 3), (2, 3), (3, 5), (5, 8), (10, 10))  # (seeds, folds)
Z975 = 1.959964


def simulate(rng: np.random.Generator, sims: int, seeds: int, folds: int, delta: float, sd: float = DEFAULT_SD,
             fold_sd: float = 0.0, difficulty: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """(A, B): test kappa of `sims` studies, each array sims x seeds x folds (module docstring)."""
    u = rng.normal(0, difficulty, (sims, 1, folds))
    g = rng.normal(0, fold_sd, (sims, 1, folds)) if fold_sd else 0.0  # arm x fold, A's only
    e = rng.normal(0, sd / math.sqrt(2), (2, sims, seeds, folds))
    return 0.5 + delta + g + u + e[0], 0.5 + u + e[1]


def cells(x: np.ndarray) -> dict:
    """{(seed, fold): value} of one simulated arm, as aggregate keys its paired cells."""
    return {(s, f): float(x[s, f]) for s in range(x.shape[0]) for f in range(x.shape[1])}


def neonas_declares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per study: does neonas's own comparison (stats.paired_test, p < 0.05) declare a difference?"""
    return np.array([paired_test(cells(a[i]), cells(b[i]), "kappa")["p"] < 0.05 for i in range(len(a))])


def _t_declares(d: np.ndarray) -> np.ndarray:
    """One-sample t-test of each row of d against 0 at p < 0.05."""
    from scipy import stats

    return stats.ttest_1samp(d, 0.0, axis=1).pvalue < 0.05


def cell_declares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Paired t over all seed x fold cells as independent pairs (n = seeds x folds): pseudo-replication."""
    return _t_declares((a - b).reshape(len(a), -1))


def welch_declares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The same question, unpaired: Welch's t-test of A's cells against B's (what ignoring the folds gives)."""
    from scipy import stats

    flat = (a.reshape(len(a), -1), b.reshape(len(b), -1))
    return stats.ttest_ind(*flat, axis=1, equal_var=False).pvalue < 0.05


def z_declares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Over fold means, but with a z-interval: |mean| / (SD / sqrt n) > 1.96 (ignores that the SD is estimated)."""
    d = (a - b).mean(1)
    return np.abs(d.mean(1)) / (d.std(1, ddof=1) / math.sqrt(d.shape[1])) > Z975


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sims", type=int, default=4000, help="simulated studies per cell of the table (default 4000)")
    ap.add_argument("--sd", type=float, default=DEFAULT_SD, help="sigma_seed: within-fold SD of the paired "
                    "difference per cell (0.19)")
    ap.add_argument("--fold-sd", type=float, default=0.06, help="sigma_fold of the second block: SD of the arm x "
                    "fold interaction (0.06)")
    ap.add_argument("--difficulty", type=float, default=0.15, help="SD of the folds' shared difficulty (0.15)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    se = math.sqrt(0.05 * 0.95 / args.sims)
    print(f"{args.sims} simulated studies per cell; σ_seed {args.sd}, fold difficulty {args.difficulty}; rate of "
          f"declared differences (p < 0.05), simulated [noncentral-t prediction]; Monte Carlo SE at 5 %: {se:.2%}\n")
    head = " | ".join([f"Δ = {d:g}" for d in DELTAS] + ["at plan's MDD"])
    print(f"| seeds × folds | σ_fold | MDD | {head} | cells as independent, Δ = 0 | Welch at MDD | z at Δ = 0 |")
    print("|---" * (len(DELTAS) + 7) + "|")
    for fold_sd in (0.0, args.fold_sd):
        for seeds, folds in DESIGNS:
            m = design_mdd(folds, seeds, args.sd, fold_sd)  # what plan states with the true SDs
            sdm = fold_mean_sd(args.sd, fold_sd, seeds)
            out = []
            for delta in (*DELTAS, m):
                a, b = simulate(rng, args.sims, seeds, folds, delta, args.sd, fold_sd, args.difficulty)
                out.append(f"{neonas_declares(a, b).mean():.1%} [{power(folds, delta, sdm) if delta else 0.05:.1%}]")
                if delta == m:
                    welch = welch_declares(a, b).mean()
                if delta == 0:
                    cell, z = cell_declares(a, b).mean(), z_declares(a, b).mean()
            print(f"| {seeds} × {folds} | {fold_sd:g} | {m:.3f} | " + " | ".join(out)
                  + f" | {cell:.1%} | {welch:.1%} | {z:.1%} |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
