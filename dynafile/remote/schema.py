"""A DynamoDB table's definition, from DescribeTable, and CreateTable's request.

:class:`TableInfo` is what the remote table knows of its table: key
attributes and types, indexes (as dynafile's :class:`~dynafile.indexes.GSI`
/ :class:`~dynafile.indexes.LSI`), stream, and counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ValidationError
from ..indexes import GSI, LSI, Index

__all__ = ["TableInfo", "create_request", "epoch", "index_request"]


def _projection(spec: Mapping[str, Any] | None) -> tuple[str, list[str] | None]:
    spec = spec or {}
    kind = spec.get("ProjectionType", "ALL")
    include = list(spec.get("NonKeyAttributes") or []) if kind == "INCLUDE" else None
    return kind, include


def _keys(schema: Sequence[Mapping[str, str]]) -> tuple[str, str | None]:
    pk = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
    sk = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
    return pk, sk


def epoch(value: Any) -> float | None:
    """Epoch seconds of a time botocore returns (a ``datetime`` or a number)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    stamp = getattr(value, "timestamp", None)
    return float(stamp()) if callable(stamp) else None


class TableInfo:
    """One DescribeTable answer, read.

    Attributes:
        name, arn, pk_attribute, sk_attribute, status.
        key_types: attribute -> ``"S"`` / ``"N"`` / ``"B"`` (AttributeDefinitions).
        indexes: name -> GSI / LSI.
        index_status: name -> ``"ACTIVE"``, ``"CREATING"``...
        stream_arn / stream_view_type: ``None`` without a stream.
        item_count / size_bytes / created: DynamoDB's (approximate) figures.
    """

    def __init__(self, table: Mapping[str, Any]) -> None:
        self.raw = table
        self.name: str = table["TableName"]
        self.arn: str | None = table.get("TableArn")
        self.status: str = table.get("TableStatus", "ACTIVE")
        self.pk_attribute, self.sk_attribute = _keys(table["KeySchema"])
        self.key_types = {d["AttributeName"]: d["AttributeType"]
                          for d in table.get("AttributeDefinitions") or []}
        self.indexes: dict[str, Index] = {}
        self.index_status: dict[str, str] = {}
        for entry in table.get("GlobalSecondaryIndexes") or []:
            pk, sk = _keys(entry["KeySchema"])
            kind, include = _projection(entry.get("Projection"))
            self.indexes[entry["IndexName"]] = GSI(entry["IndexName"], pk, sk, kind, include)
            self.index_status[entry["IndexName"]] = entry.get("IndexStatus", "ACTIVE")
        for entry in table.get("LocalSecondaryIndexes") or []:
            _, sk = _keys(entry["KeySchema"])
            kind, include = _projection(entry.get("Projection"))
            self.indexes[entry["IndexName"]] = LSI(entry["IndexName"], sk or "", kind, include)
            self.index_status[entry["IndexName"]] = "ACTIVE"
        stream = table.get("StreamSpecification") or {}
        enabled = bool(stream.get("StreamEnabled"))
        self.stream_view_type: str | None = stream.get("StreamViewType") if enabled else None
        self.stream_arn: str | None = table.get("LatestStreamArn") if enabled else None
        self.item_count: int = int(table.get("ItemCount") or 0)
        self.size_bytes: int = int(table.get("TableSizeBytes") or 0)
        created = table.get("CreationDateTime")
        self.created = epoch(created)

    def index(self, name: str) -> Index:
        """The index ``name``.

        Raises:
            ValidationError: the table has no such index (DynamoDB's message).
        """
        found = self.indexes.get(name)
        if found is None:
            raise ValidationError("The table does not have the specified index: " + str(name),
                                  attribute="index")
        return found

    def key_names(self, index: str | None = None) -> tuple[str, str | None]:
        """The partition and sort key attributes of the table or an index."""
        if index is None:
            return self.pk_attribute, self.sk_attribute
        ix = self.index(index)
        return ix.partition_attribute(self.pk_attribute), ix.sk_attribute


def _key_schema(pk: str, sk: str | None) -> list[dict[str, str]]:
    out = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk is not None:
        out.append({"AttributeName": sk, "KeyType": "RANGE"})
    return out


def _projection_request(index: Index) -> dict[str, Any]:
    out: dict[str, Any] = {"ProjectionType": index.projection}
    if index.projection == "INCLUDE":
        out["NonKeyAttributes"] = list(index.include)
    return out


def _type_of(name: str, key_types: Mapping[str, str]) -> str:
    kind = key_types.get(name, "S")
    if kind not in ("S", "N", "B"):
        raise ValidationError("must map attribute names to S, N or B", attribute="key_types")
    return kind


def index_request(index: GSI, key_types: Mapping[str, str]) -> tuple[dict[str, Any],
                                                                     list[dict[str, str]]]:
    """A GSI's entry of CreateTable / UpdateTable and the attribute
    definitions its keys need (type ``S`` unless ``key_types`` says)."""
    assert index.pk_attribute is not None
    entry = {"IndexName": index.name,
             "KeySchema": _key_schema(index.pk_attribute, index.sk_attribute),
             "Projection": _projection_request(index)}
    defined = [{"AttributeName": n, "AttributeType": _type_of(n, key_types)}
               for n in (index.pk_attribute, index.sk_attribute) if n is not None]
    return entry, defined


def create_request(name: str, pk: str, sk: str | None, *, gsis: Sequence[GSI],
                   lsis: Sequence[LSI], key_types: Mapping[str, str],
                   stream_view_type: str | None, tags: Mapping[str, str] | None
                   ) -> dict[str, Any]:
    """The CreateTable request of a table (on-demand billing; a stream of
    ``stream_view_type`` unless ``None``; key attributes of type ``S``
    unless ``key_types`` names another)."""
    defined: dict[str, str] = {}
    for attribute in (pk, sk):
        if attribute is not None:
            defined[attribute] = _type_of(attribute, key_types)
    request: dict[str, Any] = {"TableName": name, "KeySchema": _key_schema(pk, sk),
                               "BillingMode": "PAY_PER_REQUEST"}
    if gsis:
        entries = []
        for index in gsis:
            entry, attrs = index_request(index, key_types)
            entries.append(entry)
            defined.update({a["AttributeName"]: a["AttributeType"] for a in attrs})
        request["GlobalSecondaryIndexes"] = entries
    if lsis:
        if sk is None:
            raise ValidationError("local secondary indexes need a table with a sort key",
                                  attribute="lsis")
        entries = []
        for lsi in lsis:
            assert lsi.sk_attribute is not None
            entries.append({"IndexName": lsi.name,
                            "KeySchema": _key_schema(pk, lsi.sk_attribute),
                            "Projection": _projection_request(lsi)})
            defined[lsi.sk_attribute] = _type_of(lsi.sk_attribute, key_types)
        request["LocalSecondaryIndexes"] = entries
    request["AttributeDefinitions"] = [{"AttributeName": n, "AttributeType": t}
                                       for n, t in defined.items()]
    if stream_view_type is not None:
        request["StreamSpecification"] = {"StreamEnabled": True,
                                          "StreamViewType": stream_view_type}
    if tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return request
