"""`neonas select`: the selection trainings of the final model on one fold (config `final.choose: validation`).

Every distinct architecture retrained on the fold (its candidates: every arm's top-k and the hand-designed net,
found from their metrics.json) is trained again from scratch with `--seeds N` selection seeds (0..N-1, N >= 3)
with the study's retrain recipe, and scored on the fold's validation infants at the epoch early stopping kept.
A large study has hundreds of candidates per fold (thesis.yaml: 20 arms x 10 seeds x top 3): `--max-candidates K`
keeps the K with the best mean validation kappa of their study runs (still no test infant), and the
hand-designed net always; the log names the ones left out.
A study run of the same architecture, fold, seed and recipe is reused, not trained twice. The test kappa of
each training is recorded too, but only to measure the choice afterwards (neonas.training.selection: the optimism).

Writes DIR/scores.csv (one row per candidate and seed) and DIR/<arch_hash>/seed<S>/ (model.pt, history.csv,
metrics.json) for the trainings it ran. Example:
  neonas select --metrics results/demo/retrain/*/*/seed*/fold0/rank*/metrics.json --folds results/demo/folds.json \\
      --fold 0 --seeds 3 --config results/demo/config/retrain.yaml --out results/demo/select/fold0
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
from dataclasses import asdict
from pathlib import Path

from neonas.errors import NeonasError
from neonas.io import read_json, write_text_atomic
from neonas.training.selection import MIN_SEEDS, SCORE_COLUMNS

log = logging.getLogger(__name__)


def fold_candidates(metrics_files: list[str], fold: int) -> dict[str, dict]:
    """The architectures retrained on `fold`, by hash: one model.pt (arch, space, search ids), their study runs
    by seed, and the arms that found them."""
    cands: dict[str, dict] = {}
    files = [f for name in metrics_files
             for f in (sorted(Path(name).glob("rank*/metrics.json")) if Path(name).is_dir() else [Path(name)])]
    for path in files:
        m = read_json(path, "metrics file not found")
        if "arch_hash" not in m:
            raise NeonasError("no 'arch_hash'; is this a metrics.json of `neonas retrain`?", path)
        meta = m.get("meta") or {}
        if meta.get("fold", m.get("fold")) != fold:
            continue
        c = cands.setdefault(m["arch_hash"], {"model": None, "runs": {}, "sources": set()})
        c["sources"].add(f"{meta.get('arm', '?')}:{meta.get('reward', '?')}")
        if path.with_name("model.pt").exists():
            c["model"] = c["model"] or str(path.with_name("model.pt"))
            c["runs"].setdefault(int(meta.get("seed", m.get("seed", -1))), path.parent)
    return cands


def shortlist(cands: dict[str, dict], k: int | None) -> dict[str, dict]:
    """The k candidates whose study runs score best on the validation infants (mean kappa at the kept epoch), plus
    the hand-designed net: the selection's seeds are then spent where they can change the choice. k None or 0,
    or no more candidates than k: all of them."""
    if not k or len(cands) <= k:
        return cands

    def screen(c: dict) -> float:
        scores = [_val_at_kept_epoch(run, read_json(run / "metrics.json", "metrics file not found")["best_epoch"])
                  ["val_kappa"] for run in c["runs"].values()]
        return sum(scores) / len(scores) if scores else float("-inf")

    ranked = sorted(cands, key=lambda h: (-screen(cands[h]), h))
    keep = set(ranked[:k]) | {h for h, c in cands.items() if any(s.startswith("handcrafted:") for s in c["sources"])}
    left = [h for h in ranked if h not in keep]
    log.info("shortlist: %d of %d candidates by their study runs' validation kappa (--max-candidates %d, and the "
             "hand-designed net); left out: %s", len(keep), len(cands), k, ", ".join(left))
    return {h: cands[h] for h in sorted(keep)}


def _val_at_kept_epoch(run: Path, best_epoch: int) -> dict:
    """The validation scores of the kept weights: history.csv's row of the kept epoch."""
    with open(run / "history.csv", newline="") as fh:
        rows = {int(r["epoch"]): r for r in csv.DictReader(fh)}
    if best_epoch not in rows:
        raise NeonasError(f"history.csv has no row for the kept epoch {best_epoch}", run / "history.csv")
    r = rows[best_epoch]
    return {"val_kappa": float(r["val_kappa"]), "val_accuracy": float(r["val_accuracy"]),
            "val_macro_f1": float(r["val_macro_f1"]), "epochs_run": len(rows)}


