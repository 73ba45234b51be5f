"""The study workflow: lint, config checks, the shape of the DAG, and one real run of config/test.yaml."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from wfutil import REPO, copy_prepared, copy_workflow, prepared_study, snakemake


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def write_sheet(path: Path, ids: list[str], folder: Path) -> Path:
    """A cohort sheet whose (empty) EDF files exist: enough for a dry run."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks"]
    for i in ids:
        (folder / f"{i}.edf").touch()
        rows.append(f"{i}\t{folder / i}.edf\t\tannotations\t40")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def wd(tmp_path) -> Path:
    return copy_workflow(tmp_path / "wf")


def test_lint_is_clean(wd):
    proc = snakemake(wd, "--lint")
    assert "Congratulations" in proc.stdout + proc.stderr


def test_config_typo_gets_a_clear_message(wd):
    proc = snakemake(wd, "-n", "--config", "serach={}", "folds={scheme: lo}", check=False)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "unknown config key 'serach'; did you mean 'search'?" in err
    assert "config key 'folds.scheme' is 'lo'; expected one of loo, kfold." in err
    assert "Failed validating" not in err  # not snakemake's dump of the whole schema


def test_a_row_with_its_own_filter_stops_the_dry_run(wd, tmp_path):
    """issue 17: one row's h_freq override once ran preprocess, folds and every search before retrain refused it;
    now the workflow refuses it when it parses the cohort, naming the sheet, row, infant and setting."""
    sheet = write_sheet(tmp_path / "sheet.tsv", ["b0", "b1", "b2", "b3"], tmp_path / "edf")
    lines = sheet.read_text().splitlines()
    lines = [lines[0] + "\toverrides"] + [ln + ("\th_freq=25" if ln.startswith("b2") else "\t") for ln in lines[1:]]
    sheet.write_text("\n".join(lines) + "\n")
    proc = snakemake(wd, "-n", "--config", f"cohort={sheet}", "synthetic={enabled: false}", check=False)
    err = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in err
    assert f"{sheet}: line 4: infant 'b2' would be preprocessed differently" in err
    assert "(h_freq: 25.0 vs 30.0)" in err and "config key 'cohort'" in err


def test_dag_covers_every_arm_setting_seed_and_fold(wd, tmp_path):
    sheet = write_sheet(tmp_path / "sheet.tsv", [f"b{i}" for i in range(5)], tmp_path / "edf")
    grid = {
        "cohort": str(sheet), "synthetic": {"enabled": False}, "seeds": [0, 1], "folds": {"run": "all"},
        "rewards": [{"name": "identity", "reward": {"name": "identity"}},
                    {"name": "cubed", "reward": {"name": "cubed"}}],
        "derive": {"top_k": 2},
    }
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    counts = job_counts(snakemake(wd, "-n", "--configfile", str(tmp_path / "grid.yaml")).stdout)
    runs = (2 + 1) * 2 * 5  # (2 rewards + random) x 2 seeds x 5 loo folds
    assert counts["search"] == counts["retrain"] == runs  # one retrain job: all top-k ranks
    assert "derive" not in counts  # derive runs inside each search job
    assert counts["search_config"] == 3
    assert counts["retrain_baseline"] == 2 * 5
    assert "evaluate" not in counts  # retrain writes metrics.json; `evaluate` is for other splits, on demand
    assert counts["preprocess"] == 5 and "synth" not in counts
    assert counts["aggregate"] == counts["report"] == 1
    assert counts["fidelity"] == 5  # the estimator's fidelity check: once per fold (workflow/rules/fidelity.smk)


def test_searches_take_their_warm_up_from_their_folds_fidelity_check(wd, tmp_path):
    """fidelity.warmup_from_check (issue 16): each search waits for its own fold's check and passes its result to
    `neonas search --warmup-from` (also packed); switched off, the searches neither wait nor read it."""
    sheet = write_sheet(tmp_path / "sheet.tsv", [f"b{i}" for i in range(4)], tmp_path / "edf")
    base = ["--config", f"cohort={sheet}", "synthetic={enabled: false}", "folds={run: [0, 2]}"]
    for pack in (1, 2):
        out = snakemake(wd, "-n", "-p", *base, f"search={{pack: {pack}}}").stdout
        jobs = [j for j in out.split("\n\n") if re.search(r"^rule search(_pack\d+)?:", j, re.M)]
        assert jobs and all("fidelity/fold" in j for j in jobs), "a search job does not wait for the check"
        for job in jobs:
            folds = set(re.findall(r"search/\w+/[^/\s]+/seed\d+/fold(\d+)", job.split("output:")[1].split("\n")[0]))
            assert {int(f) for f in re.findall(r"fidelity/fold(\d+)", job.split("output:")[0])} == \
                {int(f) for f in folds}
        assert "--warmup-from $warm" in out and "results/demo/fidelity/fold$fold/fidelity.json" in out
    off = snakemake(wd, "-n", "-p", *base, "fidelity={warmup_from_check: false}").stdout
    jobs = [j for j in off.split("\n\n") if re.search(r"^rule search:", j, re.M)]
    assert jobs and not any("fidelity/fold" in j.split("output:")[0] for j in jobs)
    assert "warm=;" in off or "warm= " in off or "warm=\n" in off


