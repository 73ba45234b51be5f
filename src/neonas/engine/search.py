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

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from neonas import __version__
from neonas.config import from_dict, load_yaml, set_dotted, to_dict
from neonas.engine.controller import Controller, ControllerConfig, Reinforce, UniformSampler
from neonas.engine.reward import RewardConfig, metric, reward
from neonas.engine.space import SpaceConfig, arch_hash, arch_json, decisions, decode
from neonas.engine.supernet import Supernet
from neonas.errors import NeonasError
from neonas.io import save_torch_atomic, write_text_atomic
from neonas.store.data import load_infants
from neonas.store.splits import load_fold
from neonas.torchutil import autocast, rng_state, seed_everything, select_device, set_rng_state

log = logging.getLogger("neonas.engine.search")

#: exit status of a run that saved a checkpoint and stopped before its epoch budget (resume with --resume)
EXIT_RESUMABLE = 75
CHILD_COLUMNS = ["epoch", "step", "sampler", "arch_hash", "arch", "metric_name", "metric", "reward", "baseline",
                 "entropy", "log_prob", "skip_rate"]
#: training knobs that may change between a checkpoint and its resume (they do not change the results)
RUNTIME_ONLY = ("max_minutes", "checkpoint_every")
EPOCH_COLUMNS = ["epoch", "shared_loss", "shared_acc", "mean_metric", "mean_reward", "baseline", "entropy", "seconds"]


@dataclass
class TrainingConfig:
    """Budget and shared-weights training. Defaults are demo-sized (a few infants, CPU, < 1 minute)."""

    epochs: int = 3  # search epochs (one shared pass + controller steps each); the thesis ran 3500
    batch_size: int = 64  # training minibatch of the shared weights
    val_batch_size: int = 128  # validation minibatch scoring one child (and chunk size of full scoring)
    lr: float = 0.05  # SGD (Nesterov momentum) with cosine decay to lr_min over `epochs`
    lr_min: float = 0.0005
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float = 5.0  # gradient-norm clip of the shared weights
    class_weighted: bool = True  # inverse-frequency class weights in the shared-weights loss
    drop_artifacts: bool = False  # skip epochs flagged as artifacts in the HDF5 files
    checkpoint_every: int = 1  # epochs between checkpoints
    max_minutes: float | None = None  # checkpoint and stop (exit 75) after this long in one job

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.val_batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("training.epochs, batch_size, val_batch_size and checkpoint_every must be >= 1")
        if self.lr <= 0 or self.lr_min < 0 or self.lr_min > self.lr:
            raise ValueError(f"training needs 0 <= lr_min <= lr and lr > 0, got lr={self.lr}, lr_min={self.lr_min}")


