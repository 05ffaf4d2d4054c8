"""A table's definition as it travels with an export or a copy.

The definition is DynamoDB's ``CreateTable`` request (``TableName``,
``KeySchema``, ``AttributeDefinitions``, ``GlobalSecondaryIndexes``,
``LocalSecondaryIndexes``, ``StreamSpecification``, ``BillingMode``,
``Tags``), plus DynamoDB's ``TimeToLiveSpecification`` (what
``UpdateTimeToLive`` takes), plus a ``Dynafile`` member with what only
dynafile has: the key types fixed so far (``key_types``, ``null`` for one
not fixed yet), ``ttl_mode``, ``serializer`` and ``properties``. An export
writes it as ``dynafile-table.json`` beside DynamoDB's manifests (see
docs/cli.md); ``dynafile describe --output dynamodb`` prints it and
``dynafile create-table --definition FILE`` reads it.

Attribute types a dynafile table has not fixed yet are declared ``S`` to
DynamoDB (it needs one), and stay unfixed when the definition comes back
to a directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..database import Database
from ..indexes import GSI, LSI

__all__ = [
    "DefinitionError",
    "create_in_database",
    "create_table_request",
    "definition_from_database",
    "definition_from_dynamodb",
    "key_attributes",
]

FORMAT = "dynafile-table/1"
_KEY_TYPES = ("S", "N", "B")


class DefinitionError(ValueError):
    """A table definition that is malformed or names something unsupported."""


def _key_schema(pk: str, sk: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk is not None:
        schema.append({"AttributeName": sk, "KeyType": "RANGE"})
    return schema


def _projection(data: Mapping[str, Any]) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": data.get("projection", "ALL")}
    if projection["ProjectionType"] == "INCLUDE":
        projection["NonKeyAttributes"] = list(data.get("include") or [])
    return projection


def definition_from_database(db: Database, name: str) -> dict[str, Any]:
    """Return the definition of table ``name`` of an open database."""
    described = db.describe_table(name)
    pk, sk = described["pk_attribute"], described["sk_attribute"]
    key_types = dict(described["key_types"])
    gsis, lsis = [], []
    used = [pk] + ([sk] if sk else [])
    for index_name, data in sorted(described["indexes"].items()):
        if data["kind"] == "GSI":
            gsis.append({"IndexName": index_name,
                         "KeySchema": _key_schema(data["pk_attribute"], data["sk_attribute"]),
                         "Projection": _projection(data)})
            used += [a for a in (data["pk_attribute"], data["sk_attribute"]) if a]
        else:
            lsis.append({"IndexName": index_name,
                         "KeySchema": _key_schema(pk, data["sk_attribute"]),
                         "Projection": _projection(data)})
            used.append(data["sk_attribute"])
    attributes = []
    for attribute in dict.fromkeys(used):
        attributes.append({"AttributeName": attribute,
                           "AttributeType": key_types.get(attribute) or "S"})
    definition: dict[str, Any] = {
        "TableName": name,
        "KeySchema": _key_schema(pk, sk),
        "AttributeDefinitions": attributes,
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True,
                                "StreamViewType": described["stream_view_type"]},
    }
    if gsis:
        definition["GlobalSecondaryIndexes"] = gsis
    if lsis:
        definition["LocalSecondaryIndexes"] = lsis
    if described["ttl_attribute"]:
        definition["TimeToLiveSpecification"] = {"Enabled": True,
                                                 "AttributeName": described["ttl_attribute"]}
    if described["tags"]:
        definition["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(described["tags"].items())]
    definition["Dynafile"] = {
        "format": FORMAT,
        "key_types": {k: key_types.get(k) for k in dict.fromkeys(used)},
        "ttl_mode": described["ttl_mode"],
        "serializer": described["serializer"],
        "properties": described["properties"],
    }
    return definition


def definition_from_dynamodb(table: Mapping[str, Any], ttl: Mapping[str, Any] | None = None,
                             tags: Sequence[Mapping[str, str]] | None = None) -> dict[str, Any]:
    """Return the definition of a DynamoDB table from its ``DescribeTable``
    ``Table``, its ``DescribeTimeToLive`` ``TimeToLiveDescription`` and its
    tags."""
    definition: dict[str, Any] = {
        "TableName": table["TableName"],
        "KeySchema": [dict(k) for k in table["KeySchema"]],
        "AttributeDefinitions": [dict(a) for a in table["AttributeDefinitions"]],
        "BillingMode": "PAY_PER_REQUEST",
    }
    for section in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if table.get(section):
            definition[section] = [
                {"IndexName": i["IndexName"], "KeySchema": [dict(k) for k in i["KeySchema"]],
                 "Projection": dict(i.get("Projection") or {"ProjectionType": "ALL"})}
                for i in table[section]]
    stream = table.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        definition["StreamSpecification"] = {"StreamEnabled": True,
                                             "StreamViewType": stream["StreamViewType"]}
    if ttl and ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") \
            and ttl.get("AttributeName"):
        definition["TimeToLiveSpecification"] = {"Enabled": True,
                                                 "AttributeName": ttl["AttributeName"]}
    if tags:
        definition["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in tags]
    return definition


def _keys(schema: Any, where: str) -> tuple[str, str | None]:
    if not isinstance(schema, list) or not schema:
        raise DefinitionError(f"{where}: KeySchema must be a non-empty list")
    hash_key = [k.get("AttributeName") for k in schema if k.get("KeyType") == "HASH"]
    range_key = [k.get("AttributeName") for k in schema if k.get("KeyType") == "RANGE"]
    if len(hash_key) != 1 or len(range_key) > 1 or len(schema) != 1 + len(range_key):
        raise DefinitionError(f"{where}: KeySchema needs one HASH key and at most one RANGE key")
    return hash_key[0], (range_key[0] if range_key else None)


def key_attributes(definition: Mapping[str, Any]) -> tuple[str, str | None]:
    """The table's partition and sort key attribute names."""
    return _keys(definition.get("KeySchema"), "table")


