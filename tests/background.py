"""Long checks that run in the background of the test session.

A test marked `@pytest.mark.background("NAME")` needs the result of the job NAME in JOBS. When pytest has
collected the session, conftest.py starts every job a selected test needs (one process each, `nice`d, one
torch thread), and moves the tests that wait for them to the end of the session: the job runs on the core
that the mostly single-threaded suite leaves idle, and its test only waits for what is left. A job that fails
or times out fails its test with the tail of its log; jobs still running when the session ends are killed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from wfutil import BIN, copy_workflow, env

# The positive control of the fidelity check (issue 16): the study default space ("pairs") on the synthetic
# calibration cohort, at the budget config/calibration.yaml gives the check, where it was measured to pass
# (docs/search.md, "Fidelity of each named space"). The job runs the study's own rules: synth, preprocess,
# folds and rule fidelity for fold 0, as `snakemake --configfile config/calibration.yaml` would.
JOBS = {
    "fidelity_calibration": [
        str(BIN / "snakemake"), "results/calibration/fidelity/fold0", "--cores", "1", "--profile", "profiles/local",
        "--configfile", "config/calibration.yaml",
    ],
}

_RUNNING: dict[str, tuple[subprocess.Popen, Path, Path, float]] = {}


def start(name: str, root: Path) -> None:
    """Start job NAME in a fresh copy of the workflow under `root` (once per session)."""
    if name in _RUNNING:
        return
    wd = copy_workflow(root / name)
    log = root / f"{name}.log"
    e = env()
    e["MKL_NUM_THREADS"] = "1"
    cmd = ["nice", "-n", "10", *JOBS[name]] if shutil.which("nice") else JOBS[name]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=wd, env=e, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _RUNNING[name] = (proc, wd, log, time.monotonic())


def wait(name: str, timeout: float) -> Path:
    """The job's workflow directory once it has finished; AssertionError with its log if it failed. A job that
    was not started when the session was collected (pytest-xdist workers) starts now."""
    if name not in _RUNNING:
        start(name, Path(tempfile.mkdtemp(prefix=f"neonas-{name}-")))
    proc, wd, log, started = _RUNNING[name]
    try:
        rc = proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        stop(name)
        rc = None
    if rc != 0:
        tail = log.read_text()[-6000:] if log.exists() else "(no log)"
        raise AssertionError(f"background job {name} {'timed out' if rc is None else f'failed ({rc})'}:\n{tail}")
    return wd


def stop(name: str) -> None:
    proc = _RUNNING[name][0]
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
        proc.wait()


def stop_all() -> None:
    for name in list(_RUNNING):
        stop(name)
