"""Requests as a server receives them: the target, the body, DynamoDB's error
shape (``__type``, ``message`` or ``Message``, HTTP status), member types and
constraints checked in DynamoDB's order.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html
"""

import json
import zlib

import pytest

from dynafile.dynamodb import MAX_REQUEST_BYTES

from .conftest import error_of, make_table, raw


def test_success_headers(handler):
    status, headers, body = handler.handle("DynamoDB_20120810.ListTables", b"{}")
    assert status == 200
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert headers["x-amz-crc32"] == str(zlib.crc32(body))
    assert headers["x-amzn-RequestId"]
    assert json.loads(body) == {"TableNames": []}


@pytest.mark.parametrize("target", ["DynamoDB_20120810.Frobnicate", "DynamoDB_20111205.GetItem",
                                    "GetItem", "", None, "DynamoDBStreams_20120810.PutItem"])
def test_unknown_operation(handler, target):
    status, _, body = handler.handle(target, b"{}")
    assert status == 400
    assert json.loads(body) == {"__type": "com.amazon.coral.service#UnknownOperationException"}


@pytest.mark.parametrize("body", [b"{", b"not json", b"\xff\xfe", b"[" * 100000])
def test_malformed_json(handler, body):
    status, data = raw(handler, "ListTables", body)
    assert status == 400
    assert data == {"__type": "com.amazon.coral.service#SerializationException"}


def test_oversized_body(handler):
    status, data = raw(handler, "ListTables", b" " * (MAX_REQUEST_BYTES + 1))
    assert status == 413
    assert data["__type"].endswith("#RequestEntityTooLarge")


@pytest.mark.parametrize(("body", "message"), [
    ({"TableName": 5}, "class java.lang.Short can not be converted to an String"),
    ({"TableName": True}, "class java.lang.Boolean can not be converted to an String"),
    ({"TableName": ["a"]}, "Start of list found where not expected"),
    ({"TableName": {"a": 1}}, "Start of structure or map found where not expected."),
    ({"TableName": "abc", "Key": "x"}, "Expected map or null"),
    ({"TableName": "abc", "Key": {"a": {"S": 1}}},
     "class java.lang.Short can not be converted to an String"),
    ({"TableName": "abc", "Key": {"a": {"B": "abc"}}},
     ("'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of "
     "4 bytes but found: 3")),
    ({"TableName": "abc", "Key": {"a": {"L": "x"}}}, "Expected list or null"),
    ({"TableName": "abc", "Key": {}, "ConsistentRead": "yes"},
     "'YES' can not be converted to an Boolean"),
])
def test_member_types(handler, body, message):
    status, data = raw(handler, "GetItem", body)
    assert status == 400
    assert data == {"__type": "com.amazon.coral.service#SerializationException",
                    "Message": message}


def test_constraints_are_collected(handler):
    name, message = error_of(handler, "ListTables", {"Limit": 1000,
                                                     "ExclusiveStartTableName": "a;"})
    assert name == "ValidationException"
    assert message == (
        "3 validation errors detected: Value 'a;' at 'exclusiveStartTableName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value 'a;' at 'exclusiveStartTableName' failed to satisfy constraint: Member must "
        "have length greater than or equal to 3; Value '1000' at 'limit' failed to satisfy "
        "constraint: Member must have value less than or equal to 100")


def test_required_members(handler):
    assert error_of(handler, "GetItem", {}) == (
        "ValidationException",
        ("2 validation errors detected: Value null at 'tableName' failed to satisfy constraint: "
        "Member must not be null; Value null at 'key' failed to satisfy constraint: Member "
        "must not be null"))


def test_validation_error_shape(handler):
    status, data = raw(handler, "DescribeTable", {"TableName": "ab"})
    assert status == 400
    assert data["__type"] == "com.amazon.coral.validate#ValidationException"
    assert "message" in data


def test_not_found_shape(handler):
    status, data = raw(handler, "DescribeTable", {"TableName": "missing"})
    assert (status, data) == (400, {
        "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "message": "Requested resource not found: Table: missing not found"})
    assert error_of(handler, "GetItem", {"TableName": "missing", "Key": {"a": {"S": "x"}}}) == (
        "ResourceNotFoundException", "Requested resource not found")


def test_validation_before_table_lookup(handler):
    # An invalid value is refused before the missing table is noticed, as DynamoDB does.
    assert error_of(handler, "PutItem", {"TableName": "missing", "Item": {"a": {"N": "x"}}}) == (
        "ValidationException", "The parameter cannot be converted to a numeric value: x")


def test_unknown_members_are_ignored(handler, ddb):
    make_table(ddb)
    status, data = raw(handler, "GetItem", {"TableName": "orders", "Frob": 1,
                                            "Key": {"pk": {"S": "a"}, "sk": {"S": "b"}}})
    assert (status, data) == (200, {})


def test_call_is_the_same_without_json(handler):
    assert handler.call("ListTables", {}) == {"TableNames": []}


def test_closed_handler_answers_with_an_error(tmp_path):
    from dynafile.dynamodb import Handler

    h = Handler(tmp_path / "db")
    h.close()
    status, _, body = h.handle("DynamoDB_20120810.ListTables", b"{}")
    assert status == 500
    assert json.loads(body)["__type"].endswith("#InternalServerError")
