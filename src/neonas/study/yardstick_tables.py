"""Tables of the common yardstick (`neonas yardstick`, one CSV per seed x fold) and of the supernet sanity check.

Every arm is scored on the random arm's uniformly trained supernet of the same seed and fold, so arms are
compared on one evaluator instead of each on its own supernet. Per arm and setting:

- `policy_mean`: mean metric of the M samples of the final policy (what the controller learned on average);
- `policy_top10`: mean of the best 10 % of them (at least one; what derive picks from);
- `policy_best`: the best of the M samples on the yardstick: best-of-N chosen on one evaluator for every arm;
- `top_best` / `top_mean`: the derived rank 0 / the mean of the derived top-k. Each NAS arm chose its top-k on
  its own supernet, but the random arm chose its top-k on the reference weights themselves, so on the yardstick
  these two are biased towards random search (winner's curse): compare derived top-k by retraining them.

`yardstick_paired.csv`: seed-level paired differences of each NAS setting minus the random arm (folds are
averaged within a seed first, so n = seeds), mean with a 95 % t-interval. With n < 2 there is no interval
and the `warning` column says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from neonas.errors import NeonasError

YARDSTICK_COLUMNS = ["arm", "setting", "seed", "fold", "source", "rank", "arch_hash", "arch", "metric_name", "metric",
                     "constant"]
QUANTITIES = ("policy_mean", "policy_top10", "policy_best", "top_best", "top_mean")
#: why a quantity needs care when NAS is compared with random search on the yardstick
NOTES = {"top_best": "biased towards random: its top-k was chosen on the yardstick's own weights",
         "top_mean": "biased towards random: its top-k was chosen on the yardstick's own weights"}
REFERENCE = "random"  # the arm whose uniformly trained supernet is the yardstick (its setting: uniform)
CONFIDENCE = 0.95


def _read(files: list[str], what: str, required: list[str]) -> pd.DataFrame:
    frames = []
    for f in files:
        path = Path(f)
        try:
            df = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise NeonasError(f"cannot read the {what} ({err})", path) from None
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise NeonasError(f"not a {what}: missing columns {missing}", path)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=required)


def read_yardstick(files: list[str]) -> pd.DataFrame:
    return _read(files, "yardstick table of `neonas yardstick`", YARDSTICK_COLUMNS)


def read_sanity(files: list[str]) -> pd.DataFrame:
    return _read(files, "sanity table of `neonas yardstick --sanity`", ["seed", "fold", "net", "metric"])


def top_share_mean(values, share: float = 0.10) -> float:
    """Mean of the best `share` of `values` (at least one value)."""
    v = np.sort(np.asarray(values, float))[::-1]
    return float(v[: max(1, math.ceil(share * len(v)))].mean()) if len(v) else math.nan


def per_run(df: pd.DataFrame) -> pd.DataFrame:
    """One row per arm, setting, seed and fold with the four quantities."""
    rows = []
    for (arm, setting, seed, fold), g in df.groupby(["arm", "setting", "seed", "fold"], sort=False):
        pol, top = g[g["source"] == "policy"]["metric"], g[g["source"] == "top"].sort_values("rank")
        rows.append({"arm": arm, "setting": setting, "seed": int(seed), "fold": int(fold),
                     "metric_name": g["metric_name"].iloc[0], "n_policy": len(pol), "n_top": len(top),
                     "policy_mean": float(pol.mean()) if len(pol) else math.nan, "policy_top10": top_share_mean(pol),
                     "policy_best": float(pol.max()) if len(pol) else math.nan,
                     "top_best": float(top["metric"].iloc[0]) if len(top) else math.nan,
                     "top_mean": float(top["metric"].mean()) if len(top) else math.nan,
                     "constant_share": float(g[g["source"] == "policy"]["constant"].mean()) if len(pol) else math.nan})
    return pd.DataFrame(rows, columns=["arm", "setting", "seed", "fold", "metric_name", "n_policy", "n_top",
                                       *QUANTITIES, "constant_share"])


def t_interval(d, confidence: float = CONFIDENCE) -> tuple[int, float, float, float, float, str]:
    """(n, mean, sd, CI low, CI high, warning) of the differences d; t-based (Student, n - 1 df)."""
    from scipy import stats

    d = np.asarray(d, float)
    n = len(d)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan, "no paired seeds"
    mean = float(d.mean())
    if n < 2:
        return n, mean, math.nan, math.nan, math.nan, f"n = {n} < 2 paired seeds: no confidence interval"
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half, ""


def paired(runs: pd.DataFrame) -> pd.DataFrame:
    """Seed-level paired differences of every setting against the random arm, per quantity."""
    seeds = runs.groupby(["arm", "setting", "seed"], sort=False)[list(QUANTITIES)].mean().reset_index()
    ref = seeds[seeds["arm"] == REFERENCE].set_index("seed")
    rows = []
    for (arm, setting), g in seeds.groupby(["arm", "setting"], sort=False):
        if arm == REFERENCE:
            continue
        g = g.set_index("seed")
        common = sorted(set(g.index) & set(ref.index))
        for q in QUANTITIES:
            d = (g.loc[common, q] - ref.loc[common, q]).to_numpy(float)
            n, mean, sd, lo, hi, warning = t_interval(d)
            rows.append({"arm": arm, "setting": setting, "quantity": q, "vs": REFERENCE, "n": n,
                         "mean_diff": mean, "sd": sd, "ci_low": lo, "ci_high": hi, "confidence": CONFIDENCE,
                         "excludes_zero": bool(n >= 2 and (lo > 0 or hi < 0)), "warning": warning,
                         "seeds": " ".join(str(s) for s in common), "note": NOTES.get(q, "")})
    return pd.DataFrame(rows, columns=["arm", "setting", "quantity", "vs", "n", "mean_diff", "sd", "ci_low", "ci_high",
                                       "confidence", "excludes_zero", "warning", "seeds", "note"])


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per arm and setting: the quantities averaged over seeds and folds."""
    rows = []
    for (arm, setting), g in runs.groupby(["arm", "setting"], sort=False):
        rows.append({"arm": arm, "setting": setting, "metric_name": g["metric_name"].iloc[0],
                     "n_seeds": g["seed"].nunique(), "n_folds": g["fold"].nunique(), "n_policy": int(g["n_policy"].max()),
                     **{q: float(g[q].mean()) for q in (*QUANTITIES, "constant_share")}})
    return pd.DataFrame(rows)


