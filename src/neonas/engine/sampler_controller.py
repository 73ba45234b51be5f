"""The ENAS sampler: the LSTM controller (controller.py) proposes, REINFORCE learns from the shaped rewards."""

from __future__ import annotations

import torch

from neonas.engine.api import Context, Proposal, Sampler
from neonas.engine.controller import Controller, Reinforce


class ControllerSampler(Sampler):
    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.controller = Controller(ctx.decisions, ctx.cfg.controller).to(ctx.device)
        self.reinforce = Reinforce(self.controller, ctx.cfg.controller)

    def ask(self, n: int) -> list[Proposal]:
        out = []
        for _ in range(n):
            s = self.controller.sample(self.ctx.gens["sample"])  # keeps the graph for REINFORCE
            out.append(Proposal(s.choices, self.ctx.decode(s.choices), float(s.entropy), float(s.log_prob.detach()),
                                s.skip_rate, s))
        return out

    def tell(self, proposals, metrics, rewards):
        return self.reinforce.step([p.sample for p in proposals], rewards)

    def propose(self, gen) -> list:
        with torch.no_grad():
            return self.controller.sample(gen).choices

    @property
    def baseline(self) -> float | None:
        return self.reinforce.baseline

    def final_state(self) -> dict:
        return self.controller.state_dict()

    def state_dict(self) -> dict:
        return {"controller": self.controller.state_dict(), "reinforce": self.reinforce.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        if state.get("reinforce") is not None:  # final.pt of an older run keeps the policy only
            self.reinforce.load_state_dict(state["reinforce"])
