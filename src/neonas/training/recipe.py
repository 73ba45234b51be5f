"""The retraining recipe (RetrainConfig) and its early stopping, without torch: the workflow checks a study's
`retrain:` section with it when snakemake parses the study (workflow/rules/common.smk), in milliseconds.

Early stopping keeps the weights of the best validation epoch after a warm-up. The warm-up must be shorter
than the training, or only the last epoch can be kept: the demo once retrained for 5 epochs with a 5-epoch
warm-up, kept epoch 5 (validation kappa 0.47) over epoch 4 (0.90), and its final model never staged QS
(issue 24). `min_epochs` left out (null) is therefore min(5, epochs // 2); set explicitly, it must be below
`epochs` (`warmup_problem`, refused by `load_config` and by the workflow at parse time). Likewise `smooth` left
out is min(3, epochs // 3): a 3-epoch mean on a 5-epoch training would span most of it. From 10 epochs on
(DREAMS, the thesis, every fidelity check) both are the measured 5 and 3, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: the warm-up measured on DREAMS (docs/retrain.md, studies/retrain_recipe.py); shortened on short trainings
DEFAULT_MIN_EPOCHS = 5
DEFAULT_SMOOTH = 3


@dataclass
class AugmentConfig:
    """Simple on-the-fly augmentation of training epochs (off by default)."""

    enabled: bool = False
    amplitude_scale: float = 0.1  # multiply each channel of an epoch by U(1 - s, 1 + s)
    noise_std: float = 0.05  # add Gaussian noise (signals are robust-normalised, so this is relative)
    max_shift_s: float = 0.0  # circularly shift each epoch by up to this many seconds


@dataclass
class RetrainConfig:
    """How every architecture (searched or hand-designed) is retrained. YAML keys map 1:1 onto fields."""

    epochs: int = 60  # upper bound; early stopping usually ends sooner
    batch_size: int = 64
    lr: float = 3e-3  # AdamW (docs/retrain.md: why not 1e-3)
    weight_decay: float = 1e-4  # AdamW-style decoupled decay
    patience: int = 10  # stop after this many epochs without a better validation `monitor`
    # early stopping on one small validation infant locks onto lucky early epochs; measured on DREAMS, 8 folds
    # x 5 seeds (docs/retrain.md, studies/retrain_recipe.py): kappa <= 0 in 18% of runs before, 5-8% with these
    min_epochs: int | None = None  # keep no weights, count no patience before this epoch; None: min(5, epochs // 2)
    smooth: int | None = None  # compare the mean `monitor` of the last `smooth` epochs; None: min(3, epochs // 3)
    monitor: Literal["kappa", "accuracy", "balanced_accuracy", "macro_f1", "val_loss"] = "kappa"
    class_weighting: Literal["inverse", "sqrt_inverse", "none"] = "inverse"  # loss weight per class
    grad_clip: float = 5.0  # max gradient norm; 0 disables
    drop_artifacts: bool = False  # drop epochs flagged in the HDF5 'artifact' dataset (train, val and test)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("min_epochs", "smooth"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (or null: set by epochs), got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("lr must be > 0, weight_decay and grad_clip >= 0")

    @property
    def first_epoch(self) -> int:
        """The first epoch whose weights early stopping may keep (an explicit min_epochs is capped at `epochs`)."""
        if self.min_epochs is None:
            return min(DEFAULT_MIN_EPOCHS, max(1, self.epochs // 2))
        return min(self.min_epochs, self.epochs)

    @property
    def window(self) -> int:
        """Epochs whose mean monitor early stopping compares (1 = each epoch's own value)."""
        return self.smooth if self.smooth is not None else min(DEFAULT_SMOOTH, max(1, self.epochs // 3))

    def warmup_problem(self) -> str | None:
        """Why early stopping could keep only the last epoch, or None (a one-epoch training has no choice)."""
        if self.epochs > 1 and self.first_epoch >= self.epochs:
            return (f"min_epochs {self.min_epochs} >= epochs {self.epochs}: early stopping could keep only the last "
                    f"epoch, however poor its validation score; set min_epochs below epochs, or leave it out "
                    f"(null: min({DEFAULT_MIN_EPOCHS}, epochs // 2) = {min(DEFAULT_MIN_EPOCHS, max(1, self.epochs // 2))})")
        return None


class EarlyStopping:
    """Which epoch's weights to keep: the best `monitor` (averaged over the last `window` epochs) from
    `first_epoch` on, ties broken by the lower validation loss; stop after `patience` epochs without one.

    A pure state machine, so that the rule can be tested on planted validation curves (tests/test_retrain.py).
    """

    def __init__(self, cfg: RetrainConfig):
        self.cfg, self.first = cfg, cfg.first_epoch
        self.best_score: tuple[float, float] = (-np.inf, -np.inf)
        self.best_epoch, self.stale = 0, 0
        self.recent: list[tuple[float, float]] = []  # (monitor, -val_loss) of the last `smooth` epochs

    def update(self, epoch: int, value: float, val_loss: float) -> bool:
        """Record epoch `epoch` (1-based) with its monitor value and validation loss; True if its weights are kept."""
        pair = (-val_loss, 0.0) if self.cfg.monitor == "val_loss" else (value, -val_loss)
        self.recent = [*self.recent, pair][-self.cfg.window:]
        score = tuple(float(v) for v in np.mean(self.recent, axis=0))
        if epoch < self.first:
            return False  # too early: a small validation set makes the first epochs' scores luck (docs/retrain.md)
        if score > self.best_score:
            self.best_score, self.best_epoch, self.stale = score, epoch, 0
            return True
        self.stale += 1
        return False

    @property
    def stop(self) -> bool:
        return self.stale >= self.cfg.patience


def kept_epoch(cfg: RetrainConfig, kappas: list[float], val_losses: list[float] | None = None) -> int:
    """The epoch early stopping keeps on a validation curve (monitor values by epoch from 1); 0 if none."""
    stopper = EarlyStopping(cfg)
    for epoch, value in enumerate(kappas, start=1):
        stopper.update(epoch, value, val_losses[epoch - 1] if val_losses else 0.0)
        if stopper.stop:
            break
    return stopper.best_epoch
