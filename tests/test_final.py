"""`neonas final` (the chosen architecture trained on all infants), predictions.tsv beside metrics.json, and
byte-identical model.pt / final.pt / checkpoint.pt from identical runs."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from finalstudy import ARCH, FAST, build_study
from finalstudy import metrics_files as _metrics
from finalstudy import retrain_run as _retrain
from learnable import EPOCH_S
from neonas.cli import main
from neonas.engine.space import arch_hash
from neonas.store.h5io import read_recording

pytestmark = pytest.mark.usefixtures("one_torch_thread")
study = pytest.fixture(scope="module")(build_study)


def _final(study: Path, out: Path, *extra: str) -> dict:
    assert main(["final", "--metrics", *_metrics(study), "--folds", str(study / "folds.json"), *FAST,
                 "--device", "cpu", "--out", str(out), *extra]) == 0
    return json.loads((out / "choice.json").read_text())


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_predictions_tsv_agrees_with_metrics_and_the_recording(study):
    run = study / "retrain/nas/fold0"
    m = json.loads((run / "metrics.json").read_text())
    rows = _rows(run / "predictions.tsv")
    labels = m["label_names"]
    assert list(rows[0]) == ["infant", "epoch", "onset_s", "true_stage", "predicted_stage", *(f"p_{s}" for s in labels)]
    assert len(rows) == m["n_epochs"] and {r["infant"] for r in rows} == set(m["test_ids"])
    # the confusion matrix of metrics.json, counted again from the rows
    confusion = np.zeros((len(labels), len(labels)), int)
    for r in rows:
        confusion[labels.index(r["true_stage"]), labels.index(r["predicted_stage"])] += 1
    assert confusion.tolist() == m["confusion"]
    for r in rows:
        p = np.array([float(r[f"p_{s}"]) for s in labels])
        assert p.sum() == pytest.approx(1.0, abs=1e-5) and (p >= 0).all()
        assert p[labels.index(r["predicted_stage"])] == pytest.approx(p.max(), abs=1e-6)
    # epoch indexes the infant's recording (unlabelled epochs skipped), onset in seconds
    rec = read_recording(json.loads((study / "folds.json").read_text())["files"][m["test_ids"][0]])
    epochs = [int(r["epoch"]) for r in rows]
    assert epochs == sorted(epochs) and epochs == np.flatnonzero(rec.labels >= 0).tolist()
    for r in rows:
        e = int(r["epoch"])
        assert float(r["onset_s"]) == pytest.approx(e * EPOCH_S) and rec.label_names[rec.labels[e]] == r["true_stage"]


def test_evaluate_writes_predictions_beside_its_metrics(study, tmp_path):
    run = study / "retrain/handcrafted/fold0"
    out = tmp_path / "metrics_val.json"
    assert main(["evaluate", "--model", str(run / "model.pt"), "--folds", str(study / "folds.json"), "--fold", "0",
                 "--split", "val", "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    rows = _rows(tmp_path / "predictions_val.tsv")
    assert {r["infant"] for r in rows} == set(m["test_ids"]) and len(rows) == m["n_epochs"]
    assert m["train_seconds"] is not None and m["train_seconds"] > 0  # from history.csv: model.pt holds no timings


def _zip_names(path: Path) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(path.read_bytes())).namelist()


def test_identical_retrains_write_identical_model_pt(study, tmp_path):
    again = _retrain(study, tmp_path / "again", 0, ["--arch", str(study / "arch.json")])
    first = study / "retrain/nas/fold0/model.pt"
    assert all(n.startswith("archive/") for n in _zip_names(first))  # no temporary file name inside
    assert (again / "model.pt").read_bytes() == first.read_bytes()
    assert (again / "predictions.tsv").read_text() == (study / "retrain/nas/fold0/predictions.tsv").read_text()
    # and the comparison can fail: another seed gives other weights, other bytes
    other = _retrain(study, tmp_path / "other", 0, ["--arch", str(study / "arch.json")], seed=1)
    assert (other / "model.pt").read_bytes() != first.read_bytes()


def test_final_by_kappa_trains_the_best_architecture_on_every_infant(study, tmp_path, capsys):
    doc = _final(study, tmp_path / "final", "--choose", "kappa")
    kappas = {}
    for f in _metrics(study):
        m = json.loads(Path(f).read_text())
        kappas.setdefault(m["arch_hash"], []).append(m["kappa"])
    best = max(kappas, key=lambda h: np.mean(kappas[h]))
    assert doc["method"] == doc["requested"] == "kappa" and doc["fallback_reason"] is None
    assert doc["arch_hash"] == best and sum(c["chosen"] for c in doc["candidates"]) == 1
    cands = {c["arch_hash"]: c for c in doc["candidates"]}
    assert set(cands) == {arch_hash(ARCH), "handcrafted"}  # the hand-designed net is a candidate
    assert cands[arch_hash(ARCH)]["n_runs"] == 2 and cands[arch_hash(ARCH)]["n_folds"] == 2
    assert cands[arch_hash(ARCH)]["mean_kappa"] == pytest.approx(np.mean(kappas[arch_hash(ARCH)]))
    assert cands["handcrafted"]["sources"] == "handcrafted:reference"
    ckpt = torch.load(tmp_path / "final/model.pt", weights_only=True)
    infants = sorted(json.loads((study / "folds.json").read_text())["files"])
    assert sorted(ckpt["train_ids"] + ckpt["val_ids"]) == infants and len(ckpt["val_ids"]) == 1
    assert ckpt["test_ids"] == [] and ckpt["arch_hash"] == best and doc["train_ids"] == ckpt["train_ids"]
    assert (tmp_path / "final/history.csv").exists()
    # the architecture's fold results, for the model card (neonas export reads {"runs": [...]} beside model.pt)
    runs = json.loads((tmp_path / "final/metrics.json").read_text())["runs"]
    assert sorted(r["kappa"] for r in runs) == sorted(kappas[best]) and {r["arch_hash"] for r in runs} == {best}
    # `neonas inspect` says it is the final model: no fold, no test metrics of its own (not another model's)
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "final/model.pt")]) == 0
    out = capsys.readouterr().out
    assert "fold None" not in out and "metrics     fold" not in out
    assert "the study's final model: every infant, no fold" in out and "no test metrics of its own" in out
    assert f"mean test kappa {np.mean(kappas[best]):.3f} over {len(kappas[best])} run(s)" in out
    # and identical reruns give identical bytes
    _final(study, tmp_path / "again", "--choose", "kappa")
    assert (tmp_path / "again/model.pt").read_bytes() == (tmp_path / "final/model.pt").read_bytes()


def _yardstick(path: Path, scores: dict[str, float]) -> Path:
    """A yardstick file as `neonas yardstick` writes it (docs/contracts.md), with chosen scores."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arm", "setting", "seed", "fold", "source", "rank", "arch_hash", "arch", "metric_name", "metric",
                    "constant"])
        for i, (h, s) in enumerate(scores.items()):
            arch = ARCH if h == arch_hash(ARCH) else {"layers": []}
            w.writerow(["nas", "plain", 0, 0, "top", i, h, json.dumps(arch), "kappa", s, 0])
    return path


