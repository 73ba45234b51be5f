"""Evaluate a retrained model (`neonas retrain`'s model.pt) on the held-out infants of a fold.

Writes accuracy, balanced accuracy, Cohen's kappa, macro-F1, per-class F1 and the confusion matrix,
plus what the aggregator needs to group runs (fold, seed, architecture, `--meta` fields).

The model must never have seen the infants it is scored on: evaluation refuses a model whose
training infants (or, for the test split, its early-stopping validation infants) are in the split.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from neonas.errors import NeonasError
from neonas.io import write_text_atomic
from neonas.metrics import classification_report
from neonas.store.data import EEGDataset, load_infants
from neonas.store.splits import Fold, check_files, load_fold
from neonas.torchutil import autocast, select_device
from neonas.training import baseline

log = logging.getLogger(__name__)

SPLITS = ("test", "val", "train")


def make_model(arch: dict, space: dict, n_channels: int, n_samples: int, n_classes: int, sfreq: float) -> nn.Module:
    """Build a fresh model: the hand-designed baseline, or a searched architecture in its search space."""
    if arch.get("baseline") == baseline.NAME:
        return baseline.build_model(n_channels, n_samples, n_classes, sfreq, space)
    from neonas.config import from_dict
    from neonas.engine.space import SpaceConfig, build_model

    return build_model(arch, from_dict(SpaceConfig, space, "space"), n_channels, n_samples, n_classes)


def load_model(path: str | os.PathLike, device: torch.device) -> tuple[nn.Module, dict]:
    """Read model.pt and rebuild its network with the stored weights."""
    path = Path(path)
    if not path.exists():
        raise NeonasError("model file not found (make it with `neonas retrain`)", path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt/foreign file
        raise NeonasError(f"not a readable neonas model ({type(err).__name__}: {str(err).splitlines()[0]})", path) from None
    need = ("arch", "space", "state_dict", "label_names", "ch_names", "sfreq", "n_samples", "train_ids")
    missing = [k for k in need if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise NeonasError(f"missing {missing}; is this a model.pt written by `neonas retrain`?", path)
    if ckpt["arch"].get("baseline") is None and "skip_bn" not in ckpt["space"]:
        ckpt["space"]["skip_bn"] = False  # written before space.skip_bn: no batch norm after the skip sum
    model = make_model(ckpt["arch"], ckpt["space"], len(ckpt["ch_names"]), ckpt["n_samples"],
                       len(ckpt["label_names"]), ckpt["sfreq"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt


def load_split(fold: Fold, split: str, folds_path: str, drop_artifacts: bool = False) -> EEGDataset:
    """Load one split of a fold, checking that each HDF5 file holds the infant the folds file names (as load_fold
    does; again here for folds made in memory)."""
    check_files(fold, folds_path, (split,))
    return load_infants(getattr(fold, split), drop_artifacts=drop_artifacts)


def check_compatible(ckpt: dict, ds: EEGDataset, model_path: str | os.PathLike) -> None:
    """The data must look exactly like the data the model was trained on."""
    for name, have, want in (("channels", ds.ch_names, ckpt["ch_names"]), ("labels", ds.label_names, ckpt["label_names"]),
                             ("sfreq (Hz)", ds.sfreq, ckpt["sfreq"]), ("samples per epoch", ds.n_samples, ckpt["n_samples"])):
        if have != want:
            raise NeonasError(f"model was trained on {name} {want} but the data has {have}; "
                              "preprocess the evaluation infants like the training infants", model_path)


def check_no_leak(ckpt: dict, fold: Fold, split: str, model_path: str | os.PathLike) -> None:
    """Refuse to score a model on infants it was trained on, or, for the test split, early-stopped on or
    whose search picked its architecture."""
    ids = set(getattr(fold, f"{split}_ids"))
    seen = {"training": set(ckpt["train_ids"])}
    if split == "test":
        seen["validation (early stopping)"] = set(ckpt.get("val_ids", []))
        seen["the architecture search"] = set(ckpt.get("search_ids", []))
    for what, used in seen.items():
        both = sorted(ids & used)
        if both:
            raise NeonasError(f"the model used infant(s) {both} for {what}, and they are in the {split} split "
                              f"of fold {fold.fold}; evaluate on the fold the model was trained for", model_path)
    # the same recording under another infant id is the same infant (older models store no hashes)
    sha = {fold.sha256[i]: i for i in ids if fold.sha256.get(i)}
    used_sha = {"training": ckpt.get("train_sha256", [])}
    if split == "test":
        used_sha["validation (early stopping)"] = ckpt.get("val_sha256", [])
    for what, used in used_sha.items():
        both = sorted(sha[s] for s in set(used) & set(sha))
        if both:
            raise NeonasError(f"the model used the recording(s) of {both} for {what} (same source_sha256, under "
                              f"another infant id), and they are in the {split} split of fold {fold.fold}", model_path)


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, device: torch.device, batch_size: int = 256) -> np.ndarray:
    """Logits (N, n_classes) as float32 numpy, in batches."""
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[i:i + batch_size]).to(device)
        with autocast(device):
            out.append(model(xb).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def evaluate(model: nn.Module, ckpt: dict, fold: Fold, split: str, folds_path: str, model_path: str,
             device: torch.device, meta: dict | None = None, predictions: str | os.PathLike | None = None) -> dict:
    """The metrics dict written to metrics.json (contracts.md section 7); with `predictions`, also write the
    per-epoch predictions there (predictions.tsv, write_predictions)."""
    if split not in SPLITS[:2]:
        raise NeonasError(f"unknown split '{split}' (expected test or val)")
    check_no_leak(ckpt, fold, split, model_path)
    ds = load_split(fold, split, folds_path, drop_artifacts=ckpt.get("config", {}).get("drop_artifacts", False))
    check_compatible(ckpt, ds, model_path)
    if len(ds) == 0:
        raise NeonasError(f"the {split} infants {getattr(fold, f'{split}_ids')} have no labelled epochs", folds_path)
    logits = predict(model, ds.x, device)
    y_pred = logits.argmax(axis=1)
    if predictions is not None:
        write_predictions(predictions, ds, logits)
    report = classification_report(ds.y, y_pred, ds.label_names)
    log.info("%s infants %s: accuracy %.3f, kappa %.3f, macro-F1 %.3f (%d epochs)", split, ds.infant_ids,
             report["accuracy"], report["kappa"], report["macro_f1"], report["n_epochs"])
    report.update({
        "split": split, "test_ids": list(ds.infant_ids), "fold": fold.fold, "seed": ckpt.get("seed"),
        "arch_hash": ckpt.get("arch_hash"), "arch": ckpt["arch"], "n_params": ckpt.get("n_params"),
        "train_seconds": ckpt.get("train_seconds", _history_seconds(model_path)), "best_epoch": ckpt.get("best_epoch"),
        "device": ckpt.get("device"), "meta": {**ckpt.get("meta", {}), **(meta or {})},
    })
    return report


def parse_meta(items: list[str] | None) -> dict:
    """`--meta key=value` pairs; values are read as YAML, so `seed=3` is the number 3."""
    meta = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise NeonasError(f"--meta '{item}' must look like key=value (e.g. arm=nas)")
        parsed = yaml.safe_load(value) if value.strip() else ""
        # keep only JSON scalars (a date-like value stays text, so metrics.json and model.pt can hold it)
        meta[key.strip()] = parsed if isinstance(parsed, str | int | float | bool) or parsed is None else value
    return meta


def write_predictions(path: str | os.PathLike, ds: EEGDataset, logits: np.ndarray) -> None:
    """predictions.tsv: one row per scored epoch, `infant, epoch, onset_s, true_stage, predicted_stage, p_<stage>...`
    (epoch = its index in the infant's recording, onset in seconds from the recording start, p = softmax;
    predicted_stage is the argmax of the logits, as in the metrics)."""
    z = logits.astype(np.float64)
    prob = np.exp(z - z.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    names = ds.label_names
    lines = ["\t".join(["infant", "epoch", "onset_s", "true_stage", "predicted_stage", *(f"p_{n}" for n in names)])]
    for i in range(len(ds)):
        lines.append("\t".join([ds.infant_ids[ds.infant[i]], str(int(ds.epoch[i])), f"{ds.onset_s[i]:.3f}",
                                names[ds.y[i]], names[int(logits[i].argmax())], *(f"{p:.6f}" for p in prob[i])]))
    write_text_atomic(path, "\n".join(lines) + "\n")


def predictions_path(metrics_path: str | os.PathLike) -> Path:
    """Where predictions.tsv goes beside a metrics file: metrics.json -> predictions.tsv,
    metrics_val.json -> predictions_val.tsv, other.json -> other.predictions.tsv."""
    path = Path(metrics_path)
    if path.stem.startswith("metrics"):
        return path.with_name("predictions" + path.stem[len("metrics"):] + ".tsv")
    return path.with_name(path.stem + ".predictions.tsv")


def _history_seconds(model_path: str | os.PathLike) -> float | None:
    """Training seconds from history.csv beside model.pt (model.pt holds no timings, so reruns are byte-identical)."""
    path = Path(model_path).with_name("history.csv")
    try:
        with open(path) as f:
            return round(sum(float(row["seconds"]) for row in csv.DictReader(f)), 3)
    except (OSError, KeyError, ValueError):
        return None


def write_metrics(path: str | os.PathLike, report: dict) -> None:
    write_text_atomic(path, json.dumps(report, indent=2) + "\n")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR/model.pt", help="a model written by `neonas retrain`")
    p.add_argument("--folds", required=True, metavar="FOLDS.json", help="the folds file (from `neonas folds`)")
    p.add_argument("--fold", required=True, type=int, help="which fold's infants to evaluate on")
    p.add_argument("--split", choices=SPLITS[:2], default="test",
                   help="evaluate on the fold's test infants (default) or its validation infants")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE",
                   help="extra context stored under 'meta' (repeatable), e.g. --meta arm=nas --meta reward=plain; "
                        "overrides what the model carries")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda[:N] (default: auto)")
    p.add_argument("--out", required=True, metavar="METRICS.json", help="where to write the metrics")
    p.add_argument("--predictions", metavar="PREDICTIONS.tsv",
                   help="where to write the per-epoch predictions (default: beside --out, metrics.json -> "
                        "predictions.tsv, metrics_val.json -> predictions_val.tsv)")


def run(args: argparse.Namespace) -> int:
    meta = parse_meta(args.meta)
    device = select_device(args.device)
    fold = load_fold(args.folds, args.fold)
    model, ckpt = load_model(args.model, device)
    report = evaluate(model, ckpt, fold, args.split, args.folds, args.model, device, meta,
                      predictions=args.predictions or predictions_path(args.out))
    write_metrics(args.out, report)
    print(f"{args.split} {report['test_ids']}: accuracy {report['accuracy']:.3f}  kappa {report['kappa']:.3f}  "
          f"macro-F1 {report['macro_f1']:.3f}  -> {args.out}")
    return 0