@dataclass
class SearchConfig:
    """The whole search, as read from SEARCH.yaml (sections space, controller, reward, training; sampler)."""

    space: SpaceConfig = field(default_factory=SpaceConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    sampler: Literal["controller", "random"] = "controller"


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> SearchConfig:
    """SEARCH.yaml (or the defaults when None) plus `key.sub=value` overrides."""
    data = load_yaml(path) if path is not None else {}
    for item in overrides or []:
        set_dotted(data, item)
    try:
        return from_dict(SearchConfig, data)
    except NeonasError as err:
        raise NeonasError(str(err), path) from None


# ----------------------------------------------------------------------------- the search

class Search:
    """Supernet + sampler + optimizers + every RNG, with an exact state_dict for resuming."""

    def __init__(self, cfg: SearchConfig, train, val, seed: int, device):
        if (train.ch_names, train.label_names, train.n_samples) != (val.ch_names, val.label_names, val.n_samples):
            raise NeonasError("training and validation infants differ in channels, labels or epoch length")
        seed_everything(seed)
        self.cfg, self.seed, self.device = cfg, seed, device
        self.n_classes = train.n_classes
        self.x_train = torch.from_numpy(train.x).to(device)
        self.y_train = torch.from_numpy(train.y).to(device)
        self.x_val = torch.from_numpy(val.x).to(device)
        self.y_val_np = val.y
        self.decisions = decisions(cfg.space)
        self.supernet = Supernet(cfg.space, train.n_channels, train.n_samples, train.n_classes).to(device)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), lr=cfg.training.lr, momentum=cfg.training.momentum,
                                         nesterov=cfg.training.momentum > 0, weight_decay=cfg.training.weight_decay)
        if cfg.sampler == "controller":
            self.controller = Controller(self.decisions, cfg.controller).to(device)
            self.reinforce = Reinforce(self.controller, cfg.controller)
            self.sampler = self.controller
        else:
            self.controller = self.reinforce = None
            self.sampler = UniformSampler(self.decisions)
            self.baseline: float | None = cfg.controller.baseline_init  # logged only
        counts = np.bincount(train.y, minlength=self.n_classes).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
        self.class_weight = torch.tensor(weights if cfg.training.class_weighted else np.ones(self.n_classes),
                                         dtype=torch.float32, device=device)
        # separate generators, so that e.g. a different val_batch_size does not change the data order
        streams = np.random.SeedSequence(seed).generate_state(3)
        self.gens = {name: torch.Generator().manual_seed(int(s)) for name, s in zip(("train", "val", "sample"), streams,
                                                                                     strict=True)}
        self.progress = {"epoch": 0, "phase": "shared", "pos": 0, "perm": None, "step": 0, "acc": _new_acc()}

    # --- shared weights
    def lr_at(self, epoch: int) -> float:
        t = self.cfg.training
        return t.lr_min + 0.5 * (t.lr - t.lr_min) * (1.0 + math.cos(math.pi * epoch / t.epochs))

    def sample(self):
        with torch.no_grad():
            s = self.sampler.sample(self.gens["sample"])
        return s, decode(self.cfg.space, s.choices)

    def train_batch(self, idx) -> tuple[float, int]:
        _, arch = self.sample()
        xb, yb = self.x_train[idx], self.y_train[idx]
        self.supernet.train()
        with autocast(self.device):
            logits = self.supernet(xb, arch)
        loss = F.cross_entropy(logits.float(), yb, weight=self.class_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.cfg.training.grad_clip)
        self.optimizer.step()
        return float(loss.detach()) * len(idx), int((logits.argmax(1) == yb).sum())

    # --- scoring children
    def predict(self, arch: dict, x) -> np.ndarray:
        self.supernet.eval()
        preds = []
        with torch.no_grad(), autocast(self.device):
            for start in range(0, x.shape[0], self.cfg.training.val_batch_size):
                preds.append(self.supernet(x[start:start + self.cfg.training.val_batch_size], arch).argmax(1).cpu())
        return torch.cat(preds).numpy()

    def score(self, arch: dict, full: bool | None = None) -> float:
        """The reward metric of `arch` on one random validation minibatch or the whole validation set."""
        full = self.cfg.reward.validation == "full" if full is None else full
        if full:
            idx = np.arange(len(self.y_val_np))
            pred = self.predict(arch, self.x_val)
        else:
            idx = torch.randperm(len(self.y_val_np), generator=self.gens["val"])[: self.cfg.training.val_batch_size]
            pred = self.predict(arch, self.x_val[idx.to(self.x_val.device)])
            idx = idx.numpy()
        return metric(self.y_val_np[idx], pred, self.cfg.reward.metric, self.n_classes)

    def controller_step(self, epoch: int) -> list[dict]:
        """Sample and score num_aggregate children; update the controller (not for random search)."""
        cfg = self.cfg
        samples, rewards, metrics, archs = [], [], [], []
        for _ in range(cfg.controller.num_aggregate):
            if self.controller is not None:
                s = self.controller.sample(self.gens["sample"])  # keeps the graph for REINFORCE
                arch = decode(cfg.space, s.choices)
            else:
                s, arch = self.sample()
            m = self.score(arch)
            samples.append(s)
            archs.append(arch)
            metrics.append(m)
            rewards.append(reward(m, cfg.reward))
        if self.reinforce is not None:
            before = self.reinforce.step(samples, rewards)
        else:
            before = []
            for s, r in zip(samples, rewards, strict=True):
                total = r + cfg.controller.entropy_weight * float(s.entropy)
                b = total if self.baseline is None else self.baseline
                before.append(b)
                self.baseline = b - (1.0 - cfg.controller.baseline_decay) * (b - total)
        step = self.progress["step"]
        return [
            {"epoch": epoch, "step": step, "sampler": cfg.sampler, "arch_hash": arch_hash(a), "arch": arch_json(a),
             "metric_name": cfg.reward.metric, "metric": m, "reward": r, "baseline": b,
             "entropy": float(s.entropy), "log_prob": float(s.log_prob.detach()), "skip_rate": s.skip_rate}
            for s, a, m, r, b in zip(samples, archs, metrics, rewards, before, strict=True)
        ]

    @property
    def current_baseline(self) -> float | None:
        return self.reinforce.baseline if self.reinforce is not None else self.baseline

    # --- exact resume
    def state_dict(self) -> dict:
        return {
            "supernet": self.supernet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "controller": None if self.controller is None else self.controller.state_dict(),
            "reinforce": None if self.reinforce is None else self.reinforce.state_dict(),
            "baseline": self.current_baseline,
            "gens": {k: g.get_state() for k, g in self.gens.items()},
            "rng": rng_state(),
            "progress": dict(self.progress, acc=dict(self.progress["acc"])),
        }

    def load_state_dict(self, state: dict) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.controller is not None:
            self.controller.load_state_dict(state["controller"])
            self.reinforce.load_state_dict(state["reinforce"])
        else:
            self.baseline = state["baseline"]
        for k, g in self.gens.items():
            g.set_state(state["gens"][k])
        set_rng_state(state["rng"])
        self.progress = dict(state["progress"], acc=dict(state["progress"]["acc"]))


