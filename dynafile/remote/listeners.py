"""Listeners for the writes made through one remote table object.

DynamoDB tells a writer only what its response says, so the images a
listener gets are those: a put, delete or update made alone asks DynamoDB
for the old item (``ReturnValues=ALL_OLD``) while a listener is registered,
and an update's new image is computed here from it with dynafile's own
update code. The batch writer and ``transact_write`` get no old images
from DynamoDB: their events carry ``old=None`` (and a transact_write
update no new image either). An optimistic transaction (``db.transaction()``)
read what it wrote over, so its events carry both. Events are delivered in
the writing thread after the write returned, in the order of the writes; a
listener that raises is logged and ignored; a listener may write through
the table (its events follow). Writes by other processes or clients are not
seen: follow :meth:`RemoteTable.stream` for those.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from ..listeners import Event, Listeners
from ..records import StreamRecord
from ..types import equal

__all__ = ["Change", "RemoteDelivery"]

Item = dict[str, Any]
#: ``(keys, old image or None, new image or None)``; both ``None`` for a
#: delete whose old image DynamoDB did not report.
Change = tuple[Item, "Item | None", "Item | None"]
_WITH_NEW = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
_WITH_OLD = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")


class RemoteDelivery:
    """The event and record listeners of one remote table, and their queue."""

    def __init__(self, table_name: str) -> None:
        self.events = Listeners()
        self.records = Listeners()
        self.view_type = "NEW_AND_OLD_IMAGES"
        self._name = table_name
        self._queue: deque[tuple[list[tuple[Item, Item | None, Item | None, bool]],
                                 float]] = deque()
        self._lock = threading.Lock()
        self._local = threading.local()

    def __bool__(self) -> bool:
        return bool(self.events or self.records)

    def deliver(self, changes: list[tuple[Item, Item | None, Item | None, bool]]) -> None:
        """Queue one write's changes ``(keys, old, new, is_delete)`` and
        deliver everything queued, unless this thread is delivering already."""
        if not self:
            return
        kept = [c for c in changes if not (c[1] is not None and c[2] is not None
                                           and equal(c[1], c[2]))]
        if kept:
            self._queue.append((kept, time.time()))
        if getattr(self._local, "active", False):
            return
        with self._lock:
            self._local.active = True
            try:
                while self._queue:
                    batch, when = self._queue.popleft()
                    self._emit(batch, when)
            finally:
                self._local.active = False

    def _emit(self, batch: list[tuple[Item, Item | None, Item | None, bool]],
              when: float) -> None:
        view = self.view_type
        for index, (keys, old, new, removed) in enumerate(batch):
            if self.events:
                self.events.emit(Event("DELETE" if removed else "PUT", new, old))
            if self.records:
                if removed:
                    name = "REMOVE"
                else:
                    name = "INSERT" if old is None else "MODIFY"
                self.records.emit(StreamRecord(
                    0, index, name, dict(keys), new if view in _WITH_NEW else None,
                    old if view in _WITH_OLD else None, False, len(batch), when, self._name))
