"""The fidelity check of every estimator a study may use, not only the shared weights (split from fidelity.py).

The stand-alone estimator is checked against the same panel and the same stand-alone reference as the supernet:
its "estimate" of a panel net is the estimator's own score at each of its rungs (`standalone.rungs`,
`standalone.recipe`), one per estimator seed (`estimator_seeds`). Each such training seeds itself as a search's
child does, from (estimator seed, architecture hash, rung) (StandaloneEstimator.seed_of), never from the
reference's seeds 1000 + s: the estimate is not computed from the trainings the reference is computed from. The
verdict rule is the supernet's (fidelity_stats.check, threshold unchanged), applied at every rung; the estimator
passes when its top rung (the rung a search's best children are ranked at) passes.

For every estimator the check also reports how well it finds the top: the share of the reference's top quarter
in the estimator's top quarter (one decisive op alone gives tau ~ +0.5). `estimator: auto` takes the cheapest
estimator that passes, cheapest in child-epochs of training per scored child (`choice` in fidelity.json).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from neonas.config import from_dict, to_dict
from neonas.engine.registry import ESTIMATORS, implementation
from neonas.engine.space import arch_hash
from neonas.errors import NeonasError
from neonas.training.fidelity_stats import check
from neonas.training.retrain import RetrainConfig

REFERENCE_SEED = 1000  # the reference's trainings seed themselves 1000 + s (fidelity.train_alone)


def top_quarter(reference_mean: np.ndarray, scores: np.ndarray) -> float:
    """Share of the reference's top quarter (ceil(n / 4) nets) in the estimator's top quarter, mean over the
    estimator's seeds (columns). Ties are broken by panel order, the same way on both sides."""
    q = max(1, math.ceil(len(reference_mean) / 4))
    top = set(np.argsort(-reference_mean, kind="stable")[:q].tolist())
    shares = [len(top & set(np.argsort(-scores[:, s], kind="stable")[:q].tolist())) / q
              for s in range(scores.shape[1])]
    return float(np.mean(shares))


def cost_per_child(cfg, name: str) -> float:
    """Child-epochs of training one search with estimator `name` spends per scored child (its plan's upper bound)."""
    t, c = cfg.training, cfg.controller
    children = max(1, (t.epochs - t.warmup_epochs) * c.train_steps * c.num_aggregate)
    return implementation("estimator", name).planned_child_epochs(replace(cfg, estimator=name)) / children


def standalone_tasks(panel: list[dict], cfg, seeds: list[int], reference_seeds: int) -> list[tuple]:
    """(("estimate", net, seed, rung), arch, train task of the stand-alone estimator) for every panel net, estimator
    seed and rung; refuses a child seed that is one of the reference's (the estimate would repeat a reference run)."""
    est = implementation("estimator", "standalone")
    recipe = from_dict(RetrainConfig, dict(cfg.standalone.recipe), "standalone.recipe")
    name, space = cfg.reward.metric, to_dict(cfg.space)
    taken = {REFERENCE_SEED + s for s in range(reference_seeds)}
    tasks = []
    for k, arch in enumerate(panel):
        h = arch_hash(arch)
        for seed in seeds:
            for epochs in cfg.standalone.rungs:
                child = est.seed_of(seed, h, epochs)
                if child in taken:
                    raise NeonasError(f"estimator seed {seed} trains {h} at rung {epochs} with a reference seed; "
                                      "choose other fidelity.estimator_seeds")
                rung = replace(recipe, epochs=epochs, patience=epochs, min_epochs=est.cap(recipe.min_epochs, epochs),
                               monitor=name)
                tasks.append((("estimate", k, seed, epochs), arch, (h, arch, epochs, child, space, rung, name)))
    return tasks


def run_estimate(state: dict, task: tuple) -> float:
    """One panel net trained as the stand-alone estimator trains a child: its reward metric."""
    return implementation("estimator", "standalone").train_task(state, task[2])[0]


def standalone_check(reference: np.ndarray, estimates: dict, cfg, fid) -> dict:
    """Per rung: the supernet's verdict rule (tau per estimator seed, CI, split-half) and the top quarter found."""
    seeds, ref_mean = fid.estimator_seeds, reference.mean(axis=1)
    rungs = []
    for epochs in cfg.standalone.rungs:
        scores = np.array([[estimates[(k, s, epochs)] for s in seeds] for k in range(len(reference))])
        rungs.append({"rung": epochs, **check(reference, scores, fid), "top_quarter": top_quarter(ref_mean, scores),
                      "scores": scores.tolist()})
    top = rungs[-1]
    first = next((r["rung"] for r in rungs if r["passed"]), None)
    return {"seeds": list(seeds), "rungs": rungs, "passed": top["passed"], "first_passing_rung": first,
            "top_quarter": top["top_quarter"], "child_epochs_per_child": round(cost_per_child(cfg, "standalone"), 3),
            "verdict": standalone_verdict(rungs, fid.ratio, f"rungs {list(cfg.standalone.rungs)}")}


def standalone_verdict(rungs: list[dict], ratio: float, note: str) -> str:
    c = rungs[-1]
    per_rung = "; ".join(f"rung {r['rung']}: tau {r['tau']:+.2f} [{r['tau_ci'][0]:+.2f}, {r['tau_ci'][1]:+.2f}] "
                         f"(per seed {', '.join(f'{t:+.2f}' for t in r['tau_per_seed'])}), top quarter "
                         f"{r['top_quarter']:.0%}" for r in rungs)
    numbers = (f"{per_rung}; needed {ratio:g} x the reference's split-half agreement {c['split_half']:+.2f} = "
               f"{c['needed']:+.2f}")
    if not c["reference_ranks"]:
        return (f"Cannot tell: the stand-alone reference does not rank its own panel (split-half tau "
                f"{c['split_half']:+.2f}, p = {c['split_half_p']:.2f}); the stand-alone estimator: {numbers} ({note}).")
    if c["passed"]:
        return f"Yes: the stand-alone estimator ranks architectures as the full stand-alone reference does: {numbers} ({note})."
    return (f"No: the stand-alone estimator does not rank architectures as the full stand-alone reference does: "
            f"{numbers} ({note}); give it longer rungs (standalone.rungs).")


def estimators(result: dict, cfg, supernet_top: float, standalone: dict | None) -> dict:
    """fidelity.json's `estimators` (per estimator: passed, verdict, top quarter, cost per scored child) and
    `choice`: the cheapest that passed, or None (estimator: auto then follows fidelity.on_fail)."""
    out = {"supernet": {"passed": result["passed"], "verdict": result["verdict"], "top_quarter": supernet_top,
                        "child_epochs_per_child": round(cost_per_child(cfg, "supernet"), 3)}}
    if standalone is not None:
        out["standalone"] = {k: standalone[k] for k in ("passed", "verdict", "top_quarter", "child_epochs_per_child",
                                                        "first_passing_rung")}
    order = sorted(out, key=lambda n: (out[n]["child_epochs_per_child"], list(ESTIMATORS).index(n)))
    return {"estimators": {n: out[n] for n in order}, "choice": next((n for n in order if out[n]["passed"]), None)}
