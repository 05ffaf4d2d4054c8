"""DynamoDB's value types (dynafile.types): numbers, equality, validation, sizes.

Expected values and messages are DynamoDB's documented rules and its
answers as recorded against the service (cited next to each table).
"""

import copy
import datetime
import decimal
import enum
import threading
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynafile import ValidationError
from dynafile import types as t
from dynafile.expressions.update import set_difference, set_union

OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
UNDERFLOW = ("Number underflow. Attempting to store a number with magnitude smaller than "
             "supported range")
TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"
MAX = Decimal("9.9999999999999999999999999999999999999E+125")
MIN = Decimal("-9.9999999999999999999999999999999999999E+125")  # not -MAX: that rounds to 28 digits


# ------------------------------------------------------------------ numbers

# (input, stored form): DynamoDB keeps the value, not the spelling
# (scylladb test_number.py's _NORMALIZATION_CASES, recorded against DynamoDB).
NORMALISED = [
    (Decimal("1.50"), Decimal("1.5")),
    (Decimal("1E+2"), Decimal(100)),
    (Decimal("1.0e3"), Decimal(1000)),
    (Decimal("-0"), Decimal(0)),
    (Decimal("-0.0"), Decimal(0)),
    (Decimal("0e5"), Decimal(0)),
    (Decimal("001.23"), Decimal("1.23")),
    (Decimal("1.23e-1"), Decimal("0.123")),
    (Decimal("1E-20"), Decimal("0.00000000000000000001")),
    (Decimal("1E125"), Decimal("1" + "0" * 125)),
]


@pytest.mark.parametrize("given_,stored", NORMALISED)
def test_decimals_are_normalised_as_dynamodb_stores_them(given_, stored):
    result = t.normalize_number(given_)
    assert result == stored
    assert result.as_tuple() == stored.as_tuple()  # the spelling, not only the value
    assert t.number_text(given_) == format(stored, "f")


def test_ints_and_floats_keep_their_type():
    assert t.normalize_number(7) == 7 and type(t.normalize_number(7)) is int
    assert type(t.normalize_number(10**40)) is int          # 1 significant digit: fine
    f = 1712345678.123456                                    # a time.time() float
    assert t.normalize_number(f) is f
    assert t.normalize_number(0.1) == 0.1
    negative_zero = t.normalize_number(-0.0)
    assert negative_zero == 0.0 and str(negative_zero) == "0.0"

    class Level(enum.IntEnum):
        HIGH = 3
    assert type(t.normalize_number(Level.HIGH)) is int


# (value, DynamoDB's message); paritysuite dynamodb-conformance
# tests/tier3/error-messages/valueLayers.test.ts and limits/numberExponent.test.ts.
REFUSED = [
    (float("nan"), "The parameter cannot be converted to a numeric value: NaN"),
    (float("inf"), "The parameter cannot be converted to a numeric value: Infinity"),
    (float("-inf"), "The parameter cannot be converted to a numeric value: -Infinity"),
    (Decimal("NaN"), "The parameter cannot be converted to a numeric value: NaN"),
    (Decimal("Infinity"), "The parameter cannot be converted to a numeric value: Infinity"),
    (10**38 * 10 + 1, TOO_PRECISE),                          # 40 significant digits
    (Decimal(1234567890123456789012345678901234567890), TOO_PRECISE),
    (Decimal("-1.23456789012345678901234567890123456789"), TOO_PRECISE),
    (Decimal("1e126"), OVERFLOW),
    (Decimal("-1e126"), OVERFLOW),
    (10**126, OVERFLOW),
    (1e126, OVERFLOW),
    (Decimal("1e-131"), UNDERFLOW),
    (-1e-131, UNDERFLOW),
    (Decimal("0e126"), OVERFLOW),      # a zero is range-checked by its exponent
    (Decimal("0e-131"), UNDERFLOW),
    (True, "The parameter cannot be converted to a numeric value: True"),
]


@pytest.mark.parametrize("value,message", REFUSED)
def test_numbers_dynamodb_refuses(value, message):
    with pytest.raises(ValidationError) as err:
        t.check_number(value)
    assert err.value.reason == message


