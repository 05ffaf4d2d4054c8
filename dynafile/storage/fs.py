"""The only module that writes files: appends, fsyncs, atomic replacement.

Every durable step calls :func:`_point` with a name first and after, so
crash tests can kill the process at an exact place (set ``DYNAFILE_CRASH_AT``
to ``"<point>:<n>"`` to SIGKILL the process at the n-th time the point is
reached, or assign :data:`hook` to a callable). Atomic replacement goes
through ``atomicwrites`` and is kept behind :func:`atomic_write_bytes`, so
the library can be swapped in one place.
"""

from __future__ import annotations

import os
import signal
from typing import Callable

from atomicwrites import AtomicWriter

__all__ = [
    "TEMP_PREFIX",
    "append",
    "atomic_write_bytes",
    "hook",
    "makedirs",
    "read_file",
    "remove_stale_temp_files",
    "sync",
    "sync_dir",
]

#: Called as ``hook(point, path)`` at every named point when not ``None``.
hook: Callable[[str, str], None] | None = None

#: Prefix of temporary files written next to their target.
TEMP_PREFIX = ".tmp-dynafile-"

_crash_spec = os.environ.get("DYNAFILE_CRASH_AT")
_crash_counts: dict = {}


def _point(name: str, path: str) -> None:
    if hook is not None:
        hook(name, path)
    if _crash_spec:
        point, _, nth = _crash_spec.partition(":")
        if point == name:
            count = _crash_counts.get(name, 0) + 1
            _crash_counts[name] = count
            if count >= int(nth or 1):
                os.kill(os.getpid(), signal.SIGKILL)


def append(fd: int, data: bytes, path: str) -> None:
    """Write all of ``data`` at the end of the file open as ``fd`` (O_APPEND).

    Raises OSError (ENOSPC, EIO...) as the OS reports it; the caller undoes a
    short write.
    """
    _point("log.append.before", path)
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    _point("log.append.after", path)


def sync(fd: int, path: str) -> None:
    """Flush a file's data to stable storage (fdatasync where available)."""
    _point("log.fsync.before", path)
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS / Windows
        os.fsync(fd)
    _point("log.fsync.after", path)


def sync_dir(path: str) -> None:
    """fsync a directory, so entries created or renamed in it are durable."""
    _point("dir.fsync.before", path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse directory fsync
        pass
    finally:
        os.close(fd)
    _point("dir.fsync.after", path)


def makedirs(path: str) -> None:
    """Create ``path`` and missing parents, fsyncing each new entry's parent."""
    missing: list[str] = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            pass
        sync_dir(os.path.dirname(directory))


class _Writer(AtomicWriter):
    def get_fileobject(self, suffix="", prefix=TEMP_PREFIX, dir=None, **kwargs):  # type: ignore[override]
        return super().get_fileobject(suffix=suffix, prefix=TEMP_PREFIX, dir=dir, **kwargs)

    def commit(self, f):  # type: ignore[override]
        # atomicwrites' own commit renames and fsyncs the directory in one
        # call; done here step by step so crash tests can stop between them.
        _point("rename.before", self._path)
        os.replace(f.name, self._path)
        _point("rename.after", self._path)
        sync_dir(os.path.dirname(os.path.abspath(self._path)))


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Writes a temporary file beside it, fsyncs it, renames it over ``path``
    and fsyncs the directory: a crash leaves the old or the new content,
    never a mix. Creates missing parent directories durably.
    """
    makedirs(os.path.dirname(path))
    _point("checkpoint.write.before", path)
    with _Writer(path, mode="wb", overwrite=True).open() as f:
        f.write(data)
    _point("checkpoint.write.after", path)


def remove_stale_temp_files(directory: str) -> int:
    """Delete temporary files a crash left in ``directory``; return how many."""
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        if name.startswith(TEMP_PREFIX):
            try:
                os.unlink(os.path.join(directory, name))
                removed += 1
            except FileNotFoundError:  # pragma: no cover - raced with another process
                pass
    return removed


def read_file(path: str) -> bytes:
    """Return the whole content of ``path``."""
    with open(path, "rb") as f:
        return f.read()