def _trained(run: Path, arch_hash: str, fold: int, seed: int, cfg) -> bool:
    """Is `run` a finished training of this architecture, fold, seed and recipe (the study's own run, or one that an
    earlier, killed or preempted, select job finished)? metrics.json is written last, after model.pt; training is
    deterministic, so reusing it gives what training again would."""
    import torch

    if not (run / "metrics.json").exists() or not (run / "model.pt").exists():
        return False
    ckpt = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
    return (ckpt.get("arch_hash"), ckpt.get("fold"), ckpt.get("seed"), ckpt.get("config")) == \
        (arch_hash, fold, seed, asdict(cfg))


def select_fold(metrics_files: list[str], folds: str, fold: int, n_seeds: int, config: str | None,
                overrides: list[str] | None, out: str, device: str = "auto",
                max_candidates: int | None = None) -> list[dict]:
    """Train and score every candidate of the fold with n_seeds seeds; write scores.csv; return its rows."""
    import torch

    from neonas.torchutil import select_device
    from neonas.training.retrain import ArchChoice, load_config, retrain

    if n_seeds < MIN_SEEDS:
        raise NeonasError(f"--seeds {n_seeds}: the selection needs >= {MIN_SEEDS} seeds per candidate (the best of "
                          "fewer noisy scores is the luckiest architecture, not the best)")
    cfg = load_config(config, overrides)
    cands = fold_candidates(metrics_files, fold)
    if max_candidates is not None and max_candidates < 1:
        raise NeonasError(f"--max-candidates {max_candidates}: keep at least 1 candidate (or leave it out: all)")
    if not cands:
        raise NeonasError(f"no retrained architecture of fold {fold} among the {len(metrics_files)} metrics.json "
                          "files given (run the study's retrain jobs of this fold first)")
    cands = shortlist(cands, max_candidates)
    out, dev, rows = Path(out), select_device(device), []
    for h in sorted(cands):
        c = cands[h]
        if c["model"] is None:
            raise NeonasError(f"architecture {h} of fold {fold} has no model.pt beside its metrics.json (it stores "
                              "the search space the architecture lives in)")
        ckpt = torch.load(c["model"], map_location="cpu", weights_only=True)
        choice = ArchChoice(ckpt["arch"], ckpt["space"], h, {"selection": True}, c["model"],
                            list(ckpt.get("search_ids", [])))
        for seed in range(n_seeds):
            study_run = c["runs"].get(seed)
            reused = study_run is not None and _trained(study_run, h, fold, seed, cfg)
            run = study_run if reused else out / h / f"seed{seed}"
            if not reused and _trained(run, h, fold, seed, cfg):  # a restarted job keeps what it finished
                log.info("select fold %d: %s seed %d finished by an earlier job (%s): kept", fold, h, seed, run)
            elif not reused:
                retrain(choice, folds, fold, seed, cfg, str(run), dev, {"selection_seed": seed})
            m = read_json(run / "metrics.json", "metrics file not found")
            ran = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
            rows.append({"fold": fold, "arch_hash": h, "seed": seed, **_val_at_kept_epoch(run, ran["best_epoch"]),
                         "best_epoch": ran["best_epoch"], "test_kappa": m["kappa"],
                         "sources": ";".join(sorted(c["sources"])), "val_ids": " ".join(ran["val_ids"]),
                         "test_ids": " ".join(ran["test_ids"]), "reused": int(reused)})
            log.info("select fold %d: %s seed %d: validation kappa %.4f at epoch %d%s", fold, h, seed,
                     rows[-1]["val_kappa"], m["best_epoch"], " (the study's own run)" if reused else "")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SCORE_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(out / "scores.csv", buf.getvalue())
    print(f"fold {fold}: {len(cands)} candidates x {n_seeds} seeds scored on the validation infants -> "
          f"{out / 'scores.csv'}")
    return rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.fromfile_prefix_chars = "@"
    p.add_argument("--metrics", nargs="+", required=True, metavar="FILE",
                   help="metrics.json files of the study's retrained models, or retrain job folders holding "
                        "rank*/metrics.json; those of --fold are the candidates")
    p.add_argument("--folds", required=True, metavar="FOLDS.json", help="the study's folds file")
    p.add_argument("--fold", required=True, type=int, help="train on this fold's training infants, score on its "
                   "validation infants")
    p.add_argument("--seeds", type=int, default=MIN_SEEDS, help=f"selection seeds 0..N-1 (>= {MIN_SEEDS}; "
                   f"default {MIN_SEEDS})")
    p.add_argument("--max-candidates", type=int, metavar="K", help="train only the K candidates whose study runs "
                   "score best on the validation infants, plus the hand-designed net (default: every candidate)")
    p.add_argument("--config", metavar="RETRAIN.yaml", help="the study's retrain recipe, as for `neonas retrain`")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one recipe key (repeatable)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda[:N] (default: auto)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory: scores.csv and the trainings")


def run(args: argparse.Namespace) -> int:
    select_fold(args.metrics, args.folds, args.fold, args.seeds, args.config, args.set, args.out, args.device,
                args.max_candidates)
    return 0

