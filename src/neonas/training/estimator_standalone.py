"""The stand-alone multi-fidelity estimator: each child is trained ALONE, from scratch, and scored.

Where the shared weights do not rank architectures (the thesis's space: tau -0.02), short stand-alone training
does (tau +0.45 after 10 epochs; docs/search.md). A child is built as `neonas retrain` builds it (evaluate.make_model),
trained with retrain's loop and recipe on the fold's training infants for a rung's epochs, and scored on the
validation infants with the search's reward metric (the weights retrain's early stopping keeps within the rung).

Successive halving over each batch of children (one controller step): every child trains for rungs[0] epochs;
the best ceil(n / eta) (a constant net never before a non-constant one) train again from scratch for rungs[1],
and so on. A child's score is that of the highest rung it reached (children.csv `rung`), and derive ranks by
rung, then score. Scores are cached by (architecture hash, rung) for the search's fold and seed, and the cache
is part of the checkpoint: an architecture sampled twice is not trained twice (its cost is 0 the second time).

Each training seeds itself from (search seed, architecture hash, rung) and runs on one torch thread on a CPU, so
`standalone.workers` processes side by side (neonas.training.pool) give the same numbers as one.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import replace

import torch

from neonas.config import from_dict, to_dict
from neonas.engine.api import Context, Estimator, Score
from neonas.engine.reward import metric
from neonas.engine.space import arch_hash
from neonas.torchutil import seed_everything
from neonas.training.evaluate import make_model, predict
from neonas.training.pool import Pool
from neonas.training.retrain import RetrainConfig, train

log = logging.getLogger(__name__)
QUIET = ("neonas.training.retrain",)  # retrain's per-training lines: thousands in a search log


def child_seed(seed: int, arch_hash_: str, rung: int) -> int:
    """The seed of one child's training: from the search seed, the architecture and the rung, never a stream."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{arch_hash_}:{rung}".encode()).digest()[:4], "little")


def cap(min_epochs: int | None, epochs: int) -> int | None:
    """A rung's min_epochs: the recipe's, at most the rung's epochs; None (retrain's default) stays None."""
    return None if min_epochs is None else min(min_epochs, epochs)


def train_child(state: dict, task: tuple) -> tuple[float, bool]:
    """(hash, arch, epochs, seed, space, recipe, metric name) -> (metric, constant) on the validation infants."""
    _, arch, epochs, seed, space, recipe, name = task
    tr, va, device = state["train"], state["val"], state["device"]
    threads, levels = torch.get_num_threads(), [logging.getLogger(n).level for n in QUIET]
    if device.type == "cpu":
        torch.set_num_threads(1)  # the same numbers here as in a worker process
    for logger in QUIET:
        logging.getLogger(logger).setLevel(logging.WARNING)
    try:
        seed_everything(seed)
        model = make_model(arch, space, tr.n_channels, tr.n_samples, tr.n_classes, tr.sfreq).to(device)
        best, _, _ = train(model, tr, va, recipe, device, seed)
        if best is not None:
            model.load_state_dict(best)
        pred = predict(model, va.x, device).argmax(1)
    finally:
        torch.set_num_threads(threads)
        for logger, level in zip(QUIET, levels, strict=True):
            logging.getLogger(logger).setLevel(level)
    return float(metric(va.y, pred, name, va.n_classes)), bool(len(pred) > 1 and (pred == pred[0]).all())


class StandaloneEstimator(Estimator):
    seed_of = staticmethod(child_seed)  # for the fidelity check, which trains panel nets as children are trained
    train_task = staticmethod(train_child)
    cap = staticmethod(cap)

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.cfg = ctx.cfg.standalone
        self.recipe = from_dict(RetrainConfig, dict(self.cfg.recipe), "standalone.recipe")
        self.space = to_dict(ctx.cfg.space)
        self.cache: dict[str, tuple[float, bool]] = {}  # "hash@rung" -> (metric, constant)
        local = {"train": ctx.train, "val": ctx.val, "device": ctx.device}
        args = (ctx.folds, ctx.fold, ctx.cfg.training.drop_artifacts, str(ctx.device))
        self.pool = Pool(self.cfg.workers, local, args, threads=1)

    def _train(self, todo: dict[str, tuple]) -> None:
        """Train every (key -> task) not cached yet, side by side; the cache is filled in a fixed order."""
        done = {task[0] + "@" + str(task[2]): out for task, out, _ in self.pool.map(train_child, list(todo.values()))}
        for key in todo:
            self.cache[key] = done[key]

    def score(self, archs: list[dict]) -> list[Score]:
        hashes = [arch_hash(a) for a in archs]
        name = self.ctx.cfg.reward.metric
        result: list[Score] = [Score(math.nan, False) for _ in archs]
        alive = list(range(len(archs)))
        for level, epochs in enumerate(self.cfg.rungs):
            recipe = replace(self.recipe, epochs=epochs, patience=epochs, min_epochs=cap(self.recipe.min_epochs, epochs),
                             monitor=name)
            todo = {}
            for i in alive:
                key = f"{hashes[i]}@{epochs}"
                if key not in self.cache and key not in todo:
                    todo[key] = (hashes[i], archs[i], epochs, child_seed(self.ctx.seed, hashes[i], epochs), self.space,
                                 recipe, name)
                    result[i].child_epochs += epochs  # the first child of an architecture pays for its training
            self._train(todo)
            log.debug("rung %d epochs: %d of %d children trained (the rest cached)", epochs, len(todo), len(alive))
            for i in alive:
                result[i].metric, result[i].constant = self.cache[f"{hashes[i]}@{epochs}"]
                result[i].rung = epochs
            if level + 1 == len(self.cfg.rungs):
                break
            order = sorted(alive, key=lambda i: (result[i].constant, -result[i].metric))  # stable: ties keep order
            alive = sorted(order[: math.ceil(len(alive) / self.cfg.eta)])
        return result

    @classmethod
    def planned_child_epochs(cls, cfg) -> float:
        """Every batch of num_aggregate children through every rung, nothing cached (an upper bound)."""
        alive, per_batch = cfg.controller.num_aggregate, 0
        for epochs in cfg.standalone.rungs:
            per_batch += alive * epochs
            alive = math.ceil(alive / cfg.standalone.eta)
        batches = (cfg.training.epochs - cfg.training.warmup_epochs) * cfg.controller.train_steps
        return float(batches * per_batch)

    def state_dict(self) -> dict:
        return {"cache": dict(self.cache)}

    def load_state_dict(self, state: dict) -> None:
        self.cache = dict(state["cache"])

    def close(self) -> None:
        self.pool.close()
