"""Query, scan and count on DynamoDB, as :class:`~dynafile.pages.Page` results.

A page is one Query or Scan request. ``limit`` is DynamoDB's ``Limit``
(items evaluated, before the filter), and iterating a page follows
``LastEvaluatedKey`` while DynamoDB's 1 MB page size (not the limit) cut
it, exactly as the file backend's pages do. The first request is sent when
``query`` / ``scan`` is called (so a bad request raises there); later
pages when iteration reaches them.

**Filters that run here.** A callable or a filtration string cannot run in
DynamoDB: every item of the key range (query) or of the table (scan) is
read and sent over the network, paid for as read capacity (one unit per
4 KB evaluated, half for eventually consistent reads), and the filter runs
on each in this process. A DynamoDB expression or a ``Key`` / ``Attr``
builder runs in DynamoDB, which still reads (and bills) every item it
evaluates but sends only the matches. A projection with a client-side
filter is applied here too, after the filter.

Reads of the table and of local indexes are strongly consistent
(``ConsistentRead``), as the file backend's are; global secondary indexes
cannot be read consistently in DynamoDB.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ValidationError
from ..expressions import KeyCondition, check_filter_keys, parse_key_condition
from ..indexes import GSI
from ..keys import check_key_value
from ..pages import Page, Progress
from ..query import UNSET, projection_of
from .requests import Request
from .values import item_from_wire, item_to_wire

if TYPE_CHECKING:  # pragma: no cover
    from .table import RemoteTable

__all__ = ["count", "query", "scan"]

Item = dict[str, Any]


def _limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError("must be a positive int", attribute="limit")
    return limit


def _one_filter(positional: Any, keyword: Any) -> Any:
    if positional is not None and keyword is not None:
        raise ValidationError("give the filter once (filter= or _filter=)", attribute="filter")
    return keyword if keyword is not None else positional


def _sort_condition(sk: Any, starts_with: Any, forward: bool, sk_name: str | None,
                    types: Mapping[str, str]) -> KeyCondition | None:
    """The one sort-key condition DynamoDB takes, from ``sk`` or ``starts_with``."""
    if sk is not None and starts_with is not None:
        raise ValidationError("on DynamoDB give sk= or starts_with=, not both: a query takes "
                              "one sort key condition", attribute="starts_with")
    if starts_with is not None:
        if sk_name is None:
            raise ValidationError("the table has no sort key", attribute="starts_with")
        sk = KeyCondition(sk_name, "gte" if forward else "lte", (starts_with,))
    if sk is None:
        return None
    if sk_name is None:
        raise ValidationError("the table (or index) has no sort key", attribute="sk")
    if not isinstance(sk, KeyCondition):
        raise ValidationError("sk must be a Key(...) condition, e.g. "
                              "Key('SK').begins_with('a')", attribute="sk")
    if sk.name != sk_name:
        raise ValidationError(f"condition is on {sk.name!r}, not the sort key {sk_name!r}",
                              attribute="sk")
    for value in sk.values:
        check_key_value(sk_name, value, types.get(sk_name), sort=True)
    if sk.op == "begins_with" and not isinstance(sk.values[0], (str, bytes, bytearray)):
        raise ValidationError("begins_with needs a string or bytes prefix", attribute="sk")
    if sk.op == "between":
        low, high = sk.values
        try:
            wrong = low > high
        except TypeError:
            raise ValidationError("sort key condition values of different types",
                                  attribute="sk") from None
        if wrong:
            raise ValidationError("BETWEEN bounds are in the wrong order (the lower bound is "
                                  "greater)", attribute="sk")
    return sk


class _Reader:
    """One query or scan: the request, and what runs here on its answers."""

    def __init__(self, table: RemoteTable, operation: str, request: dict[str, Any],
                 predicate: Callable[[Item], bool] | None,
                 project: Callable[[Item], Item] | None) -> None:
        self.table = table
        self.operation = operation
        self.request = request
        self.predicate = predicate
        self.project = project

    def page(self, start: Item | None, left: int | None) -> Page:
        request = dict(self.request)
        if start is not None:
            request["ExclusiveStartKey"] = item_to_wire(start)
        if left is not None:
            request["Limit"] = left
        answer = self.table.connection.call(self.operation, **request)
        raw = answer.get("Items") or []
        progress = Progress()
        progress.scanned = int(answer.get("ScannedCount", len(raw)))
        last = answer.get("LastEvaluatedKey")
        if last:
            progress.last_key = item_from_wire(last)
            progress.full = left is None or progress.scanned < left
        predicate, project = self.predicate, self.project

        def source() -> Iterator[Item]:
            for entry in raw:
                item = item_from_wire(entry)
                assert item is not None
                if predicate is not None and not predicate(item):
                    continue
                yield project(item) if project is not None else item

        def following(last_key: Item, evaluated: int) -> Page:
            return self.page(last_key, None if left is None else max(left - evaluated, 1))

        return Page(source(), progress, following)

    def count(self, start: Item | None, left: int | None) -> int:
        """Sum ``Select=COUNT`` answers over the pages iteration would read."""
        total = 0
        while True:
            request = dict(self.request, Select="COUNT")
            if start is not None:
                request["ExclusiveStartKey"] = item_to_wire(start)
            if left is not None:
                request["Limit"] = left
            answer = self.table.connection.call(self.operation, **request)
            total += int(answer.get("Count", 0))
            scanned = int(answer.get("ScannedCount", 0))
            last = answer.get("LastEvaluatedKey")
            if not last or (left is not None and scanned >= left):
                return total
            start = item_from_wire(last)
            left = None if left is None else max(left - scanned, 1)


def _exclusive_start(key: Any) -> Item | None:
    if key is None:
        return None
    if not isinstance(key, Mapping):
        raise ValidationError("must be a key dict (a page's last_evaluated_key)",
                              attribute="exclusive_start_key")
    return dict(key)


def _prepare_query(table: RemoteTable, pk: Any, positional_filter: Any, *, sk: Any,
                   starts_with: Any, scan_index_forward: bool, filter: Any, key_condition: Any,
                   names: Any, values: Any, projection: Any, limit: Any,
                   index: str | None, counting: bool) -> tuple[_Reader, int | None]:
    table.check_open()
    info = table.info
    pk_name, sk_name = info.key_names(index)
    req = Request(names, values)
    if key_condition is not None:
        if pk is not UNSET or sk is not None:
            raise ValidationError("give either key_condition or pk/sk, not both",
                                  attribute="key_condition")
        pk, sk = parse_key_condition(key_condition, names, values, pk_name=pk_name,
                                     sk_name=sk_name, used=req.used)
    elif pk is UNSET:
        raise ValidationError("query needs a partition key value", attribute="pk")
    spec = _one_filter(positional_filter, filter)
    if spec is not None:
        check_filter_keys(spec, names, values, [pk_name] if sk_name is None else [pk_name,
                                                                                   sk_name])
    filter_text, predicate = req.filter(spec) if spec is not None else (None, None)
    check_key_value(pk_name, pk, info.key_types.get(pk_name))
    condition = _sort_condition(sk, starts_with, scan_index_forward, sk_name, info.key_types)
    limit = _limit(limit)
    if not isinstance(scan_index_forward, bool):
        raise ValidationError("must be True or False", attribute="scan_index_forward")
    request: dict[str, Any] = {"TableName": info.name,
                               "KeyConditionExpression": req.key_condition(pk_name, pk,
                                                                           condition),
                               "ScanIndexForward": scan_index_forward}
    project = _projection(req, request, projection, names, predicate, counting)
    if filter_text is not None:
        request["FilterExpression"] = filter_text
    _index(request, info, index)
    req.finish(request)
    return _Reader(table, "query", request, predicate, project), limit


def _projection(req: Request, request: dict[str, Any], projection: Any, names: Any,
                predicate: Any, counting: bool) -> Callable[[Item], Item] | None:
    if projection is None:
        return None
    if counting:
        raise ValidationError("count takes no projection", attribute="projection")
    if predicate is None:
        text = req.projection(projection)
        if text:
            request["ProjectionExpression"] = text
        return None
    # the filter runs here and needs whole items: project here, after it
    return projection_of(projection, names, req.used)


def _index(request: dict[str, Any], info: Any, index: str | None) -> None:
    if index is not None:
        ix = info.index(index)
        request["IndexName"] = index
        request["ConsistentRead"] = not isinstance(ix, GSI)
    else:
        request["ConsistentRead"] = True


def query(table: RemoteTable, pk: Any = UNSET, positional_filter: Any = None, *,
          sk: KeyCondition | None = None, starts_with: Any = None,
          scan_index_forward: bool = True, filter: Any = None, key_condition: Any = None,
          names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
          projection: None | str | Sequence[str] = None, limit: int | None = None,
          exclusive_start_key: Mapping[str, Any] | None = None,
          index: str | None = None) -> Page:
    """The file backend's :meth:`~dynafile.table.Dynafile.query`, as a Query request."""
    reader, left = _prepare_query(
        table, pk, positional_filter, sk=sk, starts_with=starts_with,
        scan_index_forward=scan_index_forward, filter=filter, key_condition=key_condition,
        names=names, values=values, projection=projection, limit=limit, index=index,
        counting=False)
    return reader.page(_exclusive_start(exclusive_start_key), left)


