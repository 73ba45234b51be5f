"""Random search: every option and every skip equally likely, no learning (the baseline is logged only)."""

from __future__ import annotations

import torch

from neonas.engine.api import Context, Proposal, Sampler, ema
from neonas.engine.controller import UniformSampler


class RandomSampler(Sampler):
    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.uniform = UniformSampler(ctx.decisions)
        self._baseline: float | None = ctx.cfg.controller.baseline_init

    def ask(self, n: int) -> list[Proposal]:
        out = []
        for _ in range(n):
            with torch.no_grad():
                s = self.uniform.sample(self.ctx.gens["sample"])
            out.append(Proposal(s.choices, self.ctx.decode(s.choices), float(s.entropy), float(s.log_prob),
                                s.skip_rate, s))
        return out

    def tell(self, proposals, metrics, rewards):
        c = self.ctx.cfg.controller
        totals = [r + c.entropy_weight * p.entropy for p, r in zip(proposals, rewards, strict=True)]
        before, self._baseline = ema(self._baseline, totals, c.baseline_decay)
        return before

    def propose(self, gen) -> list:
        return self.uniform.sample(gen).choices

    @property
    def baseline(self) -> float | None:
        return self._baseline

    def state_dict(self) -> dict:
        return {"baseline": self._baseline}

    def load_state_dict(self, state: dict) -> None:
        self._baseline = state.get("baseline", self._baseline)
