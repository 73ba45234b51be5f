"""The calibration bench's diagnostic of what REINFORCE can learn from (studies/calibration.py, section 5):
the planted-pair op's marginal gain per layer, read from a random arm's children.csv. A positive control
(a gain planted in layer 1 only, on top of an epoch-level drift) must be recovered, and a negative one
(no gain) must come out near 0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neonas.engine.space import SpaceConfig, op_choices
from scriptload import load_script


@pytest.fixture(scope="module")
def calibration():
    return load_script("studies/calibration.py", "calibration_bench")


def children(tmp_path: Path, gain: float, n: int = 3000, epochs: int = 10, seed: int = 0) -> Path:
    """Uniform children of a 3-layer space; metric = 0.5 + 0.02 * epoch + gain * (layer 1 is the pair op) + noise."""
    rng = np.random.default_rng(seed)
    ops = op_choices(SpaceConfig(n_layers=3))
    rows = []
    for k in range(n):
        layers = [dict(ops[rng.integers(len(ops))], skips=[]) for _ in range(3)]
        epoch = k * epochs // n
        pair = layers[1].get("op") == "conv" and layers[1].get("span") == 2 and layers[1].get("dilation") == 4
        rows.append({"epoch": epoch, "arch": json.dumps({"layers": layers}),
                     "metric": 0.5 + 0.02 * epoch + gain * pair + rng.normal(0, 0.05)})
    run = tmp_path / f"gain{gain}"
    run.mkdir()
    pd.DataFrame(rows).to_csv(run / "children.csv", index=False)
    return run


def test_pair_gain_recovers_a_planted_gain_in_one_layer(calibration, tmp_path):
    rows = calibration.pair_gain(children(tmp_path, gain=0.03))
    assert [r["layer"] for r in rows] == [0, 1, 2]
    assert rows[1]["gain"] == pytest.approx(0.03, abs=3 * rows[1]["se"])
    assert rows[1]["gain"] > 4 * rows[1]["se"]  # found, not noise
    for r in (rows[0], rows[2]):
        assert abs(r["gain"]) < 4 * r["se"]
    assert rows[1]["n"] == 3000 and 0 < rows[1]["n_pair"] < 3000


def test_pair_gain_is_near_zero_when_nothing_is_planted(calibration, tmp_path):
    rows = calibration.pair_gain(children(tmp_path, gain=0.0))
    assert all(abs(r["gain"]) < 4 * r["se"] for r in rows)
    assert all(0.04 < r["reward_sd"] < 0.06 for r in rows)  # the epoch drift is removed, the noise is left


def test_set_reaches_only_the_search(calibration):
    """The calibration study compares searches on one yardstick: --set may change the search, nothing after it."""
    cfg, overrides = calibration.merged_config("config/calibration.yaml", [0], ["search.training.epochs=3"],
                                               settable=("search",), who="calibration")
    assert cfg["search"]["training"]["epochs"] == 3 and overrides == {"seeds": [0], "search": cfg["search"]}
    with pytest.raises(SystemExit, match=r"calibration: --set 'retrain.epochs=3'.*one of search"):
        calibration.merged_config("config/calibration.yaml", None, ["retrain.epochs=3"], settable=("search",),
                                  who="calibration")
