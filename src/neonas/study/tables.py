"""Architecture tables and `build_tables`, which assembles every output table of `neonas aggregate`."""

from __future__ import annotations

import argparse
import json
import logging
import math

import numpy as np
import pandas as pd

from neonas.errors import NeonasError
from neonas.study import archstats, checks, signal, spaceinfo, trust
from neonas.study.results import (
    checklist_table,
    compute_table,
    concat_frames,
    confusion_table,
    highlights_table,
    kendall_table,
    metric_name,
    paired_table,
    planted_table,
    results_summary,
    scatter_sample,
    sort_key,
)
from neonas.study.runs import KEYS, Archs, Run, find
from neonas.study.stats import epoch_windows, reward_curve, rolling_quantiles, setting_order
from neonas.study.yardstick_tables import yardstick_tables

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- tables


def _arch_tables(instances: pd.DataFrame, archs: Archs, geom: dict[tuple, archstats.Geometry],
                 planted_offset: int | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-instance architecture rows, per-conv-layer rows and per-layer op rows of `instances`
    (columns source, arm, setting, seed, fold, window, rank, arch_hash, supernet_metric, count). `count`
    weighs every statistic: one row stands for that many identical children."""
    # layer units depend on the run's montage and sfreq: one set of layer rows per distinct geometry
    geometries = list(dict.fromkeys(geom.values()))
    gid = {k: geometries.index(g) for k, g in geom.items()}
    sizes = [g.n_channels for g in geometries if g.n_channels is not None]
    n_channels = min(sizes) if sizes else None  # spatial statistics only where every montage holds them
    inst = instances.assign(gid=[gid[k] for k in zip(*(instances[c] for c in KEYS), strict=True)])
    # plain tuples, not dicts: millions of rows in a long random search. A conv layer's units depend only on
    # its sizes and the geometry, so they are computed once per signature and joined.
    arch_rows, op_rows, layer_keys, signatures = [], [], [], {}
    arch_cols: list[str] = []
    for h, gids in inst.groupby("arch_hash", sort=True)["gid"].unique().items():
        arch = archs[h]  # parsed one at a time
        row = archstats.arch_row(arch, planted_offset, n_channels)
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
                 archs: Archs, fidelity: list[dict] = ()) -> dict:
    """Every output table (name -> DataFrame, or dict for JSON); `archs` maps hashes to architectures;
    `fidelity` the fidelity.json of each fold's check (its verdict leads, the trust verdict is said beside it)."""
    order = setting_order(runs, metrics)
    rank_of = {s: i for i, s in enumerate(order)}
    tables: dict = {}
    offset = None
    if planted is not None:
        offset = find(planted, "pair_offset")
        if not isinstance(offset, int) or offset < 1:
            raise NeonasError(f"planted.json: 'pair_offset' must be a positive integer, found {offset!r}")

    # runs
    tables["runs"] = pd.DataFrame([{
        **dict(zip(KEYS, r.key, strict=True)), "path": str(r.path), "sampler": r.summary["sampler"],
        "reward_name": r.summary.get("reward_name", ""), "epochs": r.summary.get("epochs"),
        "n_children": len(r.children), "device": r.summary.get("device", ""),
        "wall_seconds": r.summary.get("wall_seconds"), "sfreq": r.geometry.sfreq,
        "step_samples": r.geometry.step_samples, "metric_name": metric_name(r),
        "reward": json.dumps(r.summary.get("reward", {}), sort_keys=True),
        "neonas_version": r.summary.get("neonas_version", ""),
        "uniform_entropy": checks.run_uniform_entropy(r.summary),
        "n_channels": r.geometry.n_channels, "removed_ops": ", ".join(r.summary.get("removed_ops") or []),
    } for r in runs])

    # children (scores), their windows, a subsample for scatter plots, rolling curves; controller curves
    child_cols = ["epoch", "step", "arch_hash", "metric", "reward"]
    frames = [r.children[child_cols].assign(**dict(zip(KEYS, r.key, strict=True))) for r in runs]
    children = pd.concat(frames, ignore_index=True)[[*KEYS, *child_cols]]
    win, labels = epoch_windows(children["epoch"].to_numpy(), args.windows)
    children["window"] = win
    tables["windows"] = pd.DataFrame({"window": range(1, len(labels) + 1), "epochs": labels})
    tables["children_sample"] = scatter_sample(children, rank_of)
    n_epochs = int(children["epoch"].max() - children["epoch"].min() + 1) if len(children) else 1
    rolling = args.rolling or max(1, round(n_epochs / 50))
    log.info("rolling quartiles over %d epochs, %d windows", rolling, len(labels))

    curves = []
    for arm, setting in order:
        sel = children[(children["arm"] == arm) & (children["setting"] == setting)]
        q = rolling_quantiles(sel["epoch"].to_numpy(), sel["metric"].to_numpy(float), rolling)
        curves.append(q.assign(arm=arm, setting=setting))
    tables["curves"] = concat_frames(curves, ["arm", "setting", "epoch", "n", "q25", "median", "q75"])

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
    tables["controller"] = pd.DataFrame(ctrl).sort_values(["arm", "setting", "epoch"], key=sort_key(rank_of),
                                                           kind="stable").reset_index(drop=True) \
        if ctrl else pd.DataFrame(columns=["arm", "setting", "epoch"])

    # reward functions of the NAS settings
    x = np.linspace(0.0, 1.0, 101)
    rewards, seen_cfg, thresholds = [], {}, {}
    for r in runs:
        if r.arm != "nas" or "reward" not in r.summary:
            continue
        cfg = r.summary["reward"]
        if r.setting in seen_cfg:
            if seen_cfg[r.setting] != cfg:
                log.warning("reward setting %s: runs disagree on the reward config; plotting the first", r.setting)
            continue
        seen_cfg[r.setting] = cfg
        thresholds[r.setting] = _adaptive_threshold(runs, r.setting, cfg)
        name, y = reward_curve(cfg, f"{r.path / 'summary.json'}: reward", x, thresholds[r.setting])
        rewards.append(pd.DataFrame({"setting": r.setting, "reward_name": name, "x": x, "reward": y}))
    tables["reward_curves"] = concat_frames(rewards, ["setting", "reward_name", "x", "reward"])
    tables["reward_configs"] = pd.DataFrame(
        [{"setting": s, **{k: v for k, v in c.items() if not isinstance(v, dict | list)},
          "threshold_used": math.nan if thresholds[s] is None else thresholds[s]} for s, c in seen_cfg.items()])

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
                            key=lambda s: s.map(src_rank) if s.name == "source" else sort_key(rank_of)(s))
    summ = summ[[*by, "window", *[c for c in summ.columns if c not in [*by, "window"]]]]
    notes = montage_notes(runs)
    summ["note"] = [notes.get(k, "") for k in zip(summ["arm"], summ["setting"], strict=True)]
    tables["arch_summary"] = summ.reset_index(drop=True)

    # results, paired tests, confusion, compute, trust, planted, checklist
    tables["results"] = metrics.drop(columns=["confusion"]).sort_values(
        ["arm", "setting", "seed", "fold", "rank"], key=sort_key(rank_of), kind="stable").reset_index(drop=True)
    best = metrics[metrics["rank"] == 0]
    tables["results_summary"] = results_summary(best, order)
    tables["paired_tests"] = paired_table(best, order)
    tables["confusion"] = confusion_table(best, order)
    tables["compute"] = compute_table(runs, metrics, order)
    f_summary = trust.fidelity_summary(list(fidelity)) if fidelity else None
    kt, verdict_trust = kendall_table(runs, metrics, f_summary)
    tables["kendall"] = kt
    verdicts = {"fidelity": trust.fidelity_verdict(f_summary), "trust": verdict_trust} if f_summary else \
        {"trust": verdict_trust}
    tables["space"] = spaceinfo.space_info(runs)
    if f_summary:
        tables["fidelity_summary"] = f_summary
    if offset is not None:
        tables["planted"], verdicts["planted"] = planted_table(runs, arch_df, offset)
    tables["checklist"] = checklist_table(runs, metrics, order)
    tables["highlights"] = highlights_table(arch_df, metrics, archs)
    # the common yardstick and the supernet sanity check (neonas yardstick; optional inputs)
    y_tables, y_verdicts = yardstick_tables(getattr(args, "yardstick", None) or [], getattr(args, "sanity", None) or [])
    tables.update(y_tables)
    if offset is None:  # no planted cue (real recordings): "can the shared weights see it?" is not a question
        y_verdicts.pop("sanity", None)
    verdicts.update(y_verdicts)
    # does the reward tell ops apart at all? (random search's children; neonas.study.signal)
    tables["op_signal"], signal_verdict = signal.signal_table(runs, archs)
    if signal_verdict is not None:
        verdicts["op_signal"] = signal_verdict
    tables["verdicts"] = verdicts
    # the checks read every table above (the yardstick's included): keep them last
    tables["checks"], answers = checks.build(runs, metrics, tables, order, getattr(args, "yardstick", None) or [])
    verdicts.update(answers)
    return tables


