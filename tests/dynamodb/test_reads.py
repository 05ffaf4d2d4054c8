"""Query and Scan: key conditions, filters, Select, projections, pages,
segments, indexes, consumed capacity, legacy KeyConditions/QueryFilter/ScanFilter.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Query.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Scan.html
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html (capacity units)
"""

import pytest
from botocore.exceptions import ClientError

from .conftest import make_table


@pytest.fixture
def filled(ddb):
    make_table(ddb, sort_type="N", more_attributes=[{"AttributeName": "city", "AttributeType": "S"}],
               GlobalSecondaryIndexes=[{
                   "IndexName": "by_city", "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"},
                                                          {"AttributeName": "sk", "KeyType": "RANGE"}],
                   "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    for pk in ("a", "b"):
        for sk in range(10):
            ddb.put_item(TableName="orders", Item={
                "pk": {"S": pk}, "sk": {"N": str(sk)}, "n": {"N": str(sk * 10)},
                "city": {"S": "Oslo" if sk % 2 else "Rome"}})
    return ddb


def values(**kw):
    return {f":{k}": v for k, v in kw.items()}


def sks(response):
    return [int(i["sk"]["N"]) for i in response["Items"]]


def fails(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_query_key_condition_and_order(filled):
    r = filled.query(TableName="orders", KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
                     ExpressionAttributeValues=values(p={"S": "a"}, lo={"N": "2"}, hi={"N": "5"}))
    assert sks(r) == [2, 3, 4, 5]
    assert (r["Count"], r["ScannedCount"]) == (4, 4)
    r = filled.query(TableName="orders", KeyConditionExpression="pk = :p AND sk > :lo",
                     ExpressionAttributeValues=values(p={"S": "a"}, lo={"N": "6"}),
                     ScanIndexForward=False)
    assert sks(r) == [9, 8, 7]


def test_query_filter_projection_and_counts(filled):
    r = filled.query(TableName="orders", KeyConditionExpression="pk = :p",
                     FilterExpression="n >= :n", ProjectionExpression="sk",
                     ExpressionAttributeValues=values(p={"S": "b"}, n={"N": "70"}))
    assert r["Items"] == [{"sk": {"N": "7"}}, {"sk": {"N": "8"}}, {"sk": {"N": "9"}}]
    assert (r["Count"], r["ScannedCount"]) == (3, 10)
    count = filled.query(TableName="orders", KeyConditionExpression="pk = :p", Select="COUNT",
                         ExpressionAttributeValues=values(p={"S": "b"}))
    assert count["Count"] == 10
    assert "Items" not in count


def test_query_filter_on_key_is_refused(filled):
    assert fails(filled.query, TableName="orders", KeyConditionExpression="pk = :p",
                 FilterExpression="sk > :s", ExpressionAttributeValues=values(
                     p={"S": "a"}, s={"N": "1"})) == (
        "ValidationException", ("Filter Expression can only contain non-primary key attributes: "
                               "Primary key attribute: sk"))


def test_query_pages(filled):
    seen, start, pages = [], None, 0
    while True:
        kwargs = {"ExclusiveStartKey": start} if start else {}
        r = filled.query(TableName="orders", KeyConditionExpression="pk = :p", Limit=4,
                         ExpressionAttributeValues=values(p={"S": "a"}), **kwargs)
        seen += sks(r)
        pages += 1
        start = r.get("LastEvaluatedKey")
        if start is None:
            break
    assert seen == list(range(10))
    assert pages == 3
    paginator = filled.get_paginator("query")
    items = [i for page in paginator.paginate(
        TableName="orders", KeyConditionExpression="pk = :p",
        ExpressionAttributeValues=values(p={"S": "b"}), PaginationConfig={"PageSize": 3})
        for i in page["Items"]]
    assert len(items) == 10


def test_query_gsi(filled):
    r = filled.query(TableName="orders", IndexName="by_city", KeyConditionExpression="city = :c",
                     ExpressionAttributeValues=values(c={"S": "Oslo"}))
    assert r["Count"] == 10
    assert set(r["Items"][0]) == {"pk", "sk", "city"}  # KEYS_ONLY
    assert fails(filled.query, TableName="orders", IndexName="by_city",
                 KeyConditionExpression="city = :c", Select="ALL_ATTRIBUTES",
                 ExpressionAttributeValues=values(c={"S": "Oslo"})) == (
        "ValidationException", ("One or more parameter values were invalid: Select type "
                               "ALL_ATTRIBUTES is not supported for global secondary index "
                               "by_city because its projection type is not ALL"))
    assert fails(filled.query, TableName="orders", IndexName="by_city",
                 KeyConditionExpression="city = :c", ConsistentRead=True,
                 ExpressionAttributeValues=values(c={"S": "Oslo"})) == (
        "ValidationException", "Consistent reads are not supported on global secondary indexes")


@pytest.mark.parametrize(("extra", "message"), [
    ({"Select": "ALL_PROJECTED_ATTRIBUTES"},
     "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
    ({"Select": "SPECIFIC_ATTRIBUTES"},
     ("Must specify the AttributesToGet or ProjectionExpression when choosing to get "
     "SPECIFIC_ATTRIBUTES")),
    ({"Select": "COUNT", "ProjectionExpression": "n"},
     "Cannot specify the ProjectionExpression when choosing to get only the Count"),
    ({"IndexName": "nope"}, "The table does not have the specified index: nope"),
])
def test_select_rules(filled, extra, message):
    assert fails(filled.query, TableName="orders", KeyConditionExpression="pk = :p",
                 ExpressionAttributeValues=values(p={"S": "a"}), **extra) == (
        "ValidationException", message)


def test_key_condition_errors(filled):
    assert fails(filled.query, TableName="orders", KeyConditionExpression="sk = :s",
                 ExpressionAttributeValues=values(s={"N": "1"}))[1] == (
        "Query condition missed key schema element: pk")
    assert fails(filled.query, TableName="orders", KeyConditionExpression="pk = :p",
                 ExpressionAttributeValues=values(p={"N": "1"})) == (
        "ValidationException", ("One or more parameter values were invalid: Condition parameter "
                               "type does not match schema type"))
    assert fails(filled.query, TableName="orders") == (
        "ValidationException", ("Either the KeyConditions or KeyConditionExpression parameter "
                               "must be specified in the request."))


def test_legacy_query(filled):
    r = filled.query(TableName="orders", KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
        "sk": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "3"}]}},
        QueryFilter={"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "0"}]}},
        AttributesToGet=["sk"])
    assert r["Items"] == [{"sk": {"N": "1"}}, {"sk": {"N": "2"}}]


