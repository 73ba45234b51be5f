"""What the scripts that drive a whole Snakemake study (studies/calibration.py, studies/controls.py) share: the study
config merged over config/config.yaml with a reduced run's overrides, the options that give them, and running a
command with its output in a log."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: snakemake and neonas beside this python


def add_study_args(ap: argparse.ArgumentParser, configfile: str, set_help: str) -> None:
    """--configfile, --cores, --seeds, --set and --skip-workflow, as every study script takes them."""
    ap.add_argument("--configfile", default=configfile)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", help="override the config's seeds (a reduced run)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help=set_help)
    ap.add_argument("--skip-workflow", action="store_true", help="only summarise what is already there")


def sh(cmd: list[str], log: Path | None, who: str) -> None:
    """Run cmd in the repository with one thread per process, its output appended to log (or shown, without one);
    a failure ends the study with the log's name."""
    print("$", " ".join(cmd), flush=True)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")  # the rules call neonas
    with open(log, "a") if log else open(os.devnull, "w") as out:
        done = subprocess.run(cmd, cwd=REPO, stdout=out if log else None, stderr=subprocess.STDOUT if log else None,
                              env=env)
    if done.returncode:
        sys.exit(f"{who}: `{Path(cmd[0]).name}` failed (exit {done.returncode}); see {log or 'the output above'}")


def snakemake(targets: list[Path], args: argparse.Namespace, extra: Path, log: Path, who: str) -> None:
    """Build targets with the local profile, the study config and the overrides file on top."""
    sh([str(BIN / "snakemake"), *[str(t.relative_to(REPO)) for t in targets], "--cores", str(args.cores), "--profile",
        "profiles/local", "--configfile", args.configfile, str(extra.relative_to(REPO))], log, who)


def merged_config(configfile: str, seeds: list[int] | None, sets: list[str], rewards: list[str] | None = None,
                  folds: list[int] | None = None, *, settable: tuple[str, ...], who: str) -> tuple[dict, dict]:
    """config/config.yaml with the study config on top (mappings key by key), and the overrides given here (what a
    reduced run must print beside its numbers). `sets` are SECTION.KEY=VALUE with SECTION in settable."""
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for k, v in yaml.safe_load((REPO / configfile).read_text()).items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    overrides: dict = {}
    if seeds:
        cfg["seeds"] = overrides["seeds"] = seeds
    if folds:
        cfg["folds"] = overrides["folds"] = {**cfg["folds"], "run": folds}
    if rewards:
        known = [r["name"] for r in cfg["rewards"]]
        if unknown := sorted(set(rewards) - set(known)):
            sys.exit(f"{who}: --rewards {' '.join(unknown)}: not in {configfile}'s rewards ({', '.join(known)})")
        cfg["rewards"] = overrides["rewards"] = [r for r in cfg["rewards"] if r["name"] in rewards]
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or key.split(".")[0] not in settable or "." not in key:
            sys.exit(f"{who}: --set {item!r}: expected SECTION.KEY=VALUE with SECTION one of {', '.join(settable)} "
                     f"(other keys, e.g. the study name, belong in a copy of {configfile} given with --configfile)")
        node = cfg
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
        node[key.split(".")[-1]] = yaml.safe_load(value)
    for section in sorted({item.partition("=")[0].split(".")[0] for item in sets}):
        overrides[section] = cfg[section]
    return cfg, overrides
