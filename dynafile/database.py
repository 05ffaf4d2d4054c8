"""A database: a directory of named tables with one log, as a DynamoDB account has them.

:class:`Database` creates, opens, describes and deletes tables by name.
Table names follow DynamoDB's rules (3-255 characters of ``a-z A-Z 0-9 _ . -``)
and never become paths: the catalog (``meta.json``) gives each table an id,
and its files are named by that id. Every table's writes go to the
database's one log, so a transaction (:meth:`Database.transact_write`,
:meth:`Database.transaction`) may span tables and stays all or nothing across
processes and crashes, and one change stream (:meth:`Database.stream`)
carries every table's changes in commit order.

``Dynafile(path, ...)`` is a database holding one table: everything a table
does works the same whether it was opened alone or through a database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable

from .core import TableCore
from .encryption import KeyRing, with_encryption
from .endpoints import is_remote
from .errors import TableNotFoundError, ValidationError
from .indexes import GSI, LSI
from .names import TABLE_NAME, check_table_name
from .options import check_indexes, choice, database_options, flag, open_database
from .records import VIEW_TYPES, Position, StreamRecord
from .schema import TTL_MODES, Catalog, Schema
from .serialization import ENCRYPTED_PREFIX, Serializer, get_serializer
from .streams import ChangeStream
from .streams import consumer_position as _consumer_position
from .streams import reset_consumer as _reset_consumer
from .streams import stream as _stream
from .table import Dynafile
from .transactions import Transaction, transact_get, transact_write

if TYPE_CHECKING:  # pragma: no cover
    from .check import CheckReport

__all__ = ["TABLE_NAME", "Database", "check_table_name"]

_KEY_TYPES = ("S", "N", "B")


class Database:
    """A directory of named tables sharing one log.

    Args:
        path: the database directory; created when missing.
        read_only: open without writing anything.
        encryption_key: a key (or keys, during a rotation): every table
            :meth:`create_table` makes is encrypted at rest with it, and
            every encrypted table opens with it (docs/encryption.md).
        options: ``durability``, ``max_item_size``, ``cache_bytes``,
            ``lock_timeout``, ``checkpoint_bytes``, ``clock``, ``watch``,
            ``retention``, ``segment_bytes``, ``partition_bytes``: as for
            :class:`~dynafile.table.Dynafile`, for every table.

    Raises:
        ValidationError: a bad argument (nothing is touched).
        UnsupportedFormatError / CorruptFileError: from the files.

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

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Database("dynamodb://...") or Database(client=boto3_client): the same
        # methods on a DynamoDB endpoint (dynafile.remote, docs/scale-out.md).
        if is_remote(args[0] if args else kwargs.get("path"), kwargs):
            from .remote import open_database as _open_remote

            return _open_remote(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False,
                 encryption_key: Any = None, **options: Any) -> None:
        flag(read_only, "read_only")
        unknown = set(options) - set(database_options.__kwdefaults__ or {})
        if unknown:
            raise ValidationError(f"unknown options {sorted(unknown)}", attribute="options")
        # With a key, every table created is encrypted, and encrypted tables open with it.
        self._keys = None if encryption_key is None else KeyRing(encryption_key)
        self._core = open_database(path, read_only=read_only,
                                   options=database_options(**options))
        self.path = self._core.path
        self.read_only = self._core.read_only
        self._tables: dict[str, tuple[TableCore, Dynafile]] = {}

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
        tags: Mapping[str, str] | None = None,
        ttl_mode: str = "hide",
        key_types: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
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
            key_types: key attribute -> ``"S"``, ``"N"`` or ``"B"``, fixed now
                (as DynamoDB's AttributeDefinitions) instead of on first use.
            properties: other settings to keep with the table (a JSON object).

        Raises:
            ValidationError: a bad name or argument (nothing is created).
            TableExistsError: a table of that name exists.

        Cost: one catalog write.
        """
        self._core.check_open()
        check_table_name(name)
        if not isinstance(pk_attribute, str) or not pk_attribute:
            raise ValidationError("must be a non-empty string", attribute="pk_attribute")
        if sk_attribute is not None and (not isinstance(sk_attribute, str) or not sk_attribute
                                         or sk_attribute == pk_attribute):
            raise ValidationError("must be a non-empty string other than the partition key, "
                                  "or None", attribute="sk_attribute")
        choice(stream_view_type, VIEW_TYPES, "stream_view_type")
        choice(ttl_mode, TTL_MODES, "ttl_mode")
        _check_strings(tags, "tags")
        fixed = dict(key_types or {})
        if not all(isinstance(k, str) and k and v in _KEY_TYPES for k, v in fixed.items()):
            raise ValidationError("must map attribute names to S, N or B", attribute="key_types")
        if properties is not None and not isinstance(properties, Mapping):
            raise ValidationError("must be a dict", attribute="properties")
        local = check_indexes(lsis, LSI, "lsis") if lsis is not None else []
        wanted = check_indexes(gsis, GSI, "gsis") if gsis is not None else []
        chosen = get_serializer(serializer)
        if self._keys is not None:
            chosen = with_encryption(chosen, self._keys, None)
        schema = Schema(pk_attribute, sk_attribute, chosen.name, key_types=fixed,
                        ttl_attribute=ttl_attribute, stream_view_type=stream_view_type,
                        lsis={i.name: i.definition() for i in local}, ttl_mode=ttl_mode,
                        name=name, tags=tags, properties=properties)
        self._core.create_table(schema, wanted)
        return self._attach(name, chosen)

    def _attach(self, name: str, serializer: Serializer | None = None) -> Dynafile:
        if serializer is None and self._keys is not None:
            schema = self._core.current_catalog().tables.get(name)
            if schema is not None and schema.serializer.startswith(ENCRYPTED_PREFIX):
                serializer = with_encryption(None, self._keys, schema.serializer)
        core = self._core.table(name, serializer=serializer)
        known = self._tables.get(name)
        if known is not None and known[0] is core:
            return known[1]
        table = Dynafile.attach(core)
        self._tables[name] = (core, table)
        return table

    def table(self, name: str, *, serializer: Serializer | None = None) -> Dynafile:
        """Return the open table ``name`` (shared by every caller).

        Args:
            serializer: the table's serializer, when it is not one the
                registry knows.

        Raises:
            TableNotFoundError: the database has no such table.
            SchemaMismatchError: the table's serializer is unknown here.
        """
        self._core.check_open()
        return self._attach(name, serializer)

    def tables(self) -> list[str]:
        """The names of the database's tables, sorted. One ``stat``."""
        self._core.check_open()
        return self._core.table_names()

    def describe_table(self, name: str) -> dict[str, Any]:
        """Return table ``name``'s definition (see :meth:`Dynafile.describe`)
        with its ``name``, ``table_id`` (a number never given to another
        table of the database), ``created`` time (epoch seconds), ``tags``,
        ``properties``, and ``item_count`` / ``size_bytes`` as of the last
        checkpoint (DynamoDB's counts are approximate too), and
        ``index_sizes``: index name -> ``(item count, bytes)``, the same way.
        Cost: O(partitions), no item is read.

        Raises:
            TableNotFoundError: the database has no such table.
        """
        table = self.table(name)
        described = table.describe()
        schema = self._core.current_catalog().tables[name]
        count, size = self._core.approximate_size(schema)
        index_sizes = {index: self._core.approximate_size(schema, schema.index_space(d))
                       for section in (schema.gsis, schema.lsis)
                       for index, d in section.items()}
        described.update(name=name, table_id=schema.table_id, created=schema.created,
                         tags=dict(schema.tags),
                         properties=dict(schema.properties), item_count=count,
                         size_bytes=size, index_sizes=index_sizes)
        return described

    def tag_table(self, name: str, tags: Mapping[str, str]) -> None:
        """Add or replace tags of table ``name``.

        Raises:
            TableNotFoundError / ValidationError.
        """
        _check_strings(tags, "tags")
        self._change(name, lambda schema: schema.tags.update(tags))

    def untag_table(self, name: str, keys: Iterable[str]) -> None:
        """Remove tags of table ``name`` (missing keys are ignored).

        Raises:
            TableNotFoundError / ValidationError.
        """
        drop = list(keys)
        if not all(isinstance(k, str) for k in drop):
            raise ValidationError("tag keys must be strings", attribute="keys")
        self._change(name, lambda schema: [schema.tags.pop(k, None) for k in drop])

    def set_properties(self, name: str, properties: Mapping[str, Any]) -> None:
        """Replace table ``name``'s application properties (a JSON object).

        Raises:
            TableNotFoundError / ValidationError.
        """
        if not isinstance(properties, Mapping):
            raise ValidationError("must be a dict", attribute="properties")
        self._change(name, lambda schema: setattr(schema, "properties", dict(properties)))

    def properties(self, name: str) -> dict[str, Any]:
        """A copy of table ``name``'s application properties, as of now (caught
        up with every process). Cost: one ``stat`` when nothing changed.

        Raises:
            TableNotFoundError: no such table.
        """
        self._core.check_open()
        schema = self._core.current_catalog().tables.get(name)
        if schema is None:
            raise TableNotFoundError(f"Requested resource not found: Table: {name} not found")
        return json.loads(json.dumps(schema.properties))

    def update_properties(self, name: str, changes: Mapping[str, Any]) -> None:
        """Set the top-level properties ``changes`` names (``None`` removes
        one) and keep the others, in one atomic catalog change: processes
        updating different properties of one table lose nothing.

        Raises:
            TableNotFoundError / ValidationError.
        """
        if not isinstance(changes, Mapping):
            raise ValidationError("must be a dict", attribute="changes")

        def merge(schema: Schema) -> None:
            for key, value in changes.items():
                if value is None:
                    schema.properties.pop(key, None)
                else:
                    schema.properties[key] = value

        self._change(name, merge)

    def _change(self, name: str, edit: Callable[[Schema], Any]) -> None:
        self._core.check_open()

        def apply(catalog: Catalog) -> bool:
            schema = catalog.tables.get(name)
            if schema is None:
                raise TableNotFoundError(f"Requested resource not found: Table: {name} not found")
            edit(schema)
            return True

        self._core.change_catalog(apply)

    def delete_table(self, name: str) -> None:
        """Delete table ``name``; its files go at the next checkpoint.

        Raises:
            TableNotFoundError: the database has no such table.
        """
        self._core.check_open()
        self._core.delete_table(name)
        self._tables.pop(name, None)

    # --------------------------------------------------------- transactions

    def transact_write(self, actions: Sequence[Mapping[str, Any]], *, token: str | None = None,
                       max_actions: int = 100) -> None:
        """Commit put / update / delete / condition-check actions on one or
        several tables, all or nothing, as one log record. Each action names
        its table (``{"put": {"table": "orders", "item": {...}}}``); see
        :func:`dynafile.transactions.transact_write`.

        Raises:
            ValidationError, TransactionCanceledError, TableNotFoundError.
        """
        self._core.check_open()
        transact_write(self._core, actions, token=token, max_actions=max_actions)

    def transact_get(self, keys: Sequence[tuple[str, Mapping[str, Any]]], *,
                     projection: Any = None, names: Mapping[str, str] | None = None,
                     max_items: int = 100) -> list[dict[str, Any] | None]:
        """Read ``(table name, key)`` pairs as one consistent snapshot; the
        items in order, ``None`` for each missing one (see
        :func:`dynafile.transactions.transact_get`).

        Raises:
            ValidationError, TableNotFoundError.
        """
        self._core.check_open()
        if isinstance(keys, (Mapping, str, bytes)) or not isinstance(keys, Iterable):
            raise ValidationError("keys must be a list of (table, key) pairs", attribute="keys")
        pairs = []
        for entry in keys:
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise ValidationError("each key must be a (table name, key) pair",
                                      attribute="keys")
            pairs.append((self._core.table(entry[0]), entry[1]))
        return transact_get(self._core, pairs, projection=projection, names=names,
                            max_items=max_items)

    def transaction(self, *, retries: int = 0) -> Transaction:
        """An optimistic, serializable transaction over the database's tables;
        each of its methods takes ``table=`` (see
        :class:`dynafile.transactions.Transaction`)."""
        self._core.check_open()
        return Transaction(self._core, retries=retries)

    # -------------------------------------------------------------- streams

    def stream(
        self,
        *,
        from_sequence: None | int | Position | StreamRecord = None,
        consumer: str | None = None,
        timeout: float | None = None,
        follow: bool = True,
        batch: int = 1,
        view_type: str | None = None,
        auto_commit: bool = True,
    ) -> ChangeStream:
        """Read every table's committed changes from the log, in commit order;
        each record names its ``table`` (see :func:`dynafile.streams.stream`).

        Raises:
            ValidationError, StreamTrimmedError, ConsumerBusyError,
            CorruptFileError: see :func:`dynafile.streams.stream`.
        """
        return _stream(self._core, None, from_sequence=from_sequence, consumer=consumer,
                       timeout=timeout, follow=follow, batch=batch, view_type=view_type,
                       auto_commit=auto_commit)

    def consumer_position(self, name: str) -> None | int | Position:
        """Stream consumer ``name``'s committed position, or ``None``."""
        return _consumer_position(self._core, name)

    def reset_consumer(self, name: str) -> bool:
        """Forget stream consumer ``name``'s position; return whether it had one."""
        return _reset_consumer(self._core, name)

    # ---------------------------------------------------------- maintenance

    @property
    def sequence(self) -> int:
        """The sequence number of the last write committed, by any process."""
        return self._core.log_position().lsn

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        return self._core.checkpoint()

    def check(self) -> CheckReport:
        """Verify every file of the database and return a report
        (see :func:`dynafile.check.check_database`): ``report.ok``,
        ``report.problems``. Cost: reads every file, in bounded memory."""
        from .check import check_database  # imported on first use

        return check_database(self._core)

    def close(self) -> None:
        """Close every table and the database. Idempotent."""
        for _, table in self._tables.values():
            table.close()
        self._tables.clear()
        self._core.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.path!r})"


def _check_strings(tags: Any, attribute: str) -> None:
    if tags is not None and (not isinstance(tags, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items())):
        raise ValidationError("must be a dict of strings", attribute=attribute)
