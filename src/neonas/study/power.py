"""How large a difference between two arms a study can detect, and how many seeds x folds a target needs.

Every comparison of arms in neonas is a paired t-test over seed x fold cells (neonas.study.stats.paired_test:
the difference of the two arms' rank-0 models in each cell, n = seeds x folds pairs, two-sided). Its power is
the noncentral t's, exact for normal differences at any n (a z approximation overstates the power of small
studies, which is where it matters). The minimum detectable difference (MDD) is the true difference that test
finds with 80 % power at alpha = 0.05; it scales with the SD of the paired differences, taken from the study
itself, from a pilot (`neonas plan --power --from results/<study>`: its aggregate's results.csv), or from
DEFAULT_SD, and every output says which. docs/report.md, "Power", explains the numbers.
"""

from __future__ import annotations

import argparse
import functools
import math
from pathlib import Path

import numpy as np

ALPHA = 0.05  # two-sided, as the verdicts (neonas.study.runs.ALPHA)
POWER = 0.80
#: SD of the paired difference in test kappa between two arms, per seed x fold: measured with bench/dreams_loso.py
#: on DREAMS leave-one-subject-out (8 folds x 5 seeds, 1 channel, default recipe), 0.18-0.20 between the arm pairs
#: it prints (issue 23); the middle of that range. Real neonatal cohorts may differ: measure yours with a pilot.
DEFAULT_SD = 0.19
DEFAULT_SOURCE = ("default SD 0.19 (paired Δκ per seed × fold measured on DREAMS leave-one-subject-out, 8 folds × "
                  "5 seeds: 0.18-0.20)")
OWN_MIN_PAIRS = 3  # below this a study's own SD (1 df) is too rough: the default stands in (kappa only)
KAPPA_RANGE = 2.0  # kappa lies in [-1, 1]: a larger MDD means no difference at all can be detected
NAMES = {"random": "random search", "handcrafted": "hand-designed"}


