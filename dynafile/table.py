"""The table: :class:`Dynafile`, its reads and writes.

Every write becomes one record in the table's write-ahead log (see
:mod:`dynafile.storage.engine`); every read first applies what other
processes committed. Items go in and come out as independent copies: the
store keeps serialized bytes and hands out freshly deserialized dicts.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Union,
)

from typing_extensions import Self

from .changes import VIEW_TYPES, StreamRecord
from .errors import (
    ClosedError,
    ConditionalCheckFailedError,
    ItemTooLargeError,
    SchemaMismatchError,
    ValidationError,
)
from .expressions import (
    Used,
    check_placeholders,
    compile_projection,
    compile_update,
    to_predicate,
)
from .indexes import GSI, LSI, IndexSet, index_from_json
from .keys import MAX_KEY_BYTES, check_key_value, extract_key, normalize_key
from .maintenance import MaintenanceMixin
from .query import QueryMixin
from .schema import Schema
from .serialization import Serializer, get_serializer
from .storage import fs
from .storage.engine import TOKEN_SPACE, Engine
from .storage.log import FLAG_EXPIRED, Op
from .storage.partition import keep_checked
from .streams import Event, Listeners, StreamListener
from .ttl import is_expired

if TYPE_CHECKING:  # pragma: no cover
    from .batch import BatchWriter

__all__ = ["Dynafile"]

Item = dict[str, Any]
FilterSpec = Union[None, str, Callable[[Item], bool], Any]
_RETURN_WRITE = ("NONE", "ALL_OLD")
#: Text keys this short are valid whatever their characters (4 UTF-8 bytes at most each).
_SHORT_KEY = MAX_KEY_BYTES // 4
_RETURN_UPDATE = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")

class Dynafile(QueryMixin, MaintenanceMixin):
    """A table of dict items in a directory, keyed by partition and sort key.

    Args:
        path: the table directory; created when missing.
        pk_attribute: name of the partition key attribute.
        sk_attribute: name of the sort key attribute, or ``None`` for a table
            keyed by partition key alone.
        ttl_attribute: name of the attribute holding an expiry time in epoch
            seconds; expired items are invisible to every read.
        durability: ``"full"`` (default; fsync before a write returns: survives
            power loss) or ``"normal"`` (flushed to the OS: survives a killed
            process, not a power cut).
        serializer: ``"pickle"`` (default, allowlisted loading), ``"json"``,
            or a :class:`~dynafile.serialization.Serializer`. Fixed when the
            table is created.
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
            so :meth:`stream` readers can catch up (24 hours by default).
        segment_bytes: size after which the log starts a new segment.
        stream_view_type: what record listeners and :meth:`stream` get by
            default: ``"KEYS_ONLY"``, ``"NEW_IMAGE"``, ``"OLD_IMAGE"`` or
            ``"NEW_AND_OLD_IMAGES"`` (the default).

    Raises:
        SchemaMismatchError: the directory holds a table with other key
            attributes or another serializer.
        UnsupportedFormatError: its ``meta.json`` has an unknown format version.
        CorruptFileError: a file fails its checks.
        ValidationError: an argument is invalid.

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
        pk_attribute: str = "PK",
        sk_attribute: str | None = "SK",
        ttl_attribute: str | None = None,
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
        stream_view_type: str = "NEW_AND_OLD_IMAGES",
    ) -> None:
        if not isinstance(pk_attribute, str) or not pk_attribute:
            raise ValidationError("must be a non-empty string", attribute="pk_attribute")
        if sk_attribute is not None and (not isinstance(sk_attribute, str) or not sk_attribute):
            raise ValidationError("must be a non-empty string or None", attribute="sk_attribute")
        if sk_attribute == pk_attribute:
            raise ValidationError("sort key must differ from the partition key",
                                  attribute="sk_attribute")
        if ttl_attribute is not None and (not isinstance(ttl_attribute, str) or not ttl_attribute):
            raise ValidationError("must be a non-empty string or None", attribute="ttl_attribute")
        if durability not in ("full", "normal"):
            raise ValidationError("must be 'full' or 'normal'", attribute="durability")
        if not isinstance(max_item_size, int) or max_item_size <= 0:
            raise ValidationError("must be a positive int", attribute="max_item_size")
        if not isinstance(retention, (int, float)) or isinstance(retention, bool) or retention < 0:
            raise ValidationError("must be a number of seconds >= 0", attribute="retention")
        if not isinstance(segment_bytes, int) or segment_bytes < 4096:
            raise ValidationError("must be an int >= 4096", attribute="segment_bytes")
        if ttl_sweep_interval is not None and (
                not isinstance(ttl_sweep_interval, (int, float))
                or isinstance(ttl_sweep_interval, bool) or not ttl_sweep_interval > 0):
            raise ValidationError("must be a positive number of seconds",
                                  attribute="ttl_sweep_interval")
        if stream_view_type not in VIEW_TYPES:
            raise ValidationError(f"must be one of {', '.join(VIEW_TYPES)}",
                                  attribute="stream_view_type")
        self.stream_view_type = stream_view_type
        self.path = os.path.abspath(os.fspath(path) or ".")
        self.pk_attribute = pk_attribute
        self.sk_attribute = sk_attribute
        self.ttl_attribute = ttl_attribute
        self.durability = durability
        self.max_item_size = max_item_size
        self._serializer = get_serializer(serializer)
        self._dumps = self._serializer.dumps
        self._loads = self._serializer.loads  # bytes from anywhere: always checked
        self._load_held = self._serializer.load_stored  # bytes the engine holds
        self._clock = clock or time.time
        self._listeners = Listeners()
        self._record_listeners = Listeners()
        if not read_only:
            if not os.path.isdir(self.path):
                fs.makedirs(self.path)
            read_only = not os.access(self.path, os.W_OK)
        elif not os.path.isdir(self.path):
            raise ValidationError(f"{self.path} does not exist", attribute="path")
        self.read_only = read_only
        self._engine = Engine(
            self.path,
            durability=durability,
            cache_bytes=cache_bytes,
            checkpoint_bytes=checkpoint_bytes,
            segment_bytes=segment_bytes,
            retention=float(retention),
            lock_timeout=lock_timeout,
            read_only=read_only,
            clock=self._clock,
            watch=watch,
        )
        self._pending_types: dict[str, str] = {}
        self._meta_sig: Any = None
        self._indexes = IndexSet(pk_attribute, sk_attribute, (), self._dumps, self._load_held,
                                 self._all_key_types, self._fix_key_types)
        try:
            self._schema = self._open_schema(_check_indexes(gsis, GSI, "gsis"),
                                             _check_indexes(lsis, LSI, "lsis"))
        except BaseException:
            self._engine.close(checkpoint=False)
            raise
        self._engine.on_commit = self._on_commit
        self._engine.on_lock = self._on_lock
        self._engine.before_append = self._before_append
        if not read_only:
            for index in gsis or ():
                self.create_gsi(index)
            for name, data in list(self._schema.extra.get("gsis", {}).items()):
                if data.get("state") != "ACTIVE":
                    self.create_gsi(index_from_json("g", name, data))  # resume a backfill
        self._sweeper_stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        if ttl_sweep_interval is not None and ttl_attribute is not None and not read_only:
            self._sweeper = threading.Thread(target=self._sweep_loop,
                                             args=(float(ttl_sweep_interval),),
                                             name="dynafile-ttl-sweeper", daemon=True)
            self._sweeper.start()

    def _open_schema(self, gsis: Sequence[GSI], lsis: Sequence[LSI] | None) -> Schema:
        lock = self._engine.lock.shared() if self.read_only else self._engine.lock.exclusive()
        with lock:
            schema = Schema.read(self.path)
            if schema is None:
                if self.read_only:
                    raise SchemaMismatchError(f"{self.path} holds no dynafile table (no meta.json)")
                schema = Schema(self.pk_attribute, self.sk_attribute, self._serializer.name,
                                ttl_attribute=self.ttl_attribute,
                                extra={"gsis": {}, "lsis": {i.name: i.definition()
                                                            for i in lsis or ()}})
                schema.write(self.path)
            else:
                schema.check_compatible(self.pk_attribute, self.sk_attribute,
                                        self._serializer.name)
                stored = schema.extra.get("lsis", {})
                if lsis is not None and {i.name: i.definition() for i in lsis} != stored:
                    raise SchemaMismatchError(
                        f"table has local indexes {sorted(stored)} as created; LSIs cannot be "
                        f"added, changed or removed later")
            for index in gsis:
                data = schema.extra.get("gsis", {}).get(index.name)
                if data is not None and index_from_json("g", index.name, data) != index:
                    raise SchemaMismatchError(
                        f"global index {index.name!r} exists with another definition: {data}")
            self._meta_sig = self._stat_meta()
            self._schema = schema
            self._load_indexes()
        return schema

    # -------------------------------------------------------------- schema

    def _stat_meta(self) -> Any:
        try:
            st = os.stat(os.path.join(self.path, "meta.json"))
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load_indexes(self) -> None:
        extra = self._schema.extra
        defs = [index_from_json("g", n, d) for n, d in extra.get("gsis", {}).items()]
        defs += [index_from_json("l", n, d) for n, d in extra.get("lsis", {}).items()]
        self._indexes = IndexSet(self.pk_attribute, self.sk_attribute, defs, self._dumps,
                                 self._load_held, self._all_key_types, self._fix_key_types)
        self._engine.live_spaces = {"", TOKEN_SPACE} | {index.space for index in defs}
        self._engine.derive = self._indexes.derive if defs else None

    def _refresh_schema(self) -> None:
        """Reload ``meta.json`` when another process replaced it. One stat."""
        sig = self._stat_meta()
        if sig != self._meta_sig:
            schema = Schema.read(self.path)
            if schema is not None:
                self._schema = schema
                self._meta_sig = sig
                self._load_indexes()

    def _on_lock(self) -> None:
        self._pending_types.clear()
        self._refresh_schema()

    def _before_append(self) -> None:
        if self._pending_types:
            # meta.json first: if writing it fails, the types stay pending (and
            # the write fails), so no record is ever appended under a key type
            # that meta.json does not fix.
            schema = self._schema
            before = dict(schema.key_types)
            schema.key_types.update(self._pending_types)
            try:
                schema.write(self.path)
            except BaseException:
                schema.key_types.clear()
                schema.key_types.update(before)
                raise
            self._pending_types.clear()
            self._meta_sig = self._stat_meta()

    def _all_key_types(self) -> dict[str, str | None]:
        if not self._pending_types:
            return self._schema.key_types
        return {**self._schema.key_types, **self._pending_types}

    # ------------------------------------------------------------ plumbing

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Fold the log into partition files and release locks. Idempotent.

        Using the table afterwards raises :class:`~dynafile.errors.ClosedError`.
        """
        stop = getattr(self, "_sweeper_stop", None)
        if stop is not None:
            stop.set()
            if self._sweeper is not None and self._sweeper is not threading.current_thread():
                self._sweeper.join()
        self._engine.close()

    def __repr__(self) -> str:
        return (f"Dynafile({self.path!r}, pk_attribute={self.pk_attribute!r}, "
                f"sk_attribute={self.sk_attribute!r})")

    def _check_open(self) -> None:
        if self._engine.closed:
            raise ClosedError("the table is closed")

    def _key_of(self, obj: Any, what: str) -> tuple[Any, Any, Any, Any]:
        """Return ``(pk, sk, normalised pk, normalised sk)`` of an item or key."""
        pk, sk = extract_key(obj, self.pk_attribute, self.sk_attribute,
                             self._schema.key_types, what)
        # A table without a sort key keeps each item under the sort key "",
        # a value no real sort key can have.
        return pk, sk, normalize_key(pk), "" if sk is None else normalize_key(sk)

    @property
    def _text_keys(self) -> bool:
        """Whether both key attributes are fixed to strings (get_item's fast path)."""
        types = self._schema.key_types
        return types.get(self.pk_attribute) == "S" and types.get(self.sk_attribute) == "S"

    def _key_only(self, key: Any) -> tuple[Any, Any, Any, Any]:
        """Like :meth:`_key_of` for a key dict, which must hold nothing else."""
        result = self._key_of(key, "key")
        if len(key) != (1 if self.sk_attribute is None else 2):
            extra = [name for name in key if name not in (self.pk_attribute, self.sk_attribute)]
            raise ValidationError(
                f"key holds attributes that are not part of the table's key: {sorted(extra)}",
                attribute="key",
            )
        return result

    def _dump(self, item: Mapping[str, Any]) -> bytes:
        for name in item:
            if not isinstance(name, str) or not name:
                raise ValidationError(f"attribute names must be non-empty strings, got {name!r}",
                                      attribute="item")
        data = self._dumps(dict(item))
        if len(data) > self.max_item_size:
            raise ItemTooLargeError(len(data), self.max_item_size)
        return data

    def _visible(self, data: bytes | None) -> Item | None:
        """Deserialize stored bytes; ``None`` for absent or expired items."""
        if data is None:
            return None
        item = self._load_held(data)
        if self.ttl_attribute is not None and is_expired(item, self.ttl_attribute, self._clock()):
            return None
        return item

    def _fix_key_types(self, *pairs: tuple[str, Any]) -> None:
        """Under the write lock: check each key attribute's type against the one
        fixed for it; a first use fixes it in ``meta.json`` just before the
        record is appended (so a write that fails fixes nothing)."""
        types = self._schema.key_types
        for name, value in pairs:
            known = types.get(name) or self._pending_types.get(name)
            code = check_key_value(name, value, known)
            if known is None:
                self._pending_types[name] = code

    def _key_pairs(self, pk: Any, sk: Any) -> tuple[tuple[str, Any], ...]:
        if self.sk_attribute is None:
            return ((self.pk_attribute, pk),)
        return ((self.pk_attribute, pk), (self.sk_attribute, sk))

    def _on_commit(self, lsn: int, ops: list[Op]) -> None:
        records = self._record_listeners
        if not self._listeners and not records:
            return
        loads = self._load_held
        changes = [op for op in ops if not op.space]  # index entries are not changes
        view = self.stream_view_type
        for index, op in enumerate(changes):
            new = loads(op.new) if op.new is not None else None
            old = loads(op.old) if op.old is not None else None
            expired = bool(op.flags & FLAG_EXPIRED)
            event = Event("PUT" if new is not None else "DELETE", new, old, lsn, expired)
            if self._listeners:
                self._listeners.emit(event)
            if records:
                keys = {self.pk_attribute: op.pk}
                if self.sk_attribute is not None:
                    keys[self.sk_attribute] = op.sk
                records.emit(StreamRecord(
                    lsn, index, event.event_name, keys,
                    new if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None,
                    old if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None,
                    expired, len(changes)))

    def _condition(self, condition: FilterSpec, names: Any, values: Any, used: Any) -> Any:
        if condition is None:
            return None
        return to_predicate(condition, names, values, used=used)

    @staticmethod
    def _check_choice(value: str, choices: Sequence[str], attribute: str) -> str:
        if value not in choices:
            raise ValidationError(f"must be one of {', '.join(choices)}, got {value!r}",
                                  attribute=attribute)
        return value

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
                a missing item is checked as ``{}``.
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
        self._check_open()
        pk, sk, npk, nsk = self._key_of(item, "item")
        data = self._dump(item)
        used = Used()
        predicate = self._condition(condition, names, values, used)
        check_placeholders(names, values, used)
        self._check_choice(return_values, _RETURN_WRITE, "return_values")
        self._check_choice(return_values_on_condition_check_failure, _RETURN_WRITE,
                           "return_values_on_condition_check_failure")
        engine = self._engine
        digest = engine.digest(npk)

        def prepare() -> tuple[list[Op], Item | None]:
            self._fix_key_types(*self._key_pairs(pk, sk))
            current = engine.partition(digest, npk).items.get(nsk)
            old = None
            if current is not None and (predicate is not None or return_values == "ALL_OLD"
                                        or self.ttl_attribute is not None):
                old = self._visible(current)
                if old is None:
                    current = None  # expired: as if absent
            if predicate is not None and not predicate(old if old is not None else {}):
                raise ConditionalCheckFailedError(
                    item=old if return_values_on_condition_check_failure == "ALL_OLD" else None)
            result = old if return_values == "ALL_OLD" else None
            if current == data:
                return [], result
            return [Op(npk, nsk, data, current)], result

        return engine.write(prepare)

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
        self._check_open()
        _, _, npk, nsk = self._key_only(key)
        used = Used()
        predicate = self._condition(condition, names, values, used)
        check_placeholders(names, values, used)
        self._check_choice(return_values, _RETURN_WRITE, "return_values")
        self._check_choice(return_values_on_condition_check_failure, _RETURN_WRITE,
                           "return_values_on_condition_check_failure")
        engine = self._engine
        digest = engine.digest(npk)

        def prepare() -> tuple[list[Op], Item | None]:
            current = engine.partition(digest, npk).items.get(nsk)
            old = self._visible(current)
            if predicate is not None and not predicate(old if old is not None else {}):
                raise ConditionalCheckFailedError(
                    item=old if return_values_on_condition_check_failure == "ALL_OLD" else None)
            if current is None:
                return [], None
            result = old if return_values == "ALL_OLD" else None
            # An expired item is deleted for real, but reported as absent.
            return [Op(npk, nsk, None, current if old is not None else None)], result

        return engine.write(prepare)

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
            ``"UPDATED_OLD"`` / ``"UPDATED_NEW"`` -> only the top-level
            attributes the update touched, before / after.

        Raises:
            ValidationError: bad key or expression, an update of a key
                attribute, or an operand of the wrong type (nothing written).
            ItemTooLargeError: the updated item is over ``max_item_size``.
            ConditionalCheckFailedError: the condition did not hold.
        """
        self._check_open()
        pk, sk, npk, nsk = self._key_only(key)
        used = Used()
        plan = self._update_plan(update, names, values, used, set=set, remove=remove, add=add,
                                 delete=delete)
        predicate = self._condition(condition, names, values, used)
        check_placeholders(names, values, used)
        self._check_choice(return_values, _RETURN_UPDATE, "return_values")
        self._check_choice(return_values_on_condition_check_failure, _RETURN_WRITE,
                           "return_values_on_condition_check_failure")
        engine = self._engine
        digest = engine.digest(npk)

        def prepare() -> tuple[list[Op], Item | None]:
            self._fix_key_types(*self._key_pairs(pk, sk))
            current = engine.partition(digest, npk).items.get(nsk)
            old = self._visible(current)
            if predicate is not None and not predicate(old if old is not None else {}):
                raise ConditionalCheckFailedError(
                    item=old if return_values_on_condition_check_failure == "ALL_OLD" else None)
            new, data = self._updated(plan, old, pk, sk)
            visible_old = current if old is not None else None
            result = _update_result(return_values, old, new, plan.top_level_attributes)
            if visible_old == data:
                return [], result
            return [Op(npk, nsk, data, visible_old)], result

        return engine.write(prepare)

    def _update_plan(self, update: str | None, names: Any, values: Any, used: Used,
                     **plain: Any) -> Any:
        """Compile an update (expression or plain form) that leaves the keys alone.

        Raises:
            ValidationError: a bad expression, or one that updates a key attribute.
        """
        plan = compile_update(update, names, values, used=used, **plain)
        for name in (self.pk_attribute, self.sk_attribute):
            if name is not None and name in plan.top_level_attributes:
                raise ValidationError(
                    f"Cannot update attribute {name}. This attribute is part of the key",
                    attribute=name)
        return plan

    def _updated(self, plan: Any, old: Item | None, pk: Any, sk: Any) -> tuple[Item, bytes]:
        """The item ``plan`` makes of ``old`` (``None``: a new item), and its bytes.

        Raises:
            ValidationError / ItemTooLargeError: the update cannot apply, or the
                result is too large.
        """
        new = plan.apply(old)
        new[self.pk_attribute] = pk
        if self.sk_attribute is not None:
            new[self.sk_attribute] = sk
        return new, self._dump(new)

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
        self._check_open()
        npk = nsk = None
        if key.__class__ is dict and len(key) == 2 and self._text_keys:
            # The common case, validated inline: short text keys on a table
            # whose key attributes are fixed to strings.
            npk, nsk = key.get(self.pk_attribute), key.get(self.sk_attribute)
            if not (npk.__class__ is str and nsk.__class__ is str
                    and 0 < len(npk) <= _SHORT_KEY and 0 < len(nsk) <= _SHORT_KEY):
                npk = None
        if npk is None:
            _, _, npk, nsk = self._key_only(key)
        project = self._projection(projection, names)
        engine = self._engine
        with engine.lock.thread_lock:
            engine.refresh()
            items = engine.partition(engine.digest(npk), npk).items
            data = items.get(nsk)
            if data is None:
                return None
            item = self._load_held(data)
            if data.__class__ is not bytes:
                keep_checked(items, nsk, data)
        ttl = self.ttl_attribute
        if ttl is not None and is_expired(item, ttl, self._clock()):
            return None
        return item if project is None else project(item)

    def _projection(self, projection: Any, names: Any, used: Any = None) -> Any:
        if projection is None:
            if names is not None and used is None:
                check_placeholders(names, None, None)
            return None
        holder = Used() if used is None else used
        project = compile_projection(projection, names, used=holder)
        if used is None:
            check_placeholders(names, None, holder)
        return project

    def batch_get(
        self,
        keys: Sequence[Mapping[str, Any]],
        *,
        projection: None | str | Sequence[str] = None,
        names: Mapping[str, str] | None = None,
    ) -> list[Item | None]:
        """Return the items with these keys, in the same order, ``None`` for
        each missing (or expired) one. All keys are validated before any is read.

        Raises:
            ValidationError: a key is invalid.
        """
        self._check_open()
        if isinstance(keys, Mapping) or not isinstance(keys, Iterable):
            raise ValidationError("keys must be a list of key dicts", attribute="keys")
        normalised = [self._key_only(key)[2:] for key in keys]
        project = self._projection(projection, names)
        engine = self._engine
        with engine.lock.thread_lock:
            engine.refresh()
            found = [engine.partition(engine.digest(npk), npk).items.get(nsk)
                     for npk, nsk in normalised]
        items = [self._visible(data) for data in found]
        if project is not None:
            items = [None if item is None else project(item) for item in items]
        return items

    # ------------------------------------------------------------- batches

    def batch_writer(self, flush_amount: int = 1000) -> BatchWriter:
        """Return a context manager that buffers puts and deletes and writes
        them as one log record (one fsync) on exit and whenever
        ``flush_amount`` operations are buffered. The last write to a key wins.
        """
        from .batch import BatchWriter

        self._check_open()
        return BatchWriter(self, flush_amount)

    def _write_batch(self, entries: list[tuple[str, Any, Any, Any, Any, bytes | None]]) -> None:
        """Commit prepared batch entries ``(kind, pk, sk, npk, nsk, data)`` as one record."""
        engine = self._engine

        def prepare() -> tuple[list[Op], None]:
            pending: dict[tuple[Any, Any], bytes | None] = {}
            ops: list[Op] = []
            append = ops.append
            checked = set()  # key types depend on the values' classes only
            partitions: dict[Any, Any] = {}  # a batch comes back to few partitions often
            ttl = self.ttl_attribute
            for kind, pk, sk, npk, nsk, data in entries:
                if kind == "put":
                    classes = (pk.__class__, sk.__class__)
                    if classes not in checked:
                        self._fix_key_types(*self._key_pairs(pk, sk))
                        checked.add(classes)
                items = partitions.get(npk)
                if items is None:
                    items = partitions[npk] = engine.partition(engine.digest(npk), npk).items
                slot = (npk, nsk)
                if slot in pending:
                    current = pending[slot]
                else:
                    current = items.get(nsk)
                    if current is not None and ttl and self._visible(current) is None:
                        current = None
                if current == data:
                    continue
                pending[slot] = data
                append(Op(npk, nsk, data, current))
            return ops, None

        engine.write(prepare)

    # ------------------------------------------------------------- streams

    def add_stream_listener(self, listener: StreamListener, *, records: bool = False) -> None:
        """Call ``listener`` for every item change this table object commits.

        By default it gets the original dynafile's
        :class:`~dynafile.streams.Event` (action ``"PUT"`` or ``"DELETE"``,
        new, old, sequence, expired). With ``records=True`` it gets a
        DynamoDB-style :class:`~dynafile.changes.StreamRecord` instead
        (``event_name`` INSERT / MODIFY / REMOVE, ``keys``, and the images
        the table's ``stream_view_type`` includes), the same records
        :meth:`stream` yields. Calls come after the change is committed and
        visible, in commit order; a write that changes nothing calls
        nothing; a listener that raises is logged and ignored.

        Raises:
            ValidationError: ``listener`` is not callable.
        """
        (self._record_listeners if records else self._listeners).add(listener)

    def remove_stream_listener(self, listener: StreamListener) -> None:
        """Stop calling ``listener`` (either kind); unknown listeners are ignored."""
        self._listeners.remove(listener)
        self._record_listeners.remove(listener)

    # -------------------------------------------------------- transactions

    def transact_write(self, actions: Sequence[Mapping[str, Any]], **options: Any) -> Any:
        """Commit put/update/delete/condition-check actions all or nothing.

        See :func:`dynafile.transactions.transact_write` for the actions'
        form, ``token`` idempotency and the errors raised.
        """
        from .transactions import transact_write

        self._check_open()
        return transact_write(self, actions, **options)

    def transact_get(self, keys: Sequence[Mapping[str, Any]], **options: Any) -> Any:
        """Read up to 100 items as one consistent snapshot
        (see :func:`dynafile.transactions.transact_get`)."""
        from .transactions import transact_get

        self._check_open()
        return transact_get(self, keys, **options)

    def transaction(self, **options: Any) -> Any:
        """Return an optimistic, serializable transaction context manager
        (see :class:`dynafile.transactions.Transaction`)."""
        from .transactions import Transaction

        self._check_open()
        return Transaction(self, **options)

    # ------------------------------------------------------------- streams (log)

    def stream(self, **options: Any) -> Any:
        """Read committed changes from the log, from any process
        (see :func:`dynafile.changes.stream`)."""
        from .changes import stream

        self._check_open()
        options.setdefault("view_type", self.stream_view_type)
        return stream(self, **options)

    # ---------------------------------------------------------- maintenance

    def check(self) -> Any:
        """Verify every file of the table and return a report
        (see :func:`dynafile.check.check`)."""
        from .check import check

        self._check_open()
        return check(self)

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        self._check_open()
        return self._engine.checkpoint()


def _check_indexes(indexes: Any, cls: type, attribute: str) -> Any:
    if indexes is None:
        return None if cls is LSI else ()
    if isinstance(indexes, (str, bytes)) or not isinstance(indexes, Iterable):
        raise ValidationError(f"must be a list of {cls.__name__} objects", attribute=attribute)
    out = list(indexes)
    if not all(isinstance(index, cls) for index in out):
        raise ValidationError(f"must be a list of {cls.__name__} objects", attribute=attribute)
    if len({index.name for index in out}) != len(out):
        raise ValidationError("index names must be unique", attribute=attribute)
    return out


def _update_result(mode: str, old: Item | None, new: Item, names: Any) -> Item | None:
    if mode == "ALL_OLD":
        return old
    if mode == "ALL_NEW":
        return new
    if mode == "UPDATED_OLD":
        return {k: v for k, v in (old or {}).items() if k in names}
    if mode == "UPDATED_NEW":
        return {k: v for k, v in new.items() if k in names}
    return None
