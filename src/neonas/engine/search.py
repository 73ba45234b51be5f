"""Run an ENAS architecture search (or a random search with the same budget) on one fold.

Each search epoch alternates two phases (Pham et al. 2018):
  1. shared weights: one pass over the TRAINING infants; every minibatch trains one child sampled by
     the controller (or uniformly) on the weight-sharing supernet;
  2. controller: `controller.train_steps` updates; each scores `controller.num_aggregate` sampled
     children on VALIDATION data with the shared weights (one minibatch, or all of it) and applies
     REINFORCE to their shaped rewards. Random search scores the same number of children and does
     not learn. Test infants are never read.

Every scored child is appended to RUN_DIR/children.csv. A checkpoint (RUN_DIR/checkpoint.pt) is written
every `training.checkpoint_every` epochs and when the job receives SIGTERM or reaches
`training.max_minutes`; the command then exits with status 75, and `--resume` continues exactly where it
stopped (bit-identical on CPU to a run that never stopped). See docs/search.md.
"""

# the search's state and the scoring of children are in searcher.py, the run directory's files in runfiles.py

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import time
from pathlib import Path

import torch
from tqdm import tqdm

from neonas import __version__
from neonas.config import to_dict
from neonas.engine.controller import uniform_entropy
from neonas.engine.runfiles import CHILD_COLUMNS, EPOCH_COLUMNS, RUNTIME_ONLY, CsvLog, Stop, diff
from neonas.engine.searcher import Search, SearchConfig, TrainingConfig, load_config, new_acc
from neonas.errors import NeonasError
from neonas.io import save_torch_atomic, write_text_atomic
from neonas.store.data import load_infants
from neonas.store.splits import load_fold
from neonas.torchutil import select_device

__all__ = ["CHILD_COLUMNS", "EPOCH_COLUMNS", "EXIT_RESUMABLE", "RUNTIME_ONLY", "Search", "SearchConfig",
           "TrainingConfig", "load_config", "run_search"]

log = logging.getLogger("neonas.engine.search")

#: exit status of a run that saved a checkpoint and stopped before its epoch budget (resume with --resume)
EXIT_RESUMABLE = 75


