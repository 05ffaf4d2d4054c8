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
from contextlib import contextmanager
from typing import Iterator, Optional

import portalocker

from ..errors import LockTimeoutError

__all__ = ["TableLock"]


class TableLock:
    """The write lock (exclusive) and catch-up lock (shared) of one table.

    Args:
        path: the LOCK file; created when missing.
        timeout: seconds to wait for the process lock before raising
            :class:`~dynafile.errors.LockTimeoutError`; ``None`` waits forever.
        read_only: open the LOCK file read-only (a read-only directory).
    """

    def __init__(self, path: str, timeout: Optional[float] = 60.0, read_only: bool = False) -> None:
        self.path = path
        self.timeout = timeout
        self.thread_lock = threading.RLock()
        flags = os.O_RDONLY if read_only else (os.O_RDWR | os.O_CREAT)
        self._fd = os.open(path, flags, 0o644)
        self._file = os.fdopen(self._fd, "rb" if read_only else "r+b", buffering=0)
        self._depth = 0
        self._mode = 0

    def _acquire_process(self, flags: int) -> None:
        try:
            portalocker.lock(self._file, flags | portalocker.LOCK_NB)
            return
        except portalocker.exceptions.LockException:
            pass
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        delay = 0.0005
        while True:
            try:
                portalocker.lock(self._file, flags | portalocker.LOCK_NB)
                return
            except portalocker.exceptions.LockException:
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"could not lock {self.path} within {self.timeout} s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.01)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the thread lock and the exclusive process lock (re-entrant in a thread)."""
        with self.thread_lock:
            if self._depth and self._mode == portalocker.LOCK_EX:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            if self._depth:
                raise RuntimeError("cannot upgrade a shared table lock to exclusive")
            self._acquire_process(portalocker.LOCK_EX)
            self._depth, self._mode = 1, portalocker.LOCK_EX
            try:
                yield
            finally:
                self._depth, self._mode = 0, 0
                portalocker.unlock(self._file)

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
            self._acquire_process(portalocker.LOCK_SH)
            self._depth, self._mode = 1, portalocker.LOCK_SH
            try:
                yield
            finally:
                self._depth, self._mode = 0, 0
                portalocker.unlock(self._file)

    def close(self) -> None:
        """Release the LOCK file."""
        self._file.close()
