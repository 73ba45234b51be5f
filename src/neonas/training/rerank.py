"""Sample architectures from a trained search, keep the best on validation, and (optionally) re-rank them
by short stand-alone training.

Step 1 (neonas.engine.derive): M architectures are sampled from the final policy (or uniformly, for a
random search) and scored on the WHOLE validation set with the shared weights; the K best distinct ones
are kept. The shared weights rank architectures poorly in the default space (issue 16), hence

Step 2 (`--rerank halving`, successive halving): the C best distinct candidates by that supernet score are
each trained FROM SCRATCH for E epochs on the fold's training infants (retrain's training loop and recipe,
one seed for all) and scored on its validation infants with the search's reward metric (the weights that
retrain's early stopping would keep). The best 1/eta go on to a round with twice the epochs, until K
remain; those K are ranked by the last round's score. 16 -> 4 -> 1 with E = 5 trains 16 x 5 + 4 x 10 = 120
child-epochs. The test infants are never read. derived.json then holds every round's scores, the seconds
and the child-epochs spent (`rerank`), and the supernet's own top-K (`top_supernet`); `top` is the
re-ranked list that `neonas retrain --arch derived.json --rank R` reads. The default is none: on DREAMS,
leave one subject out, re-ranking did not improve the retrained rank 0 (docs/search.md, studies/dreams_loso.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Literal

import torch

from neonas.engine import derive as engine_derive
from neonas.errors import NeonasError
from neonas.io import write_text_atomic
from neonas.metrics import classification_report
from neonas.store.splits import load_fold
from neonas.torchutil import seed_everything, select_device
from neonas.training.evaluate import load_split, make_model, predict
from neonas.training.retrain import RetrainConfig, load_config, train

log = logging.getLogger(__name__)

METHODS = ("none", "halving")
DEFAULT_METHOD = "none"  # measured on DREAMS leave-one-subject-out (studies/dreams_loso.py, docs/search.md)


@dataclass
class RerankConfig:
    """Successive halving over the supernet's best candidates (study config key `derive.rerank`)."""

    method: Literal["none", "halving"] = DEFAULT_METHOD
    candidates: int = 16  # C: the supernet's best distinct architectures that enter the first round
    epochs: int = 5  # E: stand-alone training epochs of the first round; doubled every round
    eta: int = 4  # keep the best 1/eta of a round (at least top_k)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"rerank method must be one of {METHODS}, got {self.method!r}")
        if self.candidates < 1 or self.epochs < 1 or self.eta < 2:
            raise ValueError(f"rerank needs candidates >= 1, epochs >= 1 and eta >= 2, got {self.candidates}, "
                             f"{self.epochs} and {self.eta}")


def planned_child_epochs(cfg: RerankConfig, n_candidates: int, top_k: int) -> int:
    """Stand-alone training epochs that re-ranking n_candidates down to top_k costs (0 for method none)."""
    if cfg.method == "none":
        return 0
    n, epochs, total = min(n_candidates, cfg.candidates), cfg.epochs, 0
    while True:
        total += n * epochs
        n = max(top_k, math.ceil(n / cfg.eta))
        if n <= top_k:
            return total
        epochs *= 2


def ranked_candidates(doc: dict) -> list[dict]:
    """derive's distinct, non-constant sampled architectures, best supernet score first (ties: sampling order)."""
    out, seen = [], set()
    for item in sorted(doc["sampled"], key=lambda it: -it["supernet_metric"]):
        if item["hash"] not in seen and not item.get("constant"):
            seen.add(item["hash"])
            out.append(item)
    return out


