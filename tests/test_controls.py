"""Positive and negative controls of the search's learning machinery: the real Controller, Reinforce
and reward Shaper (neonas.engine.simulate), a synthetic reward, no supernet.

Setting (docs/search.md, "Controls"): a 2-layer space of 6 ops per layer (span 1; span 2 with channel
dilation 1, 2, 4; max and avg pooling; time kernel 5), skips on, the default ControllerConfig
(leave-one-out baseline, advantage normalisation, 2 children per update). The synthetic metric of a
child is base + trend * epoch/epochs + c_epoch + DELTA * (layers using span 2 x dilation 4) + SIGMA * noise,
with an epoch-level common mode c_epoch ~ N(0, COMMON) shared by the 20 children of an epoch and a
rise of TREND over the run. The positive controls must bring P(span 2 x dilation 4) to >= 0.8 in every
layer within BUDGET children; `studies/reinforce_settings.py --controls --seeds 5` measured 280-360 children
(uniform: 1/6), and the budget is twice the slowest seed. The negative control (DELTA = 0) must leave
every op's probability within a factor 2 of uniform after the same budget.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neonas.engine.controller import ControllerConfig
from neonas.engine.reward import RewardConfig
from neonas.engine.simulate import Synthetic, op_probs, simulate

torch.set_num_threads(1)

SPACE_KW = {"n_layers": 2, "spans": [1, 2], "dilations": [1, 2, 4], "time_kernels": [5]}
DELTA, SIGMA, COMMON, TREND = 0.1, 0.05, 0.05, 0.2
BUDGET, PER_EPOCH = 720, 20


def _run(reward: RewardConfig, delta: float = DELTA, seed: int = 0) -> dict:
    from neonas.engine.space import SpaceConfig

    synth = Synthetic(delta=delta, sigma=SIGMA, common_sd=COMMON, trend=TREND)
    return simulate(SpaceConfig(**SPACE_KW), ControllerConfig(), reward, synth, BUDGET, PER_EPOCH, seed=seed,
                    every=BUDGET)


@pytest.mark.parametrize("reward", [
    RewardConfig(name="identity"),
    RewardConfig(name="sigmoid", threshold=0.5, steepness=10.0),  # inside the metric's range (0.4..0.8)
    RewardConfig(name="sigmoid", threshold="auto", quantile=0.5, window=40, steepness=10.0),
], ids=["identity", "sigmoid-normalised", "sigmoid-adaptive"])
def test_a_planted_preference_is_learned_in_every_layer(reward):
    p = _run(reward)["p"]
    assert min(p) >= 0.8, f"P(span 2 x dilation 4) per layer after {BUDGET} children: {p}"


def test_a_reward_that_ignores_the_architecture_leaves_the_policy_near_uniform():
    result = _run(RewardConfig(name="identity"), delta=0.0)
    probs = op_probs(result["controller"], torch.Generator().manual_seed(5), n=64)
    ratio = probs * probs.shape[1]  # 1 = uniform
    assert np.all((ratio > 0.5) & (ratio < 2.0)), f"P(op) / uniform per layer after {BUDGET} children:\n{ratio}"
