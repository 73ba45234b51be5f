"""Checks of the controller: does the reward tell children apart, did the policy leave uniform sampling
(neonas.study.checks gathers them with the others; docs/report.md, "Warnings", gives each threshold's reason)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from neonas.errors import NeonasError
from neonas.study.checkrows import _row
from neonas.study.runs import ALPHA, Run, find

ADVANTAGE_SD_MIN = 0.01  # SD over children of reward - baseline, in units of the reward's scale C
REWARD_LOW, REWARD_HIGH = 0.05, 0.95  # mean reward / C below / above: "~0" / "saturated" (wording only)
ENTROPY_RATIO_MAX = 0.95  # final policy entropy / uniform entropy at or above: "did not move"
MC_DRAWS = 10_000  # Monte Carlo draws of the G-test of the final policy's ops against uniform



def _scale(run: Run) -> float:
    try:
        return float((run.summary.get("reward") or {}).get("scale", 1.0) or 1.0)
    except (TypeError, ValueError):
        return 1.0


def reward_signal(runs: list[Run]) -> list[dict]:
    """Per NAS setting: SD over children of reward - baseline (the advantage REINFORCE sees before any
    normalisation), median over runs, against ADVANTAGE_SD_MIN x the reward's scale."""
    rows = []
    for setting in dict.fromkeys(r.setting for r in runs if r.arm == "nas"):
        rs = [r for r in runs if (r.arm, r.setting) == ("nas", setting)]
        sds, means = [], []
        for r in rs:
            if r.signal.get("n_adv", 0) > 1:
                sds.append(r.signal["adv_sd"] / _scale(r))
                means.append(r.signal["mean_reward"] / _scale(r))
        if not sds:
            rows.append(_row("reward_signal", "n/a", "nas", setting, threshold=ADVANTAGE_SD_MIN,
                             message=f"NAS {setting}: children.csv has no reward and baseline to check."))
            continue
        sd, mean = float(np.median(sds)), float(np.median(means))
        level = "~0" if mean < REWARD_LOW else "saturated" if mean > REWARD_HIGH else "flat"
        low = sum(s < ADVANTAGE_SD_MIN for s in sds)
        text = (f"NAS {setting}: SD of reward - baseline over children {sd:.3g} (median of {len(sds)} run(s); "
                f"{low} below {ADVANTAGE_SD_MIN:g}), mean reward {mean:.3g} of its scale")
        if sd < ADVANTAGE_SD_MIN:
            rows.append(_row("reward_signal", "warning", "nas", setting, value=sd, threshold=ADVANTAGE_SD_MIN,
                             tag=f"reward {level}", message=text + f": the reward is {level} for all children, so "
                             "the controller's update carries (almost) no information about which child was better."))
        else:
            rows.append(_row("reward_signal", "ok", "nas", setting, value=sd, threshold=ADVANTAGE_SD_MIN,
                             message=text + "."))
    return rows


def uniform_entropy(space_cfg: dict | None, removed_ops=()) -> float:
    """Entropy (nats) of the uniform policy over the space's decisions without `removed_ops` (labels of the
    ops a montage left out): ln(options) per op choice, ln 2 per possible skip. The controller's entropy in
    epochs.csv is on the same scale. For a run, use run_uniform_entropy (what the search recorded)."""
    from dataclasses import replace

    from neonas.config import from_dict
    from neonas.engine.controller import uniform_entropy as entropy_of
    from neonas.engine.space import SpaceConfig, decisions

    try:
        space = from_dict(SpaceConfig, space_cfg or {}, "summary.json: space")
    except (NeonasError, ValueError, TypeError):
        return math.nan
    gone = set(removed_ops or ())
    offered = [replace(d, size=sum(lab not in gone for lab in d.labels)) if d.kind == "choice" else d
               for d in decisions(space)]
    if any(d.kind == "choice" and d.size < 1 for d in offered):
        return math.nan
    return entropy_of(offered)


def run_uniform_entropy(summary: dict) -> float:
    """The uniform policy's entropy over the decisions a search actually offered: summary.json's
    `uniform_entropy` (written by the search), else (older runs) recomputed from its space config without
    its `removed_ops`, never the full space's (on a reduced montage that is larger, and a stuck controller
    would look as if it had learned)."""
    value = summary.get("uniform_entropy")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return uniform_entropy(find(summary.get("config", {}), "space"), summary.get("removed_ops") or ())


