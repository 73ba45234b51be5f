"""A small hand-written study (search runs, derived.json, metrics.json, planted.json) in the formats of
docs/contracts.md, for the aggregate/report/figure tests. Numbers are chosen, not trained, so answers
are known: e.g. the sigmoid runs' children improve faster than identity's, rank 0 beats rank 1."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from neonas.engine.space import arch_hash

SPACE = {"n_layers": 4, "filters": 16, "spans": [1, 2, 3], "dilations": [1, 2, 4], "time_kernels": [3, 5, 7],
         "time_dilations": [1], "pools": ["max", "avg"], "pool_kernel": 3, "skips": True, "stem_kernel": 7,
         "stem_stride": 4, "stem_pool": 4, "dropout": 0.0}
SIGMOID = "sigmoid-t0.6-s20"  # a setting name, as in the study config (its reward function is 'sigmoid')
REWARDS = {"identity": {"name": "identity", "metric": "accuracy", "threshold": 0.5,
                        "steepness": 10.0, "scale": 1.0},
           SIGMOID: {"name": "sigmoid", "metric": "accuracy", "threshold": 0.6,
                       "steepness": 20.0, "scale": 1.0}}


def conv(span, dilation, tk=5, skips=()):
    return {"op": "conv", "span": span, "dilation": 1 if span == 1 else dilation, "time_kernel": tk,
            "skips": list(skips)}


def pool(kind="max", skips=()):
    return {"op": "pool", "kind": kind, "skips": list(skips)}


BEST = {"layers": [conv(2, 4), conv(2, 4), conv(2, 4), conv(2, 4)]}  # the thesis's net
FANCY = {"layers": [conv(1, 1, 3), pool("avg", [0]), conv(3, 1, 7, [0, 1]), conv(2, 2, 3, [0, 1, 2])]}
PLAIN = {"layers": [conv(1, 1, 3), conv(2, 1, 5), pool("max"), conv(3, 2, 7, [1])]}
LOCAL = {"layers": [conv(2, 1, 3), conv(2, 2, 3), conv(1, 1, 3), pool("max")]}


def write_run(run: Path, arm: str, setting: str, seed: int, fold: int, epochs: int = 8, per_epoch: int = 3,
              device: str = "cpu", wall: float = 1800.0, derived: bool = True) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    sampler = "controller" if arm == "nas" else "random"
    reward = REWARDS.get(setting, REWARDS["identity"])
    summary = {"reward_name": reward["name"], "reward": reward, "sampler": sampler,
               "seed": seed, "fold": fold, "epochs": epochs, "device": device, "wall_seconds": wall,
               "config": {"space": SPACE, "controller": {}, "reward": reward, "training": {}, "sampler": sampler},
               "neonas_version": "0.1.0", "n_children": epochs * per_epoch}
    (run / "summary.json").write_text(json.dumps(summary))
    archs = [PLAIN, LOCAL, FANCY, BEST]
    speed = {"identity": 0.02, SIGMOID: 0.04}.get(setting, 0.0)
    with open(run / "children.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "step", "sampler", "arch_hash", "arch", "metric_name", "metric", "reward", "baseline",
                    "entropy", "log_prob", "skip_rate"])
        for e in range(epochs):
            for s in range(per_epoch):
                arch = archs[(e + s + seed) % 4]
                m = round(0.4 + speed * e + 0.01 * s + 0.01 * seed + 0.005 * fold, 4)
                h = arch_hash(arch) if seed % 2 else ""  # odd seeds: the hash as neonas search writes it
                w.writerow([e, s, sampler, h, json.dumps(arch, separators=(",", ":")), "accuracy", m, m,
                            0.5 + 0.01 * e, 3.0 - 0.1 * e, -3.0, 0.2])
    with open(run / "epochs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "shared_loss", "shared_acc", "mean_metric", "mean_reward", "baseline", "entropy",
                    "seconds"])
        for e in range(epochs):
            w.writerow([e, 1.0 - 0.05 * e, 0.4 + 0.02 * e, 0.5, 0.5, 0.5 + 0.01 * e + 0.001 * seed,
                        3.0 - 0.1 * e - (0.05 * e if arm == "nas" else 0), 10.0])
    if derived:
        top = [BEST, PLAIN] if arm == "nas" else [LOCAL, PLAIN]
        data = {"run": str(run), "metric_name": "accuracy", "n_sampled": 4,
                "sampled": [{"hash": "", "arch": a, "supernet_metric": 0.5 + 0.05 * i}
                            for i, a in enumerate([BEST, FANCY, PLAIN, LOCAL])],
                "top": [{"rank": k, "hash": "", "arch": a, "supernet_metric": 0.8 - 0.1 * k} for k, a in enumerate(top)]}
        (run / "derived.json").write_text(json.dumps(data))
    return run


def write_metrics(path: Path, arm: str, setting: str, seed: int, fold: int, rank: int, acc: float,
                  supernet: float | None = None, arch: dict | None = None, device: str = "cpu",
                  train_seconds: float = 600.0, test_ids=("syn03",)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cm = [[8, 1, 1, 0], [1, 8, 1, 0], [2, 0, 8, 0], [0, 1, 0, 1]]
    data = {"accuracy": acc, "balanced_accuracy": acc - 0.05, "kappa": acc - 0.2, "macro_f1": acc - 0.1,
            "per_class_f1": {}, "confusion": cm, "label_names": ["AS", "QS", "W", "IS"], "n_epochs": 32,
            "split": "test", "test_ids": list(test_ids), "fold": fold, "seed": seed,
            "arch_hash": "", "arch": arch or BEST, "n_params": 1000, "train_seconds": train_seconds,
            "best_epoch": 3, "device": device,
            "meta": {"arm": arm, "reward": setting, "seed": seed, "fold": fold, "rank": rank,
                     **({"supernet_metric": supernet} if supernet is not None else {})}}
    path.write_text(json.dumps(data))
    return path


def make_study(root: Path, seeds=(0, 1), folds=(0, 1, 2)) -> dict:
    """Runs of nas/identity, nas/sigmoid, random/uniform; retrained ranks 0-1; handcrafted baseline."""
    searches, derived, metrics = [], [], []
    for arm, setting in (("nas", "identity"), ("nas", SIGMOID), ("random", "uniform")):
        for seed in seeds:
            for fold in folds:
                run = write_run(root / "search" / arm / setting / f"seed{seed}" / f"fold{fold}", arm, setting,
                                seed, fold, device="cuda" if arm == "nas" else "cpu")
                searches.append(str(run))
                derived.append(str(run / "derived.json"))
                base = {"identity": 0.70, SIGMOID: 0.75, "uniform": 0.65}[setting]
                for rank in (0, 1):
                    acc = base - 0.05 * rank + 0.01 * fold + 0.002 * seed
                    metrics.append(str(write_metrics(
                        root / "retrain" / arm / setting / f"seed{seed}" / f"fold{fold}" / f"rank{rank}" /
                        "metrics.json", arm, setting, seed, fold, rank, acc, supernet=0.8 - 0.1 * rank,
                        arch=BEST if (arm == "nas" and rank == 0) else PLAIN,
                        device="cuda" if arm == "nas" else "cpu")))
    for seed in seeds:
        for fold in folds:
            metrics.append(str(write_metrics(
                root / "retrain" / "handcrafted" / "reference" / f"seed{seed}" / f"fold{fold}" / "rank0" /
                "metrics.json", "handcrafted", "reference", seed, fold, 0, 0.60 + 0.01 * fold, arch=LOCAL)))
    planted = root / "planted.json"
    planted.write_text(json.dumps({"pair_offset": 4, "pairs": [[0, 4], [1, 5], [2, 6], [3, 7]]}))
    return {"searches": searches, "derived": derived, "metrics": metrics, "planted": str(planted)}


def aggregate_argv(study: dict, out: Path) -> list[str]:
    return ["aggregate", "--sfreq", "64", "--searches", *study["searches"], "--derived", *study["derived"],
            "--metrics", *study["metrics"], "--planted", study["planted"], "--out", str(out)]
