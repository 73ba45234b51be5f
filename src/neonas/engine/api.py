"""What the search loop sees: one sampler interface and one estimator interface (as Optuna's samplers are).

A **sampler** proposes architectures and learns from their rewards: `ask(n)` -> n proposals, `tell(proposals,
metrics, rewards)` after they were scored. `propose(gen)` draws one architecture without learning (the path the
shared weights train on, and what `neonas derive` samples from a finished search). Implementations: controller
(LSTM + REINFORCE), random, evolution (engine/registry.py names them).

An **estimator** scores a batch of architectures: `score(archs)` -> one `Score` each (the reward metric on the
validation infants, the rung it reached, and its cost in child-epochs of training). An estimator with
`shared = True` also trains weights of its own in each epoch's shared phase (`train_batch`). Implementations:
supernet (ENAS's weight sharing), standalone (each child trained alone, successive halving).

Every implementation has an exact `state_dict` (a resumed search is bit-identical) and draws randomness only from
the generators the search gives it (`Context.gens`). The search loop (search.py, searcher.py) imports this module
and the registry only, never an implementation (tests/test_layout.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StandaloneConfig:
    """The stand-alone estimator (`standalone:` of SEARCH.yaml): successive halving over each batch of children."""

    rungs: list[int] = field(default_factory=lambda: [1, 3, 9])  # training epochs of each rung (from scratch)
    eta: int = 3  # keep the best ceil(n / eta) of a batch for the next rung
    workers: int = 1  # children trained side by side (processes with one torch thread each); results do not change
    recipe: dict = field(default_factory=dict)  # keys of retrain's RetrainConfig (epochs, patience, monitor: set here)

    def __post_init__(self) -> None:
        if not self.rungs or any(r < 1 for r in self.rungs) or sorted(set(self.rungs)) != list(self.rungs):
            raise ValueError(f"standalone.rungs must be increasing epoch counts >= 1, got {self.rungs}")
        if self.eta < 2 or self.workers < 1:
            raise ValueError(f"standalone needs eta >= 2 and workers >= 1, got {self.eta} and {self.workers}")


@dataclass
class EvolutionConfig:
    """Regularised evolution (`evolution:` of SEARCH.yaml; Real et al. 2019)."""

    population: int = 20  # the first `population` children are uniform samples; then the oldest dies per child
    tournament: int = 5  # S: members drawn (without replacement) per child; the best of them is mutated

    def __post_init__(self) -> None:
        if self.population < 2 or not 1 <= self.tournament <= self.population:
            raise ValueError(f"evolution needs population >= 2 and 1 <= tournament <= population, got "
                             f"{self.population} and {self.tournament}")


@dataclass
class Proposal:
    """One proposed architecture: its choices, the architecture, and the sampler's log fields."""

    choices: list
    arch: dict
    entropy: float
    log_prob: float
    skip_rate: float
    sample: Any = None  # the controller's Sample, which keeps the graph for REINFORCE


@dataclass
class Score:
    """An estimator's verdict on one architecture."""

    metric: float  # the reward metric on the validation infants
    constant: bool  # predicted one class for every epoch scored
    rung: int = 0  # stand-alone: the epochs of the highest rung it reached; supernet: 0
    child_epochs: float = 0.0  # training this score cost (0 when cached or when only scored)


@dataclass
class Context:
    """What an implementation may use: the search config, the montage's decisions, data, device, generators."""

    cfg: Any  # searcher.SearchConfig
    decisions: list
    n_channels: int
    n_classes: int
    seed: int
    device: Any
    train: Any  # the training infants (store.data dataset)
    val: Any  # the validation infants
    gens: dict  # named torch generators, checkpointed by the search ("train", "val", "sample")
    folds: str | None = None  # where worker processes reload the fold (stand-alone estimator)
    fold: int | None = None
    decode: Any = None  # choices -> architecture on this montage


class Sampler(ABC):
    """Ask for architectures, tell their rewards. Subclasses implement ask, tell and propose."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    @abstractmethod
    def ask(self, n: int) -> list[Proposal]:
        """n proposals to score."""

    @abstractmethod
    def tell(self, proposals: list[Proposal], metrics: list[float], rewards: list[float]) -> list[float | None]:
        """Learn from the scored proposals; return, per proposal, the baseline its reward was compared with."""

    @abstractmethod
    def propose(self, gen) -> list:
        """One architecture's choices, without learning."""

    @property
    def baseline(self) -> float | None:
        return None

    def final_state(self) -> dict | None:
        """What final.pt keeps as `controller` (a policy's weights), or None."""
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None  # stateless by default


class Estimator(ABC):
    """Score architectures. Subclasses implement score and planned_child_epochs; `shared` ones also train_batch."""

    shared = False  # trains weights of its own in each epoch's shared phase

    def __init__(self, ctx: Context):
        self.ctx = ctx

    @abstractmethod
    def score(self, archs: list[dict]) -> list[Score]:
        """One Score per architecture."""

    @classmethod
    @abstractmethod
    def planned_child_epochs(cls, cfg) -> float:
        """The child-epochs of training one search with this estimator will spend at most (`neonas plan`)."""

    def train_batch(self, idx, arch: dict, lr: float) -> tuple[float, int]:
        """One minibatch of the shared phase (only estimators with `shared = True` have one)."""
        raise TypeError(f"the {type(self).__name__} estimator trains no shared weights")

    def final_state(self) -> dict | None:
        """What final.pt keeps as `supernet` (shared weights), or None."""
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None  # stateless by default

    def close(self) -> None:
        """Release worker processes (none by default)."""
        return None


def ema(baseline: float | None, values: list[float], decay: float) -> tuple[list[float], float | None]:
    """The moving-average baseline of a sampler that does not learn by it (logged only): per value, the average
    before it, then the update b <- b - (1 - decay) (b - value)."""
    before = []
    for v in values:
        b = v if baseline is None else baseline
        before.append(b)
        baseline = b - (1.0 - decay) * (b - v)
    return before, baseline
