"""Figures (PDF + PNG), LaTeX tables and the thesis bundle of a study, from `neonas aggregate`'s tables.

--out gets every figure as PDF and PNG and every table as CSV and LaTeX (booktabs tabular); --latex
gets the bundle: neonas_results.tex (one file to \\input: each figure and table as a float with a
caption and a label, plus the verdicts as macros), figures/*.pdf, tables/*.tex and a README.
Reruns on the same tables are byte-identical. docs/report.md explains every output.

Example:
  neonas report --aggregate results/demo/aggregate --out results/demo/report --latex results/demo/latex
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
from pathlib import Path

import pandas as pd

from neonas.errors import NeonasError
from neonas.io import atomic_dir
from neonas.study import archstats, latex
from neonas.study.display import (
    align,
    archstats_table,
    checklist_table,
    compute_table,
    headline,
    kendall_table,
    paired_table,
    planted_table,
    results_table,
    verdict_table,
    warnings_table,
)
from neonas.study.spaceinfo import fixed_note

log = logging.getLogger(__name__)

# (name, category, caption). The snakemake report shows each PNG/CSV with workflow/report/<name>.rst;
# the LaTeX bundle uses the caption here.
FIGURES = [
    ("fig_accuracy_over_epochs", "Search",
     "Children's validation score (the reward's metric) over the search epochs, identity vs sigmoid reward, "
     "each arm on its own supernet. Dots: sampled children "
     "of every seed and fold (a fixed random 20,000 per panel in long studies); line: rolling median; band: "
     "rolling quartiles (both of all children)."),
    ("fig_accuracy_all_settings", "Search",
     "Children's validation score (the reward's metric) over the search epochs for every reward setting of "
     "the grid and for "
     "random search (dots: children; line and band: rolling median and quartiles over seeds and folds)."),
    ("fig_controller", "Search",
     "Controller policy entropy and reward baseline per search epoch (median over seeds and folds, band: "
     "quartiles). Entropy is drawn from 0 to the uniform policy's (dashed line); curves that look flat at this "
     "scale have their range written in the panel."),
    ("fig_rewards", "Search", "Reward as a function of the child's validation metric for each reward setting."),
    ("fig_archstats_best", "Architectures",
     "Architectures derived as best (top-k on validation, shared weights): share of conv layers per channel "
     "span, channel dilation, spatial extent and time kernel, share of ops, and skips per architecture."),
    ("fig_archstats_policy", "Architectures",
     "The controller's final policy (architectures sampled after the search; uniform samples for random "
     "search): the same distributions as for the best architectures."),
    ("fig_archstats_over_time", "Architectures",
     "How the sampled children change during the search: mean spatial extent, time kernel, share of "
     "architectures with skips and share of conv layers, per window of epochs."),
    ("fig_arch_best", "Architectures",
     "The final model's architecture (results/<study>/final/choice.json); without a final model, the NAS "
     "architecture with the highest mean test kappa retrained from scratch. Boxes: layers with channel "
     "span x dilation, spatial extent in electrodes and time kernel; red arcs: skip connections."),
    ("fig_arch_fancy", "Architectures",
     "A weak 'fancy' architecture: among the final policy's samples other than the best architecture, the one "
     "with the most skip connections (at least one) and, among those, the lowest supernet score."),
    ("fig_confusion", "Results",
     "Confusion matrices of the retrained best architectures on the held-out infants, summed over seeds and "
     "folds: each cell gives the percentage of its true stage (rows sum to 100 %) and the count of epochs."),
    ("fig_hypnogram", "Results",
     "True (scorer) vs predicted hypnogram of the best retrained model (highest test kappa) on one of its "
     "held-out infants, with the epochs where they disagree shaded, and the predicted stage probabilities."),
    ("fig_supernet_vs_retrained", "Trust",
     "Supernet score (shared weights, validation) vs accuracy after retraining from scratch (test) of every "
     "retrained top-k architecture; tau: the mean over runs of Kendall's tau within a run (each distinct "
     "architecture once), per setting."),
]
TABLES = [
    ("tab_results", "Results",
     "Test performance of the retrained best architecture (rank 0) per arm: mean ± sample SD over seeds "
     "and folds."),
    ("tab_paired_tests", "Results",
     "Paired differences (first minus second) per metric, with two-sided paired t-test p-values over the fold "
     "means (each fold's seed × fold cells averaged; n = folds), and the minimum detectable difference in κ at "
     "80 % power (MDD)."),
    ("tab_compute", "Results",
     "Compute per arm: wall-clock hours of searches and of retraining, by device (CPU-hours are wall-clock "
     "hours of CPU jobs, not core-hours)."),
    ("tab_checklist", "Results",
     "NAS best-practice checklist (Lindauer & Hutter 2020), answered from the study's files."),
    ("tab_archstats", "Architectures",
     "Architecture statistics per setting, pooled over seeds and folds: means over conv layers, share of "
     "architectures with skips, share of conv layers among all layers, and share covering the planted offset."),
    ("tab_kendall", "Trust",
     "Kendall's tau between the supernet's ranking and the score retrained from scratch, within each run over "
     "its distinct architectures, then combined over the informative runs (mean with 95 % t-interval, sign "
     "test) per setting and over all NAS runs (runs of arms that derived the same architectures count once)."),
    ("tab_planted", "Trust",
     "Does the search find the planted spatial structure? Share of architectures with a conv layer mixing "
     "channels the planted offset apart, vs the exact share under uniform sampling of the search space."),
    ("tab_verdicts", "Verdicts", "Plain-language answers to the study's questions: does NAS beat its baselines, "
     "does the reward setting matter, did the controller learn, can the supernet be trusted, was the planted "
     "structure found."),
    ("tab_warnings", "Verdicts",
     "Checks that can fail, each against a threshold fixed in advance (docs/report.md): too few seeds or folds, "
     "arms not shown to differ, a reward that does not tell children apart, a policy that stayed uniform, "
     "constant networks among the best, identical final policies in different arms."),
]
WIDE_TABLES = {"tab_archstats", "tab_paired_tests", "tab_planted", "tab_results"}
REQUIRED = ["runs.csv", "children_sample.csv", "curves.csv", "controller.csv", "windows.csv", "reward_curves.csv",
            "reward_configs.csv", "arch_dist.csv", "arch_summary.csv", "results.csv", "results_summary.csv",
            "paired_tests.csv", "confusion.csv", "compute.csv", "kendall.csv", "checklist.csv",
            "highlights.json", "verdicts.json"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--aggregate", required=True, metavar="DIR", help="output directory of `neonas aggregate`")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for figures (PDF, PNG) and tables "
                        "(CSV, LaTeX)")
    parser.add_argument("--latex", required=True, metavar="DIR",
                        help="directory for the LaTeX bundle (neonas_results.tex, figures/, tables/, README.md)")
    parser.add_argument("--title", default="neonas study", help="name of the study in the bundle's header")
    parser.add_argument("--final", metavar="DIR", help="the study's final model (`neonas final`'s folder): the "
                        "best-architecture figure draws the architecture its choice.json names")


# ----------------------------------------------------------------------------- reading


class Aggregate:
    """The tables of one aggregate directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise NeonasError("aggregate directory not found (run `neonas aggregate` first)", self.path)
        missing = [n for n in REQUIRED if not (self.path / n).exists()]
        if missing:
            raise NeonasError(f"not a complete `neonas aggregate` output: missing {missing}", self.path)
        self.highlights = json.loads((self.path / "highlights.json").read_text())
        self.verdicts = json.loads((self.path / "verdicts.json").read_text())
        # optional (older aggregates lack them): the search space (spaceinfo.space_info), the fidelity check
        self.space = self.json("space")
        self.fidelity = self.json("fidelity_summary") or None
        runs = self.csv("runs")
        results = self.csv("results")
        pairs = list(zip(runs["arm"], runs["setting"], strict=True)) + \
            list(zip(results["arm"], results["setting"], strict=True))
        order = {"nas": 0, "random": 1, "evolution": 2, "handcrafted": 3}
        self.settings = sorted(dict.fromkeys(pairs), key=lambda p: order.get(p[0], 9))

    def json(self, name: str) -> dict:
        path = self.path / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def csv(self, name: str) -> pd.DataFrame:
        path = self.path / f"{name}.csv"
        if not path.exists():
            return pd.DataFrame()
        try:
            return pd.read_csv(path, keep_default_na=True, dtype={"value": str, "setting": str, "seed": str,
                                                                  "fold": str} if name in _STR_TABLES else None)
        except pd.errors.EmptyDataError:
            return pd.DataFrame()


