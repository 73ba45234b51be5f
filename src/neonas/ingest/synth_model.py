"""The generative model of the synthetic neonatal cohort: infant parameters, the ultradian hypnogram
with scorer noise, and the multichannel EEG of each stage with the planted interhemispheric cue.
`neonas.ingest.synth` writes it to EDF+ files; docs/synthetic-cohort.md describes it."""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

import numpy as np

from neonas import NEONATAL_STAGES
from neonas.ingest import synth_controls as controls
from neonas.ingest import synth_signal as build

log = logging.getLogger(__name__)

#: neonas channel order (the order of every HDF5 file): left chain, right chain, vertex
CHANNEL_ORDER = ("Fp1", "C3", "T3", "O1", "Fp2", "C4", "T4", "O2", "Cz")
#: the order the electrodes are stored in the EDF (as a typical recorder would); preprocess reorders
EDF_ELECTRODES = ("Fp1", "Fp2", "C3", "C4", "T3", "T4", "O1", "O2", "Cz")
PAIR_OFFSET = 4
PAIRS = tuple((CHANNEL_ORDER[i], CHANNEL_ORDER[i + PAIR_OFFSET]) for i in range(4))
#: hemisphere of each channel (Cz counted with the right) for the continuous, stage-independent activity
HEMISPHERE = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
AS, QS, W, IS = (NEONATAL_STAGES.index(s) for s in ("AS", "QS", "W", "IS"))
EPOCH_S = 30.0
PHYSICAL_RANGE_UV = (-3200.0, 3200.0)  # clipping level of the "amplifier" (EDF physical min/max)
MEAS_DATE = dt.datetime(2000, 1, 1, 20, 0, 0, tzinfo=dt.timezone.utc)  # fixed: byte-identical EDF headers
LINE_HZ = 50.0
MIN_EPOCHS_FOR_SHARES = 240  # recordings of >= 2 h are redrawn until the stage shares are realistic
SHARE_RANGES = {"AS": (0.50, 0.60), "QS": (0.30, 0.40), "IS": (0.10, 0.15), "W": (0.005, 0.08)}
NEIGHBOURS = {AS: (IS, W), QS: (IS,), W: (AS,), IS: (AS, QS)}  # stages a scorer may mistake a stage for
SCORER_SHIFT = {-2: 0.1, -1: 0.2, 0: 0.4, 1: 0.2, 2: 0.1}  # epochs a scored transition is early/late
SCORER_FLIP = 0.01  # share of epochs the scorer gives a neighbouring stage

# RMS amplitudes in µV at amplitude_scale 1, per band (slow 0.5-4 Hz, mid 4-8 Hz, fast 8-25 Hz), of the
# continuous activity of each stage. QS and IS share theirs: it is the inter-burst activity.
CONTINUOUS_UV = {AS: (7.0, 6.0, 3.5), QS: (9.0, 5.0, 2.0), IS: (9.0, 5.0, 2.0), W: (3.5, 4.0, 5.0)}
BACKGROUND_UV = 5.0  # 1/f + individual theta/alpha, every stage, independent per channel
REFERENCE_UV = 3.0  # reference-electrode noise, common to all channels
BURST_UV = 45.0  # RMS inside a tracé-alternant burst (peak-to-peak ~150-250 µV)
HVS_UV = 22.0  # RMS of continuous high-voltage slow activity
AS_MIXED_UV = 14.0  # RMS of the slow waves of the "mixed" pattern of active sleep
# The planted cue's strength (docs/synthetic-cohort.md, "Calibration"): correlation of the burst generators of
# homologous electrodes in QS, and the largest onset lag between their bursts. Was 0.3-0.55 and 0.3-1.2 s: a
# standalone CNN learned it, but in a short weight-sharing search the shared weights did not score pair-mixing
# nets above the others (studies/calibration.py, the sanity check of `neonas yardstick`).
SYNC_RHO = (0.7, 0.9)
SYNC_LAG_S = (0.1, 0.5)
MOVEMENTS_PER_MIN = {AS: 0.3, QS: 0.05, IS: 0.05}  # wake has its own, infant-specific rate
MOVE_SPREAD = np.array([1.0, 0.5, 0.9, 0.6, 1.0, 0.5, 0.9, 0.6, 0.4], np.float32)  # frontal/temporal most
MUSCLE_SPREAD = np.array([1.0, 0.3, 1.0, 0.3, 1.0, 0.3, 1.0, 0.3, 0.2], np.float32)
FAST_UV = 1.0  # broadband (muscle-like) noise outside movements, full rate
BRAIN_HZ = 64.0  # internal rate of the brain activity, all of which lies below BRAIN_TOP_HZ
BRAIN_TOP_HZ = 26.0


