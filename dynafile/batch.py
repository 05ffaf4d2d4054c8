"""The batch writer: many puts and deletes committed as one log record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from .errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from .table import Dynafile

__all__ = ["BatchWriter"]


class BatchWriter:
    """Buffers writes and commits them together (see :meth:`Dynafile.batch_writer`).

    Each ``put_item`` / ``delete_item`` is validated when called, so a bad
    item raises at once and never reaches the log. The buffer is committed as
    one record (one fsync) when it holds ``flush_amount`` operations and on a
    clean exit of the ``with`` block; if the block raises, operations not yet
    flushed are discarded. Within a record the last write to a key wins.
    """

    def __init__(self, table: Dynafile, flush_amount: int = 1000) -> None:
        if not isinstance(flush_amount, int) or isinstance(flush_amount, bool) or flush_amount < 1:
            raise ValidationError("must be a positive int", attribute="flush_amount")
        self._table = table
        self._flush_amount = flush_amount
        self._buffer: list[tuple[str, Any, Any, Any, Any, bytes | None]] = []

    def put_item(self, *, item: Mapping[str, Any]) -> None:
        """Buffer a put. Raises ValidationError / ItemTooLargeError at once for a bad item."""
        table = self._table
        table._check_open()
        pk, sk, npk, nsk = table._key_of(item, "item")
        self._buffer.append(("put", pk, sk, npk, nsk, table._dump(item)))
        if len(self._buffer) >= self._flush_amount:
            self.flush()

    def delete_item(self, *, key: Mapping[str, Any]) -> None:
        """Buffer a delete. Raises ValidationError at once for a bad key."""
        table = self._table
        table._check_open()
        pk, sk, npk, nsk = table._key_only(key)
        self._buffer.append(("delete", pk, sk, npk, nsk, None))
        if len(self._buffer) >= self._flush_amount:
            self.flush()

    def flush(self) -> None:
        """Commit the buffered operations now, as one log record."""
        if self._buffer:
            entries, self._buffer = self._buffer, []
            self._table._write_batch(entries)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.flush()
        else:
            self._buffer.clear()