def run_search(cfg: SearchConfig, folds: str | os.PathLike, fold: int, seed: int, out: str | os.PathLike,
               resume: bool = False, device: str = "auto", stop_after_epochs: int | None = None,
               gate: dict | None = None) -> int:
    """Run (or resume) a search into `out`. Returns 0 when finished, EXIT_RESUMABLE when stopped early. `gate`: what
    the fold's fidelity check said of the estimator (warmup_from), kept in summary.json."""
    started = time.monotonic()
    if cfg.estimator == "auto":
        raise NeonasError("estimator: auto takes the cheapest estimator that passed the fold's fidelity check; pass "
                          "--warmup-from FIDELITY.json (`neonas fidelity` with this config) or name the estimator")
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise NeonasError("already holds a checkpoint of a search; pass --resume to continue it or choose another "
                          "--out", out)
    dev = select_device(device)
    split = load_fold(folds, fold)
    log.info("fold %d: training infants %s, validation infants %s", fold, split.train_ids, split.val_ids)
    t = cfg.training
    train = load_infants(split.train, drop_artifacts=t.drop_artifacts)
    val = load_infants(split.val, drop_artifacts=t.drop_artifacts)
    # what a checkpoint must agree on; knobs that cannot change the results may differ on resume
    same = to_dict(cfg)
    for knob in RUNTIME_ONLY:
        same["training"].pop(knob)
    identity = {"config": same, "seed": seed, "fold": fold, "train_ids": split.train_ids, "val_ids": split.val_ids}
    search = Search(cfg, train, val, seed, dev, str(folds), fold)
    if search.removed:
        log.info("removed from the space: %d op(s) that see only zero padding at some output row on %d channel(s): "
                 "%s", len(search.removed), train.n_channels, ", ".join(search.removed))
    for kept, same in search.merged.items():
        log.info("merged on %d channel(s): %s compute the same function as %s; offered once as %s",
                 train.n_channels, ", ".join(same), kept, kept)
    log.info("the %s sampler chooses among %d distinct op(s) per layer; the %s estimator scores the children",
             cfg.sampler, search.decisions[0].size, cfg.estimator)
    wall = 0.0
    keep_children = keep_epochs = None
    if resume and ckpt_path.exists():
        try:
            ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to delete
            raise NeonasError(f"cannot read the checkpoint ({err}); delete it to start over", ckpt_path) from None
        differ = diff(ckpt["identity"], identity)
        if differ:
            raise NeonasError("was written by a search with different settings (" + "; ".join(differ[:5]) +
                              "); resume with the same config, seed and fold, or use another --out", ckpt_path)
        search.load_state_dict(ckpt["search"])
        wall, keep_children, keep_epochs = ckpt["wall_seconds"], ckpt["rows"]["children"], ckpt["rows"]["epochs"]
        log.info("resuming from %s at epoch %d (%s phase, position %d)", ckpt_path, search.progress["epoch"],
                 search.progress["phase"], search.progress["pos"])
    out.mkdir(parents=True, exist_ok=True)
    children = CsvLog(out / "children.csv", CHILD_COLUMNS, keep_children)
    epochs_log = CsvLog(out / "epochs.csv", EPOCH_COLUMNS, keep_epochs)

    def save_checkpoint() -> None:
        children.sync()
        epochs_log.sync()
        state = {"identity": identity, "search": search.state_dict(), "neonas_version": __version__,
                 "wall_seconds": wall + time.monotonic() - started,
                 "rows": {"children": children.rows, "epochs": epochs_log.rows}}
        save_torch_atomic(state, ckpt_path)  # no temp name inside: byte-reproducible (neonas.io)

    stop = Stop()
    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (e.g. called from a worker): no signal handling
        previous = None
    p = search.progress

    def stopping() -> bool:
        if not stop.reason and t.max_minutes is not None and time.monotonic() - started > 60 * t.max_minutes:
            stop.reason = f"training.max_minutes={t.max_minutes:g} reached"
        return stop.reason is not None

    bar = tqdm(total=t.epochs, initial=p["epoch"], desc="search", unit="epoch", disable=None)
    try:
        while p["epoch"] < t.epochs:
            if stop_after_epochs is not None and p["epoch"] >= stop_after_epochs:
                stop.reason = f"--stop-after-epochs {stop_after_epochs}"
            if stopping():
                break
            tick = time.monotonic()
            epoch, acc = p["epoch"], p["acc"]
            if p["phase"] == "shared" and not search.estimator.shared:  # nothing shared to train (stand-alone)
                p.update(phase="controller", pos=0, perm=None)
            if p["phase"] == "shared":
                if p["perm"] is None:
                    p["perm"] = torch.randperm(len(search.y_train), generator=search.gens["train"], device="cpu")
                lr = search.lr_at(epoch)
                n_batches = math.ceil(len(p["perm"]) / t.batch_size)
                while p["pos"] < n_batches and not stopping():
                    idx = p["perm"][p["pos"] * t.batch_size:(p["pos"] + 1) * t.batch_size].to(dev)
                    loss, correct = search.train_batch(idx, warmup=epoch < t.warmup_epochs, lr=lr)
                    acc["loss"] += loss
                    acc["correct"] += correct
                    acc["n"] += len(idx)
                    p["pos"] += 1
                if p["pos"] == n_batches:  # one pass over the training infants: one child-epoch
                    acc["child_epochs"] = acc.get("child_epochs", 0.0) + 1.0
                    p.update(phase="controller", pos=0, perm=None)
            if p["phase"] == "controller":
                scoring = time.monotonic()
                steps = 0 if epoch < t.warmup_epochs else cfg.controller.train_steps  # warm-up: no children
                while p["pos"] < steps and not stopping():
                    for row in search.controller_step(epoch):
                        children.write(row)
                        acc["metric"] += row["metric"]
                        acc["reward"] += row["reward"]
                        acc["entropy"] += row["entropy"]
                        acc["children"] += 1
                        acc["child_epochs"] = acc.get("child_epochs", 0.0) + row["child_epochs"]
                    p["step"] += 1
                    p["pos"] += 1
                acc["scoring_seconds"] = acc.get("scoring_seconds", 0.0) + time.monotonic() - scoring
            acc["seconds"] += time.monotonic() - tick
            if stop.reason:
                break
            k = acc["children"] or math.nan  # warm-up epochs score no children: their means are nan
            n = acc["n"] or math.nan  # a stand-alone search trains no shared weights: nan
            epochs_log.write({
                "epoch": epoch, "shared_loss": acc["loss"] / n, "shared_acc": acc["correct"] / n,
                "mean_metric": acc["metric"] / k,
                "mean_reward": acc["reward"] / k, "baseline": search.current_baseline,
                "entropy": acc["entropy"] / k, "seconds": round(acc["seconds"], 3),
                "scoring_seconds": round(acc.get("scoring_seconds", 0.0), 3),
                "child_epochs": acc.get("child_epochs", 0.0)})
            p["child_epochs"] = p.get("child_epochs", 0.0) + acc.get("child_epochs", 0.0)
            log.info("epoch %d: shared loss %.4f acc %.3f | children %d mean %s %.4f reward %.4f | %.1f child-epochs, "
                     "%.1f s", epoch, acc["loss"] / n, acc["correct"] / n,
                     acc["children"], cfg.reward.metric, acc["metric"] / k, acc["reward"] / k,
                     acc.get("child_epochs", 0.0), acc["seconds"])
            p.update(epoch=epoch + 1, phase="shared", pos=0, perm=None, acc=new_acc())
            bar.update(1)
            if p["epoch"] % t.checkpoint_every == 0 or p["epoch"] == t.epochs:
                save_checkpoint()
        if stop.reason:
            save_checkpoint()
            log.warning("stopped at epoch %d (%s); checkpoint saved to %s; rerun with --resume to continue",
                        p["epoch"], stop.reason, ckpt_path)
            return EXIT_RESUMABLE
    finally:
        bar.close()
        search.estimator.close()
        children.close()
        epochs_log.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

    wall_seconds = wall + time.monotonic() - started
    final = {"supernet": search.estimator.final_state(), "controller": search.sampler.final_state(),
             "sampler_state": search.sampler.state_dict(), "estimator": cfg.estimator,
             "baseline": search.current_baseline, "config": to_dict(cfg), "sampler": cfg.sampler, "seed": seed,
             "fold": fold, "folds": str(Path(folds).resolve()), "val_ids": split.val_ids,
             "n_channels": train.n_channels, "n_samples": train.n_samples, "n_classes": train.n_classes,
             "label_names": train.label_names, "ch_names": train.ch_names, "sfreq": train.sfreq,
             "neonas_version": __version__}
    save_torch_atomic(final, out / "final.pt")
    summary = {"reward_name": cfg.reward.name, "reward": to_dict(cfg.reward), "sampler": cfg.sampler,
               "estimator": cfg.estimator, "child_epochs": p.get("child_epochs", 0.0), "seed": seed,
               "fold": fold, "epochs": p["epoch"], "device": str(dev), "wall_seconds": round(wall_seconds, 3),
               "config": to_dict(cfg), "neonas_version": __version__, "folds": str(Path(folds).resolve()),
               "train_ids": split.train_ids, "val_ids": split.val_ids, "n_children": children.rows,
               "removed_ops": search.removed, "merged_ops": search.merged,
               "offered_ops": list(search.decisions[0].labels), "uniform_entropy": uniform_entropy(search.decisions),
               "fidelity": gate}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    log.info("search finished: %d epochs, %d children, %.1f child-epochs of training, %.1f s; wrote %s", p["epoch"],
             children.rows, p.get("child_epochs", 0.0), wall_seconds, out)
    return 0


