"""Secondary indexes: definitions, and the operations that keep them current.

An index is a *space* of partitions beside the table's (see
:mod:`dynafile.storage.layout`). Each index entry is keyed by a tuple that
makes it unique and sorted by the index sort key:

* GSI with a sort key: ``(index sk, table pk, table sk)``;
* GSI without a sort key: ``(table pk, table sk)``;
* LSI: ``(index sk, table sk)``.

Each kind of index is a class (:class:`GSI`, :class:`LSI`) that knows its
own entry keys, pagination keys and place; :class:`IndexSet` derives each
write's index operations from the images it replaced and wrote, under the
write lock, so they go into the same log record: an index never disagrees
with its table, even after a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable, ClassVar, NamedTuple

from .errors import ValidationError
from .keys import normalize_key
from .schema import KeyTypes
from .storage.log import Op

__all__ = ["GSI", "LSI", "PROJECTIONS", "Change", "Index", "IndexSet", "index_from_json"]

PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")

Item = dict[str, Any]
EntryKey = tuple[Any, tuple[Any, ...]]


#: DynamoDB's rule for index names.
INDEX_NAME = re.compile(r"[A-Za-z0-9_.\-]{3,255}")
#: What dynafile 0.2 accepted (1-255 letters, digits, '_', '-', '.'): an index
#: of a table it made still loads, but a new index follows DynamoDB's rule.
_LEGACY_NAME = re.compile(r"[\w.\-]{1,255}")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not INDEX_NAME.fullmatch(name):
        shown = name if isinstance(name, str) else repr(name)
        raise ValidationError(
            f"1 validation error detected: Value '{shown}' at 'indexName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ "
            "and have length between 3 and 255", attribute="name")
    return name


def _check_attr(value: Any, attribute: str, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError("must be a non-empty attribute name", attribute=attribute)
    return value


class Index:
    """What every kind of secondary index has: a name, key attributes, a
    projection, and a space of partitions.

    Subclasses say where entries go (:meth:`entry_key`) and how a page's
    last key maps to and from an entry (:meth:`last_key`, :meth:`start_entry`).
    """

    #: The ``meta.json`` section holding this kind's definitions.
    section: ClassVar[str] = ""
    #: DynamoDB's name for the kind.
    kind_name: ClassVar[str] = ""

    def __init__(self, name: str, pk_attribute: str | None, sk_attribute: str | None,
                 projection: str, include: Sequence[str] | None) -> None:
        self.name = _check_name(name)
        #: The space of this index's partitions, once it belongs to a table.
        self.space = ""
        self.pk_attribute = pk_attribute
        self.sk_attribute = sk_attribute
        if projection not in PROJECTIONS:
            raise ValidationError(f"must be one of {', '.join(PROJECTIONS)}",
                                  attribute="projection")
        self.projection = projection
        if projection == "INCLUDE":
            if not include or isinstance(include, str) or not all(
                    isinstance(a, str) and a for a in include):
                raise ValidationError("INCLUDE needs a list of attribute names",
                                      attribute="include")
            self.include: tuple[str, ...] = tuple(include)
        elif include:
            raise ValidationError("include is only for projection='INCLUDE'", attribute="include")
        else:
            self.include = ()

    def partition_attribute(self, table_pk: str) -> str:
        """The attribute a query of this index names as its partition key."""
        raise NotImplementedError

    def entry_key(self, item: Item, pk: Any, sk: Any, types: KeyTypes) -> EntryKey | None:
        """Return ``(index pk, entry tuple)`` of a table item stored under
        ``(pk, sk)`` (normalised), or ``None`` when the item lacks the
        index's key attributes (sparse indexes). Checks (and on first use
        fixes) the index key attributes' types through ``types``.

        Raises:
            ValidationError: an index key attribute holds a value of a type
                keys cannot have, or another type than the one fixed for it.
        """
        raise NotImplementedError

    def last_key(self, ipk: Any, entry: tuple[Any, ...], table_pk: str,
                 table_sk: str | None) -> Item:
        """The ``last_evaluated_key`` of an index entry (index and table keys)."""
        raise NotImplementedError

    def start_entry(self, key: Mapping[str, Any], table_pk: str,
                    table_sk: str | None) -> EntryKey:
        """Return ``(index pk, entry tuple)`` of an ``exclusive_start_key``.

        Raises:
            ValidationError: the key lacks an attribute the index needs.
        """
        raise NotImplementedError

    def key_attributes(self, table_pk: str, table_sk: str | None) -> tuple[str, ...]:
        """The attributes every entry holds: the table's keys and the index's."""
        names = [table_pk]
        if table_sk is not None:
            names.append(table_sk)
        for name in (self.pk_attribute, self.sk_attribute):
            if name is not None and name not in names:
                names.append(name)
        return tuple(names)

    def definition(self) -> dict[str, Any]:
        """Return the JSON form stored in ``meta.json`` (without state)."""
        return {"pk_attribute": self.pk_attribute, "sk_attribute": self.sk_attribute,
                "projection": self.projection, "include": list(self.include)}

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> Index:
        """Rebuild a definition of this kind from its ``meta.json`` form."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return (type(self) is type(other) and isinstance(other, Index)
                and self.name == other.name and self.definition() == other.definition())

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.definition()})"

    def _key(self, item: Item, name: str | None, types: KeyTypes) -> Any:
        """The normalised value of key attribute ``name`` (``None`` when absent)."""
        if name is None or name not in item:
            return None
        value = item[name]
        types.check(name, value, sort=name == self.sk_attribute)
        return normalize_key(value)


