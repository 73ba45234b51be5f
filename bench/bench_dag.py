"""How long `snakemake -n` takes to build the study's DAG: 2,000 searches (one job each) and 20,000 searches packed
(search.pack = retrain.pack = N, default 8: N searches, or N searches' retraining, per job).

    .venv/bin/python bench/bench_dag.py [--repeat 1] [--pack 8] [--bare-unpacked]

The studies are built side by side in one run, from a copy of the workflow and a cohort sheet of 12 (empty)
recordings: 10 seeds x 10 folds (kfold, k=10) x 20 or 200 settings (reward settings + the random arm), top-3
retraining and the hand-designed baseline, dry-run as a cluster user would:
`snakemake -n --profile profiles/slurm --configfile ...`, printing every job (to a pipe), and with `--quiet`
(the DAG alone). Prints the wall and CPU seconds of each dry run, the number of jobs and the ratios; the
targets are 2,000 searches in under 20 s and 20,000 searches in under 60 s (issue 18). For scale, it also times
bare workflows of the same shape (the same jobs and declared outputs, rules without config, conda, params or
resources), i.e. Snakemake's own cost per job on this machine: one of 2,000 searches, one of 20,000 packed as
the study packs them, and with --bare-unpacked one of 20,000 searches at one job each (the floor without packing;
about two minutes more).
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


def make_study(root: Path, n_settings: int, pack: int = 1) -> Path:
    """A workflow copy whose config has `n_settings` settings (n-1 reward settings + random) x 10 x 10, `pack`
    searches (and retrain jobs) per job."""
    wd = root / f"settings{n_settings}-pack{pack}"
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
             "folds": {"scheme": "kfold", "k": 10, "run": "all"}, "rewards": rewards, "derive": {"top_k": 3},
             "search": {"pack": pack}, "retrain": {"pack": pack}}
    (wd / "bench.yaml").write_text(yaml.safe_dump(study))
    return wd


# the hand-designed arm's rule, the same in both bare workflows (appended to each)
BASELINE = """rule baseline:
    input: "folds.json"
    output: directory("b/{{seed}}/{{f}}")
    log: "logs/baseline/{{seed}}/{{f}}.log"
    benchmark: "benchmarks/baseline/{{seed}}/{{f}}.tsv"
    shell: "neonas retrain --baseline handcrafted --out {{output}} > {{log}}"
"""

BARE_ONE = """
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
"""

BARE = """
RUNS = [(s, seed, f) for s in range({n}) for seed in range(10) for f in range(10)]
GRID = [(seed, f) for seed in range(10) for f in range(10)]
PACKS = [GRID[i : i + {pack}] for i in range(0, len(GRID), {pack})]
rule all:
    input:
        [f"r/{{s}}/{{seed}}/{{f}}" for s, seed, f in RUNS],
        [f"b/{{seed}}/{{f}}" for seed in range(10) for f in range(10)],
for p, members in enumerate(PACKS):
    rule:
        name: f"search{{p}}"
        input: "folds.json"
        output: [directory(f"s/{{{{s}}}}/{{seed}}/{{f}}") for seed, f in members]
        log: [f"logs/search/{{{{s}}}}/{{seed}}/{{f}}.log" for seed, f in members]
        benchmark: f"benchmarks/search/{{{{s}}}}/{{p}}.tsv"
        shell: "neonas search --out {{output}} > {{log}}"
    rule:
        name: f"retrain{{p}}"
        input: [f"s/{{{{s}}}}/{{seed}}/{{f}}" for seed, f in members], "folds.json"
        output: [directory(f"r/{{{{s}}}}/{{seed}}/{{f}}") for seed, f in members]
        log: [f"logs/retrain/{{{{s}}}}/{{seed}}/{{f}}.log" for seed, f in members]
        benchmark: f"benchmarks/retrain/{{{{s}}}}/{{p}}.tsv"
        shell: "neonas retrain --arch {{input[0]}}/derived.json --out {{output}} > {{log}}"