def test_scan_filter_and_segments(filled):
    r = filled.scan(TableName="orders", FilterExpression="n > :n",
                    ExpressionAttributeValues=values(n={"N": "80"}))
    assert sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in r["Items"]) == [("a", 9), ("b", 9)]
    assert r["ScannedCount"] == 20
    parts = [filled.scan(TableName="orders", Segment=s, TotalSegments=3)["Items"]
             for s in range(3)]
    keys = sorted((i["pk"]["S"], i["sk"]["N"]) for part in parts for i in part)
    assert len(keys) == 20 == len(set(keys))
    legacy = filled.scan(TableName="orders", ScanFilter={
        "city": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "Oslo"}]},
        "n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "20"}]}},
        ConditionalOperator="AND")
    assert legacy["Count"] == 2


def test_scan_segment_rules(handler, filled):
    from .conftest import error_of

    assert error_of(handler, "Scan", {"TableName": "orders", "Segment": 1}) == (
        "ValidationException", ("The TotalSegments parameter is required but was not present in "
                               "the request when Segment parameter is present"))
    assert error_of(handler, "Scan", {"TableName": "orders", "Segment": 2, "TotalSegments": 2}) == (
        "ValidationException", ("The Segment parameter is zero-based and must be less than "
                               "parameter TotalSegments: Segment: 2 is not less than "
                               "TotalSegments: 2"))


def test_scan_pages_cover_everything(filled):
    pages = filled.get_paginator("scan").paginate(TableName="orders",
                                                  PaginationConfig={"PageSize": 7})
    assert sum(len(p["Items"]) for p in pages) == 20


def test_read_capacity_of_queries(filled):
    r = filled.query(TableName="orders", KeyConditionExpression="pk = :p",
                     FilterExpression="n > :n", ReturnConsumedCapacity="TOTAL",
                     ExpressionAttributeValues=values(p={"S": "a"}, n={"N": "1000"}))
    # ten small items evaluated: one 4 KB unit, halved for an eventually consistent read
    assert r["ConsumedCapacity"] == {"TableName": "orders", "CapacityUnits": 0.5,
                                     "ReadCapacityUnits": 0.5}
    r = filled.query(TableName="orders", IndexName="by_city", KeyConditionExpression="city = :c",
                     ReturnConsumedCapacity="INDEXES", ExpressionAttributeValues=values(
                         c={"S": "Rome"}))
    assert r["ConsumedCapacity"]["GlobalSecondaryIndexes"] == {
        "by_city": {"CapacityUnits": 0.5, "ReadCapacityUnits": 0.5}}
