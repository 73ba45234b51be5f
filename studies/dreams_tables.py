"""The printing half of studies/dreams_loso.py: each arm's test kappa, the paired differences over the folds' means
with their MDD, the selection's optimism, each arm's compute in child-epochs and the targets of issues 22 and 23,
as markdown (split off so that each file stays under 400 lines; tests/test_dreams_bench.py reads both)."""

from __future__ import annotations

import math

import numpy as np

SEARCH_ARMS = {"nas": ("controller", "supernet"), "random": ("random", "supernet"),
               "evolution": ("evolution", "supernet"), "standalone": ("controller", "standalone")}
ARMS = ("hand", "nas", "nas+rr", "random", "random+rr", "evolution", "standalone", "select")
NAS_ARMS = ("nas", "nas+rr", "evolution", "standalone")  # issue 22's "best NAS arm" is the best of these

PAIRS = (("nas+rr", "random"), ("nas+rr", "hand"), ("nas+rr", "nas"), ("random+rr", "random"), ("nas", "random"),
         ("random", "hand"), ("random+rr", "hand"), ("nas+rr", "random+rr"), ("evolution", "random"),
         ("evolution", "hand"), ("standalone", "random"), ("standalone", "hand"), ("select", "random"),
         ("select", "hand"), ("select", "nas"))
OPTIMISM_PAIRS = (("select", "nas"), ("select", "nas+rr"), ("select", "random"), ("select", "random+rr"))


def ci(res: dict) -> str:
    """A paired test's interval, or – where there is none (one fold)."""
    return f"[{res['ci_low']:+.3f}, {res['ci_high']:+.3f}]" if math.isfinite(res["ci_low"]) else "–"


def present(rows: list[dict], prefix: str = "") -> list[str]:
    """The arms every row has a value (or `prefix`-value) for, in ARMS order."""
    return [a for a in ARMS if rows and all(r.get(prefix + a) is not None for r in rows)]


def paired_line(rows: list[dict], a: str, b: str, value) -> tuple[dict, str]:
    """neonas.study.stats.paired_test of value(row, a) - value(row, b) over the folds' means, as a table row."""
    from neonas.study.stats import paired_test

    res = paired_test(*({(r["seed"], r["fold"]): value(r, x) for r in rows} for x in (a, b)), "kappa")
    d = np.array([value(r, a) - value(r, b) for r in rows])
    return res, (f"| {a} − {b} | {res['mean_diff']:+.3f} | {ci(res)} | {res['mdd']:.3f} | {int((d > 0).sum())} of "
                 f"{len(d)} cells (ties {int((d == 0).sum())}) |")


