"""Item values as text that reads back exactly: DynamoDB JSON and typed JSON.

**DynamoDB JSON** is DynamoDB's own: every value is a one-member object
naming its type (``{"S": "x"}``, ``{"N": "1.5"}``, ``{"B": "<base64>"}``,
``{"BOOL": true}``, ``{"NULL": true}``, ``{"L": [...]}``, ``{"M": {...}}``,
``{"SS": [...]}``, ``{"NS": [...]}``, ``{"BS": [...]}``). Export and import
files hold it (one ``{"Item": {...}}`` per line), and so does boto3's
low-level client, except that the client takes and gives ``bytes`` where
the JSON text has base64 (``binary="bytes"`` below).

**Typed JSON** is what the ``dynafile`` command prints for programs: plain
JSON wherever JSON can say the value, and a one-member object tagged with
``$`` where it cannot::

    "text"  true  null  [1, 2]  {"a": 1}           as JSON
    12.50000000000000000000000000000000001         a number: every digit kept
    {"$b": "AAE="}                                 bytes (base64)
    {"$ss": ["a", "b"]}  {"$ns": [1, 2.5]}  {"$bs": ["AA=="]}   sets
    {"$m": {"$b": "not bytes"}}                    a map whose only key starts with $

Numbers are written as JSON number literals with all their digits and read
back as ``int`` (integral, under 38 digits) or ``Decimal``: never through
``float``. Both forms are checked as DynamoDB checks values (finite
numbers of at most 38 significant digits, non-empty sets without
duplicates, ``NULL`` true), and a value of no DynamoDB type (a ``datetime``
a pickle table stored, say) is refused with :class:`ValueFormatError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ValidationError
from ..types import MAX_NESTING, normalize_number, number_key, number_text

__all__ = [
    "ValueFormatError",
    "dumps_typed",
    "from_dynamodb",
    "from_typed",
    "item_from_dynamodb",
    "item_to_dynamodb",
    "loads_typed",
    "number_from_text",
    "to_dynamodb",
    "to_typed",
]

_TYPES = ("S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS")
_TAGS = ("$b", "$ss", "$ns", "$bs", "$m")
_INT_LIMIT = 10**38


class ValueFormatError(ValueError):
    """A value that is not valid DynamoDB JSON / typed JSON, or a stored value
    of no DynamoDB type. ``path`` names where it is (``"tags[2]"``)."""

    def __init__(self, message: str, path: str = "") -> None:
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)

    def at(self, outer: str) -> ValueFormatError:
        """The same error, with ``outer`` prefixed to its path."""
        if not self.path:
            path = outer
        elif self.path.startswith("["):
            path = outer + self.path
        else:
            path = f"{outer}.{self.path}"
        return ValueFormatError(self.message, path)


def _nested(path: str, key: Any) -> str:
    return f"[{key}]" if isinstance(key, int) else str(key)


# ---------------------------------------------------------------- numbers


def number_from_text(text: Any) -> int | Decimal:
    """The number a DynamoDB ``N`` text or a JSON literal means: an ``int``
    when it is integral (and under 38 digits), else a ``Decimal`` in
    DynamoDB's stored form. Never a ``float``.

    Raises:
        ValueFormatError: not a finite number DynamoDB can store.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, Decimal)):
        raise ValueFormatError(f"not a number: {text!r}")
    try:
        number = Decimal(text.strip() if isinstance(text, str) else text)
    except InvalidOperation:
        raise ValueFormatError(f"not a number: {text!r}") from None
    if not number.is_finite():
        raise ValueFormatError(f"not a finite number: {text!r}")
    try:
        stored = normalize_number(number)
    except ValidationError as error:
        raise ValueFormatError(f"{error.reason}: {text}") from None
    assert isinstance(stored, Decimal)
    if stored == stored.to_integral_value() and abs(stored) < _INT_LIMIT:
        return int(stored)
    return stored


