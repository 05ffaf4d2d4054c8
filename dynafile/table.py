"""The table: :class:`Dynafile`, the public face of one open table.

Every method validates its request, then works through the table core
(:class:`dynafile.core.TableCore`): writes describe themselves as
:mod:`dynafile.writes` kinds and go through the one write step; reads
first apply what other processes committed. Items go in and come out as
independent copies: the store keeps serialized bytes and hands out freshly
deserialized dicts.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Union

from .batch import BatchWriter
from .core import TableCore
from .errors import ValidationError
from .expressions import KeyCondition, Used, check_placeholders, to_predicate
from .indexes import GSI, LSI, Index
from .keys import MAX_KEY_BYTES
from .listeners import StreamListener
from .maintenance import create_gsi, drop_gsi
from .pages import Page
from .query import UNSET, projection_of, query, scan
from .records import VIEW_TYPES, Position, StreamRecord
from .schema import TTL_MODES, Schema
from .serialization import Serializer, get_serializer
from .storage import fs
from .streams import ChangeStream
from .streams import consumer_position as _consumer_position
from .streams import reset_consumer as _reset_consumer
from .streams import stream as _stream
from .transactions import Transaction, transact_get, transact_write
from .ttl import Sweeper, sweep
from .writes import Delete, Put, Update

if TYPE_CHECKING:  # pragma: no cover
    from .check import CheckReport

__all__ = ["Dynafile"]

Item = dict[str, Any]
FilterSpec = Union[None, str, Callable[[Item], bool], Any]
_RETURN_WRITE = ("NONE", "ALL_OLD")
_RETURN_UPDATE = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
#: Text keys this short are valid whatever their characters (4 UTF-8 bytes at most each).
_SHORT_KEY = MAX_KEY_BYTES // 4


def _positive_int(value: Any, attribute: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationError("must be a positive int" if minimum == 1
                              else f"must be an int >= {minimum}", attribute=attribute)
    return value


def _seconds(value: Any, attribute: str, *, optional: bool, positive: bool) -> float | None:
    if value is None and optional:
        return None
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value)
            or value < 0 or (positive and value == 0)):
        kind = "a positive" if positive else "a"
        raise ValidationError(f"must be {kind} number of seconds"
                              + (" >= 0" if not positive else "")
                              + (" or None" if optional else ""), attribute=attribute)
    return float(value)


def _flag(value: Any, attribute: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("must be True or False", attribute=attribute)
    return value


def _attribute_name(value: Any, attribute: str, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError("must be a non-empty string" + (" or None" if optional else ""),
                              attribute=attribute)
    return value


def _check_indexes(indexes: Any, cls: type, attribute: str) -> list[Any]:
    if isinstance(indexes, (str, bytes)) or not isinstance(indexes, Iterable):
        raise ValidationError(f"must be a list of {cls.__name__} objects", attribute=attribute)
    out = list(indexes)
    if not all(isinstance(index, cls) for index in out):
        raise ValidationError(f"must be a list of {cls.__name__} objects", attribute=attribute)
    if len({index.name for index in out}) != len(out):
        raise ValidationError("index names must be unique", attribute=attribute)
    return out


def _choice(value: Any, choices: Sequence[str], attribute: str) -> str:
    if value not in choices:
        raise ValidationError(f"must be one of {', '.join(choices)}, got {value!r}",
                              attribute=attribute)
    return value  # type: ignore[no-any-return]


class Dynafile:
    """A table of dict items in a directory, keyed by partition and sort key.

    Table properties (the key attributes, ``ttl_attribute``,
    ``stream_view_type``, ``serializer``, ``lsis``) belong to the table: they
    are stored in its ``meta.json`` when it is created. An opener that omits
    one gets the stored value; one that names another value gets
    :class:`~dynafile.errors.SchemaMismatchError`. Change the TTL attribute
    with :meth:`update_time_to_live` and the stream view type with
    :meth:`update_table`.

    Args:
        path: the table directory; created when missing.
        pk_attribute: name of the partition key attribute (``"PK"`` for a new
            table when omitted).
        sk_attribute: name of the sort key attribute, or ``None`` for a table
            keyed by partition key alone (``"SK"`` for a new table when omitted).
        ttl_attribute: name of the attribute holding an expiry time in epoch
            seconds; expired items are invisible to every read (``None``: no TTL).
        durability: ``"full"`` (default; fsync before a write returns: survives
            power loss) or ``"normal"`` (flushed to the OS: survives a killed
            process, not a power cut).
        serializer: ``"pickle"`` (allowlisted loading; the default for a new
            table), ``"json"``, or a :class:`~dynafile.serialization.Serializer`.
        max_item_size: largest serialized item in bytes (400 KB by default).
        cache_bytes: memory budget of the partition cache.
        lock_timeout: seconds to wait for another writer before raising
            :class:`~dynafile.errors.LockTimeoutError` (``None``: forever).
        checkpoint_bytes: log volume after which partitions are rewritten.
        read_only: open without writing anything (automatic when the
            directory is not writable).
        clock: function returning the current epoch seconds (for TTL tests).
        ttl_sweep_interval: when set, a background thread calls
            :meth:`sweep_expired` every so many seconds (off by default).
        gsis: global secondary indexes the table must have; missing ones
            are created (and backfilled) at open.
        lsis: local secondary indexes, fixed when the table is created.
        watch: follow other processes' writes and checkpoints with file
            notifications (watchdog) as they happen, so reads find the work
            done; every read still checks the log itself.
        retention: seconds a log segment is kept after it is checkpointed,
            so :meth:`stream` readers can catch up (24 hours by default; with
            ``0`` a checkpoint frees the whole log it covers).
        segment_bytes: size after which the log starts a new segment.
        stream_view_type: what record listeners and :meth:`stream` get by
            default: ``"KEYS_ONLY"``, ``"NEW_IMAGE"``, ``"OLD_IMAGE"`` or
            ``"NEW_AND_OLD_IMAGES"`` (the default).
        ttl_mode: ``"hide"`` (the default, the original dynafile's: expired
            items are invisible to every read and absent for every write) or
            ``"dynamodb"`` (DynamoDB's: they stay, readable, until
            :meth:`sweep_expired` deletes them).

    Raises:
        SchemaMismatchError: a table property differs from the stored one.
        UnsupportedFormatError: its ``meta.json`` has an unknown format version.
        CorruptFileError: a file fails its checks.
        ValidationError: an argument is invalid (checked before anything is
            touched).

    Example:
        >>> import tempfile
        >>> db = Dynafile(tempfile.mkdtemp(), pk_attribute="PK", sk_attribute="SK")
        >>> db.put_item(item={"PK": "user#1", "SK": "profile", "name": "Bob"})
        >>> db.get_item(key={"PK": "user#1", "SK": "profile"})["name"]
        'Bob'
        >>> db.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = "",
        pk_attribute: str = UNSET,
        sk_attribute: str | None = UNSET,
        ttl_attribute: str | None = UNSET,
        *,
        durability: str = "full",
        serializer: None | str | Serializer = None,
        max_item_size: int = 400 * 1024,
        cache_bytes: int = 256 << 20,
        lock_timeout: float | None = 60.0,
        checkpoint_bytes: int = 16 << 20,
        read_only: bool = False,
        clock: Callable[[], float] | None = None,
        ttl_sweep_interval: float | None = None,
        gsis: Sequence[GSI] | None = None,
        lsis: Sequence[LSI] | None = None,
        watch: bool = False,
        retention: float = 24 * 3600.0,
        segment_bytes: int = 64 << 20,
        stream_view_type: str = UNSET,
        ttl_mode: str = UNSET,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ValidationError("must be a directory path", attribute="path")
        requested: dict[str, Any] = {}
        if pk_attribute is not UNSET:
            requested["pk_attribute"] = _attribute_name(pk_attribute, "pk_attribute", False)
        if sk_attribute is not UNSET:
            requested["sk_attribute"] = _attribute_name(sk_attribute, "sk_attribute", True)
        if ttl_attribute is not UNSET:
            requested["ttl_attribute"] = _attribute_name(ttl_attribute, "ttl_attribute", True)
        if stream_view_type is not UNSET:
            requested["stream_view_type"] = _choice(stream_view_type, VIEW_TYPES,
                                                    "stream_view_type")
        if ttl_mode is not UNSET:
            requested["ttl_mode"] = _choice(ttl_mode, TTL_MODES, "ttl_mode")
        if lsis is not None:
            requested["lsis"] = {i.name: i.definition() for i in _check_indexes(lsis, LSI,
                                                                                "lsis")}
        wanted_gsis = _check_indexes(gsis, GSI, "gsis") if gsis is not None else []
        if durability not in ("full", "normal"):
            raise ValidationError("must be 'full' or 'normal'", attribute="durability")
        chosen = None if serializer is None else get_serializer(serializer)
        _positive_int(max_item_size, "max_item_size")
        _positive_int(cache_bytes, "cache_bytes", 0)
        _positive_int(checkpoint_bytes, "checkpoint_bytes")
        _positive_int(segment_bytes, "segment_bytes", 4096)
        _seconds(lock_timeout, "lock_timeout", optional=True, positive=False)
        _seconds(retention, "retention", optional=False, positive=False)
        interval = _seconds(ttl_sweep_interval, "ttl_sweep_interval", optional=True,
                            positive=True)
        _flag(read_only, "read_only")
        _flag(watch, "watch")
        if clock is not None and not callable(clock):
            raise ValidationError("must be a function returning epoch seconds", attribute="clock")
        self.path = os.path.abspath(os.fspath(path) or ".")
        self.durability = durability
        if not read_only:
            if not os.path.isdir(self.path):
                fs.makedirs(self.path)
            read_only = not os.access(self.path, os.W_OK)
        elif not os.path.isdir(self.path):
            raise ValidationError(f"{self.path} does not exist", attribute="path")
        self.read_only = read_only
        self._sweeper: Sweeper | None = None
        self._core = TableCore(
            self.path, requested=requested, serializer=chosen, gsis=wanted_gsis,
            read_only=read_only,
            max_item_size=max_item_size, clock=clock or time.time, durability=durability,
            cache_bytes=cache_bytes, checkpoint_bytes=checkpoint_bytes,
            segment_bytes=segment_bytes, retention=float(retention),
            lock_timeout=lock_timeout, watch=watch)
        try:
            if not read_only:
                for index in wanted_gsis:
                    create_gsi(self._core, index)
                for name, data in list(self._core.schema.gsis.items()):
                    if data.get("state") != "ACTIVE":
                        create_gsi(self._core, GSI.from_json(name, data))  # resume a backfill
            if interval is not None and not read_only:
                self._sweeper = Sweeper(self._core, interval)
        except BaseException:
            self._core.close(checkpoint=False)
            raise

    # ---------------------------------------------------------- properties

    @property
    def pk_attribute(self) -> str:
        """The partition key attribute."""
        return self._core.pk_attribute

    @property
    def sk_attribute(self) -> str | None:
        """The sort key attribute (``None``: the table has none)."""
        return self._core.sk_attribute

    @property
    def ttl_attribute(self) -> str | None:
        """The TTL attribute (``None``: items never expire), as of now."""
        return self._core.current_schema().ttl_attribute

    @property
    def stream_view_type(self) -> str:
        """The images change records carry by default, as of now."""
        return self._core.current_schema().view_type

    @property
    def ttl_mode(self) -> str:
        """How expired items are treated: ``"hide"`` or ``"dynamodb"``, as of now."""
        return self._core.current_schema().ttl_mode

    @property
    def max_item_size(self) -> int:
        """The largest serialized item accepted, in bytes."""
        return self._core.max_item_size

    @property
    def sequence(self) -> int:
        """The sequence number of the last write committed, by any process
        (pass it as ``stream(from_sequence=...)`` to follow what comes next).
        One ``fstat``."""
        return self._core.log_position().lsn

    @property
    def indexes(self) -> dict[str, Index]:
        """The table's secondary indexes by name (GSI and LSI objects)."""
        self._core.current_schema()
        return dict(self._core.indexes.indexes)

    def describe(self) -> dict[str, Any]:
        """Return the table's definition: key attributes and their fixed types,
        TTL attribute, stream view type, serializer, and each index with its
        kind and state (``"CREATING"`` while a backfill runs, else ``"ACTIVE"``).
        Reads ``meta.json`` afresh (one ``stat``)."""
        schema = self._core.current_schema()
        indexes = {}
        for section in ("gsis", "lsis"):
            for name, data in getattr(schema, section).items():
                entry = {k: v for k, v in data.items() if k != "state"}
                entry["kind"] = "GSI" if section == "gsis" else "LSI"
                entry["state"] = data.get("state", "ACTIVE")
                indexes[name] = entry
        return {
            "path": self.path,
            "pk_attribute": schema.pk_attribute,
            "sk_attribute": schema.sk_attribute,
            "key_types": dict(schema.key_types),
            "ttl_attribute": schema.ttl_attribute,
            "stream_view_type": schema.view_type,
            "ttl_mode": schema.ttl_mode,
            "serializer": schema.serializer,
            "indexes": indexes,
        }

    def __repr__(self) -> str:
        return (f"Dynafile({self.path!r}, pk_attribute={self.pk_attribute!r}, "
                f"sk_attribute={self.sk_attribute!r})")

    # -------------------------------------------------------------- writes

    def put_item(
        self,
        *,
        item: Mapping[str, Any],
        condition: FilterSpec = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_values: str = "NONE",
        return_values_on_condition_check_failure: str = "NONE",
    ) -> Item | None:
        """Create or replace an item.

        Args:
            item: the item; must hold the key attributes.
            condition: a condition the current item must meet (builder,
                DynamoDB string with ``names``/``values``, or callable);
                a missing (or expired) item is checked as ``{}``.
            return_values: ``"NONE"`` or ``"ALL_OLD"`` (the replaced item).
            return_values_on_condition_check_failure: ``"ALL_OLD"`` puts the
                current item on the raised error.

        Returns:
            ``None``, or the old item (or ``None``) with ``"ALL_OLD"``.

        Raises:
            ValidationError: bad item, key or expression (nothing written).
            ItemTooLargeError: the item is over ``max_item_size``.
            ConditionalCheckFailedError: the condition did not hold.

        Cost: O(log n) plus one log append (and fsync in ``"full"`` mode).
        """
        core = self._core
        core.check_open()
        key = core.item_key(item)
        stored, data = core.prepare_item(item)
        predicate, want_old = self._condition(condition, names, values, Used(),
                                              return_values_on_condition_check_failure)
        _choice(return_values, _RETURN_WRITE, "return_values")
        (outcome,) = core.commit([Put(key, data, stored, predicate, want_old)])
        return outcome.old if return_values == "ALL_OLD" else None

    def delete_item(
        self,
        *,
        key: Mapping[str, Any],
        condition: FilterSpec = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_values: str = "NONE",
        return_values_on_condition_check_failure: str = "NONE",
    ) -> Item | None:
        """Delete an item; deleting a missing item is not an error.

        Returns ``None``, or the deleted item with ``return_values="ALL_OLD"``.

        Raises:
            ValidationError: bad key or expression (nothing written).
            ConditionalCheckFailedError: the condition did not hold.
        """
        core = self._core
        core.check_open()
        item_key = core.key(key)
        predicate, want_old = self._condition(condition, names, values, Used(),
                                              return_values_on_condition_check_failure)
        _choice(return_values, _RETURN_WRITE, "return_values")
        (outcome,) = core.commit([Delete(item_key, predicate, want_old)])
        return outcome.old if return_values == "ALL_OLD" else None

    def update_item(
        self,
        *,
        key: Mapping[str, Any],
        update: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        condition: FilterSpec = None,
        return_values: str = "NONE",
        return_values_on_condition_check_failure: str = "NONE",
        set: Mapping[str, Any] | None = None,
        remove: Iterable[str] | None = None,
        add: Mapping[str, Any] | None = None,
        delete: Mapping[str, Any] | None = None,
    ) -> Item | None:
        """Change an item's attributes, creating the item when missing.

        ``update`` is a DynamoDB update expression (``"SET a = a + :one
        REMOVE b"``) with ``names``/``values`` placeholders; or use the plain
        form ``set={"a": 1}``, ``remove=["b"]``, ``add={"n": 1}``,
        ``delete={"tags": {"x"}}``. Every right-hand side reads the item as
        it was before the update.

        Returns:
            by ``return_values``: ``"NONE"`` -> ``None``; ``"ALL_OLD"`` /
            ``"ALL_NEW"`` -> the whole item before / after;
            ``"UPDATED_OLD"`` / ``"UPDATED_NEW"`` -> only the paths the
            update touched, before / after (``SET a.b = :v`` gives
            ``{"a": {"b": ...}}``).

        Raises:
            ValidationError: bad key or expression, an update of a key
                attribute, or an operand of the wrong type (nothing written).
            ItemTooLargeError: the updated item is over ``max_item_size``.
            ConditionalCheckFailedError: the condition did not hold.
        """
        core = self._core
        core.check_open()
        item_key = core.key(key)
        used = Used()
        plan = core.update_plan(update, names, values, used, set=set, remove=remove, add=add,
                                delete=delete)
        predicate, want_old = self._condition(condition, names, values, used,
                                              return_values_on_condition_check_failure)
        _choice(return_values, _RETURN_UPDATE, "return_values")
        (outcome,) = core.commit([Update(item_key, plan, predicate, want_old)])
        old, new = outcome
        if return_values == "ALL_OLD":
            return old
        if return_values == "ALL_NEW":
            return new
        if return_values == "UPDATED_OLD":
            return plan.updated_view(old)
        if return_values == "UPDATED_NEW":
            return plan.updated_view(new, base=old)
        return None

    @staticmethod
    def _condition(condition: FilterSpec, names: Any, values: Any, used: Used,
                   on_failure: str) -> tuple[Callable[[Item], bool] | None, bool]:
        """Compile a write's condition and check its placeholders."""
        predicate = None if condition is None else to_predicate(condition, names, values,
                                                                used=used)
        check_placeholders(names, values, used)
        want_old = _choice(on_failure, _RETURN_WRITE,
                           "return_values_on_condition_check_failure") == "ALL_OLD"
        return predicate, want_old

    # --------------------------------------------------------------- reads

    def get_item(
        self,
        *,
        key: Mapping[str, Any],
        projection: None | str | Sequence[str] = None,
        names: Mapping[str, str] | None = None,
        consistent_read: bool = True,
    ) -> Item | None:
        """Return the item with this key, or ``None`` (also when expired).

        ``projection`` limits the attributes returned (a list of paths or a
        ProjectionExpression string with ``names``). Reads are always
        strongly consistent; ``consistent_read`` is accepted for boto3's sake.

        Raises:
            ValidationError: bad key or projection.

        Cost: O(log n) when the partition is cached; one fstat to see other
        processes' writes.
        """
        core = self._core
        npk = nsk = None
        text = core.text_keys
        if text is not None and key.__class__ is dict and len(key) == 2:
            # The common case, validated inline: short text keys on a table
            # whose key attributes are fixed to strings.
            npk, nsk = key.get(text[0]), key.get(text[1])  # type: ignore[attr-defined]
            if not (npk.__class__ is str and nsk.__class__ is str
                    and 0 < len(npk) <= _SHORT_KEY and 0 < len(nsk) <= _SHORT_KEY):
                npk = None
        if npk is None:
            item_key = core.key(key)
            npk, nsk = item_key.npk, item_key.nsk
        if projection is None and names is None:
            return core.get(npk, nsk)
        project = projection_of(projection, names)
        item = core.get(npk, nsk)
        return item if item is None or project is None else project(item)

    def batch_get(
        self,
        keys: Sequence[Mapping[str, Any]],
        *,
        projection: None | str | Sequence[str] = None,
        names: Mapping[str, str] | None = None,
    ) -> list[Item | None]:
        """Return the items with these keys, in the same order, ``None`` for
        each missing (or expired) one. All keys are validated before any is
        read, and all are read as one snapshot.

        Raises:
            ValidationError: a key is invalid.
        """
        core = self._core
        core.check_open()
        if isinstance(keys, Mapping) or not isinstance(keys, Iterable):
            raise ValidationError("keys must be a list of key dicts", attribute="keys")
        normalised = [(k.npk, k.nsk) for k in map(core.key, keys)]
        project = projection_of(projection, names)
        items = core.get_many(normalised)
        if project is not None:
            items = [None if item is None else project(item) for item in items]
        return items

    def query(
        self,
        pk: Any = UNSET,
        _filter: FilterSpec = None,
        *,
        sk: KeyCondition | None = None,
        starts_with: Any = None,
        scan_index_forward: bool = True,
        filter: FilterSpec = None,
        key_condition: Any = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: None | str | Sequence[str] = None,
        limit: int | None = None,
        exclusive_start_key: Mapping[str, Any] | None = None,
        index: str | None = None,
    ) -> Page:
        """Return the items of one partition (item collection), in sort-key order.

        Args:
            pk: the partition key value.
            sk: a sort-key condition, e.g. ``Key("SK").begins_with("order#")``
                (``eq lt lte gt gte between begins_with``).
            starts_with: the original dynafile's start position, inclusive in
                the walk direction: forward, sort keys ``>= starts_with``;
                reverse, sort keys ``<= starts_with``.
            scan_index_forward: ``False`` walks in descending order.
            filter / _filter: applied after the key condition: a callable, a
                builder condition, a DynamoDB string (with ``names`` /
                ``values``) or a filtration string.
            key_condition: instead of ``pk``/``sk``, a whole key condition
                (DynamoDB string or ``Key(...) & Key(...)``).
            projection: attributes to return.
            limit: the most items to *evaluate* (before the filter), like
                DynamoDB's ``Limit``.
            exclusive_start_key: a page's ``last_evaluated_key``, to go on.
            index: query a secondary index: ``pk`` is then the index's
                partition key value and ``sk`` a condition on its sort key;
                items come in index sort-key order, as the index projects them.

        Returns:
            A :class:`~dynafile.pages.Page`: iterate it for items, or read
            ``.items`` and ``.last_evaluated_key``.

        Raises:
            ValidationError: bad key, condition, filter, projection or limit.

        Cost: O(log n + k) for k items evaluated.
        """
        return query(self._core, pk, _filter, sk=sk, starts_with=starts_with,
                     scan_index_forward=scan_index_forward, filter=filter,
                     key_condition=key_condition, names=names, values=values,
                     projection=projection, limit=limit,
                     exclusive_start_key=exclusive_start_key, index=index)

    def count(self, pk: Any = UNSET, _filter: FilterSpec = None, **kwargs: Any) -> int:
        """Return how many items iterating :meth:`query` would yield, over every
        page (DynamoDB's ``Select=COUNT``, summed). Takes the same arguments
        except ``projection``. Cost: O(items evaluated)."""
        return sum(1 for _ in self.query(pk, _filter, **kwargs))

    def scan(
        self,
        _filter: FilterSpec = None,
        *,
        filter: FilterSpec = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: None | str | Sequence[str] = None,
        limit: int | None = None,
        exclusive_start_key: Mapping[str, Any] | None = None,
        segment: int | None = None,
        total_segments: int | None = None,
        index: str | None = None,
    ) -> Page:
        """Return every item of the table (partition by partition, each in
        sort-key order), optionally filtered.

        ``segment`` / ``total_segments`` split the table for a parallel scan:
        the segments together cover every item exactly once. ``index`` scans
        a secondary index instead. Other arguments as in :meth:`query`.
        Iteration is lazy when there is no ``limit``.

        Raises:
            ValidationError: bad filter, projection, limit or segment.
            ClosedError: the table was closed while the scan was iterated.

        Cost: O(n) for the whole table.
        """
        return scan(self._core, _filter, filter=filter, names=names, values=values,
                    projection=projection, limit=limit,
                    exclusive_start_key=exclusive_start_key, segment=segment,
                    total_segments=total_segments, index=index)

    # ------------------------------------------------------------- batches

    def batch_writer(self, flush_amount: int | None = None) -> BatchWriter:
        """Return a context manager that buffers puts and deletes.

        A block that finishes commits them as one log record (one fsync),
        all or nothing; a block that raises writes nothing of itself. With
        ``flush_amount`` every so many buffered writes are committed at once
        (for bulk loads): an exception then leaves the records already
        flushed. The last write to a key wins.

        Raises:
            ValidationError: ``flush_amount`` is not a positive int.
        """
        self._core.check_open()
        return BatchWriter(self._core, flush_amount)

    # -------------------------------------------------------- transactions

    def transact_write(self, actions: Sequence[Mapping[str, Any]], *,
                       token: str | None = None, max_actions: int = 100) -> None:
        """Commit put/update/delete/condition-check actions all or nothing.

        See :func:`dynafile.transactions.transact_write` for the actions'
        form, ``token`` idempotency and the errors raised.
        """
        self._core.check_open()
        transact_write(self._core, actions, token=token, max_actions=max_actions)

    def transact_get(self, keys: Sequence[Mapping[str, Any]], *, projection: Any = None,
                     names: Mapping[str, str] | None = None,
                     max_items: int = 100) -> list[Item | None]:
        """Read up to ``max_items`` items as one consistent snapshot
        (see :func:`dynafile.transactions.transact_get`)."""
        self._core.check_open()
        return transact_get(self._core, keys, projection=projection, names=names,
                            max_items=max_items)

    def transaction(self, *, retries: int = 0) -> Transaction:
        """Return an optimistic, serializable transaction context manager
        (see :class:`dynafile.transactions.Transaction`)."""
        self._core.check_open()
        return Transaction(self._core, retries=retries)

    # ------------------------------------------------------------- streams

    def add_stream_listener(self, listener: StreamListener, *, records: bool = False) -> None:
        """Call ``listener`` for every item change this table object commits.

        By default it gets the original dynafile's
        :class:`~dynafile.listeners.Event` (action ``"PUT"`` or ``"DELETE"``,
        new, old, sequence, expired). With ``records=True`` it gets a
        DynamoDB-style :class:`~dynafile.streams.StreamRecord` instead
        (``event_name`` INSERT / MODIFY / REMOVE, ``keys``, and the images
        the table's ``stream_view_type`` includes), the same records
        :meth:`stream` yields. Calls come after the change is committed and
        visible, in commit order; a write that changes nothing calls
        nothing; a listener that raises is logged and ignored. A listener
        may write through this table: its changes are delivered next.

        Raises:
            ValidationError: ``listener`` is not callable.
        """
        (self._core.records if records else self._core.events).add(listener)

    def remove_stream_listener(self, listener: StreamListener) -> None:
        """Stop calling ``listener`` (either kind); unknown listeners are ignored."""
        self._core.events.remove(listener)
        self._core.records.remove(listener)

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
        """Read committed changes from the log, from any process, in commit
        order (see :func:`dynafile.streams.stream` for the arguments).

        Raises:
            ValidationError, StreamTrimmedError, ConsumerBusyError,
            CorruptFileError: see :func:`dynafile.streams.stream`.
        """
        return _stream(self._core, from_sequence=from_sequence, consumer=consumer,
                       timeout=timeout, follow=follow, batch=batch, view_type=view_type,
                       auto_commit=auto_commit)

    def consumer_position(self, name: str) -> None | int | Position:
        """Return stream consumer ``name``'s committed position, or ``None``
        (see :func:`dynafile.streams.consumer_position`)."""
        return _consumer_position(self._core, name)

    def reset_consumer(self, name: str) -> bool:
        """Forget stream consumer ``name``'s position; return whether it had
        one (see :func:`dynafile.streams.reset_consumer`)."""
        return _reset_consumer(self._core, name)

    # ---------------------------------------------------------- maintenance

    def create_gsi(self, name: str | GSI, pk_attribute: str | None = None,
                   sk_attribute: str | None = None, projection: str = "ALL",
                   include: Sequence[str] | None = None) -> None:
        """Add a global secondary index and fill it from the table's items.

        Takes a :class:`~dynafile.indexes.GSI` or its arguments. Returns once
        the index is complete; see :func:`dynafile.maintenance.create_gsi`.

        Raises:
            SchemaMismatchError: an index of that name exists with another
                definition (or is a local index).
            ValidationError: bad arguments, or an item whose index key has a
                type keys cannot have (the index is then left being created).
        """
        self._core.check_open()
        index = name if isinstance(name, GSI) else GSI(name, pk_attribute,  # type: ignore[arg-type]
                                                       sk_attribute, projection, include)
        create_gsi(self._core, index)

    def drop_gsi(self, name: str) -> None:
        """Remove a global secondary index and its files.

        Raises:
            ValidationError: the table has no global index ``name``.
        """
        self._core.check_open()
        drop_gsi(self._core, name)

    def update_time_to_live(self, attribute: str | None) -> None:
        """Set the table's TTL attribute (``None``: turn TTL off), for every
        process (DynamoDB's UpdateTimeToLive). Items whose new TTL attribute
        lies in the past become invisible at once.

        Raises:
            ValidationError: ``attribute`` is not a non-empty string or ``None``.
        """
        self._core.check_open()
        name = _attribute_name(attribute, "attribute", True)

        def change(schema: Schema) -> bool:
            if schema.ttl_attribute == name:
                return False
            schema.ttl_attribute = name
            return True

        self._core.change_schema(change)

    def update_table(self, *, stream_view_type: str = UNSET, ttl_mode: str = UNSET) -> None:
        """Change the table's stream view type or TTL mode, for every process
        (part of DynamoDB's UpdateTable).

        Raises:
            ValidationError: not one of the view types or TTL modes.
        """
        self._core.check_open()
        view = (None if stream_view_type is UNSET
                else _choice(stream_view_type, VIEW_TYPES, "stream_view_type"))
        mode = None if ttl_mode is UNSET else _choice(ttl_mode, TTL_MODES, "ttl_mode")

        def change(schema: Schema) -> bool:
            changed = False
            if view is not None and schema.stream_view_type != view:
                schema.stream_view_type = view
                changed = True
            if mode is not None and schema.ttl_mode != mode:
                schema.ttl_mode = mode
                changed = True
            return changed

        self._core.change_schema(change)

    def sweep_expired(self, batch_size: int = 1000) -> int:
        """Delete every expired item for real and return how many were deleted.

        The deletes are ordinary logged writes (``batch_size`` per record);
        their events are ``DELETE`` with ``expired=True`` (DynamoDB's
        service-identity REMOVE records). A table without ``ttl_attribute``
        sweeps nothing. Cost: a full scan.

        Raises:
            ValidationError: ``batch_size`` is not a positive int.
        """
        return sweep(self._core, _positive_int(batch_size, "batch_size"))

    def check(self) -> CheckReport:
        """Verify every file of the table and return a report
        (see :func:`dynafile.check.check`).

        Cost: reads every file; writers wait meanwhile.
        """
        from .check import check  # imported on first use: a plain get does not need it

        return check(self._core)

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        return self._core.checkpoint()

    # ------------------------------------------------------------ plumbing

    def __enter__(self) -> Dynafile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Fold the log into partition files and release locks. Idempotent.

        Using the table afterwards raises :class:`~dynafile.errors.ClosedError`.
        """
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        self._core.close()
