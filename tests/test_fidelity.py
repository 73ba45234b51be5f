"""The fidelity check of the estimator (`neonas fidelity`, issue 16): its statistics on planted numbers; the
whole check on the test cohort, where it must fail (shared weights trained 0 epochs; shuffled labels); and on the
synthetic calibration cohort at the calibration budget, where it must pass (run in the background of the session)."""

from __future__ import annotations

import ast
import json
import shutil

import h5py
import numpy as np
import pytest
import yaml

from neonas.cli import main
from neonas.engine.searcher import SearchConfig
from neonas.engine.space import SpaceConfig, op_choices, op_label
from neonas.training.fidelity import FidelityConfig, homogeneous_op, make_panel
from neonas.training.fidelity_stats import check, kendall, op_gains, split_half
from wfutil import REPO

FID = FidelityConfig(supernet_seeds=[0, 1, 2], bootstrap=200)


def test_check_passes_when_the_shared_weights_order_the_panel_as_the_reference():
    rng = np.random.default_rng(0)
    quality = np.linspace(0.4, 0.8, 16)  # what the nets are worth
    reference = quality[:, None] + rng.normal(0, 0.02, (16, 2))  # two stand-alone seeds, little noise
    supernet = quality[:, None] * 0.5 + rng.normal(0, 0.03, (16, 3))  # other scale, same order, some noise
    c = check(reference, supernet, FID)
    assert c["reference_ranks"] and c["passed"], c
    assert c["tau"] > 0.6 and c["tau_ci"][0] > 0.3 and min(c["tau_per_seed"]) > 0


def test_check_fails_when_the_shared_weights_are_noise_or_one_seed_is_not_positive():
    rng = np.random.default_rng(1)
    quality = np.linspace(0.4, 0.8, 16)
    reference = quality[:, None] + rng.normal(0, 0.02, (16, 2))
    noise = rng.normal(0.5, 0.05, (16, 3))  # no relation to the nets' worth
    c = check(reference, noise, FID)
    assert c["reference_ranks"] and not c["passed"] and c["tau_ci"][0] < 0 < c["tau_ci"][1], c
    mixed = np.column_stack([quality, quality, quality[::-1]])  # two seeds perfect, one reversed
    assert not check(reference, mixed, FID)["passed"]


def test_a_reference_that_does_not_rank_its_own_panel_cannot_pass():
    """Shuffled labels or too little training: stand-alone seeds disagree, so nothing can be matched."""
    rng = np.random.default_rng(2)
    reference = rng.normal(0.25, 0.02, (16, 2))
    c = check(reference, reference[:, [0, 0, 0]], FID)  # even a supernet that copies one seed exactly
    assert not c["reference_ranks"] and not c["passed"] and c["split_half_p"] >= 0.05