@dataclass
class InfantParams:
    """Everything that makes one synthetic infant differ from another (drawn by `draw_infant`)."""

    infant_id: str
    pma_weeks: float  # postmenstrual age
    amplitude_scale: float  # skull/skin conductance: scales all brain activity
    cycle_min: float  # ultradian cycle length
    qs_share: float
    is_share: float
    wake_prob: float  # probability that a cycle contains a wake episode
    burst_s: float  # mean tracé-alternant burst duration
    ibi_s: float  # mean inter-burst interval
    hvs_share: float  # share of QS/IS time showing high-voltage slow waves instead of tracé alternant
    as_mixed_share: float  # share of AS time in the "mixed" pattern (slow waves in low-voltage activity)
    as_gain: float  # amplitude factors per pattern: infants differ in more than their overall scale
    qs_gain: float  # (QS and IS share theirs: the same discontinuous pattern)
    wake_gain: float
    sync_rho: float  # QS: correlation of the burst generators of homologous electrodes
    sync_lag_s: float  # max onset lag between homologous bursts in QS (synchronous = within 1.5 s)
    state_sd: float  # slow (minutes) log-normal fluctuation of all brain activity
    bg_exponent: float  # 1/f^exponent power spectrum of the background
    theta_uv: float
    alpha_uv: float
    wake_movements_per_min: float
    line_uv: float  # 50 Hz line noise
    pops_per_hour: float  # electrode pops (artefact spikes)
    channel_gain: list[float]  # per channel, neonas order
    flat_channel: str | None  # electrode with a flat-ish episode (loose electrode), or None
    flat_start_frac: float
    flat_min: float


def infant_id(index: int) -> str:
    return f"syn{index + 1:02d}"


