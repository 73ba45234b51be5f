"""The final model of a study: the chosen architecture, trained on every infant of the cohort.

Cross-validation (retrain + evaluate on held-out infants) measures how well each architecture generalises;
the model people use is then trained once more on all infants. Which architecture:

- `--choose validation` (default): the best mean VALIDATION kappa over >= 3 selection seeds and every fold it
  was retrained on, among the retrained architectures (every arm's top-k and the hand-designed net); the test
  infants never enter the choice (neonas.training.selection: candidates with 95 % intervals, and the optimism of
  the choice against the held-out kappa). `--selection` reads the per-fold scores of `neonas select`; without
  it the selection trainings run here, into DIR/select/fold<F>/.
- `--choose kappa`: the best mean test Cohen's kappa over folds and seeds among the retrained architectures
  (their metrics.json files): the winner's curse, its score is optimistic by the choice itself.
- `--choose yardstick`: the best mean score on the common yardstick (`neonas yardstick` CSV files: every
  arm's architectures scored on one uniformly trained supernet), among the retrained architectures that
  have one. Without yardstick files it falls back to kappa and says why (log and choice.json).

A few whole infants (`--n-val`, drawn with `--val-seed`) are held out for early stopping, as in every
retraining. There are no test infants: the model's own score is its validation kappa at the kept epoch, and
its fold estimate is the mean test kappa of its architecture retrained on the study's folds (other models).
A validation kappa more than FAR_BELOW under that estimate is flagged (log, choice.json, metrics.json): the
final training went wrong, or the estimate flatters the architecture. `neonas score` tests it on a recording
from outside the study (the demo's unseen infant).

Writes DIR/model.pt and DIR/history.csv (the code of `neonas retrain`), DIR/choice.json (the architecture,
why, the table of candidates, this model's validation score and the fold estimate), DIR/metrics.json (the
same scores and the chosen architecture's fold metrics.json files as "runs", for the model card) and, by
validation, DIR/selection.csv and DIR/selection.json. `neonas export --model DIR/model.pt` makes its TorchScript form and model
card; the workflow rule does both (docs/retrain.md, "The final model").

Example:
  neonas final --metrics results/demo/retrain/*/*/seed*/fold*/rank*/metrics.json \\
      --folds results/demo/folds.json --config results/demo/config/retrain.yaml --out results/demo/final
  (--selection results/demo/select/fold*: the selection scores of the workflow's `neonas select` jobs)
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError
from neonas.io import read_json, write_text_atomic

log = logging.getLogger(__name__)

CHOICES = ("validation", "kappa", "yardstick")
FAR_BELOW = 0.1  # validation kappa this far under the fold estimate is flagged (issue 24)
YARDSTICK_COLUMNS = ("arm", "setting", "seed", "fold", "source", "rank", "arch_hash", "arch", "metric_name",
                     "metric", "constant")


# ---------------------------------------------------------------------------------------------------
# candidates


def read_candidates(metrics_files: list[str]) -> dict[str, dict]:
    """Retrained architectures by hash: their test kappa (and accuracy, macro-F1) per run, where they came from,
    and one model.pt (which stores the search space the architecture lives in)."""
    cands: dict[str, dict] = {}
    for name in metrics_files:
        path = Path(name)
        m = read_json(path, "metrics file not found")
        missing = [k for k in ("arch_hash", "arch", "kappa") if k not in m]
        if missing:
            raise NeonasError(f"missing {missing}; is this a metrics.json of `neonas retrain`?", path)
        meta = m.get("meta") or {}
        c = cands.setdefault(m["arch_hash"], {"arch_hash": m["arch_hash"], "arch": m["arch"], "runs": [],
                                              "sources": set(), "model": None})
        c["runs"].append({"kappa": m["kappa"], "accuracy": m.get("accuracy"), "macro_f1": m.get("macro_f1"),
                          "seed": meta.get("seed", m.get("seed")), "fold": meta.get("fold", m.get("fold")),
                          "metrics": str(path)})
        c["sources"].add(f"{meta.get('arm', '?')}:{meta.get('reward', '?')}")
        model = path.with_name("model.pt")
        if c["model"] is None and model.exists():
            c["model"] = str(model)
    if not cands:
        raise NeonasError("no metrics.json given: the final model is chosen among retrained architectures "
                          "(run the study's retrain jobs first)")
    return cands


def read_yardstick(paths: list[str]) -> tuple[dict[str, list[dict]], str | None]:
    """Yardstick rows by architecture hash, from CSV files or folders of them (seed*/fold*.csv);
    (rows, None) or ({}, why there are none)."""
    files: list[Path] = []
    absent = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            files += sorted(f for f in p.glob("seed*/fold*.csv") if f.stem[len("fold"):].isdigit())  # not *_sanity
        elif p.is_file():
            files.append(p)
        else:
            absent.append(str(p))
    if not files:
        where = ", ".join(absent or paths) or "(none given)"
        return {}, f"no yardstick files ({where}); run `neonas yardstick` (workflow: yardstick rules) first"
    rows: dict[str, list[dict]] = defaultdict(list)
    for f in files:
        with open(f, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("arch_hash", "metric", "metric_name") if c not in (reader.fieldnames or [])]
            if missing:
                raise NeonasError(f"not a yardstick file: no column(s) {missing} (expected {', '.join(YARDSTICK_COLUMNS)})", f)
            for i, row in enumerate(reader, start=2):
                try:
                    row["metric"] = float(row["metric"])
                except ValueError:
                    raise NeonasError(f"line {i}: metric '{row['metric']}' is not a number", f) from None
                row["constant"] = str(row.get("constant", "0")).strip() in ("1", "True", "true")
                if math.isfinite(row["metric"]):
                    rows[row["arch_hash"]].append(row)
    if not rows:
        return {}, f"the yardstick files {[str(f) for f in files]} hold no scored architecture"
    return dict(rows), None


def candidates_table(cands: dict[str, dict], yard: dict[str, list[dict]]) -> list[dict]:
    """One row per retrained architecture: its mean test scores over runs, and its yardstick score if any."""
    table = []
    for h, c in cands.items():
        kappas = np.array([r["kappa"] for r in c["runs"]], float)
        ys = yard.get(h, [])
        row = {
            "arch_hash": h, "sources": ";".join(sorted(c["sources"])), "n_runs": len(kappas),
            "n_folds": len({r["fold"] for r in c["runs"]}), "n_seeds": len({r["seed"] for r in c["runs"]}),
            "mean_kappa": float(kappas.mean()), "sd_kappa": float(kappas.std(ddof=1)) if len(kappas) > 1 else None,
            "mean_accuracy": _mean(r["accuracy"] for r in c["runs"]),
            "mean_macro_f1": _mean(r["macro_f1"] for r in c["runs"]),
            "yardstick_metric": ys[0]["metric_name"] if ys else None,
            "yardstick_mean": _mean(r["metric"] for r in ys) if ys else None, "yardstick_n": len(ys),
            "yardstick_constant_rate": float(np.mean([r["constant"] for r in ys])) if ys else None,
        }
        table.append(row)
    return table


def _mean(values) -> float | None:
    v = [float(x) for x in values if x is not None]
    return float(np.mean(v)) if v else None


def best_of(rows: list[dict], key: str = "mean_kappa") -> dict:
    """The selection rule of the final model (and of the report's best architecture): the highest `key`, then
    more runs (`n_runs`), then the smaller `arch_hash` (deterministic)."""
    return min(rows, key=lambda r: (-r[key], -r["n_runs"], r["arch_hash"]))


def choose(table: list[dict], requested: str, yard_reason: str | None) -> dict:
    """Pick the winner: the highest score, then more runs, then the smaller hash (deterministic)."""
    method, reason = requested, None
    if requested == "yardstick":
        eligible = [r for r in table if r["yardstick_mean"] is not None and r["yardstick_constant_rate"] < 1]
        if not eligible:
            reason = yard_reason or ("no retrained architecture has a yardstick score that is not from a constant "
                                     "predictor (the hand-designed net is never on the yardstick)")
            method = "kappa"
            log.warning("final: --choose yardstick, but %s; choosing by mean test kappa instead", reason)
    if method == "kappa":
        eligible = table
    key = "yardstick_mean" if method == "yardstick" else "mean_kappa"
    best = best_of(eligible, key)
    for r in table:
        r["eligible"] = r in eligible
        r["chosen"] = r is best
    most = max(r["n_runs"] for r in table)
    note = None
    if best["n_runs"] < most:
        note = (f"the winner was scored in {best['n_runs']} run(s), other candidates in up to {most}: a mean over "
                "fewer runs is noisier, and the maximum of noisy means favours them")
        log.warning("final: %s", note)
    why = (f"best mean yardstick {best['yardstick_metric']} ({best['yardstick_mean']:.4f} over {best['yardstick_n']} "
           f"scores) among {len(eligible)} retrained architectures with a yardstick score"
           if method == "yardstick" else
           f"best mean test kappa ({best['mean_kappa']:.4f} over {best['n_runs']} run(s): {best['n_folds']} fold(s), "
           f"{best['n_seeds']} seed(s)) among {len(eligible)} retrained architectures")
    return {"requested": requested, "method": method, "fallback_reason": reason, "arch_hash": best["arch_hash"],
            "sources": best["sources"], "why": why, "note": note}


# ---------------------------------------------------------------------------------------------------
# the split and the training


def final_split(folds_path: str, n_val: int, seed: int):
    """Every infant of the study (the folds file's `files`): `n_val` whole infants for early stopping, drawn
    with `seed`, the rest for training; no test infants."""
    from neonas.store.splits import Fold

    path = Path(folds_path)
    try:
        files = json.loads(path.read_text())["files"]
    except FileNotFoundError:
        raise NeonasError("folds file not found (make it with `neonas folds`)", path) from None
    except (ValueError, KeyError, TypeError) as err:
        raise NeonasError(f"not a valid folds file ({err}); make it with `neonas folds`", path) from None
    ids = sorted(files)
    if not 1 <= n_val < len(ids):
        raise NeonasError(f"the final model needs 1 <= n_val < number of infants ({len(ids)}), got n_val={n_val}", path)
    rng = np.random.default_rng(seed)
    val = sorted(ids[i] for i in rng.permutation(len(ids))[:n_val])
    train = [i for i in ids if i not in val]
    return Fold(fold=None, train=[files[i] for i in train], val=[files[i] for i in val], test=[],
                train_ids=train, val_ids=val, test_ids=[])


def _selection(metrics_files: list[str], cands: dict, selection: list[str] | None, folds: str, config: str | None,
               overrides: list[str] | None, n_seeds: int, out: Path, device: str) -> dict:
    """choose: validation: the per-fold scores (given, or trained here) -> neonas.training.selection's choice."""
    from neonas.training import selection as sel

    if not selection:
        from neonas.training.select import select_fold

        fold_ids = sorted({r["fold"] for c in cands.values() for r in c["runs"] if r["fold"] is not None})
        selection = []
        for f in fold_ids:
            select_fold(metrics_files, folds, f, n_seeds, config, overrides, str(out / "select" / f"fold{f}"), device)
            selection.append(str(out / "select" / f"fold{f}"))
    doc = sel.select(sel.read_scores(selection))
    unknown = sorted({c["arch_hash"] for c in doc["candidates"]} - set(cands))
    if unknown:
        raise NeonasError(f"the selection scores name architecture(s) {unknown} that none of the metrics.json files "
                          "given retrained; pass the same study's files")
    sel.write(out, doc)
    return doc


def _validation_score(out: Path, split, folds: str, device) -> dict:
    """The final model's own score: its validation infants at the kept epoch (model.pt holds those weights)."""
    from neonas.training.evaluate import load_model, load_split
    from neonas.training.score import report_on

    model, ckpt = load_model(out / "model.pt", device)
    ds = load_split(split, "val", folds, ckpt.get("config", {}).get("drop_artifacts", False))
    rep = report_on(model, ds, device)
    keep = ("kappa", "accuracy", "balanced_accuracy", "macro_f1", "per_class_recall", "per_class_f1", "n_epochs")
    return {"val_ids": list(split.val_ids), "best_epoch": ckpt["best_epoch"], "epochs_run": ckpt["epochs_run"],
            "monitor": ckpt["monitor"], **{k: rep[k] for k in keep}}


def fold_estimate(runs: list[dict]) -> dict:
    """The chosen architecture's mean test kappa over its fold runs: what the folds predict for this model."""
    from neonas.training.selection import t_interval

    mean, lo, hi = t_interval([r["kappa"] for r in runs])
    return {"kappa": mean, "ci_low": lo, "ci_high": hi, "n_runs": len(runs),
            "n_folds": len({r["fold"] for r in runs}), "n_seeds": len({r["seed"] for r in runs}),
            "note": "mean test kappa of this architecture retrained on the study's folds (other models, each "
                    "tested on its fold's held-out infants), not of this model"}


def flags(validation: dict, estimate: dict) -> list[str]:
    """Warnings about the final model: a validation kappa far under its fold estimate."""
    if validation["kappa"] < estimate["kappa"] - FAR_BELOW:
        return [f"the final model's validation kappa {validation['kappa']:.3f} (epoch {validation['best_epoch']} of "
                f"{validation['epochs_run']}, infants {', '.join(validation['val_ids'])}) is more than {FAR_BELOW} "
                f"under its architecture's fold estimate {estimate['kappa']:.3f} ({estimate['n_runs']} run(s)): "
                "its training may have gone wrong (history.csv), or the estimate flatters it"]
    return []


def final(metrics_files: list[str], folds: str, out: str, requested: str = "validation",
          yardstick: list[str] | None = None, config: str | None = None, overrides: list[str] | None = None,
          seed: int = 0, n_val: int = 1, val_seed: int = 0, device: str = "auto",
          selection: list[str] | None = None, selection_seeds: int = 3) -> dict:
    """Choose, train on all infants, write model.pt, history.csv, choice.json, metrics.json; return choice.json's dict."""
    import torch

    from neonas.torchutil import select_device
    from neonas.training.retrain import ArchChoice, load_config, retrain

    if requested not in CHOICES:
        raise NeonasError(f"unknown choice '{requested}' (expected one of {', '.join(CHOICES)})")
    cfg = load_config(config, overrides)
    split = final_split(folds, n_val, val_seed)
    cands = read_candidates(metrics_files)
    table = candidates_table(cands, {})
    out_dir, sel = Path(out), None
    if requested == "validation":
        sel = _selection(metrics_files, cands, selection, folds, config, overrides, selection_seeds, out_dir, device)
        scored = {c["arch_hash"]: c for c in sel["candidates"]}
        for r in table:
            r.update({k: scored.get(r["arch_hash"], {}).get(k) for k in
                      ("selection_kappa", "ci_low", "ci_high", "held_out_kappa", "optimism")})
            r["eligible"], r["chosen"] = r["arch_hash"] in scored, r["arch_hash"] == sel["arch_hash"]
        decision = {"requested": requested, "method": "validation", "fallback_reason": None,
                    "arch_hash": sel["arch_hash"], "sources": sel["sources"], "why": sel["why"], "note": None}
    else:
        yard, yard_reason = read_yardstick(yardstick or []) if requested == "yardstick" else ({}, None)
        table = candidates_table(cands, yard)
        decision = choose(table, requested, yard_reason)
    winner = cands[decision["arch_hash"]]
    if winner["model"] is None:
        raise NeonasError(f"architecture {winner['arch_hash']} won, but none of its metrics.json files has a "
                          "model.pt beside it (it stores the search space the architecture lives in)")
    ckpt = torch.load(winner["model"], map_location="cpu", weights_only=True)
    choice = ArchChoice(ckpt["arch"], ckpt["space"], winner["arch_hash"],
                        {"arm": decision["sources"].split(";")[0].split(":")[0], "final": True}, winner["model"])
    log.info("final: %s won (%s): %s; training on %d infants, early stopping on %s",
             winner["arch_hash"], decision["sources"], decision["why"], len(split.train_ids), split.val_ids)
    dev = select_device(device)
    retrain(choice, folds, None, seed, cfg, out, dev, {"chosen_by": decision["method"]}, do_evaluate=False,
            split=split)
    validation, estimate = _validation_score(out_dir, split, folds, dev), fold_estimate(winner["runs"])
    warnings = flags(validation, estimate)
    for w in warnings:
        log.warning("final: %s", w)
    doc = {**decision, "arch": winner["arch"], "space": ckpt["space"], "seed": seed,
           "train_ids": split.train_ids, "val_ids": split.val_ids, "val_seed": val_seed,
           "validation": validation, "fold_estimate": estimate, "warnings": warnings,
           "selection": None if sel is None else {k: sel[k] for k in ("optimism", "per_fold", "min_seeds")},
           "runs": winner["runs"], "candidates": sorted(table, key=lambda r: (not r["chosen"], -r["mean_kappa"],
                                                                            r["arch_hash"]))}
    write_text_atomic(out_dir / "choice.json", json.dumps(doc, indent=2) + "\n")
    # this model's own score, and its architecture's fold results (where `neonas export` looks for metrics)
    runs = [json.loads(Path(r["metrics"]).read_text()) for r in winner["runs"]]
    write_text_atomic(out_dir / "metrics.json", json.dumps({
        "kind": "final", "validation": validation, "fold_estimate": estimate, "warnings": warnings,
        "note": "'validation' is this model's (its early-stopping infants at the kept epoch); 'runs' are the test "
                "metrics of its architecture retrained on the study's folds, other models whose held-out infants "
                "this model trained on" + ("; chosen on them (choose: kappa), so optimistic"
                                           if decision["method"] == "kappa" else ""),
        "chosen_by": decision["method"], "runs": runs}, indent=2) + "\n")
    print(f"final model: {winner['arch_hash']} ({decision['sources']}), {decision['why']}; validation kappa "
          f"{validation['kappa']:.3f} at epoch {validation['best_epoch']}, fold estimate {estimate['kappa']:.3f} "
          f"-> {out_dir / 'model.pt'}" + "".join(f"\nWARNING: {w}" for w in warnings))
    return doc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.fromfile_prefix_chars = "@"  # `neonas final @args.txt`: arguments one per line (long studies)
    p.add_argument("--metrics", nargs="+", required=True, metavar="FILE",
                   help="metrics.json files of the study's retrained models (model.pt beside each): the candidates")
    p.add_argument("--folds", required=True, metavar="FOLDS.json",
                   help="the study's folds file: its infants (all of them) are the final model's training data")
    p.add_argument("--choose", choices=CHOICES, default="validation",
                   help="validation: best mean validation kappa over >= 3 selection seeds and the folds (no test "
                        "infant enters the choice); kappa: best mean test kappa over folds and seeds (optimistic); "
                        "yardstick: best mean score on the common yardstick (falls back to kappa, with the reason, "
                        "without yardstick files) (default: validation)")
    p.add_argument("--selection", nargs="*", default=[], metavar="PATH",
                   help="choose validation: scores.csv files of `neonas select` (or their folders), one per fold; "
                        "without them the selection trainings run here (DIR/select/)")
    p.add_argument("--selection-seeds", type=int, default=3, metavar="N",
                   help="choose validation, without --selection: selection seeds per candidate and fold (>= 3)")
    p.add_argument("--yardstick", nargs="*", default=[], metavar="PATH",
                   help="yardstick CSV files of `neonas yardstick`, or folders holding seed*/fold*.csv")
    p.add_argument("--config", metavar="RETRAIN.yaml", help="training settings, as for `neonas retrain`")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one training setting (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and batch order (default: 0)")
    p.add_argument("--n-val", type=int, default=1, help="whole infants held out for early stopping (default: 1)")
    p.add_argument("--val-seed", type=int, default=0, help="seed of the draw of validation infants (default: 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda[:N] (default: auto)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory: model.pt, history.csv, choice.json, metrics.json")


def run(args: argparse.Namespace) -> int:
    final(args.metrics, args.folds, args.out, args.choose, args.yardstick, args.config, args.set, args.seed,
          args.n_val, args.val_seed, args.device, args.selection, args.selection_seeds)
    return 0
