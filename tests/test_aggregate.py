"""`neonas aggregate` and neonas.study.archstats on hand-written architectures and run logs with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neonas.cli import main
from neonas.study import archstats
from studyfixture import (
    BEST,
    FANCY,
    LOCAL,
    PLAIN,
    SIGMOID,
    aggregate_argv,
    conv,
    make_study,
    pool,
    write_run,
)


@pytest.fixture(scope="module")
def agg(tmp_path_factory):
    """The hand-written study of studyfixture, aggregated once for this module."""
    root = tmp_path_factory.mktemp("study")
    study = make_study(root / "results" / "t")
    assert main(aggregate_argv(study, root / "agg")) == 0
    out = root / "agg"
    return {"dir": out, "csv": lambda name: pd.read_csv(out / f"{name}.csv"),
            "json": lambda name: json.loads((out / f"{name}.json").read_text())}


# ----------------------------------------------------------------------------- the whole study


def test_distribution_of_three_known_architectures(tmp_path):
    run = write_run(tmp_path / "search" / "nas" / "identity" / "seed0" / "fold0", "nas", "identity", 0, 0, epochs=2)
    a = {"layers": [conv(1, 1, 3), conv(2, 4, 5)]}
    b = {"layers": [conv(2, 4, 5), pool("max", [0])]}
    c = {"layers": [conv(3, 2, 7), conv(3, 1, 3)]}
    derived = {"run": str(run), "metric_name": "accuracy", "n_sampled": 3,
               "sampled": [{"hash": "", "arch": x, "supernet_metric": 0.5} for x in (a, b, c)],
               "top": [{"rank": 0, "hash": "", "arch": b, "supernet_metric": 0.5}]}
    (run / "derived.json").write_text(json.dumps(derived))
    out = tmp_path / "agg"
    argv = ["aggregate", "--searches", str(run), "--derived", str(run / "derived.json"), "--sfreq", "64",
            "--out", str(out)]
    assert main(argv) == 0
    dist = pd.read_csv(out / "arch_dist.csv", dtype={"value": str})
    s = dist[dist["source"] == "sampled"]

    def shares(q):
        return dict(zip(s[s["quantity"] == q]["value"], s[s["quantity"] == q]["share"], strict=True))

    assert shares("span") == pytest.approx({"1": 0.2, "2": 0.4, "3": 0.4})  # conv spans 1,2,2,3,3
    assert shares("dilation") == pytest.approx({"1": 0.4, "2": 0.2, "4": 0.4})
    assert shares("extent_el") == pytest.approx({"1": 0.2, "3": 0.2, "5": 0.6})
    assert shares("op") == pytest.approx({"conv": 5 / 6, "maxpool": 1 / 6})
    assert shares("n_skips") == pytest.approx({"0": 2 / 3, "1": 1 / 3})
    assert shares("time_extent_ms") == pytest.approx({"750.0": 0.4, "1250.0": 0.4, "1750.0": 0.2})
    summ = pd.read_csv(out / "arch_summary.csv")
    row = summ[(summ["source"] == "sampled") & (summ["window"] == 0)].iloc[0]
    assert row["mean_span"] == pytest.approx(11 / 5) and row["skip_freq"] == pytest.approx(1 / 3)
    assert row["n_archs"] == 3 and row["n_conv_layers"] == 5


def test_results_compute_and_paired_tests(agg):
    res = agg["csv"]("results_summary").set_index("setting")
    assert list(res.index) == ["identity", SIGMOID, "uniform", "reference"]  # NAS in study order, then the rest
    # rank 0 accuracy = base + 0.01*fold + 0.002*seed over seeds {0,1} x folds {0,1,2}
    assert res.loc["identity", "accuracy_mean"] == pytest.approx(0.711)
    assert res.loc[SIGMOID, "accuracy_mean"] == pytest.approx(0.761)
    assert res.loc["identity", "accuracy_sd"] == pytest.approx(np.std([0.70, 0.71, 0.72, 0.702, 0.712, 0.722], ddof=1))
    assert res.loc["identity", "n_seeds"] == 2 and res.loc["identity", "n_folds"] == 3
    comp = agg["csv"]("compute").set_index("setting")
    assert comp.loc["identity", "search_gpu_h"] == pytest.approx(3.0)  # 6 searches x 1800 s on cuda
    assert comp.loc["identity", "retrain_gpu_h"] == pytest.approx(2.0)  # 12 retrains x 600 s
    assert comp.loc["uniform", "search_cpu_h"] == pytest.approx(3.0) and comp.loc["uniform", "search_gpu_h"] == 0
    assert comp.loc["reference", "retrain_cpu_h"] == pytest.approx(1.0)
    tests = agg["csv"]("paired_tests")
    t = tests[(tests["a_setting"] == SIGMOID) & (tests["b_arm"] == "handcrafted") & (tests["metric"] == "accuracy")]
    # clustered by fold: 6 cells 0.15 + 0.002 * seed average to 0.151 in each of the 3 folds, so the fold means
    # have no spread: the same mean difference in 3 folds counts as a difference (p = 0; neonas.study.stats)
    row = t.iloc[0]
    assert row["n"] == 3 and row["n_cells"] == 6 and row["mean_diff"] == pytest.approx(0.151)
    assert row["p"] == 0.0 and row["note"] == "the same mean difference in every fold"
    assert row["sd_seed"] == pytest.approx(np.std([0.15, 0.152], ddof=1)) and row["sd_fold"] == pytest.approx(0.0)
    assert row["mdd"] == pytest.approx(0.0, abs=1e-9) and row["mdd_source"] == "this study"
    conf = agg["csv"]("confusion")
    c = conf[(conf["setting"] == "identity") & (conf["true"] == "W")]
    assert list(c["row_share"]) == pytest.approx([0.2, 0.0, 0.8, 0.0])
    assert c["count"].sum() == 6 * 10  # 6 models x 10 W epochs


def test_kendall_and_planted_on_the_study(agg):
    k = agg["csv"]("kendall")
    every = k[k["scope"] == "all"].iloc[0]
    # 12 NAS runs, but identity and sigmoid derived the same 2 architectures in each of the 6 seed x fold cells:
    # 6 runs count, each with tau +1 over its 2 distinct architectures; a sign test of 6 of 6 gives p = 2/64
    assert every["n_runs"] == 6 and every["n_informative"] == 6 and every["positive"] == 6
    assert every["tau"] == pytest.approx(1.0) and every["p"] == pytest.approx(2 / 64)
    assert "NAS identity and NAS sigmoid-t0.6-s20 derived the same architectures" in every["same_as"]
    run = k[(k["scope"] == "run")].iloc[0]
    assert run["n"] == 2 and run["tau"] == pytest.approx(1.0)
    planted = agg["csv"]("planted")
    best = planted[(planted["architectures"] == "best (top rank 0)")].set_index("setting")
    assert best.loc["all", "n"] == 12 and best.loc["all", "covers"] == 12  # every NAS best is the thesis net
    assert best.loc["uniform", "covers"] == 0  # random's best is LOCAL
    assert best.loc["all", "expected_uniform"] == pytest.approx(1 - (14 / 23) ** 4)
    verdicts = agg["json"]("verdicts")
    assert verdicts["trust"].startswith("Yes")
    assert "12 of 12" in verdicts["planted"] and "86%" in verdicts["planted"]
    # whole architectures cover offset 4 by chance 86 % of the time; layer by layer it is 9 of 23 ops
    assert best.loc["all", "layer_share"] == 1.0  # 48 of 48 layers are span 2 x dilation 4
    assert best.loc["all", "layer_expected_uniform"] == pytest.approx(9 / 23)
    assert best.loc["uniform", "layer_share"] == 0.0
    assert verdicts["planted"].startswith("Yes, layer by layer") and "48 of 48 layers" in verdicts["planted"]


def test_layer_level_planted_counts():
    assert archstats.layers_covering(BEST, 4) == 4
    assert archstats.layers_covering(PLAIN, 4) == 1  # only span 3 x dilation 2 mixes channels 4 apart
    assert archstats.layers_covering(LOCAL, 4) == 0
    # default space: span 2 x dil 4, span 3 x dil 2, span 3 x dil 4, each with 3 time kernels, of 23 ops
    assert archstats.uniform_layer_rate({}, 4) == pytest.approx(9 / 23)
    assert archstats.uniform_layer_rate({}, 1) == pytest.approx(6 / 23)  # span 2 x dil 1 and span 3 x dil 1


def test_highlights_curves_and_rewards(agg):
    h = agg["json"]("highlights")
    assert h["best"]["arch"] == BEST  # highest retrained accuracy
    assert h["fancy"]["arch"] == FANCY  # the most skips among the final policy's samples
    curves = agg["csv"]("curves")
    first = curves[(curves["setting"] == "identity") & (curves["epoch"] == 0)].iloc[0]
    assert first["n"] == 2 * 3 * 3  # seeds x folds x children of epoch 0 (8 epochs: default rolling window 1)
    rc = agg["csv"]("reward_curves")
    sig = rc[rc["setting"] == SIGMOID].set_index("x")["reward"]
    assert sig.loc[0.6] == pytest.approx(0.5)  # the threshold is the inflection: C/2
    assert sig.loc[1.0] == pytest.approx(1 / (1 + math.exp(-20 * 1.0 + 20 * 0.6)))
    ident = rc[rc["setting"] == "identity"]
    assert np.allclose(ident["reward"], ident["x"])
    checklist = agg["csv"]("checklist").set_index("item")
    assert checklist.loc["Random search with the same budget", "answer"] == "yes"
    assert checklist.loc["Same evaluation pipeline for every arm", "answer"] == "yes"


def test_best_architecture_is_chosen_by_the_final_models_rule(tmp_path):
    """Figure 5's best architecture: the final model's rule (mean test kappa), not accuracy (issue 17)."""
    from neonas.training.final import candidates_table, choose, read_candidates

    study = make_study(tmp_path / "results" / "t")
    nas = [m for m in study["metrics"] if "/retrain/nas/" in m]
    for m in nas:  # BEST keeps the higher accuracy, PLAIN gets the higher kappa
        doc = json.loads(Path(m).read_text())
        doc["kappa"] = 0.2 if doc["arch"] == BEST else 0.5
        Path(m).write_text(json.dumps(doc))
    assert main(aggregate_argv(study, tmp_path / "agg")) == 0
    best = json.loads((tmp_path / "agg" / "highlights.json").read_text())["best"]
    assert best["arch"] == PLAIN and best["score"] == pytest.approx(0.5) and "κ" in best["why"]
    for m in nas:  # metrics.json of retrain carries the hash
        doc = json.loads(Path(m).read_text())
        Path(m).write_text(json.dumps({**doc, "arch_hash": archstats.arch_hash(doc["arch"])}))
    final = choose(candidates_table(read_candidates(nas), {}), "kappa", None)
    assert final["arch_hash"] == best["arch_hash"] == archstats.arch_hash(PLAIN)


def test_the_planted_cue_question_is_asked_only_of_the_synthetic_cohort(tmp_path):
    """The supernet sanity check asks whether the shared weights see the PLANTED cue: without planted.json (real
    recordings) the question is not asked, even when the workflow made sanity files (issue 17)."""
    study = make_study(tmp_path / "results" / "t")
    sanity = tmp_path / "fold0_sanity.csv"
    pd.DataFrame([{"seed": s, "fold": 0, "net": net, "metric_name": "kappa", "metric": m}
                  for s in (0, 1) for net, m in (("pair", 0.3 + 0.01 * s), ("single", 0.2))]).to_csv(sanity, index=False)
    argv = aggregate_argv(study, tmp_path / "synthetic") + ["--sanity", str(sanity)]
    assert main(argv) == 0
    assert "sanity" in json.loads((tmp_path / "synthetic" / "verdicts.json").read_text())
    i = argv.index("--planted")
    real = argv[:i] + argv[i + 2:]
    real[real.index("--out") + 1] = str(tmp_path / "real")
    assert main(real) == 0
    verdicts = json.loads((tmp_path / "real" / "verdicts.json").read_text())
    assert "sanity" not in verdicts and "planted" not in verdicts


def test_setting_comes_from_the_study_layout_and_args_file(tmp_path):
    # summary.json says reward_name 'sigmoid'; the directory names the setting
    run = write_run(tmp_path / "search" / "nas" / SIGMOID / "seed3" / "fold1", "nas", SIGMOID, 3, 1, epochs=2,
                    derived=False)
    args = tmp_path / "args.txt"
    args.write_text(f"--searches\n{run}\n--sfreq\n64\n")
    assert main(["aggregate", f"@{args}", "--out", str(tmp_path / "agg")]) == 0
    runs = pd.read_csv(tmp_path / "agg" / "runs.csv")
    assert runs.iloc[0][["arm", "setting", "seed", "fold", "reward_name"]].tolist() == ["nas", SIGMOID, 3, 1, "sigmoid"]
    # outside the layout, summary.json's reward_name is the setting
    other = write_run(tmp_path / "elsewhere", "nas", SIGMOID, 0, 0, epochs=2, derived=False)
    assert main(["aggregate", "--searches", str(other), "--out", str(tmp_path / "agg2")]) == 0
    assert pd.read_csv(tmp_path / "agg2" / "runs.csv").iloc[0]["setting"] == "sigmoid"


def test_sfreq_and_channels_from_the_recordings(tmp_path):
    from neonas.store.h5io import Recording, write_recording

    files = {}
    for i in range(3):
        rec = Recording(infant_id=f"syn0{i}", eeg=np.zeros((2, 9, 64 * 30), np.float32),
                        labels=np.zeros(2, np.int8), onset_s=np.array([0.0, 30.0]), artifact=np.zeros(2, np.uint8),
                        sfreq=64.0, ch_names=[f"EEG {c}-Ref" for c in archstats.NEONATAL_MONTAGE],
                        label_names=["AS", "QS", "W", "IS"], epoch_s=30.0)
        write_recording(tmp_path / f"syn0{i}.h5", rec)
        files[rec.infant_id] = str(tmp_path / f"syn0{i}.h5")
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"files": files, "folds": [
        {"fold": 0, "train": ["syn00"], "val": ["syn01"], "test": ["syn02"]}]}))
    run = write_run(tmp_path / "run", "nas", "identity", 0, 0, epochs=1, derived=False)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "folds": str(folds)}))
    assert main(["aggregate", "--searches", str(run), "--channels", "none", "--out", str(tmp_path / "agg")]) == 0
    runs = pd.read_csv(tmp_path / "agg" / "runs.csv")
    assert runs.iloc[0]["sfreq"] == 64.0 and runs.iloc[0]["step_samples"] == 16
    summ = pd.read_csv(tmp_path / "agg" / "arch_summary.csv")
    assert summ["mean_extent_cm"].notna().all()  # channel names read from the HDF5, despite --channels none


def test_missing_and_malformed_inputs_name_the_file(tmp_path, capsys):
    assert main(["aggregate", "--searches", str(tmp_path / "nope"), "--out", str(tmp_path / "agg")]) == 2
    assert "nope: search run directory not found" in capsys.readouterr().err
    run = write_run(tmp_path / "r", "nas", "identity", 0, 0, epochs=1, derived=False)
    children = pd.read_csv(run / "children.csv").drop(columns=["metric"])
    children.to_csv(run / "children.csv", index=False)
    assert main(["aggregate", "--searches", str(run), "--out", str(tmp_path / "agg")]) == 2
    err = capsys.readouterr().err
    assert "children.csv: missing column(s) ['metric']" in err
    assert not (tmp_path / "agg").exists()  # nothing half-written
    run2 = write_run(tmp_path / "r2", "nas", "identity", 0, 0, epochs=1, derived=False)
    bad = tmp_path / "metrics.json"
    bad.write_text(json.dumps({"accuracy": 0.5, "balanced_accuracy": 0.5, "kappa": 0.1, "macro_f1": 0.4,
                               "meta": {"arm": "nass", "seed": 0, "fold": 0}}))
    assert main(["aggregate", "--searches", str(run2), "--metrics", str(bad), "--out", str(tmp_path / "agg")]) == 2
    assert "metrics.json: meta.arm must be one of ['nas', 'random', 'evolution', 'handcrafted'], found 'nass'" in \
        capsys.readouterr().err
    (run2 / "summary.json").write_text("{not json")
    assert main(["aggregate", "--searches", str(run2), "--out", str(tmp_path / "agg")]) == 2
    assert "summary.json: not valid JSON" in capsys.readouterr().err


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["aggregate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--searches", "--derived", "--metrics", "--planted", "--out", "Example:"):
        assert flag in out


# ----------------------------------------------------------------------------- nothing to conclude (checks)


def _checks(out) -> pd.DataFrame:
    return pd.read_csv(out / "checks.csv")


def _one_run(tmp_path, setting="identity", **kw):
    return write_run(tmp_path / "search" / "nas" / setting / "seed0" / "fold0", "nas", setting, 0, 0, **kw)


def test_one_seed_and_one_fold_get_the_warning_and_no_verdict(tmp_path, agg):
    study = make_study(tmp_path / "results" / "t", seeds=(0,), folds=(0,))
    assert main(aggregate_argv(study, tmp_path / "agg")) == 0
    c = _checks(tmp_path / "agg")
    rep = c[c["check"] == "replicates"]
    assert (rep["status"] == "warning").all() and len(rep) == 4  # every arm, retrained models included
    assert rep["tag"].eq("n = 1 seed, 1 fold").all()
    verdicts = json.loads((tmp_path / "agg" / "verdicts.json").read_text())
    assert verdicts["comparison"].startswith("Cannot tell") and verdicts["reward"].startswith("Cannot tell")
    full = agg["csv"]("checks")  # 2 seeds x 3 folds: the same check passes
    assert (full[full["check"] == "replicates"]["status"] == "ok").all()


def test_identical_final_policies_and_constant_networks(tmp_path, agg):
    c = agg["csv"]("checks")
    same = c[c["check"] == "identical_policies"]
    # the fixture samples the same 4 archs in every arm: one group of all three, never three pairs
    assert len(same) == 1 and same.iloc[0]["status"] == "warning"
    assert (same.iloc[0]["arm"], same.iloc[0]["setting"]) == ("nas", "identity")
    assert same.iloc[0]["other"] == f"nas/{SIGMOID}; random/uniform"
    assert same.iloc[0]["value"] == 6  # 2 seeds x 3 folds
    assert same.iloc[0]["message"].startswith(f"NAS identity, NAS {SIGMOID} and random search: identical")
    assert (c[c["check"] == "constant_top"]["status"] == "ok").all()  # every fixture model predicts 4 stages
    # a second study: one run samples other architectures, one retrained model predicts W for everything
    study = make_study(tmp_path / "results" / "t", seeds=(0,), folds=(0,))
    d = tmp_path / "results/t/search/nas/identity/seed0/fold0/derived.json"
    data = json.loads(d.read_text())
    data["sampled"] = [{"hash": "", "arch": a, "supernet_metric": 0.5} for a in (PLAIN, PLAIN, LOCAL, LOCAL)]
    d.write_text(json.dumps(data))
    m = tmp_path / "results/t/retrain/random/uniform/seed0/fold0/rank1/metrics.json"
    metrics = json.loads(m.read_text())
    metrics["confusion"] = [[0, 0, 10, 0], [0, 0, 10, 0], [0, 0, 10, 0], [0, 0, 2, 0]]
    m.write_text(json.dumps(metrics))
    assert main(aggregate_argv(study, tmp_path / "agg")) == 0
    c = _checks(tmp_path / "agg")
    same = c[c["check"] == "identical_policies"]
    assert len(same) == 1 and same.iloc[0]["other"] == "random/uniform"  # identity left the group of three
    assert same.iloc[0]["setting"] == SIGMOID and same.iloc[0]["status"] == "warning"
    const = c[c["check"] == "constant_top"].set_index("setting")
    assert const.loc["uniform", "status"] == "warning" and const.loc["uniform", "value"] == 1
    assert const.loc["identity", "status"] == "ok"


def test_fancy_is_never_the_best_nor_skipless():
    from neonas.study.results import fancy_pick
    from neonas.study.runs import Archs

    archs = Archs()
    rows = []
    for a in (BEST, FANCY, PLAIN, LOCAL):
        h = archstats.arch_hash(a)
        archs.add(h, a)
        rows.append({"source": "sampled", "arm": "nas", "arch_hash": h, "supernet_metric": 0.5,
                     "n_skips": archstats.arch_row(a)["n_skips"]})
    df = pd.DataFrame(rows)
    fancy_h, plain_h = archstats.arch_hash(FANCY), archstats.arch_hash(PLAIN)
    assert fancy_pick(df, archs, archstats.arch_hash(BEST))["arch"] == FANCY
    # the best has the most skips: the next candidate, PLAIN (1 skip), is the fancy one
    picked = fancy_pick(df, archs, fancy_h)
    assert picked["arch"] == PLAIN and picked["arch_hash"] != fancy_h and "(1)" in picked["why"]
    # nothing but the best has a skip: no fancy architecture, and the reason says so
    none = fancy_pick(df[~df["arch_hash"].isin([plain_h])], archs, fancy_h)
    assert none["arch"] is None and "other than the best architecture has a skip" in none["why"]


def test_nas_vs_random_is_judged_on_the_common_yardstick_when_there_is_one(agg):
    from neonas.study.checks import indistinguishable

    paired = agg["csv"]("paired_tests")
    y = pd.DataFrame([{"arm": "nas", "setting": s, "quantity": "policy_mean", "vs": "random", "n": 5,
                       "mean_diff": d, "ci_low": lo, "ci_high": hi, "excludes_zero": lo > 0}
                      for s, d, lo, hi in (("identity", 0.01, -0.02, 0.04), (SIGMOID, 0.06, 0.03, 0.09))])
    rows = {(r["setting"], r["other"]): r for r in indistinguishable(paired, y)}
    assert "common yardstick" in rows[("identity", "random/uniform")]["message"]
    assert rows[("identity", "random/uniform")]["status"] == "warning"  # its interval includes 0
    assert rows[(SIGMOID, "random/uniform")]["status"] == "ok"
    assert "retrained from scratch" in rows[("identity", "handcrafted/reference")]["message"]  # no yardstick there
    assert sum(k[1] == "random/uniform" for k in rows if k[0] == "identity") == 1  # not judged twice


def test_an_adaptive_sigmoid_is_drawn_at_the_threshold_its_runs_used(tmp_path):
    run = _one_run(tmp_path, "sigmoid-auto")
    summary = json.loads((run / "summary.json").read_text())
    summary["reward"] = {**summary["reward"], "name": "sigmoid", "threshold": "auto", "steepness": 20.0}
    (run / "summary.json").write_text(json.dumps(summary))
    children = pd.read_csv(run / "children.csv")
    children["threshold"] = 0.42 + 0.01 * (np.arange(len(children)) % 3)  # median 0.43
    children["constant"] = 0
    children.to_csv(run / "children.csv", index=False)
    assert main(["aggregate", "--searches", str(run), "--out", str(tmp_path / "agg")]) == 0
    configs = pd.read_csv(tmp_path / "agg" / "reward_configs.csv")
    assert configs.iloc[0]["threshold"] == "auto" and configs.iloc[0]["threshold_used"] == pytest.approx(0.43)
    curve = pd.read_csv(tmp_path / "agg" / "reward_curves.csv").set_index("x")["reward"]
    assert curve.loc[0.43] == pytest.approx(0.5)  # the inflection sits at the threshold used


def test_comparison_answers_follow_the_tests():
    from neonas.study.checks import verdicts

    def row(other, status, diff, testable=True):
        return {"check": "indistinguishable", "arm": "nas", "setting": "identity", "other": other,
                "status": status, "diff": diff, "testable": testable, "short": f"vs {other}"}

    base = [row("random/uniform", "ok", 0.1), row("handcrafted/reference", "ok", 0.05)]
    assert verdicts(base)["comparison"].startswith("Yes, in every comparison")
    mixed = [row("random/uniform", "ok", 0.1), row("handcrafted/reference", "warning", 0.01)]
    assert verdicts(mixed)["comparison"].startswith("Partly (1 of 2 comparisons significantly better")
    worse = [row("random/uniform", "ok", -0.1), row("handcrafted/reference", "warning", 0.01)]
    assert verdicts(worse)["comparison"].startswith("No: worse where it differs")
    untested = [row("random/uniform", "warning", 0.2, testable=False)]
    assert verdicts(untested)["comparison"].startswith("Cannot tell")
    settings = [row("nas/sigmoid", "ok", -0.2)]
    assert verdicts(settings)["reward"].startswith("Yes, every pair differs")