def test_kendall_and_split_half_edge_cases():
    assert kendall([1, 2, 3], [1, 1, 1]) == 0.0  # a constant side ranks nothing
    assert kendall([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    tau, p = split_half(np.column_stack([np.arange(8), np.arange(8)]).astype(float))
    assert tau == pytest.approx(1.0) and p < 0.001


def test_op_gains_find_a_planted_gain_and_only_it():
    space = SpaceConfig(n_layers=2, spans=[1, 2], dilations=[4], time_kernels=[5], pools=["max"], skips=False)
    panel = make_panel(SearchConfig(space=space), 9, 30, seed=0)
    labels = [op_label(op) for op in op_choices(space, 9)]
    assert [homogeneous_op(a) for a in panel[:3]] == labels and len(panel) == 9  # every arch of a 9-arch space
    rng = np.random.default_rng(0)
    planted = np.array([0.1 * (op_label(a["layers"][0]) == "conv s2 d4 t5") for a in panel])
    scores = 0.5 + planted[:, None] + rng.normal(0, 0.01, (len(panel), 4))
    gains = {(r["layer"], r["op"]): r for r in op_gains(panel, scores, labels)}
    hit = gains[(0, "conv s2 d4 t5")]
    assert hit["ci_low"] > 0.05 and abs(hit["gain"] - 0.1) < 0.03
    assert all(r["ci_low"] < 0 < r["ci_high"] for k, r in gains.items() if k[0] == 1)  # layer 1: nothing planted


# ----------------------------------------------------------------------------- the whole check, real data

SMALL = ["--set", "space.n_layers=2", "--set", "space.spans=[1,2]", "--set", "space.dilations=[4]",
         "--set", "space.time_kernels=[5]", "--set", "space.pools=[max]", "--set", "space.skips=false",
         "--set", "training.batch_size=16", "--set", "training.epochs=4",
         "--fidelity-set", "panel_samples=3", "--fidelity-set", "standalone_epochs=3",
         "--fidelity-set", "supernet_seeds=[0,1]", "--fidelity-set", "bootstrap=100"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from wfutil import prepared_study

    return prepared_study(tmp_path_factory) / "results/test"


def folds_at(cohort, h5_dir, dest):
    """The test study's folds.json with its files in h5_dir (absolute paths: the tests run from the repo root)."""
    doc = json.loads((cohort / "folds.json").read_text())
    doc["files"] = {i: str((h5_dir / f"{i}.h5").resolve()) for i in doc["files"]}
    dest.write_text(json.dumps(doc))
    return str(dest)


@pytest.mark.slow
def test_fidelity_fails_on_shared_weights_trained_zero_epochs(cohort, tmp_path, one_torch_thread, capsys):
    out = tmp_path / "fid0"
    folds = folds_at(cohort, cohort / "h5", tmp_path / "folds.json")
    assert main(["fidelity", "--folds", folds, "--fold", "0", *SMALL, "--set", "estimator=auto",
                 "--set", "standalone.rungs=[1]", "--fidelity-set", "estimator_seeds=[0,1]",
                 "--fidelity-set", "checkpoints=[0]", "--planted", "--device", "cpu", "--out", str(out)]) == 0
    doc = json.loads((out / "fidelity.json").read_text())
    assert not doc["passed"] and doc["warmup_epochs"] is None
    assert doc["verdict"].startswith(("No:", "Cannot tell:")) and doc["verdict"] in capsys.readouterr().out
    assert doc["panel_size"] == 6 and len(doc["panel"][0]["standalone"]) == 2
    assert (out / "panel.csv").read_text().count("\n") == 7 and (out / "fidelity.png").stat().st_size > 1000
    assert set(doc["cost_seconds"]) == {"standalone", "supernet", "standalone_estimator", "total", "workers"}
    # estimator auto: both estimators checked, cheapest first; the stand-alone one at its rung, with its own seeds
    assert list(doc["estimators"]) == ["supernet", "standalone"] and doc["checked_for"] == "auto"
    alone = doc["standalone_estimator"]
    assert [r["rung"] for r in alone["rungs"]] == [1] and alone["seeds"] == [0, 1]
    assert len(alone["rungs"][0]["tau_per_seed"]) == 2 and 0 <= alone["top_quarter"] <= 1
    assert 0 <= doc["estimators"]["supernet"]["top_quarter"] <= 1
    assert doc["choice"] in (None, *(n for n, e in doc["estimators"].items() if e["passed"]))
    assert doc["planted"]["pair_ops"] == ["conv s2 d4 t5"] and doc["planted"]["pair_net_standalone_rank"]
    assert doc["scoring"]["full_epochs_per_child"] >= doc["scoring"]["minibatch_epochs_per_child"] > 0
    assert set(doc["val_ids"]).isdisjoint(json.loads(open(folds).read())["folds"][0]["test"])


@pytest.mark.slow
def test_fidelity_cannot_pass_on_shuffled_labels(cohort, tmp_path, one_torch_thread):
    """Labels shuffled within each infant: the stand-alone reference has nothing to rank, so no verdict passes."""
    shuffled = tmp_path / "h5"
    shutil.copytree(cohort / "h5", shuffled)
    rng = np.random.default_rng(0)
    for path in sorted(shuffled.glob("*.h5")):
        with h5py.File(path, "r+") as f:
            f["labels"][...] = rng.permutation(f["labels"][...])
    folds = folds_at(cohort, shuffled, tmp_path / "folds.json")
    out = tmp_path / "fid_shuffled"
    assert main(["fidelity", "--folds", folds, "--fold", "0", *SMALL, "--device", "cpu", "--out", str(out)]) == 0
    doc = json.loads((out / "fidelity.json").read_text())
    assert not doc["passed"], doc["verdict"]


def test_the_search_takes_its_warm_up_from_a_passed_check_only(tmp_path, caplog):
    from neonas.engine.search import warmup_from
    from neonas.errors import NeonasError

    cfg = SearchConfig()
    cfg.training.epochs, cfg.training.warmup_epochs = 10, 1
    passed, failed = tmp_path / "passed.json", tmp_path / "failed.json"
    passed.write_text(json.dumps({"passed": True, "warmup_epochs": 5, "verdict": "Yes"}))
    failed.write_text(json.dumps({"passed": False, "warmup_epochs": None, "verdict": "No: tau +0.01"}))
    late, bad = tmp_path / "late.json", tmp_path / "bad.json"
    late.write_text(json.dumps({"passed": True, "warmup_epochs": 10, "verdict": "Yes"}))
    bad.write_text(json.dumps({"passed": True, "warmup_epochs": -1}))
    assert warmup_from(cfg, passed).training.warmup_epochs == 5
    assert warmup_from(cfg, failed).training.warmup_epochs == 1 and "did not pass" in caplog.text
    assert warmup_from(cfg, late).training.warmup_epochs == 1 and "no epoch would be left" in caplog.text
    with pytest.raises(NeonasError, match="bad.json.*whole number"):
        warmup_from(cfg, bad)
    with pytest.raises(NeonasError, match="run `neonas fidelity` first"):
        warmup_from(cfg, tmp_path / "missing.json")


def test_on_fail_stop_ends_a_supernet_search_on_a_failed_check_and_not_a_stand_alone_one(tmp_path, cohort):
    from dataclasses import replace

    from neonas.engine.search import warmup_from
    from neonas.errors import NeonasError

    cfg = SearchConfig()
    cfg.training.epochs = 10
    passed, failed = tmp_path / "passed.json", tmp_path / "failed.json"
    passed.write_text(json.dumps({"passed": True, "warmup_epochs": 5, "verdict": "Yes"}))
    failed.write_text(json.dumps({"passed": False, "warmup_epochs": None, "verdict": "No: tau +0.01 vs +0.40."}))
    with pytest.raises(NeonasError, match="failed.json.*No: tau \\+0.01 vs \\+0.40.*estimator: standalone"):
        warmup_from(cfg, failed, "stop")
    assert warmup_from(cfg, passed, "stop").training.warmup_epochs == 5
    assert warmup_from(cfg, failed, "warn").training.warmup_epochs == 0
    alone = replace(cfg, estimator="standalone")
    assert warmup_from(alone, failed, "stop") is alone  # a check of the shared weights does not gate it
    folds = folds_at(cohort, cohort / "h5", tmp_path / "folds.json")
    out = tmp_path / "run"
    assert main(["search", "--folds", folds, "--fold", "0", "--warmup-from", str(failed), "--on-fail", "stop",
                 "--device", "cpu", "--out", str(out)]) == 2
    assert not (out / "children.csv").exists()  # stopped before searching


@pytest.mark.slow
def test_side_by_side_workers_give_the_same_result(cohort, tmp_path, one_torch_thread):
    """fidelity.workers only runs the panel's trainings in parallel processes: every number is the same."""
    folds = folds_at(cohort, cohort / "h5", tmp_path / "folds.json")
    tiny = [*SMALL, "--fidelity-set", "panel_samples=1", "--fidelity-set", "standalone_epochs=1",
            "--set", "training.epochs=2", "--fidelity-set", "checkpoints=[1,2]"]
    docs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert main(["fidelity", "--folds", folds, "--fold", "0", *tiny, "--fidelity-set", f"workers={workers}",
                     "--device", "cpu", "--out", str(out)]) == 0
        docs.append(json.loads((out / "fidelity.json").read_text()))
    for doc in docs:
        doc.pop("cost_seconds"), doc["config"].pop("workers")
    assert docs[0] == docs[1]


@pytest.mark.slow
@pytest.mark.calibration
@pytest.mark.background("fidelity_calibration")
def test_fidelity_passes_on_the_pairs_space_at_the_calibration_budget():
    """The supernet's positive control: the pairs space on the synthetic calibration cohort, run as the workflow
    runs it at config/calibration.yaml's budget (tests/background.py starts it when the session is collected). About
    15 CPU-minutes, so not in `make test`: `pytest -m calibration` runs it (docs/search.md). The
    answer is planted (homologous pairs 4 channels apart), so the reference must rank the pair nets first and the
    shared weights must rank the panel as the reference does: the check passes, every seed positive."""
    import background

    wd = background.wait("fidelity_calibration", timeout=45 * 60)
    doc = json.loads((wd / "results/calibration/fidelity/fold0/fidelity.json").read_text())
    calibration = yaml.safe_load((REPO / "config/calibration.yaml").read_text())
    assert doc["config"]["supernet_seeds"] == calibration["fidelity"]["supernet_seeds"]
    assert doc["offered_ops"] == ["conv s1 d1 t5", "conv s2 d1 t5", "conv s2 d4 t5"]
    final = doc["final"]
    assert final["reference_ranks"] and final["split_half_p"] < 0.05, doc["verdict"]
    assert doc["passed"] and doc["verdict"].startswith("Yes:"), doc["verdict"]
    assert min(final["tau_per_seed"]) > 0 and final["tau"] >= final["needed"]
    assert doc["warmup_epochs"] is not None
    planted = doc["planted"]
    assert all(rank <= 3 for rank in planted["pair_net_standalone_rank"].values())  # the reference finds the cue
    summary = (wd / "results/calibration/logs/fidelity/fold0.log").read_text()
    assert doc["verdict"] in summary


def test_the_summary_opens_with_each_folds_verdict_and_the_warm_up_its_searches_take(tmp_path):
    from neonas.study.summary import fidelity_html

    docs = {0: {"fold": 0, "passed": True, "warmup_epochs": 30, "verdict": "Yes: tau +0.52",
                "cost_seconds": {"total": 400.0}},
            1: {"fold": 1, "passed": False, "warmup_epochs": None, "verdict": "No: tau +0.01"}}
    dirs = []
    for fold, doc in docs.items():
        (tmp_path / f"fold{fold}").mkdir()
        (tmp_path / f"fold{fold}/fidelity.json").write_text(json.dumps(doc))
        dirs.append(tmp_path / f"fold{fold}")
    from html import unescape

    html = unescape(fidelity_html(dirs))
    assert "Fold 0: Yes: tau +0.52 With fidelity.warmup_from_check, this fold's searches warm up 30" in html
    assert "Fold 1: No: tau +0.01 This fold's searches keep their configured warm-up" in html
    assert "class='warnings'" in html and "(400 s)" in html  # one fold failed: the box warns
    assert "class='ok'" in fidelity_html(dirs[:1])


def test_the_workflow_and_the_check_agree_on_which_fidelity_keys_are_not_budget():
    from neonas.training.fidelity import STUDY_KEYS

    line = next(ln for ln in (REPO / "workflow/rules/common.smk").read_text().splitlines()
                if ln.startswith("FIDELITY_STUDY_KEYS = "))
    assert ast.literal_eval(line.split("=", 1)[1].strip()) == STUDY_KEYS


# ----------------------------------------------------------------------------- estimator auto (issue 22)

def planted_doc(path, supernet: bool, standalone: bool) -> str:
    """fidelity.json of a check whose two verdicts are planted (the verdict rule on planted numbers: check())."""
    from neonas.training.fidelity_estimators import estimators

    rng = np.random.default_rng(0)
    quality = np.linspace(0.4, 0.8, 16)
    reference = quality[:, None] + rng.normal(0, 0.02, (16, 2))
    good, noise = quality[:, None] + rng.normal(0, 0.03, (16, 3)), rng.normal(0.5, 0.05, (16, 3))
    sup = check(reference, good if supernet else noise, FID)
    alone = check(reference, good if standalone else noise, FID)
    cfg = SearchConfig()
    cfg.training.epochs, cfg.training.warmup_epochs = 10, 1
    result = {"passed": sup["passed"], "verdict": f"supernet tau {sup['tau']:+.2f}", "warmup_epochs": 5}
    st = {"passed": alone["passed"], "verdict": f"stand-alone tau {alone['tau']:+.2f}.", "top_quarter": 1.0,
          "child_epochs_per_child": 3.0, "first_passing_rung": None}
    result.update(estimators(result, cfg, 0.5, st))
    path.write_text(json.dumps(result))
    return str(path)


def test_auto_takes_the_cheapest_estimator_that_passes_and_follows_on_fail_when_none_does(tmp_path, caplog):
    from neonas.engine.search import warmup_from
    from neonas.errors import NeonasError

    caplog.set_level("INFO")
    cfg = SearchConfig(estimator="auto")
    cfg.training.epochs, cfg.training.warmup_epochs = 10, 1
    both, alone, neither = (planted_doc(tmp_path / f"{n}.json", *f) for n, f in
                            [("both", (True, True)), ("alone", (False, True)), ("neither", (False, False))])
    gate = {}
    chosen = warmup_from(cfg, both, "stop", gate)
    assert chosen.estimator == "supernet" and chosen.training.warmup_epochs == 5  # cheaper per scored child
    assert gate["requested"] == "auto" and gate["estimator"] == "supernet" and gate["passed"] is True
    chosen = warmup_from(cfg, alone, "stop", gate)
    assert chosen.estimator == "standalone" and chosen.training.warmup_epochs == 1 and "estimator auto: standalone" \
        in caplog.text
    with pytest.raises(NeonasError, match="neither.json.*no estimator passed.*stand-alone tau") as err:
        warmup_from(cfg, neither, "stop")
    assert "\n" not in str(err.value)
    assert warmup_from(cfg, neither, "warn", gate).estimator == "supernet" and gate["passed"] is False
    old = tmp_path / "old.json"  # a check of the shared weights only cannot choose
    old.write_text(json.dumps({"passed": True, "warmup_epochs": 5, "verdict": "Yes"}))
    with pytest.raises(NeonasError, match="old.json.*rerun `neonas fidelity`"):
        warmup_from(cfg, old)
    with pytest.raises(NeonasError, match="estimator: auto.*--warmup-from"):
        from neonas.engine.search import run_search

        run_search(cfg, tmp_path / "folds.json", 0, 0, tmp_path / "run")


def test_on_fail_stop_refuses_a_stand_alone_search_whose_check_failed(tmp_path, capsys):
    from dataclasses import replace

    from neonas.engine.search import warmup_from

    cfg = replace(SearchConfig(), estimator="standalone")
    failed = planted_doc(tmp_path / "failed.json", True, False)
    assert warmup_from(cfg, failed, "warn").estimator == "standalone"  # warn: it goes on
    assert warmup_from(cfg, planted_doc(tmp_path / "ok.json", False, True), "stop").estimator == "standalone"
    out = tmp_path / "run"
    assert main(["search", "--folds", str(tmp_path / "none.json"), "--fold", "0", "--set", "estimator=standalone",
                 "--warmup-from", failed, "--on-fail", "stop", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stand-alone estimator did not pass" in err[0] and "estimator: supernet" in err[0]
    assert not out.exists()


def test_the_summary_says_which_estimator_ran_and_whether_it_ranks():
    from neonas.study.display import estimator_line
    from neonas.study.trust import fidelity_summary, fidelity_verdict

    auto = {"checked_for": "auto", "passed": False, "choice": "standalone",
            "estimators": {"supernet": {"passed": False}, "standalone": {"passed": True}}}
    assert estimator_line([{**auto, "fold": 0}, {**auto, "fold": 1}]) == \
        "Estimator: standalone (chosen by estimator: auto), ranks on 2 of 2 fold(s) (the fidelity check)."
    f = fidelity_summary([{**auto, "fold": 0}])
    assert f["passed"] == [0] and fidelity_verdict(f).startswith("Yes: the stand-alone estimator ranks")
    assert estimator_line([{"passed": True, "fold": 0}]) == "Estimator: supernet, ranks on 1 of 1 fold(s) (the " \
        "fidelity check)."
    old = {"checked_for": "standalone", "passed": True, "fold": 0}  # the shared weights passed; it was not checked
    assert "not checked on 1" in estimator_line([old]) and fidelity_summary([old])["passed"] == []
    from neonas.study.display import headline

    alone = {"checked_for": "standalone", "passed": True, "fold": 0, "estimators": {"standalone": {"passed": False}}}
    assert headline({}, None, fidelity_summary([alone])).startswith(  # names the estimator that ran, not a supernet
        "No NAS conclusion: the estimator (short stand-alone training) was not shown to rank (0 of 1 folds)")
    assert fidelity_verdict(fidelity_summary([alone])).startswith(
        "No: the stand-alone estimator was not shown to rank architectures in any fold")


def test_a_standalone_study_reads_its_estimators_verdict_first(tmp_path):
    """summary.html's fold list leads with the verdict of the estimator the searches ran, the supernet's after it."""
    from neonas.study.summary import fidelity_html

    (tmp_path / "fold0").mkdir()
    (tmp_path / "fold0" / "fidelity.json").write_text(json.dumps(
        {"fold": 0, "checked_for": "standalone", "passed": False, "verdict": "supernet says no",
         "standalone_estimator": {"verdict": "alone says yes"}, "estimators": {"standalone": {"passed": True}}}))
    page = fidelity_html([tmp_path / "fold0"])
    assert "Does the stand-alone estimator rank architectures?" in page and "<b>1 of 1 fold(s) rank.</b>" in page
    assert "alone says yes Shared weights (not used by these searches): supernet says no" in page
