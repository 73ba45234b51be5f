"""Does the supernet's ranking survive retraining? Kendall's tau of supernet score vs the score retrained
from scratch, computed within each run over its distinct architectures, then combined over runs.

Pooling the pairs of every run into one tau counts one architecture several times (the same arch at
two ranks, or three arms that derived the same two archs) and mixes runs whose validation infants differ,
so a pooled p-value overstates the evidence. Here a run's evidence is its distinct architectures (by
hash, scores averaged); runs of the same seed and fold that derived the same set of architectures (arms
that ended with one policy) count once; a run is informative when it has two or more distinct
architectures and neither ranking is constant. The runs' taus are combined as their mean with a 95 %
t-interval and a two-sided sign test; with fewer than MIN_RUNS informative runs the answer is "cannot
tell". The fidelity check (`neonas fidelity`, a wider panel with stand-alone references) leads: the answer
says whether it agrees with it, and why not. docs/report.md, "Can the supernet be trusted?".
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from neonas.study.archstats import arch_hash
from neonas.study.checkrows import name
from neonas.study.runs import ALPHA, METRICS
from neonas.study.stats import kendall

MIN_RUNS = 2  # informative runs: one run's tau has no spread over runs and no sign test
COLUMNS = ["scope", "arm", "setting", "seed", "fold", "metric", "n", "tau", "p", "n_runs", "n_informative",
           "positive", "negative", "tau_low", "tau_high", "same_as", "note"]


def distinct(g: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The distinct architectures of a run's retrained top-k (by hash): mean supernet and retrained score."""
    g = g[g["supernet_metric"].notna() & g[metric].notna()]
    hashes = [h or (arch_hash(json.loads(a)) if a else f"rank{k}")
              for h, a, k in zip(g["arch_hash"], g["arch"], g["rank"], strict=True)]
    return g.assign(_h=hashes).groupby("_h", sort=True).agg(supernet=("supernet_metric", "mean"),
                                                           retrained=(metric, "mean"))


def units(searched: pd.DataFrame, metric: str, merge: bool) -> list[dict]:
    """One unit per run: its distinct architectures and their tau. With `merge`, runs of the same seed and
    fold whose distinct architectures are the same set count once (their scores averaged, members named)."""
    out: dict[tuple, dict] = {}
    for (arm, setting, seed, fold), g in searched.groupby(["arm", "setting", "seed", "fold"], sort=False):
        d = distinct(g, metric)
        key = (seed, fold, tuple(d.index)) if merge else (arm, setting, seed, fold)
        unit = out.setdefault(key, {"arm": arm, "setting": setting, "seed": seed, "fold": fold, "members": [],
                                    "frames": []})
        unit["members"].append((arm, setting))
        unit["frames"].append(d)
    for unit in out.values():
        d = pd.concat(unit.pop("frames")).groupby(level=0).mean()
        unit.update(kendall(d["supernet"], d["retrained"]))
        unit["informative"] = not math.isnan(unit["tau"])
    return list(out.values())


def combine(us: list[dict]) -> dict:
    """Mean within-run tau of the informative runs, its 95 % t-interval, and a two-sided sign test over runs."""
    from scipy import stats

    taus = np.array([u["tau"] for u in us if u["informative"]], float)
    m = len(taus)
    pos, neg = int((taus > 0).sum()), int((taus < 0).sum())
    out = {"n_runs": len(us), "n_informative": m, "n": m, "positive": pos, "negative": neg,
           "n_archs": int(sum(u["n"] for u in us)), "tau": float(taus.mean()) if m else math.nan,
           "tau_low": math.nan, "tau_high": math.nan, "p": math.nan}
    if m >= MIN_RUNS:
        sd = float(taus.std(ddof=1))
        half = float(stats.t.ppf(0.975, m - 1)) * sd / math.sqrt(m)
        out["tau_low"], out["tau_high"] = out["tau"] - half, out["tau"] + half
        out["p"] = float(stats.binomtest(pos, pos + neg, 0.5).pvalue) if pos + neg else 1.0
    return out


