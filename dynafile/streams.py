"""Change events and the listeners that receive them.

Listeners registered with :meth:`Dynafile.add_stream_listener` are called
after a write is committed and visible, in commit order, once per item
change, outside the table's lock. A listener that raises is logged and does
not undo or block the write.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, NamedTuple

__all__ = ["Event", "Listeners", "StreamListener"]

log = logging.getLogger("dynafile")


class Event(NamedTuple):
    """One item change, as the original dynafile reports it.

    Attributes:
        action: ``"PUT"`` (the item was created or replaced) or ``"DELETE"``.
        new: the item after the change (``None`` for a delete).
        old: the item before the change (``None`` when it did not exist).
        sequence: the log sequence number of the write that made the change.
        expired: ``True`` for a delete made by TTL expiry.
    """

    action: str
    new: dict | None
    old: dict | None
    sequence: int = 0
    expired: bool = False

    @property
    def event_name(self) -> str:
        """DynamoDB Streams' name for the change: INSERT, MODIFY or REMOVE."""
        if self.action == "DELETE":
            return "REMOVE"
        return "INSERT" if self.old is None else "MODIFY"


StreamListener = Callable[[Event], Any]


class Listeners:
    """A thread-safe list of listeners."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[StreamListener] = []

    def add(self, fn: StreamListener) -> None:
        if not callable(fn):
            from .errors import ValidationError

            raise ValidationError("a stream listener must be callable", attribute="listener")
        with self._lock:
            self._listeners = self._listeners + [fn]

    def remove(self, fn: StreamListener) -> None:
        with self._lock:
            if fn in self._listeners:
                items = list(self._listeners)
                items.remove(fn)
                self._listeners = items

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def emit(self, event: Event) -> None:
        for fn in self._listeners:
            try:
                fn(event)
            except Exception:  # a listener must never undo or block a write
                log.exception("dynafile stream listener %r raised", fn)
