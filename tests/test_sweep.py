"""scripts/sweep.py, the submitit launcher for ad-hoc reward sweeps, with the local executor (no SLURM)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wfutil import REPO, env, prepared_study

SWEEP = REPO / "scripts" / "sweep.py"
TINY = ["--set", "space.n_layers=2", "--set", "space.filters=8", "--set", "controller.train_steps=4",
        "--set", "training.checkpoint_every=1", "--samples", "4", "--top-k", "1"]


def sweep(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SWEEP), *args], cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=600)


def test_help_explains_the_sweep():
    proc = sweep("--help")
    assert proc.returncode == 0
    for text in ("submitit", "--reward", "NAME:KEY=VALUE", "requeued", "--partition", "--cluster"):
        assert text in proc.stdout


@pytest.mark.parametrize("spec, message", [
    ("sig:threshold", "should look like key=value"),
    ("sig:name=nosuch", "reward.name must be one of"),
    ("bad/name:name=identity", "expected NAME:key=value"),
])
def test_bad_reward_setting_fails_before_submitting(tmp_path, spec, message):
    proc = sweep("--folds", "folds.json", "--reward", spec, "--out", str(tmp_path / "out"), "--cluster", "local")
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_local_sweep_writes_run_directories_and_skips_finished_runs(tmp_path_factory, tmp_path):
    wd = prepared_study(tmp_path_factory)
    folds = str(wd / "results/test/folds.json")
    args = ["--folds", folds, "--fold", "0", "--seed", "0", "--set", "training.epochs=2", *TINY,
            "--reward", "sig:name=sigmoid,threshold=0.5", "--reward", "id:name=identity",
            "--out", str(tmp_path / "sweep"), "--cluster", "local", "--gpus", "0", "--wait"]
    proc = sweep(*args, cwd=wd)  # folds.json's paths are relative to the study's directory
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["status"] for r in results] == ["finished", "finished"]
    for name, reward in (("sig", "sigmoid"), ("id", "identity")):
        run = tmp_path / "sweep" / name / "seed0" / "fold0"
        summary = json.loads((run / "summary.json").read_text())
        assert summary["reward"]["name"] == reward and summary["epochs"] == 2
        assert json.loads((run / "derived.json").read_text())["top"][0]["rank"] == 0
    before = (tmp_path / "sweep/sig/seed0/fold0/children.csv").stat().st_mtime_ns
    again = sweep(*args, cwd=wd)
    assert again.returncode == 0
    assert [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")] == results
    assert (tmp_path / "sweep/sig/seed0/fold0/children.csv").stat().st_mtime_ns == before  # not searched again
