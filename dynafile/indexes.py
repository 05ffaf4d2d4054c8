"""Secondary indexes: definitions, and the operations that keep them current.

An index is a *space* of partitions beside the table's: a global secondary
index ``g:<name>`` lives under ``_gsi-<name>/_partitions/<digest>/``, a local
one ``l:<name>`` beside its base partition as ``lsi-<name>.pickle``. Each
index entry is keyed by a tuple that makes it unique and sorted by the
index sort key:

* GSI with a sort key: ``(index sk, table pk, table sk)``;
* GSI without a sort key: ``(table pk, table sk)``;
* LSI: ``(index sk, table sk)``.

Index changes are derived from each write's old and new images under the
write lock and committed in the same log record as the write, so an index
never disagrees with its table, even after a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Callable

from .errors import ValidationError
from .keys import check_key_value, normalize_key
from .storage.log import Op

__all__ = ["GSI", "LSI", "PROJECTIONS", "IndexSet"]

PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > 255 or not all(
            c.isalnum() or c in "_-." for c in name):
        raise ValidationError("index names are 1-255 characters of letters, digits, '_', '-', '.'",
                              attribute="name")
    return name


def _check_attr(value: Any, attribute: str, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError("must be a non-empty attribute name", attribute=attribute)
    return value


class _Index:
    kind = ""

    def __init__(self, name: str, pk_attribute: str | None, sk_attribute: str | None,
                 projection: str, include: Sequence[str] | None) -> None:
        self.name = _check_name(name)
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

    @property
    def space(self) -> str:
        return f"{self.kind}:{self.name}"

    def definition(self) -> dict[str, Any]:
        """Return the JSON form stored in ``meta.json`` (without state)."""
        return {"pk_attribute": self.pk_attribute, "sk_attribute": self.sk_attribute,
                "projection": self.projection, "include": list(self.include)}

    def __eq__(self, other: object) -> bool:
        return (type(self) is type(other) and self.name == other.name  # type: ignore[attr-defined]
                and self.definition() == other.definition())  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.definition()})"


class GSI(_Index):
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

    kind = "g"

    def __init__(self, name: str, pk_attribute: str, sk_attribute: str | None = None,
                 projection: str = "ALL", include: Sequence[str] | None = None) -> None:
        super().__init__(name, _check_attr(pk_attribute, "pk_attribute", False),
                         _check_attr(sk_attribute, "sk_attribute", True), projection, include)


class LSI(_Index):
    """A local secondary index: the table's partition key, another sort key.

    Declared when the table is created. Arguments as for :class:`GSI`.
    """

    kind = "l"

    def __init__(self, name: str, sk_attribute: str, projection: str = "ALL",
                 include: Sequence[str] | None = None) -> None:
        super().__init__(name, None, _check_attr(sk_attribute, "sk_attribute", False),
                         projection, include)


def index_from_json(kind: str, name: str, data: dict[str, Any]) -> _Index:
    """Rebuild an index definition from ``meta.json``."""
    if kind == "g":
        return GSI(name, data["pk_attribute"], data.get("sk_attribute"),
                   data.get("projection", "ALL"), data.get("include") or None)
    return LSI(name, data["sk_attribute"], data.get("projection", "ALL"),
               data.get("include") or None)


class IndexSet:
    """The live indexes of a table, and the derivation of their operations."""

    def __init__(self, table_pk: str, table_sk: str | None, indexes: Iterable[_Index],
                 dumps: Callable[[Any], bytes], loads: Callable[[bytes], Any],
                 key_types: Callable[[], dict[str, str | None]],
                 fix_types: Callable[..., None]) -> None:
        self.table_pk = table_pk
        self.table_sk = table_sk
        self.indexes = {index.name: index for index in indexes}
        self._dumps = dumps
        self._loads = loads
        self._key_types = key_types
        self._fix_types = fix_types

    def __bool__(self) -> bool:
        return bool(self.indexes)

    def entry_key(self, index: _Index, item: dict[str, Any] | None, pk: Any,
                  sk: Any) -> tuple[Any, tuple[Any, ...]] | None:
        """Return ``(index pk, index sort tuple)`` of an item, or ``None`` when
        the item is absent or lacks the index's key attributes.

        Raises:
            ValidationError: an index key attribute holds a value of a type
                keys cannot have, or another type than the one fixed for it.
        """
        if item is None:
            return None
        types = self._key_types()
        if index.kind == "g":
            if index.pk_attribute not in item:
                return None
            ipk = item[index.pk_attribute]
            check_key_value(index.pk_attribute, ipk, types.get(index.pk_attribute))
            ipk = normalize_key(ipk)
            if index.sk_attribute is None:
                return ipk, (pk, sk)
            if index.sk_attribute not in item:
                return None
            isk = item[index.sk_attribute]
            check_key_value(index.sk_attribute, isk, types.get(index.sk_attribute))
            return ipk, (normalize_key(isk), pk, sk)
        if index.sk_attribute not in item:
            return None
        isk = item[index.sk_attribute]
        check_key_value(index.sk_attribute, isk, types.get(index.sk_attribute))
        return pk, (normalize_key(isk), sk)

    def key_attributes(self, index: _Index) -> tuple[str, ...]:
        names = [self.table_pk]
        if self.table_sk is not None:
            names.append(self.table_sk)
        for name in (index.pk_attribute, index.sk_attribute):
            if name is not None and name not in names:
                names.append(name)
        return tuple(names)

    def project(self, index: _Index, item: dict[str, Any], raw: bytes) -> bytes:
        """Return the stored bytes of an item's entry in ``index``."""
        if index.projection == "ALL":
            return raw
        names = self.key_attributes(index) + index.include
        return self._dumps({name: item[name] for name in names if name in item})

    def fix_types(self, item: dict[str, Any]) -> None:
        """Fix the type of each index key attribute the item carries, on first use."""
        pairs = []
        types = self._key_types()
        for index in self.indexes.values():
            for name in (index.pk_attribute, index.sk_attribute):
                if name is not None and name in item and types.get(name) is None:
                    pairs.append((name, item[name]))
        if pairs:
            self._fix_types(*pairs)

    def derive(self, ops: list[Op]) -> list[Op]:
        """Return the index operations that the table operations ``ops`` cause."""
        extra: list[Op] = []
        loads = self._loads
        for op in ops:
            if op.space:
                continue
            old = loads(op.old) if op.old is not None else None
            new = loads(op.new) if op.new is not None else None
            if new is not None:
                self.fix_types(new)
            for index in self.indexes.values():
                extra.extend(self._entry_ops(index, op, old, new))
        return extra

    def _entry_ops(self, index: _Index, op: Op, old: dict[str, Any] | None,
                   new: dict[str, Any] | None) -> list[Op]:
        old_key = self.entry_key(index, old, op.pk, op.sk)
        new_key = self.entry_key(index, new, op.pk, op.sk)
        out = []
        if old_key is not None and old_key != new_key:
            out.append(Op(old_key[0], old_key[1], None, None, 0, index.space))
        if new_key is not None and new is not None and op.new is not None:
            out.append(Op(new_key[0], new_key[1], self.project(index, new, op.new), None, 0,
                          index.space))
        return out

    def backfill_ops(self, index: _Index, pk: Any, pairs: Iterable[tuple[Any, bytes]]) -> list[Op]:
        """Return the operations that put each of a partition's items into ``index``."""
        out = []
        for sk, raw in pairs:
            item = self._loads(raw)
            self.fix_types(item)
            key = self.entry_key(index, item, pk, sk)
            if key is not None:
                out.append(Op(key[0], key[1], self.project(index, item, raw), None, 0,
                              index.space))
        return out

    def lek(self, index: _Index, ipk: Any, entry: tuple[Any, ...]) -> dict[str, Any]:
        """Return the last-evaluated-key dict of an index entry."""
        key: dict[str, Any] = {}
        if index.kind == "g":
            key[index.pk_attribute] = ipk  # type: ignore[index]
            if index.sk_attribute is not None:
                key[index.sk_attribute] = entry[0]
                entry = entry[1:]
            key[self.table_pk] = entry[0]
            if self.table_sk is not None:
                key[self.table_sk] = entry[1]
            return key
        key[self.table_pk] = ipk
        key[index.sk_attribute] = entry[0]  # type: ignore[index]
        if self.table_sk is not None:
            key[self.table_sk] = entry[1]
        return key

    def start_entry(self, index: _Index, key: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
        """Return ``(index pk, entry tuple)`` from an ``exclusive_start_key``.

        Raises:
            ValidationError: the key lacks an attribute the index needs.
        """
        try:
            table_pk = normalize_key(key[self.table_pk])
            table_sk = normalize_key(key[self.table_sk]) if self.table_sk is not None else ""
            if index.kind == "g":
                ipk = normalize_key(key[index.pk_attribute])  # type: ignore[index]
                if index.sk_attribute is None:
                    return ipk, (table_pk, table_sk)
                return ipk, (normalize_key(key[index.sk_attribute]), table_pk, table_sk)
            return table_pk, (normalize_key(key[index.sk_attribute]), table_sk)  # type: ignore[index]
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"exclusive_start_key lacks {exc} for index {index.name}",
                                  attribute="exclusive_start_key") from None
