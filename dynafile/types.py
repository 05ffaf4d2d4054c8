"""DynamoDB's data types for item values: what a value may be, what it means,
how DynamoDB compares it, and what it weighs.

An item value is one of DynamoDB's types, written in Python as:

=========  ======================================================
``S``      ``str``
``N``      ``int``, ``float`` or ``Decimal`` (never ``bool``)
``B``      ``bytes`` or ``bytearray``
``BOOL``   ``bool``
``NULL``   ``None``
``L``      ``list``
``M``      ``dict`` with ``str`` keys
``SS``     non-empty ``set`` / ``frozenset`` of ``str``
``NS``     non-empty set of numbers
``BS``     non-empty set of ``bytes``
=========  ======================================================

**One number type.** A ``float`` means the decimal number it prints as
(``0.1`` is ``Decimal("0.1")``, not the binary fraction), so ``0.1``,
``Decimal("0.1")`` and ``Decimal("0.10")`` are one number in every
comparison, set and key; ``True`` is never the number 1. Numbers keep the
Python type they were written with: the native API reads back what it wrote.

Every function here is pure: no I/O, nothing from the table or storage
modules. Errors are :class:`~dynafile.errors.ValidationError` whose
``reason`` is DynamoDB's own message wherever DynamoDB has one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any, Union

from .errors import ValidationError

__all__ = [
    "MAX_ATTRIBUTE_NAME_BYTES", "MAX_KEY_ATTRIBUTE_NAME_BYTES", "MAX_NESTING",
    "MAX_NUMBER_DIGITS", "MISSING", "TYPE_NAMES", "Number", "add_numbers", "check_number",
    "compare", "element_of", "equal", "is_number", "item_size", "normalize_number",
    "number_key", "number_size", "number_text", "size_of", "subtract_numbers", "type_name",
    "validate_item", "validate_sized_item", "validate_value", "value_size",
]

Number = Union[int, float, Decimal]


class _Missing:
    """The value of a path that is not in the item."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: The value of a document path that is not in the item: equals nothing,
#: not even itself, and has no order.
MISSING: Any = _Missing()

#: The type names ``attribute_type`` accepts.
TYPE_NAMES = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")

# Limits from "Service, account, and table quotas in Amazon DynamoDB"
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)
# and "Supported data types and naming rules"
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html):
#: Significant digits a number may have.
MAX_NUMBER_DIGITS = 38
#: Levels of nesting: a top-level attribute's value is level 1, so 31 lists
#: or maps may wrap a value (captured against DynamoDB: 31 accepted, 32 refused).
MAX_NESTING = 32
#: Longest attribute name, in UTF-8 bytes (65,536 is refused).
MAX_ATTRIBUTE_NAME_BYTES = 65535
#: Longest name of a key attribute (table or index key, LSI projection).
MAX_KEY_ATTRIBUTE_NAME_BYTES = 255

# Decimal exponents DynamoDB stores: magnitudes 1E-130 .. 9.99...9E+125.
_MAX_ADJUSTED = 125
_MIN_ADJUSTED = -130

_NUMBERS = (int, float, Decimal)
_SETS = (set, frozenset)
_INT_LIMIT = 10**38  # ints inside it have at most 38 digits and are in range

# DynamoDB's messages. Texts from DynamoDB's answers as recorded by the
# paritysuite/dynamodb-conformance captures (tests/tier3/error-messages/
# valueLayers.test.ts, putItem.test.ts, tests/tier3/limits/*.test.ts) and
# architect/dynalite's tests, which were run against DynamoDB.
_NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
_TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"
_OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
_UNDERFLOW = ("Number underflow. Attempting to store a number with magnitude smaller than "
             "supported range")
_INVALID = "One or more parameter values were invalid: "
# (sic: DynamoDB's "An string set  may not be empty", with two spaces)
_EMPTY_SET = {"S": _INVALID + "An string set  may not be empty",
              "N": _INVALID + "An number set  may not be empty",
              "B": _INVALID + "Binary sets should not be empty"}
