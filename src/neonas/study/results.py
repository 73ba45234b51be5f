"""Result tables and trust checks of `neonas aggregate`: retrained results, paired tests, confusion,
compute, Kendall's tau of supernet vs retrained, the planted-structure check and the checklist."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd

from neonas.errors import NeonasError
from neonas.study import archstats, trust
from neonas.study.runs import ARM_ORDER, KEYS, METRICS, Archs, Run, find
from neonas.study.stats import mean_sd, paired_test, planted_verdict

log = logging.getLogger(__name__)

SCATTER_MAX = 20000  # children per (arm, setting) kept for scatter plots


def scatter_sample(children: pd.DataFrame, rank_of: dict) -> pd.DataFrame:
    """At most SCATTER_MAX children per (arm, setting), drawn uniformly with a fixed seed (all if fewer)."""
    parts = []
    rng = np.random.default_rng(0)
    for _, g in children.groupby(["arm", "setting"], sort=False):
        if len(g) > SCATTER_MAX:
            g = g.iloc[np.sort(rng.choice(len(g), SCATTER_MAX, replace=False))]
        parts.append(g)
    out = pd.concat(parts, ignore_index=True) if parts else children.iloc[:0]
    out = out.sort_values(["arm", "setting"], kind="stable", key=sort_key(rank_of))
    return out[[*KEYS, "epoch", "metric"]].reset_index(drop=True)


def metric_name(run: Run) -> str:
    if "metric_name" in run.children and len(run.children):
        return str(run.children["metric_name"].iloc[0])
    return str(find(run.summary.get("reward", {}), "metric") or "accuracy")


def _arm_key(value):
    return ARM_ORDER.get(value, 9)


def sort_key(rank_of: dict):
    """Sort key for pandas: arms in ARM_ORDER, settings in study order, everything else as is."""
    settings = {s: i for (_, s), i in rank_of.items()}

    def key(s: pd.Series) -> pd.Series:
        if s.name == "arm":
            return s.map(_arm_key)
        if s.name == "setting":
            return s.map(lambda v: settings.get(v, 999))
        return s

    return key


def concat_frames(parts: list[pd.DataFrame], cols: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def results_summary(best: pd.DataFrame, order: list) -> pd.DataFrame:
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


def paired_table(best: pd.DataFrame, order: list) -> pd.DataFrame:
    """Each NAS setting vs handcrafted and vs random, random vs handcrafted, then each NAS setting vs the
    later ones (does the reward matter?): paired t-tests over the fold means of the seed x fold cells both arms
    have (n = folds; sd_seed / sd_fold: the within-fold and arm x fold SDs), with the minimum detectable difference
    of each (neonas.study.power)."""
    from neonas.study.power import cell_values, comparisons

    present = [a for a in order if len(best[(best["arm"] == a[0]) & (best["setting"] == a[1])])]
    rows = []
    for a, b in comparisons(present):
        for m in METRICS:
            rows.append({"a_arm": a[0], "a_setting": a[1], "b_arm": b[0], "b_setting": b[1], "metric": m,
                         **paired_test(cell_values(best, *a, m), cell_values(best, *b, m), m)})
    return pd.DataFrame(rows, columns=["a_arm", "a_setting", "b_arm", "b_setting", "metric", "n", "n_cells", "mean_diff",
                                       "sd", "ci_low", "ci_high", "statistic", "p", "test", "note", "mdd", "mdd_sd",
                                       "mdd_source", "sd_seed", "sd_fold"])


def confusion_table(best: pd.DataFrame, order: list) -> pd.DataFrame:
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


def compute_table(runs: list[Run], metrics: pd.DataFrame, order: list) -> pd.DataFrame:
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


def kendall_table(runs: list[Run], metrics: pd.DataFrame, fidelity: dict | None = None) -> tuple[pd.DataFrame, str]:
    """Kendall tau between supernet score and the score retrained from scratch: per run over its distinct
    architectures, combined over runs per setting and over all NAS runs (neonas.study.trust), and the verdict."""
    searched = metrics[metrics["arm"].isin(["nas", "random", "evolution"])].copy()
    # supernet score from meta, else from the run's derived top-k
    top = {}
    for r in runs:
        for i, item in enumerate((r.derived or {}).get("top", [])):
            top[(*r.key, int(item.get("rank", i)))] = float(item.get("supernet_metric", math.nan))
    missing = searched["supernet_metric"].isna()
    searched.loc[missing, "supernet_metric"] = [
        top.get((a, s, sd, f, rk), math.nan)
        for a, s, sd, f, rk in searched.loc[missing, ["arm", "setting", "seed", "fold", "rank"]].itertuples(index=False)]
    metric = trust.retrained_metric([metric_name(r) for r in runs if r.arm == "nas"], searched.columns)
    df, combined, note = trust.trust_table(searched, metric)
    return df, trust.trust_verdict(combined, metric, note, fidelity)


def planted_table(runs: list[Run], arch_df: pd.DataFrame, offset: int) -> tuple[pd.DataFrame, str]:
    """Share of derived-best (top rank 0) and final-policy architectures covering the planted offset,
    against the exact share under uniform sampling from each run's search space."""
    from scipy import stats

    expected, exp_stacked = math.nan, math.nan
    spaces = {json.dumps(find(r.summary.get("config", {}), "space"), sort_keys=True) for r in runs}
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


