"""`neonas report` and the aggregate/report rules, run by real snakemake on the hand-written study
(also `snakemake --report`), then the outputs checked: every figure and table, the LaTeX bundle, captions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from neonas.cli import main
from neonas.study.report import FIGURES, TABLES, make_tables
from studyfixture import SIGMOID, aggregate_argv, make_study

REPO = Path(__file__).resolve().parents[1]

# A stand-in for the study's Snakefile + common.smk: the same helper names, listing the hand-written study.
SNAKEFILE = """
from pathlib import Path
config.setdefault("study", "t")
ENV = {env!r}
STUDY = "results/t"
def study(path):
    return f"{{STUDY}}/{{path}}"
SEARCHES = {searches!r}
def search_dirs():
    return SEARCHES
def derived_files():
    return {derived!r}
def metrics_files():
    return {metrics!r}
def retrain_dirs():  # retrain/<arm>/<setting>/seed<S>/fold<F>, with rank<R>/metrics.json inside
    return sorted({{str(Path(m).parent.parent) for m in metrics_files()}})
def planted_files():
    return [{planted!r}]
def yardstick_files():  # the common yardstick (workflow/rules/yardstick.smk): not in this study
    return []
def sanity_files():
    return []
def fidelity_dirs():  # the fidelity check (workflow/rules/fidelity.smk): not in this study
    return []
include: {aggregate!r}
include: {report!r}
rule all:
    input:
        LATEX_BUNDLE,
        REPORT_OUTPUTS,
        SUMMARY,
"""


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", "Snakefile", "-d", str(workdir), "--cores", "2",
                           *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Aggregate + report by snakemake, then the HTML report; returns the study folder."""
    work = tmp_path_factory.mktemp("wf")
    paths = make_study(work / "results" / "t")
    rel = {k: ([str(Path(p).relative_to(work)) for p in v] if isinstance(v, list) else str(Path(v).relative_to(work)))
           for k, v in paths.items()}
    (work / "Snakefile").write_text(SNAKEFILE.format(
        **rel, env=str(REPO / "envs/neonas.yaml"), aggregate=str(REPO / "workflow/rules/aggregate.smk"), report=str(REPO / "workflow/rules/report.smk")))
    run = _snakemake(work)
    assert run.returncode == 0, run.stderr[-3000:]
    html = _snakemake(work, "--report", "report.html")
    assert html.returncode == 0, html.stderr[-3000:]
    return work


@pytest.mark.slow
def test_snakemake_writes_every_figure_table_and_the_html_report(study):
    report = study / "results/t/report"
    for name, _, _ in FIGURES:
        assert (report / f"{name}.pdf").stat().st_size > 5000 and (report / f"{name}.png").stat().st_size > 5000
    for name, _, _ in TABLES:
        assert (report / f"{name}.csv").exists() and (report / f"{name}.tex").read_text().startswith(r"\begin{tabular}")
    html = (study / "report.html").read_text(errors="replace")
    assert "fig_accuracy_over_epochs.png" in html and "tab_results.csv" in html
    assert "thesis figure" in html  # a caption from workflow/report/*.rst
    assert (study / "results/t/config/aggregate.args").read_text().startswith("--searches\n")


@pytest.mark.slow
def test_tables_say_what_the_study_shows(study):
    report = study / "results/t/report"
    results = pd.read_csv(report / "tab_results.csv")
    assert results["Method"].tolist() == ["NAS, identity", f"NAS, {SIGMOID}", "random search", "hand-designed"]
    assert results.iloc[0]["Accuracy"] == "0.711 ± 0.009"
    assert results.iloc[0]["Seeds × folds"] == "2 × 3"
    tex = (report / "tab_results.tex").read_text()
    assert r"0.711 $\pm$ 0.009" in tex and r"$\kappa$" in tex
    assert r"\begin{tabular}{llrrrrp{0.3\linewidth}}" in tex  # the Warnings column wraps
    assert "same final policy as: " in results.iloc[0]["Warnings"]
    paired = pd.read_csv(report / "tab_paired_tests.csv")
    row = paired[paired["Comparison"] == f"NAS, {SIGMOID} vs hand-designed"].iloc[0]
    # paired t over 3 fold means, each the mean of 2 seeds' differences 0.150 and 0.152: 0.151 in every fold, the
    # same mean difference in 2 or more folds counts as a difference (p = 0; no spread, so an MDD of 0)
    assert row["Δ Accuracy (p)"] == "+0.151 (<0.001)" and row["Folds × seeds"] == "3 × 2"
    assert row["MDD Δκ"] == pytest.approx(0.0, abs=1e-3) and "the same mean difference in every fold" in row["Note"]
    verdicts = pd.read_csv(report / "tab_verdicts.csv").set_index("Question")["Answer"]
    assert verdicts["Does the supernet's ranking survive retraining from scratch?"].startswith("Yes")
    # NAS is better than both baselines by the same mean difference in each of the fixture's 3 folds
    assert verdicts.iloc[0].startswith("Yes, in every comparison")
    planted = pd.read_csv(report / "tab_planted.csv", dtype=str)
    assert planted.iloc[-1][["Method", "n", "Covering", "Share"]].tolist() == ["NAS, all settings", "12", "12", "1.00"]


