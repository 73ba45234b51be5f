"""Print a summary of a neonas file or directory:

- a preprocessed HDF5 file: infant, epochs per stage, channels, sampling, artefact flags, source hash and
  the preprocessing config that made it;
- a model.pt (from `neonas retrain` or a study's final model): architecture and hash, channels, rate,
  classes, training infants, whether it carries its preprocessing, and the test metrics beside it;
- a search run directory (finished, or a .partial one still running): epochs done, children scored,
  the best child so far, the reward threshold, and whether it finished.

Examples:  neonas inspect results/demo/h5/syn01.h5        (add --json for a machine-readable summary)
           neonas inspect results/demo/retrain/nas/identity/seed0/fold0/rank0/model.pt
           neonas inspect results/demo/search/nas/identity/seed0/fold0
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from neonas.store.h5io import ARTIFACT_FLAGS, read_recording


def add_arguments(parser) -> None:
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("file", help="HDF5 file from `neonas preprocess`, model.pt from `neonas retrain`, or a "
                        "search run directory")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def summary(path) -> dict:
    """Everything `inspect` prints, as a dict (reads labels and flags, not the EEG)."""
    rec = read_recording(path, load_eeg=False)
    labels, art = rec.labels, rec.artifact
    stages = {name: int((labels == i).sum()) for i, name in enumerate(rec.label_names)}
    stages["unlabelled"] = int((labels < 0).sum())
    flags = {name: int(((art >> bit) & 1).sum()) for bit, name in enumerate(ARTIFACT_FLAGS)}
    flags["any"] = int((art != 0).sum())
    return {
        "file": str(path),
        "infant_id": rec.infant_id,
        "n_epochs": rec.n_epochs,
        "epochs_per_stage": stages,
        "channels": rec.ch_names,
        "sfreq": rec.sfreq,
        "epoch_s": rec.epoch_s,
        "samples_per_epoch": int(round(rec.sfreq * rec.epoch_s)),
        "hours": rec.n_epochs * rec.epoch_s / 3600,
        "first_onset_s": float(rec.onset_s[0]) if rec.n_epochs else None,
        "last_onset_s": float(rec.onset_s[-1]) if rec.n_epochs else None,
        "artifact_epochs": flags,
        "source_sha256": rec.source_sha256,
        "neonas_version": rec.neonas_version,
        "attrs": rec.extra_attrs,
        "preprocess_config": rec.preprocess_config,
    }


def format_summary(s: dict) -> str:
    n = max(s["n_epochs"], 1)
    width = max(len(k) for k in s["epochs_per_stage"])
    lines = [
        f"file        {s['file']}",
        f"infant      {s['infant_id']}",
        f"epochs      {s['n_epochs']} x {s['epoch_s']:g} s ({s['hours']:.2f} h), "
        f"onsets {s['first_onset_s']}..{s['last_onset_s']} s",
        f"sampling    {s['sfreq']:g} Hz, {s['samples_per_epoch']} samples per epoch",
        f"channels    {len(s['channels'])}: {' '.join(s['channels'])}",
        "stages",
    ]
    for name, count in s["epochs_per_stage"].items():
        lines.append(f"  {name:<{width}}  {count:6d}  {100 * count / n:5.1f} %")
    lines.append("artefacts (epochs with each flag)")
    for name, count in s["artifact_epochs"].items():
        lines.append(f"  {name:<{width}}  {count:6d}  {100 * count / n:5.1f} %")
    lines += [f"source      sha256 {s['source_sha256']}", f"neonas      {s['neonas_version']}"]
    for key, value in s["attrs"].items():
        lines.append(f"attr        {key} = {json.dumps(value)}")
    lines.append("preprocess config")
    for key, value in s["preprocess_config"].items():
        lines.append(f"  {key}: {json.dumps(value)}")
    return "\n".join(lines)


def run(args) -> int:
    from neonas.study import inspect_runs

    path = Path(args.file)
    if path.is_dir():
        s, text = inspect_runs.run_summary(path), inspect_runs.format_run
    elif inspect_runs.is_torch_file(path):
        s, text = inspect_runs.model_summary(path), inspect_runs.format_model
    else:
        s, text = summary(path), format_summary
    try:
        print(json.dumps(s, indent=2, default=_plain) if args.json else text(s), flush=True)
    except BrokenPipeError:  # `neonas inspect f.h5 | head`: the reader left early, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else str(value)
