"""Collect every run of a study into CSV tables: architecture statistics, accuracy and controller
curves, reward functions, retrained results with paired tests, compute, and two trust checks
(does the supernet's ranking survive retraining? did the search find the planted structure?).

Inputs are given explicitly (the workflow lists them): search run directories (children.csv,
epochs.csv, summary.json), derived.json files and metrics.json files, as in docs/contracts.md.
`neonas report` turns the tables in --out into figures and LaTeX; docs/report.md explains each one.

Example:
  neonas aggregate --searches results/demo/search/*/*/seed*/fold* \\
      --derived results/demo/search/*/*/seed*/fold*/derived.json \\
      --metrics results/demo/retrain/*/*/seed*/fold*/rank*/metrics.json \\
      --planted data/synthetic/planted.json --out results/demo/aggregate

Arguments may also come from a file, one per line: `neonas aggregate @args.txt --out DIR` (the
workflow does this: a large study's paths do not fit on one command line).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from neonas import archstats
from neonas.errors import NeonasError

log = logging.getLogger(__name__)

METRICS = ("accuracy", "balanced_accuracy", "kappa", "macro_f1")
KEYS = ["arm", "setting", "seed", "fold"]  # one search run
ARM_ORDER = {"nas": 0, "random": 1, "handcrafted": 2}
ALPHA = 0.05  # significance level of the plain-language verdicts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.fromfile_prefix_chars = "@"  # `neonas aggregate @args.txt`: arguments one per line (long studies)
    parser.add_argument("--searches", nargs="+", required=True, metavar="DIR",
                        help="search run directories (each with children.csv, epochs.csv, summary.json)")
    parser.add_argument("--derived", nargs="*", default=[], metavar="FILE",
                        help="derived.json files of `neonas derive` (final policy samples and top-k)")
    parser.add_argument("--metrics", nargs="*", default=[], metavar="FILE",
                        help="metrics.json files of retrained models (their 'meta' says arm/reward/seed/fold/rank)")
    parser.add_argument("--planted", metavar="FILE",
                        help="planted.json of the synthetic cohort: check whether the search found its structure")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory for the CSV tables")
    parser.add_argument("--windows", type=int, default=5, metavar="N",
                        help="epoch windows for the statistics of sampled children over time (default 5)")
    parser.add_argument("--rolling", type=int, metavar="EPOCHS",
                        help="epochs in the rolling median/quartiles of children's metric (default: 2%% of the "
                        "search epochs, at least 1)")
    parser.add_argument("--channels", default=",".join(archstats.NEONATAL_MONTAGE), metavar="LIST",
                        help="comma-separated montage in channel order, for extents in cm, when summary.json "
                        "does not name the channels (default: the neonatal montage); 'none' to skip cm")
    parser.add_argument("--head-circumference", type=float, default=archstats.HEAD_CIRCUMFERENCE_CM,
                        metavar="CM", help="head circumference for along-scalp distances (default 35 cm, term newborn)")
    parser.add_argument("--sfreq", type=float, metavar="HZ",
                        help="sampling rate of the searched epochs when summary.json does not give one "
                        "(for time kernels in ms)")


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
    key: tuple = field(init=False)

    def __post_init__(self) -> None:
        self.key = (self.arm, self.setting, self.seed, self.fold)


def _read_json(path: Path, what: str) -> dict:
    if not path.exists():
        raise NeonasError(f"{what} not found", path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise NeonasError(f"not valid JSON ({err.msg}, line {err.lineno})", path) from None
    if not isinstance(data, dict):
        raise NeonasError(f"expected a JSON object, found {type(data).__name__}", path)
    return data


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


def _find(obj, key: str):
    """First value of `key` anywhere in nested dicts (depth first), else None."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for value in obj.values():
            found = _find(value, key)
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
    if sampler == "random":
        return "random"
    raise NeonasError(f"'sampler' must be 'controller' or 'random', found {sampler!r}", path)


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


CHILD_COLUMNS = ["epoch", "step", "arch_hash", "arch", "metric_name", "metric", "reward"]


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
    for col in ("step", "reward"):
        if col not in out:
            out[col] = np.nan
    return out


def run_identity(path: Path, summary: dict) -> tuple[str, str]:
    """(arm, setting) of a run: from the study layout .../search/ARM/SETTING/seedS/foldF when the path
    has it (summary.json only knows the reward function, not the setting's name), else from summary.json."""
    arm = arm_of_sampler(summary["sampler"], path / "summary.json")
    parts = path.resolve().parts
    if len(parts) >= 4 and re.fullmatch(r"seed\d+", parts[-2]) and re.fullmatch(r"fold\d+", parts[-1]) \
            and parts[-4] in ("nas", "random"):
        if parts[-4] != arm:
            raise NeonasError(f"the directory says arm '{parts[-4]}' but summary.json says sampler "
                              f"'{summary['sampler']}'", path)
        return arm, parts[-3]
    if arm == "random":
        return arm, "uniform"
    if not summary.get("reward_name"):
        raise NeonasError("missing key 'reward_name' (the reward setting of this search)", path / "summary.json")
    return arm, str(summary["reward_name"])


def recording_info(summary: dict) -> tuple[float | None, list[str] | None]:
    """(sfreq, ch_names) of the searched data: from summary.json if it has them, else from the header of
    the first training infant's HDF5 (via summary.json's folds file); (None, None) when neither is readable."""
    sfreq, ch_names = _find(summary, "sfreq"), _find(summary, "ch_names")
    if sfreq and ch_names:
        return float(sfreq), list(ch_names)
    try:
        from neonas.h5io import read_recording
        from neonas.splits import load_fold

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
    summary = _read_json(path / "summary.json", "summary.json")
    for key in ("sampler", "seed", "fold"):
        if key not in summary:
            raise NeonasError(f"missing key '{key}'", path / "summary.json")
    arm, setting = run_identity(path, summary)
    children = hash_children(_read_csv(path / "children.csv", ["epoch", "arch", "metric"], CHILD_COLUMNS),
                             path / "children.csv", archs)
    epochs = _read_csv(path / "epochs.csv", ["epoch"])
    space = _find(summary.get("config", {}), "space") or {}
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
               _int(summary["fold"], "fold", path / "summary.json"), summary, children, epochs, geometry)


