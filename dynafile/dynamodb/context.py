"""What every operation needs: the database, the tables by DynamoDB name,
each table's key schema with its declared types, and DynamoDB's key checks.

:class:`Context` is the handler's state (one per :class:`~.handler.Handler`);
:class:`TableInfo` is one table as DynamoDB describes it, built from the
native table's :meth:`~dynafile.Dynafile.describe` and the
:mod:`.properties` store.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from ..database import Database
from ..errors import TableNotFoundError
from ..table import Dynafile
from ..types import type_name
from .errors import ResourceNotFound, Validation
from .properties import PropertyStore, TableProperties

__all__ = ["Context", "IndexInfo", "TableInfo"]

_INVALID = "One or more parameter values were invalid: "
_NO_MATCH = "The provided key element does not match the schema"
_MAX_HASH = 2048
_MAX_RANGE = 1024


class IndexInfo:
    """A secondary index as DynamoDB sees it."""

    __slots__ = ("include", "kind", "name", "pk", "projection", "sk", "state")

    def __init__(self, name: str, kind: str, pk: str, sk: str | None, projection: str,
                 include: list[str], state: str) -> None:
        self.name, self.kind, self.pk, self.sk = name, kind, pk, sk
        self.projection, self.include, self.state = projection, include, state

    @property
    def key_names(self) -> list[str]:
        """The index's own key attributes."""
        return [self.pk] + ([self.sk] if self.sk else [])


