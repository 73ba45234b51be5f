"""The samplers and estimators a search may use, by name (`sampler:` and `estimator:` of SEARCH.yaml).

Each entry names its class as "module:Class" and is imported only when a search asks for it, as the command
registry (neonas.cli) imports its commands: no other module imports an implementation (tests/test_layout.py
checks it), so a new sampler or estimator is one new module and one line here. The stand-alone estimator
lives in neonas.training because it trains children with retrain's loop.
"""

from __future__ import annotations

import importlib

from neonas.engine.api import Context, Estimator, Sampler
from neonas.errors import NeonasError

SAMPLERS = {
    "controller": "neonas.engine.sampler_controller:ControllerSampler",
    "random": "neonas.engine.sampler_random:RandomSampler",
    "evolution": "neonas.engine.sampler_evolution:EvolutionSampler",
}
ESTIMATORS = {
    "supernet": "neonas.engine.estimator_supernet:SupernetEstimator",
    "standalone": "neonas.training.estimator_standalone:StandaloneEstimator",
}


def implementation(kind: str, name: str) -> type:
    """The class registered as `name` among the samplers (kind "sampler") or estimators ("estimator")."""
    table = SAMPLERS if kind == "sampler" else ESTIMATORS
    if name not in table:
        raise NeonasError(f"{kind}: unknown {kind} {name!r}; choose one of {sorted(table)}")
    module, cls = table[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_sampler(name: str, ctx: Context) -> Sampler:
    return implementation("sampler", name)(ctx)


def make_estimator(name: str, ctx: Context) -> Estimator:
    return implementation("estimator", name)(ctx)
