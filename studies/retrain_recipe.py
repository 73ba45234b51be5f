"""Does the retraining recipe hold on real 1-channel data? The hand-designed baseline on DREAMS,
leave-one-subject-out (8 folds) x several seeds, before and after issue #11's fixes.

    nice .venv/bin/python studies/retrain_recipe.py [--seeds 5] [--epochs 30] [--work DIR]

Data: the 8 DREAMS excerpts in ../shared/data/dreams-spindles (1 central channel at 50/100/200 Hz,
R&K scoring on a 20 s grid, excerpt 8's grid starting at 10 s), preprocessed by `neonas preprocess`
to one channel, 0.5-20 Hz, 50 Hz, 20 s epochs, AASM classes W/N1/N2/N3/REM. The text excerpts are
converted to temporary EDF files with MNE first (the channel renamed `EEG`, so that C3-A1 and CZ-A1
recordings share one montage); the HDF5 files are cached in --work.

Variants (all with the same folds, seeds, AdamW recipe and class weights; only what is named differs):

  before        the old baseline (a 1x1 "spatial" conv on the one channel, w ~ U(-1, 1)) and the old
                early stopping (best validation kappa from epoch 1, no smoothing)
  identity      the new baseline (identity spatial stage on 1 channel), old early stopping
  min5, min10   identity + no weights kept before epoch 5 / 10
  smooth3       identity + validation kappa averaged over the last 3 epochs
  min5-smooth3, min10-smooth3   both

For each variant it prints the mean test kappa, the spread over seeds (the standard deviation over
the seeds of one fold, averaged over folds; and over all runs), the share of runs whose test kappa is
<= 0 and the share whose kept weights are those of epoch 1-4. Runs single-threaded on the CPU; each
run is appended to --work/runs-e<epochs>-p<patience>.jsonl, so an interrupted bench resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DREAMS = REPO.parent / "shared" / "data" / "dreams-spindles"
RATES_HZ = {1: 100.0, 3: 50.0}  # every other excerpt: 200 Hz (README of the data set)
PREPROCESS = {
    "preset": "sleep-edf", "channels": ["EEG"], "epoch_s": 20.0, "resample_hz": 50.0, "l_freq": 0.5,
    "h_freq": 20.0, "notch_hz": [], "amplitude_uv": 500.0,
}
VARIANTS = {  # name: (old 1x1 spatial conv?, RetrainConfig overrides)
    "before": (True, {}),
    "identity": (False, {}),
    "min5": (False, {"min_epochs": 5}),
    "min10": (False, {"min_epochs": 10}),
    "smooth3": (False, {"smooth": 3}),
    "min5-smooth3": (False, {"min_epochs": 5, "smooth": 3}),
    "min10-smooth3": (False, {"min_epochs": 10, "smooth": 3}),
}


def prepare(work: Path) -> list[str]:
    """One HDF5 per excerpt (cached): txt -> temporary EDF (MNE) -> `neonas preprocess`."""
    import mne

    from neonas.ingest.preprocess import preprocess
    from neonas.ingest.presets import resolve_config

    work.mkdir(parents=True, exist_ok=True)
    (work / "preprocess.yaml").write_text(json.dumps(PREPROCESS))
    paths = []
    for i in range(1, 9):
        h5 = work / f"dreams{i}.h5"
        paths.append(str(h5))
        if h5.exists():
            continue
        x = np.loadtxt(DREAMS / f"excerpt{i}.txt", skiprows=1) * 1e-6  # uV -> V
        raw = mne.io.RawArray(x[None], mne.create_info(["EEG"], RATES_HZ.get(i, 200.0), "eeg"), verbose="error")
        with tempfile.TemporaryDirectory() as tmp:
            edf = Path(tmp) / f"excerpt{i}.edf"
            mne.export.export_raw(edf, raw, fmt="edf", physical_range=(-400.0, 400.0), verbose="error")
            overrides = ["grid_start_s=10"] if i == 8 else []  # excerpt 8 is scored from t = 10 s
            _, cfg = resolve_config(None, work / "preprocess.yaml", overrides)
            preprocess(edf, h5, cfg, labels_path=DREAMS / f"Hypnogram_excerpt{i}.txt", label_format="dreams",
                       infant_id=f"dreams{i}")
    return paths


def run_one(folds: str, fold: int, seed: int, old_spatial: bool, cfg) -> dict:
    from neonas.metrics import classification_report
    from neonas.store.splits import load_fold
    from neonas.torchutil import seed_everything
    from neonas.training import baseline
    from neonas.training.evaluate import load_split, predict
    from neonas.training.retrain import train

    f = load_fold(folds, fold)
    tr, va, te = (load_split(f, s, folds) for s in ("train", "val", "test"))
    seed_everything(seed)
    # the old net drew its 1x1 spatial conv first, then the rest: the same draws as before the fix
    old = torch.nn.Conv2d(1, 1, (1, 1)) if old_spatial else None
    model = baseline.build_model(tr.n_channels, tr.n_samples, tr.n_classes, tr.sfreq)
    if old is not None:
        model.spatial = old
    state, history, best_epoch = train(model, tr, va, cfg, torch.device("cpu"), seed)
    model.load_state_dict(state)
    rep = classification_report(te.y, predict(model, te.x, torch.device("cpu")).argmax(1), te.label_names)
    return {"fold": fold, "seed": seed, "kappa": rep["kappa"], "accuracy": rep["accuracy"],
            "macro_f1": rep["macro_f1"], "best_epoch": best_epoch, "epochs_run": len(history)}


def summarise(rows: list[dict]) -> dict:
    k = np.array([r["kappa"] for r in rows])
    by_fold = {}
    for r in rows:
        by_fold.setdefault(r["fold"], []).append(r["kappa"])
    return {
        "runs": len(rows), "mean_kappa": float(k.mean()), "sd_all": float(k.std(ddof=1)),
        "sd_over_seeds": float(np.mean([np.std(v, ddof=1) for v in by_fold.values()])),
        "min_kappa": float(k.min()), "max_kappa": float(k.max()),
        "share_kappa_le_0": float(np.mean(k <= 0)),
        "share_best_epoch_le_4": float(np.mean([r["best_epoch"] <= 4 for r in rows])),
        "median_best_epoch": float(np.median([r["best_epoch"] for r in rows])),
        "mean_macro_f1": float(np.mean([r["macro_f1"] for r in rows])),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30, help="retrain epochs (upper bound; default 30)")
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "neonas-bench-dreams")
    args = ap.parse_args()
    if not DREAMS.exists():
        print(f"{DREAMS} is not there; this benchmark needs the DREAMS excerpts", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    from neonas.store.splits import write_folds
    from neonas.training.retrain import RetrainConfig

    t0 = time.perf_counter()
    paths = prepare(args.work)
    folds = str(args.work / "folds.json")
    doc = write_folds(paths, folds, "loo", 5, 1, 0)
    print(f"prepared 8 recordings in {time.perf_counter() - t0:.0f} s; {len(doc['folds'])} folds", flush=True)
    base = RetrainConfig(epochs=args.epochs, patience=args.patience, min_epochs=1, smooth=1)
    log = args.work / f"runs-e{args.epochs}-p{args.patience}.jsonl"  # one line per run: an interrupted bench resumes
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            done[(r["variant"], r["fold"], r["seed"])] = r
    results = {}
    for name in args.variants:
        old_spatial, overrides = VARIANTS[name]
        cfg = replace(base, **overrides)
        t = time.perf_counter()
        rows = []
        for f in doc["folds"]:
            for seed in range(args.seeds):
                if (name, f["fold"], seed) not in done:
                    done[(name, f["fold"], seed)] = {"variant": name, **run_one(folds, f["fold"], seed, old_spatial, cfg)}
                    with log.open("a") as out:
                        out.write(json.dumps(done[(name, f["fold"], seed)]) + "\n")
                rows.append(done[(name, f["fold"], seed)])
        results[name] = {"summary": summarise(rows), "runs": rows}
        s = results[name]["summary"]
        print(f"{name:14s} kappa {s['mean_kappa']:.3f}  sd over seeds {s['sd_over_seeds']:.3f}  sd all "
              f"{s['sd_all']:.3f}  range [{s['min_kappa']:.3f}, {s['max_kappa']:.3f}]  kappa<=0 "
              f"{s['share_kappa_le_0']:.0%}  best epoch<=4 {s['share_best_epoch_le_4']:.0%}  median best epoch "
              f"{s['median_best_epoch']:g}  macro-F1 {s['mean_macro_f1']:.3f}  ({time.perf_counter() - t:.0f} s)",
              flush=True)
    print("\n| variant | runs | mean κ | SD over seeds (mean over folds) | SD over all runs | min / max κ | κ ≤ 0 | "
          "kept epoch ≤ 4 | median kept epoch | macro-F1 |\n|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        s = r["summary"]
        print(f"| {name} | {s['runs']} | {s['mean_kappa']:.3f} | {s['sd_over_seeds']:.3f} | {s['sd_all']:.3f} | "
              f"{s['min_kappa']:.3f} / {s['max_kappa']:.3f} | {s['share_kappa_le_0']:.0%} | "
              f"{s['share_best_epoch_le_4']:.0%} | {s['median_best_epoch']:g} | {s['mean_macro_f1']:.3f} |")
    out = args.work / "results.json"
    out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))
    print(f"per-run results: {log}; summary: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
