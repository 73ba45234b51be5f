"""Device choice, mixed precision and seeding, shared by search and retraining.

CUDA is used when present, with bf16 autocast; otherwise everything runs in float32 on the CPU, where
results are bit-for-bit deterministic for a given seed.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from neonas.errors import NeonasError


def select_device(preference: str = "auto") -> torch.device:
    """`auto` picks CUDA when available, else CPU. `cuda` without a GPU is a user error."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise NeonasError(f"device '{preference}' requested but no CUDA GPU is visible (use --device cpu or auto)")
    if preference not in ("cpu",) and not preference.startswith("cuda"):
        raise NeonasError(f"unknown device '{preference}' (expected auto, cpu or cuda[:N])")
    return torch.device(preference)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op on CPU (keeps CPU runs exact and deterministic)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def rng_state() -> dict:
    """Every RNG state a run depends on, for exact resume."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