_STR_TABLES = {"arch_dist", "kendall"}


# ----------------------------------------------------------------------------- the report


def thesis_panels(agg: Aggregate) -> list[tuple[str, str]]:
    """Identity and sigmoid reward settings (the thesis's comparison); all NAS settings if there are none."""
    configs = agg.csv("reward_configs")
    kinds = dict(zip(configs["setting"].astype(str), configs["name"], strict=True)) if len(configs) else {}
    nas = [s for s in agg.settings if s[0] == "nas"]
    picked = [s for s in nas if kinds.get(s[1]) == "identity"] + [s for s in nas if kinds.get(s[1]) == "sigmoid"]
    return picked if len(picked) >= 2 else nas


def make_figures(agg: Aggregate, out: Path, only: list[str] | None = None) -> None:
    """Draw every figure of FIGURES (or those named in `only`) into `out` as PDF and PNG."""
    from neonas.study import figures as F
    from neonas.study import figures_arch as FA
    from neonas.study.hypnogram import hypnogram_figure

    children, curves = agg.csv("children_sample"), agg.csv("curves")
    runs = agg.csv("runs")
    runs["setting"] = runs["setting"].astype(str)
    totals = runs.groupby(["arm", "setting"])["n_children"].sum().to_dict()
    for df in (children, curves):
        if len(df):
            df["setting"] = df["setting"].astype(str)
    metric_name = str(runs["metric_name"].iloc[0]) if len(runs) else "accuracy"
    every = agg.settings
    searched = [s for s in every if s[0] in ("nas", "random", "evolution")]
    geometry = None
    if len(runs):
        r = runs.iloc[0]
        geometry = archstats.Geometry(ch_names=None, sfreq=_num(r.get("sfreq")), step_samples=_num(r.get("step_samples")))
    dist, summary = agg.csv("arch_dist"), agg.csv("arch_summary")
    nas_runs = runs[runs["arm"] == "nas"] if "uniform_entropy" in runs else runs.iloc[:0]
    h_uniform = _num(nas_runs["uniform_entropy"].iloc[0]) if len(nas_runs) else None
    configs = agg.csv("reward_configs")
    reward_max = float(configs["scale"].max()) if "scale" in configs and configs["scale"].notna().any() else 1.0

    def diagram(key: str, title: str):
        item = agg.highlights.get(key) or {}
        score = item.get("score")
        score = f"{item.get('score_name', 'score')} {score:.3f}" if isinstance(score, (int, float)) else None
        return FA.arch_diagram(FA.highlight_arch(agg.highlights, key), title, geometry, item.get("why"), score)

    made = {
        "fig_accuracy_over_epochs": lambda: F.accuracy_over_epochs(children, curves, thesis_panels(agg), every,
                                                                   metric_name, totals),
        "fig_accuracy_all_settings": lambda: F.accuracy_over_epochs(children, curves, searched, every, metric_name,
                                                                    totals),
        "fig_controller": lambda: F.controller_curves(agg.csv("controller"), searched, h_uniform, reward_max),
        "fig_rewards": lambda: F.reward_functions(agg.csv("reward_curves"), agg.csv("reward_configs"), every),
        "fig_archstats_best": lambda: FA.arch_distributions(dist, "top", searched),
        "fig_archstats_policy": lambda: FA.arch_distributions(dist, "sampled", searched),
        "fig_archstats_over_time": lambda: FA.arch_over_time(summary, agg.csv("windows"), searched),
        "fig_arch_best": lambda: diagram("best", "The final model's architecture" if (agg.highlights.get("best") or {})
                                         .get("final") else "Best architecture"),
        "fig_arch_fancy": lambda: diagram("fancy", "Weak 'fancy' architecture"),
        "fig_confusion": lambda: F.confusion_matrices(agg.csv("confusion"), every),
        "fig_hypnogram": lambda: hypnogram_figure(agg.csv("hypnogram")),
        "fig_supernet_vs_retrained": lambda: F.supernet_vs_retrained(agg.csv("results"), agg.csv("kendall"), searched),
    }
    assert set(made) == {n for n, _, _ in FIGURES}
    for name, _, _ in FIGURES:
        if only is not None and name not in only:
            continue
        log.info("drawing %s", name)
        F.save(made[name](), out / name)


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else (int(f) if f.is_integer() else f)