def _new_acc() -> dict:
    return {"loss": 0.0, "correct": 0, "n": 0, "metric": 0.0, "reward": 0.0, "entropy": 0.0, "children": 0,
            "seconds": 0.0}


# ----------------------------------------------------------------------------- run directory files

class CsvLog:
    """An append-only CSV, flushed after every row; on resume cut back to the checkpoint's row count."""

    def __init__(self, path: Path, columns: list[str], keep_rows: int | None):
        self.path, self.columns = path, columns
        if keep_rows is None:
            write_text_atomic(path, ",".join(columns) + "\n")
        else:
            lines = path.read_text().splitlines(keepends=True) if path.exists() else []
            if not lines or lines[0].strip() != ",".join(columns) or len(lines) - 1 < keep_rows:
                raise NeonasError(f"has {max(len(lines) - 1, 0)} rows but the checkpoint expects at least "
                                  f"{keep_rows} with columns {columns}; delete the run directory to start over", path)
            if len(lines) - 1 > keep_rows:  # rows written after the last checkpoint: they will be redone
                write_text_atomic(path, "".join(lines[: keep_rows + 1]))
        self.rows = 0 if keep_rows is None else keep_rows
        self.file = path.open("a", newline="")
        self.writer = csv.writer(self.file, lineterminator="\n")

    def write(self, row: dict) -> None:
        self.writer.writerow([_fmt(row[c]) for c in self.columns])
        self.file.flush()
        self.rows += 1

    def sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


def _fmt(value) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _diff(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} in the checkpoint vs {b!r} now"]


class _Stop:
    """Set by SIGTERM (e.g. SLURM preemption or time limit): the loop saves a checkpoint and exits."""

    def __init__(self):
        self.reason: str | None = None

    def __call__(self, signum, frame):
        self.reason = "SIGTERM"


