"""Reward shaping: the formulas of docs/search.md and the metric behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neonas.config import from_dict
from neonas.engine.reward import RewardConfig, metric, reward
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
