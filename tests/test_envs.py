"""envs/neonas.yaml (the conda env of the workflow's rules) must list what pyproject.toml lists, with the
same lower bounds, and the profiles must load; scripts/install-profile.sh makes `--profile slurm` work."""

from __future__ import annotations

import os
import re
import subprocess

import yaml

from wfutil import BIN, REPO, copy_workflow, env, snakemake

# pip name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch", "mne": "mne-base", "matplotlib": "matplotlib-base",
               "snakemake": "snakemake-minimal"}


def requirement(spec: str) -> tuple[str, str | None]:
    """'mne>=1.8' -> ('mne', '1.8'); a spec without a lower bound -> (name, None)."""
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?\s*(?:,.*)?", spec)
    assert m, f"cannot read requirement {spec!r}"
    return m.group(1).lower(), m.group(2)


def pyproject() -> tuple[list[str], str]:
    """[project] dependencies and requires-python of pyproject.toml (no tomllib: Python 3.10 lacks it)."""
    text = (REPO / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S).group(1)
    deps = re.findall(r'^\s*"([^"]+)"', block, re.M)
    return deps, re.search(r'^requires-python = "([^"]+)"', text, re.M).group(1)


def test_conda_env_matches_pyproject_dependencies():
    deps, python = pyproject()
    assert len(deps) >= 10
    wanted = {CONDA_NAMES.get(name, name): bound for name, bound in map(requirement, deps)}
    env_file = yaml.safe_load((REPO / "envs/neonas.yaml").read_text())
    listed = dict(requirement(d) for d in env_file["dependencies"] if isinstance(d, str))
    missing = sorted(set(wanted) - set(listed))
    assert not missing, f"envs/neonas.yaml lacks {missing} (pyproject.toml dependencies)"
    differ = {name: (listed[name], bound) for name, bound in wanted.items() if listed[name] != bound}
    assert not differ, f"lower bounds differ (env, pyproject): {differ}"
    extra = sorted(set(listed) - set(wanted) - {"python", "pip"})
    assert not extra, f"envs/neonas.yaml lists {extra}, which pyproject.toml does not"
    assert listed["python"] == python.removeprefix(">=")
    pip = [d for d in env_file["dependencies"] if isinstance(d, dict)]
    assert pip == [{"pip": ["-e .."]}]  # neonas itself, from the checkout the env file sits in
    assert "conda-forge" in env_file["channels"]


def test_every_rule_runs_in_the_conda_env():
    """Every rule that runs a command or script declares the env; `run:` rules (Python in snakemake's own
    process, e.g. argument lists) cannot have one."""
    text = "".join(p.read_text() for p in sorted((REPO / "workflow/rules").glob("*.smk")))
    blocks = re.split(r"^(?=rule \w+:)", text, flags=re.M)[1:]
    external = [b for b in blocks if re.search(r"^\s+(shell|script|notebook|wrapper):", b, re.M)]
    assert len(external) >= 9
    missing = [b.split(":", 1)[0] for b in external if not re.search(r"^\s*conda:\n\s*ENV$", b, re.M)]
    assert not missing, missing


def test_profiles_load_and_the_installer_makes_profile_slurm_work(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    for profile in ("profiles/local", "profiles/slurm", "profiles/slurm-small"):
        assert "This was a dry-run" in snakemake(wd, "-n", "--profile", profile).stdout
    cfg = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    small = yaml.safe_load((REPO / "profiles/slurm-small/config.yaml").read_text())
    assert small.keys() == cfg.keys() and small["set-resources"].keys() == cfg["set-resources"].keys()  # sizes only
    assert cfg["slurm-status-command"] == "squeue"  # works without slurmdbd
    assert cfg["retries"] >= 1 and cfg["rerun-incomplete"] is True
    home = tmp_path / "xdg"
    e = {**env(), "XDG_CONFIG_HOME": str(home)}
    run = subprocess.run(["bash", str(REPO / "scripts/install-profile.sh")], env=e, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (home / "snakemake/slurm/config.yaml").read_bytes() == (REPO / "profiles/slurm/config.yaml").read_bytes()
    dry = subprocess.run([str(BIN / "snakemake"), "-n", "--profile", "slurm"], cwd=wd, env=e, capture_output=True,
                         text=True)
    assert dry.returncode == 0 and "Using profile slurm" in dry.stdout + dry.stderr
    # a changed installed profile is kept unless --force
    (home / "snakemake/slurm/config.yaml").write_text("jobs: 3\n")
    again = subprocess.run(["bash", str(REPO / "scripts/install-profile.sh")], env=e, capture_output=True, text=True)
    assert again.returncode == 1 and "--force" in again.stderr
    forced = subprocess.run(["bash", str(REPO / "scripts/install-profile.sh"), "--force"], env=e,
                            capture_output=True, text=True)
    assert forced.returncode == 0 and (home / "snakemake/slurm/config.yaml.bak").read_text() == "jobs: 3\n"
    assert os.access(REPO / "scripts/install-profile.sh", os.X_OK)
    small_dest = tmp_path / "small"
    run = subprocess.run(["bash", str(REPO / "scripts/install-profile.sh"), "--small", "--dest", str(small_dest)],
                         env=e, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (small_dest / "config.yaml").read_bytes() == (REPO / "profiles/slurm-small/config.yaml").read_bytes()
