"""Regularised evolution (sampler: evolution): its mechanics on the real decisions of a space, and that it finds a
planted optimum on the simulated landscape (neonas.engine.simulate) faster than random sampling, seed-averaged."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from neonas.cli import main
from neonas.engine.api import Context
from neonas.engine.registry import make_sampler
from neonas.engine.searcher import load_config
from neonas.engine.simulate import Synthetic, simulate_sampler
from neonas.engine.space import decisions, decode
from neonas.errors import NeonasError
from test_search import assert_same_run, cohort, rows, search  # noqa: F401 - the search test cohort


def sampler(population=4, tournament=2, seed=0):
    cfg = load_config(None, ["sampler=evolution", "space.n_layers=3", f"evolution.population={population}",
                             f"evolution.tournament={tournament}"])
    gens = {"sample": torch.Generator().manual_seed(seed)}
    ctx = Context(cfg, decisions(cfg.space), 9, 4, seed, torch.device("cpu"), None, None, gens,
                  decode=lambda c: decode(cfg.space, c))
    return make_sampler("evolution", ctx)


def differences(a: list, b: list) -> int:
    return sum(x != y if not isinstance(x, list) else sum(u != v for u, v in zip(x, y, strict=True))
               for x, y in zip(a, b, strict=True))


def test_population_fills_with_uniform_samples_then_mutates_the_tournament_winner_and_the_oldest_dies():
    evo = sampler(population=4, tournament=4)
    first = evo.ask(4)  # population empty: uniform samples
    assert all(math.isnan(p.entropy) for p in first)
    evo.tell(first, [0.1, 0.9, 0.3, 0.2], [0.0] * 4)
    child = evo.ask(1)[0]  # tournament of the whole population: the 0.9 member is the parent
    assert differences(child.choices, first[1].choices) == 1
    evo.tell([child], [0.5], [0.0])
    assert [f for _, f in evo.population] == [0.9, 0.3, 0.2, 0.5]  # the oldest (0.1) died, not the worst
    state = evo.state_dict()
    again = sampler(population=4, tournament=4)
    again.load_state_dict(state)
    assert again.population == evo.population
    for _ in range(50):  # every mutation changes exactly one decision, and stays in the space
        parent = evo.population[0][0]
        kid = evo.mutate(parent, evo.ctx.gens["sample"])
        assert differences(kid, parent) == 1 and decode(evo.ctx.cfg.space, kid)
    with pytest.raises(NeonasError, match="evolution: .*tournament <= population, got 4 and 5"):
        sampler(population=4, tournament=5)


def first_hit(name: str, seed: int, budget: int) -> int:
    cfg = load_config(None, [f"sampler={name}", "space.n_layers=4", "controller.num_aggregate=4",
                             "reward.name=identity", "evolution.population=20", "evolution.tournament=5"])
    counts = simulate_sampler(cfg, Synthetic(delta=0.05, sigma=0.02), budget, seed)
    return next((i + 1 for i, n in enumerate(counts) if n == cfg.space.n_layers), budget + 1)


def test_evolution_finds_the_planted_optimum_faster_than_random_sampling():
    """The thesis space, 4 layers: the optimum (span 2 x dilation 4 in every layer: 3 of 23 ops, so 1 child in
    3,500 by chance) adds 0.05 per layer, noise SD 0.02. Children to the first optimum, 10 seeds x 300 children."""
    budget, seeds = 300, range(10)
    evo = np.array([first_hit("evolution", s, budget) for s in seeds])
    rnd = np.array([first_hit("random", s, budget) for s in seeds])
    assert (evo <= budget).sum() >= 8, evo  # found in at least 8 of 10 seeds
    assert (rnd <= budget).sum() <= 2, rnd  # random: P(found in 300) = 1 - (1 - (3/23)^4)^300 = 0.08
    diff = rnd - evo
    low = diff.mean() - stats.t.ppf(0.95, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    assert low > 0, (evo, rnd)  # paired over seeds, one-sided 95 %: evolution is faster


def test_the_study_reads_an_evolution_run_as_its_own_arm_beside_random_search(tmp_path):
    from neonas.study.runs import arm_of_sampler, run_identity

    run = tmp_path / "search" / "evolution" / "evolution" / "seed0" / "fold0"
    run.mkdir(parents=True)
    assert arm_of_sampler("evolution", run) == "evolution"
    assert run_identity(run, {"sampler": "evolution"}) == ("evolution", "evolution")
    assert run_identity(tmp_path, {"sampler": "evolution"}) == ("evolution", "evolution")
    with pytest.raises(NeonasError, match="'controller', 'random' or 'evolution'"):
        arm_of_sampler("annealing", run)


def test_an_evolution_search_on_the_supernet_resumes_bit_identically_and_derives(cohort, tmp_path):  # noqa: F811
    evo = ["--set", "sampler=evolution", "--set", "evolution.population=4", "--set", "evolution.tournament=2"]
    assert search(cohort, tmp_path / "a", *evo) == 0
    assert search(cohort, tmp_path / "b", *evo, "--stop-after-epochs", "2") == 75
    assert search(cohort, tmp_path / "b", *evo, "--resume") == 0
    assert_same_run(tmp_path / "a", tmp_path / "b")
    children = rows(tmp_path / "a" / "children.csv")
    assert {r["sampler"] for r in children} == {"evolution"} and len(children) == 24
    assert all(r["entropy"] == "nan" for r in children)
    assert main(["derive", "--run", str(tmp_path / "a"), "--samples", "10", "--out", str(tmp_path / "d.json")]) == 0
