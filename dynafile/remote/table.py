"""A DynamoDB table with the methods of :class:`~dynafile.table.Dynafile`.

``Dynafile("dynamodb://REGION?endpoint=URL", table="orders")`` and
``Database(...).table("orders")`` return a :class:`RemoteTable`: the same
methods, arguments, results and exceptions as a table in a data directory,
each carried out as the DynamoDB request it means (see
``docs/backends.md`` for what DynamoDB cannot promise that a data
directory does).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ClosedError, ConditionalCheckFailedError, ValidationError
from ..expressions import KeyCondition
from ..indexes import GSI, Index
from ..keys import canonical_key, dict_key, extract_key, item_under_key
from ..listeners import StreamListener
from ..options import attribute_name, choice, positive_int
from ..pages import Page
from ..query import UNSET, projection_of
from ..records import VIEW_TYPES
from . import reads
from .listeners import RemoteDelivery
from .requests import Request
from .schema import TableInfo, index_request
from .values import MAX_ITEM_BYTES, check_item, item_from_wire, item_to_wire, normalized

if TYPE_CHECKING:  # pragma: no cover
    from .batch import RemoteBatchWriter
    from .database import RemoteDatabase
    from .streams import RemoteStream
    from .transactions import RemoteTransaction

__all__ = ["RemoteTable"]

Item = dict[str, Any]
_RETURN_WRITE = ("NONE", "ALL_OLD")
_RETURN_UPDATE = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")


class RemoteTable:
    """One DynamoDB table, with :class:`~dynafile.table.Dynafile`'s methods.

    Made by :class:`~dynafile.remote.database.RemoteDatabase` (or by
    ``Dynafile(url_or_client, table=...)``, which owns its database and
    closes it with the table). Thread-safe as boto3's clients are.

    Attributes:
        database: the :class:`~dynafile.remote.RemoteDatabase` it belongs to.
        path: the database's URL.
        read_only: always ``False``.
    """

    def __init__(self, database: RemoteDatabase, info: TableInfo, *,
                 owned: bool = False) -> None:
        self.database = database
        self.connection = database.connection
        self.info = info
        self.path = database.url
        self.read_only = False
        self._owned = owned
        self._closed = False
        self._delivery = RemoteDelivery(info.name)
        self._delivery.view_type = info.stream_view_type or "NEW_AND_OLD_IMAGES"
        self._ttl: tuple[float, str | None] | None = None

    # ----------------------------------------------------------- properties

    @property
    def name(self) -> str:
        """The table's name."""
        return self.info.name

    @property
    def pk_attribute(self) -> str:
        """The partition key attribute."""
        return self.info.pk_attribute

    @property
    def sk_attribute(self) -> str | None:
        """The sort key attribute (``None``: the table has none)."""
        return self.info.sk_attribute

    @property
    def ttl_attribute(self) -> str | None:
        """The TTL attribute (DescribeTimeToLive; cached for a second)."""
        now = time.monotonic()
        if self._ttl is None or now - self._ttl[0] > 1.0:
            answer = self.connection.call("describe_time_to_live", TableName=self.name)
            spec = answer.get("TimeToLiveDescription") or {}
            status = spec.get("TimeToLiveStatus")
            self._ttl = (now, spec.get("AttributeName")
                         if status in ("ENABLED", "ENABLING") else None)
        return self._ttl[1]

    @property
    def stream_view_type(self) -> str | None:
        """The table's stream view type (``None``: no stream)."""
        return self.info.stream_view_type

    @property
    def ttl_mode(self) -> str:
        """Always ``"dynamodb"``: expired items stay readable until DynamoDB
        deletes them (or :meth:`sweep_expired` does)."""
        return "dynamodb"

    @property
    def max_item_size(self) -> int:
        """DynamoDB's 400 KB."""
        return MAX_ITEM_BYTES

    @property
    def indexes(self) -> dict[str, Index]:
        """The table's secondary indexes by name, as of now (DescribeTable)."""
        self.refresh()
        return dict(self.info.indexes)

    def refresh(self) -> TableInfo:
        """Read the table's definition again (DescribeTable)."""
        self.check_open()
        answer = self.connection.call("describe_table", TableName=self.name)
        self.info = TableInfo(answer["Table"])
        self._delivery.view_type = self.info.stream_view_type or "NEW_AND_OLD_IMAGES"
        return self.info

    def describe(self) -> dict[str, Any]:
        """The table's definition, in the form of the file backend's
        :meth:`~dynafile.table.Dynafile.describe` (``serializer`` is
        ``None``: values are DynamoDB's), plus ``arn``, ``status``,
        ``stream_arn``, ``item_count`` and ``size_bytes`` (DynamoDB's
        figures, refreshed about every six hours)."""
        info = self.refresh()
        indexes = {}
        for name, index in info.indexes.items():
            entry = index.definition()
            entry["kind"] = index.kind_name
            entry["state"] = info.index_status.get(name, "ACTIVE")
            indexes[name] = entry
        return {
            "path": self.path, "name": info.name, "arn": info.arn, "status": info.status,
            "pk_attribute": info.pk_attribute, "sk_attribute": info.sk_attribute,
            "key_types": dict(info.key_types), "ttl_attribute": self.ttl_attribute,
            "stream_view_type": info.stream_view_type, "stream_arn": info.stream_arn,
            "ttl_mode": "dynamodb", "serializer": None, "indexes": indexes,
            "item_count": info.item_count, "size_bytes": info.size_bytes,
            "created": info.created,
        }

    def __repr__(self) -> str:
        return (f"RemoteTable({self.path!r}, table={self.name!r}, "
                f"pk_attribute={self.pk_attribute!r}, sk_attribute={self.sk_attribute!r})")

    # ------------------------------------------------------------- checks

    def check_open(self) -> None:
        """Raise :class:`~dynafile.errors.ClosedError` after :meth:`close`."""
        if self._closed or self.database.closed:
            raise ClosedError(f"table {self.name} is closed")

    def item_key(self, item: Any, what: str = "item") -> Item:
        """The key attributes of an item (or key dict), checked.

        Raises:
            ValidationError: not a dict, a key attribute missing, or a key value
                of another type than the table's definition says.
        """
        info = self.info
        pk, sk = extract_key(item, info.pk_attribute, info.sk_attribute, info.key_types, what)
        out = {info.pk_attribute: pk}
        if info.sk_attribute is not None:
            out[info.sk_attribute] = sk
        return out

    def key(self, key: Any) -> Item:
        """A key dict, checked: exactly the key attributes.

        Raises:
            ValidationError: as :meth:`item_key`, or extra attributes.
        """
        out = self.item_key(key, "key")
        if len(key) != len(out):
            raise ValidationError("The provided key element does not match the schema",
                                  attribute="key")
        return out

    def key_id(self, key: Mapping[str, Any]) -> tuple[Any, ...]:
        """A hashable identity of a key: equal numbers of any Python type agree."""
        info = self.info
        parts = [canonical_key(key[info.pk_attribute])]
        if info.sk_attribute is not None:
            parts.append(canonical_key(key[info.sk_attribute]))
        return (self.name, *parts)

    def prepare_item(self, item: Any) -> Item:
        """An item checked as the file backend checks it (key, types, size).

        Raises:
            ValidationError / ItemTooLargeError.
        """
        self.item_key(item)
        names = [self.info.pk_attribute]
        if self.info.sk_attribute is not None:
            names.append(self.info.sk_attribute)
        return check_item(item, names)

    # -------------------------------------------------------------- writes

    def _changes(self, key: Item, old: Item | None, new: Item | None,
                 removed: bool = False) -> None:
        self._delivery.deliver([(key, old, new, removed)])

    def put_item(self, *, item: Mapping[str, Any], condition: Any = None,
                 names: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None, return_values: str = "NONE",
                 return_values_on_condition_check_failure: str = "NONE") -> Item | None:
        """Create or replace an item (PutItem); see
        :meth:`dynafile.table.Dynafile.put_item`.

        Raises:
            ValidationError: bad item, key or expression, or a callable /
                filtration condition (DynamoDB cannot run it).
            ItemTooLargeError: the item is over 400 KB.
            ConditionalCheckFailedError: the condition did not hold.
        """
        self.check_open()
        checked = self.prepare_item(item)
        req = Request(names, values)
        request: dict[str, Any] = {"TableName": self.name, "Item": item_to_wire(checked)}
        if condition is not None:
            request["ConditionExpression"] = req.condition(condition)
        req.finish(request)
        choice(return_values, _RETURN_WRITE, "return_values")
        self._on_failure(request, return_values_on_condition_check_failure)
        listening = bool(self._delivery)
        if return_values == "ALL_OLD" or listening:
            request["ReturnValues"] = "ALL_OLD"
        answer = self.connection.call("put_item", **request)
        old = item_from_wire(answer.get("Attributes"))
        if listening:
            self._changes(self.item_key(checked), old, normalized(checked))
        return old if return_values == "ALL_OLD" else None

    @staticmethod
    def _on_failure(request: dict[str, Any], mode: str) -> None:
        if choice(mode, _RETURN_WRITE, "return_values_on_condition_check_failure") == "ALL_OLD":
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"

    def delete_item(self, *, key: Mapping[str, Any], condition: Any = None,
                    names: Mapping[str, str] | None = None,
                    values: Mapping[str, Any] | None = None, return_values: str = "NONE",
                    return_values_on_condition_check_failure: str = "NONE") -> Item | None:
        """Delete an item (DeleteItem); a missing item is no error.

        Raises:
            ValidationError, ConditionalCheckFailedError.
        """
        self.check_open()
        item_key = self.key(key)
        req = Request(names, values)
        request: dict[str, Any] = {"TableName": self.name, "Key": item_to_wire(item_key)}
        if condition is not None:
            request["ConditionExpression"] = req.condition(condition)
        req.finish(request)
        choice(return_values, _RETURN_WRITE, "return_values")
        self._on_failure(request, return_values_on_condition_check_failure)
        listening = bool(self._delivery)
        if return_values == "ALL_OLD" or listening:
            request["ReturnValues"] = "ALL_OLD"
        answer = self.connection.call("delete_item", **request)
        old = item_from_wire(answer.get("Attributes"))
        if listening and old is not None:
            self._changes(item_key, old, None, True)
        return old if return_values == "ALL_OLD" else None

    def update_item(self, *, key: Mapping[str, Any], update: str | None = None,
                    names: Mapping[str, str] | None = None,
                    values: Mapping[str, Any] | None = None, condition: Any = None,
                    return_values: str = "NONE",
                    return_values_on_condition_check_failure: str = "NONE",
                    set: Mapping[str, Any] | None = None, remove: Iterable[str] | None = None,
                    add: Mapping[str, Any] | None = None,
                    delete: Mapping[str, Any] | None = None) -> Item | None:
        """Change an item's attributes, creating it when missing (UpdateItem);
        see :meth:`dynafile.table.Dynafile.update_item`.

        Raises:
            ValidationError: bad key or expression, an update of a key
                attribute, an operand DynamoDB refuses.
            ConditionalCheckFailedError: the condition did not hold.
        """
        self.check_open()
        item_key = self.key(key)
        req = Request(names, values)
        text, plan = req.update(update, key_names=list(item_key), set=set, remove=remove,
                                add=add, delete=delete)
        request: dict[str, Any] = {"TableName": self.name, "Key": item_to_wire(item_key)}
        if text:
            request["UpdateExpression"] = text
        if condition is not None:
            request["ConditionExpression"] = req.condition(condition)
        req.finish(request)
        choice(return_values, _RETURN_UPDATE, "return_values")
        self._on_failure(request, return_values_on_condition_check_failure)
        listening = bool(self._delivery)
        request["ReturnValues"] = "ALL_OLD" if listening else return_values
        answer = self.connection.call("update_item", **request)
        attributes = item_from_wire(answer.get("Attributes"))
        if not listening:
            if return_values in ("UPDATED_OLD", "UPDATED_NEW"):
                return attributes or {}
            return attributes
        old = attributes
        try:
            new = plan.apply(old)
        except ValidationError:  # pragma: no cover - DynamoDB applied it
            new = None
        if new is not None:
            new = normalized({**new, **item_key})
            self._changes(item_key, old, new)
        if return_values == "ALL_OLD":
            return old
        if return_values == "ALL_NEW":
            return new
        if return_values == "UPDATED_OLD":
            return plan.updated_view(old)
        if return_values == "UPDATED_NEW":
            return plan.updated_view(new, base=old)
        return None

    # --------------------------------------------------------------- reads

    def get_item(self, *, key: Mapping[str, Any], projection: None | str | Sequence[str] = None,
                 names: Mapping[str, str] | None = None,
                 consistent_read: bool = True) -> Item | None:
        """The item with this key, or ``None`` (GetItem; strongly consistent
        unless ``consistent_read=False``)."""
        self.check_open()
        item_key = self.key(key)
        req = Request(names, None)
        request: dict[str, Any] = {"TableName": self.name, "Key": item_to_wire(item_key),
                                   "ConsistentRead": bool(consistent_read)}
        text = req.projection(projection)
        if text:
            request["ProjectionExpression"] = text
        req.finish(request)
        answer = self.connection.call("get_item", **request)
        return item_from_wire(answer.get("Item"))

    def batch_get(self, keys: Sequence[Mapping[str, Any]], *,
                  projection: None | str | Sequence[str] = None,
                  names: Mapping[str, str] | None = None) -> list[Item | None]:
        """The items with these keys, in order, ``None`` for each missing one
        (BatchGetItem, 100 keys a request, unprocessed keys retried with
        backoff; strongly consistent). Not one snapshot: use
        :meth:`transact_get` for that.

        Raises:
            ValidationError: a key is invalid.
            ThrottledError: keys stayed unprocessed after every retry.
        """
        self.check_open()
        if isinstance(keys, Mapping) or not isinstance(keys, Iterable):
            raise ValidationError("keys must be a list of key dicts", attribute="keys")
        checked = [self.key(k) for k in keys]
        key_names = list(checked[0]) if checked else [self.pk_attribute]
        req = Request(names, None)
        text = req.projection(projection, extra=key_names)
        spec: dict[str, Any] = {"ConsistentRead": True}
        if text:
            spec["ProjectionExpression"] = text
        req.finish(spec)
        project = projection_of(projection, names) if projection is not None else None
        found: dict[tuple[Any, ...], Item] = {}
        unique: dict[tuple[Any, ...], Item] = {}
        for k in checked:
            unique.setdefault(self.key_id(k), k)
        wanted = list(unique.values())

        def send(request: dict[str, Any]) -> dict[str, Any] | None:
            answer = self.connection.call("batch_get_item", RequestItems=request)
            for raw in (answer.get("Responses") or {}).get(self.name, []):
                item = item_from_wire(raw)
                assert item is not None
                found[self.key_id(item)] = item
            left = (answer.get("UnprocessedKeys") or {}).get(self.name)
            return {self.name: left} if left and left.get("Keys") else None

        for start in range(0, len(wanted), 100):
            chunk = wanted[start:start + 100]
            self.connection.until_processed(
                {self.name: {**spec, "Keys": [item_to_wire(k) for k in chunk]}}, send,
                "BatchGetItem keys")
        out: list[Item | None] = []
        for k in checked:
            item = found.get(self.key_id(k))
            out.append(None if item is None else (project(item) if project else dict(item)))
        return out

    def query(self, pk: Any = UNSET, _filter: Any = None, *, sk: KeyCondition | None = None,
              starts_with: Any = None, scan_index_forward: bool = True, filter: Any = None,
              key_condition: Any = None, names: Mapping[str, str] | None = None,
              values: Mapping[str, Any] | None = None,
              projection: None | str | Sequence[str] = None, limit: int | None = None,
              exclusive_start_key: Mapping[str, Any] | None = None,
              index: str | None = None) -> Page:
        """One item collection in sort-key order (Query); see
        :meth:`dynafile.table.Dynafile.query` and :mod:`dynafile.remote.reads`."""
        return reads.query(self, pk, _filter, sk=sk, starts_with=starts_with,
                           scan_index_forward=scan_index_forward, filter=filter,
                           key_condition=key_condition, names=names, values=values,
                           projection=projection, limit=limit,
                           exclusive_start_key=exclusive_start_key, index=index)

    def count(self, pk: Any = UNSET, _filter: Any = None, **kwargs: Any) -> int:
        """How many items iterating :meth:`query` would yield (``Select=COUNT``
        when the filter runs in DynamoDB)."""
        return reads.count(self, pk, _filter, **kwargs)

    def scan(self, _filter: Any = None, *, filter: Any = None,
             names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
             projection: None | str | Sequence[str] = None, limit: int | None = None,
             exclusive_start_key: Mapping[str, Any] | None = None,
             segment: int | None = None, total_segments: int | None = None,
             index: str | None = None) -> Page:
        """Every item of the table or an index (Scan); see
        :meth:`dynafile.table.Dynafile.scan`."""
        return reads.scan(self, _filter, filter=filter, names=names, values=values,
                          projection=projection, limit=limit,
                          exclusive_start_key=exclusive_start_key, segment=segment,
                          total_segments=total_segments, index=index)

    # ---------------------------------------------------------- dict access

    def __getitem__(self, key: Any) -> Item:
        """``table[pk, sk]``, ``table[pk]`` (no sort key) or ``table[{...}]``:
        the item, as :meth:`get_item` (one GetItem).

        Raises:
            KeyError: no such item.
            ValidationError: a malformed key.
        """
        item = self.get_item(key=dict_key(key, self.pk_attribute, self.sk_attribute))
        if item is None:
            raise KeyError(key)
        return item

    def __setitem__(self, key: Any, item: Mapping[str, Any]) -> None:
        """``table[pk, sk] = item``: put ``item`` under that key (one
        PutItem); key attributes it holds must equal the key's.

        Raises:
            ValidationError: a malformed key or item, or key attributes in
                the item that differ from the key.
        """
        full = item_under_key(dict_key(key, self.pk_attribute, self.sk_attribute), item)
        self.put_item(item=full)

    def __delitem__(self, key: Any) -> None:
        """``del table[pk, sk]``: delete the item (one DeleteItem).

        Raises:
            KeyError: there was no such item.
        """
        found = self.delete_item(key=dict_key(key, self.pk_attribute, self.sk_attribute),
                                 return_values="ALL_OLD")
        if found is None:
            raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        """``(pk, sk) in table``: whether the item exists (one GetItem of the
        key attributes). A malformed key raises ValidationError."""
        names = [self.pk_attribute] + ([self.sk_attribute] if self.sk_attribute else [])
        return self.get_item(key=dict_key(key, self.pk_attribute, self.sk_attribute),
                             projection=names) is not None

    def __len__(self) -> int:
        """The number of items, counted now by a Scan of the key attributes:
        **O(n)**, and DynamoDB bills it as reading the whole table. For
        DynamoDB's free, approximate figure (updated about every six hours)
        use ``Database.describe_table(name)["item_count"]``."""
        return sum(1 for _ in self)

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the keys as the file backend does: ``(pk, sk)``
        tuples (the partition key alone without a sort key), from a Scan of
        the key attributes (billed as reading the whole table), numbers as
        ``Decimal``. Each key works as ``table[key]``."""
        pk, sk = self.pk_attribute, self.sk_attribute
        names = [pk] + ([sk] if sk else [])
        for item in self.scan(projection=names):
            yield (item[pk], item[sk]) if sk else item[pk]

    def __bool__(self) -> bool:
        """Always true: ``if table`` never scans."""
        return True

    # ---------------------------------------------------- batches and transactions

    def batch_writer(self, flush_amount: int | None = None) -> RemoteBatchWriter:
        """A context manager buffering puts and deletes, sent on exit as
        BatchWriteItem requests of 25 (see :mod:`dynafile.remote.batch`)."""
        from .batch import RemoteBatchWriter

        self.check_open()
        return RemoteBatchWriter(self, flush_amount)

    def transact_write(self, actions: Sequence[Mapping[str, Any]], *,
                       token: str | None = None, max_actions: int = 100) -> None:
        """TransactWriteItems; actions as for
        :meth:`dynafile.table.Dynafile.transact_write` (``"table"`` may name
        another table of the database)."""
        from .transactions import transact_write

        self.check_open()
        transact_write(self.database, actions, default=self, token=token,
                       max_actions=max_actions)

    def transact_get(self, keys: Sequence[Mapping[str, Any]], *, projection: Any = None,
                     names: Mapping[str, str] | None = None,
                     max_items: int = 100) -> list[Item | None]:
        """TransactGetItems: the items as one snapshot, ``None`` for each missing one."""
        from .transactions import transact_get

        self.check_open()
        if isinstance(keys, (Mapping, str, bytes)) or not isinstance(keys, Iterable):
            raise ValidationError("keys must be a list of key dicts", attribute="keys")
        return transact_get(self.database, [(self, k) for k in keys], projection=projection,
                            names=names, max_items=max_items)

    def transaction(self, *, retries: int = 0,
                    version_attribute: str | None = None) -> RemoteTransaction:
        """An optimistic transaction (see :mod:`dynafile.remote.transactions`)."""
        from .transactions import RemoteTransaction

        self.check_open()
        return RemoteTransaction(self.database, self, retries=retries,
                                 version_attribute=version_attribute)

    # ------------------------------------------------------------- streams

    def add_stream_listener(self, listener: StreamListener, *, records: bool = False) -> None:
        """Call ``listener`` for every item change made through this object
        (see :mod:`dynafile.remote.listeners` for the images it gets)."""
        (self._delivery.records if records else self._delivery.events).add(listener)

    def remove_stream_listener(self, listener: StreamListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        self._delivery.events.remove(listener)
        self._delivery.records.remove(listener)

    def deliver(self, changes: list[tuple[Item, Item | None, Item | None, bool]]) -> None:
        """Hand changes made through this table's database to its listeners."""
        self._delivery.deliver(changes)

    @property
    def listening(self) -> bool:
        """Whether a listener is registered."""
        return bool(self._delivery)

    def stream(self, *, from_sequence: Any = None, consumer: str | None = None,
               timeout: float | None = None, follow: bool = True, batch: int = 1,
               view_type: str | None = None, auto_commit: bool = True,
               positions: Any = None, poll_interval: float = 0.5) -> RemoteStream:
        """The table's changes from DynamoDB Streams (see
        :mod:`dynafile.remote.streams`)."""
        return self.database.stream(tables=[self.name], from_sequence=from_sequence,
                                    consumer=consumer, timeout=timeout, follow=follow,
                                    batch=batch, view_type=view_type, auto_commit=auto_commit,
                                    positions=positions, poll_interval=poll_interval)

    def consumer_position(self, name: str, *, positions: Any = None) -> Any:
        """Stream consumer ``name``'s stored position (per shard), or ``None``."""
        return self.database.consumer_position(name, positions=positions)

    def reset_consumer(self, name: str, *, positions: Any = None) -> bool:
        """Forget stream consumer ``name``'s position; return whether it had one."""
        return self.database.reset_consumer(name, positions=positions)

    # ---------------------------------------------------------- maintenance

    def create_gsi(self, name: str | GSI, pk_attribute: str | None = None,
                   sk_attribute: str | None = None, projection: str = "ALL",
                   include: Sequence[str] | None = None, *,
                   key_types: Mapping[str, str] | None = None) -> None:
        """Add a global secondary index (UpdateTable) and wait until DynamoDB
        has backfilled it. Its key attributes are of type ``S`` unless
        ``key_types`` (or the table's definition) says otherwise.

        Raises:
            SchemaMismatchError: an index of that name exists with another definition.
            ValidationError: bad arguments (DynamoDB's, too).
        """
        from ..errors import SchemaMismatchError

        self.check_open()
        index = name if isinstance(name, GSI) else GSI(name, pk_attribute,  # type: ignore[arg-type]
                                                       sk_attribute, projection, include)
        info = self.refresh()
        existing = info.indexes.get(index.name)
        if existing is not None:
            if existing != index:
                raise SchemaMismatchError(f"index {index.name!r} exists with another "
                                          f"definition: {existing.definition()}")
            self.database.wait_for(self.name, index=index.name)
            return
        types = {**info.key_types, **(key_types or {})}
        entry, defined = index_request(index, types)
        attributes = {a["AttributeName"]: a["AttributeType"] for a in defined}
        attributes.update(info.key_types)
        self.connection.call(
            "update_table", TableName=self.name,
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t}
                                  for n, t in attributes.items()],
            GlobalSecondaryIndexUpdates=[{"Create": entry}])
        self.database.wait_for(self.name, index=index.name)
        self.refresh()

    def drop_gsi(self, name: str) -> None:
        """Remove a global secondary index (UpdateTable) and wait until it is gone.

        Raises:
            ValidationError: the table has no global index ``name``.
        """
        self.check_open()
        info = self.refresh()
        if not isinstance(info.indexes.get(name), GSI):
            raise ValidationError(f"the table has no global index {name!r}", attribute="name")
        self.connection.call("update_table", TableName=self.name,
                             GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": name}}])
        self.database.wait_for(self.name, index=name, gone=True)
        self.refresh()

    def update_time_to_live(self, attribute: str | None) -> None:
        """Set the table's TTL attribute (UpdateTimeToLive; ``None`` turns TTL
        off). DynamoDB then deletes items whose attribute lies in the past,
        typically within a few days; reads see them until then."""
        self.check_open()
        name = attribute_name(attribute, "attribute", True)
        current = self.ttl_attribute
        if current == name:
            return
        if current is not None:
            self.connection.call("update_time_to_live", TableName=self.name,
                                 TimeToLiveSpecification={"Enabled": False,
                                                          "AttributeName": current})
        if name is not None:
            self.connection.call("update_time_to_live", TableName=self.name,
                                 TimeToLiveSpecification={"Enabled": True,
                                                          "AttributeName": name})
        self._ttl = None

    def update_table(self, *, stream_view_type: str = UNSET, ttl_mode: str = UNSET) -> None:
        """Change the stream view type (DynamoDB turns the stream off and on:
        the new stream has a new ARN, and consumers start on it afresh).
        ``ttl_mode`` can only be ``"dynamodb"``.

        Raises:
            ValidationError: not a view type, or another TTL mode.
        """
        self.check_open()
        if ttl_mode is not UNSET and ttl_mode != "dynamodb":
            raise ValidationError("DynamoDB keeps expired items readable until it deletes "
                                  "them: only ttl_mode='dynamodb' is possible",
                                  attribute="ttl_mode")
        if stream_view_type is UNSET:
            return
        view = choice(stream_view_type, VIEW_TYPES, "stream_view_type")
        info = self.refresh()
        if info.stream_view_type == view:
            return
        if info.stream_view_type is not None:
            self.connection.call("update_table", TableName=self.name,
                                 StreamSpecification={"StreamEnabled": False})
            self.database.wait_for(self.name)
        self.connection.call("update_table", TableName=self.name,
                             StreamSpecification={"StreamEnabled": True,
                                                  "StreamViewType": view})
        self.database.wait_for(self.name)
        self.refresh()

    def sweep_expired(self, batch_size: int = 1000) -> int:
        """Delete the items whose TTL attribute lies in the past, here and
        now, and return how many were deleted.

        DynamoDB deletes expired items itself, in its own time (DynamoDB
        Local, moto and ``dynafile serve`` do not): this is for those, or to
        be sure. A Scan with a filter on the TTL attribute, then a
        conditional delete of each item found (an item whose TTL attribute
        changed meanwhile stays). Cost: a full scan.

        Raises:
            ValidationError: ``batch_size`` is not a positive int.
        """
        positive_int(batch_size, "batch_size")
        attribute = self.ttl_attribute
        if attribute is None:
            return 0
        now = int(time.time())
        from ..expressions import Attr

        expired = Attr(attribute).attribute_type("N") & Attr(attribute).lt(now)
        deleted = 0
        key_names = [self.pk_attribute] + ([self.sk_attribute] if self.sk_attribute else [])
        for item in self.scan(filter=expired, projection=key_names + [attribute]):
            try:
                self.delete_item(key={k: item[k] for k in key_names}, condition=expired)
            except ConditionalCheckFailedError:
                continue
            deleted += 1
        return deleted

    def check(self) -> Any:
        """Not available: DynamoDB has no files to verify.

        Raises:
            ValidationError: always.
        """
        raise ValidationError("check() verifies a data directory's files; a DynamoDB table "
                              "has none to check", attribute="check")

    def checkpoint(self) -> int:
        """Nothing to fold on DynamoDB: returns 0."""
        self.check_open()
        return 0

    # ------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close the database when this table opened it (``Dynafile(url,
        table=...)``); a table handed out by a database stays usable until
        the database is closed, as in the file backend. Idempotent."""
        if self._owned:
            self._closed = True
            self.database.close()

    def __enter__(self) -> RemoteTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

