"""DynamoDB JSON attribute values <-> Python values.

On the wire every value is a one-member object naming its type::

    {"S": "text"}  {"N": "12.5"}  {"B": "<base64>"}  {"BOOL": true}  {"NULL": true}
    {"L": [...]}   {"M": {...}}   {"SS": [...]}  {"NS": [...]}  {"BS": [...]}

:func:`decode_value` turns one into the Python value dynafile stores
(``str``, ``Decimal`` in DynamoDB's stored form, ``bytes``, ``bool``,
``None``, ``list``, ``dict``, ``set``), checking it as DynamoDB checks it,
with DynamoDB's messages. :func:`encode_value` turns a stored value back
(numbers as DynamoDB prints them, :func:`dynafile.types.number_text`).
The shapes have already been checked by :mod:`.shapes` (each member has
the right JSON type) when these run.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ValidationError
from ..types import MAX_NESTING, normalize_number, number_key, number_text
from .errors import InternalServerError, Validation

__all__ = [
    "decode_b64",
    "decode_item",
    "decode_number",
    "decode_value",
    "encode_item",
    "encode_value",
    "value_text",
]

_INVALID = "One or more parameter values were invalid: "
_EMPTY = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
_MANY = ("Supplied AttributeValue has more than one datatypes set, must contain exactly one of "
         "the supported datatypes")
_NESTING = ("Nesting Levels have exceeded supported limits: Attributes in the item have nested "
            "levels beyond supported limit")
_NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
_TYPES = ("S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS")


def decode_b64(text: str) -> bytes:
    """Bytes of a base64 member (already checked by :mod:`.shapes`)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # pragma: no cover - shapes checked it
        raise Validation(f"'{text}' can not be converted to a Blob") from None


def decode_number(text: Any) -> Decimal:
    """A number member's value in stored form: a canonical ``Decimal``
    (``"1.50"`` -> ``Decimal("1.5")``, ``"1E+2"`` -> ``Decimal("100")``).

    Raises:
        Validation: not a number, or one DynamoDB cannot store, with
            DynamoDB's message.
    """
    if not isinstance(text, str) or not text.strip():
        raise Validation(_NOT_NUMERIC)
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise Validation(f"{_NOT_NUMERIC}: {text}") from None
    if not number.is_finite():
        raise Validation(f"{_NOT_NUMERIC}: {text}")
    try:
        stored = normalize_number(number)
    except ValidationError as error:
        raise Validation(error.reason) from None
    return stored  # type: ignore[return-value]


def value_text(values: list[Any]) -> str:
    """How DynamoDB prints a set's elements in its messages: ``[a, b]``."""
    return "[" + ", ".join(str(v) for v in values) + "]"


def decode_value(value: Any, depth: int = 1) -> Any:
    """Return the Python value of a DynamoDB JSON attribute value.

    Raises:
        Validation: an empty or multi-typed value, ``NULL`` not true, a bad
            number, an empty set or one with duplicates, or nesting deeper
            than DynamoDB allows, with DynamoDB's messages.

    Cost: O(size of the value).
    """
    if not isinstance(value, Mapping):
        raise Validation(_EMPTY)
    present = [t for t in _TYPES if value.get(t) is not None]
    if not present:
        raise Validation(_EMPTY)
    if len(present) > 1:
        raise Validation(_MANY)
    kind = present[0]
    data = value[kind]
    if kind == "S":
        return data
    if kind == "N":
        return decode_number(data)
    if kind == "B":
        return decode_b64(data)
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        if data is not True:
            raise Validation(_INVALID + "Null attribute value types must have the value of true")
        return None
    if kind in ("L", "M"):
        if depth >= MAX_NESTING and data:
            raise Validation(_NESTING)
        if kind == "L":
            return [decode_value(child, depth + 1) for child in data]
        return {name: decode_value(child, depth + 1) for name, child in data.items()}
    return _decode_set(kind, data)


def _decode_set(kind: str, data: list[Any]) -> set[Any]:
    if not data:
        if kind == "BS":
            raise Validation(_INVALID + "Binary sets should not be empty")
        word = "string" if kind == "SS" else "number"
        raise Validation(f"{_INVALID}An {word} set  may not be empty")
    if kind == "SS":
        out = set(data)
        if len(out) != len(data):
            raise Validation(f"{_INVALID}Input collection {value_text(data)} contains duplicates.")
        return out
    if kind == "BS":
        decoded = [decode_b64(b) for b in data]
        if any(not b for b in decoded):
            raise Validation(_INVALID + "Binary sets may not contain null or empty values")
        out = set(decoded)
        if len(out) != len(decoded):
            raise Validation(f"{_INVALID}Input collection {value_text(data)}of type BS "
                             "contains duplicates.")
        return out
    numbers = [decode_number(n) for n in data]
    if len({number_key(n) for n in numbers}) != len(numbers):
        raise Validation(f"{_INVALID}Input collection contains duplicates.")
    return set(numbers)


def decode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Python item of a DynamoDB JSON item (``{name: value}``).

    Raises:
        Validation: as :func:`decode_value`.
    """
    return {name: decode_value(value) for name, value in item.items()}


def encode_value(value: Any) -> dict[str, Any]:
    """Return the DynamoDB JSON of a stored value.

    Raises:
        InternalServerError: a value of no DynamoDB type (a native program
            stored, say, a ``datetime`` through pickle): DynamoDB cannot
            express it.

    Cost: O(size of the value).
    """
    cls = value.__class__
    if cls is str:
        return {"S": value}
    if cls is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if cls is int or cls is Decimal or cls is float:
        return {"N": number_text(value)}
    if cls is dict or isinstance(value, Mapping):
        return {"M": {str(k): encode_value(v) for k, v in value.items()}}
    if cls is list or isinstance(value, (list, tuple)):
        return {"L": [encode_value(v) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"B": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (set, frozenset)) and value:
        sample = next(iter(value))
        if isinstance(sample, str):
            return {"SS": sorted(value)}
        if isinstance(sample, (bytes, bytearray)):
            return {"BS": sorted(base64.b64encode(bytes(v)).decode("ascii") for v in value)}
        if isinstance(sample, (int, float, Decimal)) and not isinstance(sample, bool):
            return {"NS": [number_text(v) for v in value]}
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, (int, float, Decimal)):
        return {"N": number_text(value)}
    raise InternalServerError(f"a stored value of type {type(value).__name__} has no DynamoDB "
                              "type")


def encode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Return the DynamoDB JSON of a stored item."""
    return {name: encode_value(value) for name, value in item.items()}
