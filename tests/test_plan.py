"""`neonas plan`: jobs per rule as snakemake counts them, cohort sizes from real EDF headers and HDF5 files, and
a throughput measured from a finished study's benchmark files."""

from __future__ import annotations

import re
from pathlib import Path

import mne
import numpy as np
import pytest
import yaml

from conftest import SHARED_DATA, shared_file
from neonas.cli import main
from neonas.study import plan
from wfutil import REPO, copy_workflow, snakemake


def write_edfs(folder: Path, minutes: list[int]) -> list[Path]:
    """Real EDF files (2 channels, 32 Hz) of the given lengths, written with MNE."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, m in enumerate(minutes):
        n = m * 60 * 32
        raw = mne.io.RawArray(np.random.default_rng(i).normal(0, 20e-6, (2, n)),
                              mne.create_info(["C3", "C4"], 32.0, "eeg"), verbose="error")
        path = folder / f"b{i}.edf"
        mne.export.export_raw(path, raw, fmt="edf", physical_range=(-500e-6, 500e-6), verbose="error")
        paths.append(path)
    return paths


def write_sheet(path: Path, edfs: list[Path]) -> Path:
    rows = ["infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks"]
    rows += [f"{p.stem}\t{p}\t\tannotations\t40" for p in edfs]
    path.write_text("\n".join(rows) + "\n")
    return path


def run_plan(capsys, *args: str) -> str:
    assert main(["plan", *args]) == 0
    return capsys.readouterr().out


def table(out: str) -> dict[str, list[str]]:
    """The plan's table as {rule: [jobs, GPU-h per job, GPU-hours]}."""
    return {m.group(1): m.group(2).split() for m in re.finditer(r"^(\w+) +(\d.*)$", out, re.M)}


def test_thesis_plan_counts_jobs_and_gpu_hours_from_edf_headers(tmp_path, capsys, monkeypatch):
    """config/thesis.yaml on a 7-infant cohort (k = 7 folds): the search grid, and epoch counts read from the
    EDF headers (10..70 minutes = 20..140 epochs of 30 s)."""
    wd = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wd)
    sheet = write_sheet(tmp_path / "sheet.tsv", write_edfs(tmp_path / "edf", [10, 20, 30, 40, 50, 60, 70]))
    out = run_plan(capsys, "--configfile", "config/thesis.yaml", "--config", f"cohort={sheet}", "folds={k: 7}")
    thesis = yaml.safe_load((REPO / "config/thesis.yaml").read_text())
    runs = (len(thesis["rewards"]) + 1) * len(thesis["seeds"]) * 7
    rows = table(out)
    assert int(rows["search"][0]) == int(rows["retrain"][0]) == runs
    assert int(rows["retrain_baseline"][0]) == len(thesis["seeds"]) * 7
    assert "7 infants, 560 EEG epochs of 30 s" in out and "header: 7" in out
    gpu_hours = {rule: float(rows[rule][2].replace(",", "")) for rule in plan.GPU_RULES}
    assert gpu_hours["search"] > gpu_hours["retrain"] > 0
    total = float(rows["total"][1].replace(",", ""))
    assert total == pytest.approx(sum(gpu_hours.values()), rel=0.01, abs=len(gpu_hours))
    assert "default, measured on a 2-core CPU" in out and "wall-clock at 100 GPU jobs" in out

    # twice the search epochs: twice the searches' GPU-hours (the derive part aside), the rest unchanged
    longer = run_plan(capsys, "--configfile", "config/thesis.yaml", "--config", f"cohort={sheet}", "folds={k: 7}",
                      "search={training: {epochs: 7000}}")
    again = {rule: float(table(longer)[rule][2].replace(",", "")) for rule in plan.GPU_RULES}
    assert again["search"] == pytest.approx(2 * gpu_hours["search"], rel=0.01)
    assert again["retrain"] == gpu_hours["retrain"]


