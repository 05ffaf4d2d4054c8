"""Change streams any process can follow: the write-ahead log, read as records.

Every write to a table is one log record with a log sequence number (its
*sequence*, rising by one per record). :func:`stream` reads those records
straight from ``wal/`` without taking any lock (readers never block writers,
and work on a read-only directory) and turns each item change of a record into
one :class:`StreamRecord`, in commit order. Index maintenance is not a change
of its own and produces no record.

Positions. A :class:`StreamRecord` is identified by its ``position``:
``(sequence, index)``, the log record's sequence number and the change's
0-based index inside that record (a put is ``(n, 0)``; a batch or transaction
of k changes is ``(n, 0) .. (n, k-1)``). Positions compare as tuples, in
stream order. ``from_sequence`` accepts a sequence number (start after that
whole record), a position tuple (start after that change) or a record.

Retention. A log segment is deleted once a checkpoint covers it and it is
older than the table engine's ``retention`` (24 hours by default), so a
stream can start from any position within retention; an older position
raises :class:`StreamTrimmedError`.

Consumers. ``consumer="billing"`` stores the position durably in
``<table>/streams/billing.json`` (atomic replace) and resumes there after a
restart, in this process or another. With ``auto_commit=True`` (the default) a
record counts as processed once the consumer asks for the next one: asking
for the next record commits the previous ones (every ``batch`` records, and
always before the stream waits for new writes or ends). A consumer that is
killed therefore gets every change in order after a restart, and at most the
records handed out since its last commit (at most ``batch``; with the default
``batch=1``, at most the one it was processing) a second time. Effects that
must happen exactly once key them by ``record.position`` (skip positions not
above the last one applied: positions only grow), or commit manually with
``auto_commit=False`` and :meth:`ChangeStream.commit` once the effect is
durable. One process at a time may use a consumer name
(:class:`ConsumerBusyError`).

Following. With ``follow=True`` a stream at the end of the log waits for new
records: a ``watchdog`` observer on ``wal/`` wakes it when a file changes,
and it re-checks every second anyway (notifications can be lost). A record
is delivered as soon as it is in the log file, which may be a moment before
its writer's ``fsync`` returns.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import (
    ConsumerBusyError,
    CorruptFileError,
    ForkedProcessError,
    LockTimeoutError,
    StreamTrimmedError,
    ValidationError,
)
from .records import VIEW_TYPES, Position, StreamRecord, item_changes, to_record
from .storage import fs
from .storage.layout import Layout
from .storage.locking import TableLock, process_generation
from .storage.log import WRITES, Frame, LogReader, decode_record
from .storage.watch import watcher

if TYPE_CHECKING:  # pragma: no cover
    from .core import DatabaseCore, TableCore

__all__ = [
    "VIEW_TYPES",
    "ChangeStream",
    "StreamRecord",
    "consumer_position",
    "reset_consumer",
    "stream",
]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
_RECHECK = 1.0  # seconds between checks of the log while a watch is active
_POLL = 0.05  # seconds between checks when file watching is unavailable
_CHUNK = 8 << 20  # bytes read from a segment at a time
_MAX_POS = 1 << 62  # the index meaning "the whole record"


# ---------------------------------------------------------------- consumers


def _check_consumer(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            "must be 1 to 100 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
            attribute="consumer")
    return name


def _read_position(path: str) -> Position | None:
    try:
        raw = fs.read_file(path)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        index = data["index"]
        return (int(data["sequence"]), _MAX_POS if index is None else int(index))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(path, 0, f"unreadable consumer position: {exc}") from None


def consumer_position(core: TableCore | DatabaseCore, name: str) -> None | int | Position:
    """Return consumer ``name``'s committed position: a sequence number (that
    whole write was processed), a ``(sequence, index)`` position, or ``None``
    when it never committed. Either form can be passed as ``from_sequence``.

    Raises:
        ValidationError: ``name`` is not a valid consumer name.
        CorruptFileError: the position file is unreadable.
    """
    position = _read_position(core.layout.consumer_paths(_check_consumer(name))[0])
    return None if position is None else _public(position)


def reset_consumer(core: TableCore | DatabaseCore, name: str) -> bool:
    """Forget consumer ``name``'s position (its next stream starts at its
    ``from_sequence``); return whether there was one.

    Raises:
        ValidationError: ``name`` is not a valid consumer name.
        ConsumerBusyError: a stream is using the consumer right now.
    """
    path, lock_path = core.layout.consumer_paths(_check_consumer(name))
    lock = _lock_consumer(lock_path, name)
    try:
        return fs.remove(path, durable=True)
    finally:
        lock.close()


def _lock_consumer(lock_path: str, name: str) -> TableLock:
    fs.makedirs(os.path.dirname(lock_path))
    lock = TableLock(lock_path, 0.0)
    try:
        lock.acquire_exclusive()
    except LockTimeoutError:
        lock.close()
        raise ConsumerBusyError(f"stream consumer {name!r} is in use by another stream") from None
    except BaseException:
        lock.close()
        raise
    return lock


# ------------------------------------------------------------------ stream


class ChangeStream(Iterator[StreamRecord]):
    """An iterator of :class:`StreamRecord` over a table's log (see :func:`stream`).

    Not thread-safe, except :meth:`close`, which another thread may call to
    end a waiting iteration. After a ``timeout`` ended an iteration the
    stream stays open: iterating again waits again. As a context manager, a
    clean exit of the ``with`` block commits every record handed out (with
    ``auto_commit``) and closes; an exit by exception commits nothing more.
    """

    def __init__(
        self,
        core: DatabaseCore,
        table: TableCore | None,
        after: Position,
        segment: int,
        offset: int,
        last_lsn: int,
        *,
        consumer: str | None,
        consumer_file: str | None,
        consumer_lock: TableLock | None,
        timeout: float | None,
        follow: bool,
        batch: int,
        view_type: str,
        auto_commit: bool,
        store_start: bool = False,
    ) -> None:
        self.path = core.path
        self._database = core if table is None else table.database
        self._space = None if table is None else table.space
        self.consumer = consumer
        self.view_type = view_type
        self.follow = follow
        self.timeout = timeout
        self.batch = batch
        self.auto_commit = auto_commit
        self._layout: Layout = core.layout
        self._after = after
        # Until construction succeeds the caller owns the consumer lock.
        self._closed, self._consumer_lock, self._watching = True, None, False
        self._reader: LogReader | None = None
        try:
            self._reader = LogReader(self._layout, segment, offset, last_lsn, chunk=_CHUNK)
        except FileNotFoundError:
            raise _trimmed(self._layout, after, consumer) from None
        self._frames: deque[Frame] = deque()
        self._records: deque[StreamRecord] = deque()
        self._handed: Position = after  # the last record handed out
        self._done: Position = after  # the last record known processed
        self._scanned = after  # every change up to here was handed out or skipped
        self._committed: Position | None = None
        self._since_commit = 0
        self._consumer_file = consumer_file
        self._lock = threading.RLock()  # reading vs close() from another thread
        self._wake = threading.Event()
        self._generation = process_generation()
        self._closed = False
        try:
            if consumer_file is not None:
                if store_start:  # a new consumer: a restart must resume here, not at the end
                    self._store(after)
                self._committed = after
            self._watching = watcher.add(self._layout.wal, self._wake.set) if follow else False
        except BaseException:
            self._closed = True
            self._release()
            raise
        self._consumer_lock = consumer_lock

    # -- public

    @property
    def position(self) -> int | Position:
        """The position of the last record handed out (or the starting point):
        a sequence number when a whole write was handed out, else
        ``(sequence, index)``; either can be passed as ``from_sequence``."""
        return _public(self._handed)

    @property
    def committed(self) -> None | int | Position:
        """The consumer's committed position (``None`` without a consumer), in
        the form of :attr:`position`."""
        return None if self._committed is None else _public(self._committed)

    def __iter__(self) -> ChangeStream:
        return self

    def __next__(self) -> StreamRecord:
        """Return the next change, waiting for one when following.

        Asking for a record marks the previous ones processed (``auto_commit``).

        Raises:
            StopIteration: the stream is closed, reached the end of the log
                (``follow=False``) or waited ``timeout`` seconds for nothing.
            StreamTrimmedError: the log to read next was deleted by retention.
            CorruptFileError: the log fails its checks.
            ForkedProcessError: the stream was opened before this process forked.
        """
        self._check_process()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            with self._lock:
                if self._closed:
                    raise StopIteration
                self._done = self._handed
                if self.auto_commit and self._since_commit >= self.batch:
                    self._store(self._done)
                record = self._next_available()
                if record is not None:
                    return record
                # At the end of the log: everything handed out was processed.
                if self.auto_commit:
                    self._store(self._scanned)
                if not self.follow:
                    raise StopIteration
            wait = _RECHECK if self._watching else _POLL
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StopIteration
                wait = min(wait, left)
            self._wake.wait(wait)

    def commit(self, upto: None | int | Position | StreamRecord = None) -> None:
        """Store the consumer's position durably (atomic file replace): every
        record up to ``upto`` (default: every record handed out) is processed.

        A no-op without a consumer, or when the position would not move forward.

        Raises:
            ValidationError: ``upto`` is malformed or beyond what was handed out.
            ForkedProcessError: the stream was opened before this process forked.
        """
        self._check_process()
        if isinstance(upto, StreamRecord):
            position = upto.position
            if upto.index == upto.count - 1:
                position = (upto.sequence, _MAX_POS)
        elif upto is None:
            position = self._handed
        else:
            position = _check_position(upto, "upto")
        if position > max(self._handed, self._scanned if not self._records else self._handed):
            raise ValidationError(f"{_public(position)} was not handed out yet", attribute="upto")
        with self._lock:
            self._store(position)

    def close(self, commit: bool | None = None) -> None:
        """Stop the stream and release its files; idempotent.

        Args:
            commit: ``True``: commit every record handed out first;
                ``False``: commit nothing more; ``None`` (default): with
                ``auto_commit``, commit the records known processed (all but
                the last one handed out, which is delivered again after a
                restart unless committed).
        """
        if self._generation != process_generation():
            commit = False  # the parent's consumer: a forked child stores nothing
        with self._lock:
            if self._closed:
                return
            if commit or (commit is None and self.auto_commit):
                self._store(self._handed if commit else self._done)
            self._closed = True
            self._wake.set()
            self._release()

    def __enter__(self) -> ChangeStream:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(commit=self.auto_commit and exc_type is None)

    def __del__(self) -> None:
        try:
            if not self._closed:
                self.close(commit=False)
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass

    def __repr__(self) -> str:
        return (f"ChangeStream({self.path!r}, position={self.position}, "
                f"consumer={self.consumer!r})")

    # -- internals

    def _store(self, position: Position) -> None:
        """Write ``position`` to the consumer file when it moves forward. Lock held."""
        self._since_commit = 0
        if self._consumer_file is None or self._closed:
            return
        if self._committed is not None and position <= self._committed:
            return
        index = None if position[1] == _MAX_POS else position[1]
        data = {"consumer": self.consumer, "sequence": position[0], "index": index,
                "time": time.time()}
        fs.atomic_write_bytes(self._consumer_file, json.dumps(data).encode())
        self._committed = position

    def _next_available(self) -> StreamRecord | None:
        """Return the next record already in the log, or ``None`` at its end. Lock held."""
        self._wake.clear()  # before looking: a write after this wakes the wait
        while True:
            if self._records:
                record = self._records.popleft()
                whole = record.index == record.count - 1
                self._handed = (record.sequence, _MAX_POS if whole else record.index)
                self._since_commit += 1
                return record
            if self._frames:
                self._decode(self._frames.popleft())
                continue
            reader = self._reader
            if reader is None:
                return None
            if reader.gone:
                raise _trimmed(self._layout, (reader.lsn, _MAX_POS), self.consumer)
            frames = reader.read()
            if not frames and not reader.gone:
                # The end of the log, or a write in progress (or a torn tail its
                # next writer cuts off): look again later.
                return None
            self._frames.extend(frames)

    def _check_process(self) -> None:
        """Raise :class:`~dynafile.errors.ForkedProcessError` in a child forked
        after the stream was opened: its consumer and files are the parent's."""
        if self._generation != process_generation():
            raise ForkedProcessError(
                "this stream was opened in the parent of this forked process: open a stream "
                "in this process instead (a named consumer serves one stream at a time)")

    def _release(self) -> None:
        if self._watching:
            self._watching = False
            watcher.remove(self._layout.wal, self._wake.set)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._consumer_lock is not None:
            self._consumer_lock.close()
            self._consumer_lock = None

    def _decode(self, frame: Frame) -> None:
        """Turn one frame into records, skipping those not after the start."""
        after_lsn, after_index = self._after
        if frame.rtype not in WRITES or frame.lsn < after_lsn or (
                frame.lsn == after_lsn and after_index == _MAX_POS):
            self._scanned = (frame.lsn, _MAX_POS)
            return
        try:
            time_ms, all_ops = decode_record(frame.rtype, frame.body)
            ops = item_changes(all_ops)
        except ValueError as exc:
            raise CorruptFileError(self._layout.segment_path(frame.segment), frame.start,
                                   f"malformed record: {exc}") from None
        count = len(ops)
        first = after_index + 1 if frame.lsn == after_lsn else 0
        for index in range(first, count):
            op = ops[index]
            if self._space is not None and op.space != self._space:
                continue
            source = self._database.record_source(op.space)
            if source is None:
                continue  # a table this process cannot describe
            name, key_names, loads = source
            self._records.append(to_record(frame.lsn, index, count, op, key_names, loads,
                                           self.view_type, name, time_ms))
        self._scanned = (frame.lsn, _MAX_POS)


