"""Locks: a thread lock paired with a ``portalocker`` lock on the LOCK file.

The LOCK file is opened once and kept open for the life of the table: a lock
on a file that is later replaced protects nothing. ``flock`` locks belong to
an open file description, so two tables open on one directory in one process
exclude each other like two processes do; the thread lock keeps the threads
sharing one table from racing on that one descriptor.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import LockTimeoutError
from . import fs

__all__ = ["TableLock", "TaskLock", "process_generation"]

#: How many times this process is a fork() child of the one that imported
#: dynafile: an object opened under another generation belongs to a parent.
_generation = 0


def _forked() -> None:
    global _generation
    _generation += 1


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forked)


def process_generation() -> int:
    """A number that changes in a child process after ``os.fork()``: files and
    locks opened under another number are the parent's."""
    return _generation

try:  # portalocker locks with flock(2) on POSIX; call it directly on the hot path
    import fcntl

    _flock = fcntl.flock
    _LOCK_NB = fcntl.LOCK_NB
    _LOCK_UN = fcntl.LOCK_UN
    _EX, _SH = fcntl.LOCK_EX, fcntl.LOCK_SH
except ImportError:  # pragma: no cover - Windows: portalocker's msvcrt locks
    import portalocker

    _flock = None  # type: ignore[assignment]
    _LOCK_NB = _LOCK_UN = 0
    _EX, _SH = portalocker.LOCK_EX, portalocker.LOCK_SH


def _portalocker():  # type: ignore[no-untyped-def]
    """portalocker, imported when first needed (it costs ~40 ms at import)."""
    import portalocker

    return portalocker


class TableLock:
    """The write lock (exclusive) and catch-up lock (shared) of one table.

    Args:
        path: the LOCK file; created when missing.
        timeout: seconds to wait for the process lock before raising
            :class:`~dynafile.errors.LockTimeoutError`; ``None`` waits forever.
        read_only: open the LOCK file read-only (a read-only directory).
    """

    def __init__(self, path: str, timeout: float | None = 60.0, read_only: bool = False) -> None:
        self.path = path
        self.timeout = timeout
        self.thread_lock = threading.RLock()
        self._fd = fs.open_lock_file(path, read_only)
        self._file = os.fdopen(self._fd, "rb" if read_only else "r+b", buffering=0)
        self._depth = 0
        self._mode = 0
        self._owner: int | None = None

    def _acquire_process(self, flags: int,
                         while_waiting: Callable[[], bool] | None = None) -> None:
        if _flock is not None:
            # The uncontended path: one flock(2) call, no wrapper objects.
            try:
                _flock(self._fd, int(flags) | _LOCK_NB)
                return
            except BlockingIOError:
                pass
        if _flock is not None and self.timeout is None:
            _flock(self._fd, int(flags))  # wait as long as it takes, woken by the kernel
            return
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        # Short sleeps: writes hold the lock for tens of microseconds (plus an
        # fsync), so a long back-off would leave the lock idle while we sleep.
        delay = 0.0001
        while True:
            try:
                if _flock is not None:
                    _flock(self._fd, int(flags) | _LOCK_NB)
                else:  # pragma: no cover - non-POSIX
                    locker = _portalocker()
                    try:
                        locker.lock(self._file, flags | locker.LOCK_NB)
                    except locker.exceptions.LockException:
                        raise BlockingIOError() from None
                return
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"could not lock {self.path} within {self.timeout} s"
                    ) from None
                if while_waiting is not None and while_waiting():
                    continue  # it did some work: try again at once
                time.sleep(delay)
                delay = min(delay * 2, 0.002)

    def acquire_exclusive(self, while_waiting: Callable[[], bool] | None = None) -> None:
        """Take the thread lock and the exclusive process lock (re-entrant in a
        thread). Pair with :meth:`release_exclusive`.

        ``while_waiting()`` is called, with the thread lock held, each time
        another process holds the lock (not with ``timeout=None``, which
        waits in the kernel): work to do meanwhile, returning whether it did
        any (else the wait sleeps a little). An exception from it is raised.

        Raises:
            LockTimeoutError: another process held the lock past ``timeout``.
        """
        self.thread_lock.acquire()
        try:
            if self._depth:
                if self._mode != _EX:
                    raise RuntimeError("cannot upgrade a shared table lock to exclusive")
                self._depth += 1
                return
            self._acquire_process(_EX, while_waiting)
            self._depth, self._mode = 1, _EX
            self._owner = threading.get_ident()
        except BaseException:
            self.thread_lock.release()
            raise

    def release_exclusive(self) -> None:
        """Undo one :meth:`acquire_exclusive`."""
        try:
            self._depth -= 1
            if self._depth == 0:
                self._mode, self._owner = 0, None
                self._release_process()
        finally:
            self.thread_lock.release()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the thread lock and the exclusive process lock (re-entrant in a thread)."""
        self.acquire_exclusive()
        try:
            yield
        finally:
            self.release_exclusive()

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the thread lock and a shared process lock (or the exclusive one
        already held by this thread)."""
        with self.thread_lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._acquire_process(_SH)
            self._depth, self._mode = 1, _SH
            self._owner = threading.get_ident()
            try:
                yield
            finally:
                self._depth, self._mode, self._owner = 0, 0, None
                self._release_process()

    def held_by_this_thread(self) -> bool:
        """Whether the calling thread holds the process lock (either mode)."""
        return self._owner == threading.get_ident()

    def _release_process(self) -> None:
        if _flock is not None:
            _flock(self._fd, _LOCK_UN)
        else:  # pragma: no cover - non-POSIX
            _portalocker().unlock(self._file)

    def close(self) -> None:
        """Release the LOCK file."""
        self._file.close()


class TaskLock:
    """A lock for a task one holder at a time may run (a checkpoint), across
    the threads of a process and across processes, that can be tried
    without waiting.

    Args:
        path: its lock file; created when missing.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread = threading.Lock()
        self._fd = fs.open_lock_file(path, False)
        self._file = os.fdopen(self._fd, "r+b", buffering=0)

    @contextmanager
    def hold(self, wait: bool) -> Iterator[bool]:
        """Hold the lock; yields ``True``, or ``False`` without waiting when
        ``wait`` is false and another thread or process holds it."""
        if not self._thread.acquire(blocking=wait):
            yield False
            return
        try:
            if _flock is not None:
                try:
                    _flock(self._fd, _EX if wait else _EX | _LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
            else:  # pragma: no cover - non-POSIX
                locker = _portalocker()
                try:
                    locker.lock(self._file, _EX if wait else _EX | locker.LOCK_NB)
                except locker.exceptions.LockException:
                    yield False
                    return
            try:
                yield True
            finally:
                if _flock is not None:
                    _flock(self._fd, _LOCK_UN)
                else:  # pragma: no cover - non-POSIX
                    _portalocker().unlock(self._file)
        finally:
            self._thread.release()

    def close(self) -> None:
        """Release the lock file."""
        self._file.close()
