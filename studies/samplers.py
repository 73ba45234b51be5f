"""Samplers side by side on the simulated landscape (neonas.engine.simulate.simulate_sampler), no supernet: how
many children each registered sampler needs to propose the planted optimum (span 2 x dilation 4 in every layer of
the thesis's space: 3 of 23 ops per layer). The numbers behind "Regularised evolution" in docs/search.md.

    .venv/bin/python studies/samplers.py [--children 300] [--seeds 10] [--layers 4] [--only evolution random]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neonas.engine.registry import SAMPLERS
from neonas.engine.searcher import load_config
from neonas.engine.simulate import Synthetic, simulate_sampler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--children", type=int, default=300)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--delta", type=float, default=0.05, help="gain per layer with the planted op family")
    p.add_argument("--sigma", type=float, default=0.02, help="noise SD of a child's metric")
    p.add_argument("--only", nargs="*", default=sorted(SAMPLERS), help="samplers to run (default: all)")
    args = p.parse_args()
    synth = Synthetic(delta=args.delta, sigma=args.sigma)
    print(f"thesis space, {args.layers} layers, +{args.delta} per planted layer, noise SD {args.sigma}; "
          f"{args.seeds} seeds x {args.children} children; a miss counts as {args.children + 1}")
    for name in args.only:
        cfg = load_config(None, [f"sampler={name}", f"space.n_layers={args.layers}", "controller.num_aggregate=4",
                                 "reward.name=identity"])
        t0, first = time.monotonic(), []
        for seed in range(args.seeds):
            counts = simulate_sampler(cfg, synth, args.children, seed)
            first.append(next((i + 1 for i, n in enumerate(counts) if n == args.layers), args.children + 1))
        found = sum(f <= args.children for f in first)
        print(f"{name:<11} mean children to the optimum {np.mean(first):6.1f}  found in {found} of {args.seeds}  "
              f"per seed {first}  ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