def merged_note(us: list[dict]) -> str:
    """One clause per group of arms whose runs were merged: 'NAS a and NAS b derived the same architectures in ...'."""
    groups: dict[tuple, int] = {}
    for u in us:
        if len(u["members"]) > 1:
            groups[tuple(u["members"])] = groups.get(tuple(u["members"]), 0) + 1
    parts = []
    for members, k in groups.items():
        names = [name(*m) for m in members]
        parts.append(f"{', '.join(names[:-1])} and {names[-1]} derived the same architectures in {k} seed x fold "
                     "cell(s), counted as one run each time")
    return "; ".join(parts)


def trust_table(searched: pd.DataFrame, metric: str, nas_arm: str = "nas") -> tuple[pd.DataFrame, dict, str]:
    """kendall.csv (per run, per setting, all NAS runs), the combined evidence of all NAS runs, and the note on
    runs merged because arms derived the same architectures."""
    rows = []
    for (arm, setting), g in searched.groupby(["arm", "setting"], sort=False):
        us = units(g, metric, merge=False)
        for u in us:
            rows.append({"scope": "run", "arm": arm, "setting": setting, "seed": u["seed"], "fold": u["fold"],
                         "metric": metric, "n": u["n"], "tau": u["tau"], "p": u["p"], "note": u["note"]})
        rows.append({"scope": "setting", "arm": arm, "setting": setting, "seed": "all", "fold": "all",
                     "metric": metric, **_summary_row(combine(us))})
    nas = units(searched[searched["arm"] == nas_arm], metric, merge=True)
    every = combine(nas)
    note = merged_note(nas)
    rows.append({"scope": "all", "arm": nas_arm, "setting": "all", "seed": "all", "fold": "all", "metric": metric,
                 **_summary_row(every), "same_as": note})
    return pd.DataFrame(rows, columns=COLUMNS), every, note


def _summary_row(c: dict) -> dict:
    note = "" if c["n_informative"] >= MIN_RUNS else \
        f"n/a: {c['n_informative']} informative run(s), need {MIN_RUNS}"
    return {k: c[k] for k in ("n", "tau", "p", "n_runs", "n_informative", "positive", "negative", "tau_low",
                              "tau_high")} | {"note": note}


def retrained_metric(runs_metric: list[str], columns) -> str:
    """The retrained score to rank against: the searches' reward metric (what the supernet score is) when the
    metrics have it, else accuracy."""
    names = [m for m in dict.fromkeys(runs_metric) if m in METRICS and m in columns]
    return names[0] if len(names) == 1 else "accuracy"


# ----------------------------------------------------------------------------- verdicts


def ran_estimator(doc: dict) -> tuple[str, bool | None]:
    """(the estimator a fold's searches ran, did its check pass): the study's estimator, or auto's choice (the
    cheapest when none passed); None where the check did not check it."""
    asked, checked = doc.get("checked_for", "supernet"), doc.get("estimators") or {}
    name = (doc.get("choice") or next(iter(checked), "supernet")) if asked == "auto" else asked
    default = doc.get("passed") if name == "supernet" else None
    return name, checked.get(name, {}).get("passed", default)


def fidelity_summary(docs: list[dict]) -> dict:
    """The fidelity check over folds (fidelity.json of each): how many folds rank, do not, or cannot tell (of the
    estimator the searches ran: ran_estimator)."""
    passed = sorted(int(d.get("fold", -1)) for d in docs if ran_estimator(d)[1])
    unknown = sorted(int(d.get("fold", -1)) for d in docs
                     if not d.get("passed") and not (d.get("final") or {}).get("reference_ranks", True))
    failed = sorted(f for f in (int(d.get("fold", -1)) for d in docs) if f not in passed and f not in unknown)
    return {"n": len(docs), "passed": passed, "unknown": unknown, "failed": failed,
            "estimators": sorted({ran_estimator(d)[0] for d in docs})}


