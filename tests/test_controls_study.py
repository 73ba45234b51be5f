"""The verdict of studies/controls.py on the negative control: "nothing to find" must come from the measured
held-out kappas (every arm's CI holds 0 and no arm differs from random search), and it must fail when an arm
scores above chance, as a leak between training and test infants would make it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scriptload import load_script


@pytest.fixture(scope="module")
def controls():
    return load_script("studies/controls.py", "controls_study")


@pytest.fixture(scope="module")
def sim():
    """studies/control_verdict_rates.py: simulated test infants and the verdicts on them."""
    return load_script("studies/control_verdict_rates.py", "control_verdict_rates")


REALISATIONS = 40  # independent test infants: the verdict is a test at 5 %, so it is checked as a rate


def verdicts(sim, tmp_path: Path, leak: dict[str, float]) -> list[str]:
    return sim.verdicts(tmp_path, leak, REALISATIONS)


def test_negative_control_at_chance_says_nothing_to_find(sim, tmp_path):
    """Predictions independent of the labels: "nothing to find" in nearly every test infant. Chance is the infant's
    own rotation null, not 0: two independent hypnograms of ~15 stage runs agree at kappa +-0.15 by chance, and
    every seed shares that one infant, so a CI over seeds around 0 cries "found" in most of them (34 of these 40,
    measured once). The verdict is k checks (3 here: two chance checks, one paired test); at 5 % each it cried
    "found" for 9 of these 40 infants (13 of 100 other ones, 19 of 100 with three arms). Each check now runs at
    5 % / k, for <= 5 % in all: the bar, at most 4 of 40 (10 %), holds for a calibrated verdict (P(>= 5 of 40)
    = 0.14 at exactly 5 %, 0.03 at 3 %) and fails the per-check one (9 of 40)."""
    texts = verdicts(sim, tmp_path, {"nas/identity": 0.0, "random/uniform": 0.0})
    found = sum("Nothing for a search to find" not in t for t in texts)
    assert found <= 4, f"{found} of {REALISATIONS}"
    assert all("label-rotation null of the mean, 98.3% PI" in t for t in texts)
    assert all("3 checks at 1.67% each: at most 5% for the verdict as a whole, Bonferroni" in t for t in texts)


def test_negative_control_with_three_arms_stays_calibrated(sim, tmp_path):
    """The study's three arms (controller, random search, evolution): five checks at 1 % each, and still at most 4
    of 40 null infants flagged."""
    texts = verdicts(sim, tmp_path, dict.fromkeys(sim.ARMS, 0.0))
    found = sum("Nothing for a search to find" not in t for t in texts)
    assert found <= 4, f"{found} of {REALISATIONS}"
    assert all("5 checks at 1.00% each" in t for t in texts)


def test_negative_control_above_chance_is_flagged(sim, tmp_path):
    """One arm's predictions copy 30 % of the true labels (a leak): flagged in nearly every test infant, by name."""
    texts = verdicts(sim, tmp_path, {"nas/identity": 0.3, "random/uniform": 0.0})
    flagged = [t for t in texts if "Something was found where nothing was planted" in t]
    assert len(flagged) >= 0.9 * REALISATIONS, f"{len(flagged)} of {REALISATIONS}"
    assert all("nas/identity (" in t for t in flagged)
    assert not any("Nothing for a search to find" in t for t in flagged)


def test_negative_control_without_retraining_gives_no_verdict(controls, sim, tmp_path):
    frame = sim.runs(tmp_path, dict.fromkeys(sim.ARMS, 0.0))
    frame["kappa"], frame["null"], frame["runs"] = np.nan, None, 0
    text = controls.report(sim.CFG, frame, "none", (0, 0), 60.0, "Searches only")
    assert "No verdict" in text and "Nothing for a search to find" not in text


def test_set_reaches_derive_and_retrain_but_nothing_else(controls):
    cfg, overrides = controls.merged_config("config/control-negative.yaml", [0, 1],
                                            ["search.training.epochs=2", "derive.samples=20", "retrain.epochs=6"])
    assert cfg["derive"]["samples"] == 20 and cfg["retrain"]["epochs"] == 6
    assert overrides["seeds"] == [0, 1] and overrides["derive"]["samples"] == 20
    assert overrides["search"]["training"]["epochs"] == 2
    with pytest.raises(SystemExit, match="SECTION.KEY=VALUE"):
        controls.merged_config("config/control-negative.yaml", None, ["fidelity.enabled=true"])


def test_rewards_selects_nas_settings_by_name(controls):
    cfg, overrides = controls.merged_config("config/control-negative.yaml", None, [], ["identity"])
    assert [r["name"] for r in cfg["rewards"]] == ["identity"] and overrides["rewards"] == cfg["rewards"]
    assert controls.arms(cfg)[0] == ("nas", "identity") and len(controls.arms(cfg)) == 3
    with pytest.raises(SystemExit, match="not in config/control-negative.yaml's rewards"):
        controls.merged_config("config/control-negative.yaml", None, [], ["sigmoid-t0.9"])


def test_folds_replaces_the_runs_and_keeps_the_scheme(controls):
    cfg, overrides = controls.merged_config("config/control-negative.yaml", None, [], None, [1, 2])
    assert cfg["folds"]["run"] == [1, 2] and cfg["folds"]["scheme"] == "loo"
    assert overrides["folds"] == cfg["folds"]  # the workflow gets it too (overrides.yaml)
    assert "folds" not in controls.merged_config("config/control-negative.yaml", None, [])[1]