def make_tables(agg: Aggregate) -> dict[str, pd.DataFrame]:
    planted = agg.csv("planted")
    offset = int(planted["pair_offset"].iloc[0]) if len(planted) else None
    tables = {
        "tab_results": results_table(agg.csv("results_summary"), agg.csv("checks")),
        "tab_paired_tests": paired_table(agg.csv("paired_tests")),
        "tab_compute": compute_table(agg.csv("compute")),
        "tab_checklist": checklist_table(agg.csv("checklist")),
        "tab_archstats": archstats_table(agg.csv("arch_summary"), offset, agg.space.get("fixed", {})),
        "tab_kendall": kendall_table(agg.csv("kendall")),
        "tab_planted": planted_table(planted),
        "tab_verdicts": verdict_table(agg.verdicts),
        "tab_warnings": warnings_table(agg.csv("checks")),
    }
    assert set(tables) == {n for n, _, _ in TABLES}
    return tables


README = """# LaTeX bundle of {title}

Made by `neonas report`; rerun the report instead of editing these files.
In your preamble: `\\usepackage{{graphicx}}` and `\\usepackage{{booktabs}}`. In your chapter:

    \\newcommand{{\\neonasdir}}{{path/to/this/folder}}   % relative to your main .tex file
    \\input{{path/to/this/folder/neonas_results.tex}}

Every figure and table becomes a float with a caption and a label (`fig:neonas-...`, `tab:neonas-...`,
listed at the top of neonas_results.tex); the verdicts are macros: {macros}.
To place floats yourself, `\\input` single tables from tables/ and include figures from figures/.
"""