def _public(position: Position) -> int | Position:
    return position[0] if position[1] == _MAX_POS else position


def _trimmed(layout: Layout, after: Position, consumer: str | None) -> StreamTrimmedError:
    segments = layout.segments()
    oldest = segments[0] if segments else 0
    who = f"consumer {consumer!r} at " if consumer else ""
    shown = after[0] if after[1] == _MAX_POS else after
    return StreamTrimmedError(
        f"{who}stream position {shown} is no longer in the log: records before "
        f"sequence {oldest} were deleted by retention", after, oldest)


def _check_position(value: Any, attribute: str) -> Position:
    if isinstance(value, StreamRecord):
        return value.position
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return (value, _MAX_POS)
    if (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        return (value[0], value[1])
    raise ValidationError("must be None, a sequence number >= 0, a (sequence, index) "
                          "position or a StreamRecord", attribute=attribute)


def _locate(layout: Layout, after: Position, oldest_ok: bool) -> int:
    """Return the first lsn of the segment holding the first record after ``after``."""
    target = after[0] + 1 if after[1] == _MAX_POS else after[0]
    segments = layout.segments()
    if not segments:
        raise CorruptFileError(layout.wal, None, "the table has no log segment")
    if oldest_ok and target <= segments[0]:
        return segments[0]
    candidates = [first for first in segments if first <= target]
    if not candidates:
        raise _trimmed(layout, after, None)
    # An empty segment other than the last is a leftover of a rotation that a
    # crash interrupted: it holds nothing, the segment before it does.
    while len(candidates) > 1 and candidates[-1] != segments[-1] and _empty(layout,
                                                                             candidates[-1]):
        candidates.pop()
    return candidates[-1]


def _empty(layout: Layout, first: int) -> bool:
    try:
        return os.path.getsize(layout.segment_path(first)) == 0
    except FileNotFoundError:
        return True


def stream(
    core: DatabaseCore,
    table: TableCore | None = None,
    *,
    from_sequence: None | int | Position | StreamRecord = None,
    consumer: str | None = None,
    timeout: float | None = None,
    follow: bool = True,
    batch: int = 1,
    view_type: str | None = None,
    auto_commit: bool = True,
) -> ChangeStream:
    """Return an iterator of the table's changes as :class:`StreamRecord`,
    in commit order, each exactly once (see the module docs for consumers).

    Args:
        core: an open database.
        table: the table whose changes to read, or ``None`` for every
            table's (each record names its ``table``).
        from_sequence: where to start: ``None`` (default) after the last
            committed write, so only new changes; ``0`` at the oldest record
            still retained; a sequence number ``n`` after record ``n``; a
            ``(sequence, index)`` position or a :class:`StreamRecord` after
            that change. For a consumer, used only when it has no stored
            position yet.
        consumer: a name (letters, digits, ``_.-``) under which the position
            is stored in ``<table>/streams/<name>.json`` and resumed.
        timeout: with ``follow``, seconds to wait without a new record before
            the iteration ends (``None``: forever).
        follow: wait for new writes at the end of the log (``False``: stop there).
        batch: with ``auto_commit``, store the consumer position after this
            many records at most (and always before waiting or ending); after
            a crash at most this many records are delivered again.
        view_type: ``"NEW_AND_OLD_IMAGES"``, ``"NEW_IMAGE"``, ``"OLD_IMAGE"``
            or ``"KEYS_ONLY"``: which item images records carry (default:
            the table's stream view type).
        auto_commit: commit handed-out records when the next one is asked
            for; ``False``: only :meth:`ChangeStream.commit` stores the position.

    Returns:
        A :class:`ChangeStream` (iterator, context manager, ``commit()``, ``close()``).

    Raises:
        ValidationError: a bad argument, a consumer on a read-only table, or
            ``from_sequence`` beyond the end of the log.
        StreamTrimmedError: the start position was already deleted by retention.
        ConsumerBusyError: another stream uses ``consumer``.
        CorruptFileError: the log or the consumer file fails its checks.
    """
    if view_type is None:
        view_type = "NEW_AND_OLD_IMAGES" if table is None else table.view_type
    if view_type not in VIEW_TYPES:
        raise ValidationError(f"must be one of {', '.join(VIEW_TYPES)}", attribute="view_type")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout < 0):
        raise ValidationError("must be None or a number of seconds >= 0", attribute="timeout")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValidationError("must be a positive int", attribute="batch")
    start = None if from_sequence is None else _check_position(from_sequence, "from_sequence")
    (core if table is None else table).check_open()
    end, end_segment, end_offset = core.log_position()
    consumer_file = lock = None
    if consumer is not None:
        if core.read_only:
            raise ValidationError("a consumer stores its position: the table is read-only",
                                  attribute="consumer")
        consumer_file, lock_path = core.layout.consumer_paths(_check_consumer(consumer))
        lock = _lock_consumer(lock_path, consumer)
    try:
        layout = core.layout
        stored = _read_position(consumer_file) if consumer_file else None
        if stored is not None:
            start = stored
        if start is not None and start[0] > end:
            where = f"consumer {consumer!r} is at" if stored is not None else "from_sequence is"
            raise ValidationError(f"{where} sequence {start[0]}, beyond the end of the log "
                                  f"({end})", attribute="from_sequence")
        if start is None:
            after: Position = (end, _MAX_POS)
            segment, offset, last_lsn = end_segment, end_offset, end
        else:
            try:
                segment = _locate(layout, start, oldest_ok=start == (0, _MAX_POS))
            except StreamTrimmedError:
                raise _trimmed(layout, start, consumer) from None
            if start == (0, _MAX_POS):  # "the oldest retained", made concrete
                start = (segment - 1, _MAX_POS)
            after = start
            offset, last_lsn = 0, segment - 1
        result = ChangeStream(core, table, after, segment, offset, last_lsn, consumer=consumer,
                              consumer_file=consumer_file, consumer_lock=lock,
                              timeout=timeout, follow=follow, batch=batch,
                              view_type=view_type, auto_commit=auto_commit,
                              store_start=consumer_file is not None and stored is None)
    except BaseException:
        if lock is not None:
            lock.close()
        raise
    return result
