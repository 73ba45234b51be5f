"""The positive control's stand-alone optimum: nets that satisfy the lag rule vs near-misses that lack one ingredient.

Each net of the panel (the eeg space's ops) is trained ALONE with retrain's loop and recipe on a fold's training
infants of a control cohort, early-stopped on its validation infant, and scored on its held-out test infant
(kappa, balanced accuracy, QS/IS recall), over several seeds. The rule (neonas.study.planted_rule.sees_lag)
says which nets can see the cue; the panel shows whether they are the best (docs/synthetic-cohort.md).

    PYTHONPATH=src python studies/control_panel.py --folds results/control-positive/folds.json --fold 0 \
        --seeds 0 1 2 --epochs 12

Needs the cohort's HDF5 files and folds.json (snakemake results/control-positive/folds.json --configfile
config/control-positive.yaml). One torch thread; ~1.3 s per net and training epoch on 4 infants x 2 h.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from neonas.config import from_dict
from neonas.engine.space import SpaceConfig, named_space
from neonas.ingest.synth_controls import LAG_STEPS
from neonas.metrics import METRICS, confusion_matrix
from neonas.store.splits import load_fold
from neonas.study.planted_rule import sees_lag
from neonas.torchutil import seed_everything
from neonas.training.evaluate import load_split, make_model, predict
from neonas.training.recipe import RetrainConfig
from neonas.training.retrain import train


def conv(span: int, dil: int, tk: int, skips=()) -> dict:
    return {"op": "conv", "span": span, "dilation": dil, "time_kernel": tk, "time_dilation": 1, "skips": list(skips)}


def pool(skips=()) -> dict:
    return {"op": "pool", "kind": "max", "skips": list(skips)}


#: name -> layers; the rule needs rows 4 apart AND a time field of LAG_STEPS (20) stem steps (all three kernels 9)
PANEL = {
    "rule: pair first, t9 t9 t9": [conv(2, 4, 9), conv(1, 1, 9), conv(1, 1, 9)],
    "rule: pair last, t9 t9 t9": [conv(1, 1, 9), conv(1, 1, 9), conv(2, 4, 9)],
    "rule: span3 dil4 x3, t9": [conv(3, 4, 9), conv(3, 4, 9), conv(3, 4, 9)],
    "miss time: pair, t9 t9 t3": [conv(2, 4, 9), conv(1, 1, 9), conv(1, 1, 3)],
    "miss time: pair, t9 t9 pool": [conv(2, 4, 9), conv(2, 4, 9), pool()],
    "miss rows: span2 dil1 x3, t9": [conv(2, 1, 9), conv(2, 1, 9), conv(2, 1, 9)],
    "miss rows: span1 x3, t9": [conv(1, 1, 9), conv(1, 1, 9), conv(1, 1, 9)],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", required=True)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64, help="minibatch size (retrain's default 64)")
    ap.add_argument("--only", nargs="*", help="substrings of panel names to run")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    fold = load_fold(args.folds, args.fold)
    tr, va, te = (load_split(fold, s, args.folds) for s in ("train", "val", "test"))
    space = named_space("eeg")
    from_dict(SpaceConfig, space, "space")  # checked
    recipe = RetrainConfig(epochs=args.epochs, patience=args.epochs, batch_size=args.batch)
    qs, is_ = te.label_names.index("QS"), te.label_names.index("IS")
    print(f"fold {args.fold}: train {len(tr)} val {len(va)} test {len(te)} epochs; {args.epochs} training epochs, "
          f"batch {args.batch}, seeds {args.seeds}; the rule: rows 4 apart at {LAG_STEPS} stem steps")
    print("| net | rule | test kappa per seed | mean kappa | mean bal. acc. | QS / IS recall |")
    print("|---|---|---|---|---|---|")
    for name, layers in PANEL.items():
        if args.only and not any(s in name for s in args.only):
            continue
        arch = {"layers": layers}
        t0, kappas, bals, recalls = time.monotonic(), [], [], []
        for seed in args.seeds:
            seed_everything(seed)
            model = make_model(arch, space, tr.n_channels, tr.n_samples, tr.n_classes, tr.sfreq)
            best, _, _ = train(model, tr, va, recipe, torch.device("cpu"), seed)
            if best is not None:
                model.load_state_dict(best)
            pred = predict(model, te.x, torch.device("cpu")).argmax(1)
            cm = confusion_matrix(te.y, pred, te.n_classes)
            kappas.append(METRICS["kappa"](cm))
            bals.append(METRICS["balanced_accuracy"](cm))
            recalls.append((cm[qs, qs] / max(cm[qs].sum(), 1), cm[is_, is_] / max(cm[is_].sum(), 1)))
        r = np.mean(recalls, axis=0)
        print(f"| {name} | {'yes' if sees_lag(arch) else 'no'} | {' '.join(f'{k:.3f}' for k in kappas)} | "
              f"{np.mean(kappas):.3f} | {np.mean(bals):.3f} | {r[0]:.2f} / {r[1]:.2f} |  ({time.monotonic() - t0:.0f} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
