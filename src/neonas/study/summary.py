"""The study as one HTML page that reads like a chapter: results/<study>/summary.html.

First the study's questions with their answers and every warning that says there may be nothing to
conclude; then the search, the architectures, the results and whether the search can be trusted, each
figure with its caption and each table inline. The page is self-contained (figures embedded as PNG) and
links to the Snakemake report for provenance (rule graph, run times, every file). Reruns on the same
inputs give the same bytes. docs/report.md explains every part.

Example:
  neonas summary --aggregate results/demo/aggregate --report results/demo/report \\
      --captions workflow/report --out results/demo/summary.html
"""

from __future__ import annotations

import argparse
import base64
import html
import logging
import os
import re
from pathlib import Path

import pandas as pd

from neonas.errors import NeonasError
from neonas.io import write_text_atomic
from neonas.study.checks import TITLES
from neonas.study.display import estimator_line, headline, method, questions
from neonas.study.power import verdict_note
from neonas.study.report import FIGURES, TABLES, Aggregate, fixed_caption
from neonas.study.spaceinfo import describe

log = logging.getLogger(__name__)

# Sections in reading order: (category of report.FIGURES/TABLES, heading, what it answers). Items of other
# categories (added later) get a section of their own after these.
SECTIONS = [
    ("Search", "How the search went",
     "What the children scored over the search epochs, how the controller's policy changed, and the reward it was "
     "given for each child."),
    ("Architectures", "What the search found",
     "The final model's architecture, a weak 'fancy' contrast, and the layers of the best architectures and of the "
     "final policies."),
    ("Results", "How good the found networks are",
     "The best architectures retrained from scratch and tested on held-out infants, beside random search and a "
     "hand-designed network on the same folds."),
    ("Trust", "Can the search be trusted?",
     "Does the supernet's ranking survive retraining, did the search find the structure planted in the synthetic "
     "cohort, and which checks passed."),
]
# Within a section: these first, in this order; the rest in the order of report.FIGURES, then TABLES.
LEAD = ["fig_accuracy_over_epochs", "fig_arch_best", "fig_arch_fancy", "tab_results", "tab_paired_tests",
        "fig_supernet_vs_retrained"]
WARNED = {  # the headline of a failed check and why it matters, most fundamental first
    "replicates": ("Too few seeds or folds", "no spread can be estimated; with one fold the paired tests hold for that split only"),
    "reward_signal": ("Reward does not tell children apart",
                      "the controller's update carries almost no information"),
    "policy_moved": ("Controller policy did not move from uniform",
                     "the arm found what uniform sampling finds; its results say nothing about its reward"),
    "identical_policies": ("Identical final policies in different arms",
                           "their results cannot differ because of what the arms are meant to compare"),
    "constant_top": ("Constant networks among the best", "a network that outputs one stage learned nothing"),
    "indistinguishable": ("Arms not shown to differ", "a difference in the tables below may be chance"),
}
CSS = """
body { font-family: Georgia, 'DejaVu Serif', serif; max-width: 52em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
.meta { color: #555; font-size: 0.92em; }
.headline { font-size: 1.1em; background: #f3f3f3; border-left: 4px solid #555; padding: 0.5em 1em; }
.warnings { background: #fff4e0; border-left: 4px solid #e08a00; padding: 0.5em 1em; margin: 1em 0; }
.warnings h3 { margin: 0.3em 0; font-size: 1.05em; }
.ok { background: #eef6ee; border-left: 4px solid #3a8a3a; padding: 0.5em 1em; }
dl.qa dt { font-weight: bold; margin-top: 0.8em; } dl.qa dd { margin-left: 1.2em; }
figure { margin: 1.5em 0; } figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .caption { font-size: 0.92em; color: #333; } figcaption p, .caption p { margin: 0.3em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #888; } .files { font-size: 0.85em; color: #555; }
details { margin: 0.5em 0; } summary { cursor: pointer; }
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--aggregate", required=True, metavar="DIR", help="output directory of `neonas aggregate`")
    parser.add_argument("--report", required=True, metavar="DIR",
                        help="output directory of `neonas report` (figures as PNG, tables as CSV)")
    parser.add_argument("--out", required=True, metavar="FILE", help="the HTML page to write (summary.html)")
    parser.add_argument("--captions", metavar="DIR",
                        help="folder of <name>.rst captions (workflow/report, those of the Snakemake report); "
                        "default: the short captions of `neonas report`")
    parser.add_argument("--snakemake-report", default="report.html", metavar="PATH",
                        help="the Snakemake report to link for provenance, relative to --out's folder "
                        "(default: report.html)")
    parser.add_argument("--title", default="neonas study", help="the page's title")
    parser.add_argument("--fidelity", nargs="+", metavar="DIR", help="`neonas fidelity` output folder(s), one per "
                        "fold: their verdict (do the shared weights rank?) opens the page")
    parser.add_argument("--final", metavar="DIR", help="the study's final model (`neonas final`'s folder): the page "
                        "names the architecture chosen and why")


# ----------------------------------------------------------------------------- pieces


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def rst_to_html(text: str) -> str:
    """The little reStructuredText the captions use: paragraphs, **bold**, *emphasis*, ``code``."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        p = esc(" ".join(para.split()))
        p = re.sub(r"``(.+?)``", r"<code>\1</code>", p)
        p = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", p)
        p = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<i>\1</i>", p)
        out.append(f"<p>{p}</p>")
    return "".join(out)