def table(rows: list[dict], scale: str) -> str:
    from scipy import stats

    have = present(rows)
    lines = [f"DREAMS leave-one-subject-out, {scale} ({len(rows)} runs); Cohen's kappa of rank 0 on the test subject",
             "", "| arm | mean κ | SD | κ ≤ 0 |", "|---|---|---|---|"]
    for arm in have:
        k = np.array([r[arm] for r in rows])
        sd = f"{k.std(ddof=1):.3f}" if len(k) > 1 else "–"
        lines.append(f"| {arm} | {k.mean():.3f} | {sd} | {int((k <= 0).sum())} of {len(k)} |")
    lines += ["", "| paired difference | mean Δκ | 95 % CI | MDD (80 %) | better in |", "|---|---|---|---|---|"]
    kappa = lambda r, x: r[x]  # noqa: E731
    lines += [paired_line(rows, a, b, kappa)[1] for a, b in PAIRS if a in have and b in have]
    folds, seeds = len({r["fold"] for r in rows}), len({r["seed"] for r in rows})
    lines += ["", f"Paired t over fold means (n = {folds} folds × {seeds} seeds: each fold's difference averaged over its "
              "seeds, which share its test subject; neonas.study.stats.paired_test, as aggregate). MDD: the true Δκ "
              "it detects with 80 % power (two-sided α = 0.05, the SD of that pair's fold means; neonas.study.power)."]
    if "select" in have:
        lines.append("(`select`: the mean test κ of the chosen net's selection trainings, one per selection seed.)")
    lines += optimism(rows) + compute(rows) + targets(rows, seeds)
    spear = [(a, f"supernet_{a}", "search score" if "+rr" not in a else "") for a in have]
    spear = [(a, f"rerank_val_{a}", "re-rank validation score") if "+rr" in a else (a, k, w) for a, k, w in spear]
    spear = [(a, k, w) for a, k, w in spear if all(k in r for r in rows)]
    if spear:
        lines += ["", "| rank 0 of | Spearman ρ (score, test κ) | on |", "|---|---|---|"]
    for arm, key, what in spear:
        x, y = [r[key] for r in rows], [r[arm] for r in rows]
        rho = stats.spearmanr(x, y).statistic if len(rows) > 2 else float("nan")
        lines.append(f"| {arm} | {rho:+.2f} | {what} |")
    rr = [a for a in SEARCH_ARMS if all(f"rerank_seconds_{a}" in r and f"hash_{a}+rr" in r and f"hash_{a}" in r
                                       for r in rows)]
    if rr:
        lines += ["", "| re-ranking of | child-epochs | seconds | × its search's seconds | rank 0 unchanged |",
                  "|---|---|---|---|---|"]
    for arm in rr:
        ratios = [r[f"rerank_seconds_{arm}"] / r[f"seconds_search_{arm}"] for r in rows if r[f"seconds_search_{arm}"] > 1]
        lines.append(f"| {arm} | {np.mean([r[f'rerank_child_epochs_{arm}'] for r in rows]):.0f} | "
                     f"{np.mean([r[f'rerank_seconds_{arm}'] for r in rows]):.1f} | "
                     f"{np.mean(ratios) if ratios else float('nan'):.2f} | "
                     f"{sum(r[f'hash_{arm}'] == r[f'hash_{arm}+rr'] for r in rows)} of {len(rows)} |")
    return "\n".join(lines)


def optimism(rows: list[dict]) -> list[str]:
    """Validation − test κ of each arm's chosen net, with a t-interval over fold means: how much the selection
    flattered it (issue 23). Validation κ: the retrained net's at the epoch early stopping kept; for `select`, the
    chosen net's selection score (its mean over the selection seeds) against the mean test κ of the same trainings.
    Then the selection's optimism paired against rank 0's by supernet score and after re-ranking."""
    from neonas.study.yardstick_tables import t_interval

    have = [a for a in present(rows, "val_kappa_") if a in present(rows)]
    lines = ["", "| arm | optimism: validation − test κ of its chosen net | 95 % CI (over fold means) | folds | "
             "test κ |", "|---|---|---|---|---|"]
    for arm in have:
        by_fold: dict = {}
        for r in rows:  # seeds of one fold share its validation and test subjects: the fold is the unit
            by_fold.setdefault(r["fold"], []).append(r[f"val_kappa_{arm}"] - r[arm])
        n, mean, _, lo, hi, _ = t_interval([np.mean(v) for v in by_fold.values()])
        lines.append(f"| {arm} | {mean:+.3f} | " + (f"[{lo:+.3f}, {hi:+.3f}]" if n > 1 else "–") +
                     f" | {n} | {np.mean([r[arm] for r in rows]):.3f} |")
    if not have:
        lines.append("| – | not computed: these runs record no validation κ of the chosen net | – | – | – |")
        return lines
    pairs = [(a, b) for a, b in OPTIMISM_PAIRS if a in have and b in have]
    if pairs:
        lines += ["", "| paired difference in optimism | mean | 95 % CI | MDD (80 %) | larger in |",
                  "|---|---|---|---|---|"]
        opt = lambda r, x: r[f"val_kappa_{x}"] - r[x]  # noqa: E731
        lines += [paired_line(rows, a, b, opt)[1] for a, b in pairs]
    return lines


