"""Pick the architectures a finished search recommends.

Samples M architectures from the trained controller's final policy (or from the uniform sampler for a
random-search run), scores every one on the WHOLE validation set with the shared weights, and keeps
the K best distinct architectures (ENAS derives its final child the same way). An architecture that
predicts one class for every validation epoch (`constant`) is never among them. The validation
infants are those of the search's fold (read again through the folds file named in final.pt); test
infants are never read.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch
from tqdm import tqdm

from neonas.config import from_dict, to_dict
from neonas.engine.controller import Controller
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
    dev = select_device(device)
    # a Search on the validation infants only: it holds the supernet and the scoring code
    search = Search(cfg, val, val, final["seed"], dev)
    search.supernet.load_state_dict(final["supernet"])
    if final["controller"] is not None:  # the choices of the search's montage (search.decisions: no dead ops)
        sampler = Controller(search.decisions, cfg.controller).to(dev)
        sampler.load_state_dict(final["controller"])
        sampler.eval()
    else:
        sampler = search.uniform
    gen = torch.Generator().manual_seed(seed)
    sampled = []
    for _ in tqdm(range(samples), desc="derive", unit="arch", disable=None):
        with torch.no_grad():
            arch = canonical(search.decode(sampler.sample(gen).choices))
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
