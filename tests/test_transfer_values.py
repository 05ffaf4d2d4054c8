"""DynamoDB JSON and typed JSON: every DynamoDB type reads back exactly, and
what is not a DynamoDB value is refused with where it is."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from endpoints import rich_items

from dynafile.transfer.values import (
    ValueFormatError,
    dumps_typed,
    item_from_dynamodb,
    item_to_dynamodb,
    loads_typed,
    number_from_text,
)
from dynafile.types import equal


def _same(a, b):
    assert set(a) == set(b)
    for name in a:
        assert equal(a[name], b[name]), (name, a[name], b[name])


def test_every_type_round_trips_through_dynamodb_json_text():
    for item in rich_items(40):
        text = json.dumps({"Item": item_to_dynamodb(item)})
        back = item_from_dynamodb(json.loads(text)["Item"])
        _same(item, back)
        assert item_to_dynamodb(back) == item_to_dynamodb(item)


def test_every_type_round_trips_through_typed_json():
    for item in rich_items(40):
        back = loads_typed(dumps_typed(item))
        _same(item, back)
        assert dumps_typed(back) == dumps_typed(item)


def test_numbers_keep_every_digit_and_never_become_floats():
    n = Decimal("-1234567890123456789012345678901234567.8")
    text = dumps_typed({"n": n, "i": 12345678901234567890123456789012345678})
    assert text == ('{"n": -1234567890123456789012345678901234567.8, '
                    '"i": 12345678901234567890123456789012345678}')
    back = loads_typed(text)
    assert back["n"] == n and isinstance(back["n"], Decimal)
    assert isinstance(back["i"], int)
    assert item_to_dynamodb({"x": 0.1})["x"] == {"N": "0.1"}
    assert number_from_text("1.50") == Decimal("1.5") and number_from_text("1E+2") == 100
    assert isinstance(number_from_text("1E+2"), int)
    assert number_from_text("1E+125") == Decimal("1E+125")


def test_typed_json_tags():
    assert dumps_typed({"b": b"\x00\x01", "s": {"y", "x"}, "n": {2, 1}, "bs": {b"\x02"}}) == (
        '{"b": {"$b": "AAE="}, "s": {"$ss": ["x", "y"]}, "n": {"$ns": [1, 2]}, '
        '"bs": {"$bs": ["Ag=="]}}')
    # a map whose only key starts with $ is wrapped, so it is never read as a tag
    assert dumps_typed({"m": {"$b": "text"}}) == '{"m": {"$m": {"$b": "text"}}}'
    assert loads_typed('{"m": {"$m": {"$b": "text"}}}') == {"m": {"$b": "text"}}
    assert loads_typed('{"m": {"$b": "x", "other": 1}}') == {"m": {"$b": "x", "other": 1}}


@pytest.mark.parametrize("text, message", [
    ('{"a": {"$b": "***"}}', "a: invalid base64"),
    ('{"a": {"$ss": []}}', "a: $ss must hold a non-empty array"),
    ('{"a": {"$ss": ["x", "x"]}}', "a: SS holds duplicates"),
    ('{"a": {"$ns": [1, 1.0]}}', "a: NS holds duplicates"),
    ('{"a": {"$zz": 1}}', "a: unknown tag '$zz'"),
    ('{"a": [1, 1e400]}', "a[1]"),
    ('{"a": 123456789012345678901234567890123456789}', "a: Attempting to store more than 38"),
    ('not json', "not JSON"),
])
def test_bad_typed_json_is_refused_with_where(text, message):
    with pytest.raises(ValueFormatError) as caught:
        loads_typed(text)
    assert message in str(caught.value)


@pytest.mark.parametrize("value, message", [
    ({"a": {"S": 1}}, "a: S must hold a string"),
    ({"a": {"N": "x"}}, "a: not a number"),
    ({"a": {"N": 1}}, "a: N must hold a number as a string"),
    ({"a": {"NULL": False}}, "a: NULL must hold true"),
    ({"a": {"S": "x", "N": "1"}}, "a: an attribute value must be an object with exactly one"),
    ({"a": {"L": [{"S": "x"}, {"Q": 1}]}}, "a[1]: unknown type 'Q'"),
    ({"a": {"M": {"b": {"SS": ["x", "x"]}}}}, "a.b: SS holds duplicates"),
    ({"a": {"BS": []}}, "a: BS must hold a non-empty array"),
])
def test_bad_dynamodb_json_is_refused_with_where(value, message):
    with pytest.raises(ValueFormatError) as caught:
        item_from_dynamodb(value)
    assert message in str(caught.value)


def test_values_of_no_dynamodb_type_are_refused():
    import datetime

    with pytest.raises(ValueFormatError, match="when: a value of type datetime"):
        item_to_dynamodb({"when": datetime.datetime(2026, 1, 1)})
    with pytest.raises(ValueFormatError, match=r"x\[0\]: an empty set"):
        dumps_typed({"x": [set()]})
    with pytest.raises(ValueFormatError, match="only strings, only numbers"):
        item_to_dynamodb({"x": {1, "a"}})


def test_boto3_shape_uses_bytes():
    encoded = item_to_dynamodb({"b": b"\x00", "bs": {b"\x01"}}, binary="bytes")
    assert encoded == {"b": {"B": b"\x00"}, "bs": {"BS": [b"\x01"]}}
    assert item_from_dynamodb(encoded) == {"b": b"\x00", "bs": {b"\x01"}}
