"""The table: :class:`Dynafile`, the public face of one open table.

Every method validates its request, then works through the table core
(:class:`dynafile.core.TableCore`): writes describe themselves as
:mod:`dynafile.writes` kinds and go through the one write step; reads
first apply what other processes committed. Items go in and come out as
independent copies: the store keeps serialized bytes and hands out freshly
deserialized dicts.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Union

from .core import DatabaseCore, TableCore
from .endpoints import is_remote
from .errors import SchemaMismatchError, TableExistsError, ValidationError
from .indexes import GSI, LSI, Index, index_from_json
from .keys import MAX_KEY_BYTES, dict_key, item_under_key
from .listeners import StreamListener
from .names import check_table_name, default_table_name
from .options import (
    attribute_name,
    check_indexes,
    choice,
    database_options,
    open_database,
    positive_int,
    seconds,
)
from .pages import Page
from .query import UNSET, projection_of, query, scan
from .records import VIEW_TYPES, Position, StreamRecord
from .schema import TTL_MODES, Schema
from .serialization import Serializer, get_serializer
from .ttl import Sweeper, sweep
from .writes import Delete, Put, Update

if TYPE_CHECKING:  # pragma: no cover
    from .batch import BatchWriter
    from .check import CheckReport
    from .expressions import KeyCondition, Used
    from .streams import ChangeStream
    from .transactions import Transaction

__all__ = ["Dynafile"]

Item = dict[str, Any]
FilterSpec = Union[None, str, Callable[[Item], bool], Any]
_RETURN_WRITE = ("NONE", "ALL_OLD")
_RETURN_UPDATE = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
#: Text keys this short are valid whatever their characters (4 UTF-8 bytes at most each).
_SHORT_KEY = MAX_KEY_BYTES // 4


class Dynafile:
    """A table of dict items, keyed by partition and sort key, in a database directory.

    ``Dynafile(path)`` opens the database in ``path`` (creating it when
    missing) and the table in it: its only table, or the one named by
    ``table=``; a table that does not exist is created with the properties
    given. A directory of several tables is a :class:`~dynafile.database.Database`.

    Table properties (the key attributes, ``ttl_attribute``,
    ``stream_view_type``, ``serializer``, ``lsis``) belong to the table: they
    are stored in the database's ``meta.json`` when it is created. An opener that omits
    one gets the stored value; one that names another value gets
    :class:`~dynafile.errors.SchemaMismatchError`. Change the TTL attribute
    with :meth:`update_time_to_live` and the stream view type with
    :meth:`update_table`.

    Args:
        path: the database directory; created when missing.
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
        checkpoint_bytes: log volume after which partitions are rewritten
            (16 MiB, or an eighth of the data already in partition files
            when that is more, so loading a large table does not rewrite it
            over and over).
            These options (``durability`` to ``partition_bytes``, but not
            the table properties) belong to the open database: every table
            of it opened through one ``Dynafile`` or ``Database`` shares them.
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
        table: the table's name in the database (DynamoDB's naming rules).
            By default the database's only table, or for a new database
            the directory's name when it is a valid table name, else
            ``"default"``.
        partition_bytes: a partition file holding more item bytes than
            this is split in two at the next checkpoint (1 MiB by default,
            at least 256).
        encryption_key: encrypt the table's items at rest (AES-GCM; needs
            ``pip install 'dynafile[encryption]'``): a key of 32 random bytes
            (``dynafile.encryption.generate_key()``), or a list of keys
            during a rotation (see docs/encryption.md). A new table is
            created encrypted (``serializer`` is the format inside); an
            encrypted table needs it (``EncryptionKeyError`` otherwise).

    Raises:
        SchemaMismatchError: a table property differs from the stored one.
        UnsupportedFormatError: its ``meta.json`` has an unknown format version.
        CorruptFileError: a file fails its checks.
        ValidationError: an argument is invalid (checked before anything is
            touched), or ``table`` is omitted for a database of several tables.

    Example:
        >>> import tempfile
        >>> db = Dynafile(tempfile.mkdtemp(), pk_attribute="PK", sk_attribute="SK")
        >>> db.put_item(item={"PK": "user#1", "SK": "profile", "name": "Bob"})
        >>> db.get_item(key={"PK": "user#1", "SK": "profile"})["name"]
        'Bob'
        >>> db.close()
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Dynafile("dynamodb://...", table=...) or Dynafile(client=boto3_client, ...):
        # the same methods on a DynamoDB table (dynafile.remote, docs/scale-out.md).
        if is_remote(args[0] if args else kwargs.get("path"), kwargs):
            from .remote import open_table

            return open_table(*args, **kwargs)
        return super().__new__(cls)

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
        table: str | None = None,
        partition_bytes: int = 1 << 20,
        encryption_key: Any = None,
    ) -> None:
        requested: dict[str, Any] = {}
        if pk_attribute is not UNSET:
            requested["pk_attribute"] = attribute_name(pk_attribute, "pk_attribute", False)
        if sk_attribute is not UNSET:
            requested["sk_attribute"] = attribute_name(sk_attribute, "sk_attribute", True)
        if ttl_attribute is not UNSET:
            requested["ttl_attribute"] = attribute_name(ttl_attribute, "ttl_attribute", True)
        if stream_view_type is not UNSET:
            requested["stream_view_type"] = choice(stream_view_type, VIEW_TYPES,
                                                   "stream_view_type")
        if ttl_mode is not UNSET:
            requested["ttl_mode"] = choice(ttl_mode, TTL_MODES, "ttl_mode")
        if lsis is not None:
            requested["lsis"] = {i.name: i.definition() for i in check_indexes(lsis, LSI,
                                                                               "lsis")}
        if requested.get("sk_attribute", "SK") == requested.get("pk_attribute", "PK"):
            raise ValidationError("sort key must differ from the partition key",
                                  attribute="sk_attribute")
        wanted_gsis = check_indexes(gsis, GSI, "gsis") if gsis is not None else []
        if table is not None:
            check_table_name(table, "table")
        chosen = None if serializer is None else get_serializer(serializer)
        keys = None
        if encryption_key is not None:
            from .encryption import KeyRing  # on first use, as the other encryption calls

            keys = KeyRing(encryption_key)
        interval = seconds(ttl_sweep_interval, "ttl_sweep_interval", optional=True,
                           positive=True)
        options = database_options(
            durability=durability, max_item_size=max_item_size, cache_bytes=cache_bytes,
            lock_timeout=lock_timeout, checkpoint_bytes=checkpoint_bytes, clock=clock,
            watch=watch, retention=retention, segment_bytes=segment_bytes,
            partition_bytes=partition_bytes)
        database = open_database(path, read_only=read_only, options=options)
        try:
            if keys is not None:
                from .encryption import opener_serializer

                chosen = opener_serializer(database, table, chosen, keys)
            name = _choose_table(database, table, requested, chosen, wanted_gsis)
            core = database.table(name, serializer=chosen, requested=_opened(requested))
            _check_gsis(core, wanted_gsis)
        except BaseException:
            database.close(checkpoint=False)
            raise
        self._owned: DatabaseCore | None = database
        self._setup(core, wanted_gsis, interval)

    @classmethod
    def attach(cls, core: TableCore) -> Dynafile:
        """A :class:`Dynafile` for a table of an open database (what
        :meth:`Database.table <dynafile.database.Database.table>` returns);
        closing it leaves the database open."""
        table = cls.__new__(cls)
        table._owned = None
        table._setup(core, [], None)
        return table

    def _setup(self, core: TableCore, gsis: Sequence[GSI], interval: float | None) -> None:
        self._core = core
        self.path = core.path
        self.read_only = core.read_only
        self.durability = core.engine.durability
        self._sweeper: Sweeper | None = None
        try:
            if not core.read_only:
                for index in gsis:
                    from .maintenance import create_gsi  # a table with indexes to make

                    create_gsi(core, index)
                for name, data in list(core.schema.gsis.items()):
                    if data.get("state") != "ACTIVE":
                        _resume_backfill(core, index_from_json("gsis", name, data))
            if interval is not None and not core.read_only:
                self._sweeper = Sweeper(core, interval)
        except BaseException:
            if self._owned is not None:
                self._owned.close(checkpoint=False)
            raise

    @property
    def name(self) -> str:
        """The table's name in its database."""
        return self._core.name

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
        predicate, want_old = self._condition(condition, names, values, None,
                                              return_values_on_condition_check_failure)
        choice(return_values, _RETURN_WRITE, "return_values")
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
        predicate, want_old = self._condition(condition, names, values, None,
                                              return_values_on_condition_check_failure)
        choice(return_values, _RETURN_WRITE, "return_values")
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
        from .expressions import Used  # an update compiles expressions anyway

        used = Used()
        plan = core.update_plan(update, names, values, used, set=set, remove=remove, add=add,
                                delete=delete)
        predicate, want_old = self._condition(condition, names, values, used,
                                              return_values_on_condition_check_failure)
        choice(return_values, _RETURN_UPDATE, "return_values")
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
    def _condition(condition: FilterSpec, names: Any, values: Any, used: Used | None,
                   on_failure: str) -> tuple[Callable[[Item], bool] | None, bool]:
        """Compile a write's condition and check its placeholders (``used``:
        those the request's other expressions used; ``None``: none)."""
        predicate = None
        if condition is not None or names is not None or values is not None:
            # Imported here: a plain put or delete needs no expressions.
            from .expressions import Used, check_placeholders, to_predicate

            if used is None:
                used = Used()
            if condition is not None:
                predicate = to_predicate(condition, names, values, used=used)
            check_placeholders(names, values, used)
        want_old = choice(on_failure, _RETURN_WRITE,
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

    # ---------------------------------------------------------- dict access
    #
    # ``table[key]`` takes a key dict, a ``(pk, sk)`` tuple, or, on a table
    # without a sort key, the partition key value alone.

    def _dict_key(self, key: Any) -> dict[str, Any]:
        """The key dict ``table[key]`` means (:func:`dynafile.keys.dict_key`)."""
        return dict_key(key, self._core.pk_attribute, self._core.sk_attribute)

    def __getitem__(self, key: Any) -> Item:
        """``table[pk, sk]``, ``table[pk]`` (no sort key) or ``table[{...}]``:
        the item (a fresh dict), as :meth:`get_item`.

        Raises:
            KeyError: no such item (or it expired).
            ValidationError: a malformed key.
        """
        item = self.get_item(key=self._dict_key(key))
        if item is None:
            raise KeyError(key)
        return item

    def __setitem__(self, key: Any, item: Mapping[str, Any]) -> None:
        """``table[pk, sk] = item``: put ``item`` under that key. The item may
        leave the key attributes out (they are added); any it holds must
        equal the key's.

        Raises:
            ValidationError: a malformed key or item, or key attributes in
                the item that differ from the key.
        """
        full = item_under_key(self._dict_key(key), item)
        self.put_item(item=full)

    def __delitem__(self, key: Any) -> None:
        """``del table[pk, sk]``: delete the item, in one write.

        Raises:
            KeyError: there was no such item (or it had expired).
        """
        if self.delete_item(key=self._dict_key(key), return_values="ALL_OLD") is None:
            raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        """``(pk, sk) in table``: whether the item exists (and has not
        expired). A malformed key raises ValidationError, as ``table[key]``
        does. Cost: a :meth:`get_item`."""
        return self.get_item(key=self._dict_key(key)) is not None

    def __len__(self) -> int:
        """The number of items, counted now: **O(n)**, it walks the whole
        table (the stored entries; every item is loaded when the table hides
        expired ones). For DynamoDB's cheap, approximate figure (as of the
        last checkpoint) use ``Database.describe_table(name)["item_count"]``."""
        core = self._core
        if core.hides_expired:
            now = core.now()
            return sum(1 for _, pairs in core.each_partition() for _, data in pairs
                       if core.visible(data, now) is not None)
        return sum(len(pairs) for _, pairs in core.each_partition())

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the keys, as a dict does: ``(pk, sk)`` tuples (the
        partition key alone on a table without a sort key), with stored
        values (numbers as ``int`` or ``Decimal``), in scan order (item
        collections by digest, each in sort-key order). Each key works as
        ``table[key]``. Items: :meth:`scan`. O(n), one item collection in
        memory at a time."""
        core = self._core
        keyed = core.sk_attribute is not None
        for pk, pairs in core.each_partition():
            now = core.now()
            for sk, data in pairs:
                if core.hides_expired and core.visible(data, now) is None:
                    continue
                yield (pk, sk) if keyed else pk

    def __bool__(self) -> bool:
        """Always true (an open table is a table, empty or not): ``if table``
        never counts items."""
        return True

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
        from .batch import BatchWriter  # on first use, as transactions and streams

        return BatchWriter(self._core, flush_amount)

    # -------------------------------------------------------- transactions

    def transact_write(self, actions: Sequence[Mapping[str, Any]], *,
                       token: str | None = None, max_actions: int = 100) -> None:
        """Commit put/update/delete/condition-check actions all or nothing.

        An action may name another table of the database (``"table": name``).
        See :func:`dynafile.transactions.transact_write` for the actions'
        form, ``token`` idempotency and the errors raised.
        """
        from .transactions import transact_write  # on first use, with the expressions

        self._core.check_open()
        transact_write(self._core.database, actions, default=self._core, token=token,
                       max_actions=max_actions)

    def transact_get(self, keys: Sequence[Mapping[str, Any]], *, projection: Any = None,
                     names: Mapping[str, str] | None = None,
                     max_items: int = 100) -> list[Item | None]:
        """Read up to ``max_items`` items as one consistent snapshot
        (see :func:`dynafile.transactions.transact_get`)."""
        core = self._core
        core.check_open()
        if isinstance(keys, (Mapping, str, bytes)) or not isinstance(keys, Iterable):
            raise ValidationError("keys must be a list of key dicts", attribute="keys")
        from .transactions import transact_get

        return transact_get(core.database, [(core, key) for key in keys],
                            projection=projection, names=names, max_items=max_items)

    def transaction(self, *, retries: int = 0) -> Transaction:
        """Return an optimistic, serializable transaction context manager
        (see :class:`dynafile.transactions.Transaction`)."""
        self._core.check_open()
        from .transactions import Transaction

        return Transaction(self._core.database, self._core, retries=retries)

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
        from .streams import stream

        return stream(self._core.database, self._core, from_sequence=from_sequence,
                      consumer=consumer,
                      timeout=timeout, follow=follow, batch=batch, view_type=view_type,
                      auto_commit=auto_commit)

    def consumer_position(self, name: str) -> None | int | Position:
        """Return stream consumer ``name``'s committed position, or ``None``
        (see :func:`dynafile.streams.consumer_position`)."""
        from .streams import consumer_position

        return consumer_position(self._core, name)

    def reset_consumer(self, name: str) -> bool:
        """Forget stream consumer ``name``'s position; return whether it had
        one (see :func:`dynafile.streams.reset_consumer`)."""
        from .streams import reset_consumer

        return reset_consumer(self._core, name)

    # ---------------------------------------------------------- maintenance

    def create_gsi(self, name: str | GSI, pk_attribute: str | None = None,
                   sk_attribute: str | None = None, projection: str = "ALL",
                   include: Sequence[str] | None = None, *,
                   key_types: Mapping[str, str] | None = None) -> None:
        """Add a global secondary index and fill it from the table's items.

        Takes a :class:`~dynafile.indexes.GSI` or its arguments. Returns once
        the index is complete; see :func:`dynafile.maintenance.create_gsi`.
        ``key_types`` (attribute -> ``"S"``, ``"N"``, ``"B"``) is the
        DynamoDB backend's declaration of the index's key types, taken here
        so one call suits both backends: it is checked, and a data directory
        fixes each key attribute's type at the first item written, as it
        does for every key.

        Raises:
            SchemaMismatchError: an index of that name exists with another
                definition (or is a local index).
            ValidationError: bad arguments, or an item whose index key has a
                type keys cannot have (the index is then left being created).
        """
        self._core.check_open()
        if key_types is not None and (not isinstance(key_types, Mapping) or not all(
                isinstance(k, str) and k and v in ("S", "N", "B") for k, v in key_types.items())):
            raise ValidationError("must map attribute names to S, N or B", attribute="key_types")
        index = name if isinstance(name, GSI) else GSI(name, pk_attribute,  # type: ignore[arg-type]
                                                       sk_attribute, projection, include)
        from .maintenance import create_gsi

        create_gsi(self._core, index)

    def drop_gsi(self, name: str) -> None:
        """Remove a global secondary index and its files.

        Raises:
            ValidationError: the table has no global index ``name``.
        """
        self._core.check_open()
        from .maintenance import drop_gsi

        drop_gsi(self._core, name)

    def update_time_to_live(self, attribute: str | None) -> None:
        """Set the table's TTL attribute (``None``: turn TTL off), for every
        process (DynamoDB's UpdateTimeToLive). Items whose new TTL attribute
        lies in the past become invisible at once.

        Raises:
            ValidationError: ``attribute`` is not a non-empty string or ``None``.
        """
        self._core.check_open()
        name = attribute_name(attribute, "attribute", True)

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
                else choice(stream_view_type, VIEW_TYPES, "stream_view_type"))
        mode = None if ttl_mode is UNSET else choice(ttl_mode, TTL_MODES, "ttl_mode")

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
        return sweep(self._core, positive_int(batch_size, "batch_size"))

    def check(self) -> CheckReport:
        """Verify every file of the table and return a report
        (see :func:`dynafile.check.check`).

        Cost: reads every file (writers go on meanwhile: the check holds the
        lock only to take a snapshot); memory bounded by one partition and
        the log since the last checkpoint.
        """
        from .check import check  # imported on first use: a plain get does not need it

        return check(self._core)

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        return self._core.checkpoint()

    def rotate_encryption_key(self, new_key: bytes, *, batch_size: int = 1000) -> int:
        """Re-encrypt the table (items and index entries) under ``new_key``,
        crash-safe; return how many values were rewritten. Open the table
        with its current key(s); afterwards only ``new_key`` is needed.
        Killed midway, reopen with ``[new_key, old_key]`` and call it again
        to finish (see :func:`dynafile.encryption.rotate_key` and
        docs/encryption.md).

        Raises:
            EncryptionKeyError: the table is not encrypted, or a bad key.

        Cost: O(table) reads, plus one log record per ``batch_size``
        values rewritten, and a checkpoint.
        """
        from .encryption import rotate_key

        return rotate_key(self._core, new_key, batch_size=batch_size)

    def encryption(self) -> dict[str, Any] | None:
        """The table's encryption record as of now (``None``: not
        encrypted): ``{"cipher": "AES-GCM", "format": 1, "keys": [key ids,
        the writing key first]}``, with ``"rotating": True`` while a key
        rotation is unfinished. Key ids: :func:`dynafile.encryption.key_id`."""
        from .encryption import encryption_status

        return encryption_status(self._core)

    # ------------------------------------------------------------ plumbing

    def __enter__(self) -> Dynafile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Fold the log into partition files and release locks. Idempotent.
        A table handed out by a :class:`~dynafile.database.Database` leaves
        its database open.

        Using the table afterwards raises :class:`~dynafile.errors.ClosedError`
        (for a table of a database: once the database is closed).
        """
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        if self._owned is not None:
            self._owned.close()


def _opened(requested: Mapping[str, Any]) -> dict[str, Any]:
    """The properties to check against an existing table (all of them)."""
    return dict(requested)


def _choose_table(database: DatabaseCore, table: str | None, requested: Mapping[str, Any],
                  serializer: Serializer | None, gsis: Sequence[GSI]) -> str:
    """The table ``Dynafile(path, ...)`` opens: ``table`` when given, else the
    database's only table; created (with ``requested`` properties) when the
    database has none of that name.

    Raises:
        ValidationError: the database holds several tables and none was named.
    """
    names = database.table_names()
    if table is None:
        if len(names) > 1:
            raise ValidationError(f"{database.path} holds the tables {names}: name one "
                                  "(table=...)", attribute="table")
        table = names[0] if names else default_table_name(database.path)
    if table in names or database.read_only:
        return table
    pk = requested.get("pk_attribute", "PK")
    sk = requested.get("sk_attribute", "SK")
    schema = Schema(pk, sk, (serializer or get_serializer(None)).name,
                    ttl_attribute=requested.get("ttl_attribute"),
                    stream_view_type=requested.get("stream_view_type"),
                    lsis={n: dict(d) for n, d in requested.get("lsis", {}).items()},
                    ttl_mode=requested.get("ttl_mode", "hide"), name=table)
    try:
        database.create_table(schema, gsis)
    except TableExistsError:
        pass  # another process created it meanwhile: open it
    return table


def _resume_backfill(core: TableCore, index: Index) -> None:
    """Finish building a global index another opener started. One that cannot
    be built (an item it cannot hold) is removed with a warning: this opener
    did not ask for it, and the table stays usable."""
    from .maintenance import create_gsi

    try:
        create_gsi(core, index)
    except ValidationError as exc:
        warnings.warn(f"dynafile: global index {index.name!r} of table {core.name} could not be "
                      f"built and was removed: {exc}", RuntimeWarning, stacklevel=4)


def _check_gsis(core: TableCore, gsis: Sequence[GSI]) -> None:
    """Refuse GSIs an opener names that exist with another definition, or
    that are local indexes, before anything is created.

    Raises:
        SchemaMismatchError: a conflicting definition.
    """
    schema = core.schema
    for index in gsis:
        stored = schema.gsis.get(index.name)
        if stored is not None and index_from_json("gsis", index.name, stored) != index:
            raise SchemaMismatchError(f"global index {index.name!r} exists with another "
                                      f"definition: {stored}")
        if index.name in schema.lsis:
            raise SchemaMismatchError(f"{index.name!r} is a local index")
