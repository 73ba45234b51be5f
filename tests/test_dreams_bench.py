"""studies/dreams_loso.py's printing helpers on fake rows (the bench itself takes ~40 min on real data): the
selection's optimism per arm with its interval over fold means, the paired difference of optimism between the
selection and rank 0 by supernet score, each arm's compute in child-epochs, and the targets of issues 22 and 23."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from neonas.study import power
from scriptload import load_script

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dreams():
    return load_script("studies/dreams_loso.py", "dreams_loso_bench")


def fake_rows(dreams, folds: int = 4, seeds: int = 2) -> list[dict]:
    """Every arm of a full bench row; `select` flattered less (its validation kappa closer to its test kappa)."""
    rng = np.random.default_rng(1)
    rows = []
    for seed in range(seeds):
        for fold in range(folds):
            r = {"fold": fold, "seed": seed}
            for arm in dreams.ARMS:
                r[arm] = float(rng.normal(0.3, 0.1))
                r[f"val_kappa_{arm}"] = r[arm] + (0.02 if arm == "select" else 0.15) + float(rng.normal(0, 0.03))
            for arm in dreams.SEARCH_ARMS:
                r |= {f"supernet_{arm}": float(rng.random()), f"hash_{arm}": f"h{arm}", f"seconds_search_{arm}": 9.0,
                      f"child_epochs_{arm}": 20.0 if arm != "standalone" else 140.0}
            for arm in ("nas", "random"):
                r |= {f"hash_{arm}+rr": f"h{arm}", f"rerank_val_{arm}+rr": float(rng.random()),
                      f"rerank_seconds_{arm}": 15.0, f"rerank_child_epochs_{arm}": 120.0}
            r |= {"child_epochs_select": 500.0 + fold}
            rows.append(r)
    return rows


def fold_means(rows, value) -> list[float]:
    return [float(np.mean([value(r) for r in rows if r["fold"] == f])) for f in sorted({r["fold"] for r in rows})]


def test_optimism_is_validation_minus_test_kappa_over_fold_means(dreams):
    rows = fake_rows(dreams)
    text = dreams.table(rows, "4 folds x 2 seeds")
    for arm in ("nas", "nas+rr", "select"):
        m = fold_means(rows, lambda r, a=arm: r[f"val_kappa_{a}"] - r[a])
        ci = stats.ttest_1samp(m, 0.0).confidence_interval()
        assert (f"| {arm} | {np.mean(m):+.3f} | [{ci.low:+.3f}, {ci.high:+.3f}] | 4 | "
                f"{np.mean([r[arm] for r in rows]):.3f} |") in text
    # the selection's optimism paired against rank 0's by supernet score: t over the 4 folds' mean differences
    d = fold_means(rows, lambda r: (r["val_kappa_select"] - r["select"]) - (r["val_kappa_nas"] - r["nas"]))
    ci = stats.ttest_1samp(d, 0.0).confidence_interval()
    assert (f"| select − nas | {np.mean(d):+.3f} | [{ci.low:+.3f}, {ci.high:+.3f}] | "
            f"{power.mdd(4, np.std(d, ddof=1)):.3f} | 0 of 8 cells (ties 0) |") in text
    assert "Issue 23" in text and "smaller, CI below 0, against nas, nas+rr, random, random+rr" in text


def test_no_optimism_claimed_where_the_selection_flatters_as_much(dreams):
    rows = fake_rows(dreams)
    for r in rows:
        r["val_kappa_select"] = r["select"] + r["val_kappa_nas"] - r["nas"] + 0.01
    text = dreams.table(rows, "4 folds x 2 seeds")
    assert "not shown smaller (no CI below 0)" in text


def test_compute_in_child_epochs_and_issue_22_target(dreams):
    rows = fake_rows(dreams)
    text = dreams.table(rows, "4 folds x 2 seeds")
    assert "| nas | 20 | 20 | 20 |" in text and "| nas+rr | 140 | 140 | 140 |" in text
    assert "| standalone | 140 | 140 | 140 |" in text and "| hand | 0 | 0 | 0 |" in text
    # select: its trainings plus every search it draws on (4 searches: 20 + 20 + 20 + 140)
    assert f"| select | {500 + 1.5 + 200:.0f} | 700 | 703 |" in text
    best = max(dreams.NAS_ARMS, key=lambda a: np.mean([r[a] for r in rows]))
    assert f"best NAS arm `{best}`" in text and "here 2 seed(s)" in text


def test_rows_without_the_new_keys_still_print(dreams):
    """A runs.jsonl of the old bench (no validation kappa, no child-epochs) prints its tables and says what is
    missing instead of failing."""
    rows = [{k: v for k, v in r.items() if not k.startswith(("val_kappa_", "child_epochs_"))}
            for r in fake_rows(dreams, 3, 1)]
    text = dreams.table(rows, "3 folds x 1 seeds")
    assert "not computed: these runs record no validation κ" in text and "| nas − random |" in text


def test_cost_estimate_counts_the_selection_trainings(dreams):
    args = type("A", (), {"arms": list(dreams.ARMS), "top_k": 2, "selection_seeds": 3, "search_epochs": 20,
                          "standalone_epochs": 6, "jobs": 2})()
    line = dreams.estimate(args, 16)
    assert line.startswith("cost estimate: 16 fold x seed cell(s)") and "on 2 worker(s)" in line
    args.arms = ["hand", "nas"]
    assert "(<= 2 retrainings" in dreams.estimate(args, 1)
