"""Shared fixtures. Tests that need ../shared/data skip when it is absent, except in CI (CI=true),
where missing data is a failure."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """Path to a file under ../shared/data; skip (or fail in CI) when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = f"real recording {path} is not available (../shared/data sits beside the clone in CI)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + "; CI=true requires it")
        pytest.skip(msg)
    return path


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="module")
def one_torch_thread():
    """Train with one torch thread: faster than two on the 2-core CI machine, and the same numbers."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def uninterrupted_search(tmp_path_factory) -> Path:
    """The run directory of wfutil.RUN searched with wfutil.LONGER and never interrupted (profiles/local, one
    thread, as the SLURM test profile runs it): what every interrupted and resumed search must equal."""
    from wfutil import LONGER, RUN, copy_prepared, prepared_study, snakemake

    prepared_study(tmp_path_factory)
    wd = copy_prepared(tmp_path_factory, "uninterrupted")
    (wd / "longer.yaml").write_text(LONGER)
    snakemake(wd, RUN, "--cores", "1", "--profile", "profiles/local", "--configfile", "config/test.yaml", "longer.yaml")
    return wd / RUN


# ----------------------------------------------------------------------------- background jobs (tests/background.py)

def pytest_collection_modifyitems(config, items):
    """The tests that wait for a background job run last: the job has the whole session to run beside the rest."""
    waiting = [item for item in items if item.get_closest_marker("background")]
    items[:] = [item for item in items if not item.get_closest_marker("background")] + waiting


def pytest_collection_finish(session):
    import background

    names = sorted({m.args[0] for item in session.items for m in item.iter_markers("background")})
    if names and not session.config.option.collectonly:
        factory = getattr(session.config, "_tmp_path_factory", None)  # pytest's tmp_path_factory
        root = factory.mktemp("background") if factory else Path(tempfile.mkdtemp(prefix="neonas-background-"))
        for name in names:
            background.start(name, root)


def pytest_sessionfinish(session):
    import background

    background.stop_all()
