"""Preprocessing throughput and peak memory: `neonas preprocess` vs a plain MNE pipeline, side by side.

Datasets: SC4001 (22 h, 3 channels at 100 Hz, from ../shared/data) and a synthetic 10-hour, 9-channel,
256 Hz EDF+ that this script writes once into --workdir. Each pipeline runs in a fresh subprocess so
its peak RSS (getrusage ru_maxrss) is its own. Wall time is measured after the imports (numpy,
scipy.signal, mne, h5py, neonas are imported by both workers before the clock starts), so it counts
reading, filtering, resampling and epoching only.

The plain MNE pipeline: read_raw_edf(include=channels, preload=True), raw.filter (FIR, MNE defaults),
raw.notch_filter (when the preset has a notch), raw.resample (when the preset resamples),
events_from_annotations(chunk_duration=epoch) and mne.Epochs(preload=True).get_data().

Memory base: the decoded size of the channels used, n_channels x n_samples x 8 bytes (float64 at
the recording's rate). Printed both as total peak RSS / decoded and as (peak - RSS after imports) /
decoded, because the interpreter with numpy/scipy/mne already takes ~150-250 MB before any data.

    .venv/bin/python bench/bench_preprocess.py [--repeat 1] [--workdir /tmp/neonas-bench] [--only sc4001]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
ELECTRODES = ("Fp1", "Fp2", "C3", "C4", "T3", "T4", "O1", "O2", "Cz")


def rss_mb() -> float:
    """Peak resident memory of this process so far (MB).

    VmHWM from /proc (Linux): unlike getrusage's ru_maxrss it starts afresh at exec, so a worker
    does not inherit the peak of the parent that forked it. getrusage elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux/BSD: kB


# --- datasets ---------------------------------------------------------------------------------------

def datasets(workdir: Path) -> dict[str, dict]:
    return {
        "sc4001": dict(edf=SHARED / "sleep-edf-sc4001" / "SC4001E0-PSG.edf",
                       labels=SHARED / "sleep-edf-sc4001" / "SC4001EC-Hypnogram.edf", preset="sleep-edf"),
        "synthetic-10h": dict(edf=workdir / "synthetic_10h_9ch_256hz.edf", labels=None, preset="neonatal"),
    }


def write_synthetic(path: Path, hours: float = 10.0, sfreq: int = 256) -> None:
    """9 referential channels "EEG <el>-Ref" at 256 Hz: noise + a tone + 50 Hz mains, 10-min stages."""
    import edfio
    import numpy as np

    n = int(hours * 3600 * sfreq)
    t = np.arange(n, dtype=np.float32) / sfreq
    signals = []
    for i, el in enumerate(ELECTRODES):
        rng = np.random.default_rng(i)
        x = 20 * rng.standard_normal(n, dtype=np.float32)
        x += 30 * np.sin(2 * np.pi * (1.5 + i) * t) + 5 * np.sin(2 * np.pi * 50 * t)
        signals.append(edfio.EdfSignal(x.astype(np.float64), sfreq, label=f"EEG {el}-Ref", physical_dimension="uV",
                                       physical_range=(-500.0, 500.0)))
        del x
    stages = ("AS", "QS", "W", "IS")
    anns = [edfio.EdfAnnotation(k * 600.0, 600.0, f"Sleep stage {stages[k % 4]}") for k in range(int(hours * 6))]
    tmp = path.with_suffix(".tmp.edf")
    edfio.Edf(signals, annotations=anns).write(tmp)
    os.replace(tmp, path)


# --- workers (one per subprocess) ---------------------------------------------------------------------

def worker(pipeline: str, ds: dict, out: Path, profile: bool) -> dict:
    import h5py  # noqa: F401  (imported before the clock by both workers)
    import mne
    import scipy.signal  # noqa: F401

    from neonas.ingest.edfcheck import read_header
    from neonas.ingest.montage import resolve_montage
    from neonas.ingest.preprocess import preprocess
    from neonas.ingest.presets import preset
    from neonas.ingest.readers import open_recording

    mne.set_log_level("ERROR")
    cfg = preset(ds["preset"])
    header = read_header(ds["edf"])
    montage = resolve_montage(open_recording(ds["edf"], cfg), cfg)
    labels = [d.pos.label for d in montage]
    n_samples = header.n_records * montage[0].pos.sig.samples_per_record
    base = rss_mb()
    t0 = time.perf_counter()
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    if pipeline == "neonas":
        rec = preprocess(ds["edf"], out, cfg, labels_path=ds["labels"], preset_name=ds["preset"])
        shape = rec.eeg.shape
    else:
        raw = mne.io.read_raw_edf(ds["edf"], include=labels, preload=True)
        if ds["labels"]:
            raw.set_annotations(mne.read_annotations(ds["labels"]))
        raw.filter(cfg.l_freq, cfg.h_freq)
        if cfg.notch_hz:
            raw.notch_filter(cfg.notch_hz)
        if cfg.resample_hz:
            raw.resample(cfg.resample_hz)
        events, _ = mne.events_from_annotations(raw, chunk_duration=cfg.epoch_s)
        epochs = mne.Epochs(raw, events, tmin=0.0, tmax=cfg.epoch_s - 1 / raw.info["sfreq"], baseline=None,
                            preload=True)
        shape = epochs.get_data().shape
    wall = time.perf_counter() - t0
    result = dict(pipeline=pipeline, wall_s=wall, base_rss_mb=base, peak_rss_mb=rss_mb(), shape=list(shape),
                  n_channels=len(labels), n_samples=n_samples, hours=header.duration_s / 3600)
    if prof:
        prof.disable()
        stats = pstats.Stats(prof)
        parts = {"read (MNE get_data)": "get_data", "filter (sosfiltfilt)": "sosfiltfilt",
                 "resample (resample_poly)": "resample_poly", "write HDF5": "write_recording",
                 "sha256": "sha256", "artefact flags": "_artifact_flags", "normalise": "_normalise"}
        cum = {}
        for (_, _, name), row in stats.stats.items():
            for label, fn in parts.items():
                if name == fn:
                    cum[label] = cum.get(label, 0.0) + row[3]
        result["breakdown_s"] = cum
        result["profiled_wall_s"] = wall
    return result