@pytest.mark.parametrize("value", [
    MAX, MIN, Decimal("1E-130"), Decimal("-1E-130"), 1e-130, 9.99e125, Decimal("0e125"),
    Decimal(12345678901234567890123456789012345678), 10**38 - 1, -(10**38 - 1),
    Decimal("1.2345678901234567890123456789012345678E+100"),
])
def test_numbers_at_the_limits_are_accepted(value):
    t.check_number(value)
    assert t.normalize_number(value) == value


# A number's weight in the item size, measured against DynamoDB's 400 KB gate
# to the byte (paritysuite dynamodb-conformance src/item-size.ts).
CAPTURED_SIZES = [
    ("0", 1), ("1", 2), ("12", 2), ("123", 3), ("1234", 3),
    ("12345678901234567890123456789012345678", 20), ("0042", 2), ("100", 2), ("1010", 3),
    ("0.0000001", 2), ("1E125", 2), ("1E-100", 2), ("1.5", 3), ("15", 2), ("1.2", 3),
    ("1.200", 3), ("1.234", 4), ("3.14159", 5), ("123456", 4), ("100.5", 4), ("0.15", 2),
    ("-42", 3), ("-0", 1),
]


@pytest.mark.parametrize("literal,size", CAPTURED_SIZES)
def test_number_size_matches_dynamodb(literal, size):
    assert t.number_size(Decimal(literal)) == size
    number = Decimal(literal)
    if number == number.to_integral_value() and abs(number) < 10**20:
        assert t.number_size(int(number)) == size
    if len(number.as_tuple().digits) <= 15:
        assert t.number_size(float(literal)) == size


# ---------------------------------------------------------------- arithmetic

def test_arithmetic_is_exact_and_keeps_types():
    assert t.add_numbers(0.1, 0.2) == 0.3 and type(t.add_numbers(0.1, 0.2)) is float
    assert t.add_numbers(1, 2) == 3 and type(t.add_numbers(1, 2)) is int
    assert t.add_numbers(1.5, 1) == 2.5 and type(t.add_numbers(1.5, 1)) is float
    assert t.add_numbers(Decimal("1.5"), 1) == Decimal("2.5")
    assert type(t.add_numbers(1, Decimal(1))) is Decimal
    assert t.add_numbers(0.1, Decimal("0.2")) == Decimal("0.3")
    # a float cannot print the exact result: a Decimal holds it
    assert t.add_numbers(0.1, 1e-20) == Decimal("0.10000000000000000001")
    assert t.subtract_numbers(Decimal(10000000000000000000000), 1) == \
        Decimal(9999999999999999999999)
    assert t.add_numbers(Decimal("1.10"), Decimal("1.40")).as_tuple() == \
        Decimal("2.5").as_tuple()                              # canonical form
    big = Decimal(1234567890123456789012345678901)          # 31 digits
    assert t.add_numbers(big, big) == Decimal(2469135780246913578024691357802)


def test_arithmetic_ignores_the_thread_default_context():
    big = Decimal(1234567890123456789012345678901)
    results = []

    def worker():
        decimal.getcontext().prec = 5       # a caller's odd context must not matter
        results.append(t.add_numbers(big, 1))
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert results == [Decimal(1234567890123456789012345678902)]


@pytest.mark.parametrize("a,b", [
    (Decimal("9e125"), Decimal("9e125")),        # out of range
    (Decimal("1e50"), 1),                        # 51 digits: DynamoDB calls it overflow too
    (10**50, 1),
    (-(10**38) + 1, -(10**40)),
])
def test_arithmetic_beyond_dynamodb_numbers_is_refused(a, b):
    with pytest.raises(ValidationError) as err:
        t.add_numbers(a, b)
    assert err.value.reason == OVERFLOW


# ------------------------------------------------------ equality and order