def rerank(doc: dict, top_k: int, cfg: RerankConfig, seed: int = 0, device: torch.device | None = None,
           train_cfg: RetrainConfig | None = None) -> dict:
    """Re-rank a derived.json document by successive halving; return the new document (see the module doc)."""
    device = device or torch.device("cpu")
    train_cfg = train_cfg or RetrainConfig()
    metric = doc["metric_name"]
    fold = load_fold(doc["folds"], doc["fold"])
    tr = load_split(fold, "train", doc["folds"], train_cfg.drop_artifacts)
    va = load_split(fold, "val", doc["folds"], train_cfg.drop_artifacts)  # test infants: never loaded
    survivors = ranked_candidates(doc)[:cfg.candidates]
    rounds, epochs, child_epochs, t_start = [], cfg.epochs, 0, time.perf_counter()
    while True:
        t0 = time.perf_counter()
        # every candidate: one from-scratch run of retrain's loop, no early stop within the round's budget
        # the recipe's warm-up at the round's length (null: min(5, epochs // 2), neonas.training.recipe)
        rcfg = replace(train_cfg, epochs=epochs, patience=epochs, monitor=metric,
                       min_epochs=None if train_cfg.min_epochs is None else min(train_cfg.min_epochs, epochs))
        scored = []
        for item in survivors:
            seed_everything(seed)
            model = make_model(item["arch"], doc["space"], tr.n_channels, tr.n_samples, tr.n_classes,
                               tr.sfreq).to(device)
            state, history, best_epoch = train(model, tr, va, rcfg, device, seed)
            model.load_state_dict(state)
            score = classification_report(va.y, predict(model, va.x, device).argmax(1), va.label_names)[metric]
            child_epochs += len(history)
            scored.append({"hash": item["hash"], "score": float(score), "supernet_metric": item["supernet_metric"],
                           "best_epoch": best_epoch})
        order = sorted(range(len(survivors)), key=lambda i: -scored[i]["score"])  # stable: ties keep the order
        rounds.append({"epochs": epochs, "seconds": round(time.perf_counter() - t0, 3), "candidates": scored})
        log.info("re-rank round %d: %d candidates x %d epochs, best %s %.4f (%s), %.1f s", len(rounds),
                 len(survivors), epochs, metric, scored[order[0]]["score"], scored[order[0]]["hash"],
                 rounds[-1]["seconds"])
        keep = max(top_k, math.ceil(len(survivors) / cfg.eta))
        last_scores = {scored[i]["hash"]: scored[i]["score"] for i in order}
        survivors = [survivors[i] for i in order[:keep]]
        if keep <= top_k:
            break
        epochs *= 2
    top = [{"rank": r, **item, "rerank_metric": last_scores[item["hash"]]} for r, item in enumerate(survivors)]
    seconds = round(time.perf_counter() - t_start, 3)
    log.info("re-ranked %d candidates in %d round(s): %d child-epochs, %.1f s; rank 0 %s (supernet rank %d)",
             len(rounds[0]["candidates"]), len(rounds), child_epochs, seconds, top[0]["hash"],
             [c["hash"] for c in ranked_candidates(doc)].index(top[0]["hash"]))
    return {**doc, "top": top, "top_supernet": doc["top"],
            "rerank": {**asdict(cfg), "metric": metric, "seed": seed, "rounds": rounds, "child_epochs": child_epochs,
                       "seconds": seconds, "train_config": asdict(train_cfg)}}


def derive_and_rerank(run: str, samples: int, top_k: int, seed: int, folds: str | None, device: str,
                      cfg: RerankConfig, train_cfg: RetrainConfig | None = None) -> dict:
    doc = engine_derive.derive(run, samples, top_k, seed, folds, device)
    if cfg.method == "none":
        return {**doc, "rerank": {**asdict(cfg), "child_epochs": 0, "seconds": 0.0}}
    return rerank(doc, top_k, cfg, seed, select_device(device), train_cfg)


def add_arguments(p: argparse.ArgumentParser) -> None:
    engine_derive.add_arguments(p)
    d = RerankConfig()
    p.add_argument("--rerank", choices=METHODS, default=d.method,
                   help="none = rank by the shared weights only; halving = re-rank the supernet's best candidates "
                   f"by short stand-alone training with successive halving (default: {d.method}, see docs/search.md)")
    p.add_argument("--rerank-candidates", type=int, default=d.candidates, metavar="C",
                   help=f"the supernet's best distinct architectures that enter re-ranking (default: {d.candidates})")
    p.add_argument("--rerank-epochs", type=int, default=d.epochs, metavar="E",
                   help=f"stand-alone training epochs of the first round, doubled each round (default: {d.epochs})")
    p.add_argument("--rerank-eta", type=int, default=d.eta, metavar="ETA",
                   help=f"keep the best 1/ETA of each round, at least --top-k (default: {d.eta})")
    p.add_argument("--rerank-config", metavar="RETRAIN.yaml", help="the training recipe of re-ranking (keys of "
                   "`neonas retrain --config`; epochs, patience and monitor are set by re-ranking); default: retrain's")
    p.add_argument("--rerank-set", action="append", metavar="KEY=VALUE",
                   help="override one key of that recipe, e.g. --rerank-set batch_size=32 (repeatable)")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = RerankConfig(args.rerank, args.rerank_candidates, args.rerank_epochs, args.rerank_eta)
    except ValueError as err:
        raise NeonasError(f"--rerank options: {err}") from None
    train_cfg = load_config(args.rerank_config, args.rerank_set)
    doc = derive_and_rerank(args.run, args.samples, args.top_k, args.seed, args.folds, args.device, cfg, train_cfg)
    write_text_atomic(args.out, json.dumps(doc, indent=2) + "\n")
    for item in doc["top"]:
        extra = f"  re-ranked {doc['metric_name']} {item['rerank_metric']:.4f}" if "rerank_metric" in item else ""
        print(f"rank {item['rank']}: {doc['metric_name']} {item['supernet_metric']:.4f}{extra}  {item['hash']}")
    if doc["rerank"]["child_epochs"]:
        print(f"re-ranking: {doc['rerank']['child_epochs']} child-epochs, {doc['rerank']['seconds']:.1f} s")
    return 0
