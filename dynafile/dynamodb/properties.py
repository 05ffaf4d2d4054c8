"""The table properties only DynamoDB's API has: declared attribute types,
billing mode and throughput, whether the stream is enabled, table class,
deletion protection.

The native table knows its keys, indexes, TTL attribute, stream view type
and tags; these few others are kept in the table's own catalog entry, under
its application properties (``properties["dynamodb"]``,
:meth:`~dynafile.Database.update_properties`): one atomic catalog change,
seen by every process serving the directory, gone with the table when it
is deleted, never inherited by a table created again under the same name.

A table created through the native API has no entry: its attribute types
are the key types the table fixed on first use (``S`` until then), it is
PAY_PER_REQUEST, and its stream is enabled.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..database import Database

__all__ = ["PropertyStore", "TableProperties", "stream_label"]



def stream_label(moment: float | None = None) -> str:
    """A stream label as DynamoDB writes it: ``2024-01-31T12:00:00.000`` (UTC)."""
    when = datetime.fromtimestamp(time.time() if moment is None else moment, timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


class TableProperties:
    """One table's DynamoDB-only properties (a plain record).

    Attributes:
        attributes: declared attribute types, ``{"PK": "S"}``.
        billing_mode: ``"PROVISIONED"`` or ``"PAY_PER_REQUEST"``.
        throughput: ``{"ReadCapacityUnits": r, "WriteCapacityUnits": w}`` or ``None``.
        index_throughput: per GSI name, as ``throughput``.
        stream_enabled: whether the DynamoDB stream is on.
        stream_label: the label of the current stream (its ARN's last part).
        stream_since: the table sequence number the current stream starts after.
        table_class, deletion_protection: echoed back in DescribeTable.
        created: the native catalog's creation time of the table.
    """

    __slots__ = ("attributes", "billing_mode", "created", "deletion_protection",
                 "index_throughput", "stream_enabled", "stream_label", "stream_since",
                 "table_class", "throughput")

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self.attributes: dict[str, str] = dict(data.get("attributes") or {})
        self.billing_mode: str = data.get("billing_mode", "PAY_PER_REQUEST")
        self.throughput: dict[str, int] | None = data.get("throughput")
        self.index_throughput: dict[str, dict[str, int]] = dict(
            data.get("index_throughput") or {})
        self.stream_enabled: bool = bool(data.get("stream_enabled", True))
        self.stream_label: str | None = data.get("stream_label")
        self.stream_since: int = int(data.get("stream_since", 0))
        self.table_class: str = data.get("table_class", "STANDARD")
        self.deletion_protection: bool = bool(data.get("deletion_protection", False))
        self.created: float | None = data.get("created")

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {name: getattr(self, name) for name in self.__slots__}


class PropertyStore:
    """:class:`TableProperties` by table name, in the tables' catalog entries."""

    #: The key of the application properties that holds them.
    KEY = "dynamodb"

    def __init__(self, database: Database) -> None:
        self.database = database

    def get(self, name: str, created: float | None = None) -> TableProperties | None:
        """The properties of table ``name``, or ``None`` for a table created
        through the native API (``created`` is not needed: an entry belongs
        to the table, not to its name).

        Raises:
            TableNotFoundError: no such table.
        """
        entry = self.database.properties(name).get(self.KEY)
        return TableProperties(entry) if isinstance(entry, dict) else None

    @staticmethod
    def native(created: float | None) -> TableProperties:
        """The properties of a table created through the native API: no
        declared types, PAY_PER_REQUEST, its stream enabled since it was created."""
        props = TableProperties()
        props.stream_label = stream_label(created or 0.0)
        props.created = created
        return props

    def put(self, name: str, props: TableProperties) -> None:
        """Store ``props`` for table ``name`` (one catalog change).

        Raises:
            TableNotFoundError: no such table.
        """
        self.database.update_properties(name, {self.KEY: props.to_json()})

    def remove(self, name: str) -> None:
        """Nothing to do: the properties go with the table."""

    def close(self) -> None:
        """Nothing to release."""
