"""DynamoDB behaviour the handler gets from the native API: 1 MB pages,
item size by DynamoDB's formula on update, expired items visible until
swept (tables created through the API use ttl_mode="dynamodb").

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
"""

import time

import pytest
from botocore.exceptions import ClientError

from .conftest import make_table


def test_pages_stop_at_one_megabyte(ddb):
    make_table(ddb)
    for i in range(4):
        ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"S": str(i)},
                                               "data": {"S": "x" * 350_000}})
    page = ddb.query(TableName="orders", KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "a"}})
    assert page["Count"] < 4
    assert "LastEvaluatedKey" in page
    scanned = ddb.scan(TableName="orders")
    assert "LastEvaluatedKey" in scanned


def test_update_item_size_by_dynamodbs_formula(ddb):
    make_table(ddb)
    key = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    # 409,600 bytes by DynamoDB's formula is the largest item DynamoDB accepts
    ddb.update_item(TableName="orders", Key=key, UpdateExpression="SET d = :d",
                    ExpressionAttributeValues={":d": {"S": "x" * (409_600 - 2 - 1 - 2 - 1 - 1)}})
    with pytest.raises(ClientError) as info:
        ddb.update_item(TableName="orders", Key=key, UpdateExpression="SET e = :e",
                        ExpressionAttributeValues={":e": {"S": "y"}})
    assert info.value.response["Error"]["Message"] == (
        "Item size to update has exceeded the maximum allowed size")


def test_expired_items_stay_until_swept(ddb):
    make_table(ddb)
    ddb.update_time_to_live(TableName="orders", TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires"})
    key = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    ddb.put_item(TableName="orders", Item={**key, "expires": {"N": str(int(time.time()) - 60)}})
    assert "Item" in ddb.get_item(TableName="orders", Key=key)


def test_api_properties_live_in_the_catalog_and_go_with_the_table(handler, ddb, tmp_path):
    """Billing mode and the other API-only properties are the table's catalog
    entry: a second process sees them, and a table deleted and created again
    natively under the same name does not inherit them."""
    from dynafile import Database

    ddb.create_table(TableName="orders", BillingMode="PROVISIONED",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})
    described = ddb.describe_table(TableName="orders")["Table"]
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    with Database(tmp_path / "db") as other:  # another opener of the directory
        assert other.properties("orders")["dynamodb"]["billing_mode"] == "PROVISIONED"
        other.delete_table("orders")
        other.create_table("orders", pk_attribute="pk", sk_attribute="sk")
    described = ddb.describe_table(TableName="orders")["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert not (tmp_path / "db" / "dynamodb.json").exists()
