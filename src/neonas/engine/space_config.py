"""The search space's settings (`space:` of SEARCH.yaml); split from space.py, which exports them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SpaceConfig:
    """The set of candidate networks. Defaults are demo-sized and contain the thesis's best net
    (every layer a conv with span 2, dilation 4, time kernel 5, no skips)."""

    n_layers: int = 4  # searched layers
    filters: int = 8  # feature maps in every layer (the thesis config uses more)
    spans: list[int] = field(default_factory=lambda: [1, 2, 3])  # channel kernel sizes k_s
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4])  # channel dilations d_s (ignored for span 1)
    time_kernels: list[int] = field(default_factory=lambda: [3, 5, 7])  # time kernel sizes k_t (in stem steps)
    time_dilations: list[int] = field(default_factory=lambda: [1])  # time dilations d_t ([1] = off)
    pools: list[str] = field(default_factory=lambda: ["max", "avg"])  # pooling kinds ([] = no pooling ops)
    pool_kernel: int = 3  # pooling window along time (odd, stride 1)
    skips: bool = True  # search skip connections from earlier layers
    stem_kernel: int = 7  # stem temporal kernel, in input samples
    stem_stride: int = 4  # stem conv stride along time
    stem_pool: int = 4  # max pooling after the stem conv (1 = none)
    dropout: float = 0.0  # before the linear head (active in training only)
    skip_bn: bool = True  # batch norm after the skip sum in every layer but the first (ENAS)

    def __post_init__(self) -> None:
        if self.n_layers < 1:
            raise ValueError(f"space.n_layers must be >= 1, got {self.n_layers}")
        if self.filters < 1:
            raise ValueError(f"space.filters must be >= 1, got {self.filters}")
        for name in ("spans", "dilations", "time_kernels", "time_dilations"):
            values = getattr(self, name)
            if not values or any(v < 1 for v in values) or len(set(values)) != len(values):
                raise ValueError(f"space.{name} must be a non-empty list of distinct integers >= 1, got {values}")
        bad = [p for p in self.pools if p not in ("max", "avg")]
        if bad or len(set(self.pools)) != len(self.pools):
            raise ValueError(f"space.pools must list distinct kinds out of 'max' and 'avg', got {self.pools}")
        if self.pool_kernel < 1 or self.pool_kernel % 2 == 0:
            raise ValueError(f"space.pool_kernel must be an odd integer >= 1, got {self.pool_kernel}")
        for name in ("stem_kernel", "stem_stride", "stem_pool"):
            if getattr(self, name) < 1:
                raise ValueError(f"space.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"space.dropout must lie in [0, 1), got {self.dropout}")

