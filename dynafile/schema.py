"""``meta.json``: the catalog of a database's tables and their schemas.

For each table it records the table's id, the key attributes, the type each
key attribute was fixed to on first use, the serializer, the TTL attribute
and mode, the stream view type, the secondary indexes (each with an id) and
the tags; for the database, the format version. It is written atomically,
only under the database's exclusive lock.

Every stored property belongs to the table, not to whoever opens it: an
opener that leaves one out gets the stored value, one that asks for another
value gets :class:`~dynafile.errors.SchemaMismatchError`, and changing one
is an explicit operation (``update_time_to_live``, ``update_table``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from .errors import CorruptFileError, SchemaMismatchError, UnsupportedFormatError
from .keys import check_key_value
from .storage import fs
from .storage.layout import index_space, table_space

__all__ = ["FORMAT_VERSION", "PROPERTIES", "TTL_MODES", "Catalog", "KeyTypes", "Schema"]

FORMAT_VERSION = 2

#: The table properties an opener may name, and what to change them with.
PROPERTIES = {
    "pk_attribute": "nothing (the key schema is fixed when the table is created)",
    "sk_attribute": "nothing (the key schema is fixed when the table is created)",
    "serializer": "nothing (the serializer is fixed when the table is created)",
    "ttl_attribute": "update_time_to_live()",
    "stream_view_type": "update_table(stream_view_type=...)",
    "ttl_mode": "update_table(ttl_mode=...)",
    "lsis": "nothing (local indexes are fixed when the table is created)",
}
_DEFAULT_VIEW = "NEW_AND_OLD_IMAGES"
#: How a table treats expired items: ``"hide"`` (the original dynafile's: every
#: read hides them, every write treats them as absent) or ``"dynamodb"``
#: (DynamoDB's: they stay until the sweep deletes them).
TTL_MODES = ("hide", "dynamodb")


class Schema:
    """One table's entry in the catalog.

    Attributes:
        name: the table's name.
        table_id: its id (names the table's spaces; a table deleted and
            created again under the same name gets a new id).
        pk_attribute / sk_attribute: the key attributes (``sk_attribute``
            ``None`` for a table keyed by partition key alone).
        serializer: the serializer's name.
        key_types: attribute -> ``"S"``, ``"N"``, ``"B"`` or ``None`` (not
            fixed yet), for the key attributes of the table and its indexes.
        ttl_attribute: the TTL attribute, or ``None``.
        ttl_mode: ``"hide"`` or ``"dynamodb"`` (see :data:`TTL_MODES`).
        stream_view_type: the view type of change records, or ``None`` when
            no opener has set it (``NEW_AND_OLD_IMAGES`` then applies).
        gsis / lsis: index name -> JSON definition with its ``id`` (GSIs
            also carry ``state``).
        tags: the table's tags.
        properties: other settings an application keeps with the table (a
            JSON object; the DynamoDB server keeps its API-only settings here).
        created: when it was created (epoch seconds).
        next_index_id: the id the next index gets.
    """

    def __init__(
        self,
        pk_attribute: str,
        sk_attribute: str | None,
        serializer: str = "pickle",
        key_types: Mapping[str, str | None] | None = None,
        ttl_attribute: str | None = None,
        stream_view_type: str | None = None,
        gsis: Mapping[str, dict[str, Any]] | None = None,
        lsis: Mapping[str, dict[str, Any]] | None = None,
        ttl_mode: str = "hide",
        *,
        name: str = "",
        table_id: int = 0,
        tags: Mapping[str, str] | None = None,
        created: float | None = None,
        next_index_id: int = 1,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.table_id = table_id
        self.pk_attribute = pk_attribute
        self.sk_attribute = sk_attribute
        self.serializer = serializer
        self.key_types: dict[str, str | None] = dict(key_types or {})
        self.key_types.setdefault(pk_attribute, None)
        if sk_attribute is not None:
            self.key_types.setdefault(sk_attribute, None)
        self.ttl_attribute = ttl_attribute
        self.stream_view_type = stream_view_type
        self.ttl_mode = ttl_mode
        self.gsis: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (gsis or {}).items()}
        self.lsis: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (lsis or {}).items()}
        self.tags: dict[str, str] = dict(tags or {})
        self.created = time.time() if created is None else created
        self.next_index_id = next_index_id
        self.properties: dict[str, Any] = dict(properties or {})
        for section in (self.lsis, self.gsis):
            for definition in section.values():
                if "id" not in definition:
                    definition["id"] = self.next_index_id
                    self.next_index_id += 1

    @property
    def view_type(self) -> str:
        """The stream view type in force (the default when none was stored)."""
        return self.stream_view_type or _DEFAULT_VIEW

    @property
    def space(self) -> str:
        """The space of the table's items."""
        return table_space(self.table_id)

    def index_space(self, definition: Mapping[str, Any]) -> str:
        """The space of an index of this table, from its catalog definition."""
        return index_space(self.table_id, int(definition["id"]))

    def spaces(self) -> set[str]:
        """The spaces of the table and every index of it."""
        return {self.space} | {self.index_space(d) for section in (self.gsis, self.lsis)
                               for d in section.values()}

    def add_gsi(self, name: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        """Record a global index (``CREATING``) with a new id; return its entry."""
        entry = {**definition, "state": "CREATING", "id": self.next_index_id}
        self.next_index_id += 1
        self.gsis[name] = entry
        return entry

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the table's catalog entry."""
        data: dict[str, Any] = {
            "id": self.table_id,
            "pk_attribute": self.pk_attribute,
            "sk_attribute": self.sk_attribute,
            "key_types": self.key_types,
            "serializer": self.serializer,
            "ttl_attribute": self.ttl_attribute,
            "ttl_mode": self.ttl_mode,
            "gsis": self.gsis,
            "lsis": self.lsis,
            "tags": self.tags,
            "created": self.created,
            "next_index_id": self.next_index_id,
        }
        if self.properties:
            data["properties"] = self.properties
        if self.stream_view_type is not None:
            data["stream_view_type"] = self.stream_view_type
        return data

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> Schema:
        """Rebuild a table's schema from its catalog entry (shape checked by
        :meth:`Catalog.read`)."""
        return cls(data["pk_attribute"], data["sk_attribute"], data.get("serializer", "pickle"),
                   data.get("key_types") or {}, data.get("ttl_attribute"),
                   data.get("stream_view_type"), data.get("gsis") or {}, data.get("lsis") or {},
                   data.get("ttl_mode", "hide"), name=name, table_id=data["id"],
                   tags=data.get("tags") or {}, created=data.get("created"),
                   next_index_id=data.get("next_index_id", 1),
                   properties=data.get("properties") or {})

    def stored(self, name: str) -> Any:
        """The stored value of table property ``name`` (see :data:`PROPERTIES`)."""
        if name == "stream_view_type":
            return self.view_type
        if name == "lsis":
            return {n: _definition(d) for n, d in self.lsis.items()}
        return getattr(self, name)

    def reconcile(self, requested: Mapping[str, Any]) -> bool:
        """Check an opener's properties against the stored ones.

        ``requested`` holds only the properties the opener named. A
        ``stream_view_type`` the table has never recorded is recorded now
        (returns ``True``: the caller writes ``meta.json``).

        Raises:
            SchemaMismatchError: a named property differs from the stored
                one; the message says what to change it with.
        """
        changed = False
        for name, value in requested.items():
            if name == "stream_view_type" and self.stream_view_type is None:
                self.stream_view_type = value
                changed = True
                continue
            stored = self.stored(name)
            if value == stored:
                continue
            if name == "lsis":
                raise SchemaMismatchError(
                    f"table has local indexes {sorted(stored)} as created; LSIs cannot be "
                    f"added, changed or removed later")
            if name in ("pk_attribute", "sk_attribute"):
                raise SchemaMismatchError(
                    f"table has keys ({self.pk_attribute!r}, {self.sk_attribute!r}), opened "
                    f"with {name}={value!r}")
            if name == "serializer":
                raise SchemaMismatchError(
                    f"table was written with serializer {stored!r}, opened with {value!r}")
            raise SchemaMismatchError(
                f"table's {name} is {stored!r}, opened with {value!r}; omit it to use the "
                f"table's, or change it with {PROPERTIES[name]}")
        return changed


def _definition(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An index's definition without its id and state (what an opener names)."""
    return {k: v for k, v in entry.items() if k not in ("id", "state")}


class Catalog:
    """The content of ``meta.json``: every table of the database.

    Attributes:
        tables: table name -> :class:`Schema`.
        dropped: table id -> ``{"name", "pk_attribute", "sk_attribute"}`` of
            deleted tables, so change streams can still name their records.
        next_table_id: the id the next table gets.
    """

    def __init__(self, tables: Mapping[str, Schema] | None = None,
                 dropped: Mapping[int, Mapping[str, Any]] | None = None,
                 next_table_id: int = 1) -> None:
        self.tables: dict[str, Schema] = dict(tables or {})
        self.dropped: dict[int, dict[str, Any]] = {int(k): dict(v)
                                                   for k, v in (dropped or {}).items()}
        self.next_table_id = next_table_id

    def by_id(self) -> dict[int, Schema]:
        """Tables by id."""
        return {schema.table_id: schema for schema in self.tables.values()}

    def add(self, schema: Schema) -> Schema:
        """Give ``schema`` a new id and record it under its name."""
        schema.table_id = self.next_table_id
        self.next_table_id += 1
        self.tables[schema.name] = schema
        return schema

    def remove(self, name: str) -> Schema:
        """Remove table ``name``, keeping what streams need to name its records."""
        schema = self.tables.pop(name)
        self.dropped[schema.table_id] = {"name": name, "pk_attribute": schema.pk_attribute,
                                         "sk_attribute": schema.sk_attribute,
                                         "serializer": schema.serializer}
        return schema

    def spaces(self) -> set[str]:
        """The spaces of every table and index."""
        return {space for schema in self.tables.values() for space in schema.spaces()}

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``meta.json`` holds."""
        return {"format_version": FORMAT_VERSION, "next_table_id": self.next_table_id,
                "tables": {name: schema.to_json() for name, schema in self.tables.items()},
                "dropped": {str(k): v for k, v in self.dropped.items()}}

    def write(self, path: str) -> None:
        """Replace the file ``path`` atomically with this catalog."""
        data = json.dumps(self.to_json(), indent=2, sort_keys=True).encode()
        fs.atomic_write_bytes(path, data)

    @classmethod
    def read(cls, path: str) -> Catalog | None:
        """Return the catalog stored in the file ``path``, or ``None`` when there is none.

        Raises:
            CorruptFileError: not valid JSON of the right shape (names the file).
            UnsupportedFormatError: a format version this release does not
                read (``version`` holds it: 1 is a table to migrate).
        """
        data = read_json(path)
        if data is None:
            return None
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise UnsupportedFormatError(
                f"{path}: format version {version!r} is not supported "
                f"(this dynafile reads version {FORMAT_VERSION})", version=version)
        problem = _catalog_problem(data)
        if problem:
            raise CorruptFileError(path, 0, f"meta.json has the wrong shape: {problem}")
        tables = {name: Schema.from_json(name, entry) for name, entry in data["tables"].items()}
        return cls(tables, data.get("dropped") or {}, data["next_table_id"])


def read_json(path: str) -> dict[str, Any] | None:
    """The JSON object in file ``path`` (``None`` when there is no file).

    Raises:
        CorruptFileError: not a JSON object (names the file).
    """
    try:
        raw = fs.read_file(path)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")  # noqa: TRY004 - reported as invalid JSON
    except ValueError as exc:
        raise CorruptFileError(path, 0, f"meta.json is not valid JSON: {exc}") from None
    return data


class KeyTypes:
    """The type of each key attribute: those ``meta.json`` fixes, plus those a
    write being prepared uses for the first time (``pending``; written to
    ``meta.json`` just before that write's record, so a write that fails
    fixes nothing)."""

    def __init__(self, fixed: dict[str, str | None]) -> None:
        self.fixed = fixed
        self.pending: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        """The type fixed (or pending) for ``name``, or ``None``."""
        return self.fixed.get(name) or self.pending.get(name)

    def check(self, name: str, value: Any, *, sort: bool = False) -> None:
        """Validate ``value`` as a key of attribute ``name`` (a sort key when
        ``sort``); a first use fixes the type (pending).

        Raises:
            ValidationError: not a valid key value, or another type than the
                one fixed for ``name``.
        """
        known = self.fixed.get(name) or self.pending.get(name)
        code = check_key_value(name, value, known, sort=sort)
        if known is None:
            self.pending[name] = code


def _catalog_problem(data: dict[str, Any]) -> str:
    """What is wrong with a ``meta.json`` catalog's shape, or ``""``."""
    if type(data.get("next_table_id")) is not int or data["next_table_id"] < 1:
        return "next_table_id is not a positive integer"
    tables = data.get("tables")
    if not isinstance(tables, dict):
        return "tables is not an object"
    dropped = data.get("dropped") or {}
    if not isinstance(dropped, dict) or not all(
            isinstance(k, str) and k.isdigit() and isinstance(v, dict) for k, v in dropped.items()):
        return "dropped is not an object of table id -> entry"
    ids = set()
    for name, entry in tables.items():
        if not isinstance(entry, dict):
            return f"table {name!r} is not an object"
        problem = _schema_problem(entry)
        if problem:
            return f"table {name!r}: {problem}"
        if entry["id"] in ids or entry["id"] >= data["next_table_id"]:
            return f"table {name!r} has a repeated or impossible id {entry['id']}"
        ids.add(entry["id"])
    return ""


def _schema_problem(data: dict[str, Any]) -> str:
    """What is wrong with one table entry's shape, or ``""``."""
    if type(data.get("id")) is not int or data["id"] < 1:
        return "id is not a positive integer"
    if not isinstance(data.get("pk_attribute"), str) or not data["pk_attribute"]:
        return "pk_attribute is not a non-empty string"
    if "sk_attribute" not in data or not (data["sk_attribute"] is None
                                          or isinstance(data["sk_attribute"], str)):
        return "sk_attribute is not a string or null"
    if data["sk_attribute"] == data["pk_attribute"]:
        return "sk_attribute is the pk_attribute"
    key_types = data.get("key_types") or {}
    if not isinstance(key_types, dict) or not all(
            isinstance(k, str) and v in (None, "S", "N", "B") for k, v in key_types.items()):
        return "key_types is not an object of attribute -> S, N, B or null"
    for name in ("serializer", "ttl_attribute", "stream_view_type"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} is not a string"
    if data.get("ttl_mode", "hide") not in TTL_MODES:
        return f"ttl_mode is not one of {', '.join(TTL_MODES)}"
    if not isinstance(data.get("properties") or {}, dict):
        return "properties is not an object"
    tags = data.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in tags.items()):
        return "tags is not an object of strings"
    ids = set()
    for kind, needed in (("gsis", "pk_attribute"), ("lsis", "sk_attribute")):
        indexes = data.get(kind, {})
        if not isinstance(indexes, dict):
            return f"{kind} is not an object"
        for name, definition in indexes.items():
            if not isinstance(definition, dict) or not isinstance(definition.get(needed), str):
                return f"{kind}[{name!r}] is not an index definition with {needed}"
            if not isinstance(definition.get("include", []), list):
                return f"{kind}[{name!r}] has an include that is not a list"
            if type(definition.get("id")) is not int or definition["id"] in ids:
                return f"{kind}[{name!r}] has a missing or repeated id"
            ids.add(definition["id"])
    if type(data.get("next_index_id", 1)) is not int or data.get("next_index_id", 1) <= max(
            ids, default=0):
        return "next_index_id is not above every index id"
    return ""
