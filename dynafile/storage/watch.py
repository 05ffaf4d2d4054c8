"""File notifications: one ``watchdog`` observer per process, shared by every
table and stream that wants to hear about changes in a directory.

Notifications only make work happen sooner: every reader still checks the
log itself, so a lost notification (or none at all, where watching is not
available) costs latency, never correctness.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

__all__ = ["Watcher", "watcher"]


class Watcher:
    """Calls registered callbacks when something in a directory changes."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._observer: Any = None
        self._dirs: dict[str, tuple[Any, list[Callable[[], None]]]] = {}

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
            callbacks: list[Callable[[], None]] = [callback]

            class _Handler(FileSystemEventHandler):
                def on_any_event(self, event: Any) -> None:
                    for fn in callbacks:
                        fn()

            try:
                if self._observer is None:
                    observer = Observer()
                    observer.daemon = True
                    observer.start()
                    self._observer = observer
                watch = self._observer.schedule(_Handler(), directory, recursive=False)
            except Exception:  # noqa: BLE001 - inotify limits, exotic file systems: poll instead
                return False
            self._dirs[directory] = (watch, callbacks)
            return True

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


#: The process's watcher.
watcher = Watcher()
