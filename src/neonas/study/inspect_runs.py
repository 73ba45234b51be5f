"""`neonas inspect` for a model.pt and for a search run directory (the HDF5 summary is in inspect.py).

A search directory is read without touching its files: finished runs by summary.json, running or
interrupted ones (fold<F>.partial/) by their checkpoint's config, children.csv and epochs.csv.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from neonas.errors import NeonasError


def is_torch_file(path: Path) -> bool:
    """A torch zip archive (model.pt, final.pt, checkpoint.pt), by its suffix or its first bytes."""
    if path.suffix in (".pt", ".pth"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def model_summary(path: str | os.PathLike) -> dict:
    """What a model.pt holds: architecture, input, classes, training infants, preprocessing, test metrics."""
    import torch

    from neonas.training.modelcard import card

    path = Path(path)
    if not path.exists():
        raise NeonasError("file not found", path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for foreign files
        raise NeonasError(f"not a readable torch file ({type(err).__name__}: {str(err).splitlines()[0]})", path) from None
    if isinstance(ckpt, dict) and "supernet" in ckpt:
        raise NeonasError("is a search's final.pt (shared weights); inspect its run directory instead", path)
    need = ("arch", "space", "state_dict", "label_names", "ch_names", "sfreq", "n_samples")
    missing = [k for k in need if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise NeonasError(f"missing {missing}; not a model.pt written by `neonas retrain`", path)
    if "n_params" not in ckpt:
        ckpt["n_params"] = int(sum(v.numel() for v in ckpt["state_dict"].values() if v.is_floating_point()))
    return card(ckpt, path)


def _header(c: dict) -> list[str]:
    """The lines every model has: file, architecture, input, channels, classes."""
    inp = c["input"]
    return [
        f"model       {c['model']}",
        f"arch        {c['arch_hash']}  ({c['n_params']} parameters)  {json.dumps(c['architecture'])}",
        f"input       {len(inp['channels'])} channels x {inp['shape'][2]} samples ({inp['sfreq_hz']:g} Hz, "
        f"{inp['epoch_s']:g} s epochs)",
        f"channels    {' '.join(inp['channels'])}",
        f"classes     {' '.join(c['output']['classes'])}",
    ]


def format_model(c: dict) -> str:
    tr = c["training"]
    if (tr.get("meta") or {}).get("final") or tr["fold"] is None:
        return _format_final(c)
    lines = [
        *_header(c),
        f"trained on  {' '.join(tr['train_ids']) or '-'}  (validation {' '.join(tr['val_ids']) or '-'}; "
        f"fold {tr['fold']}, seed {tr['seed']}, best epoch {tr['best_epoch']} of {tr['epochs_run']})",
        f"test        {' '.join(tr['test_ids']) or '-'}",
        f"preprocess  {'stored (neonas predict can use this model)' if c['preprocess'] else 'not stored'}",
        f"neonas      {c['neonas_version']}",
    ]
    for m in c["test_metrics"]:
        lines.append(f"metrics     fold {m.get('fold')} seed {m.get('seed')} {m.get('split', 'test')} "
                     f"{','.join(m.get('test_ids', []))}: accuracy {m.get('accuracy', float('nan')):.3f}  "
                     f"kappa {m.get('kappa', float('nan')):.3f}  macro-F1 {m.get('macro_f1', float('nan')):.3f}")
    if not c["test_metrics"]:
        lines.append("metrics     none beside the model (no metrics.json)")
    return "\n".join(lines)


def _format_final(c: dict) -> str:
    """A study's final model (`neonas final`): trained on every infant, so no fold and no test infant; the
    metrics.json beside it holds its ARCHITECTURE's results on the study's folds (other models), not its own."""
    tr = c["training"]
    lines = [
        *_header(c),
        f"trained on  {' '.join(tr['train_ids']) or '-'}  (validation {' '.join(tr['val_ids']) or '-'}; "
        f"the study's final model: every infant, no fold; seed {tr['seed']}, best epoch {tr['best_epoch']} of "
        f"{tr['epochs_run']})",
        "test        none: a final model has no test infants, so it has no test metrics of its own",
        f"preprocess  {'stored (neonas predict can use this model)' if c['preprocess'] else 'not stored'}",
        f"neonas      {c['neonas_version']}",
    ]
    own = (c.get("final") or {}).get("validation")
    if own:  # its own score: the early-stopping infants at the kept epoch (neonas.training.final)
        lines.append(f"validation  kappa {own['kappa']:.3f} on {' '.join(own['val_ids'])} at epoch {own['best_epoch']}")
    runs = c.get("fold_estimate_runs", c["test_metrics"])
    kappas = [m["kappa"] for m in runs if isinstance(m.get("kappa"), int | float)]
    if kappas:
        lines.append(f"folds       its architecture, retrained on the study's folds (other models, in metrics.json "
                     f"beside it): mean test kappa {sum(kappas) / len(kappas):.3f} over {len(kappas)} run(s); "
                     "optimistic if it was chosen on them")
    return "\n".join(lines)


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def run_summary(path: str | os.PathLike) -> dict:
    """Progress of a search run directory (finished or partial)."""
    path = Path(path)
    files = {name: (path / name).exists() for name in ("summary.json", "final.pt", "checkpoint.pt", "children.csv",
                                                       "epochs.csv", "derived.json")}
    if not any(files[n] for n in ("summary.json", "checkpoint.pt", "children.csv", "epochs.csv")):
        raise NeonasError("not a search run directory (no summary.json, checkpoint.pt, children.csv or epochs.csv); "
                          "inspect takes an HDF5 file, a model.pt or a search run directory", path)
    finished = files["summary.json"] and files["final.pt"]
    config, summary = {}, {}
    if files["summary.json"]:
        try:
            summary = json.loads((path / "summary.json").read_text())
        except ValueError as err:
            raise NeonasError(f"not valid JSON ({err})", path / "summary.json") from None
        config = summary.get("config", {})
    elif files["checkpoint.pt"]:
        import torch

        try:  # our own resume state (not weights only: it holds the config and RNG states)
            config = torch.load(path / "checkpoint.pt", map_location="cpu", weights_only=False)["identity"]["config"]
        except Exception as err:  # a checkpoint being written or from another version
            config = {"unreadable": f"{type(err).__name__}: {err}"}
    children, epochs = _rows(path / "children.csv"), _rows(path / "epochs.csv")
    scored = [(m, r) for r in children if (m := _float(r.get("metric"))) is not None]
    best = max(scored, key=lambda mr: mr[0], default=None)
    reward = summary.get("reward") or config.get("reward", {})
    thresholds = [t for r in children if (t := _float(r.get("threshold"))) is not None]
    if thresholds:
        threshold = {"value": thresholds[-1], "source": "children.csv (the last child's)"}
    elif reward.get("name") == "sigmoid":
        threshold = {"value": reward.get("threshold"), "source": "reward config"}
    else:
        threshold = {"value": None, "source": f"none ({reward.get('name', 'unknown')} reward)"}
    return {
        "run": str(path),
        "finished": bool(finished),
        "state": "finished" if finished else "running or interrupted (resume with --resume)" if files["checkpoint.pt"]
        else "incomplete",
        "sampler": summary.get("sampler") or config.get("sampler"),
        "reward": reward,
        "epochs_done": len(epochs),
        "epochs_total": config.get("training", {}).get("epochs"),
        "children": len(children),
        "metric_name": best[1].get("metric_name") if best else None,
        "best": None if best is None else {"metric": best[0], "arch_hash": best[1].get("arch_hash"),
                                           "epoch": best[1].get("epoch"), "arch": best[1].get("arch")},
        "last_epoch": epochs[-1] if epochs else None,
        "threshold": threshold,
        "seed": summary.get("seed"), "fold": summary.get("fold"),
        "wall_seconds": summary.get("wall_seconds"),
        "files": files,
    }


def format_run(s: dict) -> str:
    best = s["best"]
    last = s["last_epoch"] or {}
    th = s["threshold"]
    lines = [
        f"run         {s['run']}",
        f"state       {s['state']}",
        f"sampler     {s['sampler']}   reward {json.dumps(s['reward'])}",
        f"epochs      {s['epochs_done']} of {s['epochs_total'] if s['epochs_total'] is not None else '?'}",
        f"children    {s['children']} scored",
        "best        " + ("-" if best is None else f"{s['metric_name']} {best['metric']:.4f}  arch {best['arch_hash']}  "
                                                 f"(epoch {best['epoch']})  {best['arch']}"),
        f"threshold   {th['value'] if th['value'] is not None else '-'}  ({th['source']})",
    ]
    if last:
        lines.append("last epoch  " + "  ".join(f"{k} {v}" for k, v in last.items()))
    lines.append("files       " + "  ".join(f"{k}{'' if v else ' (absent)'}" for k, v in s["files"].items()))
    return "\n".join(lines)
