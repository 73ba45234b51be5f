"""Control cohorts of the synthetic cohort (`neonas synth --planted pair|lag|none`) and the receptive-field rule
whose rule (which architectures can see the `lag` cue) is neonas.study.planted_rule. docs/synthetic-cohort.md.

- `pair` (default): the cohort as it always was (homologous electrodes burst together in QS).
- `lag` (positive control): no zero-lag cue at all; instead sharp transients on every electrode in QS and IS, which
  the right-hemisphere electrode echoes from its left homologue LAG_STEPS stem steps later in QS (own ones in IS). Per channel and
  at every lag but LAG_STEPS, QS and IS are alike. A net sees it only where one nonlinear node's receptive field
  holds two rows 4 apart at a time distance of LAG_STEPS stem steps (neonas.study.planted_rule.sees_lag).
- `none` (negative control): the signal follows a second, independent hypnogram of the same infant; the labels
  follow the first. Labels carry no information about the signal, so no architecture beats chance.
"""

from __future__ import annotations

import numpy as np

PLANTED = ("pair", "lag", "none")
#: one stem step = stem_stride x stem_pool = 16 samples at 64 Hz = 0.25 s; 20 steps = 5 s
LAG_STEPS = 20
LAG_DISTANCE = 4  # rows apart in the neonas channel order (homologous left/right electrodes)
ECHO_PER_MIN = 8.0  # sharp transients per minute on every electrode, in QS and IS alike
ECHO_UV = 150.0  # their peak (µV at amplitude scale 1): a 3 Hz wave under a 0.25 s Gaussian window
def check(planted: str) -> str:
    from neonas.errors import NeonasError

    if planted not in PLANTED:
        raise NeonasError(f"--planted must be one of {', '.join(PLANTED)}, got {planted!r}")
    return planted


def lag_component(rng: np.random.Generator, m: int, fs: float, w_qs: np.ndarray, w_is: np.ndarray,
                  gain: float) -> np.ndarray:
    """(9, m) µV: the lag cue, an echo. Every electrode shows sharp transients (ECHO_PER_MIN, Poisson) in QS and
    IS alike. In QS the transients of channel c+4 (c = 0..3) are those of channel c, LAG_STEPS stem steps later;
    in IS every electrode has its own. At BRAIN_HZ (64 Hz, the preprocessed rate) a stem step is 16 samples, so
    the delay is exact in stem steps."""
    delay = int(round(LAG_STEPS * 16 * fs / 64.0))
    t = np.arange(-int(0.3 * fs), int(0.3 * fs) + 1) / fs
    wave = (np.exp(-0.5 * (t / 0.06) ** 2) * np.cos(2 * np.pi * 3.0 * t)).astype(np.float32)  # ~0.25 s wide

    def train() -> np.ndarray:
        x = np.zeros(m, np.float32)
        x[rng.random(m) < ECHO_PER_MIN / 60.0 / fs] = 1.0
        return np.convolve(x * rng.choice([-1.0, 1.0], m).astype(np.float32), wave, mode="same")

    own = [train() for _ in range(9)]
    out = np.empty((9, m), np.float32)
    for c in range(9):
        if 4 <= c < 8:
            out[c] = w_qs * np.roll(own[c - 4], delay) + w_is * own[c]
        else:
            out[c] = (w_qs + w_is) * own[c]
    return ECHO_UV * gain * out


def description(planted: str) -> dict:
    """planted.json's keys for a control cohort (`pair` keeps its own, neonas.ingest.synth.planted_description)."""
    if planted == "none":
        return {"planted": "none", "stages": [],
                "cue": ("Negative control: the EEG follows a second hypnogram of the same infant, drawn independently of "
                        "the scored labels. The labels carry no information about the signal: every architecture "
                        "should score at chance (kappa ~ 0) on held-out infants. Nothing for a search to find.")}
    return {"planted": "lag", "stages": ["QS", "IS"], "lag_steps": LAG_STEPS, "lag_s": LAG_STEPS * 0.25,
            "pair_offset": LAG_DISTANCE, "echo_per_min": ECHO_PER_MIN, "echo_uv": ECHO_UV,
            "rule": rule_text(),
            "cue": ("Positive control: QS and IS show the same per-channel patterns (bursts of each electrode on its own "
                    "train in both). Every electrode shows sharp transients (3 Hz, ~0.25 s) at the same rate in both; in "
                    f"QS channel i+4 echoes channel i's transients {LAG_STEPS * 0.25:g} s ({LAG_STEPS} stem steps) "
                    "later, in IS its transients are its own. No "
                    "zero-lag relation separates the stages.")}


def rule_text() -> str:
    return (f"a net sees the cue iff one of its nonlinear nodes (a conv's ReLU or a pool's max) has a receptive field "
            f"holding two rows {LAG_DISTANCE} apart at a time distance of {LAG_STEPS} stem steps (time kernel t adds "
            "(t-1)/2 steps either side, the pool 1; channel taps add as a Minkowski sum; skips add unions)")
