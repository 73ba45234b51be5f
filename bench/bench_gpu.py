"""Packing on ONE CUDA GPU: 1, 4, 16, 64 searches per job, bf16 autocast on and off, side by side in one run.

    .venv/bin/python bench/bench_gpu.py [--packs 1,4,16,64] [--epochs 2] [--out gpu-pilot]

Needs a CUDA GPU: without one it says so in one line and exits with status 2. Each (pack size, autocast) starts
N `neonas search` processes at once on the GPU, as a search_pack job does (bench_pack.run_pack: own seed, run
directory and log each; NEONAS_AUTOCAST=auto, i.e. bf16 on CUDA, or off), on a demo-sized cohort (6 random
learnable recordings x 250 epochs of 9 channels x 1920 samples; bench_search.make_cohort), default search
config, --epochs search epochs, and waits for all. Prints per row: children scored and supernet batches trained
per minute for the whole GPU, training samples per second of the job (the unit of `neonas plan`), peak GPU
memory in use on the device during the run (all processes, CUDA contexts included; torch.cuda.mem_get_info),
and the throughput ratio to one search per GPU. Writes OUT/gpu_bench.json with one row per pack size and
autocast, which `neonas plan --benchmarks OUT/gpu_bench.json` turns into GPU-hours (docs/cluster.md, "GPU
pilot": how to run this as a one-job pilot on the cluster).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packs", default="1,4,16,64", help="searches per GPU job to compare (default 1,4,16,64)")
    p.add_argument("--epochs", type=int, default=2, help="search epochs of each search (default 2)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per search (default 1)")
    p.add_argument("--device", default="cuda", help="CUDA device (default cuda, i.e. cuda:0)")
    p.add_argument("--out", type=Path, default=Path("gpu-pilot"), help="folder for gpu_bench.json (default gpu-pilot)")
    p.add_argument("--check-on-cpu", action="store_true", help="no GPU: run the same code on the CPU to check the "
                   "script itself (tiny sizes; the numbers are not GPU numbers and no gpu_bench.json is written)")
    args = p.parse_args()

    import torch

    cpu_check = args.check_on_cpu and not torch.cuda.is_available()
    if cpu_check:
        args.device = "cpu"
    elif not torch.cuda.is_available():
        print("bench_gpu.py: no CUDA GPU is visible (torch.cuda.is_available() is False); run it on a GPU node, "
              "e.g. as the one-job pilot of docs/cluster.md ('GPU pilot')", file=sys.stderr)
        return 2
    from bench_pack import run_pack
    from bench_search import make_cohort

    from neonas.engine.search import SearchConfig
    from neonas.study.plan import search_work

    device = torch.device(args.device)
    name = "CPU (--check-on-cpu)" if cpu_check else torch.cuda.get_device_name(device)
    total = 0 if cpu_check else torch.cuda.get_device_properties(device).total_memory
    n_epochs = 20 if cpu_check else 250
    packs = [int(n) for n in args.packs.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="neonas-bench-gpu-") as tmp:
        (Path(tmp) / "cohort").mkdir()
        folds = make_cohort(Path(tmp) / "cohort", n_infants=6, n_epochs=n_epochs)
        from neonas.store.splits import load_fold

        split = load_fold(folds, 0)
        n_val = sum(run_labelled(p) for p in split.val)
        for n in packs:
            for bf16 in (True, False):
                free0 = 0 if cpu_check else torch.cuda.mem_get_info(device)[0]
                peak = [0]

                def poll(free0=free0, peak=peak):
                    if not cpu_check:
                        free, _ = torch.cuda.mem_get_info(device)
                        peak[0] = max(peak[0], free0 - free)

                res = run_pack(folds, Path(tmp) / f"pack{n}-{'bf16' if bf16 else 'fp32'}", n, args.epochs,
                               args.threads, args.device, "auto" if bf16 else "off", poll=poll)
                cfg = {"training": {"epochs": args.epochs}}
                work = n * search_work(cfg, {"samples": 0}, res["n_train"], n_val)
                rows.append({"pack": n, "bf16": bf16, "wall_s": round(res["wall"], 2),
                             "children_per_minute": round(res["children"] / res["wall"] * 60, 1),
                             "batches_per_minute": round(res["batches"] / res["wall"] * 60, 1),
                             "samples_per_second": round(work / res["wall"], 1),
                             "peak_gpu_gb": round(peak[0] / 1e9, 2)})
    result = {"device": name, "memory_gb": round(total / 1e9, 1), "torch": torch.__version__, "epochs": args.epochs,
              "search_config": "default (neonas.engine.search.SearchConfig)",
              "batch_size": SearchConfig().training.batch_size, "rows": rows}
    if not cpu_check:
        from neonas.io import write_text_atomic

        args.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out / "gpu_bench.json", json.dumps(result, indent=2) + "\n")
    print(f"{name} ({total / 1e9:.0f} GB), torch {torch.__version__}; {args.epochs} search epochs per search")
    print(f"{'pack':>5} {'bf16':>5} {'wall s':>7} {'children/min':>13} {'batches/min':>12} {'samples/s':>10} "
          f"{'peak GB':>8} {'vs pack 1':>10}")
    base = {r["bf16"]: r["samples_per_second"] for r in rows if r["pack"] == packs[0]}
    for r in rows:
        print(f"{r['pack']:>5} {'on' if r['bf16'] else 'off':>5} {r['wall_s']:>7.1f} {r['children_per_minute']:>13.1f} "
              f"{r['batches_per_minute']:>12.1f} {r['samples_per_second']:>10.1f} {r['peak_gpu_gb']:>8.2f} "
              f"{r['samples_per_second'] / base[r['bf16']]:>9.2f}x")
    print(f"vs pack 1: the job's training samples per second over pack {packs[0]}'s, same autocast; "
          + ("--check-on-cpu: CPU numbers, nothing written" if cpu_check else
             f"wrote {args.out / 'gpu_bench.json'} (neonas plan --benchmarks)"))
    return 0


def run_labelled(path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return int((f["labels"][:] >= 0).sum())


if __name__ == "__main__":
    sys.exit(main())
