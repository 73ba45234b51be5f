"""Skips and batch norm in the supernet, measured on the synthetic cohort (in memory, CPU, a few minutes):

1. skip penalty: a supernet trained with uniform sampling, then the same uniform children scored on
   the validation infant; the slope of their metric over their number of skips, with `space.skip_bn`
   off (skips add unnormalised activations) and on (ENAS: batch norm after the skip sum);
2. (with skip BN) how early the supernet's ranking of those children settles: Kendall's tau between
   the ranking after epoch e and after the last epoch (what a warm-up would buy the controller);
3. search-time vs retrain-time normalisation: each child scored as the search scores it (batch
   statistics of the validation chunk) and as a standalone child with running statistics
   recalibrated on training batches (as a retrained model is evaluated); mean |difference| and
   Kendall's tau between the two rankings.

    .venv/bin/python studies/skip_bn.py [--epochs 12] [--children 40] [--hours 1.5] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import torch
from scipy import stats
from synth_learnability import preprocess  # bench/ is on sys.path when run as a script

from neonas import NEONATAL_STAGES
from neonas.engine.reward import metric
from neonas.engine.search import Search, load_config
from neonas.engine.space import build_model
from neonas.ingest.synth_model import EPOCH_S, draw_infant, simulate_infant


def dataset(xs, ys) -> SimpleNamespace:
    x, y = np.concatenate(xs), np.concatenate(ys)
    return SimpleNamespace(x=x, y=y, ch_names=[str(c) for c in range(9)], label_names=list(NEONATAL_STAGES),
                           n_samples=x.shape[2], n_classes=4, n_channels=9)


def recalibrated(search: Search, arch: dict, x_train: torch.Tensor, batches: int, gen: torch.Generator) -> np.ndarray:
    """Predictions of the standalone child with BN running statistics averaged over `batches` training
    batches (momentum None: the plain mean), evaluated in eval mode on the validation infants."""
    net = build_model(arch, search.cfg.space, search.supernet.n_channels, search.supernet.n_samples, 4)
    net.load_state_dict(search.supernet.child(arch).state_dict(), strict=False)  # buffers: fresh
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    net.train()
    with torch.no_grad():
        for _ in range(batches):
            net(x_train[torch.randint(len(x_train), (64,), generator=gen)])
        net.eval()
        return torch.cat([net(b).argmax(1) for b in search.x_val.split(128)]).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-infants", type=int, default=5)
    ap.add_argument("--hours", type=float, default=1.5)
    ap.add_argument("--epochs", type=int, default=12, help="supernet training epochs (uniform sampling)")
    ap.add_argument("--children", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n_epochs = int(round(args.hours * 3600 / EPOCH_S))
    xs, ys = [], []
    for i in range(args.n_infants):
        syn = simulate_infant(draw_infant(args.seed, i), n_epochs, 256.0, args.seed, i)
        xs.append(preprocess(syn.eeg, syn.sfreq, n_epochs))
        ys.append(syn.stages.astype(np.int64))
    train, val = dataset(xs[:-1], ys[:-1]), dataset(xs[-1:], ys[-1:])
    print(f"{args.n_infants - 1} training infants ({len(train.y)} epochs), 1 validation infant ({len(val.y)}); "
          f"supernet: {args.epochs} epochs of uniform sampling, default space; metric balanced accuracy")
    for skip_bn in (False, True):
        tick = time.monotonic()
        cfg = load_config(None, [f"space.skip_bn={str(skip_bn).lower()}", "sampler=random",
                                 f"training.epochs={args.epochs}"])
        search = Search(cfg, train, val, args.seed, torch.device("cpu"))
        gen = torch.Generator().manual_seed(1000 + args.seed)  # the same children for both settings
        archs = [search.decode(search.uniform.sample(gen).choices) for _ in range(args.children)]
        early = {}
        for epoch in range(args.epochs):
            for group in search.optimizer.param_groups:
                group["lr"] = search.lr_at(epoch)
            perm = torch.randperm(len(search.y_train), generator=search.gens["train"])
            for idx in perm.split(cfg.training.batch_size):
                search.train_batch(idx)
            if skip_bn and epoch + 1 in (1, 2, 3, 6) and epoch + 1 < args.epochs:
                early[epoch + 1] = np.array([search.score(a, full=True)[0] for a in archs])
        skips = np.array([sum(len(layer["skips"]) for layer in a["layers"]) for a in archs])
        batch = np.array([search.score(a, full=True)[0] for a in archs])
        calib_gen = torch.Generator().manual_seed(7)
        running = np.array([metric(val.y, recalibrated(search, a, search.x_train, 20, calib_gen), "balanced_accuracy",
                                   4) for a in archs])
        slope = np.polyfit(skips, batch, 1)[0]
        tau = stats.kendalltau(batch, running).statistic
        print(f"skip_bn={skip_bn!s:5s}: children mean {batch.mean():.3f}; per skip {slope:+.3f} "
              f"(0 skips {batch[skips == 0].mean() if (skips == 0).any() else float('nan'):.3f}, "
              f">=3 skips {batch[skips >= 3].mean() if (skips >= 3).any() else float('nan'):.3f}); "
              f"batch vs running statistics: mean |diff| {np.abs(batch - running).mean():.3f}, "
              f"mean diff {np.mean(running - batch):+.3f}, Kendall tau {tau:.2f} ({time.monotonic() - tick:.0f} s)",
              flush=True)
        if early:
            print("  ranking after epoch e vs after the last: Kendall tau " + ", ".join(
                f"e={e}: {stats.kendalltau(v, batch).statistic:.2f}" for e, v in early.items()), flush=True)


if __name__ == "__main__":
    main()