def attach_derived(runs: list[Run], files: list[str]) -> None:
    """Give each derived.json to its run (by its 'run' path, else by the directory it sits in)."""
    by_path = {r.path.resolve(): r for r in runs}
    for name in files:
        path = Path(name)
        data = _read_json(path, "derived.json")
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
        data = _read_json(path, "metrics.json")
        meta = data.get("meta") or {}
        missing = [m for m in METRICS if not isinstance(data.get(m), int | float)]
        if missing:
            raise NeonasError(f"missing metric(s) {missing}", path)
        arm = meta.get("arm")
        if arm not in ARM_ORDER:
            raise NeonasError(f"meta.arm must be one of {list(ARM_ORDER)}, found {arm!r}", path)
        default_setting = {"random": "uniform", "handcrafted": "reference"}.get(arm)
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


# ----------------------------------------------------------------------------- statistics (pure)


def setting_order(runs: list[Run], metrics: pd.DataFrame) -> list[tuple[str, str]]:
    """(arm, setting) pairs: NAS settings in the order of --searches, then random, then handcrafted."""
    seen = [(r.arm, r.setting) for r in runs] + list(zip(metrics["arm"], metrics["setting"], strict=True))
    unique = list(dict.fromkeys(seen))
    return sorted(unique, key=lambda a: ARM_ORDER[a[0]])


def epoch_windows(epochs: np.ndarray, n: int) -> tuple[np.ndarray, list[str]]:
    """Window index (1-based) per epoch, in n equal ranges of the epochs seen, and their labels."""
    if len(epochs) == 0:
        return np.zeros(0, int), []
    lo, hi = int(epochs.min()), int(epochs.max())
    n = max(1, min(n, hi - lo + 1))
    edges = [lo + round(k * (hi - lo + 1) / n) for k in range(n + 1)]
    index = np.searchsorted(edges, epochs, side="right")
    labels = [f"{a}-{b}" if b > a else f"{a}" for a, b in ((edges[k], edges[k + 1] - 1) for k in range(n))]
    return index, labels


def rolling_quantiles(epoch: np.ndarray, value: np.ndarray, width: int) -> pd.DataFrame:
    """Per epoch: quartiles of all values within +-width//2 epochs (pooled over seeds and folds)."""
    ok = ~np.isnan(value)
    order = np.argsort(epoch[ok], kind="stable")
    epoch, value = epoch[ok][order], value[ok][order]
    rows = []
    half = max(width, 1) // 2
    for e in np.unique(epoch):
        lo, hi = np.searchsorted(epoch, e - half, "left"), np.searchsorted(epoch, e + half, "right")
        q25, q50, q75 = np.percentile(value[lo:hi], [25, 50, 75])
        rows.append({"epoch": int(e), "n": int(hi - lo), "q25": q25, "median": q50, "q75": q75})
    return pd.DataFrame(rows, columns=["epoch", "n", "q25", "median", "q75"])


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample SD (ddof 1; NaN for fewer than two values)."""
    v = np.asarray(values, float)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan


def paired_test(a: dict, b: dict) -> dict:
    """Two-sided Wilcoxon signed-rank test of a - b over the keys (folds) both have.

    Fewer than 2 pairs gives "n/a". With n pairs the exact test cannot go below p = 2 / 2**n,
    so 5 folds can never reach p < 0.05: the note says so.
    """
    from scipy import stats

    keys = sorted(set(a) & set(b))
    n = len(keys)
    d = np.array([a[k] - b[k] for k in keys], float)
    out = {"n": n, "mean_diff": float(d.mean()) if n else math.nan, "statistic": math.nan, "p": math.nan,
           "test": "Wilcoxon signed-rank (two-sided)", "note": ""}
    if n < 2:
        out["note"] = f"n/a: {n} paired fold(s), need 2"
        return out
    if np.allclose(d, 0.0, atol=1e-12):
        out.update(statistic=0.0, p=1.0, note="all differences are zero")
        return out
    res = stats.wilcoxon(d)
    out.update(statistic=float(res.statistic), p=float(res.pvalue))
    floor = 2.0 / 2**n
    if floor >= ALPHA:
        out["note"] = f"with {n} pairs p cannot fall below {floor:.3g}"
    return out


def kendall(x, y) -> dict:
    """Kendall's tau-b with its two-sided p (scipy); n/a for fewer than 2 pairs or constant input."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    out = {"n": int(len(x)), "tau": math.nan, "p": math.nan, "note": ""}
    if len(x) < 2:
        out["note"] = f"n/a: {len(x)} pair(s)"
        return out
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        out["note"] = "n/a: one ranking is constant"
        return out
    res = stats.kendalltau(x, y)
    out.update(tau=float(res.statistic), p=float(res.pvalue))
    return out


def reward_curve(reward_cfg: dict, where: str, x: np.ndarray) -> tuple[str, np.ndarray]:
    """(reward name, reward(x)) from a resolved reward config, via neonas.reward's registry."""
    from neonas import reward
    from neonas.config import from_dict

    known = {f.name for f in dataclasses.fields(reward.RewardConfig)}
    extra = sorted(set(reward_cfg) - known)
    if extra:  # e.g. a run of an older neonas: the shape needs only name/threshold/steepness/scale
        log.warning("%s: ignoring reward key(s) %s that this neonas does not know", where, extra)
    cfg = from_dict(reward.RewardConfig, {k: v for k, v in reward_cfg.items() if k in known}, where)
    return cfg.name, np.array([reward.reward(float(v), cfg) for v in x])


