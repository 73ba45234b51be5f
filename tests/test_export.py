"""`neonas export`: the TorchScript (and ONNX) module runs in a fresh Python where neonas cannot be imported and
gives the PyTorch model's outputs on the same input; the model card says what the contract promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neonas.cli import main
from neonas.engine.space import arch_hash
from neonas.store.h5io import read_recording
from neonas.training.evaluate import load_model, predict
from predictfixture import ARCH, CHANNELS, tiny_model_once

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# run in a subprocess: neonas (and, for ONNX, torch) made unimportable before anything else is imported
RUNNER = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` now raises ImportError
try:
    import neonas
except ImportError:
    pass
else:
    raise SystemExit("neonas is importable")
import numpy as np
x = np.load(sys.argv[1])
{body}
np.save(sys.argv[2], out)
"""
TORCHSCRIPT = """
import torch
torch.set_num_threads(1)
module = torch.jit.load(sys.argv[3])
with torch.no_grad():
    out = module(torch.from_numpy(x)).numpy()
"""
ONNX = """
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[3], providers=["CPUExecutionProvider"])
out = session.run(["logits"], {"eeg": x})[0]
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_once(tmp_path_factory)


@pytest.fixture(scope="module")
def epochs(tiny_model) -> np.ndarray:
    """Real preprocessed epochs (a training infant's HDF5), plus the model's logits on them."""
    return read_recording(tiny_model.parent.parent / "tr2.h5").eeg


def run_without_neonas(module: Path, x: np.ndarray, body: str, blocked: tuple[str, ...], tmp: Path) -> np.ndarray:
    np.save(tmp / "x.npy", x)
    script = RUNNER.format(blocked=blocked, body=body)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp / "x.npy"), str(tmp / "out.npy"), str(module)],
                          capture_output=True, text=True, cwd=tmp, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(tmp / "out.npy")


def reference(tiny_model: Path, x: np.ndarray) -> np.ndarray:
    model, _ = load_model(tiny_model, torch.device("cpu"))
    return predict(model, x, torch.device("cpu"))


def test_torchscript_runs_without_neonas_and_equals_the_model(tiny_model, epochs, tmp_path):
    assert main(["export", "--model", str(tiny_model), "--format", "torchscript", "--out", str(tmp_path / "ts")]) == 0
    assert sorted(p.name for p in (tmp_path / "ts").iterdir()) == ["model.ts", "model_card.json", "model_card.md"]
    out = run_without_neonas(tmp_path / "ts" / "model.ts", epochs, TORCHSCRIPT, ("neonas",), tmp_path)
    want = reference(tiny_model, epochs)
    assert out.shape == want.shape == (len(epochs), 4)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)


def test_onnx_runs_with_onnxruntime_alone_and_equals_the_model(tiny_model, epochs, tmp_path):
    pytest.importorskip("onnx", reason="ONNX export needs the 'export' extra: pip install 'neonas[export]'")
    pytest.importorskip("onnxruntime", reason="the ONNX test needs onnxruntime: pip install 'neonas[export]'")
    assert main(["export", "--model", str(tiny_model), "--format", "onnx", "--out", str(tmp_path / "onnx")]) == 0
    out = run_without_neonas(tmp_path / "onnx" / "model.onnx", epochs, ONNX, ("neonas", "torch"), tmp_path)
    np.testing.assert_allclose(out, reference(tiny_model, epochs), rtol=0, atol=1e-5)


def test_model_card(tiny_model, tmp_path):
    assert main(["export", "--model", str(tiny_model), "--format", "torchscript", "--out", str(tmp_path)]) == 0
    card = json.loads((tmp_path / "model_card.json").read_text())
    ckpt = torch.load(tiny_model, weights_only=True)
    assert card["architecture"] == ARCH and card["arch_hash"] == arch_hash(ARCH)
    assert card["input"]["channels"] == CHANNELS and card["input"]["shape"] == ["batch", 3, 256]
    assert (card["input"]["sfreq_hz"], card["input"]["epoch_s"]) == (32.0, 8.0)
    assert "median" in card["input"]["units"] and "IQR" in card["input"]["units"]
    assert card["output"]["classes"] == ["AS", "QS", "W", "IS"]
    assert card["preprocess"] == ckpt["preprocess"] and card["preprocess"]["h_freq"] == 12.0
    assert card["training"]["train_ids"] == ckpt["train_ids"] and card["training"]["seed"] == 0
    metrics = json.loads((tiny_model.parent / "metrics.json").read_text())
    assert card["test_metrics"] == [{k: metrics[k] for k in card["test_metrics"][0]}]
    assert {"fold", "seed", "kappa", "accuracy", "macro_f1", "test_ids"} <= set(card["test_metrics"][0])
    assert card["neonas_version"] == ckpt["neonas_version"] and card["export"]["file"] == "model.ts"
    md = (tmp_path / "model_card.md").read_text()
    for text in (arch_hash(ARCH), "C3, O1, Cz", "32 Hz", "AS, QS, W, IS", "h_freq", ckpt["train_ids"][0], "| 0 | 0 |"):
        assert text in md, text


def test_export_errors_are_clear(tmp_path, capsys):
    junk = tmp_path / "model.pt"
    junk.write_bytes(b"no model")
    assert main(["export", "--model", str(junk), "--format", "torchscript", "--out", str(tmp_path / "x")]) == 2
    assert "not a readable neonas model" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