def test_plan_job_counts_match_snakemake_dry_run(tmp_path, capsys, monkeypatch):
    """A small grid (2 rewards + random, 2 seeds, 2 of 4 leave-one-out folds): every rule plan lists has the count
    `snakemake -n` gives, and every rule that asks for a GPU is one plan costs."""
    wd = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wd)
    sheet = write_sheet(tmp_path / "sheet.tsv", write_edfs(tmp_path / "edf", [5, 5, 5, 5]))
    small = {"cohort": str(sheet), "synthetic": {"enabled": False}, "seeds": [0, 1],
             "folds": {"scheme": "loo", "run": [0, 2]},
             "rewards": [{"name": "identity", "reward": {"name": "identity"}},
                         {"name": "cubed", "reward": {"name": "cubed"}}]}
    (wd / "small.yaml").write_text(yaml.safe_dump(small))
    counted = table(run_plan(capsys, "--configfile", "small.yaml"))
    dry = snakemake(wd, "-n", "--configfile", "small.yaml").stdout
    smk = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", dry.split("Job stats:")[1], re.M)}
    for rule, row in counted.items():
        if rule != "total":
            assert int(row[0]) == smk.get(rule, 0), (rule, row, smk)
    assert smk["search"] == 3 * 2 * 2
    rules = "".join(p.read_text() for p in (wd / "workflow/rules").glob("*.smk"))
    gpu_rules = {m.group(1) for m in re.finditer(r"^\s*rule (\w+):(?:\n(?!\s*rule[ :]).*)*?\n\s+gpu=1", rules, re.M)}
    assert gpu_rules and gpu_rules <= set(plan.GPU_RULES), gpu_rules - set(plan.GPU_RULES)


def test_plan_uses_the_throughput_measured_by_a_finished_study(tmp_path, capsys, monkeypatch):
    """--benchmarks: the rate is the searches' work (their resolved config, folds.json, HDF5 label counts) over
    their benchmarked wall time: 10 epochs x (training epochs + 2 x 3 children x validation epochs x FORWARD_SHARE
    for scoring; all validation epochs fit one minibatch) in 100 s."""
    from neonas.store.h5io import Recording, write_recording
    from neonas.store.splits import write_folds

    wd = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wd)
    study = Path("results/pilot")
    paths = []
    for i, (name, n) in enumerate((("a", 20), ("b", 30), ("c", 20), ("d", 5))):
        labels = np.zeros(n + 4, dtype=np.int8)
        labels[:4] = -1  # unlabelled epochs do not count
        rec = Recording(name, np.zeros((n + 4, 1, 30), np.float32), labels, np.arange(n + 4) * 30.0,
                        np.zeros(n + 4, np.uint8), 1.0, ["Cz"], ["AS", "QS", "W", "IS"], 30.0, f"{i:064x}")
        write_recording(study / "h5" / f"{name}.h5", rec)
        paths.append(str(study / "h5" / f"{name}.h5"))
    folds = write_folds(paths, study / "folds.json", "loo", 4, 1, 0)
    fold = next(f for f in folds["folds"] if f["test"] == ["d"])
    size = {"a": 20, "b": 30, "c": 20}
    n_train, n_val = sum(size[i] for i in fold["train"]), sum(size[i] for i in fold["val"])
    search = {"training": {"epochs": 10, "val_batch_size": 128}, "controller": {"train_steps": 2, "num_aggregate": 3}}
    (study / "config/search/nas").mkdir(parents=True)
    (study / "config/search/nas/x.yaml").write_text(yaml.safe_dump(search))
    bench = study / f"benchmarks/search/nas/x/seed0/fold{fold['fold']}.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tmax_rss\n100.0\t0:01:40\t500\n")
    out = run_plan(capsys, "--config", "study=pilot", "--benchmarks", str(study / "benchmarks"))
    rate = 10 * (n_train + 2 * 3 * n_val * plan.FORWARD_SHARE) / 100  # train b + c, val a: 10 x (50 + 48) / 100 s
    assert f"throughput: {rate:,.1f} training samples/s per GPU job (measured: 1 search jobs" in out
    # the same search in a pack job of 2 (search.pack: 2) that took 120 s: its share of the GPU job is 60 s
    bench.write_text("s\tpack\tpack_s\n100.0\t2\t120.0\n")
    out = run_plan(capsys, "--config", "study=pilot", "--benchmarks", str(study / "benchmarks"))
    assert f"throughput: {rate * 100 / 60:,.1f} training samples/s per GPU job" in out


