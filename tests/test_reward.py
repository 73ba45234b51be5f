"""Reward shaping: the formulas of docs/search.md and the metric behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neonas.config import from_dict
from neonas.engine.reward import RewardConfig, Shaper, chance, metric, reward
from neonas.errors import NeonasError


def test_identity_is_the_identity():
    cfg = RewardConfig(name="identity")
    for x in (-0.3, 0.0, 0.25, 0.9, 1.0):
        assert reward(x, cfg) == x


@pytest.mark.parametrize("threshold, steepness, scale", [(0.5, 10.0, 1.0), (0.7, 30.0, 2.0), (0.3, 3.0, 0.5)])
def test_sigmoid_is_half_scale_at_threshold_and_monotone(threshold, steepness, scale):
    cfg = RewardConfig(name="sigmoid", threshold=threshold, steepness=steepness, scale=scale)
    assert reward(threshold, cfg) == pytest.approx(scale / 2)
    ys = [reward(x, cfg) for x in np.linspace(0, 1, 101)]  # strictly increasing on the metric's range
    assert all(b > a for a, b in zip(ys, ys[1:], strict=False))
    assert 0 < ys[0] < ys[-1] < scale
    wide = [reward(x, cfg) for x in np.linspace(-5, 5, 101)]  # never decreasing, bounded by (0, C]
    assert all(b >= a for a, b in zip(wide, wide[1:], strict=False)) and 0 < wide[0] and wide[-1] <= scale
    # the formula C / (1 + exp(-A x + B)) with B = A * threshold
    x = 0.62
    assert reward(x, cfg) == pytest.approx(scale / (1 + math.exp(-steepness * x + steepness * threshold)))
    assert math.isfinite(reward(-1e6, cfg)) and reward(1e6, cfg) == pytest.approx(scale)


def test_cubed():
    cfg = RewardConfig(name="cubed")
    assert reward(0.5, cfg) == pytest.approx(0.125)
    assert reward(0.9, cfg) == pytest.approx(0.729)


def test_metric_choices():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 1, 1, 1, 0])
    assert metric(y, p, "accuracy", 4) == pytest.approx(4 / 6)
    assert metric(y, p, "balanced_accuracy", 4) == pytest.approx((2 / 3 + 1 + 0) / 3)
    po, pe = 4 / 6, (3 * 3 + 2 * 3 + 1 * 0) / 36
    assert metric(y, p, "kappa", 4) == pytest.approx((po - pe) / (1 - pe))


def test_bad_reward_config_is_a_clear_error():
    with pytest.raises(NeonasError, match="reward.name must be one of"):
        from_dict(RewardConfig, {"name": "sigmoidal"}, "reward")
    with pytest.raises(NeonasError, match="expected one of"):
        from_dict(RewardConfig, {"metric": "f1"}, "reward")


def test_adaptive_threshold_follows_the_quantile_of_the_last_children():
    cfg = from_dict(RewardConfig, {"name": "sigmoid", "threshold": "auto", "quantile": 0.75, "window": 4,
                                   "steepness": 10.0}, "reward")
    shaper = Shaper(cfg)
    rewards, t = shaper([0.2, 0.4])  # empty window: the update's own quantile
    assert t == pytest.approx(np.quantile([0.2, 0.4], 0.75))
    assert rewards == [pytest.approx(reward(x, cfg, t)) for x in (0.2, 0.4)]
    _, t = shaper([0.6, 0.8])  # now the window [0.2, 0.4] sets it
    assert t == pytest.approx(0.35)
    _, t = shaper([0.9])  # window of 4: [0.2, 0.4, 0.6, 0.8]
    assert t == pytest.approx(np.quantile([0.2, 0.4, 0.6, 0.8], 0.75))
    _, t = shaper([0.0])  # 0.2 dropped out: [0.4, 0.6, 0.8, 0.9]
    assert t == pytest.approx(np.quantile([0.4, 0.6, 0.8, 0.9], 0.75))
    # the state round-trips (checkpoints), so a resumed shaper continues identically
    again = Shaper(cfg)
    again.load_state_dict(shaper.state_dict())
    assert again([0.5]) == shaper([0.5])
    # a rising metric keeps the threshold among the children: the reward never saturates
    shaper, late = Shaper(cfg), []
    for k in range(40):
        late += shaper([0.3 + 0.015 * k + 0.01 * j for j in range(3)])[0]
    assert 0.05 < float(np.mean(late[-30:])) < 0.95


def test_fixed_threshold_and_no_threshold_are_logged_as_such():
    assert Shaper(RewardConfig(name="sigmoid", threshold=0.7))([0.1, 0.9])[1] == 0.7
    assert Shaper(RewardConfig(name="identity"))([0.1, 0.9]) == ([0.1, 0.9], None)
    with pytest.raises(ValueError, match="adaptive sigmoid"):
        reward(0.5, RewardConfig(name="sigmoid", threshold="auto"))
    with pytest.raises(NeonasError, match="expected a number"):
        from_dict(RewardConfig, {"threshold": "automatic"}, "reward")
    with pytest.raises(NeonasError, match="quantile must lie in"):
        from_dict(RewardConfig, {"threshold": "auto", "quantile": 1.5}, "reward")


def test_the_default_metric_is_chance_corrected_and_a_constant_net_scores_chance():
    assert RewardConfig().metric == "balanced_accuracy"
    y = np.array([0] * 70 + [1] * 20 + [2] * 10)
    constant = np.zeros_like(y)
    assert metric(y, constant, "accuracy", 4) == pytest.approx(0.7)  # majority share: a constant net looks good
    for name in ("balanced_accuracy", "kappa"):
        assert metric(y, constant, name, 4) == pytest.approx(chance(y, name))
    assert chance(y, "accuracy") == pytest.approx(1 / 3) and chance(y, "kappa") == 0.0