def fidelity_verdict(f: dict) -> str:
    """One line: do the shared weights (the search's estimator) rank architectures, in how many folds."""
    n, k = f["n"], len(f["passed"])
    why = []
    if f["failed"]:
        why.append(f"{len(f['failed'])} do not rank")
    if f["unknown"]:
        why.append(f"{len(f['unknown'])} cannot tell: the stand-alone reference does not rank its own panel")
    detail = "".join(f"; {w}" for w in why)
    if f.get("estimators") == ["standalone"]:  # the same verdicts, of the estimator the searches ran
        text = fidelity_verdict({**f, "estimators": []}).replace("the shared weights rank", "the stand-alone estimator ranks")
        return text.replace("the shared weights were", "the stand-alone estimator was").replace(
            "the shared weights", "the stand-alone estimator").replace(
            "as stand-alone training does", "as the full stand-alone reference does").replace(
            "learned from them", "learned from its scores")
    if n == 0:
        return "not checked (no fidelity check in this study)"
    if n and len(f["unknown"]) == n:  # measured by the check itself: its stand-alone reference, never planted.json
        return (f"Cannot tell, and nothing to find: trained alone, the architectures of the check's panel did not "
                f"differ (the stand-alone reference does not rank its own panel in any of {n} fold(s)); no search arm "
                "can beat another where the architectures do not matter.")
    if k == n:
        return f"Yes: the shared weights rank architectures as stand-alone training does in {k} of {n} fold(s)."
    if k == 0:
        return (f"No: the shared weights were not shown to rank architectures in any fold (0 of {n}{detail}); "
                "no NAS conclusion can rest on what the controller learned from them.")
    return (f"Partly: the shared weights rank architectures in {k} of {n} folds (folds "
            f"{', '.join(map(str, f['passed']))}{detail}); NAS conclusions hold for those folds only.")


def trust_verdict(c: dict, metric: str, note: str = "", fidelity: dict | None = None) -> str:
    """Plain answer from the combined within-run taus, said beside the fidelity check when there is one."""
    m, pos, neg = c["n_informative"], c["positive"], c["negative"]
    counts = (f"{c['n_runs']} NAS run(s) after merging identical ones, {m} informative (2 or more distinct "
              f"retrained architectures with distinct scores), {c['n_archs']} distinct architecture(s) in all")
    if m < MIN_RUNS:
        one = f"; its tau = {c['tau']:+.2f}" if m == 1 else ""
        text = (f"Cannot tell: {counts}{one}; within-run agreement needs at least {MIN_RUNS} informative runs "
                "(retrain more of each run's top-k, derive.top_k, or search more seeds or folds).")
        lead = "cannot"
    else:
        strength = "weakly" if abs(c["tau"]) < 0.3 else "moderately" if abs(c["tau"]) < 0.5 else "strongly"
        stats_text = (f"mean within-run Kendall tau = {c['tau']:+.2f} [{c['tau_low']:+.2f}, {c['tau_high']:+.2f}], "
                      f"{pos} run(s) positive and {neg} negative, sign test p = {c['p']:.3g}; {counts}; on {metric}")
        if c["p"] < ALPHA and c["tau"] > 0 and c["tau_low"] > 0:
            lead, text = "yes", (f"Yes, {strength}: within a run, the architectures the supernet ranks higher also "
                                 f"score higher retrained from scratch ({stats_text}).")
        elif c["p"] < ALPHA and c["tau"] < 0 and c["tau_high"] < 0:
            lead, text = "no", (f"No: within a run, the supernet's ranking is {strength} reversed after retraining "
                                f"({stats_text}); the weight-sharing scores mislead the search.")
        else:
            why = "runs disagree on the sign" if pos and neg else \
                f"with {m} runs a sign test cannot go below p = {2 / 2 ** m:.3g}" if 2 / 2 ** m >= ALPHA else \
                "the interval includes 0"
            lead, text = "no", (f"No evidence that it does: {why} ({stats_text}); treat the order among a run's "
                                "top-k as noise.")
    if note:
        text += f" {note[0].upper()}{note[1:]}."
    if fidelity is None or not fidelity["n"]:
        return text
    n, k = fidelity["n"], len(fidelity["passed"])
    check = f"the fidelity check ({k} of {n} fold(s) rank)"
    if lead == "yes" and k < n:
        return (text + f" This does not overturn {check}: a run's top-k are a few architectures the search already "
                "preferred, the check's panel spans the space with stand-alone references; read the fidelity verdict "
                "as the answer.")
    if lead == "yes" or (lead == "no" and k == 0):
        return text + f" This agrees with {check}."
    if lead == "no":
        return (text + f" The fidelity check differs ({k} of {n} fold(s) rank): its panel spans the space, while a "
                "run's top-k are close in score and harder to order; its verdict leads.")
    return text + f" The fidelity verdict answers instead: {k} of {n} fold(s) rank."