def power(n: int, delta: float, sd: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test with n pairs to detect a true mean difference delta (noncentral t)."""
    from scipy import stats

    if n < 2 or not sd > 0:
        return math.nan
    df, ncp = n - 1, delta * math.sqrt(n) / sd
    crit = stats.t.ppf(1 - alpha / 2, df)
    # P(T > crit) + P(T < -crit); the lower tail as sf at -ncp (nct.cdf gives NaN far in its tail)
    upper, lower = stats.nct.sf(crit, df, ncp), stats.nct.sf(crit, df, -ncp)
    return float(np.nan_to_num(upper) + np.nan_to_num(lower))


@functools.lru_cache(maxsize=4096)
def _mdd_unit(n: int, alpha: float, target: float) -> float:
    """MDD in units of the paired SD (it scales linearly with the SD)."""
    from scipy.optimize import brentq

    hi = 4.0
    while power(n, hi, 1.0, alpha) < target:
        hi *= 2
    return float(brentq(lambda x: power(n, x, 1.0, alpha) - target, 0.0, hi, xtol=1e-10))


def mdd(n: int, sd: float, alpha: float = ALPHA, target: float = POWER) -> float:
    """Smallest true difference the paired t-test with n pairs detects with `target` power (NaN below 2 pairs)."""
    if n < 2 or not math.isfinite(sd) or sd < 0:
        return math.nan
    return _mdd_unit(int(n), alpha, target) * sd


def pairs_needed(delta: float, sd: float, alpha: float = ALPHA, target: float = POWER) -> int:
    """Fewest pairs (seeds x folds) with which the paired t-test detects `delta` with `target` power."""
    if not delta > 0 or not sd > 0:
        raise ValueError(f"need delta > 0 and sd > 0, got {delta}, {sd}")
    hi = 2
    while power(hi, delta, sd, alpha) < target:
        hi *= 2
    lo = max(2, hi // 2)
    while lo < hi:  # power grows with n: the first n that reaches the target
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if power(mid, delta, sd, alpha) < target else (lo, mid)
    return lo


def pooled_sd(sds, ns) -> float:
    """SD pooled over comparisons (each weighted by its n - 1 degrees of freedom)."""
    pairs = [(s, n) for s, n in zip(sds, ns, strict=True) if n >= 2 and math.isfinite(s)]
    df = sum(n - 1 for _, n in pairs)
    return math.sqrt(sum((n - 1) * s * s for s, n in pairs) / df) if df else math.nan


# ----------------------------------------------------------------------------- comparisons


def comparisons(present: list[tuple[str, str]]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The pairs of arms a study compares (first minus second): each NAS setting vs random search and vs the
    hand-designed net, random search vs hand-designed, then each NAS setting vs the later ones (does the reward
    matter?). `present`: (arm, setting) in study order. Aggregate's paired tests and plan use this list."""
    pairs = [(a, b) for a in present for b in present
             if (a[0], b[0]) in {("nas", "handcrafted"), ("nas", "random"), ("random", "handcrafted")}]
    nas = [a for a in present if a[0] == "nas"]
    return pairs + [(a, b) for i, a in enumerate(nas) for b in nas[i + 1:]]


def kind(a: tuple[str, str], b: tuple[str, str]) -> str:
    """What a comparison asks, for grouping: 'NAS vs random search', 'NAS vs NAS (reward settings)', ..."""
    if a[0] == b[0] == "nas":
        return "NAS vs NAS (reward settings)"
    return f"{'NAS' if a[0] == 'nas' else NAMES.get(a[0], a[0])} vs {NAMES.get(b[0], b[0])}"


def label(a: tuple[str, str], b: tuple[str, str]) -> str:
    def one(x):
        return NAMES.get(x[0], f"NAS {x[1]}")

    return f"{one(a)} vs {one(b)}"


def cell_values(best, arm: str, setting: str, metric: str) -> dict:
    """{(seed, fold): metric} of an arm's rank-0 models (`best`: rows of results.csv with rank 0)."""
    g = best[(best["arm"] == arm) & (best["setting"].astype(str) == str(setting))]
    return {(int(s), int(f)): float(v) for (s, f), v in g.groupby(["seed", "fold"])[metric].mean().items()}


def study_mdd(n: int, sd: float, metric: str) -> tuple[float, float, str]:
    """(MDD, SD used, where the SD came from) of a paired test in a study's aggregate: its own SD from
    OWN_MIN_PAIRS pairs on, else (kappa only) DEFAULT_SD."""
    if n >= OWN_MIN_PAIRS and math.isfinite(sd):
        return mdd(n, sd), sd, "this study"
    if metric == "kappa" and n >= 2:
        return mdd(n, DEFAULT_SD), DEFAULT_SD, DEFAULT_SOURCE
    return math.nan, math.nan, ""


def detect_sentence(tests, which: str, delta: float = 0.05) -> str:
    """'This study could detect Δκ ≥ X (...); Δκ = 0.05 needs N pairs.' for the comparisons of one verdict
    (`which`: 'comparison', NAS vs a baseline; 'reward', NAS vs NAS), from aggregate's paired_tests.csv (its
    `mdd` column); '' for an aggregate without one or without such comparisons."""
    if tests is None or not len(tests) or "mdd" not in tests.columns:
        return ""
    t = tests[(tests["metric"] == "kappa") & (tests["a_arm"] == "nas")]
    t = t[(t["b_arm"] == "nas") if which == "reward" else (t["b_arm"] != "nas")]
    if not len(t):
        return ""
    sd = float(t["mdd_sd"].max()) if t["mdd_sd"].notna().any() else DEFAULT_SD
    need = "" if not sd > 0 else (f"Δκ = {delta:g} needs {pairs_needed(delta, sd)} seed × fold pairs at SD {sd:.2f}"
                                  + ("" if t["mdd_sd"].notna().any() else f" ({DEFAULT_SOURCE})") + ".")
    t = t[t["mdd"].notna()]
    if not len(t):
        return "With fewer than 2 seed × fold pairs no test is possible: " + need
    lo, hi = float(t["mdd"].min()), float(t["mdd"].max())
    ns = sorted({int(n) for n in t["n"]})
    pairs = str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"
    how = (f"80 % power, two-sided α = {ALPHA:g}, n = {pairs} seed × fold pairs, SD of the paired differences: "
           f"{', '.join(sorted({str(s) for s in t['mdd_source'].fillna('')} - {''}))}")
    if lo > KAPPA_RANGE:
        return f"This study could detect no difference in κ at all (its MDD, {lo:.2g}, exceeds κ's range; {how}). {need}".strip()
    span = f"{lo:.2f}" if round(lo, 2) == round(hi, 2) else f"{lo:.2f}-{hi:.2f}"
    return f"This study could detect Δκ ≥ {span} ({how}). {need}".strip()


def verdict_note(key: str, answer: str, tests) -> str:
    """detect_sentence beside a comparison's answer that is not a "Yes" (the summary's first screen)."""
    return detect_sentence(tests, key) if key in ("comparison", "reward") and not answer.startswith("Yes") else ""


# ----------------------------------------------------------------------------- neonas plan --power


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--power", action="store_true", help="also print the minimum detectable difference in kappa of "
                   "every comparison of arms (80 %% power, alpha 0.05, paired t over seeds x folds) and the seeds x "
                   "folds a target difference needs (docs/report.md, 'Power')")
    p.add_argument("--from", dest="power_from", type=Path, metavar="DIR", help="with --power: take the SD of the "
                   "paired differences from an earlier (pilot) study, results/<study> or its aggregate folder "
                   "(without it: the " + DEFAULT_SOURCE.replace("%", "%%") + ")")
    p.add_argument("--delta", type=float, default=0.05, metavar="KAPPA",
                   help="with --power: the difference in kappa to plan for (default 0.05)")