def run_worker(pipeline: str, name: str, workdir: Path, profile: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--worker", pipeline, "--dataset", name, "--workdir", str(workdir)]
    if profile:
        cmd.append("--profile")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{pipeline} on {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- report -------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=Path(tempfile.gettempdir()) / "neonas-bench", type=Path)
    parser.add_argument("--repeat", type=int, default=1, help="runs per pipeline; the fastest counts")
    parser.add_argument("--only", choices=["sc4001", "synthetic-10h"], help="one dataset only")
    parser.add_argument("--worker", choices=["neonas", "mne"], help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--write-synthetic", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    all_ds = datasets(args.workdir)
    if args.write_synthetic:  # in its own process, so the parent stays small
        write_synthetic(all_ds["synthetic-10h"]["edf"])
        return

    if args.worker:
        out = args.workdir / f"{args.dataset}.h5"
        print(json.dumps(worker(args.worker, all_ds[args.dataset], out, args.profile)))
        return

    names = [args.only] if args.only else list(all_ds)
    if "sc4001" in names and not all_ds["sc4001"]["edf"].exists():
        print(f"skipping sc4001: {all_ds['sc4001']['edf']} not found")
        names.remove("sc4001")
    if "synthetic-10h" in names and not all_ds["synthetic-10h"]["edf"].exists():
        print(f"writing {all_ds['synthetic-10h']['edf']} (once; reused by later runs) ...", flush=True)
        subprocess.run([sys.executable, __file__, "--write-synthetic", "--workdir", str(args.workdir)], check=True)

    print(f"{'dataset':<14} {'pipeline':<8} {'wall s':>7} {'h EEG/s':>8} {'peak MB':>8} {'import MB':>9} "
          f"{'decoded MB':>10} {'peak/dec':>8} {'(peak-imp)/dec':>14}")
    summary = []
    for name in names:
        best = {}
        for _ in range(args.repeat):
            for pipeline in ("neonas", "mne"):  # alternate, so load changes hit both
                r = run_worker(pipeline, name, args.workdir)
                if pipeline not in best or r["wall_s"] < best[pipeline]["wall_s"]:
                    best[pipeline] = r
        for pipeline in ("neonas", "mne"):
            r = best[pipeline]
            decoded = r["n_channels"] * r["n_samples"] * 8 / 2**20
            r["decoded_mb"] = decoded
            print(f"{name:<14} {pipeline:<8} {r['wall_s']:7.2f} {r['hours'] / r['wall_s']:8.2f} "
                  f"{r['peak_rss_mb']:8.0f} {r['base_rss_mb']:9.0f} {decoded:10.0f} "
                  f"{r['peak_rss_mb'] / decoded:8.2f} {(r['peak_rss_mb'] - r['base_rss_mb']) / decoded:14.2f}")
        prof = run_worker("neonas", name, args.workdir, profile=True)
        summary.append((name, best, prof))

    print()
    for name, best, prof in summary:
        ours, plain = best["neonas"], best["mne"]
        dec = ours["decoded_mb"]
        print(f"{name}: throughput neonas / plain MNE = {plain['wall_s'] / ours['wall_s']:.2f}x (target >= 3); "
              f"peak RSS / decoded = {ours['peak_rss_mb'] / dec:.2f} total, "
              f"{(ours['peak_rss_mb'] - ours['base_rss_mb']) / dec:.2f} above imports (target < 2); "
              f"plain MNE {plain['peak_rss_mb'] / dec:.2f} / {(plain['peak_rss_mb'] - plain['base_rss_mb']) / dec:.2f}")
        n_ep, n_ch, n_t = ours["shape"]
        out_mb = n_ep * n_ch * n_t * 4 / 2**20
        print(f"  memory: the float32 output alone is {out_mb:.0f} MB ({out_mb / dec:.2f} of decoded); the rest is "
              f"one block of float64 work arrays and the interpreter")
        total = prof["profiled_wall_s"]
        parts = ", ".join(f"{k} {v:.2f} s ({100 * v / total:.0f} %)"
                          for k, v in sorted(prof["breakdown_s"].items(), key=lambda kv: -kv[1]))
        print(f"  where neonas spends its time (profiled run, {total:.2f} s): {parts}")


if __name__ == "__main__":
    main()
