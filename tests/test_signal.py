"""Does the reward tell ops apart? (neonas.study.signal, the `op_signal` table and verdict of
`neonas aggregate`). A positive control (a gain planted for span 2 x dilation 4 in layer 1 of random
search's children, on top of an epoch drift) must be found and named, a negative one (no gain) must give
"No evidence", and NAS runs are never read."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from neonas.engine.space import SpaceConfig, arch_hash, canonical, op_choices
from neonas.study.signal import op_label, signal_table

OPS = op_choices(SpaceConfig(n_layers=3))


def fake_run(seed: int, gain: float, archs: dict, arm: str = "random", n: int = 1500, epochs: int = 10):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        arch = canonical({"layers": [dict(OPS[rng.integers(len(OPS))], skips=[]) for _ in range(3)]})
        h = arch_hash(arch)
        archs[h] = arch
        epoch = k * epochs // n
        planted = op_label(arch["layers"][1]) == "conv span 2 dil 4"
        rows.append({"epoch": epoch, "arch_hash": h,
                     "metric": 0.4 + 0.03 * epoch + gain * planted + rng.normal(0, 0.07)})
    return SimpleNamespace(arm=arm, setting="uniform", seed=seed, fold=0, children=pd.DataFrame(rows))


def test_a_planted_gain_is_found_in_its_layer_only():
    archs: dict = {}
    runs = [fake_run(s, 0.04, archs) for s in range(5)]
    table, verdict = signal_table(runs, archs)
    hit = table[(table["layer"] == 1) & (table["op"] == "conv span 2 dil 4")].iloc[0]
    assert hit["gain"] == pytest.approx(0.04, abs=0.015) and hit["ci_low"] > 0
    assert hit["n_runs"] == 5 and hit["share"] == pytest.approx(3 / len(OPS), abs=0.03)  # 3 time kernels
    others = table[~((table["layer"] == 1) & (table["op"] == "conv span 2 dil 4"))]
    assert (others["ci_low"] <= 0).all(), others[others["ci_low"] > 0]  # no other op gains
    # a layer-1 op may lose measurably: its contrast group holds the planted op; other layers never
    flagged = others[others["ci_high"] < 0]
    assert (flagged["layer"] == 1).all(), flagged
    assert verdict.startswith("Yes: ") and "(largest: layer 1 conv span 2 dil 4 +0.0" in verdict
    n_pairs = len(table)
    assert table["confidence"].iloc[0] == pytest.approx(1 - 0.05 / n_pairs)  # Bonferroni
    assert set(table["op"]) == {"conv span 1", "conv span 2 dil 1", "conv span 2 dil 2", "conv span 2 dil 4",
                                "conv span 3 dil 1", "conv span 3 dil 2", "conv span 3 dil 4", "maxpool", "avgpool"}


def test_no_gain_gives_no_evidence_and_nas_runs_are_not_read():
    archs: dict = {}
    runs = [fake_run(s, 0.0, archs) for s in range(5)]
    runs.append(fake_run(9, 0.5, archs, arm="nas"))  # a NAS run's children are not uniform samples
    table, verdict = signal_table(runs, archs)
    assert set(table["n_runs"]) == {5}
    assert verdict.startswith("No evidence: no op changes"), verdict
    assert ((table["ci_low"] <= 0) & (table["ci_high"] >= 0)).all()


def test_one_run_cannot_tell_and_no_random_runs_give_no_verdict():
    archs: dict = {}
    table, verdict = signal_table([fake_run(0, 0.04, archs)], archs)
    assert verdict.startswith("Cannot tell (fewer than 2 random-search runs)")
    assert table["ci_low"].isna().all() and table["note"].str.contains("n = 1 < 2 random-search runs").all()
    table, verdict = signal_table([fake_run(0, 0.04, archs, arm="nas")], archs)
    assert verdict is None and table.empty
