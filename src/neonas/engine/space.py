"""The search space: which CNNs the search may build, their JSON form, and a standalone model for each.

An epoch of EEG (n_channels, n_samples) is treated as a one-plane image: channels (space) x time.
Every network is

    stem -> layer 0 -> layer 1 -> ... -> layer L-1 -> head

- stem (fixed): a temporal conv (kernel `stem_kernel`, stride `stem_stride`) applied to each channel
  with shared weights, batch norm, ReLU, then max pooling over `stem_pool` time steps. It only
  shortens time (T -> about T / (stem_stride * stem_pool)) and makes `filters` feature maps; it never
  mixes channels, so all spatial structure has to come from the searched layers.
- layer i (searched): ONE op out of
    * conv: a 2-D conv over (channel span k_s, channel dilation d_s) x (time kernel k_t, time dilation
      d_t), `filters` -> `filters`, then batch norm and ReLU;
    * pool: max or average pooling along time (kernel `pool_kernel`, stride 1).
  plus skip connections (the ENAS macro space): `skips` lists earlier layers whose outputs are
  added to this layer's op output, i.e. out_i = op_i(out_{i-1}) + sum_{j in skips} out_j; with
  `skip_bn` (as ENAS's general_child.py) every layer after the first batch-normalises that sum, so
  a skip does not add unnormalised activations.
- head (fixed): global average over channels and time, dropout, linear layer to the classes.

Every op keeps the tensor shape (filters, C, T'), so skips are plain sums and all candidate ops of a
layer are interchangeable in the weight-sharing supernet (supernet.py).

Channel edges: zero padding that keeps C ("same" padding). A conv whose channel extent
d_s*(k_s-1)+1 is larger than the montage simply sees zeros beyond the first and last channel. Why:
(1) the shape stays (C, T') for every op and channel count (C = 1 works), which skips and weight
sharing need; (2) the neonatal channel order (Fp1 C3 T3 O1 Fp2 C4 T4 O2 Cz) is two chains plus the
vertex, not a ring, so circular padding would invent neighbours (Cz next to Fp1); (3) "valid"
convolution would make C depend on the op, breaking skips and letting deep nets run out of channels.
With padding (e-1)//2 above and e-1-(e-1)//2 below, span 2 / dilation 4 still sees every
homologous pair (c, c+4) of the montage at some output row. On small montages some ops have an
output row that sees only padding (span 2 / dilation 4 on 1 or 2 channels): `dead_ops` names them,
and the search removes them from the controller's choices (`op_choices(space, n_channels)`). Others
compute the same function as a simpler op (on one channel every span is a temporal conv of its one
real tap): `merged_ops` names them, and the controller is offered each distinct function once, so
neither the policy's entropy nor the shared weights are split over duplicates.

The architecture JSON (docs/contracts.md) is the single exchange format:
    {"layers": [{"op": "conv", "span": 2, "dilation": 4, "time_kernel": 5, "skips": []},
                {"op": "pool", "kind": "max", "skips": [0]}]}
`arch_hash` is the first 12 hex digits of the SHA-1 of its canonical JSON (sorted keys, no spaces).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from neonas.engine.layers import (
    ConvOp,
    Head,
    PoolOp,
    Stem,
    _same_pad,
    check_input,
    make_op,
    skip_norms,
    stem_steps,
)
from neonas.engine.space_config import SpaceConfig
from neonas.errors import NeonasError

# the settings and the torch building blocks live in space_config.py and layers.py; importers take them from here
__all__ = ["NAMED_SPACES", "ChildNet", "ConvOp", "Decision", "Head", "PoolOp", "SpaceConfig", "Stem", "arch_hash",
           "arch_json", "build_model", "canonical", "check_input", "dead_ops", "decisions", "decode", "encode",
           "function_key", "make_op", "merged_ops", "named_space", "offered_op", "op_choices", "op_key", "op_label",
           "sees_only_padding", "skip_norms", "stem_steps", "thesis_best_arch", "validate_arch"]


#: named search spaces (`space: NAME` in a search config): SpaceConfig overrides. "thesis" is the thesis's space
#: (the dataclass defaults: spans 1-3 x dilations 1, 2, 4 x time kernels 3, 5, 7, two pools, skips; 23 ops).
#: "pairs" (config/calibration.yaml; the study default before issue 22): one time kernel and, per layer, a single
#: channel, a pair of neighbours or a pair of electrodes 4 apart (homologous left/right in the neonatal order), no
#: pools, no skips: the space where the shared weights ranked on the synthetic cohort (docs/search.md, "Fidelity of
#: each named space").
#: "eeg" has every dimension the study reports (3 spans x 3 dilations x 2 time kernels, a pool, skips) in 3 layers:
#: 15 ops per layer and 27,000 architectures, for searches that score children by stand-alone training: the study
#: default (config/config.yaml, with `estimator: standalone`).
NAMED_SPACES: dict[str, dict] = {
    "thesis": {},
    "pairs": {"spans": [1, 2], "dilations": [1, 4], "time_kernels": [5], "pools": [], "skips": False},
    "eeg": {"n_layers": 3, "spans": [1, 2, 3], "dilations": [1, 2, 4], "time_kernels": [3, 9], "pools": ["max"],
            "skips": True},
}


def named_space(name: str) -> dict:
    """The SpaceConfig keys of a named space; an unknown name is a NeonasError listing the names."""
    if name not in NAMED_SPACES:
        raise NeonasError(f"space: unknown named space {name!r}; named spaces are {sorted(NAMED_SPACES)} (or give a "
                          "mapping of space keys)")
    return dict(NAMED_SPACES[name])


# ----------------------------------------------------------------------------- architectures

def op_choices(space: SpaceConfig, n_channels: int | None = None) -> list[dict]:
    """All ops a layer may take, in a fixed order (convs, then pools). Span 1 has no channel
    dilation, so it appears once per time kernel/dilation with dilation 1. With `n_channels`, the
    controller's choices for that montage: without the ops that would see only zero padding at some
    output row (`dead_ops`), and with every group of ops that compute the same function there
    (`merged_ops`) offered once, under its first member's name."""
    ops = []
    for span in space.spans:
        for dil in ([1] if span == 1 else space.dilations):
            for tk in space.time_kernels:
                for td in space.time_dilations:
                    ops.append(_conv(span, dil, tk, td))
    ops += [{"op": "pool", "kind": kind} for kind in space.pools]
    if n_channels is None:
        return ops
    seen: set = set()
    offered = []
    for op in ops:
        key = function_key(op, n_channels)
        if key is not None and key not in seen:
            seen.add(key)
            offered.append(op)
    return offered


