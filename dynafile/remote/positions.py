"""Where named stream consumers of a DynamoDB database keep their positions.

A consumer's position is a small JSON document: for each table stream it
reads, the last sequence number processed in each shard (and which shards
it finished). The user chooses where it lives, when opening the database
(``Database(url, positions=...)``, ``?positions=`` in the URL) or per
stream (``stream(consumer="billing", positions=...)``):

* ``positions="/var/lib/app/streams"`` (a directory): one file per
  consumer, ``<dir>/<consumer>.json``, replaced atomically, and a lock file
  ``<dir>/<consumer>.lock`` held while a stream uses the consumer (one
  process at a time, on this machine: :class:`~dynafile.errors.ConsumerBusyError`);
* ``positions="dynamodb:TABLE"`` (or a :class:`~dynafile.remote.table.RemoteTable`):
  one item per consumer in a DynamoDB table of that database (created with
  partition key ``consumer`` when missing), so consumers on several
  machines share positions. A stream holds a lease on its consumer's item
  (60 seconds, renewed at each commit and read): another stream of the
  same name, anywhere, gets ``ConsumerBusyError`` meanwhile; a consumer
  killed without closing frees the name when its lease runs out.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import (
    ConditionalCheckFailedError,
    ConsumerBusyError,
    CorruptFileError,
    LockTimeoutError,
    TableNotFoundError,
    ValidationError,
)
from ..storage import fs
from ..storage.locking import TableLock

if TYPE_CHECKING:  # pragma: no cover
    from .database import RemoteDatabase
    from .table import RemoteTable

__all__ = ["FilePositions", "PositionStore", "TablePositions", "check_consumer", "store_for"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
#: Seconds a stream's lease on its consumer lasts without renewal.
LEASE_SECONDS = 60.0
_TABLE_PREFIX = "dynamodb:"


def check_consumer(name: Any) -> str:
    """A consumer name: the file backend's rule.

    Raises:
        ValidationError: not 1-100 letters, digits, ``_ . -`` (not starting with ``.``/``-``).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            "must be 1 to 100 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
            attribute="consumer")
    return name


class PositionStore(Protocol):
    """Loads, saves and locks consumers' positions."""

    def load(self, consumer: str) -> dict[str, Any] | None:
        """The stored document, or ``None``."""

    def save(self, consumer: str, state: dict[str, Any]) -> None:
        """Store the document durably (by a stream holding the lock)."""

    def delete(self, consumer: str) -> bool:
        """Forget the document; whether there was one.

        Raises:
            ConsumerBusyError: a stream uses the consumer.
        """

    def lock(self, consumer: str) -> Any:
        """Take the consumer for one stream; the result's ``close()`` frees it.

        Raises:
            ConsumerBusyError: another stream has it.
        """


