"""Jobs side by side: tiny nets train faster as many single-threaded processes than as one multi-threaded one.

`Pool(workers, ...)` runs a picklable `fn(state, task)` on every task: here, one after the other (workers 1),
or in `workers` spawned processes, each of which loads the fold's data once (`load_fold_data`) and keeps it.
Results come back as the tasks finish; every task must seed itself, so that what it returns depends neither
on `workers` nor on the order the tasks finish in (the fidelity check and the stand-alone estimator do).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import torch

from neonas.store.splits import load_fold
from neonas.torchutil import select_device
from neonas.training.evaluate import load_split

_STATE: dict = {}  # a worker's data, device and settings, loaded once per process


def load_fold_data(folds: str, fold: int, drop_artifacts: bool, device: str, **extra) -> dict:
    """The fold's training and validation infants (never its test infants), the device and `extra`."""
    split = load_fold(folds, fold)
    return {"train": load_split(split, "train", folds, drop_artifacts),
            "val": load_split(split, "val", folds, drop_artifacts), "device": select_device(device), **extra}


def _start(threads: int, args: tuple, kwargs: dict) -> None:
    torch.set_num_threads(threads)
    _STATE.update(load_fold_data(*args, **kwargs))


def _call(fn: Callable, task) -> tuple:
    t0 = time.monotonic()
    out = fn(_STATE, task)
    return task, out, time.monotonic() - t0


class Pool:
    """`workers` processes (started at the first `map` that needs them, kept until `close`), or none for 1.

    `local` is the state `fn` gets when workers is 1 (data already loaded here); `args`/`kwargs` are what
    each worker passes to `load_fold_data`; `threads` is each worker's torch thread count."""

    def __init__(self, workers: int, local: dict, args: tuple, kwargs: dict | None = None, threads: int = 1):
        self.workers, self.local, self.args, self.kwargs, self.threads = workers, local, args, kwargs or {}, threads
        self.executor = None

    def map(self, fn: Callable, tasks: list) -> Iterator[tuple]:
        """Yield (task, result, seconds) for every task, in the order they finish."""
        if self.workers == 1:
            for task in tasks:
                t0 = time.monotonic()
                out = fn(self.local, task)
                yield task, out, time.monotonic() - t0
            return
        from concurrent.futures import as_completed

        if self.executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_start, initargs=(self.threads, self.args, self.kwargs))
        for done in as_completed([self.executor.submit(_call, fn, t) for t in tasks]):
            yield done.result()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
            self.executor = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
