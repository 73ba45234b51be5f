"""Shared helpers of the study workflow: the study's paths, the cohort, and the lists of every run.

Everything here is computed once, when snakemake parses the workflow, from the config and ONE read of the
cohort sheet: no per-job file reads, so the DAG of a 2,000-search study builds in seconds. The search and
retrain jobs each declare one output, their run directory: Snakemake's DAG costs grow with the number of
declared files (docs/cluster.md, "Scale").
"""

import copy
import json
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

STUDY = f"results/{config['study']}"
ENV = "../../envs/neonas.yaml"  # conda env of every rule (used with --software-deployment-method conda)

wildcard_constraints:
    arm="nas|random|evolution|handcrafted",
    setting=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    seed=r"\d+",
    fold=r"\d+",
    rank=r"\d+",
    infant=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


def _load_cohort(path):
    """Rows of the cohort sheet (neonas.ingest.cohort checks it: columns, ids, label formats; names line and problem)."""
    from neonas.ingest.cohort import load_cohort
    from neonas.errors import NeonasError

    try:
        rows = load_cohort(path)
    except NeonasError as err:
        raise WorkflowError(f"{err} (config key 'cohort')") from None
    return [
        {
            "infant_id": r.infant_id,
            "eeg_path": str(r.eeg_path),
            "labels_path": str(r.labels_path or ""),
            "label_format": r.label_format,
            "overrides": list(r.overrides),
            "resolved": resolved,
        }
        for r, resolved in zip(rows, _preprocess_configs(rows, path))
    ]


def _preprocess_configs(rows, path):
    """Each row's resolved preprocessing config as JSON (preset, config file, set, the row's overrides): a tracked
    param of its preprocess job, so changing a setting reruns exactly the recordings whose HDF5 it changes."""
    import json
    from neonas.ingest.cohort import preprocess_configs
    from neonas.errors import NeonasError

    pre = config["preprocess"]
    try:
        configs = preprocess_configs(rows, path, pre["preset"], pre["config"], pre["set"])
    except NeonasError as err:
        where = "cohort" if str(err).startswith(str(path)) else "preprocess"
        raise WorkflowError(f"{err} (config key '{where}')") from None
    return [json.dumps(configs[r.infant_id], sort_keys=True) for r in rows]


COHORT = {row["infant_id"]: row for row in _load_cohort(config["cohort"])}
# rows with label_format none have no labels: no fold uses them; the final model stages them (predict.smk)
UNLABELLED = sorted(i for i, row in COHORT.items() if row["label_format"] == "none")
INFANTS = sorted(i for i in COHORT if i not in UNLABELLED)
if len(INFANTS) < 3:
    raise WorkflowError(f"{config['cohort']}: a study needs at least 3 labelled infants (train, validation, test), found {len(INFANTS)}")

_n_folds = len(INFANTS) if config["folds"]["scheme"] == "loo" else config["folds"]["k"]
if _n_folds > len(INFANTS):
    raise WorkflowError(f"config folds.k = {_n_folds} but {config['cohort']} lists {len(INFANTS)} infants; use k <= {len(INFANTS)}")
FOLDS = list(range(_n_folds)) if config["folds"]["run"] == "all" else list(config["folds"]["run"])
_bad = [f for f in FOLDS if f >= _n_folds]
if _bad:
    raise WorkflowError(f"config folds.run: folds {_bad} do not exist; this cohort has folds 0..{_n_folds - 1}")
SEEDS = list(config["seeds"])
REWARDS = {r["name"]: r.get("reward", {}) for r in config["rewards"]}
if len(REWARDS) != len(config["rewards"]):
    raise WorkflowError("config rewards: every reward setting needs its own name")
TOP_K = config["derive"]["top_k"]


def _check_retrain():
    """The study's `retrain:` recipe, checked at parse time (torch-free): a typo, or a warm-up as long as the
    training (early stopping could keep only the last epoch, issue 24), stops the study before any job."""
    from neonas.config import from_dict
    from neonas.errors import NeonasError
    from neonas.training.recipe import RetrainConfig

    try:
        recipe = from_dict(RetrainConfig, {k: v for k, v in config["retrain"].items() if k != "pack"}, "retrain")
    except NeonasError as err:
        raise WorkflowError(f"config key 'retrain': {err}") from None
    problem = recipe.warmup_problem()
    if problem:
        raise WorkflowError(f"config key 'retrain': {problem}")


_check_retrain()


def study(path):
    """A path inside results/<study>/."""
    return f"{STUDY}/{path}"