# ----------------------------------------------------------------------------- command line

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folds", required=True, metavar="FOLDS.json", help="folds file written by `neonas folds`")
    p.add_argument("--fold", required=True, type=int, help="which fold to search on (its training and validation "
                   "infants; its test infants are never read)")
    p.add_argument("--config", metavar="SEARCH.yaml", help="search config: sections space, controller, reward, "
                   "training, `sampler: controller|random|evolution` and `estimator: supernet|standalone` (default: the built-in demo-sized defaults)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set training.epochs=10 --set reward.name=sigmoid "
                   "--set reward.threshold=auto (an adaptive threshold: a quantile of the last children's metric) "
                   "(repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data order and sampling (default: 0)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="directory for children.csv, epochs.csv, "
                   "summary.json, final.pt and checkpoint.pt")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt if it exists "
                   "(otherwise start fresh); the config, seed and fold must match the checkpoint's")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N] (default: auto)")
    p.add_argument("--warmup-from", metavar="FIDELITY.json", help="take training.warmup_epochs from `neonas "
                   "fidelity`: the first checkpoint at which the uniformly trained shared weights ranked the panel "
                   "(when the check did not pass, the config's warm-up stays, and the log says so)")
    p.add_argument("--on-fail", choices=("warn", "stop"), default="warn", help="with --warmup-from: what a search "
                   "does when the check of its estimator did not pass (or, with estimator auto, none passed): warn and "
                   "search anyway (default), or stop before searching with the check's numbers (fidelity.on_fail)")
    p.add_argument("--stop-after-epochs", type=int, metavar="N", help="checkpoint and stop (exit 75) once N "
                   "epochs are done, as if interrupted; for tests and staged runs")