def test_one_number_type_in_equality_and_order():
    assert t.equal(0.1, Decimal("0.1"))
    assert t.equal(0.1, Decimal("0.10"))
    assert t.equal(1e23, 10**23)                       # the decimal a float prints as
    assert t.equal(1, Decimal("1.0")) and t.equal(2.0, 2)
    assert not t.equal(True, 1) and not t.equal(1, True)
    assert not t.equal(1, "1")
    assert t.compare(0.1, Decimal("0.1")) == 0
    assert t.compare(0.1, Decimal("0.2")) == -1
    assert t.compare(Decimal("0.3"), 0.1) == 1
    assert t.compare(1, "1") is None and t.compare(True, 0) is None
    assert t.compare(b"a", bytearray(b"b")) == -1
    assert t.compare(t.MISSING, 1) is None
    assert not t.equal(t.MISSING, t.MISSING)


def test_containers_compare_element_by_element_under_number_equality():
    assert t.equal([0.1, {"x": Decimal(2)}], [Decimal("0.1"), {"x": 2.0}])
    assert not t.equal([1], [True])
    assert t.equal({0.1, 2}, {Decimal("0.10"), Decimal(2)})
    assert not t.equal({1}, {"1"})
    assert t.element_of(Decimal("0.1"), {0.1})
    assert t.element_of(0.1, [Decimal("0.1")])
    assert not t.element_of(True, {1})
    assert not t.element_of(1, [True])
    assert t.element_of(1, {Decimal("1.0")})


def test_number_set_operations_by_decimal_value():
    union = set_union({0.1, 2}, {Decimal("0.1"), 3})
    assert len(union) == 3 and 0.1 in union                  # the stored element is kept
    assert set_difference({0.1, 2}, {Decimal("0.10")}) == {2}
    assert set_union({"a"}, {"b"}) == {"a", "b"}


# ---------------------------------------------------------------- validation

def test_valid_items_come_back_unchanged_and_uncopied():
    item = {"PK": "u", "n": 1, "f": 0.5, "b": b"x", "ba": bytearray(b"y"), "t": True,
            "none": None, "l": [1, "a", [2]], "m": {"x": {"y": [None]}}, "ss": {"a"},
            "ns": {1, 2.5, Decimal(3)}, "bs": {b"a"}, "empty_l": [], "empty_m": {},
            "empty_s": ""}
    assert t.validate_item(item) is item


def test_normalising_copies_only_what_changes():
    item = {"PK": "u", "d": Decimal("1.50"), "m": {"x": [Decimal("1E+2")], "y": "same"},
            "keep": [1, 2]}
    before = copy.deepcopy(item)
    out = t.validate_item(item)
    assert item == before and item["d"].as_tuple() == before["d"].as_tuple()  # untouched
    assert out["d"].as_tuple() == Decimal("1.5").as_tuple()
    assert out["m"]["x"][0].as_tuple() == Decimal(100).as_tuple()
    assert out["keep"] is item["keep"]


class Point:
    pass


EMPTY_SET = "One or more parameter values were invalid: An string set  may not be empty"


# (item, path in the error, reason or fragment, hint expected)
INVALID_ITEMS = [
    ({"d": datetime.datetime(2024, 1, 1)}, "d", "Unsupported type 'datetime.datetime'", True),
    ({"m": {"x": [1, (1, 2)]}}, "m.x[1]", "Unsupported type 'tuple'", True),
    ({"m": {1: "a"}}, "m.1", "Map keys and attribute names must be strings, got int 1", True),
    ({"p": Point()}, "p", "Unsupported type 'test_types.Point'", True),
    ({"s": set()}, "s", EMPTY_SET, True),
    ({"s": {"a", 1}}, "s", "A set holds elements of one type", True),
    ({"s": {True}}, "s", "A set holds elements of one type", True),
    ({"s": {0.1, Decimal("0.1")}}, "s",
     "One or more parameter values were invalid: Input collection contains duplicates.", True),
    ({"a": {"b": [0, 1, float("nan")]}}, "a.b[2]",
     "The parameter cannot be converted to a numeric value: NaN", False),
    ({"a": [Decimal("1e-131")]}, "a[0]", UNDERFLOW, False),
    ({"s": {Decimal("1e126")}}, "s", OVERFLOW, False),
    ({"": 1}, "", "Attribute name must not be empty", False),
    ({"m": {"": 1}}, "m.", "Attribute name must not be empty", False),
]


