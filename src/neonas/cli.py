"""The `neonas` command line.

Each subcommand lives in its own module, which defines `add_arguments(parser)` and `run(args)`.
Modules are imported only when their command is used, so `neonas --help` stays fast (no torch import).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from neonas import __version__
from neonas.errors import NeonasError
from neonas.io import disk_full_error, is_disk_full

# name -> (module, one-line help). Order is the order of the pipeline.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("neonas.ingest.synth", "write a synthetic neonatal cohort (EDF+ with sleep labels) for demos and tests"),
    "cohort": ("neonas.ingest.sheets", "write a cohort sheet from a BIDS-EEG dataset (--bids) or the DREAMS excerpts"),
    "preprocess": ("neonas.ingest.preprocess", "turn one EEG recording (EDF/BDF, BrainVision, EEGLAB, FIF, text) and its labels into one HDF5 file"),
    "inspect": ("neonas.study.inspect", "print a summary of a preprocessed HDF5 file, a model.pt or a search run"),
    "folds": ("neonas.store.splits", "split infants into train/validation/test folds (never splitting an infant)"),
    "fidelity": ("neonas.training.fidelity", "check the estimator before searching: do the shared weights rank "
                 "architectures as stand-alone training does (Kendall tau, verdict)?"),
    "search": ("neonas.engine.search", "run an ENAS (or random) architecture search on one fold"),
    "derive": ("neonas.training.rerank", "sample architectures from a trained search, keep the best on validation "
               "(optionally re-ranked by short stand-alone training)"),
    "yardstick": ("neonas.engine.yardstick", "score every arm's final policy and top-k on one shared, uniformly "
                  "trained supernet (the common yardstick)"),
    "retrain": ("neonas.training.retrain", "train an architecture from scratch and evaluate it on the test infants"),
    "evaluate": ("neonas.training.evaluate", "evaluate a retrained model on held-out infants"),
    "select": ("neonas.training.select", "the final model's selection on one fold: every retrained architecture, "
               ">= 3 seeds, scored on the validation infants"),
    "final": ("neonas.training.final", "train a study's chosen architecture (by validation, kappa or yardstick) on all "
              "its infants"),
    "score": ("neonas.training.score", "score a trained model on labelled recordings it never saw (HDF5)"),
    "predict": ("neonas.training.predict", "stage new recordings (no labels needed) with a trained model: "
                "hypnogram TSV or EDF+, optional plot"),
    "export": ("neonas.training.export", "export a trained model as TorchScript or ONNX, with its model card"),
    "aggregate": ("neonas.study.aggregate", "collect all runs of a study into tables (architecture stats, curves, metrics)"),
    "report": ("neonas.study.report", "make the figures and the LaTeX bundle of a study"),
    "plan": ("neonas.study.plan", "before submitting a study: its jobs per rule, GPU-hours and wall-clock at your job "
             "limit"),
    "summary": ("neonas.study.summary", "write a study's summary.html: answers and warnings first, then every "
                "figure and table with its caption"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neonas",
        description="Neural architecture search for neonatal EEG sleep staging. "
        "Run `neonas COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"neonas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # find the command without importing every module
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None or command not in COMMANDS:
        args = parser.parse_args(argv)  # prints help / errors for unknown commands
        parser.print_help()
        return 0 if command is None else 2
    module_name, help_text = COMMANDS[command]
    module = importlib.import_module(module_name)
    sub = argparse.ArgumentParser(
        prog=f"neonas {command}",
        description=(module.__doc__ or help_text).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the docstring's paragraphs
    )
    sub.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    module.add_arguments(sub)
    idx = argv.index(command)
    args = sub.parse_args(argv[:idx] + argv[idx + 1 :])
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.run(args) or 0)
    except NeonasError as err:
        print(f"neonas {command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk or quota outside the shared writers (a log appended to, a library's file)
        if not is_disk_full(err):
            raise
        where = err.filename or "a file (not named by the system)"
        print(f"neonas {command}: error: {disk_full_error(err, where, left='')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neonas {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
