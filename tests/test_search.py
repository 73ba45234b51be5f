"""`neonas search` and `neonas derive` end to end on small real HDF5 files: outputs, exact resume
(after --stop-after-epochs and after a real SIGTERM), random search with the same budget, errors."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from neonas import NEONATAL_STAGES
from neonas.cli import main
from neonas.engine.search import CHILD_COLUMNS, EPOCH_COLUMNS, EXIT_RESUMABLE, RUNTIME_ONLY
from neonas.engine.space import arch_hash
from neonas.store.h5io import Recording, write_recording
from neonas.store.splits import write_folds

torch.set_num_threads(1)

# a tiny search: 2 layers, 4 filters, 3 controller steps x 2 children per epoch
CONFIG = {
    "space": {"n_layers": 2, "filters": 4, "spans": [1, 2], "dilations": [1, 4], "time_kernels": [3, 5],
              "stem_stride": 2, "stem_pool": 2},
    "controller": {"lstm_size": 16, "train_steps": 3, "num_aggregate": 2},
    "reward": {"name": "sigmoid", "metric": "kappa", "threshold": 0.3, "steepness": 8.0},
    "training": {"epochs": 4, "batch_size": 32, "val_batch_size": 16},
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """6 infants x 24 labelled epochs of 9 channels x 128 samples (4 s at 32 Hz); the stage sets a sine's frequency."""
    root = tmp_path_factory.mktemp("cohort")
    paths = []
    for i in range(6):
        rng = np.random.default_rng(i)
        y = rng.integers(0, 4, 24)
        t = np.arange(128) / 32.0
        x = rng.normal(0, 1, (24, 9, 128)) + np.sin(2 * np.pi * (1 + 2 * y)[:, None, None] * t)
        rec = Recording(f"inf{i}", x.astype(np.float32), y.astype(np.int8), np.arange(24) * 4.0,
                        np.zeros(24, np.uint8), 32.0, [f"ch{c}" for c in range(9)], list(NEONATAL_STAGES), 4.0)
        write_recording(root / f"inf{i}.h5", rec)
        paths.append(str(root / f"inf{i}.h5"))
    doc = write_folds(paths, root / "folds.json", "loo", 5, 1, 0)
    # the test infant of fold 0 is never read: remove its file
    os.remove(doc["files"][doc["folds"][0]["test"][0]])
    (root / "search.yaml").write_text(yaml.safe_dump(CONFIG))
    return root


def search(cohort: Path, out: Path, *extra: str) -> int:
    return main(["search", "--folds", str(cohort / "folds.json"), "--fold", "0", "--config",
                 str(cohort / "search.yaml"), "--seed", "3", "--out", str(out), "--device", "cpu", *extra])


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def assert_same_run(a: Path, b: Path) -> None:
    assert (a / "children.csv").read_text() == (b / "children.csv").read_text()
    drop = lambda rs: [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rs]  # noqa: E731
    assert drop(rows(a / "epochs.csv")) == drop(rows(b / "epochs.csv"))
    fa, fb = (torch.load(d / "final.pt", weights_only=False) for d in (a, b))
    for part in ("supernet", "controller"):
        if fa[part] is None:
            assert fb[part] is None
            continue
        assert fa[part].keys() == fb[part].keys()
        for k in fa[part]:
            assert torch.equal(fa[part][k], fb[part][k]), (part, k)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for s in (sa, sb):
        s.pop("wall_seconds")
        for knob in RUNTIME_ONLY:
            s["config"]["training"].pop(knob)
    assert sa == sb