def checklist_table(runs: list[Run], metrics: pd.DataFrame, order: list) -> pd.DataFrame:
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


def highlights_table(arch_df: pd.DataFrame, metrics: pd.DataFrame, archs: Archs) -> dict:
    """The best NAS architecture and a weak 'fancy' one, for the diagrams. The best is chosen by the final
    model's rule (neonas.training.final.best_of: highest mean test kappa, then more runs, then the hash)."""
    from neonas.training.final import best_of

    out = {}
    nas_metrics = metrics[(metrics["arm"] == "nas") & (metrics["arch"] != "")]
    if len(nas_metrics) and "kappa" in nas_metrics and nas_metrics["kappa"].notna().any():
        m = nas_metrics.assign(arch_hash=[archstats.arch_hash(json.loads(a)) for a in nas_metrics["arch"]])
        g = m.groupby("arch_hash").agg(mean_kappa=("kappa", "mean"), n_runs=("kappa", "count"),
                                        arch=("arch", "first")).reset_index()
        top = best_of(g[g["n_runs"] > 0].to_dict("records"), "mean_kappa")
        out["best"] = {"arch_hash": top["arch_hash"], "arch": json.loads(top["arch"]), "score": top["mean_kappa"],
                       "score_name": "mean test κ",
                       "why": f"highest mean test κ of NAS's retrained architectures ({top['mean_kappa']:.3f}, n = "
                              f"{top['n_runs']}), the final model's rule"}
    else:
        top = arch_df[(arch_df["source"] == "top") & (arch_df["arm"] == "nas")]
        if len(top):
            t = top.sort_values(["supernet_metric", "arch_hash"], ascending=[False, True], kind="stable").iloc[0]
            out["best"] = {"arch_hash": t["arch_hash"], "arch": archs[t["arch_hash"]],
                           "score": float(t["supernet_metric"]), "score_name": "supernet score",
                           "why": f"highest supernet score of the derived top-k ({t['supernet_metric']:.3f})"}
    out["fancy"] = fancy_pick(arch_df, archs, out.get("best", {}).get("arch_hash"))
    return out


def fancy_pick(arch_df: pd.DataFrame, archs: Archs, best_hash: str | None) -> dict:
    """A weak 'fancy' NAS architecture: among the final policy's samples (else all children) other than the
    best, the one with the most skips (at least one), then the lowest supernet score. Without such a
    candidate the entry says why and has no architecture: never the best one again, never 'most skips (0)'."""
    score = "supernet_metric"
    nas = arch_df[arch_df["arm"] == "nas"]
    pool, what = nas[nas["source"] == "sampled"], "the final policy's samples"
    if not len(pool):
        pool, what = nas[nas["source"] == "children"], "the sampled children"
    if not len(pool):
        return {"arch_hash": None, "arch": None, "why": "no NAS architectures (no derived.json or children)"}
    pool = pool[(pool["arch_hash"] != best_hash) & (pool["n_skips"] > 0)]
    if not len(pool):
        return {"arch_hash": None, "arch": None,
                "why": f"none of {what} other than the best architecture has a skip connection"}
    f = pool.sort_values(["n_skips", score, "arch_hash"], ascending=[False, True, True], kind="stable",
                         na_position="last").iloc[0]
    s = f[score]
    return {"arch_hash": f["arch_hash"], "arch": archs[f["arch_hash"]], "score": None if math.isnan(s) else float(s),
            "score_name": "supernet score",
            "why": f"most skips ({int(f['n_skips'])}) among {what} other than the best, then the lowest "
            "supernet score" + (f" ({s:.3f})" if not math.isnan(s) else "")}
