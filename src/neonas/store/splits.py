"""Split infants into train/validation/test folds.

Splits are always by infant, never by epoch: epochs of one night are strongly correlated, and an
epoch-wise split would leak the infant into the test set. `load_fold` re-checks this on every read,
by infant id and by the sha256 of the source recording (the same file under two ids is one infant), and
checks that every file still holds the infant and recording the folds file records (`check_files`).

Before any search, `neonas folds` checks the cohort as a whole: every recording must have the same
channels, rate, epoch length and classes, have been preprocessed with the same signal settings (filters,
rate, epoch length, ...: h5io.SIGNAL_KEYS), and no source recording may appear twice; stage classes
that a fold's training infants lack are reported (and stored in folds.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neonas.errors import NeonasError
from neonas.io import write_text_atomic
from neonas.store.h5io import read_recording, signal_diff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    fold: int
    train: list[str]  # HDF5 paths
    val: list[str]
    test: list[str]
    train_ids: list[str]
    val_ids: list[str]
    test_ids: list[str]
    sha256: dict[str, str] = field(default_factory=dict)  # infant id -> source_sha256 (empty in older folds files)


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


@dataclass(frozen=True)
class CohortEntry:
    """What `neonas folds` needs to know about one recording (no EEG is read)."""

    path: str
    infant_id: str
    ch_names: tuple[str, ...]
    sfreq: float
    epoch_s: float
    label_names: tuple[str, ...]
    sha256: str
    class_counts: tuple[int, ...]  # labelled epochs per class
    preprocess_config: dict = field(default_factory=dict, compare=False)  # as stored in the file ({} if none)


def read_cohort(paths: list[str]) -> list[CohortEntry]:
    out = []
    for p in paths:
        rec = read_recording(p, load_eeg=False)
        labelled = rec.labels[rec.labels >= 0].astype(np.int64)
        counts = np.bincount(labelled, minlength=len(rec.label_names))
        out.append(CohortEntry(str(p), rec.infant_id, tuple(rec.ch_names), rec.sfreq, rec.epoch_s,
                               tuple(rec.label_names), rec.source_sha256, tuple(int(c) for c in counts),
                               dict(rec.preprocess_config or {})))
    return out


_SIGNATURE = (("channels", "ch_names", "{}"), ("rate", "sfreq", "{:g} Hz"), ("epoch length", "epoch_s", "{:g} s"),
              ("classes", "label_names", "{}"))


def check_cohort(entries: list[CohortEntry]) -> None:
    """Refuse a cohort that cannot be trained as one: recordings that disagree on channels, sampling rate,
    epoch length or classes (one message listing every odd one out against the most common setting), a
    reused infant id, and one source recording preprocessed twice (same `source_sha256`: it would leak
    between training and test infants under two names)."""
    seen: dict[str, str] = {}
    for e in entries:
        if e.infant_id in seen:
            raise NeonasError(f"infant id '{e.infant_id}' also used by {seen[e.infant_id]}", e.path)
        seen[e.infant_id] = e.path
    odd = []
    for what, attr, fmt in _SIGNATURE:
        def show(v, fmt=fmt):
            return fmt.format(list(v) if isinstance(v, tuple) else v)
        values = Counter(getattr(e, attr) for e in entries)
        if len(values) < 2:
            continue
        common = values.most_common(1)[0][0]
        odd += [f"{e.path} ({what} {show(getattr(e, attr))}, most have {show(common)})"
                for e in entries if getattr(e, attr) != common]
    if odd:
        raise NeonasError(f"the recordings disagree, so no net can train on all of them; odd ones out: {'; '.join(odd)}. "
                          "Preprocess every recording with the same channels, resample_hz, epoch_s and label_names "
                          "(per-recording overrides in the cohort sheet can map other montages onto one order)")
    check_same_signal(entries)
    by_sha: dict[str, list[CohortEntry]] = {}
    for e in entries:
        if e.sha256:  # files written without a source (tests, old layouts) carry ""
            by_sha.setdefault(e.sha256, []).append(e)
    dups = [group for group in by_sha.values() if len(group) > 1]
    if dups:
        lines = [" and ".join(f"{e.path} ('{e.infant_id}')" for e in group) + f" (sha256 {group[0].sha256[:12]}…)"
                 for group in dups]
        raise NeonasError(f"the same source recording is in the cohort more than once: {'; '.join(lines)}; "
                          "one copy could be a training and another a test infant. Keep one of each", dups[0][1].path)


def check_same_signal(entries: list[CohortEntry]) -> None:
    """Refuse recordings whose preprocessing shaped the signal differently (h5io.SIGNAL_KEYS: filters, rate, epoch
    length, ...) from the first one's: the searches would run on mixed inputs and retrain would refuse them only
    after every search (the same message as retrain's). Files without a stored config are not compared."""
    configured = [e for e in entries if e.preprocess_config]
    for e in configured[1:]:
        diff = signal_diff(e.preprocess_config, configured[0].preprocess_config)
        if diff:
            raise NeonasError(f"infant '{e.infant_id}' was preprocessed differently from infant "
                              f"'{configured[0].infant_id}' ({configured[0].path}) ({'; '.join(diff)}); the infants of "
                              "a study need one preprocessing: drop the signal setting from its cohort row's overrides "
                              "and preprocess them alike", e.path)


def missing_train_classes(entries: list[CohortEntry], folds: list[dict]) -> dict[int, list[str]]:
    """Stage classes with no labelled epoch among each fold's training infants (folds without any: left out)."""
    by_id = {e.infant_id: e for e in entries}
    names = list(entries[0].label_names)
    out = {}
    for f in folds:
        counts = np.sum([by_id[i].class_counts for i in f["train"]], axis=0)
        missing = [n for n, c in zip(names, counts, strict=True) if c == 0]
        if missing:
            out[f["fold"]] = missing
    return out


def write_folds(paths: list[str], out: str | os.PathLike, scheme: str, k: int, n_val: int, seed: int) -> dict:
    entries = read_cohort(paths)
    check_cohort(entries)
    files = {e.infant_id: e.path for e in entries}
    folds = make_folds(list(files), scheme=scheme, k=k, n_val=n_val, seed=seed)
    missing = missing_train_classes(entries, folds)
    for f in folds:
        if f["fold"] in missing:
            f["missing_train_classes"] = missing[f["fold"]]
            log.warning("fold %d: no training epoch of class(es) %s (training infants %s); the net cannot learn "
                        "them in this fold", f["fold"], missing[f["fold"]], f["train"])
    doc = {"scheme": scheme, "k": k, "n_val": n_val, "seed": seed, "files": files,
           "source_sha256": {e.infant_id: e.sha256 for e in entries}, "folds": folds}
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
    sha = {i: s for i, s in (doc.get("source_sha256") or {}).items() if s}  # older folds files have none
    check_same_source(spec, sha, str(path))
    result = Fold(
        fold=fold,
        train=[files[i] for i in spec["train"]], val=[files[i] for i in spec["val"]], test=[files[i] for i in spec["test"]],
        train_ids=list(spec["train"]), val_ids=list(spec["val"]), test_ids=list(spec["test"]), sha256=sha,
    )
    check_files(result, path)
    return result


def check_files(fold: Fold, folds_path: str | os.PathLike, splits: tuple[str, ...] = ("train", "val", "test")) -> None:
    """Each HDF5 file holds the infant, and comes from the recording, that the folds file records for it.

    Run by `load_fold`, so every command that reads a fold (search, fidelity, derive, yardstick, retrain,
    evaluate) refuses a file copied over another infant's after `neonas folds`: else a search would validate
    on a training infant's data. Train and validation files always; test files where present (a search never
    reads them, and whoever does fails on a missing one)."""
    for split in splits:
        for want, path in zip(getattr(fold, f"{split}_ids"), getattr(fold, split), strict=True):
            if split == "test" and not Path(path).exists():
                continue
            rec = read_recording(path, load_eeg=False)
            if rec.infant_id != want:
                raise NeonasError(f"fold {fold.fold} names infant '{want}' for {split}, but {path} holds infant "
                                  f"'{rec.infant_id}'; re-run `neonas folds` on the current HDF5 files", folds_path)
            if fold.sha256.get(want) and rec.source_sha256 != fold.sha256[want]:
                raise NeonasError(f"{path} was preprocessed from another recording (source_sha256 "
                                  f"{rec.source_sha256[:12]}…) than the folds file records for '{want}' "
                                  f"({fold.sha256[want][:12]}…); re-run `neonas folds`", folds_path)


def check_same_source(spec: dict, sha: dict[str, str], where: str) -> None:
    """No source recording (by sha256) may be in two of train/val/test under different infant ids."""
    split_of: dict[str, tuple[str, str]] = {}  # sha256 -> (split, infant id) where first seen
    for name in ("train", "val", "test"):
        for i in spec[name]:
            s = sha.get(i)
            if not s:
                continue
            first = split_of.setdefault(s, (name, i))
            if first[0] != name:
                raise NeonasError(f"fold {spec.get('fold')}: infants '{first[1]}' ({first[0]}) and '{i}' ({name}) "
                                  f"were preprocessed from the same recording (sha256 {s[:12]}…)", where)


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