def search_runs():
    """(arm, setting, seed, fold) of every search of the study."""
    settings = [("nas", name) for name in REWARDS] if config["arms"]["nas"] else []
    if config["arms"]["random"]:
        settings.append(("random", "uniform"))
    if config["arms"].get("evolution"):
        settings.append(("evolution", "evolution"))
    return [(arm, setting, seed, fold) for arm, setting in settings for seed in SEEDS for fold in FOLDS]


def search_dirs():
    """Run directory of every search: the search rule's output (children.csv, epochs.csv, summary.json, final.pt,
    derived.json)."""
    return [study(f"search/{a}/{s}/seed{seed}/fold{fold}") for a, s, seed, fold in search_runs()]


def derived_files():
    """derived.json of every search."""
    return [f"{d}/derived.json" for d in search_dirs()]


def retrain_dirs():
    """Output directory of every retrain job: one per search (its ranks 0..top_k-1 inside as rank<R>/), plus,
    for the hand-designed baseline, one per seed and fold (rank0/ inside)."""
    return searched_retrain_dirs() + baseline_dirs()


def searched_retrain_dirs():
    """Output directory of the retrain job of every search."""
    return [study(f"retrain/{a}/{s}/seed{seed}/fold{fold}") for a, s, seed, fold in search_runs()]


def baseline_dirs():
    """Output directory of every retrain job of the hand-designed baseline."""
    if not config["arms"]["handcrafted"]:
        return []
    return [study(f"retrain/handcrafted/reference/seed{seed}/fold{fold}") for seed in SEEDS for fold in FOLDS]


def metrics_files():
    """metrics.json of every retrained model."""
    return [f"{d}/rank{rank}/metrics.json" for d in searched_retrain_dirs() for rank in range(TOP_K)] + [
        f"{d}/rank0/metrics.json" for d in baseline_dirs()
    ]


def planted_files():
    """planted.json of the synthetic cohort (the planted spatial structure), or [] for real recordings."""
    return [f"{config['synthetic']['out']}/planted.json"] if config["synthetic"]["enabled"] else []


# The warm-up from the fidelity check (config fidelity.warmup_from_check; docs/search.md): every search of fold F
# waits for fidelity/foldF and takes training.warmup_epochs from the first checkpoint where the shared weights
# ranked the panel; where they never did, the configured warm-up stays, and the search log says so.
# With search.estimator auto every search reads its estimator from that check too (the cheapest that passed).
AUTO_ESTIMATOR = config["search"].get("estimator", "supernet") == "auto"
if AUTO_ESTIMATOR and not config["fidelity"]["enabled"]:
    raise WorkflowError("search.estimator: auto takes the cheapest estimator that passed the fold's fidelity check; "
                        "set fidelity.enabled: true or name the estimator (supernet or standalone)")
WARMUP_FROM_CHECK = config["fidelity"]["enabled"] and (config["fidelity"]["warmup_from_check"] or AUTO_ESTIMATOR)

# keys of `fidelity:` that steer the workflow; the rest is the check's budget (--fidelity-set). The same tuple as
# neonas.training.fidelity.STUDY_KEYS, written out: importing it would load torch every time the DAG is parsed.
FIDELITY_STUDY_KEYS = ("enabled", "warmup_from_check", "on_fail")


def fidelity_of(folds):
    """{"fidelity": [fidelity/fold<F> of each fold]} when the searches take their warm-up from the check, else {}."""
    return {"fidelity": [study(f"fidelity/fold{f}") for f in folds]} if WARMUP_FROM_CHECK else {}


# the check's result a search reads ($fold: the shell variable of the search's fold), or "" (no warm-up from it)
WARMUP_JSON = f"{study('fidelity')}/fold$fold/fidelity.json" if WARMUP_FROM_CHECK else ""
# what a search does when its fold's check did not pass (fidelity.on_fail; neonas search --on-fail)
ON_FAIL = f"--on-fail {config['fidelity'].get('on_fail', 'warn')}"


def fidelity_dirs():
    """fidelity/fold<F> of every fold (workflow/rules/fidelity.smk), or [] when the check is off."""
    if not config["fidelity"]["enabled"]:
        return []
    return [study(f"fidelity/fold{fold}") for fold in FOLDS]


def yardstick_files():
    """yardstick/seed<S>/fold<F>.csv of every seed and fold (workflow/rules/yardstick.smk), or [] when the random arm
    is off or the searches train their children alone."""
    if not config["arms"]["random"] or config["search"].get("estimator", "supernet") != "supernet":
        return []  # the yardstick scores policies on the random arm's supernet: a stand-alone search has none
    return [study(f"yardstick/seed{seed}/fold{fold}.csv") for seed in SEEDS for fold in FOLDS]


