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
import json
import logging
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from neonas.errors import NeonasError
from neonas.io import atomic_dir
from neonas.study import archstats
from neonas.study.hypnogram import best_predictions
from neonas.study.runs import KEYS, Archs, attach_derived, read_json, read_metrics, read_run
from neonas.study.tables import build_tables

log = logging.getLogger(__name__)


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
    parser.add_argument("--yardstick", nargs="*", default=[], metavar="FILE",
                        help="yardstick CSVs of `neonas yardstick` (every arm on the random arm's supernet, one per "
                        "seed and fold): tables yardstick, yardstick_runs, yardstick_paired")
    parser.add_argument("--sanity", nargs="*", default=[], metavar="FILE",
                        help="sanity CSVs of `neonas yardstick --sanity` (homogeneous nets on the shared weights): "
                        "table sanity and its verdict")
    parser.add_argument("--fidelity", nargs="*", default=[], metavar="DIR",
                        help="`neonas fidelity` output folders (fidelity.json), one per fold: the fidelity verdict "
                        "(do the shared weights rank?) leads the answers, and the trust verdict is said beside it")
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


# ----------------------------------------------------------------------------- writing



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
    planted = read_json(Path(args.planted), "planted.json") if args.planted else None
    log.info("aggregating %d search runs, %d derived, %d retrained models", len(runs), len(args.derived), len(metrics))
    fidelity = [read_json(Path(d) / "fidelity.json", "fidelity result (run `neonas fidelity`)") for d in args.fidelity]
    tables = build_tables(runs, metrics, planted, args, archs, fidelity)
    tables["hypnogram"] = best_predictions(metrics)  # reads the best model's predictions.tsv only
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