def function_key(op: dict, n_channels: int) -> tuple | None:
    """What `op` computes on an n_channels montage, as a hashable key: equal keys, same function family.

    A conv's output row r is sum_o W_o * x[r + o] over its channel offsets o (zero beyond the montage),
    so only the offsets with |o| < n_channels matter: on one channel every span reduces to its offset-0
    tap (span 2 x dilation 1, span 3 x any dilation and span 1 are one temporal conv). None for a dead op."""
    if op["op"] != "conv":
        return ("pool", op["kind"])
    if sees_only_padding(op, n_channels):
        return None
    top = _same_pad(op["span"], op["dilation"])[0]
    offsets = tuple(j * op["dilation"] - top for j in range(op["span"]) if abs(j * op["dilation"] - top) < n_channels)
    return ("conv", offsets, op["time_kernel"], op.get("time_dilation", 1))


def merged_ops(space: SpaceConfig, n_channels: int) -> dict[str, list[str]]:
    """label of each offered op -> labels of the other ops of the space it stands for on this montage
    (they compute the same function; only ops with duplicates are listed)."""
    offered = {function_key(op, n_channels): op_label(op) for op in op_choices(space, n_channels)}
    merged: dict[str, list[str]] = {}
    for op in op_choices(space):
        key = function_key(op, n_channels)
        if key is not None and op_label(op) != offered[key]:
            merged.setdefault(offered[key], []).append(op_label(op))
    return merged


def offered_op(op: dict, space: SpaceConfig, n_channels: int) -> dict:
    """The op the controller offers for `op` on this montage (itself, or the first op it was merged into)."""
    key = function_key(op, n_channels)
    for candidate in op_choices(space, n_channels):
        if function_key(candidate, n_channels) == key:
            return candidate
    raise NeonasError(f"op '{op_label(op)}' sees only padding on {n_channels} channel(s)")


def sees_only_padding(op: dict, n_channels: int) -> bool:
    """True when some output row of this op sees only the zero padding beyond the montage's edges
    (all k_s taps outside 0..C-1): there the op's output does not depend on the input."""
    if op["op"] != "conv":
        return False
    top = _same_pad(op["span"], op["dilation"])[0]
    taps = [j * op["dilation"] - top for j in range(op["span"])]
    return any(all(not 0 <= r + t < n_channels for t in taps) for r in range(n_channels))


def dead_ops(space: SpaceConfig, n_channels: int) -> list[dict]:
    """The ops of the space that see only padding at some output row on an n_channels montage: on
    1 channel every span-2 op with channel dilation >= 2, on 2 channels those with dilation >= 4.
    A net made of them outputs a constant, and a constant net scores the majority class."""
    return [op for op in op_choices(space) if sees_only_padding(op, n_channels)]


