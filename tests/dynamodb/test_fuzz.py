"""Malformed requests (bad JSON, wrong member types, unknown operations,
random bodies) get DynamoDB's error shape, and a refused request changes
nothing on disk."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynafile.dynamodb.handler import _OPERATIONS

from .conftest import make_table

OPERATIONS = sorted(_OPERATIONS)
MEMBERS = ["TableName", "Key", "Item", "KeyConditionExpression", "ExpressionAttributeValues",
           "ExpressionAttributeNames", "Limit", "Select", "RequestItems", "TransactItems",
           "UpdateExpression", "ConditionExpression", "Statement", "ExclusiveStartKey",
           "AttributeDefinitions", "KeySchema", "ReturnValues", "Segment", "TotalSegments"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(
    allow_nan=False), st.text(max_size=12), st.sampled_from(["orders", "S", "N", ":v", "#n"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(
        st.one_of(st.sampled_from(["S", "N", "B", "M", "L", "SS", "NULL", "BOOL", "pk", "sk"]),
                  st.text(max_size=5)), inner, max_size=4)), max_leaves=12)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(MEMBERS), json_values, max_size=6).map(
        lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
)
targets = st.one_of(st.sampled_from(OPERATIONS).map(lambda op: f"DynamoDB_20120810.{op}"),
                    st.text(max_size=30))


def state(handler):
    db = handler.database
    return db.tables(), db.table("orders").sequence


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=targets, body=bodies)
def test_malformed_requests(handler, ddb, target, body):
    if "orders" not in handler.database.tables():
        make_table(ddb)
        ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    before = state(handler)
    status, headers, payload = handler.handle(target, body)
    data = json.loads(payload)
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    if status == 200:
        return
    assert status in (400, 413)
    prefix, _, name = data["__type"].partition("#")
    assert prefix in ("com.amazon.coral.service", "com.amazon.coral.validate",
                      "com.amazonaws.dynamodb.v20120810")
    assert name.endswith(("Exception", "RequestEntityTooLarge"))
    assert set(data) <= {"__type", "message", "Message", "CancellationReasons", "Item"}
    assert state(handler) == before
