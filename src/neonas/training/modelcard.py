"""What a model.pt carries about its input, and the model card (JSON + Markdown) that tells a user.

A model is only usable on new recordings if they are preprocessed exactly like its training data.
`training_preprocess` reads the resolved preprocessing config from the training infants' HDF5 files
(retrain stores it in model.pt as `preprocess`) and refuses infants whose input signal was made
differently. `card` collects what docs/predict.md promises a model card holds: architecture and hash,
channel order, rate, epoch length, preprocessing, classes, training infants, test metrics, version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from neonas.errors import NeonasError
from neonas.store.h5io import SIGNAL_KEYS, signal_diff  # noqa: F401 - SIGNAL_KEYS: predict's import


def training_preprocess(paths: list[str | os.PathLike]) -> dict:
    """The preprocessing config of the first recording, after checking every other one agrees on SIGNAL_KEYS.

    Returns {} when the files carry no config (hand-made HDF5 files, as in some tests); predict then refuses
    the model with a message saying why.
    """
    from neonas.store.h5io import read_recording

    first, first_path = None, None
    for path in paths:
        config = read_recording(path, load_eeg=False).preprocess_config or {}
        if first is None:
            first, first_path = config, path
            continue
        diff = signal_diff(config, first)
        if diff:
            raise NeonasError(f"was preprocessed differently from {first_path} ({'; '.join(diff)}); a model needs "
                              "one preprocessing for all its training infants: preprocess them alike", path)
    return dict(first or {})


def training_cohort(paths: list[str | os.PathLike]) -> dict:
    """What the model was trained on (training + validation files): source, recordings, infants, hours.

    `source` is "synthetic" (every file preprocessed from a `neonas synth` recording), "real" (none), "mixed",
    or "unknown" where files predate the `synthetic` attribute. Hours count the epochs in the files.
    """
    from neonas.store.h5io import read_recording

    ids, seconds, synthetic, rates = [], 0.0, [], set()
    for path in paths:
        rec = read_recording(path, load_eeg=False)
        ids.append(rec.infant_id)
        seconds += rec.n_epochs * rec.epoch_s
        synthetic.append(rec.extra_attrs.get("synthetic"))
        rates.add(float(rec.extra_attrs.get("source_sfreq", rec.sfreq)))  # predict warns on a text rate not among them
    known = [s for s in synthetic if s is not None]
    source = ("unknown" if len(known) < len(synthetic) or not synthetic else "synthetic" if all(known)
              else "real" if not any(known) else "mixed")
    return {"source": source, "recordings": len(ids), "infants": len(set(ids)),
            "synthetic_recordings": sum(bool(s) for s in synthetic), "hours": round(seconds / 3600, 3),
            "source_sfreq_hz": sorted(rates)}


def cohort_text(cohort: dict | None) -> str:
    """One line about the training cohort, for the model card and predict's warning."""
    if not cohort:
        return "not recorded (a model.pt from before neonas stored it)"
    what = {"synthetic": "synthetic (neonas synth)", "real": "real recordings (not made by neonas synth)",
            "mixed": f"mixed ({cohort['synthetic_recordings']} synthetic)", "unknown": "source not recorded"}
    return (f"{what.get(cohort['source'], cohort['source'])}: {cohort['recordings']} recording(s) of "
            f"{cohort['infants']} infant(s), {cohort['hours']:g} h of epochs (training + validation)")


def read_metrics(model_path: str | os.PathLike) -> list[dict]:
    """Test metrics from metrics.json beside the model: one report, or {"runs": [report, ...]}; [] if absent."""
    path = Path(model_path).parent / "metrics.json"
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text())
    except ValueError as err:
        raise NeonasError(f"not valid JSON ({err})", path) from None
    runs = doc.get("runs") if isinstance(doc, dict) and isinstance(doc.get("runs"), list) else [doc]
    keep = ("split", "test_ids", "fold", "seed", "accuracy", "balanced_accuracy", "kappa", "macro_f1", "n_epochs",
            "per_class_f1")
    return [{k: r[k] for k in keep if k in r} for r in runs if isinstance(r, dict)]


