"""Reward shaping: how a child's validation metric becomes the controller's reward.

The thesis asks whether shaping the reward changes what ENAS finds. A reward is a function of one
metric x (accuracy, balanced accuracy or Cohen's kappa of the child on validation data):

- identity:  r = x                                  (ENAS, Pham et al. 2018)
- sigmoid:   r = C / (1 + exp(-A*x + B)), B = A * threshold
             threshold = the inflection point, where r = C/2; A = steepness; C = scale.
             Children below the threshold earn almost nothing, above it almost C: the controller is
             pushed to separate good from mediocre children instead of rewarding small gains.
- cubed:     r = x**3                               (Zoph & Le 2017 cube the accuracy)

New shapes: add a function to REWARDS taking (x, cfg).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from neonas import metrics


@dataclass
class RewardConfig:
    """Which reward, on which metric, measured on what. `threshold`/`steepness`/`scale` are used by
    the sigmoid only."""

    name: str = "identity"  # one of REWARDS: identity | sigmoid | cubed
    metric: Literal["accuracy", "balanced_accuracy", "kappa"] = "accuracy"
    validation: Literal["minibatch", "full"] = "minibatch"  # score each child on one validation minibatch (ENAS) or all of it
    threshold: float = 0.5  # sigmoid inflection B/A, in metric units
    steepness: float = 10.0  # sigmoid A
    scale: float = 1.0  # sigmoid C

    def __post_init__(self) -> None:
        if self.name not in REWARDS:
            raise ValueError(f"reward.name must be one of {sorted(REWARDS)}, got {self.name!r}")
        if self.steepness <= 0 or self.scale <= 0:
            raise ValueError(f"reward.steepness and reward.scale must be > 0, got {self.steepness}, {self.scale}")


def identity(x: float, cfg: RewardConfig) -> float:
    return float(x)


def sigmoid(x: float, cfg: RewardConfig) -> float:
    a, b = cfg.steepness, cfg.steepness * cfg.threshold
    z = -a * x + b
    # C / (1 + e^z), written to stay finite for large |z|
    return float(cfg.scale / (1.0 + math.exp(z)) if z < 50 else cfg.scale * math.exp(-z))


def cubed(x: float, cfg: RewardConfig) -> float:
    return float(x) ** 3


REWARDS: dict[str, Callable[[float, RewardConfig], float]] = {
    "identity": identity,
    "sigmoid": sigmoid,
    "cubed": cubed,
}


def reward(x: float, cfg: RewardConfig) -> float:
    """Shaped reward of metric value x."""
    return REWARDS[cfg.name](x, cfg)


def metric(y_true: np.ndarray, y_pred: np.ndarray, name: str, n_classes: int) -> float:
    """The chosen metric (neonas.metrics) of predictions against labels."""
    cm = metrics.confusion_matrix(y_true, y_pred, n_classes)
    return metrics.METRICS[name](cm)
