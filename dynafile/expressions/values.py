"""DynamoDB's view of Python values: type names, comparison, size.

DynamoDB compares only values of the same type: a number never equals a
string, ``True`` is not the number 1, and ``<`` between a string and a
number is simply false. These helpers give Python values those rules.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["MISSING", "TYPE_NAMES", "equal", "is_number", "ordered", "size_of", "type_name"]


class _Missing:
    """The value of a path that is not in the item."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

#: The type names ``attribute_type`` accepts.
TYPE_NAMES = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")

_NUMBERS = (int, float, Decimal)


def is_number(value: Any) -> bool:
    """True for int, float and Decimal, but not bool."""
    return isinstance(value, _NUMBERS) and value.__class__ is not bool


def type_name(value: Any) -> str:
    """DynamoDB's type name for a Python value (``"S"``, ``"N"``, ``"SS"``...).

    Unknown classes are reported as ``"?"``: they equal nothing but
    themselves and have no order.
    """
    cls = value.__class__
    if cls is str:
        return "S"
    if cls is bool:
        return "BOOL"
    if isinstance(value, _NUMBERS):
        return "N"
    if isinstance(value, (bytes, bytearray)):
        return "B"
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "S"
    if isinstance(value, (list, tuple)):
        return "L"
    if isinstance(value, dict):
        return "M"
    if isinstance(value, (set, frozenset)):
        kinds = {type_name(v) for v in value}
        if kinds == {"N"}:
            return "NS"
        if kinds == {"B"}:
            return "BS"
        return "SS"
    return "?"


def equal(a: Any, b: Any) -> bool:
    """DynamoDB equality: same type and same value; a missing value equals nothing."""
    if a is MISSING or b is MISSING:
        return False
    ta, tb = type_name(a), type_name(b)
    if ta != tb:
        # An empty set has no element type: it equals any empty set.
        return ta[-1:] == "S" == tb[-1:] and len(ta) == len(tb) == 2 and not a and not b
    if ta == "L":
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if ta == "M":
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return bool(a == b)


def ordered(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` can be compared with < (both N, both S or both B)."""
    if a is MISSING or b is MISSING:
        return False
    ta = type_name(a)
    return ta in ("N", "S", "B") and ta == type_name(b)


def size_of(value: Any) -> Any:
    """DynamoDB's ``size()``: characters of a string, bytes of binary, elements
    of a set, list or map; ``MISSING`` for other types and missing values."""
    if value is MISSING:
        return MISSING
    if isinstance(value, (str, bytes, bytearray, list, tuple, dict, set, frozenset)):
        return len(value)
    return MISSING
