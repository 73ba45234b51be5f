"""The ENAS macro controller (Pham et al. 2018): an LSTM that samples one decision after another,
with anchor-point attention for skip connections, trained by REINFORCE.

It sees only a list of named decisions (`neonas.engine.space.Decision`): "choice" (one of n options) and
"multi" (any subset of earlier anchors). It knows nothing about CNNs; space.py turns the search space
into that list and the choices back into an architecture.

Sampling, step by step (as in the official general_controller.py):
- choice: logits = W_soft h; option ~ softmax(shape(logits)); next input = embedding of the option.
- multi over the first k anchors: q_j = v^T tanh(W_1 a_j + W_2 h); item j is selected with
  probability softmax(shape([-q_j, q_j]))[1]; next input = mean of the selected anchors' states
  (sum / (1 + count)); then h becomes a new anchor.
- shape(l) = tanh_constant * tanh(l / temperature) bounds the logits, keeping the policy exploring.

Training (Reinforce): reward R' = R + entropy_weight * H(policy); advantage R' - b with either the
moving-average baseline b <- b - (1 - baseline_decay) (b - R'), updated once per child (time constant
1 / (1 - baseline_decay) children, whatever train_steps is), or the leave-one-out baseline (the mean
R' of the other children of the same update, which removes what all children of an update share);
optionally divided by a running RMS of the advantage (`advantage_norm`), so that the reward's scale
does not act as a step size; loss = -log p(arch) * advantage + skip_weight * KL(skip || skip_target). Differences to the official code (docs/search.md): the advantage uses the baseline before
its update (the official code updates first), H is the full entropy of each decision (the official
code uses the sampled term -p log p), the skip KL is that of a Bernoulli(p) against
Bernoulli(skip_target), and the baseline starts at the first reward unless `baseline_init` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from neonas.engine.space import Decision


@dataclass
class ControllerConfig:
    """Controller and REINFORCE knobs. Defaults follow the official ENAS macro-search script
    (scripts/cifar10_macro_search.sh); docs/search.md lists where the paper differs."""

    lstm_size: int = 64  # hidden units (paper: 100)
    lstm_layers: int = 1  # stacked LSTM cells
    lr: float = 1e-3  # Adam learning rate (paper: 3.5e-4)
    adam_beta1: float = 0.0  # as in the official code
    adam_eps: float = 1e-3  # as in the official code
    tanh_constant: float | None = 2.5  # logits = c * tanh(logits / T) (paper: 2.5; official script: 1.5); null = off
    temperature: float | None = None  # T above (paper: 5.0); null = 1
    entropy_weight: float = 1e-4  # entropy bonus added to the reward
    baseline: Literal["ema", "loo"] = "loo"  # moving average, or leave-one-out within an update
    baseline_decay: float = 0.99  # per CHILD: the moving average's time constant is 1/(1-decay) children
    baseline_init: float | None = None  # null = the first child's reward
    advantage_norm: bool = True  # divide the advantage by its running RMS (time constant as the baseline's)
    skip_target: float = 0.4  # target probability of each skip connection
    skip_weight: float = 0.8  # weight of the KL penalty toward skip_target
    grad_clip: float | None = None  # gradient-norm clip; null = off
    init_range: float = 0.1  # weights ~ U(-init_range, init_range)
    train_steps: int = 5  # controller updates per search epoch (official: 50)
    num_aggregate: int = 2  # children per update, gradients averaged (official: 20)

    def __post_init__(self) -> None:
        if self.lstm_size < 1 or self.lstm_layers < 1:
            raise ValueError("controller.lstm_size and controller.lstm_layers must be >= 1")
        if self.lr <= 0:
            raise ValueError(f"controller.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"controller.baseline_decay must lie in [0, 1), got {self.baseline_decay}")
        if not 0.0 < self.skip_target < 1.0:
            raise ValueError(f"controller.skip_target must lie in (0, 1), got {self.skip_target}")
        if self.temperature is not None and self.temperature <= 0:
            raise ValueError(f"controller.temperature must be > 0 or null, got {self.temperature}")
        if self.train_steps < 0 or self.num_aggregate < 1:
            raise ValueError("controller.train_steps must be >= 0 and controller.num_aggregate >= 1")
        if self.baseline == "loo" and self.num_aggregate < 2:
            raise ValueError("controller.baseline: loo (leave-one-out) needs controller.num_aggregate >= 2; "
                             "use baseline: ema for single-child updates")


@dataclass
class Sample:
    """One sampled (or re-evaluated) sequence of choices. `log_prob` carries gradients for a Controller."""

    choices: list  # int per "choice", list of 0/1 per "multi" decision
    log_prob: torch.Tensor  # scalar, sum over decisions
    entropy: torch.Tensor  # scalar, sum over decisions of the policy entropy
    skip_penalty: torch.Tensor  # scalar, mean over multi decisions of KL(Bernoulli(p) || Bernoulli(target))
    skip_count: int
    skip_slots: int
    probs: list = field(default_factory=list)  # per decision: option probabilities / item selection probabilities

    @property
    def skip_rate(self) -> float:
        return self.skip_count / self.skip_slots if self.skip_slots else 0.0


class Controller(nn.Module):
    def __init__(self, decisions: list[Decision], cfg: ControllerConfig):
        super().__init__()
        self.decisions, self.cfg = list(decisions), cfg
        size = cfg.lstm_size
        self.cells = nn.ModuleList(nn.LSTMCell(size, size) for _ in range(cfg.lstm_layers))
        self.g_emb = nn.Parameter(torch.empty(1, size))
        # choice decisions with the same options share their embedding and softmax (ENAS: all layers
        # choose from the same ops)
        self.kinds: dict[tuple, str] = {}
        for d in self.decisions:
            if d.kind == "choice" and (d.size, d.labels) not in self.kinds:
                self.kinds[(d.size, d.labels)] = f"c{len(self.kinds)}"
        self.emb = nn.ModuleDict({k: nn.Embedding(n, size) for (n, _), k in self.kinds.items()})
        self.soft = nn.ModuleDict({k: nn.Linear(size, n, bias=False) for (n, _), k in self.kinds.items()})
        self.attn_1 = nn.Linear(size, size, bias=False)
        self.attn_2 = nn.Linear(size, size, bias=False)
        self.v_attn = nn.Linear(size, 1, bias=False)
        for p in self.parameters():
            nn.init.uniform_(p, -cfg.init_range, cfg.init_range)

    def _shape(self, logits: torch.Tensor) -> torch.Tensor:
        if self.cfg.temperature is not None:
            logits = logits / self.cfg.temperature
        if self.cfg.tanh_constant is not None:
            logits = self.cfg.tanh_constant * torch.tanh(logits)
        return logits

    def _step(self, x, hs, cs):
        new_h, new_c = [], []
        for cell, h, c in zip(self.cells, hs, cs, strict=True):
            h, c = cell(x, (h, c))
            new_h.append(h)
            new_c.append(c)
            x = h
        return new_h, new_c

    def forward(self, generator: torch.Generator | None = None, choices: list | None = None) -> Sample:
        """Sample a sequence (choices=None) or score a given one (log-prob, entropy of the policy)."""
        device = self.g_emb.device
        zeros = torch.zeros(1, self.cfg.lstm_size, device=device)
        hs, cs = [zeros] * len(self.cells), [zeros] * len(self.cells)
        x = self.g_emb
        anchors: list[torch.Tensor] = []
        anchors_w1: list[torch.Tensor] = []
        out, log_probs, entropies, penalties, probs = [], [], [], [], []
        skip_count = skip_slots = 0
        target = torch.tensor([1.0 - self.cfg.skip_target, self.cfg.skip_target], device=device)
        for k, d in enumerate(self.decisions):
            hs, cs = self._step(x, hs, cs)
            h = hs[-1]
            if d.kind == "choice":
                key = self.kinds[(d.size, d.labels)]
                logp = F.log_softmax(self._shape(self.soft[key](h)), dim=-1)[0]
                if choices is None:
                    idx = int(torch.multinomial(logp.exp().detach().cpu(), 1, generator=generator))
                else:
                    idx = int(choices[k])
                log_probs.append(logp[idx])
                entropies.append(-(logp.exp() * logp).sum())
                probs.append(logp.exp().detach().cpu())
                x = self.emb[key](torch.tensor([idx], device=device))
                out.append(idx)
                continue
            if d.size > 0:
                query = torch.tanh(torch.cat(anchors_w1[: d.size]) + self.attn_2(h))
                q = self.v_attn(query)  # (size, 1)
                logp = F.log_softmax(self._shape(torch.cat([-q, q], dim=1)), dim=1)  # (size, 2): [no, yes]
                p = logp.exp()
                if choices is None:
                    u = torch.rand(d.size, generator=generator, device="cpu")  # the CPU stream
                    bits = (u < p[:, 1].detach().cpu()).long().tolist()
                else:
                    bits = [int(b) for b in choices[k]]
                sel = torch.tensor(bits, device=device)
                log_probs.append(logp.gather(1, sel[:, None]).sum())
                entropies.append(-(p * logp).sum())
                probs.append(p[:, 1].detach().cpu())
                penalties.append((p * (logp - target.log())).sum())
                skip_count += sum(bits)
                skip_slots += d.size
                x = (sel.float()[None] @ torch.cat(anchors[: d.size])) / (1.0 + sum(bits))
                out.append(bits)
            else:
                x = self.g_emb
                out.append([])
                probs.append(torch.zeros(0, device="cpu"))  # as p[:, 1].cpu() above
            anchors.append(h)
            anchors_w1.append(self.attn_1(h))
        zero = torch.zeros((), device=device)
        return Sample(
            choices=out,
            log_prob=torch.stack(log_probs).sum() if log_probs else zero,
            entropy=torch.stack(entropies).sum().detach() if entropies else zero,
            skip_penalty=torch.stack(penalties).mean() if penalties else zero,
            skip_count=skip_count, skip_slots=skip_slots, probs=probs,
        )

    def sample(self, generator: torch.Generator | None = None) -> Sample:
        return self(generator=generator)


def uniform_entropy(decisions: list[Decision]) -> float:
    """Entropy (nats) of the uniform policy over these decisions: ln(size) per choice, size * ln 2 per skip
    decision. The controller's entropy (epochs.csv) is on the same scale; a search records this for the
    decisions it offered (summary.json `uniform_entropy`), which a reduced montage makes smaller."""
    return float(sum(math.log(d.size) if d.kind == "choice" else d.size * math.log(2.0) for d in decisions))


class UniformSampler:
    """Random search: every option and every skip equally likely (p = 0.5), no learning."""

    def __init__(self, decisions: list[Decision]):
        self.decisions = list(decisions)

    def sample(self, generator: torch.Generator | None = None) -> Sample:
        out, log_prob, entropy, count, slots = [], 0.0, 0.0, 0, 0
        for d in self.decisions:
            if d.kind == "choice":
                out.append(int(torch.randint(d.size, (1,), generator=generator)))
                log_prob -= math.log(d.size)
                entropy += math.log(d.size)
            else:
                bits = (torch.rand(d.size, generator=generator) < 0.5).long().tolist()
                out.append(bits)
                log_prob += d.size * math.log(0.5)
                entropy += d.size * math.log(2.0)
                count += sum(bits)
                slots += d.size
        t = torch.tensor
        probs = [torch.full((d.size,), 1.0 / d.size if d.kind == "choice" else 0.5) for d in self.decisions]
        return Sample(out, t(log_prob), t(entropy), t(0.0), count, slots, probs)


class Reinforce:
    """REINFORCE for the controller with a moving-average or leave-one-out baseline, optional
    advantage normalisation, an entropy bonus and a KL penalty toward the target skip rate.

    Why normalise: the official Adam has eps = 1e-3, above most per-parameter gradients of -log p
    (~1e-4..3e-3), so Adam acts like SGD and the advantage's scale multiplies the step. Dividing
    by the advantage's running RMS makes the step independent of the reward's scale; reward shapes
    then differ in how they order and space children, not in learning rate (docs/search.md)."""

    def __init__(self, controller: Controller, cfg: ControllerConfig):
        self.controller, self.cfg = controller, cfg
        self.optimizer = torch.optim.Adam(controller.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, 0.999),
                                          eps=cfg.adam_eps)
        self.baseline: float | None = cfg.baseline_init  # the moving average (logged also with loo)
        self.adv_sq: float | None = None  # running mean square of the advantage (advantage_norm)

    def step(self, samples: list[Sample], rewards: list[float]) -> list[float]:
        """One update from `samples` (with gradients) and their shaped rewards. Returns, per sample,
        the baseline its advantage was taken against (ema: the moving average before that sample
        updated it; loo: the mean of the other samples of this update)."""
        cfg, before, advantages = self.cfg, [], []
        totals = [float(r) + cfg.entropy_weight * float(s.entropy) for s, r in zip(samples, rewards, strict=True)]
        keep = 1.0 - cfg.baseline_decay
        for total in totals:
            if self.baseline is None:
                self.baseline = total
            b = self.baseline
            if cfg.baseline == "loo" and len(totals) > 1:  # (a single-child update falls back to the ema)
                b = (sum(totals) - total) / (len(totals) - 1)
            before.append(b)
            advantages.append(total - b)
            self.baseline -= keep * (self.baseline - total)
        if cfg.advantage_norm:
            for a in advantages:
                if a != 0.0:
                    self.adv_sq = a * a if self.adv_sq is None else self.adv_sq - keep * (self.adv_sq - a * a)
            scale = math.sqrt(self.adv_sq) if self.adv_sq else 1.0
            advantages = [a / scale for a in advantages]
        losses = [-s.log_prob * a + cfg.skip_weight * s.skip_penalty
                  for s, a in zip(samples, advantages, strict=True)]
        loss = torch.stack(losses).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.controller.parameters(), cfg.grad_clip)
        self.optimizer.step()
        return before

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "baseline": self.baseline, "adv_sq": self.adv_sq}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.adv_sq = state.get("adv_sq")