def cost(r: dict, arm: str) -> float | None:
    """Child-epochs an arm spent to choose its net in one cell (the retraining of the chosen net not counted)."""
    base = arm.removesuffix("+rr")
    if arm == "hand":
        return 0.0
    if arm == "select":
        if "child_epochs_select" not in r:
            return None
        return r["child_epochs_select"] + sum(r.get(f"child_epochs_{a}", 0.0) for a in SEARCH_ARMS)
    if f"child_epochs_{base}" not in r:
        return None
    return r[f"child_epochs_{base}"] + (r.get(f"rerank_child_epochs_{base}", 0.0) if arm.endswith("+rr") else 0.0)


def compute(rows: list[dict]) -> list[str]:
    """Each arm's compute in child-epochs (one epoch of one child over the training subjects; a supernet's shared
    pass counts 1): search (summary.json), + re-ranking, + for `select` every search's and its trainings."""
    have = [a for a in present(rows) if all(cost(r, a) is not None for r in rows)]
    if not have:
        return []
    lines = ["", "| arm | child-epochs per fold × seed (mean) | min | max |", "|---|---|---|---|"]
    for arm in have:
        c = [cost(r, arm) for r in rows]
        lines.append(f"| {arm} | {np.mean(c):.0f} | {min(c):.0f} | {max(c):.0f} |")
    return lines + ["(`hand`: none beyond its one training; `select`: every search it draws on plus its selection "
                    "trainings, each counted with the epochs early stopping ran; no arm counts its final retraining.)"]


def targets(rows: list[dict], seeds: int) -> list[str]:
    """Issue 22's DREAMS target (best NAS arm >= random search and >= hand-designed + 0.10 kappa) and issue 23's
    (the selection's optimism below that of rank 0 by supernet score and after re-ranking), as measured."""
    have, lines = present(rows), []
    nas = [a for a in NAS_ARMS if a in have]
    if nas and "random" in have and "hand" in have:
        best = max(nas, key=lambda a: np.mean([r[a] for r in rows]))
        kappa = lambda r, x: r[x]  # noqa: E731
        vs_r, _ = paired_line(rows, best, "random", kappa)
        vs_h, _ = paired_line(rows, best, "hand", kappa)
        met = vs_r["mean_diff"] >= 0 and vs_h["mean_diff"] >= 0.10
        lines += ["", f"Issue 22 (DREAMS: best NAS arm ≥ random search and ≥ hand-designed + 0.10 κ, mean over 5 "
                  f"seeds; here {seeds} seed(s)): best NAS arm `{best}` κ {np.mean([r[best] for r in rows]):.3f}; − "
                  f"random {vs_r['mean_diff']:+.3f} {ci(vs_r)} (MDD "
                  f"{vs_r['mdd']:.3f}); − hand-designed {vs_h['mean_diff']:+.3f} {ci(vs_h)}: "
                  f"{'met' if met else 'NOT met'} by the means (best chosen after the fact, "
                  "so its lead is optimistic)."]
    opt = [a for a in present(rows, "val_kappa_") if a in have]
    if "select" in opt:
        res = [(b, paired_line(rows, "select", b, lambda r, x: r[f"val_kappa_{x}"] - r[x])[0])
               for b in ("nas", "nas+rr", "random", "random+rr") if b in opt]
        parts = [f"− {b} {x['mean_diff']:+.3f} {ci(x)} (MDD {x['mdd']:.3f})" for b, x in res]
        below = [b for b, x in res if x["ci_high"] < 0]
        lines += ["", "Issue 23 (the selection's optimism smaller than rank 0's by supernet score or after re-ranking):"
                  f" select's optimism {'; '.join(parts) or '(no arm to compare)'}: "
                  + (f"smaller, CI below 0, against {', '.join(below)}" if below else "not shown smaller (no CI below 0)")
                  + "."]
    return lines
