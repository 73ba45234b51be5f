"""studies/echo_learnability.py's toy plants the `lag` cohort's echo and nothing else: in a positive, rows 4..7 repeat
rows 0..3 exactly LAG_STEPS stem steps later; per row, and between the rows at zero or half the lag, the classes are
alike. Its measurements (docs/synthetic-cohort.md) mean nothing if the toy leaks the class elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from scriptload import load_script


@pytest.fixture(scope="module")
def echo():
    return load_script("studies/echo_learnability.py", "echo_learnability_study")


def _corr(x: np.ndarray, lag: int) -> np.ndarray:
    """Correlation of row c with row c+4 `lag` samples later, mean over the four pairs, per example."""
    a, b = x[:, :4, : x.shape[2] - lag], x[:, 4:8, lag:]
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    return ((a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))).mean(1)


def test_the_toy_plants_the_echo_at_the_lag_only(echo):
    x, y = echo.make(40, 0.5, 30.0, np.random.default_rng(0))
    x, y = x.numpy(), y.numpy()
    assert 0 < y.sum() < len(y)
    at_lag = _corr(x, echo.LAG)  # ~0.5 in a positive: the echo is half of each row's variance at 30 per minute
    assert at_lag[y == 1].min() > 0.3 and np.abs(at_lag[y == 0]).max() < 0.1
    for lag in (0, echo.LAG // 2, echo.LAG + 48):  # zero lag, half the lag, 3 stem steps beyond it
        c = _corr(x, lag)
        assert abs(c[y == 1].mean() - c[y == 0].mean()) < 0.05, lag
    power = x.var(-1).mean(1)  # per-row power: the same in both classes
    assert abs(power[y == 1].mean() / power[y == 0].mean() - 1) < 0.1


def test_the_panel_is_the_rule_and_its_near_misses(echo):
    from neonas.study.planted_rule import sees_lag

    rule = [name for name, layers in echo.PANEL.items() if sees_lag({"layers": layers})]
    assert rule == [name for name in echo.PANEL if name.startswith("rule")] and len(rule) < len(echo.PANEL)
