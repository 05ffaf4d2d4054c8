"""Key values: validation, type codes, and the digest that names a partition.

A key value is a ``str``, ``bytes`` or a number (``int``, ``float``,
``Decimal``; never ``bool``, NaN or infinity). Numbers of any Python type
share DynamoDB's type ``"N"`` and compare numerically, so ``1``, ``1.0``
and ``Decimal("1")`` are the same key.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Union

from .errors import ValidationError

__all__ = [
    "KeyValue",
    "canonical_key",
    "check_key_value",
    "extract_key",
    "key_type",
    "normalize_key",
    "partition_digest",
]

KeyValue = Union[str, bytes, int, float, Decimal]

#: The longest key text accepted, in bytes (DynamoDB: 2048 for a partition
#: key, 1024 for a sort key; we allow 2048 for both).
MAX_KEY_BYTES = 2048


def key_type(value: Any) -> str | None:
    """Return DynamoDB's type code of a key value (``"S"``, ``"N"``, ``"B"``), or ``None``
    when the value cannot be a key at all. O(1)."""
    cls = type(value)
    if cls is str:
        return "S"
    if cls is bytes:
        return "B"
    if cls is int or cls is float or cls is Decimal:
        return "N"
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return "S"
    if isinstance(value, (bytes, bytearray)):
        return "B"
    if isinstance(value, (int, float, Decimal)):
        return "N"
    return None


def check_key_value(attribute: str, value: Any, expected: str | None = None) -> str:
    """Validate one key value and return its type code.

    Raises:
        ValidationError: when the value is missing, ``None``, empty, of a
            type keys cannot have (bool, list, ...), NaN or infinite, longer
            than :data:`MAX_KEY_BYTES`, or of another type than ``expected``
            (the type the table fixed for this attribute).
    """
    if type(value) is str and 0 < len(value) <= MAX_KEY_BYTES // 4 and expected != "B" and (
            expected != "N"):
        return "S"  # the common case: short text, at most 4 UTF-8 bytes a character
    code = key_type(value)
    if code is None:
        raise ValidationError(
            f"key value must be str, bytes or a number (not bool), got {type(value).__name__}",
            attribute=attribute,
        )
    if code == "N":
        try:
            finite = math.isfinite(value)
        except (TypeError, ValueError, InvalidOperation):  # pragma: no cover - exotic numbers
            finite = False
        if not finite:
            raise ValidationError("key value must be a finite number (no NaN or infinity)",
                                  attribute=attribute)
    else:
        size = len(value.encode("utf-8", "surrogatepass") if code == "S" else value)
        if size == 0:
            raise ValidationError("key value must not be empty", attribute=attribute)
        if size > MAX_KEY_BYTES:
            raise ValidationError(f"key value is {size} bytes, over the limit of {MAX_KEY_BYTES}",
                                  attribute=attribute)
    if expected is not None and code != expected:
        raise ValidationError(
            f"key value has type {code} but the table stores {expected} for this attribute",
            attribute=attribute,
        )
    return code


def normalize_key(value: Any) -> Any:
    """Return the form a valid key value is stored and compared in.

    Strings stay strings, ``bytearray`` becomes ``bytes``, and every number
    becomes an ``int`` when integral, else a ``Decimal`` (so ``0.1`` and
    ``Decimal("0.1")`` are one key). ``None`` stays ``None``. O(len).
    """
    cls = type(value)
    if cls is str or cls is bytes or cls is int or value is None:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if number == number.to_integral_value():
        return int(number)
    return number.normalize()


def canonical_key(value: KeyValue) -> tuple[str, bytes]:
    """Return ``(type code, canonical bytes)`` for a valid key value.

    Equal keys give equal results whatever their Python type: numbers are
    normalised through ``Decimal`` (``1``, ``1.0`` and ``Decimal("1.00")``
    agree). O(len(value)).
    """
    code = key_type(value)
    if code == "S":
        return code, value.encode("utf-8", "surrogatepass")  # type: ignore[union-attr]
    if code == "B":
        return code, bytes(value)  # type: ignore[arg-type]
    if isinstance(value, float):
        number = Decimal(repr(value))
    else:
        number = Decimal(value)  # type: ignore[arg-type]
    if number == 0:
        return "N", b"0"
    return "N", format(number.normalize(), "f").encode("ascii")


def partition_digest(value: KeyValue) -> str:
    """Return the stable hex digest that names a partition key's directory.

    The digest covers the key's type and canonical value; it never depends
    on Python's per-process hash seed, and no key text reaches a path. O(len).
    """
    code, raw = canonical_key(value)
    return hashlib.blake2b(code.encode() + b"\0" + raw, digest_size=16).hexdigest()


def extract_key(
    item: Mapping[str, Any],
    pk_attribute: str,
    sk_attribute: str | None,
    types: Mapping[str, str | None],
    what: str = "item",
) -> tuple[KeyValue, Any]:
    """Return ``(pk, sk)`` of an item or key dict, validated.

    ``sk`` is ``None`` for tables without a sort key.

    Raises:
        ValidationError: when ``item`` is not a dict, misses a key
            attribute, or holds an invalid key value.
    """
    if type(item) is not dict and not isinstance(item, Mapping):
        raise ValidationError(f"{what} must be a dict, got {type(item).__name__}", attribute=what)
    if pk_attribute not in item:
        raise ValidationError(f"{what} is missing the partition key attribute",
                              attribute=pk_attribute)
    pk = item[pk_attribute]
    check_key_value(pk_attribute, pk, types.get(pk_attribute))
    sk = None
    if sk_attribute is not None:
        if sk_attribute not in item:
            raise ValidationError(f"{what} is missing the sort key attribute",
                                  attribute=sk_attribute)
        sk = item[sk_attribute]
        check_key_value(sk_attribute, sk, types.get(sk_attribute))
    return pk, sk
