"""DynamoDB JSON attribute values <-> Python values, with DynamoDB's messages.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
"""

from decimal import Decimal

import pytest

from dynafile.dynamodb.errors import InternalServerError, Validation
from dynafile.dynamodb.values import decode_value, encode_item, encode_value


@pytest.mark.parametrize(("wire", "python"), [
    ({"S": "text"}, "text"),
    ({"S": ""}, ""),
    ({"N": "12.50"}, Decimal("12.5")),
    ({"N": "1E+2"}, Decimal(100)),
    ({"N": "-0"}, Decimal(0)),
    ({"B": "AAEC"}, b"\x00\x01\x02"),
    ({"BOOL": False}, False),
    ({"NULL": True}, None),
    ({"L": [{"S": "a"}, {"N": "1"}]}, ["a", Decimal(1)]),
    ({"M": {"x": {"M": {"y": {"BOOL": True}}}}}, {"x": {"y": True}}),
    ({"SS": ["a", "b"]}, {"a", "b"}),
    ({"NS": ["1", "2.5"]}, {Decimal(1), Decimal("2.5")}),
    ({"BS": ["AQ==", "Ag=="]}, {b"\x01", b"\x02"}),
])
def test_decode(wire, python):
    assert decode_value(wire) == python


@pytest.mark.parametrize(("wire", "message"), [
    ({}, ("Supplied AttributeValue is empty, must contain exactly one of the supported "
         "datatypes")),
    ({"S": "a", "N": "1"}, ("Supplied AttributeValue has more than one datatypes set, must "
                           "contain exactly one of the supported datatypes")),
    ({"NULL": False}, ("One or more parameter values were invalid: Null attribute value types "
                      "must have the value of true")),
    ({"N": "abc"}, "The parameter cannot be converted to a numeric value: abc"),
    ({"N": ""}, "The parameter cannot be converted to a numeric value"),
    ({"N": "1" * 39}, "Attempting to store more than 38 significant digits in a Number"),
    ({"N": "1E+126"}, ("Number overflow. Attempting to store a number with magnitude larger "
                      "than supported range")),
    ({"N": "1E-131"}, ("Number underflow. Attempting to store a number with magnitude smaller "
                      "than supported range")),
    ({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty"),
    ({"NS": []}, "One or more parameter values were invalid: An number set  may not be empty"),
    ({"BS": []}, "One or more parameter values were invalid: Binary sets should not be empty"),
    ({"SS": ["a", "a"]}, ("One or more parameter values were invalid: Input collection [a, a] "
                         "contains duplicates.")),
    ({"NS": ["1", "1.0"]}, ("One or more parameter values were invalid: Input collection "
                           "contains duplicates.")),
])
def test_decode_errors(wire, message):
    with pytest.raises(Validation) as info:
        decode_value(wire)
    assert info.value.message == message


def test_nesting_limit():
    value = {"S": "x"}
    for _ in range(31):
        value = {"L": [value]}
    decode_value(value)  # 32 levels: accepted
    with pytest.raises(Validation, match="Nesting Levels have exceeded"):
        decode_value({"L": [value]})


def test_encode_numbers_as_dynamodb_prints_them():
    assert encode_value(Decimal("1.50")) == {"N": "1.5"}
    assert encode_value(10) == {"N": "10"}
    assert encode_value(0.1) == {"N": "0.1"}
    assert encode_value(Decimal("1E+3")) == {"N": "1000"}


def test_encode_round_trip():
    item = {"s": "x", "n": Decimal(3), "b": b"\xff", "t": True, "z": None,
            "l": [1, "a"], "m": {"k": {"SS": 1}}, "ss": {"b", "a"}, "bs": {b"a"}}
    wire = encode_item(item)
    assert wire["ss"] == {"SS": ["a", "b"]}
    assert wire["b"] == {"B": "/w=="}
    assert {k: decode_value(v) for k, v in wire.items()} == {**item, "l": [Decimal(1), "a"],
                                                             "m": {"k": {"SS": Decimal(1)}}}


def test_encode_refuses_foreign_types():
    import datetime

    with pytest.raises(InternalServerError):
        encode_value(datetime.date(2024, 1, 1))