def learned_verdict(p: pd.DataFrame, arm: str, setting: str) -> str:
    """Did this arm's controller learn anything, judged on the common yardstick (policy mean vs uniform)?"""
    rows = {r["quantity"]: r for r in p[(p["arm"] == arm) & (p["setting"] == setting)].to_dict("records")}
    r = rows.get("policy_mean")
    if r is None or r["n"] == 0:
        return "Cannot tell: no seed has both this arm and the random arm on the yardstick."

    def ci(q: str) -> str:
        x = rows[q]
        if x["n"] < 2:
            return f"{q} {x['mean_diff']:+.3f} (n = {x['n']}, no CI)"
        return f"{q} {x['mean_diff']:+.3f} [{x['ci_low']:+.3f}, {x['ci_high']:+.3f}]"

    text = ("on the common yardstick (random arm's uniformly trained supernet), vs uniform samples: "
            + "; ".join(ci(q) for q in QUANTITIES if q in rows and q not in NOTES)
            + f" ({int(CONFIDENCE * 100)} % t-CI over {r['n']} seeds; derived top-k: compare the retrained results).")
    if r["n"] < 2:
        return "Cannot tell (fewer than 2 seeds): " + text
    if r["ci_low"] > 0:
        return "Yes: its final policy samples better architectures than uniform sampling, " + text
    if r["ci_high"] < 0:
        return "Yes, but for the worse: its final policy samples worse architectures than uniform sampling, " + text
    return "No evidence: the 95 % CI of its policy's gain over uniform includes 0, " + text


def sanity_verdict(s: pd.DataFrame) -> str:
    """Is the planted cue visible to the search at all: does the pair net beat the best other homogeneous net?"""
    if s.empty or "pair" not in set(s["net"]):
        return "Cannot tell: no pair-mixing homogeneous net was scored (not in the space, or no sanity files)."
    best = s.groupby(["seed", "fold", "net"])["metric"].max().unstack("net")
    others = [c for c in best.columns if c != "pair"]
    if not others:
        return "Cannot tell: no adjacent or single-channel net to compare the pair net with."
    by_seed = (best["pair"] - best[others].max(axis=1)).groupby(level="seed").mean()
    n, mean, _, lo, hi, warning = t_interval(by_seed.to_numpy())
    name = s["metric_name"].iloc[0] if "metric_name" in s else "metric"
    recall = ""
    if "recall_IS" in s:
        r = s.groupby("net")["recall_IS"].mean()
        recall = " Mean IS recall: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()) + "."
    text = (f"best pair net minus best of {'/'.join(others)} on the shared weights: {name} {mean:+.3f}"
            + (f" [{lo:+.3f}, {hi:+.3f}] (95 % t-CI over {n} seeds)." if not warning else f" ({warning}).") + recall)
    if warning:
        return "Cannot tell: " + text
    if lo > 0:
        return "Yes: the shared weights score pair-mixing nets higher, so the cue can reach the reward. " + text
    if hi < 0:
        return ("No: the shared weights score pair-mixing nets lower than the others, so the search cannot be "
                "expected to find the planted cue. " + text)
    return ("No evidence: the shared weights do not score pair-mixing nets measurably higher than the others (the "
            "95 % interval includes 0), so the search cannot be expected to find the planted cue. " + text)


def yardstick_tables(files: list[str], sanity_files: list[str]) -> tuple[dict, dict]:
    """(tables, verdicts) for build_tables: yardstick, yardstick_runs, yardstick_paired, sanity."""
    tables, verdicts = {}, {}
    if files:
        df = read_yardstick(files)
        runs = per_run(df)
        p = paired(runs)
        tables["yardstick"] = summary(runs)
        tables["yardstick_runs"] = runs
        tables["yardstick_paired"] = p
        for arm, setting in runs[["arm", "setting"]].drop_duplicates().itertuples(index=False):
            if arm != REFERENCE:
                verdicts[f"yardstick {arm}/{setting}"] = learned_verdict(p, arm, setting)
    if sanity_files:
        s = read_sanity(sanity_files)
        tables["sanity"] = s
        verdicts["sanity"] = sanity_verdict(s)
    return tables, verdicts
