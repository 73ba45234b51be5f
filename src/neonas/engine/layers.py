"""The building blocks of every network of the space (ops, stem, head, skip norms) as torch modules; split
from space.py, which exports them. Shapes and padding: see space.py's module docstring."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neonas.engine.space_config import SpaceConfig
from neonas.errors import NeonasError


def _same_pad(kernel: int, dilation: int) -> tuple[int, int]:
    """Zero padding (before, after) that keeps the length for a dilated kernel."""
    extent = dilation * (kernel - 1) + 1
    return (extent - 1) // 2, extent - 1 - (extent - 1) // 2


class ConvOp(nn.Module):
    """Conv over channels x time with zero 'same' padding (keeps C and T), batch norm, ReLU."""

    def __init__(self, filters: int, span: int, dilation: int, time_kernel: int, time_dilation: int = 1,
                 track_running_stats: bool = True):
        super().__init__()
        # F.pad order for the last two dims: (time left, time right, channel top, channel bottom)
        self.pad = _same_pad(time_kernel, time_dilation) + _same_pad(span, dilation)
        self.conv = nn.Conv2d(filters, filters, (span, time_kernel), dilation=(dilation, time_dilation), bias=False)
        self.bn = nn.BatchNorm2d(filters, track_running_stats=track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(F.pad(x, self.pad))))


class PoolOp(nn.Module):
    """Max or average pooling along time (stride 1, 'same' padding); no weights."""

    def __init__(self, kind: str, kernel: int):
        super().__init__()
        self.kind, self.kernel = kind, kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, p = (1, self.kernel), (0, self.kernel // 2)
        if self.kind == "max":
            return F.max_pool2d(x, k, stride=1, padding=p)
        return F.avg_pool2d(x, k, stride=1, padding=p, count_include_pad=False)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, kernel={self.kernel}"


def make_op(op: dict, space: SpaceConfig, track_running_stats: bool = True) -> nn.Module:
    if op["op"] == "pool":
        return PoolOp(op["kind"], space.pool_kernel)
    return ConvOp(space.filters, op["span"], op["dilation"], op["time_kernel"], op.get("time_dilation", 1),
                  track_running_stats)


class Stem(nn.Module):
    """Fixed front end: per-channel temporal conv (shared over channels) + BN + ReLU + time max-pool."""

    def __init__(self, space: SpaceConfig, track_running_stats: bool = True):
        super().__init__()
        k = space.stem_kernel
        self.conv = nn.Conv2d(1, space.filters, (1, k), stride=(1, space.stem_stride), padding=(0, k // 2), bias=False)
        self.bn = nn.BatchNorm2d(space.filters, track_running_stats=track_running_stats)
        self.pool = nn.MaxPool2d((1, space.stem_pool)) if space.stem_pool > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, F, C, T')
        return self.pool(F.relu(self.bn(self.conv(x.unsqueeze(1)))))


class Head(nn.Module):
    """Fixed classifier: average over channels and time, dropout, linear."""

    def __init__(self, space: SpaceConfig, n_classes: int):
        super().__init__()
        self.dropout = nn.Dropout(space.dropout)
        self.fc = nn.Linear(space.filters, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x.mean(dim=(2, 3))))


def stem_steps(space: SpaceConfig, n_samples: int) -> int:
    """Time steps after the stem for an input of n_samples."""
    k, s = space.stem_kernel, space.stem_stride
    return ((n_samples + 2 * (k // 2) - k) // s + 1) // space.stem_pool


def check_input(space: SpaceConfig, n_channels: int, n_samples: int) -> None:
    if n_channels < 1:
        raise NeonasError(f"input must have at least one channel, got {n_channels}")
    if n_samples < space.stem_kernel or stem_steps(space, n_samples) < 1:
        raise NeonasError(
            f"epochs of {n_samples} samples are too short for the stem (kernel {space.stem_kernel}, "
            f"stride {space.stem_stride}, pool {space.stem_pool}); lower space.stem_stride/stem_pool")


def skip_norms(space: SpaceConfig, track_running_stats: bool = True) -> nn.ModuleList | None:
    """The batch norms after the skip sum of layers 1..L-1 (`space.skip_bn`), or None."""
    if not space.skip_bn or space.n_layers < 2:
        return None
    return nn.ModuleList(nn.BatchNorm2d(space.filters, track_running_stats=track_running_stats)
                         for _ in range(space.n_layers - 1))
