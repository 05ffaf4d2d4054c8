"""The DynamoDB Streams API over each table's log: ListStreams,
DescribeStream, GetShardIterator, GetRecords.

A table's stream is its log (:meth:`dynafile.Dynafile.stream`), read from
any process without locks. Each enabled stream has **one shard** that never
closes. Positions are the log's ``(sequence, index)``; a DynamoDB
``SequenceNumber`` is the two as one 40-digit number
(``f"{sequence:020d}{index:020d}"``), so sequence numbers sort as the
changes happened. A shard iterator is an opaque token holding the stream
ARN and a position; it does not expire (DynamoDB's last 15 minutes). Records
are those written after the stream was enabled (its label), as far back as
the table's log retention keeps them (24 hours by default, as DynamoDB).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from typing import Any

from ..errors import DynafileError, StreamTrimmedError
from ..records import StreamRecord
from ..types import item_size
from .context import Context, TableInfo
from .errors import ResourceNotFound, TrimmedDataAccess, Validation, from_dynafile
from .values import encode_item

__all__ = ["describe_stream", "get_records", "get_shard_iterator", "list_streams",
           "sequence_number", "split_sequence_number"]

_WHOLE = -1  # an iterator position after a whole log record
_MAX_RECORDS = 1000


def sequence_number(sequence: int, index: int) -> str:
    """The DynamoDB SequenceNumber of log position ``(sequence, index)``."""
    return f"{sequence:020d}{index:020d}"


def split_sequence_number(text: str) -> tuple[int, int]:
    """The log position of a SequenceNumber.

    Raises:
        Validation: not one of dynafile's sequence numbers.
    """
    if not (text.isdigit() and len(text) == 40):
        raise Validation(f"Invalid SequenceNumber: {text}")
    return int(text[:20]), int(text[20:])


def _stream_arn(ctx: Context, info: TableInfo) -> str:
    return f"{ctx.arn(info.name)}/stream/{info.props.stream_label}"


def _shard_id(info: TableInfo) -> str:
    ident = uuid.uuid5(uuid.NAMESPACE_URL, f"{info.name}/{info.props.stream_label}").hex[:8]
    return f"shardId-{info.props.stream_since:020d}-{ident}"


def _streaming(ctx: Context, info: TableInfo) -> bool:
    return info.props.stream_enabled and info.props.stream_label is not None


def _table_of_stream(ctx: Context, arn: str) -> TableInfo:
    """The table whose current stream is ``arn``.

    Raises:
        ResourceNotFound: no such table, or its stream is off or another one.
    """
    prefix = f"arn:aws:dynamodb:{ctx.region}:{ctx.account}:table/"
    missing = ResourceNotFound(f"Requested resource not found: Stream: {arn} not found")
    if not arn.startswith(prefix) or "/stream/" not in arn:
        raise missing
    name, _, label = arn[len(prefix):].partition("/stream/")
    try:
        info = ctx.info(name)
    except ResourceNotFound:
        raise missing from None
    if not _streaming(ctx, info) or info.props.stream_label != label:
        raise missing
    return info


def list_streams(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """ListStreams: the enabled streams (of one table, with ``TableName``)."""
    names = [data["TableName"]] if "TableName" in data else ctx.db.tables()
    streams = []
    for name in names:
        try:
            info = ctx.info(name)
        except ResourceNotFound:
            if "TableName" in data:
                raise
            continue
        if _streaming(ctx, info):
            streams.append({"StreamArn": _stream_arn(ctx, info), "TableName": name,
                            "StreamLabel": info.props.stream_label})
    start = data.get("ExclusiveStartStreamArn")
    if start is not None:
        arns = [s["StreamArn"] for s in streams]
        streams = streams[arns.index(start) + 1:] if start in arns else streams
    limit = data.get("Limit", 100)
    out: dict[str, Any] = {"Streams": streams[:limit]}
    if len(streams) > limit:
        out["LastEvaluatedStreamArn"] = streams[limit - 1]["StreamArn"]
    return out


def describe_stream(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """DescribeStream: the stream's view type, key schema and its one shard."""
    info = _table_of_stream(ctx, data["StreamArn"])
    shard = {"ShardId": _shard_id(info), "SequenceNumberRange": {
        "StartingSequenceNumber": sequence_number(info.props.stream_since + 1, 0)}}
    shards = [] if data.get("ExclusiveStartShardId") == shard["ShardId"] else [shard]
    key_schema = [{"AttributeName": info.pk, "KeyType": "HASH"}]
    if info.sk:
        key_schema.append({"AttributeName": info.sk, "KeyType": "RANGE"})
    created = ctx.created(info.name, info.table) or 0.0
    return {"StreamDescription": {
        "StreamArn": data["StreamArn"], "StreamLabel": info.props.stream_label,
        "StreamStatus": "ENABLED", "StreamViewType": info.described["stream_view_type"],
        "CreationRequestDateTime": created, "TableName": info.name, "KeySchema": key_schema,
        "Shards": shards}}


