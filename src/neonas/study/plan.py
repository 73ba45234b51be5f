"""What a study will cost, before anything is submitted: jobs per rule, GPU-hours and wall-clock.

    neonas plan --configfile config/thesis.yaml --infants 30       # as `snakemake --configfile` merges it
    neonas plan --configfile config/thesis.yaml --config 'seeds=[0]' --max-jobs 50
    neonas plan --configfile config/thesis.yaml --benchmarks results/pilot/benchmarks
    neonas plan --configfile config/thesis.yaml --benchmarks gpu-pilot/gpu_bench.json   # bench/bench_gpu.py

The config is merged as the Snakefile does: config/config.yaml, then each --configfile (mappings key by
key, lists replaced), then --config KEY=VALUE (YAML values). Jobs per rule follow workflow/rules/common.smk
(reward settings x seeds x folds); the few local rules (config files, argument lists) are not listed.
Costs are counted in TRAINING SAMPLES: one EEG epoch through a network forward and backward; a forward pass
alone (scoring, validation) counts FORWARD_SHARE = 0.4 (docs/cluster.md, "What a study costs"). Per search
epoch: every training epoch once, plus train_steps x num_aggregate children scored on a validation minibatch
(or all of it); derive scores `derive.samples` children on all validation epochs.
Retraining counts `retrain.epochs` (an upper bound: early stopping usually ends sooner).

Cohort sizes (labelled EEG epochs per infant) come from the study's HDF5 files when they exist, else from
the recordings' headers (duration / epoch length, read as `neonas preprocess` reads them: EDF/BDF, MNE
formats, text at the row's declared rate; a file that cannot be read is one warning line), else from an assumption (the synthetic
cohort's hours, or `plan.assumed_hours`); the output says which. `--infants N` plans for N infants of the
sheet's mean size instead (a cohort not yet collected; the template sheet of a fresh clone). Throughput: the
measured rate of a finished study (--benchmarks DIR: its search jobs' wall times against their work), or of a
GPU pilot (--benchmarks gpu_bench.json, written by bench/bench_gpu.py: one pack size's rate per row), else
`plan.samples_per_second`. Packed studies (search.pack, retrain.pack = N) have N times fewer jobs; a pack job's
throughput is the pilot's rate at that pack size, or, without one, the unpacked rate (no gain assumed).
"""

from __future__ import annotations

import argparse
import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from neonas.config import from_dict, load_yaml
from neonas.errors import NeonasError
from neonas.study import power_plan
from neonas.study.plan_rates import measured_rate, pilot_rates

log = logging.getLogger(__name__)

#: training samples per second of one GPU job when nothing else is known. MEASURED ON A CPU, because no GPU was
#: available to measure: the thesis search space (6 layers, 32 filters, 9 channels x 1920 samples, batch 64), 1 torch
#: thread on the 2-core development machine shared with other jobs (load 9): 120 training epochs in 6.0-8.1 s
#: (docs/cluster.md, "What a study costs"). A GPU is faster, so GPU-hours at this rate are pessimistic: set
#: plan.samples_per_second, or give --benchmarks of a pilot study on your GPUs.
DEFAULT_SAMPLES_PER_SECOND = 20.0
#: cost of scoring one EEG epoch (forward only, plus the controller's share) relative to one training sample: 0.43
#: measured with the thesis space on CPU (6,000 scored epochs in 148 s beside 120 training epochs in 6-8 s),
#: 0.27-0.3 with the default space (docs/search.md)
FORWARD_SHARE = 0.4
GPU_RULES = ("search", "fidelity", "retrain", "retrain_baseline", "yardstick", "select", "final")


@dataclass
class PlanConfig:
    """Config key `plan` (workflow/schemas/config.schema.yaml)."""

    samples_per_second: float | None = None  # training samples / s of one GPU job; None: DEFAULT_SAMPLES_PER_SECOND
    assumed_hours: float = 2.0  # hours per recording when neither HDF5 nor header can be read


