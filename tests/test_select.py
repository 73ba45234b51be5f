"""`neonas select`: the final model's selection trainings on one fold's validation infants; it refuses too few seeds,
and a restarted (killed or preempted) job keeps the trainings it finished."""

from __future__ import annotations

import pytest

from finalstudy import build_study, metrics_files
from neonas.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")
study = pytest.fixture(scope="module")(build_study)


def test_select_refuses_fewer_than_three_seeds(study, tmp_path, capsys):
    assert main(["select", "--metrics", *metrics_files(study), "--folds", str(study / "folds.json"), "--fold", "0",
                 "--seeds", "2", "--out", str(tmp_path / "sel")]) == 2
    assert ">= 3 seeds" in capsys.readouterr().err and not (tmp_path / "sel").exists()


def test_a_restarted_select_job_keeps_the_trainings_it_finished(study, tmp_path):
    """A preempted SLURM select job, run again, trains only what it had not finished, and scores the same; a changed
    recipe trains everything again (nothing stale is reused)."""
    out = tmp_path / "sel"

    def select(*extra: str) -> int:
        return main(["select", "--metrics", *metrics_files(study), "--folds", str(study / "folds.json"), "--fold", "0",
                     "--set", "epochs=2", "--set", "patience=2", *extra, "--device", "cpu", "--out", str(out)])

    assert select() == 0
    scores = (out / "scores.csv").read_text()
    runs = sorted(p.parent for p in out.glob("*/seed*/metrics.json"))
    assert len(runs) >= 3  # at least the hand-designed net's 3 seeds (the searched net reuses the study's runs)
    stamps = {r: (r / "model.pt").stat().st_mtime_ns for r in runs}
    (runs[-1] / "metrics.json").unlink()  # killed after model.pt, before metrics.json
    (out / "scores.csv").unlink()
    assert select() == 0
    assert (out / "scores.csv").read_text() == scores
    assert [r for r in runs if (r / "model.pt").stat().st_mtime_ns != stamps[r]] == [runs[-1]]
    assert select("--set", "lr=0.002") == 0  # another recipe: every training again
    assert all((r / "model.pt").stat().st_mtime_ns != stamps[r] for r in runs[:-1])
