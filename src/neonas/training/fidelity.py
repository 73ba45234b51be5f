"""Fidelity of the weight-sharing estimator: do the shared weights rank architectures as training them alone does?

ENAS can only learn what its reward sees, and its reward is a child's score on the shared weights. If those
scores do not order architectures as stand-alone training does, no reward shape can teach the controller, and
a NAS arm cannot be told from random search. `neonas fidelity` measures this on one fold, before (or beside)
the searches:

1. a fixed, seeded **panel**: the homogeneous net of every distinct op the montage offers (every layer that
   op, no skips) plus `panel_samples` uniform samples of the offered space;
2. the **reference**: each panel net trained from scratch on the fold's training infants (neonas.training.retrain's
   loop and early stopping, `standalone_epochs`), `standalone_seeds` times, scored on the validation infants
   with the search's reward metric. Its own repeatability is the split-half agreement: Kendall tau between the
   mean score over one half of the seeds and over the other half;
3. the **estimator**: a supernet trained with uniform sampling exactly as the random arm's shared weights are
   (the search config, sampler random), one per supernet seed; at every checkpoint each panel net is scored
   on the whole validation set with those weights.

Verdict: the shared weights rank when the mean tau over supernet seeds is >= `ratio` x the split-half agreement
of the reference and every seed's tau is > 0; the first checkpoint where that holds is the warm-up the check
recommends. With `estimator: standalone` or `auto` the stand-alone estimator is checked too, against the same
reference, with its own seeds and rungs (fidelity_estimators.py); `choice` is the cheapest estimator that passed.
A reference that does not rank its own panel (split-half tau not > 0 at one-sided p < 0.05: too few
stand-alone seeds or epochs, or labels that carry nothing) gives "cannot tell", never a pass. Test infants are never read. Output: DIR/fidelity.json, DIR/panel.csv, DIR/fidelity.png.

    neonas fidelity --folds folds.json --fold 0 --config SEARCH.yaml --out fidelity/fold0
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neonas.config import from_dict, load_yaml, set_dotted, to_dict
from neonas.engine.controller import UniformSampler
from neonas.engine.reward import metric
from neonas.engine.searcher import Search, SearchConfig
from neonas.engine.space import arch_hash, arch_json, build_model, decisions, decode, op_choices, op_label
from neonas.errors import NeonasError
from neonas.store.splits import load_fold
from neonas.torchutil import seed_everything, select_device
from neonas.training import fidelity_estimators as other
from neonas.training.evaluate import load_split, predict
from neonas.training.fidelity_report import write_outputs
from neonas.training.fidelity_stats import check, op_gains, recall, verdict_text
from neonas.training.pool import Pool
from neonas.training.retrain import RetrainConfig, train

log = logging.getLogger("neonas.training.fidelity")

PAIR = (2, 4)  # span x channel dilation of the planted cue of the synthetic cohort (homologous electrodes)


STUDY_KEYS = ("enabled", "warmup_from_check", "on_fail")  # config `fidelity:` keys of the workflow, not of the check's budget


@dataclass
class FidelityConfig:
    """The check's budget. Defaults: ~35 stand-alone trainings and 3 supernets; docs/search.md gives the cost."""

    panel_samples: int = 12  # uniform samples of the offered space, besides one homogeneous net per distinct op
    panel_seed: int = 0
    standalone_seeds: int = 2  # trainings per panel net (>= 2: the reference's split-half agreement needs them)
    standalone_epochs: int = 15  # stand-alone budget (retrain's loop, early stopping on the validation infants)
    supernet_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    checkpoints: list[int] = field(default_factory=list)  # supernet epochs to check at ([] = every 5 and the end)
    ratio: float = 0.6  # pass: mean tau >= ratio x split-half agreement, and every seed's tau > 0
    bootstrap: int = 1000  # resamples of the panel for tau's confidence interval
    workers: int = 1  # trainings side by side in as many processes (the results do not depend on it)
    estimator_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # stand-alone estimator's search seeds

    def __post_init__(self) -> None:
        if self.panel_samples < 0 or self.standalone_seeds < 2 or self.standalone_epochs < 1:
            raise ValueError("fidelity needs panel_samples >= 0, standalone_seeds >= 2 and standalone_epochs >= 1")
        if not self.supernet_seeds or not self.estimator_seeds or not 0 < self.ratio <= 1 or self.bootstrap < 100 or self.workers < 1:
            raise ValueError("fidelity needs supernet_seeds, estimator_seeds, 0 < ratio <= 1, bootstrap >= 100 and workers >= 1")


# ----------------------------------------------------------------------------- the panel

