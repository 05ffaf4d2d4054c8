"""Python values <-> the attribute values boto3's low-level client sends.

dynafile's Python types map to DynamoDB's one to one, as boto3's
``TypeSerializer`` / ``TypeDeserializer`` map them:

=========================================  ========  ===========================
written as                                 DynamoDB  read back as
=========================================  ========  ===========================
``str``                                    ``S``     ``str``
``int``, ``float``, ``Decimal``            ``N``     ``Decimal``
``bytes``, ``bytearray``, boto3 ``Binary`` ``B``     ``bytes``
``bool``                                   ``BOOL``  ``bool``
``None``                                   ``NULL``  ``None``
``list``, ``tuple``                        ``L``     ``list``
``dict`` (``str`` keys)                    ``M``     ``dict``
non-empty ``set`` of ``str``               ``SS``    ``set`` of ``str``
non-empty ``set`` of numbers               ``NS``    ``set`` of ``Decimal``
non-empty ``set`` of bytes                 ``BS``    ``set`` of ``bytes``
=========================================  ========  ===========================

Two differences from boto3's serializer, both dynafile's rules: a ``float``
is the decimal number it prints as (``0.1`` is sent as ``"0.1"``; boto3
refuses floats), and binary values come back as ``bytes`` (boto3 wraps them
in ``Binary``), as the file backend returns them. Every other Python type
(``datetime``, a class the file backend's pickle serializer was told to
trust, an empty set) is refused before anything is sent, with the
:class:`~dynafile.errors.ValidationError` dynafile's own checks raise
(:func:`dynafile.types.validate_item`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..errors import ItemTooLargeError, ValidationError
from ..types import number_text, validate_sized_item, validate_value

__all__ = [
    "MAX_ITEM_BYTES",
    "check_item",
    "check_value",
    "from_wire",
    "item_from_wire",
    "item_to_wire",
    "normalized",
    "to_wire",
]

#: DynamoDB's largest item, in bytes of its own measure.
MAX_ITEM_BYTES = 400 * 1024


def _binary_class() -> Any:
    try:
        from boto3.dynamodb.types import Binary  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - boto3 is what talks to DynamoDB
        return None
    return Binary


_BINARY = _binary_class()


def _plain(value: Any) -> Any:
    """``value`` with boto3 ``Binary`` objects replaced by ``bytes`` (the
    same object when there are none)."""
    if _BINARY is not None and isinstance(value, _BINARY):
        return bytes(value.value)
    if isinstance(value, dict):
        changed = None
        for key, child in value.items():
            new = _plain(child)
            if new is not child:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, (list, tuple)):
        out = [_plain(child) for child in value]
        return value if all(a is b for a, b in zip(out, value)) else out
    if isinstance(value, (set, frozenset)) and _BINARY is not None and any(
            isinstance(v, _BINARY) for v in value):
        return {bytes(v.value) if isinstance(v, _BINARY) else v for v in value}
    return value


def check_item(item: Any, key_attributes: Iterable[str] = (), *,
               limit: int = MAX_ITEM_BYTES) -> dict[str, Any]:
    """Check an item as the file backend checks it (DynamoDB's types, names,
    numbers, nesting, size) and return it ready for :func:`item_to_wire`.

    Raises:
        ValidationError: a value of no DynamoDB type (a ``datetime``, a
            pickled class), a bad name, number or set, with DynamoDB's
            message and the path to the value.
        ItemTooLargeError: over 400 KB by DynamoDB's measure.
    """
    if isinstance(item, Mapping):
        item = _plain(dict(item))
    checked, size = validate_sized_item(item, key_attributes=key_attributes)
    if size > limit:
        raise ItemTooLargeError(size, limit)
    return checked


def check_value(value: Any, path: str = "value") -> Any:
    """One value checked as :func:`check_item` checks an item's values."""
    return validate_value(_plain(value), path=path)


def to_wire(value: Any) -> dict[str, Any]:
    """The attribute value boto3's client sends for a checked value
    (``{"S": ...}``, ``{"N": "1.5"}``, ``{"B": b"..."}``, ...).

    Raises:
        ValidationError: a value of no DynamoDB type (values are normally
            checked first: see :func:`check_item`).
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
    if isinstance(value, Mapping):
        return {"M": {str(k): to_wire(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_wire(v) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if _BINARY is not None and isinstance(value, _BINARY):
        return {"B": bytes(value.value)}
    if isinstance(value, (set, frozenset)) and value:
        sample = next(iter(value))
        if isinstance(sample, str):
            return {"SS": sorted(value)}
        if isinstance(sample, (bytes, bytearray)) or (_BINARY is not None
                                                      and isinstance(sample, _BINARY)):
            return {"BS": sorted(bytes(v.value if _BINARY is not None and isinstance(v, _BINARY)
                                       else v) for v in value)}
        if isinstance(sample, (int, float, Decimal)) and not isinstance(sample, bool):
            return {"NS": [number_text(v) for v in value]}
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, (int, float, Decimal)):
        return {"N": number_text(value)}
    # validate_value raises the file backend's error for it
    validate_value(value)
    raise ValidationError(f"Unsupported type {type(value).__name__!r}: not one of DynamoDB's "
                          "types")  # pragma: no cover - validate_value raised


def item_to_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    """The attribute map of an item (or key, or placeholder values)."""
    return {name: to_wire(value) for name, value in item.items()}


def from_wire(value: Mapping[str, Any]) -> Any:
    """The Python value of an attribute value boto3's client returned."""
    ((kind, data),) = value.items() if len(value) == 1 else [_one(value)]
    if kind == "S":
        return data
    if kind == "N":
        return Decimal(data)
    if kind == "B":
        return bytes(data)
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_wire(v) for k, v in data.items()}
    if kind == "L":
        return [from_wire(v) for v in data]
    if kind == "SS":
        return set(data)
    if kind == "NS":
        return {Decimal(n) for n in data}
    if kind == "BS":
        return {bytes(b) for b in data}
    raise ValidationError(f"DynamoDB returned an attribute value of unknown type {kind!r}")


def _one(value: Mapping[str, Any]) -> tuple[str, Any]:
    """The one member of an attribute value that is set (botocore may fill
    others with ``None`` in some shapes)."""
    present = [(k, v) for k, v in value.items() if v is not None]
    if len(present) != 1:
        raise ValidationError(f"DynamoDB returned a malformed attribute value {value!r}")
    return present[0]


def item_from_wire(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The Python item of an attribute map (``None`` stays ``None``)."""
    if item is None:
        return None
    return {name: from_wire(value) for name, value in item.items()}


def normalized(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An item as reading it back from DynamoDB would give it (numbers as
    ``Decimal``, binary as ``bytes``)."""
    return None if item is None else item_from_wire(item_to_wire(item))
