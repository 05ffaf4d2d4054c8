"""File notifications: one ``watchdog`` observer per process, shared by every
table and stream that wants to hear about changes in a directory.

Notifications only make work happen sooner: every reader still checks the
log itself, so a lost notification (or none at all, where watching is not
available) costs latency, never correctness. Where watching fails (the
inotify instance or watch limit reached, an exotic file system), tables
and streams poll instead, and the process is warned once.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from typing import Any, Callable

__all__ = ["RETRY_AFTER", "Watcher", "watcher"]

#: Seconds after a failure to watch during which no new watch is attempted.
RETRY_AFTER = 60.0


class Watcher:
    """Calls registered callbacks when something in a directory changes."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._observer: Any = None
        self._dirs: dict[str, tuple[Any, list[Callable[[], None]]]] = {}
        #: Whether this process was told that watching failed.
        self.warned = False
        #: When watching last failed: until RETRY_AFTER seconds later, tables
        #: poll without trying (a failing attempt can cost descriptors).
        self._failed_at: float | None = None

    def add(self, directory: str, callback: Callable[[], None]) -> bool:
        """Call ``callback()`` (in the observer's thread) whenever an entry of
        ``directory`` changes; return ``False`` when file watching is not
        available here (the caller then polls)."""
        if self._pid != os.getpid():  # a forked child: the observer thread is gone
            self.__init__()  # type: ignore[misc]
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - a declared dependency
            return False
        with self._lock:
            entry = self._dirs.get(directory)
            if entry is not None:
                entry[1].append(callback)
                return True
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER:
                return False
            callbacks: list[Callable[[], None]] = [callback]

            class _Handler(FileSystemEventHandler):
                def on_any_event(self, event: Any) -> None:
                    for fn in callbacks:
                        fn()

            started = None
            try:
                if self._observer is None:
                    started = Observer()
                    started.daemon = True
                    started.start()
                    self._observer = started
                watch = self._observer.schedule(_Handler(), directory, recursive=False)
            except Exception as exc:  # noqa: BLE001 - inotify limits, exotic file systems: poll
                if started is not None:  # leave no thread (nor its descriptors) behind
                    self._observer = None
                    _stop(started)
                self._failed_at = time.monotonic()
                self._warn(directory, exc)
                return False
            self._failed_at = None
            self._dirs[directory] = (watch, callbacks)
            return True

    def _warn(self, directory: str, exc: BaseException) -> None:
        """Say once per process that watching failed and polling takes over."""
        if self.warned:
            return
        self.warned = True
        try:
            warnings.warn(
                f"dynafile: cannot watch {directory} for changes ({type(exc).__name__}: "
                f"{exc}); polling instead, so other processes' writes are seen at the next "
                "read rather than at once (on Linux, raise fs.inotify.max_user_watches or "
                "max_user_instances). Later failures in this process are not reported.",
                RuntimeWarning, stacklevel=2)
        except Exception:  # noqa: BLE001, S110 - warnings turned into errors: still open
            pass

    def remove(self, directory: str, callback: Callable[[], None]) -> None:
        """Stop calling ``callback`` for ``directory``; unknown pairs are ignored."""
        if self._pid != os.getpid():
            return
        with self._lock:
            entry = self._dirs.get(directory)
            if entry is None or callback not in entry[1]:
                return
            entry[1].remove(callback)
            if not entry[1]:
                del self._dirs[directory]
                try:
                    self._observer.unschedule(entry[0])
                except Exception:  # noqa: BLE001, S110 - already gone with its directory
                    pass


def _stop(observer: Any) -> None:
    try:
        observer.stop()
        observer.join(timeout=5)
    except Exception:  # noqa: BLE001, S110 - never started, or already gone
        pass


#: The process's watcher.
watcher = Watcher()