def make_panel(cfg: SearchConfig, n_channels: int, n_panel_samples: int, seed: int) -> list[dict]:
    """Homogeneous nets of every op offered on this montage, then distinct uniform samples (by hash)."""
    space = cfg.space
    panel = [{"layers": [{**op, "skips": []} for _ in range(space.n_layers)]} for op in op_choices(space, n_channels)]
    seen = {arch_hash(a) for a in panel}
    uniform = UniformSampler(decisions(space, n_channels))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(50 * max(n_panel_samples, 1)):
        if len(panel) >= len(op_choices(space, n_channels)) + n_panel_samples:
            break
        arch = decode(space, uniform.sample(gen).choices, n_channels)
        if arch_hash(arch) not in seen:
            seen.add(arch_hash(arch))
            panel.append(arch)
    return panel


def homogeneous_op(arch: dict) -> str | None:
    """The op label of a homogeneous net without skips, else None."""
    labels = {op_label(layer) for layer in arch["layers"]}
    skips = any(layer.get("skips") for layer in arch["layers"])
    return labels.pop() if len(labels) == 1 and not skips else None


# ----------------------------------------------------------------------------- the two estimates

def train_alone(arch: dict, seed: int, cfg: SearchConfig, fid: FidelityConfig, train_ds, val_ds, device) -> float:
    """The reward metric on the validation infants after training one panel net alone (stand-alone seed `seed`)."""
    recipe = RetrainConfig(epochs=fid.standalone_epochs, patience=fid.standalone_epochs,
                           min_epochs=min(5, fid.standalone_epochs))
    seed_everything(1000 + seed)
    model = build_model(arch, cfg.space, train_ds.n_channels, train_ds.n_samples, train_ds.n_classes).to(device)
    state, _, _ = train(model, train_ds, val_ds, recipe, device, seed=1000 + seed)
    if state is not None:
        model.load_state_dict(state)
    pred = predict(model, val_ds.x, device).argmax(1)
    return metric(val_ds.y, pred, cfg.reward.metric, val_ds.n_classes)


def supernet_scores(panel: list[dict], cfg: SearchConfig, train_ds, val_ds, seed: int, checkpoints: list[int],
                    device) -> dict[int, np.ndarray]:
    """checkpoint epoch -> (nets x validation epochs) predictions of the panel on uniformly trained shared weights."""
    cfg = replace(cfg, sampler="random", estimator="supernet")  # the shared weights, whichever estimator searches
    search = Search(cfg, train_ds, val_ds, seed, device)
    batch = cfg.training.batch_size
    out = {}
    if 0 in checkpoints:
        out[0] = np.stack([search.predict(a, search.x_val) for a in panel])
    for epoch in range(max(checkpoints)):
        for group in search.optimizer.param_groups:
            group["lr"] = cfg.training.lr  # a warm-up: the full rate (Search.lr_at), however long the search
        perm = torch.randperm(len(search.y_train), generator=search.gens["train"])
        for start in range(0, len(perm), batch):
            search.train_batch(perm[start:start + batch].to(device), warmup=True)
        if epoch + 1 in checkpoints:
            out[epoch + 1] = np.stack([search.predict(a, search.x_val) for a in panel])
    return out


def _run_task(state: dict, task: tuple):
    """(("alone", net, seed), arch, fid) -> a stand-alone score, or (("supernet", seed), panel, checkpoints) -> the
    panel's predictions (run by neonas.training.pool, here or in a worker process)."""
    key, first, second = task
    if key[0] == "estimate":
        return other.run_estimate(state, task)
    if key[0] == "alone":
        return train_alone(first, key[2], state["cfg"], second, state["train"], state["val"], state["device"])
    return supernet_scores(first, state["cfg"], state["train"], state["val"], key[1], second, state["device"])


# ----------------------------------------------------------------------------- the check

