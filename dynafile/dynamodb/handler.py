"""The protocol handler: one DynamoDB API request in, DynamoDB's response out.

Two entry points, one for each kind of caller:

* :meth:`Handler.handle` ``(target, body) -> Response(status, headers, body)``
  takes what an HTTP request carries (the ``X-Amz-Target`` header, such as
  ``"DynamoDB_20120810.PutItem"`` or ``"DynamoDBStreams_20120810.GetRecords"``,
  and the raw body bytes) and returns what the HTTP response carries. It
  never raises for a bad request: every error becomes DynamoDB's error body
  (``{"__type": ..., "message": ...}``) with DynamoDB's status. The HTTP
  server and the boto3 in-process transport (:mod:`.boto`) both call it.
* :meth:`Handler.call` ``(operation, request_dict) -> response_dict`` is the
  same without the JSON: it raises :class:`~.errors.DynamoDBError`.

A request is checked in DynamoDB's order: body size, JSON, target, member
types (:mod:`.shapes`), constraints, then the operation's own checks; a
request refused at any step changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
import zlib
from decimal import Decimal
from typing import Any, Callable, NamedTuple

from ..database import Database
from ..errors import DynafileError
from . import batch, items, reads, statements, streams, tables, transactions
from .context import Context
from .errors import (
    DynamoDBError,
    InternalServerError,
    RequestTooLarge,
    SerializationError,
    UnknownOperation,
    from_dynafile,
)
from .shapes import OPERATIONS, STREAM_OPERATIONS, check_request

__all__ = ["DYNAMODB_PREFIX", "MAX_REQUEST_BYTES", "STREAMS_PREFIX", "Handler", "Response"]

log = logging.getLogger(__name__)

#: The ``X-Amz-Target`` prefix of DynamoDB's operations.
DYNAMODB_PREFIX = "DynamoDB_20120810"
#: The ``X-Amz-Target`` prefix of DynamoDB Streams' operations.
STREAMS_PREFIX = "DynamoDBStreams_20120810"
#: The largest request body DynamoDB accepts (16 MB).
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: The content type of every answer.
CONTENT_TYPE = "application/x-amz-json-1.0"

Operation = Callable[[Context, dict[str, Any]], dict[str, Any]]

_OPERATIONS: dict[str, Operation] = {
    "CreateTable": tables.create_table,
    "DeleteTable": tables.delete_table,
    "DescribeTable": tables.describe_table,
    "ListTables": tables.list_tables,
    "UpdateTable": tables.update_table,
    "UpdateTimeToLive": tables.update_time_to_live,
    "DescribeTimeToLive": tables.describe_time_to_live,
    "TagResource": tables.tag_resource,
    "UntagResource": tables.untag_resource,
    "ListTagsOfResource": tables.list_tags_of_resource,
    "DescribeLimits": tables.describe_limits,
    "DescribeEndpoints": tables.describe_endpoints,
    "PutItem": items.put_item,
    "GetItem": items.get_item,
    "DeleteItem": items.delete_item,
    "UpdateItem": items.update_item,
    "Query": reads.query,
    "Scan": reads.scan,
    "BatchGetItem": batch.batch_get_item,
    "BatchWriteItem": batch.batch_write_item,
    "TransactWriteItems": transactions.transact_write_items,
    "TransactGetItems": transactions.transact_get_items,
    "ExecuteStatement": statements.execute_statement,
    "BatchExecuteStatement": statements.batch_execute_statement,
    "ExecuteTransaction": statements.execute_transaction,
}

_STREAM_OPERATIONS: dict[str, Operation] = {
    "ListStreams": streams.list_streams,
    "DescribeStream": streams.describe_stream,
    "GetShardIterator": streams.get_shard_iterator,
    "GetRecords": streams.get_records,
}


class Response(NamedTuple):
    """What an HTTP response carries."""

    status: int
    headers: dict[str, str]
    body: bytes


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _response(status: int, result: dict[str, Any]) -> Response:
    payload = json.dumps(result, separators=(",", ":"), default=_json_default).encode()
    headers = {
        "Content-Type": CONTENT_TYPE,
        "x-amzn-RequestId": uuid.uuid4().hex.upper()[:52],
        "x-amz-crc32": str(zlib.crc32(payload) & 0xFFFFFFFF),
        "Content-Length": str(len(payload)),
    }
    return Response(status, headers, payload)


def _table_of(request: dict[str, Any]) -> str:
    """The table a request names, for the request log."""
    name = request.get("TableName")
    if isinstance(name, str):
        return name
    items = request.get("RequestItems")
    if isinstance(items, dict) and items:
        return ",".join(str(table) for table in items)
    arn = request.get("StreamArn") or request.get("ResourceArn")
    if isinstance(arn, str) and "table/" in arn:
        return arn.split("table/", 1)[1].split("/", 1)[0]
    return "-"


class Handler:
    """DynamoDB's API (and DynamoDB Streams') over a dynafile database.

    Args:
        database: a :class:`~dynafile.Database`, or the path of its
            directory (the handler then opens it, with ``table_options``,
            and closes it in :meth:`close`).
        region: the region ARNs and stream records name (``us-east-1``).
        account: the account ARNs name (``000000000000``).
        table_options: passed to :class:`~dynafile.Database` when opening a path.

    Thread-safe: requests may be handled from many threads at once.

    Example:
        >>> import json, tempfile
        >>> handler = Handler(tempfile.mkdtemp())
        >>> status, headers, body = handler.handle("DynamoDB_20120810.ListTables", b"{}")
        >>> status, json.loads(body)
        (200, {'TableNames': []})
        >>> handler.close()
    """

    def __init__(self, database: Database | str | os.PathLike[str], *,
                 region: str = "us-east-1", account: str = "000000000000",
                 **table_options: Any) -> None:
        if isinstance(database, Database):
            self.database = database
            self._owns = False
        else:
            self.database = Database(database, **table_options)
            self._owns = True
        self.context = Context(self.database, region, account)
        self._closed = False
        self._lock = threading.Lock()

    @property
    def region(self) -> str:
        """The region ARNs name."""
        return self.context.region

    def call(self, operation: str, request: dict[str, Any], *,
             streams_api: bool = False) -> dict[str, Any]:
        """Run one operation on an already-parsed JSON request.

        Args:
            operation: the operation name (``"PutItem"``).
            request: the request body as parsed JSON.
            streams_api: the operation is DynamoDB Streams' (``GetRecords``).

        Returns:
            The response body as JSON-ready data (DynamoDB JSON values).

        Raises:
            DynamoDBError: DynamoDB's error for the request.
        """
        table = _STREAM_OPERATIONS if streams_api else _OPERATIONS
        shapes = STREAM_OPERATIONS if streams_api else OPERATIONS
        run = table.get(operation)
        if run is None:
            raise UnknownOperation(None)
        data = check_request(operation, request, shapes[operation])
        try:
            return run(self.context, data)
        except DynamoDBError:
            raise
        except DynafileError as error:
            raise from_dynafile(error) from None

    def handle(self, target: str | None, body: bytes | str | None, *,
               info: dict[str, str] | None = None) -> Response:
        """Answer one request as an HTTP server would.

        Args:
            target: the ``X-Amz-Target`` header value.
            body: the raw request body.
            info: when given, filled with what a request log names:
                ``"operation"`` (``"PutItem"``, or ``"-"`` when the target
                names none) and ``"table"`` (the ``TableName``, the tables
                of a batch joined by ``,``, or ``"-"``).

        Returns:
            ``Response(status, headers, body)``: 200 with the result, or
            DynamoDB's error body with its status (400, 413 or 500). The
            headers hold ``Content-Type``, ``x-amzn-RequestId``,
            ``x-amz-crc32`` (the CRC32 of the body, which SDKs check) and
            ``Content-Length``.

        Never raises for a bad request; an unexpected failure is logged and
        answered as ``InternalServerError`` (500). Cost: the operation's,
        plus parsing and writing the JSON.
        """
        try:
            result = self._answer(target, body, info)
            status = 200
        except DynamoDBError as error:
            result, status = error.body(), error.status
        except Exception as error:
            log.exception("internal error handling %s", target)
            wire = InternalServerError(f"Internal server error: {type(error).__name__}")
            result, status = wire.body(), wire.status
        return _response(status, result)

    @staticmethod
    def error_response(error: DynamoDBError) -> Response:
        """The response :meth:`handle` gives for ``error``, for errors a
        server finds before the handler (a body too large or too slow, a
        bad signature). Cost: O(1)."""
        return _response(error.status, error.body())

    def _answer(self, target: str | None, body: bytes | str | None,
                info: dict[str, str] | None) -> dict[str, Any]:
        if self._closed:
            raise InternalServerError("the handler is closed")
        raw = body if body is not None else b""
        if len(raw) > MAX_REQUEST_BYTES:
            raise RequestTooLarge("Request Entity Too Large")
        prefix, _, operation = (target or "").partition(".")
        if info is not None:
            info["operation"] = operation or "-"
            info["table"] = "-"
        try:
            request = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            raise SerializationError(None) from None
        if prefix == DYNAMODB_PREFIX and operation in _OPERATIONS:
            streams_api = False
        elif prefix == STREAMS_PREFIX and operation in _STREAM_OPERATIONS:
            streams_api = True
        else:
            raise UnknownOperation(None)
        if request is None:
            raise SerializationError(None)
        if info is not None and isinstance(request, dict):
            info["table"] = _table_of(request)
        return self.call(operation, request, streams_api=streams_api)

    def close(self) -> None:
        """Close the database when the handler opened it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.context.props.close()
            if self._owns:
                self.database.close()

    def __enter__(self) -> Handler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