def _rng(seed: int, index: int, part: int) -> np.random.Generator:
    """Independent stream per (seed, infant, part): adding infants or parts never changes the others."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, part]))


def draw_infant(seed: int, index: int) -> InfantParams:
    rng = _rng(seed, index, 0)
    pma = round(float(rng.uniform(37.0, 44.0)), 1)
    age = (pma - 37.0) / 7.0  # 0 at 37 weeks, 1 at 44 weeks
    gain = rng.uniform(0.85, 1.15, 9)
    return InfantParams(
        infant_id=infant_id(index),
        pma_weeks=pma,
        amplitude_scale=float(rng.uniform(0.8, 1.25)),
        cycle_min=float(rng.uniform(50.0, 60.0)),
        qs_share=float(0.305 + 0.03 * age + rng.uniform(-0.01, 0.01)),
        is_share=float(rng.uniform(0.11, 0.13)),
        wake_prob=float(rng.uniform(0.45, 0.7)),
        burst_s=float(5.5 + 0.7 * age + rng.normal(0, 0.3)),
        ibi_s=float(6.8 - 1.6 * age + rng.normal(0, 0.3)),
        hvs_share=float(0.12 + 0.18 * age + rng.uniform(0, 0.05)),
        as_mixed_share=float(rng.uniform(0.25, 0.45)),
        as_gain=float(rng.uniform(0.8, 1.25)),
        qs_gain=float(rng.uniform(0.8, 1.25)),
        wake_gain=float(rng.uniform(0.8, 1.25)),
        sync_rho=float(rng.uniform(*SYNC_RHO)),
        sync_lag_s=float(rng.uniform(*SYNC_LAG_S)),
        state_sd=float(rng.uniform(0.15, 0.3)),
        bg_exponent=float(rng.uniform(1.0, 1.6)),
        theta_uv=float(rng.uniform(1.0, 4.0)),
        alpha_uv=float(rng.uniform(0.5, 3.0)),
        wake_movements_per_min=float(rng.uniform(2.5, 4.5)),
        line_uv=float(rng.uniform(0.5, 6.0)),
        pops_per_hour=float(rng.uniform(3.0, 12.0)),
        channel_gain=[round(float(g), 4) for g in gain],
        flat_channel=str(CHANNEL_ORDER[rng.integers(9)]) if rng.random() < 0.5 else None,
        flat_start_frac=float(rng.uniform(0.05, 0.9)),
        flat_min=float(rng.uniform(2.0, 6.0)),
    )


# ---------------------------------------------------------------------------------------------------
# hypnogram


def hypnogram(p: InfantParams, n_epochs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(true, scored) stage per 30 s epoch (int8, NEONATAL_STAGES order) following an ultradian cycle.

    The signal follows `true`; the labels written are `scored`, as a human scorer would give them:
    transitions a little early or late and a few isolated disagreements (~4 % of epochs in all).
    Recordings of 2 h or more are redrawn until the scored shares lie in SHARE_RANGES (term newborns:
    AS 50-60 %, QS 30-40 %, IS 10-15 %, some wake); shorter ones cannot hold a whole cycle.
    """
    for _ in range(1000):
        true = _ultradian(p, n_epochs, rng)
        scored = _score(true, rng)
        if n_epochs < MIN_EPOCHS_FOR_SHARES or shares_ok(scored):
            return true, scored
    raise RuntimeError(f"could not draw a hypnogram with realistic shares for {p.infant_id}")


