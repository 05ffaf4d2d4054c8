"""Change records: one item change of a committed write, as streams and
record listeners see it (DynamoDB Streams' record, in Python).

:mod:`dynafile.streams` reads them from the log for any process;
:mod:`dynafile.listeners` hands them to listeners of the process that wrote.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from .storage.log import FLAG_DROP_SPACE, FLAG_EXPIRED, FLAG_OLD_HIDDEN, FLAG_REWRITE, Op

__all__ = ["VIEW_TYPES", "Position", "StreamRecord", "is_item_space", "item_changes",
           "to_record"]

#: The view types a stream accepts, as DynamoDB Streams names them.
VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")

#: A position in the stream: ``(sequence, index)``.
Position = tuple[int, int]

_WITH_NEW = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
_WITH_OLD = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")


class StreamRecord(NamedTuple):
    """One item change read from the log.

    Attributes:
        sequence: the log sequence number of the write (one per put, delete,
            update, batch or transaction).
        index: the change's 0-based index within that write.
        event_name: ``"INSERT"``, ``"MODIFY"`` or ``"REMOVE"``.
        keys: the item's key attributes, with stored (normalised) values:
            numbers come back as ``int`` or ``Decimal``.
        new: the item after the change (``None`` for a REMOVE, or when the
            view type does not include new images).
        old: the item before the change (``None`` for an INSERT, for a delete
            of an already expired item, or when the view type excludes it).
        expired: ``True`` for a REMOVE made by the TTL sweep.
        count: how many changes the write made (records ``index`` 0 to
            ``count - 1`` share its sequence).
        approximate_time: when the write was committed (epoch seconds, from
            the log; ``None`` for in-process listeners' records and records
            written before format 2).
        table: the name of the table the item belongs to.
    """

    sequence: int
    index: int  # type: ignore[assignment]
    event_name: str
    keys: dict[str, Any]
    new: dict[str, Any] | None
    old: dict[str, Any] | None
    expired: bool = False
    count: int = 1  # type: ignore[assignment]
    approximate_time: float | None = None
    table: str | None = None

    @property
    def user_identity(self) -> dict[str, str] | None:
        """DynamoDB Streams' ``userIdentity``: the TTL service for a REMOVE
        made by the sweep (``{"type": "Service", "principalId":
        "dynamodb.amazonaws.com"}``), else ``None``."""
        if not self.expired:
            return None
        return {"type": "Service", "principalId": "dynamodb.amazonaws.com"}

    @property
    def position(self) -> Position:
        """``(sequence, index)``: where this record is in the stream; pass it
        as ``from_sequence`` to continue after it."""
        return (self.sequence, self.index)


def to_record(lsn: int, index: int, count: int, op: Op, key_names: tuple[str, str | None],
              loads: Callable[[bytes], Any], view_type: str,
              table: str | None = None, time_ms: int | None = None) -> StreamRecord:
    """Return the :class:`StreamRecord` of an item operation ``op`` of table
    ``table``, the ``index``-th of ``count`` item changes of record ``lsn``
    (committed at ``time_ms``, when the record says), with the images
    ``view_type`` asks for (decoded with ``loads``).

    An old image the write replaced but readers did not see (an expired
    item, :data:`~dynafile.storage.log.FLAG_OLD_HIDDEN`) is not reported.
    """
    pk_name, sk_name = key_names
    keys = {pk_name: op.pk}
    if sk_name is not None:
        keys[sk_name] = op.sk
    old_data = None if op.flags & FLAG_OLD_HIDDEN else op.old
    if op.new is None:
        event = "REMOVE"
    else:
        event = "INSERT" if old_data is None else "MODIFY"
    new = loads(op.new) if op.new is not None and view_type in _WITH_NEW else None
    old = loads(old_data) if old_data is not None and view_type in _WITH_OLD else None
    return StreamRecord(lsn, index, event, keys, new, old, bool(op.flags & FLAG_EXPIRED), count,
                        None if time_ms is None else time_ms / 1000, table)


def is_item_space(space: str) -> bool:
    """Whether ``space`` holds a table's items (not an index, the tokens or
    the schema marks): see :func:`dynafile.storage.layout.table_space`."""
    return space[:1] == "t" and space[1:].isdigit()


def item_changes(ops: list[Op]) -> list[Op]:
    """The operations of a record that are item changes, of every table (not
    index upkeep, nor an item rewritten unchanged by a key rotation); a
    change's index in a record counts these."""
    return [op for op in ops
            if is_item_space(op.space) and not op.flags & (FLAG_DROP_SPACE | FLAG_REWRITE)]