# figures and tables whose statistics a space may fix by construction (spaceinfo.fixed), and which statistics
FIXED_IN = {"fig_archstats_best": None, "fig_archstats_policy": None, "fig_archstats_over_time": ("skips", "time", "pools"),
            "tab_archstats": None, "fig_arch_best": ("skips",), "fig_arch_fancy": ("skips",)}


def fixed_caption(agg: Aggregate, name: str) -> str:
    """The sentence a caption gets when the study's space fixes some of what the item shows (empty if none)."""
    return fixed_note(agg.space, FIXED_IN[name]) if name in FIXED_IN else ""


def use_final(agg: Aggregate, final: Path) -> None:
    """The best-architecture figure draws the final model's architecture (choice.json's `arch`); a choice.json
    that cannot be read or names no architecture leaves the aggregate's pick, with a warning."""
    path = final / "choice.json"
    try:
        doc = json.loads(path.read_text())
        arch = doc["arch"]
        assert isinstance(arch, dict) and isinstance(arch.get("layers"), list)
    except (OSError, ValueError, KeyError, AssertionError, TypeError):
        log.warning("%s: no architecture to draw; the figure shows the aggregate's best architecture", path)
        return
    h = str(doc.get("arch_hash") or archstats.arch_hash(arch))
    why = str(doc.get("why") or "chosen by `neonas final`")
    agg.highlights["best"] = {"arch_hash": h, "arch": arch, "score": None, "final": True,
                              "why": f"the final model's architecture: {why}"}
    fancy = agg.highlights.get("fancy") or {}
    if fancy.get("arch_hash") == h:
        agg.highlights["fancy"] = {"arch_hash": None, "arch": None, "why": "the weak 'fancy' pick is the final model's "
                                   "architecture"}


def bundle_captions(agg: Aggregate) -> dict[str, str]:
    """Each figure's and table's caption, with what the study's search space fixes by construction said."""
    return {n: c + (" " + fixed_caption(agg, n) if fixed_caption(agg, n) else "") for n, _, c in FIGURES + TABLES}


def verdict_macros(agg: Aggregate) -> dict[str, str]:
    """The bundle's macros: the opening line, the fidelity verdict (it leads), then every other answer."""
    v = agg.verdicts
    return {"neonasHeadline": headline(v, agg.csv("checks"), agg.fidelity),
            "neonasFidelityVerdict": v.get("fidelity", "not checked (no fidelity check in this study)"),
            "neonasTrustVerdict": v.get("trust", "not checked"),
            "neonasPlantedVerdict": v.get("planted", "not checked (no planted.json given)"),
            "neonasComparisonVerdict": v.get("comparison", "not checked"),
            "neonasRewardVerdict": v.get("reward", "not checked"),
            "neonasLearningVerdict": v.get("learning", "not checked")}


def run(args: argparse.Namespace) -> int:
    agg = Aggregate(args.aggregate)
    if Path(args.out).resolve() == Path(args.latex).resolve():
        raise NeonasError("--out and --latex must be different directories")
    tables = make_tables(agg)
    if getattr(args, "final", None):
        use_final(agg, Path(args.final))
    captions = bundle_captions(agg)
    macros = verdict_macros(agg)
    with atomic_dir(args.out) as out, atomic_dir(args.latex) as tex:
        make_figures(agg, out)
        (tex / "figures").mkdir()
        (tex / "tables").mkdir()
        for name, _, _ in FIGURES:
            shutil.copyfile(out / f"{name}.pdf", tex / "figures" / f"{name}.pdf")
        for name, df in tables.items():
            df.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")
            body = latex.tabular(df, align(name, df))
            (out / f"{name}.tex").write_text(body)
            (tex / "tables" / f"{name}.tex").write_text(body)
        floats = [latex.Float("figure", n, captions[n]) for n, _, _ in FIGURES] + \
            [latex.Float("table", n, captions[n], wide=n in WIDE_TABLES) for n, _, _ in TABLES]
        (tex / "neonas_results.tex").write_text(latex.bundle(floats, macros, args.title))
        (tex / "README.md").write_text(README.format(title=args.title,
                                                     macros=", ".join(f"`\\{m}`" for m in macros)))
    log.info("wrote %d figures and %d tables to %s, LaTeX bundle to %s", len(FIGURES), len(TABLES), args.out,
             args.latex)
    for key, text in agg.verdicts.items():
        log.info("%s: %s", key, text)
    return 0