class GSI(Index):
    """A global secondary index: another partition key (and optional sort key).

    Args:
        name: the index name.
        pk_attribute: the attribute whose value is the index partition key.
        sk_attribute: the index sort key attribute, or ``None``.
        projection: ``"ALL"`` (whole items), ``"KEYS_ONLY"`` (table and index
            keys) or ``"INCLUDE"`` (keys plus ``include``).
        include: attribute names projected with ``"INCLUDE"``.

    Items without the index key attributes are not in the index (sparse).
    """

    section = "gsis"
    kind_name = "GSI"

    def __init__(self, name: str, pk_attribute: str, sk_attribute: str | None = None,
                 projection: str = "ALL", include: Sequence[str] | None = None) -> None:
        super().__init__(name, _check_attr(pk_attribute, "pk_attribute", False),
                         _check_attr(sk_attribute, "sk_attribute", True), projection, include)

    def partition_attribute(self, table_pk: str) -> str:
        return self.pk_attribute  # type: ignore[return-value]

    def entry_key(self, item: Item, pk: Any, sk: Any, types: KeyTypes) -> EntryKey | None:
        ipk = self._key(item, self.pk_attribute, types)
        isk = self._key(item, self.sk_attribute, types)
        if ipk is None:
            return None
        if self.sk_attribute is None:
            return ipk, (pk, sk)
        if isk is None:
            return None
        return ipk, (isk, pk, sk)

    def last_key(self, ipk: Any, entry: tuple[Any, ...], table_pk: str,
                 table_sk: str | None) -> Item:
        key: Item = {self.pk_attribute: ipk}  # type: ignore[dict-item]
        if self.sk_attribute is not None:
            key[self.sk_attribute] = entry[0]
            entry = entry[1:]
        key[table_pk] = entry[0]
        if table_sk is not None:
            key[table_sk] = entry[1]
        return key

    def start_entry(self, key: Mapping[str, Any], table_pk: str,
                    table_sk: str | None) -> EntryKey:
        try:
            pk = normalize_key(key[table_pk])
            sk = normalize_key(key[table_sk]) if table_sk is not None else ""
            ipk = normalize_key(key[self.pk_attribute])  # type: ignore[index]
            if self.sk_attribute is None:
                return ipk, (pk, sk)
            return ipk, (normalize_key(key[self.sk_attribute]), pk, sk)
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"exclusive_start_key lacks {exc} for index {self.name}",
                                  attribute="exclusive_start_key") from None

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> GSI:
        return cls(name, data["pk_attribute"], data.get("sk_attribute"),
                   data.get("projection", "ALL"), data.get("include") or None)


class LSI(Index):
    """A local secondary index: the table's partition key, another sort key.

    Declared when the table is created. Arguments as for :class:`GSI`.
    """

    section = "lsis"
    kind_name = "LSI"

    def __init__(self, name: str, sk_attribute: str, projection: str = "ALL",
                 include: Sequence[str] | None = None) -> None:
        super().__init__(name, None, _check_attr(sk_attribute, "sk_attribute", False),
                         projection, include)

    def partition_attribute(self, table_pk: str) -> str:
        return table_pk

    def entry_key(self, item: Item, pk: Any, sk: Any, types: KeyTypes) -> EntryKey | None:
        isk = self._key(item, self.sk_attribute, types)
        return None if isk is None else (pk, (isk, sk))

    def last_key(self, ipk: Any, entry: tuple[Any, ...], table_pk: str,
                 table_sk: str | None) -> Item:
        key: Item = {table_pk: ipk, self.sk_attribute: entry[0]}  # type: ignore[dict-item]
        if table_sk is not None:
            key[table_sk] = entry[1]
        return key

    def start_entry(self, key: Mapping[str, Any], table_pk: str,
                    table_sk: str | None) -> EntryKey:
        try:
            sk = normalize_key(key[table_sk]) if table_sk is not None else ""
            return normalize_key(key[table_pk]), (
                normalize_key(key[self.sk_attribute]), sk)  # type: ignore[index]
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"exclusive_start_key lacks {exc} for index {self.name}",
                                  attribute="exclusive_start_key") from None

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> LSI:
        return cls(name, data["sk_attribute"], data.get("projection", "ALL"),
                   data.get("include") or None)


