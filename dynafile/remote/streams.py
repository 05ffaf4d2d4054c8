"""``stream()`` on DynamoDB: change records from the DynamoDB Streams API.

A table's stream (enabled by ``create_table``, view type
``stream_view_type``) is read shard by shard: DescribeStream lists the
shards, a shard is read once its parent is finished (so the changes of one
item come in order), GetShardIterator / GetRecords read it, and new shards
are picked up as DynamoDB splits or rolls them. Each change is a
:class:`~dynafile.records.StreamRecord` as the file backend yields:
``sequence`` is DynamoDB's sequence number (as an ``int``), ``index`` 0 and
``count`` 1 (DynamoDB does not group a batch's or a transaction's changes),
``expired`` for TTL deletes (``userIdentity`` of the DynamoDB service),
``approximate_time`` DynamoDB's ``ApproximateCreationDateTime``.

Where to start (``from_sequence``): ``None``, the changes made after the
call (``LATEST``); ``0``, the oldest DynamoDB still keeps (``TRIM_HORIZON``:
24 hours); a sequence number or a record, the changes after it (the shards
are read from their start and older records skipped). Order across items
follows DynamoDB's shards, not one global commit order.

Named consumers (``consumer="billing"``) keep, per shard, the last sequence
number processed, in the position store the user chose (a directory or a
DynamoDB table: :mod:`dynafile.remote.positions`), with the file backend's
``auto_commit`` / ``batch`` / :meth:`RemoteStream.commit` rules. With
``follow=True`` the stream polls every ``poll_interval`` seconds (DynamoDB
allows about 5 GetRecords a second per shard); with ``follow=False`` it
ends after a pass over every shard brings nothing new.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import DynafileError, ValidationError
from ..records import VIEW_TYPES, StreamRecord
from .errors import RemoteError
from .schema import epoch
from .values import item_from_wire

if TYPE_CHECKING:  # pragma: no cover
    from .database import RemoteDatabase
    from .positions import PositionStore
    from .table import RemoteTable

__all__ = ["RemoteStream"]

_REFRESH = 10.0  # seconds between DescribeStream calls while following
_WITH_NEW = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
_WITH_OLD = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
Item = dict[str, Any]


class _Shard:
    __slots__ = ("after", "done", "fetched", "id", "iterator", "parent")

    def __init__(self, shard_id: str, parent: str | None) -> None:
        self.id = shard_id
        self.parent = parent
        self.iterator: str | None = None
        self.after: str | None = None  # last sequence fetched from it
        self.done = False


class _Source:
    """One table's stream and its shards."""

    def __init__(self, table: RemoteTable, arn: str) -> None:
        self.table = table
        self.arn = arn
        self.shards: dict[str, _Shard] = {}
        self.refreshed = 0.0


def _check_start(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, StreamRecord):
        return value.sequence
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValidationError("must be None, 0 (the oldest record kept), a sequence number or a "
                          "StreamRecord", attribute="from_sequence")


