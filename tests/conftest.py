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


# ----------------------------------------------------------------------------- workers (make test: pytest-xdist)

# Tests that must not overlap with each other on the 2-core machine: the single-node SLURM runs one study at a time
# (test_slurm counts its running jobs), and the kill-and-resume tests compare with one uninterrupted search (a
# session fixture, built once per worker). They run in one worker, in this order, starting first: they are the
# longest chain of the suite. Every other module is a group of its own, so its module fixtures are built once.
SERIAL_MODULES = ("test_slurm", "test_pack", "test_workflow_recovery")


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers on two cores: one thread each, here and in subprocesses
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Group by module for pytest-xdist (--dist loadgroup), the serial chain first; the tests that wait for a
    background job last (tests/background.py), so that the job has the whole session to run beside the rest."""
    for item in items:
        module = item.module.__name__ if item.module else item.nodeid.split("::")[0]
        group = "serial" if module in SERIAL_MODULES else module
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))

    def order(item):
        module = item.module.__name__ if item.module else ""
        serial = SERIAL_MODULES.index(module) if module in SERIAL_MODULES else len(SERIAL_MODULES)
        return (bool(item.get_closest_marker("background")), serial)

    items.sort(key=order)  # stable: collection order within each key


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread_per_worker():
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
    yield


# ----------------------------------------------------------------------------- background jobs (tests/background.py)

def pytest_collection_finish(session):
    """Start the background jobs the selected tests need; with several workers each test starts its own job when
    it runs (a job per worker would only compete for the cores)."""
    import background

    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    names = sorted({m.args[0] for item in session.items for m in item.iter_markers("background")})
    if names and not session.config.option.collectonly:
        factory = getattr(session.config, "_tmp_path_factory", None)  # pytest's tmp_path_factory
        root = factory.mktemp("background") if factory else Path(tempfile.mkdtemp(prefix="neonas-background-"))
        for name in names:
            background.start(name, root)


def pytest_sessionfinish(session):
    import background

    background.stop_all()
