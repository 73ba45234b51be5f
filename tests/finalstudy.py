"""The study that tests of `neonas final` and `neonas select` share: 5 synthetic infants, a searched net retrained on
folds 0 and 1 and the hand-designed one on fold 0 (build_study, a module's fixture)."""

from __future__ import annotations

import json
from pathlib import Path

from learnable import make_cohort
from neonas.cli import main
from neonas.engine.space import SpaceConfig, thesis_best_arch

SPACE = SpaceConfig(n_layers=2, filters=4, stem_stride=2, stem_pool=2)
ARCH = thesis_best_arch(SPACE)
FAST = ["--set", "epochs=3", "--set", "patience=3"]


def retrain_run(cohort: Path, out: Path, fold: int, what: list[str], seed: int = 0) -> Path:
    assert main(["retrain", *what, "--folds", str(cohort / "folds.json"), "--fold", str(fold), "--seed", str(seed),
                 *FAST, "--meta", f"arm={'handcrafted' if '--baseline' in what else 'nas'}", "--meta", f"fold={fold}",
                 "--meta", f"reward={'reference' if '--baseline' in what else 'plain'}", "--out", str(out)]) == 0
    return out


def build_study(tmp_path_factory) -> Path:
    """5 infants; the searched net retrained on folds 0 and 1, the hand-designed one on fold 0. A test module makes
    it its fixture: `study = pytest.fixture(scope="module")(build_study)`."""
    root = tmp_path_factory.mktemp("final")
    paths = make_cohort(root / "h5", n_infants=5, n_epochs=32)
    assert main(["folds", *paths, "--out", str(root / "folds.json")]) == 0
    (root / "arch.json").write_text(json.dumps({"arch": ARCH, "space": vars(SPACE)}))
    for fold in (0, 1):
        retrain_run(root, root / f"retrain/nas/fold{fold}", fold, ["--arch", str(root / "arch.json")])
    retrain_run(root, root / "retrain/handcrafted/fold0", 0, ["--baseline", "handcrafted"])
    return root


def metrics_files(study: Path) -> list[str]:
    return sorted(str(p) for p in study.glob("retrain/*/fold*/metrics.json"))