def _score(true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scorer's labels: each transition moved by -2..2 epochs (never removing a stretch), and 1 % of the
    epochs given a neighbouring stage."""
    bounds = np.flatnonzero(np.diff(true)) + 1
    edges = np.concatenate([[0], bounds, [len(true)]])
    for k in range(1, len(edges) - 1):
        shift = int(rng.choice(list(SCORER_SHIFT), p=list(SCORER_SHIFT.values())))
        edges[k] = np.clip(edges[k] + shift, edges[k - 1] + 1, edges[k + 1] - 1)
    values = true[np.concatenate([[0], bounds])]
    scored = np.repeat(values, np.diff(edges)).astype(np.int8)
    for i in np.flatnonzero(rng.random(len(true)) < SCORER_FLIP):
        options = NEIGHBOURS[int(scored[i])]
        scored[i] = options[int(rng.integers(len(options)))]
    return scored


def stage_shares(stages: np.ndarray) -> dict[str, float]:
    counts = np.bincount(stages, minlength=len(NEONATAL_STAGES)) / len(stages)
    return {name: float(counts[i]) for i, name in enumerate(NEONATAL_STAGES)}


def shares_ok(stages: np.ndarray) -> bool:
    shares = stage_shares(stages)
    return all(lo <= shares[name] <= hi for name, (lo, hi) in SHARE_RANGES.items())


def _ultradian(p: InfantParams, n_epochs: int, rng: np.random.Generator) -> np.ndarray:
    """Cycles of AS (sometimes interrupted by wake) -> IS -> QS -> IS, entered at a random phase."""
    per_min = 60.0 / EPOCH_S
    seq: list[int] = []
    first_cycle = None
    while first_cycle is None or len(seq) < first_cycle + n_epochs:
        total = p.cycle_min * per_min * rng.uniform(0.9, 1.1)
        is1, is2 = (max(1, round(total * p.is_share / 2 * rng.uniform(0.7, 1.3))) for _ in range(2))
        qs = max(2, round(total * p.qs_share * rng.uniform(0.85, 1.15)))
        as_ = max(4, round(total) - is1 - is2 - qs)
        wake = round(rng.uniform(3.0, 7.0) * per_min) if rng.random() < p.wake_prob else 0
        wake = min(wake, as_ - 2)
        as_a = int(rng.integers(1, as_ - wake)) if wake else as_
        cycle = [AS] * as_a + [W] * wake + [AS] * (as_ - wake - as_a) + [IS] * is1 + [QS] * qs + [IS] * is2
        if first_cycle is None:
            first_cycle = int(rng.integers(len(cycle)))
        seq += cycle
    return np.array(seq[first_cycle:first_cycle + n_epochs], dtype=np.int8)


# ---------------------------------------------------------------------------------------------------
# signals


@dataclass
class Synthetic:
    """One simulated infant. `eeg` is in µV, channels in CHANNEL_ORDER."""

    params: InfantParams
    sfreq: float
    stages: np.ndarray  # (n_epochs,) int8 label per 30 s epoch, as scored (written to the files)
    true_stages: np.ndarray  # (n_epochs,) int8 stage the signal follows (before the +-10 s jitter)
    eeg: np.ndarray  # (9, n) float32 µV
    signal_stage: np.ndarray  # (n,) int8 stage the signal shows (boundaries jittered vs. the labels)
    burst_env: np.ndarray  # (9, n) float32 tracé-alternant envelope (0 IBI .. 1 burst) per channel in QS/IS
    hvs: np.ndarray  # (n,) bool high-voltage slow pattern instead of tracé alternant (QS/IS)
    flat: tuple[int, int, int] | None  # (channel index, start sample, stop sample)
    n_pops: int


def simulate_infant(p: InfantParams, n_epochs: int, sfreq: float, seed: int, index: int,
                    true_stages: np.ndarray | None = None, planted: str = "pair") -> Synthetic:
    """Simulate one infant. `true_stages` (per epoch) overrides the drawn hypnogram and is then also
    used as the labels (tests use fixed blocks). `planted`: the cue (neonas.ingest.synth_controls; "pair"
    is the cohort as it always was, byte for byte).

    Brain activity (< 30 Hz) is built at BRAIN_HZ and upsampled once in the frequency domain; only
    muscle, line noise and electrode pops are made at the full rate. That keeps 3 h at 256 Hz fast.
    """
    if true_stages is None:
        true_stages, stages = hypnogram(p, n_epochs, _rng(seed, index, 1))
    else:
        stages = true_stages = np.asarray(true_stages, np.int8)
    if planted == "none":  # the negative control: the signal follows a second, independent hypnogram
        true_stages = hypnogram(p, len(stages), _rng(seed, index, 3))[0]
    rng = _rng(seed, index, 2)
    fs = BRAIN_HZ
    ep = int(round(EPOCH_S * fs))
    m = true_stages.shape[0] * ep  # samples at BRAIN_HZ
    n = int(round(true_stages.shape[0] * EPOCH_S * sfreq))  # samples at sfreq
    f = np.fft.rfftfreq(m, 1.0 / fs)
    hemi = HEMISPHERE
    dur = m / fs

    # Stage the signal shows at each sample: true transitions fall anywhere within +-10 s of the 30 s
    # grid, then 2 s power-preserving cross-fades.
    sig = np.repeat(true_stages, ep)
    for b in np.flatnonzero(np.diff(true_stages)) + 1:
        shift = int(rng.uniform(-10.0, 10.0) * fs)
        lo, hi = sorted((b * ep, b * ep + shift))
        sig[lo:hi] = true_stages[b - 1] if shift > 0 else true_stages[b]
    weight = np.sqrt(build.smooth(np.stack([sig == s for s in range(4)]), int(2 * fs)))  # (4, m)

    brain = np.zeros((9, m), np.float32)
    gains = {AS: p.as_gain, QS: p.qs_gain, IS: p.qs_gain, W: p.wake_gain}
    burst_uv, hvs_uv, mixed_uv = BURST_UV * p.qs_gain, HVS_UV * p.qs_gain, AS_MIXED_UV * p.as_gain

    # background: 1/f with the infant's own theta/alpha mixture, private per electrode; reference noise
    rms, bg = build.mix((BACKGROUND_UV, build.band(f, 0.3, BRAIN_TOP_HZ, p.bg_exponent / 2)),
                   (p.theta_uv, build.peak(f, 6.0, 1.0)), (p.alpha_uv, build.peak(f, 9.5, 1.0)))
    brain += rms * build.noise(rng, 9, m, bg)
    brain += REFERENCE_UV * build.noise(rng, 1, m, build.band(f, 0.3, BRAIN_TOP_HZ, 0.5))

    # continuous activity in three bands; gains follow the stage (AS mixed, W faster, QS/IS IBI slower)
    for b, (lo, hi, slope) in enumerate(((0.5, 4.0, 1.0), (4.0, 8.0, 0.0), (8.0, 25.0, 0.5))):
        src = build.noise(rng, 11, m, build.band(f, lo, hi, slope))  # 2 hemispheric + 9 private
        level = sum(weight[s] * CONTINUOUS_UV[s][b] * gains[s] for s in range(4))
        brain += level * (np.sqrt(0.4) * src[hemi] + np.sqrt(0.6) * src[2:])

    # QS and IS: tracé alternant (or high-voltage slow waves), each electrode with its own generator and
    # burst train. QS: homologous electrodes (i, i+4) burst together and share a common generator
    # (correlation sync_rho). IS: every electrode bursts on its own. Cz bursts on its own in both. So per
    # channel QS and IS are identical, and so is every pair except the four homologous ones. Each train
    # is a base train plus a per-burst jitter of up to sync_lag_s, alike for all.
    trains = {}
    for c in range(9):
        partner = c - PAIR_OFFSET if 4 <= c < 8 else None
        shared = partner is not None and planted != "lag"  # lag: every electrode bursts on its own in QS too
        trains[(QS, c)] = trains[(QS, partner)] if shared else build.burst_train(rng, dur, p.burst_s, p.ibi_s)
        trains[(IS, c)] = build.burst_train(rng, dur, p.burst_s, p.ibi_s)
    env = {}
    for key, train in trains.items():
        iv = ((train + rng.uniform(-p.sync_lag_s / 2, p.sync_lag_s / 2, (train.shape[0], 1))) * fs).astype(np.int64)
        env[key] = build.smooth(build.intervals_mask(iv[:, 0], iv[:, 1], m), int(0.4 * fs))
    # high-voltage slow stretches alternate with tracé alternant, whatever the stage
    hvs = build.alternation(rng, dur, fs, p.hvs_share, 180.0)
    hvs_w = build.smooth(hvs, int(3 * fs))
    # active sleep alternates between low-voltage irregular and "mixed" stretches with slow waves
    mixed_w = build.smooth(build.alternation(rng, dur, fs, p.as_mixed_share, 120.0), int(3 * fs))
    src = build.noise(rng, 13, m, build.band(f, 0.5, 20.0, 1.0) + 0.25 * build.peak(f, 5.5, 1.2))  # 4 common + 9 own
    rho = p.sync_rho
    a_as = weight[AS] * mixed_uv * mixed_w  # AS "mixed" pattern: slow waves, no bursts
    burst_env = np.zeros((9, m), np.float32)
    for c in range(9):
        pair = c % PAIR_OFFSET if c < 8 else None
        a_qs = weight[QS] * ((1 - hvs_w) * burst_uv * env[(QS, c)] + hvs_w * hvs_uv)
        a_is = weight[IS] * ((1 - hvs_w) * burst_uv * env[(IS, c)] + hvs_w * hvs_uv)
        own = src[4 + c]
        qs_wave = own if pair is None or planted == "lag" else np.sqrt(rho) * src[pair] + np.sqrt(1 - rho) * own
        brain[c] += p.channel_gain[c] * (a_qs * qs_wave + (a_is + a_as) * own)
        burst_env[c] = np.where(sig == QS, env[(QS, c)], np.where(sig == IS, env[(IS, c)], 0))

    if planted == "lag":  # the positive control's cue, from its own stream
        brain += controls.lag_component(_rng(seed, index, 4), m, fs, weight[QS], weight[IS], p.qs_gain)

    # the infant's state drifts over minutes: all brain activity grows and shrinks a little
    drift = build.noise(rng, 1, m, ((f > 1 / 600) & (f < 1 / 60)).astype(np.float64))[0]
    brain *= np.exp(p.state_sd * drift)

    # movements: slow, large deflections on all electrodes (frontal/temporal most) plus muscle activity
    rate = (p.wake_movements_per_min * weight[W] ** 2
            + sum(r * weight[s] ** 2 for s, r in MOVEMENTS_PER_MIN.items())) / 60.0
    moves = build.events(rng, rate, fs, (1.0, 5.0))
    strength = np.zeros((2, m), np.float32)  # slow deflection (µV), muscle (µV)
    for a, b in moves:
        strength[:, a:b] = [[rng.uniform(40.0, 150.0)], [rng.uniform(8.0, 25.0)]]
    strength = build.smooth(strength, int(0.5 * fs))
    slow = build.noise(rng, 1, m, build.band(f, 0.3, 3.0, 1.0))[0]
    brain += MOVE_SPREAD[:, None] * (strength[0] * slow)

    # to the recording rate: band-limited interpolation, one channel at a time
    eeg = np.empty((9, n), np.float32)
    for c in range(9):
        spec = np.fft.rfft(brain[c])
        eeg[c] = np.fft.irfft(spec, n) * (n / m)
    del brain
    up = (np.arange(n, dtype=np.int64) * m) // n  # full-rate sample -> BRAIN_HZ sample

    # muscle: broadband noise that is loud during movements, faint otherwise (same µV/sqrt(Hz) at any rate)
    muscle = (FAST_UV + strength[1][up]) * np.float32(math.sqrt(sfreq / 256.0))
    for c in range(9):
        eeg[c] += MUSCLE_SPREAD[c] * muscle * rng.standard_normal(n, dtype=np.float32)
    eeg *= p.amplitude_scale

    # nuisance: 50 Hz line noise, electrode pops, a loose electrode
    t = np.arange(n) / sfreq
    sin, cos = np.sin(2 * np.pi * LINE_HZ * t), np.cos(2 * np.pi * LINE_HZ * t)
    for c, (level, phase) in enumerate(zip(rng.uniform(0.5, 1.5, 9), rng.uniform(0, 2 * np.pi, 9), strict=True)):
        eeg[c] += p.line_uv * level * (np.cos(phase) * sin + np.sin(phase) * cos)
    n_pops = int(rng.poisson(p.pops_per_hour * dur / 3600.0))
    for _ in range(n_pops):
        c, at = int(rng.integers(9)), int(rng.integers(n))
        tau = rng.uniform(0.2, 1.0) * sfreq
        seg = np.arange(min(n - at, int(5 * tau)))
        eeg[c, at:at + seg.size] += rng.choice([-1, 1]) * rng.uniform(150, 500) * np.exp(-seg / tau)
    flat = None
    if p.flat_channel is not None:
        c = CHANNEL_ORDER.index(p.flat_channel)
        a = int(p.flat_start_frac * n)
        b = min(n, a + int(p.flat_min * 60 * sfreq))
        eeg[c, a:b] = 0.02 * eeg[c, a:b] + 0.5 * rng.standard_normal(b - a)
        flat = (c, a, b)
    np.clip(eeg, *PHYSICAL_RANGE_UV, out=eeg)
    return Synthetic(params=p, sfreq=sfreq, stages=stages, true_stages=true_stages, eeg=eeg, signal_stage=sig[up],
                     burst_env=burst_env[:, up], hvs=(hvs & np.isin(sig, (QS, IS)))[up], flat=flat, n_pops=n_pops)


