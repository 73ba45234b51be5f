"""Import a script of studies/ (or bench/) as a module, for tests of its pure functions: those scripts are run as
files, not installed as a package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str, name: str) -> ModuleType:
    """The module of REPO/relative, under `name` (unique per test file: two tests may load one script)."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