@pytest.fixture(scope="module")
def straight(cohort, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight")
    assert search(cohort, out) == 0
    return out


def test_outputs_follow_the_contract(straight):
    children = rows(straight / "children.csv")
    assert list(children[0]) == CHILD_COLUMNS
    assert len(children) == 4 * 3 * 2  # epochs x train_steps x num_aggregate
    assert [int(r["step"]) for r in children] == [s for s in range(12) for _ in range(2)]
    for r in children:
        arch = json.loads(r["arch"])
        assert arch_hash(arch) == r["arch_hash"] and len(arch["layers"]) == 2
        assert r["sampler"] == "controller" and r["metric_name"] == "kappa"
        assert -1 <= float(r["metric"]) <= 1 and 0 < float(r["reward"]) < 1
        assert float(r["threshold"]) == 0.3 and r["constant"] in ("0", "1")
    epochs = rows(straight / "epochs.csv")
    assert list(epochs[0]) == EPOCH_COLUMNS and [int(e["epoch"]) for e in epochs] == [0, 1, 2, 3]
    summary = json.loads((straight / "summary.json").read_text())
    assert summary["reward_name"] == "sigmoid" and summary["reward"]["threshold"] == 0.3
    assert summary["epochs"] == 4 and summary["sampler"] == "controller" and summary["seed"] == 3
    assert summary["config"]["space"]["filters"] == 4 and summary["device"] == "cpu"
    assert summary["removed_ops"] == []  # 9 channels: every op sees the montage
    from neonas.engine.space import SpaceConfig, decisions
    full = decisions(SpaceConfig(**summary["config"]["space"]))
    assert summary["uniform_entropy"] == pytest.approx(sum(
        np.log(d.size) if d.kind == "choice" else d.size * np.log(2) for d in full))
    final = torch.load(straight / "final.pt", weights_only=False)
    assert final["controller"] is not None and final["n_samples"] == 128
    assert (straight / "checkpoint.pt").exists()


def test_resume_after_stop_is_bit_identical(cohort, straight, tmp_path):
    out = tmp_path / "run"
    assert search(cohort, out, "--stop-after-epochs", "2") == EXIT_RESUMABLE
    assert len(rows(out / "epochs.csv")) == 2 and not (out / "final.pt").exists()
    # rows written after the checkpoint (as by a job killed mid-epoch) are cut on resume
    with (out / "children.csv").open("a") as f:
        f.write("9,99,controller,deadbeef,{},kappa,0.0,0.0,0.0,0.0,0.0,0.0\n")
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert 0 < ckpt["wall_seconds"] < 1000
    ckpt["wall_seconds"] = 1000.0  # as if the first part had run for 1000 s: summary.json sums the parts
    torch.save(ckpt, out / "checkpoint.pt")
    assert search(cohort, out, "--resume") == 0
    assert_same_run(straight, out)
    assert json.loads((out / "summary.json").read_text())["wall_seconds"] > 1000


def test_max_minutes_stops_and_resume_may_change_runtime_knobs(cohort, straight, tmp_path):
    out = tmp_path / "run"
    assert search(cohort, out, "--set", "training.max_minutes=0") == EXIT_RESUMABLE
    assert (out / "checkpoint.pt").exists() and len(rows(out / "children.csv")) == 0
    assert search(cohort, out, "--resume", "--set", "training.checkpoint_every=3") == 0
    assert_same_run(straight, out)


def test_adaptive_threshold_with_warmup_resumes_bit_identically(cohort, tmp_path):
    """`--set reward.threshold=auto`: the threshold's window is in the checkpoint; warm-up epochs
    train the shared weights on uniform samples and score no children."""
    auto = ["--set", "reward.threshold=auto", "--set", "reward.window=5", "--set", "training.warmup_epochs=1"]
    straight = tmp_path / "straight"
    assert search(cohort, straight, *auto) == 0
    children = rows(straight / "children.csv")
    assert len(children) == 3 * 3 * 2 and {r["epoch"] for r in children} == {"1", "2", "3"}
    assert rows(straight / "epochs.csv")[0]["mean_metric"] == "nan"  # the warm-up epoch scored no child
    thresholds = [float(r["threshold"]) for r in children]
    metrics = [float(r["metric"]) for r in children]
    assert thresholds[:2] == [pytest.approx(float(np.quantile(metrics[:2], 0.5)))] * 2  # empty window: own update
    assert thresholds[6] == pytest.approx(float(np.quantile(metrics[1:6], 0.5)))  # the last 5 children
    assert len(set(thresholds)) > 1
    out = tmp_path / "run"
    assert search(cohort, out, *auto, "--stop-after-epochs", "2") == EXIT_RESUMABLE
    assert search(cohort, out, *auto, "--resume") == 0
    assert_same_run(straight, out)


def _dataset(n_channels: int, n: int = 24):
    from types import SimpleNamespace
    rng = np.random.default_rng(0)
    y = np.arange(n) % 4
    return SimpleNamespace(x=rng.normal(size=(n, n_channels, 128)).astype(np.float32), y=y.astype(np.int64),
                           ch_names=[f"ch{c}" for c in range(n_channels)], label_names=list(NEONATAL_STAGES),
                           n_samples=128, n_classes=4, n_channels=n_channels)


def test_small_montage_drops_dead_ops_and_a_constant_child_is_rewarded_as_chance():
    from neonas.engine.search import Search, load_config

    cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in
                             {k: CONFIG[k] for k in ("space", "controller", "reward")}.items()])
    data = _dataset(2)
    s = Search(cfg, data, data, seed=0, device=torch.device("cpu"))
    assert s.removed == ["conv s2 d4 t3", "conv s2 d4 t5"]
    from neonas.engine.controller import uniform_entropy
    from neonas.engine.space import decisions
    n_ops = len(s.decisions[0].labels)
    assert n_ops == len(decisions(cfg.space)[0].labels) - 2  # the entropy a stuck controller keeps: offered ops only
    assert uniform_entropy(s.decisions) == pytest.approx(sum(
        np.log(n_ops) if d.kind == "choice" else d.size * np.log(2) for d in s.decisions))
    for _ in range(30):
        arch = s.decode(s.sampler.propose(s.gens["sample"]))
        assert all((layer.get("span"), layer.get("dilation")) != (2, 4) for layer in arch["layers"])
    with torch.no_grad():  # make every child predict class 2 for everything
        s.supernet.head.fc.weight.zero_()
        s.supernet.head.fc.bias.copy_(torch.tensor([0.0, 0.0, 1.0, 0.0]))
    rows_ = s.controller_step(0)
    assert [r["constant"] for r in rows_] == [1, 1]
    assert all(r["metric"] == 0.0 for r in rows_)  # kappa of a constant net: chance
    assert all(r["reward"] == pytest.approx(1 / (1 + np.exp(-8.0 * (0.0 - 0.3)))) for r in rows_)
    assert all(r["threshold"] == 0.3 for r in rows_)


