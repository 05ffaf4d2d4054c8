"""BatchGetItem and BatchWriteItem.

Every key and item of a batch is checked before anything is read or
written. BatchWriteItem writes each table's requests as one native batch
(one log record: all or nothing per table, as a dynafile batch is);
DynamoDB gives no atomicity at all, so this is only stronger. Nothing is
throttled, so ``UnprocessedItems`` is always empty; BatchGetItem returns
``UnprocessedKeys`` once its response passes DynamoDB's 16 MB.
"""

from __future__ import annotations

from typing import Any

from ..errors import DynafileError
from ..types import item_size, number_key, type_name
from . import legacy
from .capacity import Consumed, read_units, size_of, write_units
from .context import Context, TableInfo
from .errors import Validation, from_dynafile
from .items import MAX_ITEM_SIZE, collection_metrics
from .values import decode_item, encode_item

__all__ = ["MAX_BATCH_GET", "MAX_BATCH_WRITE", "batch_get_item", "batch_write_item"]

#: Keys one BatchGetItem may ask for.
MAX_BATCH_GET = 100
#: Requests one BatchWriteItem may hold.
MAX_BATCH_WRITE = 25
_MAX_RESPONSE = 16 * 1024 * 1024


def _key_id(info: TableInfo, key: dict[str, Any]) -> tuple[Any, ...]:
    """A hashable identity of a key under DynamoDB's equality."""
    out = []
    for name in info.key_names:
        value = key[name]
        kind = type_name(value)
        out.append((kind, number_key(value) if kind == "N" else value))
    return tuple(out)


def batch_get_item(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """BatchGetItem: up to 100 items from one or more tables.

    Raises:
        DynamoDBError: Validation (too many keys, duplicates, bad keys),
            ResourceNotFound.
    """
    requests = data["RequestItems"]
    if sum(len(r["Keys"]) for r in requests.values()) > MAX_BATCH_GET:
        raise Validation("Too many items requested for the BatchGetItem call")
    plans = []
    for name, request in requests.items():
        names = request.get("ExpressionAttributeNames")
        uses_legacy = legacy.check_forms(request, ("AttributesToGet",), ("ProjectionExpression",))
        if names is not None and not names:
            raise Validation("ExpressionAttributeNames must not be empty")
        projection = request.get("ProjectionExpression")
        names = dict(names or {})
        if uses_legacy:
            ph = legacy.Placeholders()
            projection = legacy.projection(request["AttributesToGet"], ph)
            names = ph.names
        keys = [decode_item(k) for k in request["Keys"]]
        plans.append((name, request, keys, projection, names))
    infos = {}
    for name, _request, keys, _projection, _names in plans:
        info = ctx.info(name)
        seen = set()
        for key in keys:
            info.check_key(key)
            ident = _key_id(info, key)
            if ident in seen:
                raise Validation("Provided list of item keys contains duplicates")
            seen.add(ident)
        infos[name] = info
    consumed = Consumed(data.get("ReturnConsumedCapacity"), read=True)
    responses: dict[str, list[Any]] = {}
    unprocessed: dict[str, Any] = {}
    size = 0
    for name, request, keys, projection, names in plans:
        info = infos[name]
        table_items = responses.setdefault(name, [])
        consistent = bool(request.get("ConsistentRead"))
        try:
            found = info.table.batch_get(keys)
            for index, (key, item) in enumerate(zip(keys, found)):
                if size > _MAX_RESPONSE:
                    rest = {k: v for k, v in request.items() if k != "Keys"}
                    rest["Keys"] = [encode_item(k) for k in keys[index:]]
                    unprocessed[name] = rest
                    break
                consumed.add(name, read_units(size_of(item), consistent))
                if item is None:
                    continue
                if projection is not None:
                    item = info.table.get_item(key=key, projection=projection, names=names)
                    if item is None:
                        continue
                encoded = encode_item(item)
                size += size_of(item)
                table_items.append(encoded)
        except DynafileError as error:
            raise from_dynafile(error) from None
    response: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
    report = consumed.report()
    if report is not None:
        response["ConsumedCapacity"] = report
    return response


def batch_write_item(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """BatchWriteItem: up to 25 puts and deletes over one or more tables.

    Raises:
        DynamoDBError: Validation (too many requests, duplicates, bad items
            or keys), ResourceNotFound. Nothing is written then.
    """
    requests = data["RequestItems"]
    if sum(len(r) for r in requests.values()) > MAX_BATCH_WRITE:
        raise Validation("Too many items requested for the BatchWriteItem call")
    decoded: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, entries in requests.items():
        out = []
        for entry in entries:
            if ("PutRequest" in entry) == ("DeleteRequest" in entry):
                raise Validation("Supplied AttributeValue has more than one datatypes set, must "
                                 "contain exactly one of the supported datatypes")
            if "PutRequest" in entry:
                item = decode_item(entry["PutRequest"]["Item"])
                if item_size(item) > MAX_ITEM_SIZE:
                    raise Validation("Item size has exceeded the maximum allowed size")
                out.append(("put", item))
            else:
                out.append(("delete", decode_item(entry["DeleteRequest"]["Key"])))
        decoded[name] = out
    infos = {}
    for name, writes in decoded.items():
        info = ctx.info(name)
        seen = set()
        for kind, value in writes:
            if kind == "put":
                info.check_item(value)
            else:
                info.check_key(value)
            ident = _key_id(info, info.key_of(value))
            if ident in seen:
                raise Validation("Provided list of item keys contains duplicates")
            seen.add(ident)
        infos[name] = info
    consumed = Consumed(data.get("ReturnConsumedCapacity"), read=False)
    metrics: dict[str, list[Any]] = {}
    for name, writes in decoded.items():
        info = infos[name]
        try:
            with info.table.batch_writer() as writer:
                for kind, value in writes:
                    if kind == "put":
                        writer.put_item(item=value)
                    else:
                        writer.delete_item(key=value)
        except DynafileError as error:
            raise from_dynafile(error) from None
        for kind, value in writes:
            consumed.add(name, write_units(size_of(value) if kind == "put" else 0))
            entry = collection_metrics(info, data.get("ReturnItemCollectionMetrics"), value)
            if entry is not None:
                metrics.setdefault(name, []).append(entry)
    response: dict[str, Any] = {"UnprocessedItems": {}}
    report = consumed.report()
    if report is not None:
        response["ConsumedCapacity"] = report
    if data.get("ReturnItemCollectionMetrics") == "SIZE":
        response["ItemCollectionMetrics"] = metrics
    return response
