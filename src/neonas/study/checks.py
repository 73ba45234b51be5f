"""When there is nothing to conclude: checks of a study that can fail, and the plain-language answers to
its questions (does NAS beat its baselines, does the reward setting matter, did the controller learn).

Every threshold below was fixed before any study was looked at; docs/report.md ("Warnings") gives the
reason for each. A check writes one row per arm (or pair of arms) with status `warning`, `ok` or `n/a`,
the measured value beside its threshold, a short `tag` for tables and a sentence for the summary.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd

from neonas.errors import NeonasError
from neonas.study.archstats import arch_hash
from neonas.study.runs import ALPHA, Run, find

log = logging.getLogger(__name__)

MIN_REPLICATES = 2  # seeds and folds: one of either leaves no spread to estimate and nothing to pair
PRIMARY = "kappa"  # the metric the comparison verdicts use (chance-corrected, robust to stage shares)
ADVANTAGE_SD_MIN = 0.01  # SD over children of reward - baseline, in units of the reward's scale C
REWARD_LOW, REWARD_HIGH = 0.05, 0.95  # mean reward / C below / above: "~0" / "saturated" (wording only)
ENTROPY_RATIO_MAX = 0.95  # final policy entropy / uniform entropy at or above: "did not move"
YARDSTICK_QUANTITY = "policy_mean"  # of yardstick_paired: the per-arm yardstick verdict's quantity
MC_DRAWS = 10_000  # Monte Carlo draws of the G-test of the final policy's ops against uniform
DEFAULT_SETTING = {"random": "uniform", "evolution": "evolution", "handcrafted": "reference"}  # the one setting of these arms
COLUMNS = ["check", "status", "arm", "setting", "other", "value", "threshold", "tag", "message"]
TITLES = {  # what each check asks for; status `warning` = it failed
    "replicates": "At least 2 seeds and 2 folds",
    "indistinguishable": "Arms differ",
    "reward_signal": "Reward tells children apart",
    "policy_moved": "Policy left uniform sampling",
    "constant_top": "No constant networks among the best",
    "identical_policies": "Final policies differ between arms",
}


def name(arm: str, setting: str) -> str:
    return {"random": "random search", "evolution": "evolution", "handcrafted": "hand-designed"}.get(arm, f"NAS {setting}")


def _row(check: str, status: str, arm: str = "", setting: str = "", other: str = "", value: float = math.nan,
         threshold: float = math.nan, tag: str = "", message: str = "") -> dict:
    return {"check": check, "status": status, "arm": arm, "setting": setting, "other": other, "value": value,
            "threshold": threshold, "tag": tag if status == "warning" else "", "message": message}


# ----------------------------------------------------------------------------- replicates


def replicates(runs: list[Run], summary: pd.DataFrame, order: list) -> list[dict]:
    """n = 1 seed or fold per arm: from the retrained results when there are any, else from the searches."""
    rows = []
    for arm, setting in order:
        g = summary[(summary["arm"] == arm) & (summary["setting"] == setting)] if len(summary) else summary
        if len(g):
            seeds, folds, what = int(g["n_seeds"].iloc[0]), int(g["n_folds"].iloc[0]), "retrained"
        else:
            rs = [r for r in runs if (r.arm, r.setting) == (arm, setting)]
            seeds, folds, what = len({r.seed for r in rs}), len({r.fold for r in rs}), "searched"
        low = [f"{n} {w}" for n, w in ((seeds, "seed"), (folds, "fold")) if n < MIN_REPLICATES]
        text = f"{name(arm, setting)}: {seeds} seed(s) x {folds} fold(s) {what}"
        if low:
            rows.append(_row("replicates", "warning", arm, setting, value=min(seeds, folds), threshold=MIN_REPLICATES,
                             tag="n = " + ", ".join(low),
                             message=text + ": no spread can be estimated" + (
                                 " and no paired test is possible; a difference to another arm is one draw"
                                 if folds < MIN_REPLICATES else " over seeds (search luck is not averaged out)")
                             + "."))
        else:
            rows.append(_row("replicates", "ok", arm, setting, value=min(seeds, folds), threshold=MIN_REPLICATES,
                             message=text + "."))
    return rows


# ----------------------------------------------------------------------------- comparisons


def _pair_rows(tests: pd.DataFrame) -> list[dict]:
    """Rows of paired_tests (Wilcoxon over folds, retrained from scratch) for the PRIMARY metric."""
    rows = []
    for t in tests[tests["metric"] == PRIMARY].to_dict("records"):
        a, b = name(t["a_arm"], str(t["a_setting"])), name(t["b_arm"], str(t["b_setting"]))
        n, p, d = int(t["n"]), float(t["p"]), float(t["mean_diff"])
        stat = f"Δ{PRIMARY} = {d:+.3f}, p = {p:.3g}, n = {n} folds" if not math.isnan(p) else \
            f"Δ{PRIMARY} = {d:+.3f} from {n} paired fold(s)" if not math.isnan(d) else "no paired folds"
        differ = not math.isnan(p) and p < ALPHA
        why = "differ" if differ else ("cannot be told apart (too few paired folds for a test)" if math.isnan(p)
                                       else f"are not shown to differ (p >= {ALPHA:g})")
        rows.append({**_row("indistinguishable", "ok" if differ else "warning", t["a_arm"], str(t["a_setting"]),
                            f"{t['b_arm']}/{t['b_setting']}", p, ALPHA, tag=f"not shown to differ from: {b}",
                            message=f"{a} and {b} {why} in {PRIMARY} retrained from scratch ({stat})."),
                     "testable": not math.isnan(p), "diff": d,
                     "short": f"{a} vs {b}: Δ{PRIMARY} {d:+.3f} " + (f"(p = {p:.2g}, {n} folds)" if not math.isnan(p)
                                                                     else f"({n} fold, no test)")})
    return rows


def _yardstick_rows(y: pd.DataFrame) -> list[dict]:
    """Rows of yardstick_paired (seed-level t-interval of NAS minus random on the reference supernet), for
    the mean of the final policy's samples (`policy_mean`, what the per-arm yardstick verdict uses)."""
    rows = []
    for t in y[y["quantity"] == YARDSTICK_QUANTITY].to_dict("records"):
        b_arm, _, b_setting = str(t["vs"]).partition("/")  # "random" or "random/uniform"
        b_setting = b_setting or DEFAULT_SETTING.get(b_arm, "")
        a = name(t["arm"], str(t["setting"]))
        n, d = int(t["n"]), float(t["mean_diff"])
        differ = bool(t["excludes_zero"]) and n >= MIN_REPLICATES
        if n < MIN_REPLICATES:
            why, stat = "cannot be told apart", f"Δ = {d:+.3f} from {n} seed(s), no interval"
        else:
            why = "differ" if differ else "are not shown to differ (the 95 % interval includes 0)"
            stat = f"Δ = {d:+.3f} [{float(t['ci_low']):+.3f}, {float(t['ci_high']):+.3f}], n = {n} seeds"
        rows.append({**_row("indistinguishable", "ok" if differ else "warning", t["arm"], str(t["setting"]),
                            f"{b_arm}/{b_setting}", d, 0.0, tag=f"not shown to differ from: {name(b_arm, b_setting)}",
                            message=f"{a} and {name(b_arm, b_setting)} {why} on the common yardstick "
                            f"(mean of the final policy's samples on the reference supernet; {stat})."),
                     "testable": n >= MIN_REPLICATES, "diff": d, "short": f"{a} vs {name(b_arm, b_setting)} on the common "
                     f"yardstick: {stat}"})
    return rows


