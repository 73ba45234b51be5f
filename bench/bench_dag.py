"""How long `snakemake -n` takes to build the study's DAG, for 200 and for 2,000 searches.

    .venv/bin/python bench/bench_dag.py [--repeat 1]

Both studies are built side by side in one run, from a copy of the workflow and a cohort sheet of 12
(empty) recordings: 10 seeds x 10 folds (kfold, k=10) x 2 or 20 settings (reward settings + the random
arm), top-3 retraining and the hand-designed baseline, dry-run as a cluster user would:
`snakemake -n --profile profiles/slurm --configfile ...`, printing every job (to a pipe), and with `--quiet`
(the DAG alone). Prints the wall and CPU seconds of each dry run,
the number of jobs and the ratios; the target is 2,000 searches in under 20 s. For scale, it also times
a bare workflow of the same shape (the same jobs and declared outputs, rules without config, conda, params or
resources), i.e. Snakemake's own cost per job on this machine.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def make_study(root: Path, n_settings: int) -> Path:
    """A workflow copy whose config has `n_settings` settings (n-1 reward settings + random) x 10 x 10."""
    wd = root / f"settings{n_settings}"
    wd.mkdir()
    for name in ("Snakefile", "workflow", "config", "envs", "profiles"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, wd / name)
    (wd / "edf").mkdir()
    rows = ["infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks"]
    for i in range(12):
        (wd / "edf" / f"inf{i:02d}.edf").touch()
        rows.append(f"inf{i:02d}\tedf/inf{i:02d}.edf\t\tannotations\t40")
    (wd / "sheet.tsv").write_text("\n".join(rows) + "\n")
    rewards = [{"name": f"sigmoid-{i}", "reward": {"name": "sigmoid", "threshold": 0.5 + 0.02 * i}}
               for i in range(n_settings - 1)]
    study = {"study": "bench", "cohort": "sheet.tsv", "synthetic": {"enabled": False}, "seeds": list(range(10)),
             "folds": {"scheme": "kfold", "k": 10, "run": "all"}, "rewards": rewards, "derive": {"top_k": 3}}
    (wd / "bench.yaml").write_text(yaml.safe_dump(study))
    return wd


BARE = """
RUNS = [(s, seed, f) for s in range({n}) for seed in range(10) for f in range(10)]
rule all:
    input:
        [f"r/{{s}}/{{seed}}/{{f}}" for s, seed, f in RUNS],
        [f"b/{{seed}}/{{f}}" for seed in range(10) for f in range(10)],
rule search:
    input: "folds.json"
    output: directory("s/{{s}}/{{seed}}/{{f}}")
    log: "logs/search/{{s}}/{{seed}}/{{f}}.log"
    benchmark: "benchmarks/search/{{s}}/{{seed}}/{{f}}.tsv"
    shell: "neonas search --fold {{wildcards.f}} --seed {{wildcards.seed}} --out {{output}} > {{log}}"
rule retrain:
    input: "s/{{s}}/{{seed}}/{{f}}", "folds.json"
    output: directory("r/{{s}}/{{seed}}/{{f}}")
    log: "logs/retrain/{{s}}/{{seed}}/{{f}}.log"
    benchmark: "benchmarks/retrain/{{s}}/{{seed}}/{{f}}.tsv"
    shell: "neonas retrain --arch {{input[0]}}/derived.json --out {{output}} > {{log}}"
rule baseline:
    input: "folds.json"
    output: directory("b/{{seed}}/{{f}}")
    log: "logs/baseline/{{seed}}/{{f}}.log"
    benchmark: "benchmarks/baseline/{{seed}}/{{f}}.tsv"
    shell: "neonas retrain --baseline handcrafted --out {{output}} > {{log}}"