def test_derive_never_returns_a_constant_network(straight, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    final = torch.load(straight / "final.pt", weights_only=False)
    final["supernet"]["head.fc.weight"].zero_()
    final["supernet"]["head.fc.bias"].copy_(torch.tensor([0.0, 3.0, 0.0, 0.0]))
    torch.save(final, run / "final.pt")
    assert main(["derive", "--run", str(run), "--samples", "5", "--out", str(tmp_path / "d.json")]) == 2
    assert "predicts one class for every validation epoch" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()


def test_derive_reads_a_run_from_before_skip_bn(cohort, tmp_path):
    """Runs written before space.skip_bn existed have no such key and no BN after the skip sum."""
    run = tmp_path / "old"
    assert search(cohort, run, "--set", "space.skip_bn=false", "--set", "training.epochs=1") == 0
    final = torch.load(run / "final.pt", weights_only=False)
    del final["config"]["space"]["skip_bn"]
    assert not any(k.startswith("post.") for k in final["supernet"])
    torch.save(final, run / "final.pt")
    assert main(["derive", "--run", str(run), "--samples", "4", "--top-k", "1", "--out", str(tmp_path / "d.json")]) == 0
    assert json.loads((tmp_path / "d.json").read_text())["space"]["skip_bn"] is False


@pytest.mark.slow
def test_resume_after_sigterm_mid_epoch_is_bit_identical(cohort, straight, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "neonas.cli", "search", "--folds", str(cohort / "folds.json"), "--fold", "0",
           "--config", str(cohort / "search.yaml"), "--seed", "3", "--out", str(out), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    children = out / "children.csv"
    while proc.poll() is None and not (children.exists() and len(children.read_text().splitlines()) > 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == EXIT_RESUMABLE, output
    assert "SIGTERM" in output and "--resume" in output
    progress = torch.load(out / "checkpoint.pt", weights_only=False)["search"]["progress"]
    print("stopped at", {k: progress[k] for k in ("epoch", "phase", "pos")})  # usually mid-epoch
    assert search(cohort, out, "--resume") == 0
    assert_same_run(straight, out)


def test_random_search_has_the_same_budget_and_derive_works(cohort, straight, tmp_path):
    out = tmp_path / "random"
    assert search(cohort, out, "--set", "sampler=random") == 0
    children = rows(out / "children.csv")
    assert len(children) == len(rows(straight / "children.csv"))
    assert {r["sampler"] for r in children} == {"random"}
    assert torch.load(out / "final.pt", weights_only=False)["controller"] is None
    assert main(["derive", "--run", str(out), "--samples", "6", "--top-k", "2", "--out", str(out / "d.json")]) == 0
    assert json.loads((out / "d.json").read_text())["sampler"] == "random"


def test_derive_ranks_the_sampled_architectures(straight, tmp_path):
    out = tmp_path / "derived.json"
    assert main(["derive", "--run", str(straight), "--samples", "12", "--top-k", "3", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["run"] == str(straight) and doc["metric_name"] == "kappa" and doc["n_sampled"] == 12
    assert len(doc["sampled"]) == 12 and doc["space"]["n_layers"] == 2
    top = doc["top"]
    assert [t["rank"] for t in top] == list(range(len(top))) and 1 <= len(top) <= 3
    assert len({t["hash"] for t in top}) == len(top)
    scores = [t["supernet_metric"] for t in top]
    assert scores == sorted(scores, reverse=True) and scores[0] == max(s["supernet_metric"] for s in doc["sampled"])
    for item in doc["sampled"] + top:
        assert arch_hash(item["arch"]) == item["hash"]
    assert not any(t["constant"] for t in top)


def test_errors_are_clear(cohort, straight, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**CONFIG, "training": {"epoch": 3}}))
    assert main(["search", "--folds", str(cohort / "folds.json"), "--fold", "0", "--config", str(bad),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "training: unknown key(s) ['epoch']" in err and "Traceback" not in err
    # a checkpoint is never overwritten by accident, and never resumed with other settings
    assert search(cohort, straight) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert search(cohort, straight, "--resume", "--set", "training.lr=0.01") == 2
    assert "training.lr: 0.05 in the checkpoint vs 0.01 now" in capsys.readouterr().err
    assert main(["derive", "--run", str(tmp_path), "--out", str(tmp_path / "d.json")]) == 2
    assert "has no final.pt" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["search", "derive"])
def test_help_reads_well(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--out" in text and ("--resume" in text if command == "search" else "--top-k" in text)


def test_derive_can_rerank_by_stand_alone_training(straight, tmp_path):
    """`--rerank halving` re-ranks the supernet's best candidates; `top_supernet` is plain derive's top."""
    plain, reranked = tmp_path / "plain.json", tmp_path / "reranked.json"
    assert main(["derive", "--run", str(straight), "--samples", "12", "--top-k", "2", "--out", str(plain)]) == 0
    assert main(["derive", "--run", str(straight), "--samples", "12", "--top-k", "2", "--rerank", "halving",
                 "--rerank-candidates", "4", "--rerank-epochs", "1", "--rerank-eta", "2", "--rerank-set",
                 "batch_size=16", "--out", str(reranked)]) == 0
    p, r = json.loads(plain.read_text()), json.loads(reranked.read_text())
    assert p["rerank"] == {"method": "none", "candidates": 16, "epochs": 5, "eta": 4, "child_epochs": 0, "seconds": 0.0}
    assert r["top_supernet"] == p["top"] and r["sampled"] == p["sampled"]
    rounds = r["rerank"]["rounds"]
    assert r["rerank"]["child_epochs"] == sum(rd["epochs"] * len(rd["candidates"]) for rd in rounds)
    assert r["rerank"]["train_config"]["batch_size"] == 16 and len(r["top"]) == 2
    assert {t["hash"] for t in r["top"]} <= {c["hash"] for c in rounds[0]["candidates"]}


def test_the_warm_up_runs_at_the_full_rate_and_the_cosine_spans_the_controller_epochs():
    """Search.lr_at (issue 16): the fidelity check trains its supernets at the full rate, so the warm-up it finds
    must be trained the same way; the decay to lr_min spans only the epochs after it."""
    from types import SimpleNamespace

    from neonas.engine.searcher import Search, SearchConfig

    cfg = SearchConfig()
    cfg.training.epochs, cfg.training.warmup_epochs, cfg.training.lr, cfg.training.lr_min = 50, 40, 0.05, 0.0005
    lr = [Search.lr_at(SimpleNamespace(cfg=cfg), e) for e in range(50)]
    assert lr[:41] == [0.05] * 41  # epoch 40, the first controller epoch, starts the cosine at the full rate
    assert all(a > b for a, b in zip(lr[40:-1], lr[41:], strict=True)) and lr[45] == pytest.approx((0.05 + 0.0005) / 2)
    cfg.training.warmup_epochs = 0
    assert Search.lr_at(SimpleNamespace(cfg=cfg), 25) == pytest.approx((0.05 + 0.0005) / 2)
