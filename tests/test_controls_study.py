"""The verdict of studies/controls.py on the negative control: "nothing to find" must come from the measured
held-out kappas (every arm's CI holds 0 and no arm differs from random search), and it must fail when an arm
scores above chance, as a leak between training and test infants would make it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

STUDY = Path(__file__).resolve().parents[1] / "studies" / "controls.py"


@pytest.fixture(scope="module")
def controls():
    spec = importlib.util.spec_from_file_location("controls_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runs(kappa_shift: dict[str, float], seeds: int = 10, seed: int = 0) -> pd.DataFrame:
    """Rows as run_row writes them (no rule columns: the `none` cohort has no rule), kappa ~ N(shift, 0.03)."""
    rng = np.random.default_rng(seed)
    rows = [{"arm": arm, "setting": setting, "seed": s, "fold": 0, "children": 40, "distinct": 38,
             "child_epochs": 60.0, "kappa": shift + rng.normal(0.0, 0.03)}
            for (arm, setting), shift in ((tuple(k.split("/")), v) for k, v in kappa_shift.items())
            for s in range(seeds)]
    return pd.DataFrame(rows)


CFG = {"study": "control-negative", "seeds": list(range(10)), "folds": {"run": [0]},
       "search": {"space": "eeg", "estimator": "standalone"}}


def test_negative_control_at_chance_says_nothing_to_find(controls):
    text = controls.report(CFG, runs({"nas/identity": 0.0, "random/uniform": 0.0, "evolution/evolution": 0.0}),
                           "none", (0, 0), 60.0, "")
    assert "Nothing for a search to find" in text
    assert "kappa minus 0 (chance)" in text and "Something was found" not in text


def test_negative_control_above_chance_is_flagged(controls):
    text = controls.report(CFG, runs({"nas/identity": 0.25, "random/uniform": 0.0}), "none", (0, 0), 60.0, "")
    assert "Something was found where nothing was planted" in text
    assert "nas/identity (kappa vs 0)" in text and "nas/identity (minus random search)" in text
    assert "Nothing for a search to find" not in text


def test_negative_control_without_retraining_gives_no_verdict(controls):
    frame = runs({"nas/identity": 0.0, "random/uniform": 0.0})
    frame["kappa"] = np.nan
    text = controls.report(CFG, frame, "none", (0, 0), 60.0, "Searches only")
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
