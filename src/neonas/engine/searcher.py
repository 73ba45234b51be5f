"""The state of one search: its config, its sampler and estimator (engine/api.py, chosen by name through
engine/registry.py), the reward shaper and every RNG, with an exact state_dict for resuming; and one controller
step: the sampler proposes children, the estimator scores them, the sampler learns from their shaped rewards.

A child that predicts one class for every epoch it is scored on is flagged `constant` and rewarded as chance
(reward.chance), so a constant network never wins. The sampler is offered only ops that see the input on this
montage (space.dead_ops), each distinct function once (space.merged_ops). search.py runs the loop.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from neonas.config import from_dict, load_yaml, set_dotted
from neonas.engine.api import Context, EvolutionConfig, StandaloneConfig
from neonas.engine.controller import ControllerConfig, UniformSampler
from neonas.engine.registry import ESTIMATORS, SAMPLERS, make_estimator, make_sampler
from neonas.engine.reward import RewardConfig, Shaper, chance
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
from neonas.errors import NeonasError
from neonas.torchutil import rng_state, seed_everything, set_rng_state


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
    """The whole search, as read from SEARCH.yaml: sections space, controller, reward, training; which sampler
    proposes children and which estimator scores them (engine/registry.py), and their options."""

    space: SpaceConfig = field(default_factory=SpaceConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    sampler: str = "controller"  # controller | random | evolution
    estimator: str = "supernet"  # supernet | standalone | auto (the cheapest that passes the fold's fidelity check)
    standalone: StandaloneConfig = field(default_factory=StandaloneConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {self.sampler!r}")
        if self.estimator not in (*ESTIMATORS, "auto"):
            raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)} or auto, got {self.estimator!r}")


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
    """The state of one search: its sampler and estimator (engine/api.py), the reward shaper and every RNG, with an
    exact state_dict for resuming."""

    def __init__(self, cfg: SearchConfig, train, val, seed: int, device, folds: str | None = None,
                 fold: int | None = None):
        if (train.ch_names, train.label_names, train.n_samples) != (val.ch_names, val.label_names, val.n_samples):
            raise NeonasError("training and validation infants differ in channels, labels or epoch length")
        seed_everything(seed)
        self.cfg, self.seed, self.device = cfg, seed, device
        self.n_classes = train.n_classes
        self.y_train = torch.from_numpy(train.y)
        self.y_val_np = val.y
        self.n_channels = train.n_channels
        # ops that see only padding on this montage are not offered to the sampler (space.dead_ops)
        self.removed = [op_label(op) for op in dead_ops(cfg.space, train.n_channels)]
        # ops that compute the same function on this montage are offered once (space.merged_ops)
        self.merged = merged_ops(cfg.space, train.n_channels)
        self.decisions = decisions(cfg.space, train.n_channels)
        self.uniform = UniformSampler(self.decisions)  # the warm-up epochs
        self.shaper = Shaper(cfg.reward)
        # separate generators, so that e.g. a different val_batch_size does not change the data order
        streams = np.random.SeedSequence(seed).generate_state(3)
        self.gens = {name: torch.Generator().manual_seed(int(s)) for name, s in zip(("train", "val", "sample"), streams,
                                                                                     strict=True)}
        self.ctx = Context(cfg, self.decisions, train.n_channels, train.n_classes, seed, device, train, val, self.gens,
                           folds, fold, self.decode)
        self.estimator = make_estimator(cfg.estimator, self.ctx)  # first: the supernet's initial weights as before
        self.sampler = make_sampler(cfg.sampler, self.ctx)
        self.progress = {"epoch": 0, "phase": "shared", "pos": 0, "perm": None, "step": 0, "acc": new_acc(),
                         "child_epochs": 0.0}

    # --- the supernet estimator's parts, for derive, the fidelity check and the yardstick
    @property
    def supernet(self):
        return self.estimator.supernet

    @property
    def optimizer(self):
        return self.estimator.optimizer

    @property
    def x_train(self):
        return self.estimator.x_train

    @property
    def x_val(self):
        return self.estimator.x_val

    def predict(self, arch: dict, x) -> np.ndarray:
        return self.estimator.predict(arch, x)

    def score(self, arch: dict, full: bool | None = None) -> tuple[float, bool]:
        return self.estimator.score_one(arch, full)

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

    def train_batch(self, idx, warmup: bool = False, lr: float | None = None) -> tuple[float, int]:
        """One step of the shared weights on a path the sampler proposes (uniform in the warm-up)."""
        with torch.no_grad():
            gen = self.gens["sample"]
            choices = self.uniform.sample(gen).choices if warmup else self.sampler.propose(gen)
        return self.estimator.train_batch(idx, self.decode(choices), lr)

    # --- scoring children
    def controller_step(self, epoch: int) -> list[dict]:
        """The sampler proposes num_aggregate children, the estimator scores them, the sampler is told their
        shaped rewards; one children.csv row each."""
        cfg = self.cfg
        proposals = self.sampler.ask(cfg.controller.num_aggregate)
        scores = self.estimator.score([p.arch for p in proposals])
        # a constant net is rewarded as chance, whatever its metric (the majority share, for accuracy)
        level = chance(self.y_val_np, cfg.reward.metric)
        values = [level if s.constant else s.metric for s in scores]
        rewards, threshold = self.shaper(values)
        before = self.sampler.tell(proposals, values, rewards)
        step = self.progress["step"]
        return [
            {"epoch": epoch, "step": step, "sampler": cfg.sampler, "arch_hash": arch_hash(p.arch),
             "arch": arch_json(p.arch), "metric_name": cfg.reward.metric, "metric": s.metric, "reward": r,
             "baseline": b, "entropy": p.entropy, "log_prob": p.log_prob, "skip_rate": p.skip_rate,
             "threshold": threshold, "constant": int(s.constant), "rung": s.rung, "child_epochs": s.child_epochs}
            for p, s, r, b in zip(proposals, scores, rewards, before, strict=True)
        ]

    @property
    def current_baseline(self) -> float | None:
        return self.sampler.baseline

    # --- exact resume
    def state_dict(self) -> dict:
        return {
            "estimator": self.estimator.state_dict(),
            "sampler": self.sampler.state_dict(),
            "shaper": self.shaper.state_dict(),
            "gens": {k: g.get_state() for k, g in self.gens.items()},
            "rng": rng_state(),
            "progress": dict(self.progress, acc=dict(self.progress["acc"])),
        }

    def load_state_dict(self, state: dict) -> None:
        self.estimator.load_state_dict(state["estimator"])
        self.sampler.load_state_dict(state["sampler"])
        self.shaper.load_state_dict(state["shaper"])
        for k, g in self.gens.items():
            g.set_state(state["gens"][k])
        set_rng_state(state["rng"])
        self.progress = dict(state["progress"], acc=dict(state["progress"]["acc"]))


def new_acc() -> dict:
    return {"loss": 0.0, "correct": 0, "n": 0, "metric": 0.0, "reward": 0.0, "entropy": 0.0, "children": 0,
            "seconds": 0.0, "scoring_seconds": 0.0, "child_epochs": 0.0}