def policy_test(archs: list[dict], space_cfg: dict | None, draws: int = MC_DRAWS,
                removed_ops=(), offered_ops=None) -> tuple[float, float]:
    """(p of ops, p of skips) of sampled architectures against the uniform policy over the offered ops
    (`offered_ops`, summary.json's list, after ops merged per montage; for older runs the space's without
    `removed_ops`): a G-test of the per-layer op counts against equal rates (p by Monte
    Carlo, fixed seed, exact for small counts) and a two-sided binomial test of the skip count against p = 1/2."""
    from scipy import stats

    from neonas.config import from_dict
    from neonas.engine.space import SpaceConfig, op_choices, op_label

    try:
        space = from_dict(SpaceConfig, space_cfg or {}, "summary.json: space")
    except (NeonasError, ValueError, TypeError):
        return math.nan, math.nan
    gone = set(removed_ops or ())
    labels = list(offered_ops) if offered_ops else [op_label(op) for op in op_choices(space) if op_label(op) not in gone]
    index = {lab: k for k, lab in enumerate(labels)}
    counts = np.zeros(len(labels))
    skips = slots = 0
    for arch in archs:
        for i, layer in enumerate(arch["layers"]):
            op = {k: v for k, v in layer.items() if k != "skips"}
            k = index.get(op_label(op))
            if k is None:
                return math.nan, math.nan  # not this space's op: no uniform rate to test against
            counts[k] += 1
            skips += len(layer.get("skips", []))
            slots += i if space.skips else 0
    n = int(counts.sum())
    if n == 0:
        return math.nan, math.nan
    expected = n / len(labels)

    def g(c: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * np.where(c > 0, c * np.log(c / expected), 0.0).sum(axis=-1)

    sims = np.random.default_rng(0).multinomial(n, np.full(len(labels), 1 / len(labels)), size=draws)
    p_ops = float((1 + np.sum(g(sims) >= g(counts) - 1e-9)) / (draws + 1))
    p_skips = float(stats.binomtest(skips, slots, 0.5).pvalue) if slots else math.nan
    return p_ops, p_skips


def policy_moved(runs: list[Run]) -> list[dict]:
    """Per NAS setting: did the typical run's policy leave uniform? The controller's mean entropy in the
    last search epoch over the uniform policy's entropy on the decisions the search offered
    (run_uniform_entropy; >= ENTROPY_RATIO_MAX: did not move); runs
    without an entropy log fall back to testing the final policy's samples (derived.json) against uniform
    (both tests p >= ALPHA/2: no evidence it moved). Warns when half the runs or more did not move."""
    rows = []
    for setting in dict.fromkeys(r.setting for r in runs if r.arm == "nas"):
        rs = [r for r in runs if (r.arm, r.setting) == ("nas", setting)]
        ratios, stuck, judged, notes = [], 0, 0, []
        for r in rs:
            space = find(r.summary.get("config", {}), "space")
            h_max = run_uniform_entropy(r.summary)  # over what the search offered (montage's removed ops out)
            ent = r.epochs.sort_values("epoch")["entropy"].dropna() if "entropy" in r.epochs else pd.Series([])
            if len(ent) and h_max > 0:
                ratio = float(ent.iloc[-1]) / h_max
                ratios.append(ratio)
                judged += 1
                stuck += ratio >= ENTROPY_RATIO_MAX
            elif r.derived is not None:
                p_ops, p_skips = policy_test([item["arch"] for item in r.derived["sampled"]], space,
                                             removed_ops=r.summary.get("removed_ops") or (),
                                             offered_ops=r.summary.get("offered_ops"))
                ps = [p for p in (p_ops, p_skips) if not math.isnan(p)]
                if ps:
                    judged += 1
                    stuck += min(ps) >= ALPHA / 2
                    notes.append(f"seed {r.seed} fold {r.fold}: final-policy samples vs uniform p = {min(ps):.3g}")
        if not judged:
            rows.append(_row("policy_moved", "n/a", "nas", setting, threshold=ENTROPY_RATIO_MAX,
                             message=f"NAS {setting}: no entropy log and no final-policy samples to check."))
            continue
        ratio = float(np.median(ratios)) if ratios else math.nan
        text = f"NAS {setting}: {stuck} of {judged} run(s) ended with a policy at uniform"
        if ratios:
            text += (f" (final entropy {ratio:.1%} of the uniform policy's, median over runs; threshold "
                     f"{ENTROPY_RATIO_MAX:.0%})")
        if notes:
            text += "; " + "; ".join(notes[:3]) + ("; ..." if len(notes) > 3 else "")
        short = f"NAS {setting}: {stuck} of {judged} run(s) at uniform" + (
            f", final entropy {ratio:.0%} of the uniform policy's" if ratios else "")
        if 2 * stuck >= judged:
            rows.append({**_row("policy_moved", "warning", "nas", setting, value=ratio, threshold=ENTROPY_RATIO_MAX,
                                tag=f"policy ≈ uniform in {stuck} of {judged} run(s)", message=text + ": what this arm found is what uniform "
                                "sampling would have found; its results say nothing about the reward."),
                         "short": short})
        else:
            rows.append({**_row("policy_moved", "ok", "nas", setting, value=ratio, threshold=ENTROPY_RATIO_MAX,
                                message=text + "."), "short": short})
    return rows
