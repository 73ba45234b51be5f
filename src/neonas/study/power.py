"""How large a difference between two arms a study can detect, and how many folds (and seeds) a target needs.

Every comparison of arms in neonas is a paired t-test over FOLDS (neonas.study.stats.paired_test): in each
seed x fold cell the difference of the two arms' rank-0 models, averaged over the seeds of each fold, then a
t-test of those fold means (n = folds, df = folds - 1). Seeds of one fold share its training, validation and
test infants, so they are not independent replicates: a sceptic counts the folds (the test infants), not the
cells. The model behind the power: the variance of a fold mean of the difference is
    sigma_fold^2 + sigma_seed^2 / seeds,
with sigma_seed the seed-to-seed SD of the paired difference within a fold and sigma_fold the SD with which the
arms' difference itself varies between folds (an arm x fold interaction). More seeds shrink only the second
term: sigma_fold sets a floor that only more folds get below. The power is the noncentral t's, exact for normal
differences at any n (a z approximation overstates the power of small studies, which is where it matters). The
minimum detectable difference (MDD) is the true difference the test finds with 80 % power at alpha = 0.05.
The SDs come from the study itself, from a pilot (`neonas plan --power --from results/<study>`: a one-way ANOVA
of its cells by fold), or from the DEFAULT_SD with sigma_fold = 0 (a lower bound on the MDD), and every output
says which. docs/report.md, "Power", explains the numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

ALPHA = 0.05  # two-sided, as the verdicts (neonas.study.runs.ALPHA)
POWER = 0.80
#: SD of the paired difference in test kappa between two arms, per seed x fold cell: measured with
#: studies/dreams_loso.py on DREAMS leave-one-subject-out (8 folds x 5 seeds, 1 channel, default recipe), 0.18-0.20
#: between the arm pairs it prints (issue 23); the middle of that range. Used as sigma_seed with sigma_fold = 0:
#: the whole cell SD treated as seed-to-seed noise that seeds average away, so the MDD it gives is a LOWER bound.
#: Real neonatal cohorts may differ: measure yours with a pilot.
DEFAULT_SD = 0.19
DEFAULT_SOURCE = ("default σ_seed 0.19 (paired Δκ per seed × fold cell, measured on DREAMS leave-one-subject-out, "
                  "8 folds × 5 seeds: 0.18-0.20) and σ_fold 0 assumed: a lower bound on the MDD")
OWN_MIN_UNITS = 3  # below this a study's own SD (1 df) is too rough: the default stands in (kappa only)
KAPPA_RANGE = 2.0  # kappa lies in [-1, 1]: a larger MDD means no difference at all can be detected
SENSITIVITY_FOLD_SD = 0.05  # plan shows the default's MDD again at this sigma_fold: how much the lower bound may hide
NAMES = {"random": "random search", "evolution": "evolution", "handcrafted": "hand-designed"}


def power(n: int, delta: float, sd: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided one-sample (paired) t-test with n units of SD sd to detect a true mean delta."""
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
    """MDD in units of the SD (it scales linearly with the SD)."""
    from scipy.optimize import brentq

    hi = 4.0
    while power(n, hi, 1.0, alpha) < target:
        hi *= 2
    return float(brentq(lambda x: power(n, x, 1.0, alpha) - target, 0.0, hi, xtol=1e-10))


def mdd(n: int, sd: float, alpha: float = ALPHA, target: float = POWER) -> float:
    """Smallest true difference the t-test over n units of SD sd detects with `target` power (NaN below 2)."""
    if n < 2 or not math.isfinite(sd) or sd < 0:
        return math.nan
    return _mdd_unit(int(n), alpha, target) * sd


def n_needed(delta: float, sd: float, alpha: float = ALPHA, target: float = POWER) -> int:
    """Fewest units (folds, at a fixed number of seeds each) with which the t-test detects `delta`."""
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


def fold_mean_sd(sigma_seed: float, sigma_fold: float, seeds: float) -> float:
    """SD of one fold's mean paired difference over `seeds` seeds: sqrt(sigma_fold^2 + sigma_seed^2 / seeds)."""
    return math.sqrt(sigma_fold ** 2 + sigma_seed ** 2 / max(seeds, 1))


def design_mdd(folds: int, seeds: float, sigma_seed: float, sigma_fold: float = 0.0) -> float:
    """MDD of a study of folds x seeds: the t over its fold means; with 1 fold the t over its seeds, which holds
    for that one split (its test infants) only. NaN where no test is possible."""
    if folds >= 2:
        return mdd(folds, fold_mean_sd(sigma_seed, sigma_fold, seeds))
    return mdd(int(round(seeds)), sigma_seed) if folds == 1 else math.nan


def folds_needed(delta: float, seeds: float, sigma_seed: float, sigma_fold: float = 0.0) -> int:
    """Fewest folds (test infants) that detect `delta` with 80 % power at `seeds` seeds per fold."""
    return n_needed(delta, fold_mean_sd(sigma_seed, sigma_fold, seeds))


