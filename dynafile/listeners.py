"""In-process listeners: change events delivered to callables in this process.

Listeners registered with :meth:`Dynafile.add_stream_listener` are called
for the writes made through that table object, after each write is
committed and visible, in commit order, once per item change, outside the
table's lock. A listener that raises is logged and does not undo or block
the write. A listener may itself write through the same table (a counter,
an audit item, a denormalised copy): its changes are delivered after the
current delivery, still in commit order.

(To follow every process's writes, durably and from any position, read the
log with :meth:`Dynafile.stream`: :mod:`dynafile.streams`.)
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, NamedTuple, Protocol

from .errors import ValidationError
from .records import StreamRecord, item_changes, to_record
from .storage.log import Op

__all__ = ["Delivery", "Event", "Listeners", "StreamListener"]


class Event(NamedTuple):
    """One item change, as the original dynafile reports it.

    Attributes:
        action: ``"PUT"`` (the item was created or replaced) or ``"DELETE"``.
        new: the item after the change (``None`` for a delete).
        old: the item before the change (``None`` when it did not exist or
            had expired).
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


StreamListener = Callable[[Any], Any]


class Listeners:
    """A thread-safe list of listeners."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[StreamListener] = []

    def add(self, fn: StreamListener) -> None:
        """Register ``fn``.

        Raises:
            ValidationError: ``fn`` is not callable.
        """
        if not callable(fn):
            raise ValidationError("a stream listener must be callable", attribute="listener")
        with self._lock:
            self._listeners = [*self._listeners, fn]

    def remove(self, fn: StreamListener) -> None:
        """Unregister ``fn``; an unknown listener is ignored."""
        with self._lock:
            if fn in self._listeners:
                items = list(self._listeners)
                items.remove(fn)
                self._listeners = items

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def emit(self, payload: Event | StreamRecord) -> None:
        """Call every listener with ``payload``; a listener that raises is logged."""
        for fn in self._listeners:
            try:
                fn(payload)
            except Exception:  # a listener must never undo or block a write
                import logging  # here: importing it costs a new process milliseconds

                logging.getLogger("dynafile").exception("dynafile stream listener %r raised",
                                                        fn)


class Source(Protocol):
    """What a delivery needs to know of its table (the table core provides it)."""

    @property
    def name(self) -> str:
        """The table's name."""

    @property
    def space(self) -> str:
        """The space of the table's items."""

    @property
    def pk_attribute(self) -> str:
        """The partition key attribute."""

    @property
    def sk_attribute(self) -> str | None:
        """The sort key attribute."""


class Delivery:
    """Hands a table's committed records to its listeners, in commit order.

    :meth:`queue` is called under the write lock, so records enter the queue
    in commit order; :meth:`drain` runs after the lock is released. One
    thread delivers at a time; a listener's own write (in the delivering
    thread) only queues its record, which the same loop delivers next, so a
    listener can write without waiting on itself.

    Args:
        table: the table whose changes it delivers.
        loads: decodes stored item bytes.
        view_type: the images record listeners get.
    """

    def __init__(self, table: Source, loads: Callable[[bytes], Any],
                 view_type: Callable[[], str]) -> None:
        self.events = Listeners()
        self.records = Listeners()
        self._table = table
        self._loads = loads
        self._view_type = view_type
        self._queue: deque[tuple[int, list[Op], int]] = deque()
        self._lock = threading.Lock()
        self._local = threading.local()

    def queue(self, lsn: int, ops: list[Op], time_ms: int) -> None:
        """Note a committed record and its time (under the write lock). O(1)."""
        if self.events or self.records:
            self._queue.append((lsn, ops, time_ms))

    def drain(self) -> None:
        """Deliver every queued record, unless this thread is delivering already
        (a listener writing): the loop running further up delivers it next.
        Returns once the records queued before the call were delivered."""
        if not self._queue and not (self.events or self.records):
            return
        if getattr(self._local, "active", False):
            return
        with self._lock:
            self._local.active = True
            try:
                while self._queue:
                    lsn, ops, time_ms = self._queue.popleft()
                    self._deliver(lsn, ops, time_ms)
            finally:
                self._local.active = False

    def _deliver(self, lsn: int, ops: list[Op], time_ms: int) -> None:
        changes = item_changes(ops)
        view = self._view_type()
        table = self._table
        space = table.space
        names = (table.pk_attribute, table.sk_attribute)
        for index, op in enumerate(changes):
            if op.space != space:
                continue
            full = to_record(lsn, index, len(changes), op, names, self._loads,
                             "NEW_AND_OLD_IMAGES", table.name, time_ms)
            if self.events:
                self.events.emit(Event("PUT" if full.new is not None else "DELETE", full.new,
                                       full.old, lsn, full.expired))
            if self.records:
                self.records.emit(full._replace(
                    new=full.new if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None,
                    old=full.old if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None))
