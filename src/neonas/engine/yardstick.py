"""Score every arm of one seed x fold on ONE common yardstick: the reference supernet.

Children's accuracy during a search is measured on the arm's own supernet, which was trained on that
arm's own samples: a controller that samples architectures its supernet happens to favour looks good on
that supernet alone. To compare arms, neonas scores each arm's final policy (the M samples its derive
drew, `sampled` in derived.json) and its derived top-k on the shared weights of the *random* arm's
final.pt of the same seed and fold (trained with uniform sampling, so no architecture is favoured), on
the validation infants. The random arm's own samples (M uniform architectures) and its top-k (the best
of those M by the same weights) are the reference row.

Also a sanity check of the supernet itself: homogeneous nets (every layer the same conv: span 2 x
dilation `pair_offset` = interhemispheric pairs, span 2 x dilation 1 = neighbours, span 1 = single
channels), scored with the same weights, with per-class recall. If the pair net is no better than the
others there, the planted cue is invisible to the search, whatever the controller does.

    neonas yardstick --reference search/random/uniform/seed0/fold0 \\
        --runs search/nas/*/seed0/fold0 --out yardstick/seed0/fold0.csv \\
        --sanity yardstick/seed0/fold0_sanity.csv

Output columns (docs/contracts.md): arm, setting, seed, fold, source (policy | top), rank, arch_hash,
arch, metric_name, metric, constant (1 when the net predicts one class for every validation epoch).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neonas import metrics as M
from neonas.config import from_dict, to_dict
from neonas.engine.search import Search, SearchConfig
from neonas.engine.space import arch_hash, arch_json, canonical, op_choices, validate_arch
from neonas.errors import NeonasError
from neonas.io import write_text_atomic
from neonas.store.data import load_infants
from neonas.store.splits import load_fold
from neonas.torchutil import select_device

log = logging.getLogger("neonas.engine.yardstick")

COLUMNS = ["arm", "setting", "seed", "fold", "source", "rank", "arch_hash", "arch", "metric_name", "metric",
           "constant"]
CURVE_COLUMNS = ["arm", "setting", "seed", "fold", "epoch", "n", "metric_name", "mean", "top10", "constant_share"]
#: homogeneous nets of the sanity check: name -> (span, channel dilation); None = the planted pair offset
HOMOGENEOUS = {"pair": (2, None), "adjacent": (2, 1), "single": (1, 1)}
PAIR_OFFSET = 4  # homologous electrodes of the neonatal montage (docs/contracts.md)


def _read_final(run: Path) -> tuple[dict, SearchConfig]:
    path = run / "final.pt"
    if not path.exists():
        raise NeonasError("has no final.pt; run `neonas search` to the end first", run)
    try:
        final = torch.load(path, map_location="cpu", weights_only=False)
        return final, from_dict(SearchConfig, final["config"])
    except (OSError, RuntimeError, KeyError, NeonasError) as err:
        raise NeonasError(f"not a neonas search result ({err})", path) from None


def run_identity(run: Path, final: dict) -> tuple[str, str]:
    """(arm, setting) of a run directory laid out as .../{arm}/{setting}/seed{S}/fold{F} (the workflow's),
    else from the sampler and the reward name."""
    parts = run.resolve().parts
    if len(parts) >= 4 and re.fullmatch(r"seed\d+", parts[-2]) and re.fullmatch(r"fold\d+", parts[-1]):
        return parts[-4], parts[-3]
    if final["sampler"] == "random":
        return "random", "uniform"
    return "nas", final["config"]["reward"]["name"]


def _derived(run: Path) -> dict:
    path = run / "derived.json"
    try:
        doc = json.loads(path.read_text())
        doc["sampled"], doc["top"]  # noqa: B018 - the keys this command needs
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise NeonasError(f"needs the run's derived.json from `neonas derive` ({err})", path) from None
    return doc


class Yardstick:
    """The reference supernet on the validation infants of its fold, with a cache of scores by hash."""

    def __init__(self, reference: str | os.PathLike, folds: str | os.PathLike | None = None,
                 metric: str | None = None, device: str = "auto"):
        self.path = Path(reference)
        self.final, self.cfg = _read_final(self.path)
        if self.final["sampler"] != "random":
            raise NeonasError("the reference supernet must come from a random-search run (sampler: random, "
                              f"uniform sampling); this run used sampler {self.final['sampler']!r}", self.path)
        self.metric = metric or self.cfg.reward.metric
        if self.metric not in M.METRICS:
            raise NeonasError(f"--metric must be one of {sorted(M.METRICS)}, got {self.metric!r}")
        split = load_fold(folds or self.final["folds"], self.final["fold"])
        if split.val_ids != self.final["val_ids"]:
            raise NeonasError(f"fold {self.final['fold']} now has validation infants {split.val_ids}, but the "
                              f"reference search used {self.final['val_ids']}; pass its folds file with --folds",
                              folds or self.final["folds"])
        val = load_infants(split.val, drop_artifacts=self.cfg.training.drop_artifacts)
        self.search = Search(self.cfg, val, val, self.final["seed"], select_device(device))
        self.search.supernet.load_state_dict(self.final["supernet"])
        self.y = val.y
        self.label_names = list(val.label_names)
        self.n_classes = len(self.label_names)
        self.seed, self.fold = int(self.final["seed"]), int(self.final["fold"])
        self.space = to_dict(self.cfg.space)
        self.cache: dict[str, tuple[float, int, np.ndarray]] = {}

    def check_run(self, run: Path, final: dict) -> None:
        """A run is comparable when it searched the same space on the same seed, fold and validation infants."""
        theirs = (int(final["seed"]), int(final["fold"]), final["val_ids"], final["config"]["space"])
        ours = (self.seed, self.fold, self.final["val_ids"], self.space)
        for name, a, b in zip(("seed", "fold", "validation infants", "search space"), theirs, ours, strict=True):
            if a != b:
                raise NeonasError(f"has {name} {a!r} but the reference supernet {self.path} has {b!r}; the "
                                  "yardstick compares runs of one seed and fold over one space", run)

    def score(self, arch: dict) -> tuple[float, int, np.ndarray]:
        """(metric, constant flag, confusion matrix) of `arch` with the reference weights."""
        arch = canonical(arch)
        h = arch_hash(arch)
        if h not in self.cache:
            validate_arch(arch, self.cfg.space)
            pred = self.search.predict(arch, self.search.x_val)
            cm = M.confusion_matrix(self.y, pred, self.n_classes)
            self.cache[h] = (M.METRICS[self.metric](cm), int(len(np.unique(pred)) == 1), cm)
        return self.cache[h]

    def rows(self, arm: str, setting: str, derived: dict) -> list[dict]:
        out = []
        for source, items in (("policy", derived["sampled"]), ("top", derived["top"])):
            for i, item in enumerate(items):
                value, constant, _ = self.score(item["arch"])
                out.append({"arm": arm, "setting": setting, "seed": self.seed, "fold": self.fold, "source": source,
                            "rank": int(item.get("rank", i)) if source == "top" else i,
                            "arch_hash": arch_hash(canonical(item["arch"])), "arch": arch_json(canonical(item["arch"])),
                            "metric_name": self.metric, "metric": value, "constant": constant})
        return out

    def curve(self, arm: str, setting: str, run: Path, per_epoch: int | None = None) -> list[dict]:
        """Per search epoch: the children the arm sampled then (its policy at that epoch), on the yardstick.

        `per_epoch` scores only the first N children of each epoch: they are independent samples of that
        epoch's policy, so the subsample is unbiased, and a 200-children epoch costs N scorings, not 200."""
        import pandas as pd

        children = pd.read_csv(run / "children.csv", usecols=["epoch", "arch"])
        out = []
        for epoch, group in children.groupby("epoch", sort=True):
            if per_epoch is not None:
                group = group.iloc[:per_epoch]
            scored = [self.score(json.loads(a))[:2] for a in group["arch"]]
            values = np.array([s[0] for s in scored])
            out.append({"arm": arm, "setting": setting, "seed": self.seed, "fold": self.fold, "epoch": int(epoch),
                        "n": len(values), "metric_name": self.metric, "mean": float(values.mean()),
                        "top10": top_share_mean(values), "constant_share": float(np.mean([s[1] for s in scored]))})
        return out

    def sanity(self, pair_offset: int = PAIR_OFFSET) -> list[dict]:
        """Homogeneous nets (every layer one conv, no skips), one per kind and time kernel, with per-class recall."""
        space = self.cfg.space
        allowed = {json.dumps(op, sort_keys=True) for op in op_choices(space)}
        out = []
        for name, (span, dil) in HOMOGENEOUS.items():
            dil = pair_offset if dil is None else dil
            for tk in space.time_kernels:
                op = {"op": "conv", "span": span, "dilation": dil, "time_kernel": tk}
                if json.dumps(op, sort_keys=True) not in allowed:
                    log.info("sanity check: %s net (span %d, dilation %d, time kernel %d) is not in the space",
                             name, span, dil, tk)
                    continue
                arch = {"layers": [dict(op, skips=[]) for _ in range(space.n_layers)]}
                value, constant, cm = self.score(arch)
                support = cm.sum(axis=1)
                recall = {f"recall_{n}": (float(cm[i, i] / support[i]) if support[i] else math.nan)
                          for i, n in enumerate(self.label_names)}
                out.append({"seed": self.seed, "fold": self.fold, "net": name, "span": span, "dilation": dil,
                            "time_kernel": tk, "arch_hash": arch_hash(canonical(arch)), "metric_name": self.metric,
                            "metric": value, "accuracy": M.accuracy(cm), "balanced_accuracy": M.balanced_accuracy(cm),
                            "kappa": M.cohen_kappa(cm), **recall, "constant": constant})
        return out


def top_share_mean(values, share: float = 0.10) -> float:
    """Mean of the best `share` of `values` (at least one): the part of a policy that derive would pick from."""
    v = np.sort(np.asarray(values, float))[::-1]
    return float(v[: max(1, math.ceil(share * len(v)))].mean()) if len(v) else math.nan


def yardstick(reference, runs, folds=None, metric=None, device="auto", curve=False, pair_offset=PAIR_OFFSET,
              curve_per_epoch=None):
    """(rows, sanity rows, curve rows) for the reference run and every run in `runs` (same seed and fold)."""
    ys = Yardstick(reference, folds, metric, device)
    ref_arm, ref_setting = run_identity(ys.path, ys.final)
    todo = [(ys.path, ys.final)]
    for run in map(Path, runs):
        if run.resolve() == ys.path.resolve():
            continue
        final, _ = _read_final(run)
        ys.check_run(run, final)
        todo.append((run, final))
    rows, curves = [], []
    for run, final in tqdm(todo, desc="yardstick", unit="run", disable=None):
        arm, setting = (ref_arm, ref_setting) if run is ys.path else run_identity(run, final)
        rows += ys.rows(arm, setting, _derived(run))
        if curve:
            curves += ys.curve(arm, setting, run, curve_per_epoch)
        mine = [r["metric"] for r in rows if (r["arm"], r["setting"], r["source"]) == (arm, setting, "policy")]
        log.info("%s/%s: policy mean %s %.4f, top-10%% %.4f on the reference supernet", arm, setting, ys.metric,
                 float(np.mean(mine)), top_share_mean(mine))
    sanity = ys.sanity(pair_offset)
    for r in sanity:
        log.info("sanity %s net t%d: %s %.4f, recall %s", r["net"], r["time_kernel"], ys.metric, r["metric"],
                 " ".join(f"{k[7:]} {v:.2f}" for k, v in r.items() if k.startswith("recall_")))
    log.info("scored %d distinct architectures on %d validation epochs", len(ys.cache), len(ys.y))
    return rows, sanity, curves


def to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or (list(rows[0]) if rows else [])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reference", required=True, metavar="RUN_DIR",
                   help="the random-search run of this seed and fold: its final.pt (uniformly trained shared "
                   "weights) is the yardstick, its derived.json the uniform reference row")
    p.add_argument("--runs", nargs="*", default=[], metavar="RUN_DIR",
                   help="the NAS runs of the same seed and fold, each with final.pt and derived.json")
    p.add_argument("--metric", choices=sorted(M.METRICS),
                   help="metric on the validation infants (default: the reference search's reward metric)")
    p.add_argument("--folds", metavar="FOLDS.json", help="folds file, if it moved since the search")
    p.add_argument("--pair-offset", type=int, default=PAIR_OFFSET, metavar="N",
                   help="channel distance of homologous electrodes, for the sanity check's pair net (default 4)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="the yardstick table (one row per architecture)")
    p.add_argument("--sanity", metavar="FILE.csv", help="also write the supernet sanity check (homogeneous nets)")
    p.add_argument("--curve", metavar="FILE.csv",
                   help="also score every child of every search epoch (the policy over time) on the yardstick")
    p.add_argument("--curve-children", type=int, metavar="N",
                   help="with --curve: score only the first N children of each epoch (an unbiased subsample of "
                   "that epoch's policy; default: all)")


def run(args: argparse.Namespace) -> int:
    rows, sanity, curves = yardstick(args.reference, args.runs, args.folds, args.metric, args.device,
                                     curve=args.curve is not None, pair_offset=args.pair_offset,
                                     curve_per_epoch=args.curve_children)
    write_text_atomic(args.out, to_csv(rows, COLUMNS))
    if args.sanity:
        write_text_atomic(args.sanity, to_csv(sanity))
    if args.curve:
        write_text_atomic(args.curve, to_csv(curves, CURVE_COLUMNS))
    return 0