@pytest.mark.slow
def test_latex_bundle_inputs_every_figure_and_table(study):
    latex = study / "results/t/latex"
    text = (latex / "neonas_results.tex").read_text()
    for name, _, _ in FIGURES:
        assert f"{{\\neonasdir/figures/{name}.pdf}}" in text
        assert (latex / "figures" / f"{name}.pdf").read_bytes() == (study / f"results/t/report/{name}.pdf").read_bytes()
    for name, _, _ in TABLES:
        assert f"\\input{{\\neonasdir/tables/{name}.tex}}" in text and (latex / "tables" / f"{name}.tex").exists()
    labels = re.findall(r"\\label\{([^}]*)\}", text)
    assert len(labels) == len(set(labels)) == len(FIGURES) + len(TABLES)
    assert r"\def\neonasTrustVerdict{Yes" in text and r"\def\neonasPlantedVerdict{" in text
    assert r"\def\neonasFidelityVerdict{not checked (no fidelity check in this study)}" in text
    assert r"\def\neonasHeadline{" in text
    assert "\\input{path/to/this/folder/neonas_results.tex}" in (latex / "README.md").read_text()


def test_rule_names_match_the_report_and_every_output_has_a_caption():
    smk = (REPO / "workflow/rules/report.smk").read_text()
    listed = set(re.findall(r'"((?:fig|tab)_[a-z_]+)":', smk))
    assert listed == {n for n, _, _ in FIGURES} | {n for n, _, _ in TABLES}
    for name in listed:
        caption = REPO / "workflow/report" / f"{name}.rst"
        assert caption.exists() and len(caption.read_text().split()) > 15, name


def test_report_errors_name_the_missing_input(tmp_path, capsys):
    argv = ["report", "--aggregate", str(tmp_path / "agg"), "--out", str(tmp_path / "r"), "--latex", str(tmp_path / "l")]
    assert main(argv) == 2
    assert "agg: aggregate directory not found (run `neonas aggregate` first)" in capsys.readouterr().err
    (tmp_path / "agg").mkdir()
    (tmp_path / "agg" / "runs.csv").write_text("arm,setting\n")
    assert main(argv) == 2
    assert "not a complete `neonas aggregate` output: missing ['children_sample.csv'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "l").exists()


def test_report_help_reads_well(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert "--aggregate" in out and "--latex" in out and "neonas_results.tex" in out



def _body_lines(page: str) -> list[str]:
    return page.split("<body>", 1)[1].splitlines()


@pytest.mark.slow
def test_summary_reads_from_answers_to_figures(study):
    """summary.html: warnings and answers on the first screen, then every figure (embedded, with its .rst
    caption) and table inline, in reading order; a link to the Snakemake report."""
    page = (study / "results/t/summary.html").read_text()
    first = "\n".join(_body_lines(page)[:20])
    assert _body_lines(page)[2] == ("<p class='headline'><b>What this study shows.</b> What can be concluded: NAS "
                                    "beats its baselines in every comparison.</p>")
    assert "Search space: the &#x27;thesis&#x27; space: 4 layers x 23 ops per layer, with skips: 17,909,824 " \
           "architectures." in first
    assert "Questions and answers" in first and "read these before the numbers" in first
    assert "Arms not shown to differ" not in first  # the fixture's arms differ by the same amount in every fold
    # the fixture's three searched arms sample the same archs: one group, every member named
    assert f"Identical final policies in different arms</b>: NAS identity = NAS {SIGMOID} = random search (in 6 " \
           "seed x fold cell(s))" in first
    assert "Does the supernet&#x27;s ranking survive retraining from scratch?</dt><dd>Yes" in first
    assert "<a href='report.html'>Snakemake report</a>" in first
    order = [page.index(f"id='{key}'") for key in ("answers", "search", "architectures", "results", "trust")]
    assert order == sorted(order)
    for name, _, _ in FIGURES:
        if (study / f"results/t/report/{name}.png").exists():
            assert f"<figure id='{name}'><img src='data:image/png;base64," in page, name
    assert "How to read it" in page  # captions from workflow/report/*.rst
    assert "<td>0.711 ± 0.009</td>" in page  # tab_results inline
    assert page.index("id='tab_results'") < page.index("id='fig_confusion'")


def test_summary_of_a_one_seed_one_fold_study_says_there_is_nothing_to_conclude(tmp_path):
    paths = make_study(tmp_path / "results" / "t", seeds=(0,), folds=(0,))
    assert main(aggregate_argv(paths, tmp_path / "agg")) == 0
    from neonas.study.report import Aggregate

    report = tmp_path / "report"  # the report's tables, without drawing the figures (the slow part)
    report.mkdir()
    for name, df in make_tables(Aggregate(tmp_path / "agg")).items():
        df.to_csv(report / f"{name}.csv", index=False)
    out = tmp_path / "summary.html"
    assert main(["summary", "--aggregate", str(tmp_path / "agg"), "--report", str(report), "--out", str(out),
                 "--captions", str(REPO / "workflow/report")]) == 0
    first = "\n".join(_body_lines(out.read_text())[:20])
    assert "What this study shows.</b> Nothing to conclude yet: too few seeds or folds for a test." in first
    assert "Too few seeds or folds</b>: NAS identity, NAS sigmoid-t0.6-s20, random search, hand-designed " \
           "(n = 1 seed, 1 fold)" in first
    assert "<dd>Cannot tell (too few seeds or folds for a test): NAS identity vs random search" in first
    assert "NAS identity vs random search: Δkappa +0.050 (1 fold × 1 seed, no test)" in first
    assert "This study could detect no difference of any size: no test is possible with 1 fold(s) × 1 seed(s) (its " \
           "MDD is unbounded). Δκ = 0.05 needs 116 folds (test infants) at 1 seed each (SD of the fold means 0.19; " \
           "default σ_seed 0.19" in first
    results = pd.read_csv(report / "tab_results.csv")
    assert results["Warnings"].str.contains("n = 1 seed, 1 fold").all()  # the table carries it too
    again = tmp_path / "again.html"
    assert main(["summary", "--aggregate", str(tmp_path / "agg"), "--report", str(report), "--out", str(again),
                 "--captions", str(REPO / "workflow/report")]) == 0
    assert again.read_bytes() == out.read_bytes()
