"""Does the search beat random search and a hand-designed net on real data, and how much does the selection of
the final net flatter it? DREAMS, leave one subject out (issues 16, 22 item 7, 23 item 4).

    OMP_NUM_THREADS=1 nice .venv/bin/python studies/dreams_loso.py [--folds 0 1 ...] [--seeds 0 1 2]
        [--arms hand nas nas+rr random random+rr evolution standalone select] [--search-epochs 20] [--top-k 2]
        [--selection-seeds 3] [--standalone-epochs 6] [--jobs 2] [--work DIR] [--report-only]

Data: the 8 DREAMS excerpts in ../shared/data/dreams-spindles, read as the product reads them
(`neonas cohort --dreams`, `neonas preprocess --preset dreams`: 1 central channel, 50 Hz, 20 s epochs,
W/N1/N2/N3/REM), folds by `neonas folds --scheme loo` (8 folds: 1 test subject, 1 validation subject,
6 training subjects; docs/retrain.md). For every fold x seed it runs, single-threaded, the arms of --arms:

  hand       the hand-designed reference CNN (`neonas retrain --baseline handcrafted`)
  nas        ENAS with the controller (supernet estimator, identity reward on balanced accuracy, --search-epochs
             epochs), `neonas derive` (--samples, top --top-k by the shared weights); rank 0 retrained
  nas+rr     the same search, derive re-ranked by successive halving (`derive --rerank halving`: 16 candidates,
             5 then 10 stand-alone epochs on the training subjects, scored on the validation subject; one seed)
  random     random search (supernet estimator), same budget; derive; rank 0 retrained
  random+rr  random search, derive re-ranked; rank 0 retrained
  evolution  regularised evolution (`sampler: evolution`), supernet estimator, same budget; rank 0 retrained
  standalone the controller with `estimator: standalone` (rungs 1 -> 3 epochs, eta 3, --standalone-epochs
             search epochs: <= 25 child-epochs each, about the 140 of a supernet search + its re-ranking)
  select     the final model's selection of the study (`final.choose: validation`, docs/retrain.md): every
             distinct architecture among the search arms' top-k of the fold x seed and the hand-designed net is
             retrained with selection seeds 0..N-1 (`neonas select`, neonas.training.select) and the best mean
             validation kappa wins (neonas.training.selection.select); its kappa is the mean test kappa of the
             chosen net's selection trainings

Every retrain is the default recipe (RetrainConfig: AdamW, class weights, early stopping on the validation
subject) with the run's seed, scored (Cohen's kappa) on the test subject, which no search, derive, re-ranking
or selection reads. It prints, as markdown: each arm's test kappa; paired differences with t-based 95 %
intervals over the folds' means (each fold's seeds share its test subject, so the folds are the replicates:
neonas.study.stats.paired_test) and the minimum detectable difference of each (80 % power, neonas.study.power);
the selection's OPTIMISM (validation kappa at the kept epoch minus test kappa of the chosen net) per arm and the
paired difference of the selection's optimism against rank 0's by supernet score and after re-ranking (issue
23's target); each arm's compute in child-epochs (summary.json's `child_epochs`, re-ranking's and the
selection trainings'); issue 22's DREAMS target; the Spearman correlation of rank 0's search score with its
test kappa; and re-ranking's cost.

Defaults (8 folds x 3 seeds, all arms, top-k 2, 3 selection seeds, --jobs 2): about 35-40 min on 2 idle cores
(about 3 min of CPU per fold x seed, most of it the ~20 selection trainings of ~4 s; measured 176 s CPU for fold
1 x seed 0); on a machine shared with other jobs, `--seeds 0 1` (~25 min). Fewer seeds than issue 22's 5: the
printed MDDs say what 8 folds x 3 seeds can detect. Settings go to WORK/study.json and WORK/search-*.yaml;
each fold x seed is appended to WORK/runs.jsonl when done, so an interrupted bench resumes where it stopped
(searches resume from their checkpoints too); --report-only prints the tables of the runs done so far.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
DREAMS = REPO.parent / "shared" / "data" / "dreams-spindles"
from dreams_tables import ARMS, NAS_ARMS, SEARCH_ARMS, table  # noqa: E402, F401  (the printing half of this study)

STANDALONE = {"rungs": [1, 3], "eta": 3}  # per batch of 2 children: 2 + 3 child-epochs (5 controller steps/epoch)
# CPU seconds of each part of a cell, fitted to the 1 x 1 check (fold 1, seed 0: 176 s CPU, 281 s wall on the loaded
# 2-core dev machine; a retraining: the mean over the selection's candidates, ~27 epochs; the hand-designed net's
# ~50 epochs take ~12 s). For the printed estimate only.
COST_S = {"retrain": 4.0, "search": 8.0, "rerank": 12.0, "child_epoch": 0.12}


def neonas(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "neonas.cli", *args], check=True, cwd=REPO, stdout=subprocess.DEVNULL)


def prepare(work: Path) -> Path:
    """Cohort sheet -> one HDF5 per excerpt -> leave-one-subject-out folds (cached in WORK)."""
    folds = work / "folds.json"
    if folds.exists():
        return folds
    sheet = work / "dreams.tsv"
    neonas("cohort", "--dreams", str(DREAMS), "--out", str(sheet))
    paths = []
    for row in csv.DictReader(sheet.open(), delimiter="\t"):
        h5 = work / "h5" / f"{row['infant_id']}.h5"
        sets = [a for o in row["overrides"].split(";") if o for a in ("--set", o)]
        neonas("preprocess", str(REPO / row["eeg_path"]), "--labels", str(REPO / row["labels_path"]),
               "--label-format", row["label_format"], "--preset", "dreams", *sets, "--infant-id", row["infant_id"],
               "--out", str(h5))
        paths.append(str(h5))
    neonas("folds", *paths, "--scheme", "loo", "--n-val", "1", "--seed", "0", "--out", str(folds))
    return folds


def retrain_net(arch: dict | None, space: dict | None, arm: str, folds: Path, fold: int, seed: int,
                out: Path) -> tuple[float, float, Path]:
    """Test kappa and validation kappa at the kept epoch of one retraining (cached by its folder)."""
    from neonas.training.retrain import ArchChoice, RetrainConfig, choose_arch, retrain
    from neonas.training.select import _val_at_kept_epoch

    metrics = out / "metrics.json"
    if not metrics.exists():
        if arch is None:
            choice = choose_arch(None, None, "handcrafted")
        else:
            from neonas.engine.space import arch_hash

            choice = ArchChoice(arch, space, arch_hash(arch), {"arm": arm, "reward": "identity"}, str(out))
        retrain(choice, str(folds), fold, seed, RetrainConfig(), str(out), torch.device("cpu"), {})
    m = json.loads(metrics.read_text())
    return m["kappa"], _val_at_kept_epoch(out, m["best_epoch"])["val_kappa"], metrics


def one_run(args, folds: Path, fold: int, seed: int) -> dict:
    """Every arm of one fold x seed: one row of runs.jsonl."""
    from neonas.engine.derive import derive
    from neonas.engine.search import load_config, run_search
    from neonas.training.rerank import RerankConfig, rerank

    torch.set_num_threads(1)
    arms, row = set(args.arms), {"fold": fold, "seed": seed}
    wall, cpu = time.perf_counter(), time.process_time()
    nets = args.work / f"retrain/seed{seed}/fold{fold}"  # one retraining per architecture, whichever arm found it
    t0 = time.perf_counter()
    row["hand"], row["val_kappa_hand"], hand_metrics = retrain_net(None, None, "hand", folds, fold, seed,
                                                                   nets / "handcrafted")
    row["seconds_hand"], candidates = time.perf_counter() - t0, [hand_metrics]
    for arm in SEARCH_ARMS:
        if not arms & {arm, f"{arm}+rr"}:
            continue
        run = args.work / f"search/{arm}/seed{seed}/fold{fold}"
        t0 = time.perf_counter()
        if not (run / "final.pt").exists():
            cfg = load_config(args.work / f"search-{arm}.yaml")
            assert run_search(cfg, folds, fold, seed, run, resume=True, device="cpu") == 0
        row[f"seconds_search_{arm}"] = time.perf_counter() - t0
        row[f"child_epochs_{arm}"] = json.loads((run / "summary.json").read_text())["child_epochs"]
        plain = derive(run, args.samples, args.top_k, seed, folds, "cpu")
        (run / "derived.json").write_text(json.dumps(plain, indent=1))
        docs = [(arm, plain)] if arm in arms else []
        if f"{arm}+rr" in arms:
            rr = rerank(plain, args.top_k, RerankConfig("halving", args.rerank_candidates, args.rerank_epochs,
                                                        args.rerank_eta), seed)
            (run / "derived-rerank.json").write_text(json.dumps(rr, indent=1))
            docs.append((f"{arm}+rr", rr))
            row[f"rerank_val_{arm}+rr"] = rr["top"][0]["rerank_metric"]
            row[f"rerank_seconds_{arm}"] = rr["rerank"]["seconds"]
            row[f"rerank_child_epochs_{arm}"] = rr["rerank"]["child_epochs"]
        for name, doc in docs:
            top = doc["top"][0]
            row[name], row[f"val_kappa_{name}"], _ = retrain_net(top["arch"], doc["space"], name, folds, fold, seed,
                                                                 nets / top["hash"])
            row[f"supernet_{name}"], row[f"hash_{name}"] = top["supernet_metric"], top["hash"]
        if "select" in arms:  # the study's candidates: every search arm's top-k (derive as the study runs it)
            for top in plain["top"][: args.top_k]:
                candidates.append(retrain_net(top["arch"], plain["space"], arm, folds, fold, seed,
                                              nets / top["hash"])[2])
    if "select" in arms:
        row |= select_cell(args, candidates, folds, fold, seed)
    return row | {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}


def select_cell(args, candidates: list[Path], folds: Path, fold: int, seed: int) -> dict:
    """`final.choose: validation` on one fold x seed: neonas select's trainings, neonas.training.selection's choice."""
    from neonas.training import selection
    from neonas.training.select import select_fold

    t0 = time.perf_counter()
    scores = select_fold([str(m) for m in dict.fromkeys(candidates)], str(folds), fold, args.selection_seeds, None,
                         None, str(args.work / f"select/seed{seed}/fold{fold}"), "cpu")
    doc = selection.select(scores)
    chosen = next(c for c in doc["candidates"] if c["chosen"])
    return {"select": chosen["held_out_kappa"], "val_kappa_select": chosen["selection_kappa"],
            "hash_select": chosen["arch_hash"], "sources_select": chosen["sources"],
            "candidates_select": len(doc["candidates"]), "seconds_select": time.perf_counter() - t0,
            "child_epochs_select": float(sum(r["epochs_run"] for r in scores)),
            "child_epochs_select_new": float(sum(r["epochs_run"] for r in scores if not r["reused"]))}


def estimate(args, cells: int) -> str:
    """One line: the CPU time of the cells still to run, from COST_S (a rough guide, not a promise)."""
    searches = [a for a in SEARCH_ARMS if set(args.arms) & {a, f"{a}+rr"}]
    rr = sum(f"{a}+rr" in args.arms for a in SEARCH_ARMS)
    n_cand = 1 + args.top_k * len(searches) if "select" in args.arms else 0
    # hand, each arm's rank 0, the other top-k candidates, and selection seeds beyond the cell's own (reused)
    retrains = (1 + len([a for a in args.arms if a not in ("hand", "select")])
                + ((args.top_k - 1) * len(searches) + n_cand * (args.selection_seeds - 1) if n_cand else 0))
    child = 25 * args.standalone_epochs if "standalone" in searches else 0
    cpu = (retrains * COST_S["retrain"] + len(searches) * COST_S["search"] * args.search_epochs / 20
           + rr * COST_S["rerank"] + child * COST_S["child_epoch"])
    return (f"cost estimate: {cells} fold x seed cell(s) to run x ~{cpu / 60:.1f} min CPU each (<= {retrains} "
            f"retrainings of ~{COST_S['retrain']:.0f} s, {len(searches)} searches, {rr} re-rankings) = "
            f"~{cells * cpu / 60 / args.jobs:.0f} min on {args.jobs} worker(s) (idle cores; a loaded machine is slower)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--folds", type=int, nargs="+", default=list(range(8)), help="fold indices (default: 0-7)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: 0 1 2)")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS, metavar="ARM",
                    help=f"arms to run and print (default: all: {' '.join(ARMS)}; hand always runs)")
    ap.add_argument("--search-epochs", type=int, default=20, help="epochs of the supernet searches (default: 20)")
    ap.add_argument("--standalone-epochs", type=int, default=6,
                    help="search epochs of the stand-alone arm, <= 25 child-epochs each (default: 6)")
    ap.add_argument("--top-k", type=int, default=2, help="derive's top-k: the selection's candidates per search "
                    "(default: 2)")
    ap.add_argument("--selection-seeds", type=int, default=3, help="trainings per candidate of `select` (default: 3)")
    ap.add_argument("--samples", type=int, default=100, help="derive's samples (default: 100)")
    ap.add_argument("--rerank-candidates", type=int, default=16)
    ap.add_argument("--rerank-epochs", type=int, default=5)
    ap.add_argument("--rerank-eta", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2, help="fold x seed cells run side by side, one thread each "
                    "(default: 2; results do not depend on it)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "neonas-bench-dreams-loso")
    ap.add_argument("--report-only", action="store_true", help="print the table of the runs done so far")
    args = ap.parse_args()
    if not DREAMS.exists():
        print(f"{DREAMS} is not there; this benchmark needs the DREAMS excerpts", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    settings = {"search_epochs": args.search_epochs, "samples": args.samples, "top_k": args.top_k,
                "rerank": {"method": "halving", "candidates": args.rerank_candidates, "epochs": args.rerank_epochs,
                           "eta": args.rerank_eta}, "retrain": "RetrainConfig defaults", "folds": "loo, n_val 1, seed 0",
                "standalone": {**STANDALONE, "epochs": args.standalone_epochs, "sampler": "controller"},
                "selection_seeds": args.selection_seeds}
    study = args.work / "study.json"
    if study.exists() and json.loads(study.read_text()) != settings:
        print(f"{args.work} holds runs with other settings ({study}); use another --work", file=sys.stderr)
        return 2
    study.write_text(json.dumps(settings, indent=1) + "\n")
    for arm, (sampler, estimator) in SEARCH_ARMS.items():
        cfg = {"sampler": sampler, "estimator": estimator, "training": {"epochs": args.search_epochs},
               "reward": {"name": "identity", "metric": "balanced_accuracy"}}
        if estimator == "standalone":
            cfg |= {"training": {"epochs": args.standalone_epochs}, "standalone": dict(STANDALONE)}
        (args.work / f"search-{arm}.yaml").write_text(yaml.safe_dump(cfg))
    log = args.work / "runs.jsonl"
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            done[(r["fold"], r["seed"])] = r
    # a cell of runs.jsonl counts only if it has every arm asked for (a run with fewer arms is redone)
    todo = [(f, s) for s in args.seeds for f in args.folds  # seeds outermost: a cut-short bench covers every fold
            if (f, s) not in done or any(a not in done[(f, s)] for a in args.arms)]
    if not args.report_only and todo:
        print(estimate(args, len(todo)), flush=True)
        t0 = time.perf_counter()
        folds = prepare(args.work)
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            jobs = {pool.submit(one_run, args, folds, f, s): (f, s) for f, s in todo}
            for job in as_completed(jobs):
                r = job.result()
                done[jobs[job]] = r
                with log.open("a") as fh:
                    fh.write(json.dumps(r) + "\n")
                print(f"fold {r['fold']} seed {r['seed']}: " + "  ".join(f"{a} {r[a]:+.3f}" for a in ARMS if a in r)
                      + f"  ({r['seconds']:.0f} s, {r['cpu_seconds']:.0f} s CPU; total {time.perf_counter() - t0:.0f} s)",
                      flush=True)
    rows = [done[k] for k in sorted(done, key=lambda k: (k[1], k[0])) if k[0] in args.folds and k[1] in args.seeds]
    if not rows:
        print("no runs yet")
        return 0
    rows = [{k: v for k, v in r.items() if k not in ARMS or k in args.arms} for r in rows]
    per_seed = {s: sorted(r["fold"] for r in rows if r["seed"] == s) for s in sorted({r["seed"] for r in rows})}
    n_folds = {len(f) for f in per_seed.values()}
    scale = (f"{n_folds.pop()} folds x {len(per_seed)} seeds" if len(n_folds) == 1 else
             "; ".join(f"seed {s}: {len(f)} fold(s)" for s, f in per_seed.items()))
    print(table(rows, scale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
