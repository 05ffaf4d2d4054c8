"""The table: :class:`Dynafile`, its reads and writes.

Every write becomes one record in the table's write-ahead log (see
:mod:`dynafile.storage.engine`); every read first applies what other
processes committed. Items go in and come out as independent copies: the
store keeps serialized bytes and hands out freshly deserialized dicts.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from .errors import (
    ClosedError,
    ConditionalCheckFailedError,
    ItemTooLargeError,
    SchemaMismatchError,
    ValidationError,
)
from .indexes import GSI, LSI, IndexSet, index_from_json
from .expressions import (
    KeyCondition,
    check_placeholders,
    compile_projection,
    compile_update,
    parse_key_condition,
    to_predicate,
)
from .keys import check_key_value, extract_key, normalize_key
from .pages import Page
from .schema import Schema
from .serialization import Serializer, get_serializer
from .storage import fs
from .storage.engine import Engine
from .storage.log import FLAG_DROP_SPACE, FLAG_EXPIRED, Op
from .streams import Event, Listeners, StreamListener
from .ttl import is_expired

__all__ = ["Dynafile"]

Item = Dict[str, Any]
FilterSpec = Union[None, str, Callable[[Item], bool], Any]
_RETURN_WRITE = ("NONE", "ALL_OLD")
_RETURN_UPDATE = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
_UNSET: Any = object()


class _Placeholders:
    """Collects the placeholders each expression of one request uses."""

    def __init__(self) -> None:
        self.used: Any = None


class Dynafile:
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
        path: Union[str, "os.PathLike[str]"] = "",
        pk_attribute: str = "PK",
        sk_attribute: Optional[str] = "SK",
        ttl_attribute: Optional[str] = None,
        *,
        durability: str = "full",
        serializer: Union[None, str, Serializer] = None,
        max_item_size: int = 400 * 1024,
        cache_bytes: int = 256 << 20,
        lock_timeout: Optional[float] = 60.0,
        checkpoint_bytes: int = 16 << 20,
        read_only: bool = False,
        clock: Optional[Callable[[], float]] = None,
        ttl_sweep_interval: Optional[float] = None,
        gsis: Optional[Sequence[GSI]] = None,
        lsis: Optional[Sequence[LSI]] = None,
        watch: bool = False,
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
            lock_timeout=lock_timeout,
            read_only=read_only,
            clock=self._clock,
            watch=watch,
        )
        self._pending_types: Dict[str, str] = {}
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
        self._sweeper: Optional[threading.Thread] = None
        if ttl_sweep_interval is not None:
            if not isinstance(ttl_sweep_interval, (int, float)) or ttl_sweep_interval <= 0:
                self.close()
                raise ValidationError("must be a positive number of seconds",
                                      attribute="ttl_sweep_interval")
            if ttl_attribute is not None and not read_only:
                self._sweeper = threading.Thread(target=self._sweep_loop,
                                                 args=(float(ttl_sweep_interval),),
                                                 name="dynafile-ttl-sweeper", daemon=True)
                self._sweeper.start()

    def _open_schema(self, gsis: Sequence[GSI], lsis: Optional[Sequence[LSI]]) -> Schema:
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
        self._engine.live_spaces = {""} | {index.space for index in defs}
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
            self._schema.key_types.update(self._pending_types)
            self._pending_types.clear()
            self._schema.write(self.path)
            self._meta_sig = self._stat_meta()

    def _all_key_types(self) -> Dict[str, Optional[str]]:
        if not self._pending_types:
            return self._schema.key_types
        return {**self._schema.key_types, **self._pending_types}

    # ------------------------------------------------------------ plumbing

    def __enter__(self) -> "Dynafile":
        return self

    def __exit__(self, *exc: Any) -> None:
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

    def _key_of(self, obj: Any, what: str) -> Tuple[Any, Any, Any, Any]:
        """Return ``(pk, sk, normalised pk, normalised sk)`` of an item or key."""
        pk, sk = extract_key(obj, self.pk_attribute, self.sk_attribute,
                             self._schema.key_types, what)
        # A table without a sort key keeps each item under the sort key "",
        # a value no real sort key can have.
        return pk, sk, normalize_key(pk), "" if sk is None else normalize_key(sk)

    def _key_only(self, key: Any) -> Tuple[Any, Any, Any, Any]:
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

    def _visible(self, data: Optional[bytes]) -> Optional[Item]:
        """Deserialize stored bytes; ``None`` for absent or expired items."""
        if data is None:
            return None
        item = self._load_held(data)
        if self.ttl_attribute is not None and is_expired(item, self.ttl_attribute, self._clock()):
            return None
        return item

    def _fix_key_types(self, *pairs: Tuple[str, Any]) -> None:
        """Under the write lock: check each key attribute's type against the one
        fixed for it; a first use fixes it in ``meta.json`` just before the
        record is appended (so a write that fails fixes nothing)."""
        types = self._schema.key_types
        for name, value in pairs:
            known = types.get(name) or self._pending_types.get(name)
            code = check_key_value(name, value, known)
            if known is None:
                self._pending_types[name] = code

    def _key_pairs(self, pk: Any, sk: Any) -> Tuple[Tuple[str, Any], ...]:
        if self.sk_attribute is None:
            return ((self.pk_attribute, pk),)
        return ((self.pk_attribute, pk), (self.sk_attribute, sk))

    def _on_commit(self, lsn: int, ops: List[Op]) -> None:
        if not self._listeners:
            return
        loads = self._load_held
        for op in ops:
            if op.space:
                continue  # index maintenance is not a change of its own
            new = loads(op.new) if op.new is not None else None
            old = loads(op.old) if op.old is not None else None
            action = "PUT" if op.new is not None else "DELETE"
            self._listeners.emit(Event(action, new, old, lsn, bool(op.flags & FLAG_EXPIRED)))

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
        names: Optional[Mapping[str, str]] = None,
        values: Optional[Mapping[str, Any]] = None,
        return_values: str = "NONE",
        return_values_on_condition_check_failure: str = "NONE",
    ) -> Optional[Item]:
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
        used = _Placeholders()
        predicate = self._condition(condition, names, values, used)
        check_placeholders(names, values, used.used)
        self._check_choice(return_values, _RETURN_WRITE, "return_values")
        self._check_choice(return_values_on_condition_check_failure, _RETURN_WRITE,
                           "return_values_on_condition_check_failure")
        engine = self._engine
        digest = engine.digest(npk)

        def prepare() -> Tuple[List[Op], Optional[Item]]:
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
        names: Optional[Mapping[str, str]] = None,
        values: Optional[Mapping[str, Any]] = None,
        return_values: str = "NONE",
        return_values_on_condition_check_failure: str = "NONE",
    ) -> Optional[Item]:
        """Delete an item; deleting a missing item is not an error.

        Returns ``None``, or the deleted item with ``return_values="ALL_OLD"``.

        Raises:
            ValidationError: bad key or expression (nothing written).
            ConditionalCheckFailedError: the condition did not hold.
        """
        self._check_open()
        _, _, npk, nsk = self._key_only(key)
        used = _Placeholders()
        predicate = self._condition(condition, names, values, used)
        check_placeholders(names, values, used.used)
        self._check_choice(return_values, _RETURN_WRITE, "return_values")
        self._check_choice(return_values_on_condition_check_failure, _RETURN_WRITE,
                           "return_values_on_condition_check_failure")
        engine = self._engine
        digest = engine.digest(npk)

        def prepare() -> Tuple[List[Op], Optional[Item]]:
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
        update: Optional[str] = None,
        names: Optional[Mapping[str, str]] = None,
        values: Optional[Mapping[str, Any]] = None,
        condition: FilterSpec = None,
        return_values: str = "NONE",
        return_values_on_condition_check_failure: str = "NONE",
        set: Optional[Mapping[str, Any]] = None,  # noqa: A002 - DynamoDB's word
        remove: Optional[Iterable[str]] = None,
        add: Optional[Mapping[str, Any]] = None,
        delete: Optional[Mapping[str, Any]] = None,
    ) -> Optional[Item]:
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
        used = _Placeholders()
        plan = compile_update(update, names, values, set=set, remove=remove, add=add,
                              delete=delete, used=used)
        predicate = self._condition(condition, names, values, used)
        check_placeholders(names, values, used.used)
        self._check_choice(return_values, _RETURN_UPDATE, "return_values")
        self._check_choice(return_values_on_condition_check_failure, _RETURN_WRITE,
                           "return_values_on_condition_check_failure")
        for name in (self.pk_attribute, self.sk_attribute):
            if name is not None and name in plan.top_level_attributes:
                raise ValidationError(
                    f"Cannot update attribute {name}. This attribute is part of the key",
                    attribute=name)
        engine = self._engine
        digest = engine.digest(npk)

        def prepare() -> Tuple[List[Op], Optional[Item]]:
            self._fix_key_types(*self._key_pairs(pk, sk))
            current = engine.partition(digest, npk).items.get(nsk)
            old = self._visible(current)
            if predicate is not None and not predicate(old if old is not None else {}):
                raise ConditionalCheckFailedError(
                    item=old if return_values_on_condition_check_failure == "ALL_OLD" else None)
            new = plan.apply(old)
            new[self.pk_attribute] = pk
            if self.sk_attribute is not None:
                new[self.sk_attribute] = sk
            data = self._dump(new)
            visible_old = current if old is not None else None
            result = _update_result(return_values, old, new, plan.top_level_attributes)
            if visible_old == data:
                return [], result
            return [Op(npk, nsk, data, visible_old)], result

        return engine.write(prepare)

    # --------------------------------------------------------------- reads

    def get_item(
        self,
        *,
        key: Mapping[str, Any],
        projection: Union[None, str, Sequence[str]] = None,
        names: Optional[Mapping[str, str]] = None,
        consistent_read: bool = True,
    ) -> Optional[Item]:
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
                items[nsk] = bytes(data)  # checked once: later reads take the fast path
        ttl = self.ttl_attribute
        if ttl is not None and is_expired(item, ttl, self._clock()):
            return None
        return item if project is None else project(item)

    def _projection(self, projection: Any, names: Any, used: Any = None) -> Any:
        if projection is None:
            if names is not None and used is None:
                check_placeholders(names, None, None)
            return None
        holder = _Placeholders() if used is None else used
        project = compile_projection(projection, names, used=holder)
        if used is None:
            check_placeholders(names, None, holder.used)
        return project

    def batch_get(
        self,
        keys: Sequence[Mapping[str, Any]],
        *,
        projection: Union[None, str, Sequence[str]] = None,
        names: Optional[Mapping[str, str]] = None,
    ) -> List[Optional[Item]]:
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

    def query(
        self,
        pk: Any = _UNSET,
        _filter: FilterSpec = None,
        *,
        sk: Optional[KeyCondition] = None,
        starts_with: Any = None,
        scan_index_forward: bool = True,
        filter: FilterSpec = None,  # noqa: A002 - DynamoDB's word
        key_condition: Any = None,
        names: Optional[Mapping[str, str]] = None,
        values: Optional[Mapping[str, Any]] = None,
        projection: Union[None, str, Sequence[str]] = None,
        limit: Optional[int] = None,
        exclusive_start_key: Optional[Mapping[str, Any]] = None,
        index: Optional[str] = None,
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
        """
        self._check_open()
        used = _Placeholders()
        ix = self._index(index) if index is not None else None
        pk_name = ix_pk = self.pk_attribute if ix is None or ix.kind == "l" else ix.pk_attribute
        sk_name = self.sk_attribute if ix is None else ix.sk_attribute
        if key_condition is not None:
            if pk is not _UNSET or sk is not None:
                raise ValidationError("give either key_condition or pk/sk, not both",
                                      attribute="key_condition")
            pk, sk = parse_key_condition(key_condition, names, values, pk_name=pk_name,
                                         sk_name=sk_name, used=used)
        elif pk is _UNSET:
            raise ValidationError("query needs a partition key value", attribute="pk")
        predicate = self._filter_of(_filter, filter, names, values, used)
        project = self._projection(projection, names, used)
        check_placeholders(names, values, used.used)
        check_key_value(ix_pk, pk, self._schema.key_types.get(ix_pk))
        npk = normalize_key(pk)
        bounds = self._sk_bounds(sk, starts_with, scan_index_forward, sk_name)
        limit = _check_limit(limit)
        start_sk = None
        if exclusive_start_key is not None:
            if ix is None:
                _, _, spk, start_sk = self._key_only(exclusive_start_key)
            else:
                spk, start_sk = self._indexes.start_entry(ix, dict(exclusive_start_key))
            if spk != npk:
                raise ValidationError("exclusive_start_key belongs to another partition",
                                      attribute="exclusive_start_key")
        engine = self._engine
        space = "" if ix is None else ix.space
        with engine.lock.thread_lock:
            engine.refresh()
            part = engine.partition(engine.digest(npk), npk, space)
            pairs = _range(part.items, bounds, not scan_index_forward, start_sk, limit,
                           tuple_mode=ix is not None)
        page = Page(iter(()))
        make_key = None if ix is None else (lambda p, e, ix=ix: self._indexes.lek(ix, p, e))
        page._source = self._evaluate(page, pairs, predicate, project, limit, npk, make_key)
        return page

    def _index(self, name: Any) -> Any:
        """Return the live index ``name`` (refreshing the schema once if unknown)."""
        if not isinstance(name, str):
            raise ValidationError("must be an index name", attribute="index")
        index = self._indexes.indexes.get(name)
        if index is None:
            with self._engine.lock.thread_lock:
                self._refresh_schema()
            index = self._indexes.indexes.get(name)
        if index is None:
            raise ValidationError(f"the table has no index named {name!r}", attribute="index")
        if index.kind == "g" and self._schema.extra["gsis"][name].get("state") != "ACTIVE":
            raise ValidationError(f"index {name!r} is still being created (backfilling)",
                                  attribute="index")
        return index

    def count(self, pk: Any = _UNSET, _filter: FilterSpec = None, **kwargs: Any) -> int:
        """Return how many items :meth:`query` would return (DynamoDB's
        ``Select=COUNT``). Takes the same arguments except ``projection``."""
        return self.query(pk, _filter, **kwargs).count

    def scan(
        self,
        _filter: FilterSpec = None,
        *,
        filter: FilterSpec = None,  # noqa: A002 - DynamoDB's word
        names: Optional[Mapping[str, str]] = None,
        values: Optional[Mapping[str, Any]] = None,
        projection: Union[None, str, Sequence[str]] = None,
        limit: Optional[int] = None,
        exclusive_start_key: Optional[Mapping[str, Any]] = None,
        segment: Optional[int] = None,
        total_segments: Optional[int] = None,
        index: Optional[str] = None,
    ) -> Page:
        """Return every item of the table (partition by partition, each in
        sort-key order), optionally filtered.

        ``segment`` / ``total_segments`` split the table for a parallel scan:
        the segments together cover every item exactly once. ``index`` scans
        a secondary index instead. Other arguments as in :meth:`query`.
        Iteration is lazy when there is no ``limit``.

        Raises:
            ValidationError: bad filter, projection, limit or segment.
        """
        self._check_open()
        ix = self._index(index) if index is not None else None
        used = _Placeholders()
        predicate = self._filter_of(_filter, filter, names, values, used)
        project = self._projection(projection, names, used)
        check_placeholders(names, values, used.used)
        limit = _check_limit(limit)
        if (segment is None) != (total_segments is None):
            raise ValidationError("segment and total_segments go together", attribute="segment")
        if total_segments is not None:
            if not isinstance(total_segments, int) or isinstance(total_segments, bool) or not (
                    1 <= total_segments <= 1_000_000):
                raise ValidationError("must be an int from 1 to 1000000",
                                      attribute="total_segments")
            if not isinstance(segment, int) or isinstance(segment, bool) or not (
                    0 <= segment < total_segments):
                raise ValidationError("must be an int from 0 to total_segments - 1",
                                      attribute="segment")
        start: Optional[Tuple[str, Any]] = None
        if exclusive_start_key is not None:
            if ix is None:
                _, _, spk, ssk = self._key_only(exclusive_start_key)
            else:
                spk, ssk = self._indexes.start_entry(ix, dict(exclusive_start_key))
            start = (self._engine.digest(spk), ssk)
        page = Page(iter(()))
        space = "" if ix is None else ix.space
        pairs = self._scan_pairs(start, segment, total_segments, space)
        make_key = None if ix is None else (lambda p, e, ix=ix: self._indexes.lek(ix, p, e))
        page._source = self._evaluate(page, pairs, predicate, project, limit, None, make_key)
        return page

    def _scan_pairs(self, start: Optional[Tuple[str, Any]], segment: Optional[int],
                    total: Optional[int], space: str = "") -> Iterator[Tuple[Any, Any, bytes]]:
        engine = self._engine
        with engine.lock.thread_lock:
            engine.refresh()
            digests = engine.digests("" if space.startswith("l:") else space)
        for digest in digests:
            if total is not None and int(digest[:8], 16) % total != segment:
                continue
            if start is not None and digest < start[0]:
                continue
            with engine.lock.thread_lock:
                part = engine.partition(digest, None, space)
                if start is not None and digest == start[0]:
                    keys = list(part.items.irange(minimum=start[1], inclusive=(False, True)))
                    pairs = [(k, part.items[k]) for k in keys]
                else:
                    pairs = list(part.items.items())
                pk = part.pk
            for sk, data in pairs:
                yield pk, sk, data

    def _filter_of(self, positional: FilterSpec, keyword: FilterSpec, names: Any, values: Any,
                   used: Any) -> Optional[Callable[[Item], bool]]:
        if positional is not None and keyword is not None:
            raise ValidationError("give the filter once (filter= or _filter=)", attribute="filter")
        spec = keyword if keyword is not None else positional
        if spec is None:
            return None
        return to_predicate(spec, names, values, used=used)

    def _sk_bounds(self, sk: Any, starts_with: Any, forward: bool,
                   sk_name: Optional[str]) -> "_Bounds":
        bounds = _Bounds()
        if sk is not None:
            if sk_name is None:
                raise ValidationError("the table (or index) has no sort key", attribute="sk")
            if not isinstance(sk, KeyCondition):
                raise ValidationError("sk must be a Key(...) condition, e.g. "
                                      "Key('SK').begins_with('a')", attribute="sk")
            if sk.name != sk_name:
                raise ValidationError(f"condition is on {sk.name!r}, not the sort key "
                                      f"{sk_name!r}", attribute="sk")
            expected = self._schema.key_types.get(sk_name)
            for value in sk.values:
                check_key_value(sk_name, value, expected)
            values = [normalize_key(v) for v in sk.values]
            if sk.op == "begins_with" and not isinstance(values[0], (str, bytes)):
                raise ValidationError("begins_with needs a string or bytes prefix", attribute="sk")
            bounds.apply(sk.op, values)
        if starts_with is not None:
            if sk_name is None:
                raise ValidationError("the table has no sort key", attribute="starts_with")
            check_key_value(sk_name, starts_with, self._schema.key_types.get(sk_name))
            bounds.apply("gte" if forward else "lte", [normalize_key(starts_with)])
        return bounds

    def _evaluate(
        self,
        page: Page,
        pairs: Iterable[Tuple[Any, Any, bytes]],
        predicate: Optional[Callable[[Item], bool]],
        project: Optional[Callable[[Item], Item]],
        limit: Optional[int],
        pk: Any,
        make_key: Optional[Callable[[Any, Any], Item]] = None,
    ) -> Iterator[Item]:
        loads = self._load_held
        ttl = self.ttl_attribute
        now = self._clock() if ttl is not None else 0.0
        evaluated = 0
        last: Optional[Tuple[Any, Any]] = None
        for entry in pairs:
            if limit is not None and evaluated >= limit:
                if last is None:
                    return None
                return (make_key or self._key_dict)(*last)
            evaluated += 1
            page._note_scanned()
            item_pk, sk, data = entry
            last = (pk if item_pk is None else item_pk, sk)
            item = loads(data)
            if ttl is not None and is_expired(item, ttl, now):
                continue
            if predicate is not None and not predicate(item):
                continue
            yield project(item) if project is not None else item
        return None

    def _key_dict(self, pk: Any, sk: Any) -> Item:
        key = {self.pk_attribute: pk}
        if self.sk_attribute is not None:
            key[self.sk_attribute] = sk
        return key

    # ------------------------------------------------------------- batches

    def batch_writer(self, flush_amount: int = 1000) -> "BatchWriter":
        """Return a context manager that buffers puts and deletes and writes
        them as one log record (one fsync) on exit and whenever
        ``flush_amount`` operations are buffered. The last write to a key wins.
        """
        from .batch import BatchWriter

        self._check_open()
        return BatchWriter(self, flush_amount)

    def _write_batch(self, entries: List[Tuple[str, Any, Any, Any, Any, Optional[bytes]]]) -> None:
        """Commit prepared batch entries ``(kind, pk, sk, npk, nsk, data)`` as one record."""
        engine = self._engine

        def prepare() -> Tuple[List[Op], None]:
            pending: Dict[Tuple[str, Any], Optional[bytes]] = {}
            ops: List[Op] = []
            for kind, pk, sk, npk, nsk, data in entries:
                if kind == "put":
                    self._fix_key_types(*self._key_pairs(pk, sk))
                digest = engine.digest(npk)
                slot = (digest, nsk)
                if slot in pending:
                    current = pending[slot]
                else:
                    current = engine.partition(digest, npk).items.get(nsk)
                    if current is not None and self.ttl_attribute and self._visible(current) is None:
                        current = None
                if current == data:
                    continue
                pending[slot] = data
                ops.append(Op(npk, nsk, data, current))
            return ops, None

        engine.write(prepare)

    # ------------------------------------------------------------- streams

    def add_stream_listener(self, listener: StreamListener) -> None:
        """Call ``listener(event)`` for every item change this table commits.

        Events (:class:`~dynafile.streams.Event`: action ``"PUT"`` or
        ``"DELETE"``, new, old) arrive after the change is committed and
        visible, in commit order; a listener that raises is logged and
        ignored.
        """
        self._listeners.add(listener)

    def remove_stream_listener(self, listener: StreamListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        self._listeners.remove(listener)

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
        return stream(self, **options)

    # ------------------------------------------------------------- indexes

    def create_gsi(self, name: Union[str, GSI], pk_attribute: Optional[str] = None,
                   sk_attribute: Optional[str] = None, projection: str = "ALL",
                   include: Optional[Sequence[str]] = None) -> None:
        """Add a global secondary index and fill it from the table's items.

        Takes a :class:`~dynafile.indexes.GSI` or its arguments. Returns once
        the index is complete. The backfill commits one partition at a time,
        so readers and writers are held up only briefly; writes made meanwhile
        maintain the index. If the process dies, the next open resumes it.
        Creating an index that exists with the same definition does nothing.

        Raises:
            SchemaMismatchError: an index of that name exists with another
                definition (or is a local index).
            ValidationError: bad arguments, or an item whose index key has a
                type keys cannot have (the index is then left being created).
        """
        self._check_open()
        index = name if isinstance(name, GSI) else GSI(name, pk_attribute,  # type: ignore[arg-type]
                                                       sk_attribute, projection, include)
        engine = self._engine
        with engine.maintenance():
            gsis = self._schema.extra.setdefault("gsis", {})
            data = gsis.get(index.name)
            if data is not None:
                if index_from_json("g", index.name, data) != index:
                    raise SchemaMismatchError(
                        f"global index {index.name!r} exists with another definition: {data}")
                if data.get("state") == "ACTIVE":
                    return
            if index.name in self._schema.extra.get("lsis", {}):
                raise SchemaMismatchError(f"{index.name!r} is a local index")
            shutil.rmtree(os.path.join(self.path, f"_gsi-{index.name}"), ignore_errors=True)
            gsis[index.name] = {**index.definition(), "state": "CREATING"}
            self._schema.write(self.path)
            self._meta_sig = self._stat_meta()
            self._load_indexes()
        # Start from nothing (a half-built or re-created index), then add every item.
        engine.write(lambda: ([Op("", None, None, None, FLAG_DROP_SPACE, index.space)], None))
        with engine.lock.thread_lock:
            engine.refresh()
            digests = engine.digests()
        for digest in digests:

            def prepare(digest: str = digest) -> Tuple[List[Op], None]:
                part = engine.partition(digest)
                live = self._indexes.indexes.get(index.name)
                if live is None or not part.items:
                    return [], None  # dropped meanwhile, or emptied
                return self._indexes.backfill_ops(live, part.pk, list(part.items.items())), None

            engine.write(prepare)
        with engine.maintenance():
            data = self._schema.extra.get("gsis", {}).get(index.name)
            if data is not None:
                data["state"] = "ACTIVE"
                self._schema.write(self.path)
                self._meta_sig = self._stat_meta()

    def drop_gsi(self, name: str) -> None:
        """Remove a global secondary index and its files.

        Raises:
            ValidationError: the table has no global index ``name``.
        """
        self._check_open()
        engine = self._engine
        with engine.maintenance():
            gsis = self._schema.extra.get("gsis", {})
            if name not in gsis:
                raise ValidationError(f"the table has no global index named {name!r}",
                                      attribute="name")
            del gsis[name]
            self._schema.write(self.path)
            self._meta_sig = self._stat_meta()
            self._load_indexes()
        engine.write(lambda: ([Op("", None, None, None, FLAG_DROP_SPACE, f"g:{name}")], None))
        with engine.maintenance():
            if name not in self._schema.extra.get("gsis", {}):
                shutil.rmtree(os.path.join(self.path, f"_gsi-{name}"), ignore_errors=True)

    @property
    def indexes(self) -> Dict[str, Any]:
        """The table's secondary indexes by name (GSI and LSI objects)."""
        with self._engine.lock.thread_lock:
            self._refresh_schema()
        return dict(self._indexes.indexes)

    # ------------------------------------------------------------------ TTL

    def sweep_expired(self, batch_size: int = 1000) -> int:
        """Delete every expired item for real and return how many were deleted.

        The deletes are ordinary logged writes (``batch_size`` per record);
        their events are ``DELETE`` with ``expired=True`` (DynamoDB's
        service-identity REMOVE records). A table without ``ttl_attribute``
        sweeps nothing. Cost: a full scan.
        """
        self._check_open()
        if self.ttl_attribute is None:
            return 0
        engine = self._engine
        now = self._clock()
        expired: List[Tuple[Any, Any]] = []
        with engine.lock.thread_lock:
            engine.refresh()
            digests = engine.digests()
        for digest in digests:
            with engine.lock.thread_lock:
                part = engine.partition(digest)
                pairs = list(part.items.items())
                pk = part.pk
            for sk, data in pairs:
                if is_expired(self._load_held(data), self.ttl_attribute, now):
                    expired.append((pk, sk))
        deleted = 0
        for start in range(0, len(expired), batch_size):
            chunk = expired[start : start + batch_size]

            def prepare(chunk: List[Tuple[Any, Any]] = chunk) -> Tuple[List[Op], int]:
                ops = []
                for npk, nsk in chunk:
                    current = engine.partition(engine.digest(npk), npk).items.get(nsk)
                    # Re-check under the lock: it may have been rewritten since.
                    if current is not None and is_expired(self._load_held(current),
                                                          self.ttl_attribute, now):
                        ops.append(Op(npk, nsk, None, current, FLAG_EXPIRED))
                return ops, len(ops)

            deleted += engine.write(prepare)
        return deleted

    def _sweep_loop(self, interval: float) -> None:
        while not self._sweeper_stop.wait(interval):
            if self._engine.closed:
                return
            try:
                self.sweep_expired()
            except Exception:  # keep sweeping; report through logging
                import logging

                logging.getLogger("dynafile").exception("TTL sweep failed")

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


class _Bounds:
    """A sort-key range: lower/upper bound with inclusivity, plus a prefix."""

    __slots__ = ("lo", "lo_inc", "hi", "hi_inc", "prefix", "empty")

    def __init__(self) -> None:
        self.lo: Any = None
        self.lo_inc = True
        self.hi: Any = None
        self.hi_inc = True
        self.prefix: Any = None
        self.empty = False

    def _lower(self, value: Any, inclusive: bool) -> None:
        if self.lo is None or value > self.lo or (value == self.lo and not inclusive):
            self.lo, self.lo_inc = value, inclusive

    def _upper(self, value: Any, inclusive: bool) -> None:
        if self.hi is None or value < self.hi or (value == self.hi and not inclusive):
            self.hi, self.hi_inc = value, inclusive

    def apply(self, op: str, values: List[Any]) -> None:
        try:
            if op == "eq":
                self._lower(values[0], True)
                self._upper(values[0], True)
            elif op == "lt":
                self._upper(values[0], False)
            elif op == "lte":
                self._upper(values[0], True)
            elif op == "gt":
                self._lower(values[0], False)
            elif op == "gte":
                self._lower(values[0], True)
            elif op == "between":
                if values[0] > values[1]:
                    raise ValidationError("BETWEEN bounds are in the wrong order "
                                          "(the lower bound is greater)", attribute="sk")
                self._lower(values[0], True)
                self._upper(values[1], True)
            elif op == "begins_with":
                self._lower(values[0], True)
                self.prefix = values[0]
                upper = _prefix_successor(values[0])
                if upper is not None:
                    self._upper(upper, False)
            else:
                raise ValidationError(f"unsupported sort key condition {op!r}", attribute="sk")
        except TypeError:
            raise ValidationError("sort key condition values of different types",
                                  attribute="sk") from None


class _Extreme:
    """Compares above (``top``) or below every other value: closes tuple ranges."""

    __slots__ = ("top",)

    def __init__(self, top: bool) -> None:
        self.top = top

    def __lt__(self, other: Any) -> bool:
        return not self.top and other is not self

    def __gt__(self, other: Any) -> bool:
        return self.top and other is not self

    def __le__(self, other: Any) -> bool:
        return not self.top or other is self

    def __ge__(self, other: Any) -> bool:
        return self.top or other is self


_TOP = _Extreme(True)
_BOTTOM = _Extreme(False)


def _range(items: Any, b: _Bounds, reverse: bool, start: Any, limit: Optional[int],
           tuple_mode: bool = False) -> List[Tuple[Any, Any, bytes]]:
    """Return ``(None, sk, bytes)`` for the keys of ``items`` within ``b``,
    walking from after ``start``, at most ``limit + 1`` of them.

    In ``tuple_mode`` (indexes) keys are tuples whose first element is the
    sort key the bounds speak of."""
    lo, lo_inc, hi, hi_inc = b.lo, b.lo_inc, b.hi, b.hi_inc
    if tuple_mode:
        if lo is not None:
            lo, lo_inc = (lo, _BOTTOM if lo_inc else _TOP), True
        if hi is not None:
            hi, hi_inc = (hi, _TOP if hi_inc else _BOTTOM), True
    if start is not None:
        if reverse:
            if hi is None or start < hi or (start == hi and hi_inc):
                hi, hi_inc = start, False
        elif lo is None or start > lo or (start == lo and lo_inc):
            lo, lo_inc = start, False
    try:
        if lo is not None and hi is not None and (lo > hi or (lo == hi and not (lo_inc and hi_inc))):
            return []
        keys = items.irange(lo, hi, inclusive=(lo_inc, hi_inc), reverse=reverse)
    except TypeError:
        return []  # a bound of another type than the stored keys matches nothing
    prefix = b.prefix
    out: List[Tuple[Any, Any, bytes]] = []
    cap = None if limit is None else limit + 1
    for k in keys:
        head = k[0] if tuple_mode else k
        if prefix is not None and not (type(head) is type(prefix) and head.startswith(prefix)):
            continue
        out.append((None, k, items[k]))
        if cap is not None and len(out) >= cap:
            break
    return out


def _prefix_successor(prefix: Any) -> Any:
    """Return the smallest value greater than every string starting with
    ``prefix`` (``None`` when there is none)."""
    if isinstance(prefix, str):
        chars = prefix
        while chars and ord(chars[-1]) == 0x10FFFF:
            chars = chars[:-1]
        return chars[:-1] + chr(ord(chars[-1]) + 1) if chars else None
    raw = bytes(prefix).rstrip(b"\xff")
    return raw[:-1] + bytes((raw[-1] + 1,)) if raw else None


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


def _check_limit(limit: Any) -> Optional[int]:
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError("must be a positive int", attribute="limit")
    return limit


def _update_result(mode: str, old: Optional[Item], new: Item, names: Any) -> Optional[Item]:
    if mode == "ALL_OLD":
        return old
    if mode == "ALL_NEW":
        return new
    if mode == "UPDATED_OLD":
        return {k: v for k, v in (old or {}).items() if k in names}
    if mode == "UPDATED_NEW":
        return {k: v for k, v in new.items() if k in names}
    return None
