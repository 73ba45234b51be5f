"""The study workflow on real adult recordings: config/dreams.yaml (the DREAMS text excerpts in ../shared, read as
they are: the `dreams` preset, `neonas cohort --dreams`, excerpt 8 with its own grid start), shrunk to 3 excerpts,
one fold and tiny budgets, through folds, a short search, retraining (searched and hand-designed nets on 1
channel), the final model and summary.html. The report must leave out spatial statistics, and its answer to "did
the controller learn" must judge the policy against the space the search offered on 1 channel (issue 17)."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml

from conftest import shared_file
from neonas.cli import main
from wfutil import copy_workflow, snakemake

pytestmark = [pytest.mark.shared, pytest.mark.slow]

EXCERPTS = ("excerpt1", "excerpt3", "excerpt8")  # 100, 50 and 200 Hz; excerpt 8 scored from t = 10 s
TINY = {  # on top of config/dreams.yaml
    "folds": {"run": [0]},
    "seeds": [0],
    "rewards": [{"name": "identity", "reward": {"name": "identity"}}],
    "arms": {"nas": True, "random": False, "handcrafted": True},
    "search": {"training": {"epochs": 1, "batch_size": 32, "warmup_epochs": 0}, "space": {"n_layers": 2, "filters": 4},
               "controller": {"train_steps": 2}},
    "derive": {"samples": 2, "top_k": 1},
    "retrain": {"epochs": 2, "patience": 2},
    # the fidelity job runs on real data, at a budget that only exercises it (dreams.yaml's would cost ~260
    # child-epochs); its verdict at that budget is not what this test asks
    "fidelity": {"panel_samples": 1, "standalone_seeds": 2, "standalone_epochs": 1},
}


def test_dreams_cohort_through_the_workflow(tmp_path):
    folder = shared_file("dreams-spindles", "excerpt8.txt").parent
    wd = copy_workflow(tmp_path / "wf")
    sheet = wd / "config/cohort-dreams.tsv"  # the sheet config/dreams.yaml names, made as its header says
    assert main(["cohort", "--dreams", str(folder), "--out", str(sheet)]) == 0
    rows = [r for r in csv.DictReader(sheet.open(), delimiter="\t") if r["infant_id"] in EXCERPTS]
    assert [r["infant_id"] for r in rows] == list(EXCERPTS)
    assert "grid_start_s=10" in rows[2]["overrides"] and "grid_start_s" not in rows[0]["overrides"]
    with sheet.open("w") as f:  # three of the eight excerpts: train, validation, test
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    res = wd / "results/dreams"
    snakemake(wd, "results/dreams/report/tab_archstats.csv", "results/dreams/summary.html", "--cores", "2",
              "--configfile", "config/dreams.yaml", str(tmp_path / "tiny.yaml"), timeout=900)

    folds = json.loads((res / "folds.json").read_text())
    assert sorted(folds["files"]) == sorted(EXCERPTS) and all(len(s) == 64 for s in folds["source_sha256"].values())
    from neonas.store.h5io import read_recording

    rec8 = read_recording(res / "h5/excerpt8.h5", load_eeg=False)
    assert rec8.ch_names == ["central"] and rec8.sfreq == 50.0 and rec8.epoch_s == 20.0
    assert rec8.onset_s[0] % 20 == 10  # its own grid: 10 s, 30 s, ...
    assert rec8.preprocess_config["grid_start_s"] == 10
    for run in ("nas/identity", "handcrafted/reference"):
        m = json.loads((res / f"retrain/{run}/seed0/fold0/rank0/metrics.json").read_text())
        assert m["test_ids"] == folds["folds"][0]["test"] and m["n_epochs"] > 80
    summary = json.loads((res / "search/nas/identity/seed0/fold0/summary.json").read_text())
    removed = summary["removed_ops"]  # ops that see only zero padding on 1 channel (the engine drops them)
    assert removed
    with open(res / "report/tab_archstats.csv") as f:
        table = list(csv.DictReader(f))
    assert table and "Span" not in table[0] and "Dilation" not in table[0]  # meaningless on 1 channel
    nas = [r for r in table if "NAS" in r.get("Method", "")]
    assert nas and all("left out: the montage has 1 channel(s)" in r["Note"] for r in nas)
    assert all(f"{len(removed)} op(s) removed from the space for the 1-channel montage" in r["Note"] for r in nas)
    # issue 16: on 1 channel the space is mostly duplicates; the controller sees each distinct function once
    assert summary["offered_ops"] == ["conv s1 d1 t3", "conv s1 d1 t5", "conv s1 d1 t7", "maxpool", "avgpool"]
    assert sorted(summary["merged_ops"]["conv s1 d1 t5"]) == ["conv s2 d1 t5", "conv s3 d1 t5", "conv s3 d2 t5",
                                                              "conv s3 d4 t5"]
    log = (res / "logs/search/nas/identity/seed0/fold0.log").read_text()
    assert "compute the same function as conv s1 d1 t5" in log and "among 5 distinct op(s)" in log
    from neonas.engine.space import op_label

    with open(res / "search/nas/identity/seed0/fold0/children.csv") as f:
        used = {op_label(layer) for r in csv.DictReader(f) for layer in json.loads(r["arch"])["layers"]}
    assert used and used <= set(summary["offered_ops"])

    # did the controller learn? 2 updates cannot move it: judged against the uniform policy over the ops the
    # search offered (2 ln 5 + ln 2 = 3.91 nats on 1 channel: 3 distinct convs, 2 pools), not the full space's (2 ln 23 + ln 2 = 6.96)
    from neonas.study.checks import uniform_entropy

    full = uniform_entropy(summary["config"]["space"])
    assert math.isclose(full, 2 * math.log(23) + math.log(2))
    assert summary["uniform_entropy"] < full - 0.5
    with open(res / "search/nas/identity/seed0/fold0/epochs.csv") as f:
        entropy = float(list(csv.DictReader(f))[-1]["entropy"])
    assert entropy / summary["uniform_entropy"] > 0.95 and entropy / full < 0.95  # main called this "learned"
    verdicts = json.loads((res / "aggregate/verdicts.json").read_text())
    assert verdicts["learning"].startswith("No: NAS identity: 1 of 1 run(s) at uniform"), verdicts["learning"]
    page = (res / "summary.html").read_text()
    assert "No: NAS identity: 1 of 1 run(s) at uniform" in page
    assert "planted cue" not in page  # a real cohort: nothing planted to ask about
