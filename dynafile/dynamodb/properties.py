"""The table properties only DynamoDB's API has: declared attribute types,
billing mode and throughput, whether the stream is enabled, table class,
deletion protection.

The native table knows its keys, indexes, TTL attribute, stream view type
and tags; these few others live beside the database's catalog, in
``<database>/dynamodb.json``, written atomically under a lock so several
processes serving one directory agree. Each entry remembers the table's
``created`` time: a table deleted and created again natively (through
:class:`~dynafile.Database`) does not inherit a stale entry.

A table created through the native API has no entry: its attribute types
are the key types the table fixed on first use (``S`` until then), it is
PAY_PER_REQUEST, and its stream is enabled.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ..errors import CorruptFileError
from ..storage import fs
from ..storage.locking import TableLock

__all__ = ["PropertyStore", "TableProperties", "stream_label"]

_FILE = "dynamodb.json"
_LOCK = "dynamodb.lock"


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
    """``<database>/dynamodb.json``: :class:`TableProperties` by table name.

    Reads stat the file and reparse it only when it changed; writes replace
    it atomically under an exclusive lock on ``dynamodb.lock``.
    """

    def __init__(self, directory: str, *, read_only: bool = False) -> None:
        self.path = os.path.join(directory, _FILE)
        self.read_only = read_only
        self._lock_path = os.path.join(directory, _LOCK)
        self._lock: TableLock | None = None
        self._guard = threading.Lock()
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    def _read(self) -> dict[str, Any]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._cache
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            data = json.loads(fs.read_file(self.path))
            if not isinstance(data, dict):
                raise ValueError("not an object")  # noqa: TRY004 - reported as corrupt
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise CorruptFileError(self.path, 0, f"unreadable table properties: {exc}") from None
        self._cache = (stamp, data)
        return data

    def get(self, name: str, created: float | None) -> TableProperties | None:
        """The properties of table ``name`` created at ``created``, or ``None``
        for a table created through the native API."""
        entry = self._read().get(name)
        if not isinstance(entry, dict) or entry.get("created") != created:
            return None
        return TableProperties(entry)

    @staticmethod
    def native(created: float | None) -> TableProperties:
        """The properties of a table created through the native API: no
        declared types, PAY_PER_REQUEST, its stream enabled since it was created."""
        props = TableProperties()
        props.stream_label = stream_label(created or 0.0)
        props.created = created
        return props

    def change(self, name: str, edit: Callable[[dict[str, Any]], None]) -> None:
        """Apply ``edit`` to the whole mapping (``{name: record}``) under the
        lock and store the result. ``name`` is the table being changed."""
        with self._guard:
            if self._lock is None:
                self._lock = TableLock(self._lock_path, 60.0)
            with self._lock.exclusive():
                self._cache = None
                data = dict(self._read())
                edit(data)
                fs.atomic_write_bytes(self.path, json.dumps(data, indent=1,
                                                            sort_keys=True).encode())
                self._cache = None

    def put(self, name: str, props: TableProperties) -> None:
        """Store ``props`` for table ``name``."""
        def edit(data: dict[str, Any]) -> None:
            data[name] = props.to_json()
        self.change(name, edit)

    def remove(self, name: str) -> None:
        """Forget table ``name``."""
        def edit(data: dict[str, Any]) -> None:
            data.pop(name, None)
        self.change(name, edit)

    def close(self) -> None:
        """Release the lock file."""
        with self._guard:
            if self._lock is not None:
                self._lock.close()
                self._lock = None
