"""Controller-only simulation: the real Controller, Reinforce and reward Shaper on a synthetic metric,
without a supernet. It answers in seconds what a search would take hours to show: whether the
REINFORCE settings can learn a planted preference at all, and how fast (tests/test_controls.py,
studies/reinforce_settings.py, docs/search.md).

The synthetic metric of a child in search epoch e (of E) with n of its L layers using the preferred op
family (span 2 x dilation 4 by default, any time kernel):

    metric = base + trend * e / E + early * (1 - exp(-e / early_epochs)) + c_e + delta * n + sigma * eps,
    c_e ~ N(0, common_sd), eps ~ N(0, 1)

`trend` and `early` (a fast rise in the first epochs) stand for the supernet getting better over the
search and `c_e` for the epoch-to-epoch common mode (every child of an epoch shares it); all three are
independent of the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neonas.engine.controller import Controller, ControllerConfig, Reinforce
from neonas.engine.reward import RewardConfig, Shaper
from neonas.engine.space import SpaceConfig, decisions, decode, op_choices


@dataclass
class Synthetic:
    """The synthetic metric above (units: those of the reward metric, e.g. balanced accuracy)."""

    delta: float = 0.02  # gain per layer that uses the preferred op family
    sigma: float = 0.05  # per-child noise SD (one validation minibatch of 128 epochs: ~0.04-0.05)
    common_sd: float = 0.03  # SD of the per-epoch common mode
    trend: float = 0.2  # rise of every child's metric over the run
    base: float = 0.4  # metric of a child without the preferred op at the start
    early: float = 0.0  # amplitude of a fast rise at the start of the search
    early_epochs: float = 5.0  # its time constant, in search epochs
    span: int = 2
    dilation: int = 4


def preferred(space: SpaceConfig, synth: Synthetic) -> list[int]:
    """Indices (in op_choices order) of the preferred op family."""
    return [k for k, op in enumerate(op_choices(space))
            if op["op"] == "conv" and (op["span"], op["dilation"]) == (synth.span, synth.dilation)]


def op_probs(controller: Controller, gen: torch.Generator, n: int = 32) -> np.ndarray:
    """P(op) per layer (rows) and op (columns), averaged over n sampled paths (the LSTM conditions
    each layer's probabilities on the choices before it)."""
    op_steps = [k for k, d in enumerate(controller.decisions) if d.kind == "choice"]
    total = 0.0
    with torch.no_grad():
        for _ in range(n):
            s = controller.sample(gen)
            total = total + np.stack([s.probs[k].numpy() for k in op_steps])
    return total / n


def preferred_prob(controller: Controller, space: SpaceConfig, synth: Synthetic, gen: torch.Generator,
                   n: int = 32) -> np.ndarray:
    """P(preferred family) per layer."""
    return op_probs(controller, gen, n)[:, preferred(space, synth)].sum(axis=1)


def simulate(space: SpaceConfig, ctrl_cfg: ControllerConfig, reward_cfg: RewardConfig, synth: Synthetic,
             children: int, per_epoch: int, seed: int = 0, every: int | None = None, probe: int = 32) -> dict:
    """Train a controller on the synthetic metric for `children` children (`per_epoch` per search
    epoch; updates of ctrl_cfg.num_aggregate). Returns the per-layer P(preferred family) at the end
    (from `probe` sampled paths), the first child count at which every layer had reached 0.8 (checked
    every `every` children; None if never), the history and the trained controller."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    probe_gen = torch.Generator().manual_seed(seed + 1)
    controller = Controller(decisions(space), ctrl_cfg)
    trainer, shaper = Reinforce(controller, ctrl_cfg), Shaper(reward_cfg)
    family = {tuple(sorted(op.items())) for op in (op_choices(space)[k] for k in preferred(space, synth))}
    epochs = max(children // per_epoch, 1)
    common = rng.normal(0.0, synth.common_sd, epochs + 1)
    every = every or per_epoch * 5
    history, done, reached = [], 0, None
    while done < children:
        epoch = done // per_epoch
        samples, values = [], []
        for _ in range(ctrl_cfg.num_aggregate):
            s = controller.sample(gen)
            arch = decode(space, s.choices)
            n = sum(tuple(sorted((k, v) for k, v in layer.items() if k != "skips")) in family
                    for layer in arch["layers"])
            level = synth.base + synth.trend * epoch / epochs + synth.early * (1 - np.exp(-epoch / synth.early_epochs))
            values.append(level + common[epoch] + synth.delta * n + synth.sigma * rng.standard_normal())
            samples.append(s)
        rewards, _ = shaper(values)
        trainer.step(samples, rewards)
        done += len(samples)
        if done % every < len(samples) or done >= children:
            p = preferred_prob(controller, space, synth, probe_gen, probe)
            history.append((done, p.tolist()))
            if reached is None and p.min() >= 0.8:
                reached = done
    return {"p": history[-1][1], "reached": reached, "history": history, "controller": controller}


def simulate_sampler(cfg, synth: Synthetic, children: int, seed: int = 0) -> list[int]:
    """Any registered sampler (cfg.sampler, with cfg's options) on the synthetic metric of epoch 0, without a
    supernet: per child, how many of its layers use the preferred family. The planted optimum is the net with
    every layer preferred; tests/test_evolution.py compares how fast each sampler finds it."""
    from neonas.engine.api import Context
    from neonas.engine.registry import make_sampler

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    space, n_agg = cfg.space, cfg.controller.num_aggregate
    gens = {"sample": torch.Generator().manual_seed(seed)}
    ctx = Context(cfg, decisions(space), 0, 0, seed, torch.device("cpu"), None, None, gens,
                  decode=lambda choices: decode(space, choices))
    sampler, shaper = make_sampler(cfg.sampler, ctx), Shaper(cfg.reward)
    family = [op_choices(space)[k] for k in preferred(space, synth)]
    counts: list[int] = []
    while len(counts) < children:
        proposals = sampler.ask(n_agg)
        n = [sum({k: v for k, v in layer.items() if k != "skips"} in family for layer in p.arch["layers"])
             for p in proposals]
        values = [synth.base + synth.delta * k + synth.sigma * rng.standard_normal() for k in n]
        rewards, _ = shaper(values)
        sampler.tell(proposals, values, rewards)
        counts += n
    return counts[:children]
