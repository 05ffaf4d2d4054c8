"""The only module that changes files: appends, fsyncs, atomic replacement,
creation, removal and truncation.

Every durable step calls :func:`_point` with a name first and after, so
crash tests can kill the process at an exact place (set ``DYNAFILE_CRASH_AT``
to ``"<point>:<n>"`` to SIGKILL the process at the n-th time the point is
reached, or assign :data:`hook` to a callable). Atomic replacement goes
through ``atomicwrites`` and is kept behind :func:`atomic_write_bytes`, so
the library can be swapped in one place.
"""

from __future__ import annotations

import os
from typing import Any, Callable

__all__ = [
    "TEMP_PREFIX",
    "append",
    "atomic_write_bytes",
    "create_empty",
    "hook",
    "makedirs",
    "open_lock_file",
    "read_file",
    "remove",
    "remove_dir",
    "remove_stale_temp_files",
    "remove_tree",
    "rename",
    "signature",
    "sync",
    "sync_dir",
    "truncate",
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
                import signal  # only crash tests get here

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


def _writer() -> Any:
    """atomicwrites' ``AtomicWriter`` with our temporary-file prefix and crash
    points, made on first use: atomicwrites imports tempfile (and with it
    shutil and random), milliseconds that opening a table and reading do not
    need."""
    made = globals().get("_Writer")
    if made is not None:
        return made
    from atomicwrites import AtomicWriter  # type: ignore[import-untyped]

    class _Writer(AtomicWriter):
        def get_fileobject(self, suffix="", prefix=TEMP_PREFIX, dir=None, **kwargs):
            return super().get_fileobject(suffix=suffix, prefix=TEMP_PREFIX, dir=dir, **kwargs)

        def commit(self, f):
            # atomicwrites' own commit renames and fsyncs the directory in one
            # call; done here step by step so crash tests can stop between them.
            _point("rename.before", self._path)
            os.replace(f.name, self._path)
            _point("rename.after", self._path)
            sync_dir(os.path.dirname(os.path.abspath(self._path)))

    globals()["_Writer"] = _Writer
    return _Writer


def __getattr__(name: str) -> Any:
    # ``fs._Writer`` (tests patch its methods) is made on first use too.
    if name == "_Writer":
        return _writer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Writes a temporary file beside it, fsyncs it, renames it over ``path``
    and fsyncs the directory: a crash leaves the old or the new content,
    never a mix. Creates missing parent directories durably.
    """
    makedirs(os.path.dirname(path))
    _point("checkpoint.write.before", path)
    with _writer()(path, mode="wb", overwrite=True).open() as f:
        f.write(data)
    _point("checkpoint.write.after", path)


def create_empty(path: str, *, durable: bool = True) -> None:
    """Create ``path`` as an empty file (mode 0600) if it does not exist; with
    ``durable``, fsync its directory so the new entry survives a power cut."""
    _point("file.create.before", path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    _point("file.create.after", path)
    if durable:
        sync_dir(os.path.dirname(os.path.abspath(path)))


def open_lock_file(path: str, read_only: bool) -> int:
    """Open (creating it 0600 unless ``read_only``) a lock file and return
    its descriptor, kept open for the life of a table."""
    if read_only:
        return os.open(path, os.O_RDONLY)
    _point("file.create.before", path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    _point("file.create.after", path)
    return fd


def remove(path: str, *, durable: bool = False) -> bool:
    """Delete the file ``path``; return whether it existed. With ``durable``,
    fsync its directory so the removal survives a power cut."""
    _point("file.remove.before", path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    _point("file.remove.after", path)
    if durable:
        sync_dir(os.path.dirname(os.path.abspath(path)))
    return True


def remove_dir(path: str) -> bool:
    """Remove the directory ``path`` if it is empty, fsyncing its parent;
    return whether it was removed (``False`` when it holds files or is gone)."""
    _point("dir.remove.before", path)
    try:
        os.rmdir(path)
    except OSError:
        return False
    _point("dir.remove.after", path)
    sync_dir(os.path.dirname(os.path.abspath(path)))
    return True


def remove_tree(path: str) -> None:
    """Delete the directory ``path`` and everything under it (missing is
    fine), then fsync its parent."""
    import shutil

    _point("dir.remove.before", path)
    shutil.rmtree(path, ignore_errors=True)
    _point("dir.remove.after", path)
    sync_dir(os.path.dirname(os.path.abspath(path)))


def rename(source: str, target: str) -> None:
    """Move ``source`` to ``target`` (replacing a file, or taking the name of
    a directory that does not exist) and fsync the target's directory."""
    _point("rename.before", target)
    os.replace(source, target)
    _point("rename.after", target)
    sync_dir(os.path.dirname(os.path.abspath(target)))


def truncate(fd: int, size: int, path: str) -> None:
    """Cut the file open as ``fd`` (``path``) to ``size`` bytes."""
    _point("file.truncate.before", path)
    os.ftruncate(fd, size)
    _point("file.truncate.after", path)


def remove_stale_temp_files(directory: str) -> int:
    """Delete temporary files a crash left in ``directory``; return how many."""
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        if name.startswith(TEMP_PREFIX) and remove(os.path.join(directory, name)):
            removed += 1
    return removed


def read_file(path: str) -> bytes:
    """Return the whole content of ``path``."""
    with open(path, "rb") as f:
        return f.read()


def read_head(path: str, size: int) -> tuple[bytes, int]:
    """Return the first ``size`` bytes of ``path`` (fewer when it is shorter)
    and the file's whole size."""
    with open(path, "rb", buffering=0) as f:
        return f.read(size) or b"", os.fstat(f.fileno()).st_size


def read_range(path: str, offset: int, size: int) -> bytes:
    """Return ``size`` bytes of ``path`` from ``offset`` (fewer at its end)."""
    with open(path, "rb", buffering=0) as f:
        f.seek(offset)
        return f.read(size) or b""


def signature(path: str) -> tuple[int, int, int] | None:
    """``(inode, mtime_ns, size)`` of ``path``, or ``None`` when it is missing:
    a file replaced atomically (a new inode) or rewritten gets a new one.
    One ``stat``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
