"""The control plane: CreateTable, DescribeTable, ListTables, UpdateTable,
DeleteTable, TTL, tags, DescribeLimits, DescribeEndpoints.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeTable.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ListTables.html
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html (names)
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
"""

import pytest
from botocore.exceptions import ClientError

from dynafile import Database

from .conftest import make_table

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/"


def code_and_message(info):
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_create_and_describe(ddb, handler):
    created = ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "status", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_status",
                                 "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "ProvisionedThroughput": {"ReadCapacityUnits": 1,
                                                           "WriteCapacityUnits": 1}}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        Tags=[{"Key": "team", "Value": "shop"}])["TableDescription"]
    assert created["TableStatus"] == "ACTIVE"
    table = ddb.describe_table(TableName="orders")["Table"]
    assert table["TableArn"] == ARN + "orders"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        "pk": "S", "sk": "N", "status": "S"}
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by_status"
    assert gsi["IndexStatus"] == "ACTIVE"
    assert gsi["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert gsi["IndexArn"] == ARN + "orders/index/by_status"
    assert "StreamSpecification" not in table
    assert table["ItemCount"] == 0
    ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"N": "1"},
                                           "status": {"S": "open"}})
    # DynamoDB updates ItemCount and TableSizeBytes "approximately every six
    # hours" (API_TableDescription); dynafile gives them as of the last
    # checkpoint, from the manifest, so a DescribeTable never reads items.
    table = ddb.describe_table(TableName="orders")["Table"]
    assert table["ItemCount"] == 0
    handler.database.checkpoint()
    table = ddb.describe_table(TableName="orders")["Table"]
    assert table["ItemCount"] == 1
    assert table["TableSizeBytes"] > 0
    assert table["GlobalSecondaryIndexes"][0]["ItemCount"] == 1
    assert table["GlobalSecondaryIndexes"][0]["IndexSizeBytes"] > 0


def test_waiters(ddb):
    make_table(ddb)
    ddb.get_waiter("table_exists").wait(TableName="orders", WaiterConfig={"Delay": 0})
    ddb.delete_table(TableName="orders")
    ddb.get_waiter("table_not_exists").wait(TableName="orders", WaiterConfig={"Delay": 0})


def test_create_existing(ddb):
    make_table(ddb)
    with pytest.raises(ClientError) as info:
        make_table(ddb)
    assert code_and_message(info) == ("ResourceInUseException", "Table already exists: orders")


@pytest.mark.parametrize(("change", "message"), [
    ({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
      "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"}]},
     "Invalid KeySchema: Some index key attribute have no definition"),
    ({"KeySchema": [{"AttributeName": "pk", "KeyType": "RANGE"}]},
     "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
    ({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                               {"AttributeName": "x", "AttributeType": "S"}]},
     ("One or more parameter values were invalid: Number of attributes in KeySchema does not "
     "exactly match number of attributes defined in AttributeDefinitions")),
    ({"BillingMode": "PROVISIONED"},
     ("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must "
     "both be specified when BillingMode is PROVISIONED")),
    ({"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
     ("One or more parameter values were invalid: Neither ReadCapacityUnits nor "
     "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")),
])
def test_create_validation(ddb, handler, change, message):
    request = {"TableName": "orders", "BillingMode": "PAY_PER_REQUEST",
               "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], **change}
    with pytest.raises(ClientError) as info:
        ddb.create_table(**request)
    assert code_and_message(info) == ("ValidationException", message)
    assert ddb.list_tables()["TableNames"] == []


def test_table_name_rules(handler):
    from .conftest import error_of

    name, message = error_of(handler, "DescribeTable", {"TableName": "bad name!"})
    assert name == "ValidationException"
    assert message == ("1 validation error detected: Value 'bad name!' at 'tableName' failed to "
                       "satisfy constraint: Member must satisfy regular expression pattern: "
                       "[a-zA-Z0-9_.-]+")


def test_list_tables_pages(ddb):
    for name in ("ccc", "aaa", "bbb", "ddd"):
        make_table(ddb, name)
    first = ddb.list_tables(Limit=3)
    assert first["TableNames"] == ["aaa", "bbb", "ccc"]
    assert first["LastEvaluatedTableName"] == "ccc"
    second = ddb.list_tables(Limit=3, ExclusiveStartTableName="ccc")
    assert second["TableNames"] == ["ddd"]
    assert "LastEvaluatedTableName" not in second
    pages = ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 1})
    assert [n for page in pages for n in page["TableNames"]] == ["aaa", "bbb", "ccc", "ddd"]


def test_delete_table(ddb):
    make_table(ddb)
    gone = ddb.delete_table(TableName="orders")["TableDescription"]
    assert gone["TableStatus"] == "DELETING"
    with pytest.raises(ClientError) as info:
        ddb.delete_table(TableName="orders")
    assert code_and_message(info) == ("ResourceNotFoundException",
                                      "Requested resource not found: Table: orders not found")