def _index_projection(index: Mapping[str, Any]) -> tuple[str, list[str] | None]:
    projection = index.get("Projection") or {}
    kind = projection.get("ProjectionType", "ALL")
    include = projection.get("NonKeyAttributes") if kind == "INCLUDE" else None
    return kind, include


def create_in_database(db: Database, name: str, definition: Mapping[str, Any], *,
                       ttl_mode: str | None = None, serializer: str | None = None) -> Any:
    """Create table ``name`` in an open database from a definition and
    return it. ``ttl_mode`` / ``serializer`` override what the definition's
    ``Dynafile`` member says (a definition from DynamoDB has none: the
    defaults, ``"hide"`` and ``"pickle"``, apply).

    Raises:
        DefinitionError: a malformed definition.
        TableExistsError / ValidationError: from :meth:`Database.create_table`.
    """
    pk, sk = key_attributes(definition)
    extra = definition.get("Dynafile") or {}
    declared = {a["AttributeName"]: a["AttributeType"]
                for a in definition.get("AttributeDefinitions") or []}
    if "key_types" in extra:
        key_types = {k: v for k, v in (extra.get("key_types") or {}).items() if v}
    else:
        key_types = {k: v for k, v in declared.items() if v in _KEY_TYPES}
    gsis = []
    for index in definition.get("GlobalSecondaryIndexes") or []:
        ipk, isk = _keys(index.get("KeySchema"), f"index {index.get('IndexName')!r}")
        kind, include = _index_projection(index)
        gsis.append(GSI(index["IndexName"], ipk, isk, kind, include))
    lsis = []
    for index in definition.get("LocalSecondaryIndexes") or []:
        ipk, isk = _keys(index.get("KeySchema"), f"index {index.get('IndexName')!r}")
        if ipk != pk or isk is None:
            raise DefinitionError(f"local index {index.get('IndexName')!r} must share the "
                                  "table's partition key and have a sort key")
        kind, include = _index_projection(index)
        lsis.append(LSI(index["IndexName"], isk, kind, include))
    stream = definition.get("StreamSpecification") or {}
    ttl = definition.get("TimeToLiveSpecification") or {}
    tags = {t["Key"]: t["Value"] for t in definition.get("Tags") or []}
    return db.create_table(
        name, pk_attribute=pk, sk_attribute=sk,
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
        gsis=gsis, lsis=lsis,
        stream_view_type=stream.get("StreamViewType") or "NEW_AND_OLD_IMAGES",
        serializer=serializer or extra.get("serializer") or None,
        tags=tags or None,
        ttl_mode=ttl_mode or extra.get("ttl_mode") or "hide",
        key_types=key_types,
        properties=extra.get("properties") or None,
    )


def create_table_request(definition: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return the arguments of boto3's ``create_table`` for a definition
    (tags included; TTL is a separate ``update_time_to_live`` call)."""
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": definition["KeySchema"],
        "AttributeDefinitions": definition["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    for section in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if definition.get(section):
            request[section] = [{"IndexName": i["IndexName"], "KeySchema": i["KeySchema"],
                                 "Projection": i["Projection"]} for i in definition[section]]
    stream = definition.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        request["StreamSpecification"] = {"StreamEnabled": True,
                                          "StreamViewType": stream["StreamViewType"]}
    if definition.get("Tags"):
        request["Tags"] = definition["Tags"]
    return request