_NESTING = ("Nesting Levels have exceeded supported limits: Attributes in the item have nested "
            "levels beyond supported limit")
_CONVERT_HINT = ("DynamoDB stores only str, numbers (int, float, Decimal), bytes, bool, None, "
                 "lists, dicts with str keys and non-empty sets of str, numbers or bytes; "
                 "convert other objects first (a serializer or model layer can, e.g. a "
                 "datetime to an ISO 8601 string)")

# Arithmetic in DynamoDB's 38-digit precision. An exact result that does not
# fit is refused (Inexact is trapped), never silently rounded. Exponent
# limits are wide so range checks are ours, with DynamoDB's messages.
_ARITHMETIC = Context(prec=MAX_NUMBER_DIGITS, Emax=999_999, Emin=-999_999,
                      traps=[Inexact, InvalidOperation])


# ------------------------------------------------------------------ numbers


def is_number(value: Any) -> bool:
    """True for int, float and Decimal, but not bool. O(1)."""
    return isinstance(value, _NUMBERS) and value.__class__ is not bool


def number_key(value: Number) -> int | Decimal:
    """A hashable stand-in for a number under DynamoDB's equality: a float
    becomes the decimal it prints as, so ``number_key(0.1) ==
    number_key(Decimal("0.10"))`` (and their hashes agree). O(digits)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value  # type: ignore[return-value]


def _to_decimal(value: Number) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _digits_and_exponent(number: Decimal) -> tuple[int, tuple[int, ...], int]:
    """``(sign, significant digits, exponent)`` with trailing zeros moved into
    the exponent: ``Decimal("1.50")`` -> ``(0, (1, 5), -1)``. Zero has no
    digits."""
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    end = len(digits)
    while end and digits[end - 1] == 0:
        end -= 1
    start = 0
    while start < end and digits[start] == 0:
        start += 1
    return sign, tuple(digits[start:end]), exponent + len(digits) - end


def check_number(value: Any) -> None:
    """Check that a number is one DynamoDB can store.

    Raises:
        ValidationError: NaN or infinity, more than 38 significant digits, or
            a magnitude outside 1E-130 .. 9.99...9E+125, with DynamoDB's
            message (``"Number overflow. Attempting to store a number with
            magnitude larger than supported range"``...).

    Cost: O(1) for ints and floats of ordinary size, O(digits) otherwise.
    """
    normalize_number(value)


def normalize_number(value: Any) -> Number:
    """Return a number in the form DynamoDB stores it, keeping its Python type.

    DynamoDB keeps a number's value, not its spelling: ``Decimal("1.50")``
    becomes ``Decimal("1.5")``, ``Decimal("1E+2")`` ``Decimal("100")`` and
    ``-0`` ``0``. An ``int`` is returned as is; a ``float`` as is (it already
    means the decimal it prints as), except ``-0.0`` -> ``0.0``; subclasses
    (``IntEnum``) become the plain type.

    Raises:
        ValidationError: not a number (``bool`` is not one), or a number
            DynamoDB refuses (see :func:`check_number`).

    Cost: O(1) for ints and floats of ordinary size, O(digits) otherwise.
    """
    cls = value.__class__
    if cls is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            return value  # type: ignore[no-any-return]
        _check_decimal(Decimal(value))
        return value  # type: ignore[no-any-return]
    if cls is float:
        if 1e-130 <= value < 1e125 or -1e125 < value <= -1e-130:
            return value  # type: ignore[no-any-return]
        if value == 0.0:
            return 0.0
        if not math.isfinite(value):
            raise ValidationError(f"{_NOT_NUMERIC}: {Decimal(value)}")
        _check_decimal(Decimal(repr(value)))
        return value  # type: ignore[no-any-return]
    if cls is Decimal:
        _sign, digits, exponent = value.as_tuple()
        count = len(digits)
        # Already canonical: no trailing zeros after the point, no exponent
        # above it, at most 38 digits, in range (as_tuple has no leading zeros).
        if (exponent.__class__ is int and digits[0] and count <= MAX_NUMBER_DIGITS
                and (exponent == 0 or (exponent < 0 and digits[-1]))  # type: ignore[operator]
                and _MIN_ADJUSTED <= exponent + count - 1 <= _MAX_ADJUSTED):  # type: ignore[operator]
            return value  # type: ignore[no-any-return]
        return _canonical(value)
    if cls is bool or not isinstance(value, _NUMBERS):
        raise ValidationError(f"{_NOT_NUMERIC}: {value!r}")
    if isinstance(value, Decimal):
        return _canonical(Decimal(value))
    return normalize_number(float(value) if isinstance(value, float) else int(value))


def _check_decimal(number: Decimal) -> tuple[int, tuple[int, ...], int]:
    if not number.is_finite():
        raise ValidationError(f"{_NOT_NUMERIC}: {number}")
    parts = _digits_and_exponent(number)
    if len(parts[1]) > MAX_NUMBER_DIGITS:
        raise ValidationError(_TOO_PRECISE)
    # A zero is range-checked by the exponent it is written with (0E+126 is
    # refused), as DynamoDB does (paritysuite numberExponent.test.ts).
    adjusted = number.adjusted()
    if adjusted > _MAX_ADJUSTED:
        raise ValidationError(_OVERFLOW)
    if adjusted < _MIN_ADJUSTED:
        raise ValidationError(_UNDERFLOW)
    return parts


def _canonical(number: Decimal) -> Decimal:
    sign, digits, exponent = _check_decimal(number)
    if not digits:
        return Decimal(0)
    if exponent > 0:
        digits += (0,) * exponent
        exponent = 0
    canonical = Decimal((sign, digits, exponent))
    # Keep the caller's object when it is already canonical (cheap identity).
    return number if number.as_tuple() == canonical.as_tuple() else canonical


def number_text(value: Number) -> str:
    """DynamoDB's text of a valid number: ``"100"``, ``"1.5"``, ``"0.001"``,
    ``"-42"`` (no exponent, no trailing zeros, no ``-0``). O(digits)."""
    if value.__class__ is int:
        return str(value)
    number = _canonical(_to_decimal(value))
    return format(number, "f")


def _arithmetic(a: Number, b: Number, subtract: bool) -> Number:
    if a.__class__ is int and b.__class__ is int:
        exact = a - b if subtract else a + b
        if -10**38 < exact < 10**38:
            return exact
        try:
            _check_decimal(Decimal(exact))
        except ValidationError as error:
            raise ValidationError(_OVERFLOW if error.reason == _TOO_PRECISE
                                  else error.reason) from None
        return exact
    da, db = _to_decimal(a), _to_decimal(b)
    try:
        result = _ARITHMETIC.subtract(da, db) if subtract else _ARITHMETIC.add(da, db)
    except Inexact:
        # DynamoDB reports a result that needs more than 38 digits as an
        # overflow (scylladb's test_number.py records this against DynamoDB).
        raise ValidationError(_OVERFLOW) from None
    except InvalidOperation:
        raise ValidationError(f"{_NOT_NUMERIC}: {da if not da.is_finite() else db}") from None
    result = _canonical(result)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return result
    # float with int or float: a float when one prints as the exact result.
    as_float = float(result)
    if Decimal(repr(as_float)) == result:
        return as_float
    return result


def add_numbers(a: Number, b: Number) -> Number:
    """``a + b`` as DynamoDB computes it: exactly, in at most 38 digits.

    The result's Python type: ``int`` when both are ints; ``Decimal`` when
    either is a ``Decimal``; otherwise (a float is involved) a ``float`` when
    a float prints as the exact decimal result (``0.1 + 0.2`` -> ``0.3``),
    else a ``Decimal``. Decimals come back in canonical form.

    Raises:
        ValidationError: the result is outside DynamoDB's range or needs more
            than 38 significant digits (DynamoDB's "Number overflow..."
            message for both, as DynamoDB answers).

    Cost: O(digits).
    """
    return _arithmetic(a, b, False)


def subtract_numbers(a: Number, b: Number) -> Number:
    """``a - b``; the rules of :func:`add_numbers`."""
    return _arithmetic(a, b, True)


def number_size(value: Number) -> int:
    """Bytes a number weighs in DynamoDB's item size.

    ``1 + ceil(integer digits / 2) + ceil(fraction digits / 2)`` (+1 when
    negative) over the significant digits: ``0`` weighs 1, ``12`` 2, ``1.5``
    3, ``-42`` 3, ``1E+125`` 2. The documented rule ("1 byte per two
    significant digits, plus 1 byte",
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)
    made exact by measurements against DynamoDB (paritysuite
    dynamodb-conformance, src/item-size.ts). O(digits).
    """
    cls = value.__class__
    if cls is int:
        if value == 0:
            return 1
        text = str(value)
        negative = text[0] == "-"
        width = len(text.rstrip("0")) - negative
        return 1 + (width + 1) // 2 + negative
    if isinstance(value, float):
        return _float_size(value)
    sign, digits, exponent = _digits_and_exponent(_to_decimal(value))
    return _digits_size(sign, len(digits), exponent)


def _digits_size(sign: int, count: int, exponent: int) -> int:
    if not count:
        return 1
    point = count + exponent  # digits before the decimal point
    if point <= 0:
        whole, fraction = 0, count
    elif point >= count:
        whole, fraction = count, 0
    else:
        whole, fraction = point, count - point
    return 1 + (whole + 1) // 2 + (fraction + 1) // 2 + sign


def _float_size(value: float) -> int:
    """:func:`number_size` of a float, read off its repr (``'19.99'``,
    ``'1e-05'``, ``'1.5e+20'``) without making a Decimal."""
    text = repr(value)
    sign = text[0] == "-"
    if sign:
        text = text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    stripped = stripped.rstrip("0")
    return _digits_size(sign if stripped else 0, len(stripped), point - len(stripped))


# -------------------------------------------------------------- type names


def type_name(value: Any) -> str:
    """DynamoDB's type name for a Python value (``"S"``, ``"N"``, ``"SS"``...).

    Values of no DynamoDB type are ``"?"``: they equal nothing and have no
    order. An empty set is ``"SS"`` (sets of no type equal each other). O(1),
    O(n) for sets.
    """
    cls = value.__class__
    if cls is str:
        return "S"
    if cls is bool:
        return "BOOL"
    if cls is int or cls is float or cls is Decimal:
        return "N"
    if isinstance(value, (bytes, bytearray)):
        return "B"
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "S"
    if isinstance(value, _NUMBERS):
        return "N"
    if isinstance(value, (list, tuple)):
        return "L"  # a tuple compares as a list (items cannot hold one)
    if isinstance(value, dict):
        return "M"
    if isinstance(value, _SETS):
        kinds = {type_name(v) for v in value}
        if not kinds or kinds == {"S"}:
            return "SS"
        if kinds == {"N"}:
            return "NS"
        if kinds == {"B"}:
            return "BS"
    return "?"


# ------------------------------------------------------ equality and order


_EXACT_FLOAT = 2.0**53  # below it every integer is a float of its own


def _exact_mix(ca: type, cb: type, a: Any, b: Any) -> bool:
    """True for an int and a float below 2**53: Python's exact comparison of
    the two then agrees with comparing the decimal the float prints as (no
    integer lies between a float and its shortest repr), so no Decimal is
    needed. Above it ``1e23 == 10**23`` only by decimal value."""
    if ca is int and cb is float:
        return -_EXACT_FLOAT < b < _EXACT_FLOAT  # type: ignore[no-any-return]
    if ca is float and cb is int:
        return -_EXACT_FLOAT < a < _EXACT_FLOAT  # type: ignore[no-any-return]
    return False


def _is_nan(number: Any) -> bool:
    return isinstance(number, Decimal) and number.is_nan()


def equal(a: Any, b: Any) -> bool:
    """DynamoDB equality: same type and same value.

    Numbers compare by decimal value whatever their Python type (``0.1 ==
    Decimal("0.10")``; ``True`` is not ``1``); sets by their elements under
    that rule; lists element by element; maps key by key. A missing value
    equals nothing, nor does a NaN (only ever in unvalidated data: a
    signaling NaN raises nothing here). Cost: O(size of the values).
    """
    try:
        if a is MISSING or b is MISSING:
            return False
        ca, cb = a.__class__, b.__class__
        if ca is cb:
            if ca is str or ca is int or ca is bytes or ca is Decimal or ca is float or ca is bool:
                return bool(a == b)
            if a is None:
                return True
        elif _exact_mix(ca, cb, a, b):
            return bool(a == b)
        ta, tb = type_name(a), type_name(b)
        if ta != tb:
            # An empty set has no element type: it equals any empty set.
            return (ta[-1:] == "S" == tb[-1:] and len(ta) == len(tb) == 2 and not a and not b)
        if ta == "N":
            return bool(number_key(a) == number_key(b))
        if ta == "L":
            return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
        if ta == "M":
            return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
        if ta == "NS":
            try:
                return {number_key(x) for x in a} == {number_key(y) for y in b}
            except TypeError:  # a signaling NaN cannot be hashed
                return False
        return bool(a == b)
    except ArithmeticError:  # decimal.InvalidOperation: a signaling NaN
        return False


def compare(a: Any, b: Any) -> int | None:
    """DynamoDB's order: -1, 0 or 1 when ``a`` and ``b`` are both numbers
    (by decimal value), both strings (by code point, which is UTF-8 byte
    order) or both binary (bytewise); ``None`` for anything else, missing
    values included, and NaNs (only ever in unvalidated data). O(1) for
    numbers, O(length) otherwise."""
    try:
        ca, cb = a.__class__, b.__class__
        if ca is cb and (ca is str or ca is int or ca is bytes or ca is Decimal):
            return (a > b) - (a < b)  # type: ignore[no-any-return]
        if ca is float and cb is float:  # shortest reprs order as the floats do
            if math.isnan(a) or math.isnan(b):
                return None
            return (a > b) - (a < b)  # type: ignore[no-any-return]
        if _exact_mix(ca, cb, a, b):
            return (a > b) - (a < b)  # type: ignore[no-any-return]
        ta = type_name(a)
        if ta not in ("N", "S", "B") or type_name(b) != ta:
            return None
        if ta == "N":
            a, b = number_key(a), number_key(b)
            if _is_nan(a) or _is_nan(b):  # only ever from an unvalidated value
                return None
        elif ta == "B":
            a, b = bytes(a), bytes(b)
        return (a > b) - (a < b)  # type: ignore[no-any-return]
    except ArithmeticError:  # decimal.InvalidOperation: a NaN decimal
        return None


def element_of(element: Any, collection: Any) -> bool:
    """True when ``element`` is in a set or list under DynamoDB equality
    (``0.1`` is in ``{Decimal("0.1")}``). O(n)."""
    try:
        if element is MISSING:
            return False
        if isinstance(collection, _SETS):
            try:
                if element in collection and any(equal(element, v) for v in collection
                                                  if v == element):
                    return True
            except TypeError:  # unhashable element: never in a set
                return False
            if is_number(element):
                key = number_key(element)
                return any(is_number(v) and number_key(v) == key for v in collection)
            return False
        if isinstance(collection, (list, tuple)):
            return any(equal(element, v) for v in collection)
        return False
    except ArithmeticError:  # decimal.InvalidOperation: a signaling NaN
        return False


def size_of(value: Any) -> Any:
    """DynamoDB's ``size()``: characters of a string, bytes of binary, elements
    of a set, list or map; ``MISSING`` for other types and missing values.
    O(1)."""
    if value is MISSING:
        return MISSING
    if isinstance(value, (str, bytes, bytearray, list, tuple, dict, set, frozenset)):
        return len(value)
    return MISSING


# --------------------------------------------------------------- validation


class _Invalid(Exception):
    """Raised inside the walk; the path is collected on the way out."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        self.reason, self.hint = reason, hint
        self.path: list[Any] = []


def _path_text(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += part if not text else "." + part
    return text


def _foreign(value: Any) -> _Invalid:
    cls = value.__class__
    name = cls.__qualname__ if cls.__module__ == "builtins" else (
        f"{cls.__module__}.{cls.__qualname__}")
    return _Invalid(f"Unsupported type {name!r}: not one of DynamoDB's types", _CONVERT_HINT)


def _name_error(name: Any, limit: int) -> _Invalid | None:
    if name.__class__ is not str and not isinstance(name, str):
        cls = name.__class__.__qualname__
        return _Invalid(f"Map keys and attribute names must be strings, got {cls} {name!r}",
                        _CONVERT_HINT)
    if not name:
        # No DynamoDB message found for this one; dynafile's wording.
        return _Invalid("Attribute name must not be empty")
    size = len(name) if name.isascii() else len(name.encode("utf-8", "surrogatepass"))
    if size > limit:
        # DynamoDB: "Attribute name is too large, must be less than 65536 bytes"
        # (ExtendDB/extenddb#365, measured against DynamoDB).
        return _Invalid(f"Attribute name is too large, must be less than {limit + 1} bytes")
    return None


def _plain(value: Any) -> bool:
    """True for the values that need no check at all (the common case)."""
    cls = value.__class__
    return (cls is str or cls is bool or value is None or cls is bytes
            or (cls is int and -_INT_LIMIT < value < _INT_LIMIT))


def _value(value: Any, depth: int) -> Any:
    """The value normalised (the same object when nothing changes)."""
    cls = value.__class__
    if cls is str or cls is bool or value is None or cls is bytes:
        return value
    if cls is int or cls is float or cls is Decimal:
        try:
            return normalize_number(value)
        except ValidationError as error:
            raise _Invalid(error.reason) from None
    if isinstance(value, dict):
        if depth >= MAX_NESTING and value:
            raise _Invalid(_NESTING)
        changed: dict[str, Any] | None = None
        for key, child in value.items():
            if key.__class__ is not str or not key or len(key) > 16383:
                # (16,383 characters are at most 65,532 UTF-8 bytes)
                problem = _name_error(key, MAX_ATTRIBUTE_NAME_BYTES)
                if problem is not None:
                    problem.path.append(key if isinstance(key, str) else repr(key))
                    raise problem
            if _plain(child):
                continue
            try:
                new = _value(child, depth + 1)
            except _Invalid as error:
                error.path.append(key if isinstance(key, str) else repr(key))
                raise
            if new is not child:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if cls is list or isinstance(value, list):
        if depth >= MAX_NESTING and value:
            raise _Invalid(_NESTING)
        out: list[Any] | None = None
        for index, child in enumerate(value):
            if _plain(child):
                continue
            try:
                new = _value(child, depth + 1)
            except _Invalid as error:
                error.path.append(index)
                raise
            if new is not child:
                if out is None:
                    out = list(value)
                out[index] = new
        return value if out is None else out
    if isinstance(value, _SETS):
        return _set(value)
    if isinstance(value, (str, bytes, bytearray)):
        return value
    if isinstance(value, _NUMBERS) and cls is not bool:
        try:
            return normalize_number(value)
        except ValidationError as error:
            raise _Invalid(error.reason) from None
    raise _foreign(value)


def _set(value: Any) -> Any:
    if value:
        kind = next(iter(value)).__class__
        if (kind is str or kind is bytes) and all(v.__class__ is kind for v in value):
            return value
    if not value:
        # An empty set has no element type: DynamoDB's message for a string set.
        raise _Invalid(_EMPTY_SET["S"], "DynamoDB has no empty sets: remove the attribute, "
                                        "or store an empty list")
    kinds = {type_name(v) for v in value}
    if len(kinds) != 1 or not kinds <= {"S", "N", "B"}:
        found = ", ".join(sorted(kinds))
        raise _Invalid(f"{_INVALID}A set holds elements of one type: strings, numbers or "
                       f"binary (found {found})", _CONVERT_HINT)
    if kinds == {"N"}:
        normal = []
        changed = False
        for element in value:
            try:
                new = normalize_number(element)
            except ValidationError as error:
                raise _Invalid(error.reason) from None
            changed = changed or new is not element
            normal.append(new)
        if len({number_key(v) for v in normal}) != len(normal):
            # DynamoDB names no members for a number set.
            raise _Invalid(f"{_INVALID}Input collection contains duplicates.",
                           "0.1 and Decimal('0.1') (or 1 and Decimal('1.0')) are one number "
                           "in DynamoDB")
        if changed:
            return value.__class__(normal)
    return value


def validate_value(value: Any, *, path: str = "value") -> Any:
    """Check one value (an attribute's, an expression placeholder's) and return
    it in the form DynamoDB stores (numbers normalised, see
    :func:`normalize_number`); the same object when nothing changes.

    ``path`` names the value in errors (``":v"``, ``"a.b"``).

    Raises:
        ValidationError: a value of no DynamoDB type (with a hint that a
            serializer or model layer can convert it), a map key that is not a
            non-empty ``str``, an empty or mixed set, duplicate set elements by
            DynamoDB equality, a number DynamoDB refuses, or nesting deeper
            than 32 levels; ``attribute`` is the path to the bad value
            (``"a.b[2]"``).

    Cost: O(size of the value).
    """
    try:
        return _value(value, 1)
    except _Invalid as error:
        parts = [path, *reversed(error.path)]
        raise ValidationError(error.reason, attribute=_path_text(parts),
                              hint=error.hint) from None


def validate_item(item: Any, *, key_attributes: Iterable[str] = (),
                  max_name_bytes: int = MAX_ATTRIBUTE_NAME_BYTES,
                  key_name_bytes: int = MAX_KEY_ATTRIBUTE_NAME_BYTES) -> dict[str, Any]:
    """Check that an item holds only DynamoDB's types and return it as DynamoDB
    stores it (numbers normalised); the same dict when nothing changes.

    Args:
        item: the item, a dict of attribute name -> value.
        key_attributes: names held to ``key_name_bytes`` (key attributes of
            the table and its indexes). Key *values* are checked elsewhere
            (``dynafile.keys``).
        max_name_bytes: the longest attribute name, in UTF-8 bytes.
        key_name_bytes: the longest key attribute name.

    Raises:
        ValidationError: as :func:`validate_value`, with ``attribute`` the
            path to the bad value (``"a.b[2]"``); a name that is empty or too
            long.

    Cost: O(size of the item); about a microsecond per flat attribute.
    """
    return validate_sized_item(item, key_attributes=key_attributes,
                               max_name_bytes=max_name_bytes, key_name_bytes=key_name_bytes)[0]


def validate_sized_item(item: Any, *, key_attributes: Iterable[str] = (),
                        max_name_bytes: int = MAX_ATTRIBUTE_NAME_BYTES,
                        key_name_bytes: int = MAX_KEY_ATTRIBUTE_NAME_BYTES,
                        ) -> tuple[dict[str, Any], int]:
    """:func:`validate_item` and :func:`item_size` in one pass over the item:
    the item as DynamoDB stores it, and its size in DynamoDB's bytes.

    Raises:
        ValidationError: as :func:`validate_item`.

    Cost: O(size of the item), one pass; strings, bools, nulls and binary at
    the top level are checked and sized inline.
    """
    if not isinstance(item, Mapping):
        raise ValidationError(f"an item must be a dict, got {type(item).__name__}",
                              attribute="item")
    keys = frozenset(key_attributes)
    changed: dict[str, Any] | None = None
    size = 0
    for name, value in item.items():
        # A name of at most key_name_bytes / 4 characters fits either limit.
        if name.__class__ is not str or not name or len(name) * 4 > key_name_bytes:
            problem = _name_error(name, key_name_bytes if name in keys else max_name_bytes)
            if problem is not None:
                raise ValidationError(problem.reason, attribute=str(name)[:100],
                                      hint=problem.hint)
        size += len(name) if name.isascii() else len(name.encode("utf-8", "surrogatepass"))
        cls = value.__class__
        if cls is str:
            size += len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
            continue
        if cls is bool or value is None:
            size += 1
            continue
        if cls is bytes:
            size += len(value)
            continue
        if not (cls is int and -_INT_LIMIT < value < _INT_LIMIT):
            try:
                new = _value(value, 1)
            except _Invalid as error:
                parts = [name, *reversed(error.path)]
                raise ValidationError(error.reason, attribute=_path_text(parts),
                                      hint=error.hint) from None
            if new is not value:
                if changed is None:
                    changed = dict(item)
                changed[name] = value = new
        size += value_size(value)
    if changed is not None:
        return changed, size
    return (item if item.__class__ is dict else dict(item)), size


# -------------------------------------------------------------------- sizes


def value_size(value: Any) -> int:
    """Bytes a value weighs in DynamoDB's item size, by the rules of "DynamoDB
    item sizes and formats"
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
    strings their UTF-8 bytes, numbers :func:`number_size`, binary its
    length, bool and null 1 byte, lists and maps 3 bytes plus 1 byte per
    element plus their elements (and map keys), sets the sum of their
    elements. Cost: O(size of the value)."""
    cls = value.__class__
    if cls is str:
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    if cls is int or cls is float or cls is Decimal:
        return number_size(value)
    if cls is bool or value is None:
        return 1
    if cls is bytes or cls is bytearray:
        return len(value)
    if isinstance(value, dict):
        total = 3 + len(value)
        for key, child in value.items():
            total += len(key) if key.isascii() else len(key.encode("utf-8", "surrogatepass"))
            total += (len(child) if child.__class__ is str and child.isascii()
                      else value_size(child))
        return total
    if isinstance(value, (list, tuple)):
        total = 3 + len(value)
        for child in value:
            total += (len(child) if child.__class__ is str and child.isascii()
                      else value_size(child))
        return total
    if isinstance(value, _SETS):
        total = 0
        for element in value:
            total += (len(element) if element.__class__ is str and element.isascii()
                      else value_size(element))
        return total
    if isinstance(value, str):
        return value_size(str(value))
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, _NUMBERS):
        return number_size(value)
    raise ValidationError(f"Unsupported type {cls.__qualname__!r}: not one of DynamoDB's types",
                          hint=_CONVERT_HINT)


def item_size(item: Mapping[str, Any]) -> int:
    """DynamoDB's size of an item in bytes: each attribute name's UTF-8 length
    plus its value's :func:`value_size`. Compare with 400 KB (409,600 bytes:
    DynamoDB accepts exactly that and refuses one more byte). O(size)."""
    total = 0
    for name, value in item.items():
        total += (len(name) if name.isascii() else len(name.encode("utf-8", "surrogatepass")))
        total += (len(value) if value.__class__ is str and value.isascii()
                  else value_size(value))
    return total
