"""Against a REAL SLURM on this machine (scripts/local-slurm.sh: slurmctld + slurmd + slurmdbd, 2 fake GPUs):
the study through sbatch with profiles/slurm, a search job cancelled with scancel that snakemake resubmits and
that resumes, a submitit sweep job that is preempted, requeued and resumes, and the pre-flight check
(workflow/rules/slurm.smk) that stops a study SLURM would refuse before anything is submitted.
Skipped when there is no SLURM here; a failure in CI (CI=true)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wfutil import (
    BIN,
    LONGER,
    REPO,
    RUN,
    SEARCH_LOG,
    assert_same_run,
    ci_slurm_profile,
    copy_prepared,
    copy_workflow,
    env,
    prepared_study,
    slurm_or_skip,
    snakemake,
    start_search_and_wait_for_checkpoint,
)

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module", autouse=True)
def slurm():
    slurm_or_skip()


def sacct(job_id: str) -> list[dict]:
    out = subprocess.run(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "JobID,State,AllocTRES"], capture_output=True,
                         text=True, check=True).stdout
    return [dict(zip(("id", "state", "tres"), line.split("|"), strict=True)) for line in out.splitlines()]


@pytest.mark.slow
def test_study_runs_through_sbatch_with_the_slurm_profile(tmp_path_factory):
    """config/test.yaml from folds.json to the metrics.json of the NAS and random arms: the two searches (one
    job array, a GPU each, each ending with its derive) and the two retrain jobs (another array, a GPU each), submitted by
    snakemake-executor-plugin-slurm with profiles/slurm (sizes scaled to this node, quick status checks).
    The baseline arm, aggregate and report add no new kind of job; tests/test_workflow.py runs them."""
    prepared_study(tmp_path_factory)
    wd = copy_prepared(tmp_path_factory, "slurm-study")
    profile = ci_slurm_profile(wd)
    arms = (("nas", "sigmoid"), ("random", "uniform"))
    targets = [f"results/test/retrain/{a}/{s}/seed0/fold0" for a, s in arms]  # retrain jobs' output directories
    configs = ["results/test/config/search/nas/sigmoid.yaml", "results/test/config/search/random/uniform.yaml"]
    snakemake(wd, *configs, "--cores", "2", "--configfile", "config/test.yaml")  # both searches ready at once
    snakemake(wd, *targets, "--profile", str(profile.relative_to(wd)), "--configfile", "config/test.yaml",
              timeout=540)
    for (arm, _), target in zip(arms, targets, strict=True):
        assert json.loads((wd / target / "rank0/metrics.json").read_text())["meta"]["arm"] == arm

    logs = wd / ".snakemake/slurm_logs"
    search_logs = list((logs / "rule_search").rglob("*.log"))
    array_ids = {p.stem.split("_")[0] for p in search_logs if "_" in p.stem}  # logs are %A_%a.log
    assert len(search_logs) == 2 and len(array_ids) == 1  # one job array for both searches
    tasks = sacct(array_ids.pop())
    assert len(tasks) == 2 and all(t["state"] == "COMPLETED" for t in tasks)
    assert all("gres/gpu=1" in t["tres"] for t in tasks)  # the GPU rule got one GPU per task
    # retrain jobs go out as arrays too, but only those ready at the same moment share one (log %A_%a.log);
    # a retrain whose search finished alone is a plain job (log %j.log). Each must have had its own GPU.
    retrain_logs = list((logs / "rule_retrain").rglob("*.log"))
    assert len(retrain_logs) == 2  # top-k of nas and of random: one SLURM job (or array task) each
    for log in retrain_logs:
        (task,) = sacct(log.stem)
        assert task["state"] == "COMPLETED" and "gres/gpu=1" in task["tres"], (log, task)


def running_jobs() -> list[str]:
    """Ids of the running SLURM jobs (123, or 123_0 for an array task); the tests run one study at a time."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.slow
