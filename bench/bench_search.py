"""Benchmark of the search engine. Prints ratios measured side by side in this one run.

1. supernet training step vs the same child as a standalone module (weight-sharing overhead; target <= 1.3x)
2. sampling + scoring one child (controller step) as a share of a search epoch
3. search epochs per hour for a demo-sized run (9 ch x 1920 samples, ~1000 training epochs of data)

    .venv/bin/python bench/bench_search.py [--device cpu|cuda|auto] [--threads N] [--repeats R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def timed(fn, repeats: int) -> float:
    """Median seconds of fn() over `repeats` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench_overhead(device, repeats: int) -> None:
    import torch.nn.functional as F

    from neonas.engine.space import SpaceConfig, thesis_best_arch
    from neonas.engine.supernet import Supernet
    from neonas.torchutil import autocast

    space = SpaceConfig()
    arch = thesis_best_arch(space)
    arch["layers"][2]["skips"] = [0]  # a skip, so that the summation path is exercised too
    torch.manual_seed(0)
    supernet = Supernet(space, 9, 1920, 4).to(device)
    child = supernet.child(arch).to(device)
    x = torch.randn(64, 9, 1920, device=device)
    y = torch.randint(0, 4, (64,), device=device)
    opts = {"supernet": torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9, nesterov=True),
            "child": torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9, nesterov=True)}

    def step(name):
        model, opt = (supernet, opts["supernet"]) if name == "supernet" else (child, opts["child"])
        with autocast(device):
            logits = model(x, arch) if name == "supernet" else model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    # interleave the two so that machine load hits both alike
    t_super, t_child = [], []
    for _ in range(3):
        t_super.append(timed(lambda: step("supernet"), repeats))
        t_child.append(timed(lambda: step("child"), repeats))
    ts, tc = float(np.median(t_super)), float(np.median(t_child))
    n_super = sum(p.numel() for p in supernet.parameters())
    n_child = sum(p.numel() for p in child.parameters())
    print(f"[1] training step, batch 64 x 9 ch x 1920 samples, {space.n_layers} layers x {space.filters} filters")
    print(f"    supernet ({n_super} weights) {ts * 1e3:.1f} ms vs standalone child ({n_child} weights) "
          f"{tc * 1e3:.1f} ms: overhead ratio {ts / tc:.2f}x (target <= 1.3x)")


def make_cohort(root: Path, n_infants: int = 6, n_epochs: int = 250) -> Path:
    """Random learnable recordings: 4 training infants x 250 epochs ~ 1000 training epochs of data."""
    from neonas import NEONATAL_STAGES
    from neonas.store.h5io import Recording, write_recording
    from neonas.store.splits import write_folds

    paths = []
    t = np.arange(1920) / 64.0
    for i in range(n_infants):
        rng = np.random.default_rng(i)
        y = rng.integers(0, 4, n_epochs)
        x = rng.normal(0, 1, (n_epochs, 9, 1920)).astype(np.float32)
        x += np.sin(2 * np.pi * (1 + 2 * y)[:, None, None] * t).astype(np.float32)
        rec = Recording(f"b{i}", x, y.astype(np.int8), np.arange(n_epochs) * 30.0, np.zeros(n_epochs, np.uint8),
                        64.0, [f"ch{c}" for c in range(9)], list(NEONATAL_STAGES), 30.0)
        write_recording(root / f"b{i}.h5", rec)
        paths.append(str(root / f"b{i}.h5"))
    # kfold with k = n_infants: one test infant, one validation infant, the rest train
    write_folds(paths, root / "folds.json", "kfold", n_infants, 1, 0)
    return root / "folds.json"


def bench_search(device, repeats: int) -> None:
    from neonas.engine.search import Search, SearchConfig, run_search
    from neonas.store.data import load_infants
    from neonas.store.splits import load_fold

    cfg = SearchConfig()
    with tempfile.TemporaryDirectory() as tmp:
        folds = make_cohort(Path(tmp))
        split = load_fold(folds, 0)
        train, val = load_infants(split.train), load_infants(split.val)
        search = Search(cfg, train, val, 0, device)
        idx = torch.arange(cfg.training.batch_size, device=device)
        t_batch = timed(lambda: search.train_batch(idx), repeats)
        t_child = timed(lambda: search.controller_step(0), repeats)  # num_aggregate children + one update
        n_batches = int(np.ceil(len(train) / cfg.training.batch_size))
        per_child = t_child / cfg.controller.num_aggregate
        epoch = n_batches * t_batch + cfg.controller.train_steps * t_child
        print(f"[2] one child sampled + scored on a validation minibatch of {cfg.training.val_batch_size} "
              f"(+ its controller update): {per_child * 1e3:.1f} ms = {per_child / epoch:.1%} of an epoch "
              f"({n_batches} shared batches of {cfg.training.batch_size} at {t_batch * 1e3:.0f} ms + "
              f"{cfg.controller.train_steps} controller steps); all {cfg.controller.train_steps * cfg.controller.num_aggregate}"
              f" children of an epoch: {cfg.controller.train_steps * t_child / epoch:.1%}")
        epochs = 2
        cfg.training.epochs = epochs
        t = time.perf_counter()
        run_search(cfg, folds, 0, 0, Path(tmp) / "run", device=str(device))
        wall = time.perf_counter() - t
        log = (Path(tmp) / "run" / "epochs.csv").read_text().splitlines()[1:]
        per_epoch = float(np.median([float(line.split(",")[-1]) for line in log]))
        print(f"[3] demo-sized search ({len(train)} training + {len(val)} validation epochs of 9 ch x 1920 "
              f"samples, default SearchConfig): {per_epoch:.1f} s per search epoch = {3600 / per_epoch:.0f} "
              f"epochs/hour; a {epochs}-epoch `neonas search` incl. loading took {wall:.1f} s")


def main() -> None:
    from neonas.torchutil import select_device

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the machine is shared)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s)")
    bench_overhead(device, args.repeats)
    bench_search(device, args.repeats)


if __name__ == "__main__":
    main()
