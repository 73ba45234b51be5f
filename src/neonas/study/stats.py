"""Pure statistics of `neonas aggregate`: epoch windows, rolling quantiles, paired t-tests (clustered by fold) with
confidence intervals and their detectable difference, Kendall's tau, reward curves and the plain-language verdict rules."""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pandas as pd

from neonas.study.runs import ALPHA, ARM_ORDER, Run

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- statistics (pure)


def setting_order(runs: list[Run], metrics: pd.DataFrame) -> list[tuple[str, str]]:
    """(arm, setting) pairs: NAS settings in the order of --searches, then random, then handcrafted."""
    seen = [(r.arm, r.setting) for r in runs] + list(zip(metrics["arm"], metrics["setting"], strict=True))
    unique = list(dict.fromkeys(seen))
    return sorted(unique, key=lambda a: ARM_ORDER[a[0]])


def epoch_windows(epochs: np.ndarray, n: int) -> tuple[np.ndarray, list[str]]:
    """Window index (1-based) per epoch, in n equal ranges of the epochs seen, and their labels."""
    if len(epochs) == 0:
        return np.zeros(0, int), []
    lo, hi = int(epochs.min()), int(epochs.max())
    n = max(1, min(n, hi - lo + 1))
    edges = [lo + round(k * (hi - lo + 1) / n) for k in range(n + 1)]
    index = np.searchsorted(edges, epochs, side="right")
    labels = [f"{a}-{b}" if b > a else f"{a}" for a, b in ((edges[k], edges[k + 1] - 1) for k in range(n))]
    return index, labels


def rolling_quantiles(epoch: np.ndarray, value: np.ndarray, width: int) -> pd.DataFrame:
    """Per epoch: quartiles of all values within +-width//2 epochs (pooled over seeds and folds)."""
    ok = ~np.isnan(value)
    order = np.argsort(epoch[ok], kind="stable")
    epoch, value = epoch[ok][order], value[ok][order]
    rows = []
    half = max(width, 1) // 2
    for e in np.unique(epoch):
        lo, hi = np.searchsorted(epoch, e - half, "left"), np.searchsorted(epoch, e + half, "right")
        q25, q50, q75 = np.percentile(value[lo:hi], [25, 50, 75])
        rows.append({"epoch": int(e), "n": int(hi - lo), "q25": q25, "median": q50, "q75": q75})
    return pd.DataFrame(rows, columns=["epoch", "n", "q25", "median", "q75"])


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample SD (ddof 1; NaN for fewer than two values)."""
    v = np.asarray(values, float)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan


def paired_test(a: dict, b: dict, metric: str = "") -> dict:
    """Two-sided paired t-test of a - b, clustered by fold: the difference in each (seed, fold) cell both have,
    averaged over the seeds of each fold, then a t-test of the fold means (n = folds, df = folds - 1), with its
    95 % t-interval and the minimum detectable difference at 80 % power (neonas.study.power; `metric` 'kappa'
    lets a study of 2 folds borrow the default SD). Seeds of one fold share its training, validation and test
    infants: counting cells as replicates would make p too small whenever the arms' difference varies between
    folds (tests/test_power.py measures it). Keys are (seed, fold) or folds. With 1 fold and 2+ seeds the test
    runs over the seeds and the note says it holds for that split only; 1 cell: n/a. All differences zero:
    p = 1. The same mean difference in every fold (zero SD): p = 0 from 2 folds on; over the seeds of one fold,
    no test (p NaN: seeds that agree exactly show no spread, not a difference that holds for new infants).
    Student's t, not a z-interval: with a handful of folds a z-interval rejects far more often than 5 %.
    """
    from scipy.special import stdtr, stdtrit  # Student's t cdf and its inverse (fast on scalars)

    from neonas.study.power import components, study_mdd

    keys = sorted(set(a) & set(b))
    cells = {k: a[k] - b[k] for k in keys}
    by_fold: dict = {}
    for k, v in cells.items():
        by_fold.setdefault(k[1] if isinstance(k, tuple) else k, []).append(v)
    folds = len(by_fold)
    one_fold = folds == 1 and len(keys) >= 2
    d = np.array(next(iter(by_fold.values())) if one_fold else [np.mean(v) for v in by_fold.values()], float)
    n = len(d)
    noise = components(cells)
    out = {"n": folds, "n_cells": len(keys), "mean_diff": float(d.mean()) if n else math.nan, "sd": math.nan,
           "ci_low": math.nan, "ci_high": math.nan, "statistic": math.nan, "p": math.nan,
           "test": "paired t over seeds of one fold (two-sided)" if one_fold else
           "paired t over fold means (two-sided)", "note": "",
           "sd_seed": noise.sigma_seed if noise and noise.df_seed and (noise.fold_known or one_fold) else math.nan,
           "sd_fold": noise.sigma_fold if noise and noise.fold_known else math.nan}
    split = f"1 fold: tested over its {n} seeds, so this holds for that split (its test infants) only, not for new " \
        "infants" if one_fold else ""
    if n < 2:
        out["note"] = f"n/a: {len(keys)} paired seed x fold cell(s), need 2 folds (or 2 seeds of one fold)"
        return _with_mdd(out, metric, study_mdd, 1.0)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = float(stdtrit(n - 1, 1 - ALPHA / 2)) * sd / math.sqrt(n)
    out.update(sd=sd, ci_low=mean - half, ci_high=mean + half, note=split)
    if np.allclose(d, 0.0, atol=1e-12):
        out.update(statistic=0.0, p=1.0, note="; ".join(filter(None, ["all differences are zero", split])))
    elif sd <= 1e-12 * abs(mean) and one_fold:  # seeds that agree exactly: no spread, and one split only
        out["note"] = "the same difference in every seed of the one fold: no spread to test against; " + split
    elif sd <= 1e-12 * abs(mean):  # the same mean difference in every fold (2 or more): no spread to test against
        out.update(statistic=math.copysign(math.inf, mean), p=0.0, note="the same mean difference in every fold")
    else:
        t = mean / (sd / math.sqrt(n))
        out.update(statistic=t, p=float(2 * stdtr(n - 1, -abs(t))))
    return _with_mdd(out, metric, study_mdd, 1.0 if one_fold else len(keys) / folds)


def _with_mdd(out: dict, metric: str, study_mdd, seeds: float) -> dict:
    n = out["n_cells"] if out["n"] == 1 else out["n"]  # the test's units: folds, or the one fold's seeds
    out["mdd"], out["mdd_sd"], out["mdd_source"] = study_mdd(n, out["sd"], metric, seeds)
    return out


def kendall(x, y) -> dict:
    """Kendall's tau-b with its two-sided p (scipy); n/a for fewer than 2 pairs or constant input."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    out = {"n": int(len(x)), "tau": math.nan, "p": math.nan, "note": ""}
    if len(x) < 2:
        out["note"] = f"n/a: {len(x)} pair(s)"
        return out
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        out["note"] = "n/a: one ranking is constant"
        return out
    res = stats.kendalltau(x, y)
    out.update(tau=float(res.statistic), p=float(res.pvalue))
    return out


