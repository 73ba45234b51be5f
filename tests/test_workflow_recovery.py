"""Recovery: a search killed mid-run is retried (profile `retries`) or rerun, resumes from its checkpoint
and ends exactly like a run that was never interrupted."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from wfutil import (
    LONGER,
    PARTIAL,
    RUN,
    SEARCH_LOG,
    assert_same_run,
    copy_prepared,
    prepared_study,
    snakemake,
    start_search_and_wait_for_checkpoint,
)

ARGS = [RUN, "--cores", "1", "--profile", "profiles/local", "--configfile", "config/test.yaml", "longer.yaml"]


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), children first."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            out += [kid, *descendants(kid)]
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
def test_killed_search_is_retried_and_resumes_exactly(uninterrupted_search, tmp_path_factory):
    """SIGKILL the `neonas search` process: snakemake retries the job (profiles/local: retries 1), which
    resumes from RUN.partial/checkpoint.pt."""
    wd = copy_prepared(tmp_path_factory, "killed-search")
    (wd / "longer.yaml").write_text(LONGER)
    proc = start_search_and_wait_for_checkpoint(wd, *ARGS[1:])
    searches = [p for p in descendants(proc.pid) if "neonas search" in cmdline(p)]
    assert searches, "found no `neonas search` process under snakemake"
    os.kill(searches[-1], signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    smk_log = max((wd / ".snakemake/log").glob("*.snakemake.log")).read_text()
    assert "Error in rule search" in smk_log and "Trying to restart job" in smk_log
    log = (wd / SEARCH_LOG).read_text()
    assert "resuming from" in log
    assert_same_run(wd / RUN, uninterrupted_search)


@pytest.mark.slow
def test_rerun_after_snakemake_was_killed_resumes_exactly(uninterrupted_search, tmp_path_factory):
    """SIGKILL snakemake and its jobs (a login node reboot, Ctrl-C twice): the next run resumes the search."""
    wd = copy_prepared(tmp_path_factory, "killed-snakemake")
    (wd / "longer.yaml").write_text(LONGER)
    proc = start_search_and_wait_for_checkpoint(wd, *ARGS[1:])
    os.killpg(proc.pid, signal.SIGKILL)  # the session started above: snakemake and the jobs it started
    proc.communicate(timeout=60)
    assert not (wd / RUN / "summary.json").exists()
    assert (wd / PARTIAL / "checkpoint.pt").exists()
    snakemake(wd, "--unlock", *ARGS[1:])
    snakemake(wd, *ARGS)
    assert "resuming from" in (wd / SEARCH_LOG).read_text()
    assert_same_run(wd / RUN, uninterrupted_search)


@pytest.mark.slow
def test_partial_run_of_a_changed_config_is_started_over(tmp_path_factory):
    """The partial run left by a search whose config (or folds) has since changed is discarded, not resumed."""
    prepared_study(tmp_path_factory)
    wd = copy_prepared(tmp_path_factory, "changed-config")
    partial = wd / PARTIAL
    partial.mkdir(parents=True)
    (partial / "inputs").write_text("search: {training: {epochs: 99}}\n")
    (partial / "checkpoint.pt").write_text("not a checkpoint of this config")
    snakemake(wd, RUN, "--cores", "1", "--configfile", "config/test.yaml")
    log = (wd / SEARCH_LOG).read_text()
    assert "starting over" in log and "resuming from" not in log
    assert not partial.exists() and (wd / RUN / "children.csv").exists()