class RemoteStream(Iterator[StreamRecord]):
    """An iterator of :class:`~dynafile.records.StreamRecord` over DynamoDB
    Streams (see the module). A context manager; :meth:`close` may be
    called from another thread to end a waiting iteration."""

    def __init__(self, database: RemoteDatabase, tables: list[RemoteTable], *,
                 from_sequence: Any = None, consumer: str | None = None,
                 store: PositionStore | None = None, timeout: float | None = None,
                 follow: bool = True, batch: int = 1, view_type: str | None = None,
                 auto_commit: bool = True, poll_interval: float = 0.5) -> None:
        if view_type is not None and view_type not in VIEW_TYPES:
            raise ValidationError(f"must be one of {', '.join(VIEW_TYPES)}",
                                  attribute="view_type")
        if timeout is not None and (isinstance(timeout, bool)
                                    or not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValidationError("must be None or a number of seconds >= 0",
                                  attribute="timeout")
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise ValidationError("must be a positive int", attribute="batch")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or (
                poll_interval < 0):
            raise ValidationError("must be a number of seconds >= 0", attribute="poll_interval")
        start = _check_start(from_sequence)
        self.consumer = consumer
        self.view_type = view_type
        self.timeout = timeout
        self.follow = follow
        self.batch = batch
        self.auto_commit = auto_commit
        self.poll_interval = float(poll_interval)
        self._database = database
        self._connection = database.connection
        self._positions = store
        self._lock_handle: Any = None
        self._closed = True
        self._sources: list[_Source] = []
        for table in tables:
            info = table.refresh()
            if info.stream_arn is None:
                raise ValidationError(f"table {table.name} has no stream: create it with a "
                                      "stream_view_type, or turn one on with "
                                      "update_table(stream_view_type=...)", attribute="table")
            self._sources.append(_Source(table, info.stream_arn))
        self._buffer: deque[tuple[_Source, _Shard, StreamRecord, str]] = deque()
        # arn -> shard id -> last sequence handed out ("" for none) / True when finished
        self._handed: dict[str, dict[str, Any]] = {}
        self._done: dict[str, dict[str, Any]] = {}
        self._committed: dict[str, dict[str, Any]] | None = None
        self._pending: deque[tuple[int, dict[str, dict[str, Any]]]] = deque()
        self._since_commit = 0
        self._last: int | None = None
        self._guard = threading.RLock()
        self._wake = threading.Event()
        stored = None
        if consumer is not None:
            if store is None:
                raise ValidationError("a consumer stores its position: give positions= (a "
                                      "directory or 'dynamodb:TABLE') to the stream or to the "
                                      "database", attribute="positions")
            self._lock_handle = store.lock(consumer)
        try:
            if consumer is not None and store is not None:
                document = store.load(consumer)
                stored = (document or {}).get("streams")
            self._skip = start if start not in (None, 0) and stored is None else None
            mode = "TRIM_HORIZON" if start is not None else "LATEST"
            for source in self._sources:
                self._open(source, (stored or {}).get(source.arn), mode)
            self._handed = self._snapshot()
            self._done = copy.deepcopy(self._handed)
            self._closed = False
            if consumer is not None:
                self._committed = {} if stored is None else stored
                if stored is None:
                    self._store(self._handed)
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------- shards

    def _describe(self, source: _Source) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = {"StreamArn": source.arn}
        while True:
            answer = self._connection.stream_call("describe_stream", **request)
            description = answer.get("StreamDescription") or {}
            shards.extend(description.get("Shards") or [])
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            request["ExclusiveStartShardId"] = last
        source.refreshed = time.monotonic()
        return shards

    def _iterator(self, source: _Source, shard: _Shard, kind: str,
                  sequence: str | None = None) -> str | None:
        request: dict[str, Any] = {"StreamArn": source.arn, "ShardId": shard.id,
                                   "ShardIteratorType": kind}
        if sequence is not None:
            request["SequenceNumber"] = sequence
        answer = self._connection.stream_call("get_shard_iterator", **request)
        return answer.get("ShardIterator")  # type: ignore[no-any-return]

    def _open(self, source: _Source, stored: dict[str, Any] | None, mode: str) -> None:
        """Set up the shards of ``source``: from a stored position, else by ``mode``."""
        for entry in self._describe(source):
            shard = _Shard(entry["ShardId"], entry.get("ParentShardId"))
            source.shards[shard.id] = shard
            closed = bool((entry.get("SequenceNumberRange") or {}).get("EndingSequenceNumber"))
            if stored is not None and shard.id in stored:
                position = stored[shard.id]
                if position is True:
                    shard.done = True
                elif position:
                    shard.after = position
                    shard.iterator = self._iterator(source, shard, "AFTER_SEQUENCE_NUMBER",
                                                    position)
                elif closed:  # started at LATEST, read nothing, and the shard closed
                    shard.done = True
                else:  # started at LATEST and read nothing yet: the newest again
                    shard.iterator = self._iterator(source, shard, "LATEST")
            elif stored is not None:
                pass  # a shard newer than the position: read from its start
            elif mode == "LATEST":
                if closed:
                    shard.done = True
                else:
                    shard.iterator = self._iterator(source, shard, "LATEST")

    def _refresh(self, source: _Source) -> None:
        for entry in self._describe(source):
            if entry["ShardId"] not in source.shards:
                shard = _Shard(entry["ShardId"], entry.get("ParentShardId"))
                source.shards[shard.id] = shard

    def _readable(self, source: _Source, shard: _Shard) -> bool:
        if shard.done:
            return False
        parent = source.shards.get(shard.parent) if shard.parent else None
        return parent is None or parent.done

    def _snapshot(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for source in self._sources:
            out[source.arn] = {shard.id: True if shard.done else (shard.after or "")
                               for shard in source.shards.values()}
        return out

    def _poll(self) -> bool:
        """One pass over the readable shards; whether it brought records."""
        found = False
        now = time.monotonic()
        for source in self._sources:
            if now - source.refreshed > _REFRESH:
                self._refresh(source)
            for shard in list(source.shards.values()):
                if not self._readable(source, shard):
                    continue
                if shard.iterator is None:
                    if shard.after:
                        shard.iterator = self._iterator(source, shard, "AFTER_SEQUENCE_NUMBER",
                                                        shard.after)
                    else:
                        shard.iterator = self._iterator(source, shard, "TRIM_HORIZON")
                try:
                    answer = self._connection.stream_call("get_records",
                                                          ShardIterator=shard.iterator)
                except RemoteError as error:
                    if error.code != "ExpiredIteratorException":
                        raise
                    shard.iterator = None
                    continue
                for raw in answer.get("Records") or []:
                    record = self._record(source, raw)
                    shard.after = raw["dynamodb"]["SequenceNumber"]
                    if self._skip is not None and record.sequence <= self._skip:
                        continue
                    self._buffer.append((source, shard, record, shard.after))
                    found = True
                shard.iterator = answer.get("NextShardIterator")
                if shard.iterator is None:
                    shard.done = True
                    self._refresh(source)  # its children may be new
                    found = True  # look again: a child may be readable now
        return found

    def _record(self, source: _Source, raw: dict[str, Any]) -> StreamRecord:
        data = raw.get("dynamodb") or {}
        view = self.view_type or data.get("StreamViewType") or "NEW_AND_OLD_IMAGES"
        new = item_from_wire(data.get("NewImage")) if view in _WITH_NEW else None
        old = item_from_wire(data.get("OldImage")) if view in _WITH_OLD else None
        identity = raw.get("userIdentity") or {}
        when = data.get("ApproximateCreationDateTime")
        stamp = epoch(when)
        return StreamRecord(int(data["SequenceNumber"]), 0, raw.get("eventName", "MODIFY"),
                            item_from_wire(data.get("Keys")) or {}, new, old,
                            identity.get("type") == "Service", 1, stamp, source.table.name)

    # ------------------------------------------------------------- public

    @property
    def position(self) -> int | None:
        """The sequence number of the last record handed out (``None`` before
        the first); pass it as ``from_sequence`` to go on after it."""
        return self._last

    @property
    def committed(self) -> dict[str, dict[str, Any]] | None:
        """The consumer's stored position (per stream ARN and shard), or ``None``."""
        return None if self._committed is None else copy.deepcopy(self._committed)

    def __iter__(self) -> RemoteStream:
        return self

    def __next__(self) -> StreamRecord:
        """The next change, waiting for one when following.

        Raises:
            StopIteration: closed, at the end (``follow=False``) or ``timeout``.
            StreamTrimmedError: a stored position older than DynamoDB keeps.
        """
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            with self._guard:
                if self._closed:
                    raise StopIteration
                self._done = self._handed
                if self.auto_commit and self._since_commit >= self.batch:
                    self._store(self._done)
                while not self._buffer:
                    if not self._poll():
                        break
                if self._buffer:
                    source, shard, record, sequence = self._buffer.popleft()
                    handed = copy.deepcopy(self._handed)
                    handed.setdefault(source.arn, {})[shard.id] = sequence
                    self._handed = handed
                    self._last = record.sequence
                    self._since_commit += 1
                    if not self.auto_commit:
                        self._pending.append((record.sequence, handed))
                    return record
                self._handed = self._merge_progress()
                self._done = self._handed
                if self.auto_commit:
                    self._store(self._handed)
                if not self.follow:
                    raise StopIteration
            wait = self.poll_interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StopIteration
                wait = min(wait, left)
            self._wake.wait(wait)

    def _merge_progress(self) -> dict[str, dict[str, Any]]:
        """With nothing buffered, everything fetched was handed out or
        skipped: the shards' own positions are the stream's."""
        return self._snapshot()

    def commit(self, upto: StreamRecord | None = None) -> None:
        """Store the consumer's position: every record up to ``upto`` (default:
        every record handed out) is processed. A no-op without a consumer.

        Raises:
            ValidationError: ``upto`` was not handed out by this stream.
        """
        with self._guard:
            if upto is None:
                self._store(self._handed)
                self._pending.clear()
                return
            if not isinstance(upto, StreamRecord):
                raise ValidationError("must be None or a StreamRecord of this stream",
                                      attribute="upto")
            if self.auto_commit:
                raise ValidationError("commit(upto) needs auto_commit=False",
                                      attribute="upto")
            while self._pending and self._pending[0][0] != upto.sequence:
                self._pending.popleft()
            if not self._pending:
                raise ValidationError(f"{upto.sequence} was not handed out by this stream",
                                      attribute="upto")
            _, state = self._pending.popleft()
            self._store(state)

    def _store(self, state: dict[str, dict[str, Any]]) -> None:
        self._since_commit = 0
        if self.consumer is None or self._positions is None:
            return
        if state == self._committed:
            return
        self._positions.save(self.consumer, {"consumer": self.consumer, "streams": state,
                                         "time": time.time()})
        self._committed = copy.deepcopy(state)

    def close(self, commit: bool | None = None) -> None:
        """Stop the stream; idempotent. ``commit`` as for the file backend's
        :meth:`~dynafile.streams.ChangeStream.close`."""
        with self._guard:
            if self._closed:
                return
            try:
                if commit or (commit is None and self.auto_commit):
                    self._store(self._handed if commit else self._done)
            finally:
                self._closed = True
                self._wake.set()
                self._release()

    def _release(self) -> None:
        handle, self._lock_handle = self._lock_handle, None
        if handle is not None:
            try:
                handle.close()
            except DynafileError:  # pragma: no cover - a lease that ran out
                pass

    def __enter__(self) -> RemoteStream:
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
        tables = [s.table.name for s in self._sources]
        return f"RemoteStream(tables={tables!r}, consumer={self.consumer!r})"