def estimator_from(cfg: SearchConfig, doc: dict, path, on_fail: str, gate: dict) -> SearchConfig:
    """estimator auto -> the check's choice (the cheapest that passed); a stand-alone search whose check failed stops
    with on_fail "stop". `gate` gets what summary.json says of it."""
    from dataclasses import replace

    checked = doc.get("estimators") or {}
    gate.update(requested=cfg.estimator, file=str(path))
    if cfg.estimator == "auto":
        if not checked:
            raise NeonasError("checked the shared weights only; estimator: auto needs the check run with this config "
                              "(every estimator checked): rerun `neonas fidelity`", path)
        numbers = " ".join(f"{n}: {e['verdict']}" for n, e in checked.items())
        choice = doc.get("choice")
        if choice is None and on_fail == "stop":
            raise NeonasError(f"estimator auto: no estimator passed the fidelity check ({numbers}) Not searching "
                              "(fidelity.on_fail: stop); give the stand-alone estimator longer rungs, or set "
                              "fidelity.on_fail: warn to search anyway", path)
        if choice is None:
            choice = next(iter(checked))  # the cheapest
            log.warning("estimator auto: no estimator passed the fidelity check %s; searching with the cheapest, %s, "
                        "anyway (fidelity.on_fail: warn): its scores are not shown to rank (%s)", path, choice, numbers)
        else:
            log.info("estimator auto: %s, the cheapest estimator that passed the fidelity check %s (%.2f child-epochs "
                     "per scored child)", choice, path, checked[choice]["child_epochs_per_child"])
        cfg = replace(cfg, estimator=choice)
    mine = checked.get(cfg.estimator, {"passed": doc.get("passed"), "verdict": doc.get("verdict")}
                       if cfg.estimator == "supernet" else None)
    gate.update(estimator=cfg.estimator, passed=None if mine is None else bool(mine["passed"]),
                verdict=None if mine is None else mine["verdict"])
    if cfg.estimator != "standalone":
        return cfg
    if mine is None:
        log.warning("the fidelity check %s did not check the stand-alone estimator (run it with estimator standalone "
                    "or auto): this search's scores are not shown to rank", path)
    elif not mine["passed"] and on_fail == "stop":
        other = " search with `estimator: supernet`, which passed;" if checked.get("supernet", {}).get("passed") else ""
        raise NeonasError(f"the fidelity check of the stand-alone estimator did not pass: {mine['verdict']} Not "
                          f"searching (fidelity.on_fail: stop);{other} give it longer rungs (standalone.rungs), or set "
                          "fidelity.on_fail: warn to search anyway", path)
    elif not mine["passed"]:
        log.warning("the fidelity check %s of the stand-alone estimator did not pass (%s); searching anyway "
                    "(fidelity.on_fail: warn)", path, mine["verdict"])
    return cfg


def warmup_from(cfg: SearchConfig, path: str | os.PathLike, on_fail: str = "warn",
                gate: dict | None = None) -> SearchConfig:
    """cfg with training.warmup_epochs set by a fidelity check's result (fidelity.json), when it passed, and the
    estimator it chose for `estimator: auto`. When the check of the search's estimator did not pass, `on_fail`
    "stop" ends the search before it starts. `gate` (a dict) gets what summary.json says of the check."""
    from dataclasses import replace

    from neonas.io import read_json

    doc = read_json(path, "fidelity result not found (run `neonas fidelity` first)")
    cfg = estimator_from(cfg, doc, path, on_fail, {} if gate is None else gate)
    warm = doc.get("warmup_epochs")
    if not doc.get("passed") and on_fail == "stop" and cfg.estimator == "supernet":
        raise NeonasError(f"the fidelity check did not pass: {doc.get('verdict', 'no verdict')} Not searching on "
                          "these shared weights (fidelity.on_fail: stop); search with `estimator: standalone` "
                          "(children trained alone, docs/search.md), or set fidelity.on_fail: warn to search anyway",
                          path)
    if not doc.get("passed") and cfg.estimator != "supernet":
        log.info("the fidelity check %s is of the shared weights; this search trains its children alone (estimator "
                 "%s): warm-up stays at training.warmup_epochs=%d", path, cfg.estimator, cfg.training.warmup_epochs)
        return cfg
    if not doc.get("passed") or warm is None:
        log.warning("the fidelity check %s did not pass (%s); warm-up stays at training.warmup_epochs=%d", path,
                    doc.get("verdict", "no verdict"), cfg.training.warmup_epochs)
        return cfg
    if not isinstance(warm, int) or warm < 0:
        raise NeonasError(f"warmup_epochs {warm!r} must be a whole number of epochs >= 0", path)
    if warm >= cfg.training.epochs:
        log.warning("the fidelity check %s passed only after %d uniform epochs, and this search has %d: no epoch "
                    "would be left for the controller; warm-up stays at training.warmup_epochs=%d", path, warm,
                    cfg.training.epochs, cfg.training.warmup_epochs)
        return cfg
    log.info("warm-up set by the fidelity check %s: %d uniform epochs (the shared weights ranked the panel from "
             "there on)", path, warm)
    return replace(cfg, training=replace(cfg.training, warmup_epochs=warm))


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    gate: dict | None = None
    if args.warmup_from:
        gate = {}
        cfg = warmup_from(cfg, args.warmup_from, args.on_fail, gate)
    return run_search(cfg, args.folds, args.fold, args.seed, args.out, resume=args.resume, device=args.device,
                      stop_after_epochs=args.stop_after_epochs, gate=gate)
