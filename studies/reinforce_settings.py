"""REINFORCE settings side by side, controller only (neonas.engine.simulate): how many children each
needs before P(span 2 x dilation 4) reaches 0.8 in every layer of the default space, and what a
reward that ignores the architecture does to the policy. The measurements behind the controller
defaults in docs/search.md.

    .venv/bin/python studies/reinforce_settings.py [--children 3000] [--seeds 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from neonas.engine.controller import ControllerConfig
from neonas.engine.reward import RewardConfig
from neonas.engine.simulate import Synthetic, op_probs, simulate
from neonas.engine.space import SpaceConfig

OLD = ControllerConfig(tanh_constant=1.5, baseline="ema", advantage_norm=False, num_aggregate=1)
NEW = ControllerConfig()  # tanh 2.5, loo, advantage_norm, 2 children per update
IDENTITY = RewardConfig(name="identity")
SIGMOID = RewardConfig(name="sigmoid", threshold=0.6, steepness=10.0)
AUTO = RewardConfig(name="sigmoid", threshold="auto", quantile=0.5, window=100, steepness=10.0)

FOUR = replace(NEW, num_aggregate=4)  # the arms below marked 4/update were measured at 4 children per update
ARMS = {
    # name: (controller, reward, synthetic overrides); the defaults first
    "new default identity (tanh 2.5, loo, norm, 2/update)": (NEW, IDENTITY, {}),
    "tanh 2.5, loo, norm, 4/update": (FOUR, IDENTITY, {}),
    "tanh 2.5, ema, norm, 4/update": (replace(FOUR, baseline="ema"), IDENTITY, {}),
    "tanh 2.5, ema, norm, 1/update": (replace(NEW, baseline="ema", num_aggregate=1), IDENTITY, {}),
    "tanh 2.5, loo, raw, 4/update": (replace(FOUR, advantage_norm=False), IDENTITY, {}),
    "tanh 2.5, loo, raw, 4/update, identity x5 (sigmoid-like scale)": (replace(FOUR, advantage_norm=False),
                                                                      IDENTITY, {"x5": True}),
    "loo 4/update, sigmoid t0.6 s10 raw": (replace(FOUR, advantage_norm=False), SIGMOID, {}),
    "loo 4/update, sigmoid t0.6 s10 norm": (FOUR, SIGMOID, {}),
    "loo 4/update, sigmoid auto q0.5 w100 norm": (FOUR, AUTO, {}),
    "NULL new default identity (delta 0)": (NEW, IDENTITY, {"delta": 0.0}),
    "NULL loo 4/update identity (delta 0)": (FOUR, IDENTITY, {"delta": 0.0}),
    "NULL old default identity (delta 0)": (OLD, IDENTITY, {"delta": 0.0}),
    "tanh 2.5, loo, norm, 10/update": (replace(NEW, num_aggregate=10), IDENTITY, {}),
    "old default identity (tanh 1.5, ema, raw, 1/update)": (OLD, IDENTITY, {}),
    "tanh 2.5, ema, raw, 1/update": (replace(OLD, tanh_constant=2.5), IDENTITY, {}),
}


def controls(seeds: int) -> None:
    """The setting of tests/test_controls.py (keep in step with it), over more seeds: when does each
    reward reach P >= 0.8 in every layer, and how far from uniform does the null control drift?"""
    space = SpaceConfig(n_layers=2, spans=[1, 2], dilations=[1, 2, 4], time_kernels=[5])
    rewards = {"identity": IDENTITY, "sigmoid t0.5 s10": RewardConfig(name="sigmoid", threshold=0.5, steepness=10.0),
               "sigmoid auto q0.5 w40": RewardConfig(name="sigmoid", threshold="auto", window=40, steepness=10.0)}
    print("controls: 2 layers x 6 ops, delta 0.1, sigma 0.05, common mode 0.05, trend 0.2; 720 children, 20/epoch")
    for name, rew in rewards.items():
        reached = [simulate(space, NEW, rew, Synthetic(delta=0.1, sigma=0.05, common_sd=0.05), 720, 20, seed=seed,
                            every=40, probe=16)["reached"] for seed in range(seeds)]
        print(f"  {name:22s} children to P >= 0.8 in both layers, per seed: {reached}", flush=True)
    ratios = []
    for seed in range(seeds):
        r = simulate(space, NEW, IDENTITY, Synthetic(delta=0.0, sigma=0.05, common_sd=0.05), 720, 20, seed=seed,
                     every=720, probe=16)
        ratios.append(op_probs(r["controller"], torch.Generator().manual_seed(5), 64) * 6)
    print("  null (delta 0): P(op)/uniform after 720 children, per seed min..max: "
          + ", ".join(f"{x.min():.2f}..{x.max():.2f}" for x in ratios), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--children", type=int, default=2000)
    ap.add_argument("--per-epoch", type=int, default=20, help="children per search epoch (common mode period)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=None, help="substrings of arm names to run")
    ap.add_argument("--controls", action="store_true", help="only the setting of tests/test_controls.py")
    ap.add_argument("--early", type=float, default=0.0, help="fast early rise of every child's metric (Synthetic.early)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.controls:
        return controls(args.seeds)
    space = SpaceConfig()
    print(f"default space ({space.n_layers} layers, 23 ops); {args.children} children, {args.per_epoch} per epoch; "
          f"synthetic metric {Synthetic(early=args.early)}")
    for name, (ctrl, rew, over) in ARMS.items():
        if args.only and not any(s in name for s in args.only):
            continue
        synth = Synthetic(early=args.early, **{k: v for k, v in over.items() if k != "x5"})
        if over.get("x5"):  # the sigmoid's slope at its threshold is A*C/4: the same metric, 5x the scale
            synth = replace(synth, delta=5 * synth.delta, sigma=5 * synth.sigma, common_sd=5 * synth.common_sd,
                            trend=5 * synth.trend, base=5 * synth.base)
        tick, reached, finals, ratios = time.monotonic(), [], [], []
        for seed in range(args.seeds):
            r = simulate(space, ctrl, rew, synth, args.children, args.per_epoch, seed=seed, every=100, probe=16)
            reached.append(r["reached"])
            finals.append(r["p"])
            ratios.append(op_probs(r["controller"], torch.Generator().manual_seed(99), 32) * 23)
        finals = np.array(finals)
        got = [x for x in reached if x is not None]
        print(f"{name:64s} reached 0.8 in all layers: {len(got)}/{args.seeds} seeds, children {reached}; "
              f"final P min/mean/max over layers x seeds {finals.min():.2f}/{finals.mean():.2f}/{finals.max():.2f}; "
              f"P(op)/uniform {np.min(ratios):.2f}..{np.max(ratios):.2f} "
              f"({time.monotonic() - tick:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
