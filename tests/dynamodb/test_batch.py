"""BatchGetItem and BatchWriteItem: results, limits, duplicates, nothing
written when a request is refused.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
"""

import pytest
from botocore.exceptions import ClientError

from .conftest import error_of, make_table


def k(pk, sk="x"):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@pytest.fixture
def two(ddb):
    make_table(ddb, "aaa")
    make_table(ddb, "bbb")
    return ddb


def test_write_then_get(two):
    result = two.batch_write_item(RequestItems={
        "aaa": [{"PutRequest": {"Item": {**k(str(i)), "n": {"N": str(i)}}}} for i in range(5)],
        "bbb": [{"PutRequest": {"Item": k("z")}}]}, ReturnConsumedCapacity="TOTAL")
    assert result["UnprocessedItems"] == {}
    assert sorted(c["TableName"] for c in result["ConsumedCapacity"]) == ["aaa", "bbb"]
    two.batch_write_item(RequestItems={"aaa": [{"DeleteRequest": {"Key": k("0")}}]})
    got = two.batch_get_item(RequestItems={
        "aaa": {"Keys": [k("0"), k("1"), k("4")], "ProjectionExpression": "n"},
        "bbb": {"Keys": [k("z")], "ConsistentRead": True}}, ReturnConsumedCapacity="TOTAL")
    assert sorted(i["n"]["N"] for i in got["Responses"]["aaa"]) == ["1", "4"]
    assert got["Responses"]["bbb"] == [k("z")]
    assert got["UnprocessedKeys"] == {}
    units = {c["TableName"]: c["CapacityUnits"] for c in got["ConsumedCapacity"]}
    assert units == {"aaa": 1.5, "bbb": 1.0}


def test_limits(handler, two):
    assert error_of(handler, "BatchGetItem", {"RequestItems": {
        "aaa": {"Keys": [k(str(i)) for i in range(60)]},
        "bbb": {"Keys": [k(str(i)) for i in range(41)]}}}) == (
        "ValidationException", "Too many items requested for the BatchGetItem call")
    name, message = error_of(handler, "BatchWriteItem", {"RequestItems": {
        "aaa": [{"PutRequest": {"Item": k(str(i))}} for i in range(26)]}})
    assert name == "ValidationException"
    assert "Member must have length less than or equal to 25" in message
    assert error_of(handler, "BatchWriteItem", {"RequestItems": {
        "aaa": [{"PutRequest": {"Item": k(str(i))}} for i in range(13)],
        "bbb": [{"PutRequest": {"Item": k(str(i))}} for i in range(13)]}}) == (
        "ValidationException", "Too many items requested for the BatchWriteItem call")


def test_duplicates(two):
    with pytest.raises(ClientError) as info:
        two.batch_write_item(RequestItems={"aaa": [{"PutRequest": {"Item": k("1")}},
                                                   {"DeleteRequest": {"Key": k("1")}}]})
    assert info.value.response["Error"]["Message"] == (
        "Provided list of item keys contains duplicates")
    with pytest.raises(ClientError) as info:
        two.batch_get_item(RequestItems={"aaa": {"Keys": [k("1"), k("1")]}})
    assert info.value.response["Error"]["Message"] == (
        "Provided list of item keys contains duplicates")


def test_refused_batch_writes_nothing(two):
    with pytest.raises(ClientError) as info:
        two.batch_write_item(RequestItems={
            "aaa": [{"PutRequest": {"Item": k("ok")}}],
            "bbb": [{"PutRequest": {"Item": {"pk": {"S": "no sort key"}}}}]})
    assert info.value.response["Error"]["Message"] == (
        "One or more parameter values were invalid: Missing the key sk in the item")
    assert two.scan(TableName="aaa")["Count"] == 0
    with pytest.raises(ClientError) as info:
        two.batch_write_item(RequestItems={"aaa": [{"PutRequest": {"Item": k("x")}}],
                                           "missing": [{"PutRequest": {"Item": k("x")}}]})
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert two.scan(TableName="aaa")["Count"] == 0
