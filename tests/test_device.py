"""Device and precision without a GPU: every tensor that the search, controller, supernet, derive, retrain and
evaluate/predict code creates names its device (neonas.torchutil.device_audit), and the bf16 autocast path
(NEONAS_AUTOCAST=bf16, the CUDA default) runs on the CPU, while the CPU default stays float32 and exact."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neonas.cli import main
from neonas.errors import NeonasError
from neonas.torchutil import autocast, device_audit

TINY = ["--set", "training.epochs=1", "--set", "space.n_layers=2", "--set", "space.filters=4",
        "--set", "controller.train_steps=2"]


def tiny_cohort(root: Path) -> Path:
    """4 learnable random recordings of 40 epochs (9 channels x 1920 samples) as HDF5, and their folds."""
    from neonas import NEONATAL_STAGES
    from neonas.store.h5io import Recording, write_recording
    from neonas.store.splits import write_folds

    paths, t = [], np.arange(1920) / 64.0
    for i in range(4):
        rng = np.random.default_rng(i)
        y = rng.integers(0, 4, 40)
        x = rng.normal(0, 1, (40, 9, 1920)).astype(np.float32)
        x += np.sin(2 * np.pi * (1 + 2 * y)[:, None, None] * t).astype(np.float32)
        rec = Recording(f"b{i}", x, y.astype(np.int8), np.arange(40) * 30.0, np.zeros(40, np.uint8), 64.0,
                        [f"ch{c}" for c in range(9)], list(NEONATAL_STAGES), 30.0)
        write_recording(root / f"b{i}.h5", rec)
        paths.append(str(root / f"b{i}.h5"))
    write_folds(paths, root / "folds.json", "kfold", 4, 1, 0)
    return root / "folds.json"


def search_derive_retrain(folds: Path, out: Path) -> None:
    run = out / "run"
    assert main(["search", "--folds", str(folds), "--fold", "0", "--seed", "0", *TINY, "--out", str(run)]) == 0
    assert main(["derive", "--run", str(run), "--samples", "3", "--top-k", "1", "--out", str(run / "derived.json")]) == 0
    assert main(["retrain", "--arch", str(run / "derived.json"), "--rank", "0", "--folds", str(folds), "--fold", "0",
                 "--seed", "0", "--set", "epochs=1", "--out", str(out / "retrain")]) == 0  # + evaluate (predict)


def test_every_tensor_of_a_run_names_its_device(tmp_path):
    """search (controller + supernet), derive, retrain with its evaluation, and a saved model loaded and applied
    (the code of `neonas predict`) under the audit: no tensor is created without a device. The audit itself catches an unnamed one in neonas code."""
    folds = tiny_cohort(tmp_path)
    with device_audit() as audit:
        search_derive_retrain(folds, tmp_path)
        # the model loaded and applied as `neonas predict` does (load_model, evaluate.predict)
        assert main(["evaluate", "--model", str(tmp_path / "retrain/model.pt"), "--folds", str(folds), "--fold", "0",
                     "--out", str(tmp_path / "metrics_again.json")]) == 0
    assert audit.unnamed == {}
    with device_audit() as audit:  # what it catches: code in a neonas module creating a tensor without a device
        exec(compile("import torch\nx = torch.zeros(3)\ny = torch.zeros(3, device='cpu')\n",
                     str(Path("src/neonas/example.py").resolve()), "exec"), {})
    assert list(audit.unnamed) == ["example.py:2 torch.zeros"]


def test_bf16_autocast_runs_on_cpu_when_asked_and_cpu_default_stays_float32(tmp_path, monkeypatch):
    """NEONAS_AUTOCAST=bf16: the search and retrain run their forward passes under bf16 autocast on the CPU (the
    path CUDA runs by default), so the children differ from float32's; unset or `off`, the CPU runs float32, the
    same bytes either way (derive's scores on the shared weights show the difference)."""
    folds = tiny_cohort(tmp_path)
    cpu = torch.device("cpu")
    assert isinstance(autocast(cpu), contextlib.nullcontext)
    children = {}
    for mode in ("", "off", "bf16"):
        monkeypatch.setenv("NEONAS_AUTOCAST", mode)
        if mode == "bf16":
            with autocast(cpu):
                assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
        search_derive_retrain(folds, tmp_path / (mode or "default"))
        run = tmp_path / (mode or "default") / "run"
        top = json.loads((run / "derived.json").read_text())["top"]
        children[mode] = ((run / "children.csv").read_bytes(), [t["supernet_metric"] for t in top])
    assert children[""] == children["off"] != children["bf16"]
    monkeypatch.setenv("NEONAS_AUTOCAST", "fp16")
    with pytest.raises(NeonasError, match="NEONAS_AUTOCAST='fp16'"):
        autocast(cpu)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible: bench_gpu.py would measure it")
def test_gpu_bench_refuses_cleanly_without_cuda():
    """bench/bench_gpu.py on a machine without CUDA: one line on stderr, exit status 2, nothing written."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(repo / "bench/bench_gpu.py"), "--out", "unused"], capture_output=True,
                          text=True, cwd=repo)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "no CUDA GPU is visible" in proc.stderr
    assert not (repo / "unused").exists()