class TableInfo:
    """A table's key schema, declared types, indexes and DynamoDB properties."""

    def __init__(self, name: str, table: Dynafile, described: dict[str, Any],
                 props: TableProperties | None) -> None:
        self.name = name
        self.table = table
        self.pk: str = described["pk_attribute"]
        self.sk: str | None = described["sk_attribute"]
        self.described = described
        self.native = props is None
        self.props = props or PropertyStore.native(None)
        fixed = described.get("key_types") or {}
        self.indexes: dict[str, IndexInfo] = {}
        for index_name, data in (described.get("indexes") or {}).items():
            kind = data["kind"]
            pk = self.pk if kind == "LSI" else data.get("pk_attribute")
            self.indexes[index_name] = IndexInfo(
                index_name, kind, pk, data.get("sk_attribute"), data.get("projection", "ALL"),
                list(data.get("include") or []), data.get("state", "ACTIVE"))
        types = dict(self.props.attributes)
        for attr in self.attribute_names():
            if attr not in types:
                types[attr] = fixed.get(attr) or "S"
        self.types: dict[str, str] = types

    @property
    def key_names(self) -> list[str]:
        """The table's key attributes, partition key first."""
        return [self.pk] + ([self.sk] if self.sk else [])

    def attribute_names(self) -> list[str]:
        """Every key attribute of the table and its indexes, in schema order."""
        names = self.key_names
        for index in self.indexes.values():
            for attr in index.key_names:
                if attr not in names:
                    names.append(attr)
        return names

    def index(self, name: str) -> IndexInfo:
        """The index ``name``.

        Raises:
            Validation: "The table does not have the specified index: name".
        """
        found = self.indexes.get(name)
        if found is None:
            raise Validation(f"The table does not have the specified index: {name}")
        return found

    # ------------------------------------------------------------ key checks

    def _check_key_value(self, name: str, value: Any, is_hash: bool) -> None:
        kind = type_name(value)
        if (kind == "S" and value == "") or (kind == "B" and not value):
            word = "string" if kind == "S" else "binary"
            raise Validation(f"{_INVALID}The AttributeValue for a key attribute cannot contain "
                             f"an empty {word} value. Key: {name}")
        size = (len(value.encode("utf-8")) if kind == "S" else len(value) if kind == "B"
                else 0)
        if is_hash and size > _MAX_HASH:
            raise Validation(f"{_INVALID}Size of hashkey has exceeded the maximum size limit "
                             "of2048 bytes")
        if not is_hash and size > _MAX_RANGE:
            raise Validation(f"{_INVALID}Aggregated size of all range keys has exceeded the "
                             "size limit of 1024 bytes")

    def check_key(self, key: Mapping[str, Any]) -> None:
        """Check a ``Key`` member (decoded) against the key schema.

        Raises:
            Validation: "The provided key element does not match the schema"
                (missing, extra or mistyped attributes), an empty key value,
                a key over DynamoDB's size limits.
        """
        names = self.key_names
        if len(key) != len(names) or any(n not in key for n in names):
            raise Validation(_NO_MATCH)
        for position, name in enumerate(names):
            if type_name(key[name]) != self.types[name]:
                raise Validation(_NO_MATCH)
            self._check_key_value(name, key[name], position == 0)

    def check_item(self, item: Mapping[str, Any]) -> None:
        """Check an ``Item`` member (decoded): key attributes present and of
        their declared types, index key attributes of theirs.

        Raises:
            Validation: DynamoDB's "Missing the key", "Type mismatch for key",
                "Type mismatch for Index Key" messages.
        """
        for position, name in enumerate(self.key_names):
            if name not in item:
                raise Validation(f"{_INVALID}Missing the key {name} in the item")
            actual = type_name(item[name])
            if actual != self.types[name]:
                raise Validation(f"{_INVALID}Type mismatch for key {name} expected: "
                                 f"{self.types[name]} actual: {actual}")
            self._check_key_value(name, item[name], position == 0)
        for index in self.indexes.values():
            for name in index.key_names:
                if name in self.key_names or name not in item:
                    continue
                actual = type_name(item[name])
                if actual != self.types[name]:
                    raise Validation(f"{_INVALID}Type mismatch for Index Key {name} Expected: "
                                     f"{self.types[name]} Actual: {actual} IndexName: "
                                     f"{index.name}")
                if actual in ("S", "B") and not item[name]:
                    raise Validation(
                        "One or more parameter values are not valid. A value specified for a "
                        "secondary index key is not supported. The AttributeValue for a key "
                        "attribute cannot contain an empty string value. IndexName: "
                        f"{index.name}, IndexKey: {name}")

    def key_of(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The key attributes of an item."""
        return {name: item[name] for name in self.key_names if name in item}


class Context:
    """The handler's state: the database, the property store, the region and
    account that ARNs name.

    Args:
        database: the open :class:`~dynafile.Database`.
        region / account: what ARNs and stream records say.
    """

    def __init__(self, database: Database, region: str, account: str) -> None:
        self.db = database
        self.region = region
        self.account = account
        self.props = PropertyStore(database)
        self._created: weakref.WeakKeyDictionary[Dynafile, float | None] = (
            weakref.WeakKeyDictionary())

    def arn(self, name: str) -> str:
        """The ARN of table ``name``."""
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def table(self, name: str, *, control: bool = False) -> Dynafile:
        """The open table ``name``.

        Raises:
            ResourceNotFound: no such table ("Requested resource not found",
                with ": Table: name not found" for control-plane operations,
                as DynamoDB words them).
        """
        try:
            return self.db.table(name)
        except TableNotFoundError:
            raise self.not_found(name, control) from None

    @staticmethod
    def not_found(name: str, control: bool) -> ResourceNotFound:
        """DynamoDB's ResourceNotFoundException for a missing table."""
        text = "Requested resource not found"
        return ResourceNotFound(f"{text}: Table: {name} not found" if control else text)

    def created(self, name: str, table: Dynafile) -> float | None:
        """The catalog's creation time of ``table`` (cached per open table)."""
        if table in self._created:
            return self._created[table]
        try:
            created = self.db.describe_table(name).get("created")
        except TableNotFoundError:
            raise self.not_found(name, True) from None
        self._created[table] = created
        return created

    def info(self, name: str, *, control: bool = False) -> TableInfo:
        """Table ``name`` as DynamoDB describes it.

        Raises:
            ResourceNotFound: no such table.
        """
        table = self.table(name, control=control)
        created = self.created(name, table)
        props = self.props.get(name, created)
        info = TableInfo(name, table, table.describe(), props)
        if props is None:
            info.props = PropertyStore.native(created)
        return info