def test_search_cancelled_with_scancel_is_retried_and_resumes_exactly(uninterrupted_search, tmp_path_factory):
    """`scancel` the SLURM job of a search between two checkpoints (a user's mistake, an admin, a node drain):
    snakemake sees the job fail (squeue: CANCELLED), submits it again (profile `retries`), and the new job
    resumes from fold0.partial/checkpoint.pt to the same result as a search that was never interrupted."""
    prepared_study(tmp_path_factory)
    wd = copy_prepared(tmp_path_factory, "slurm-scancel")
    (wd / "longer.yaml").write_text(LONGER)
    profile = ci_slurm_profile(wd).relative_to(wd)
    proc = start_search_and_wait_for_checkpoint(wd, "--profile", str(profile), "--configfile", "config/test.yaml",
                                                "longer.yaml", kill_after=540)
    jobs = running_jobs()
    assert len(jobs) == 1, f"expected the one search job running, squeue says {jobs}"
    subprocess.run(["scancel", jobs[0]], check=True)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    assert (job_state := sacct(jobs[0].split("_")[0])[0]["state"]).startswith("CANCELLED"), job_state
    smk_log = max((wd / ".snakemake/log").glob("*.snakemake.log")).read_text()
    assert "Error in rule search" in smk_log and "Trying to restart job" in smk_log
    assert "resuming from" in (wd / SEARCH_LOG).read_text()
    assert_same_run(wd / RUN, uninterrupted_search)


@pytest.mark.slow
def test_submitit_sweep_job_is_requeued_after_preemption_and_resumes(tmp_path_factory, tmp_path, monkeypatch):
    """A sweep job (scripts/sweep.py, AutoExecutor -> sbatch) gets SIGTERM + SIGUSR2 as on preemption: submitit
    checkpoints and requeues it, and the requeued job resumes the search from its checkpoint.pt. The result is
    the same as an uninterrupted run's (run locally here for comparison)."""
    sys.path.insert(0, str(REPO / "scripts"))
    import sweep

    study = prepared_study(tmp_path_factory)
    monkeypatch.chdir(study)  # folds.json's paths are relative to the study's directory; jobs start here too
    folds = str(study / "results/test/folds.json")

    def args(out, cluster):
        return sweep.build_parser().parse_args([
            "--folds", folds, "--fold", "0", "--seed", "0", "--set", "training.epochs=8", "--set", "space.n_layers=2",
            "--set", "space.filters=8", "--set", "controller.train_steps=4", "--set", "training.checkpoint_every=1",
            "--reward", "sig:name=sigmoid,threshold=0.5", "--samples", "4", "--top-k", "1", "--out", str(out),
            "--cluster", cluster, "--gpus", "1", "--cpus", "1", "--mem-gb", "1", "--timeout-min", "5"])

    reference = args(tmp_path / "local", "local")
    local_job = sweep.make_executor(reference).submit(sweep.SearchJob(), **sweep.plan(reference)[0])
    expected = local_job.result()

    on_slurm = args(tmp_path / "slurm", "slurm")
    run = sweep.plan(on_slurm)[0]
    job = sweep.make_executor(on_slurm).submit(sweep.SearchJob(), **run)
    checkpoint = Path(run["out"]) / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists():
        assert time.monotonic() < deadline and not job.done(), "the SLURM job wrote no checkpoint"
        time.sleep(0.05)
    assert not (Path(run["out"]) / "summary.json").exists()
    job._interrupt()  # submitit's own preemption signal: scancel --signal SIGTERM, then SIGUSR2
    # SLURM holds a requeued job back for ~2 minutes (BeginTime); shorten that to 2 s. Not to "now": slurmd
    # refuses a credential made in the same second the interrupted attempt's was revoked ("Killing non-startable
    # batch JobId=...: Job credential revoked" in slurmctld.log; the requeued job then ends FAILED at once)
    for _ in range(600):
        state = subprocess.run(["squeue", "-h", "-j", job.job_id, "-o", "%T %r"], capture_output=True,
                               text=True).stdout.strip()
        if state.startswith("PENDING"):
            subprocess.run(["scontrol", "update", f"JobId={job.job_id}", "StartTime=now+2"], check=True)
            break
        time.sleep(0.1)
    result = job.result()
    log = "".join(p.read_text() for p in (tmp_path / "slurm/submitit").rglob("*.err"))
    assert "Requeued job" in log and "resuming from" in log
    assert result["status"] == "finished" and result["cuda_visible_devices"] in ("0", "1")
    assert (result["best_hash"], result["best_supernet_metric"]) == (expected["best_hash"],
                                                                      expected["best_supernet_metric"])
    rows = [list(csv.reader(open(Path(r["run"]) / "children.csv"))) for r in (expected, result)]
    assert rows[0] == rows[1]


