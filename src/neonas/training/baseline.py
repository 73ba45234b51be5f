"""The hand-designed reference CNN that every searched architecture is compared against.

It follows the sleep-staging network of Chambon et al. 2018 ("A deep learning architecture for
temporal sleep stage classification using multivariate and multimodal time series", IEEE Trans.
Neural Syst. Rehabil. Eng. 26(4):758-769, doi:10.1109/TNSRE.2018.2813138), single-epoch variant
(no temporal context, k = 0), as in its Fig. 2:

1. spatial filtering: a linear map from the C input channels to C virtual channels (no nonlinearity);
2. two blocks of temporal convolution (8 filters, 0.5 s kernel, zero-padded to keep the length,
   ReLU) followed by temporal max-pooling (0.125 s);
3. flatten, dropout (p = 0.25), one linear layer to the class scores.

What is adapted for neonatal EEG, and why:

- Kernel and pool sizes are kept in *seconds*, not samples: the paper ran at 128 Hz (kernel 64,
  pool 16 samples); at the neonatal 64 Hz this gives kernel 32, pool 8 samples. Any sfreq/epoch
  length works, the layer sizes follow from them.
- On a 1-channel montage the spatial stage is the identity (nothing to mix), as braindecode does.
- Input is the 9-channel neonatal montage (`Fp1 C3 T3 O1 Fp2 C4 T4 O2 Cz`) instead of the paper's
  adult EEG/EOG/EMG, and the 4 neonatal stages (AS, QS, W, IS) instead of the 5 adult ones.
- Training follows neonas's common retraining recipe (`neonas retrain`: Adam, class-weighted
  cross-entropy, early stopping on validation infants) rather than the paper's balanced batch
  sampling, so that the baseline and the searched nets differ only in architecture.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

#: the name used on the command line (`--baseline handcrafted`) and stored as the model's arch
NAME = "handcrafted"


@dataclass
class BaselineConfig:
    """Layer sizes of the reference net; the defaults are Chambon et al. 2018's."""

    n_filters: int = 8  # temporal filters per conv block
    time_kernel_s: float = 0.5  # temporal conv kernel, seconds
    pool_s: float = 0.125  # max-pool size and stride, seconds
    dropout: float = 0.25  # before the final linear layer


class ChambonNet(nn.Module):
    """Spatial mixing -> 2 x (temporal conv, ReLU, max-pool) -> dropout -> linear. Input (B, C, T)."""

    def __init__(self, n_channels: int, n_samples: int, n_classes: int, sfreq: float,
                 cfg: BaselineConfig | None = None):
        super().__init__()
        cfg = cfg or BaselineConfig()
        kernel = max(1, round(cfg.time_kernel_s * sfreq))
        pool = max(1, round(cfg.pool_s * sfreq))
        if n_samples // pool // pool < 1:
            raise ValueError(f"epochs of {n_samples} samples are too short for two max-pools of {pool} samples")
        # linear mix of channels; with one channel there is nothing to mix, and a 1x1 conv would only scale
        # the EEG by a random weight (U(-1, 1): at seed 0 it shrinks it 133-fold), so it is the identity,
        # as in braindecode's SleepStagerChambon2018
        self.spatial = nn.Conv2d(1, n_channels, (n_channels, 1)) if n_channels > 1 else nn.Identity()
        # "same" padding of the paper; for even kernels pad one more sample on the right
        pad = (kernel // 2 - (1 - kernel % 2), kernel // 2, 0, 0)
        self.features = nn.Sequential(
            nn.ZeroPad2d(pad), nn.Conv2d(1, cfg.n_filters, (1, kernel)), nn.ReLU(), nn.MaxPool2d((1, pool)),
            nn.ZeroPad2d(pad), nn.Conv2d(cfg.n_filters, cfg.n_filters, (1, kernel)), nn.ReLU(),
            nn.MaxPool2d((1, pool)),
        )
        n_out = cfg.n_filters * n_channels * (n_samples // pool // pool)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(n_out, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spatial(x.unsqueeze(1))  # (B, C_virtual, 1, T); (B, 1, 1, T) for one channel
        x = x.transpose(1, 2)  # (B, 1, C_virtual, T): virtual channels become the image rows
        return self.head(self.features(x))


def build_model(n_channels: int, n_samples: int, n_classes: int, sfreq: float,
                cfg: BaselineConfig | dict | None = None) -> ChambonNet:
    """Build the reference net; `cfg` may be the dict stored in model.pt (its `space`)."""
    if isinstance(cfg, dict):
        cfg = BaselineConfig(**cfg)
    return ChambonNet(n_channels, n_samples, n_classes, sfreq, cfg)


def default_space() -> dict:
    return asdict(BaselineConfig())
