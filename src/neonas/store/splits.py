"""Split infants into train/validation/test folds.

Splits are always by infant, never by epoch: epochs of one night are strongly correlated, and an
epoch-wise split would leak the infant into the test set. `load_fold` re-checks this on every read.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError
from neonas.io import write_text_atomic
from neonas.store.h5io import read_recording


@dataclass(frozen=True)
class Fold:
    fold: int
    train: list[str]  # HDF5 paths
    val: list[str]
    test: list[str]
    train_ids: list[str]
    val_ids: list[str]
    test_ids: list[str]


def make_folds(infant_ids: list[str], scheme: str = "loo", k: int = 5, n_val: int = 1, seed: int = 0) -> list[dict]:
    """Return folds as dicts of infant-id lists. `loo`: one test infant per fold; `kfold`: k groups.

    Validation infants are drawn (seeded) from the non-test infants, so each fold uses three disjoint
    sets of infants.
    """
    ids = sorted(infant_ids)
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise NeonasError(f"duplicate infant ids {dup}; every infant must appear once")
    if n_val < 1:
        raise NeonasError(f"n_val must be >= 1 (early stopping needs validation infants), got {n_val}")
    rng = np.random.default_rng(seed)
    order = [ids[i] for i in rng.permutation(len(ids))]
    if scheme == "loo":
        groups = [[i] for i in order]
    elif scheme == "kfold":
        if not 2 <= k <= len(ids):
            raise NeonasError(f"kfold needs 2 <= k <= number of infants ({len(ids)}), got k={k}")
        groups = [list(g) for g in np.array_split(np.array(order, dtype=object), k)]
    else:
        raise NeonasError(f"unknown split scheme '{scheme}' (expected 'loo' or 'kfold')")
    folds = []
    for f, test in enumerate(groups):
        rest = [i for i in order if i not in test]
        if len(rest) < n_val + 1:
            raise NeonasError(
                f"{len(ids)} infants are too few for {len(test)} test + {n_val} validation + >=1 training infant")
        # rotate so that validation infants differ between folds
        shift = (f * n_val) % len(rest)
        rest = rest[shift:] + rest[:shift]
        folds.append({"fold": f, "test": sorted(test), "val": sorted(rest[:n_val]), "train": sorted(rest[n_val:])})
    return folds


def check_disjoint(fold: dict, where: str = "") -> None:
    for name in ("train", "val", "test"):
        if not isinstance(fold.get(name), list):
            raise NeonasError(f"fold {fold.get('fold')}: '{name}' must be a list of infant ids", where or None)
    sets = {name: set(fold[name]) for name in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        both = sets[a] & sets[b]
        if both:
            raise NeonasError(f"fold {fold.get('fold')}: infant(s) {sorted(both)} are in both {a} and {b}", where or None)
    for name, s in sets.items():
        if not s:
            raise NeonasError(f"fold {fold.get('fold')}: the {name} set is empty", where or None)


def write_folds(paths: list[str], out: str | os.PathLike, scheme: str, k: int, n_val: int, seed: int) -> dict:
    files = {}
    for p in paths:
        rec = read_recording(p, load_eeg=False)
        if rec.infant_id in files:
            raise NeonasError(f"infant id '{rec.infant_id}' also used by {files[rec.infant_id]}", p)
        files[rec.infant_id] = str(p)
    folds = make_folds(list(files), scheme=scheme, k=k, n_val=n_val, seed=seed)
    doc = {"scheme": scheme, "k": k, "n_val": n_val, "seed": seed, "files": files, "folds": folds}
    write_text_atomic(out, json.dumps(doc, indent=2) + "\n")
    return doc


def load_fold(folds_json: str | os.PathLike, fold: int) -> Fold:
    """Read one fold from a folds file and check that no infant is in two of train/val/test."""
    path = Path(folds_json)
    try:
        doc = json.loads(path.read_text())
        files, folds = doc["files"], doc["folds"]
    except FileNotFoundError:
        raise NeonasError("folds file not found (make it with `neonas folds`)", path) from None
    except (ValueError, KeyError, TypeError) as err:
        raise NeonasError(f"not a valid folds file ({err}); make it with `neonas folds`", path) from None
    match = [f for f in folds if f.get("fold") == fold]
    if not match:
        raise NeonasError(f"fold {fold} not found; folds are {[f.get('fold') for f in folds]}", path)
    spec = match[0]
    check_disjoint(spec, str(path))
    missing = [i for name in ("train", "val", "test") for i in spec[name] if i not in files]
    if missing:
        raise NeonasError(f"fold {fold} names infants {missing} that have no file", path)
    return Fold(
        fold=fold,
        train=[files[i] for i in spec["train"]], val=[files[i] for i in spec["val"]], test=[files[i] for i in spec["test"]],
        train_ids=list(spec["train"]), val_ids=list(spec["val"]), test_ids=list(spec["test"]),
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recordings", nargs="+", metavar="FILE.h5", help="preprocessed recordings, one per infant")
    p.add_argument("--scheme", choices=["loo", "kfold"], default="loo", help="leave-one-infant-out or k-fold over infants (default: loo)")
    p.add_argument("--k", type=int, default=5, help="number of folds for --scheme kfold (default: 5)")
    p.add_argument("--n-val", type=int, default=1, help="validation infants per fold (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed for the infant order (default: 0)")
    p.add_argument("--out", required=True, metavar="FOLDS.json", help="where to write the folds")


def run(args: argparse.Namespace) -> int:
    doc = write_folds(args.recordings, args.out, args.scheme, args.k, args.n_val, args.seed)
    for f in doc["folds"]:
        print(f"fold {f['fold']}: train {f['train']}  val {f['val']}  test {f['test']}")
    return 0
