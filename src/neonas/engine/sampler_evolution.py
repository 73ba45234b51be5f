"""Regularised evolution (Real et al. 2019, "aging evolution"): a population of the last `population` children.

Until the population is full, each child is a uniform sample. Then each child is a mutant: `tournament` members
are drawn without replacement, the fittest (ties: the first drawn) is copied and ONE of its decisions is changed
(an op to another op, or one skip connection flipped), and after its score comes back the oldest member dies.
Fitness is the child's reward metric (chance for a constant net), not the shaped reward, whose adaptive
threshold would put old and new members on different scales. Children of one controller step are proposed from
the same population (asynchronous workers in the paper). Entropy and log-prob are not defined for a mutation:
children.csv has nan there; the baseline is a moving average, logged only (as random search's).
"""

from __future__ import annotations

import math

import torch

from neonas.engine.api import Context, Proposal, Sampler, ema
from neonas.engine.controller import UniformSampler


class EvolutionSampler(Sampler):
    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.cfg = ctx.cfg.evolution
        self.uniform = UniformSampler(ctx.decisions)
        self.population: list[tuple[list, float]] = []  # (choices, fitness), oldest first
        self._baseline: float | None = ctx.cfg.controller.baseline_init
        self.mutable = [k for k, d in enumerate(ctx.decisions) if d.size > (1 if d.kind == "choice" else 0)]

    def ask(self, n: int) -> list[Proposal]:
        gen, out = self.ctx.gens["sample"], []
        for k in range(n):
            if len(self.population) + k < self.cfg.population or not self.mutable:
                choices = self.uniform.sample(gen).choices
            else:
                drawn = torch.randperm(len(self.population), generator=gen)[: self.cfg.tournament].tolist()
                parent = max(drawn, key=lambda i: self.population[i][1])  # max keeps the first of equals
                choices = self.mutate(self.population[parent][0], gen)
            out.append(Proposal(choices, self.ctx.decode(choices), math.nan, math.nan, skip_rate(choices)))
        return out

    def mutate(self, choices: list, gen: torch.Generator) -> list:
        """A copy of `choices` with one decision changed: another option, or one skip flipped."""
        child = [list(c) if isinstance(c, list) else c for c in choices]
        k = self.mutable[int(torch.randint(len(self.mutable), (1,), generator=gen))]
        d = self.ctx.decisions[k]
        if d.kind == "choice":
            new = int(torch.randint(d.size - 1, (1,), generator=gen))
            child[k] = new + (new >= child[k])
        else:
            j = int(torch.randint(d.size, (1,), generator=gen))
            child[k][j] = 1 - child[k][j]
        return child

    def tell(self, proposals, metrics, rewards):
        for p, m in zip(proposals, metrics, strict=True):
            self.population.append((p.choices, float(m)))
        del self.population[: max(0, len(self.population) - self.cfg.population)]  # the oldest die
        c = self.ctx.cfg.controller
        before, self._baseline = ema(self._baseline, list(rewards), c.baseline_decay)
        return before

    def propose(self, gen) -> list:
        """A member of the population, uniformly (a uniform sample while it is empty)."""
        if not self.population:
            return self.uniform.sample(gen).choices
        return self.population[int(torch.randint(len(self.population), (1,), generator=gen))][0]

    @property
    def baseline(self) -> float | None:
        return self._baseline

    def state_dict(self) -> dict:
        return {"population": [(list(c), f) for c, f in self.population], "baseline": self._baseline}

    def load_state_dict(self, state: dict) -> None:
        self.population = [(list(c), float(f)) for c, f in state.get("population", [])]
        self._baseline = state.get("baseline", self._baseline)


def skip_rate(choices: list) -> float:
    bits = [b for c in choices if isinstance(c, list) for b in c]
    return sum(bits) / len(bits) if bits else 0.0
