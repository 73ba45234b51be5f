"""How much data does a net of the eeg space need to learn the `lag` cohort's echo, and why the positive control failed.

The `lag` positive control (neonas.ingest.synth_controls) was not learned by the nets that can see it, not even in
12 epochs (docs/synthetic-cohort.md). This study separates the cue from the cohort: a two-class toy in memory, 9 rows
x 30 s at 64 Hz of white noise, with sharp transients (the cohort's 3 Hz wave under a 0.06 s Gaussian, random sign,
Poisson) on every row. In the positive class rows 4..7 echo rows 0..3 exactly LAG_STEPS stem steps later, as in the
cohort; in the negative class every row has its own. Each net of a small panel is trained alone (AdamW, lr 3e-3,
batch 64, class-weighted cross-entropy: retrain's recipe without early stopping) and its validation balanced
accuracy is printed after every epoch, for several (training examples, positive share, transients per minute).

    .venv/bin/python studies/echo_learnability.py            # ~10 min on one CPU thread
    .venv/bin/python studies/echo_learnability.py --rule-only --batch 16 --setting 846 0.27 120 --slow 1
    .venv/bin/python studies/echo_learnability.py --cohort results/control-positive/folds.json --stages QS IS \
        --batch 16 --epochs 24                                # the same loop on a control cohort's fold

The nets that can see the echo (neonas.study.planted_rule.sees_lag) sit at chance for a while and then learn it
within an epoch or two; the near-misses never do. The jump needs enough distinct examples (846 learned; 423 not in 10 epochs), enough
optimiser steps (~100-300: batch 16 learns where batch 64's 8 epochs do not) and a quiet background (an independent
slow background per row delays it or stops it). The cohort gives 4 training infants x 2 h = 960 epochs, of which
~115 IS (the only stage the echo decides), at 8 transients per minute (docs/synthetic-cohort.md has the numbers).
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


def make(n: int, positive: float, per_min: float, rng: np.random.Generator,
         slow: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """n examples (n, 9, T) and labels: transients on every row; in a positive, rows 4..7 echo rows 0..3 LAG later.
    `slow` > 0 adds an independent slow background to every row (white noise under a 0.5 s Hann window, this SD):
    the cohort's rows have bursts and slow waves of their own."""
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
    if slow:
        window = np.hanning(33)
        for i in range(n):
            b = np.stack([np.convolve(rng.standard_normal(T), window, "same") for _ in range(9)])
            x[i] += slow * b / b.std()
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)


def recalls(pred: torch.Tensor, y: torch.Tensor, k: int) -> np.ndarray:
    """Recall per class (NaN for a class absent from y); their mean is the balanced accuracy."""
    return np.array([(pred[y == c] == c).float().mean().item() if (y == c).any() else np.nan for c in range(k)])


