"""Trust verdicts without pseudo-replication (neonas.study.trust), the fidelity verdict that leads them, the
page's opening line, statistics a search space fixes by construction, and the final model's architecture
in the best-architecture figure: planted cases with known answers, through `neonas aggregate` where it matters."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from neonas.cli import main
from neonas.study import latex, spaceinfo, trust
from neonas.study.display import questions
from neonas.study.report import (
    Aggregate,
    bundle_captions,
    make_figures,
    make_tables,
    use_final,
    verdict_macros,
)
from neonas.study.stats import kendall
from studyfixture import BEST, FANCY, PLAIN, aggregate_argv, make_study, write_metrics, write_run

REPO = Path(__file__).resolve().parents[1]
PAIRS = {"n_layers": 4, "filters": 16, "spans": [1, 2], "dilations": [1, 4], "time_kernels": [5],
         "time_dilations": [1], "pools": [], "skips": False, "stem_kernel": 7, "stem_stride": 4, "stem_pool": 4,
         "dropout": 0.0}


def _three_identical_arms(root: Path) -> dict:
    """Three NAS arms, one seed and fold, each derived and retrained the same two architectures (the demo's
    case: arms that ended with one policy)."""
    searches, derived, metrics = [], [], []
    for setting in ("identity", "sigmoid-a", "sigmoid-b"):
        run = write_run(root / "search" / "nas" / setting / "seed0" / "fold0", "nas", setting, 0, 0)
        searches.append(str(run))
        derived.append(str(run / "derived.json"))
        for rank, (arch, acc) in enumerate(((BEST, 0.8), (PLAIN, 0.7))):
            metrics.append(str(write_metrics(root / "retrain" / "nas" / setting / "seed0" / "fold0" / f"rank{rank}" /
                                             "metrics.json", "nas", setting, 0, 0, rank, acc,
                                             supernet=0.8 - 0.1 * rank, arch=arch)))
    planted = root / "planted.json"
    planted.write_text(json.dumps({"pair_offset": 4}))
    return {"searches": searches, "derived": derived, "metrics": metrics, "planted": str(planted)}


def test_three_arms_with_the_same_two_architectures_are_one_run_and_cannot_tell(tmp_path):
    study = _three_identical_arms(tmp_path / "results" / "t")
    assert main(aggregate_argv(study, tmp_path / "agg")) == 0
    k = pd.read_csv(tmp_path / "agg" / "kendall.csv")
    every = k[k["scope"] == "all"].iloc[0]
    assert every["n_runs"] == 1 and every["n_informative"] == 1  # not 3 runs, not n = 6 pairs
    verdict = json.loads((tmp_path / "agg" / "verdicts.json").read_text())["trust"]
    assert verdict.startswith("Cannot tell: 1 NAS run(s)") and "2 distinct architecture(s)" in verdict
    assert "NAS identity, NAS sigmoid-a and NAS sigmoid-b derived the same architectures" in verdict
    # the pooled tau the old verdict used: 6 pairs, tau 1, "Yes, strongly"
    pooled = kendall([0.8, 0.7] * 3, [0.8, 0.7] * 3)
    assert pooled["n"] == 6 and pooled["tau"] == pytest.approx(1.0)


def _runs(taus: list[int]) -> pd.DataFrame:
    """Runs of two distinct architectures each, with within-run tau +1 or -1 as given, whose scores rise from
    run to run (different validation infants): pooled, the pairs look strongly concordant."""
    rows = []
    for i, t in enumerate(taus):
        for k, arch in enumerate((BEST, FANCY)):
            s = i + 0.5 * k
            rows.append({"arm": "nas", "setting": "identity", "seed": i, "fold": i % 4, "rank": k,
                         "supernet_metric": s, "accuracy": s if t > 0 else i + 0.5 * (1 - k), "arch_hash": "",
                         "arch": json.dumps(arch)})
    return pd.DataFrame(rows)


def test_balanced_within_run_taus_do_not_say_yes_though_the_pooled_tau_would():
    df = _runs([1, -1] * 7)
    pooled = kendall(df["supernet_metric"], df["accuracy"])
    assert pooled["tau"] > 0.8 and pooled["p"] < 0.001  # what pooling the pairs would have said
    table, every, _ = trust.trust_table(df, "accuracy")
    assert (every["n_informative"], every["positive"], every["negative"]) == (14, 7, 7)
    assert every["tau"] == pytest.approx(0.0) and every["p"] == pytest.approx(1.0)
    verdict = trust.trust_verdict(every, "accuracy")
    assert verdict.startswith("No evidence") and "7 run(s) positive and 7 negative" in verdict
    assert len(table[table["scope"] == "run"]) == 14
    # the same runs all concordant: yes
    _, every, _ = trust.trust_table(_runs([1] * 6), "accuracy")
    assert trust.trust_verdict(every, "accuracy").startswith("Yes, strongly")


def test_the_same_architecture_at_two_ranks_counts_once():
    df = _runs([1, 1])
    dup = df.iloc[[0]].assign(rank=2, supernet_metric=0.1, accuracy=0.3)  # BEST again in run 0, other scores
    table, every, _ = trust.trust_table(pd.concat([df, dup], ignore_index=True), "accuracy")
    run0 = table[(table["scope"] == "run") & (table["seed"] == 0)].iloc[0]
    assert run0["n"] == 2  # two distinct architectures, not three pairs


def _fidelity(root: Path, fold: int, passed: bool, reference_ranks: bool) -> str:
    d = root / f"fold{fold}"
    d.mkdir(parents=True)
    (d / "fidelity.json").write_text(json.dumps({"fold": fold, "passed": passed, "verdict": f"fold {fold} verdict",
                                                 "final": {"reference_ranks": reference_ranks}}))
    return str(d)


def test_the_fidelity_verdict_leads_and_the_trust_verdict_says_why_it_differs(tmp_path):
    study = make_study(tmp_path / "results" / "t", seeds=(0, 1), folds=(0, 1, 2))
    fid = [_fidelity(tmp_path / "fidelity", 0, False, False), _fidelity(tmp_path / "fidelity", 1, False, True)]
    assert main([*aggregate_argv(study, tmp_path / "agg"), "--fidelity", *fid]) == 0
    agg = Aggregate(tmp_path / "agg")
    assert questions(agg.verdicts)[0][0] == "fidelity"  # the first question asked and answered
    assert agg.verdicts["fidelity"].startswith("No: the shared weights were not shown to rank architectures in any "
                                               "fold (0 of 2; 1 do not rank; 1 cannot tell")
    # within runs the fixture's top-k agree with retraining (6 runs, tau +1), but that cannot overturn the check
    assert agg.verdicts["trust"].startswith("Yes")
    assert "does not overturn the fidelity check (0 of 2 fold(s) rank)" in agg.verdicts["trust"]
    macros = verdict_macros(agg)
    assert macros["neonasHeadline"].startswith("No NAS conclusion: the estimator (the shared weights) was not shown "
                                               "to rank (0 of 2 folds)")
    text = latex.bundle([], macros, "t")
    assert r"\def\neonasFidelityVerdict{No: the shared weights were not shown" in text
    assert text.index(r"\def\neonasFidelityVerdict") < text.index(r"\def\neonasTrustVerdict")
    # the summary: the opening line, one line over the folds, the folds behind <details>
    report = tmp_path / "report"
    report.mkdir()
    for name, df in make_tables(agg).items():
        df.to_csv(report / f"{name}.csv", index=False)
    out = tmp_path / "summary.html"
    assert main(["summary", "--aggregate", str(tmp_path / "agg"), "--report", str(report), "--out", str(out),
                 "--fidelity", *fid]) == 0
    body = out.read_text().split("<body>", 1)[1].splitlines()
    assert body[2].startswith("<p class='headline'><b>What this study shows.</b> No NAS conclusion")
    page = "\n".join(body)
    assert "<b>0 of 2 fold(s) rank.</b>" in page and "<details><summary>Fold by fold (2 fold(s))</summary>" in page
    assert page.index("Fold by fold") < page.index("fold 0 verdict")


def test_agreeing_checks_say_so():
    every = {"n_runs": 3, "n_informative": 3, "n": 3, "positive": 1, "negative": 2, "n_archs": 6, "tau": -0.33,
             "tau_low": -2.0, "tau_high": 1.5, "p": 1.0}
    none = {"n": 8, "passed": [], "unknown": [0, 1, 2], "failed": [3, 4, 5, 6, 7]}
    assert trust.trust_verdict(every, "kappa", fidelity=none).endswith(
        "This agrees with the fidelity check (0 of 8 fold(s) rank).")
    four = {**every, "n_runs": 4, "n_informative": 4, "positive": 4, "negative": 0, "tau": 1.0, "tau_low": 1.0,
            "tau_high": 1.0, "p": 0.125}
    assert "with 4 runs a sign test cannot go below p = 0.125" in trust.trust_verdict(four, "kappa")
    assert trust.fidelity_verdict(none).startswith("No: the shared weights were not shown to rank architectures in "
                                                   "any fold (0 of 8; 5 do not rank; 3 cannot tell")


def test_space_size_and_what_it_fixes():
    from neonas.engine.space import SpaceConfig

    pairs = SpaceConfig(**{k: v for k, v in PAIRS.items()})
    assert spaceinfo.space_name(pairs) == "pairs" and spaceinfo.n_architectures(pairs, 3) == 3 ** 4
    assert set(spaceinfo.fixed(pairs, 3)) == {"skips", "time", "pools"}
    thesis = SpaceConfig(n_layers=3)
    assert spaceinfo.space_name(thesis) == "thesis" and spaceinfo.fixed(thesis, 23) == {}
    assert spaceinfo.n_architectures(thesis, 23) == 23 ** 3 * 2 ** (0 + 1 + 2)  # skips: 2^i subsets of i layers


def test_statistics_the_space_fixes_are_marked_in_tables_and_captions(tmp_path):
    study = make_study(tmp_path / "results" / "t", seeds=(0,), folds=(0,))
    for run in study["searches"]:
        path = Path(run) / "summary.json"
        summary = json.loads(path.read_text())
        summary["config"]["space"] = PAIRS
        summary["offered_ops"] = ["conv span 1", "conv span 2 x dil 1", "conv span 2 x dil 4"]
        path.write_text(json.dumps(summary))
    assert main(aggregate_argv(study, tmp_path / "agg")) == 0
    agg = Aggregate(tmp_path / "agg")
    assert agg.space["name"] == "pairs" and agg.space["n_architectures"] == 81
    table = make_tables(agg)["tab_archstats"]
    assert table["With skips"].str.endswith(" (fixed)").all() and table["Time (ms)"].str.endswith(" (fixed)").all()
    assert not table["Span"].str.contains("fixed").any()  # spans 1 and 2: a finding
    assert r"(fixed)" in latex.tabular(table)
    captions = bundle_captions(agg)
    for name in ("fig_archstats_best", "fig_archstats_policy", "fig_archstats_over_time", "tab_archstats"):
        assert "Not findings, fixed by the search space: the space has no skip connections (skips: false); the " \
            "space has one time kernel (5 steps)" in captions[name]
    assert "every layer is a conv" in captions["tab_archstats"]
    assert "fixed by the search space" not in captions["fig_confusion"]


def test_the_best_architecture_figure_draws_the_final_models(tmp_path, caplog):
    study = make_study(tmp_path / "results" / "t", seeds=(0,), folds=(0,))
    assert main(aggregate_argv(study, tmp_path / "agg")) == 0
    agg = Aggregate(tmp_path / "agg")
    assert agg.highlights["best"]["arch"] == BEST
    final = tmp_path / "final"
    final.mkdir()
    use_final(agg, final)  # no choice.json: the aggregate's pick stays, with a warning
    assert agg.highlights["best"]["arch"] == BEST and "no architecture to draw" in caplog.text
    (final / "choice.json").write_text(json.dumps({"arch_hash": "abc", "arch": PLAIN, "why": "best yardstick"}))
    use_final(agg, final)
    assert agg.highlights["best"]["arch"] == PLAIN
    assert agg.highlights["best"]["why"] == "the final model's architecture: best yardstick"
    make_figures(agg, tmp_path, only=["fig_arch_best"])  # the diagram draws it
    assert (tmp_path / "fig_arch_best.png").stat().st_size > 5000
