"""The batch writer: many puts and deletes committed as one log record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .writes import Delete, Put, Write

if TYPE_CHECKING:  # pragma: no cover
    from .core import TableCore

__all__ = ["BatchWriter"]


class BatchWriter:
    """Buffers writes and commits them together (see :meth:`Dynafile.batch_writer`).

    Each ``put_item`` / ``delete_item`` is validated when called, so a bad
    item raises at once and never reaches the log. A ``with`` block that
    finishes commits everything it buffered as one log record (one fsync),
    all or nothing, however many items it holds; a block that raises writes
    nothing of itself. Within a record the last write to a key wins.

    With ``flush_amount`` (boto3's name, for bulk loads), every
    ``flush_amount`` buffered writes are committed as one record right away:
    if the block then raises, the records already flushed stay and only the
    writes buffered since the last flush are discarded.
    """

    def __init__(self, core: TableCore, flush_amount: int | None = None) -> None:
        if flush_amount is not None and (not isinstance(flush_amount, int)
                                         or isinstance(flush_amount, bool) or flush_amount < 1):
            raise ValidationError("must be a positive int or None", attribute="flush_amount")
        self._core = core
        self._flush_amount = flush_amount
        self._buffer: list[Write] = []

    def put_item(self, *, item: Mapping[str, Any]) -> None:
        """Buffer a put. Raises ValidationError / ItemTooLargeError at once for a bad item."""
        core = self._core
        core.check_open()
        self._buffer.append(Put(core.item_key(item), core.prepare_item(item)[1]))
        if self._flush_amount is not None and len(self._buffer) >= self._flush_amount:
            self.flush()

    def delete_item(self, *, key: Mapping[str, Any]) -> None:
        """Buffer a delete. Raises ValidationError at once for a bad key."""
        core = self._core
        core.check_open()
        self._buffer.append(Delete(core.key(key)))
        if self._flush_amount is not None and len(self._buffer) >= self._flush_amount:
            self.flush()

    def flush(self) -> None:
        """Commit the buffered writes now, as one log record."""
        if self._buffer:
            writes, self._buffer = self._buffer, []
            self._core.commit(writes, outcomes=False)

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.flush()
        else:
            self._buffer.clear()