def _conv(span: int, dilation: int, time_kernel: int, time_dilation: int = 1) -> dict:
    op = {"op": "conv", "span": span, "dilation": 1 if span == 1 else dilation, "time_kernel": time_kernel}
    if time_dilation != 1:
        op["time_dilation"] = time_dilation
    return op


def op_label(op: dict) -> str:
    """Short human-readable name, e.g. 'conv s2 d4 t5' or 'maxpool'."""
    if op["op"] == "pool":
        return f"{op['kind']}pool"
    td = op.get("time_dilation", 1)
    return f"conv s{op['span']} d{op['dilation']} t{op['time_kernel']}" + (f" td{td}" if td != 1 else "")


def op_key(op: dict) -> str:
    """Identifier usable as an nn.ModuleDict key (no dots)."""
    return op_label(op).replace(" ", "_")


def canonical(arch: dict) -> dict:
    """The normal form of a (validated) architecture: fixed keys, sorted skips, dilation 1 for span 1,
    time_dilation only when not 1. Equal networks have equal canonical forms."""
    validate_arch(arch)
    layers = []
    for layer in arch["layers"]:
        if layer["op"] == "conv":
            op = _conv(layer["span"], layer["dilation"], layer["time_kernel"], layer.get("time_dilation", 1))
        else:
            op = {"op": "pool", "kind": layer["kind"]}
        op["skips"] = sorted(int(j) for j in layer.get("skips", []))
        layers.append(op)
    return {"layers": layers}


def arch_json(arch: dict) -> str:
    """Compact one-line JSON (as in children.csv), keys in the documented order."""
    return json.dumps(canonical(arch), separators=(",", ":"))


def arch_hash(arch: dict) -> str:
    """Stable 12-hex id: SHA-1 of the canonical JSON with sorted keys and no spaces."""
    text = json.dumps(canonical(arch), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def thesis_best_arch(space: SpaceConfig | None = None) -> dict:
    """The thesis's best net: every layer a conv with span 2, dilation 4, 5 time steps, no skips."""
    n = (space or SpaceConfig()).n_layers
    return {"layers": [{**_conv(2, 4, 5), "skips": []} for _ in range(n)]}


_CONV_KEYS = {"op", "span", "dilation", "time_kernel", "time_dilation", "skips"}
_POOL_KEYS = {"op", "kind", "skips"}


def validate_arch(arch: dict, space: SpaceConfig | None = None, where: str = "architecture") -> None:
    """Check the JSON structure; with `space`, also that every op and skip is in that space."""
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list) or not arch["layers"]:
        raise NeonasError(f"{where}: expected {{\"layers\": [...]}} with at least one layer")
    extra = set(arch) - {"layers"}
    if extra:
        raise NeonasError(f"{where}: unknown key(s) {sorted(extra)}; an architecture has only 'layers'")
    for i, layer in enumerate(arch["layers"]):
        at = f"{where}: layer {i}"
        if not isinstance(layer, dict):
            raise NeonasError(f"{at}: expected a mapping, found {layer!r}")
        kind = layer.get("op")
        if kind not in ("conv", "pool"):
            raise NeonasError(f"{at}: 'op' must be 'conv' or 'pool', found {kind!r}")
        allowed = _CONV_KEYS if kind == "conv" else _POOL_KEYS
        unknown = set(layer) - allowed
        if unknown:
            raise NeonasError(f"{at}: unknown key(s) {sorted(unknown)}; a {kind} layer has {sorted(allowed)}")
        if kind == "conv":
            for key in ("span", "dilation", "time_kernel", "time_dilation"):
                value = layer.get(key, 1 if key == "time_dilation" else None)
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise NeonasError(f"{at}: '{key}' must be an integer >= 1, found {value!r}")
        elif layer.get("kind") not in ("max", "avg"):
            raise NeonasError(f"{at}: pool 'kind' must be 'max' or 'avg', found {layer.get('kind')!r}")
        skips = layer.get("skips", [])
        if not isinstance(skips, list) or any(isinstance(j, bool) or not isinstance(j, int) for j in skips):
            raise NeonasError(f"{at}: 'skips' must be a list of earlier layer indices, found {skips!r}")
        if any(not 0 <= j < i for j in skips) or len(set(skips)) != len(skips):
            raise NeonasError(f"{at}: 'skips' must list distinct earlier layers (0..{i - 1}), found {skips}")
    if space is None:
        return
    if len(arch["layers"]) != space.n_layers:
        raise NeonasError(f"{where}: has {len(arch['layers'])} layers but the search space has {space.n_layers}")
    labels = {op_label(op) for op in op_choices(space)}
    for i, layer in enumerate(canonical(arch)["layers"]):
        if op_label(layer) not in labels:
            raise NeonasError(f"{where}: layer {i} op '{op_label(layer)}' is not in the search space")
        if layer["skips"] and not space.skips:
            raise NeonasError(f"{where}: layer {i} has skips but the search space has skips: false")


