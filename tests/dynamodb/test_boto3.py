"""boto3 as a DynamoDB user writes it, in-process: the Table resource,
``boto3.dynamodb.conditions``, ``batch_writer``, paginators, waiters, a
patched session."""

from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key

from dynafile.dynamodb import client, patched


@pytest.fixture
def table(dynamodb):
    made = dynamodb.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"},
                   {"AttributeName": "at", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "at", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST")
    made.wait_until_exists()
    return made


def test_resource_scenario(table):
    table.put_item(Item={"id": "u1", "at": 1, "name": "Ann", "tags": {"a", "b"},
                         "score": Decimal("9.5"), "blob": b"\x01"})
    item = table.get_item(Key={"id": "u1", "at": 1})["Item"]
    assert item["name"] == "Ann"
    assert item["tags"] == {"a", "b"}
    assert item["score"] == Decimal("9.5")
    assert item["blob"].value == b"\x01"
    table.update_item(Key={"id": "u1", "at": 1}, UpdateExpression="SET visits = :one",
                      ExpressionAttributeValues={":one": 1})
    assert table.get_item(Key={"id": "u1", "at": 1})["Item"]["visits"] == 1
    table.delete_item(Key={"id": "u1", "at": 1})
    assert "Item" not in table.get_item(Key={"id": "u1", "at": 1})


def test_batch_writer_and_conditions(table):
    with table.batch_writer() as batch:
        for i in range(60):  # boto3 sends these 25 at a time
            batch.put_item(Item={"id": f"u{i % 3}", "at": i, "even": i % 2 == 0})
    assert table.scan(Select="COUNT")["Count"] == 60
    got = table.query(KeyConditionExpression=Key("id").eq("u0") & Key("at").between(0, 10),
                      FilterExpression=Attr("even").eq(True))
    assert [int(i["at"]) for i in got["Items"]] == [0, 6]
    newest = table.query(KeyConditionExpression=Key("id").eq("u1"), ScanIndexForward=False,
                         Limit=1)["Items"][0]
    assert newest["at"] == 58
    with table.batch_writer(overwrite_by_pkeys=["id", "at"]) as batch:
        batch.delete_item(Key={"id": "u0", "at": 0})
        batch.delete_item(Key={"id": "u0", "at": 0})
    assert "Item" not in table.get_item(Key={"id": "u0", "at": 0})


def test_conditional_errors_as_boto3_raises_them(table):
    table.put_item(Item={"id": "u1", "at": 1})
    with pytest.raises(table.meta.client.exceptions.ConditionalCheckFailedException):
        table.put_item(Item={"id": "u1", "at": 1}, ConditionExpression=Attr("id").not_exists())


def test_paginator_over_scan(table):
    with table.batch_writer() as batch:
        for i in range(30):
            batch.put_item(Item={"id": "p", "at": i})
    paginator = table.meta.client.get_paginator("scan")
    pages = list(paginator.paginate(TableName="users", PaginationConfig={"PageSize": 8}))
    assert len(pages) == 4
    assert sum(p["Count"] for p in pages) == 30


def test_client_validation_still_runs(handler):
    import botocore.exceptions

    ddb = client(handler)
    with pytest.raises(botocore.exceptions.ParamValidationError):
        ddb.get_item(TableName="users")  # boto3 refuses it before sending


def test_patched_session(handler):
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y",
                            region_name="us-east-1")
    with patched(session, handler):
        ddb = session.client("dynamodb")
        assert ddb.list_tables()["TableNames"] == []
        session.resource("dynamodb").create_table(
            TableName="made", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
    assert handler.database.tables() == ["made"]


def test_client_by_path(tmp_path):
    path = tmp_path / "db"
    first = client(path)
    first.create_table(TableName="ttt", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")
    assert client(str(path)).list_tables()["TableNames"] == ["ttt"]  # one handler per path