@pytest.mark.parametrize("item,path,reason,hint", INVALID_ITEMS)
def test_invalid_items_name_the_attribute(item, path, reason, hint):
    with pytest.raises(ValidationError) as err:
        t.validate_item(item)
    assert reason in err.value.reason
    assert err.value.attribute == path
    assert (err.value.hint is not None) is hint
    if hint and "type" in reason:
        assert "serializer or model layer" in err.value.hint


def deep(levels, leaf="x", kind="map"):
    value = leaf
    for _ in range(levels):
        value = {"n": value} if kind == "map" else [value]
    return value


@pytest.mark.parametrize("kind", ["map", "list"])
def test_nesting_limit_is_32_levels(kind):
    # 31 wraps put the leaf at level 32: accepted; 32 wraps: refused
    # (paritysuite limits/nestingDepth.test.ts, captured against DynamoDB).
    t.validate_item({"data": deep(31, kind=kind)})
    with pytest.raises(ValidationError) as err:
        t.validate_item({"data": deep(32, kind=kind)})
    assert err.value.reason == ("Nesting Levels have exceeded supported limits: Attributes in "
                                "the item have nested levels beyond supported limit")
    assert err.value.attribute.startswith("data")
    t.validate_item({"data": deep(31, leaf={}, kind=kind)})  # an empty map has no level below


def test_self_referencing_values_are_refused_not_looped():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValidationError, match="Nesting Levels"):
        t.validate_item({"l": loop})


def test_attribute_name_lengths():
    t.validate_item({"a" * 65535: 1})
    with pytest.raises(ValidationError) as err:
        t.validate_item({"a" * 65536: 1})
    assert err.value.reason == "Attribute name is too large, must be less than 65536 bytes"
    t.validate_item({"é" * 32767: 1})                       # 65,534 UTF-8 bytes
    with pytest.raises(ValidationError):
        t.validate_item({"é" * 32768: 1})                   # 65,536 bytes
    with pytest.raises(ValidationError):
        t.validate_item({"m": {"k" * 65536: 1}})            # map keys too
    t.validate_item({"K" * 255: "v"}, key_attributes=["K" * 255])
    with pytest.raises(ValidationError) as err:
        t.validate_item({"K" * 256: "v"}, key_attributes=["K" * 256])
    assert err.value.reason == "Attribute name is too large, must be less than 256 bytes"
    t.validate_item({"K" * 256: "v"})                       # not a key: fine


def test_validate_value_and_non_dict_items():
    assert t.validate_value(Decimal("2.50"), path=":v") == Decimal("2.5")
    with pytest.raises(ValidationError) as err:
        t.validate_value({"a": [set()]}, path=":v")
    assert err.value.attribute == ":v.a[0]"
    with pytest.raises(ValidationError):
        t.validate_item([("a", 1)])


# --------------------------------------------------------------------- sizes

# "DynamoDB item sizes and formats"
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
SIZES = [
    ({"s": "abc"}, 1 + 3),
    ({"s": "é"}, 1 + 2),                                     # UTF-8 bytes
    ({"ñame": ""}, 5),
    ({"n": 123}, 1 + 3),
    ({"b": b"\x00\x01"}, 1 + 2),
    ({"t": True, "z": None}, 2 + 2),
    ({"l": []}, 1 + 3),
    ({"m": {}}, 1 + 3),
    ({"l": ["ab", 1]}, 1 + 3 + (1 + 2) + (1 + 2)),
    ({"m": {"ab": "c"}}, 1 + 3 + 1 + 2 + 1),
    ({"ss": {"a", "bc"}}, 2 + 1 + 2),
    ({"ns": {1, 12}}, 2 + 2 + 2),
    ({"deep": {"x": [{"y": 1}]}}, 4 + 3 + (1 + 1 + (3 + 1 + (3 + 1 + 1 + 2)))),
]


