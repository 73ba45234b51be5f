"""The search space of a study as a reader needs it: its name, its size, and the statistics it fixes by
construction (aggregate's space.json).

A space without skips makes "with skips" 0 for every architecture, one time kernel makes every time extent
the same, a space without pools makes every layer a conv: such numbers describe the space, not what the
search found, and the report marks them as fixed (tables and captions) instead of reporting them.
"""

from __future__ import annotations

import json
import logging

from neonas.errors import NeonasError
from neonas.study.runs import Run, find

log = logging.getLogger(__name__)

OP_KEYS = ("spans", "dilations", "time_kernels", "time_dilations", "pools", "skips")  # what names a space
# statistic -> the report's columns (tab_archstats) and figure panels it appears in
FIXED_COLUMNS = {"skips": ["With skips"], "time": ["Time (ms)"], "pools": ["Conv share"], "span": ["Span"],
                 "dilation": ["Dilation"]}
FIXED_LABELS = {"skips": "skips", "time": "time kernel (ms)", "pools": "share of conv layers and of ops",
                "span": "channel span", "dilation": "channel dilation"}


def _space(cfg) -> object | None:
    from neonas.config import from_dict
    from neonas.engine.space import SpaceConfig, named_space

    try:
        return from_dict(SpaceConfig, named_space(cfg) if isinstance(cfg, str) else (cfg or {}), "summary.json: space")
    except (NeonasError, ValueError, TypeError):
        return None


def space_name(space) -> str:
    """'pairs' or 'thesis' (neonas.engine.space.NAMED_SPACES) when the space's ops are those of one, else 'custom'."""
    from neonas.engine.space import NAMED_SPACES

    for name, overrides in NAMED_SPACES.items():
        named = _space(overrides)
        if named is not None and all(getattr(named, k) == getattr(space, k) for k in OP_KEYS):
            return name
    return "custom"


def n_architectures(space, n_ops: int) -> int:
    """Architectures in the space: product over the controller's decisions (neonas.engine.space.decisions) of
    their options: `n_ops` per layer's op, 2^i subsets of the i earlier layers per skip decision."""
    from neonas.engine.space import decisions

    total = 1
    for d in decisions(space):
        total *= n_ops if d.kind == "choice" else 2 ** d.size
    return total


def fixed(space, n_ops: int) -> dict[str, str]:
    """Statistic -> why the space fixes it."""
    out = {}
    if not space.skips:
        out["skips"] = "the space has no skip connections (skips: false)"
    if len(space.time_kernels) == 1 and len(space.time_dilations) == 1:
        out["time"] = f"the space has one time kernel ({space.time_kernels[0]} steps)"
    if not space.pools:
        out["pools"] = "the space has no pooling ops, so every layer is a conv"
    if len(space.spans) == 1:
        out["span"] = f"the space has one channel span ({space.spans[0]})"
    if len(space.dilations) == 1 or set(space.spans) == {1}:
        out["dilation"] = "the space has one channel dilation"
    if n_ops == 1:
        out["ops"] = "the space offers one op per layer"
    return out


def space_info(runs: list[Run]) -> dict:
    """space.json: name, layers, ops per layer (as the searches offered them), number of architectures, and
    the statistics fixed by construction (those fixed in every run's space when runs differ)."""
    infos = []
    for cfg_json in sorted({json.dumps(find(r.summary.get("config", {}), "space"), sort_keys=True) for r in runs}):
        space = _space(json.loads(cfg_json))
        if space is None:
            continue
        offered = [len(r.summary["offered_ops"]) for r in runs if isinstance(r.summary.get("offered_ops"), list)
                   and json.dumps(find(r.summary.get("config", {}), "space"), sort_keys=True) == cfg_json]
        if offered:
            n_ops = max(offered)
        else:
            from neonas.engine.space import op_choices

            n_ops = len(op_choices(space))
        infos.append({"name": space_name(space), "n_layers": space.n_layers, "ops_per_layer": n_ops,
                      "skips": space.skips, "n_architectures": n_architectures(space, n_ops),
                      "fixed": fixed(space, n_ops)})
    if not infos:
        return {}
    if len(infos) > 1:
        log.warning("runs use %d different search spaces; space.json names the first and marks as fixed only what "
                    "every space fixes", len(infos))
    common = {k: v for k, v in infos[0]["fixed"].items() if all(k in i["fixed"] for i in infos)}
    return {**infos[0], "fixed": common, "n_spaces": len(infos)}


def describe(info: dict) -> str:
    """'the 'pairs' space: 4 layers x 3 ops, no skips: 81 architectures' (empty without a space)."""
    if not info:
        return ""
    n = info["n_architectures"]
    size = f"{n:,}" if n < 1e9 else f"{n:.2e}".replace("e+", " × 10^")
    what = "custom space" if info["name"] == "custom" else f"'{info['name']}' space"
    return (f"the {what}: {info['n_layers']} layers x {info['ops_per_layer']} ops per layer, "
            f"{'with' if info['skips'] else 'no'} skips: {size} architectures"
            + (f" (the first of {info['n_spaces']} spaces)" if info.get("n_spaces", 1) > 1 else ""))


def fixed_note(info: dict, keys=None) -> str:
    """The sentence a caption gets: which statistics the space fixes and why (empty when none)."""
    fixed = (info or {}).get("fixed", {})
    items = [fixed[k] for k in FIXED_LABELS if k in fixed and (keys is None or k in keys)]
    return "Not findings, fixed by the search space: " + "; ".join(items) + "." if items else ""
