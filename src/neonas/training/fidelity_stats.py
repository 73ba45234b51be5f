"""The fidelity check's statistics and verdict: Kendall tau, the reference's split-half agreement, a bootstrap
interval, per-op gains; split from fidelity.py, which runs the check (its docstring gives the method)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from neonas.engine.space import op_label

REFERENCE_P = 0.05  # the reference must rank its own panel: split-half tau > 0 at this one-sided level


def kendall(a, b) -> float:
    """Kendall's tau-b; 0 when either side is constant (no ranking at all)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    tau = stats.kendalltau(a, b).statistic
    return 0.0 if math.isnan(tau) else float(tau)


def split_half(scores: np.ndarray) -> tuple[float, float]:
    """Kendall tau between the mean over the even and over the odd stand-alone seeds (columns), and its one-sided
    p-value (Kendall's test): does the reference rank its own panel better than chance?"""
    a, b = scores[:, 0::2].mean(axis=1), scores[:, 1::2].mean(axis=1)
    tau = kendall(a, b)
    if tau <= 0:
        return tau, 1.0
    return tau, float(stats.kendalltau(a, b).pvalue) / 2


def bootstrap_tau(reference: np.ndarray, supernet: np.ndarray, n: int, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean tau over supernet seeds (columns), resampling panel nets."""
    rng = np.random.default_rng(seed)
    taus = []
    for _ in range(n):
        idx = rng.integers(0, len(reference), len(reference))
        taus.append(np.mean([kendall(reference[idx], supernet[idx, s]) for s in range(supernet.shape[1])]))
    lo, hi = np.percentile(taus, [2.5, 97.5])
    return float(lo), float(hi)


def op_gains(panel: list[dict], scores: np.ndarray, labels: list[str]) -> list[dict]:
    """Per layer and op: mean score of the panel nets with that op there minus the others' (scores: nets x
    replicates; one gain per replicate, then mean and 95 % t-interval over replicates)."""
    rows = []
    for i in range(len(panel[0]["layers"])):
        ops = np.array([op_label(a["layers"][i]) for a in panel])
        for label in labels:
            has = ops == label
            if not has.any() or has.all():
                continue
            per_rep = scores[has].mean(axis=0) - scores[~has].mean(axis=0)
            mean = float(per_rep.mean())
            if len(per_rep) > 1 and per_rep.std(ddof=1) > 0:
                half = float(stats.t.ppf(0.975, len(per_rep) - 1) * per_rep.std(ddof=1) / math.sqrt(len(per_rep)))
            else:
                half = math.nan
            rows.append({"layer": i, "op": label, "n_nets": int(has.sum()), "gain": mean,
                         "ci_low": mean - half, "ci_high": mean + half})
    return rows


def recall(y: np.ndarray, pred: np.ndarray, label_names: list[str]) -> dict[str, float]:
    return {name: float((pred[y == k] == k).mean()) if (y == k).any() else math.nan
            for k, name in enumerate(label_names)}


def check(reference: np.ndarray, supernet: np.ndarray, fid) -> dict:
    """tau per supernet seed, its mean with a bootstrap CI, the reference's split-half agreement and the verdict."""
    mean_ref = reference.mean(axis=1)
    taus = [kendall(mean_ref, supernet[:, s]) for s in range(supernet.shape[1])]
    agreement, p = split_half(reference)
    lo, hi = bootstrap_tau(mean_ref, supernet, fid.bootstrap)
    need = fid.ratio * agreement
    reference_ranks = bool(agreement > 0 and p < REFERENCE_P)
    passed = bool(reference_ranks and np.mean(taus) >= need and min(taus) > 0)
    return {"tau": float(np.mean(taus)), "tau_ci": [lo, hi], "tau_per_seed": taus, "split_half": agreement,
            "split_half_p": p, "reference_ranks": reference_ranks, "needed": need, "passed": passed}


def verdict_text(result: dict, space_note: str) -> str:
    c = result["final"]
    seeds = ", ".join(f"{t:+.2f}" for t in c["tau_per_seed"])
    if not c["reference_ranks"]:
        return (f"Cannot tell: the stand-alone reference does not rank its own panel better than chance (split-half "
                f"tau {c['split_half']:+.2f}, one-sided p = {c['split_half_p']:.2f}), so there is no ranking for the "
                f"shared weights to match; give the check more stand-alone seeds or epochs ({space_note}; shared "
                f"weights: tau {c['tau']:+.2f}).")
    numbers = (f"Kendall tau {c['tau']:+.2f} [{c['tau_ci'][0]:+.2f}, {c['tau_ci'][1]:+.2f}] (per seed {seeds}) vs "
               f"{result['config']['ratio']:g} x the reference's split-half agreement {c['split_half']:+.2f} = "
               f"{c['needed']:+.2f}")
    if c["passed"]:
        warm = result.get("warmup_epochs")
        return (f"Yes: the shared weights rank architectures as stand-alone training does: {numbers}; every seed "
                f"positive; passed first after {warm} uniform epochs ({space_note}).")
    return (f"No: the shared weights do not rank architectures as stand-alone training does: {numbers}. A NAS arm "
            f"cannot be told from random search on this space and cohort; its reward has nothing to learn from "
            f"({space_note}).")
