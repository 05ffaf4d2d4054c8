"""TransactWriteItems and TransactGetItems: all or nothing, cancellation
reasons with items, idempotency tokens, capacity.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactGetItems.html
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html
"""

import pytest
from botocore.exceptions import ClientError

from .conftest import make_table


def k(pk, sk="x"):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@pytest.fixture
def orders(ddb):
    make_table(ddb)
    ddb.put_item(TableName="orders", Item={**k("stock"), "qty": {"N": "5"}})
    return ddb


def test_commit(orders):
    result = orders.transact_write_items(TransactItems=[
        {"Put": {"TableName": "orders", "Item": k("order1"),
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "orders", "Key": k("stock"), "UpdateExpression": "SET qty = qty - :n",
                    "ConditionExpression": "qty >= :n", "ExpressionAttributeValues": {":n": {"N": "2"}}}},
        {"Delete": {"TableName": "orders", "Key": k("nothing")}},
    ], ReturnConsumedCapacity="TOTAL")
    assert result["ConsumedCapacity"] == [{"TableName": "orders", "CapacityUnits": 6.0,
                                           "WriteCapacityUnits": 6.0}]
    got = orders.transact_get_items(TransactItems=[
        {"Get": {"TableName": "orders", "Key": k("stock"), "ProjectionExpression": "qty"}},
        {"Get": {"TableName": "orders", "Key": k("nothing")}}])
    assert got["Responses"] == [{"Item": {"qty": {"N": "3"}}}, {}]


def test_cancellation_reasons(orders):
    with pytest.raises(orders.exceptions.TransactionCanceledException) as info:
        orders.transact_write_items(TransactItems=[
            {"Put": {"TableName": "orders", "Item": k("order2")}},
            {"ConditionCheck": {"TableName": "orders", "Key": k("stock"),
                                "ConditionExpression": "qty > :n",
                                "ExpressionAttributeValues": {":n": {"N": "10"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    response = info.value.response
    assert response["Error"]["Message"] == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, ConditionalCheckFailed]")
    assert response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
         "Item": {**k("stock"), "qty": {"N": "5"}}}]
    assert "Item" not in orders.get_item(TableName="orders", Key=k("order2"))


def test_one_item_twice(orders):
    with pytest.raises(ClientError) as info:
        orders.transact_write_items(TransactItems=[
            {"Put": {"TableName": "orders", "Item": k("a")}},
            {"Delete": {"TableName": "orders", "Key": k("a")}}])
    assert info.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Transaction request cannot include multiple operations on one item"}


def test_idempotency_token(orders):
    request = [{"Update": {"TableName": "orders", "Key": k("stock"), "UpdateExpression": "ADD qty :one",
                           "ExpressionAttributeValues": {":one": {"N": "1"}}}}]
    orders.transact_write_items(TransactItems=request, ClientRequestToken="tok-1")
    orders.transact_write_items(TransactItems=request, ClientRequestToken="tok-1")
    assert orders.get_item(TableName="orders", Key=k("stock"))["Item"]["qty"] == {"N": "6"}
    other = [{"Delete": {"TableName": "orders", "Key": k("stock")}}]
    with pytest.raises(ClientError) as info:
        orders.transact_write_items(TransactItems=other, ClientRequestToken="tok-1")
    assert info.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"


def test_transaction_over_two_tables(ddb):
    make_table(ddb, "aaa")
    make_table(ddb, "bbb")
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "aaa", "Item": k("1")}},
        {"Put": {"TableName": "bbb", "Item": k("2")}}])
    assert ddb.get_item(TableName="bbb", Key=k("2"))["Item"] == k("2")


def test_transact_get_over_two_tables(ddb):
    make_table(ddb, "aaa")
    make_table(ddb, "bbb")
    got = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": "aaa", "Key": k("1")}}, {"Get": {"TableName": "bbb", "Key": k("2")}}])
    assert got["Responses"] == [{}, {}]


def test_a_condition_on_one_table_cancels_the_write_to_another(ddb):
    make_table(ddb, "aaa")
    make_table(ddb, "bbb")
    ddb.put_item(TableName="bbb", Item=k("2"))
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "aaa", "Item": k("1")}},
            {"Put": {"TableName": "bbb", "Item": k("2"),
                     "ConditionExpression": "attribute_not_exists(pk)"}}])
    assert info.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in info.value.response["CancellationReasons"]] == \
        ["None", "ConditionalCheckFailed"]
    assert ddb.scan(TableName="aaa")["Count"] == 0