def test_deletion_protection(ddb):
    make_table(ddb, DeletionProtectionEnabled=True)
    with pytest.raises(ClientError) as info:
        ddb.delete_table(TableName="orders")
    assert info.value.response["Error"]["Code"] == "ValidationException"
    ddb.update_table(TableName="orders", DeletionProtectionEnabled=False)
    ddb.delete_table(TableName="orders")


def test_update_table_gsi_create_and_delete(ddb):
    make_table(ddb)
    for i in range(5):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"u{i}"}, "sk": {"S": "x"},
                                               "city": {"S": "Oslo" if i % 2 else "Rome"}})
    described = ddb.update_table(
        TableName="orders",
        AttributeDefinitions=[{"AttributeName": "city", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by_city", "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}}])["TableDescription"]
    assert [g["IndexName"] for g in described["GlobalSecondaryIndexes"]] == ["by_city"]
    # backfilled: the index answers at once
    found = ddb.query(TableName="orders", IndexName="by_city",
                      KeyConditionExpression="city = :c",
                      ExpressionAttributeValues={":c": {"S": "Oslo"}})
    assert sorted(i["pk"]["S"] for i in found["Items"]) == ["u1", "u3"]
    ddb.update_table(TableName="orders",
                     GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_city"}}])
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName="orders")["Table"]
    with pytest.raises(ClientError) as info:
        ddb.query(TableName="orders", IndexName="by_city", KeyConditionExpression="city = :c",
                  ExpressionAttributeValues={":c": {"S": "Oslo"}})
    assert code_and_message(info) == ("ValidationException",
                                      "The table does not have the specified index: by_city")


def test_update_table_stream_specification(ddb):
    make_table(ddb)
    assert "LatestStreamArn" not in ddb.describe_table(TableName="orders")["Table"]
    ddb.update_table(TableName="orders", StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    table = ddb.describe_table(TableName="orders")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    assert table["LatestStreamArn"] == f"{ARN}orders/stream/{table['LatestStreamLabel']}"
    with pytest.raises(ClientError) as info:
        ddb.update_table(TableName="orders", StreamSpecification={
            "StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert info.value.response["Error"]["Code"] == "ValidationException"
    ddb.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
    assert "StreamSpecification" not in ddb.describe_table(TableName="orders")["Table"]


def test_update_table_billing(ddb):
    make_table(ddb)
    ddb.update_table(TableName="orders", BillingMode="PROVISIONED",
                     ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 2})
    table = ddb.describe_table(TableName="orders")["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert "BillingModeSummary" not in table


def test_time_to_live(ddb):
    make_table(ddb)
    assert ddb.describe_time_to_live(TableName="orders")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"}
    spec = {"Enabled": True, "AttributeName": "expires"}
    assert ddb.update_time_to_live(TableName="orders", TimeToLiveSpecification=spec)[
        "TimeToLiveSpecification"] == spec
    assert ddb.describe_time_to_live(TableName="orders")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    with pytest.raises(ClientError) as info:
        ddb.update_time_to_live(TableName="orders", TimeToLiveSpecification=spec)
    assert code_and_message(info) == ("ValidationException", "TimeToLive is already enabled")
    ddb.update_time_to_live(TableName="orders",
                            TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"})
    assert ddb.describe_time_to_live(TableName="orders")["TimeToLiveDescription"][
        "TimeToLiveStatus"] == "DISABLED"


def test_tags(ddb):
    make_table(ddb, Tags=[{"Key": "a", "Value": "1"}])
    arn = ARN + "orders"
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["a", "zzz"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as info:
        ddb.list_tags_of_resource(ResourceArn=ARN + "missing")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_limits_and_endpoints(ddb):
    limits = ddb.describe_limits()
    assert limits["TableMaxReadCapacityUnits"] == 40000
    assert ddb.describe_endpoints()["Endpoints"] == [
        {"Address": "dynamodb.us-east-1.amazonaws.com", "CachePeriodInMinutes": 1440}]


def test_native_table_is_described(handler, ddb):
    # A table made through the Python API is a DynamoDB table too.
    table = handler.database.create_table("native", pk_attribute="id")
    table.put_item(item={"id": 7, "x": "y"})
    handler.database.checkpoint()  # the counts are as of the last checkpoint
    described = ddb.describe_table(TableName="native")["Table"]
    assert described["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "N"}]
    assert described["ItemCount"] == 1
    assert ddb.get_item(TableName="native", Key={"id": {"N": "7"}})["Item"] == {
        "id": {"N": "7"}, "x": {"S": "y"}}


def test_same_directory_from_python(handler, ddb, tmp_path):
    make_table(ddb)
    ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"S": "b"}, "n": {"N": "1.5"}})
    db = Database(tmp_path / "db")
    try:
        from decimal import Decimal

        assert db.table("orders").get_item(key={"pk": "a", "sk": "b"}) == {
            "pk": "a", "sk": "b", "n": Decimal("1.5")}
    finally:
        db.close()
