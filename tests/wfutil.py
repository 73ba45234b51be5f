"""Helpers for the workflow tests: a copy of the workflow in a temporary folder, snakemake runs, and one
tiny preprocessed study (synthetic infants -> HDF5 -> folds) shared by the tests of a session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: snakemake, neonas
WORKFLOW_FILES = ["Snakefile", "workflow", "config", "envs", "profiles", "scripts"]


def env() -> dict:
    """Environment for snakemake and the jobs it starts: the venv first on PATH, one torch thread."""
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e["OMP_NUM_THREADS"] = "1"
    e.pop("SNAKEMAKE_PROFILE", None)
    return e


def copy_workflow(dest: Path) -> Path:
    """Copy what a user's checkout holds (Snakefile, rules, configs, envs, profiles) to `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def snakemake(wd: Path, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake in `wd`; SIGKILL on timeout (snakemake ignores SIGTERM while it waits on jobs)."""
    cmd = ["timeout", "-s", "KILL", str(int(timeout)), str(BIN / "snakemake"), *args]
    proc = subprocess.run(cmd, cwd=wd, env=env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


_PREPARED: dict[str, Path] = {}


def prepared_study(tmp_factory) -> Path:
    """A workflow copy where config/test.yaml's study has run up to folds.json (synth, preprocess, folds).

    Built once per session; callers copy it (copy_prepared) so that their runs do not interfere.
    """
    if "test" not in _PREPARED:
        wd = copy_workflow(tmp_factory.mktemp("prepared"))
        snakemake(wd, "results/test/folds.json", "--cores", "2", "--configfile", "config/test.yaml")
        _PREPARED["test"] = wd
    return _PREPARED["test"]


def copy_prepared(tmp_factory_or_path, name: str = "study") -> Path:
    """A fresh copy of the prepared study (files keep their times, so snakemake sees them as up to date)."""
    src = _PREPARED["test"]
    dest = tmp_factory_or_path / name if isinstance(tmp_factory_or_path, Path) else tmp_factory_or_path.mktemp(name)
    shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True)
    return dest


def slurm_or_skip() -> None:
    """Skip when there is no SLURM here (developer machines); fail in CI, where there must be one."""
    import pytest

    why = None
    if shutil.which("sbatch") is None:
        why = "sbatch is not on PATH (start a local SLURM with `bash scripts/local-slurm.sh start`, as root)"
    elif subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        why = "sinfo fails: SLURM is installed but not running (`bash scripts/local-slurm.sh start`)"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(why + "; CI=true requires SLURM")
        pytest.skip(why)


def ci_slurm_profile(wd: Path, default_resources: dict | None = None) -> Path:
    """profiles/slurm as shipped, scaled to the CI node (2 CPUs, 2 fake GPUs, ~21 GB) with quick status checks.

    Only sizes and timings change; executor, status command, arrays, groups and retries stay as users get them.
    `default_resources` adds to every job's (slurm_account, slurm_partition).
    """
    import yaml

    cfg = yaml.safe_load((wd / "profiles/slurm/config.yaml").read_text())
    cfg.update({"jobs": 4, "latency-wait": 5, "seconds-between-status-checks": 2, "max-status-checks-per-second": 10,
                "slurm-init-seconds-before-status-checks": 1, "slurm-keep-successful-logs": True})
    cfg["default-resources"] = {"runtime": 10, "mem_mb": 1000, "disk_mb": 1000, **(default_resources or {})}
    for res in cfg["set-resources"].values():
        res.update(runtime=10, mem_mb=1000)
        res.pop("cpus_per_gpu", None)
    cfg["set-threads"] = {rule: 1 for rule in cfg["set-threads"]}
    dest = wd / "profiles" / "slurm-ci"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


# The search that the recovery tests interrupt (tests/test_workflow_recovery.py, tests/test_slurm.py): 6 epochs
# with a checkpoint after each, so there is time to kill it between two checkpoints.
RUN = "results/test/search/nas/sigmoid/seed0/fold0"  # the search job's output directory
PARTIAL = f"{RUN}.partial"  # where the search runs until it ends
LONGER = "search:\n  training: {epochs: 6, checkpoint_every: 1, batch_size: 32}\n"
SEARCH_LOG = "results/test/logs/search/nas/sigmoid/seed0/fold0.log"


def start_search_and_wait_for_checkpoint(wd: Path, *args: str, kill_after: int = 600) -> subprocess.Popen:
    """Start `snakemake RUN *args` in `wd` (its own session, SIGKILLed after `kill_after` s) and return once the
    search has written its first checkpoint in PARTIAL."""
    import time

    proc = subprocess.Popen(["timeout", "-s", "KILL", str(kill_after), str(BIN / "snakemake"), RUN, *args], cwd=wd,
                            env=env(), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    checkpoint = wd / PARTIAL / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists():
        assert proc.poll() is None, f"snakemake ended before the first checkpoint:\n{proc.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    return proc


def assert_same_run(run: Path, reference: Path) -> None:
    """`run` ended exactly like `reference`: the same children, epochs (but wall times), weights and controller."""
    import csv

    import torch

    assert (run / "children.csv").read_bytes() == (reference / "children.csv").read_bytes()

    def epochs(path):  # 'seconds', 'scoring_seconds': wall times, the only columns that may differ
        return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in csv.DictReader(open(path))]

    assert epochs(run / "epochs.csv") == epochs(reference / "epochs.csv")
    a = torch.load(run / "final.pt", weights_only=False)
    b = torch.load(reference / "final.pt", weights_only=False)
    for key in ("supernet", "controller"):
        assert a[key].keys() == b[key].keys()
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert not Path(f"{run}.partial").exists()
