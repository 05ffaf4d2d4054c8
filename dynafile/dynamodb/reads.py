"""Query and Scan.

The native query/scan reads the items (key condition, ``Limit``,
``ExclusiveStartKey``, segments, index); this module applies the filter and
the projection itself, because DynamoDB charges for every item *evaluated*
(before the filter) and counts them as ``ScannedCount``. Expressions are
compiled with the public expression API, so every DynamoDB check and
message of :mod:`dynafile.expressions` applies (placeholders used across
all of the request's expressions, no key attribute in a query filter).
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import DynafileError
from ..expressions import (
    Used,
    check_filter_keys,
    check_placeholders,
    compile_projection,
    parse_key_condition,
    to_predicate,
)
from ..types import type_name
from . import legacy
from .capacity import Consumed, read_units, size_of
from .context import Context, IndexInfo, TableInfo
from .errors import Validation, from_dynafile
from .inputs import Expressions
from .values import decode_item, decode_value, encode_item

__all__ = ["query", "run", "scan"]

_INVALID = "One or more parameter values were invalid: "


def _decoded_conditions(spec: dict[str, Any]) -> dict[str, Any]:
    return {name: {**entry, "AttributeValueList": [decode_value(v) for v in
                                                   entry.get("AttributeValueList") or []]}
            for name, entry in spec.items()}


def _select(data: dict[str, Any], projection: str | None, index: IndexInfo | None) -> str:
    """The effective Select, checked as DynamoDB checks it."""
    select = data.get("Select")
    given = ("ProjectionExpression" if "ProjectionExpression" in data else
             "AttributesToGet" if "AttributesToGet" in data else None)
    if select is None:
        if projection is not None:
            return "SPECIFIC_ATTRIBUTES"
        return "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES"
    if select == "SPECIFIC_ATTRIBUTES":
        if projection is None:
            raise Validation("Must specify the AttributesToGet or ProjectionExpression when "
                             "choosing to get SPECIFIC_ATTRIBUTES")
        return select
    if given is not None:
        shown = "only the Count" if select == "COUNT" else select
        raise Validation(f"Cannot specify the {given} when choosing to get {shown}")
    if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
        raise Validation("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an "
                         "IndexName")
    if (select == "ALL_ATTRIBUTES" and index is not None and index.kind == "GSI"
            and index.projection != "ALL"):
        raise Validation(f"{_INVALID}Select type ALL_ATTRIBUTES is not supported for global "
                         f"secondary index {index.name} because its projection type is not ALL")
    return select  # type: ignore[no-any-return]


class _Plan:
    """The compiled parts of a Query or Scan request."""

    def __init__(self, info: TableInfo, data: dict[str, Any], *, is_query: bool,
                 key_filters: bool = False) -> None:
        self.info = info
        exprs = Expressions(data)
        legacy_names = ("AttributesToGet", "QueryFilter" if is_query else "ScanFilter",
                        "ConditionalOperator") + (("KeyConditions",) if is_query else ())
        expression_names = ("ProjectionExpression", "FilterExpression") + (
            ("KeyConditionExpression",) if is_query else ())
        uses_legacy = legacy.check_forms(data, legacy_names, expression_names)
        index_name = data.get("IndexName")
        self.index = info.index(index_name) if index_name is not None else None
        if uses_legacy:
            ph = exprs.legacy
            filters = data.get("QueryFilter" if is_query else "ScanFilter")
            filter_text = (legacy.conditions(_decoded_conditions(filters),
                                             data.get("ConditionalOperator"), ph)
                           if filters else None)
            projection = (legacy.projection(data["AttributesToGet"], ph)
                          if "AttributesToGet" in data else None)
            key_text = (legacy.conditions(_decoded_conditions(data["KeyConditions"]), "AND", ph)
                        if is_query and data.get("KeyConditions") else None)
        else:
            filter_text = data.get("FilterExpression")
            projection = data.get("ProjectionExpression")
            key_text = data.get("KeyConditionExpression") if is_query else None
        if is_query and key_text is None:
            raise Validation("Either the KeyConditions or KeyConditionExpression parameter must "
                             "be specified in the request.")
        self.select = _select(data, projection, self.index)
        if data.get("ConsistentRead") and self.index is not None and self.index.kind == "GSI":
            raise Validation("Consistent reads are not supported on global secondary indexes")
        native = exprs.native()
        names, values = native["names"], native["values"]
        used = Used()
        self.pk: Any = None
        self.sk: Any = None
        if key_text is not None:
            pk_name = self.index.pk if self.index is not None else info.pk
            sk_name = self.index.sk if self.index is not None else info.sk
            self.pk, self.sk = parse_key_condition(key_text, names, values, pk_name=pk_name,
                                                   sk_name=sk_name, used=used)
            if type_name(self.pk) != info.types.get(pk_name):
                raise Validation(f"{_INVALID}Condition parameter type does not match schema "
                                 "type")
            if self.sk is not None and sk_name is not None and any(
                    type_name(v) != info.types.get(sk_name) for v in self.sk.values):
                raise Validation(f"{_INVALID}Condition parameter type does not match schema "
                                 "type")
        self.predicate: Callable[[dict[str, Any]], bool] | None = None
        if filter_text is not None:
            if is_query and not key_filters:
                keys = (self.index.key_names + info.key_names) if self.index else info.key_names
                check_filter_keys(filter_text, names, values, keys)
            self.predicate = to_predicate(filter_text, names, values, used=used,
                                          what="FilterExpression")
        self.project = (compile_projection(projection, names, used=used)
                        if projection is not None else None)
        check_placeholders(names, values, used)
        start = data.get("ExclusiveStartKey")
        self.start = None
        if start is not None:
            try:
                self.start = decode_item(start)
            except Validation as error:
                raise Validation(f"The provided starting key is invalid: {error.message}") from None
        self.consistent = bool(data.get("ConsistentRead"))


def _respond(ctx: Context, plan: _Plan, page: Any, data: dict[str, Any]) -> dict[str, Any]:
    info = plan.info
    index = plan.index
    consumed = Consumed(data.get("ReturnConsumedCapacity"), read=True)
    total = 0
    out = []
    scanned = 0
    for item in page.items:
        scanned += 1
        total += size_of(item)
        if plan.predicate is not None and not plan.predicate(item):
            continue
        if (index is not None and index.kind == "LSI" and plan.select == "ALL_ATTRIBUTES"
                and index.projection != "ALL"):
            whole = info.table.get_item(key=info.key_of(item))
            item = whole if whole is not None else item
        if plan.project is not None:
            item = plan.project(item)
        out.append(item)
    response: dict[str, Any] = {"Count": len(out), "ScannedCount": scanned}
    if plan.select != "COUNT":
        response["Items"] = [encode_item(item) for item in out]
    last = page.last_evaluated_key
    if last is not None:
        response["LastEvaluatedKey"] = encode_item(last)
    if consumed.wanted:
        units = read_units(total, plan.consistent)
        if index is None:
            consumed.add(info.name, units)
        else:
            consumed.add(info.name, units, index.name, index.kind)
        response["ConsumedCapacity"] = consumed.single()
    return response


def query(ctx: Context, data: dict[str, Any], *, key_filters: bool = False) -> dict[str, Any]:
    """Query: one item collection (of the table or an index), in sort-key order.

    ``key_filters`` lets the filter read key attributes (PartiQL's WHERE
    may; a Query's FilterExpression may not).

    Raises:
        DynamoDBError: ResourceNotFound, Validation.

    Cost: O(log n + k) for k items evaluated.
    """
    info = ctx.info(data["TableName"])
    plan = _Plan(info, data, is_query=True, key_filters=key_filters)
    try:
        page = info.table.query(
            plan.pk, sk=plan.sk, scan_index_forward=data.get("ScanIndexForward", True),
            limit=data.get("Limit"), exclusive_start_key=plan.start,
            index=plan.index.name if plan.index is not None else None)
        return _respond(ctx, plan, page, data)
    except DynafileError as error:
        raise from_dynafile(error) from None


def scan(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """Scan: every item of the table or an index, optionally one segment.

    Raises:
        DynamoDBError: ResourceNotFound, Validation.

    Cost: O(n) for the whole table.
    """
    segment, total = data.get("Segment"), data.get("TotalSegments")
    if segment is not None and total is None:
        raise Validation("The TotalSegments parameter is required but was not present in the "
                         "request when Segment parameter is present")
    if total is not None and segment is None:
        raise Validation("The Segment parameter is required but was not present in the request "
                         "when parameter TotalSegments is present")
    if segment is not None and segment >= total:
        raise Validation("The Segment parameter is zero-based and must be less than parameter "
                         f"TotalSegments: Segment: {segment} is not less than TotalSegments: "
                         f"{total}")
    info = ctx.info(data["TableName"])
    plan = _Plan(info, data, is_query=False)
    try:
        page = info.table.scan(limit=data.get("Limit"), exclusive_start_key=plan.start,
                               segment=segment, total_segments=total,
                               index=plan.index.name if plan.index is not None else None)
        return _respond(ctx, plan, page, data)
    except DynafileError as error:
        raise from_dynafile(error) from None


def run(ctx: Context, operation: str, data: dict[str, Any], *,
        key_filters: bool = False) -> dict[str, Any]:
    """Run a ``"Query"`` or ``"Scan"`` request built by another module
    (PartiQL's SELECT)."""
    if operation == "Query":
        return query(ctx, data, key_filters=key_filters)
    return scan(ctx, data)