def merge(base: dict, top: dict) -> dict:
    """Mappings merged key by key, everything else replaced: how snakemake merges --configfile and --config."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_study_config(configfiles: list[str], overrides: list[str], base: str = "config/config.yaml") -> dict:
    """config/config.yaml + each --configfile + each --config KEY=VALUE, as the Snakefile sees them."""
    cfg = load_yaml(base)
    for path in configfiles:
        cfg = merge(cfg, load_yaml(path))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise NeonasError(f"--config expects KEY=VALUE, got '{item}'")
        cfg = merge(cfg, {key: yaml.safe_load(value)})
    return cfg


def labelled_epochs(cfg: dict, study_dir: Path, plan: PlanConfig,
                    infants: int | None = None) -> tuple[dict[str, int], dict[str, str], float]:
    """{infant: labelled EEG epochs}, {infant: where the number came from (HDF5, header or assumption)} and the
    epoch length in seconds. `infants`: that many infants instead of the sheet's, each of the mean size of the
    sheet's rows that could be measured (HDF5 or header), else of the assumed hours."""
    import h5py

    from neonas.ingest.cohort import load_cohort
    from neonas.ingest.presets import resolve_config

    pre = cfg.get("preprocess", {})
    preset = None if pre.get("config") else pre.get("preset")
    _, pcfg = resolve_config(preset, pre.get("config"), pre.get("set", []))
    syn = cfg.get("synthetic", {})
    hours = syn["hours"] if syn.get("enabled") else plan.assumed_hours
    counts, source = {}, {}
    for row in load_cohort(cfg["cohort"]):
        h5 = study_dir / "h5" / f"{row.infant_id}.h5"
        if h5.exists():
            with h5py.File(h5, "r") as f:
                counts[row.infant_id], source[row.infant_id] = int((f["labels"][:] >= 0).sum()), "HDF5"
            continue
        seconds = None
        if not (syn.get("enabled") and not Path(row.eeg_path).exists()):  # a synthetic cohort not yet written
            seconds = header_seconds(row.eeg_path, preset, pre.get("config"), [*pre.get("set", []), *row.overrides])
        if seconds is not None:
            counts[row.infant_id], source[row.infant_id] = int(seconds // pcfg.epoch_s), "header"
        else:
            counts[row.infant_id] = int(hours * 3600 // pcfg.epoch_s)
            source[row.infant_id] = f"assumed {hours:g} h"
    if infants is not None:
        measured = [counts[i] for i in counts if not source[i].startswith("assumed")]
        size = round(sum(measured) / len(measured)) if measured else int(hours * 3600 // pcfg.epoch_s)
        how = (f"--infants {infants}, mean of {len(measured)} measured" if measured else
               f"--infants {infants}, assumed {hours:g} h")
        counts = {f"infant{i:03d}": size for i in range(infants)}
        source = dict.fromkeys(counts, how)
    return counts, source, pcfg.epoch_s


def header_seconds(path: Path, preset: str | None, config: str | None, sets: list[str]) -> float | None:
    """Recording length as `neonas preprocess` reads the file (ingest/readers.py: EDF/BDF and MNE formats from
    their headers, text files with the row's declared rate), or None after a one-line warning naming the file:
    one unreadable recording must not stop the estimate."""
    from neonas.ingest.presets import resolve_config
    from neonas.ingest.readers import open_recording

    quiet = logging.getLogger("neonas.ingest.readers")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))  # its INFO line per text file says nothing a plan needs
    try:
        _, cfg = resolve_config(preset, config, sets)
        return open_recording(path, cfg).duration_s
    except Exception as err:  # noqa: BLE001 - MNE raises many types; any failure costs one estimate, not the plan
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not isinstance(err, NeonasError):
            why = f"{path}: {type(err).__name__}: {why}"
        log.warning("%s; planned at the assumed length", why)
        return None
    finally:
        quiet.setLevel(level)


def study_folds(cfg: dict, infants: list[str]) -> list[dict]:
    """The folds the study runs (train/val/test infant ids), as `neonas folds` makes them."""
    from neonas.store.splits import make_folds

    f = cfg["folds"]
    try:
        folds = make_folds(infants, f.get("scheme", "loo"), f.get("k", 5), f.get("n_val", 1), f.get("seed", 0))
    except NeonasError as err:
        raise NeonasError(f"config folds: {err} ({len(infants)} infants in the cohort sheet; plan for the cohort you "
                          "will have with --infants N)", cfg["cohort"]) from None
    run = f.get("run", "all")
    if run != "all" and any(not 0 <= i < len(folds) for i in run):
        raise NeonasError(f"config folds.run {run}: this cohort has folds 0..{len(folds) - 1}", cfg["cohort"])
    return folds if run == "all" else [folds[i] for i in run]


def search_work(search: dict, derive: dict, n_train: int, n_val: int) -> float:
    """Training samples of one search and its derive (with its re-ranking, if any)."""
    from neonas.engine.searcher import search_config

    s = search_config({k: v for k, v in search.items() if k != "pack"}, "search")
    per_child = n_val if s.reward.validation == "full" else min(s.training.val_batch_size, n_val)
    scored = s.controller.train_steps * s.controller.num_aggregate * per_child
    from neonas.training.rerank import RerankConfig, planned_child_epochs

    rerank = derive.get("rerank_child_epochs")  # measured (a finished derive) or planned (stand-alone epochs)
    if rerank is None:
        rerank = planned_child_epochs(from_dict(RerankConfig, derive.get("rerank", {}), "derive.rerank"),
                                      derive["samples"], derive.get("top_k", 1))
    from neonas.engine.registry import implementation

    # auto: the fold's check picks one; priced as the dearer stand-alone estimator (an upper bound)
    estimator = implementation("estimator", "standalone" if s.estimator == "auto" else s.estimator)
    if not estimator.shared:  # children trained alone, priced by child-epochs; derive reads children.csv
        return (estimator.planned_child_epochs(s) + rerank) * (n_train + FORWARD_SHARE * n_val)
    return (s.training.epochs * (n_train + FORWARD_SHARE * scored) + FORWARD_SHARE * derive["samples"] * n_val
            + rerank * (n_train + FORWARD_SHARE * n_val))


def fidelity_work(fidelity: dict, search: dict, n_train: int, n_val: int) -> float:
    """Training samples of one fold's fidelity check: the panel (one homogeneous net per op of the space, an upper
    bound on the montage's distinct ops, plus panel_samples) trained alone, and the uniformly trained supernets."""
    from neonas.engine.searcher import search_config
    from neonas.engine.space import op_choices
    from neonas.training.fidelity import STUDY_KEYS, FidelityConfig

    f = from_dict(FidelityConfig, {k: v for k, v in fidelity.items() if k not in STUDY_KEYS}, "fidelity")
    s = search_config({k: v for k, v in search.items() if k != "pack"}, "search")
    panel = len(op_choices(s.space)) + f.panel_samples
    alone = panel * f.standalone_seeds * f.standalone_epochs * (n_train + FORWARD_SHARE * n_val)
    epochs = max(f.checkpoints) if f.checkpoints else s.training.epochs  # the supernets train to the last checkpoint
    points = len(f.checkpoints) or max(s.training.epochs // 5, 1)
    shared = len(f.supernet_seeds) * (epochs * n_train + FORWARD_SHARE * panel * n_val * points)
    return alone + shared


def retrain_work(retrain: dict, n_train: int, n_val: int, n_test: int) -> float:
    """Training samples of one retrained model at its epoch budget (early stopping may end it sooner)."""
    from neonas.training.retrain import RetrainConfig

    r = from_dict(RetrainConfig, {k: v for k, v in retrain.items() if k != "pack"}, "retrain")
    return r.epochs * (n_train + FORWARD_SHARE * n_val) + FORWARD_SHARE * n_test


def packs(cfg: dict) -> dict[str, int]:
    """{rule: searches (or retrain jobs) per job} of search.pack and retrain.pack (1: unpacked)."""
    return {"search": int(cfg["search"].get("pack", 1) or 1), "retrain": int((cfg.get("retrain") or {}).get("pack", 1) or 1)}


def plan_study(cfg: dict, plan: PlanConfig, infants: int | None = None) -> dict:
    """{"jobs": {rule: count}, "samples": {rule: total training samples}, "longest": {rule: samples of its
    longest job}, ...}; a packed rule's job holds `pack` searches (or retrain jobs)."""
    study_dir = Path("results") / str(cfg["study"])
    counts, source, epoch_s = labelled_epochs(cfg, study_dir, plan, infants)
    folds = study_folds(cfg, sorted(counts))
    size = [{part: sum(counts[i] for i in fold[part]) for part in ("train", "val", "test")} for fold in folds]
    rewards = cfg["rewards"] if cfg["arms"].get("nas") else []
    arms = [("nas", r.get("reward", {})) for r in rewards] + [(a, {}) for a in ("random", "evolution") if cfg["arms"].get(a)]
    seeds, top_k = len(cfg["seeds"]), cfg["derive"]["top_k"]
    samples = dict.fromkeys(GPU_RULES, 0.0)
    longest = dict.fromkeys(GPU_RULES, 0.0)

    def add(rule, work, times=1):
        samples[rule] += work * times
        longest[rule] = max(longest[rule], work)

    for arm, reward in arms:
        search = merge(cfg["search"], {"reward": reward, "sampler": "controller" if arm == "nas" else arm})
        for n in size:
            add("search", search_work(search, cfg["derive"], n["train"], n["val"]), seeds)
            add("retrain", top_k * retrain_work(cfg["retrain"], n["train"], n["val"], n["test"]), seeds)
    fid = cfg.get("fidelity") or {}
    if fid.get("enabled", True):
        random_search = merge(cfg["search"], {"sampler": "random"})
        for n in size:
            add("fidelity", fidelity_work(fid, random_search, n["train"], n["val"]))
    # as workflow/rules/common.smk's yardstick_files: a stand-alone search has no supernet to score policies on
    yardstick = bool(cfg["arms"].get("random")) and cfg["search"].get("estimator", "supernet") == "supernet"
    for n in size:
        if cfg["arms"].get("handcrafted"):
            add("retrain_baseline", retrain_work(cfg["retrain"], n["train"], n["val"], n["test"]), seeds)
        if yardstick:  # every arm's policy and top-k on the random arm's supernet
            children = sum(cfg["derive"]["samples"] + top_k for arm, _ in arms if arm == "nas")
            add("yardstick", FORWARD_SHARE * children * n["val"], seeds)
    select = (cfg.get("final") or {}).get("choose", "validation") == "validation"
    if select:  # final.choose validation (final.smk): at most every retrained architecture x selection_seeds per fold
        n_cands = len(arms) * seeds * top_k
        n_cands = min(n_cands, (cfg.get("final") or {}).get("selection_candidates") or n_cands) \
            + int(bool(cfg["arms"].get("handcrafted")))
        for n in size:
            add("select", n_cands * (cfg.get("final") or {}).get("selection_seeds", 3)
                * retrain_work(cfg["retrain"], n["train"], n["val"], n["test"]))
    add("final", retrain_work(cfg["retrain"], sum(counts.values()), 0, 0))
    n_grid = seeds * len(folds)
    pack = packs(cfg)
    for rule, n in pack.items():  # a pack job runs n of the longest side by side
        longest[rule] *= min(n, n_grid)
    jobs = {"synth": int(bool(cfg.get("synthetic", {}).get("enabled"))), "preprocess": len(counts), "folds": 1,
            "search_config": len(arms), "search": len(arms) * -(-n_grid // pack["search"]),
            "retrain": len(arms) * -(-n_grid // pack["retrain"]),
            "retrain_baseline": n_grid if cfg["arms"].get("handcrafted") else 0,
            "yardstick": n_grid if yardstick else 0,
            "fidelity": len(folds) if fid.get("enabled", True) else 0, "select": len(folds) if select else 0,
            "final": 1, "aggregate": 1, "report": 1,
            "summary": 1}
    return {"jobs": jobs, "samples": samples, "longest": longest, "epochs": counts, "source": source, "epoch_s": epoch_s,
            "folds": folds, "arms": len(arms), "settings": len(rewards), "random": bool(cfg["arms"].get("random")),
            "seeds": seeds, "pack": pack}


def hours(samples: float, rate: float) -> float:
    return samples / rate / 3600


def report(result: dict, rates: dict[str, float], rate_source: str, max_jobs: int, retries: int, cfg: dict) -> str:
    """The printed plan; `rates`: training samples per second of one job of each GPU rule."""
    jobs, samples, longest, pack = result["jobs"], result["samples"], result["longest"], result["pack"]
    src = {}
    for how in result["source"].values():
        src[how] = src.get(how, 0) + 1
    eps = result["epochs"]
    packed = ", ".join(f"{rule}.pack = {n}: {n} {rule} runs side by side per GPU job" for rule, n in pack.items()
                       if n > 1)
    lines = [f"study '{cfg['study']}': {len(eps)} infants, {sum(eps.values())} EEG epochs of {result['epoch_s']:g} s "
             "in all "
             f"(per infant {min(eps.values())}-{max(eps.values())}; from " + ", ".join(f"{how}: {n}" for how, n in
                                                                                       sorted(src.items())) + ")",
             f"{result['arms']} searches per seed and fold ({result['settings']} reward settings of the NAS arm"
             + (" + the random-search arm" if result["random"] else "") + f") x {result['seeds']} seeds x "
             f"{len(result['folds'])} folds = {result['arms'] * result['seeds'] * len(result['folds']):,} searches"
             + (f"; {packed}" if packed else ""),
             f"throughput: {rates['search']:,.1f} training samples/s per GPU job ({rate_source})", "",
             f"{'rule':<18}{'jobs':>7}{'GPU-h per job (max)':>22}{'GPU-hours':>12}"]
    for rule, n in jobs.items():
        if rule in samples:
            lines.append(f"{rule:<18}{n:>7}{hours(longest[rule], rates[rule]):>22,.1f}"
                         f"{hours(samples[rule], rates[rule]):>12,.0f}")
        else:
            lines.append(f"{rule:<18}{n:>7}{'CPU or local':>22}{'':>12}")
    total = sum(hours(samples[r], rates[r]) for r in samples)
    lines.append(f"{'total':<18}{sum(jobs.values()):>7}{'':>22}{total:>12,.0f}")
    # stages run one after the other; within one, at most max_jobs GPU jobs at a time
    fid = cfg.get("fidelity") or {}
    first = ((("fidelity", ("fidelity",)), ("search", ("search",)))  # the searches wait for their fold's check
             if fid.get("enabled", True) and fid.get("warmup_from_check", True) else
             (("search + fidelity", ("search", "fidelity")),))
    stages = (*first, ("retrain + yardstick", ("retrain", "retrain_baseline", "yardstick")), ("select", ("select",)),
              ("final", ("final",)))
    wall = [(name, max(max(hours(longest[r], rates[r]) for r in rules),
                       sum(hours(samples[r], rates[r]) for r in rules) / max_jobs)) for name, rules in stages]
    days = sum(w for _, w in wall) / 24
    lines += ["", f"wall-clock at {max_jobs} GPU jobs at once: {days:,.1f} days (" + ", ".join(
        f"{name} {w:,.1f} h" for name, w in wall) + "); queue waits not included"]
    if rate_source.startswith("default"):
        lines.append("NOTE: no GPU was measured: these 'GPU-hours' are hours at a 2-core CPU's rate, far more than a GPU "
                     "needs. Run the one-job GPU pilot (bench/bench_gpu.py, docs/cluster.md 'GPU pilot') and give its "
                     "gpu_bench.json to --benchmarks")
    if packed and "GPU pilot" not in rate_source:
        lines.append("packing priced at no throughput gain (a pack job runs at one search's rate): measure the gain "
                     "with bench/bench_gpu.py and give its gpu_bench.json to --benchmarks (docs/cluster.md, 'GPU pilot')")
    max_minutes = cfg["search"].get("training", {}).get("max_minutes")
    search_h = hours(longest["search"], rates["search"])
    if max_minutes and search_h * 60 > (retries + 1) * max_minutes:
        lines.append(f"WARNING: the longest search job needs {search_h:,.1f} GPU-hours, but {retries + 1} attempts of "
                     f"search.training.max_minutes = {max_minutes} min give {(retries + 1) * max_minutes / 60:.1f} h: "
                     f"raise the profile's retries (or runtime and max_minutes), or it never finishes")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configfile", nargs="+", default=[], metavar="FILE",
                   help="study config(s) merged on top of config/config.yaml, as with snakemake --configfile")
    p.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                   help="overrides as with snakemake --config (YAML values, e.g. 'seeds=[0]' 'folds={run: [0]}')")
    p.add_argument("--max-jobs", type=int, default=100, metavar="N",
                   help="GPU jobs the cluster runs at once for you (your job limit; default 100)")
    p.add_argument("--retries", type=int, default=3, help="the profile's retries (default 3, as profiles/slurm)")
    p.add_argument("--benchmarks", type=Path, metavar="DIR_OR_JSON",
                   help="results/<study>/benchmarks of a finished (pilot) study on the same GPUs, or the "
                        "gpu_bench.json of bench/bench_gpu.py (a one-job GPU pilot, docs/cluster.md): use its "
                        "measured throughput instead of plan.samples_per_second")
    p.add_argument("--infants", type=int, metavar="N",
                   help="plan for N infants (each of the sheet's mean measured size, else plan.assumed_hours) "
                        "instead of the cohort sheet's rows: for a cohort not yet collected")
    power_plan.add_arguments(p)  # --power, --from, --delta, --sd-seed, --sd-fold


def run(args: argparse.Namespace) -> int:
    if args.max_jobs < 1 or args.retries < 0 or (args.infants is not None and args.infants < 3):
        raise NeonasError("--max-jobs must be >= 1, --retries >= 0 and --infants >= 3")
    cfg = load_study_config(args.configfile, args.config)
    plan = from_dict(PlanConfig, cfg.get("plan"), "plan")
    result = plan_study(cfg, plan, args.infants)
    tail = "\n\n" + power_plan.plan_report(cfg, len(result["folds"]), args.power_from, args.delta,
                                               (args.sd_seed, args.sd_fold)) if args.power else ""
    if args.benchmarks and args.benchmarks.is_file():
        rates, rate_source = pilot_rates(args.benchmarks, result["pack"], GPU_RULES)
        print(report(result, rates, rate_source, args.max_jobs, args.retries, cfg) + tail)
        return 0
    if args.benchmarks:
        rate, n = measured_rate(args.benchmarks, search_work)
        rate_source = f"measured: {n} search jobs in {args.benchmarks}"
    elif plan.samples_per_second:
        rate, rate_source = plan.samples_per_second, "config plan.samples_per_second"
    else:
        rate = DEFAULT_SAMPLES_PER_SECOND
        rate_source = ("default, measured on a 2-core CPU: no GPU measurement is shipped; set "
                       "plan.samples_per_second or give --benchmarks of a pilot study")
    print(report(result, dict.fromkeys(GPU_RULES, rate), rate_source, args.max_jobs, args.retries, cfg) + tail)
    return 0
