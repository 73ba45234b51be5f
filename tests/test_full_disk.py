"""A full file system or quota (issue 24): `neonas preprocess` once ended in a segmentation fault and nine
h5py tracebacks, `neonas search` in an OSError traceback. Every writer now fails with one line naming the
file and the bytes it needed, leaves no partial file, and a rerun after freeing space succeeds (a search
resumes from its last checkpoint).

Two ways to fill the disk: a real small tmpfs (needs root and mount; skipped with the reason otherwise),
and an injected OSError (ENOSPC/EDQUOT) in the one plain write every writer goes through."""

from __future__ import annotations

import csv
import errno
import os
import pathlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edfmaker import neonatal_edf
from learnable import make_cohort
from neonas.cli import main
from neonas.errors import NeonasError
from neonas.io import atomic_dir, atomic_path, write_text_atomic
from neonas.store.splits import write_folds

SRC = Path(__file__).resolve().parents[1] / "src"
# a search of 3 epochs on a tiny space: its checkpoint is about 90 kB
SEARCH = {"space": {"n_layers": 2, "filters": 4, "spans": [1, 2], "dilations": [1], "time_kernels": [3],
                    "stem_stride": 2, "stem_pool": 2},
          "controller": {"lstm_size": 16, "train_steps": 2, "num_aggregate": 2},
          "training": {"epochs": 3, "batch_size": 32, "val_batch_size": 16}}


@pytest.fixture(scope="module")
def tmpfs(tmp_path_factory):
    """A 4 MB tmpfs of its own, unmounted afterwards."""
    where = tmp_path_factory.mktemp("tmpfs")
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs: mount is missing or this is not root (the injected-error "
                    "tests below still run)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()}); the injected-error tests run")
    yield where
    subprocess.run(["umount", str(where)], check=False)


def fill(disk: Path, leave_kb: int) -> Path:
    """Fill `disk` up to `leave_kb` kB with a ballast file; delete it to free the space."""
    ballast = disk / "ballast"
    free = shutil.disk_usage(disk).free
    ballast.write_bytes(b"\0" * max(free - leave_kb * 1024, 0))
    return ballast