def seeds_needed(delta: float, folds: int, sigma_seed: float, sigma_fold: float = 0.0) -> int | None:
    """Fewest seeds per fold that detect `delta` with 80 % power at `folds` folds; None where no number of seeds
    can (folds < 2, or sigma_fold alone puts the MDD at or above delta: the floor only more folds get below)."""
    if folds < 2 or not delta > 0:
        return None
    room = (delta / _mdd_unit(int(folds), ALPHA, POWER)) ** 2 - sigma_fold ** 2  # what sigma_seed^2 / S may use
    if room <= 0:
        return None
    return max(1, math.ceil(sigma_seed ** 2 / room - 1e-9))


# ----------------------------------------------------------------------------- variance components


@dataclasses.dataclass(frozen=True)
class Noise:
    """The two SDs of the paired difference, with what they rest on. fold_known: sigma_fold was estimated
    (folds >= 2 and seeds >= 2 in some fold); otherwise it is 0 by assumption and the MDD a lower bound.
    sd_means: the observed SD of the fold means (NaN below 2 folds), exact for a plan at the same seeds."""

    sigma_seed: float
    sigma_fold: float
    seeds: float  # seeds per fold (mean)
    folds: int
    sd_means: float = math.nan
    fold_known: bool = False
    df_seed: int = 0
    df_fold: int = 0


def components(cells: dict) -> Noise | None:
    """One-way ANOVA of paired differences by fold ({(seed, fold) or fold: difference}): MS_within estimates
    sigma_seed^2, (MS_between - MS_within) / n0 sigma_fold^2 (floored at 0; n0 the seeds per fold, adjusted for
    unequal numbers). With 1 seed per fold the two cannot be told apart: all is taken as sigma_seed and
    sigma_fold = 0 (fold_known False); with 1 fold, sigma_seed from its seeds. None below 2 cells."""
    groups: dict = {}
    for key, v in cells.items():
        groups.setdefault(key[1] if isinstance(key, tuple) else key, []).append(float(v))
    g = [np.asarray(x) for x in groups.values()]
    k, n = len(g), sum(len(x) for x in g)
    if n < 2:
        return None
    means = np.array([x.mean() for x in g])
    sd_means = float(means.std(ddof=1)) if k >= 2 else math.nan
    df_w = n - k
    ms_w = sum(float(((x - x.mean()) ** 2).sum()) for x in g) / df_w if df_w else math.nan
    if k < 2:
        return Noise(math.sqrt(ms_w), 0.0, n, 1, math.nan, False, df_w, 0)
    if not df_w:  # one seed per fold: fold means are cells
        return Noise(sd_means, 0.0, 1, k, sd_means, False, k - 1, 0)
    grand = float(np.concatenate(g).mean())
    ms_b = sum(len(x) * (float(x.mean()) - grand) ** 2 for x in g) / (k - 1)
    n0 = (n - sum(len(x) ** 2 for x in g) / n) / (k - 1)
    sigma_fold = math.sqrt(max(0.0, (ms_b - ms_w) / n0))
    return Noise(math.sqrt(ms_w), sigma_fold, n / k, k, sd_means, True, df_w, k - 1)


def pooled(noises: list[Noise]) -> Noise:
    """Noise pooled over comparisons: each variance weighted by its degrees of freedom. sigma_fold counts as
    known only if it was estimated in every one; the observed SD of fold means only if all had the same seeds."""
    def pool(pairs):
        pairs = [(v, df) for v, df in pairs if df > 0 and math.isfinite(v)]
        return math.sqrt(sum(v * v * df for v, df in pairs) / sum(df for _, df in pairs)) if pairs else math.nan

    same = len({x.seeds for x in noises}) == 1
    return Noise(pool((x.sigma_seed, x.df_seed) for x in noises),
                 pool((x.sigma_fold, x.df_fold) for x in noises if x.fold_known) if all(x.fold_known for x in noises)
                 else 0.0, noises[0].seeds if same else float(np.mean([x.seeds for x in noises])),
                 max(x.folds for x in noises),
                 pool((x.sd_means, x.folds - 1) for x in noises) if same else math.nan,
                 all(x.fold_known for x in noises), sum(x.df_seed for x in noises), sum(x.df_fold for x in noises))


# ----------------------------------------------------------------------------- comparisons