def trust_verdict(row: dict) -> str:
    """Plain-language verdict of the pooled Kendall tau of supernet vs retrained accuracy."""
    n, tau, p = row["n"], row["tau"], row["p"]
    if n < 3 or math.isnan(tau):
        return (f"Cannot tell: only {n} retrained architecture(s) with a supernet score "
                f"({row.get('note') or 'too few'}); retrain more of the top-k (derive.top_k) to check.")
    strength = "weakly" if abs(tau) < 0.3 else "moderately" if abs(tau) < 0.5 else "strongly"
    stats_text = f"Kendall tau = {tau:.2f}, p = {p:.3g}, n = {n}"
    if p < ALPHA and tau > 0:
        return (f"Yes, {strength}: architectures the supernet ranks higher also tend to be more accurate when "
                f"retrained from scratch ({stats_text}).")
    if p < ALPHA:
        return (f"No: the supernet's ranking is {strength} reversed after retraining from scratch ({stats_text}); "
                "the weight-sharing scores mislead the search.")
    return (f"No evidence that it can: the supernet's ranking does not predict accuracy after retraining "
            f"({stats_text}); treat the order among the top-k as noise.")


def planted_verdict(found: int, n: int, expected: float, p: float, offset: int,
                    layers: tuple[int, int, float, float] | None = None) -> str:
    """`layers` = (covering layers, all layers, uniform per-layer rate, one-sided binomial p) of the best
    NAS architectures; it decides when whole architectures cover the offset by chance anyway."""
    if n == 0:
        return "Cannot tell: no derived best architecture of a NAS run."
    if math.isnan(expected):
        return (f"{found} of {n} best architectures cover channel offset {offset}; the share expected by chance is "
                "unknown (no search-space config in summary.json), so no verdict.")
    text = (f"{found} of {n} best NAS architectures ({found / n:.0%}) have a conv layer that mixes channels "
            f"{offset} apart (the planted homologous pairs), vs {expected:.0%} expected when sampling the space "
            f"uniformly (one-sided binomial p = {p:.3g}).")
    if p < ALPHA:
        return "Yes: the search found the planted structure more often than chance. " + text
    if layers is not None and not math.isnan(layers[2]) and layers[1]:
        k_l, n_l, q_l, p_l = layers
        text += (f" Layer by layer: {k_l} of {n_l} layers ({k_l / n_l:.0%}) mix channels {offset} apart, vs "
                 f"{q_l:.0%} for a uniformly drawn layer (one-sided binomial p = {p_l:.3g}).")
        if p_l < ALPHA:
            return "Yes, layer by layer: the best architectures use the planted offset more often than chance. " + text
        if expected > 0.8:
            return "No evidence: whole architectures cover the offset by chance anyway, and layer by layer the " \
                   "best architectures use it no more often than uniform sampling. " + text
        return "No evidence that the search found the planted structure. " + text
    if expected > 0.8:
        return ("Cannot tell: most of the space covers that offset anyway, so finding it proves little. " + text)
    return "No evidence that the search found the planted structure. " + text


# ----------------------------------------------------------------------------- tables