def indistinguishable(paired: pd.DataFrame, yardstick_paired: pd.DataFrame | None) -> list[dict]:
    """Pairs of arms not shown to differ: NAS vs random on the common yardstick when `neonas aggregate` had
    it, every other pair (and NAS vs random without it) on PRIMARY retrained from scratch (Wilcoxon, folds)."""
    rows = []
    on_yardstick = set()
    need = {"arm", "setting", "quantity", "vs", "n", "mean_diff", "ci_low", "ci_high", "excludes_zero"}
    if yardstick_paired is not None and len(yardstick_paired):
        if need <= set(yardstick_paired.columns):
            rows = _yardstick_rows(yardstick_paired)
            on_yardstick = {(r["arm"], r["setting"], r["other"]) for r in rows}
        else:
            log.warning("yardstick_paired lacks columns %s: NAS vs random compared on retrained results",
                        sorted(need - set(yardstick_paired.columns)))
    if len(paired):
        rows += [r for r in _pair_rows(paired) if (r["arm"], r["setting"], r["other"]) not in on_yardstick]
    return rows


# ----------------------------------------------------------------------------- the controller


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


def identical_policies(runs: list[Run]) -> list[dict]:
    """Pairs of searched arms whose final-policy samples (derived.json) are the same architectures in
    the same seed and fold: the two arms ended with one policy (typically: neither learned)."""
    by_cell: dict[tuple, dict] = {}
    for r in runs:
        if r.derived is not None:
            hashes = sorted(arch_hash(item["arch"]) for item in r.derived["sampled"])
            by_cell.setdefault((r.seed, r.fold), {})[(r.arm, r.setting)] = hashes
    pairs: dict[tuple, list[int]] = {}
    for cell in by_cell.values():
        keys = list(cell)
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                same = pairs.setdefault((a, b), [0, 0])
                same[0] += cell[a] == cell[b]
                same[1] += 1
    rows = []
    for (a, b), (k, n) in pairs.items():
        text = f"{name(*a)} and {name(*b)}: {k} of {n} seed x fold cell(s) with identical final-policy samples"
        status = "warning" if k else "ok"
        rows.append(_row("identical_policies", status, a[0], a[1], f"{b[0]}/{b[1]}", k, 0, tag=f"same final policy as: {name(*b)}",
                         message=text + (": the two arms ended with the same policy, so a difference in their "
                                         "results cannot come from what they are meant to compare." if k else ".")))
    return rows


