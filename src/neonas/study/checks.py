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

from neonas.study.archstats import arch_hash
from neonas.study.checkrows import COLUMNS, TITLES, _row, name  # noqa: F401  (TITLES re-exported)
from neonas.study.controller_checks import (  # noqa: F401  (re-exported)
    ENTROPY_RATIO_MAX,
    policy_moved,
    policy_test,
    reward_signal,
    run_uniform_entropy,
    uniform_entropy,
)
from neonas.study.runs import ALPHA, Run

log = logging.getLogger(__name__)

MIN_REPLICATES = 2  # seeds and folds: one of either leaves no spread to estimate and nothing to pair
PRIMARY = "kappa"  # the metric the comparison verdicts use (chance-corrected, robust to stage shares)
YARDSTICK_QUANTITY = "policy_mean"  # of yardstick_paired: the per-arm yardstick verdict's quantity
DEFAULT_SETTING = {"random": "uniform", "evolution": "evolution", "handcrafted": "reference"}  # the one setting of these arms
GROUP_SEP = "; "  # between the other members of a group in the `other` column ("nas/b; random/uniform")


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
                             message=text + (
                                 ": one fold, so the paired tests run over its seeds and hold for that split (its "
                                 "test infants) only, not for new infants" if folds == 1 and seeds >= MIN_REPLICATES
                                 else ": no spread can be estimated and no paired test is possible; a difference to "
                                 "another arm is one draw" if folds < MIN_REPLICATES
                                 else ": no spread can be estimated over seeds (search luck is not averaged out)")
                             + "."))
        else:
            rows.append(_row("replicates", "ok", arm, setting, value=min(seeds, folds), threshold=MIN_REPLICATES,
                             message=text + "."))
    return rows


# ----------------------------------------------------------------------------- comparisons


def _pair_rows(tests: pd.DataFrame) -> list[dict]:
    """Rows of paired_tests (paired t over fold means, n = folds; retrained from scratch) for the PRIMARY metric."""
    rows = []
    for t in tests[tests["metric"] == PRIMARY].to_dict("records"):
        a, b = name(t["a_arm"], str(t["a_setting"])), name(t["b_arm"], str(t["b_setting"]))
        n, p, d = int(t["n"]), float(t["p"]), float(t["mean_diff"])
        design = _design(n, int(t.get("n_cells", n)))
        stat = f"Δ{PRIMARY} = {d:+.3f}, p = {p:.3g}, n = {design}" if not math.isnan(p) else \
            f"Δ{PRIMARY} = {d:+.3f} from {design}" if not math.isnan(d) else "no paired cells"
        differ = not math.isnan(p) and p < ALPHA
        why = "differ" if differ else ("cannot be told apart (too few folds for a test)" if math.isnan(p)
                                       else f"are not shown to differ (p >= {ALPHA:g})")
        one = " (1 fold: for that split only)" if n == 1 and not math.isnan(p) else ""
        rows.append({**_row("indistinguishable", "ok" if differ else "warning", t["a_arm"], str(t["a_setting"]),
                            f"{t['b_arm']}/{t['b_setting']}", p, ALPHA, tag=f"not shown to differ from: {b}",
                            message=f"{a} and {b} {why}{one} in {PRIMARY} retrained from scratch ({stat})."),
                     "testable": not math.isnan(p), "diff": d,
                     "short": f"{a} vs {b}: Δ{PRIMARY} {d:+.3f} " + (f"(p = {p:.2g}, {design}{one})"
                                                                     if not math.isnan(p) else f"({design}, no test)")})
    return rows


def _design(folds: int, cells: int) -> str:
    """'3 folds × 2 seeds' (the paired test's n is the folds), '3 folds, 5 cells' when seeds per fold differ."""
    if not folds:
        return "no paired cells"
    each = f" × {cells // folds} seed{'s' * (cells // folds != 1)}" if cells % folds == 0 else f", {cells} cells"
    return f"{folds} fold{'s' * (folds != 1)}{each}"


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
    it, every other pair (and NAS vs random without it) on PRIMARY retrained from scratch (paired t over fold
    means, n = folds)."""
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


def identical_groups(cells: dict[tuple, dict[tuple, object]]) -> list[tuple[tuple, int, int]]:
    """Groups of arms with the same result in the same seed and fold: (members in study order, cells where
    exactly these arms coincided, cells where all of them ran). `cells` maps (seed, fold) to {(arm, setting):
    a comparable result}. A group is counted in a cell when its members' results are equal there and no
    other arm's is, so three identical arms make one group of three, never three pairs."""
    order = list(dict.fromkeys(k for cell in cells.values() for k in cell))
    seen: dict[tuple, int] = {}
    for cell in cells.values():
        by_result: dict[str, list[tuple]] = {}
        for key, result in cell.items():
            by_result.setdefault(repr(result), []).append(key)
        for members in by_result.values():
            if len(members) > 1:
                group = tuple(sorted(members, key=order.index))
                seen[group] = seen.get(group, 0) + 1
    return [(g, k, sum(all(m in cell for m in g) for cell in cells.values()))
            for g, k in sorted(seen.items(), key=lambda item: (-len(item[0]), [order.index(m) for m in item[0]]))]


def identical_policies(runs: list[Run]) -> list[dict]:
    """Groups of searched arms whose final-policy samples (derived.json) are the same architectures in the
    same seed and fold: those arms ended with one policy (typically: none of them learned). One row per
    group names every member (arm = the first, other = the rest); without any group one `ok` row."""
    by_cell: dict[tuple, dict] = {}
    for r in runs:
        if r.derived is not None:
            hashes = sorted(arch_hash(item["arch"]) for item in r.derived["sampled"])
            by_cell.setdefault((r.seed, r.fold), {})[(r.arm, r.setting)] = hashes
    compared = [c for c in by_cell.values() if len(c) > 1]
    if not compared:
        return []
    rows = []
    for group, k, n in identical_groups(by_cell):
        (arm, setting), rest = group[0], group[1:]
        names = [name(*m) for m in group]
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
        rows.append(_row("identical_policies", "warning", arm, setting, GROUP_SEP.join(f"{a}/{s}" for a, s in rest),
                         k, 0, tag="same final policy as: " + ", ".join(names[1:]),
                         message=f"{listed}: identical final-policy samples in {k} of {n} seed x fold cell(s): "
                         f"{'these arms' if len(group) > 2 else 'the two arms'} ended with the same policy, so a "
                         "difference in their results cannot come from what they are meant to compare."))
    if not rows:
        rows.append(_row("identical_policies", "ok", value=0, threshold=0,
                         message=f"No two arms share their final-policy samples in any of {len(compared)} seed x "
                         "fold cell(s)."))
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
    # the controller's baselines are random search and the hand-designed net; evolution is another search arm,
    # compared in the table but not part of "does NAS beat its baselines"
    vs_base = [r for r in pairs if r["arm"] == "nas" and not r["other"].startswith(("nas/", "evolution/"))]
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