def caption(name: str, short: str, captions: Path | None) -> str:
    """The caption of a figure or table as HTML: its workflow/report/<name>.rst when given, else `short`."""
    if captions is not None and (captions / f"{name}.rst").exists():
        return rst_to_html((captions / f"{name}.rst").read_text())
    return rst_to_html(short)


def table_html(path: Path) -> str:
    """A report table (CSV of strings) as an HTML table; a note when the report has none."""
    if not path.exists():
        return f"<p class='files'>(no {esc(path.name)} in the report)</p>"
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return "<p class='files'>(empty table)</p>"
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# ----------------------------------------------------------------------------- the answers


def _arms(rows: pd.DataFrame, check: str = "") -> str:
    """'A = B = C (k cells)' for groups of identical arms, 'A vs B, C vs D' for checks of pairs, else the
    arms grouped by their tag."""
    if check == "identical_policies":
        return "; ".join(" = ".join(method(*m, short=True) for m in [(r["arm"], str(r["setting"]))] + [
            tuple(o.split("/", 1)) for o in str(r["other"]).split("; ")]) + f" (in {int(r['value'])} seed x fold "
            "cell(s))" for r in rows.to_dict("records"))
    if rows["other"].fillna("").astype(str).str.contains("/").any():
        return ", ".join(f"{method(r['arm'], str(r['setting']), short=True)} vs "
                         f"{method(*str(r['other']).split('/', 1), short=True)}" for r in rows.to_dict("records"))
    groups: dict[str, list[str]] = {}
    for r in rows.to_dict("records"):
        tag = "" if pd.isna(r["tag"]) else str(r["tag"])
        groups.setdefault(tag, []).append(method(r["arm"], str(r["setting"]), short=True))
    return "; ".join(", ".join(arms) + (f" ({tag})" if tag else "") for tag, arms in groups.items())


def warnings_html(checks: pd.DataFrame) -> str:
    """One line per failed check (most fundamental first): headline, the arms it concerns, why it matters."""
    warned = checks[checks["status"] == "warning"] if len(checks) else checks
    if not len(warned):
        ran = "no checks ran (an aggregate of an older neonas)" if not len(checks) else \
            f"all {len(checks)} checks passed or could not run (every check is listed below)"
        return f"<div class='ok'><b>No warnings:</b> {esc(ran)}.</div>"
    order = {c: k for k, c in enumerate(WARNED)}
    groups = sorted(warned.groupby("check", sort=False), key=lambda g: order.get(g[0], len(order)))
    items = []
    for check, rows in groups:
        head, why = WARNED.get(check, (TITLES.get(check, check), ""))
        items.append(f"<li><b>{esc(head)}</b>: {esc(_arms(rows, check))}." + (f" {esc(why.capitalize())}." if why else "")
                     + "</li>")
    n, k = len(groups), len(warned)
    return (f"<div class='warnings'>\n<h3>{n} warning{'s' * (n != 1)} ({k} finding{'s' * (k != 1)}): read these "
            "before the numbers</h3>\n<ul>\n"
            + "\n".join(items) + "\n</ul>\n</div>")


def answer_html(key: str, question: str, answer: str, tests: pd.DataFrame | None = None) -> str:
    """One question and its answer: the single place where a verdict line is rendered, with what the study
    could have detected beside a comparison that is not a "Yes" (power.verdict_note)."""
    note = verdict_note(key, answer, tests) if tests is not None else ""
    return f"<dt>{esc(question)}</dt><dd>{esc((answer + ' ' + note).strip())}</dd>"