def test_final_by_yardstick_and_its_fallback(study, tmp_path, caplog):
    ours, unseen = arch_hash(ARCH), "0123456789ab"  # an architecture on the yardstick that was never retrained
    yard = _yardstick(tmp_path / "yardstick/seed0/fold0.csv", {ours: 0.61, unseen: 0.99})
    (tmp_path / "yardstick/seed0/fold0_sanity.csv").write_text("net,metric\npair,0.5\n")  # not a yardstick table
    doc = _final(study, tmp_path / "by_yardstick", "--choose", "yardstick", "--yardstick", str(tmp_path / "yardstick"))
    assert doc["method"] == "yardstick" and doc["arch_hash"] == ours and "yardstick" in doc["why"]
    cands = {c["arch_hash"]: c for c in doc["candidates"]}
    assert cands[ours]["yardstick_mean"] == pytest.approx(0.61) and cands[ours]["eligible"]
    assert not cands["handcrafted"]["eligible"]  # never on the yardstick
    # no yardstick files: kappa, with the reason logged and written
    doc = _final(study, tmp_path / "fallback", "--choose", "yardstick", "--yardstick", str(tmp_path / "absent"))
    assert doc["requested"] == "yardstick" and doc["method"] == "kappa"
    assert "no yardstick files" in doc["fallback_reason"] and "absent" in doc["fallback_reason"]
    assert "choosing by mean test kappa instead" in caplog.text
    # summary.html names the choice, the reason and the fallback (neonas summary --final)
    from neonas.study.finalchoice import choice_html

    page = choice_html(tmp_path / "fallback")
    assert doc["arch_hash"] in page and "best mean test kappa" in page and "Asked for <b>yardstick</b>" in page
    assert page.index(doc["arch_hash"]) < page.index("<table>")  # named before the candidates table
    # a file that is not a yardstick file is an error, not a silent fallback
    yard.write_text("a,b\n1,2\n")
    assert main(["final", "--metrics", *_metrics(study), "--folds", str(study / "folds.json"), "--choose", "yardstick",
                 "--yardstick", str(yard), "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


# a tiny search (as in tests/test_search.py), run twice
SEARCH = {
    "space": {"n_layers": 2, "filters": 4, "spans": [1, 2], "dilations": [1, 4], "time_kernels": [3, 5],
              "stem_stride": 2, "stem_pool": 2},
    "controller": {"lstm_size": 16, "train_steps": 2, "num_aggregate": 2},
    "reward": {"name": "sigmoid", "metric": "kappa", "threshold": 0.3, "steepness": 8.0},
    "training": {"epochs": 2, "batch_size": 32, "val_batch_size": 16},
}


def test_identical_searches_write_identical_final_pt_and_checkpoints(study, tmp_path):
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(SEARCH))
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ["search", "--folds", str(study / "folds.json"), "--fold", "0", "--config", str(tmp_path / "search.yaml"),
                "--seed", "3", "--device", "cpu", "--out"]
        assert main([*args, str(out / "stopped"), "--stop-after-epochs", "1"]) != 0  # leaves checkpoint.pt
        assert main([*args, str(out / "done")]) == 0
        runs.append(out)
    a, b = runs
    assert (a / "done/final.pt").read_bytes() == (b / "done/final.pt").read_bytes()
    ca, cb = (next((r / "stopped").rglob("checkpoint.pt")) for r in runs)
    names = _zip_names(ca)
    assert names == _zip_names(cb) and all(n.startswith("archive/") for n in names)
    # the checkpoint stores the wall-clock time so far (for --resume): that (in data.pkl, and so the content
    # hash torch stores as serialization_id), and only that, may differ
    za, zb = (zipfile.ZipFile(io.BytesIO(c.read_bytes())) for c in (ca, cb))
    assert {n for n in names if za.read(n) != zb.read(n)} <= {"archive/data.pkl", "archive/.data/serialization_id"}
    sa, sb = (torch.load(c, weights_only=False) for c in (ca, cb))
    sa.pop("wall_seconds"), sb.pop("wall_seconds")
    assert _same(sa, sb)


def _same(x, y) -> bool:
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and torch.equal(x, y)
    if isinstance(x, np.ndarray):
        return isinstance(y, np.ndarray) and np.array_equal(x, y)
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple):
        return type(x) is type(y) and len(x) == len(y) and all(_same(u, v) for u, v in zip(x, y, strict=True))
    return x == y


