"""The state of one search: its config, the supernet, the sampler (controller or uniform), the
optimizers and every RNG, with an exact state_dict for resuming; and the scoring of children.

A child is scored on validation data with the shared weights (`Search.score`: one minibatch, or the
whole validation set). A child that predicts one class for every epoch it is scored on is flagged
`constant` and rewarded as chance (reward.chance), so a constant network never wins. The controller
is offered only ops that see the input on this montage (space.dead_ops), each distinct function once
(space.merged_ops). search.py runs the loop.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from neonas.config import from_dict, load_yaml, set_dotted
from neonas.engine.controller import Controller, ControllerConfig, Reinforce, UniformSampler
from neonas.engine.reward import RewardConfig, Shaper, chance, metric
from neonas.engine.space import (
    SpaceConfig,
    arch_hash,
    arch_json,
    dead_ops,
    decisions,
    decode,
    merged_ops,
    named_space,
    op_label,
)
from neonas.engine.supernet import Supernet
from neonas.errors import NeonasError
from neonas.torchutil import autocast, rng_state, seed_everything, set_rng_state


@dataclass
class TrainingConfig:
    """Budget and shared-weights training. Defaults are demo-sized (a few infants, CPU, < 1 minute)."""

    epochs: int = 3  # search epochs (one shared pass + controller steps each); the thesis ran 3500
    batch_size: int = 64  # training minibatch of the shared weights
    val_batch_size: int = 128  # validation minibatch scoring one child (and chunk size of full scoring)
    lr: float = 0.05  # constant through the warm-up, then cosine decay to lr_min over the remaining epochs
    lr_min: float = 0.0005
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float = 5.0  # gradient-norm clip of the shared weights
    class_weighted: bool = True  # inverse-frequency class weights in the shared-weights loss
    drop_artifacts: bool = False  # skip epochs flagged as artifacts in the HDF5 files
    warmup_epochs: int = 0  # first epochs train the shared weights on uniform samples; no controller, no children
    checkpoint_every: int = 1  # epochs between checkpoints
    max_minutes: float | None = None  # checkpoint and stop (exit 75) after this long in one job

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.val_batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("training.epochs, batch_size, val_batch_size and checkpoint_every must be >= 1")
        if self.lr <= 0 or self.lr_min < 0 or self.lr_min > self.lr:
            raise ValueError(f"training needs 0 <= lr_min <= lr and lr > 0, got lr={self.lr}, lr_min={self.lr_min}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"training.warmup_epochs must lie in [0, epochs), got {self.warmup_epochs}")


@dataclass
class SearchConfig:
    """The whole search, as read from SEARCH.yaml (sections space, controller, reward, training; sampler)."""

    space: SpaceConfig = field(default_factory=SpaceConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    sampler: Literal["controller", "random"] = "controller"


def search_config(data: dict, where: str = "search") -> SearchConfig:
    """SearchConfig from a mapping whose `space` may be a named space (`space: thesis`, space.NAMED_SPACES)."""
    if isinstance(data.get("space"), str):
        data = {**data, "space": named_space(data["space"])}
    return from_dict(SearchConfig, data, where)


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> SearchConfig:
    """SEARCH.yaml (or the defaults when None) plus `key.sub=value` overrides."""
    data = load_yaml(path) if path is not None else {}
    for item in overrides or []:
        if item.split("=", 1)[0].strip().startswith("space.") and isinstance(data.get("space"), str):
            data["space"] = named_space(data["space"])  # `space: NAME` then --set space.KEY=...: keys on top
        set_dotted(data, item)
    try:
        return search_config(data, "")
    except NeonasError as err:
        raise NeonasError(str(err), path) from None


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
        self.n_channels = train.n_channels
        # ops that see only padding on this montage are not offered to the controller (space.dead_ops)
        self.removed = [op_label(op) for op in dead_ops(cfg.space, train.n_channels)]
        # ops that compute the same function on this montage are offered once (space.merged_ops)
        self.merged = merged_ops(cfg.space, train.n_channels)
        self.decisions = decisions(cfg.space, train.n_channels)
        self.uniform = UniformSampler(self.decisions)  # random search, and the warm-up epochs
        self.shaper = Shaper(cfg.reward)
        self.supernet = Supernet(cfg.space, train.n_channels, train.n_samples, train.n_classes).to(device)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), lr=cfg.training.lr, momentum=cfg.training.momentum,
                                         nesterov=cfg.training.momentum > 0, weight_decay=cfg.training.weight_decay)
        if cfg.sampler == "controller":
            self.controller = Controller(self.decisions, cfg.controller).to(device)
            self.reinforce = Reinforce(self.controller, cfg.controller)
            self.sampler = self.controller
        else:
            self.controller = self.reinforce = None
            self.sampler = self.uniform
            self.baseline: float | None = cfg.controller.baseline_init  # logged only
        counts = np.bincount(train.y, minlength=self.n_classes).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
        self.class_weight = torch.tensor(weights if cfg.training.class_weighted else np.ones(self.n_classes),
                                         dtype=torch.float32, device=device)
        # separate generators, so that e.g. a different val_batch_size does not change the data order
        streams = np.random.SeedSequence(seed).generate_state(3)
        self.gens = {name: torch.Generator().manual_seed(int(s)) for name, s in zip(("train", "val", "sample"), streams,
                                                                                     strict=True)}
        self.progress = {"epoch": 0, "phase": "shared", "pos": 0, "perm": None, "step": 0, "acc": new_acc()}

    # --- shared weights
    def lr_at(self, epoch: int) -> float:
        """The full rate through the warm-up, then cosine decay to lr_min over the controller's epochs. The
        fidelity check trains its uniform supernets at the full rate too, so the warm-up it finds is this one
        (a cosine over all epochs left the weights of some seeds unable to rank after the same 40 epochs)."""
        t = self.cfg.training
        if epoch < t.warmup_epochs:
            return t.lr
        done = (epoch - t.warmup_epochs) / (t.epochs - t.warmup_epochs)
        return t.lr_min + 0.5 * (t.lr - t.lr_min) * (1.0 + math.cos(math.pi * done))

    def decode(self, choices: list) -> dict:
        return decode(self.cfg.space, choices, self.n_channels)

    def sample(self, uniform: bool = False):
        with torch.no_grad():
            s = (self.uniform if uniform else self.sampler).sample(self.gens["sample"])
        return s, self.decode(s.choices)

    def train_batch(self, idx, warmup: bool = False) -> tuple[float, int]:
        _, arch = self.sample(uniform=warmup)
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

    def score(self, arch: dict, full: bool | None = None) -> tuple[float, bool]:
        """(metric, constant) of `arch` on one random validation minibatch or the whole validation
        set; `constant` when it predicted one class for every epoch scored."""
        full = self.cfg.reward.validation == "full" if full is None else full
        if full:
            idx = np.arange(len(self.y_val_np))
            pred = self.predict(arch, self.x_val)
        else:
            idx = torch.randperm(len(self.y_val_np), generator=self.gens["val"], device="cpu")[: self.cfg.training.val_batch_size]
            pred = self.predict(arch, self.x_val[idx.to(self.x_val.device)])
            idx = idx.numpy()
        constant = len(pred) > 1 and bool((pred == pred[0]).all())
        return metric(self.y_val_np[idx], pred, self.cfg.reward.metric, self.n_classes), constant

    def controller_step(self, epoch: int) -> list[dict]:
        """Sample and score num_aggregate children; update the controller (not for random search)."""
        cfg = self.cfg
        samples, metrics, constants, archs = [], [], [], []
        for _ in range(cfg.controller.num_aggregate):
            if self.controller is not None:
                s = self.controller.sample(self.gens["sample"])  # keeps the graph for REINFORCE
                arch = self.decode(s.choices)
            else:
                s, arch = self.sample()
            m, constant = self.score(arch)
            samples.append(s)
            archs.append(arch)
            metrics.append(m)
            constants.append(constant)
        # a constant net is rewarded as chance, whatever its metric (the majority share, for accuracy)
        level = chance(self.y_val_np, cfg.reward.metric)
        rewards, threshold = self.shaper([level if c else m for m, c in zip(metrics, constants, strict=True)])
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
             "entropy": float(s.entropy), "log_prob": float(s.log_prob.detach()), "skip_rate": s.skip_rate,
             "threshold": threshold, "constant": int(c)}
            for s, a, m, c, r, b in zip(samples, archs, metrics, constants, rewards, before, strict=True)
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
            "shaper": self.shaper.state_dict(),
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
        self.shaper.load_state_dict(state["shaper"])
        for k, g in self.gens.items():
            g.set_state(state["gens"][k])
        set_rng_state(state["rng"])
        self.progress = dict(state["progress"], acc=dict(state["progress"]["acc"]))


def new_acc() -> dict:
    return {"loss": 0.0, "correct": 0, "n": 0, "metric": 0.0, "reward": 0.0, "entropy": 0.0, "children": 0,
            "seconds": 0.0, "scoring_seconds": 0.0}
