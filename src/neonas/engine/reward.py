"""Reward shaping: how a child's validation metric becomes the controller's reward.

The thesis asks whether shaping the reward changes what ENAS finds. A reward is a function of one
metric x (accuracy, balanced accuracy or Cohen's kappa of the child on validation data):

- identity:  r = x                                  (ENAS, Pham et al. 2018)
- sigmoid:   r = C / (1 + exp(-A*x + B)), B = A * threshold
             threshold = the inflection point, where r = C/2; A = steepness; C = scale.
             Children below the threshold earn almost nothing, above it almost C: the controller is
             pushed to separate good from mediocre children instead of rewarding small gains.
             `threshold: auto` makes it adaptive: the `quantile` of the last `window` children's
             metric (Shaper below), so it always sits among the children and never saturates.
- cubed:     r = x**3                               (Zoph & Le 2017 cube the accuracy)

New shapes: add a function to REWARDS taking (x, cfg).
"""

from __future__ import annotations

import math
from collections import deque
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
    # chance-corrected by default: a constant network scores chance (1/classes), not the majority share
    metric: Literal["accuracy", "balanced_accuracy", "kappa"] = "balanced_accuracy"
    validation: Literal["minibatch", "full"] = "minibatch"  # score each child on one validation minibatch (ENAS) or all of it
    threshold: float | Literal["auto"] = 0.5  # sigmoid inflection B/A, in metric units; auto = adaptive
    quantile: float = 0.5  # threshold: auto follows this quantile of the last `window` children's metric
    window: int = 100  # children (not updates) in the adaptive threshold's window
    steepness: float = 10.0  # sigmoid A
    scale: float = 1.0  # sigmoid C

    def __post_init__(self) -> None:
        if self.name not in REWARDS:
            raise ValueError(f"reward.name must be one of {sorted(REWARDS)}, got {self.name!r}")
        if self.steepness <= 0 or self.scale <= 0:
            raise ValueError(f"reward.steepness and reward.scale must be > 0, got {self.steepness}, {self.scale}")
        if not 0.0 <= self.quantile <= 1.0 or self.window < 1:
            raise ValueError(f"reward.quantile must lie in [0, 1] and reward.window be >= 1, got {self.quantile}, "
                             f"{self.window}")

    @property
    def adaptive(self) -> bool:
        return self.threshold == "auto"


def identity(x: float, cfg: RewardConfig) -> float:
    return float(x)


def sigmoid(x: float, cfg: RewardConfig, threshold: float | None = None) -> float:
    threshold = cfg.threshold if threshold is None else threshold
    if threshold == "auto":
        raise ValueError("an adaptive sigmoid needs the current threshold (reward.Shaper)")
    a, b = cfg.steepness, cfg.steepness * threshold
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


def reward(x: float, cfg: RewardConfig, threshold: float | None = None) -> float:
    """Shaped reward of metric value x (`threshold` overrides the sigmoid's, e.g. the adaptive one)."""
    if cfg.name == "sigmoid":
        return sigmoid(x, cfg, threshold)
    return REWARDS[cfg.name](x, cfg)


def metric(y_true: np.ndarray, y_pred: np.ndarray, name: str, n_classes: int) -> float:
    """The chosen metric (neonas.metrics) of predictions against labels."""
    cm = metrics.confusion_matrix(y_true, y_pred, n_classes)
    return metrics.METRICS[name](cm)


def chance(y_true: np.ndarray, name: str) -> float:
    """The metric of guessing: 0 for kappa, 1/(classes present) for accuracy and balanced accuracy. A
    child that predicts one class for every epoch is scored at this level (search.score), so that a
    constant network can never beat one that separates classes just because one class is frequent."""
    return 0.0 if name == "kappa" else 1.0 / max(len(np.unique(y_true)), 1)


class Shaper:
    """The reward of one search: the configured shape, plus, for `threshold: auto`, the window of the
    last `window` children's metric whose `quantile` is the threshold. The threshold of an update is
    computed before its children are added (from the current update's own children while the window
    is still empty), so all children of one update share it; its state is part of the checkpoint."""

    def __init__(self, cfg: RewardConfig):
        self.cfg = cfg
        self.recent: deque[float] = deque(maxlen=cfg.window)

    def threshold(self, update_metrics: list[float]) -> float | None:
        """The sigmoid threshold for an update whose children scored `update_metrics` (None when the
        reward has no threshold)."""
        if self.cfg.name != "sigmoid":
            return None
        if not self.cfg.adaptive:
            return float(self.cfg.threshold)
        pool = list(self.recent) if self.recent else list(update_metrics)
        return float(np.quantile(np.asarray(pool, dtype=np.float64), self.cfg.quantile))

    def __call__(self, update_metrics: list[float]) -> tuple[list[float], float | None]:
        """Rewards of one update's children and the threshold they were shaped with; then the
        children enter the window."""
        t = self.threshold(update_metrics)
        rewards = [reward(m, self.cfg, t) for m in update_metrics]
        self.recent.extend(float(m) for m in update_metrics)
        return rewards, t

    def state_dict(self) -> dict:
        return {"recent": list(self.recent)}

    def load_state_dict(self, state: dict) -> None:
        self.recent = deque(state["recent"], maxlen=self.cfg.window)