def run_search(cfg: SearchConfig, folds: str | os.PathLike, fold: int, seed: int, out: str | os.PathLike,
               resume: bool = False, device: str = "auto", stop_after_epochs: int | None = None) -> int:
    """Run (or resume) a search into `out`. Returns 0 when finished, EXIT_RESUMABLE when stopped early."""
    started = time.monotonic()
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
    search = Search(cfg, train, val, seed, dev)
    wall = 0.0
    keep_children = keep_epochs = None
    if resume and ckpt_path.exists():
        try:
            ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to delete
            raise NeonasError(f"cannot read the checkpoint ({err}); delete it to start over", ckpt_path) from None
        diff = _diff(ckpt["identity"], identity)
        if diff:
            raise NeonasError("was written by a search with different settings (" + "; ".join(diff[:5]) +
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

    stop = _Stop()
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
            if p["phase"] == "shared":
                if p["perm"] is None:
                    p["perm"] = torch.randperm(len(search.y_train), generator=search.gens["train"])
                for group in search.optimizer.param_groups:
                    group["lr"] = search.lr_at(epoch)
                n_batches = math.ceil(len(p["perm"]) / t.batch_size)
                while p["pos"] < n_batches and not stopping():
                    idx = p["perm"][p["pos"] * t.batch_size:(p["pos"] + 1) * t.batch_size].to(dev)
                    loss, correct = search.train_batch(idx)
                    acc["loss"] += loss
                    acc["correct"] += correct
                    acc["n"] += len(idx)
                    p["pos"] += 1
                if p["pos"] == n_batches:
                    p.update(phase="controller", pos=0, perm=None)
            if p["phase"] == "controller":
                while p["pos"] < cfg.controller.train_steps and not stopping():
                    for row in search.controller_step(epoch):
                        children.write(row)
                        acc["metric"] += row["metric"]
                        acc["reward"] += row["reward"]
                        acc["entropy"] += row["entropy"]
                        acc["children"] += 1
                    p["step"] += 1
                    p["pos"] += 1
            acc["seconds"] += time.monotonic() - tick
            if stop.reason:
                break
            k = max(acc["children"], 1)
            epochs_log.write({
                "epoch": epoch, "shared_loss": acc["loss"] / max(acc["n"], 1),
                "shared_acc": acc["correct"] / max(acc["n"], 1), "mean_metric": acc["metric"] / k,
                "mean_reward": acc["reward"] / k, "baseline": search.current_baseline,
                "entropy": acc["entropy"] / k, "seconds": round(acc["seconds"], 3)})
            log.info("epoch %d: shared loss %.4f acc %.3f | children %d mean %s %.4f reward %.4f | %.1f s",
                     epoch, acc["loss"] / max(acc["n"], 1), acc["correct"] / max(acc["n"], 1), acc["children"],
                     cfg.reward.metric, acc["metric"] / k, acc["reward"] / k, acc["seconds"])
            p.update(epoch=epoch + 1, phase="shared", pos=0, perm=None, acc=_new_acc())
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
        children.close()
        epochs_log.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

    wall_seconds = wall + time.monotonic() - started
    final = {"supernet": search.supernet.state_dict(),
             "controller": None if search.controller is None else search.controller.state_dict(),
             "baseline": search.current_baseline, "config": to_dict(cfg), "sampler": cfg.sampler, "seed": seed,
             "fold": fold, "folds": str(Path(folds).resolve()), "val_ids": split.val_ids,
             "n_channels": train.n_channels, "n_samples": train.n_samples, "n_classes": train.n_classes,
             "label_names": train.label_names, "ch_names": train.ch_names, "sfreq": train.sfreq,
             "neonas_version": __version__}
    save_torch_atomic(final, out / "final.pt")
    summary = {"reward_name": cfg.reward.name, "reward": to_dict(cfg.reward), "sampler": cfg.sampler, "seed": seed,
               "fold": fold, "epochs": p["epoch"], "device": str(dev), "wall_seconds": round(wall_seconds, 3),
               "config": to_dict(cfg), "neonas_version": __version__, "folds": str(Path(folds).resolve()),
               "train_ids": split.train_ids, "val_ids": split.val_ids, "n_children": children.rows}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    log.info("search finished: %d epochs, %d children, %.1f s; wrote %s", p["epoch"], children.rows, wall_seconds, out)
    return 0


# ----------------------------------------------------------------------------- command line

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folds", required=True, metavar="FOLDS.json", help="folds file written by `neonas folds`")
    p.add_argument("--fold", required=True, type=int, help="which fold to search on (its training and validation "
                   "infants; its test infants are never read)")
    p.add_argument("--config", metavar="SEARCH.yaml", help="search config: sections space, controller, reward, "
                   "training and `sampler: controller|random` (default: the built-in demo-sized defaults)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set training.epochs=10 --set reward.name=sigmoid "
                   "(repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data order and sampling (default: 0)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="directory for children.csv, epochs.csv, "
                   "summary.json, final.pt and checkpoint.pt")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt if it exists "
                   "(otherwise start fresh); the config, seed and fold must match the checkpoint's")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N] (default: auto)")
    p.add_argument("--stop-after-epochs", type=int, metavar="N", help="checkpoint and stop (exit 75) once N "
                   "epochs are done, as if interrupted; for tests and staged runs")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    return run_search(cfg, args.folds, args.fold, args.seed, args.out, resume=args.resume, device=args.device,
                      stop_after_epochs=args.stop_after_epochs)
