"""Write a synthetic neonatal sleep EEG cohort: EDF+ recordings with stage annotations, a cohort sheet
and planted.json.

Each infant gets a multi-hour, 9-channel referential recording (Fp1 Fp2 C3 C4 T3 T4 O1 O2 Cz, in µV)
whose sleep follows an ultradian cycle (AS -> IS -> QS -> IS, sometimes wake). Stages differ as in real
neonatal EEG (QS: tracé alternant or high-voltage slow waves; AS: continuous low-voltage mixed
frequencies; W: low voltage with movement artefacts), and one cue is planted that only a relation
between homologous left/right electrodes reveals (4 apart in the neonas channel order): in QS they
burst together, in IS independently, with identical per-channel statistics. A study can check in
planted.json whether the architecture search found it. See docs/synthetic-cohort.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from neonas import NEONATAL_STAGES, __version__
from neonas.errors import NeonasError
from neonas.ingest import synth_controls as controls
from neonas.ingest.readers import SYNTHETIC_EQUIPMENT
from neonas.ingest.synth_model import (
    CHANNEL_ORDER,
    EDF_ELECTRODES,
    EPOCH_S,
    LINE_HZ,
    MEAS_DATE,
    PAIR_OFFSET,
    PAIRS,
    PHYSICAL_RANGE_UV,
    Synthetic,
    draw_infant,
    simulate_infant,
    stage_shares,
)
from neonas.io import atomic_path, write_text_atomic

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------
# files


def write_edf(path: str | os.PathLike, syn: Synthetic) -> None:
    """EDF+ with channels 'EEG <el>-Ref' (EDF_ELECTRODES order, µV) and 'Sleep stage X' per 30 s epoch."""
    import mne

    names = [f"EEG {e}-Ref" for e in EDF_ELECTRODES]
    order = [CHANNEL_ORDER.index(e) for e in EDF_ELECTRODES]
    info = mne.create_info(names, syn.sfreq, "eeg")
    info["line_freq"] = LINE_HZ
    raw = mne.io.RawArray(syn.eeg[order].astype(np.float64) * 1e-6, info, verbose="error")
    raw.set_meas_date(MEAS_DATE)
    raw.info["subject_info"] = {"his_id": syn.params.infant_id}  # EDF patient code
    raw.info["device_info"] = {"type": SYNTHETIC_EQUIPMENT}  # EDF+ equipment code: marks the file as synthetic
    onsets = np.arange(len(syn.stages)) * EPOCH_S
    raw.set_annotations(mne.Annotations(onsets, EPOCH_S, [f"Sleep stage {NEONATAL_STAGES[s]}" for s in syn.stages],
                                        orig_time=MEAS_DATE))
    with atomic_path(path, suffix=".edf") as tmp:
        mne.export.export_raw(tmp, raw, fmt="edf", physical_range=PHYSICAL_RANGE_UV, add_ch_type=False,
                              overwrite=True, verbose="error")


def labels_tsv(stages: np.ndarray) -> str:
    lines = ["onset_s\tduration_s\tstage"]
    lines += [f"{i * EPOCH_S:.1f}\t{EPOCH_S:.1f}\t{NEONATAL_STAGES[s]}" for i, s in enumerate(stages)]
    return "\n".join(lines) + "\n"


def planted_description() -> dict:
    return {
        "stages": ["QS", "IS"],
        "pair_offset": PAIR_OFFSET,
        "pairs": [list(p) for p in PAIRS],
        "channel_order": list(CHANNEL_ORDER),
        "edf_channel_order": list(EDF_ELECTRODES),
        "channel_span": 2,
        "channel_dilation": PAIR_OFFSET,
        "cue": ("QS and IS show the same discontinuous pattern (tracé alternant or high-voltage slow waves) "
                "with identical per-channel amplitude and spectrum. In QS the two electrodes of each pair "
                "burst together and share a common generator (positive correlation, sync_rho); in IS every "
                "electrode bursts independently (correlation ~0). Non-homologous pairs and Cz behave alike "
                "in both. Only a relation between channels i and i+4 of channel_order separates QS from IS."),
    }


def cohort_rows(out: str | os.PathLike, n_infants: int, seed: int) -> list:
    """The cohort sheet rows of a synthetic cohort written to `out` (paths as `out` is given)."""
    from neonas.ingest.cohort import CohortRow

    return [CohortRow(p.infant_id, Path(out) / f"{p.infant_id}.edf", None, "annotations", p.pma_weeks, i + 2)
            for i, p in enumerate(draw_infant(seed, i) for i in range(n_infants))]


def generate(out: str | os.PathLike, n_infants: int = 6, hours: float = 3.0, seed: int = 0,
             sfreq: int = 256, progress: bool = True, planted: str = "pair") -> list[Path]:
    """Write the cohort into `out`; returns the EDF paths. cohort.tsv and planted.json are written last.
    `planted`: pair (the default cue), lag (positive control) or none (negative control; synth_controls.py)."""
    from tqdm import tqdm

    from neonas.ingest.cohort import write_cohort

    if not 1 <= n_infants <= 99:
        raise NeonasError(f"--n-infants must be 1..99 (ids syn01..syn99), got {n_infants}")
    if not (math.isfinite(hours) and EPOCH_S / 3600 <= hours <= 48):
        raise NeonasError(f"--hours must be between {EPOCH_S / 3600:.4f} (one 30 s epoch) and 48, got {hours}")
    if seed < 0:
        raise NeonasError(f"--seed must be 0 or positive, got {seed}")
    if not 128 <= sfreq <= 2048:
        raise NeonasError(f"--sfreq must be an integer rate in Hz between 128 and 2048, got {sfreq}")
    controls.check(planted)
    out = Path(out)
    n_epochs = int(round(hours * 3600 / EPOCH_S))
    infants, edfs = {}, []
    # the bar only on a terminal (disable=None); Snakemake logs get the one INFO line per infant
    for index in tqdm(range(n_infants), desc="synth infants", unit="infant", disable=None if progress else True):
        p = draw_infant(seed, index)
        syn = simulate_infant(p, n_epochs, float(sfreq), seed, index, planted=planted)
        edf = out / f"{p.infant_id}.edf"
        write_edf(edf, syn)
        write_text_atomic(out / f"{p.infant_id}_labels.tsv", labels_tsv(syn.stages))
        shares = stage_shares(syn.stages)
        log.info("%s: PMA %.1f wk, %.1f h, shares %s", p.infant_id, p.pma_weeks, n_epochs * EPOCH_S / 3600,
                 " ".join(f"{k} {v:.0%}" for k, v in shares.items()))
        infants[p.infant_id] = {
            **asdict(p),
            "stage_shares": {k: round(v, 4) for k, v in shares.items()},
            "flat_episode_s": None if syn.flat is None else [syn.flat[1] / sfreq, syn.flat[2] / sfreq],
            "n_electrode_pops": syn.n_pops,
            "scorer_disagreement": round(float(np.mean(syn.stages != syn.true_stages)), 4),
        }
        edfs.append(edf)
    described = planted_description() if planted == "pair" else controls.description(planted)
    planted = {**described, "seed": seed, "sfreq": sfreq, "hours": n_epochs * EPOCH_S / 3600,
               "epoch_s": EPOCH_S, "neonas_version": __version__, "infants": infants}
    write_text_atomic(out / "planted.json", json.dumps(planted, indent=2) + "\n")
    write_cohort(out / "cohort.tsv", cohort_rows(out, n_infants, seed))
    return edfs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("example: neonas synth --out data/synthetic --n-infants 6 --hours 3   "
                     "(the default cohort of config/cohort.tsv; ~30 s)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write synNN.edf, synNN_labels.tsv, cohort.tsv and planted.json into")
    parser.add_argument("--n-infants", type=int, default=6, metavar="N", help="number of infants (default 6)")
    parser.add_argument("--hours", type=float, default=3.0, metavar="H",
                        help="hours of EEG per infant, rounded to 30 s epochs (default 3.0)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed; the same seed gives byte-identical files (default 0)")
    parser.add_argument("--sfreq", type=int, default=256, metavar="HZ", help="sampling rate in Hz (default 256)")
    parser.add_argument("--planted", choices=controls.PLANTED, default="pair",
                        help="the planted cue: pair (default: homologous electrodes burst together in QS), lag "
                             "(a positive control in the making: homologous activity 5 s apart in QS; no net has "
                             "yet learned it in 12 epochs) or none (negative control: labels independent of the "
                             "signal); docs/synthetic-cohort.md")


def run(args: argparse.Namespace) -> int:
    edfs = generate(args.out, n_infants=args.n_infants, hours=args.hours, seed=args.seed, sfreq=args.sfreq,
                    planted=args.planted)
    log.info("wrote %d recordings, cohort.tsv and planted.json to %s", len(edfs), args.out)
    return 0
