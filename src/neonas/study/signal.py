"""What a controller can learn from: does the reward tell ops apart at all?

Random search's children are uniform samples, each scored on the shared weights of its epoch. Per layer and
spatial op (a conv's channel span and dilation, any time kernel; or a pooling kind), the gain is the mean
score of the children whose layer uses that op minus that of the others, each child's score centred on its
epoch's mean (the supernet improves over epochs). That is the per-layer effect REINFORCE follows; if no op
has one, no controller can find anything, whatever its reward's shape (docs/search.md, "Calibration study").
Over seeds x folds: a t-interval, Bonferroni-adjusted for the number of layer x op pairs looked at.
"""

from __future__ import annotations

import math

import pandas as pd

from neonas.study.yardstick_tables import CONFIDENCE, t_interval

SIGNAL_COLUMNS = ["layer", "op", "n_runs", "share", "gain", "ci_low", "ci_high", "confidence", "note"]


def op_label(layer: dict) -> str:
    """'conv span 2 dil 4' (time kernel left out: the spatial question), 'conv span 1', 'maxpool', 'avgpool'."""
    if layer["op"] == "pool":
        return f"{layer['kind']}pool"
    return f"conv span {layer['span']}" + (f" dil {layer['dilation']}" if layer["span"] > 1 else "")


def centred_metric(children: pd.DataFrame) -> pd.Series:
    """Each child's metric minus its epoch's mean: the supernet's improvement over epochs taken out."""
    return children["metric"] - children.groupby("epoch")["metric"].transform("mean")


def run_gains(children: pd.DataFrame, archs) -> list[dict]:
    """Per layer and op: gain (with its standard error) and share of the children using it, in one run;
    `archs` maps the children's arch_hash to their architecture."""
    if children.empty:
        return []
    centred = centred_metric(children)
    layers = children["arch_hash"].map(lambda h: archs[h]["layers"])
    rows = []
    for i in range(len(layers.iloc[0])):
        labels = layers.map(lambda ls, i=i: op_label(ls[i]))
        for label in sorted(labels.unique()):
            mine = (labels == label).to_numpy()
            if mine.all():
                continue  # the only op of the layer: nothing to compare with
            a, b = centred[mine], centred[~mine]
            se = math.sqrt(a.var() / len(a) + b.var() / len(b)) if len(a) > 1 and len(b) > 1 else math.nan
            rows.append({"layer": i, "op": label, "share": float(mine.mean()), "n": int(mine.sum()),
                         "gain": float(a.mean() - b.mean()), "se": se})
    return rows


def signal_table(runs, archs) -> tuple[pd.DataFrame, str | None]:
    """(table `op_signal`, verdict `op_signal`) over the random-search runs; (empty, None) if the study has none."""
    per_run = [row for r in runs if r.arm == "random" for row in run_gains(r.children, archs)]
    if not per_run:
        return pd.DataFrame(columns=SIGNAL_COLUMNS), None
    df = pd.DataFrame(per_run)
    groups = df.groupby(["layer", "op"], sort=True)
    confidence = 1 - (1 - CONFIDENCE) / groups.ngroups
    rows = []
    for (layer, op), g in groups:
        n, mean, _, lo, hi, warning = t_interval(g["gain"].to_numpy(float), confidence)
        rows.append({"layer": layer, "op": op, "n_runs": n, "share": float(g["share"].mean()), "gain": mean,
                     "ci_low": lo, "ci_high": hi, "confidence": confidence, "note": warning.replace("paired seeds", "random-search runs")})
    table = pd.DataFrame(rows, columns=SIGNAL_COLUMNS)
    return table, _verdict(table, confidence)


def _describe(r) -> str:
    return f"layer {r.layer} {r.op} {r.gain:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"


def _verdict(t: pd.DataFrame, confidence: float) -> str:
    how = (f"random search's children, score centred per epoch; {confidence:.2%} intervals over runs, "
           f"Bonferroni-adjusted for {len(t)} layer x op pairs")
    if t["n_runs"].max() < 2:
        return f"Cannot tell (fewer than 2 random-search runs): {how}."
    found = t[(t["ci_low"] > 0) | (t["ci_high"] < 0)].sort_values("gain", key=abs, ascending=False)
    if len(found):
        listed = "; ".join(_describe(r) for r in found.head(4).itertuples())
        return (f"Yes: {len(found)} of {len(t)} layer x op pairs change the children's score measurably "
                f"(largest: {listed}); {how}.")
    top = t.loc[t["gain"].abs().idxmax()]
    return (f"No evidence: no op changes the children's score measurably in any layer (largest: "
            f"{_describe(top)}), so a controller has nothing consistent to learn from; {how}.")