def montage_notes(runs: list[Run]) -> dict[tuple[str, str], str]:
    """(arm, setting) -> archstats.spatial_note of its runs: spatial statistics left out, ops removed for the montage."""
    out = {}
    for key in dict.fromkeys((r.arm, r.setting) for r in runs):
        sel = [r for r in runs if (r.arm, r.setting) == key]
        sizes = [r.geometry.n_channels for r in sel if r.geometry.n_channels is not None]
        removed = dict.fromkeys(op for r in sel for op in r.summary.get("removed_ops") or [])
        out[key] = archstats.spatial_note(min(sizes) if sizes else None, removed)
    return out


def _adaptive_threshold(runs: list[Run], setting: str, cfg: dict) -> float | None:
    """The threshold an adaptive sigmoid (`threshold: auto`) used, as one number for its curve: the median
    of children.csv's `threshold` over the setting's runs, else the configured quantile of their metric."""
    if cfg.get("threshold") != "auto":
        return None
    rs = [r for r in runs if (r.arm, r.setting) == ("nas", setting)]
    used = [r.signal["thresholds"] for r in rs if r.signal.get("thresholds") is not None]
    if used:
        return float(np.median(np.concatenate(used)))
    metric = pd.concat([r.children["metric"] for r in rs]).dropna()
    return float(metric.quantile(float(cfg.get("quantile", 0.5)))) if len(metric) else 0.5