"""


def make_bare(root: Path, n_settings: int, pack: int = 1) -> Path:
    """Snakemake alone: a workflow with the same jobs and files as the study, and nothing else (pack 1: a rule
    search and a rule retrain with one output each; pack N: one rule per pack position, as the study's)."""
    wd = root / f"bare{n_settings}-pack{pack}"
    wd.mkdir()
    (wd / "Snakefile").write_text(((BARE if pack > 1 else BARE_ONE) + BASELINE).format(n=n_settings, pack=pack))
    (wd / "folds.json").touch()
    return wd


def dry_run(wd: Path, bare: bool = False, quiet: bool = False) -> tuple[float, float, int, int]:
    """(wall s, CPU s, jobs, search jobs) of one `snakemake -n`: as a user runs it, every job's description
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
    search_jobs = sum(int(n) for n in re.findall(r"^search(?:_pack)?\d*\s+(\d+)$", out, re.M))
    return wall, cpu, total, search_jobs


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
    parser.add_argument("--pack", type=int, default=8, help="searches (and retrain jobs) per job in the 20,000-search "
                        "study (search.pack = retrain.pack; default 8)")
    parser.add_argument("--bare-unpacked", action="store_true", help="also time bare Snakemake with 20,000 searches "
                        "at one job each (the floor without packing; ~2 min)")
    args = parser.parse_args()
    scontrol = scontrol_seconds()
    if scontrol is not None and scontrol > 1:
        print(f"note: `scontrol show config` takes {scontrol:.1f} s here (no slurmctld?); the SLURM plugin runs it "
              "at every snakemake start, so each wall time below includes it. `bash scripts/local-slurm.sh start` "
              "(or a cluster's login node) answers in milliseconds.")
    small, big = (20, 1), (200, args.pack)  # (settings, pack): 2,000 searches one per job; 20,000 packed
    with tempfile.TemporaryDirectory(prefix="neonas-bench-dag-") as tmp:
        runs = {}
        for n, pack in (small, big):
            wd = make_study(Path(tmp), n, pack)
            runs[("study", n, pack, False)] = (wd, False, False)
            runs[("quiet", n, pack, True)] = (wd, False, True)
            runs[("bare", n, pack, False)] = (make_bare(Path(tmp), n, pack), True, False)
        if args.bare_unpacked:
            runs[("bare", 200, 1, False)] = (make_bare(Path(tmp), 200, 1), True, False)
        results = {}
        for _ in range(args.repeat):
            for key, (wd, is_bare, quiet) in runs.items():  # in turn, so that load changes hit all alike
                run = dry_run(wd, bare=is_bare, quiet=quiet)
                results[key] = min(results.get(key, run), run)
    print(f"{'':>6} {'searches':>9} {'pack':>5} {'jobs':>7} {'wall s':>8} {'CPU s':>8} {'ms/job':>7}")
    for (label, n, pack, quiet), (wall, cpu, total, _) in results.items():
        if quiet:
            total = results[("study", n, pack, False)][2]
        print(f"{'-n' if label == 'study' else label:>6} {100 * n:>9,} {pack:>5} {total:>7} {wall:>8.1f} {cpu:>8.1f} "
              f"{1000 * wall / total:>7.2f}")
    (w1, _, j1, _), (w2, c2, j2, _) = results[("study", *small, False)], results[("study", *big, False)]
    wb1, wb2 = results[("bare", *small, False)][0], results[("bare", *big, False)][0]
    print(f"ratio 20,000 (pack {args.pack}) / 2,000 (pack 1) searches: jobs {j2 / j1:.2f}x, wall {w2 / w1:.2f}x")
    print(f"the study's DAG over bare Snakemake with the same jobs and declared outputs: 2,000 searches "
          f"{w1 / wb1:.2f}x, 20,000 packed {w2 / wb2:.2f}x")
    if ("bare", 200, 1, False) in results:
        wbu, _, jbu, _ = results[("bare", 200, 1, False)]
        print(f"bare Snakemake with 20,000 searches at one job each ({jbu} jobs): {wbu:.1f} s; the packed study "
              f"takes {w2 / wbu:.2f}x that")
    print(f"20,000 searches: the DAG alone (-n --quiet) {results[('quiet', *big, True)][0]:.1f} s")
    for searches, wall, target in ((2000, w1, 20), (20000, w2, 60)):
        verdict = "within" if wall <= target else "OVER"
        print(f"{searches:,} searches: snakemake -n took {wall:.1f} s wall ({verdict} the {target} s target)"
              + (f", {c2:.1f} s CPU" if searches == 20000 else ""))


if __name__ == "__main__":
    main()
