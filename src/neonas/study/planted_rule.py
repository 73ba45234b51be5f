"""The `lag` control's rule (neonas.ingest.synth_controls): which architectures can see a relation between rows
`distance` apart at `lag` stem steps, by receptive-field arithmetic, and its share of a search space by enumeration.
In the study layer because it reads the search space (engine) and the cohort's constants (ingest)."""

from __future__ import annotations

import itertools
from functools import cache

from neonas.ingest.synth_controls import LAG_DISTANCE, LAG_STEPS


def _op_rf(op: dict) -> tuple[tuple[int, ...], int]:
    """(channel offsets, time half-width in stem steps) of one op (convs: same padding as layers._same_pad)."""
    if op["op"] != "conv":
        return (0,), 1  # pool: one row, +-1 step (pool_kernel 3)
    extent = op["dilation"] * (op["span"] - 1) + 1
    top = (extent - 1) // 2
    half = (op["time_kernel"] - 1) // 2 * op.get("time_dilation", 1)
    return tuple(j * op["dilation"] - top for j in range(op["span"])), half


def _minkowski(rf: frozenset, op: dict) -> frozenset:
    chans, half = _op_rf(op)
    return frozenset((c + o, t + dt) for c, t in rf for o in chans for dt in range(-half, half + 1))


def _sees(rf: frozenset, distance: int, lag: int) -> bool:
    return any((c + distance, t + lag) in rf for c, t in rf)


def sees_lag(arch: dict, distance: int = LAG_DISTANCE, lag: int = LAG_STEPS) -> bool:
    """The rule: does some nonlinear node of `arch` see two rows `distance` apart, `lag` stem steps apart?
    out_i = node_i(out_{i-1}) + sum of the skipped outs (space.py), so node_i's field is op_i's taps added to the
    union of its input's fields."""
    layers = arch["layers"]
    return _sees_cached(tuple(_key(layer) for layer in layers), distance, lag)


def _key(layer: dict) -> tuple:
    op = tuple(sorted((k, v) for k, v in layer.items() if k != "skips"))
    return op, tuple(layer.get("skips", []))


@cache
def _sees_cached(layers: tuple, distance: int, lag: int) -> bool:
    outs: list[frozenset] = []
    prev = frozenset({(0, 0)})  # the stem: one row, one step
    for op_items, skips in layers:
        node = _minkowski(prev, dict(op_items))
        if _sees(node, distance, lag):
            return True
        out = node.union(*(outs[j] for j in skips))
        outs.append(out)
        prev = out
    return False


def enumerate_space(space, distance: int = LAG_DISTANCE, lag: int = LAG_STEPS) -> tuple[int, int]:
    """(architectures that satisfy the rule, all architectures) of a SpaceConfig on the 9-channel montage: every
    op of every layer (op_choices, as the controller offers them) x every skip subset."""
    from neonas.engine.space import op_choices

    ops = [tuple(sorted(op.items())) for op in op_choices(space, 9)]
    skip_sets = [[tuple(j for j in range(i) if mask >> j & 1) for mask in range(2 ** i)] if space.skips else [()]
                 for i in range(space.n_layers)]
    hits = total = 0
    for layer_ops in itertools.product(ops, repeat=space.n_layers):
        for skips in itertools.product(*skip_sets):
            total += 1
            hits += _sees_cached(tuple(zip(layer_ops, skips, strict=True)), distance, lag)
    return hits, total
