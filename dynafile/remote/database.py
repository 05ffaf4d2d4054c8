"""A DynamoDB endpoint with the methods of :class:`~dynafile.database.Database`.

``Database("dynamodb://us-east-1?endpoint=http://127.0.0.1:8000")`` or
``Database(client=boto3.client("dynamodb", ...))`` returns a
:class:`RemoteDatabase`: the tables of that account and region, created,
opened, described and deleted by name, with transactions and streams over
them. See ``docs/scale-out.md``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ClosedError, TableNotFoundError, ValidationError
from ..indexes import GSI, LSI
from ..names import check_table_name
from ..options import check_indexes, choice
from ..records import VIEW_TYPES
from .connection import Connection
from .positions import PositionStore, check_consumer, store_for
from .schema import TableInfo, create_request
from .streams import RemoteStream
from .table import RemoteTable
from .transactions import RemoteTransaction, transact_get, transact_write

__all__ = ["RemoteDatabase"]

#: Seconds between DescribeTable calls while waiting for a table or index
#: (growing to the last).
_WAITS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_WAIT_LIMIT = 1200.0


class RemoteDatabase:
    """The DynamoDB tables of one account and region (or one endpoint).

    Args:
        url: ``dynamodb://REGION?endpoint=URL&profile=NAME&positions=WHERE``
            (see :mod:`dynafile.remote.connection`); or ``None`` with ``client``.
        client: a boto3 ``dynamodb`` client to use.
        streams_client: a boto3 ``dynamodbstreams`` client (made from the
            client's endpoint, region and credentials when omitted).
        positions: where named stream consumers keep their positions (a
            directory, ``"dynamodb:TABLE"``): see :mod:`dynafile.remote.positions`.
        region, endpoint, profile: as in the URL.

    Raises:
        ValidationError: a malformed URL or argument.
        MissingDependencyError: boto3 is not installed (``dynafile[boto3]``).
    """

    def __init__(self, url: str | None = None, *, client: Any = None,
                 streams_client: Any = None, positions: Any = None,
                 region: str | None = None, endpoint: str | None = None,
                 profile: str | None = None) -> None:
        if url is None and client is None and region is None and endpoint is None:
            raise ValidationError("give a dynamodb:// URL or a client", attribute="path")
        self.connection = Connection(url, client=client, streams_client=streams_client,
                                     region=region, endpoint=endpoint, profile=profile)
        self.url = self.connection.url
        self.path = self.url
        self.read_only = False
        self.closed = False
        self._positions = positions if positions is not None else (
            self.connection.options.get("positions"))
        self._tables: dict[str, RemoteTable] = {}

    # --------------------------------------------------------------- tables

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("the database is closed")

    def create_table(
        self,
        name: str,
        *,
        pk_attribute: str = "PK",
        sk_attribute: str | None = None,
        ttl_attribute: str | None = None,
        gsis: Sequence[GSI] | None = None,
        lsis: Sequence[LSI] | None = None,
        stream_view_type: str | None = "NEW_AND_OLD_IMAGES",
        serializer: Any = None,
        tags: Mapping[str, str] | None = None,
        ttl_mode: str = "dynamodb",
        key_types: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> RemoteTable:
        """Create a table (CreateTable, on-demand billing), wait until it is
        ``ACTIVE``, and return it.

        Arguments as for :meth:`dynafile.database.Database.create_table`,
        except: ``key_types`` gives the types of key attributes (the
        table's and its indexes': DynamoDB declares them at creation; ``S``
        for any not named); ``stream_view_type=None`` creates no stream;
        ``serializer`` must be ``None`` (values are DynamoDB's) and
        ``ttl_mode`` ``"dynamodb"``; ``properties`` is not supported.

        Raises:
            ValidationError: a bad argument (nothing is created).
            TableExistsError: a table of that name exists.
        """
        self._check_open()
        check_table_name(name)
        if not isinstance(pk_attribute, str) or not pk_attribute:
            raise ValidationError("must be a non-empty string", attribute="pk_attribute")
        if sk_attribute is not None and (not isinstance(sk_attribute, str) or not sk_attribute
                                         or sk_attribute == pk_attribute):
            raise ValidationError("must be a non-empty string other than the partition key, "
                                  "or None", attribute="sk_attribute")
        if stream_view_type is not None:
            choice(stream_view_type, VIEW_TYPES, "stream_view_type")
        if serializer is not None:
            raise ValidationError("a DynamoDB table stores DynamoDB's types: no serializer",
                                  attribute="serializer")
        if ttl_mode != "dynamodb":
            raise ValidationError("DynamoDB keeps expired items readable until it deletes them: "
                                  "only ttl_mode='dynamodb' is possible", attribute="ttl_mode")
        if properties is not None:
            raise ValidationError("table properties are a data directory's (meta.json); use "
                                  "tags on DynamoDB", attribute="properties")
        if tags is not None and (not isinstance(tags, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items())):
            raise ValidationError("must be a dict of strings", attribute="tags")
        types = dict(key_types or {})
        local = check_indexes(lsis, LSI, "lsis") if lsis is not None else []
        wanted = check_indexes(gsis, GSI, "gsis") if gsis is not None else []
        request = create_request(name, pk_attribute, sk_attribute, gsis=wanted, lsis=local,
                                 key_types=types, stream_view_type=stream_view_type, tags=tags)
        self.connection.call("create_table", **request)
        self.wait_for(name)
        table = self.table(name)
        if ttl_attribute is not None:
            table.update_time_to_live(ttl_attribute)
        return table

    def wait_for(self, name: str, *, index: str | None = None, gone: bool = False) -> None:
        """Wait until table ``name`` (or its ``index``) is ``ACTIVE``, or gone
        with ``gone=True``; DescribeTable every 20 ms at first, backing off
        to every 5 s (local endpoints answer at once; DynamoDB takes seconds
        to minutes, an index backfill longer)."""
        deadline = time.monotonic() + _WAIT_LIMIT
        attempt = 0
        while True:
            try:
                info = TableInfo(self.connection.call("describe_table",
                                                      TableName=name)["Table"])
            except TableNotFoundError:
                if gone and index is None:
                    return
                raise
            if index is None:
                ready = not gone and info.status == "ACTIVE"
            elif gone:
                ready = index not in info.indexes
            else:
                ready = info.index_status.get(index) == "ACTIVE" and info.status == "ACTIVE"
            if ready:
                return
            if time.monotonic() > deadline:
                raise ValidationError(f"table {name} did not become ready in "
                                      f"{_WAIT_LIMIT:.0f} s", attribute="name")
            time.sleep(_WAITS[min(attempt, len(_WAITS) - 1)])
            attempt += 1

    def table(self, name: str) -> RemoteTable:
        """Table ``name`` (DescribeTable on first use; then shared).

        Raises:
            TableNotFoundError: no such table.
        """
        self._check_open()
        known = self._tables.get(name)
        if known is not None:
            return known
        check_table_name(name)
        info = TableInfo(self.connection.call("describe_table", TableName=name)["Table"])
        table = RemoteTable(self, info)
        return self._tables.setdefault(name, table)

    def tables(self) -> list[str]:
        """The names of the tables, sorted (ListTables, every page)."""
        self._check_open()
        names: list[str] = []
        request: dict[str, Any] = {}
        while True:
            answer = self.connection.call("list_tables", **request)
            names.extend(answer.get("TableNames") or [])
            last = answer.get("LastEvaluatedTableName")
            if not last:
                return sorted(names)
            request["ExclusiveStartTableName"] = last

    def describe_table(self, name: str) -> dict[str, Any]:
        """Table ``name``'s definition (see :meth:`RemoteTable.describe`) with
        its ``tags``.

        Raises:
            TableNotFoundError: no such table.
        """
        table = self.table(name)
        described = table.describe()
        described["tags"] = self._tags(table)
        return described

    def _tags(self, table: RemoteTable) -> dict[str, str]:
        if table.info.arn is None:
            return {}
        tags: dict[str, str] = {}
        request: dict[str, Any] = {"ResourceArn": table.info.arn}
        while True:
            answer = self.connection.call("list_tags_of_resource", **request)
            tags.update({t["Key"]: t["Value"] for t in answer.get("Tags") or []})
            if not answer.get("NextToken"):
                return tags
            request["NextToken"] = answer["NextToken"]

    def tag_table(self, name: str, tags: Mapping[str, str]) -> None:
        """Add or replace tags of table ``name`` (TagResource)."""
        if not isinstance(tags, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise ValidationError("must be a dict of strings", attribute="tags")
        table = self.table(name)
        self.connection.call("tag_resource", ResourceArn=table.info.arn,
                             Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def untag_table(self, name: str, keys: Iterable[str]) -> None:
        """Remove tags of table ``name`` (UntagResource)."""
        drop = list(keys)
        if not all(isinstance(k, str) for k in drop):
            raise ValidationError("tag keys must be strings", attribute="keys")
        table = self.table(name)
        self.connection.call("untag_resource", ResourceArn=table.info.arn, TagKeys=drop)

    def delete_table(self, name: str) -> None:
        """Delete table ``name`` (DeleteTable) and wait until it is gone.

        Raises:
            TableNotFoundError: no such table.
        """
        self._check_open()
        self.connection.call("delete_table", TableName=name)
        table = self._tables.pop(name, None)
        if table is not None:
            table.close()
        self.wait_for(name, gone=True)

    # --------------------------------------------------------- transactions

    def transact_write(self, actions: Sequence[Mapping[str, Any]], *, token: str | None = None,
                       max_actions: int = 100) -> None:
        """TransactWriteItems over one or several tables; each action names
        its table (see :mod:`dynafile.remote.transactions`)."""
        self._check_open()
        transact_write(self, actions, token=token, max_actions=max_actions)

    def transact_get(self, keys: Sequence[tuple[str, Mapping[str, Any]]], *,
                     projection: Any = None, names: Mapping[str, str] | None = None,
                     max_items: int = 100) -> list[dict[str, Any] | None]:
        """TransactGetItems of ``(table name, key)`` pairs, as one snapshot."""
        self._check_open()
        if isinstance(keys, (Mapping, str, bytes)) or not isinstance(keys, Iterable):
            raise ValidationError("keys must be a list of (table, key) pairs", attribute="keys")
        pairs = []
        for entry in keys:
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise ValidationError("each key must be a (table name, key) pair",
                                      attribute="keys")
            pairs.append((self.table(entry[0]), entry[1]))
        return transact_get(self, pairs, projection=projection, names=names,
                            max_items=max_items)

    def transaction(self, *, retries: int = 0,
                    version_attribute: str | None = None) -> RemoteTransaction:
        """An optimistic transaction over the tables; each method takes
        ``table=`` (see :mod:`dynafile.remote.transactions`)."""
        self._check_open()
        return RemoteTransaction(self, retries=retries, version_attribute=version_attribute)

    # -------------------------------------------------------------- streams

    def _store(self, positions: Any) -> PositionStore | None:
        where = positions if positions is not None else self._positions
        return None if where is None else store_for(self, where)

    def stream(self, *, tables: Sequence[str] | None = None, from_sequence: Any = None,
               consumer: str | None = None, timeout: float | None = None, follow: bool = True,
               batch: int = 1, view_type: str | None = None, auto_commit: bool = True,
               positions: Any = None, poll_interval: float = 0.5) -> RemoteStream:
        """Changes of ``tables`` (default: every table with a stream) from
        DynamoDB Streams; see :mod:`dynafile.remote.streams`.

        Raises:
            ValidationError: a bad argument, a table without a stream, a
                consumer without a position store.
            ConsumerBusyError: another stream uses ``consumer``.
            StreamTrimmedError: the consumer's position is older than 24 hours.
        """
        self._check_open()
        if consumer is not None:
            check_consumer(consumer)
        if tables is None:
            chosen = [t for t in (self.table(n) for n in self.tables())
                      if t.refresh().stream_arn is not None]
        else:
            chosen = [self.table(n) for n in tables]
        return RemoteStream(self, chosen, from_sequence=from_sequence, consumer=consumer,
                            store=self._store(positions), timeout=timeout, follow=follow,
                            batch=batch, view_type=view_type, auto_commit=auto_commit,
                            poll_interval=poll_interval)

    def consumer_position(self, name: str, *, positions: Any = None) -> Any:
        """Consumer ``name``'s stored position (stream ARN -> shard ->
        sequence number, ``True`` for a finished shard), or ``None``."""
        store = self._store(positions)
        if store is None:
            raise ValidationError("no position store: give positions=", attribute="positions")
        document = store.load(check_consumer(name))
        return None if document is None else document.get("streams")

    def reset_consumer(self, name: str, *, positions: Any = None) -> bool:
        """Forget consumer ``name``'s position; return whether it had one.

        Raises:
            ConsumerBusyError: a stream uses the consumer.
        """
        store = self._store(positions)
        if store is None:
            raise ValidationError("no position store: give positions=", attribute="positions")
        return store.delete(check_consumer(name))

    # ---------------------------------------------------------- maintenance

    def checkpoint(self) -> int:
        """Nothing to fold on DynamoDB: returns 0."""
        self._check_open()
        return 0

    def check(self) -> Any:
        """Not available: DynamoDB has no files to verify.

        Raises:
            ValidationError: always.
        """
        raise ValidationError("check() verifies a data directory's files; DynamoDB has none",
                              attribute="check")

    def close(self) -> None:
        """Stop using the database and close the clients it made. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._tables.clear()
        self.connection.close()

    def __enter__(self) -> RemoteDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteDatabase({self.url!r})"