def pilot_sds(path: Path) -> tuple[dict, str]:
    """{(a, b): (SD, n)} of the paired kappa differences per seed x fold of every comparison in an earlier
    study's aggregate (its results.csv, rank-0 models), and a description of the source."""
    import pandas as pd

    from neonas.errors import NeonasError

    found = [p for p in (path / "results.csv", path / "aggregate" / "results.csv") if p.exists()]
    if not found:
        raise NeonasError("no results.csv of `neonas aggregate` here or in its aggregate/ folder", path)
    try:
        res = pd.read_csv(found[0], dtype={"setting": str})
    except (OSError, ValueError) as err:
        raise NeonasError(f"cannot read the aggregate's results table ({err})", found[0]) from None
    missing = sorted({"arm", "setting", "seed", "fold", "rank", "kappa"} - set(res.columns))
    if missing:
        raise NeonasError(f"not a results table of `neonas aggregate`: missing columns {missing}", found[0])
    best = res[res["rank"] == 0]
    order = {"nas": 0, "random": 1, "handcrafted": 2}
    present = sorted(dict.fromkeys(zip(best["arm"], best["setting"], strict=True)), key=lambda a: order.get(a[0], 9))
    out = {}
    for a, b in comparisons(present):
        va, vb = cell_values(best, *a, "kappa"), cell_values(best, *b, "kappa")
        d = np.array([va[k] - vb[k] for k in sorted(set(va) & set(vb))])
        if len(d) >= 2:
            out[(a, b)] = (float(d.std(ddof=1)), len(d))
    if not out:
        raise NeonasError("no comparison of arms with 2 or more paired seed x fold cells to take an SD from", found[0])
    return out, f"pilot {found[0]}"


def planned(cfg: dict) -> list[tuple[str, str]]:
    """(arm, setting) of a study config, in study order."""
    arms = cfg.get("arms", {})
    return ([("nas", r["name"]) for r in cfg.get("rewards", [])] if arms.get("nas") else []) + \
        ([("random", "uniform")] if arms.get("random") else []) + \
        ([("handcrafted", "reference")] if arms.get("handcrafted") else [])


def plan_report(cfg: dict, n_folds: int, pilot: Path | None = None, delta: float = 0.05) -> str:
    """The power section of `neonas plan`: per comparison (grouped where the numbers are the same) the MDD
    at the study's seeds x folds, and the pairs and seeds a target delta needs."""
    from neonas.errors import NeonasError

    if not delta > 0:
        raise NeonasError(f"--delta must be > 0, got {delta}")
    seeds = len(cfg.get("seeds", []))
    n = seeds * n_folds
    sds, source = pilot_sds(pilot) if pilot else ({}, DEFAULT_SOURCE)
    by_kind: dict[str, list] = {}
    for key, (s, k) in sds.items():
        by_kind.setdefault(kind(*key), []).append((s, k))
    everything = pooled_sd([s for s, _ in sds.values()], [k for _, k in sds.values()]) if sds else DEFAULT_SD
    rows = []
    for a, b in comparisons(planned(cfg)):
        if (a, b) in sds:
            sd, how = sds[(a, b)][0], f"this comparison, {sds[(a, b)][1]} pairs"
        elif kind(a, b) in by_kind:
            got = by_kind[kind(a, b)]
            sd, how = pooled_sd([s for s, _ in got], [k for _, k in got]), f"pooled over the pilot's {kind(a, b)}"
        else:
            sd, how = everything, "pooled over all the pilot's comparisons" if sds else "default"
        rows.append((kind(a, b), label(a, b), sd, how))
    lines = [f"power: paired t-test over seed × fold cells, two-sided α = {ALPHA:g}, {POWER * 100:.0f} % power; this study: "
             f"{seeds} seeds × {n_folds} folds = {n} pairs per comparison",
             f"SD of the paired Δκ: {source}", "",
             f"{'comparison':<50}{'SD':>7}{'MDD (Δκ)':>10}   pairs for Δκ = {delta:g} (seeds at {n_folds} folds)"]
    groups: dict[tuple, list] = {}
    for k, lab, sd, how in rows:  # comparisons with the same numbers share a line
        groups.setdefault((k, round(sd, 4), how), []).append(lab)
    for (k, sd, how), labels in groups.items():
        name = labels[0] if len(labels) == 1 else f"{k} ({len(labels)} comparisons)"
        m = mdd(n, sd)
        need = pairs_needed(delta, sd) if sd > 0 else 2
        text = "n/a" if math.isnan(m) else f">{KAPPA_RANGE:g}" if m > KAPPA_RANGE else f"{m:.3f}"
        lines.append(f"{name:<50}{sd:>7.3f}{text:>10}   {need} ({math.ceil(need / max(n_folds, 1))} seeds × "
                     f"{n_folds} folds)" + (f"  [SD: {how}]" if pilot else ""))
    if len(rows) > 1:
        lines.append(f"{len(rows)} comparisons, each at α = {ALPHA:g} (no correction): if no arm differed, about "
                     f"{ALPHA * len(rows):.1f} of them would still come out 'different'")
    if n < 2:
        lines.append("fewer than 2 pairs per comparison: no paired test is possible at all")
    return "\n".join(lines)
