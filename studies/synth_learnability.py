"""Is the synthetic cohort learnable, and does the channel span/dilation matter?

Simulates a cohort in memory (neonas.ingest.synth), preprocesses it like the neonatal preset (band-pass
0.5-30 Hz, 64 Hz, robust per-channel scaling, neonas channel order), and trains the same small CNN
with three first layers, side by side on the same leave-one-infant-out folds:

    pair     spatial kernel span 2, dilation 4 (sees homologous left/right electrodes)
    adjacent spatial kernel span 2, dilation 1 (neighbours in the channel order)
    single   spatial kernel span 1 (each channel alone until the classifier)

Prints held-out accuracy, balanced accuracy and IS recall per architecture and their ratios. Expect
'pair' to win on IS (the planted cue, docs/synthetic-cohort.md). CPU, a few minutes:

    .venv/bin/python studies/synth_learnability.py --n-infants 6 --hours 3 --folds 2
"""

from __future__ import annotations

import argparse
import time

import mne
import numpy as np
import torch
from torch import nn

from neonas import NEONATAL_STAGES
from neonas.ingest.synth_model import EPOCH_S, draw_infant, simulate_infant
from neonas.metrics import classification_report

FS = 64


def preprocess(eeg_uv: np.ndarray, sfreq: float, n_epochs: int) -> np.ndarray:
    x = mne.filter.filter_data(eeg_uv.astype(np.float64), sfreq, 0.5, 30.0, verbose="error")
    x = mne.filter.resample(x, down=sfreq / FS, verbose="error")
    med = np.median(x, axis=1, keepdims=True)
    iqr = np.subtract(*np.percentile(x, [75, 25], axis=1))[:, None]
    x = (x - med) / (iqr + 1e-6)
    ep = int(EPOCH_S * FS)
    return x[:, : n_epochs * ep].reshape(9, n_epochs, ep).transpose(1, 0, 2).astype(np.float32)


class Net(nn.Module):
    def __init__(self, span: int, dilation: int, n_classes: int = 4):
        super().__init__()
        rows = 9 - dilation * (span - 1)
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, (span, 7), dilation=(dilation, 1), padding=(0, 3)), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d((1, 4)),
            nn.Conv2d(16, 16, (1, 7), padding=(0, 3)), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d((1, 4)),
            nn.Conv2d(16, 16, (1, 7), padding=(0, 3)), nn.BatchNorm2d(16), nn.ReLU(),
        )
        self.head = nn.Linear(16 * rows, n_classes)

    def forward(self, x):
        h = self.features(x[:, None])  # (B, 16, rows, T)
        return self.head(h.mean(-1).flatten(1))


def train_eval(xtr, ytr, xte, yte, span, dilation, epochs, seed):
    torch.manual_seed(seed)
    net = Net(span, dilation)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    counts = np.bincount(ytr, minlength=4)
    w = torch.tensor(counts.sum() / np.maximum(counts, 1) / 4, dtype=torch.float32)
    lossf = nn.CrossEntropyLoss(weight=w)
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(ytr), generator=g).split(64):
            opt.zero_grad()
            lossf(net(xtr_t[idx]), ytr_t[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(b).argmax(1) for b in torch.from_numpy(xte).split(256)]).numpy()
    return classification_report(yte, pred, list(NEONATAL_STAGES))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-infants", type=int, default=6)
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=2, help="held-out infants to test (one per fold)")
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n_epochs = int(round(args.hours * 3600 / EPOCH_S))
    xs, ys = [], []
    t0 = time.time()
    for i in range(args.n_infants):
        syn = simulate_infant(draw_infant(args.seed, i), n_epochs, 256.0, args.seed, i)
        xs.append(preprocess(syn.eeg, syn.sfreq, n_epochs))
        ys.append(syn.stages.astype(np.int64))
    print(f"simulated + preprocessed {args.n_infants} infants x {args.hours} h in {time.time() - t0:.0f} s")
    archs = {"pair": (2, 4), "adjacent": (2, 1), "single": (1, 1)}
    res = {a: [] for a in archs}
    for fold in range(args.folds):
        test = args.n_infants - 1 - fold
        tr = [i for i in range(args.n_infants) if i != test]
        xtr, ytr = np.concatenate([xs[i] for i in tr]), np.concatenate([ys[i] for i in tr])
        for name, (span, dil) in archs.items():
            t = time.time()
            rep = train_eval(xtr, ytr, xs[test], ys[test], span, dil, args.epochs, args.seed)
            res[name].append(rep)
            print(f"fold {fold} (test syn{test + 1:02d}) {name:9s} acc {rep['accuracy']:.3f} "
                  f"bal {rep['balanced_accuracy']:.3f} f1 {rep['per_class_f1']} ({time.time() - t:.0f} s)")
    mean = {a: {k: float(np.mean([r[k] for r in rs])) for k in ("accuracy", "balanced_accuracy", "kappa")}
            for a, rs in res.items()}
    for a, m in mean.items():
        print(f"{a:9s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()))
    for a in ("adjacent", "single"):
        print(f"ratio pair/{a}: accuracy {mean['pair']['accuracy'] / mean[a]['accuracy']:.3f}, "
              f"balanced accuracy {mean['pair']['balanced_accuracy'] / mean[a]['balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