def _arch_tables(instances: pd.DataFrame, archs: Archs, geom: dict[tuple, archstats.Geometry],
                 planted_offset: int | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-instance architecture rows, per-conv-layer rows and per-layer op rows of `instances`
    (columns source, arm, setting, seed, fold, window, rank, arch_hash, supernet_metric, count). `count`
    weighs every statistic: one row stands for that many identical children."""
    # layer units depend on the run's montage and sfreq: one set of layer rows per distinct geometry
    geometries = list(dict.fromkeys(geom.values()))
    gid = {k: geometries.index(g) for k, g in geom.items()}
    inst = instances.assign(gid=[gid[k] for k in zip(*(instances[c] for c in KEYS), strict=True)])
    # plain tuples, not dicts: millions of rows in a long random search. A conv layer's units depend only on
    # its sizes and the geometry, so they are computed once per signature and joined.
    arch_rows, op_rows, layer_keys, signatures = [], [], [], {}
    arch_cols: list[str] = []
    for h, gids in inst.groupby("arch_hash", sort=True)["gid"].unique().items():
        arch = archs[h]  # parsed one at a time
        row = archstats.arch_row(arch, planted_offset)
        arch_cols = arch_cols or list(row)
        arch_rows.append((h, *row.values()))
        for i, layer in enumerate(arch["layers"]):
            op_rows.append((h, i, archstats.op_type(layer)))
            if layer["op"] != "conv":
                continue
            for g in sorted(gids):
                sig = (int(g), layer["span"], layer["dilation"], layer["time_kernel"], layer.get("time_dilation", 1))
                layer_keys.append((g, h, i, signatures.setdefault(sig, len(signatures))))
    arch_df = instances.merge(pd.DataFrame(arch_rows, columns=["arch_hash", *arch_cols]), on="arch_hash", how="left")
    units = []
    for (g, span, dil, tk, td), k in signatures.items():
        conv = {"op": "conv", "span": span, "dilation": dil, "time_kernel": tk, "time_dilation": td, "skips": []}
        units.append({"sig": k, **archstats.layer_rows({"layers": [conv]}, geometries[g])[0]})
    layer_cols = ["span", "dilation", "extent_el", "extent_cm", "time_kernel", "time_dilation",
                  "time_extent_steps", "time_extent_samples", "time_extent_ms"]
    units = pd.DataFrame(units, columns=["sig", "layer", *layer_cols]).drop(columns="layer")
    layers = pd.DataFrame(layer_keys, columns=["gid", "arch_hash", "layer", "sig"]).merge(units, on="sig")
    layer_df = inst.merge(layers.drop(columns="sig"), on=["gid", "arch_hash"], how="inner").drop(columns="gid")
    op_df = instances.merge(pd.DataFrame(op_rows, columns=["arch_hash", "layer", "op"]), on="arch_hash")
    return arch_df, layer_df, op_df


GROUP = ["source", "arm", "setting", "seed", "fold", "window"]
LAYER_QUANTITIES = ("span", "dilation", "extent_el", "extent_cm", "time_kernel", "time_extent_ms")
ARCH_QUANTITIES = ("n_skips", "n_conv")


def distributions(arch_df: pd.DataFrame, layer_df: pd.DataFrame, op_df: pd.DataFrame) -> pd.DataFrame:
    """Long table: per run (and window), each quantity's values with count and share.

    Layer quantities are shares of conv layers, ops of all layers, n_skips/n_conv of architectures.
    """
    parts = []

    def add(df: pd.DataFrame, quantity: str, column: str, unit: str) -> None:
        v = df[column]
        if v.dtype.kind == "f":
            if v.isna().all():
                return
            df = df.assign(_v=v.round(3))
        else:
            df = df.assign(_v=v)
        counts = df.groupby([*GROUP, "_v"], sort=True, dropna=True)["count"].sum().reset_index()
        totals = counts.groupby(GROUP)["count"].transform("sum")
        counts["share"] = counts["count"] / totals
        counts["quantity"], counts["unit"] = quantity, unit
        parts.append(counts.rename(columns={"_v": "value"}))

    for q in LAYER_QUANTITIES:
        add(layer_df, q, q, "conv layers")
    add(op_df, "op", "op", "layers")
    for q in ARCH_QUANTITIES:
        add(arch_df, q, q, "architectures")
    cols = [*GROUP, "quantity", "value", "count", "share", "unit"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat([p.astype({"value": str}) for p in parts], ignore_index=True)
    return out[cols]


def _wmean(values: pd.Series, weights: pd.Series) -> float:
    ok = values.notna()
    w = weights[ok].to_numpy(float)
    return float(np.average(values[ok].to_numpy(float), weights=w)) if ok.any() and w.sum() > 0 else math.nan


def arch_summary(arch_df: pd.DataFrame, layer_df: pd.DataFrame, op_df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Means and shares (weighted by `count`) pooled over seeds and folds, grouped by `by`."""
    rows = []
    ops = sorted(op_df["op"].unique()) if len(op_df) else []
    layers = dict(iter(layer_df.groupby(by, sort=False)))
    op_groups = dict(iter(op_df.groupby(by, sort=False)))
    for key, a in arch_df.groupby(by, sort=False):
        la = layers.get(key, layer_df.iloc[:0])
        oa = op_groups.get(key, op_df.iloc[:0])
        row = {**dict(zip(by, key, strict=True)), "n_archs": int(a["count"].sum()),
               "n_runs": len(a.groupby(["seed", "fold"])), "n_conv_layers": int(la["count"].sum())}
        for q in LAYER_QUANTITIES:
            row[f"mean_{q}"] = _wmean(la[q], la["count"])
        row["skip_freq"] = _wmean(a["has_skip"].astype(float), a["count"])
        row["mean_skips"] = _wmean(a["n_skips"], a["count"])
        for op in ops:
            row[f"share_{op}"] = _wmean((oa["op"] == op).astype(float), oa["count"])
        if "covers_planted" in a:
            row["covers_planted"] = _wmean(a["covers_planted"].astype(float), a["count"])
            row["covers_planted_stacked"] = _wmean(a["covers_planted_stacked"].astype(float), a["count"])
        rows.append(row)
    return pd.DataFrame(rows)


def build_tables(runs: list[Run], metrics: pd.DataFrame, planted: dict | None, args: argparse.Namespace,
                 archs: Archs) -> dict:
    """Every output table (name -> DataFrame, or dict for JSON); `archs` maps hashes to architectures."""
    order = setting_order(runs, metrics)
    rank_of = {s: i for i, s in enumerate(order)}
    tables: dict = {}
    offset = None
    if planted is not None:
        offset = _find(planted, "pair_offset")
        if not isinstance(offset, int) or offset < 1:
            raise NeonasError(f"planted.json: 'pair_offset' must be a positive integer, found {offset!r}")

    # runs
    tables["runs"] = pd.DataFrame([{
        **dict(zip(KEYS, r.key, strict=True)), "path": str(r.path), "sampler": r.summary["sampler"],
        "reward_name": r.summary.get("reward_name", ""), "epochs": r.summary.get("epochs"),
        "n_children": len(r.children), "device": r.summary.get("device", ""),
        "wall_seconds": r.summary.get("wall_seconds"), "sfreq": r.geometry.sfreq,
        "step_samples": r.geometry.step_samples, "metric_name": _metric_name(r),
        "reward": json.dumps(r.summary.get("reward", {}), sort_keys=True),
        "neonas_version": r.summary.get("neonas_version", ""),
    } for r in runs])

    # children (scores), their windows, a subsample for scatter plots, rolling curves; controller curves
    child_cols = ["epoch", "step", "arch_hash", "metric", "reward"]
    frames = [r.children[child_cols].assign(**dict(zip(KEYS, r.key, strict=True))) for r in runs]
    children = pd.concat(frames, ignore_index=True)[[*KEYS, *child_cols]]
    win, labels = epoch_windows(children["epoch"].to_numpy(), args.windows)
    children["window"] = win
    tables["windows"] = pd.DataFrame({"window": range(1, len(labels) + 1), "epochs": labels})
    tables["children_sample"] = _sample(children, rank_of)
    n_epochs = int(children["epoch"].max() - children["epoch"].min() + 1) if len(children) else 1
    rolling = args.rolling or max(1, round(n_epochs / 50))
    log.info("rolling quartiles over %d epochs, %d windows", rolling, len(labels))

    curves = []
    for arm, setting in order:
        sel = children[(children["arm"] == arm) & (children["setting"] == setting)]
        q = rolling_quantiles(sel["epoch"].to_numpy(), sel["metric"].to_numpy(float), rolling)
        curves.append(q.assign(arm=arm, setting=setting))
    tables["curves"] = _frame(curves, ["arm", "setting", "epoch", "n", "q25", "median", "q75"])

    ep_frames = []
    for r in runs:
        e = r.epochs.copy()
        for k, v in zip(KEYS, r.key, strict=True):
            e[k] = v
        ep_frames.append(e)
    epochs = pd.concat(ep_frames, ignore_index=True)
    for col in ("entropy", "baseline", "mean_metric", "mean_reward"):
        if col not in epochs:
            epochs[col] = np.nan
    tables["epochs"] = epochs[[*KEYS, *[c for c in epochs.columns if c not in KEYS]]]
    ctrl = []
    for (arm, setting), g in epochs.groupby(["arm", "setting"], sort=False):
        for e, ge in g.groupby("epoch"):
            row = {"arm": arm, "setting": setting, "epoch": int(e), "n_runs": len(ge)}
            for col in ("entropy", "baseline", "mean_reward"):
                v = ge[col].dropna().to_numpy(float)
                row[f"{col}_median"], row[f"{col}_q25"], row[f"{col}_q75"] = (
                    (np.median(v), np.percentile(v, 25), np.percentile(v, 75)) if len(v) else (math.nan,) * 3)
            ctrl.append(row)
    tables["controller"] = pd.DataFrame(ctrl).sort_values(["arm", "setting", "epoch"], key=_sort_key(rank_of),
                                                           kind="stable").reset_index(drop=True) \
        if ctrl else pd.DataFrame(columns=["arm", "setting", "epoch"])

    # reward functions of the NAS settings
    x = np.linspace(0.0, 1.0, 101)
    rewards, seen_cfg = [], {}
    for r in runs:
        if r.arm != "nas" or "reward" not in r.summary:
            continue
        cfg = r.summary["reward"]
        if r.setting in seen_cfg:
            if seen_cfg[r.setting] != cfg:
                log.warning("reward setting %s: runs disagree on the reward config; plotting the first", r.setting)
            continue
        seen_cfg[r.setting] = cfg
        name, y = reward_curve(cfg, f"{r.path / 'summary.json'}: reward", x)
        rewards.append(pd.DataFrame({"setting": r.setting, "reward_name": name, "x": x, "reward": y}))
    tables["reward_curves"] = _frame(rewards, ["setting", "reward_name", "x", "reward"])
    tables["reward_configs"] = pd.DataFrame(
        [{"setting": s, **{k: v for k, v in c.items() if not isinstance(v, dict | list)}} for s, c in seen_cfg.items()])

    # architecture instances: children (by window, identical ones counted once), final policy, derived top-k
    counted = children.groupby([*KEYS, "window", "arch_hash"], sort=False).size().rename("count").reset_index()
    inst = [counted.assign(source="children", rank=-1, supernet_metric=np.nan)]
    derived_rows = []
    for r in runs:
        if r.derived is None:
            continue
        for source in ("sampled", "top"):
            for i, item in enumerate(r.derived[source]):
                h = archstats.arch_hash(item["arch"])
                archs.add(h, item["arch"])
                derived_rows.append({**dict(zip(KEYS, r.key, strict=True)), "window": 0, "arch_hash": h,
                                     "source": source, "rank": int(item.get("rank", i)) if source == "top" else i,
                                     "supernet_metric": float(item.get("supernet_metric", math.nan)),
                                     "count": 1})
    if derived_rows:
        inst.append(pd.DataFrame(derived_rows))
    instances = pd.concat(inst, ignore_index=True)[
        ["source", *KEYS, "window", "rank", "arch_hash", "supernet_metric", "count"]]
    geom = {r.key: r.geometry for r in runs}
    arch_df, layer_df, op_df = _arch_tables(instances, archs, geom, offset)
    tables["architectures"] = archs.table()
    tables["arch_instances"] = arch_df[arch_df["source"] != "children"].reset_index(drop=True)
    tables["arch_layers"] = layer_df[layer_df["source"] != "children"].reset_index(drop=True)
    tables["arch_dist"] = distributions(arch_df, layer_df, op_df)
    by = ["source", "arm", "setting"]
    is_child = arch_df["source"] == "children"
    summ = pd.concat([
        arch_summary(arch_df, layer_df, op_df, by).assign(window=0),
        arch_summary(arch_df[is_child], layer_df[layer_df["source"] == "children"],
                     op_df[op_df["source"] == "children"], [*by, "window"]),
    ], ignore_index=True)
    src_rank = {"top": 0, "sampled": 1, "children": 2}
    summ = summ.sort_values([*by, "window"], kind="stable",
                            key=lambda s: s.map(src_rank) if s.name == "source" else _sort_key(rank_of)(s))
    summ = summ[[*by, "window", *[c for c in summ.columns if c not in [*by, "window"]]]]
    tables["arch_summary"] = summ.reset_index(drop=True)

    # results, paired tests, confusion, compute, trust, planted, checklist
    tables["results"] = metrics.drop(columns=["confusion"]).sort_values(
        ["arm", "setting", "seed", "fold", "rank"], key=_sort_key(rank_of), kind="stable").reset_index(drop=True)
    best = metrics[metrics["rank"] == 0]
    tables["results_summary"] = _results_summary(best, order)
    tables["paired_tests"] = _paired(best, order)
    tables["confusion"] = _confusion(best, order)
    tables["compute"] = _compute(runs, metrics, order)
    kt, verdict_trust = _kendall_table(runs, metrics, order)
    tables["kendall"] = kt
    verdicts = {"trust": verdict_trust}
    if offset is not None:
        tables["planted"], verdicts["planted"] = _planted(runs, arch_df, offset)
    tables["checklist"] = _checklist(runs, metrics, order)
    tables["highlights"] = _highlights(arch_df, metrics, archs)
    tables["verdicts"] = verdicts
    return tables


SCATTER_MAX = 20000  # children per (arm, setting) kept for scatter plots


def _sample(children: pd.DataFrame, rank_of: dict) -> pd.DataFrame:
    """At most SCATTER_MAX children per (arm, setting), drawn uniformly with a fixed seed (all if fewer)."""
    parts = []
    rng = np.random.default_rng(0)
    for _, g in children.groupby(["arm", "setting"], sort=False):
        if len(g) > SCATTER_MAX:
            g = g.iloc[np.sort(rng.choice(len(g), SCATTER_MAX, replace=False))]
        parts.append(g)
    out = pd.concat(parts, ignore_index=True) if parts else children.iloc[:0]
    out = out.sort_values(["arm", "setting"], kind="stable", key=_sort_key(rank_of))
    return out[[*KEYS, "epoch", "metric"]].reset_index(drop=True)


def _metric_name(run: Run) -> str:
    if "metric_name" in run.children and len(run.children):
        return str(run.children["metric_name"].iloc[0])
    return str(_find(run.summary.get("reward", {}), "metric") or "accuracy")


def _arm_key(value):
    return ARM_ORDER.get(value, 9)


def _sort_key(rank_of: dict):
    """Sort key for pandas: arms in ARM_ORDER, settings in study order, everything else as is."""
    settings = {s: i for (_, s), i in rank_of.items()}

    def key(s: pd.Series) -> pd.Series:
        if s.name == "arm":
            return s.map(_arm_key)
        if s.name == "setting":
            return s.map(lambda v: settings.get(v, 999))
        return s

    return key


def _frame(parts: list[pd.DataFrame], cols: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def _results_summary(best: pd.DataFrame, order: list) -> pd.DataFrame:
    rows = []
    for arm, setting in order:
        g = best[(best["arm"] == arm) & (best["setting"] == setting)]
        if not len(g):
            continue
        row = {"arm": arm, "setting": setting, "n": len(g), "n_seeds": g["seed"].nunique(),
               "n_folds": g["fold"].nunique()}
        for m in METRICS:
            row[f"{m}_mean"], row[f"{m}_sd"] = mean_sd(g[m])
        rows.append(row)
    return pd.DataFrame(rows, columns=["arm", "setting", "n", "n_seeds", "n_folds",
                                       *[f"{m}_{s}" for m in METRICS for s in ("mean", "sd")]])


def _paired(best: pd.DataFrame, order: list) -> pd.DataFrame:
    """Each NAS setting vs handcrafted and vs random, random vs handcrafted: fold means over seeds."""
    fold_means = best.groupby(["arm", "setting", "fold"])[list(METRICS)].mean()
    present = [a for a in order if a in fold_means.index.droplevel("fold")]
    pairs = []
    for a in present:
        for b in present:
            if (a[0], b[0]) in {("nas", "handcrafted"), ("nas", "random"), ("random", "handcrafted")}:
                pairs.append((a, b))
    rows = []
    for a, b in pairs:
        for m in METRICS:
            va = fold_means.loc[a][m].to_dict()
            vb = fold_means.loc[b][m].to_dict()
            rows.append({"a_arm": a[0], "a_setting": a[1], "b_arm": b[0], "b_setting": b[1], "metric": m,
                         **paired_test(va, vb)})
    return pd.DataFrame(rows, columns=["a_arm", "a_setting", "b_arm", "b_setting", "metric", "n", "mean_diff",
                                       "statistic", "p", "test", "note"])


def _confusion(best: pd.DataFrame, order: list) -> pd.DataFrame:
    rows = []
    for arm, setting in order:
        g = best[(best["arm"] == arm) & (best["setting"] == setting) & (best["confusion"] != "")]
        if not len(g):
            continue
        labels = g["label_names"].iloc[0].split()
        total = None
        for _, row in g.iterrows():
            if row["label_names"].split() != labels:
                raise NeonasError(f"label names {row['label_names'].split()} differ from {labels}", row["path"])
            cm = np.asarray(json.loads(row["confusion"]), int)
            if cm.shape != (len(labels), len(labels)):
                raise NeonasError(f"confusion must be {len(labels)}x{len(labels)}, found {cm.shape}", row["path"])
            total = cm if total is None else total + cm
        support = total.sum(axis=1, keepdims=True)
        share = np.divide(total, support, out=np.full(total.shape, np.nan), where=support > 0)
        for i, t in enumerate(labels):
            for j, p in enumerate(labels):
                rows.append({"arm": arm, "setting": setting, "true": t, "pred": p, "count": int(total[i, j]),
                             "row_share": share[i, j]})
    return pd.DataFrame(rows, columns=["arm", "setting", "true", "pred", "count", "row_share"])


def _is_gpu(device: str) -> bool:
    d = str(device).lower()
    return "cuda" in d or "gpu" in d


def _compute(runs: list[Run], metrics: pd.DataFrame, order: list) -> pd.DataFrame:
    """Hours of search (summary.json wall_seconds) and retraining (metrics.json train_seconds) per arm,
    split by device kind. CPU-hours are wall-clock hours of a CPU job (not multiplied by cores)."""
    rows = []
    for arm, setting in order:
        rs = [r for r in runs if (r.arm, r.setting) == (arm, setting)]
        ms = metrics[(metrics["arm"] == arm) & (metrics["setting"] == setting)]
        row = {"arm": arm, "setting": setting, "n_searches": len(rs), "n_retrains": len(ms)}
        for stage, items in (("search", [(r.summary.get("device", ""), r.summary.get("wall_seconds")) for r in rs]),
                             ("retrain", list(zip(ms["device"], ms["train_seconds"], strict=True)))):
            gpu = sum(float(s or 0) for d, s in items if _is_gpu(d)) / 3600
            cpu = sum(float(s or 0) for d, s in items if not _is_gpu(d)) / 3600
            row[f"{stage}_gpu_h"], row[f"{stage}_cpu_h"] = gpu, cpu
        row["total_gpu_h"] = row["search_gpu_h"] + row["retrain_gpu_h"]
        row["total_cpu_h"] = row["search_cpu_h"] + row["retrain_cpu_h"]
        rows.append(row)
    return pd.DataFrame(rows)


def _kendall_table(runs: list[Run], metrics: pd.DataFrame, order: list) -> tuple[pd.DataFrame, str]:
    """Kendall tau between supernet score and retrained accuracy: per run, per setting, pooled over NAS."""
    searched = metrics[metrics["arm"].isin(["nas", "random"])].copy()
    # supernet score from meta, else from the run's derived top-k
    top = {}
    for r in runs:
        for i, item in enumerate((r.derived or {}).get("top", [])):
            top[(*r.key, int(item.get("rank", i)))] = float(item.get("supernet_metric", math.nan))
    missing = searched["supernet_metric"].isna()
    searched.loc[missing, "supernet_metric"] = [
        top.get((a, s, sd, f, rk), math.nan)
        for a, s, sd, f, rk in searched.loc[missing, ["arm", "setting", "seed", "fold", "rank"]].itertuples(index=False)]
    rows = []
    for (arm, setting), g in searched.groupby(["arm", "setting"], sort=False):
        for (seed, fold), gr in g.groupby(["seed", "fold"]):
            rows.append({"scope": "run", "arm": arm, "setting": setting, "seed": seed, "fold": fold,
                         **kendall(gr["supernet_metric"], gr["accuracy"])})
        rows.append({"scope": "setting", "arm": arm, "setting": setting, "seed": "all", "fold": "all",
                     **kendall(g["supernet_metric"], g["accuracy"])})
    nas = searched[searched["arm"] == "nas"]
    pooled = {"scope": "pooled", "arm": "nas", "setting": "all", "seed": "all", "fold": "all",
              **kendall(nas["supernet_metric"], nas["accuracy"])}
    rows.append(pooled)
    df = pd.DataFrame(rows, columns=["scope", "arm", "setting", "seed", "fold", "n", "tau", "p", "note"])
    rank_of = {s: i for i, s in enumerate(order)}
    scope_rank = {"pooled": 0, "setting": 1, "run": 2}
    df = df.sort_values(["scope", "arm", "setting"], kind="stable",
                        key=lambda s: s.map(scope_rank) if s.name == "scope" else _sort_key(rank_of)(s))
    return df.reset_index(drop=True), trust_verdict(pooled)


def _planted(runs: list[Run], arch_df: pd.DataFrame, offset: int) -> tuple[pd.DataFrame, str]:
    """Share of derived-best (top rank 0) and final-policy architectures covering the planted offset,
    against the exact share under uniform sampling from each run's search space."""
    from scipy import stats

    expected, exp_stacked = math.nan, math.nan
    spaces = {json.dumps(_find(r.summary.get("config", {}), "space"), sort_keys=True) for r in runs}
    spaces.discard("null")
    if len(spaces) > 1:
        log.warning("runs use different search spaces; the chance level uses the first")
    if spaces:
        space_cfg = json.loads(sorted(spaces)[0])
        expected, exp_stacked = archstats.uniform_coverage(space_cfg, offset, "summary.json: space")
        layer_rate = archstats.uniform_layer_rate(space_cfg, offset, "summary.json: space")
    else:
        layer_rate = math.nan
    rows = []
    derived = arch_df[arch_df["source"].isin(["top", "sampled"])]
    best = derived[(derived["source"] == "top") & (derived["rank"] == 0)]
    groups = [("best (top rank 0)", best), ("final policy (sampled)", derived[derived["source"] == "sampled"])]
    for label, df in groups:
        for (arm, setting), g in df.groupby(["arm", "setting"], sort=False):
            k = int(g["covers_planted"].sum())
            ks = int(g["covers_planted_stacked"].sum())
            p = stats.binomtest(k, len(g), expected, alternative="greater").pvalue if not math.isnan(expected) \
                else math.nan
            k_l, n_l = _layer_counts(g, offset)
            rows.append({"architectures": label, "arm": arm, "setting": setting, "n": len(g), "covers": k,
                         "share": k / len(g), "share_stacked": ks / len(g), "expected_uniform": expected,
                         "expected_uniform_stacked": exp_stacked, "p_binomial": float(p),
                         "layer_share": k_l / n_l if n_l else math.nan, "layer_expected_uniform": layer_rate})
    nas_best = best[best["arm"] == "nas"]
    k, n = int(nas_best["covers_planted"].sum()), len(nas_best)
    p_all = stats.binomtest(k, n, expected, alternative="greater").pvalue if n and not math.isnan(expected) \
        else math.nan
    k_l, n_l = _layer_counts(nas_best, offset)
    p_layers = stats.binomtest(k_l, n_l, layer_rate, alternative="greater").pvalue \
        if n_l and not math.isnan(layer_rate) else math.nan
    rows.append({"architectures": "best (top rank 0)", "arm": "nas", "setting": "all", "n": n, "covers": k,
                 "share": k / n if n else math.nan,
                 "share_stacked": nas_best["covers_planted_stacked"].mean() if n else math.nan,
                 "expected_uniform": expected, "expected_uniform_stacked": exp_stacked, "p_binomial": float(p_all),
                 "layer_share": k_l / n_l if n_l else math.nan, "layer_expected_uniform": layer_rate})
    df = pd.DataFrame(rows)
    df.insert(0, "pair_offset", offset)
    return df, planted_verdict(k, n, expected, float(p_all), offset, (k_l, n_l, layer_rate, float(p_layers)))


def _layer_counts(archs: pd.DataFrame, offset: int) -> tuple[int, int]:
    """(layers mixing channels `offset` apart, all layers) over the architectures of `archs`."""
    return int(archs["layers_covering_planted"].sum()), int(archs["n_layers"].sum())


def _checklist(runs: list[Run], metrics: pd.DataFrame, order: list) -> pd.DataFrame:
    """NAS best-practice checklist (Lindauer & Hutter 2020), answered from the files where possible."""
    arms = {a for a, _ in order}
    nas = [r for r in runs if r.arm == "nas"]
    rnd = [r for r in runs if r.arm == "random"]

    def budget(rs):
        return sorted({(r.summary.get("epochs"), len(r.children)) for r in rs})

    items = []
    if rnd and nas:
        same = {e for e, _ in budget(rnd)} == {e for e, _ in budget(nas)} and \
            {c for _, c in budget(rnd)} == {c for _, c in budget(nas)}
        items.append(("Random search with the same budget", "yes" if same else "no",
                      f"(epochs, children) per run: random {budget(rnd)}, NAS {sorted(set(budget(nas)))}"))
    else:
        items.append(("Random search with the same budget", "no", "no random-search arm in this study"))
    items.append(("Compared against a hand-designed baseline", "yes" if "handcrafted" in arms else "no",
                  "arm 'handcrafted'" if "handcrafted" in arms else "no handcrafted arm"))
    if len(metrics):
        per_fold = metrics.groupby("fold").agg(splits=("split", "nunique"), tests=("test_ids", "nunique"))
        same_eval = bool((per_fold["splits"] == 1).all() and (per_fold["tests"] == 1).all())
        items.append(("Same evaluation pipeline for every arm", "yes" if same_eval else "no",
                      "every model retrained from scratch by `neonas retrain` and scored on the same held-out "
                      "infants of its fold" if same_eval else "test infants or split differ between arms of a fold"))
    else:
        items.append(("Same evaluation pipeline for every arm", "n/a", "no retrained models"))
    seeds = sorted({r.seed for r in runs})
    items.append(("Multiple runs with reported seeds", "yes" if len(seeds) > 1 else "no",
                  f"seeds {seeds}; folds {sorted({r.fold for r in runs})}"))
    items.append(("Performance over time reported", "yes" if any(len(r.children) for r in runs) else "no",
                  "children's metric per epoch (accuracy-over-epochs figure)"))
    items.append(("End-to-end compute reported", "yes", "search and retraining hours per arm (compute table)"))
    items.append(("Ablation of the method's parts", "yes" if len({r.setting for r in nas}) > 1 else "no",
                  f"reward settings: {list(dict.fromkeys(r.setting for r in nas))}"))
    versions = sorted({str(r.summary.get("neonas_version", "?")) for r in runs})
    items.append(("Code, search space, hyperparameters and seeds released",
                  "yes" if all("config" in r.summary for r in runs) else "partly",
                  f"summary.json of every run holds the resolved config; neonas {', '.join(versions)}"))
    items.append(("Tabular or surrogate benchmark used", "no", "none exists for neonatal EEG sleep staging"))
    items.append(("Hyperparameter tuning and its cost reported", "n/a", "not recorded by neonas: state it in the text"))
    return pd.DataFrame(items, columns=["item", "answer", "evidence"])


def _highlights(arch_df: pd.DataFrame, metrics: pd.DataFrame, archs: Archs) -> dict:
    """The best NAS architecture and a weak 'fancy' one, for the diagrams."""
    out = {}
    nas_metrics = metrics[(metrics["arm"] == "nas") & (metrics["arch"] != "")]
    if len(nas_metrics):
        m = nas_metrics.assign(arch_hash=[archstats.arch_hash(json.loads(a)) for a in nas_metrics["arch"]])
        g = m.groupby("arch_hash").agg(accuracy=("accuracy", "mean"), n=("accuracy", "size"),
                                        arch=("arch", "first")).reset_index()
        g = g.sort_values(["accuracy", "arch_hash"], ascending=[False, True], kind="stable")
        top = g.iloc[0]
        out["best"] = {"arch_hash": top["arch_hash"], "arch": json.loads(top["arch"]),
                       "why": f"highest mean retrained accuracy ({top['accuracy']:.3f}, n = {top['n']})"}
    else:
        top = arch_df[(arch_df["source"] == "top") & (arch_df["arm"] == "nas")]
        if len(top):
            t = top.sort_values(["supernet_metric", "arch_hash"], ascending=[False, True], kind="stable").iloc[0]
            out["best"] = {"arch_hash": t["arch_hash"], "arch": archs[t["arch_hash"]],
                           "why": f"highest supernet score of the derived top-k ({t['supernet_metric']:.3f})"}
    pool = arch_df[(arch_df["source"] == "sampled") & (arch_df["arm"] == "nas")]
    score = "supernet_metric"
    if not len(pool):
        pool = arch_df[(arch_df["source"] == "children") & (arch_df["arm"] == "nas")]
    if len(pool):
        f = pool.sort_values(["n_skips", score, "arch_hash"], ascending=[False, True, True], kind="stable",
                             na_position="last").iloc[0]
        s = f[score]
        out["fancy"] = {"arch_hash": f["arch_hash"], "arch": archs[f["arch_hash"]],
                        "why": f"most skips ({int(f['n_skips'])}) among the final policy's samples, then the lowest "
                        "supernet score" + (f" ({s:.3f})" if not math.isnan(s) else "")}
    return out


# ----------------------------------------------------------------------------- writing


@contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; it replaces `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()  # not mkdtemp: the result keeps the usual permissions (umask), not 0700
    try:
        yield tmp
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
            os.replace(final, old / "x")
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")


def run(args: argparse.Namespace) -> int:
    if args.windows < 1 or (args.rolling is not None and args.rolling < 1):
        raise NeonasError("--windows and --rolling must be at least 1")
    archs = Archs()
    runs = [read_run(p, args, archs) for p in tqdm(args.searches, desc="reading runs", unit="run",
                                                   disable=len(args.searches) < 20)]
    seen: dict[tuple, Path] = {}
    for r in runs:
        if r.key in seen:
            raise NeonasError(f"two runs are {dict(zip(KEYS, r.key, strict=True))}: {seen[r.key]} and {r.path}")
        seen[r.key] = r.path
    attach_derived(runs, args.derived)
    metrics = read_metrics(args.metrics)
    planted = _read_json(Path(args.planted), "planted.json") if args.planted else None
    log.info("aggregating %d search runs, %d derived, %d retrained models", len(runs), len(args.derived), len(metrics))
    tables = build_tables(runs, metrics, planted, args, archs)
    with atomic_dir(args.out) as tmp:
        for name, table in tables.items():
            if isinstance(table, pd.DataFrame):
                write_csv(table, tmp / f"{name}.csv")
            else:
                (tmp / f"{name}.json").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    for key, text in tables["verdicts"].items():
        log.info("%s: %s", key, text)
    log.info("wrote %d tables to %s", len(tables), args.out)
    return 0