def _iterator(arn: str, shard: str, position: tuple[int, int], horizon: bool) -> str:
    raw = json.dumps({"a": arn, "s": shard, "p": list(position), "h": horizon},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _read_iterator(text: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
        if not (isinstance(data, dict) and isinstance(data.get("a"), str)
                and isinstance(data.get("s"), str) and isinstance(data.get("p"), list)
                and len(data["p"]) == 2 and all(isinstance(v, int) for v in data["p"])):
            raise ValueError("not an iterator")
    except (ValueError, binascii.Error, UnicodeError):
        raise Validation("Invalid ShardIterator") from None
    return data


def get_shard_iterator(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """GetShardIterator: TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER or
    AFTER_SEQUENCE_NUMBER.

    Raises:
        DynamoDBError: ResourceNotFound (stream or shard), Validation (a
            sequence number missing, malformed or out of the stream),
            TrimmedDataAccess (older than retention).
    """
    arn = data["StreamArn"]
    info = _table_of_stream(ctx, arn)
    shard = _shard_id(info)
    if data["ShardId"] != shard:
        raise ResourceNotFound(f"Requested resource not found: Shard does not exist: "
                               f"{data['ShardId']}")
    kind = data["ShardIteratorType"]
    since = info.props.stream_since
    horizon = False
    if kind == "TRIM_HORIZON":
        position, horizon = (since, _WHOLE), True
    elif kind == "LATEST":
        position = (info.table.sequence, _WHOLE)
    else:
        text = data.get("SequenceNumber")
        if text is None:
            raise Validation(f"Must provide a SequenceNumber for ShardIteratorType {kind}")
        sequence, index = split_sequence_number(text)
        if sequence <= since or sequence > info.table.sequence:
            raise Validation(f"Invalid SequenceNumber {text} for shard {shard}")
        if kind == "AFTER_SEQUENCE_NUMBER":
            position = (sequence, index)
        else:
            position = (sequence, index - 1) if index > 0 else (sequence - 1, _WHOLE)
    return {"ShardIterator": _iterator(arn, shard, position, horizon)}


def _record(ctx: Context, info: TableInfo, record: StreamRecord, view: str,
            now: int) -> dict[str, Any]:
    body: dict[str, Any] = {"ApproximateCreationDateTime": now,
                            "Keys": encode_item(record.keys)}
    size = item_size(record.keys)
    if record.new is not None:
        body["NewImage"] = encode_item(record.new)
        size += item_size(record.new)
    if record.old is not None:
        body["OldImage"] = encode_item(record.old)
        size += item_size(record.old)
    body["SequenceNumber"] = sequence_number(record.sequence, record.index)
    body["SizeBytes"] = size
    body["StreamViewType"] = view
    out: dict[str, Any] = {
        "eventID": uuid.uuid5(uuid.NAMESPACE_URL, f"{ctx.arn(info.name)}/"
                                                  f"{body['SequenceNumber']}").hex,
        "eventName": record.event_name, "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": ctx.region, "dynamodb": body}
    if record.expired:
        out["userIdentity"] = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    return out


def get_records(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """GetRecords: up to ``Limit`` (1000) records after the iterator's position,
    and the iterator to continue with.

    Raises:
        DynamoDBError: Validation (a malformed iterator), ResourceNotFound
            (the stream is gone), TrimmedDataAccess (records trimmed by retention).

    Cost: reads the log from the start of the segment holding the position.
    """
    state = _read_iterator(data["ShardIterator"])
    info = _table_of_stream(ctx, state["a"])
    if state["s"] != _shard_id(info):
        raise ResourceNotFound(f"Requested resource not found: Shard does not exist: "
                               f"{state['s']}")
    limit = data.get("Limit", _MAX_RECORDS)
    sequence, index = state["p"]
    start: int | tuple[int, int] = sequence if index == _WHOLE else (sequence, index)
    view = info.described["stream_view_type"]
    records: list[StreamRecord] = []
    try:
        try:
            stream = info.table.stream(from_sequence=start, follow=False, view_type=view)
        except StreamTrimmedError:
            if not state.get("h"):
                raise
            stream = info.table.stream(from_sequence=0, follow=False, view_type=view)
        with stream:
            for record in stream:
                records.append(record)
                if len(records) >= limit:
                    break
            stream.close(commit=False)
    except StreamTrimmedError as error:
        raise TrimmedDataAccess(str(error)) from None
    except DynafileError as error:
        raise from_dynafile(error) from None
    now = int(time.time())
    position = (sequence, index)
    horizon = bool(state.get("h"))
    if records:
        last = records[-1]
        position = ((last.sequence, _WHOLE) if last.index == last.count - 1
                    else (last.sequence, last.index))
        horizon = False
    return {"Records": [_record(ctx, info, r, view, now) for r in records],
            "NextShardIterator": _iterator(state["a"], state["s"], position, horizon)}
