"""TransactWriteItems and TransactGetItems, over the database's own
transactions: one log for every table, so a transaction spanning tables is
one record, all or nothing across processes and crashes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..database import Database
from ..errors import DynafileError, TransactionCanceledError
from ..expressions import compile_projection
from ..types import item_size
from .capacity import Consumed, read_units, size_of, write_units
from .context import Context, TableInfo
from .errors import TransactionCanceled, Validation, from_dynafile
from .inputs import Expressions
from .items import MAX_ITEM_SIZE, collection_metrics
from .values import decode_item, encode_item

__all__ = ["transact_get", "transact_get_items", "transact_write_items"]

_KINDS = {"ConditionCheck": "condition_check", "Put": "put", "Delete": "delete",
          "Update": "update"}


def transact_get(db: Database, keys: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
    """Read ``{"table", "key"}`` entries (with optional ``"projection"`` and
    ``"names"``) as one snapshot: the items in order, ``None`` for missing ones.

    Raises:
        ValidationError / TableNotFoundError: from ``Database.transact_get``.
    """
    items = db.transact_get([(entry["table"], entry["key"]) for entry in keys],
                            max_items=max(100, len(keys)))
    out: list[dict[str, Any] | None] = []
    for entry, item in zip(keys, items):
        if item is not None and entry.get("projection") is not None:
            item = compile_projection(entry["projection"], entry.get("names"))(item)
        out.append(item)
    return out


def _reasons(error: TransactionCanceledError) -> list[dict[str, Any]]:
    out = []
    for reason in error.reasons:
        entry: dict[str, Any] = {"Code": reason.code or "None"}
        if reason.code is not None:
            entry["Message"] = reason.message or (
                "The conditional request failed" if reason.code == "ConditionalCheckFailed"
                else reason.code)
        if reason.item is not None:
            entry["Item"] = encode_item(reason.item)
        out.append(entry)
    return out


def _action(info: TableInfo, kind: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    exprs = Expressions(body)
    native: dict[str, Any] = {**exprs.native()}
    size = 0
    if kind == "put":
        item = decode_item(body["Item"])
        if item_size(item) > MAX_ITEM_SIZE:
            raise Validation("Item size has exceeded the maximum allowed size")
        info.check_item(item)
        native["item"] = item
        size = item_size(item)
    else:
        key = decode_item(body["Key"])
        info.check_key(key)
        native["key"] = key
    if body.get("ConditionExpression") is not None:
        native["condition"] = body["ConditionExpression"]
    if kind == "update":
        native["update"] = body["UpdateExpression"]
    if "ReturnValuesOnConditionCheckFailure" in body:
        native["return_values_on_condition_check_failure"] = body[
            "ReturnValuesOnConditionCheckFailure"]
    native["table"] = info.name
    return {kind: native}, size


def transact_write_items(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """TransactWriteItems: up to 100 puts, updates, deletes and condition
    checks, all or nothing.

    Raises:
        DynamoDBError: Validation, ResourceNotFound, TransactionCanceled
            (``CancellationReasons``, one per action, with the item when
            asked for), IdempotentParameterMismatch.
    """
    parsed = []
    for entry in data["TransactItems"]:
        present = [name for name in _KINDS if name in entry]
        if len(present) != 1:
            raise Validation("TransactItems can only contain one of Check, Put, Update or Delete")
        parsed.append((_KINDS[present[0]], entry[present[0]]))
    actions, sizes, infos = [], [], []
    for kind, body in parsed:
        info = ctx.info(body["TableName"])
        action, size = _action(info, kind, body)
        actions.append(action)
        sizes.append(size)
        infos.append(info)
    try:
        ctx.db.transact_write(actions, token=data.get("ClientRequestToken"),
                              max_actions=max(100, len(actions)))
    except TransactionCanceledError as error:
        raise TransactionCanceled(str(error), CancellationReasons=_reasons(error)) from None
    except DynafileError as error:
        raise from_dynafile(error) from None
    response: dict[str, Any] = {}
    consumed = Consumed(data.get("ReturnConsumedCapacity"), read=False)
    if consumed.wanted:
        for info, size in zip(infos, sizes):
            consumed.add(info.name, write_units(size, transactional=True))
        response["ConsumedCapacity"] = consumed.report()
    if data.get("ReturnItemCollectionMetrics") == "SIZE":
        metrics: dict[str, list[Any]] = {}
        for info, action in zip(infos, actions):
            (body,) = action.values()
            entry = collection_metrics(info, "SIZE", body.get("item") or body.get("key"))
            if entry is not None:
                metrics.setdefault(info.name, []).append(entry)
        response["ItemCollectionMetrics"] = metrics
    return response


def transact_get_items(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """TransactGetItems: up to 100 items read as one snapshot.

    Raises:
        DynamoDBError: Validation, ResourceNotFound.
    """
    keys = []
    infos = []
    for entry in data["TransactItems"]:
        body = entry["Get"]
        names = body.get("ExpressionAttributeNames")
        if names is not None and not names:
            raise Validation("ExpressionAttributeNames must not be empty")
        key = decode_item(body["Key"])
        info = ctx.info(body["TableName"])
        info.check_key(key)
        keys.append({"table": info.name, "key": key,
                     "projection": body.get("ProjectionExpression"), "names": names or {}})
        infos.append(info)
    try:
        items = transact_get(ctx.db, keys)
    except DynafileError as error:
        raise from_dynafile(error) from None
    response: dict[str, Any] = {
        "Responses": [{"Item": encode_item(item)} if item is not None else {}
                      for item in items]}
    consumed = Consumed(data.get("ReturnConsumedCapacity"), read=True)
    if consumed.wanted:
        for info, item in zip(infos, items):
            consumed.add(info.name, read_units(size_of(item), True, transactional=True))
        response["ConsumedCapacity"] = consumed.report()
    return response
