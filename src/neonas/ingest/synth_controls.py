"""Control cohorts of the synthetic cohort (`neonas synth --planted pair|lag|none`) and the receptive-field rule
that says which architectures of a space can see the `lag` cue. docs/synthetic-cohort.md, "Control cohorts".

- `pair` (default): the cohort as it always was (homologous electrodes burst together in QS).
- `lag` (positive control): no zero-lag cue at all; instead a continuous 1-4 Hz component in QS and IS whose
  right-hemisphere copy follows the left one LAG_STEPS stem steps later in QS (independent in IS). Per channel and
  at every lag but LAG_STEPS, QS and IS are alike. A net sees it only where one nonlinear node's receptive field
  holds two rows 4 apart at a time distance of LAG_STEPS stem steps (`sees_lag`, receptive-field arithmetic).
- `none` (negative control): the signal follows a second, independent hypnogram of the same infant; the labels
  follow the first. Labels carry no information about the signal, so no architecture beats chance.
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np

PLANTED = ("pair", "lag", "none")
#: one stem step = stem_stride x stem_pool = 16 samples at 64 Hz = 0.25 s; 20 steps = 5 s
LAG_STEPS = 20
LAG_DISTANCE = 4  # rows apart in the neonas channel order (homologous left/right electrodes)
LAG_UV = 20.0  # RMS of the lag component in QS and IS (µV at amplitude scale 1)
LAG_RHO = 0.85  # share of the right copy's power that is the delayed left signal (QS)
LAG_BAND = (1.0, 4.0)  # Hz: the component's band (its autocorrelation is ~0 beyond ~1 s, 4 stem steps)


def check(planted: str) -> str:
    from neonas.errors import NeonasError

    if planted not in PLANTED:
        raise NeonasError(f"--planted must be one of {', '.join(PLANTED)}, got {planted!r}")
    return planted


def lag_component(rng: np.random.Generator, f: np.ndarray, m: int, fs: float, w_qs: np.ndarray,
                  w_is: np.ndarray, gain: float) -> np.ndarray:
    """(9, m) µV: the lag cue. Every channel has its own unit-RMS 1-4 Hz source; in QS channel c+4 (c = 0..3) is
    sqrt(rho) x channel c's source delayed by LAG_STEPS stem steps + sqrt(1-rho) x its own. The samples of the
    stem step at BRAIN_HZ (64 Hz, the preprocessed rate) are 16, so the delay is exact in stem steps."""
    from neonas.ingest import synth_signal as build

    delay = int(round(LAG_STEPS * 16 * fs / 64.0))
    src = build.noise(rng, 9, m, build.band(f, *LAG_BAND))
    out = np.empty((9, m), np.float32)
    for c in range(9):
        if 4 <= c < 8:
            coupled = np.sqrt(LAG_RHO) * np.roll(src[c - 4], delay) + np.sqrt(1 - LAG_RHO) * src[c]
            out[c] = w_qs * coupled + w_is * src[c]
        else:
            out[c] = (w_qs + w_is) * src[c]
    return LAG_UV * gain * out


def description(planted: str) -> dict:
    """planted.json's keys for a control cohort (`pair` keeps its own, neonas.ingest.synth.planted_description)."""
    if planted == "none":
        return {"planted": "none", "stages": [],
                "cue": ("Negative control: the EEG follows a second hypnogram of the same infant, drawn independently of "
                        "the scored labels. The labels carry no information about the signal: every architecture "
                        "should score at chance (kappa ~ 0) on held-out infants. Nothing for a search to find.")}
    return {"planted": "lag", "stages": ["QS", "IS"], "lag_steps": LAG_STEPS, "lag_s": LAG_STEPS * 0.25,
            "pair_offset": LAG_DISTANCE, "lag_rho": LAG_RHO, "lag_uv": LAG_UV, "lag_band_hz": list(LAG_BAND),
            "rule": rule_text(),
            "cue": ("Positive control: QS and IS show the same per-channel patterns (bursts of each electrode on its own "
                    "train in both). A continuous 1-4 Hz component is present in both; in QS channel i+4 repeats channel "
                    f"i's component {LAG_STEPS * 0.25:g} s ({LAG_STEPS} stem steps) later, in IS it is independent. No "
                    "zero-lag relation separates the stages.")}


def rule_text() -> str:
    return (f"a net sees the cue iff one of its nonlinear nodes (a conv's ReLU or a pool's max) has a receptive field "
            f"holding two rows {LAG_DISTANCE} apart at a time distance of {LAG_STEPS} stem steps (time kernel t adds "
            "(t-1)/2 steps either side, the pool 1; channel taps add as a Minkowski sum; skips add unions)")


# ----------------------------------------------------------------------------- the rule, by receptive fields

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


def enumerate_space(space) -> tuple[int, int]:
    """(architectures that satisfy the rule, all architectures) of a SpaceConfig, on the 9-channel montage."""
    from neonas.engine.space import decisions, decode

    ds = decisions(space, 9)
    per = [range(d.size) if d.kind == "choice" else list(itertools.product((0, 1), repeat=d.size)) for d in ds]
    hits = total = 0
    for choice in itertools.product(*per):
        arch = decode(space, [list(c) if isinstance(c, tuple) else c for c in choice], 9)
        total += 1
        hits += sees_lag(arch)
    return hits, total
