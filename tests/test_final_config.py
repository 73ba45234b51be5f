"""The final model's parts that need no trained study: the final rule in the workflow's DAG, the parse-time check
of the retrain recipe, and the selection's shortlist (tests/test_final.py trains a small study for the rest)."""

from __future__ import annotations

import json
from pathlib import Path


def test_workflow_builds_the_final_model_from_every_retrained_model(tmp_path):
    """The final rule in the DAG of config/test.yaml: after every retrain job, exported; with choose: yardstick it
    waits for the yardstick tables; an unseen synthetic recording is staged with it (a dry run; `make demo` runs
    it for real)."""
    from wfutil import copy_workflow, snakemake

    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "results/test/unseen/hypnogram.tsv", "--configfile", "config/test.yaml", "--config",
                     "final={choose: yardstick}")
    out = proc.stdout
    for rule in ("final_args", "final", "unseen_synth", "unseen_predict"):  # the demo's unseen recording, staged
        assert f"rule {rule}:" in out, rule
    block = out[out.index("rule final:"):].split("\n\n")[0]
    inputs = block.split("input:", 1)[1].splitlines()[0]
    for path in ("results/test/retrain/nas/sigmoid/seed0/fold0", "results/test/retrain/random/uniform/seed0/fold0",
                 "results/test/retrain/handcrafted/reference/seed0/fold0", "results/test/config/final.args",
                 "results/test/yardstick/seed0/fold0.csv"):
        assert path in inputs, (path, inputs)
    assert "output: results/test/final" in block


def test_workflow_refuses_a_warmup_as_long_as_the_training_at_parse_time(tmp_path):
    """config/config.yaml's recipe passes; retrain.min_epochs >= retrain.epochs stops the study before any job."""
    from wfutil import copy_workflow, snakemake

    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "--config", "retrain={epochs: 5, min_epochs: 5, patience: 3}", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in text
    assert "config key 'retrain': min_epochs 5 >= epochs 5: early stopping could keep only the last" in text


def test_the_shortlist_keeps_the_best_candidates_by_validation_and_the_hand_designed_net(tmp_path):
    """select --max-candidates: the K candidates whose study runs score best on the validation infants (mean kappa
    at the kept epoch, never test), plus the hand-designed net whatever its score; None keeps all."""

    from neonas.training.select import shortlist

    def run(name: str, kappas: list[float], best: int) -> Path:
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps({"best_epoch": best, "kappa": 0.99}))  # test kappa: never read
        rows = [f"{e},{k},0.5,0.5" for e, k in enumerate(kappas, start=1)]
        (d / "history.csv").write_text("epoch,val_kappa,val_accuracy,val_macro_f1\n" + "\n".join(rows) + "\n")
        return d

    cands = {"a": {"runs": {0: run("a0", [0.1, 0.9], 2), 1: run("a1", [0.7], 1)}, "sources": {"nas:identity"}},
             "b": {"runs": {0: run("b0", [0.6, 0.2], 1)}, "sources": {"random:uniform"}},
             "c": {"runs": {0: run("c0", [0.5], 1)}, "sources": {"nas:identity"}},
             "h": {"runs": {0: run("h0", [0.1], 1)}, "sources": {"handcrafted:reference"}}}
    assert sorted(shortlist(cands, 2)) == ["a", "b", "h"]  # a: 0.8, b: 0.6 (its kept epoch 1, not 2), c: 0.5 out
    assert sorted(shortlist(cands, None)) == sorted(shortlist(cands, 10)) == ["a", "b", "c", "h"]
