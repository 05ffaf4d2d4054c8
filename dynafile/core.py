"""The core: one open database and its tables, as the modules that serve them see it.

:class:`DatabaseCore` holds what a database directory is made of: its files
(:class:`~dynafile.storage.layout.Layout`), its storage engine (one log for
every table) and its catalog (``meta.json``). :class:`TableCore` is one
table of it: its schema and key types, its serializer, its indexes and its
listeners, and the reads and writes of its items. The public
:class:`~dynafile.table.Dynafile` and :class:`~dynafile.database.Database`,
queries and scans, the batch writer, transactions, streams, maintenance and
``check()`` receive a core and call its public methods; none of them reaches
into another's internals.

Every write goes through :meth:`DatabaseCore.write`: under the write lock it
reloads ``meta.json`` when another process changed it, lets the caller build
the record (normally with :func:`dynafile.writes.prepare_records`), fixes
first-used key types in ``meta.json`` just before the record is appended,
and afterwards delivers the change events of every table it touched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .errors import (
    CorruptFileError,
    DynafileError,
    ItemTooLargeError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    ValidationError,
)
from .indexes import Change, Index, IndexSet, index_from_json
from .keys import extract_key, normalize_key
from .listeners import Delivery, Listeners
from .schema import Catalog, KeyTypes, Schema
from .serialization import Serializer, get_serializer
from .storage import fs
from .storage.engine import Engine, LogPosition
from .storage.layout import SCHEMA, TOKENS, Layout
from .storage.log import FLAG_DROP_SPACE, Op
from .storage.partition import keep_checked
from .ttl import is_expired
from .types import validate_sized_item
from .writes import ItemKey, Outcome, Write, prepare_records

if TYPE_CHECKING:  # pragma: no cover
    from .expressions import UpdatePlan, Used

__all__ = ["DatabaseCore", "TableCore"]

Item = dict[str, Any]
R = TypeVar("R")


def _loads_of(name: str) -> Callable[[bytes], Any] | None:
    """The ``loads`` of a built-in or registered serializer (``None`` for another name)."""
    try:
        return get_serializer(name).loads
    except ValidationError:
        return None


def _not_found(name: Any) -> TableNotFoundError:
    return TableNotFoundError(f"Requested resource not found: Table: {name} not found")


class DatabaseCore:
    """One open database: its files, its engine and its catalog.

    Args:
        path: the database directory (it exists).
        read_only: open without writing anything.
        max_item_size: the largest item its tables accept, in bytes.
        clock: the time source of TTL.
        engine_options: passed to :class:`~dynafile.storage.engine.Engine`.

    Raises:
        UnsupportedFormatError / CorruptFileError: from the files.

    Attributes:
        path / layout / engine / read_only / max_item_size / clock: as given
            or built from them.
    """

    def __init__(self, path: str, *, read_only: bool, max_item_size: int,
                 clock: Callable[[], float], **engine_options: Any) -> None:
        self.path = path
        self.layout = Layout(path)
        self.read_only = read_only
        self.max_item_size = max_item_size
        self.clock = clock
        self.engine = Engine(self.layout, read_only=read_only, clock=clock, **engine_options)
        self._catalog = Catalog()
        self._meta_sig: Any = None
        self._marks = -1
        self._tables: dict[str, TableCore] = {}
        self._guard = threading.RLock()
        try:
            if read_only:
                with self.engine.lock.shared():
                    self._install(Catalog.read(self.layout.meta) or Catalog())
            else:
                with self.engine.exclusive():
                    self._install(Catalog.read(self.layout.meta) or Catalog())
                    self._drop_orphans()
        except BaseException:
            self.engine.close(checkpoint=False)
            raise
        self.engine.observe(self._observed)

    # ------------------------------------------------------------- catalog

    def _stat_meta(self) -> Any:
        return fs.signature(self.layout.meta)

    def _install(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._meta_sig = self._stat_meta()
        self._marks = self.engine.schema_marks
        for name, table in list(self._tables.items()):
            schema = catalog.tables.get(name)
            if schema is None or schema.table_id != table.table_id:
                table.detach()  # deleted (or deleted and created again) meanwhile
                del self._tables[name]
            else:
                table.install(schema)

    def _drop_orphans(self) -> None:
        """Log the drop of every space holding data that no table of the
        catalog owns: a table deletion or index drop a crash interrupted
        between ``meta.json`` and its drop record. Exclusive lock held."""
        orphans = self.engine.spaces() - self._catalog.spaces() - {TOKENS}
        if orphans:
            self.engine.write(lambda: ([Op("", None, None, None, FLAG_DROP_SPACE, space)
                                        for space in sorted(orphans)], None))

    @property
    def catalog(self) -> Catalog:
        """The catalog as this process last read it (treat as read-only)."""
        return self._catalog

    def reload_catalog(self) -> None:
        """Reload ``meta.json`` when another process replaced it. One ``stat``."""
        if self._stat_meta() != self._meta_sig:
            catalog = Catalog.read(self.layout.meta)
            if catalog is not None:
                self._install(catalog)

    def current_catalog(self) -> Catalog:
        """The catalog as of now, after catching up with every process."""
        with self.engine.lock.thread_lock:
            self.refresh()
            self.reload_catalog()
        return self._catalog

    def change_catalog(self, change: Callable[[Catalog], bool]) -> bool:
        """Apply ``change`` to a fresh copy of the catalog under the exclusive
        lock; when it returns ``True``, write ``meta.json`` and log a schema
        mark, so every process reloads it at its next read. Returns what
        ``change`` returned; if it raises, nothing is written.

        Raises:
            DynafileError: the database is read-only.
        """
        self.check_open()
        if self.read_only:
            raise DynafileError("the database is open read-only")
        with self.engine.exclusive():
            self.reload_catalog()
            catalog = Catalog.read(self.layout.meta) or Catalog()
            if not change(catalog):
                return False
            catalog.write(self.layout.meta)
            self._install(catalog)
            self.engine.write(lambda: ([Op("", "", None, None, 0, SCHEMA)], None))
            self._marks = self.engine.schema_marks
        return True

    # -------------------------------------------------------------- tables

    def table(self, name: str, *, serializer: Serializer | None = None,
              requested: Mapping[str, Any] | None = None) -> TableCore:
        """Return the core of table ``name`` (opened once, then shared).

        ``requested`` are table properties an opener names: checked against
        the stored ones (a stream view type never stored is recorded).

        Raises:
            TableNotFoundError: no such table.
            SchemaMismatchError: a named property differs from the stored one,
                or the table's serializer is neither built in nor registered and
                none was given.
        """
        self.check_open()
        with self._guard:
            self.reload_catalog()
            schema = self._catalog.tables.get(name) if isinstance(name, str) else None
            if schema is None:
                raise _not_found(name)
            wanted = dict(requested or {})
            if serializer is not None:
                wanted["serializer"] = serializer.name
            if wanted and schema.reconcile(wanted) and not self.read_only:
                def record(catalog: Catalog) -> bool:
                    entry = catalog.tables.get(name)
                    return entry is not None and entry.reconcile(wanted)
                self.change_catalog(record)
            table = self._tables.get(name)
            if table is None:
                if serializer is None:
                    try:
                        serializer = get_serializer(schema.serializer)
                    except ValidationError as exc:
                        if isinstance(exc, SchemaMismatchError):
                            raise  # it knows why (an encrypted table opened without a key)
                        raise SchemaMismatchError(
                            f"table {name} uses serializer {schema.serializer!r}, which is "
                            "neither built in nor registered: pass it as serializer=, or "
                            "register it (dynafile.register_serializer)") from None
                table = self._tables[name] = TableCore(self, self._catalog.tables[name],
                                                       serializer)
                if table.schema is not self._catalog.tables[name]:  # binding changed meta.json
                    table.install(self._catalog.tables[name])
            return table

    def create_table(self, schema: Schema, gsis: Sequence[Index] = ()) -> None:
        """Record a new table (``schema.name``; its id is assigned here) with
        its global indexes already ``ACTIVE`` (a new table holds no item).

        Raises:
            TableExistsError: a table of that name exists.
        """
        def add(catalog: Catalog) -> bool:
            if schema.name in catalog.tables:
                raise TableExistsError(f"Table already exists: {schema.name}")
            catalog.add(schema)
            for index in gsis:
                schema.add_gsi(index.name, index.definition())["state"] = "ACTIVE"
            return True

        self.change_catalog(add)

    def delete_table(self, name: str) -> None:
        """Remove table ``name`` and log the drop of its spaces (its files go
        at the next checkpoint).

        Raises:
            TableNotFoundError: no such table.
        """
        spaces: set[str] = set()

        def remove(catalog: Catalog) -> bool:
            if name not in catalog.tables:
                raise _not_found(name)
            spaces.update(catalog.remove(name).spaces())
            return True

        self.change_catalog(remove)
        self.write(lambda: ([Op("", None, None, None, FLAG_DROP_SPACE, space)
                             for space in sorted(spaces)], None))

    def approximate_size(self, schema: Schema, space: str | None = None) -> tuple[int, int]:
        """``(item count, item bytes)`` of a table (or of one of its spaces:
        an index's) as its partition files hold it: as of the last
        checkpoint, without the log since (DynamoDB's counts are approximate
        too). O(partitions)."""
        spans = self.engine.manifest.spaces.get(space or schema.space, [])
        return sum(s.item_count for s in spans), sum(s.size for s in spans)

    def table_names(self) -> list[str]:
        """The names of the database's tables, sorted."""
        return sorted(self.current_catalog().tables)

    def record_source(self, space: str
                      ) -> tuple[str, tuple[str, str | None], Callable[[bytes], Any]] | None:
        """What a change record of an item in ``space`` needs: the table's name,
        its key attributes and a function decoding its stored items (deleted
        tables included); ``None`` when ``space`` is no table's, or its
        serializer is not one this process knows and the table is not open here."""
        if not space.startswith("t") or not space[1:].isdigit():
            return None
        table_id = int(space[1:])
        for attempt in range(2):
            for schema in self._catalog.tables.values():
                if schema.table_id == table_id:
                    open_here = self._tables.get(schema.name)
                    loads = (open_here.serializer.loads if open_here is not None
                             else _loads_of(schema.serializer))
                    if loads is None:
                        return None
                    return schema.name, (schema.pk_attribute, schema.sk_attribute), loads
            gone = self._catalog.dropped.get(table_id)
            if gone is not None:
                loads = _loads_of(gone.get("serializer", "pickle"))
                if loads is None:
                    return None
                return gone["name"], (gone["pk_attribute"], gone["sk_attribute"]), loads
            if attempt == 0:
                self.reload_catalog()
        return None

    # -------------------------------------------------------------- state

    @property
    def closed(self) -> bool:
        """Whether the database was closed."""
        return self.engine.closed

    def check_open(self) -> None:
        """Raises :class:`~dynafile.errors.ClosedError` once the database is
        closed (:class:`~dynafile.errors.ForkedProcessError` in a child
        process forked after it was opened)."""
        self.engine.check_usable()

    def refresh(self) -> None:
        """Catch up with other processes' writes (and schema changes). Call
        with the thread lock held. One ``fstat`` when nothing changed."""
        self.engine.refresh()
        if self.engine.schema_marks != self._marks:
            self._marks = self.engine.schema_marks
            self.reload_catalog()

    @contextmanager
    def reading(self) -> Iterator[Engine]:
        """Hold the thread lock, caught up with every process's writes, and
        give the engine to read collections from."""
        self.engine.check_usable()  # before the thread lock: a fork may have copied it held
        with self.engine.lock.thread_lock:
            self.refresh()
            yield self.engine

    def log_position(self) -> LogPosition:
        """Where the log ends, as far as every process committed."""
        with self.reading() as engine:
            return engine.position()

    # ------------------------------------------------------------- writes

    def write(self, build: Callable[[], tuple[list[Op], R]]) -> R:
        """Commit one record built by ``build`` and return its result.

        ``build()`` runs under the exclusive lock, caught up with the log and
        with ``meta.json``, and returns ``(ops, result)``; it may raise to
        abort (nothing is written). Key types first used by the record are
        fixed in ``meta.json`` just before it is appended. Listeners get the
        record's changes before this returns.

        Raises:
            ClosedError: the database is closed.
            DynafileError: it is read-only.
            LockTimeoutError: another process held the lock too long.
            whatever ``build`` raises.
        """
        self.check_open()
        tables = list(self._tables.values())

        def prepare() -> tuple[list[Op], R]:
            for table in tables:
                table.key_types.pending.clear()
            self.reload_catalog()
            return build()

        try:
            return self.engine.write(prepare, self._fix_pending_types)
        finally:
            for table in tables:
                table.delivery.drain()

    def _fix_pending_types(self) -> None:
        pending: dict[str, dict[str, str | None]] = {
            table.name: dict(table.key_types.pending)
                   for table in self._tables.values() if table.key_types.pending}
        if not pending:
            return
        # meta.json first: if writing it fails, the write fails and no record
        # is ever appended under a key type that meta.json does not fix.
        catalog = self._catalog
        before: dict[str, dict[str, str | None]] = {
            name: dict(catalog.tables[name].key_types) for name in pending}
        for name, types in pending.items():
            catalog.tables[name].key_types.update(types)
        try:
            catalog.write(self.layout.meta)
        except BaseException:
            for name, types in before.items():
                catalog.tables[name].key_types.clear()
                catalog.tables[name].key_types.update(types)
            raise
        for table in self._tables.values():
            table.key_types.pending.clear()
            table.note_key_types()
        self._meta_sig = self._stat_meta()

    def _observed(self, lsn: int, ops: list[Op], time_ms: int) -> None:
        for table in self._tables.values():
            table.delivery.queue(lsn, ops, time_ms)

    # ------------------------------------------------------- housekeeping

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        self.check_open()
        if self.read_only:
            return 0
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


class TableCore:
    """One table of an open database.

    Attributes:
        database: the database core it belongs to.
        serializer: its serializer.
        delivery: its in-process listeners and their delivery queue.
        text_keys: the key attributes when both are fixed to strings
            (get_item's fast path), else ``None``.
    """

    def __init__(self, database: DatabaseCore, schema: Schema, serializer: Serializer) -> None:
        self.database = database
        self.engine = database.engine
        bind = getattr(serializer, "for_table", None)
        if bind is not None:  # a serializer that keeps per-table state (encryption)
            serializer = bind(database, schema)
        self.serializer = serializer
        self._dumps = serializer.dumps
        self._load_stored = serializer.load_stored
        # Loads a value read under a known key and checks it is that key's
        # item (an encrypted table: a ciphertext moved between items).
        self._load_at: Callable[[bytes, Any, Any], Any] | None = getattr(
            serializer, "load_at", None)
        self._strict_types = serializer.strict_types
        self._detached = False
        self.text_keys: tuple[str, str] | None = None
        self.install(schema)
        self.delivery = Delivery(self, self.load, lambda: self.view_type)

    # ------------------------------------------------------------- schema

    def install(self, schema: Schema) -> None:
        """Take the table's (re)loaded schema. Called by the database core.

        Raises:
            CorruptFileError: an index definition ``meta.json`` holds is not
                one dynafile could have written.
        """
        defs = []
        for section in ("gsis", "lsis"):
            for name, data in getattr(schema, section).items():
                try:
                    defs.append(index_from_json(section, name, data, schema.index_space(data)))
                except ValidationError as exc:
                    raise CorruptFileError(self.database.layout.meta, 0,
                                           f"table {schema.name}: index {name!r} is not valid: "
                                           f"{exc}") from None
        self._schema = schema
        self._types = KeyTypes(schema.key_types)
        self._indexes = IndexSet(schema.pk_attribute, schema.sk_attribute, defs, self._dumps)
        self._key_names = frozenset(
            name for name in [schema.pk_attribute, schema.sk_attribute,
                              *(n for ix in defs for n in (ix.pk_attribute, ix.sk_attribute))]
            if name is not None)
        self.note_key_types()

    def note_key_types(self) -> None:
        """Recompute what depends on the fixed key types."""
        schema = self._schema
        types = schema.key_types
        sk = schema.sk_attribute
        self.text_keys = ((schema.pk_attribute, sk) if sk is not None
                          and types.get(schema.pk_attribute) == "S" and types.get(sk) == "S"
                          else None)

    def detach(self) -> None:
        """The table was deleted: every later use raises TableNotFoundError."""
        self._detached = True

    def reload_schema(self) -> None:
        """Reload ``meta.json`` when another process replaced it. One ``stat``."""
        self.database.reload_catalog()

    def change_schema(self, change: Callable[[Schema], bool]) -> bool:
        """Apply ``change`` to a fresh copy of this table's schema (see
        :meth:`DatabaseCore.change_catalog`).

        Raises:
            TableNotFoundError: the table was deleted.
            DynafileError: the database is read-only.
        """
        name = self._schema.name

        def apply(catalog: Catalog) -> bool:
            schema = catalog.tables.get(name)
            if schema is None or schema.table_id != self._schema.table_id:
                raise _not_found(name)
            return change(schema)

        return self.database.change_catalog(apply)

    @property
    def schema(self) -> Schema:
        """The schema as this process last read it (treat as read-only)."""
        return self._schema

    def current_schema(self) -> Schema:
        """The schema as of now, after catching up with every process's
        writes and schema changes (treat as read-only)."""
        self.database.current_catalog()
        self.check_open()
        return self._schema

    @property
    def name(self) -> str:
        """The table's name."""
        return self._schema.name

    @property
    def table_id(self) -> int:
        """The table's id."""
        return self._schema.table_id

    @property
    def space(self) -> str:
        """The space of the table's items."""
        return self._schema.space

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
        """Return the live, active index ``name`` as of now: caught up with
        every process's schema changes first (one ``fstat`` when nothing
        changed), so a read never uses an index another process dropped,
        re-created or finished meanwhile.

        Raises:
            ValidationError: no such index, or it is still being built.
        """
        if not isinstance(name, str):
            raise ValidationError("must be an index name", attribute="index")
        with self.reading():
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
        """Whether the database was closed."""
        return self.engine.closed

    @property
    def read_only(self) -> bool:
        """Whether the database is open read-only."""
        return self.database.read_only

    @property
    def max_item_size(self) -> int:
        """The largest item accepted, in bytes."""
        return self.database.max_item_size

    @property
    def layout(self) -> Layout:
        """The database's files."""
        return self.database.layout

    @property
    def path(self) -> str:
        """The database directory."""
        return self.database.path

    def check_open(self) -> None:
        """Raises :class:`~dynafile.errors.ClosedError` once the database is
        closed, :class:`~dynafile.errors.TableNotFoundError` once the table
        was deleted (:class:`~dynafile.errors.ForkedProcessError` in a child
        process forked after it was opened)."""
        self.engine.check_usable()
        if self._detached:
            raise _not_found(self._schema.name)

    def now(self) -> float:
        """The current time, by the database's clock."""
        return self.database.clock()

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
            raise ValidationError("The provided key element does not match the schema",
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
        from .expressions import compile_update  # on first use: a get needs no expressions

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
        limit = self.database.max_item_size
        if self._strict_types:
            item, size = validate_sized_item(item, key_attributes=self._key_names)
            if size > limit:
                raise ItemTooLargeError(size, limit)
            return item, self._dumps(item)
        for name in item:
            if not isinstance(name, str) or not name:
                raise ValidationError(f"attribute names must be non-empty strings, got {name!r}",
                                      attribute="item")
        plain = item if item.__class__ is dict else dict(item)
        data = self._dumps(plain)
        if len(data) > limit:
            raise ItemTooLargeError(len(data), limit)
        return plain, data  # type: ignore[return-value]

    def dump(self, item: Mapping[str, Any]) -> bytes:
        """The bytes of :meth:`prepare_item` (an update's result, checked the same way).

        Raises:
            as :meth:`prepare_item`, with DynamoDB's message for an update's
            result over the size limit.
        """
        try:
            return self.prepare_item(item)[1]
        except ItemTooLargeError as exc:
            raise ItemTooLargeError(exc.size, exc.limit, update=True) from None

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

    def visible(self, data: bytes | None, now: float | None = None,
                key: tuple[Any, Any] | None = None) -> Item | None:
        """The item in ``data`` as readers see it: ``None`` when absent or
        expired. ``key``: the normalised key ``data`` was read under (checked
        against the item where the serializer can, see ``load_at``)."""
        if data is None:
            return None
        if key is not None and self._load_at is not None:
            item = self._load_at(data, *key)
        else:
            item = self._load_stored(data)
        if self.hides_expired and is_expired(item, self._schema.ttl_attribute,
                                             self.now() if now is None else now):
            return None
        return item  # type: ignore[no-any-return]

    # -------------------------------------------------------------- reads

    @contextmanager
    def reading(self) -> Iterator[Engine]:
        """Hold the thread lock, caught up with every process's writes, and
        give the engine to read collections from.

        Raises:
            ClosedError / TableNotFoundError: see :meth:`check_open`.
        """
        with self.database.reading() as engine:
            self.check_open()
            yield engine

    def get(self, npk: Any, nsk: Any) -> Item | None:
        """The visible item under a normalised key, or ``None``.

        Cost: O(log n) when the collection is cached, one ``fstat``.
        """
        engine = self.engine
        engine.check_usable()  # before the thread lock: a fork may have copied it held
        with engine.lock.thread_lock:
            self.database.refresh()
            if self._detached:
                raise _not_found(self._schema.name)
            items = engine.collection(engine.digest(npk), npk, self._schema.space).items
            data = items.get(nsk)
            if data is None:
                return None
            item = (self._load_stored(data) if self._load_at is None
                    else self._load_at(data, npk, nsk))
            if data.__class__ is not bytes:
                keep_checked(items, nsk, data)
        if self.hides_expired and is_expired(item, self._schema.ttl_attribute, self.now()):
            return None
        return item  # type: ignore[no-any-return]

    def get_many(self, keys: Sequence[tuple[Any, Any]]) -> list[Item | None]:
        """:meth:`get` for each normalised key, all read between two writes."""
        with self.reading() as engine:
            space = self._schema.space
            found = [engine.collection(engine.digest(npk), npk, space).items.get(nsk)
                     for npk, nsk in keys]
        now = self.now()
        if self._load_at is not None:
            return [self.visible(data, now, key) for data, key in zip(found, keys)]
        return [self.visible(data, now) for data in found]

    def stored(self, npk: Any, nsk: Any) -> bytes | None:
        """The bytes stored under a normalised key. Call with the lock held,
        caught up (inside :meth:`write`'s build, or :meth:`reading`)."""
        return self.items_of(npk).get(nsk)

    def items_of(self, npk: Any) -> Mapping[Any, bytes]:
        """The stored bytes by sort key of item collection ``npk`` (same
        conditions as :meth:`stored`)."""
        engine = self.engine
        return engine.collection(engine.digest(npk), npk,  # type: ignore[no-any-return]
                                 self._schema.space).items

    def each_partition(self, space: str | None = None
                       ) -> Iterator[tuple[Any, list[tuple[Any, bytes]]]]:
        """Yield ``(partition key, [(sort key, bytes), ...])`` for every item
        collection of the table (or of ``space``), each read as one snapshot.
        O(table)."""
        self.check_open()
        for _, collection in self.engine.scan(space or self._schema.space):
            yield collection.pk, list(collection.items.items())

    def log_position(self) -> LogPosition:
        """Where the log ends, as far as every process committed."""
        return self.database.log_position()

    # ------------------------------------------------------------- writes

    @property
    def indexed(self) -> bool:
        """Whether the table has secondary indexes."""
        return bool(self._indexes)

    def index_ops(self, changes: Sequence[Change]) -> list[Op]:
        """The index operations of ``changes`` (see :meth:`IndexSet.derive`)."""
        return self._indexes.derive(changes, self._types)

    def write(self, build: Callable[[], tuple[list[Op], R]]) -> R:
        """Commit one record (see :meth:`DatabaseCore.write`).

        Raises:
            as :meth:`DatabaseCore.write`; TableNotFoundError when the table
            was deleted.
        """
        self.check_open()

        def checked() -> tuple[list[Op], R]:
            if self._detached:
                raise _not_found(self._schema.name)
            return build()

        return self.database.write(checked)

    def commit(self, writes: Sequence[Write], *, now: float | None = None,
               atomic: bool = False, outcomes: bool = True) -> list[Outcome]:
        """Carry out ``writes`` as one record (see
        :func:`dynafile.writes.prepare_records`) and return their outcomes
        (none with ``outcomes=False``).

        Raises:
            as :func:`~dynafile.writes.prepare_records` and :meth:`write`.
        """
        when = self.now() if now is None else now
        return self.write(lambda: prepare_records([(self, w) for w in writes], now=when,
                                                  atomic=atomic, outcomes=outcomes))

    # ------------------------------------------------------- housekeeping

    @property
    def events(self) -> Listeners:
        """Listeners of :class:`~dynafile.listeners.Event`."""
        return self.delivery.events

    @property
    def records(self) -> Listeners:
        """Listeners of :class:`~dynafile.records.StreamRecord`."""
        return self.delivery.records

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        return self.database.checkpoint()