def test_thesis_config_builds_its_dag(wd, tmp_path):
    """thesis.yaml, with the template sheet replaced by one whose files exist, gives its grid (one seed here,
    to keep the dry run short; bench/bench_dag.py times the full size)."""
    thesis = yaml.safe_load((REPO / "config/thesis.yaml").read_text())
    template = [line for line in (REPO / thesis["cohort"]).read_text().splitlines() if not line.startswith("#")]
    assert template[0].split("\t")[:4] == ["infant_id", "eeg_path", "labels_path", "label_format"]
    n_infants = 12
    sheet = write_sheet(tmp_path / "sheet.tsv", [f"n{i}" for i in range(n_infants)], tmp_path / "edf")
    proc = snakemake(wd, "-n", "--configfile", "config/thesis.yaml", "--config", f"cohort={sheet}", "seeds=[3]")
    counts = job_counts(proc.stdout)
    n_folds = n_infants if thesis["folds"]["scheme"] == "loo" else thesis["folds"]["k"]
    n_folds = n_folds if thesis["folds"]["run"] == "all" else len(thesis["folds"]["run"])
    assert counts["search"] == counts["retrain"] == (len(thesis["rewards"]) + 1) * 1 * n_folds
    assert counts["retrain_baseline"] == n_folds and counts["search_config"] == len(thesis["rewards"]) + 1
    assert "synth" not in counts


def _keys(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _keys(v, f"{prefix}{k}.")
    return out


def test_thesis_config_sets_every_key_the_demo_sets():
    """--configfile merges onto config/config.yaml: a key the thesis leaves out would keep the demo's value."""
    demo = yaml.safe_load((REPO / "config/config.yaml").read_text())
    thesis = yaml.safe_load((REPO / "config/thesis.yaml").read_text())
    assert not _keys(demo) - _keys(thesis), "thesis.yaml must set these keys itself"
    assert thesis["search"]["training"]["epochs"] == 3500


def test_dreams_config_sets_every_key_the_demo_sets():
    """config/dreams.yaml (the DREAMS study, run shrunk by tests/test_dreams_study.py) leaks nothing of the demo."""
    demo = yaml.safe_load((REPO / "config/config.yaml").read_text())
    dreams = yaml.safe_load((REPO / "config/dreams.yaml").read_text())
    assert not _keys(demo) - _keys(dreams), "dreams.yaml must set these keys itself"
    assert dreams["preprocess"]["preset"] == "dreams" and not dreams["synthetic"]["enabled"]
    from neonas.ingest.cohort import load_cohort

    rows = load_cohort(REPO / dreams["cohort"])  # the sheet `neonas cohort --dreams` writes, as shipped
    assert [r.infant_id for r in rows] == [f"excerpt{i}" for i in range(1, 9)]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return prepared_study(tmp_path_factory)


@pytest.mark.slow
def test_whole_study_runs_on_two_cores(study, tmp_path_factory):
    """config/test.yaml through every rule (synth ... report) with `snakemake --cores 2 --profile profiles/local`."""
    wd = copy_prepared(tmp_path_factory, "whole")
    snakemake(wd, "--cores", "2", "--profile", "profiles/local", "--configfile", "config/test.yaml")
    res = wd / "results/test"
    arms = {"nas": "sigmoid", "random": "uniform", "handcrafted": "reference"}
    for arm, setting in arms.items():
        metrics = json.loads((res / f"retrain/{arm}/{setting}/seed0/fold0/rank0/metrics.json").read_text())
        assert metrics["meta"]["arm"] == arm and metrics["meta"]["reward"] == setting
        assert 0.0 <= metrics["accuracy"] <= 1.0
    run = res / "search/nas/sigmoid/seed0/fold0"
    assert {p.name for p in run.iterdir()} == {"children.csv", "epochs.csv", "summary.json", "final.pt", "derived.json",
                                              ".snakemake_timestamp"}  # snakemake's mark of a finished directory
    assert not Path(f"{run}.partial").exists()  # the partial run (and its checkpoint) is gone
    assert (res / "select/fold0/scores.csv").exists() and not (res / "select/fold0.partial").exists()  # moved in
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2
    assert (res / "report/fig_accuracy_over_epochs.pdf").exists()
    assert list((res / "latex").glob("*.tex"))
    for name in ("search/nas/sigmoid/seed0/fold0", "retrain/handcrafted/reference/seed0/fold0"):
        assert (res / "benchmarks" / f"{name}.tsv").exists() and (res / "logs" / f"{name}.log").exists()
    assert "Nothing to be done" in snakemake(wd, "-n", "--configfile", "config/test.yaml").stdout
    val = "results/test/evaluate/nas/sigmoid/seed0/fold0/rank0/metrics_val.json"  # the on-demand evaluate rule
    snakemake(wd, val, "--cores", "1", "--configfile", "config/test.yaml")
    assert json.loads((wd / val).read_text())["split"] == "val"


def test_search_config_is_checked_by_neonas_before_any_search(wd):
    """Keys inside the search section are neonas's: a typo there fails the one local config job, with the key."""
    target = "results/test/config/search/nas/sigmoid.yaml"
    proc = snakemake(wd, target, "--cores", "1", "--configfile", "config/test.yaml",
                     "--config", "search={training: {epoks: 3}}", check=False)
    assert proc.returncode != 0 and not (wd / target).exists()
    log = (wd / "results/test/logs/config/search/nas/sigmoid.log").read_text()
    assert "the study config is not valid" in log and "epoks" in log
