"""The weight-sharing supernet of ENAS: every candidate op of every layer exists once, and each child
network is a path through it.

`Supernet(x, arch)` runs only the sampled child's ops, so a training step costs about as much as
training that child alone (bench/bench_search.py measures the ratio), and every child starts from
what all earlier children learned.

Batch norm always normalises with the statistics of the current batch (track_running_stats=False):
running averages would mix the statistics of many different children and make each child's
validation score depend on which children happened to run before it.
"""

from __future__ import annotations

import torch
from torch import nn

from neonas.engine.space import (
    ChildNet,
    Head,
    SpaceConfig,
    Stem,
    check_input,
    make_op,
    op_choices,
    op_key,
    skip_norms,
    validate_arch,
)


class Supernet(nn.Module):
    def __init__(self, space: SpaceConfig, n_channels: int, n_samples: int, n_classes: int):
        super().__init__()
        check_input(space, n_channels, n_samples)
        self.space = space
        self.n_channels, self.n_samples, self.n_classes = n_channels, n_samples, n_classes
        self.stem = Stem(space, track_running_stats=False)
        self.layers = nn.ModuleList(
            nn.ModuleDict({op_key(op): make_op(op, space, track_running_stats=False) for op in op_choices(space)})
            for _ in range(space.n_layers)
        )
        self.post = skip_norms(space, track_running_stats=False)  # one per layer, shared by all its ops
        self.head = Head(space, n_classes)

    def forward(self, x: torch.Tensor, arch: dict) -> torch.Tensor:
        """Logits of child `arch` (canonical form, as from space.decode) for x (B, C, T)."""
        h = self.stem(x)
        outs: list[torch.Tensor] = []
        for i, (ops, layer) in enumerate(zip(self.layers, arch["layers"], strict=True)):
            h = ops[op_key(layer)](h)
            for j in layer["skips"]:
                h = h + outs[j]
            if self.post is not None and i > 0:
                h = self.post[i - 1](h)
            outs.append(h)
        return self.head(h)

    def child(self, arch: dict) -> ChildNet:
        """The standalone network of `arch` holding a copy of the shared weights (batch norm on batch
        statistics, as in the supernet), e.g. to check that the supernet computes the same function."""
        validate_arch(arch, self.space)
        net = ChildNet(arch, self.space, self.n_channels, self.n_samples, self.n_classes, track_running_stats=False)
        state = {f"stem.{k}": v for k, v in self.stem.state_dict().items()}
        state |= {f"head.{k}": v for k, v in self.head.state_dict().items()}
        if self.post is not None:
            state |= {f"post.{k}": v for k, v in self.post.state_dict().items()}
        for i, layer in enumerate(net.arch["layers"]):
            op_state = self.layers[i][op_key(layer)].state_dict()
            state |= {f"layers.{i}.{k}": v for k, v in op_state.items()}
        net.load_state_dict(state)
        return net