def comparisons(present: list[tuple[str, str]]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The pairs of arms a study compares (first minus second): each NAS setting vs random search and vs the
    hand-designed net, random search vs hand-designed, regularised evolution (an arm when a study has it) vs random
    search and the hand-designed net and each NAS setting vs evolution, then each NAS setting vs the later ones
    (does the reward matter?). `present`: (arm, setting) in study order. Aggregate's paired tests and plan use
    this list."""
    pairs = [(a, b) for a in present for b in present
             if (a[0], b[0]) in {("nas", "handcrafted"), ("nas", "random"), ("random", "handcrafted"),
                                 ("evolution", "random"), ("evolution", "handcrafted"), ("nas", "evolution")}]
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


def study_mdd(n: int, sd: float, metric: str, seeds: float = 1.0) -> tuple[float, float, str]:
    """(MDD, SD used, where the SD came from) of a paired test over n units (fold means of `seeds` seeds each,
    or the seeds of a one-fold study: seeds 1) with their SD `sd`: the study's own from OWN_MIN_UNITS units on,
    else (kappa only) the default sigma_seed over sqrt(seeds), sigma_fold 0."""
    if n >= OWN_MIN_UNITS and math.isfinite(sd):
        return mdd(n, sd), sd, "this study"
    if metric == "kappa" and n >= 2:
        s = fold_mean_sd(DEFAULT_SD, 0.0, seeds)
        return mdd(n, s), s, DEFAULT_SOURCE
    return math.nan, math.nan, ""


def _span(values, fmt: str = "{}") -> str:
    v = sorted(set(values))
    return fmt.format(v[0]) if len(v) == 1 or fmt.format(v[0]) == fmt.format(v[-1]) else \
        f"{fmt.format(v[0])}-{fmt.format(v[-1])}"


def detect_sentence(tests, which: str, delta: float = 0.05) -> str:
    """'This study could detect Δκ ≥ X (...). Δκ = 0.05 needs N folds at S seeds.' for the comparisons of one
    verdict (`which`: 'comparison', NAS vs a baseline; 'reward', NAS vs NAS), from aggregate's paired_tests.csv
    (n = folds, n_cells, mdd, mdd_sd, mdd_source); '' for an aggregate without them or without such comparisons."""
    if tests is None or not len(tests) or "mdd" not in tests.columns:
        return ""
    t = tests[(tests["metric"] == "kappa") & (tests["a_arm"] == "nas")]
    t = t[(t["b_arm"] == "nas") if which == "reward" else (t["b_arm"] != "nas")]
    if not len(t):
        return ""
    rows = []
    for r in t.to_dict("records"):
        folds, cells = int(r["n"]), int(r.get("n_cells", r["n"]))
        seeds = max(1, round(cells / folds)) if folds else 1
        sd = float(r["mdd_sd"])
        # SD of a fold mean at the study's seeds; from one fold's seeds only with sigma_fold 0 (a lower bound)
        sdm = sd if folds >= 2 and math.isfinite(sd) else sd / math.sqrt(seeds) if math.isfinite(sd) else \
            fold_mean_sd(DEFAULT_SD, 0.0, seeds)
        rows.append((folds, seeds, sdm, float(r["mdd"]), str(r["mdd_source"] or ""), math.isfinite(sd)))
    folds_, seeds_, sdm, _, _, own = max(rows, key=lambda x: x[2])  # the noisiest comparison decides the need
    need = "" if not sdm > 0 else (
        f"Δκ = {delta:g} needs {n_needed(delta, sdm)} folds (test infants) at {seeds_} seed{'s' * (seeds_ != 1)} each "
        f"(SD of the fold means {sdm:.2f}" + (f"; {DEFAULT_SOURCE}" if not own else "" if folds_ >= 2 else
                                               " from one fold's seeds, σ_fold 0 assumed: a lower bound") + ").")
    tested = [x for x in rows if math.isfinite(x[3])]
    if not tested:
        return f"This study could detect no difference of any size: no test is possible with " \
               f"{_span(x[0] for x in rows)} fold(s) × {_span(x[1] for x in rows)} seed(s) (its MDD is unbounded). " \
               f"{need}".strip()
    multi = [x for x in tested if x[0] >= 2]
    use = multi or tested
    lo, hi = min(x[3] for x in use), max(x[3] for x in use)
    sources = ", ".join(sorted({x[4] for x in use} - {""}))
    span = f"{lo:.2f}" if round(lo, 2) == round(hi, 2) else f"{lo:.2f}-{hi:.2f}"
    if lo > KAPPA_RANGE:
        return f"This study could detect no difference in κ at all (its MDD, {lo:.2g}, exceeds κ's range). {need}".strip()
    if not multi:
        return (f"With one fold the test runs over its {_span(x[1] for x in use)} seeds: it could detect Δκ ≥ {span} "
                f"for that split (its test infants) only, not for new infants (80 % power, two-sided α = {ALPHA:g}, "
                f"SD over the seeds: {sources}). {need}").strip()
    return (f"This study could detect Δκ ≥ {span} (80 % power, two-sided α = {ALPHA:g}, paired t over n = "
            f"{_span(x[0] for x in use)} folds (test infants), {_span(x[1] for x in use)} seeds each averaged per "
            f"fold; SD of the fold means: {sources}). {need}").strip()


def verdict_note(key: str, answer: str, tests) -> str:
    """detect_sentence beside a comparison's answer that is not a "Yes" (the summary's first screen)."""
    return detect_sentence(tests, key) if key in ("comparison", "reward") and not answer.startswith("Yes") else ""