# ----------------------------------------------------------------------------- decisions

@dataclass(frozen=True)
class Decision:
    """One step of the controller, which knows nothing about CNNs.

    kind "choice": pick one of `size` options (`labels` names them).
    kind "multi": pick any subset of the first `size` anchors. Every "multi" decision, even one with
    size 0, leaves an anchor (its LSTM state) that later multi decisions can select (ENAS attention).
    """

    name: str
    kind: Literal["choice", "multi"]
    size: int
    labels: tuple[str, ...] = ()


def decisions(space: SpaceConfig, n_channels: int | None = None) -> list[Decision]:
    """The space as the controller's list of decisions: per layer its op, then (if skips are on)
    which earlier layers to add. With `n_channels`, without that montage's dead ops."""
    labels = tuple(op_label(op) for op in op_choices(space, n_channels))
    out = []
    for i in range(space.n_layers):
        out.append(Decision(f"layer{i}.op", "choice", len(labels), labels))
        if space.skips:
            out.append(Decision(f"layer{i}.skips", "multi", i, tuple(f"layer{j}" for j in range(i))))
    return out


def decode(space: SpaceConfig, choices: list, n_channels: int | None = None) -> dict:
    """Controller choices (an int per 'choice', a 0/1 list per 'multi' decision) -> architecture.
    `n_channels` as given to `decisions`."""
    ops = op_choices(space, n_channels)
    per_layer = 2 if space.skips else 1
    if len(choices) != per_layer * space.n_layers:
        raise ValueError(f"expected {per_layer * space.n_layers} choices, got {len(choices)}")
    layers = []
    for i in range(space.n_layers):
        layer = dict(ops[int(choices[per_layer * i])])
        mask = choices[per_layer * i + 1] if space.skips else []
        layer["skips"] = [j for j, bit in enumerate(mask) if int(bit)]
        layers.append(layer)
    return {"layers": layers}


def encode(space: SpaceConfig, arch: dict, n_channels: int | None = None) -> list:
    """Architecture -> controller choices (the inverse of `decode`)."""
    validate_arch(arch, space)
    ops = op_choices(space, n_channels)
    index = {op_label(op): k for k, op in enumerate(ops)}
    choices: list = []
    for i, layer in enumerate(canonical(arch)["layers"]):
        label = op_label(layer)
        if n_channels is not None and label not in index:  # a merged op: the one offered in its place
            try:
                label = op_label(offered_op(layer, space, n_channels))
            except NeonasError as err:
                raise NeonasError(f"layer {i}: {err}") from None
        choices.append(index[label])
        if space.skips:
            choices.append([int(j in layer["skips"]) for j in range(i)])
    return choices


# ----------------------------------------------------------------------------- modules

class ChildNet(nn.Module):
    """A standalone network of the space: stem, the architecture's layers, head. Input (B, C, T)."""

    def __init__(self, arch: dict, space: SpaceConfig, n_channels: int, n_samples: int, n_classes: int,
                 track_running_stats: bool = True):
        super().__init__()
        validate_arch(arch)
        check_input(space, n_channels, n_samples)
        self.arch = canonical(arch)
        self.n_channels, self.n_samples, self.n_classes = n_channels, n_samples, n_classes
        self.stem = Stem(space, track_running_stats)
        self.layers = nn.ModuleList(make_op(layer, space, track_running_stats) for layer in self.arch["layers"])
        self.skips = [layer["skips"] for layer in self.arch["layers"]]
        self.post = skip_norms(space, track_running_stats)
        self.head = Head(space, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        outs: list[torch.Tensor] = []
        for i, (op, skips) in enumerate(zip(self.layers, self.skips, strict=True)):
            h = op(h)
            for j in skips:
                h = h + outs[j]
            if self.post is not None and i > 0:
                h = self.post[i - 1](h)
            outs.append(h)
        return self.head(h)


def build_model(arch: dict, space: SpaceConfig, n_channels: int, n_samples: int, n_classes: int) -> nn.Module:
    """The standalone nn.Module of `arch` for inputs (batch, n_channels, n_samples) -> logits (batch, n_classes).

    Ops need not be in `space`'s candidate sets (a hand-written architecture may use any span, kernel
    or dilation); `space` supplies filters, stem, pool kernel and dropout.
    """
    return ChildNet(arch, space, n_channels, n_samples, n_classes)
