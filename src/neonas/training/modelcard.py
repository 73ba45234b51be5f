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


def _metrics_doc(model_path: str | os.PathLike) -> dict | list | None:
    path = Path(model_path).parent / "metrics.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise NeonasError(f"not valid JSON ({err})", path) from None


def read_final(model_path: str | os.PathLike) -> dict | None:
    """A final model's own scores (metrics.json of `neonas final`: validation, fold estimate, warnings) and its
    test on an unseen recording (unseen.json of `neonas score`, if beside it); None for a fold model."""
    doc = _metrics_doc(model_path)
    if not isinstance(doc, dict) or doc.get("kind") != "final":
        return None
    unseen_path = Path(model_path).parent / "unseen.json"
    unseen = json.loads(unseen_path.read_text()) if unseen_path.exists() else None
    keep = ("infant_ids", "kappa", "accuracy", "macro_f1", "per_class_recall", "n_epochs")
    return {"validation": doc.get("validation"), "fold_estimate": doc.get("fold_estimate"),
            "warnings": doc.get("warnings", []), "chosen_by": doc.get("chosen_by"),
            "unseen": {k: unseen[k] for k in keep if k in unseen} if unseen else None}


def read_metrics(model_path: str | os.PathLike) -> list[dict]:
    """Test metrics from metrics.json beside the model: one report, or {"runs": [report, ...]}; [] if absent.
    For a final model these are its architecture's fold models' (card: "fold_estimate_runs"), not its own."""
    doc = _metrics_doc(model_path)
    if doc is None:
        return []
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
        **_metrics_fields(model_path),
        "neonas_version": ckpt.get("neonas_version"),
        "exported_by": __version__,
    }


def _metrics_fields(model_path) -> dict:
    """A fold model: its test metrics. A final model has no test infants: its own validation (and unseen) scores,
    and its architecture's fold models' test metrics, named as such."""
    final = read_final(model_path)
    if final is None:
        return {"test_metrics": read_metrics(model_path)}
    return {"test_metrics": [], "final": final, "fold_estimate_runs": read_metrics(model_path)}


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
              f"- test infants: {', '.join(tr['test_ids']) or '– (the final model trained on every infant)'}",
              f"- fold {_fmt(tr['fold'])}, seed {_fmt(tr['seed'])}, best epoch {_fmt(tr['best_epoch'])} of "
              f"{_fmt(tr['epochs_run'])} (monitor {_fmt(tr['monitor'])})", ""]
    if c.get("final"):
        return "\n".join(lines + _final_markdown(c)) + "\n"
    lines += ["## Test metrics", ""]
    if c["test_metrics"]:
        lines += _runs_table(c["test_metrics"], "test infants")
    else:
        lines.append("none beside the model (no metrics.json)")
    return "\n".join(lines) + "\n"


def _runs_table(runs: list[dict], infants: str) -> list[str]:
    lines = [f"| fold | seed | {infants} | accuracy | balanced acc. | kappa | macro-F1 | epochs |",
             "|---|---|---|---|---|---|---|---|"]
    for m in runs:
        lines.append(f"| {_fmt(m.get('fold'))} | {_fmt(m.get('seed'))} | {', '.join(m.get('test_ids', []))} | "
                     f"{_fmt(m.get('accuracy'))} | {_fmt(m.get('balanced_accuracy'))} | {_fmt(m.get('kappa'))} | "
                     f"{_fmt(m.get('macro_f1'))} | {_fmt(m.get('n_epochs'))} |")
    return lines


def _final_markdown(c: dict) -> list[str]:
    """The final model's metrics: its own (validation at the kept epoch, an unseen recording), then the fold
    models' estimate of it, labelled as such (issue 24: the card once listed another model's test metrics)."""
    f, lines = c["final"], ["## This model's metrics", ""]
    v = f.get("validation") or {}
    if v:
        recall = ", ".join(f"{k} {_fmt(x)}" for k, x in (v.get("per_class_recall") or {}).items())
        lines.append(f"- validation infants {', '.join(v.get('val_ids', []))} (early stopping, not a test) at the "
                     f"kept epoch {_fmt(v.get('best_epoch'))}: kappa {_fmt(v.get('kappa'))}, accuracy "
                     f"{_fmt(v.get('accuracy'))}, macro-F1 {_fmt(v.get('macro_f1'))}; recall {recall}")
    u = f.get("unseen")
    if u:
        recall = ", ".join(f"{k} {_fmt(x)}" for k, x in (u.get("per_class_recall") or {}).items())
        lines.append(f"- unseen recording {', '.join(u.get('infant_ids', []))} (never in the study: a test): kappa "
                     f"{_fmt(u.get('kappa'))}, accuracy {_fmt(u.get('accuracy'))}, macro-F1 {_fmt(u.get('macro_f1'))}; "
                     f"recall {recall}")
    lines += [f"- WARNING: {w}" for w in f.get("warnings", [])]
    est = f.get("fold_estimate") or {}
    lines += ["", "## Estimate from the folds (other models of this architecture)", "",
              f"Mean test kappa {_fmt(est.get('kappa'))} over {_fmt(est.get('n_runs'))} run(s) "
              f"(95 % interval {_fmt(est.get('ci_low'))} to {_fmt(est.get('ci_high'))}): this architecture retrained "
              "on each fold of the study and tested on that fold's held-out infants. Those are other models; this "
              f"one trained on all of those infants. Chosen by {_fmt(f.get('chosen_by'))}"
              + (" on these very scores, so they are optimistic." if f.get("chosen_by") == "kappa" else "."), ""]
    lines += _runs_table(c.get("fold_estimate_runs", []), "held-out infants of that fold model")
    return lines