def fidelity(cfg: SearchConfig, fid: FidelityConfig, folds: str, fold: int, device: str = "auto",
             planted: bool = False) -> dict:
    started = time.monotonic()
    epochs = cfg.training.epochs  # checked first: the stand-alone panel below takes most of the time
    points = sorted(set(fid.checkpoints or [*range(5, epochs, 5), epochs]))
    if not points or points[0] < 0 or points[-1] > epochs:
        raise NeonasError(f"fidelity.checkpoints must lie in 0..training.epochs ({epochs}), got {fid.checkpoints}")
    dev = select_device(device)
    split = load_fold(folds, fold)
    train_ds = load_split(split, "train", folds, cfg.training.drop_artifacts)
    val_ds = load_split(split, "val", folds, cfg.training.drop_artifacts)
    panel = make_panel(cfg, train_ds.n_channels, fid.panel_samples, fid.panel_seed)
    log.info("fold %d: panel of %d nets (%d homogeneous), %d stand-alone trainings, %d supernet seeds", fold,
             len(panel), len(op_choices(cfg.space, train_ds.n_channels)), len(panel) * fid.standalone_seeds,
             len(fid.supernet_seeds))
    alone = [(("alone", k, s), arch, fid) for k, arch in enumerate(panel) for s in range(fid.standalone_seeds)]
    shared = [(("supernet", seed), panel, points) for seed in fid.supernet_seeds]
    # the stand-alone estimator is checked too where a study may search with it (estimator standalone or auto)
    estimate = other.standalone_tasks(panel, cfg, fid.estimator_seeds, fid.standalone_seeds) \
        if cfg.estimator in ("standalone", "auto") else []
    tasks = alone + estimate + shared if fid.workers == 1 else shared + alone + estimate  # longest jobs first
    estimates = {}  # (net, estimator seed, rung) -> the stand-alone estimator's score
    reference = np.zeros((len(panel), fid.standalone_seeds))
    preds = {}  # seed -> epoch -> nets x val epochs
    seconds = {"alone": 0.0, "supernet": 0.0, "estimate": 0.0}
    loaded = {"cfg": cfg, "device": dev, "train": train_ds, "val": val_ds}
    # side by side: each worker gets its share of the torch threads (one GPU holds several tiny nets at once)
    pool = Pool(fid.workers, loaded, (folds, fold, cfg.training.drop_artifacts, device), {"cfg": cfg},
                threads=max(1, torch.get_num_threads() // fid.workers))
    with pool:
        done = list(tqdm(pool.map(_run_task, tasks), total=len(tasks), desc="fidelity", unit="training", disable=None))
    for (key, _, _), out, took in done:
        seconds[key[0]] += took
        if key[0] == "estimate":
            estimates[key[1:]] = out
        elif key[0] == "alone":
            reference[key[1], key[2]] = out
            log.info("stand-alone %s seed %d: %.3f (%.0f s)", arch_hash(panel[key[1]]), key[2], out, took)
        else:
            preds[key[1]] = out
            log.info("supernet seed %d trained to epoch %d and scored (%.0f s)", key[1], points[-1], took)
    k = val_ds.n_classes
    curve, scores = [], {}
    for epoch in points:
        scores[epoch] = np.array([[metric(val_ds.y, preds[s][epoch][i], cfg.reward.metric, k)
                                   for s in fid.supernet_seeds] for i in range(len(panel))])
        curve.append({"epoch": epoch, **check(reference, scores[epoch], fid)})
        log.info("supernet epoch %d: tau %+.3f per seed %s (needed %+.3f)", epoch, curve[-1]["tau"],
                 np.round(curve[-1]["tau_per_seed"], 3).tolist(), curve[-1]["needed"])
    final = curve[-1]
    warm = next((c["epoch"] for c in curve if c["passed"]), None)
    scoring = minibatch_scoring(reference, preds, points[-1], val_ds, cfg, fid)
    last = scores[points[-1]]
    labels = [op_label(op) for op in op_choices(cfg.space, train_ds.n_channels)]
    best = int(np.argmax(reference.mean(axis=1)))
    result = {
        "fold": fold, "val_ids": split.val_ids, "train_ids": split.train_ids, "metric": cfg.reward.metric,
        "config": to_dict(fid), "space": to_dict(cfg.space), "n_channels": train_ds.n_channels,
        "offered_ops": labels, "panel_size": len(panel), "final": final, "curve": curve,
        "warmup_epochs": warm, "passed": final["passed"], "scoring": scoring,
        "gains": {"standalone": op_gains(panel, reference, labels), "supernet": op_gains(panel, last, labels)},
        "best_standalone": {"arch_hash": arch_hash(panel[best]), "arch": arch_json(panel[best]),
                            "standalone": float(reference[best].mean()),
                            "supernet_recall": {str(s): recall(val_ds.y, preds[s][points[-1]][best], val_ds.label_names)
                                                for s in fid.supernet_seeds}},
        "cost_seconds": {"standalone": round(seconds["alone"], 1), "supernet": round(seconds["supernet"], 1),
                         "standalone_estimator": round(seconds["estimate"], 1),
                         "total": round(time.monotonic() - started, 1), "workers": fid.workers},
        "panel": [{"arch_hash": arch_hash(a), "arch": arch_json(a), "homogeneous": homogeneous_op(a),
                   "standalone": reference[i].tolist(), "supernet": last[i].tolist()} for i, a in enumerate(panel)],
    }
    if planted:
        result["planted"] = planted_cue(result, cfg.space, panel, reference, last, preds, points[-1], val_ds, fid)
    note = f"{cfg.space.n_layers} layers, {len(labels)} distinct ops, panel of {len(panel)}, fold {fold}"
    result["verdict"] = verdict_text(result, note)
    alone_check = other.standalone_check(reference, estimates, cfg, fid) if estimate else None
    if alone_check is not None:
        result["standalone_estimator"] = alone_check
        log.info("stand-alone estimator: %s", alone_check["verdict"])
    result["checked_for"] = cfg.estimator
    result.update(other.estimators(result, cfg, other.top_quarter(reference.mean(axis=1), last), alone_check))
    return result


def minibatch_scoring(reference, preds, epoch, val_ds, cfg: SearchConfig, fid: FidelityConfig) -> dict:
    """tau when each panel net is scored as a search scores a child with `reward.validation: minibatch` (one random
    validation minibatch of training.val_batch_size epochs per net), beside the whole validation set: does
    scoring on all of it rank better, and at what cost (validation epochs scored per child)?"""
    rng = np.random.default_rng(0)
    n, size = len(val_ds.y), min(cfg.training.val_batch_size, len(val_ds.y))
    k = val_ds.n_classes
    cols = []
    for s in fid.supernet_seeds:
        col = []
        for i in range(len(reference)):
            idx = rng.choice(n, size, replace=False)
            col.append(metric(val_ds.y[idx], preds[s][epoch][i][idx], cfg.reward.metric, k))
        cols.append(col)
    mini = check(reference, np.array(cols).T, fid)
    return {"minibatch_tau": mini["tau"], "minibatch_tau_per_seed": mini["tau_per_seed"],
            "minibatch_epochs_per_child": size, "full_epochs_per_child": n,
            "cost_ratio_full_vs_minibatch": round(n / size, 2)}


def planted_cue(result: dict, space, panel, reference, last, preds, epoch, val_ds, fid) -> dict:
    """The synthetic cohort's cue: the pair op's layer-0 gain (both estimates) and the pair net's QS/IS recall."""
    pair = [op_label(op) for op in op_choices(space, result["n_channels"])
            if op["op"] == "conv" and (op["span"], op["dilation"]) == PAIR]
    out = {"pair_ops": pair, "layer0_gain": {}, "pair_net_recall": {}}
    for kind, table in result["gains"].items():
        rows = [r for r in table if r["layer"] == 0 and r["op"] in pair]
        out["layer0_gain"][kind] = rows
    nets = [i for i, a in enumerate(panel) if homogeneous_op(a) in pair]
    for i in nets:
        out["pair_net_recall"][arch_hash(panel[i])] = {
            str(s): {c: r for c, r in recall(val_ds.y, preds[s][epoch][i], val_ds.label_names).items() if c in ("QS", "IS")}
            for s in fid.supernet_seeds}
        out.setdefault("pair_net_rank", {})[arch_hash(panel[i])] = {
            str(s): int((last[:, n] > last[i, n]).sum()) + 1 for n, s in enumerate(fid.supernet_seeds)}
        out.setdefault("pair_net_standalone_rank", {})[arch_hash(panel[i])] = int(
            (reference.mean(axis=1) > reference[i].mean()).sum()) + 1
    return out


# ----------------------------------------------------------------------------- command line

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folds", required=True, metavar="FOLDS.json", help="folds file written by `neonas folds`")
    p.add_argument("--fold", required=True, type=int, help="the fold whose training and validation infants to use "
                   "(test infants are never read)")
    p.add_argument("--config", metavar="SEARCH.yaml", help="the search config whose space and shared-weights "
                   "training to check (default: the built-in defaults)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one search config value "
                   "(repeatable), e.g. --set training.epochs=60")
    p.add_argument("--fidelity", metavar="FIDELITY.yaml", help="the check's budget (keys of FidelityConfig: "
                   "panel_samples, standalone_seeds, standalone_epochs, supernet_seeds, checkpoints, ratio, bootstrap, workers, "
                   "estimator_seeds)")
    p.add_argument("--fidelity-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one key of the check's budget, e.g. --fidelity-set standalone_epochs=10")
    p.add_argument("--planted", action="store_true", help="the synthetic cohort: also check its planted cue (the "
                   "pair op's layer-0 gain and the pair net's QS/IS recall)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N] (default: auto)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for fidelity.json, panel.csv, fidelity.png")


def run(args: argparse.Namespace) -> int:
    from neonas.engine.searcher import load_config

    cfg = load_config(args.config, args.set)
    data = load_yaml(args.fidelity) if args.fidelity else {}
    for item in args.fidelity_set:
        set_dotted(data, item)
    fid = from_dict(FidelityConfig, data, args.fidelity or "fidelity")
    result = fidelity(cfg, fid, args.folds, args.fold, args.device, args.planted)
    write_outputs(result, Path(args.out))
    print(result["verdict"])
    return 0