def test_aggregate_reads_only_the_best_models_predictions_for_the_hypnogram(study, tmp_path):
    from neonas.study.figures import save
    from neonas.study.hypnogram import best_predictions, hypnogram_figure
    from neonas.study.runs import read_metrics

    files = _metrics(study)
    metrics = read_metrics(files)
    best = max(files, key=lambda f: (json.loads(Path(f).read_text())["kappa"], json.loads(Path(f).read_text())["accuracy"]))
    others = [Path(f).with_name("predictions.tsv") for f in files if f != best]
    saved = {p: p.read_bytes() for p in others}
    try:
        for p in others:  # unreadable: the hypnogram must not need them
            p.write_text("not a predictions file\n")
        table = best_predictions(metrics)
    finally:
        for p, data in saved.items():
            p.write_bytes(data)
    m = json.loads(Path(best).read_text())
    assert table["kappa"].unique().tolist() == [m["kappa"]] and table["infant"].unique().tolist() == m["test_ids"]
    rows = _rows(Path(best).with_name("predictions.tsv"))
    assert table["predicted_stage"].tolist() == [r["predicted_stage"] for r in rows]
    assert save(hypnogram_figure(table), tmp_path / "fig_hypnogram")[1].stat().st_size > 0
    # a short recording (minutes) is drawn in minutes, a night in hours
    assert table["onset_s"].max() < 3600
    assert hypnogram_figure(table).axes[1].get_xlabel() == "time from recording start (min)"
    night = table.assign(onset_s=table["onset_s"] * 100)
    assert hypnogram_figure(night).axes[1].get_xlabel() == "time from recording start (h)"
    # runs from before predictions.tsv existed: an empty table, and a figure that says why
    Path(best).with_name("predictions.tsv").rename(tmp_path / "moved.tsv")
    try:
        assert best_predictions(metrics).empty
    finally:
        (tmp_path / "moved.tsv").rename(Path(best).with_name("predictions.tsv"))