def _one_class(confusion: str) -> bool:
    cm = np.asarray(json.loads(confusion), float)
    return cm.ndim == 2 and cm.sum() > 0 and int((cm.sum(axis=0) > 0).sum()) <= 1


def constant_top(runs: list[Run], metrics: pd.DataFrame, yardstick: pd.DataFrame | None, order: list) -> list[dict]:
    """Top-k architectures that predict one stage for everything: retrained models whose confusion matrix
    has a single predicted column, top-k on the common yardstick with constant = 1, and derived top-k flagged
    constant by derive or constant every time they were scored as a child (children.csv `constant`)."""
    rows = []
    for arm, setting in order:
        found, total, where = 0, 0, []
        m = metrics[(metrics["arm"] == arm) & (metrics["setting"] == setting) & (metrics["confusion"] != "")]
        if len(m):
            k = sum(_one_class(c) for c in m["confusion"])
            found, total = found + k, total + len(m)
            where.append(f"{k} of {len(m)} retrained model(s) predict one stage for every held-out epoch")
        if yardstick is not None and len(yardstick) and {"source", "constant"} <= set(yardstick.columns):
            y = yardstick[(yardstick["arm"] == arm) & (yardstick["setting"].astype(str) == setting)
                          & (yardstick["source"] == "top")]
            if len(y):
                k = int((y["constant"] == 1).sum())
                found, total = found + k, total + len(y)
                where.append(f"{k} of {len(y)} top-k on the common yardstick")
        top_const, top_n = 0, 0
        for r in runs:
            const = r.signal.get("constant_hashes")
            if (r.arm, r.setting) != (arm, setting) or r.derived is None:
                continue
            for item in r.derived["top"]:
                if "constant" in item or const is not None:  # derive flags it (newer runs), else children.csv
                    top_n += 1
                    top_const += bool(item.get("constant")) or (const is not None and arch_hash(item["arch"]) in const)
        if top_n:
            found, total = found + top_const, total + top_n
            where.append(f"{top_const} of {top_n} derived top-k constant (derive's flag, or every time scored as a "
                         "child)")
        if not total:
            continue
        text = f"{name(arm, setting)}: " + "; ".join(where)
        if found:
            rows.append(_row("constant_top", "warning", arm, setting, value=found, threshold=0,
                             tag=f"{found} of {total} best nets constant",
                             message=text + ": a network that outputs one stage has learned nothing about sleep; "
                             "its accuracy is the share of that stage."))
        else:
            rows.append(_row("constant_top", "ok", arm, setting, value=0, threshold=0, message=text + "."))
    return rows