def neonas(*args: str) -> subprocess.CompletedProcess:
    """The CLI in its own interpreter: a segmentation fault or a traceback at exit shows here."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "neonas.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def one_error_line(done: subprocess.CompletedProcess, command: str, path: Path) -> str:
    errors = [line for line in done.stderr.splitlines() if " INFO " not in line and " WARNING " not in line]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert len(errors) == 1 and errors[0].startswith(f"neonas {command}: error: {path}: "), done.stderr
    assert "no space left on the device" in errors[0] and "needed" in errors[0], errors[0]
    return errors[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or ".tmp" in p.name)


@pytest.fixture(scope="module")
def edf(tmp_path_factory) -> Path:
    return neonatal_edf(tmp_path_factory.mktemp("edf") / "rec.edf", seconds=600, stages=[(0, 600, "QS")])


@pytest.fixture(scope="module")
def folds(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    write_folds(make_cohort(root, 4, n_epochs=24), root / "folds.json", "loo", 4, 1, 0)
    (root / "search.yaml").write_text(yaml.safe_dump(SEARCH))
    return root


def search_args(folds: Path, out: Path, *extra: str) -> list[str]:
    return ["search", "--folds", str(folds / "folds.json"), "--fold", "0", "--config", str(folds / "search.yaml"),
            "--seed", "0", "--out", str(out), "--device", "cpu", *extra]


# --- a real full disk ---------------------------------------------------------------------------------

def test_preprocess_onto_a_full_tmpfs(tmpfs, edf):
    out = tmpfs / "h5" / "rec.h5"
    ballast = fill(tmpfs, 16)
    done = neonas("preprocess", str(edf), "--out", str(out))
    line = one_error_line(done, "preprocess", out)
    assert "kB needed" in line or "MB needed" in line
    assert not out.exists() and leftovers(tmpfs) == []
    ballast.unlink()  # space freed: the same command succeeds
    done = neonas("preprocess", str(edf), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.exists() and leftovers(tmpfs) == []
    out.unlink()


def test_search_onto_a_full_tmpfs_resumes_after_space_is_freed(tmpfs, folds, tmp_path):
    whole = tmp_path / "whole"  # the same search with space to spare
    assert neonas(*search_args(folds, whole)).returncode == 0
    run = tmpfs / "run"
    ballast = fill(tmpfs, 150)  # room for one checkpoint (~90 kB), not for its replacement beside it
    done = neonas(*search_args(folds, run, "--set", "training.checkpoint_every=1"))
    one_error_line(done, "search", run / "checkpoint.pt")
    assert (run / "checkpoint.pt").exists() and not (run / "final.pt").exists() and not (run / "summary.json").exists()
    assert leftovers(tmpfs) == []
    ballast.unlink()
    done = neonas(*search_args(folds, run, "--resume", "--set", "training.checkpoint_every=1"))
    assert done.returncode == 0, done.stderr
    assert "resuming from" in done.stderr
    for name in ("children.csv", "epochs.csv"):  # resumed bit-exact, wall times (the *seconds columns) aside
        assert _without_wall_times(run / name) == _without_wall_times(whole / name), name
    shutil.rmtree(run)


def _without_wall_times(path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in csv.DictReader(fh)]


def test_a_figure_onto_a_full_tmpfs(tmpfs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(range(100000))
    ballast = fill(tmpfs, 4)
    target = tmpfs / "fig" / "curve.png"
    try:
        with pytest.raises(NeonasError, match="no space left on the device") as err, atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=300)
    finally:
        plt.close(fig)
    assert str(target) in str(err.value) and not target.exists() and leftovers(tmpfs) == []
    ballast.unlink()


def test_a_search_log_appended_onto_a_full_tmpfs_names_its_file(tmpfs):
    """children.csv is appended to row by row; a failed flush names no file by itself."""
    import contextlib

    from neonas.engine.runfiles import CsvLog

    path = tmpfs / "log" / "children.csv"
    log = CsvLog(path, ["a", "b"], None)
    ballast = fill(tmpfs, 0)
    with pytest.raises(NeonasError, match="no space left on the device") as err:
        for i in range(100000):
            log.write({"a": i, "b": "x" * 50})
    assert str(err.value).startswith(f"{path}: cannot write it") and "redone on a resume" in str(err.value)
    with contextlib.suppress(OSError):
        log.file.close()
    ballast.unlink()
    shutil.rmtree(path.parent)


# --- an injected full disk or quota -------------------------------------------------------------------

@pytest.fixture
def quota(monkeypatch):
    """Every file written under a folder fails half-way with EDQUOT, as a quota does: `quota(folder)`."""
    real = pathlib.Path.write_bytes

    def arm(folder: Path):
        def write_bytes(self, data):
            if str(self).startswith(str(folder)):
                with open(self, "wb") as f:  # a partial file, as a real quota leaves it
                    f.write(bytes(data[: len(data) // 2]))
                raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(self))
            return real(self, data)

        monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)

    return arm


def test_preprocess_over_quota(quota, edf, tmp_path, capsys):
    out = tmp_path / "h5" / "rec.h5"
    quota(tmp_path / "h5")
    assert main(["preprocess", str(edf), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"neonas preprocess: error: {out}: cannot write it: disk quota "
                                                   "exceeded (")
    assert "needed" in err and not out.exists() and os.listdir(out.parent) == []


def test_search_over_quota_then_resumes(quota, folds, tmp_path, capsys, caplog, monkeypatch):
    import logging

    caplog.set_level(logging.INFO, "neonas")
    run = tmp_path / "run"
    assert main(search_args(folds, run, "--stop-after-epochs", "1")) != 0  # a checkpoint at epoch 1
    quota(run)
    capsys.readouterr()
    assert main(search_args(folds, run, "--resume")) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "neonas search: error" in line]
    assert len(lines) == 1 and "disk quota exceeded" in lines[0] and "Traceback" not in err
    assert not (run / "final.pt").exists() and leftovers(run) == []
    monkeypatch.undo()  # quota raised
    caplog.clear()
    assert main(search_args(folds, run, "--resume")) == 0
    assert "resuming from" in caplog.text and (run / "summary.json").exists()


def test_text_and_folder_writers_over_quota(quota, tmp_path):
    quota(tmp_path / "q")
    with pytest.raises(NeonasError, match=r"disk quota exceeded \(12 bytes needed") as err:
        write_text_atomic(tmp_path / "q" / "metrics.csv", "a,b\n1.0,2.0\n")
    assert str(tmp_path / "q" / "metrics.csv") in str(err.value) and os.listdir(tmp_path / "q") == []
    with pytest.raises(NeonasError, match="disk quota exceeded") as err, atomic_dir(tmp_path / "q" / "report") as d:
        (d / "fig1.svg").write_bytes(b"<svg/>")
    assert str(tmp_path / "q" / "report" / "fig1.svg") in str(err.value)
    assert os.listdir(tmp_path / "q") == []