def answers_html(agg: Aggregate, checks: pd.DataFrame, report: Path) -> str:
    """The opening section: warnings, then each question with its answer, then the findings in full."""
    tests = agg.csv("paired_tests")  # beside each comparison's answer: what it could have detected (power.py)
    qa = "\n".join(answer_html(k, q, a, tests) for k, q, a in questions(agg.verdicts))
    every = table_html(report / "tab_warnings.csv")
    return (f"<section id='answers'>\n<h2>Questions and answers</h2>\n{warnings_html(checks)}\n"
            f"<dl class='qa'>\n{qa}\n</dl>\n<details><summary>Every check in full, with its threshold "
            f"(docs/report.md)</summary>\n{every}\n</details>\n</section>")


def fidelity_html(dirs: list[Path]) -> str:
    """The estimator's fidelity verdict (neonas.training.fidelity): one line over the folds, the folds one by one
    and the figure folded behind it. It comes first: where the shared weights do not rank, no reward can teach
    the controller anything."""
    from neonas.io import read_json
    from neonas.study.trust import fidelity_summary, fidelity_verdict, ran_estimator

    items, figure, docs = [], "", []
    for d in dirs:
        doc = read_json(Path(d) / "fidelity.json", "fidelity result not found (run `neonas fidelity`)")
        docs.append(doc)
        cost = doc.get("cost_seconds", {}).get("total")
        warm = (f" With fidelity.warmup_from_check, this fold's searches warm up {doc['warmup_epochs']} uniform epochs."
                if doc.get("passed") and doc.get("warmup_epochs") is not None else
                " This fold's searches keep their configured warm-up: the check found none after which the shared "
                "weights rank.")
        alone = doc.get("standalone_estimator")  # the stand-alone estimator's own check, where it was run
        text = doc.get("verdict", "") + warm + (f" Stand-alone estimator: {alone['verdict']}" if alone else "")
        if alone and ran_estimator(doc)[0] == "standalone":  # its verdict first; the shared weights were not used
            text = f"{alone['verdict']} Shared weights (not used by these searches): {doc.get('verdict', '')}"
        items.append(f"<li>Fold {esc(doc.get('fold'))}: {esc(text)}"
                     + (f" <span class='files'>({cost:.0f} s)</span>" if cost is not None else "") + "</li>")
        if not figure and (Path(d) / "fidelity.png").exists():
            figure = (f"<figure id='fidelity'><img src='{png_uri(Path(d) / 'fidelity.png')}' alt='fidelity'>"
                      f"<figcaption>Fold {esc(doc.get('fold'))}: each panel net's score on the shared weights "
                      "against its score trained alone (left), and Kendall tau over the uniform warm-up (right). "
                      "docs/search.md, 'Fidelity check'.</figcaption></figure>")
    f = fidelity_summary(docs)
    box = "ok" if len(f["passed"]) == f["n"] else "warnings"
    what = "the stand-alone estimator" if f.get("estimators") == ["standalone"] else "the shared weights"
    return (f"<section id='fidelity-check'>\n<h2>Do{'es' if 'stand' in what else ''} {what} rank architectures?</h2>\n"
            f"<div class='{box}'><p><b>{len(f['passed'])} of {f['n']} fold(s) rank.</b> {esc(fidelity_verdict(f))}</p>"
            f"\n<details><summary>Fold by fold ({f['n']} fold(s))</summary><ul>{''.join(items)}</ul>\n{figure}"
            "</details></div>\n</section>")


def headline_html(agg: Aggregate, checks: pd.DataFrame, fidelity: list[Path] | None) -> str:
    """The page's opening line: what this study can and cannot conclude (display.headline)."""
    from neonas.io import read_json

    fid = agg.fidelity
    docs = [read_json(Path(d) / "fidelity.json", "fidelity result not found") for d in fidelity or []]
    if fid is None and docs:  # an aggregate made without --fidelity: count the folds here
        from neonas.study.trust import fidelity_summary

        fid = fidelity_summary(docs)
    line = f" {esc(estimator_line(docs))}" if docs else ""
    return f"<p class='headline'><b>What this study shows.</b> {esc(headline(agg.verdicts, checks, fid))}{line}</p>"


