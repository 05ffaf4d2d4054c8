"""The batch writer on DynamoDB: buffered puts and deletes sent as
BatchWriteItem requests of 25.

As in the file backend, each ``put_item`` / ``delete_item`` is checked when
called, a block that raises sends nothing of itself, the last write to a
key wins (DynamoDB refuses two writes to one key in a request, so earlier
ones are dropped here), and ``flush_amount`` sends every so many buffered
writes at once. What DynamoDB cannot give: the writes of one block are not
all or nothing. Each request of 25 is applied item by item; items DynamoDB
returns as ``UnprocessedItems`` (throttling) are sent again with
exponential backoff, and :class:`~dynafile.remote.errors.ThrottledError` is
raised if some are still unprocessed after every retry, with the earlier
requests applied. Use ``transact_write`` (100 items) for all or nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from .values import item_to_wire, normalized

if TYPE_CHECKING:  # pragma: no cover
    from .table import RemoteTable

__all__ = ["BATCH_WRITE_ITEMS", "RemoteBatchWriter"]

#: The most writes one BatchWriteItem request takes.
BATCH_WRITE_ITEMS = 25

Item = dict[str, Any]


class RemoteBatchWriter:
    """Buffers writes and sends them in BatchWriteItem requests (see the module)."""

    def __init__(self, table: RemoteTable, flush_amount: int | None = None) -> None:
        if flush_amount is not None and (not isinstance(flush_amount, int)
                                         or isinstance(flush_amount, bool) or flush_amount < 1):
            raise ValidationError("must be a positive int or None", attribute="flush_amount")
        self._table = table
        self._flush_amount = flush_amount
        # key identity -> (key, item to put or None for a delete); the last write wins
        self._buffer: dict[tuple[Any, ...], tuple[Item, Item | None]] = {}
        self._count = 0

    def put_item(self, *, item: Mapping[str, Any]) -> None:
        """Buffer a put. Raises ValidationError / ItemTooLargeError at once for a bad item."""
        table = self._table
        table.check_open()
        checked = table.prepare_item(item)
        key = table.item_key(checked)
        self._add(table.key_id(key), key, checked)

    def delete_item(self, *, key: Mapping[str, Any]) -> None:
        """Buffer a delete. Raises ValidationError at once for a bad key."""
        table = self._table
        table.check_open()
        checked = table.key(key)
        self._add(table.key_id(checked), checked, None)

    def _add(self, ident: tuple[Any, ...], key: Item, item: Item | None) -> None:
        self._buffer.pop(ident, None)  # keep the order of the last writes
        self._buffer[ident] = (key, item)
        self._count += 1
        if self._flush_amount is not None and self._count >= self._flush_amount:
            self.flush()

    def flush(self) -> None:
        """Send the buffered writes now, 25 per request, retrying unprocessed ones.

        Raises:
            ThrottledError: writes stayed unprocessed after every retry.
        """
        if not self._buffer:
            return
        writes, self._buffer, self._count = list(self._buffer.values()), {}, 0
        table = self._table
        name = table.name

        def send(request: dict[str, Any]) -> dict[str, Any] | None:
            answer = table.connection.call("batch_write_item", RequestItems=request)
            left = (answer.get("UnprocessedItems") or {}).get(name)
            return {name: left} if left else None

        for start in range(0, len(writes), BATCH_WRITE_ITEMS):
            chunk = writes[start:start + BATCH_WRITE_ITEMS]
            requests = [{"PutRequest": {"Item": item_to_wire(item)}} if item is not None
                        else {"DeleteRequest": {"Key": item_to_wire(key)}}
                        for key, item in chunk]
            table.connection.until_processed({name: requests}, send, "BatchWriteItem items")
            if table.listening:
                table.deliver([(key, None, normalized(item), item is None)
                               for key, item in chunk])

    def __enter__(self) -> RemoteBatchWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.flush()
        else:
            self._buffer.clear()
            self._count = 0
