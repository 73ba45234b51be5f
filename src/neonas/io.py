"""Atomic writes: every file and directory neonas writes appears whole or not at all.

A writer works on a temporary path beside the destination and renames it into place only when it
succeeded, so readers (and Snakemake) never see a partial file, and a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neonas.errors import NeonasError


def _umask_mode(mode: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextmanager
def atomic_path(final: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix or final.suffix or ".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes 0600 files; give the result the usual umask-based mode (shared cluster folders)
        os.chmod(tmp, _umask_mode(0o666))
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; it replaces `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()  # not mkdtemp: the result keeps the usual permissions (umask), not 0700
    try:
        yield tmp
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
            os.replace(final, old / "x")
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def save_torch_atomic(obj, path: str | os.PathLike) -> None:
    """`torch.save` atomically and byte-reproducibly.

    torch names the records inside its zip after the file it is given (`<name>/data.pkl`), so saving to a
    temporary path stores the temp file's random name and two identical runs differ. Given an open file,
    torch names them `archive/`: the same objects give the same bytes (docs/retrain.md, "Comparing two runs").
    """
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def read_json(path: str | os.PathLike, missing: str = "file not found") -> dict:
    """Read a JSON object; a missing file, broken JSON or another JSON type is a NeonasError naming the file
    (`missing` says what the file is and, ideally, which command makes it)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NeonasError(missing, path) from None
    except json.JSONDecodeError as err:
        raise NeonasError(f"not valid JSON ({err.msg}, line {err.lineno})", path) from None
    if not isinstance(data, dict):
        raise NeonasError(f"expected a JSON object, found {type(data).__name__}", path)
    return data
