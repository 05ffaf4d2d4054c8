"""The single-item operations: PutItem, GetItem, DeleteItem, UpdateItem.

Each checks its request as DynamoDB does (after :mod:`.shapes`): the table
exists, legacy and expression parameters are not mixed, values decode, the
key or item matches the key schema and its declared types, ``ReturnValues``
suits the operation; then it calls the table's native method with
DynamoDB expression strings, and answers in DynamoDB's shape, with
``ConsumedCapacity`` (:mod:`.capacity`) and ``ItemCollectionMetrics`` when
asked for.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConditionalCheckFailedError, DynafileError
from ..types import item_size
from . import legacy
from .capacity import Consumed, read_units, size_of, write_units
from .context import Context, TableInfo
from .errors import Validation, from_dynafile
from .inputs import Expressions
from .values import decode_item, encode_item, encode_value

__all__ = ["collection_metrics", "delete_item", "get_item", "put_item", "update_item",
           "write_failure"]

#: DynamoDB's item size limit (bytes, by its formula).
MAX_ITEM_SIZE = 409600


def write_failure(error: DynafileError) -> Exception:
    """The wire error of a failed write (the item with a failed condition)."""
    if isinstance(error, ConditionalCheckFailedError) and error.item is not None:
        return from_dynafile(error, conditional_item=encode_item(error.item))
    return from_dynafile(error)


def collection_metrics(info: TableInfo, mode: str | None,
                       key: dict[str, Any]) -> dict[str, Any] | None:
    """``ItemCollectionMetrics`` for a write to a table with local indexes
    (``None`` otherwise, as DynamoDB sends none): the item collection's key
    and DynamoDB's size estimate range in GB (dynafile gives ``[0.0, 1.0]``)."""
    if mode != "SIZE" or not any(ix.kind == "LSI" for ix in info.indexes.values()):
        return None
    return {"ItemCollectionKey": {info.pk: encode_value(key[info.pk])},
            "SizeEstimateRangeGB": [0.0, 1.0]}


def _index_write_units(info: TableInfo, old: dict[str, Any] | None,
                       new: dict[str, Any] | None, consumed: Consumed) -> None:
    """Count the index writes a change makes (INDEXES mode)."""
    for index in info.indexes.values():
        keys = index.key_names
        before = old is not None and all(k in old for k in keys)
        after = new is not None and all(k in new for k in keys)
        if not before and not after:
            continue
        moved = before and after and any(old[k] != new[k] for k in keys)  # type: ignore[index]
        count = 2 if moved else 1
        size = max(size_of(old) if before else 0, size_of(new) if after else 0)
        consumed.add(info.name, write_units(size) * count, index.name, index.kind)


def _write_capacity(info: TableInfo, mode: str | None, old: dict[str, Any] | None,
                    new: dict[str, Any] | None) -> dict[str, Any] | None:
    consumed = Consumed(mode, read=False)
    if not consumed.wanted:
        return None
    consumed.add(info.name, write_units(size_of(old), size_of(new)))
    if consumed.mode == "INDEXES":
        _index_write_units(info, old, new, consumed)
    return consumed.single()


def _condition(data: dict[str, Any], exprs: Expressions) -> str | None:
    uses_legacy = legacy.check_forms(
        data, ("Expected", "ConditionalOperator"),
        ("ConditionExpression",))
    if uses_legacy:
        return legacy.expected(_decoded_expected(data.get("Expected") or {}),
                               data.get("ConditionalOperator"), exprs.legacy)
    return data.get("ConditionExpression")  # type: ignore[no-any-return]


