"""Controller: sampling is consistent and seeded, REINFORCE learns a toy task, the KL term moves the skip rate."""

from __future__ import annotations

import math

import pytest
import torch

from neonas.config import from_dict
from neonas.engine.controller import Controller, ControllerConfig, Reinforce, UniformSampler
from neonas.engine.space import Decision, SpaceConfig, decisions, decode, op_choices, op_label
from neonas.errors import NeonasError

torch.set_num_threads(1)

GENERIC = [Decision("colour", "choice", 3, ("red", "green", "blue")), Decision("a", "multi", 0),
           Decision("size", "choice", 2, ("s", "l")), Decision("b", "multi", 1), Decision("c", "multi", 2)]


def test_sampling_is_seeded_and_rescoring_gives_the_same_log_prob():
    torch.manual_seed(0)
    ctrl = Controller(GENERIC, ControllerConfig(lstm_size=16))
    a = [ctrl.sample(torch.Generator().manual_seed(7)) for _ in range(2)]
    assert a[0].choices == a[1].choices
    for s in (ctrl.sample(torch.Generator().manual_seed(k)) for k in range(10)):
        assert s.choices[0] in (0, 1, 2) and s.choices[1] == [] and len(s.choices[4]) == 2
        again = ctrl(choices=s.choices)
        assert torch.allclose(again.log_prob, s.log_prob) and torch.allclose(again.entropy, s.entropy)
        assert s.log_prob.requires_grad and s.skip_slots == 3 and 0 <= s.skip_rate <= 1
        assert s.log_prob.item() < 0 and 0 < s.entropy.item() <= math.log(3) + math.log(2) + 3 * math.log(2) + 1e-6


def test_reinforce_learns_a_toy_task_where_one_op_is_best():
    """Fake scorer: reward = share of layers whose op is 'conv s2 d4 t5' (the thesis's best)."""
    space = SpaceConfig(n_layers=4)
    best = [op_label(op) for op in op_choices(space)].index("conv s2 d4 t5")
    torch.manual_seed(0)
    cfg = ControllerConfig()
    ctrl, gen = Controller(decisions(space), cfg), torch.Generator().manual_seed(0)
    trainer = Reinforce(ctrl, cfg)
    rewards, p_start = [], None
    for _ in range(300):
        s = ctrl.sample(gen)
        p_start = s.probs[0][best].item() if p_start is None else p_start
        arch = decode(space, s.choices)
        r = sum(layer["op"] == "conv" and (layer["span"], layer["dilation"], layer["time_kernel"]) == (2, 4, 5)
                for layer in arch["layers"]) / 4
        trainer.step([s], [r])
        rewards.append(r)
    p_end = ctrl.sample(gen).probs[0][best].item()
    assert sum(rewards[-50:]) / 50 > sum(rewards[:50]) / 50 + 0.1
    assert p_start < 0.1 and p_end > 3 * p_start


def test_kl_penalty_pulls_the_skip_rate_toward_its_target():
    space = SpaceConfig(n_layers=4)
    torch.manual_seed(0)
    cfg = ControllerConfig(skip_target=0.1, skip_weight=0.8, entropy_weight=0.0)
    ctrl, gen = Controller(decisions(space), cfg), torch.Generator().manual_seed(0)
    trainer = Reinforce(ctrl, cfg)

    def mean_skip_prob():
        s = ctrl.sample(gen)
        return torch.cat([p for p, d in zip(s.probs, ctrl.decisions, strict=True) if d.kind == "multi"]).mean().item()

    start = mean_skip_prob()
    for _ in range(150):
        trainer.step([ctrl.sample(gen)], [0.0])  # constant reward: only the KL term teaches
    assert start == pytest.approx(0.5, abs=0.1)
    assert mean_skip_prob() < 0.3


def test_baseline_is_a_moving_average_reported_before_its_update():
    torch.manual_seed(0)
    cfg = ControllerConfig(lstm_size=8, baseline="ema", baseline_decay=0.9, entropy_weight=0.0, baseline_init=0.0)
    ctrl, gen = Controller(GENERIC, cfg), torch.Generator().manual_seed(0)
    trainer = Reinforce(ctrl, cfg)
    before = trainer.step([ctrl.sample(gen), ctrl.sample(gen)], [1.0, 1.0])
    assert before == pytest.approx([0.0, 0.1])
    assert trainer.baseline == pytest.approx(0.19)


def test_leave_one_out_baseline_is_the_mean_of_the_other_children():
    torch.manual_seed(0)
    cfg = ControllerConfig(lstm_size=8, baseline="loo", num_aggregate=3, entropy_weight=0.0, baseline_decay=0.5)
    ctrl, gen = Controller(GENERIC, cfg), torch.Generator().manual_seed(0)
    trainer = Reinforce(ctrl, cfg)
    before = trainer.step([ctrl.sample(gen) for _ in range(3)], [0.1, 0.4, 1.0])
    assert before == pytest.approx([0.7, 0.55, 0.25])
    assert trainer.baseline == pytest.approx(0.625)  # the ema (0.1 -> 0.25 -> 0.625) is kept for the logs
    with pytest.raises(NeonasError, match="needs controller.num_aggregate >= 2"):
        from_dict(ControllerConfig, {"baseline": "loo", "num_aggregate": 1}, "controller")


def _grad_norm(reward_scale: float, advantage_norm: bool) -> float:
    torch.manual_seed(0)
    cfg = ControllerConfig(lstm_size=8, num_aggregate=2, entropy_weight=0.0, skip_weight=0.0,
                           advantage_norm=advantage_norm)
    ctrl, gen = Controller(GENERIC, cfg), torch.Generator().manual_seed(0)
    trainer = Reinforce(ctrl, cfg)
    trainer.step([ctrl.sample(gen) for _ in range(2)], [0.0, 1.0 * reward_scale])
    return float(sum(p.grad.norm() ** 2 for p in ctrl.parameters() if p.grad is not None) ** 0.5)


def test_advantage_normalisation_makes_the_step_independent_of_the_reward_scale():
    assert _grad_norm(5.0, advantage_norm=False) == pytest.approx(5 * _grad_norm(1.0, advantage_norm=False))
    assert _grad_norm(5.0, advantage_norm=True) == pytest.approx(_grad_norm(1.0, advantage_norm=True))
    assert _grad_norm(1.0, advantage_norm=True) > 0


def test_uniform_sampler_is_uniform_and_seeded():
    sampler = UniformSampler(GENERIC)
    gen = torch.Generator().manual_seed(0)
    samples = [sampler.sample(gen) for _ in range(3000)]
    counts = [sum(s.choices[0] == k for s in samples) for k in range(3)]
    assert all(abs(c / 3000 - 1 / 3) < 0.04 for c in counts)
    assert abs(sum(s.skip_rate for s in samples) / 3000 - 0.5) < 0.03
    assert samples[0].log_prob.item() == pytest.approx(-math.log(3) - math.log(2) - 3 * math.log(2))
    again = UniformSampler(GENERIC).sample(torch.Generator().manual_seed(0))
    assert again.choices == samples[0].choices


def test_controller_config_rejects_bad_values():
    with pytest.raises(NeonasError, match="skip_target must lie in"):
        from_dict(ControllerConfig, {"skip_target": 1.5}, "controller")
    with pytest.raises(NeonasError, match="unknown key"):
        from_dict(ControllerConfig, {"lstm_units": 100}, "controller")
