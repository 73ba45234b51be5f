"""The final model of a study: the chosen architecture, trained on every infant of the cohort.

Cross-validation (retrain + evaluate on held-out infants) measures how well each architecture generalises;
the model people use is then trained once more on all infants. Which architecture:

- `--choose kappa`: the best mean test Cohen's kappa over folds and seeds among the retrained architectures
  (their metrics.json files; the random-search and hand-designed arms are candidates too).
- `--choose yardstick`: the best mean score on the common yardstick (`neonas yardstick` CSV files: every
  arm's architectures scored on one uniformly trained supernet), among the retrained architectures that
  have one. Without yardstick files it falls back to kappa and says why (log and choice.json).

A few whole infants (`--n-val`, drawn with `--val-seed`) are held out for early stopping, as in every
retraining; there are no test infants, so the model's metrics are those of its architecture's folds
(choice.json), and they are optimistic by the choice itself: the winner was picked on them.

Writes DIR/model.pt and DIR/history.csv (the code of `neonas retrain`), DIR/choice.json (the architecture,
why, and the table of candidates) and DIR/metrics.json ({"runs": [...]}: the chosen architecture's metrics.json
from the folds, for the model card). `neonas export --model DIR/model.pt` makes its TorchScript form and model
card; the workflow rule does both (docs/retrain.md, "The final model").

Example:
  neonas final --metrics results/demo/retrain/*/*/seed*/fold*/rank*/metrics.json \\
      --folds results/demo/folds.json --config results/demo/config/retrain.yaml --out results/demo/final
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

CHOICES = ("kappa", "yardstick")
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


def final(metrics_files: list[str], folds: str, out: str, requested: str = "kappa",
          yardstick: list[str] | None = None, config: str | None = None, overrides: list[str] | None = None,
          seed: int = 0, n_val: int = 1, val_seed: int = 0, device: str = "auto") -> dict:
    """Choose, train on all infants, write model.pt, history.csv and choice.json; return choice.json's dict."""
    import torch

    from neonas.torchutil import select_device
    from neonas.training.retrain import ArchChoice, load_config, retrain

    if requested not in CHOICES:
        raise NeonasError(f"unknown choice '{requested}' (expected one of {', '.join(CHOICES)})")
    cfg = load_config(config, overrides)
    split = final_split(folds, n_val, val_seed)
    cands = read_candidates(metrics_files)
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
    retrain(choice, folds, None, seed, cfg, out, select_device(device), {"chosen_by": decision["method"]},
            do_evaluate=False, split=split)
    doc = {**decision, "arch": winner["arch"], "space": ckpt["space"], "seed": seed,
           "train_ids": split.train_ids, "val_ids": split.val_ids, "val_seed": val_seed,
           "runs": winner["runs"], "candidates": sorted(table, key=lambda r: (not r["chosen"], -r["mean_kappa"],
                                                                            r["arch_hash"]))}
    write_text_atomic(Path(out) / "choice.json", json.dumps(doc, indent=2) + "\n")
    # the architecture's cross-validation results, where `neonas export` looks for a model's test metrics
    runs = [json.loads(Path(r["metrics"]).read_text()) for r in winner["runs"]]
    write_text_atomic(Path(out) / "metrics.json", json.dumps({
        "note": "test metrics of this architecture retrained on the folds of the study (not of this model, which "
                "was trained on every infant); optimistic when it was chosen on them (choose: kappa)",
        "chosen_by": decision["method"], "runs": runs}, indent=2) + "\n")
    print(f"final model: {winner['arch_hash']} ({decision['sources']}), {decision['why']} -> {Path(out) / 'model.pt'}")
    return doc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.fromfile_prefix_chars = "@"  # `neonas final @args.txt`: arguments one per line (long studies)
    p.add_argument("--metrics", nargs="+", required=True, metavar="FILE",
                   help="metrics.json files of the study's retrained models (model.pt beside each): the candidates")
    p.add_argument("--folds", required=True, metavar="FOLDS.json",
                   help="the study's folds file: its infants (all of them) are the final model's training data")
    p.add_argument("--choose", choices=CHOICES, default="kappa",
                   help="kappa: best mean test kappa over folds and seeds; yardstick: best mean score on the "
                        "common yardstick (falls back to kappa, with the reason, without yardstick files) (default: kappa)")
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
          args.n_val, args.val_seed, args.device)
    return 0