@pytest.mark.parametrize("item,size", SIZES)
def test_item_size(item, size):
    assert t.item_size(item) == size
    # The one-pass check a write uses sizes the item the same way.
    assert t.validate_sized_item(item) == (item, size)


_SIZED_VALUES = st.recursive(
    st.one_of(st.text(), st.binary(), st.booleans(), st.none(),
              st.integers(min_value=-(10**37), max_value=10**37),
              st.decimals(allow_nan=False, allow_infinity=False, places=3,
                          min_value=-(10**20), max_value=10**20),
              st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30,
                        max_value=1e30).filter(lambda f: f == 0 or abs(f) > 1e-100),
              st.sets(st.text(min_size=1), min_size=1, max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(min_size=1), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=70), _SIZED_VALUES, max_size=6))
def test_the_one_pass_check_gives_what_validate_item_and_item_size_give(item):
    stored = t.validate_item(item)
    assert t.validate_sized_item(item) == (stored, t.item_size(stored))


def test_item_size_at_the_400kb_gate():
    # DynamoDB accepts 409,600 bytes and refuses 409,601 (paritysuite item-size.ts).
    assert t.item_size({"pk": "a", "p": "x" * (409600 - 2 - 1 - 1)}) == 409600
    assert t.item_size({"big": "x" * 180_000}) < 400 * 1024   # pickle size is not the measure


# ------------------------------------------------------------------ properties

finite_floats = st.floats(min_value=-1e124, max_value=1e124).filter(
    lambda f: f == 0 or abs(f) >= 1e-130)
# Decimals DynamoDB stores: 1 to 38 digits, adjusted exponent -130 .. 125.
decimals = st.builds(lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
                     st.integers(0, 1), st.lists(st.integers(0, 9), min_size=1, max_size=38),
                     st.integers(-130, 88))


@settings(max_examples=300, deadline=None)
@given(finite_floats)
def test_a_float_means_the_decimal_it_prints_as(f):
    d = Decimal(repr(f))
    assert t.equal(f, d) and t.compare(f, d) == 0
    assert t.element_of(d, {f}) and t.element_of(f, [d])
    assert t.number_text(f) == t.number_text(d)
    assert t.number_size(f) == t.number_size(d)


@settings(max_examples=300, deadline=None)
@given(decimals)
def test_normalised_decimals_keep_their_value(d):
    out = t.normalize_number(d)
    assert out == d
    assert Decimal(t.number_text(d)) == d
    assert "E" not in t.number_text(d) and t.number_text(d) not in ("-0", "0.0")
    digits = out.as_tuple().digits
    assert out.as_tuple().exponent <= 0
    assert d == 0 or digits[-1] != 0 or out.as_tuple().exponent == 0


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(-10**40, 10**40), finite_floats, decimals),
       st.one_of(st.integers(-10**40, 10**40), finite_floats, decimals))
def test_addition_is_exact_or_refused(a, b):
    exact = decimal.Context(prec=400).add(Decimal(repr(a)) if isinstance(a, float) else
                                          Decimal(a),
                                          Decimal(repr(b)) if isinstance(b, float) else
                                          Decimal(b))
    try:
        result = t.add_numbers(a, b)
    except ValidationError as err:
        assert err.reason == OVERFLOW or err.reason == UNDERFLOW or err.reason == TOO_PRECISE
        return
    assert t.equal(result, exact)
    if type(a) is int and type(b) is int:
        assert type(result) is int
    elif isinstance(a, Decimal) or isinstance(b, Decimal):
        assert type(result) is Decimal


@settings(max_examples=300, deadline=None)
@given(st.integers(-2**60, 2**60), st.one_of(finite_floats, st.integers(-2**60, 2**60).map(float)))
def test_ints_and_floats_compare_by_decimal_value(n, f):
    d = Decimal(repr(f))
    assert t.compare(n, f) == (Decimal(n) > d) - (Decimal(n) < d)
    assert t.compare(f, n) == (d > Decimal(n)) - (d < Decimal(n))
    assert t.equal(n, f) is (Decimal(n) == d)
