"""Packing on the CPU: N = 1, 2, 4 searches per job (search.pack), side by side in one run.

    .venv/bin/python bench/bench_pack.py [--packs 1,2,4] [--epochs 2] [--threads 1] [--repeat 1]

Each pack size starts N `neonas search` processes at once (as a search_pack job does: its own seed, run
directory and log each, OMP_NUM_THREADS=--threads) on the same demo-sized cohort (6 random learnable
recordings x 120 epochs of 9 channels x 1920 samples; bench_search.make_cohort) with the default search config
for --epochs epochs, and waits for all. Pack sizes take turns (--repeat rounds; the fastest round counts), so
that the machine's load hits all alike. Prints, per pack size: the job's wall time, children scored per minute,
per minute per core (cores = min(N x threads, CPUs of this machine): what the job would ask SLURM for),
children per CPU-minute the searches used (user + system time: the same on a busy machine, where a job does not
get its cores, as on an idle one), supernet training batches per minute, and the per-core and per-CPU-minute
ratios to N = 1. The process start (Python, torch) is part of each search's time, as in a job.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import make_cohort  # noqa: E402

NEONAS = Path(sys.executable).parent / "neonas"


def run_pack(folds: Path, out: Path, n: int, epochs: int, threads: int, device: str, autocast: str = "auto",
             extra: tuple[str, ...] = (), poll=None) -> dict:
    """N searches side by side (seeds 0..N-1), as one pack job runs them; {"wall", "children", "batches",
    "searches"}. `poll` is called every 0.2 s while they run (bench_gpu.py samples GPU memory with it)."""
    import resource

    from neonas.engine.search import SearchConfig
    from neonas.store.splits import load_fold

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "NEONAS_AUTOCAST": autocast}
    procs = []
    t0 = time.perf_counter()
    for seed in range(n):
        run = out / f"seed{seed}"
        run.parent.mkdir(parents=True, exist_ok=True)
        log = open(out / f"seed{seed}.log", "w")
        cmd = [str(NEONAS), "search", "--folds", str(folds), "--fold", "0", "--seed", str(seed), "--device", device,
               "--set", f"training.epochs={epochs}", *extra, "--out", str(run)]
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    while any(p.poll() is None for p, _ in procs):
        if poll:
            poll()
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    for (p, log), seed in zip(procs, range(n), strict=True):
        log.close()
        if p.returncode != 0:
            sys.exit(f"search seed {seed} of a pack of {n} failed:\n" + (out / f"seed{seed}.log").read_text()[-3000:])
    children = sum(len(list(csv.DictReader(open(out / f"seed{s}" / "children.csv")))) for s in range(n))
    batch = SearchConfig().training.batch_size  # the default config (--set may not change it here)
    n_train = sum(_labelled(p) for p in load_fold(folds, 0).train)
    batches = n * epochs * math.ceil(n_train / batch)
    return {"wall": wall, "cpu": cpu, "children": children, "batches": batches, "searches": n, "n_train": n_train}


def _labelled(path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return int((f["labels"][:] >= 0).sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packs", default="1,2,4", help="searches per job to compare (default 1,2,4)")
    p.add_argument("--epochs", type=int, default=2, help="search epochs of each search (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per search (default 1)")
    p.add_argument("--repeat", type=int, default=1, help="rounds over the pack sizes; the fastest counts")
    args = p.parse_args()
    packs = [int(n) for n in args.packs.split(",")]
    cpus = os.cpu_count() or 1
    best: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="neonas-bench-pack-") as tmp:
        (Path(tmp) / "cohort").mkdir()
        folds = make_cohort(Path(tmp) / "cohort", n_infants=6, n_epochs=120)
        for r in range(args.repeat):
            for n in packs:
                res = run_pack(folds, Path(tmp) / f"r{r}-pack{n}", n, args.epochs, args.threads, "cpu")
                if n not in best or res["wall"] < best[n]["wall"]:
                    best[n] = res
    load = os.getloadavg()[0]
    print(f"{cpus} CPUs, load average {load:.1f} at the end; {args.epochs} search epochs per search, default search "
          f"config, {best[packs[0]]['n_train']} training epochs of data, {args.threads} thread(s) per search")
    print(f"{'pack':>5} {'cores':>6} {'wall s':>7} {'CPU s':>7} {'children/min':>13} {'per core':>9} "
          f"{'per CPU-min':>12} {'batches/min':>12} {'vs pack 1':>10} {'(CPU)':>7}")
    base = None
    for n in packs:
        res = best[n]
        cores = min(n * args.threads, cpus)
        per_min = res["children"] / res["wall"] * 60
        per_cpu = res["children"] / res["cpu"] * 60
        base = base or (per_min / cores, per_cpu)
        print(f"{n:>5} {cores:>6} {res['wall']:>7.1f} {res['cpu']:>7.1f} {per_min:>13.1f} {per_min / cores:>9.1f} "
              f"{per_cpu:>12.1f} {res['batches'] / res['wall'] * 60:>12.1f} {per_min / cores / base[0]:>9.2f}x "
              f"{per_cpu / base[1]:>6.2f}x")
    print("vs pack 1: children per minute per core (and per CPU-minute used), relative to one search per job")


if __name__ == "__main__":
    main()