def sanity_files():
    """yardstick/seed<S>/fold<F>_sanity.csv (the supernet sanity check) beside each yardstick file."""
    return [f[: -len(".csv")] + "_sanity.csv" for f in yardstick_files()]


def yardstick_runs(wildcards):
    """The NAS runs of one seed and fold (every reward setting)."""
    if not config["arms"]["nas"]:
        return []
    return [study(f"search/nas/{s}/seed{wildcards.seed}/fold{wildcards.fold}") for s in REWARDS]


def predict_files():
    """predict/<infant>.tsv of every unlabelled cohort row (workflow/rules/predict.smk)."""
    return [study(f"predict/{infant}.tsv") for infant in UNLABELLED]


def h5_files():
    return [study(f"h5/{infant}.h5") for infant in INFANTS]


def preprocess_input(wildcards):
    row = COHORT[wildcards.infant]
    files = {"eeg": row["eeg_path"]}
    if row.get("labels_path"):
        files["labels"] = row["labels_path"]
    return files


def preprocess_args(wildcards, input):
    row = COHORT[wildcards.infant]
    args = [f"--label-format {row.get('label_format') or 'auto'}"]
    if "labels" in input.keys():
        args.append(f"--labels {input.labels}")
    pre = config["preprocess"]
    args.append(f"--config {pre['config']}" if pre["config"] else f"--preset {pre['preset']}")
    args += [f"--set {shlex.quote(item)}" for item in [*pre["set"], *row["overrides"]]]
    return " ".join(args)


def preprocess_config(wildcards):
    """The resolved preprocessing config of one infant (JSON); a param, so snakemake reruns the job when it changes."""
    return COHORT[wildcards.infant]["resolved"]


def search_settings(wildcards):
    """The full search config of one arm/setting: config `search`, with the setting's reward on top."""
    settings = copy.deepcopy(config["search"])
    settings.pop("pack", None)  # how searches go to jobs (search.smk), not part of a search's config
    if wildcards.arm in ("random", "evolution"):  # the base reward; the arm's sampler (same budget as the NAS arm)
        settings["sampler"] = wildcards.arm
    else:
        settings.setdefault("reward", {}).update(REWARDS[wildcards.setting])
        settings["sampler"] = "controller"
    return settings


# Packing (search.pack, retrain.pack; workflow/rules/search.smk, retrain.smk): how many searches (or retrain jobs)
# go to one job, and what such a job asks for.
SEARCH_PACK = config["search"]["pack"]
RETRAIN_PACK = config["retrain"]["pack"]


def packs(n):
    """[(P, [(seed, fold), ...])]: the (seed, fold) pairs of each pack of n, for one arm and setting."""
    grid = [(seed, fold) for seed in SEEDS for fold in FOLDS]
    return [(i // n, grid[i : i + n]) for i in range(0, len(grid), n)]


PACK_SUMMED = ("mem_mb", "cpus_per_gpu", "cpus_per_task")  # per search in the profile, times N for a pack job


def _number(value, what):
    value = getattr(value, "value", value)  # snakemake's parsed Resource
    try:
        return int(value)
    except (TypeError, ValueError):
        raise WorkflowError(f"search.pack / retrain.pack: the profile's {what} must be a number to be summed "
                            f"over a pack, got {value!r}") from None


def pack_threads(kind="search"):
    """Threads of ONE search or retrain job (the profile's set-threads of that kind; 1 without): each process of a
    pack gets these."""
    return _number(workflow.resource_settings.overwrite_threads.get(kind, 1), f"set-threads: {kind}")


def pack_resources(n, kind="search"):
    """Resources of a job of n searches (kind search) or retrain jobs (kind retrain): the profile's (or
    --set-resources') entry of that kind, which is per search, with mem_mb, cpus_per_gpu and cpus_per_task
    times n (else mem_mb of default-resources times n), everything else (runtime, partition, gpu_model, ...)
    as for one, and one GPU."""
    settings = workflow.resource_settings
    one = {k: getattr(v, "value", v) for k, v in settings.overwrite_resources.get(kind, {}).items()}
    if "mem_mb" not in one:
        one["mem_mb"] = (settings.default_resources or {}).get("mem_mb", 1000)
    out = {key: n * _number(value, f"{kind} {key}") if key in PACK_SUMMED else value for key, value in one.items()
           if not callable(value)}
    out.pop("gres", None)  # one GPU per pack, whatever the profile asks per search
    out["gpu"] = 1
    return out
