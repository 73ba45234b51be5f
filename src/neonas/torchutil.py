"""Device choice, mixed precision and seeding, shared by search and retraining: the one place where a run's
device and precision come from.

CUDA is used when present, with bf16 autocast; otherwise everything runs in float32 on the CPU, where
results are bit-for-bit deterministic for a given seed. NEONAS_AUTOCAST (environment) overrides the precision:
`auto` (the default: bf16 on CUDA, float32 on CPU), `bf16` (bf16 autocast on every device, the CPU included:
to test the mixed-precision path without a GPU; CPU results then differ from float32 ones) or `off`
(float32 everywhere, also on CUDA: bench/bench_gpu.py's comparison). `device_audit()` checks that the code
under it names the device of every tensor it creates.
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


AUTOCAST_MODES = ("auto", "bf16", "off")


def autocast_mode() -> str:
    """NEONAS_AUTOCAST: auto (bf16 on CUDA only), bf16 (every device) or off."""
    mode = os.environ.get("NEONAS_AUTOCAST", "auto").strip().lower() or "auto"
    if mode not in AUTOCAST_MODES:
        raise NeonasError(f"environment variable NEONAS_AUTOCAST='{mode}': expected one of {', '.join(AUTOCAST_MODES)}")
    return mode


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op on CPU (keeps CPU runs exact and deterministic), unless NEONAS_AUTOCAST says
    otherwise (bf16: on the CPU too; off: nowhere)."""
    mode = autocast_mode()
    if mode == "bf16" or (mode == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


#: torch functions that create a tensor and take a `device`
FACTORIES = ("tensor", "as_tensor", "zeros", "ones", "empty", "full", "arange", "rand", "randn", "randint",
             "randperm", "linspace", "logspace", "eye", "zeros_like", "ones_like", "empty_like", "full_like",
             "rand_like", "randn_like", "randint_like")


class DeviceAudit(torch.overrides.TorchFunctionMode):
    """Records every tensor that neonas code (not torch's own) creates without naming its device: on a GPU such a
    tensor lands on the CPU and meets the model's CUDA tensors. Not recorded: `*_like` functions (their input's
    device) and the weights made while a module is constructed (they move with the module's .to(device)).
    Tensors that belong on the CPU on purpose (draws from the CPU generators that make runs reproducible on every
    device) say device="cpu"."""

    def __init__(self):
        super().__init__()
        self.unnamed: dict[str, int] = {}
        self.factories = {getattr(torch, name) for name in FACTORIES if not name.endswith("_like")}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.factories and kwargs.get("device") is None:
            import sys

            frame, in_module = sys._getframe(1), False
            while frame is not None and f"{os.sep}torch{os.sep}" in frame.f_code.co_filename:
                in_module |= f"{os.sep}nn{os.sep}" in frame.f_code.co_filename  # a layer's weights, moved with .to()
                frame = frame.f_back
            in_module |= frame is not None and frame.f_code.co_name == "__init__" and isinstance(
                frame.f_locals.get("self"), torch.nn.Module)  # parameters of a neonas module, moved with .to()
            if not in_module and frame is not None and f"{os.sep}neonas{os.sep}" in frame.f_code.co_filename:
                path = frame.f_code.co_filename.rsplit(os.sep + "neonas" + os.sep, 1)[1]
                key = f"{path}:{frame.f_lineno} torch.{func.__name__}"
                self.unnamed[key] = self.unnamed.get(key, 0) + 1
        return func(*args, **kwargs)


@contextlib.contextmanager
def device_audit():
    """`with device_audit() as audit: ...`; afterwards audit.unnamed lists (file:line torch.fn -> calls) every
    tensor neonas code created without a device."""
    audit = DeviceAudit()
    with audit:
        yield audit


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