def card(ckpt: dict, model_path: str | os.PathLike) -> dict:
    """The model card as a dict (model_card.json)."""
    from neonas import __version__
    from neonas.engine.space import arch_hash, arch_json

    arch = ckpt["arch"]
    is_baseline = "baseline" in arch
    n_samples = int(ckpt["n_samples"])
    sfreq = float(ckpt["sfreq"])
    return {
        "model": str(model_path),
        "architecture": arch if is_baseline else json.loads(arch_json(arch)),
        "arch_hash": ckpt.get("arch_hash") or (arch["baseline"] if is_baseline else arch_hash(arch)),
        "space": ckpt["space"],
        "n_params": ckpt.get("n_params"),
        "input": {
            "shape": ["batch", len(ckpt["ch_names"]), n_samples],
            "dtype": "float32",
            "channels": list(ckpt["ch_names"]),
            "sfreq_hz": sfreq,
            "epoch_s": float(ckpt.get("epoch_s") or n_samples / sfreq),
            "units": "per channel and recording: (x - median) / IQR of the filtered, resampled signal x in uV, "
                     "median and IQR over the recording's epochs without artefact flags (docs/hdf5-layout.md)",
        },
        "output": {"shape": ["batch", len(ckpt["label_names"])], "meaning": "logits; softmax gives probabilities",
                   "classes": list(ckpt["label_names"])},
        "preprocess": ckpt.get("preprocess") or {},
        "training_cohort": ckpt.get("training_cohort") or {},
        "training": {
            "train_ids": list(ckpt.get("train_ids", [])), "val_ids": list(ckpt.get("val_ids", [])),
            "test_ids": list(ckpt.get("test_ids", [])), "search_ids": list(ckpt.get("search_ids", [])),
            "fold": ckpt.get("fold"), "seed": ckpt.get("seed"), "best_epoch": ckpt.get("best_epoch"),
            "epochs_run": ckpt.get("epochs_run"), "monitor": ckpt.get("monitor"), "config": ckpt.get("config"),
            "meta": ckpt.get("meta", {}),
        },
        "test_metrics": read_metrics(model_path),
        "neonas_version": ckpt.get("neonas_version"),
        "exported_by": __version__,
    }


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def card_markdown(c: dict, export_file: str | None = None) -> str:
    """The model card as Markdown (model_card.md)."""
    inp, out, tr = c["input"], c["output"], c["training"]
    lines = [
        f"# Model card: neonas {c['arch_hash']}",
        "",
        f"Sleep-stage classifier for {inp['epoch_s']:g} s epochs of EEG, trained with neonas {c['neonas_version']}.",
        "",
        "## Input",
        "",
        f"- tensor `(batch, {inp['shape'][1]}, {inp['shape'][2]})`, {inp['dtype']}: channels x samples",
        f"- channel order: {', '.join(inp['channels'])}",
        f"- sampling rate {inp['sfreq_hz']:g} Hz, epoch length {inp['epoch_s']:g} s ({inp['shape'][2]} samples)",
        f"- units: {inp['units']}",
        "- make it with `neonas predict` (which applies the preprocessing below), or reproduce the "
        "preprocessing exactly (docs/predict.md)",
        "",
        "## Output",
        "",
        f"- `(batch, {len(out['classes'])})` {out['meaning']}; classes in order: {', '.join(out['classes'])}",
    ]
    if export_file:
        lines += ["", "## Files", "", f"- `{export_file}`: the self-contained module (no neonas needed to run it)"]
    lines += ["", "## Architecture", "", f"hash `{c['arch_hash']}`, {_fmt(c['n_params'])} parameters", "",
              "```json", json.dumps(c["architecture"]), "```", "", "## Preprocessing", ""]
    if c["preprocess"]:
        lines += [f"- {k}: `{json.dumps(v)}`" for k, v in c["preprocess"].items()]
    else:
        lines.append("- not recorded (the training HDF5 files carried no preprocessing config)")
    lines += ["", "## Training", "",
              f"- training cohort: {cohort_text(c.get('training_cohort'))}",
              f"- training infants: {', '.join(tr['train_ids']) or '–'}",
              f"- validation infants (early stopping): {', '.join(tr['val_ids']) or '–'}",
              f"- test infants: {', '.join(tr['test_ids']) or '–'}",
              f"- fold {_fmt(tr['fold'])}, seed {_fmt(tr['seed'])}, best epoch {_fmt(tr['best_epoch'])} of "
              f"{_fmt(tr['epochs_run'])} (monitor {_fmt(tr['monitor'])})",
              "", "## Test metrics", ""]
    if c["test_metrics"]:
        lines += ["| fold | seed | test infants | accuracy | balanced acc. | kappa | macro-F1 | epochs |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in c["test_metrics"]:
            lines.append(f"| {_fmt(m.get('fold'))} | {_fmt(m.get('seed'))} | {', '.join(m.get('test_ids', []))} | "
                         f"{_fmt(m.get('accuracy'))} | {_fmt(m.get('balanced_accuracy'))} | {_fmt(m.get('kappa'))} | "
                         f"{_fmt(m.get('macro_f1'))} | {_fmt(m.get('n_epochs'))} |")
    else:
        lines.append("none beside the model (no metrics.json)")
    return "\n".join(lines) + "\n"