class FilePositions:
    """Positions in a local directory (see the module)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)

    def _paths(self, consumer: str) -> tuple[str, str]:
        base = os.path.join(self.directory, check_consumer(consumer))
        return base + ".json", base + ".lock"

    def load(self, consumer: str) -> dict[str, Any] | None:
        path = self._paths(consumer)[0]
        try:
            raw = fs.read_file(path)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CorruptFileError(path, 0, f"unreadable consumer position: {exc}") from None
        if not isinstance(data, dict):
            raise CorruptFileError(path, 0, "unreadable consumer position: not an object")
        return data

    def save(self, consumer: str, state: dict[str, Any]) -> None:
        fs.atomic_write_bytes(self._paths(consumer)[0], json.dumps(state).encode())

    def lock(self, consumer: str) -> Any:
        lock_path = self._paths(consumer)[1]
        fs.makedirs(self.directory)
        lock = TableLock(lock_path, 0.0)
        try:
            lock.acquire_exclusive()
        except LockTimeoutError:
            lock.close()
            raise ConsumerBusyError(f"stream consumer {consumer!r} is in use by another "
                                    "stream") from None
        except BaseException:
            lock.close()
            raise
        return lock

    def delete(self, consumer: str) -> bool:
        lock = self.lock(consumer)
        try:
            return fs.remove(self._paths(consumer)[0], durable=True)
        finally:
            lock.close()

    def __repr__(self) -> str:
        return f"FilePositions({self.directory!r})"


class _Lease:
    def __init__(self, store: TablePositions, consumer: str, owner: str) -> None:
        self.store, self.consumer, self.owner = store, consumer, owner

    def close(self) -> None:
        self.store.release(self.consumer, self.owner)


class TablePositions:
    """Positions in a DynamoDB table (see the module)."""

    def __init__(self, database: RemoteDatabase, table: str | RemoteTable) -> None:
        self._database = database
        self._name = table if isinstance(table, str) else table.name
        self._table: RemoteTable | None = None if isinstance(table, str) else table
        self._owner: str | None = None

    @property
    def table(self) -> RemoteTable:
        """The positions table, created on first use."""
        if self._table is None:
            try:
                self._table = self._database.table(self._name)
            except TableNotFoundError:
                from ..errors import TableExistsError

                try:
                    self._table = self._database.create_table(
                        self._name, pk_attribute="consumer", stream_view_type=None)
                except TableExistsError:
                    self._table = self._database.table(self._name)
        return self._table

    def load(self, consumer: str) -> dict[str, Any] | None:
        item = self.table.get_item(key={"consumer": check_consumer(consumer)})
        if item is None or "position" not in item:
            return None
        try:
            data = json.loads(item["position"])
        except (TypeError, ValueError) as exc:
            raise CorruptFileError(f"{self._name}/{consumer}", None,
                                   f"unreadable consumer position: {exc}") from None
        return data if isinstance(data, dict) else None

    def save(self, consumer: str, state: dict[str, Any]) -> None:
        owner = self._owner or ""
        until = time.time() + LEASE_SECONDS
        self.table.update_item(key={"consumer": check_consumer(consumer)},
                               update="SET #p = :p, lease_owner = :o, lease_until = :u",
                               names={"#p": "position"},
                               values={":p": json.dumps(state), ":o": owner,
                                       ":u": until})

    def lock(self, consumer: str) -> Any:
        owner = uuid.uuid4().hex
        now = time.time()
        try:
            self.table.update_item(
                key={"consumer": check_consumer(consumer)},
                update="SET lease_owner = :o, lease_until = :u",
                condition="attribute_not_exists(lease_until) OR lease_until < :now",
                values={":o": owner, ":u": now + LEASE_SECONDS, ":now": now})
        except ConditionalCheckFailedError:
            raise ConsumerBusyError(f"stream consumer {consumer!r} is in use by another "
                                    "stream (its lease in table "
                                    f"{self._name} has not run out)") from None
        self._owner = owner
        return _Lease(self, consumer, owner)

    def release(self, consumer: str, owner: str) -> None:
        """Give up a lease this store holds."""
        try:
            self.table.update_item(key={"consumer": consumer},
                                   update="REMOVE lease_owner, lease_until",
                                   condition="lease_owner = :o", values={":o": owner})
        except ConditionalCheckFailedError:
            pass  # the lease ran out and someone else has it

    def delete(self, consumer: str) -> bool:
        now = time.time()
        try:
            old = self.table.delete_item(
                key={"consumer": check_consumer(consumer)},
                condition="attribute_not_exists(lease_until) OR lease_until < :now",
                values={":now": now}, return_values="ALL_OLD")
        except ConditionalCheckFailedError:
            raise ConsumerBusyError(f"stream consumer {consumer!r} is in use by another "
                                    "stream") from None
        return old is not None and "position" in old

    def __repr__(self) -> str:
        return f"TablePositions({self._name!r})"


def store_for(database: RemoteDatabase, where: Any) -> PositionStore:
    """The store ``where`` names: a directory, ``"dynamodb:TABLE"``, a
    remote table, or a store object.

    Raises:
        ValidationError: none of those.
    """
    from .table import RemoteTable

    if isinstance(where, RemoteTable):
        return TablePositions(database, where)
    if isinstance(where, str) and where.startswith(_TABLE_PREFIX):
        return TablePositions(database, where[len(_TABLE_PREFIX):])
    if isinstance(where, (str, os.PathLike)) and os.fspath(where):
        return FilePositions(where)
    if all(hasattr(where, m) for m in ("load", "save", "delete", "lock")):
        return where  # type: ignore[no-any-return]
    raise ValidationError("positions must be a directory, 'dynamodb:TABLE', a remote table "
                          "or a position store", attribute="positions")