def submissions(out: str) -> list[str]:
    """Lines of snakemake's output that show a job submitted to SLURM or a job retried."""
    return [line for line in out.splitlines() if "submitted with SLURM jobid" in line or "Trying to restart" in line]


def run_uuid_jobs(out: str) -> str:
    """sacct's lines for the jobs of the snakemake run that printed `out` (its SLURM run ID names them)."""
    uuid = out.split("SLURM run ID: ", 1)[1].split()[0]
    return subprocess.run(["sacct", "-X", "-n", "-P", "-S", "now-1hours", "--name", uuid, "-o", "JobID,State"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_invalid_account_stops_the_study_before_any_submission(tmp_path):
    """A wrong slurm_account used to fail every job's submission `retries` + 1 times (4 attempts each, 20 s with the
    shipped status timing). The pre-flight stops snakemake before the first sbatch, naming the account: no job,
    no retry, no status check."""
    wd = copy_workflow(tmp_path / "wf")
    profile = ci_slurm_profile(wd, default_resources={"slurm_account": "no-such-account"})
    start = time.monotonic()
    proc = snakemake(wd, "results/test/folds.json", "--profile", str(profile.relative_to(wd)), "--configfile",
                     "config/test.yaml", check=False, timeout=300)
    elapsed = time.monotonic() - start
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "account 'no-such-account' (slurm_account) is refused" in out, out[-3000:]
    assert "folds, preprocess, synth jobs: account" in out  # every rule that would have used it
    assert submissions(out) == [] and run_uuid_jobs(out) == ""
    print(f"snakemake stopped after {elapsed:.1f} s")


def test_node_configuration_that_does_not_exist_stops_the_study(tmp_path):
    """profiles/slurm as shipped asks 4 CPUs per GPU for the GPU rules; this node has 2 CPUs, so SLURM answers
    "Requested node configuration is not available" for any search. The pre-flight (sbatch --test-only with the
    plugin's own sbatch arguments) names the rule and its request before the CPU jobs before it run at all.
    profiles/slurm-small passes the same check on this node."""
    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "results/test/search/nas/sigmoid/seed0/fold0", "--profile", "profiles/slurm",
                     "--configfile", "config/test.yaml", check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    refused = [line.strip() for line in out.splitlines() if " jobs: " in line]
    assert len(refused) == 1, out[-3000:]
    assert refused[0].startswith("search jobs: ") and "Requested node configuration is not available" in out
    assert "--cpus-per-gpu=4" in refused[0] and "--gpus=1" in refused[0]
    assert submissions(out) == [] and run_uuid_jobs(out) == ""

    # profiles/slurm-small, unchanged, fits this node: the pre-flight passes and the first job goes out
    proc = subprocess.Popen(["timeout", "-s", "KILL", "300", str(BIN / "snakemake"),
                             "results/test/search/nas/sigmoid/seed0/fold0", "--profile", "profiles/slurm-small",
                             "--configfile", "config/test.yaml"], cwd=wd, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "submitted with SLURM jobid" in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)  # its own session: timeout and snakemake; the SLURM job is cancelled below
    proc.wait()
    out = "".join(lines)
    assert "SLURM would refuse" not in out and "submitted with SLURM jobid" in out, out[-3000:]
    subprocess.run(["scancel", "--name", out.split("SLURM run ID: ", 1)[1].split()[0]], check=True)