def test_final_refuses_bad_input_with_one_line(study, tmp_path, capsys):
    base = ["final", "--folds", str(study / "folds.json"), "--out", str(tmp_path / "out")]
    cases = [
        (["--metrics", str(tmp_path / "nope.json")], "metrics file not found", str(tmp_path / "nope.json")),
        (["--metrics", *_metrics(study), "--n-val", "5"], "1 <= n_val < number of infants (5)", "folds.json"),
        (["--metrics", str(study / "folds.json")], "missing ['arch_hash', 'arch', 'kappa']", "folds.json"),
    ]
    for extra, message, names in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err and names in err, err
        assert not (tmp_path / "out").exists()


# --- issue 23: a final architecture chosen without the test infants; issue 24: a final model that says how good ---


def _history_val_kappa(run: Path, epoch: int) -> float:
    with open(run / "history.csv", newline="") as f:
        return float(next(r for r in csv.DictReader(f) if int(r["epoch"]) == epoch)["val_kappa"])


@pytest.fixture(scope="module")
def by_validation(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("by_validation") / "final"
    _final(study, out)  # the default: choose validation, 3 selection seeds, trained here (no --selection)
    return out


def test_final_by_validation_chooses_on_validation_infants_only(study, by_validation, tmp_path):
    from neonas.training.selection import read_scores

    doc = json.loads((by_validation / "choice.json").read_text())
    assert doc["method"] == doc["requested"] == "validation"
    rows = read_scores(sorted(str(p) for p in by_validation.glob("select/fold*")))
    ours = arch_hash(ARCH)
    assert {(r["arch_hash"], r["fold"]) for r in rows} == {(ours, 0), (ours, 1), ("handcrafted", 0)}
    assert sorted(r["seed"] for r in rows if r["arch_hash"] == ours and r["fold"] == 0) == [0, 1, 2]
    folds = json.loads((study / "folds.json").read_text())["folds"]
    for r in rows:  # each score: the validation kappa of that training's kept epoch, on the fold's validation infants
        run = (study / f"retrain/{'handcrafted' if r['arch_hash'] == 'handcrafted' else 'nas'}/fold{r['fold']}"
               if r["reused"] == "1" else by_validation / f"select/fold{r['fold']}/{r['arch_hash']}/seed{r['seed']}")
        m = json.loads((run / "metrics.json").read_text())
        assert r["val_kappa"] == pytest.approx(_history_val_kappa(run, m["best_epoch"]))
        assert r["val_ids"].split() == folds[r["fold"]]["val"] and r["test_kappa"] == pytest.approx(m["kappa"])
    assert {r["reused"] for r in rows if r["seed"] == 0} == {"1"}  # the study's own seed-0 runs, not trained twice
    mean = {h: np.mean([r["val_kappa"] for r in rows if r["arch_hash"] == h]) for h in (ours, "handcrafted")}
    assert doc["arch_hash"] == max(mean, key=mean.get)
    cands = {c["arch_hash"]: c for c in json.loads((by_validation / "selection.json").read_text())["candidates"]}
    assert cands[ours]["n_runs"] == 6 and cands[ours]["interval_over"] == "folds"
    assert cands["handcrafted"]["interval_over"] == "seeds" and cands["handcrafted"]["ci_low"] is not None
    win = cands[doc["arch_hash"]]
    assert win["chosen"] and win["optimism"] == pytest.approx(win["selection_kappa"] - win["held_out_kappa"])
    assert (by_validation / "selection.csv").read_text().splitlines()[1].startswith(doc["arch_hash"])
    # the test scores do not choose: the loser's test kappa raised to 1 in every row, the same choice
    loser = min(mean, key=mean.get)
    edited = []
    for p in sorted(by_validation.glob("select/fold*/scores.csv")):
        text = [dict(r) for r in csv.DictReader(open(p, newline=""))]
        for r in text:
            r["test_kappa"] = "1.0" if r["arch_hash"] == loser else r["test_kappa"]
        edited.append(tmp_path / p.parent.name / "scores.csv")
        edited[-1].parent.mkdir()
        with open(edited[-1], "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(text[0]))
            w.writeheader()
            w.writerows(text)
    again = _final(study, tmp_path / "again", "--selection", *map(str, edited))
    assert again["arch_hash"] == doc["arch_hash"] and again["selection"]["optimism"]["chosen"] is not None


def test_final_model_says_how_good_it_is(study, by_validation, tmp_path, capsys):
    """Its own validation kappa at the kept epoch (choice.json, metrics.json, model card, summary block), the fold
    models' estimate named as such, and a score on a recording from outside the study."""
    from neonas.study.finalchoice import choice_html
    from neonas.training.final import FAR_BELOW, flags

    doc = json.loads((by_validation / "choice.json").read_text())
    ckpt = torch.load(by_validation / "model.pt", weights_only=True)
    v, est = doc["validation"], doc["fold_estimate"]
    assert v["best_epoch"] == ckpt["best_epoch"] and v["val_ids"] == ckpt["val_ids"]
    assert v["kappa"] == pytest.approx(_history_val_kappa(by_validation, ckpt["best_epoch"]))
    assert set(v["per_class_recall"]) == set(ckpt["label_names"])
    assert est["kappa"] == pytest.approx(np.mean([r["kappa"] for r in doc["runs"]])) and est["n_runs"] == len(doc["runs"])
    metrics = json.loads((by_validation / "metrics.json").read_text())
    assert metrics["kind"] == "final" and metrics["validation"] == v and metrics["warnings"] == doc["warnings"]
    # far below the fold estimate: flagged; within FAR_BELOW: not
    assert flags({**v, "kappa": est["kappa"] - FAR_BELOW - 0.01}, est) and not flags({**v, "kappa": est["kappa"] - 0.05}, est)
    # an unseen recording (another seed): scored; a training infant: refused
    from learnable import make_recording
    from neonas.store.h5io import write_recording

    unseen = [str(tmp_path / "new01.h5")]
    write_recording(unseen[0], make_recording("new01", 9001, n_epochs=32))
    assert main(["score", "--model", str(by_validation / "model.pt"), "--h5", *unseen,
                 "--out", str(by_validation / "unseen.json")]) == 0
    u = json.loads((by_validation / "unseen.json").read_text())
    labels = read_recording(unseen[0]).labels
    assert u["n_epochs"] == int((labels >= 0).sum()) == int(np.sum(u["confusion"])) and u["infant_ids"] == ["new01"]
    assert set(u["per_class_recall"]) == set(ckpt["label_names"])
    train_file = json.loads((study / "folds.json").read_text())["files"][ckpt["train_ids"][0]]
    capsys.readouterr()
    assert main(["score", "--model", str(by_validation / "model.pt"), "--h5", train_file]) == 2
    assert "the model trained or stopped early on" in capsys.readouterr().err
    # the model card: this model's metrics, then the fold models' estimate, labelled as other models
    assert main(["export", "--model", str(by_validation / "model.pt"), "--format", "torchscript",
                 "--out", str(by_validation)]) == 0
    card = (by_validation / "model_card.md").read_text()
    assert "## This model's metrics" in card and "## Test metrics" not in card
    assert f"kappa {v['kappa']:.3f}" in card and f"kappa {u['kappa']:.3f}" in card
    assert "## Estimate from the folds (other models of this architecture)" in card
    assert "held-out infants of that fold model" in card
    page = choice_html(by_validation)
    assert f"its own validation kappa <b>{v['kappa']:.3f}</b>" in page and f"kappa <b>{u['kappa']:.3f}</b>" in page
    assert "optimism of the selection" in page and "selection: mean validation kappa" in page