def learn(layers: list[dict], data: tuple, epochs: int, seed: int, batch: int = 64) -> list[np.ndarray]:
    """Validation recall per class after each epoch of training the net alone."""
    (x, y), (xv, yv) = data
    k = int(max(y.max(), yv.max())) + 1
    torch.manual_seed(seed)
    net = build_model({"layers": layers}, SpaceConfig(**named_space("eeg")), x.shape[1], x.shape[2], k)
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-4)
    counts = np.bincount(y.numpy(), minlength=k)
    loss = nn.CrossEntropyLoss(weight=torch.tensor(counts.sum() / np.maximum(counts, 1) / k, dtype=torch.float32))
    order = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(y), generator=order).split(batch):
            opt.zero_grad()
            loss(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            out.append(recalls(net(xv).argmax(1), yv, k))
    return out


def cohort(folds: str, fold: int, stages: list[str] | None) -> tuple[tuple, tuple, list[str]]:
    """A fold's training and validation infants of a control cohort, as the toy's (x, y), optionally only some stages
    (relabelled 0..k-1 in the given order): the echo in its cohort, with the cohort's backgrounds and other stages."""
    from neonas.store.splits import load_fold
    from neonas.training.evaluate import load_split

    f = load_fold(folds, fold)
    out = []
    for split in ("train", "val"):
        ds = load_split(f, split, folds)
        y = np.asarray(ds.y)
        names = stages or list(ds.label_names)
        codes = [ds.label_names.index(n) for n in names]
        keep = np.isin(y, codes)
        relabel = np.full(len(ds.label_names), -1)
        relabel[codes] = np.arange(len(codes))
        out.append((torch.as_tensor(np.asarray(ds.x)[keep], dtype=torch.float32), torch.as_tensor(relabel[y[keep]])))
    return out[0], out[1], names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64, help="minibatch size (retrain's default 64)")
    ap.add_argument("--setting", nargs=3, type=float, action="append", metavar=("EXAMPLES", "SHARE", "PER_MIN"),
                    help="one (training examples, positive share, transients per minute); repeatable; default: SETTINGS")
    ap.add_argument("--slow", type=float, default=0.0, help="SD of an independent slow background per row (0: none)")
    ap.add_argument("--rule-only", action="store_true", help="train only the rule's net (the near-misses never learn)")
    ap.add_argument("--cohort", metavar="FOLDS_JSON", help="train on a control cohort's fold instead of the toy")
    ap.add_argument("--fold", type=int, default=0, help="with --cohort: which fold")
    ap.add_argument("--stages", nargs="+", help="with --cohort: only these stages (e.g. QS IS); default all")
    args = ap.parse_args()
    panel = dict(list(PANEL.items())[:1]) if args.rule_only else PANEL
    torch.set_num_threads(1)
    if args.cohort:
        train, val, names = cohort(args.cohort, args.fold, args.stages)
        print(f"{args.cohort} fold {args.fold}: {len(train[1])} training epochs ({', '.join(names)}), {len(val[1])} "
              f"validation; {args.epochs} epochs, batch {args.batch}, seed {args.seed}")
        print(f"| net | rule | validation recall {' / '.join(names)} by epoch | balanced accuracy by epoch |")
        print("|---|---|---|---|")
        for name, layers in panel.items():
            t0 = time.monotonic()
            rec = learn(layers, (train, val), args.epochs, args.seed, args.batch)
            print(f"| {name} | {'yes' if sees_lag({'layers': layers}) else 'no'} | "
                  f"{' '.join('/'.join(f'{r:.2f}' for r in e) for e in rec)} | "
                  f"{' '.join(f'{np.nanmean(e):.2f}' for e in rec)} |  ({time.monotonic() - t0:.0f} s)", flush=True)
        return 0
    settings = [(int(n), share, rate) for n, share, rate in args.setting] if args.setting else SETTINGS
    print(f"echo: rows {LAG_DISTANCE} apart, {LAG_STEPS} stem steps ({LAG} samples at {FS} Hz); {args.epochs} epochs, "
          f"batch {args.batch}, seed {args.seed}; slow background SD {args.slow:g}; validation: 600 examples of the same "
          "setting")
    print("| examples | positive | transients/min | net | rule | balanced accuracy by epoch | learned (>= 0.9) at |")
    print("|---|---|---|---|---|---|---|")
    for n, positive, per_min in settings:
        rng = np.random.default_rng([args.seed, n, int(positive * 100), int(per_min)])
        data = make(n, positive, per_min, rng, args.slow), make(600, positive, per_min, rng, args.slow)
        for name, layers in panel.items():
            t0 = time.monotonic()
            accs = [float(np.nanmean(r)) for r in learn(layers, data, args.epochs, args.seed, args.batch)]
            hit = next((e + 1 for e, a in enumerate(accs) if a >= 0.9), None)
            when = f"epoch {hit} ({hit * -(-n // args.batch)} steps)" if hit else f"not in {args.epochs}"
            print(f"| {n} | {positive:.2f} | {per_min:g} | {name} | {'yes' if sees_lag({'layers': layers}) else 'no'} | "
                  f"{' '.join(f'{a:.2f}' for a in accs)} | {when} |  ({time.monotonic() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
