"""PutItem, GetItem, DeleteItem, UpdateItem: results, return values,
conditions, key checks, legacy parameters, consumed capacity.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteItem.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LegacyConditionalParameters.html
"""

import pytest
from botocore.exceptions import ClientError

from .conftest import error_of, make_table


@pytest.fixture
def orders(ddb):
    make_table(ddb)
    return ddb


def key(pk="a", sk="1"):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def fails(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_put_get_delete(orders):
    item = {**key(), "n": {"N": "1.50"}, "tags": {"SS": ["x"]}, "m": {"M": {"l": {"L": []}}}}
    assert orders.put_item(TableName="orders", Item=item).get("Attributes") is None
    got = orders.get_item(TableName="orders", Key=key())["Item"]
    assert got == {**item, "n": {"N": "1.5"}}
    old = orders.put_item(TableName="orders", Item={**key(), "v": {"N": "2"}},
                          ReturnValues="ALL_OLD")["Attributes"]
    assert old == got
    assert orders.delete_item(TableName="orders", Key=key(), ReturnValues="ALL_OLD")[
        "Attributes"] == {**key(), "v": {"N": "2"}}
    assert "Item" not in orders.get_item(TableName="orders", Key=key())
    assert "Attributes" not in orders.delete_item(TableName="orders", Key=key(),
                                                  ReturnValues="ALL_OLD")


def test_get_projection(orders):
    orders.put_item(TableName="orders", Item={**key(), "a": {"M": {"b": {"S": "x"}, "c": {"S": "y"}}},
                                              "status": {"S": "open"}})
    got = orders.get_item(TableName="orders", Key=key(), ProjectionExpression="a.b, #s",
                          ExpressionAttributeNames={"#s": "status"})["Item"]
    assert got == {"a": {"M": {"b": {"S": "x"}}}, "status": {"S": "open"}}
    legacy = orders.get_item(TableName="orders", Key=key(), AttributesToGet=["status"])["Item"]
    assert legacy == {"status": {"S": "open"}}


@pytest.mark.parametrize(("item", "message"), [
    ({"pk": {"S": "a"}}, ("One or more parameter values were invalid: Missing the key sk in the "
                         "item")),
    ({"pk": {"N": "1"}, "sk": {"S": "b"}}, ("One or more parameter values were invalid: Type "
                                           "mismatch for key pk expected: S actual: N")),
    ({"pk": {"S": ""}, "sk": {"S": "b"}}, ("One or more parameter values were invalid: The "
                                          "AttributeValue for a key attribute cannot contain an "
                                          "empty string value. Key: pk")),
    ({"pk": {"S": "x" * 2049}, "sk": {"S": "b"}},
     ("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
     "limit of2048 bytes")),
    ({"pk": {"S": "a"}, "sk": {"S": "b" * 1025}},
     ("One or more parameter values were invalid: Aggregated size of all range keys has exceeded "
     "the size limit of 1024 bytes")),
    ({"pk": {"S": "a"}, "sk": {"S": "b"}, "big": {"S": "x" * 409600}},
     "Item size has exceeded the maximum allowed size"),
])
def test_put_item_checks(orders, item, message):
    assert fails(orders.put_item, TableName="orders", Item=item) == ("ValidationException", message)
    assert orders.scan(TableName="orders")["Count"] == 0


@pytest.mark.parametrize("bad_key", [{"pk": {"S": "a"}}, {**key(), "x": {"S": "y"}},
                                     {"pk": {"S": "a"}, "sk": {"N": "1"}}])
def test_key_must_match_schema(orders, bad_key):
    assert fails(orders.get_item, TableName="orders", Key=bad_key) == (
        "ValidationException", "The provided key element does not match the schema")


def test_put_return_values(orders):
    assert fails(orders.put_item, TableName="orders", Item=key(), ReturnValues="ALL_NEW") == (
        "ValidationException", "ReturnValues can only be ALL_OLD or NONE")


def test_conditional_put(orders):
    orders.put_item(TableName="orders", Item={**key(), "n": {"N": "1"}})
    with pytest.raises(orders.exceptions.ConditionalCheckFailedException) as info:
        orders.put_item(TableName="orders", Item=key(), ConditionExpression="attribute_not_exists(pk)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert info.value.response["Error"]["Message"] == "The conditional request failed"
    assert info.value.response["Item"] == {**key(), "n": {"N": "1"}}
    assert orders.get_item(TableName="orders", Key=key())["Item"]["n"] == {"N": "1"}


def test_expression_errors_are_dynamodbs(orders):
    assert fails(orders.put_item, TableName="orders", Item=key(), ConditionExpression="n = 1") == (
        "ValidationException", ('Invalid ConditionExpression: Syntax error; token: "1", near: '
                               '"= 1"'))
    assert fails(orders.put_item, TableName="orders", Item=key(), ConditionExpression="a = :a",
                 ExpressionAttributeValues={":a": {"S": "x"}, ":b": {"S": "y"}}) == (
        "ValidationException", ("Value provided in ExpressionAttributeValues unused in "
                               "expressions: keys: {:b}"))
    assert fails(orders.put_item, TableName="orders", Item=key(), ConditionExpression="a = :a",
                 ExpressionAttributeValues={}) == (
        "ValidationException", "ExpressionAttributeValues must not be empty")
    assert fails(orders.put_item, TableName="orders", Item=key(),
                 ExpressionAttributeNames={"#a": "a"}) == (
        "ValidationException", ("ExpressionAttributeNames can only be specified when using "
                               "expressions"))


def test_update_item(orders):
    result = orders.update_item(
        TableName="orders", Key=key(),
        UpdateExpression="SET #c = if_not_exists(#c, :zero) + :one, tags = :t ADD seen :s",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"},
                                   ":t": {"L": [{"S": "a"}]}, ":s": {"SS": ["x"]}},
        ReturnValues="ALL_NEW")["Attributes"]
    assert result == {**key(), "count": {"N": "1"}, "tags": {"L": [{"S": "a"}]},
                      "seen": {"SS": ["x"]}}
    updated = orders.update_item(TableName="orders", Key=key(), UpdateExpression="SET #c = #c + :one",
                                 ExpressionAttributeNames={"#c": "count"},
                                 ExpressionAttributeValues={":one": {"N": "1"}},
                                 ReturnValues="UPDATED_OLD")["Attributes"]
    assert updated == {"count": {"N": "1"}}
    assert "Attributes" not in orders.update_item(
        TableName="orders", Key=key(), UpdateExpression="REMOVE tags")
    with pytest.raises(orders.exceptions.ConditionalCheckFailedException):
        orders.update_item(TableName="orders", Key=key(), UpdateExpression="SET a = :v",
                           ConditionExpression="#c > :v", ExpressionAttributeNames={"#c": "count"},
                           ExpressionAttributeValues={":v": {"N": "5"}})


def test_update_key_attribute_is_refused(orders):
    code, message = fails(orders.update_item, TableName="orders", Key=key(),
                          UpdateExpression="SET pk = :v", ExpressionAttributeValues={":v": {"S": "x"}})
    assert code == "ValidationException"
    assert "pk" in message


def test_legacy_expected_and_attribute_updates(orders):
    orders.put_item(TableName="orders", Item={**key(), "n": {"N": "1"}},
                    Expected={"pk": {"Exists": False}})
    with pytest.raises(orders.exceptions.ConditionalCheckFailedException):
        orders.put_item(TableName="orders", Item=key(), Expected={"pk": {"Exists": False}})
    orders.update_item(TableName="orders", Key=key(), AttributeUpdates={
        "n": {"Action": "ADD", "Value": {"N": "4"}},
        "tags": {"Action": "PUT", "Value": {"SS": ["a", "b"]}},
        "gone": {"Action": "DELETE"}},
        Expected={"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}})
    orders.update_item(TableName="orders", Key=key(), AttributeUpdates={
        "tags": {"Action": "DELETE", "Value": {"SS": ["a"]}}})
    assert orders.get_item(TableName="orders", Key=key())["Item"] == {
        **key(), "n": {"N": "5"}, "tags": {"SS": ["b"]}}
    orders.delete_item(TableName="orders", Key=key(), Expected={
        "n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "9"}]}})
    assert "Item" not in orders.get_item(TableName="orders", Key=key())


@pytest.mark.parametrize(("expected", "message"), [
    ({"a": {"Exists": True}}, ("One or more parameter values were invalid: Value must be provided "
                              "when Exists is true for Attribute: a")),
    ({"a": {"Exists": False, "Value": {"S": "x"}}},
     ("One or more parameter values were invalid: Value cannot be used when Exists is false for "
     "Attribute: a")),
    ({"a": {"ComparisonOperator": "EQ"}},
     ("One or more parameter values were invalid: Invalid number of argument(s) for the EQ "
     "ComparisonOperator")),
])
def test_legacy_expected_errors(orders, expected, message):
    assert fails(orders.put_item, TableName="orders", Item=key(), Expected=expected) == (
        "ValidationException", message)


def test_mixing_forms_is_refused(orders):
    assert fails(orders.put_item, TableName="orders", Item=key(), Expected={"a": {"Exists": False}},
                 ConditionExpression="attribute_not_exists(a)") == (
        "ValidationException", ("Can not use both expression and non-expression parameters in the "
                               "same request: Non-expression parameters: {Expected} Expression "
                               "parameters: {ConditionExpression}"))


def test_write_capacity(orders):
    big = {**key(), "data": {"S": "x" * 1500}}
    put = orders.put_item(TableName="orders", Item=big, ReturnConsumedCapacity="TOTAL")
    assert put["ConsumedCapacity"] == {"TableName": "orders", "CapacityUnits": 2.0,
                                       "WriteCapacityUnits": 2.0}
    small = orders.put_item(TableName="orders", Item=key(), ReturnConsumedCapacity="TOTAL")
    assert small["ConsumedCapacity"]["CapacityUnits"] == 2.0  # the larger of old and new
    deleted = orders.delete_item(TableName="orders", Key=key(), ReturnConsumedCapacity="INDEXES")
    assert deleted["ConsumedCapacity"] == {"TableName": "orders", "CapacityUnits": 1.0,
                                           "WriteCapacityUnits": 1.0,
                                           "Table": {"CapacityUnits": 1.0,
                                                     "WriteCapacityUnits": 1.0}}


def test_read_capacity(orders):
    orders.put_item(TableName="orders", Item={**key(), "data": {"S": "x" * 5000}})
    strong = orders.get_item(TableName="orders", Key=key(), ConsistentRead=True,
                             ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    assert strong["CapacityUnits"] == 2.0
    weak = orders.get_item(TableName="orders", Key=key(), ReturnConsumedCapacity="TOTAL")
    assert weak["ConsumedCapacity"]["CapacityUnits"] == 1.0
    missing = orders.get_item(TableName="orders", Key=key("zz"), ReturnConsumedCapacity="TOTAL")
    assert missing["ConsumedCapacity"]["CapacityUnits"] == 0.5


def test_item_collection_metrics(ddb):
    make_table(ddb, "withlsi", more_attributes=[{"AttributeName": "d", "AttributeType": "S"}],
               LocalSecondaryIndexes=[{"IndexName": "by_d", "KeySchema": [
                   {"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "d", "KeyType": "RANGE"}],
                   "Projection": {"ProjectionType": "ALL"}}])
    result = ddb.put_item(TableName="withlsi", Item=key(), ReturnItemCollectionMetrics="SIZE")
    assert result["ItemCollectionMetrics"] == {"ItemCollectionKey": {"pk": {"S": "a"}},
                                               "SizeEstimateRangeGB": [0.0, 1.0]}
    make_table(ddb, "nolsi")
    assert "ItemCollectionMetrics" not in ddb.put_item(TableName="nolsi", Item=key(),
                                                       ReturnItemCollectionMetrics="SIZE")


def test_number_keys_and_binary(ddb):
    make_table(ddb, "nums", sort_type="N", pk_type="B")
    ddb.put_item(TableName="nums", Item={"pk": {"B": b"\x00"}, "sk": {"N": "1.0"}})
    got = ddb.get_item(TableName="nums", Key={"pk": {"B": b"\x00"}, "sk": {"N": "1"}})["Item"]
    assert got == {"pk": {"B": b"\x00"}, "sk": {"N": "1"}}


def test_errors_change_nothing(handler, orders):
    orders.put_item(TableName="orders", Item={**key(), "n": {"N": "1"}})
    before = handler.database.table("orders").sequence
    for body in ({"TableName": "orders", "Item": {**key(), "n": {"N": "x"}}},
                 {"TableName": "orders", "Item": {**key(), "s": {"SS": []}}},
                 {"TableName": "orders", "Item": key(), "ConditionExpression": "n = :v"}):
        error_of(handler, "PutItem", body)
    assert handler.database.table("orders").sequence == before