def test_readme_plan_works_on_a_fresh_clone_for_a_stated_cohort_size(tmp_path, capsys, monkeypatch):
    """The template sheet of config/thesis.yaml lists 3 example rows (no files): without --infants plan says why
    k = 10 folds cannot be made and how to plan anyway; with --infants 30 it plans 30 infants of the assumed
    hours, with the CPU-rate caveat (no GPU pilot given)."""
    wd = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wd)
    assert main(["plan", "--configfile", "config/thesis.yaml"]) == 2
    assert "plan for the cohort you will have with --infants N" in capsys.readouterr().err
    out = run_plan(capsys, "--configfile", "config/thesis.yaml", "--infants", "30")
    hours = plan.PlanConfig().assumed_hours
    assert f"30 infants, {30 * int(hours * 120)} EEG epochs" in out and "--infants 30, assumed" in out
    assert "NOTE: no GPU was measured" in out


def test_plan_prices_a_packed_study_from_a_gpu_pilot(tmp_path, capsys, monkeypatch):
    """search.pack = retrain.pack = 4: a quarter of the search and retrain jobs. Without a pilot the same
    GPU-hours (no gain assumed, said so); with bench/bench_gpu.py's gpu_bench.json the pack job's measured rate:
    3x the rate of one search per job gives a third of the GPU-hours."""
    import json

    wd = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wd)
    args = ["--configfile", "config/thesis.yaml", "--infants", "10"]
    one = table(run_plan(capsys, *args))
    packed_out = run_plan(capsys, *args, "--config", "search={pack: 4}", "retrain={pack: 4}")
    packed = table(packed_out)
    assert int(packed["search"][0]) * 4 >= int(one["search"][0]) > int(packed["search"][0]) * 3
    assert int(packed["retrain"][0]) * 4 >= int(one["retrain"][0]) > int(packed["retrain"][0]) * 3
    assert packed["search"][2] == one["search"][2] and "packing priced at no throughput gain" in packed_out
    pilot = tmp_path / "gpu_bench.json"
    pilot.write_text(json.dumps({"device": "test GPU", "rows": [
        {"pack": 1, "bf16": True, "samples_per_second": 1000.0}, {"pack": 4, "bf16": True, "samples_per_second": 3000.0},
        {"pack": 4, "bf16": False, "samples_per_second": 2000.0}]}))
    fast_out = run_plan(capsys, *args, "--config", "search={pack: 4}", "retrain={pack: 4}", "--benchmarks", str(pilot))
    fast, slow = table(fast_out), table(run_plan(capsys, *args, "--benchmarks", str(pilot)))
    gpu_h = {name: float(t["search"][2].replace(",", "")) for name, t in (("fast", fast), ("slow", slow))}
    assert gpu_h["fast"] == pytest.approx(gpu_h["slow"] / 3, rel=0.01)
    assert "GPU pilot" in fast_out and "NOTE: no GPU" not in fast_out
    assert main(["plan", *args, "--config", "search={pack: 8}", "--benchmarks", str(pilot)]) == 2
    assert re.search(r"measured packs \[1, 4\].*--packs 1,8", capsys.readouterr().err)


# --- issue 24: plan never crashes, and its counts are the docs' ----------------------------------------------