#: Index kinds by their ``meta.json`` section.
KINDS: dict[str, type[Index]] = {GSI.section: GSI, LSI.section: LSI}


def index_from_json(section: str, name: str, data: Mapping[str, Any], space: str = "") -> Index:
    """Rebuild an index definition from its ``meta.json`` section and entry,
    in ``space`` (its table's :meth:`~dynafile.schema.Schema.index_space`).

    Raises:
        ValidationError: a malformed definition (an unknown section, not an
            object, a missing or mistyped field), whatever is wrong with it.
    """
    kind = KINDS.get(section)
    if kind is None:
        raise ValidationError(f"unknown index section {section!r}", attribute=section)
    if not isinstance(data, Mapping):
        raise ValidationError(f"the definition is a {type(data).__name__}, not an object",
                              attribute=name)
    include = data.get("include")
    if include is not None and not isinstance(include, list):
        raise ValidationError(f"include is a {type(include).__name__}, not a list of "
                              "attribute names", attribute="include")
    legacy = (isinstance(name, str) and not INDEX_NAME.fullmatch(name)
              and _LEGACY_NAME.fullmatch(name) is not None)
    try:
        index = kind.from_json("legacy" if legacy else name, data)
    except ValidationError:
        raise
    except KeyError as exc:
        raise ValidationError(f"the definition lacks {exc}", attribute=name) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(f"malformed definition: {exc}", attribute=name) from None
    index.space = space
    index.name = name  # a legacy name, or the one it was built with
    return index


class Change(NamedTuple):
    """One table item change, for index upkeep: the images replaced and written.

    ``old`` is the item the write actually replaced (expired or not), so its
    index entries go with it; ``new`` is ``None`` for a delete.
    """

    pk: Any
    sk: Any
    old: Item | None
    new: Item | None
    data: bytes | None


class IndexSet:
    """The live indexes of a table, and the operations that keep them current.

    Args:
        table_pk / table_sk: the table's key attributes.
        indexes: the index definitions.
        dumps: the serializer's ``dumps`` (for projected entries).
    """

    def __init__(self, table_pk: str, table_sk: str | None, indexes: Iterable[Index],
                 dumps: Callable[[Any], bytes]) -> None:
        self.table_pk = table_pk
        self.table_sk = table_sk
        self.indexes: dict[str, Index] = {index.name: index for index in indexes}
        self._dumps = dumps

    def __bool__(self) -> bool:
        return bool(self.indexes)

    def spaces(self) -> set[str]:
        """The spaces of the live indexes."""
        return {index.space for index in self.indexes.values()}

    def project(self, index: Index, item: Item, raw: bytes) -> bytes:
        """Return the stored bytes of an item's entry in ``index``."""
        if index.projection == "ALL":
            return raw
        names = index.key_attributes(self.table_pk, self.table_sk) + index.include
        return self._dumps({name: item[name] for name in names if name in item})

    def derive(self, changes: Iterable[Change], types: KeyTypes) -> list[Op]:
        """Return the index operations that ``changes`` cause, in order.

        Raises:
            ValidationError: a new image holds an index key of a type keys
                cannot have or another type than the one fixed for it.
        """
        out: list[Op] = []
        for change in changes:
            for index in self.indexes.values():
                old_key = (None if change.old is None
                           else index.entry_key(change.old, change.pk, change.sk, types))
                new_key = (None if change.new is None
                           else index.entry_key(change.new, change.pk, change.sk, types))
                if old_key is not None and old_key != new_key:
                    out.append(Op(old_key[0], old_key[1], None, None, 0, index.space))
                if new_key is not None and change.data is not None:
                    out.append(Op(new_key[0], new_key[1],
                                  self.project(index, change.new, change.data),  # type: ignore[arg-type]
                                  None, 0, index.space))
        return out

    def backfill(self, index: Index, pk: Any, items: Iterable[tuple[Any, Item, bytes]],
                 types: KeyTypes) -> list[Op]:
        """Return the operations that put a partition's items ``(sk, item,
        bytes)`` into ``index``.

        Raises:
            ValidationError: an item's index key cannot be a key value.
        """
        out = []
        for sk, item, raw in items:
            key = index.entry_key(item, pk, sk, types)
            if key is not None:
                out.append(Op(key[0], key[1], self.project(index, item, raw), None, 0,
                              index.space))
        return out

