"""Atomic writes: every file and directory neonas writes appears whole or not at all.

A writer works on a temporary path beside the destination and renames it into place only when it
succeeded, so readers (and Snakemake) never see a partial file, and a failure leaves nothing behind.
A full file system or an exhausted quota (ENOSPC, EDQUOT) becomes one NeonasError naming the file and
the bytes it needed: clusters fill scratch space and quotas all the time, and a rerun after freeing
space must simply work (searches resume from their last checkpoint, which a failed write never touches).
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neonas.errors import NeonasError

#: errno of a full file system and of an exhausted disk quota
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(err: BaseException) -> bool:
    """An OSError of a full file system or quota (h5py's write errors carry the errno too)."""
    return isinstance(err, OSError) and err.errno in NO_SPACE


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def _free_bytes(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.is_dir():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


def disk_full_error(err: OSError, path: str | os.PathLike, needed: int | None = None,
                    left: str = "nothing partial was left") -> NeonasError:
    """The one line a full disk or quota gives: the file, what failed, the bytes it needed (when known)
    and the bytes free, what was left behind (`left`), and that a rerun after freeing space is safe."""
    path = Path(path)
    what = "disk quota exceeded" if err.errno == errno.EDQUOT else "no space left on the device"
    free = _free_bytes(path)
    sizes = ", ".join(x for x in (f"{_size(needed)} needed" if needed else "",
                                  f"{_size(free)} free" if free is not None else "") if x)
    return NeonasError(f"cannot write it: {what}{f' ({sizes})' if sizes else ''}; {left + ': ' if left else ''}free "
                       "space (or raise your quota) and run the command again", path)


@contextmanager
def disk_full_names(path: str | os.PathLike) -> Iterator[None]:
    """A full disk or quota inside the block is one NeonasError naming `path` (a file appended to: a partial last
    row is cut on resume, as every row after the last checkpoint is)."""
    try:
        yield
    except OSError as err:
        if is_disk_full(err):
            raise disk_full_error(err, path, left="its rows after the last checkpoint are redone on a resume") from None
        raise


def _umask_mode(mode: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextmanager
def atomic_path(final: str | os.PathLike, suffix: str | None = None, size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds. A full disk
    or quota in the block is a NeonasError naming `final` and `size` (the bytes to write, when known)."""
    final = Path(final)
    tmp = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix or final.suffix or ".tmp",
                                    dir=final.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        # mkstemp makes 0600 files; give the result the usual umask-based mode (shared cluster folders)
        os.chmod(tmp, _umask_mode(0o666))
        os.replace(tmp, final)
    except OSError as err:
        if is_disk_full(err):
            _unlink(tmp)  # first: the message counts the space it frees
            raise disk_full_error(err, final, size) from None
        raise
    finally:
        _unlink(tmp)


def _unlink(tmp: Path | None) -> None:
    if tmp is not None and tmp.exists():
        tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes | memoryview) -> None:
    """Write a file atomically (temp file + rename); on a full disk, one line with the bytes it needed."""
    with atomic_path(path, size=len(data)) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically (temp file + rename)."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; it replaces `final` only if the block succeeds."""
    final = Path(final)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()  # not mkdtemp: the result keeps the usual permissions (umask), not 0700
        yield tmp
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
            os.replace(final, old / "x")
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old)
    except OSError as err:
        if is_disk_full(err):  # the bytes a whole folder needs are not known before it is written
            name = str(getattr(err, "filename", None) or "")
            where = final / Path(name).relative_to(tmp) if name.startswith(str(tmp) + os.sep) else final
            shutil.rmtree(tmp, ignore_errors=True)
            raise disk_full_error(err, where) from None
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_torch_atomic(obj, path: str | os.PathLike) -> None:
    """`torch.save` atomically and byte-reproducibly.

    torch names the records inside its zip after the file it is given (`<name>/data.pkl`), so saving to a
    temporary path stores the temp file's random name and two identical runs differ. Given an open file,
    torch names them `archive/`: the same objects give the same bytes (docs/retrain.md, "Comparing two runs").
    Serialised in memory first: torch reports a failed write as a RuntimeError without errno, and the bytes
    needed are then known for the message.
    """
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getbuffer())


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
