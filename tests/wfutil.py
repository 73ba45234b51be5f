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
