"""How much data does a net of the eeg space need to learn the `lag` cohort's echo, and why the positive control failed.

The `lag` positive control (neonas.ingest.synth_controls) was not learned by the nets that can see it, not even in
12 epochs (docs/synthetic-cohort.md). This study separates the cue from the cohort: a two-class toy in memory, 9 rows
x 30 s at 64 Hz of white noise, with sharp transients (the cohort's 3 Hz wave under a 0.06 s Gaussian, random sign,
Poisson) on every row. In the positive class rows 4..7 echo rows 0..3 exactly LAG_STEPS stem steps later, as in the
cohort; in the negative class every row has its own. Each net of a small panel is trained alone (AdamW, lr 3e-3,
batch 64, class-weighted cross-entropy: retrain's recipe without early stopping) and its validation balanced
accuracy is printed after every epoch, for several (training examples, positive share, transients per minute).

    .venv/bin/python studies/echo_learnability.py            # ~10 min on one CPU thread

The nets that can see the echo (neonas.study.planted_rule.sees_lag) sit at chance for a while and then learn it
within an epoch or two; the near-misses never do. Whether and when the jump comes depends on how many positive
examples and transients a run of optimizer steps sees. The cohort gives 4 training infants x 2 h = 960 epochs, of
which ~115 IS (the only stage the echo decides), at 8 transients per minute.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from neonas.engine.space import SpaceConfig, build_model, named_space
from neonas.ingest.synth_controls import LAG_DISTANCE, LAG_STEPS
from neonas.study.planted_rule import sees_lag

FS = 64  # Hz, the preprocessed rate
T = 30 * FS  # one 30 s epoch
LAG = LAG_STEPS * 16  # samples: one stem step is 16 samples at 64 Hz
NOISE = 0.5  # white background (SD)
PEAK = 3.0  # transient peak


def conv(span: int, dil: int, tk: int) -> dict:
    return {"op": "conv", "span": span, "dilation": dil, "time_kernel": tk, "time_dilation": 1, "skips": []}


#: the rule needs rows 4 apart and a time field of LAG_STEPS steps (all three kernels 9)
PANEL = {
    "rule: pair first, t9 t9 t9": [conv(2, 4, 9), conv(1, 1, 9), conv(1, 1, 9)],
    "miss time: pair, t9 t9 t3": [conv(2, 4, 9), conv(1, 1, 9), conv(1, 1, 3)],
    "miss rows: span1 x3, t9": [conv(1, 1, 9), conv(1, 1, 9), conv(1, 1, 9)],
}

#: (training examples, positive share, transients per minute); the first is the cohort's IS situation
SETTINGS = [(1000, 0.12, 8.0), (1000, 0.12, 30.0), (1000, 0.5, 8.0), (1000, 0.5, 30.0), (2000, 0.5, 8.0),
            (3000, 0.12, 30.0)]


def make(n: int, positive: float, per_min: float, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n examples (n, 9, T) and labels: transients on every row; in a positive, rows 4..7 echo rows 0..3 LAG later."""
    t = np.arange(-19, 20) / FS
    wave = np.exp(-0.5 * (t / 0.06) ** 2) * np.cos(2 * np.pi * 3.0 * t)
    y = (rng.random(n) < positive).astype(np.int64)
    x = NOISE * rng.standard_normal((n, 9, T))
    for i in range(n):
        spikes = (rng.random((9, T + LAG)) < per_min / 60.0 / FS) * rng.choice([-1.0, 1.0], (9, T + LAG))
        own = PEAK * np.stack([np.convolve(s, wave, "same") for s in spikes])
        sig = own[:, LAG:].copy()
        if y[i]:
            sig[LAG_DISTANCE:2 * LAG_DISTANCE] = own[:LAG_DISTANCE, :T]  # what row c showed LAG samples earlier
        x[i] += sig
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)


def balanced(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float(np.mean([(pred[y == c] == c).float().mean().item() for c in (0, 1)]))


def learn(layers: list[dict], data: tuple, epochs: int, seed: int) -> list[float]:
    """Validation balanced accuracy after each epoch of training the net alone."""
    (x, y), (xv, yv) = data
    torch.manual_seed(seed)
    net = build_model({"layers": layers}, SpaceConfig(**named_space("eeg")), 9, T, 2)
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-4)
    counts = np.bincount(y.numpy(), minlength=2)
    loss = nn.CrossEntropyLoss(weight=torch.tensor(counts.sum() / counts / 2, dtype=torch.float32))
    order = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(y), generator=order).split(64):
            opt.zero_grad()
            loss(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            out.append(balanced(net(xv).argmax(1), yv))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"echo: rows {LAG_DISTANCE} apart, {LAG_STEPS} stem steps ({LAG} samples at {FS} Hz); {args.epochs} epochs, "
          f"batch 64, seed {args.seed}; validation: 600 examples of the same setting")
    print("| examples | positive | transients/min | net | rule | balanced accuracy by epoch | learned (>= 0.9) at |")
    print("|---|---|---|---|---|---|---|")
    for n, positive, per_min in SETTINGS:
        rng = np.random.default_rng([args.seed, n, int(positive * 100), int(per_min)])
        data = make(n, positive, per_min, rng), make(600, positive, per_min, rng)
        for name, layers in PANEL.items():
            t0 = time.monotonic()
            accs = learn(layers, data, args.epochs, args.seed)
            hit = next((e + 1 for e, a in enumerate(accs) if a >= 0.9), None)
            when = f"epoch {hit} ({hit * -(-n // 64)} steps)" if hit else f"not in {args.epochs}"
            print(f"| {n} | {positive:.2f} | {per_min:g} | {name} | {'yes' if sees_lag({'layers': layers}) else 'no'} | "
                  f"{' '.join(f'{a:.2f}' for a in accs)} | {when} |  ({time.monotonic() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
