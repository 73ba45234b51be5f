"""The report's tables as a reader sees them: formatted strings (mean ± SD, p-values, method names), one
DataFrame per table of neonas.study.report.TABLES, and the study's questions with their answers. The
LaTeX tables, the summary page and the CSVs of the report are all made from these."""

from __future__ import annotations

import math

import pandas as pd

from neonas.study.runs import METRICS

SOURCES = {"top": "best (top-k)", "sampled": "final policy", "children": "all children"}
METRIC_HEADERS = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced acc.", "kappa": "κ",
                  "macro_f1": "Macro-F1"}
# The study's questions in reading order (verdicts.json keys); the yardstick's per-arm answers follow them.
QUESTIONS = {
    "fidelity": "Do the shared weights rank architectures as stand-alone training does (the fidelity check)?",
    "comparison": "Does NAS find networks that beat random search and the hand-designed baseline?",
    "reward": "Does the reward setting change the result?",
    "learning": "Did the controller learn (did its policy leave uniform sampling)?",
    "trust": "Does the supernet's ranking survive retraining from scratch?",
    "planted": "Did the search find the planted spatial structure?",
    "sanity": "Can the shared weights see the planted cue at all?",
    "op_signal": "Does the reward tell ops apart at all (what a controller could learn from)?",
}
ALWAYS_ASKED = {"trust": "not checked", "planted": "not checked (no planted.json given)"}


def fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3g}"


def method(arm: str, setting: str, short: bool = False) -> str:
    return {"random": "random search", "evolution": "evolution", "handcrafted": "hand-designed"}.get(
        arm, f"NAS {setting}" if short else f"NAS, {setting}")


