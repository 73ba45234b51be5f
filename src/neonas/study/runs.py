"""Reading a study's runs: search run directories, derived.json and metrics.json, validated, with
children's architectures hashed once (the reading half of `neonas aggregate`)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neonas import io
from neonas.errors import NeonasError
from neonas.study import archstats

log = logging.getLogger(__name__)


METRICS = ("accuracy", "balanced_accuracy", "kappa", "macro_f1")
KEYS = ["arm", "setting", "seed", "fold"]  # one search run
ARM_ORDER = {"nas": 0, "random": 1, "evolution": 2, "handcrafted": 3}
ALPHA = 0.05  # significance level of the plain-language verdicts

# ----------------------------------------------------------------------------- reading


@dataclass
class Run:
    """One search run: its identity, config and logs."""

    path: Path
    arm: str
    setting: str
    seed: int
    fold: int
    summary: dict
    children: pd.DataFrame
    epochs: pd.DataFrame
    geometry: archstats.Geometry
    derived: dict | None = None
    signal: dict = field(default_factory=dict)  # child_signal(): what the checks need of the dropped columns
    key: tuple = field(init=False)

    def __post_init__(self) -> None:
        self.key = (self.arm, self.setting, self.seed, self.fold)


def read_json(path: Path, what: str) -> dict:
    return io.read_json(path, f"{what} not found")


def _read_csv(path: Path, required: list[str], keep: list[str] | None = None) -> pd.DataFrame:
    """A CSV table with at least the `required` columns (and only the `keep` ones, if given)."""
    if not path.exists():
        raise NeonasError("file not found (is this a finished `neonas search` run directory?)", path)
    try:
        df = pd.read_csv(path, usecols=None if keep is None else (lambda c: c in keep))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise NeonasError(f"not a readable CSV table ({str(err).splitlines()[0]})", path) from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise NeonasError(f"missing column(s) {missing}; found {list(df.columns)}", path)
    return df


def find(obj, key: str):
    """First value of `key` anywhere in nested dicts (depth first), else None."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for value in obj.values():
            found = find(value, key)
            if found is not None:
                return found
    return None