"""


def make_bare(root: Path, n_settings: int) -> Path:
    """Snakemake alone: a workflow with the same jobs and files as the study, and nothing else."""
    wd = root / f"bare{n_settings}"
    wd.mkdir()
    (wd / "Snakefile").write_text(BARE.format(n=n_settings))
    (wd / "folds.json").touch()
    return wd


def dry_run(wd: Path, bare: bool = False, quiet: bool = False) -> tuple[float, float, int, int]:
    """(wall s, CPU s, jobs, searches) of one `snakemake -n`: as a user runs it, every job's description
    printed (to a pipe here), or with `--quiet` (the DAG alone: snakemake then skips formatting the jobs)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [str(SNAKEMAKE), "-n", *(["--quiet", "progress", "rules"] if quiet else [])]
    if not bare:
        cmd += ["--profile", "profiles/slurm", "--configfile", "bench.yaml"]
    proc = subprocess.run(cmd, cwd=wd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"snakemake -n failed in {wd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out = proc.stdout + proc.stderr
    if quiet:  # no job table then; the plain dry run of the same study counts the jobs
        assert "Building DAG of jobs" in out, out[-3000:]
        return wall, cpu, 0, 0
    total = int(re.search(r"^total\s+(\d+)$", out, re.M).group(1))
    searches = int(re.search(r"^search\s+(\d+)$", out, re.M).group(1))
    return wall, cpu, total, searches


def scontrol_seconds() -> float | None:
    """Seconds `scontrol show config` takes here, or None without SLURM. snakemake-executor-plugin-slurm runs it
    whenever snakemake starts (for its --help text); where scontrol cannot reach a slurmctld it waits ~9 s, and
    every `snakemake` call on that machine pays it (not so on a cluster's login node)."""
    if not shutil.which("scontrol"):
        return None
    t0 = time.perf_counter()
    subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=60)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="dry runs per size; the fastest counts (default: 1)")
    args = parser.parse_args()
    scontrol = scontrol_seconds()
    if scontrol is not None and scontrol > 1:
        print(f"note: `scontrol show config` takes {scontrol:.1f} s here (no slurmctld?); the SLURM plugin runs it "
              "at every snakemake start, so each wall time below includes it. `bash scripts/local-slurm.sh start` "
              "(or a cluster's login node) answers in milliseconds.")
    with tempfile.TemporaryDirectory(prefix="neonas-bench-dag-") as tmp:
        sizes = {n: make_study(Path(tmp), n) for n in (2, 20)}
        bare = make_bare(Path(tmp), 20)
        runs = {**{(n, quiet): (wd, False, quiet) for n, wd in sizes.items() for quiet in (False, True)},
                ("bare", False): (bare, True, False)}
        results = {}
        for _ in range(args.repeat):
            for key, (wd, is_bare, quiet) in runs.items():  # in turn, so that load changes hit all alike
                run = dry_run(wd, bare=is_bare, quiet=quiet)
                results[key] = min(results.get(key, run), run)
    print(f"{'':>6} {'searches':>9} {'jobs':>7} {'wall s':>8} {'CPU s':>8} {'ms/job':>7}")
    for (n, quiet), (wall, cpu, total, searches) in results.items():
        label = "bare" if n == "bare" else "quiet" if quiet else "-n"
        _, _, total, searches = results[(n, False)]
        print(f"{label:>6} {searches:>9} {total:>7} {wall:>8.1f} {cpu:>8.1f} {1000 * wall / total:>7.2f}")
    (w1, _, j1, _), (w2, c2, j2, _) = results[(2, False)], results[(20, False)]
    wq, wb, jb = results[(20, True)][0], results[("bare", False)][0], results[("bare", False)][2]
    print(f"ratio 2,000 / 200 searches: jobs {j2 / j1:.1f}x, wall {w2 / w1:.1f}x")
    print(f"bare Snakemake, same {jb} jobs and declared outputs: {wb:.1f} s; the study's DAG costs {w2 / wb:.2f}x that")
    print(f"2,000 searches: the DAG alone (-n --quiet) {wq:.1f} s; printing its {j2} jobs adds {w2 - wq:.1f} s")
    verdict = "within" if w2 < 20 else "OVER"
    print(f"2,000 searches: snakemake -n took {w2:.1f} s wall ({verdict} the 20 s target), {c2:.1f} s CPU")


if __name__ == "__main__":
    main()
