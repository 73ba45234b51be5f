"""SLURM pre-flight: before the first job is submitted, ask SLURM whether it would accept each kind of job.

snakemake-executor-plugin-slurm (2.8) treats a refused submission like a failed job: an invalid account
("appears to be invalid", its own sacctmgr check), an invalid partition or a node configuration that does
not exist ("Requested node configuration is not available") is retried `retries` times per job, and with
`keep-going` every other job of the study goes the same way. A retry cannot fix any of these. So, when the
slurm executor runs the study (not in a dry run, not inside a job: jobs run with --no-hooks), `onstart` builds
the sbatch call the plugin would make for one job of each rule that is about to run, with the plugin's own
functions, and runs it once per distinct account/partition/resource set as `sbatch --test-only` (nothing is
queued). Any refusal stops snakemake with one message naming the rules, account, partition and resources
of each refused set. Errors that look transient (controller unreachable, timeouts) only warn: the run goes on
and the plugin's retries deal with them. docs/cluster.md, "Failures and recovery".
"""

import os
import shlex
import subprocess

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

SLURM_TRANSIENT = ("timed out", "unable to contact", "temporarily", "try again", "zero bytes were transmitted")


def slurm_preflight_calls(jobs):
    """{sbatch --test-only call: (rule names, account, partition)} for one job of each rule in `jobs`."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    calls = {}
    seen = set()
    for job in jobs:
        if job.is_local or job.rule.name in seen:
            continue
        seen.add(job.rule.name)
        account = str(job.resources.get("slurm_account") or "")
        partition = str(job.resources.get("slurm_partition") or "")
        params = {"run_uuid": "neonas-preflight", "slurm_logfile": os.devnull, "comment_str": "preflight",
                  "account": f"-A {shlex.quote(account)}" if account else "",
                  "partition": f"-p {shlex.quote(partition)}" if partition else "", "workdir": None}
        call = get_submit_command(job, params, settings=workflow.executor_settings) + set_gres_string(job)
        call = call.replace("sbatch --parsable", "sbatch --test-only", 1)
        rules, _, _ = calls.setdefault(call, ([], account, partition))
        rules.append(job.rule.name)
    for rules, _, _ in calls.values():
        rules.sort()
    return calls


def slurm_preflight(jobs):
    """Stop with one WorkflowError listing every kind of job SLURM would refuse (or the plugin would reject)."""
    try:
        from snakemake_executor_plugin_slurm.accounts import validate_account

        calls = slurm_preflight_calls(jobs)
    except ImportError as err:  # another plugin version: submit anyway, the plugin reports refusals per job
        logger.warning(f"SLURM pre-flight skipped ({err})")
        return
    problems, bad_accounts = [], set()
    for account in sorted({acc for _, acc, _ in calls.values() if acc}):
        try:
            validate_account(account, logger)  # the plugin's own check, which it repeats for every job
        except WorkflowError as err:
            bad_accounts.add(account)
            rules = sorted(r for rs, acc, _ in calls.values() if acc == account for r in rs)
            reason = " ".join(str(err).split())
            problems.append(f"{', '.join(rules)} jobs: account '{account}' (slurm_account) is refused: {reason}")
    for call, (rules, account, partition) in calls.items():
        if account in bad_accounts:
            continue
        proc = subprocess.run(f"{call} --wrap=true", shell=True, capture_output=True, text=True)
        answer = " ".join((proc.stderr + proc.stdout).split())
        if proc.returncode == 0:
            logger.debug(f"SLURM pre-flight ok for {', '.join(rules)}: {answer}")
        elif any(word in answer.lower() for word in SLURM_TRANSIENT):
            logger.warning(f"SLURM pre-flight inconclusive for {', '.join(rules)} ({answer}); submitting anyway")
        else:
            request = call.split("--comment preflight", 1)[1].strip()
            problems.append(f"{', '.join(rules)} jobs: '{answer}' (account {account or '(your default)'}, "
                            f"partition {partition or '(the default)'}, request: {request})")
    if problems:
        raise WorkflowError(
            "SLURM would refuse these jobs, so none was submitted (a retry cannot fix this):\n  "
            + "\n  ".join(sorted(problems))
            + "\nSet slurm_account / slurm_partition, or lower gpu / cpus_per_gpu / mem_mb / runtime for these rules,"
            " in your profile or with --set-resources (docs/cluster.md, 'Failures and recovery')."
        )


onstart:
    if getattr(workflow.executor_plugin, "name", "") == "slurm":
        slurm_preflight(workflow.dag.needrun_jobs())
