"""What the searched CNNs look at: spatial (channel) and temporal extent of each architecture.

Every statistic here is a pure function of the architecture JSON of docs/contracts.md, so it can be
checked on hand-written architectures. Definitions (also in docs/report.md):

- A conv layer with channel span k and channel dilation d sees channels i, i+d, ..., i+(k-1)d.
  Its *effective spatial extent* is (k-1)*d + 1 electrodes (the channel offset covered, inclusive),
  and it *covers* the channel offsets {d, 2d, ..., (k-1)d} (differences between channels it mixes).
- Stacked conv layers compose: one output unit sees the sum set of the layers' offset sets, and
  covers every positive difference within it (channel padding assumed, edges ignored).
- Extent in cm: for each valid placement of the kernel on the montage, the largest along-scalp
  distance between the electrodes it sees, averaged over placements. Electrodes sit at their
  idealised 10-20 positions on a spherical head whose circumference defaults to 35 cm (a term
  newborn; preterm heads are smaller, pass `head_circumference_cm`).
- Spatial statistics need a montage to act on: with 1 channel no conv mixes channels, with 2 only
  offset 1 exists (dilation cannot be told from span, wider kernels see zero padding). On montages
  of fewer than MIN_SPATIAL_CHANNELS channels span, dilation and extent are NaN (left out of the
  tables, with `spatial_note`), and offset coverage is NaN when the offset does not fit the montage.
- A time kernel of t steps with time dilation u spans (t-1)*u + 1 steps of the stem output; one step
  is stem_stride * stem_pool input samples (neonas.engine.space), so ms = steps * step_samples / sfreq * 1000.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from neonas.errors import NeonasError

#: The neonatal montage of docs/contracts.md: left chain, right chain, vertex.
NEONATAL_MONTAGE = ("Fp1", "C3", "T3", "O1", "Fp2", "C4", "T4", "O2", "Cz")

#: Term-newborn head circumference (cm), WHO median at birth is about 34.5 cm.
HEAD_CIRCUMFERENCE_CM = 35.0

#: Fewest channels on which span, dilation and spatial extent describe the montage (module docstring).
MIN_SPATIAL_CHANNELS = 3


def spatial_ok(n_channels: int | None) -> bool:
    """Do spatial statistics mean something on this montage? Unknown montages (None) are given the benefit."""
    return n_channels is None or n_channels >= MIN_SPATIAL_CHANNELS


def spatial_note(n_channels: int | None, removed_ops: Iterable[str] = ()) -> str:
    """One line for a report: why spatial statistics are left out, and which ops the search removed."""
    parts = []
    if not spatial_ok(n_channels):
        parts.append(f"span, dilation and spatial extent are left out: the montage has {n_channels} channel(s), "
                     f"they need at least {MIN_SPATIAL_CHANNELS}")
    removed = list(removed_ops)
    if removed:
        parts.append(f"{len(removed)} op(s) removed from the space for the {n_channels}-channel montage "
                     f"(they see only zero padding): {', '.join(removed)}")
    return "; ".join(parts)


def arch_hash(arch: dict) -> str:
    """Stable 12-hex id of an architecture (neonas.engine.space.arch_hash, imported lazily: it needs torch)."""
    from neonas.engine.space import arch_hash as space_hash

    return space_hash(arch)


def parse_arch(value: str | dict, where: str) -> dict:
    """Architecture from JSON text or a dict, checked against the contract; `where` names its source."""
    from neonas.engine.space import validate_arch

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise NeonasError(f"{where}: architecture is not valid JSON ({err.msg})") from None
    validate_arch(value, where=where)
    return value


# ---------------------------------------------------------------- single layers


def op_type(layer: dict) -> str:
    """'conv', 'maxpool' or 'avgpool' (the op without its sizes)."""
    return f"{layer['kind']}pool" if layer["op"] == "pool" else str(layer["op"])


def spatial_extent(span: int, dilation: int) -> int:
    """Electrodes from the first to the last channel one kernel placement sees, inclusive."""
    return (span - 1) * dilation + 1


def layer_offsets(span: int, dilation: int) -> set[int]:
    """Channel offsets a single conv layer mixes: {d, 2d, ..., (k-1)d}."""
    return {j * dilation for j in range(1, span)}


def time_extent(time_kernel: int, time_dilation: int = 1) -> int:
    """Samples spanned by a (dilated) time kernel."""
    return (time_kernel - 1) * time_dilation + 1


def stacked_offsets(arch: dict) -> set[int]:
    """Offsets covered by the stacked conv layers of `arch` (positive differences of the sum set)."""
    field = {0}
    for layer in arch["layers"]:
        if layer["op"] == "conv":
            field = {a + j * layer["dilation"] for a in field for j in range(layer["span"])}
    return {a - b for a in field for b in field if a > b}


def covers_offset(arch: dict, offset: int, stacked: bool = False) -> bool:
    """Does any conv layer (or, with stacked=True, the stack of them) mix channels `offset` apart?"""
    if stacked:
        return offset in stacked_offsets(arch)
    return any(
        offset in layer_offsets(layer["span"], layer["dilation"]) for layer in arch["layers"] if layer["op"] == "conv"
    )


# ---------------------------------------------------------------- scalp geometry

# Idealised 10-20 positions on a sphere: (polar angle from the vertex Cz, azimuth from the nose,
# positive towards the left ear), in degrees. Fp1..O1 sit on the equator at 10 %, 30 %, 50 %, 70 %,
# 90 % of the nasion-inion half circle; C3/C4 halfway between Cz and T3/T4 on the coronal line.
_SPHERE = {
    "Fpz": (90, 0), "Fp1": (90, 18), "Fp2": (90, -18), "F7": (90, 54), "F8": (90, -54),
    "T3": (90, 90), "T4": (90, -90), "T5": (90, 126), "T6": (90, -126),
    "O1": (90, 162), "O2": (90, -162), "Oz": (90, 180),
    "Fz": (45, 0), "Cz": (0, 0), "Pz": (45, 180), "C3": (45, 90), "C4": (45, -90),
}  # fmt: skip
_ALIASES = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6"}
# F3/F4/P3/P4 halve the parasagittal chain Fp-C-O
_MIDPOINTS = {"F3": ("Fp1", "C3"), "F4": ("Fp2", "C4"), "P3": ("C3", "O1"), "P4": ("C4", "O2")}


def _unit(name: str) -> np.ndarray:
    if name in _MIDPOINTS:
        a, b = _MIDPOINTS[name]
        v = _unit(a) + _unit(b)
        return v / np.linalg.norm(v)
    theta, phi = (math.radians(v) for v in _SPHERE[name])
    return np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)])


def electrode_name(channel: str) -> str | None:
    """'EEG Fp1-Ref' / 'Fp1' -> 'Fp1'; None for bipolar or unknown channels ('Fpz-Cz')."""
    text = re.sub(r"^(EEG|eeg)\s+", "", channel.strip())
    text = re.sub(r"-(Ref|REF|ref|A1|A2|M1|M2|avg|AVG)$", "", text)
    lookup = {k.lower(): k for k in list(_SPHERE) + list(_MIDPOINTS) + list(_ALIASES)}
    key = lookup.get(text.lower())
    return _ALIASES.get(key, key) if key else None


def scalp_distance_cm(a: str, b: str, head_circumference_cm: float = HEAD_CIRCUMFERENCE_CM) -> float:
    """Along-scalp (great-circle) distance between two 10-20 electrodes, as a tape measure reads it."""
    if a == b:
        return 0.0
    cos = float(np.clip(np.dot(_unit(a), _unit(b)), -1.0, 1.0))
    return math.acos(cos) * head_circumference_cm / (2 * math.pi)


def extent_cm(
    span: int, dilation: int, ch_names: Iterable[str] | None, head_circumference_cm: float = HEAD_CIRCUMFERENCE_CM
) -> float:
    """Mean over kernel placements of the largest along-scalp distance the kernel covers (NaN if unknown).

    Placements are those that fit on the montage; a kernel wider than the montage (it sees the zero
    padding of neonas.engine.space) counts its placements that see at least two electrodes instead.
    """
    if ch_names is None:
        return math.nan
    return _extent_cm(span, dilation, tuple(ch_names), head_circumference_cm)


@functools.lru_cache(maxsize=4096)  # a study has few distinct (span, dilation, montage): compute each once
def _extent_cm(span: int, dilation: int, ch_names: tuple[str, ...], head_circumference_cm: float) -> float:
    electrodes = [electrode_name(c) for c in ch_names]
    n, extent = len(electrodes), spatial_extent(span, dilation)
    if extent <= n:
        placements = [[s + j * dilation for j in range(span)] for s in range(n - extent + 1)]
    else:  # 'same' padding: output row r sees rows r - before + j*d that exist
        before = (extent - 1) // 2
        placements = [[r - before + j * dilation for j in range(span) if 0 <= r - before + j * dilation < n]
                      for r in range(n)]
        placements = [p for p in placements if len(p) >= 2]
    seen = [[electrodes[i] for i in p] for p in placements]
    if not seen or any(e is None for p in seen for e in p):
        return math.nan
    return float(np.mean([max(scalp_distance_cm(a, b, head_circumference_cm) for a in p for b in p) for p in seen]))


# ---------------------------------------------------------------- whole architectures


@dataclass(frozen=True)
class Geometry:
    """What turns layer sizes into physical units: the montage and the time step of the searched layers.

    The searched layers run on the stem's output, so one time step there is `step_samples` =
    stem_stride * stem_pool input samples (neonas.engine.space). Unknown fields give NaN, never a guess.
    """

    ch_names: tuple[str, ...] | None = NEONATAL_MONTAGE
    sfreq: float | None = None  # Hz of the input epochs
    step_samples: int | None = None  # input samples per time step of the searched layers
    head_circumference_cm: float = HEAD_CIRCUMFERENCE_CM

    @property
    def n_channels(self) -> int | None:
        return None if self.ch_names is None else len(self.ch_names)


def layer_rows(arch: dict, geometry: Geometry = Geometry()) -> list[dict]:
    """One row per conv layer: span, dilation, extent (electrodes, cm), time kernel (steps, samples, ms).
    On a montage too small for spatial statistics (`spatial_ok`), span, dilation and extents are NaN."""
    rows = []
    spatial = spatial_ok(geometry.n_channels)
    for i, layer in enumerate(arch["layers"]):
        if layer["op"] != "conv":
            continue
        span, dil = (layer["span"], layer["dilation"]) if spatial else (math.nan, math.nan)
        tk, td = layer["time_kernel"], int(layer.get("time_dilation", 1))
        steps = time_extent(tk, td)
        samples = steps * geometry.step_samples if geometry.step_samples else math.nan
        rows.append(
            {
                "layer": i,
                "span": span,
                "dilation": dil,
                "extent_el": spatial_extent(span, dil) if spatial else math.nan,
                "extent_cm": extent_cm(span, dil, geometry.ch_names, geometry.head_circumference_cm)
                if spatial else math.nan,
                "time_kernel": tk,
                "time_dilation": td,
                "time_extent_steps": steps,
                "time_extent_samples": samples,
                "time_extent_ms": samples / geometry.sfreq * 1000.0 if geometry.sfreq else math.nan,
            }
        )
    return rows


def arch_row(arch: dict, planted_offset: int | None = None, n_channels: int | None = None) -> dict:
    """Whole-architecture summary: layer and op counts, skips, planted-offset coverage. With `n_channels`,
    the spatial extent is NaN on a montage too small for it, and the coverage of an offset it cannot hold."""
    layers = arch["layers"]
    n = len(layers)
    n_skips = sum(len(layer.get("skips", [])) for layer in layers)
    convs = [layer for layer in layers if layer["op"] == "conv"]
    row = {
        "n_layers": n,
        "n_conv": len(convs),
        "n_skips": n_skips,
        # layer i may add skips from layers 0..i-1: n(n-1)/2 possible in all
        "skip_density": n_skips / (n * (n - 1) / 2) if n > 1 else 0.0,
        "has_skip": n_skips > 0,
        "max_extent_el": max((spatial_extent(c["span"], c["dilation"]) for c in convs), default=0)
        if spatial_ok(n_channels) else math.nan,
    }
    if planted_offset is not None:
        fits = n_channels is None or planted_offset < n_channels  # channels `offset` apart exist
        row["covers_planted"] = covers_offset(arch, planted_offset) if fits else math.nan
        row["covers_planted_stacked"] = covers_offset(arch, planted_offset, stacked=True) if fits else math.nan
        row["layers_covering_planted"] = layers_covering(arch, planted_offset) if fits else math.nan
    return row


def op_counts(arch: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for layer in arch["layers"]:
        counts[op_type(layer)] = counts.get(op_type(layer), 0) + 1
    return counts


def layers_covering(arch: dict, offset: int) -> int:
    """How many layers of `arch` mix channels `offset` apart (each conv layer on its own)."""
    return sum(
        offset in layer_offsets(layer["span"], layer["dilation"]) for layer in arch["layers"] if layer["op"] == "conv"
    )


def uniform_layer_rate(space_cfg: dict | None, offset: int, where: str = "space") -> float:
    """Chance that ONE layer drawn uniformly from the space's ops mixes channels `offset` apart.

    Per-layer rates stay informative when almost every whole architecture covers the offset somewhere.
    """
    from neonas.config import from_dict
    from neonas.engine.space import SpaceConfig, op_choices

    ops = op_choices(from_dict(SpaceConfig, space_cfg or {}, where))
    return sum(op["op"] == "conv" and offset in layer_offsets(op["span"], op["dilation"]) for op in ops) / len(ops)


def uniform_coverage(space_cfg: dict | None, offset: int, where: str = "space") -> tuple[float, float]:
    """Chance that an architecture drawn uniformly from the search space covers `offset`.

    Each layer takes one of neonas.engine.space.op_choices uniformly (skips do not matter here). Returns
    (any single conv layer covers it, the stacked convs cover it), both exact.
    """
    from neonas.config import from_dict
    from neonas.engine.space import SpaceConfig, op_choices

    space = from_dict(SpaceConfig, space_cfg or {}, where)
    ops = op_choices(space)
    # a pool mixes no channels: the same as span 1
    sigs = [(op["span"], op["dilation"]) if op["op"] == "conv" else (1, 1) for op in ops]
    q = sum(offset in layer_offsets(*s) for s in sigs) / len(sigs)
    single = 1.0 - (1.0 - q) ** space.n_layers
    fields: dict[frozenset, float] = {frozenset({0}): 1.0}  # receptive-field offsets -> probability
    for _ in range(space.n_layers):
        nxt: dict[frozenset, float] = {}
        for field, p in fields.items():
            for span, dil in sigs:
                new = frozenset(a + j * dil for a in field for j in range(span))
                nxt[new] = nxt.get(new, 0.0) + p / len(sigs)
        fields = nxt
    stacked = sum(p for f, p in fields.items() if any(a - b == offset for a in f for b in f))
    return single, stacked