def study_line(agg: Aggregate) -> str:
    """What the study is: arms, seeds, folds, number of searches and retrained models."""
    runs, results = agg.csv("runs"), agg.csv("results")
    seeds = sorted({int(s) for s in pd.concat([runs.get("seed", pd.Series([], dtype=int)),
                                               results.get("seed", pd.Series([], dtype=int))])})
    folds = sorted({int(f) for f in pd.concat([runs.get("fold", pd.Series([], dtype=int)),
                                               results.get("fold", pd.Series([], dtype=int))])})
    arms = ", ".join(method(a, str(s), short=True) for a, s in agg.settings)
    space = describe(agg.space)
    return (f"{len(runs)} search run(s) and {len(results)} retrained model(s); arms: {arms}; "
            f"seeds {seeds}, folds {folds}." + (f" Search space: {space}." if space else ""))


# ----------------------------------------------------------------------------- the page


def ordered_items() -> list[tuple[str, str, str, str]]:
    """(section category, kind, name, short caption) of every figure and table in reading order."""
    items = [(cat, "fig", n, c) for n, cat, c in FIGURES] + [(cat, "tab", n, c) for n, cat, c in TABLES]
    items = [i for i in items if i[0] != "Verdicts"]  # the answers section shows those
    rank = {n: k for k, n in enumerate(LEAD)}
    return sorted(items, key=lambda i: rank.get(i[2], len(LEAD)))  # stable: the rest keep FIGURES, TABLES order


def render(agg: Aggregate, report: Path, out: Path, captions: Path | None, snakemake_report: str,
           title: str, final: Path | None = None, fidelity: list[Path] | None = None) -> str:
    checks = agg.csv("checks")
    rel = Path(os.path.relpath(report.resolve(), out.parent.resolve())).as_posix()
    parts = [f"<h1>{esc(title)}</h1>", headline_html(agg, checks, fidelity),
             f"<p class='meta'>{esc(study_line(agg))} Provenance (rule graph, run times, every file): the "
             f"<a href='{esc(snakemake_report)}'>Snakemake report</a>. Figures as PDF and tables as LaTeX: "
             f"<a href='{esc(rel)}/'>{esc(rel)}/</a>.</p>",
             *([fidelity_html(fidelity)] if fidelity else []),
             answers_html(agg, checks, report)]
    if final is not None:  # which architecture the final model has, and why (neonas.study.finalchoice)
        from neonas.study.finalchoice import choice_html

        parts.append(choice_html(final))
    items = ordered_items()
    known = [c for c, _, _ in SECTIONS]
    extra = list(dict.fromkeys(i[0] for i in items if i[0] not in known))
    numbers = {"fig": 0, "tab": 0}
    for cat, heading, intro in SECTIONS + [(c, c, "") for c in extra]:
        parts.append(f"<section id='{esc(cat.lower().replace(' ', '-'))}'>\n<h2>{esc(heading)}</h2>"
                     + (f"\n<p>{esc(intro)}</p>" if intro else ""))
        for _, kind, name, short in (i for i in items if i[0] == cat):
            numbers[kind] += 1
            text = caption(name, short, captions)
            if fixed_caption(agg, name):  # what the search space fixes by construction is not a finding
                text += f"<p><i>{esc(fixed_caption(agg, name))}</i></p>"
            if kind == "fig":
                png = report / f"{name}.png"
                img = f"<img src='{png_uri(png)}' alt='{esc(name)}'>" if png.exists() else \
                    f"<p class='files'>(no {esc(png.name)} in the report)</p>"
                parts.append(f"<figure id='{esc(name)}'>{img}<figcaption><b>Figure {numbers['fig']}.</b> {text}"
                             f"<p class='files'><a href='{esc(rel)}/{esc(name)}.pdf'>{esc(name)}.pdf</a></p>"
                             "</figcaption></figure>")
            else:
                parts.append(f"<div id='{esc(name)}' class='caption'><b>Table {numbers['tab']}.</b> {text}</div>"
                             + table_html(report / f"{name}.csv"))
        parts.append("</section>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n<title>{esc(title)}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def run(args: argparse.Namespace) -> int:
    agg = Aggregate(args.aggregate)
    report = Path(args.report)
    if not report.is_dir():
        raise NeonasError("report directory not found (run `neonas report` first)", report)
    captions = Path(args.captions) if args.captions else None
    if captions is not None and not captions.is_dir():
        raise NeonasError("captions folder not found (expected workflow/report with <name>.rst files)", captions)
    out = Path(args.out)
    page = render(agg, report, out, captions, args.snakemake_report, args.title,
                  Path(args.final) if args.final else None, [Path(d) for d in args.fidelity or []])
    write_text_atomic(out, page)
    n = int((agg.csv("checks").get("status", pd.Series([], dtype=str)) == "warning").sum())
    log.info("wrote %s (%d warning(s), %d kB)", out, n, len(page) // 1024)
    return 0
