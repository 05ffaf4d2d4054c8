"""The native API on a DynamoDB endpoint: the DynamoDB backend.

``Database`` and ``Dynafile`` opened on a DynamoDB endpoint instead of a
directory give the same methods, carried out as DynamoDB requests through
boto3 (``pip install 'dynafile[boto3]'``)::

    from dynafile import Database, Dynafile

    db = Database("dynamodb://us-east-1")                                # AWS
    db = Database("dynamodb://us-east-1?endpoint=http://127.0.0.1:8000")  # dynafile serve, moto...
    db = Database(client=boto3.client("dynamodb"))                       # a client of your own
    orders = Dynafile("dynamodb://eu-west-1", table="orders", pk_attribute="PK",
                      sk_attribute="SK")                                  # one table, created if missing

They return a :class:`RemoteDatabase` / :class:`RemoteTable` (the same
methods as :class:`~dynafile.database.Database` / :class:`~dynafile.table.Dynafile`;
they are not subclasses). Values map to DynamoDB's types one to one
(:mod:`.values`), errors to dynafile's classes (:mod:`.errors`); see
``docs/scale-out.md`` for the way from a data directory to DynamoDB and
``docs/backends.md`` for what DynamoDB cannot promise that a data
directory does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import SchemaMismatchError, TableExistsError, TableNotFoundError, ValidationError
from ..indexes import GSI, LSI
from ..query import UNSET
from .batch import RemoteBatchWriter
from .connection import SCHEME, is_remote, parse_url
from .database import RemoteDatabase
from .errors import EndpointError, RemoteError, ThrottledError
from .positions import FilePositions, TablePositions
from .streams import RemoteStream
from .table import RemoteTable
from .transactions import RemoteTransaction

__all__ = [
    "SCHEME",
    "EndpointError",
    "FilePositions",
    "RemoteBatchWriter",
    "RemoteDatabase",
    "RemoteError",
    "RemoteStream",
    "RemoteTable",
    "RemoteTransaction",
    "TablePositions",
    "ThrottledError",
    "is_remote",
    "open_database",
    "open_table",
    "parse_url",
]

#: ``Dynafile`` options that belong to a data directory and mean nothing on DynamoDB.
FILE_ONLY = ("durability", "max_item_size", "cache_bytes", "lock_timeout", "checkpoint_bytes",
             "read_only", "clock", "ttl_sweep_interval", "watch", "retention", "segment_bytes",
             "partition_bytes")
_REMOTE = ("client", "streams_client", "positions", "region", "endpoint", "profile")


def open_database(path: str | None = None, **options: Any) -> RemoteDatabase:
    """What ``Database(url_or_None, client=..., ...)`` returns on a DynamoDB
    endpoint (see :class:`RemoteDatabase` for the options).

    Raises:
        ValidationError: an option of a data directory (``durability``...)
            or an unknown one.
    """
    wrong = sorted(set(options) - set(_REMOTE))
    if wrong:
        raise ValidationError(f"options {wrong} belong to a data directory; a DynamoDB "
                              f"database takes {', '.join(_REMOTE)}", attribute="options")
    return RemoteDatabase(path, **options)


def _pick(database: RemoteDatabase, table: str | None) -> str:
    if table is not None:
        return table
    names = database.tables()
    if len(names) == 1:
        return names[0]
    raise ValidationError(f"{database.url} holds {len(names)} tables: name one (table=...)",
                          attribute="table")


def open_table(
    path: str | None = None,
    pk_attribute: str = UNSET,
    sk_attribute: str | None = UNSET,
    ttl_attribute: str | None = UNSET,
    *,
    table: str | None = None,
    gsis: Sequence[GSI] | None = None,
    lsis: Sequence[LSI] | None = None,
    stream_view_type: str = UNSET,
    ttl_mode: str = UNSET,
    serializer: Any = None,
    key_types: Mapping[str, str] | None = None,
    **options: Any,
) -> RemoteTable:
    """What ``Dynafile(url_or_None, ..., client=...)`` returns on a DynamoDB
    endpoint: table ``table`` (the endpoint's only table when omitted),
    created with the properties given when missing (partition key ``PK``
    and sort key ``SK`` by default, as the file backend's). Closing it
    closes its database.

    As in the file backend, properties given must match an existing
    table's; missing ``gsis`` are created.

    Raises:
        ValidationError: an option of a data directory, several tables and
            none named, or a bad argument.
        SchemaMismatchError: a property differs from the table's.
    """
    file_options = sorted(set(options) & set(FILE_ONLY))
    if file_options:
        raise ValidationError(f"options {file_options} belong to a data directory and mean "
                              "nothing on DynamoDB", attribute="options")
    if serializer is not None:
        raise ValidationError("a DynamoDB table stores DynamoDB's types: no serializer",
                              attribute="serializer")
    if ttl_mode is not UNSET and ttl_mode != "dynamodb":
        raise ValidationError("DynamoDB keeps expired items readable until it deletes them: "
                              "only ttl_mode='dynamodb' is possible", attribute="ttl_mode")
    database = open_database(path, **options)
    try:
        name = _pick(database, table)
        try:
            found = database.table(name)
        except TableNotFoundError:
            found = None
        if found is None:
            pk = "PK" if pk_attribute is UNSET else pk_attribute
            sk = "SK" if sk_attribute is UNSET else sk_attribute
            try:
                found = database.create_table(
                    name, pk_attribute=pk, sk_attribute=sk,
                    ttl_attribute=None if ttl_attribute is UNSET else ttl_attribute,
                    gsis=gsis, lsis=lsis, key_types=key_types,
                    stream_view_type=("NEW_AND_OLD_IMAGES" if stream_view_type is UNSET
                                      else stream_view_type))
            except TableExistsError:
                found = database.table(name)
        else:
            _check(found, pk_attribute, sk_attribute, ttl_attribute, lsis, stream_view_type)
            for index in gsis or []:
                found.create_gsi(index, key_types=key_types)
        owned = RemoteTable(database, found.info, owned=True)
        return owned
    except BaseException:
        database.close()
        raise


def _check(table: RemoteTable, pk: Any, sk: Any, ttl: Any, lsis: Any, view: Any) -> None:
    info = table.info
    wrong = []
    if pk is not UNSET and pk != info.pk_attribute:
        wrong.append(f"pk_attribute {info.pk_attribute!r}")
    if sk is not UNSET and sk != info.sk_attribute:
        wrong.append(f"sk_attribute {info.sk_attribute!r}")
    if view is not UNSET and view != info.stream_view_type:
        wrong.append(f"stream_view_type {info.stream_view_type!r}")
    if lsis is not None:
        have = {n: i for n, i in info.indexes.items() if isinstance(i, LSI)}
        if {i.name: i for i in lsis} != have:
            wrong.append(f"lsis {sorted(have)}")
    if ttl is not UNSET and ttl != table.ttl_attribute:
        wrong.append(f"ttl_attribute {table.ttl_attribute!r}")
    if wrong:
        raise SchemaMismatchError(f"table {info.name} has {', '.join(wrong)}")
