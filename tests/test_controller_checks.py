"""The controller's checks of `neonas aggregate` (neonas.study.controller_checks): a reward that does not tell
children apart, a policy that stayed at uniform, and the final policy's ops against uniform sampling."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from neonas.cli import main
from studyfixture import BEST, SIGMOID, SPACE
from test_aggregate import _checks, _one_run


@pytest.mark.parametrize("level,word", [(0.001, "~0"), (0.999, "saturated")])
def test_a_reward_that_is_the_same_for_every_child_gets_the_warning(tmp_path, level, word):
    run = _one_run(tmp_path, SIGMOID)
    children = pd.read_csv(run / "children.csv")
    jitter = 0.001 * (np.arange(len(children)) % 3)  # differences of a thousandth of the reward's scale
    children["reward"], children["baseline"] = level + jitter, level + 0.001
    children.to_csv(run / "children.csv", index=False)
    informative = _one_run(tmp_path / "other")  # the fixture's identity reward: SD 0.02, above 0.01
    argv = ["aggregate", "--searches", str(run), str(informative), "--out", str(tmp_path / "agg")]
    assert main(argv) == 0
    c = _checks(tmp_path / "agg").set_index(["check", "setting"])
    flat = c.loc[("reward_signal", SIGMOID)]
    assert flat["status"] == "warning" and flat["value"] < 0.01 and f"reward {word}" == flat["tag"]
    assert c.loc[("reward_signal", "identity"), "status"] == "ok"


def test_a_policy_at_uniform_entropy_gets_the_warning(tmp_path):
    from neonas.study.checks import uniform_entropy

    h = uniform_entropy(SPACE)
    assert h == pytest.approx(4 * math.log(23) + 6 * math.log(2))  # 4 layers of 23 ops, 0+1+2+3 skip bits
    stuck = _one_run(tmp_path, SIGMOID)
    epochs = pd.read_csv(stuck / "epochs.csv")
    epochs["entropy"] = 0.99 * h  # 16.5 of 16.7 nats: the "entropy 16.55-16.70"
    epochs.to_csv(stuck / "epochs.csv", index=False)
    moved = _one_run(tmp_path / "other")  # the fixture's controller ends at 12 % of the uniform entropy
    assert main(["aggregate", "--searches", str(stuck), str(moved), "--out", str(tmp_path / "agg")]) == 0
    c = _checks(tmp_path / "agg").set_index(["check", "setting"])
    assert c.loc[("policy_moved", SIGMOID), "status"] == "warning"
    assert c.loc[("policy_moved", SIGMOID), "value"] == pytest.approx(0.99)
    assert c.loc[("policy_moved", "identity"), "status"] == "ok"
    verdicts = json.loads((tmp_path / "agg" / "verdicts.json").read_text())
    assert verdicts["learning"].startswith("Partly")


def test_a_stuck_policy_on_a_reduced_montage_gets_the_warning(tmp_path):
    """The uniform policy is the one over the ops the search offered: on 1 channel 6 of 23 ops are removed, and
    a controller that kept 99 % of the offered space's entropy (92 % of the full space's) did not learn."""
    from neonas.engine.space import SpaceConfig, dead_ops, op_label
    from neonas.study.checks import uniform_entropy

    removed = [op_label(op) for op in dead_ops(SpaceConfig(**SPACE), 1)]
    h_offered = 4 * math.log(17) + 6 * math.log(2)
    assert len(removed) == 6 and uniform_entropy(SPACE, removed) == pytest.approx(h_offered)
    assert 0.99 * h_offered / uniform_entropy(SPACE) < 0.95  # against the full space it would "move"
    runs = []
    for setting, recorded in ((SIGMOID, True), ("identity", False)):  # a new run, and one written before the key
        run = _one_run(tmp_path, setting)
        summary = json.loads((run / "summary.json").read_text())
        summary["removed_ops"] = removed
        if recorded:
            summary["uniform_entropy"] = h_offered
        (run / "summary.json").write_text(json.dumps(summary))
        epochs = pd.read_csv(run / "epochs.csv")
        epochs["entropy"] = 0.99 * h_offered
        epochs.to_csv(run / "epochs.csv", index=False)
        runs.append(str(run))
    assert main(["aggregate", "--searches", *runs, "--out", str(tmp_path / "agg")]) == 0
    c = _checks(tmp_path / "agg").set_index(["check", "setting"])
    for setting in (SIGMOID, "identity"):
        assert c.loc[("policy_moved", setting), "status"] == "warning"
        assert c.loc[("policy_moved", setting), "value"] == pytest.approx(0.99)
    verdicts = json.loads((tmp_path / "agg" / "verdicts.json").read_text())
    assert verdicts["learning"].startswith("No:") and "99%" in verdicts["learning"]
    table = pd.read_csv(tmp_path / "agg" / "runs.csv")
    assert table["uniform_entropy"].to_numpy() == pytest.approx([h_offered, h_offered])  # fig_controller's line


def test_final_policy_samples_against_uniform():
    from neonas.engine.space import SpaceConfig, decisions, decode
    from neonas.study.checks import policy_test

    rng = np.random.default_rng(1)
    space = SpaceConfig(**SPACE)
    uniform = []
    for _ in range(40):
        choices = [int(rng.integers(d.size)) if d.kind == "choice" else list(rng.integers(0, 2, d.size))
                   for d in decisions(space)]
        uniform.append(decode(space, choices))
    p_ops, p_skips = policy_test(uniform, SPACE, draws=2000)
    assert p_ops > 0.05 and p_skips > 0.05
    p_ops, p_skips = policy_test([BEST] * 40, SPACE, draws=2000)  # one op everywhere, no skips
    assert p_ops < 0.001 and p_skips < 0.001
    # uniform samples of the ops offered on 1 channel: uniform there, not against the full space
    from neonas.engine.space import dead_ops, op_label

    removed = [op_label(op) for op in dead_ops(space, 1)]
    offered = []
    for _ in range(40):
        choices = [int(rng.integers(d.size)) if d.kind == "choice" else list(rng.integers(0, 2, d.size))
                   for d in decisions(space, 1)]
        offered.append(decode(space, choices, 1))
    labels = list(decisions(space, 1)[0].labels)  # what the search offers on 1 channel (duplicates merged)
    assert policy_test(offered, SPACE, draws=2000, offered_ops=labels)[0] > 0.05
    assert policy_test(offered, SPACE, draws=2000, removed_ops=removed)[0] < 0.05  # 5 of the 17 live labels
    assert policy_test(offered, SPACE, draws=2000)[0] < 0.05
