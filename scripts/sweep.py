"""Ad-hoc reward sweeps outside Snakemake: one `neonas search` (+ `neonas derive`) per reward setting x seed
x fold, submitted with submitit — to SLURM (one GPU per job) when sbatch is on PATH, else run locally.

    python scripts/sweep.py --folds results/demo/folds.json --fold 0 --seed 0 1 \\
        --search-config results/demo/config/search/nas/identity.yaml \\
        --reward sig07:name=sigmoid,threshold=0.7 --reward sig09:name=sigmoid,threshold=0.9 \\
        --out results/sweeps/thresholds --partition gpu --wait

Run it from the directory the paths in the folds file are relative to (the repository root, for folds made
by the workflow); jobs start in that directory too. Each job writes OUT/<setting>/seed<S>/fold<F>/ (children.csv, epochs.csv, summary.json, final.pt,
derived.json; the same files as the workflow's search runs) and its logs to OUT/submitit/. A job that SLURM
preempts or that reaches its time limit is requeued by submitit and resumes from the search's checkpoint.pt,
so the result is the same as an uninterrupted run. Rerunning the same command skips finished runs and
resumes unfinished ones.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cloudpickle
import submitit

from neonas.config import from_dict, load_yaml, set_dotted
from neonas.errors import NeonasError
from neonas.io import write_text_atomic


class SearchJob(submitit.helpers.Checkpointable):
    """One search + derive. On preemption or timeout submitit calls checkpoint(), which resubmits this same
    call; `resume=True` then continues from RUN_DIR/checkpoint.pt (written every training.checkpoint_every
    epochs and on SIGTERM)."""

    def __call__(self, settings: dict, folds: str, fold: int, seed: int, out: str, device: str,
                 samples: int, top_k: int) -> dict:
        import logging
        import os

        from neonas.engine.derive import derive
        from neonas.engine.search import EXIT_RESUMABLE, SearchConfig, run_search

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        cfg = from_dict(SearchConfig, settings, "search config")
        out = Path(out)
        if not (out / "summary.json").exists():
            code = run_search(cfg, folds, fold, seed, out, resume=True, device=device)
            if code == EXIT_RESUMABLE:  # training.max_minutes: stopped on purpose, resumable by a rerun
                return {"run": str(out), "status": "stopped (rerun the sweep to resume)"}
        if not (out / "derived.json").exists():
            doc = derive(out, samples=samples, top_k=top_k, seed=seed, folds=folds, device=device)
            write_text_atomic(out / "derived.json", json.dumps(doc, indent=2) + "\n")
        summary = json.loads((out / "summary.json").read_text())
        top = json.loads((out / "derived.json").read_text())["top"][0]
        return {"run": str(out), "status": "finished", "epochs": summary["epochs"], "device": summary["device"],
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "best_hash": top["hash"],
                "best_supernet_metric": top["supernet_metric"]}


if __name__ != "__main__":  # imported (e.g. by a test): ship SearchJob by value, jobs cannot import scripts/
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def parse_reward(spec: str) -> tuple[str, list[str]]:
    """'NAME:key=value,key=value' -> (NAME, ['reward.key=value', ...])."""
    name, _, body = spec.partition(":")
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").replace("+", "").isalnum():
        raise NeonasError(f"--reward '{spec}': expected NAME:key=value,... with a NAME of letters, digits, '.-_+'")
    items = [item.strip() for item in body.split(",") if item.strip()]
    bad = [item for item in items if "=" not in item]
    if bad:
        raise NeonasError(f"--reward '{spec}': {bad} should look like key=value (e.g. threshold=0.8)")
    return name, [f"reward.{item}" for item in items]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python scripts/sweep.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folds", required=True, metavar="FOLDS.json", help="folds file (e.g. results/demo/folds.json)")
    p.add_argument("--fold", type=int, nargs="+", default=[0], metavar="F", help="folds to search (default: 0)")
    p.add_argument("--seed", type=int, nargs="+", default=[0], metavar="S", help="seeds (default: 0)")
    p.add_argument("--search-config", metavar="SEARCH.yaml",
                   help="base search config (default: neonas's built-in defaults); each --reward overrides keys of "
                   "its reward section")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the base search config for every run, e.g. training.epochs=50")
    p.add_argument("--reward", action="append", required=True, metavar="NAME:KEY=VALUE,...",
                   help="one reward setting, e.g. sig08:name=sigmoid,threshold=0.8,steepness=20 or "
                   "identity:name=identity (repeat for a sweep)")
    p.add_argument("--out", required=True, metavar="DIR", help="sweep folder: DIR/<setting>/seed<S>/fold<F>/")
    p.add_argument("--samples", type=int, default=100, help="derive: architectures sampled (default: 100)")
    p.add_argument("--top-k", type=int, default=3, help="derive: best architectures kept (default: 3)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--cluster", choices=["auto", "slurm", "local", "debug"], default="auto",
                   help="auto: SLURM when sbatch is on PATH, else local processes; debug runs in this process")
    g = p.add_argument_group("SLURM (ignored by the local executor)")
    g.add_argument("--partition", help="SLURM partition (default: the cluster's default)")
    g.add_argument("--account", help="SLURM account (default: yours)")
    g.add_argument("--gpus", type=int, default=1, help="GPUs per job (default: 1; 0 for CPU-only jobs)")
    g.add_argument("--cpus", type=int, default=4, help="CPUs per job (default: 4)")
    g.add_argument("--mem-gb", type=float, default=16, help="memory per job in GB (default: 16)")
    g.add_argument("--timeout-min", type=int, default=720,
                   help="time limit per job in minutes; at the limit the job is requeued and resumes (default: 720)")
    g.add_argument("--parallel", type=int, default=50, help="jobs of the sweep running at once (default: 50)")
    p.add_argument("--wait", action="store_true", help="wait for every job and print its result")
    return p


def plan(args) -> list[dict]:
    """The runs of the sweep, each with its resolved (and checked) search config."""
    from neonas.engine.search import SearchConfig

    base = load_yaml(args.search_config) if args.search_config else {}
    for item in args.set:
        set_dotted(base, item)
    runs, names = [], set()
    for spec in args.reward:
        name, overrides = parse_reward(spec)
        if name in names:
            raise NeonasError(f"--reward: the name '{name}' is used twice")
        names.add(name)
        settings = json.loads(json.dumps(base))  # deep copy
        for item in overrides:
            set_dotted(settings, item)
        from_dict(SearchConfig, settings, f"--reward {name}")  # fail before submitting anything
        for seed in args.seed:
            for fold in args.fold:
                out = Path(args.out) / name / f"seed{seed}" / f"fold{fold}"
                runs.append({"settings": settings, "folds": str(Path(args.folds).resolve()), "fold": fold,
                             "seed": seed, "out": str(out.resolve()), "device": args.device,
                             "samples": args.samples, "top_k": args.top_k})
    return runs


def make_executor(args) -> submitit.AutoExecutor:
    cluster = None if args.cluster == "auto" else args.cluster
    if cluster is None and shutil.which("sbatch") is None:
        cluster = "local"
    executor = submitit.AutoExecutor(folder=Path(args.out) / "submitit" / "%j", cluster=cluster)
    params = {"timeout_min": args.timeout_min, "name": "neonas-sweep", "cpus_per_task": args.cpus}
    if executor.cluster == "slurm":
        params.update(mem_gb=args.mem_gb, slurm_array_parallelism=args.parallel)
        if args.gpus:
            params["gpus_per_node"] = args.gpus
        if args.partition:
            params["slurm_partition"] = args.partition
        if args.account:
            params["slurm_account"] = args.account
    elif executor.cluster == "local" and args.gpus:
        params["gpus_per_node"] = args.gpus
    executor.update_parameters(**params)
    return executor


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        runs = plan(args)
    except NeonasError as err:
        print(f"sweep: error: {err}", file=sys.stderr)
        return 2
    executor = make_executor(args)
    with executor.batch():  # one SLURM job array for the whole sweep
        jobs = [executor.submit(SearchJob(), **run) for run in runs]
    print(f"submitted {len(jobs)} runs ({executor.cluster}); logs in {Path(args.out) / 'submitit'}")
    for job, run in zip(jobs, runs, strict=True):
        print(f"  job {job.job_id}: {run['out']}")
    if not args.wait:
        return 0
    failed = 0
    for job in jobs:
        try:
            result = job.result()
            print(json.dumps(result))
        except Exception as err:  # noqa: BLE001 - report every failed run, then exit non-zero
            failed += 1
            last = [line for line in str(err).splitlines() if line.strip()][-1:] or [repr(err)]
            print(f"job {job.job_id} failed: {last[0].strip()} (log: {job.paths.stderr})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