def reward_curve(reward_cfg: dict, where: str, x: np.ndarray, threshold: float | None = None) -> tuple[str, np.ndarray]:
    """(reward name, reward(x)) from a resolved reward config, via neonas.engine.reward's registry;
    `threshold` stands in for an adaptive sigmoid's (`threshold: auto`)."""
    from neonas.config import from_dict
    from neonas.engine import reward

    known = {f.name for f in dataclasses.fields(reward.RewardConfig)}
    extra = sorted(set(reward_cfg) - known)
    if extra:  # e.g. a run of an older neonas: the shape needs only name/threshold/steepness/scale
        log.warning("%s: ignoring reward key(s) %s that this neonas does not know", where, extra)
    cfg = from_dict(reward.RewardConfig, {k: v for k, v in reward_cfg.items() if k in known}, where)
    if threshold is None:
        return cfg.name, np.array([reward.reward(float(v), cfg) for v in x])
    return cfg.name, np.array([reward.reward(float(v), cfg, threshold) for v in x])


def planted_verdict(found: int, n: int, expected: float, p: float, offset: int,
                    layers: tuple[int, int, float, float] | None = None) -> str:
    """`layers` = (covering layers, all layers, uniform per-layer rate, one-sided binomial p) of the best
    NAS architectures; it decides when whole architectures cover the offset by chance anyway."""
    if n == 0:
        return "Cannot tell: no derived best architecture of a NAS run."
    if math.isnan(expected):
        return (f"{found} of {n} best architectures cover channel offset {offset}; the share expected by chance is "
                "unknown (no search-space config in summary.json), so no verdict.")
    text = (f"{found} of {n} best NAS architectures ({found / n:.0%}) have a conv layer that mixes channels "
            f"{offset} apart (the planted homologous pairs), vs {expected:.0%} expected when sampling the space "
            f"uniformly (one-sided binomial p = {p:.3g}).")
    if p < ALPHA:
        return "Yes: the search found the planted structure more often than chance. " + text
    if layers is not None and not math.isnan(layers[2]) and layers[1]:
        k_l, n_l, q_l, p_l = layers
        text += (f" Layer by layer: {k_l} of {n_l} layers ({k_l / n_l:.0%}) mix channels {offset} apart, vs "
                 f"{q_l:.0%} for a uniformly drawn layer (one-sided binomial p = {p_l:.3g}).")
        if p_l < ALPHA:
            return "Yes, layer by layer: the best architectures use the planted offset more often than chance. " + text
        if expected > 0.8:
            return "No evidence: whole architectures cover the offset by chance anyway, and layer by layer the " \
                   "best architectures use it no more often than uniform sampling. " + text
        return "No evidence that the search found the planted structure. " + text
    if expected > 0.8:
        return ("Cannot tell: most of the space covers that offset anyway, so finding it proves little. " + text)
    return "No evidence that the search found the planted structure. " + text


