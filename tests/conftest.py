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
# longest chain of the suite. Every other module is a unit of its own, so its module fixtures are built once.
SERIAL_MODULES = ("test_slurm", "test_pack", "test_workflow_recovery")


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers on two cores: one thread each, here and in subprocesses
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"


@pytest.hookimpl(optionalhook=True)  # `pytest -p no:xdist` must still load this conftest
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist: whole modules go to a worker, SERIAL_MODULES together as one unit. (Its --dist loadgroup would
    do this with marks, but with pytest 9 it cannot rename the tests, and the groups are ignored.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "serial" if Path(path).stem in SERIAL_MODULES else path

    return ModuleScheduling(config, log)


def _module(item) -> str:
    return item.module.__name__ if getattr(item, "module", None) else item.nodeid.split("::")[0]


def pytest_collection_modifyitems(config, items):
    """The serial chain first (the scheduler hands out modules in this order); the tests that wait for a background
    job last (tests/background.py), so that the job has the whole session to run beside the rest."""

    def order(item):
        module = _module(item)
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
