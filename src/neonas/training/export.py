"""Export a trained model as a self-contained module (TorchScript or ONNX) with its model card.

The exported module runs without neonas: `torch.jit.load("model.ts")` (only torch needed) or
`onnxruntime.InferenceSession("model.onnx")` (only onnxruntime). Input: float32 (batch, channels,
samples), the preprocessed and normalised signal in the channel order, rate and epoch length of the
model card; output: logits (batch, classes), softmax gives probabilities. docs/predict.md has the
exact input contract; `neonas predict` makes such input from an EDF.

Writes DIR/model.ts (or DIR/model.onnx), DIR/model_card.json and DIR/model_card.md.

Example:  neonas export --model results/demo/final/model.pt --format torchscript --out results/demo/final/export
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path

from neonas.errors import NeonasError

log = logging.getLogger(__name__)

FILES = {"torchscript": "model.ts", "onnx": "model.onnx"}
ONNX_OPSET = 17


def example_input(ckpt: dict, batch: int = 2):
    """A fixed, seeded input of the model's shape (used to trace the module)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, len(ckpt["ch_names"]), int(ckpt["n_samples"]), generator=gen)


def torchscript_bytes(model, ckpt: dict) -> bytes:
    """The traced module as bytes (saved to a buffer: no temp file name inside the zip, same bytes each run)."""
    import torch

    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():  # torch 2.13 marks TorchScript deprecated; it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model.eval(), example_input(ckpt), check_trace=True)
        torch.jit.save(traced, buf)
    return buf.getvalue()


def onnx_bytes(model, ckpt: dict) -> bytes:
    """The model as ONNX (opset 17, batch axis dynamic), from torch's TorchScript-based exporter (needs `onnx`)."""
    import torch

    try:
        import onnx  # noqa: F401  (the exporter needs it; fail here with the install hint)
    except ImportError:
        raise NeonasError("ONNX export needs the 'onnx' package: pip install 'neonas[export]' "
                          "(or use --format torchscript)") from None
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter's deprecation and constant-folding notes
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example_input(ckpt),), buf, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=["eeg"], output_names=["logits"],
                          dynamic_axes={"eeg": {0: "batch"}, "logits": {0: "batch"}})
    return buf.getvalue()


def export(model_path: str, fmt: str, out: str) -> Path:
    """Write the exported module and the model card into `out`; return the module's path."""
    from neonas.io import atomic_path, write_text_atomic
    from neonas.torchutil import select_device
    from neonas.training.evaluate import load_model
    from neonas.training.modelcard import card, card_markdown

    if fmt not in FILES:
        raise NeonasError(f"unknown format '{fmt}'; expected one of {', '.join(FILES)}")
    model, ckpt = load_model(model_path, select_device("cpu"))
    data = torchscript_bytes(model, ckpt) if fmt == "torchscript" else onnx_bytes(model, ckpt)
    info = card(ckpt, model_path)
    info["export"] = {"format": fmt, "file": FILES[fmt]}
    if fmt == "onnx":
        info["export"].update(input_name="eeg", output_name="logits", opset=ONNX_OPSET)
    text = json.dumps(info, indent=2, default=str) + "\n"
    markdown = card_markdown(info, FILES[fmt])
    # everything is computed before the first write; each file is written atomically (DIR may hold other files,
    # e.g. the study's final/ directory with model.pt, so DIR itself is not replaced)
    out = Path(out)
    target = out / FILES[fmt]
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    write_text_atomic(out / "model_card.json", text)
    write_text_atomic(out / "model_card.md", markdown)
    log.info("exported %s (%s, %d bytes) with model_card.json and model_card.md", target, fmt, len(data))
    return target


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="MODEL.pt", help="model.pt from `neonas retrain` (or a "
                        "study's final/model.pt)")
    parser.add_argument("--format", required=True, choices=sorted(FILES), help="torchscript (model.ts, needs only "
                        "torch) or onnx (model.onnx, needs only onnxruntime; exporting needs `pip install "
                        "'neonas[export]'`)")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the module, model_card.json "
                        "and model_card.md")


def run(args) -> int:
    target = export(args.model, args.format, args.out)
    print(f"wrote {target}, {Path(args.out) / 'model_card.json'}, {Path(args.out) / 'model_card.md'}")
    return 0
