"""ENAS's estimator: one weight-sharing supernet (supernet.py), trained on the paths the sampler proposes in each
epoch's shared phase; a child is scored with those weights on one validation minibatch or all of it
(`reward.validation`). Scoring trains nothing: a search's child-epochs are its shared passes (one per epoch)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from neonas.engine.api import Context, Estimator, Score
from neonas.engine.reward import metric
from neonas.engine.supernet import Supernet
from neonas.torchutil import autocast


class SupernetEstimator(Estimator):
    shared = True

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        cfg, t, device = ctx.cfg, ctx.cfg.training, ctx.device
        self.x_train = torch.from_numpy(ctx.train.x).to(device)
        self.y_train = torch.from_numpy(ctx.train.y).to(device)
        self.x_val = torch.from_numpy(ctx.val.x).to(device)
        self.y_val = ctx.val.y
        self.supernet = Supernet(cfg.space, ctx.n_channels, ctx.train.n_samples, ctx.n_classes).to(device)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), lr=t.lr, momentum=t.momentum,
                                         nesterov=t.momentum > 0, weight_decay=t.weight_decay)
        counts = np.bincount(ctx.train.y, minlength=ctx.n_classes).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
        self.class_weight = torch.tensor(weights if t.class_weighted else np.ones(ctx.n_classes),
                                         dtype=torch.float32, device=device)

    def train_batch(self, idx, arch: dict, lr: float | None = None) -> tuple[float, int]:
        if lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        xb, yb = self.x_train[idx], self.y_train[idx]
        self.supernet.train()
        with autocast(self.ctx.device):
            logits = self.supernet(xb, arch)
        loss = F.cross_entropy(logits.float(), yb, weight=self.class_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.ctx.cfg.training.grad_clip)
        self.optimizer.step()
        return float(loss.detach()) * len(idx), int((logits.argmax(1) == yb).sum())

    def predict(self, arch: dict, x) -> np.ndarray:
        self.supernet.eval()
        size, preds = self.ctx.cfg.training.val_batch_size, []
        with torch.no_grad(), autocast(self.ctx.device):
            for start in range(0, x.shape[0], size):
                preds.append(self.supernet(x[start:start + size], arch).argmax(1).cpu())
        return torch.cat(preds).numpy()

    def score_one(self, arch: dict, full: bool | None = None) -> tuple[float, bool]:
        """(metric, constant) of `arch` on one random validation minibatch or the whole validation set;
        `constant` when it predicted one class for every epoch scored."""
        cfg = self.ctx.cfg
        full = cfg.reward.validation == "full" if full is None else full
        if full:
            idx = np.arange(len(self.y_val))
            pred = self.predict(arch, self.x_val)
        else:
            idx = torch.randperm(len(self.y_val), generator=self.ctx.gens["val"], device="cpu")[
                : cfg.training.val_batch_size]
            pred = self.predict(arch, self.x_val[idx.to(self.x_val.device)])
            idx = idx.numpy()
        constant = len(pred) > 1 and bool((pred == pred[0]).all())
        return metric(self.y_val[idx], pred, cfg.reward.metric, self.ctx.n_classes), constant

    def score(self, archs: list[dict]) -> list[Score]:
        return [Score(*self.score_one(arch)) for arch in archs]

    @classmethod
    def planned_child_epochs(cls, cfg) -> float:
        return float(cfg.training.epochs)  # one shared pass over the training infants per epoch

    def final_state(self) -> dict:
        return self.supernet.state_dict()

    def state_dict(self) -> dict:
        return {"supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