def _int(value, what: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NeonasError(f"'{what}' must be an integer, found {value!r}", path)
    try:
        return int(value)
    except ValueError:
        raise NeonasError(f"'{what}' must be an integer, found {value!r}", path) from None


def arm_of_sampler(sampler: str, path: Path) -> str:
    if sampler == "controller":
        return "nas"
    if sampler in ("random", "evolution"):
        return sampler
    raise NeonasError(f"'sampler' must be 'controller', 'random' or 'evolution', found {sampler!r}", path)


class Archs:
    """Distinct architectures by hash, kept as compact JSON: a long random search has millions, and a
    parsed architecture takes ten times the memory of its text."""

    def __init__(self) -> None:
        self._text: dict[str, str] = {}

    def add(self, h: str, arch: dict) -> None:
        if h not in self._text:
            self._text[h] = json.dumps(arch, separators=(",", ":"))

    def __contains__(self, h: str) -> bool:
        return h in self._text

    def __getitem__(self, h: str) -> dict:
        return json.loads(self._text[h])

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(sorted(self._text.items()), columns=["arch_hash", "arch"])


# baseline (reward signal check), threshold (adaptive sigmoid) and constant (engine, newer runs) are optional
CHILD_COLUMNS = ["epoch", "step", "arch_hash", "arch", "metric_name", "metric", "reward", "baseline", "threshold",
                 "constant"]


def hash_children(children: pd.DataFrame, path: Path, archs: Archs) -> pd.DataFrame:
    """Replace the architecture JSON of each child by its hash (parsing each distinct one once into `archs`):
    a long study has millions of children but far fewer distinct architectures."""
    texts = children["arch"].astype(str)
    have = "arch_hash" in children and children["arch_hash"].notna().all() and len(children)
    if have:  # neonas search writes the canonical hash: trust it, parse one text per hash
        hashes = children["arch_hash"].astype(str)
        first = ~hashes.duplicated()
        for row, h, text in zip(children.index[first], hashes[first], texts[first], strict=True):
            if h not in archs:
                archs.add(h, archstats.parse_arch(text, f"{path}: row {row + 2}"))
    else:
        hash_of: dict[str, str] = {}
        first = ~texts.duplicated()
        for row, text in zip(children.index[first], texts[first], strict=True):
            arch = archstats.parse_arch(text, f"{path}: row {row + 2}")
            hash_of[text] = archstats.arch_hash(arch)
            archs.add(hash_of[text], arch)
        hashes = texts.map(hash_of)
    out = children.drop(columns=["arch"]).assign(arch_hash=hashes.astype(str))
    for col in ("step", "reward", "baseline", "threshold", "constant"):
        if col not in out:
            out[col] = np.nan
    return out


def child_signal(children: pd.DataFrame) -> dict:
    """What neonas.study.checks needs of children.csv's optional columns, so that they need not be kept for
    millions of children: SD and count of reward - baseline, mean reward, the thresholds an adaptive sigmoid
    used (float32, or None) and the hashes that were constant every time they were scored (or None)."""
    adv = (children["reward"] - children["baseline"]).dropna().to_numpy(float)
    thresholds = children["threshold"].dropna().to_numpy(np.float32)
    const = children.dropna(subset=["constant"]).groupby("arch_hash")["constant"].min()
    return {"adv_sd": float(adv.std(ddof=1)) if len(adv) > 1 else math.nan, "n_adv": len(adv),
            "mean_reward": float(children["reward"].mean()) if len(children) else math.nan,
            "thresholds": thresholds if len(thresholds) else None,
            "constant_hashes": frozenset(const.index[const == 1]) if len(const) else None}


def run_identity(path: Path, summary: dict) -> tuple[str, str]:
    """(arm, setting) of a run: from the study layout .../search/ARM/SETTING/seedS/foldF when the path
    has it (summary.json only knows the reward function, not the setting's name), else from summary.json."""
    arm = arm_of_sampler(summary["sampler"], path / "summary.json")
    parts = path.resolve().parts
    if len(parts) >= 4 and re.fullmatch(r"seed\d+", parts[-2]) and re.fullmatch(r"fold\d+", parts[-1]) \
            and parts[-4] in ("nas", "random", "evolution"):
        if parts[-4] != arm:
            raise NeonasError(f"the directory says arm '{parts[-4]}' but summary.json says sampler "
                              f"'{summary['sampler']}'", path)
        return arm, parts[-3]
    if arm in ("random", "evolution"):
        return arm, {"random": "uniform"}.get(arm, arm)
    if not summary.get("reward_name"):
        raise NeonasError("missing key 'reward_name' (the reward setting of this search)", path / "summary.json")
    return arm, str(summary["reward_name"])


def recording_info(summary: dict) -> tuple[float | None, list[str] | None]:
    """(sfreq, ch_names) of the searched data: from summary.json if it has them, else from the header of
    the first training infant's HDF5 (via summary.json's folds file); (None, None) when neither is readable."""
    sfreq, ch_names = find(summary, "sfreq"), find(summary, "ch_names")
    if sfreq and ch_names:
        return float(sfreq), list(ch_names)
    try:
        from neonas.store.h5io import read_recording
        from neonas.store.splits import load_fold

        fold = load_fold(summary["folds"], int(summary["fold"]))
        rec = read_recording(fold.train[0], load_eeg=False)
    except (NeonasError, KeyError, IndexError, OSError, TypeError, ValueError) as err:
        log.debug("no recording header for this run (%s)", err)
        return (float(sfreq) if sfreq else None), ch_names
    return float(sfreq or rec.sfreq), list(ch_names or rec.ch_names)


def read_run(path: str | os.PathLike, args: argparse.Namespace, archs: Archs) -> Run:
    """One search run; its children's architectures go into `archs` (hash -> architecture)."""
    path = Path(path)
    if not path.is_dir():
        raise NeonasError("search run directory not found", path)
    summary = read_json(path / "summary.json", "summary.json")
    for key in ("sampler", "seed", "fold"):
        if key not in summary:
            raise NeonasError(f"missing key '{key}'", path / "summary.json")
    arm, setting = run_identity(path, summary)
    children = hash_children(_read_csv(path / "children.csv", ["epoch", "arch", "metric"], CHILD_COLUMNS),
                             path / "children.csv", archs)
    signal = child_signal(children)
    children = children.drop(columns=["baseline", "threshold", "constant"])
    epochs = _read_csv(path / "epochs.csv", ["epoch"])
    space = find(summary.get("config", {}), "space") or {}
    sfreq, ch_names = recording_info(summary)
    if ch_names is None and args.channels.lower() != "none":
        ch_names = [c.strip() for c in args.channels.split(",") if c.strip()]
    sfreq = sfreq or args.sfreq
    stride, pool = space.get("stem_stride"), space.get("stem_pool")
    geometry = archstats.Geometry(
        ch_names=tuple(ch_names) if ch_names else None,
        sfreq=float(sfreq) if sfreq else None,
        step_samples=int(stride) * int(pool) if stride and pool else None,
        head_circumference_cm=args.head_circumference,
    )
    return Run(path, arm, setting, _int(summary["seed"], "seed", path / "summary.json"),
               _int(summary["fold"], "fold", path / "summary.json"), summary, children, epochs, geometry,
               signal=signal)


def attach_derived(runs: list[Run], files: list[str]) -> None:
    """Give each derived.json to its run (by its 'run' path, else by the directory it sits in)."""
    by_path = {r.path.resolve(): r for r in runs}
    for name in files:
        path = Path(name)
        data = read_json(path, "derived.json")
        for key in ("sampled", "top"):
            if not isinstance(data.get(key), list):
                raise NeonasError(f"'{key}' must be a list of architectures", path)
        candidates = [Path(data["run"]).resolve()] if data.get("run") else []
        candidates.append(path.parent.resolve())
        run = next((by_path[c] for c in candidates if c in by_path), None)
        if run is None:
            raise NeonasError(f"its search run ({data.get('run') or path.parent}) is not among --searches", path)
        if run.derived is not None:
            raise NeonasError(f"a second derived.json for run {run.path}", path)
        for key in ("sampled", "top"):
            for i, item in enumerate(data[key]):
                if not isinstance(item, dict) or "arch" not in item:
                    raise NeonasError(f"{key}[{i}] needs an 'arch'", path)
                item["arch"] = archstats.parse_arch(item["arch"], f"{path}: {key}[{i}]")
        run.derived = data


def read_metrics(files: list[str]) -> pd.DataFrame:
    """One row per metrics.json: identity (from 'meta'), the four metrics, confusion, compute."""
    rows = []
    for name in files:
        path = Path(name)
        if not path.parent.exists() and path.parent.parent.is_dir() and path.parent.name.startswith("rank"):
            # the retrain job ran (its directory exists) but derive returned fewer than top_k architectures
            log.warning("%s: no such rank was derived (fewer distinct non-constant architectures than top_k)",
                        path.parent)
            continue
        data = read_json(path, "metrics.json")
        meta = data.get("meta") or {}
        missing = [m for m in METRICS if not isinstance(data.get(m), int | float)]
        if missing:
            raise NeonasError(f"missing metric(s) {missing}", path)
        arm = meta.get("arm")
        if arm not in ARM_ORDER:
            raise NeonasError(f"meta.arm must be one of {list(ARM_ORDER)}, found {arm!r}", path)
        default_setting = {"random": "uniform", "evolution": "evolution", "handcrafted": "reference"}.get(arm)
        setting = meta.get("reward") or default_setting
        if not setting:
            raise NeonasError("meta.reward (the reward setting) is required for arm 'nas'", path)
        seed, fold = meta.get("seed", data.get("seed")), meta.get("fold", data.get("fold"))
        if seed is None or fold is None:
            raise NeonasError("meta.seed and meta.fold are required (pass --meta seed=S fold=F)", path)
        sm = meta.get("supernet_metric")
        rows.append({
            "arm": arm, "setting": str(setting), "seed": _int(seed, "meta.seed", path),
            "fold": _int(fold, "meta.fold", path), "rank": _int(meta.get("rank", 0), "meta.rank", path),
            **{m: float(data[m]) for m in METRICS},
            "supernet_metric": float(sm) if sm not in (None, "") else math.nan,
            "arch_hash": data.get("arch_hash") or "",
            "arch": json.dumps(data["arch"], separators=(",", ":")) if data.get("arch") else "",
            "n_params": data.get("n_params"),
            "train_seconds": float(data.get("train_seconds") or 0.0),
            "device": str(data.get("device") or ""),
            "split": str(data.get("split") or ""),
            "test_ids": " ".join(map(str, data.get("test_ids") or [])),
            "label_names": " ".join(map(str, data.get("label_names") or [])),
            "confusion": json.dumps(data.get("confusion")) if data.get("confusion") is not None else "",
            "path": str(path),
        })
    cols = ["arm", "setting", "seed", "fold", "rank", *METRICS, "supernet_metric", "arch_hash", "arch", "n_params",
            "train_seconds", "device", "split", "test_ids", "label_names", "confusion", "path"]
    df = pd.DataFrame(rows, columns=cols)
    dup = df[df.duplicated(["arm", "setting", "seed", "fold", "rank"], keep=False)]
    if len(dup):
        raise NeonasError(f"two metrics.json describe the same model ({dup.iloc[0][['arm', 'setting', 'seed', 'fold', 'rank']].to_dict()}): "
                          f"{list(dup['path'])}")
    return df