def _decoded_expected(spec: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, entry in spec.items():
        decoded = dict(entry)
        if "Value" in entry:
            decoded["Value"] = decode_item({"v": entry["Value"]})["v"]
        if "AttributeValueList" in entry:
            decoded["AttributeValueList"] = [decode_item({"v": v})["v"]
                                             for v in entry["AttributeValueList"]]
        out[name] = decoded
    return out


def _finish(response: dict[str, Any], capacity: dict[str, Any] | None,
            metrics: dict[str, Any] | None) -> dict[str, Any]:
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    if metrics is not None:
        response["ItemCollectionMetrics"] = metrics
    return response


def put_item(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """PutItem: create or replace an item.

    Raises:
        DynamoDBError: ResourceNotFound, Validation, ConditionalCheckFailed.
    """
    exprs = Expressions(data)
    condition = _condition(data, exprs)
    item = decode_item(data["Item"])
    return_values = data.get("ReturnValues", "NONE")
    if return_values not in ("NONE", "ALL_OLD"):
        raise Validation("ReturnValues can only be ALL_OLD or NONE")
    if item_size(item) > MAX_ITEM_SIZE:
        raise Validation("Item size has exceeded the maximum allowed size")
    info = ctx.info(data["TableName"])
    info.check_item(item)
    try:
        old = info.table.put_item(
            item=item, condition=condition, return_values="ALL_OLD",
            return_values_on_condition_check_failure=data.get(
                "ReturnValuesOnConditionCheckFailure", "NONE"), **exprs.native())
    except DynafileError as error:
        raise write_failure(error) from None
    response: dict[str, Any] = {}
    if return_values == "ALL_OLD" and old is not None:
        response["Attributes"] = encode_item(old)
    return _finish(response, _write_capacity(info, data.get("ReturnConsumedCapacity"), old, item),
                   collection_metrics(info, data.get("ReturnItemCollectionMetrics"), item))


def _projection(data: dict[str, Any], exprs: Expressions) -> str | None:
    if legacy.check_forms(data, ("AttributesToGet",), ("ProjectionExpression",)):
        return legacy.projection(data["AttributesToGet"], exprs.legacy)
    return data.get("ProjectionExpression")  # type: ignore[no-any-return]


def get_item(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """GetItem: one item by key (``{}`` when there is none).

    Raises:
        DynamoDBError: ResourceNotFound, Validation.
    """
    exprs = Expressions(data)
    projection = _projection(data, exprs)
    key = decode_item(data["Key"])
    info = ctx.info(data["TableName"])
    info.check_key(key)
    try:
        if projection is None and not exprs.given_names:
            item = info.table.get_item(key=key)
        else:
            item = info.table.get_item(key=key, projection=projection,
                                       names=exprs.native()["names"])
    except DynafileError as error:
        raise from_dynafile(error) from None
    response: dict[str, Any] = {}
    if item is not None:
        response["Item"] = encode_item(item)
    consumed = Consumed(data.get("ReturnConsumedCapacity"), read=True)
    if consumed.wanted:
        # The whole item is read whatever the projection: size it as stored.
        whole = item if projection is None else info.table.get_item(key=key)
        consumed.add(info.name, read_units(size_of(whole), bool(data.get("ConsistentRead"))))
        response["ConsumedCapacity"] = consumed.single()
    return response


def delete_item(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """DeleteItem: delete an item by key (a missing item is no error).

    Raises:
        DynamoDBError: ResourceNotFound, Validation, ConditionalCheckFailed.
    """
    exprs = Expressions(data)
    condition = _condition(data, exprs)
    key = decode_item(data["Key"])
    return_values = data.get("ReturnValues", "NONE")
    if return_values not in ("NONE", "ALL_OLD"):
        raise Validation("ReturnValues can only be ALL_OLD or NONE")
    info = ctx.info(data["TableName"])
    info.check_key(key)
    try:
        old = info.table.delete_item(
            key=key, condition=condition, return_values="ALL_OLD",
            return_values_on_condition_check_failure=data.get(
                "ReturnValuesOnConditionCheckFailure", "NONE"), **exprs.native())
    except DynafileError as error:
        raise write_failure(error) from None
    response: dict[str, Any] = {}
    if return_values == "ALL_OLD" and old is not None:
        response["Attributes"] = encode_item(old)
    return _finish(response, _write_capacity(info, data.get("ReturnConsumedCapacity"), old, None),
                   collection_metrics(info, data.get("ReturnItemCollectionMetrics"), key))


def update_item(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """UpdateItem: change attributes, creating the item when missing.

    Raises:
        DynamoDBError: ResourceNotFound, Validation, ConditionalCheckFailed.
    """
    exprs = Expressions(data)
    uses_legacy = legacy.check_forms(
        data, ("AttributeUpdates", "Expected", "ConditionalOperator"),
        ("UpdateExpression", "ConditionExpression"))
    key = decode_item(data["Key"])
    if uses_legacy:
        condition = legacy.expected(_decoded_expected(data.get("Expected") or {}),
                                    data.get("ConditionalOperator"), exprs.legacy)
        updates = {name: ({**entry, "Value": decode_item({"v": entry["Value"]})["v"]}
                          if "Value" in entry else entry)
                   for name, entry in (data.get("AttributeUpdates") or {}).items()}
        update = legacy.updates(updates, (), exprs.legacy)
    else:
        condition = data.get("ConditionExpression")
        update = data.get("UpdateExpression")
    info = ctx.info(data["TableName"])
    info.check_key(key)
    return_values = data.get("ReturnValues", "NONE")
    try:
        result = info.table.update_item(
            key=key, update=update, condition=condition,
            return_values="ALL_NEW" if return_values == "NONE" else return_values,
            return_values_on_condition_check_failure=data.get(
                "ReturnValuesOnConditionCheckFailure", "NONE"), **exprs.native())
    except DynafileError as error:
        raise write_failure(error) from None
    response: dict[str, Any] = {}
    if return_values != "NONE" and result:
        response["Attributes"] = encode_item(result)
    after = result if return_values in ("NONE", "ALL_NEW") else None
    before = result if return_values == "ALL_OLD" else None
    return _finish(response,
                   _write_capacity(info, data.get("ReturnConsumedCapacity"), before, after),
                   collection_metrics(info, data.get("ReturnItemCollectionMetrics"), key))
