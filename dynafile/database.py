"""A database: a directory of named tables, as a DynamoDB account has them.

:class:`Database` creates, opens, describes and deletes tables by name.
Table names follow DynamoDB's rules (3-255 characters of ``a-z A-Z 0-9 _ . -``)
and never become paths: a catalog (``catalog.json``) maps each name to the
table's id, and a table's files live under ``tables/<id>/``.

Each table is a :class:`~dynafile.table.Dynafile`: everything a table does
(items, queries, indexes, TTL, streams, transactions within it) works the
same whether it was opened alone or through a database.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any

from .errors import (
    ClosedError,
    CorruptFileError,
    TableExistsError,
    TableNotFoundError,
    ValidationError,
)
from .indexes import GSI, LSI
from .serialization import Serializer
from .storage import fs
from .storage.locking import TableLock
from .table import Dynafile

__all__ = ["TABLE_NAME", "Database", "check_table_name"]

#: DynamoDB's rule for table names.
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")
_CATALOG = "catalog.json"
_TABLES = "tables"
_FORMAT = 1


def check_table_name(name: Any, attribute: str = "name") -> str:
    """Return ``name`` when it is a valid DynamoDB table name.

    Raises:
        ValidationError: with DynamoDB's message otherwise.
    """
    if not isinstance(name, str) or not TABLE_NAME.match(name):
        shown = name if isinstance(name, str) else repr(name)
        raise ValidationError(
            f"1 validation error detected: Value '{shown}' at 'tableName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ "
            "and have length between 3 and 255", attribute=attribute)
    return name


class Database:
    """A directory of named tables.

    Args:
        path: the database directory; created when missing.
        read_only: open without writing anything.
        options: passed to every table it opens (``durability``,
            ``cache_bytes``, ``lock_timeout``, ``checkpoint_bytes``,
            ``clock``, ``watch``, ``retention``, ``segment_bytes``,
            ``max_item_size``, ``ttl_sweep_interval``).

    Raises:
        ValidationError: a bad argument.
        CorruptFileError: the catalog is unreadable.

    Example:
        >>> import tempfile
        >>> db = Database(tempfile.mkdtemp())
        >>> orders = db.create_table("orders", pk_attribute="customer", sk_attribute="order")
        >>> orders.put_item(item={"customer": "c1", "order": "o1", "total": 5})
        >>> db.tables()
        ['orders']
        >>> db.table("orders").get_item(key={"customer": "c1", "order": "o1"})["total"]
        5
        >>> db.close()
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False,
                 **options: Any) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ValidationError("must be a directory path", attribute="path")
        self.path = os.path.abspath(os.fspath(path) or ".")
        if not read_only:
            fs.makedirs(self.path)
        elif not os.path.isdir(self.path):
            raise ValidationError(f"{self.path} does not exist", attribute="path")
        self.read_only = read_only
        self._options = dict(options)
        self._catalog_path = os.path.join(self.path, _CATALOG)
        self._lock = TableLock(os.path.join(self.path, "LOCK"),
                               options.get("lock_timeout", 60.0), read_only)
        self._open: dict[str, Dynafile] = {}
        self._guard = threading.RLock()
        self._closed = False

    # ------------------------------------------------------------ catalog

    def _read_catalog(self) -> dict[str, Any]:
        try:
            raw = fs.read_file(self._catalog_path)
        except FileNotFoundError:
            return {"format": _FORMAT, "tables": {}}
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
                raise ValueError("not a catalog object")  # noqa: TRY004 - reported as corrupt
        except ValueError as exc:
            raise CorruptFileError(self._catalog_path, 0, f"unreadable catalog: {exc}") from None
        return data

    def _write_catalog(self, catalog: dict[str, Any]) -> None:
        fs.atomic_write_bytes(self._catalog_path,
                              json.dumps(catalog, indent=2, sort_keys=True).encode())

    def _entry(self, name: str) -> dict[str, Any]:
        entry = self._read_catalog()["tables"].get(name)
        if entry is None:
            raise TableNotFoundError(f"Requested resource not found: Table: {name} not found")
        return entry  # type: ignore[no-any-return]

    def _table_path(self, entry: dict[str, Any]) -> str:
        ident = entry.get("id")
        if not isinstance(ident, str) or not re.fullmatch(r"[0-9a-f]{32}", ident):
            raise CorruptFileError(self._catalog_path, 0, f"bad table id {ident!r}")
        return os.path.join(self.path, _TABLES, ident)

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the database is closed")

    # --------------------------------------------------------------- tables

    def create_table(
        self,
        name: str,
        *,
        pk_attribute: str = "PK",
        sk_attribute: str | None = None,
        ttl_attribute: str | None = None,
        gsis: Sequence[GSI] | None = None,
        lsis: Sequence[LSI] | None = None,
        stream_view_type: str = "NEW_AND_OLD_IMAGES",
        serializer: None | str | Serializer = None,
        tags: dict[str, str] | None = None,
        ttl_mode: str = "hide",
    ) -> Dynafile:
        """Create a table and return it, open.

        Args:
            name: the table name (DynamoDB's rules: 3-255 characters of
                ``a-z A-Z 0-9 _ . -``).
            pk_attribute / sk_attribute: the key schema (no sort key by
                default, as in DynamoDB's CreateTable).
            ttl_attribute, gsis, lsis, stream_view_type, serializer, ttl_mode:
                as for :class:`~dynafile.table.Dynafile` (a DynamoDB-compatible
                server creates its tables with ``ttl_mode="dynamodb"``).
            tags: the table's tags (DynamoDB's TagResource).

        Raises:
            ValidationError: a bad name or argument (nothing is created).
            TableExistsError: a table of that name exists.

        Cost: one catalog write and the table's creation.
        """
        self._check_open()
        check_table_name(name)
        if tags is not None and (not isinstance(tags, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items())):
            raise ValidationError("tags must be a dict of strings", attribute="tags")
        with self._guard, self._lock.exclusive():
            catalog = self._read_catalog()
            if name in catalog["tables"]:
                raise TableExistsError(f"Table already exists: {name}")
            ident = secrets.token_hex(16)
            path = os.path.join(self.path, _TABLES, ident)
            try:
                table = Dynafile(path, pk_attribute, sk_attribute, ttl_attribute,
                                 gsis=gsis, lsis=lsis or [], stream_view_type=stream_view_type,
                                 serializer=serializer, ttl_mode=ttl_mode, **self._options)
            except BaseException:
                fs.remove_tree(path)
                raise
            catalog["tables"][name] = {"id": ident, "created": time.time(),
                                       "tags": dict(tags or {})}
            try:
                self._write_catalog(catalog)
            except BaseException:
                table.close()
                fs.remove_tree(path)
                raise
            self._open[name] = table
            return table

    def table(self, name: str) -> Dynafile:
        """Return the open table ``name`` (opened on first use, then shared).

        Raises:
            TableNotFoundError: the database has no such table.
        """
        self._check_open()
        with self._guard:
            table = self._open.get(name)
            if table is not None:
                return table
            if not isinstance(name, str):
                raise TableNotFoundError(f"Requested resource not found: Table: {name} not found")
            entry = self._entry(name)
            table = Dynafile(self._table_path(entry), read_only=self.read_only, **self._options)
            self._open[name] = table
            return table

    def tables(self) -> list[str]:
        """The names of the database's tables, sorted. Reads the catalog."""
        self._check_open()
        return sorted(self._read_catalog()["tables"])

    def describe_table(self, name: str) -> dict[str, Any]:
        """Return table ``name``'s definition (see :meth:`Dynafile.describe`)
        with its ``name``, ``created`` time (epoch seconds) and ``tags``.

        Raises:
            TableNotFoundError: the database has no such table.
        """
        entry = self._entry(name)
        described = self.table(name).describe()
        described.update(name=name, created=entry.get("created"),
                         tags=dict(entry.get("tags") or {}))
        return described

    def tag_table(self, name: str, tags: dict[str, str]) -> None:
        """Add or replace tags of table ``name``.

        Raises:
            TableNotFoundError / ValidationError.
        """
        self._change_tags(name, lambda current: {**current, **tags}, tags)

    def untag_table(self, name: str, keys: Sequence[str]) -> None:
        """Remove tags of table ``name`` (missing keys are ignored).

        Raises:
            TableNotFoundError / ValidationError.
        """
        drop = set(keys)
        self._change_tags(name, lambda current: {k: v for k, v in current.items()
                                                 if k not in drop}, {k: "" for k in drop})

    def _change_tags(self, name: str, change: Any, given: dict[str, str]) -> None:
        self._check_open()
        if not isinstance(given, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in given.items()):
            raise ValidationError("tags must be strings", attribute="tags")
        with self._guard, self._lock.exclusive():
            catalog = self._read_catalog()
            entry = catalog["tables"].get(name)
            if entry is None:
                raise TableNotFoundError(f"Requested resource not found: Table: {name} not found")
            entry["tags"] = change(dict(entry.get("tags") or {}))
            self._write_catalog(catalog)

    def delete_table(self, name: str) -> None:
        """Delete table ``name`` and all its files.

        Raises:
            TableNotFoundError: the database has no such table.
        """
        self._check_open()
        with self._guard, self._lock.exclusive():
            catalog = self._read_catalog()
            entry = catalog["tables"].get(name)
            if entry is None:
                raise TableNotFoundError(f"Requested resource not found: Table: {name} not found")
            path = self._table_path(entry)
            table = self._open.pop(name, None)
            if table is not None:
                table.close()
            del catalog["tables"][name]
            self._write_catalog(catalog)
            fs.remove_tree(path)

    # ---------------------------------------------------------------- close

    def close(self) -> None:
        """Close every open table and the database. Idempotent."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            for table in self._open.values():
                table.close()
            self._open.clear()
            self._lock.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.path!r})"