def _number_text(value: Any) -> str:
    try:
        return number_text(normalize_number(value))
    except ValidationError as error:
        raise ValueFormatError(error.reason) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _set_kind(value: set[Any] | frozenset[Any]) -> str:
    if not value:
        raise ValueFormatError("an empty set has no DynamoDB type")
    if all(isinstance(v, str) for v in value):
        return "SS"
    if all(_is_number(v) for v in value):
        return "NS"
    if all(isinstance(v, (bytes, bytearray)) for v in value):
        return "BS"
    raise ValueFormatError("a set must hold only strings, only numbers or only bytes")


def _b64(value: bytes | bytearray) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueFormatError(f"binary must be base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueFormatError(f"invalid base64: {text[:40]!r}") from None


# ---------------------------------------------------------- DynamoDB JSON


def to_dynamodb(value: Any, *, binary: str = "base64", depth: int = 1) -> dict[str, Any]:
    """Return the DynamoDB JSON attribute value of a stored value.

    Args:
        binary: ``"base64"`` (JSON text) or ``"bytes"`` (boto3's client).

    Raises:
        ValueFormatError: a value of no DynamoDB type, or nested deeper than
            DynamoDB allows.
    """
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if _is_number(value):
        return {"N": _number_text(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"B": _b64(value) if binary == "base64" else bytes(value)}
    if isinstance(value, Mapping):
        if depth >= MAX_NESTING and value:
            raise ValueFormatError("nested deeper than DynamoDB allows")
        out = {}
        for key, child in value.items():
            if not isinstance(key, str):
                raise ValueFormatError(f"a map key must be a string, got {key!r}")
            try:
                out[key] = to_dynamodb(child, binary=binary, depth=depth + 1)
            except ValueFormatError as error:
                raise error.at(key) from None
        return {"M": out}
    if isinstance(value, (list, tuple)):
        if depth >= MAX_NESTING and value:
            raise ValueFormatError("nested deeper than DynamoDB allows")
        elements = []
        for i, child in enumerate(value):
            try:
                elements.append(to_dynamodb(child, binary=binary, depth=depth + 1))
            except ValueFormatError as error:
                raise error.at(f"[{i}]") from None
        return {"L": elements}
    if isinstance(value, (set, frozenset)):
        kind = _set_kind(value)
        if kind == "SS":
            return {"SS": sorted(value)}
        if kind == "NS":
            return {"NS": sorted((_number_text(v) for v in value), key=Decimal)}
        blobs = sorted(bytes(v) for v in value)
        return {"BS": [_b64(b) if binary == "base64" else b for b in blobs]}
    raise ValueFormatError(f"a value of type {type(value).__name__} has no DynamoDB type")


def item_to_dynamodb(item: Mapping[str, Any], *, binary: str = "base64") -> dict[str, Any]:
    """Return the DynamoDB JSON of an item (``{name: attribute value}``)."""
    out = {}
    for name, value in item.items():
        try:
            out[name] = to_dynamodb(value, binary=binary)
        except ValueFormatError as error:
            raise error.at(name) from None
    return out


def _bytes_member(data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return _unb64(data)


def from_dynamodb(value: Any, *, depth: int = 1) -> Any:
    """Return the Python value of a DynamoDB JSON attribute value (``B`` as
    base64 text, or as ``bytes`` from boto3's client).

    Raises:
        ValueFormatError: not a valid attribute value.
    """
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValueFormatError("an attribute value must be an object with exactly one "
                               f"type member ({', '.join(_TYPES)}), got {_short(value)}")
    (kind, data), = value.items()
    if kind == "S":
        if not isinstance(data, str):
            raise ValueFormatError("S must hold a string")
        return data
    if kind == "N":
        if not isinstance(data, str):
            raise ValueFormatError("N must hold a number as a string")
        return number_from_text(data)
    if kind == "B":
        return _bytes_member(data)
    if kind == "BOOL":
        if not isinstance(data, bool):
            raise ValueFormatError("BOOL must hold true or false")
        return data
    if kind == "NULL":
        if data is not True:
            raise ValueFormatError("NULL must hold true")
        return None
    if kind in ("L", "M"):
        if depth >= MAX_NESTING and data:
            raise ValueFormatError("nested deeper than DynamoDB allows")
        if kind == "L":
            if not isinstance(data, list):
                raise ValueFormatError("L must hold an array")
            out = []
            for i, child in enumerate(data):
                try:
                    out.append(from_dynamodb(child, depth=depth + 1))
                except ValueFormatError as error:
                    raise error.at(f"[{i}]") from None
            return out
        if not isinstance(data, Mapping):
            raise ValueFormatError("M must hold an object")
        result = {}
        for name, child in data.items():
            try:
                result[name] = from_dynamodb(child, depth=depth + 1)
            except ValueFormatError as error:
                raise error.at(name) from None
        return result
    if kind in ("SS", "NS", "BS"):
        if not isinstance(data, list) or not data:
            raise ValueFormatError(f"{kind} must hold a non-empty array")
        return _checked_set(kind, data)
    raise ValueFormatError(f"unknown type {kind!r} (one of {', '.join(_TYPES)})")


def _checked_set(kind: str, data: list[Any]) -> set[Any]:
    if kind == "SS":
        if not all(isinstance(v, str) for v in data):
            raise ValueFormatError("SS must hold strings")
        members: set[Any] = set(data)
        same = len(members) != len(data)
    elif kind == "NS":
        if not all(isinstance(v, str) for v in data):
            raise ValueFormatError("NS must hold numbers as strings")
        numbers = [number_from_text(v) for v in data]
        members = set(numbers)
        same = len({number_key(n) for n in numbers}) != len(numbers)
    else:
        blobs = [_bytes_member(v) for v in data]
        members = set(blobs)
        same = len(members) != len(blobs)
    if same:
        raise ValueFormatError(f"{kind} holds duplicates")
    return members


def item_from_dynamodb(item: Any) -> dict[str, Any]:
    """Return the Python item of a DynamoDB JSON item.

    Raises:
        ValueFormatError: not an object of valid attribute values.
    """
    if not isinstance(item, Mapping):
        raise ValueFormatError(f"an item must be an object, got {_short(item)}")
    out = {}
    for name, value in item.items():
        try:
            out[name] = from_dynamodb(value)
        except ValueFormatError as error:
            raise error.at(name) from None
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


# -------------------------------------------------------------- typed JSON


def to_typed(value: Any, depth: int = 1) -> Any:
    """Return ``value`` as JSON-ready data in typed JSON (numbers stay
    ``int`` / ``Decimal``: write them with :func:`dumps_typed`).

    Raises:
        ValueFormatError: a value of no DynamoDB type.
    """
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if _is_number(value):
        if isinstance(value, int):
            return int(value)
        try:
            return normalize_number(Decimal(repr(value)) if isinstance(value, float) else value)
        except ValidationError as error:
            raise ValueFormatError(error.reason) from None
    if isinstance(value, (bytes, bytearray)):
        return {"$b": _b64(value)}
    if isinstance(value, Mapping):
        if depth >= MAX_NESTING and value:
            raise ValueFormatError("nested deeper than DynamoDB allows")
        out = {}
        for key, child in value.items():
            if not isinstance(key, str):
                raise ValueFormatError(f"a map key must be a string, got {key!r}")
            try:
                out[key] = to_typed(child, depth + 1)
            except ValueFormatError as error:
                raise error.at(key) from None
        if len(out) == 1 and next(iter(out)).startswith("$"):
            return {"$m": out}
        return out
    if isinstance(value, (list, tuple)):
        elements = []
        for i, child in enumerate(value):
            try:
                elements.append(to_typed(child, depth + 1))
            except ValueFormatError as error:
                raise error.at(f"[{i}]") from None
        return elements
    if isinstance(value, (set, frozenset)):
        kind = _set_kind(value)
        if kind == "SS":
            return {"$ss": sorted(value)}
        if kind == "NS":
            return {"$ns": sorted((to_typed(v) for v in value), key=Decimal)}
        return {"$bs": sorted(_b64(v) for v in value)}
    raise ValueFormatError(f"a value of type {type(value).__name__} has no DynamoDB type")


def from_typed(data: Any, depth: int = 1) -> Any:
    """Return the Python value of typed JSON data (as parsed by
    :func:`loads_typed`: numbers as ``int`` / ``Decimal``).

    Raises:
        ValueFormatError: a malformed tag, a bad number or set.
    """
    if isinstance(data, (str, bool)) or data is None:
        return data
    if isinstance(data, (int, Decimal)):
        return number_from_text(data)
    if isinstance(data, float):  # parsed without parse_float=Decimal
        return number_from_text(repr(data))
    if isinstance(data, list):
        out = []
        for i, child in enumerate(data):
            try:
                out.append(from_typed(child, depth + 1))
            except ValueFormatError as error:
                raise error.at(f"[{i}]") from None
        return out
    if isinstance(data, Mapping):
        if len(data) == 1:
            (tag, inner), = data.items()
            if tag in _TAGS:
                return _from_tag(tag, inner, depth)
            if tag.startswith("$"):
                raise ValueFormatError(f"unknown tag {tag!r} (one of {', '.join(_TAGS)}; "
                                       'a map whose only key starts with $ is {"$m": {...}})')
        return _typed_map(data, depth)
    raise ValueFormatError(f"not a JSON value: {type(data).__name__}")


def _typed_map(data: Mapping[str, Any], depth: int) -> dict[str, Any]:
    if depth >= MAX_NESTING and data:
        raise ValueFormatError("nested deeper than DynamoDB allows")
    result = {}
    for name, child in data.items():
        try:
            result[name] = from_typed(child, depth + 1)
        except ValueFormatError as error:
            raise error.at(name) from None
    return result


def _from_tag(tag: str, inner: Any, depth: int) -> Any:
    if tag == "$b":
        return _unb64(inner)
    if tag == "$m":
        if not isinstance(inner, Mapping):
            raise ValueFormatError("$m must hold an object")
        return _typed_map(inner, depth)
    if not isinstance(inner, list) or not inner:
        raise ValueFormatError(f"{tag} must hold a non-empty array")
    if tag == "$ss":
        return _checked_set("SS", inner)
    if tag == "$bs":
        return _checked_set("BS", inner)
    if not all(_is_number(v) for v in inner):
        raise ValueFormatError("$ns must hold numbers")
    return _checked_set("NS", [str(v) if not isinstance(v, float) else repr(v) for v in inner])


def _write(data: Any, out: list[str]) -> None:
    if isinstance(data, str):
        out.append(json.dumps(data, ensure_ascii=False))
    elif data is None:
        out.append("null")
    elif data is True:
        out.append("true")
    elif data is False:
        out.append("false")
    elif isinstance(data, int):
        out.append(str(data))
    elif isinstance(data, Decimal):
        out.append(number_text(data))
    elif isinstance(data, list):
        out.append("[")
        for i, child in enumerate(data):
            if i:
                out.append(", ")
            _write(child, out)
        out.append("]")
    else:
        out.append("{")
        for i, (key, child) in enumerate(data.items()):
            if i:
                out.append(", ")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(": ")
            _write(child, out)
        out.append("}")


def dumps_typed(value: Any) -> str:
    """Return the typed JSON text of a value (one line).

    Raises:
        ValueFormatError: a value of no DynamoDB type.
    """
    out: list[str] = []
    _write(to_typed(value), out)
    return "".join(out)


def loads_typed(text: str) -> Any:
    """Return the Python value of typed JSON text.

    Raises:
        ValueFormatError: not JSON, or not valid typed JSON.
    """
    try:
        data = json.loads(text, parse_float=Decimal, parse_int=int)
    except ValueError as error:
        raise ValueFormatError(f"not JSON: {error}") from None
    return from_typed(data)


def dumps_dynamodb(item: Mapping[str, Any]) -> str:
    """One line of DynamoDB JSON: ``{"Item": {...}}`` (the export format)."""
    return json.dumps({"Item": item_to_dynamodb(item)}, ensure_ascii=False,
                      separators=(",", ":"))


def iter_typed(values: Iterable[Any]) -> Iterable[str]:
    """Typed JSON lines of ``values``, one per value."""
    for value in values:
        yield dumps_typed(value)