def count(table: RemoteTable, pk: Any = UNSET, positional_filter: Any = None,
          **kwargs: Any) -> int:
    """How many items iterating :func:`query` would yield: ``Select=COUNT``
    requests when the filter runs in DynamoDB (no items are sent), else the
    items are read and filtered here."""
    start = _exclusive_start(kwargs.pop("exclusive_start_key", None))
    args: dict[str, Any] = {"sk": None, "starts_with": None, "scan_index_forward": True, "filter": None,
            "key_condition": None, "names": None, "values": None, "projection": None,
            "limit": None, "index": None}
    unknown = set(kwargs) - set(args)
    if unknown:
        raise ValidationError(f"unknown arguments {sorted(unknown)}", attribute="count")
    args.update(kwargs)
    reader, left = _prepare_query(table, pk, positional_filter, counting=True, **args)
    if reader.predicate is not None:
        return sum(1 for _ in reader.page(start, left))
    return reader.count(start, left)


def scan(table: RemoteTable, positional_filter: Any = None, *, filter: Any = None,
         names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
         projection: None | str | Sequence[str] = None, limit: int | None = None,
         exclusive_start_key: Mapping[str, Any] | None = None, segment: int | None = None,
         total_segments: int | None = None, index: str | None = None) -> Page:
    """The file backend's :meth:`~dynafile.table.Dynafile.scan`, as a Scan request."""
    table.check_open()
    info = table.info
    req = Request(names, values)
    spec = _one_filter(positional_filter, filter)
    filter_text, predicate = req.filter(spec) if spec is not None else (None, None)
    limit = _limit(limit)
    if (segment is None) != (total_segments is None):
        raise ValidationError("segment and total_segments go together", attribute="segment")
    request: dict[str, Any] = {"TableName": info.name}
    if total_segments is not None:
        if not isinstance(total_segments, int) or isinstance(total_segments, bool) or not (
                1 <= total_segments <= 1_000_000):
            raise ValidationError("must be an int from 1 to 1000000", attribute="total_segments")
        if not isinstance(segment, int) or isinstance(segment, bool) or not (
                0 <= segment < total_segments):
            raise ValidationError("must be an int from 0 to total_segments - 1",
                                  attribute="segment")
        request.update(Segment=segment, TotalSegments=total_segments)
    project = _projection(req, request, projection, names, predicate, False)
    if filter_text is not None:
        request["FilterExpression"] = filter_text
    _index(request, info, index)
    req.finish(request)
    return _Reader(table, "scan", request, predicate, project).page(
        _exclusive_start(exclusive_start_key), limit)