def results_table(summary: pd.DataFrame, checks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean ± SD per arm; a Warnings column (the tags of tab_warnings) when any check warns about an arm."""
    tags = warning_tags(checks)
    rows = []
    for r in summary.itertuples(index=False):
        row = {"Method": method(r.arm, r.setting), "Seeds × folds": f"{r.n_seeds} × {r.n_folds}"}
        for m in METRICS:
            mean, sd = getattr(r, f"{m}_mean"), getattr(r, f"{m}_sd")
            row[METRIC_HEADERS[m]] = f"{fmt(mean)} ± {fmt(sd)}"
        if tags:
            row["Warnings"] = "; ".join(tags.get((r.arm, str(r.setting)), []))
        rows.append(row)
    return _or_empty(rows, "no retrained models (no metrics.json given)")


def warning_tags(checks: pd.DataFrame | None) -> dict[tuple[str, str], list[str]]:
    """(arm, setting) -> the short tags of its warnings, in check order; "what: x" tags of one arm are merged
    into "what: x, y", and a warning about a pair of arms is tagged on both."""
    merged: dict[tuple[str, str], dict[str, list[str]]] = {}
    if checks is None or not len(checks):
        return {}
    for r in checks[checks["status"] == "warning"].to_dict("records"):
        tag = "" if pd.isna(r["tag"]) else str(r["tag"])
        if not tag:
            continue
        targets = [((str(r["arm"]), str(r["setting"])), tag)]
        other = "" if pd.isna(r["other"]) else str(r["other"])
        if ": " in tag and "/" in other:  # a pair, or a group ("a/b; c/d": every member is named on the others)
            what = tag.split(": ", 1)[0]
            members = [(str(r["arm"]), str(r["setting"]))] + [tuple(o.split("/", 1)) for o in other.split("; ")]
            for m in members[1:]:
                rest = ", ".join(method(a, s, short=True) for a, s in members if (a, s) != m)
                targets.append((m, f"{what}: {rest}"))
        for key, t in targets:
            what, _, item = t.partition(": ")
            items = merged.setdefault(key, {}).setdefault(what, [])
            for one in item.split(", ") if item else []:
                if one not in items:
                    items.append(one)
    return {k: [f"{w}: {', '.join(v)}" if v else w for w, v in tags.items()] for k, tags in merged.items()}


def warnings_table(checks: pd.DataFrame) -> pd.DataFrame:
    """Every check: warnings first, then the checks that could not run, then those that passed."""
    from neonas.study.checks import TITLES

    if not len(checks):
        return pd.DataFrame([{"Check": "no checks (an aggregate of an older neonas)", "Status": "n/a", "Finding": ""}])
    rank = {"warning": 0, "n/a": 1, "ok": 2}
    c = checks.assign(_r=checks["status"].map(rank).fillna(3)).sort_values("_r", kind="stable")
    rows = [{"Check": TITLES.get(r["check"], r["check"]), "Status": r["status"],
             "Finding": str(r["message"])} for r in c.to_dict("records")]
    return pd.DataFrame(rows)


def _design(t) -> str:
    """'3 × 2': the paired test's n is the folds, each the mean over its seeds ('3 (5 cells)' if unequal)."""
    folds, cells = int(t["n"]), int(t.get("n_cells", t["n"]))
    return "0" if not folds else f"{folds} × {cells // folds}" if cells % folds == 0 else f"{folds} ({cells} cells)"


def paired_table(tests: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (aa, asg, ba, bs), g in tests.groupby(["a_arm", "a_setting", "b_arm", "b_setting"], sort=False):
        row = {"Comparison": f"{method(aa, asg)} vs {method(ba, bs)}", "Folds × seeds": _design(g.iloc[0])}
        for m in METRICS:
            t = g[g["metric"] == m].iloc[0]
            diff = "n/a" if math.isnan(t["mean_diff"]) else f"{t['mean_diff']:+.3f}"
            row[f"Δ {METRIC_HEADERS[m]} (p)"] = f"{diff} ({fmt_p(t['p'])})"
        kappa = g[g["metric"] == "kappa"]
        if "mdd" in g and len(kappa):  # what the test could detect at 80 % power (neonas.study.power)
            row["MDD Δκ"] = fmt(float(kappa["mdd"].iloc[0]))
        notes = sorted({str(n) for n in g["note"].dropna() if str(n)})
        row["Note"] = "; ".join(notes)
        rows.append(row)
    return _or_empty(rows, "no pairs of arms with retrained models on the same folds")


def compute_table(compute: pd.DataFrame) -> pd.DataFrame:
    rows = [{"Method": method(r.arm, r.setting), "Searches": str(r.n_searches), "Retrains": str(r.n_retrains),
             "Search GPU-h": fmt(r.search_gpu_h, 2), "Search CPU-h": fmt(r.search_cpu_h, 2),
             "Retrain GPU-h": fmt(r.retrain_gpu_h, 2), "Retrain CPU-h": fmt(r.retrain_cpu_h, 2)}
            for r in compute.itertuples(index=False)]
    return _or_empty(rows, "no runs")


def checklist_table(checklist: pd.DataFrame) -> pd.DataFrame:
    return checklist.rename(columns={"item": "Item", "answer": "Answer", "evidence": "Evidence"}).fillna("")


def archstats_table(summary: pd.DataFrame, planted_offset: int | None, fixed: dict | None = None) -> pd.DataFrame:
    """Architecture statistics per kind and arm; a column the space fixes by construction (spaceinfo.fixed:
    no skips, one time kernel, no pools) says "(fixed)" in every cell: it describes the space, not a finding."""
    from neonas.study.spaceinfo import FIXED_COLUMNS

    s = summary[summary["window"] == 0]
    rows = []
    for r in s.to_dict("records"):
        row = {"Architectures": SOURCES.get(r["source"], r["source"]), "Method": method(r["arm"], r["setting"]),
               "n": str(int(r["n_archs"])), "Span": fmt(r["mean_span"], 2), "Dilation": fmt(r["mean_dilation"], 2),
               "Extent (el.)": fmt(r["mean_extent_el"], 2), "Extent (cm)": fmt(r["mean_extent_cm"], 1),
               "Time (ms)": fmt(r["mean_time_extent_ms"], 0), "With skips": fmt(r["skip_freq"], 2),
               "Conv share": fmt(r.get("share_conv", math.nan), 2)}
        if planted_offset is not None:
            row[f"Covers offset {planted_offset}"] = fmt(r.get("covers_planted", math.nan), 2)
        note = r.get("note")  # montage: spatial statistics left out, ops removed (archstats.spatial_note)
        row["Note"] = "" if not isinstance(note, str) else note
        rows.append(row)
    table = _or_empty(rows, "no architectures")
    spatial = [c for c in ("Span", "Dilation", "Extent (el.)", "Extent (cm)") if c in table]
    if rows and all(table[c].eq("n/a").all() for c in spatial) and table["Note"].str.contains("left out").all():
        table = table.drop(columns=spatial)  # a 1-2 channel montage: the note says why
    if "Note" in table and not table["Note"].any():
        table = table.drop(columns="Note")
    for col in (c for key in (fixed or {}) for c in FIXED_COLUMNS.get(key, []) if rows and c in table):
        table[col] = table[col] + " (fixed)"
    return table


def kendall_table(kendall: pd.DataFrame) -> pd.DataFrame:
    """Per setting and over all NAS runs: runs, informative runs, mean within-run tau [95 % CI], signs, sign test."""
    k = kendall[kendall["scope"].isin(["all", "setting"])] if len(kendall) else kendall
    if len(k) and "n_informative" not in k:  # an aggregate of an older neonas: one pooled tau
        return _or_empty([{"Runs": str(r["scope"]), "n": str(int(r["n"])), "τ": fmt(r["tau"], 2), "p": fmt_p(r["p"])}
                          for r in kendall.to_dict("records") if r["scope"] != "run"], "no retrained architectures")
    rows = []
    for r in k.to_dict("records"):
        scope = "all NAS runs" if r["scope"] == "all" else method(r["arm"], str(r["setting"]))
        ci = "" if pd.isna(r["tau_low"]) else f" [{r['tau_low']:+.2f}, {r['tau_high']:+.2f}]"
        notes = [str(r[c]) for c in ("note", "same_as") if c in r and not pd.isna(r[c]) and str(r[c])]
        rows.append({"Runs": scope, "Informative / runs": f"{int(r['n_informative'])} / {int(r['n_runs'])}",
                     "Mean τ within runs": ("n/a" if pd.isna(r["tau"]) else f"{r['tau']:+.2f}") + ci,
                     "τ > 0 / τ < 0": f"{int(r['positive'])} / {int(r['negative'])}", "Sign test p": fmt_p(r["p"]),
                     "Note": "; ".join(notes)})
    return _or_empty(rows, "no retrained architectures with a supernet score")


def planted_table(planted: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in planted.to_dict("records"):
        rows.append({"Architectures": r["architectures"], "Method": "NAS, all settings" if r["setting"] == "all"
                     else method(r["arm"], r["setting"]), "n": str(int(r["n"])), "Covering": str(int(r["covers"])),
                     "Share": fmt(r["share"], 2), "Share (stacked)": fmt(r["share_stacked"], 2),
                     "Chance": fmt(r["expected_uniform"], 2), "p (binomial)": fmt_p(r["p_binomial"])})
    return _or_empty(rows, "no planted.json given (real recordings): nothing planted to find")


def questions(verdicts: dict) -> list[tuple[str, str, str]]:
    """(key, question, answer) in reading order: QUESTIONS, then any other verdict (the yardstick's per arm)."""
    out = [(k, q, verdicts.get(k, ALWAYS_ASKED.get(k, ""))) for k, q in QUESTIONS.items()
           if k in verdicts or k in ALWAYS_ASKED]
    for k in sorted(set(verdicts) - set(QUESTIONS)):
        if k.startswith("yardstick "):
            arm, _, setting = k.removeprefix("yardstick ").partition("/")
            q = f"On the common yardstick, does {method(arm, setting, short=True)}'s final policy beat uniform sampling?"
        else:
            q = k
        out.append((k, q, verdicts[k]))
    return out


def _lead(text: str) -> str:
    return text.split(":", 1)[0].split(",", 1)[0].split("(", 1)[0].strip().lower()


def headline(verdicts: dict, checks: pd.DataFrame | None, fidelity: dict | None = None) -> str:
    """One line: what this study can and cannot conclude. The fidelity check leads (no estimator that ranks, no
    NAS conclusion), then a controller that did not learn, then too few seeds or folds; what still holds follows."""
    warned = set() if checks is None or not len(checks) else set(checks.loc[checks["status"] == "warning", "check"])
    stop = partial = ""
    if fidelity and fidelity.get("n"):
        k, n = len(fidelity["passed"]), fidelity["n"]
        if k == 0 and len(fidelity.get("unknown", [])) == n:  # measured: the reference's split-half tau, not planted.json
            stop = (f"Nothing for a search to find: trained alone, the architectures tested did not differ (the fidelity "
                    f"check's reference did not rank its own panel in any of {n} folds)")
        elif k == 0:
            names = {"supernet": "the shared weights", "standalone": "short stand-alone training"}
            what = " or ".join(names.get(e, e) for e in fidelity.get("estimators") or ["supernet"])
            stop = f"No NAS conclusion: the estimator ({what}) was not shown to rank ({k} of {n} folds)"
        elif k < n:
            partial = f"NAS conclusions hold for {k} of {n} folds only (where the estimator ranks)"
    if not stop and _lead(verdicts.get("learning", "")) == "no":
        stop = "No NAS conclusion: the controller did not learn (its policy stayed at uniform sampling)"
    if not stop and "replicates" in warned:
        stop = "Nothing to conclude yet: too few seeds or folds for a test"
    comp = {"yes": "NAS beats its baselines in every comparison", "partly": "NAS beats some baselines, not all",
            "no": "NAS is worse than a baseline where they differ",
            "no evidence of a difference": "NAS is not shown to beat its baselines"}.get(
        _lead(verdicts.get("comparison", "")), "no comparison of arms could be tested")
    if stop:
        return f"{stop}. What still holds: the retrained networks' test scores, as networks; {comp}."
    lead = f"{partial}. " if partial else ""
    return f"{lead}What can be concluded: {comp}."


def estimator_line(docs: list[dict]) -> str:
    """Which estimator the searches ran (per fold: the study's, or auto's choice) and whether its check passed."""
    from neonas.study.trust import ran_estimator

    ran = {}
    for doc in docs:
        name, passed = ran_estimator(doc)
        ran.setdefault((name, doc.get("checked_for") == "auto"), []).append(passed)
    parts = []
    for (name, auto), passed in ran.items():
        unchecked = sum(p is None for p in passed)
        ranks = f"ranks on {sum(p is True for p in passed)} of {len(passed)} fold(s)" + (
            f", not checked on {unchecked}" if unchecked else "")
        parts.append(f"{name}{' (chosen by estimator: auto)' if auto else ''}, {ranks}")
    return "Estimator: " + "; ".join(parts) + " (the fidelity check)." if parts else ""


def verdict_table(verdicts: dict) -> pd.DataFrame:
    return pd.DataFrame([{"Question": q, "Answer": a} for _, q, a in questions(verdicts)])


def _or_empty(rows: list[dict], why: str) -> pd.DataFrame:
    return pd.DataFrame(rows) if rows else pd.DataFrame([{"": why}])


ALIGN = {"tab_checklist": "llp{0.5\\linewidth}", "tab_verdicts": "p{0.3\\linewidth}p{0.62\\linewidth}",
         "tab_warnings": "p{0.22\\linewidth}lp{0.6\\linewidth}"}


def align(name: str, df: pd.DataFrame) -> str | None:
    """The LaTeX column spec of a table: ALIGN's, or for tab_results with warnings a wrapping last column."""
    if name == "tab_results" and "Warnings" in df.columns:
        return "l" * 2 + "r" * (len(df.columns) - 3) + "p{0.3\\linewidth}"
    return ALIGN.get(name)
