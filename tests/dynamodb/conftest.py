"""Fixtures for the DynamoDB protocol layer: a handler over a fresh database
directory, boto3 clients routed to it in-process, and helpers that send raw
requests and read DynamoDB's error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynafile.dynamodb import Handler, client, resource

TARGET = "DynamoDB_20120810."


@pytest.fixture
def handler(tmp_path):
    with Handler(tmp_path / "db", durability="normal") as h:
        yield h


@pytest.fixture
def ddb(handler):
    return client(handler)


@pytest.fixture
def dynamodb(handler):
    return resource(handler)


@pytest.fixture
def streams(handler):
    return client(handler, service="dynamodbstreams")


def raw(handler: Handler, operation: str, body: Any, prefix: str = TARGET) -> tuple[int, dict]:
    """Send one request as bytes; return the status and the parsed body."""
    data = body if isinstance(body, (bytes, str)) else json.dumps(body).encode()
    status, _headers, payload = handler.handle(prefix + operation, data)
    return status, json.loads(payload)


def error_of(handler: Handler, operation: str, body: Any) -> tuple[str, str | None]:
    """Send a request that must fail; return (exception name, message)."""
    status, data = raw(handler, operation, body)
    assert status == 400, data
    name = data["__type"].split("#")[1]
    return name, data.get("message", data.get("Message"))


def make_table(ddb, name: str = "orders", *, sort: str | None = "sk", sort_type: str = "S",
               pk_type: str = "S", stream: str | None = None, **extra: Any) -> None:
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": pk_type}]
    if sort:
        keys.append({"AttributeName": sort, "KeyType": "RANGE"})
        attrs.append({"AttributeName": sort, "AttributeType": sort_type})
    attrs += extra.pop("more_attributes", [])
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    ddb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs,
                     BillingMode="PAY_PER_REQUEST", **extra)
