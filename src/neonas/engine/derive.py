"""Pick the architectures a finished search recommends.

Samples M architectures from the search's final sampler (the controller's policy, the uniform sampler of a
random search, or evolution's last population; sampler.propose), scores every one on the WHOLE validation set with the shared weights, and keeps
the K best distinct architectures (ENAS derives its final child the same way). An architecture that
predicts one class for every validation epoch (`constant`) is never among them. The validation
infants are those of the search's fold (read again through the folds file named in final.pt); test
infants are never read. A search with the stand-alone estimator has no shared weights: its children were
trained alone, and derive ranks them by the highest rung they reached, then by its score (`from_children`).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
from pathlib import Path

import torch
from tqdm import tqdm

from neonas.config import from_dict, to_dict
from neonas.engine.search import Search, SearchConfig
from neonas.engine.space import arch_hash, canonical
from neonas.errors import NeonasError
from neonas.store.data import load_infants
from neonas.store.splits import load_fold
from neonas.torchutil import select_device

log = logging.getLogger("neonas.engine.derive")


def derive(run: str | os.PathLike, samples: int = 100, top_k: int = 3, seed: int = 0,
           folds: str | os.PathLike | None = None, device: str = "auto") -> dict:
    if samples < 1 or top_k < 1:
        raise NeonasError(f"--samples and --top-k must be >= 1, got {samples} and {top_k}")
    run = Path(run)
    final_path = run / "final.pt"
    if not final_path.exists():
        raise NeonasError("has no final.pt; run `neonas search` to the end first", run)
    try:
        final = torch.load(final_path, map_location="cpu", weights_only=False)
        # runs of a neonas before space.skip_bn were searched without BN after the skip sum
        final["config"].setdefault("space", {}).setdefault("skip_bn", False)
        cfg = from_dict(SearchConfig, final["config"])
    except (OSError, RuntimeError, KeyError, NeonasError) as err:
        raise NeonasError(f"not a neonas search result ({err})", final_path) from None
    split = load_fold(folds or final["folds"], final["fold"])
    if split.val_ids != final["val_ids"]:
        raise NeonasError(f"fold {final['fold']} now has validation infants {split.val_ids}, but the search used "
                          f"{final['val_ids']}; pass the folds file of the search with --folds", folds or final["folds"])
    val = load_infants(split.val, drop_artifacts=cfg.training.drop_artifacts)
    if (val.ch_names, val.label_names, val.n_samples) != (final["ch_names"], final["label_names"], final["n_samples"]):
        raise NeonasError("validation data do not match the search's channels, labels or epoch length",
                          split.val[0])
    if final.get("estimator", "supernet") != "supernet":
        return from_children(run, cfg, final, top_k, seed, folds)
    dev = select_device(device)
    # a Search on the validation infants only: it holds the supernet, the scoring code and the final sampler
    # (its choices are those of the search's montage: search.decisions, no dead ops)
    search = Search(cfg, val, val, final["seed"], dev)
    search.supernet.load_state_dict(final["supernet"])
    search.sampler.load_state_dict(final.get("sampler_state") or {"controller": final["controller"]})
    gen = torch.Generator().manual_seed(seed)
    sampled = []
    for _ in tqdm(range(samples), desc="derive", unit="arch", disable=None):
        arch = canonical(search.decode(search.sampler.propose(gen)))
        sampled.append({"hash": arch_hash(arch), "arch": arch, "supernet_metric": None})
    scores: dict[str, tuple[float, bool]] = {}
    for item in sampled:  # score each distinct architecture once
        if item["hash"] not in scores:
            scores[item["hash"]] = search.score(item["arch"], full=True)
        item["supernet_metric"], item["constant"] = scores[item["hash"]]
    ranked, seen = [], set()
    for item in sorted(sampled, key=lambda it: -it["supernet_metric"]):  # stable: ties keep sampling order
        if item["hash"] not in seen and not item["constant"]:
            seen.add(item["hash"])
            ranked.append(item)
    n_constant = sum(c for _, c in scores.values())
    if n_constant:
        log.warning("%d of %d distinct sampled architectures predict one class for every validation epoch; "
                    "never derived", n_constant, len(scores))
    if not ranked:
        raise NeonasError(f"every one of the {len(scores)} distinct sampled architectures predicts one class for "
                          "every validation epoch: the shared weights separate no classes (train longer, or check "
                          "the data)", run)
    top = [{"rank": r, **item} for r, item in enumerate(ranked[:top_k])]
    log.info("scored %d sampled architectures (%d distinct) on %d validation epochs; best %s %.4f (%s)",
             samples, len(scores), len(val), cfg.reward.metric, top[0]["supernet_metric"], top[0]["hash"])
    return {"run": str(run), "metric_name": cfg.reward.metric, "n_sampled": samples, "sampled": sampled, "top": top,
            "sampler": cfg.sampler, "seed": seed, "space": to_dict(cfg.space), "folds": str(folds or final["folds"]),
            "fold": final["fold"]}


def from_children(run: Path, cfg: SearchConfig, final: dict, top_k: int, seed: int, folds) -> dict:
    """A search whose estimator trained its children alone: rank its distinct children by the highest rung they
    reached, then by that rung's score (children.csv); never a constant one. `supernet_metric` holds the score
    (the key the commands downstream read), `rung` the epochs it was trained for."""
    best: dict[str, dict] = {}
    rows = read_children(run / "children.csv")
    for row in rows:
        item = {"hash": row["arch_hash"], "arch": canonical(json.loads(row["arch"])), "rung": int(row["rung"]),
                "supernet_metric": float(row["metric"]), "constant": row["constant"] == "1"}
        old = best.get(item["hash"])
        if old is None or item["rung"] > old["rung"]:
            best[item["hash"]] = item
    ranked = sorted((it for it in best.values() if not it["constant"]),
                    key=lambda it: (-it["rung"], -it["supernet_metric"]))  # stable: ties keep the order sampled
    if not ranked:
        raise NeonasError(f"none of the {len(best)} distinct children of this search separates classes", run)
    top = [{"rank": r, **item} for r, item in enumerate(ranked[:top_k])]
    log.info("ranked %d distinct children of a %s search by rung, then %s; best %.4f at rung %d (%s)", len(best),
             cfg.estimator, cfg.reward.metric, top[0]["supernet_metric"], top[0]["rung"], top[0]["hash"])
    return {"run": str(run), "metric_name": cfg.reward.metric, "n_sampled": len(rows), "sampled": list(best.values()),
            "top": top, "sampler": cfg.sampler, "estimator": cfg.estimator, "seed": seed, "space": to_dict(cfg.space),
            "folds": str(folds or final["folds"]), "fold": final["fold"]}


def read_children(path: Path) -> list[dict]:
    if not path.exists():
        raise NeonasError("not found: derive ranks a stand-alone search by its children", path)
    with path.open() as f:
        return list(csv.DictReader(f))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a finished `neonas search` directory")
    p.add_argument("--samples", type=int, default=100, metavar="M",
                   help="architectures to sample from the final policy (default: 100)")
    p.add_argument("--top-k", type=int, default=3, metavar="K",
                   help="how many of the best distinct architectures to keep (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling (default: 0)")
    p.add_argument("--folds", metavar="FOLDS.json",
                   help="folds file, if it moved since the search (default: the path recorded by the search)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--out", required=True, metavar="derived.json", help="where to write the result")
    # the command itself (with re-ranking by stand-alone training) is neonas.training.rerank
