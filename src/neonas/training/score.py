"""`neonas score`: a trained model's metrics on labelled recordings it never saw (HDF5 files of `neonas
preprocess`), e.g. the demo's unseen synthetic infant staged by the study's final model (workflow/rules/final.smk).

`neonas evaluate` scores a fold model on its fold's held-out infants; the final model has no fold (it was trained
on every infant), so its only test is a recording from outside the study. A recording the model trained or
stopped early on (same source_sha256) is refused. Writes a JSON report: kappa, accuracy, macro-F1, per-class
recall and F1, the confusion matrix, and which recordings.

Example:
  neonas score --model results/demo/final/model.pt --h5 results/demo/unseen/unseen01.h5 --out unseen.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError
from neonas.io import write_text_atomic

log = logging.getLogger(__name__)


def report_on(model, ds, device) -> dict:
    """classification_report of the model on a dataset, plus per-class recall (which stages it never finds)."""
    from neonas.metrics import classification_report
    from neonas.training.evaluate import predict

    rep = classification_report(ds.y, predict(model, ds.x, device).argmax(1), ds.label_names)
    cm = np.asarray(rep["confusion"], float)
    rows = cm.sum(axis=1)
    rep["per_class_recall"] = {n: (float(cm[i, i] / rows[i]) if rows[i] else None)
                               for i, n in enumerate(ds.label_names)}
    return rep


def score(model_path: str, h5: list[str], out: str | None = None, device: str = "cpu") -> dict:
    """The model's report on the recordings `h5`; written to `out` (JSON) when given."""
    from neonas.store.data import load_infants
    from neonas.torchutil import select_device
    from neonas.training.evaluate import check_compatible, load_model

    dev = select_device(device)
    model, ckpt = load_model(model_path, dev)
    ds = load_infants(list(h5), drop_artifacts=ckpt.get("config", {}).get("drop_artifacts", False))
    seen = set(ckpt.get("train_sha256", [])) | set(ckpt.get("val_sha256", []))
    ids = set(ckpt.get("train_ids", [])) | set(ckpt.get("val_ids", []))
    for path, sha, infant in zip(h5, ds.source_sha256, ds.infant_ids, strict=True):
        if (sha and sha in seen) or (not sha and infant in ids):  # no source hash (hand-made files): by id
            raise NeonasError(f"infant '{infant}' was preprocessed from a recording the model trained or stopped "
                              "early on; score it on recordings it never saw", path)
    check_compatible(ckpt, ds, model_path)
    if len(ds) == 0:
        raise NeonasError(f"the recordings {list(h5)} have no labelled epochs")
    rep = report_on(model, ds, dev)
    doc = {"model": str(model_path), "recordings": [str(p) for p in h5], "infant_ids": list(ds.infant_ids),
           "arch_hash": ckpt.get("arch_hash"), **rep}
    if out:
        write_text_atomic(Path(out), json.dumps(doc, indent=2) + "\n")
    recall = ", ".join(f"{k} {v:.2f}" for k, v in rep["per_class_recall"].items() if v is not None)
    print(f"{', '.join(ds.infant_ids)}: kappa {rep['kappa']:.3f}  accuracy {rep['accuracy']:.3f}  macro-F1 "
          f"{rep['macro_f1']:.3f}  recall {recall}" + (f"  -> {out}" if out else ""))
    return doc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="MODEL.pt", help="model.pt of `neonas retrain` or `neonas final`")
    p.add_argument("--h5", nargs="+", required=True, metavar="FILE.h5",
                   help="labelled recordings preprocessed as the model's training data (`neonas preprocess`)")
    p.add_argument("--device", default="cpu", help="cpu (default), auto or cuda[:N]")
    p.add_argument("--out", metavar="JSON", help="write the report here")


def run(args: argparse.Namespace) -> int:
    score(args.model, args.h5, args.out, args.device)
    return 0