# ----------------------------------------------------------------------------- verdicts


def _answer(rows: list[dict], what: str, directional: bool) -> str:
    """One answer from comparison rows (check 'indistinguishable': ok = a significant difference). With
    `directional`, the first arm of each pair is the one asked about ("does NAS beat ...")."""
    if not rows:
        return f"Cannot tell: no {what} on common folds."
    detail = "; ".join(r["short"] for r in rows) + "."
    if not any(r["testable"] for r in rows):
        return "Cannot tell (too few seeds or folds for a test): " + detail
    sig = [r for r in rows if r["status"] == "ok"]
    if not sig:
        return f"No evidence of a difference (p >= {ALPHA:g} or a 95 % interval that includes 0): " + detail
    if not directional:
        lead = "Yes, every pair differs" if len(sig) == len(rows) else f"Partly ({len(sig)} of {len(rows)} pairs differ)"
        return f"{lead}: " + detail
    better = [r for r in sig if r["diff"] > 0]
    worse = [r for r in sig if r["diff"] < 0]
    if len(better) == len(rows):
        return "Yes, in every comparison: " + detail
    if worse and not better:
        return f"No: worse where it differs ({len(worse)} of {len(rows)} comparisons): " + detail
    return (f"Partly ({len(better)} of {len(rows)} comparisons significantly better, {len(worse)} significantly "
            "worse): " + detail)


def verdicts(checks: list[dict]) -> dict:
    """Answers to the study's questions about the arms, from the check rows (the yardstick's own per-arm
    verdicts stay beside them in verdicts.json)."""
    pairs = [r for r in checks if r["check"] == "indistinguishable"]
    vs_base = [r for r in pairs if r["arm"] == "nas" and not r["other"].startswith("nas/")]
    vs_nas = [r for r in pairs if r["arm"] == "nas" and r["other"].startswith("nas/")]
    out = {"comparison": _answer(vs_base, "NAS and baseline arms with results", directional=True),
           "reward": _answer(vs_nas, "two NAS reward settings with results", directional=False)}
    moved = [r for r in checks if r["check"] == "policy_moved" and r["status"] != "n/a"]
    flat = {r["setting"] for r in checks if r["check"] == "reward_signal" and r["status"] == "warning"}
    if not moved:
        out["learning"] = "Cannot tell: no NAS run with an entropy log or final-policy samples."
    else:
        stuck = [r for r in moved if r["status"] == "warning"]
        lead = "No" if len(stuck) == len(moved) else "Partly" if stuck else "Yes"
        out["learning"] = f"{lead}: " + "; ".join(
            r["short"] + (" (its reward hardly tells children apart)" if r["setting"] in flat else "")
            for r in moved) + "."
    return out


def build(runs: list[Run], metrics: pd.DataFrame, tables: dict, order: list,
          yardstick_files: list[str] = ()) -> tuple[pd.DataFrame, dict]:
    """Every check's rows (table `checks`) and the verdicts on the arms, from the tables built so far
    (including the yardstick's, when `neonas aggregate` had them)."""
    y_paired = tables.get("yardstick_paired")
    y_rows = None
    if yardstick_files:  # the per-architecture rows (constant flags of the top-k); tables hold summaries
        from neonas.study.yardstick_tables import read_yardstick

        y_rows = read_yardstick(yardstick_files)
    rows = (replicates(runs, tables["results_summary"], order)
            + indistinguishable(tables["paired_tests"], y_paired if isinstance(y_paired, pd.DataFrame) else None)
            + reward_signal(runs) + policy_moved(runs) + identical_policies(runs)
            + constant_top(runs, metrics, y_rows, order))
    df = pd.DataFrame(rows, columns=COLUMNS)
    for r in rows:
        if r["status"] == "warning":
            log.warning("%s", r["message"])
    return df, verdicts(rows)
