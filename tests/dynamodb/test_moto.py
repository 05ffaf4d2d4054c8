"""The same requests to dynafile (in-process) and to moto's in-process
DynamoDB: results and error codes must agree.

Where moto is known to answer differently from DynamoDB, the difference is
listed in ``MOTO_DIFFERS`` (and dynafile's answer is checked against
DynamoDB's in the other test files):

* moto keeps a number as it was spelt (``"1.50"``); DynamoDB stores the
  number's value and answers ``"1.5"`` (as dynafile does). Those requests
  are compared with numbers read as values.
* Error answers are compared by code only: moto words several messages
  differently from DynamoDB.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dynafile.dynamodb import client

moto = pytest.importorskip("moto")

SCHEMA = {
    "TableName": "orders",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                  {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                             {"AttributeName": "sk", "AttributeType": "N"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def item(pk: str, sk: int, **more: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}, **more}


REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("put_item", {"TableName": "orders", "Item": item("a", 1, n={"N": "1.50"},
                                                      tags={"SS": ["x", "y"]})}),
    ("put_item", {"TableName": "orders", "Item": item("a", 2, n={"N": "7"})}),
    ("put_item", {"TableName": "orders", "Item": item("b", 1, m={"M": {"k": {"L": [
        {"BOOL": True}, {"NULL": True}]}}})}),
    ("get_item", {"TableName": "orders", "Key": item("a", 1)}),
    ("get_item", {"TableName": "orders", "Key": item("zz", 1)}),
    ("get_item", {"TableName": "orders", "Key": item("a", 1), "ProjectionExpression": "tags"}),
    ("query", {"TableName": "orders", "KeyConditionExpression": "pk = :p",
               "ExpressionAttributeValues": {":p": {"S": "a"}}}),
    ("query", {"TableName": "orders", "KeyConditionExpression": "pk = :p AND sk > :s",
               "ExpressionAttributeValues": {":p": {"S": "a"}, ":s": {"N": "1"}},
               "ScanIndexForward": False}),
    ("query", {"TableName": "orders", "KeyConditionExpression": "pk = :p", "Limit": 1,
               "ExpressionAttributeValues": {":p": {"S": "a"}}}),
    ("query", {"TableName": "orders", "KeyConditionExpression": "pk = :p",
               "FilterExpression": "n > :n", "Select": "COUNT",
               "ExpressionAttributeValues": {":p": {"S": "a"}, ":n": {"N": "2"}}}),
    ("update_item", {"TableName": "orders", "Key": item("a", 1),
                     "UpdateExpression": "SET n = n + :one ADD tags :t",
                     "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"SS": ["z"]}},
                     "ReturnValues": "UPDATED_NEW"}),
    ("update_item", {"TableName": "orders", "Key": item("c", 9),
                     "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {
                         ":v": {"S": "new"}}, "ReturnValues": "ALL_NEW"}),
    ("put_item", {"TableName": "orders", "Item": item("a", 1),
                  "ConditionExpression": "attribute_not_exists(pk)"}),
    ("delete_item", {"TableName": "orders", "Key": item("a", 2), "ReturnValues": "ALL_OLD"}),
    ("get_item", {"TableName": "missing", "Key": item("a", 1)}),
    ("get_item", {"TableName": "orders", "Key": {"pk": {"S": "a"}}}),
    ("put_item", {"TableName": "orders", "Item": {"pk": {"S": "a"}}}),
    ("batch_get_item", {"RequestItems": {"orders": {"Keys": [item("a", 1), item("b", 1)]}}}),
    ("transact_write_items", {"TransactItems": [
        {"Put": {"TableName": "orders", "Item": item("t", 1)}},
        {"ConditionCheck": {"TableName": "orders", "Key": item("a", 1),
                            "ConditionExpression": "attribute_not_exists(pk)"}}]}),
    ("scan", {"TableName": "orders", "FilterExpression": "attribute_exists(m)"}),
    ("describe_time_to_live", {"TableName": "orders"}),
]

#: Request index -> how moto's answer differs from DynamoDB's.
MOTO_DIFFERS: dict[int, str] = {
    index: "moto answers n as spelt ('1.50', '2.50'); DynamoDB answers '1.5', '2.5'"
    for index in (3, 6, 8, 10, 17)
}


def by_value(value: Any) -> Any:
    """``value`` with every number member read as a Decimal."""
    if isinstance(value, dict):
        return {k: Decimal(v) if k == "N" else by_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [by_value(v) for v in value]
    return value

_VOLATILE = {"ResponseMetadata", "ConsumedCapacity"}


def normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        out = [normal(v) for v in value]
        return sorted(out, key=repr) if all(isinstance(v, str) for v in out) else out
    return value


def answer(ddb: Any, operation: str, request: dict[str, Any]) -> Any:
    try:
        result = getattr(ddb, operation)(**request)
    except ClientError as error:
        return ("error", error.response["Error"]["Code"])
    if "Items" in result:
        result["Items"] = sorted(result["Items"], key=repr)
    return normal(result)


def run_all(ddb: Any) -> list[Any]:
    ddb.create_table(**SCHEMA)
    return [answer(ddb, operation, request) for operation, request in REQUESTS]


def test_same_answers_as_moto(monkeypatch, handler):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # dynafile's answers first: while moto is active it also sees (and applies)
    # every request any botocore client sends, whoever answers it.
    mine = run_all(client(handler))
    with moto.mock_aws():
        theirs = run_all(boto3.client("dynamodb", region_name="us-east-1"))
    differences = [(index, REQUESTS[index][0], a, b)
                   for index, (a, b) in enumerate(zip(mine, theirs))
                   if a != b and index not in MOTO_DIFFERS]
    assert differences == []
    for index in MOTO_DIFFERS:
        assert mine[index] != theirs[index], f"moto now agrees on request {index}"
        assert by_value(mine[index]) == by_value(theirs[index])