@pytest.mark.shared
def test_plan_of_the_dreams_study_prints_an_estimate(tmp_path, capsys, caplog, monkeypatch):
    """config/dreams.yaml says to price the study with plan; MNE's read_raw sent its .txt files to the BOXY reader
    (an AssertionError). Read as preprocess reads them: 8 excerpts of 1800 s at the sheet's declared rates."""
    shared_file("dreams-spindles", "excerpt1.txt")
    wd = copy_workflow(tmp_path / "wf")
    (tmp_path / "shared").symlink_to(SHARED_DATA.parent)  # the sheet's ../shared/data, as beside a clone
    monkeypatch.chdir(wd)
    out = run_plan(capsys, "--configfile", "config/dreams.yaml")
    assert "study 'dreams': 8 infants, 720 EEG epochs of 20 s in all (per infant 90-90; from header: 8)" in out, out
    assert ("3 searches per seed and fold (2 reward settings of the NAS arm + the random-search arm) x 2 seeds x 8 "
            "folds = 48 searches") in out
    assert int(table(out)["search"][0]) == 48 and "total" in table(out)
    assert "WARNING" not in caplog.text


def test_plan_warns_once_per_unreadable_recording_and_goes_on(tmp_path, capsys, caplog, monkeypatch):
    """Two readable EDF files and four that are not (missing, garbage EDF, garbage BrainVision, a text file
    without its rate): one warning line each, naming the file; those infants are planned at the assumed length."""
    wd = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wd)
    good = write_edfs(tmp_path / "edf", [10, 20])
    (tmp_path / "bad.edf").write_bytes(b"0       not an EDF header" * 20)
    (tmp_path / "bad.vhdr").write_text("Brain Vision Data Exchange Header File Version 1.0\n[Common Infos]\n")
    (tmp_path / "norate.txt").write_text("[C3]\n" + "\n".join("1.0" for _ in range(100)) + "\n")
    bad = [tmp_path / "missing.edf", tmp_path / "bad.edf", tmp_path / "bad.vhdr", tmp_path / "norate.txt"]
    sheet = tmp_path / "sheet.tsv"
    rows = ["infant_id\teeg_path\tlabels_path\tlabel_format\tpma_weeks"]
    rows += [f"i{n}\t{p}\t\tannotations\t40" for n, p in enumerate([*good, *bad])]
    sheet.write_text("\n".join(rows) + "\n")
    out = run_plan(capsys, "--config", f"cohort={sheet}", "synthetic={enabled: false}")
    hours = plan.PlanConfig().assumed_hours
    assert "6 infants" in out and f"assumed {hours:g} h: 4, header: 2" in out and "total" in table(out)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "neonas.study.plan"]
    assert len(warnings) == 4, warnings
    for path, message in zip(bad, warnings, strict=True):
        assert str(path) in message and "\n" not in message and message.endswith("planned at the assumed length")
    assert "text_sfreq_hz" in warnings[3]


def test_thesis_counts_agree_in_config_header_docs_and_plan(tmp_path, capsys, monkeypatch):
    """docs/cluster.md once said 17 reward settings and 1,800 searches, thesis.yaml's header 19 and 2,000, and plan
    printed '20 arms/settings'. Searches per seed and fold = the NAS arm's reward settings + the random arm."""
    wd = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wd)
    out = run_plan(capsys, "--configfile", "config/thesis.yaml", "--infants", "30")
    m = re.search(r"(\d+) searches per seed and fold \((\d+) reward settings of the NAS arm \+ the random-search "
                  r"arm\) x (\d+) seeds x (\d+) folds = ([\d,]+) searches", out)
    assert m, out
    per, settings, seeds, folds, searches = (int(g.replace(",", "")) for g in m.groups())
    thesis = yaml.safe_load((REPO / "config/thesis.yaml").read_text())
    assert settings == len(thesis["rewards"]) and per == settings + 1 and searches == per * seeds * folds
    models = searches * thesis["derive"]["top_k"]
    assert int(table(out)["search"][0]) == int(table(out)["retrain"][0]) == searches
    header = " ".join(line.lstrip("# ") for line in (REPO / "config/thesis.yaml").read_text().splitlines()
                      if line.startswith("#"))
    docs = " ".join((REPO / "docs/cluster.md").read_text().split())
    for text in (header, docs):
        assert f"{settings} reward settings" in text and f"{searches:,} searches" in text
        assert f"{models:,} retrained models" in text and f"{seeds * folds:,} baseline models" in text
        assert f"{per} searches per seed and fold ({settings} settings + random)" in text
