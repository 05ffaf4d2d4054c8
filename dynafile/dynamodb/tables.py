"""The control plane: CreateTable, DeleteTable, DescribeTable, ListTables,
UpdateTable, UpdateTimeToLive, DescribeTimeToLive, TagResource,
UntagResource, ListTagsOfResource, DescribeLimits, DescribeEndpoints.

Tables are :class:`~dynafile.Database` tables; what DynamoDB's API adds
(declared attribute types, billing, stream on/off) is kept by
:mod:`.properties`. Schema changes finish before the call returns (a GSI is
backfilled synchronously), so tables and indexes are always ``ACTIVE``.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..errors import DynafileError, TableExistsError, TableNotFoundError
from ..indexes import GSI, LSI
from .context import Context, TableInfo
from .errors import ResourceInUse, ResourceNotFound, Validation, from_dynafile
from .properties import TableProperties, stream_label

__all__ = [
    "create_table", "delete_table", "describe_endpoints", "describe_limits", "describe_table",
    "describe_time_to_live", "list_tables", "list_tags_of_resource",
    "table_description", "tag_resource", "untag_resource", "update_table",
    "update_time_to_live",
]

_INVALID = "One or more parameter values were invalid: "
_ARN_PREFIX = "arn:aws:dynamodb:"


# ----------------------------------------------------------- CreateTable


def _check_key_schema(schema: list[dict[str, Any]], defined: list[str]) -> None:
    keys = [k["AttributeName"] for k in schema]
    if any(k not in defined for k in keys):
        raise Validation(f"{_INVALID}Some index key attributes are not defined in "
                         f"AttributeDefinitions. Keys: [{', '.join(keys)}], "
                         f"AttributeDefinitions: [{', '.join(defined)}]")
    if len(keys) == 2 and keys[0] == keys[1]:
        raise Validation("Both the Hash Key and the Range Key element in the KeySchema have the "
                         "same name")
    if schema[0]["KeyType"] != "HASH":
        raise Validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(schema) == 2 and schema[1]["KeyType"] != "RANGE":
        raise Validation("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")


def _check_projection(projection: dict[str, Any]) -> None:
    kind = projection.get("ProjectionType")
    if kind is None:
        raise Validation(f"{_INVALID}Unknown ProjectionType: null")
    if projection.get("NonKeyAttributes") and kind != "INCLUDE":
        raise Validation(f"{_INVALID}ProjectionType is {kind}, but NonKeyAttributes is specified")


def _check_billing(data: dict[str, Any]) -> None:
    throughput = data.get("ProvisionedThroughput")
    if data.get("BillingMode") == "PAY_PER_REQUEST":
        if throughput:
            raise Validation(f"{_INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be "
                             "specified when BillingMode is PAY_PER_REQUEST")
        return
    if not throughput:
        raise Validation(f"{_INVALID}ReadCapacityUnits and WriteCapacityUnits must both be "
                         "specified when BillingMode is PROVISIONED")
    for name in ("ReadCapacityUnits", "WriteCapacityUnits"):
        if throughput[name] > 1000000000000:
            raise Validation(f"Given value {throughput[name]} for {name} is out of bounds")


def _index(entry: dict[str, Any], kind: str) -> GSI | LSI:
    projection = entry["Projection"]
    include = projection.get("NonKeyAttributes") or None
    schema = entry["KeySchema"]
    sk = schema[1]["AttributeName"] if len(schema) > 1 else None
    if kind == "LSI":
        return LSI(entry["IndexName"], sk, projection["ProjectionType"], include)  # type: ignore[arg-type]
    return GSI(entry["IndexName"], schema[0]["AttributeName"], sk, projection["ProjectionType"],
               include)


def _check_create(data: dict[str, Any]) -> None:
    _check_billing(data)
    defined = [a["AttributeName"] for a in data["AttributeDefinitions"]]
    schema = data["KeySchema"]
    if len(schema) > len(defined):
        raise Validation("Invalid KeySchema: Some index key attribute have no definition")
    _check_key_schema(schema, defined)
    used = [k["AttributeName"] for k in schema]
    names: set[str] = set()
    lsis = data.get("LocalSecondaryIndexes")
    if lsis is not None:
        if not lsis:
            raise Validation(f"{_INVALID}List of LocalSecondaryIndexes is empty")
        if len(schema) != 2:
            raise Validation(f"{_INVALID}Table KeySchema does not have a range key, which is "
                             "required when specifying a LocalSecondaryIndex")
        for lsi in lsis:
            _check_key_schema(lsi["KeySchema"], defined)
            name = lsi["IndexName"]
            if len(lsi["KeySchema"]) != 2:
                raise Validation(f"{_INVALID}Index KeySchema does not have a range key for "
                                 f"index: {name}")
            index_hash = lsi["KeySchema"][0]["AttributeName"]
            if index_hash != schema[0]["AttributeName"]:
                raise Validation(f"{_INVALID}Index KeySchema does not have the same leading hash "
                                 f"key as table KeySchema for index: {name}. index hash key: "
                                 f"{index_hash}, table hash key: {schema[0]['AttributeName']}")
            _check_projection(lsi["Projection"])
            if name in names:
                raise Validation(f"{_INVALID}Duplicate index name: {name}")
            names.add(name)
            used += [k["AttributeName"] for k in lsi["KeySchema"]]
        if len(lsis) > 5:
            raise Validation(f"{_INVALID}Number of LocalSecondaryIndexes exceeds per-table limit "
                             "of 5")
    gsis = data.get("GlobalSecondaryIndexes")
    if gsis is not None:
        if not gsis:
            raise Validation(f"{_INVALID}List of GlobalSecondaryIndexes is empty")
        for gsi in gsis:
            _check_key_schema(gsi["KeySchema"], defined)
            name = gsi["IndexName"]
            _check_projection(gsi["Projection"])
            if data.get("BillingMode") == "PAY_PER_REQUEST" and gsi.get("ProvisionedThroughput"):
                raise Validation(f"{_INVALID}ProvisionedThroughput should not be specified for "
                                 f"index: {name} when BillingMode is PAY_PER_REQUEST")
            if data.get("BillingMode") != "PAY_PER_REQUEST" and not gsi.get(
                    "ProvisionedThroughput"):
                raise Validation(f"{_INVALID}ProvisionedThroughput must be specified for index: "
                                 f"{name}")
            if name in names:
                raise Validation(f"{_INVALID}Duplicate index name: {name}")
            names.add(name)
            used += [k["AttributeName"] for k in gsi["KeySchema"]]
        if len(gsis) > 20:
            raise Validation(f"{_INVALID}GlobalSecondaryIndex count exceeds the per-table limit "
                             "of 20")
    if lsis is None and gsis is None and len(schema) != len(defined):
        raise Validation(f"{_INVALID}Number of attributes in KeySchema does not exactly match "
                         "number of attributes defined in AttributeDefinitions")
    unused = sorted(set(defined) - set(used))
    if unused:
        raise Validation(f"{_INVALID}Some AttributeDefinitions are not used. "
                         f"AttributeDefinitions: [{', '.join(defined)}], keys used: "
                         f"[{', '.join(dict.fromkeys(used))}]")


def create_table(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """CreateTable: a new table, ``ACTIVE`` at once.

    Raises:
        DynamoDBError: Validation (DynamoDB's schema checks), ResourceInUse.
    """
    _check_create(data)
    name = data["TableName"]
    schema = data["KeySchema"]
    stream = data.get("StreamSpecification") or {}
    if stream.get("StreamEnabled") and not stream.get("StreamViewType"):
        raise Validation(f"{_INVALID}You must specify a StreamViewType when enabling a stream")
    tags = {t["Key"]: t["Value"] for t in data.get("Tags") or []}
    try:
        table = ctx.db.create_table(
            name, pk_attribute=schema[0]["AttributeName"],
            sk_attribute=schema[1]["AttributeName"] if len(schema) > 1 else None,
            gsis=[_index(g, "GSI") for g in data.get("GlobalSecondaryIndexes") or []],  # type: ignore[misc]
            lsis=[_index(i, "LSI") for i in data.get("LocalSecondaryIndexes") or []],  # type: ignore[misc]
            stream_view_type=stream.get("StreamViewType") or "NEW_AND_OLD_IMAGES",
            tags=tags or None, ttl_mode="dynamodb")  # expired items stay until swept
    except TableExistsError:
        raise ResourceInUse(f"Table already exists: {name}") from None
    except DynafileError as error:
        raise from_dynafile(error) from None
    props = TableProperties()
    props.attributes = {a["AttributeName"]: a["AttributeType"]
                        for a in data["AttributeDefinitions"]}
    props.billing_mode = data.get("BillingMode", "PROVISIONED")
    props.throughput = data.get("ProvisionedThroughput")
    props.index_throughput = {g["IndexName"]: g["ProvisionedThroughput"]
                              for g in data.get("GlobalSecondaryIndexes") or []
                              if g.get("ProvisionedThroughput")}
    props.stream_enabled = bool(stream.get("StreamEnabled"))
    props.stream_label = stream_label()
    props.stream_since = table.sequence
    props.table_class = data.get("TableClass", "STANDARD")
    props.deletion_protection = bool(data.get("DeletionProtectionEnabled"))
    props.created = ctx.created(name, table)
    ctx.props.put(name, props)
    return {"TableDescription": table_description(ctx, ctx.info(name), counts=False)}


# --------------------------------------------------------- descriptions


def _key_schema(pk: str, sk: str | None) -> list[dict[str, str]]:
    out = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk:
        out.append({"AttributeName": sk, "KeyType": "RANGE"})
    return out


def _throughput(props: TableProperties, entry: dict[str, int] | None) -> dict[str, Any]:
    if props.billing_mode == "PAY_PER_REQUEST" or not entry:
        return {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    return {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": entry["ReadCapacityUnits"],
            "WriteCapacityUnits": entry["WriteCapacityUnits"]}


def _projection(projection: str, include: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"ProjectionType": projection}
    if projection == "INCLUDE":
        out["NonKeyAttributes"] = list(include)
    return out


def table_description(ctx: Context, info: TableInfo, *, status: str = "ACTIVE",
                      counts: bool = True) -> dict[str, Any]:
    """DynamoDB's TableDescription of a table.

    ``ItemCount`` and ``TableSizeBytes`` (and each index's) are, as in
    DynamoDB (which refreshes them about every six hours), approximate: as
    of the table's last checkpoint, read from the manifest when ``counts``
    is true (O(partitions): a DescribeTable never reads the items), else 0.
    The sizes are of the stored items, not DynamoDB's item-size formula.
    """
    props = info.props
    created = ctx.created(info.name, info.table) or 0.0
    arn = ctx.arn(info.name)
    item_count = size = 0
    index_counts: dict[str, tuple[int, int]] = {name: (0, 0) for name in info.indexes}
    if counts:
        described = ctx.db.describe_table(info.name)
        item_count, size = described["item_count"], described["size_bytes"]
        index_counts.update(described["index_sizes"])
    out: dict[str, Any] = {
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": info.types[n]}
                                 for n in info.attribute_names()],
        "TableName": info.name,
        "KeySchema": _key_schema(info.pk, info.sk),
        "TableStatus": status,
        "CreationDateTime": created,
        "ProvisionedThroughput": _throughput(props, props.throughput),
        "TableSizeBytes": size,
        "ItemCount": item_count,
        "TableArn": arn,
        "TableId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}@{created}")),
        "DeletionProtectionEnabled": props.deletion_protection,
    }
    if props.billing_mode == "PAY_PER_REQUEST":
        out["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST",
                                     "LastUpdateToPayPerRequestDateTime": created}
    if props.table_class != "STANDARD":
        out["TableClassSummary"] = {"TableClass": props.table_class}
    lsis, gsis = [], []
    for name, index in info.indexes.items():
        entry: dict[str, Any] = {
            "IndexName": name,
            "KeySchema": _key_schema(index.pk, index.sk),
            "Projection": _projection(index.projection, index.include),
            "IndexSizeBytes": index_counts[name][1],
            "ItemCount": index_counts[name][0],
            "IndexArn": f"{arn}/index/{name}",
        }
        if index.kind == "LSI":
            lsis.append(entry)
            continue
        entry["IndexStatus"] = "CREATING" if index.state == "CREATING" else "ACTIVE"
        if index.state == "CREATING":
            entry["Backfilling"] = True
        entry["ProvisionedThroughput"] = _throughput(props, props.index_throughput.get(name))
        gsis.append(entry)
    if lsis:
        out["LocalSecondaryIndexes"] = lsis
    if gsis:
        out["GlobalSecondaryIndexes"] = gsis
    if props.stream_enabled:
        out["StreamSpecification"] = {"StreamEnabled": True,
                                      "StreamViewType": info.described["stream_view_type"]}
        label = props.stream_label
        out["LatestStreamLabel"] = label
        out["LatestStreamArn"] = f"{arn}/stream/{label}"
    return out


def describe_table(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """DescribeTable.

    Raises:
        DynamoDBError: ResourceNotFound ("Requested resource not found: Table: x not found").
    """
    info = ctx.info(data["TableName"], control=True)
    return {"Table": table_description(ctx, info)}


def delete_table(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """DeleteTable: the table and its files go at once.

    Raises:
        DynamoDBError: ResourceNotFound, Validation (deletion protection).
    """
    name = data["TableName"]
    info = ctx.info(name, control=True)
    if info.props.deletion_protection:
        raise Validation("Resource cannot be deleted as it is currently protected against "
                         "deletion. Disable deletion protection first.")
    description = table_description(ctx, info, status="DELETING", counts=False)
    try:
        ctx.db.delete_table(name)
    except TableNotFoundError:
        raise ctx.not_found(name, True) from None
    if not info.native:
        ctx.props.remove(name)
    return {"TableDescription": description}


def list_tables(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """ListTables: names in order, ``Limit`` (default 100) at a time."""
    names = ctx.db.tables()
    start = data.get("ExclusiveStartTableName")
    if start is not None:
        names = [n for n in names if n > start]
    limit = data.get("Limit", 100)
    out: dict[str, Any] = {"TableNames": names[:limit]}
    if len(names) > limit:
        out["LastEvaluatedTableName"] = names[limit - 1]
    return out


# ----------------------------------------------------------- UpdateTable


def update_table(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """UpdateTable: billing and throughput, GSI create (backfilled before
    returning) and delete, stream on/off and view type.

    Raises:
        DynamoDBError: ResourceNotFound, Validation, ResourceInUse.
    """
    name = data["TableName"]
    updates = data.get("GlobalSecondaryIndexUpdates") or []
    stream = data.get("StreamSpecification")
    if not any(k in data for k in ("ProvisionedThroughput", "BillingMode",
                                   "GlobalSecondaryIndexUpdates", "StreamSpecification",
                                   "TableClass", "DeletionProtectionEnabled",
                                   "SSESpecification")):
        raise Validation("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                         "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is "
                         "required")
    if len(updates) > 1 and sum(1 for u in updates if "Create" in u or "Delete" in u) > 1:
        raise Validation(f"{_INVALID}Only one global secondary index update per index is "
                         "allowed simultaneously.")
    info = ctx.info(name, control=True)
    props = info.props
    defined = {a["AttributeName"]: a["AttributeType"]
               for a in data.get("AttributeDefinitions") or []}
    if "BillingMode" in data:
        props.billing_mode = data["BillingMode"]
    if "ProvisionedThroughput" in data:
        if props.billing_mode == "PAY_PER_REQUEST":
            raise Validation(f"{_INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be "
                             "specified when BillingMode is PAY_PER_REQUEST")
        props.throughput = data["ProvisionedThroughput"]
    if "TableClass" in data:
        props.table_class = data["TableClass"]
    if "DeletionProtectionEnabled" in data:
        props.deletion_protection = data["DeletionProtectionEnabled"]
    if stream is not None:
        enabled = stream["StreamEnabled"]
        if enabled and props.stream_enabled:
            raise Validation(f"Table already has an enabled stream: TableName: {name}")
        if not enabled and not props.stream_enabled:
            raise Validation(f"Table already has no stream: TableName: {name}")
        if enabled and not stream.get("StreamViewType"):
            raise Validation(f"{_INVALID}You must specify a StreamViewType when enabling a stream")
    try:
        for update in updates:
            if "Create" in update:
                create = update["Create"]
                _check_projection(create["Projection"])
                keys = [k["AttributeName"] for k in create["KeySchema"]]
                known = {**info.types, **defined}
                missing = [k for k in keys if k not in known]
                if missing:
                    raise Validation(f"{_INVALID}Some index key attributes are not defined in "
                                     f"AttributeDefinitions. Keys: [{', '.join(keys)}], "
                                     f"AttributeDefinitions: [{', '.join(defined)}]")
                if create["IndexName"] in info.indexes:
                    raise Validation(f"{_INVALID}Attempting to create an index which already "
                                     f"exists: {create['IndexName']}")
                for key in keys:
                    props.attributes.setdefault(key, known[key])
                if create.get("ProvisionedThroughput"):
                    props.index_throughput[create["IndexName"]] = create["ProvisionedThroughput"]
                info.table.create_gsi(_index(create, "GSI"))  # type: ignore[arg-type]
            elif "Delete" in update:
                index_name = update["Delete"]["IndexName"]
                if index_name not in info.indexes or info.indexes[index_name].kind != "GSI":
                    raise ResourceNotFound(f"Requested resource not found: Requested resource "
                                           f"not found: Index: {index_name} not found")
                info.table.drop_gsi(index_name)
                props.index_throughput.pop(index_name, None)
            elif "Update" in update:
                index_name = update["Update"]["IndexName"]
                if index_name not in info.indexes:
                    raise ResourceNotFound(f"Requested resource not found: Requested resource "
                                           f"not found: Index: {index_name} not found")
                props.index_throughput[index_name] = update["Update"]["ProvisionedThroughput"]
        if stream is not None:
            if stream["StreamEnabled"]:
                info.table.update_table(stream_view_type=stream["StreamViewType"])
                props.stream_enabled = True
                props.stream_label = stream_label()
                props.stream_since = info.table.sequence
            else:
                props.stream_enabled = False
    except DynafileError as error:
        raise from_dynafile(error) from None
    props.created = ctx.created(name, info.table)
    ctx.props.put(name, props)
    return {"TableDescription": table_description(ctx, ctx.info(name, control=True),
                                                  counts=False)}


# ------------------------------------------------------------------- TTL


def update_time_to_live(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """UpdateTimeToLive: turn TTL on (naming the attribute) or off.

    Raises:
        DynamoDBError: ResourceNotFound, Validation ("TimeToLive is already
            enabled" / "disabled").
    """
    spec = data["TimeToLiveSpecification"]
    table = ctx.table(data["TableName"], control=True)
    current = table.ttl_attribute
    if spec["Enabled"]:
        if current is not None:
            raise Validation("TimeToLive is already enabled")
        table.update_time_to_live(spec["AttributeName"])
    else:
        if current is None:
            raise Validation("TimeToLive is already disabled")
        if current != spec["AttributeName"]:
            raise Validation("TimeToLive is active on a different AttributeName: current "
                             f"AttributeName is {current}")
        table.update_time_to_live(None)
    return {"TimeToLiveSpecification": {"Enabled": spec["Enabled"],
                                        "AttributeName": spec["AttributeName"]}}


def describe_time_to_live(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """DescribeTimeToLive: ``ENABLED`` with its attribute, or ``DISABLED``."""
    table = ctx.table(data["TableName"], control=True)
    attribute = table.ttl_attribute
    if attribute is None:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": attribute}}


# ------------------------------------------------------------------ tags


def _table_of_arn(ctx: Context, arn: str) -> str:
    prefix = f"{_ARN_PREFIX}{ctx.region}:{ctx.account}:table/"
    if not arn.startswith(_ARN_PREFIX) or ":table/" not in arn:
        raise Validation(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    if not arn.startswith(prefix) or "/" in arn[len(prefix):]:
        raise ResourceNotFound(f"Requested resource not found: ResourcArn: {arn} not found")
    name = arn[len(prefix):]
    if name not in ctx.db.tables():
        raise ResourceNotFound(f"Requested resource not found: ResourcArn: {arn} not found")
    return name


def tag_resource(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """TagResource: add or replace tags of a table (by ARN)."""
    name = _table_of_arn(ctx, data["ResourceArn"])
    try:
        ctx.db.tag_table(name, {t["Key"]: t["Value"] for t in data["Tags"]})
    except DynafileError as error:
        raise from_dynafile(error) from None
    return {}


def untag_resource(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """UntagResource: remove tags of a table (missing keys are ignored)."""
    name = _table_of_arn(ctx, data["ResourceArn"])
    try:
        ctx.db.untag_table(name, data["TagKeys"])
    except DynafileError as error:
        raise from_dynafile(error) from None
    return {}


def list_tags_of_resource(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """ListTagsOfResource: every tag of a table, sorted by key (one page)."""
    name = _table_of_arn(ctx, data["ResourceArn"])
    tags = ctx.db.describe_table(name).get("tags") or {}
    return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


# ------------------------------------------------------------- account


def describe_limits(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """DescribeLimits: DynamoDB's default account and table limits."""
    return {"AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000}


def describe_endpoints(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """DescribeEndpoints: the regional endpoint, cached for a day."""
    return {"Endpoints": [{"Address": f"dynamodb.{ctx.region}.amazonaws.com",
                           "CachePeriodInMinutes": 1440}]}
