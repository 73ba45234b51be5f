"""Packing (config search.pack: N, workflow/rules/search.smk): N searches of one reward setting in one job, side by
side. The packed searches end exactly like unpacked ones (children.csv byte for byte), locally and through a real
SLURM (scripts/local-slurm.sh); a failed search of a pack reruns alone; the dry run names every search and a
pack job asks for N searches' memory and CPUs but one GPU."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from wfutil import ci_slurm_profile, copy_prepared, copy_workflow, prepared_study, slurm_or_skip, snakemake

# two searches of the NAS arm (seed 0, folds 0 and 1 of the 4-infant test cohort), one search epoch each
PACK = {"folds": {"scheme": "loo", "run": [0, 1]}, "search": {"training": {"epochs": 1}}}
RUNS = [f"results/test/search/nas/sigmoid/seed0/fold{fold}" for fold in (0, 1)]
RETRAINS = [run.replace("/search/", "/retrain/") for run in RUNS]


def write_config(wd: Path, pack: int) -> str:
    (wd / "pack.yaml").write_text(yaml.safe_dump({**PACK, "search": {**PACK["search"], "pack": pack},
                                                  "retrain": {"pack": pack}}))
    return "pack.yaml"


def metrics(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "train_seconds"}  # wall time


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory) -> Path:
    """The two searches run as a user runs them without packing (one job each), as the reference."""
    prepared_study(tmp_path_factory)
    wd = copy_prepared(tmp_path_factory, "unpacked")
    snakemake(wd, *RETRAINS, "--cores", "2", "--configfile", "config/test.yaml", write_config(wd, 1))
    return wd


def test_dry_run_names_every_search_and_sums_resources_for_one_gpu(tmp_path):
    """`snakemake -n` with profiles/slurm: 8 searches (2 seeds x 2 folds x nas + random) in 4 pack jobs of 2,
    every run directory and log named; each pack asks for 2 x the profile's per-search mem_mb, cpus_per_gpu
    and threads, its runtime and 1 GPU; searches of one pack share arm and setting."""
    wd = copy_workflow(tmp_path / "wf")
    (wd / "dry.yaml").write_text(yaml.safe_dump({"seeds": [0, 1], "folds": {"scheme": "loo", "run": [0, 1]},
                                                 "search": {"pack": 2}, "retrain": {"pack": 2}}))
    out = snakemake(wd, "-n", "--profile", "profiles/slurm", "--configfile", "config/test.yaml", "dry.yaml").stdout
    profile = yaml.safe_load((wd / "profiles/slurm/config.yaml").read_text())
    per_search = profile["set-resources"]["search"]
    jobs = [block for block in re.split(r"\n(?=\[)", out) if re.search(r"rule search_pack\d+:", block)]
    assert len(jobs) == 4 and "rule search:" not in out
    named = set()
    for job in jobs:
        outputs = re.search(r"output: (.*)", job).group(1).split(", ")
        assert len(outputs) == 2 and len({o.rsplit("/", 2)[0] for o in outputs}) == 1  # one arm and setting
        named.update(outputs)
        logs = re.search(r"log: (.*)", job).group(1).split(", ")
        assert [log.replace("/logs/", "/").removesuffix(".log") for log in logs] == outputs
        resources = dict(item.split("=") for item in re.search(r"resources: (.*)", job).group(1).split(", "))
        assert int(resources["mem_mb"]) == 2 * per_search["mem_mb"]
        assert int(resources["cpus_per_gpu"]) == 2 * per_search["cpus_per_gpu"]
        assert int(resources["runtime"]) == per_search["runtime"] and resources["gpu"] == "1"
    assert named == {f"results/test/search/{arm}/seed{s}/fold{f}" for arm in ("nas/sigmoid", "random/uniform")
                     for s in (0, 1) for f in (0, 1)}
    retrains = [block for block in re.split(r"\n(?=\[)", out) if re.search(r"rule retrain_pack\d+:", block)]
    assert len(retrains) == 4 and "rule retrain:" not in out
    per_retrain = profile["set-resources"]["retrain"]
    for job in retrains:
        resources = dict(item.split("=") for item in re.search(r"resources: (.*)", job).group(1).split(", "))
        assert int(resources["mem_mb"]) == 2 * per_retrain["mem_mb"] and resources["gpu"] == "1"


@pytest.mark.slow
def test_packed_searches_match_unpacked_and_a_failed_one_reruns_alone(unpacked, tmp_path_factory):
    """Pack of 2 where the second search cannot start (its partial-run path is taken by a file): the job fails,
    the first search's finished partial run (search and derive) stays; once the path is free, the next attempt
    links the first search without running it again and runs the second. Both match the unpacked runs byte for
    byte; no partial run is left; each search has its log and benchmark (s, pack = 2, pack_s)."""
    wd = copy_prepared(tmp_path_factory, "packed")
    args = ("--cores", "2", "--configfile", "config/test.yaml", write_config(wd, 2))
    blocker = wd / f"{RUNS[1]}.partial"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory")
    failed = snakemake(wd, *RUNS, *args, check=False)
    assert failed.returncode != 0 and "1 of 2 searches of this pack failed" in failed.stdout + failed.stderr
    assert (wd / f"{RUNS[0]}.partial/derived.json").exists() and not (wd / RUNS[0]).exists()
    blocker.unlink()
    snakemake(wd, *RUNS, *args)
    first_log = (wd / RUNS[0].replace("/search/", "/logs/search/")).with_suffix(".log").read_text()
    assert "finished in an earlier attempt of this pack" in first_log and "resuming" not in first_log
    for run in RUNS:
        for name in ("children.csv", "derived.json"):
            assert (wd / run / name).read_bytes() == (unpacked / run / name).read_bytes(), (run, name)
        assert not Path(f"{wd / run}.partial").exists()
        bench = (wd / run.replace("/search/", "/benchmarks/search/")).with_suffix(".tsv").read_text().split()
        assert bench[:3] == ["s", "pack", "pack_s"] and bench[4] == "2" and float(bench[3]) <= float(bench[5])
    # retrain.pack: 2: the two searches' top-k retrained in one job, as without packing
    proc = snakemake(wd, *RETRAINS, *args)
    out = proc.stdout + proc.stderr
    assert out.count("rule retrain_pack0:") == 1 and "rule retrain:" not in out
    for run in RETRAINS:
        mine, ref = wd / run / "rank0", unpacked / run / "rank0"
        assert (mine / "predictions.tsv").read_bytes() == (ref / "predictions.tsv").read_bytes()
        assert metrics(mine / "metrics.json") == metrics(ref / "metrics.json")
        assert (wd / run.replace("/retrain/", "/logs/retrain/")).with_suffix(".log").exists()


@pytest.mark.slurm
@pytest.mark.slow
def test_packed_study_through_slurm_matches_unpacked(unpacked, tmp_path_factory):
    """The pack of 2 submitted by snakemake-executor-plugin-slurm with profiles/slurm (scaled to the CI node): ONE
    SLURM job with one GPU and 2 CPUs runs both searches; children.csv as without packing, byte for byte."""
    slurm_or_skip()
    wd = copy_prepared(tmp_path_factory, "packed-slurm")
    profile = ci_slurm_profile(wd).relative_to(wd)
    snakemake(wd, *RUNS, "--profile", str(profile), "--configfile", "config/test.yaml", write_config(wd, 2),
              timeout=540)
    logs = list((wd / ".snakemake/slurm_logs/rule_search_pack0").rglob("*.log"))
    assert len(logs) == 1  # one SLURM job for the two searches
    tres = subprocess.run(["sacct", "-j", logs[0].stem.split("_")[0], "-X", "-n", "-P", "-o", "AllocTRES"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the CI profile asks 1 thread and 1000 MB per search: the pack job got 2 CPUs, 2000 MB and ONE GPU
    assert {"cpu=2", "mem=2000M", "gres/gpu=1"} <= set(tres.split(",")), tres
    for run in RUNS:
        assert (wd / run / "children.csv").read_bytes() == (unpacked / run / "children.csv").read_bytes()
        assert (wd / run / "derived.json").read_bytes() == (unpacked / run / "derived.json").read_bytes()


@pytest.mark.slow
def test_search_killed_in_a_pack_resumes_exactly(uninterrupted_search, tmp_path_factory):
    """SIGKILL one `neonas search` of a pack of 2 between two checkpoints: the pack job fails, snakemake retries it
    (profiles/local: retries 1), the killed search resumes from its RUN.partial/checkpoint.pt and ends exactly like
    a search that was never interrupted (children, epochs, weights); its pack partner is only linked."""
    import os
    import signal

    from test_workflow_recovery import cmdline, descendants
    from wfutil import PARTIAL, RUN, SEARCH_LOG, assert_same_run, start_search_and_wait_for_checkpoint

    wd = copy_prepared(tmp_path_factory, "pack-killed")
    (wd / "longer.yaml").write_text("search:\n  training: {epochs: 6, checkpoint_every: 1, batch_size: 32}\n  pack: 2\n"
                                    "folds: {scheme: loo, run: [0, 1]}\n")
    proc = start_search_and_wait_for_checkpoint(wd, "--cores", "1", "--profile", "profiles/local", "--configfile",
                                                "config/test.yaml", "longer.yaml")
    mine = [p for p in descendants(proc.pid) if "neonas search" in cmdline(p) and f"--out {PARTIAL}" in cmdline(p)]
    assert mine, "found no `neonas search` of fold 0 under snakemake"
    os.kill(mine[-1], signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    smk_log = max((wd / ".snakemake/log").glob("*.snakemake.log")).read_text()
    assert "Error in rule search_pack0" in smk_log and "Trying to restart job" in smk_log
    assert "resuming from" in (wd / SEARCH_LOG).read_text()
    assert_same_run(wd / RUN, uninterrupted_search)
    partner_log = (wd / SEARCH_LOG.replace("fold0", "fold1")).read_text()
    assert "finished in an earlier attempt of this pack" in partner_log
