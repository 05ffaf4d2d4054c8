"""The table core: one open table, as the modules that serve it see it.

:class:`TableCore` holds everything an open table is made of: its files
(:class:`~dynafile.storage.layout.Layout`), its storage engine, its schema
and key types, its serializer, its indexes and its listeners. The public
:class:`~dynafile.table.Dynafile`, queries and scans, the batch writer,
transactions, streams, maintenance and ``check()`` all receive the core and
call its public methods; none of them reaches into another's internals.

Every write goes through :meth:`TableCore.write`: under the write lock it
reloads ``meta.json`` when another process changed it, lets the caller
build the record (normally with :func:`dynafile.writes.prepare_record`),
fixes first-used key types in ``meta.json`` just before the record is
appended, and afterwards delivers the change events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Callable, TypeVar

from .errors import (
    ClosedError,
    DynafileError,
    ItemTooLargeError,
    SchemaMismatchError,
    ValidationError,
)
from .expressions import UpdatePlan, Used, compile_update
from .indexes import Change, Index, IndexSet, index_from_json
from .keys import extract_key, normalize_key
from .listeners import Delivery, Listeners
from .schema import KeyTypes, Schema
from .serialization import Serializer, get_serializer
from .storage.engine import Engine, LogPosition
from .storage.layout import SCHEMA, TABLE, TOKENS, Layout
from .storage.log import Op
from .storage.partition import keep_checked
from .ttl import is_expired
from .types import item_size, validate_item
from .writes import ItemKey, Outcome, Write, prepare_record

__all__ = ["TableCore"]

Item = dict[str, Any]
R = TypeVar("R")


class TableCore:
    """One open table.

    Args:
        path: the table directory (it exists).
        requested: the table properties the opener named (see
            :data:`dynafile.schema.PROPERTIES`); the others are the stored ones.
        serializer: the serializer the opener passed, or ``None`` for the
            stored one (``pickle`` for a new table).
        read_only: open without writing anything.
        max_item_size: the largest serialized item accepted, in bytes.
        clock: the time source of TTL.
        engine_options: passed to :class:`~dynafile.storage.engine.Engine`.

    Raises:
        SchemaMismatchError: a named property differs from the stored one,
            or the stored serializer is not built in and none was passed.
        UnsupportedFormatError / CorruptFileError: from the files.

    Attributes:
        path / layout / engine / serializer / read_only / max_item_size / clock:
            as given or built from them.
        delivery: the in-process listeners and their delivery queue.
    """

    def __init__(self, path: str, *, requested: Mapping[str, Any],
                 serializer: Serializer | None, read_only: bool, max_item_size: int,
                 clock: Callable[[], float], gsis: Sequence[Index] = (),
                 **engine_options: Any) -> None:
        self.path = path
        self.layout = Layout(path)
        self.read_only = read_only
        self.max_item_size = max_item_size
        self.clock = clock
        self.engine = Engine(self.layout, read_only=read_only, clock=clock, **engine_options)
        self._meta_sig: Any = None
        self._marks = 0
        #: The key attributes when both are fixed to strings (get_item's fast
        #: path), else ``None``.
        self.text_keys: tuple[str, str] | None = None
        try:
            schema, self.serializer = self._open_schema(requested, serializer, gsis)
        except BaseException:
            self.engine.close(checkpoint=False)
            raise
        self._dumps = self.serializer.dumps
        self._load_stored = self.serializer.load_stored
        self._strict_types = self.serializer.strict_types
        self._install(schema)
        self.delivery = Delivery((schema.pk_attribute, schema.sk_attribute), self.load,
                                 lambda: self.view_type)
        self.engine.observe(self.delivery.queue)

    # ------------------------------------------------------------- schema

    def _open_schema(self, requested: Mapping[str, Any], serializer: Serializer | None,
                     gsis: Sequence[Index]) -> tuple[Schema, Serializer]:
        lock = self.engine.lock.shared() if self.read_only else self.engine.lock.exclusive()
        with lock:
            schema = Schema.read(self.layout.meta)
            wanted = dict(requested)
            if serializer is not None:
                wanted["serializer"] = serializer.name
            pk = wanted.get("pk_attribute", schema.pk_attribute if schema else "PK")
            if pk == wanted.get("sk_attribute", schema.sk_attribute if schema else "SK"):
                raise ValidationError("sort key must differ from the partition key",
                                      attribute="sk_attribute")
            for index in gsis:
                stored = schema.gsis.get(index.name) if schema else None
                if stored is not None and index_from_json("gsis", index.name, stored) != index:
                    raise SchemaMismatchError(f"global index {index.name!r} exists with "
                                              f"another definition: {stored}")
                if schema is not None and index.name in schema.lsis:
                    raise SchemaMismatchError(f"{index.name!r} is a local index")
            if schema is None:
                if self.read_only:
                    raise SchemaMismatchError(f"{self.path} holds no dynafile table "
                                              "(no meta.json)")
                chosen = serializer or get_serializer(None)
                schema = Schema(wanted.get("pk_attribute", "PK"), wanted.get("sk_attribute", "SK"),
                                chosen.name, ttl_attribute=wanted.get("ttl_attribute"),
                                stream_view_type=wanted.get("stream_view_type"),
                                lsis=wanted.get("lsis", {}),
                                ttl_mode=wanted.get("ttl_mode", "hide"))
                schema.write(self.layout.meta)
                return schema, chosen
            if schema.reconcile(wanted) and not self.read_only:
                schema.write(self.layout.meta)
            if serializer is None:
                try:
                    serializer = get_serializer(schema.serializer)
                except ValidationError:
                    raise SchemaMismatchError(
                        f"table uses serializer {schema.serializer!r}, which is not built in: "
                        "pass it as serializer=") from None
            return schema, serializer

    def _stat_meta(self) -> Any:
        try:
            st = os.stat(self.layout.meta)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _install(self, schema: Schema) -> None:
        self._schema = schema
        self._types = KeyTypes(schema.key_types)
        self._note_text_keys()
        defs = [index_from_json(section, name, data)
                for section in ("gsis", "lsis")
                for name, data in getattr(schema, section).items()]
        self._indexes = IndexSet(schema.pk_attribute, schema.sk_attribute, defs, self._dumps)
        self._key_names = frozenset(
            name for name in [schema.pk_attribute, schema.sk_attribute,
                              *(n for ix in defs for n in (ix.pk_attribute, ix.sk_attribute))]
            if name is not None)
        self.engine.set_live_spaces({TABLE, TOKENS} | self._indexes.spaces())
        self._meta_sig = self._stat_meta()
        self._marks = self.engine.schema_marks

    def reload_schema(self) -> None:
        """Reload ``meta.json`` when another process replaced it. One ``stat``."""
        if self._stat_meta() != self._meta_sig:
            schema = Schema.read(self.layout.meta)
            if schema is not None:
                self._install(schema)

    def change_schema(self, change: Callable[[Schema], bool]) -> bool:
        """Apply ``change`` to a fresh copy of the schema under the exclusive
        lock; when it returns ``True``, write ``meta.json`` and log a schema
        mark, so every process reloads it at its next read. Returns what
        ``change`` returned; if it raises, nothing is written.

        Raises:
            DynafileError: the table is read-only.
        """
        if self.read_only:
            raise DynafileError("table is open read-only")
        with self.engine.exclusive():
            self.reload_schema()
            schema = Schema.read(self.layout.meta) or self._schema
            if not change(schema):
                return False
            schema.write(self.layout.meta)
            self._install(schema)
            self.engine.write(lambda: ([Op("", "", None, None, 0, SCHEMA)], None))
            self._marks = self.engine.schema_marks
        return True

    @property
    def schema(self) -> Schema:
        """The schema as this process last read it (treat as read-only)."""
        return self._schema

    def current_schema(self) -> Schema:
        """The schema as of now, after catching up with every process's
        writes and schema changes (treat as read-only). One ``fstat`` and
        one ``stat``."""
        with self.engine.lock.thread_lock:
            self.refresh()
            self.reload_schema()
        return self._schema

    @property
    def pk_attribute(self) -> str:
        """The partition key attribute."""
        return self._schema.pk_attribute

    @property
    def sk_attribute(self) -> str | None:
        """The sort key attribute, or ``None``."""
        return self._schema.sk_attribute

    @property
    def ttl_attribute(self) -> str | None:
        """The TTL attribute, or ``None``."""
        return self._schema.ttl_attribute

    @property
    def view_type(self) -> str:
        """The table's stream view type."""
        return self._schema.view_type

    @property
    def hides_expired(self) -> bool:
        """Whether expired items are invisible to reads and absent for writes
        (``ttl_mode="hide"``); with DynamoDB's mode they stay until swept."""
        return self._schema.ttl_mode == "hide" and self._schema.ttl_attribute is not None

    @property
    def key_types(self) -> KeyTypes:
        """The key attributes' types."""
        return self._types

    @property
    def indexes(self) -> IndexSet:
        """The live secondary indexes."""
        return self._indexes

    def index(self, name: Any) -> Index:
        """Return the live, active index ``name`` (reloading the schema once
        when it is unknown).

        Raises:
            ValidationError: no such index, or it is still being built.
        """
        if not isinstance(name, str):
            raise ValidationError("must be an index name", attribute="index")
        index = self._indexes.indexes.get(name)
        if index is None:
            with self.engine.lock.thread_lock:
                self.reload_schema()
            index = self._indexes.indexes.get(name)
        if index is None:
            raise ValidationError(f"the table has no index named {name!r}", attribute="index")
        state = self._schema.gsis.get(name, {}).get("state", "ACTIVE")
        if state != "ACTIVE":
            raise ValidationError(f"index {name!r} is still being created (backfilling)",
                                  attribute="index")
        return index

    # -------------------------------------------------------------- state

    @property
    def closed(self) -> bool:
        """Whether the table was closed."""
        return self.engine.closed

    def check_open(self) -> None:
        """Raises :class:`~dynafile.errors.ClosedError` once the table is closed."""
        if self.engine.closed:
            raise ClosedError("the table is closed")

    def now(self) -> float:
        """The current time, by the table's clock."""
        return self.clock()

    # --------------------------------------------------------------- keys

    def item_key(self, item: Any, what: str = "item") -> ItemKey:
        """Return the validated key of an item (or of a key dict, ``what="key"``).

        Raises:
            ValidationError: not a dict, a key attribute missing, or a key
                value of the wrong type.
        """
        pk_name, sk_name = self._schema.pk_attribute, self._schema.sk_attribute
        pk, sk = extract_key(item, pk_name, sk_name, self._types.fixed, what)
        # A table without a sort key keeps each item under the sort key "",
        # a value no real sort key can have.
        return ItemKey(pk, sk, normalize_key(pk), "" if sk is None else normalize_key(sk))

    def key(self, key: Any) -> ItemKey:
        """Like :meth:`item_key` for a key dict, which must hold nothing else.

        Raises:
            ValidationError: as :meth:`item_key`, or extra attributes.
        """
        result = self.item_key(key, "key")
        if len(key) != (1 if self.sk_attribute is None else 2):
            extra = [n for n in key if n not in (self.pk_attribute, self.sk_attribute)]
            raise ValidationError(
                f"key holds attributes that are not part of the table's key: {sorted(extra)}",
                attribute="key")
        return result

    def key_item(self, key: ItemKey) -> Item:
        """The key attributes of ``key`` as given, as an item fragment."""
        out = {self.pk_attribute: key.pk}
        if self.sk_attribute is not None:
            out[self.sk_attribute] = key.sk
        return out

    def key_dict(self, npk: Any, nsk: Any) -> Item:
        """The key dict of a stored item (normalised values)."""
        out = {self.pk_attribute: npk}
        if self.sk_attribute is not None:
            out[self.sk_attribute] = nsk
        return out

    def fix_key_types(self, key: ItemKey) -> None:
        """Under the write lock: check the key's values against the types
        fixed for the key attributes; a first use fixes the type.

        Raises:
            ValidationError: a value of another type than the one fixed.
        """
        self._types.check(self.pk_attribute, key.pk)
        if self.sk_attribute is not None:
            self._types.check(self.sk_attribute, key.sk, sort=True)

    def update_plan(self, update: str | None, names: Any, values: Any, used: Used,
                    **plain: Any) -> UpdatePlan:
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

    # ------------------------------------------------------------- values

    def prepare_item(self, item: Mapping[str, Any]) -> tuple[Item, bytes]:
        """Check an item as DynamoDB does and serialize it: returns the item in
        stored form (numbers normalised) and its bytes.

        With a serializer that stores only DynamoDB's types (every built-in
        one, unless pickle was given ``trusted`` classes), the item must hold
        only those types and its size is DynamoDB's (attribute names plus
        values); otherwise only attribute names are checked and the size is
        the serialized length.

        Raises:
            ValidationError: DynamoDB's message for a value or name it would
                refuse, naming the attribute path; or a value the serializer
                refuses.
            ItemTooLargeError: the item is over ``max_item_size`` (400 KB).

        Cost: O(size of the item).
        """
        if self._strict_types:
            item = validate_item(item, key_attributes=self._key_names)
            size = item_size(item)
            if size > self.max_item_size:
                raise ItemTooLargeError(size, self.max_item_size)
            return item, self._dumps(item)
        for name in item:
            if not isinstance(name, str) or not name:
                raise ValidationError(f"attribute names must be non-empty strings, got {name!r}",
                                      attribute="item")
        plain = item if item.__class__ is dict else dict(item)
        data = self._dumps(plain)
        if len(data) > self.max_item_size:
            raise ItemTooLargeError(len(data), self.max_item_size)
        return plain, data  # type: ignore[return-value]

    def dump(self, item: Mapping[str, Any]) -> bytes:
        """The bytes of :meth:`prepare_item` (an update's result, checked the same way).

        Raises:
            as :meth:`prepare_item`.
        """
        return self.prepare_item(item)[1]

    def load(self, data: bytes) -> Item:
        """A fresh item from stored bytes (the engine's; bytes from disk are
        checked by the serializer on first load).

        Raises:
            CorruptFileError: stored bytes that do not decode to an item.
        """
        return self._load_stored(data)  # type: ignore[no-any-return]

    def is_expired(self, item: Mapping[str, Any], now: float) -> bool:
        """Whether ``item`` has expired at ``now``."""
        return is_expired(item, self._schema.ttl_attribute, now)

    def visible(self, data: bytes | None, now: float | None = None) -> Item | None:
        """The item in ``data`` as readers see it: ``None`` when absent or expired."""
        if data is None:
            return None
        item = self._load_stored(data)
        if self.hides_expired and is_expired(item, self._schema.ttl_attribute,
                                             self.clock() if now is None else now):
            return None
        return item  # type: ignore[no-any-return]

    # -------------------------------------------------------------- reads

    @contextmanager
    def reading(self) -> Iterator[Engine]:
        """Hold the thread lock, caught up with every process's writes, and
        give the engine to read partitions from."""
        with self.engine.lock.thread_lock:
            self.refresh()
            yield self.engine

    def refresh(self) -> None:
        """Catch up with other processes' writes (and schema changes). Call
        with the thread lock held. One ``fstat`` when nothing changed."""
        self.engine.refresh()
        if self.engine.schema_marks != self._marks:
            self._marks = self.engine.schema_marks
            self.reload_schema()

    def get(self, npk: Any, nsk: Any) -> Item | None:
        """The visible item under a normalised key, or ``None``.

        Cost: O(log n) when the partition is cached, one ``fstat``.
        """
        engine = self.engine
        with engine.lock.thread_lock:
            engine.refresh()
            if engine.schema_marks != self._marks:
                self.refresh()
            items = engine.partition(engine.digest(npk), npk).items
            data = items.get(nsk)
            if data is None:
                return None
            item = self._load_stored(data)
            if data.__class__ is not bytes:
                keep_checked(items, nsk, data)
        if self.hides_expired and is_expired(item, self._schema.ttl_attribute, self.clock()):
            return None
        return item  # type: ignore[no-any-return]

    def get_many(self, keys: Sequence[tuple[Any, Any]]) -> list[Item | None]:
        """:meth:`get` for each normalised key, all read between two writes."""
        engine = self.engine
        with engine.lock.thread_lock:
            self.refresh()
            found = [engine.partition(engine.digest(npk), npk).items.get(nsk)
                     for npk, nsk in keys]
        now = self.clock()
        return [self.visible(data, now) for data in found]

    def stored(self, npk: Any, nsk: Any) -> bytes | None:
        """The bytes stored under a normalised key. Call with the lock held,
        caught up (inside :meth:`write`'s build, or :meth:`reading`)."""
        engine = self.engine
        return engine.partition(engine.digest(npk), npk).items.get(nsk)  # type: ignore[no-any-return]

    def items_of(self, npk: Any) -> Mapping[Any, bytes]:
        """The stored bytes by sort key of partition ``npk`` (same conditions
        as :meth:`stored`)."""
        engine = self.engine
        return engine.partition(engine.digest(npk), npk).items  # type: ignore[no-any-return]

    def each_partition(self, space: str = TABLE) -> Iterator[tuple[Any, list[tuple[Any, bytes]]]]:
        """Yield ``(partition key, [(sort key, bytes), ...])`` for every
        partition of ``space``, each read as one snapshot. O(table)."""
        with self.reading() as engine:
            digests = engine.digests(space)
        for digest in digests:
            with self.engine.lock.thread_lock:
                part = self.engine.partition(digest, None, space)
                pairs = list(part.items.items())
                pk = part.pk
            yield pk, pairs

    def log_position(self) -> LogPosition:
        """Where the log ends, as far as every process committed."""
        with self.reading() as engine:
            return engine.position()

    # ------------------------------------------------------------- writes

    @property
    def indexed(self) -> bool:
        """Whether the table has secondary indexes."""
        return bool(self._indexes)

    def index_ops(self, changes: Sequence[Change]) -> list[Op]:
        """The index operations of ``changes`` (see :meth:`IndexSet.derive`)."""
        return self._indexes.derive(changes, self._types)

    def write(self, build: Callable[[], tuple[list[Op], R]]) -> R:
        """Commit one record built by ``build`` and return its result.

        ``build()`` runs under the exclusive lock, caught up with the log and
        with ``meta.json``, and returns ``(ops, result)``; it may raise to
        abort (nothing is written). Key types first used by the record are
        fixed in ``meta.json`` just before it is appended. Listeners get the
        record's changes before this returns.

        Raises:
            ClosedError: the table is closed.
            DynafileError: the table is read-only.
            LockTimeoutError: another process held the lock too long.
            whatever ``build`` raises.
        """
        self.check_open()

        def prepare() -> tuple[list[Op], R]:
            self._types.pending.clear()
            self.reload_schema()
            ops, result = build()
            if ops:
                self._fix_pending_types()
            return ops, result

        try:
            return self.engine.write(prepare)
        finally:
            self.delivery.drain()

    def commit(self, writes: Sequence[Write], *, now: float | None = None,
               atomic: bool = False, outcomes: bool = True) -> list[Outcome]:
        """Carry out ``writes`` as one record (see
        :func:`dynafile.writes.prepare_record`) and return their outcomes
        (none with ``outcomes=False``).

        Raises:
            as :func:`~dynafile.writes.prepare_record` and :meth:`write`.
        """
        when = self.clock() if now is None else now
        return self.write(lambda: prepare_record(self, writes, now=when, atomic=atomic,
                                                 outcomes=outcomes))

    def _fix_pending_types(self) -> None:
        pending = self._types.pending
        if not pending:
            return
        # meta.json first: if writing it fails, the write fails and no record
        # is ever appended under a key type that meta.json does not fix.
        schema = self._schema
        before = dict(schema.key_types)
        schema.key_types.update(pending)
        try:
            schema.write(self.layout.meta)
        except BaseException:
            schema.key_types.clear()
            schema.key_types.update(before)
            raise
        pending.clear()
        self._meta_sig = self._stat_meta()
        self._note_text_keys()

    def _note_text_keys(self) -> None:
        schema = self._schema
        types = schema.key_types
        sk = schema.sk_attribute
        self.text_keys = ((schema.pk_attribute, sk) if sk is not None
                          and types.get(schema.pk_attribute) == "S" and types.get(sk) == "S"
                          else None)

    # ------------------------------------------------------- housekeeping

    @property
    def events(self) -> Listeners:
        """Listeners of :class:`~dynafile.listeners.Event`."""
        return self.delivery.events

    @property
    def records(self) -> Listeners:
        """Listeners of :class:`~dynafile.streams.StreamRecord`."""
        return self.delivery.records

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        self.check_open()
        if self.read_only:
            return 0
        with self.engine.exclusive():
            self.reload_schema()
            return self.engine.checkpoint()

    def close(self, checkpoint: bool = True) -> None:
        """Checkpoint (when anything is pending, unless ``checkpoint`` is
        ``False``) and release files and locks. Idempotent. A failed
        checkpoint is not an error: the log keeps everything and the next
        open replays it."""
        if self.engine.closed:
            return
        try:
            if checkpoint and not self.read_only and self.engine.dirty:
                try:
                    self.checkpoint()
                except DynafileError:
                    pass
        finally:
            self.engine.close(checkpoint=False)
