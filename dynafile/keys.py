"""Key values: validation, type codes, and the digest that names a partition.

A key value is a ``str``, ``bytes`` or a number (``int``, ``float``,
``Decimal``; never ``bool``, NaN or infinity). Numbers of any Python type
share DynamoDB's type ``"N"`` and compare numerically, so ``1``, ``1.0``
and ``Decimal("1")`` are the same key.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Union

from .errors import ValidationError
from .types import normalize_number, number_text, type_name

try:  # hashlib's own blake2b: importing hashlib also loads OpenSSL's bindings (~3 ms)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without its blake2 module
    from hashlib import blake2b

__all__ = [
    "KeyValue",
    "canonical_key",
    "check_key_value",
    "dict_key",
    "extract_key",
    "item_under_key",
    "key_type",
    "normalize_key",
    "partition_digest",
]

KeyValue = Union[str, bytes, int, float, Decimal]

#: The longest partition key, in bytes (UTF-8 for text): DynamoDB's limit.
MAX_KEY_BYTES = 2048
#: The longest sort key, in bytes: DynamoDB's limit.
MAX_SORT_KEY_BYTES = 1024

_INVALID = "One or more parameter values were invalid: "


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


def check_key_value(attribute: str, value: Any, expected: str | None = None, *,
                    sort: bool = False) -> str:
    """Validate one key value and return its type code.

    Args:
        attribute: the key attribute's name (for the message).
        value: the value.
        expected: the type the table fixed for the attribute, if any.
        sort: a sort key (1,024 bytes at most) rather than a partition key (2,048).

    Raises:
        ValidationError: with DynamoDB's message when the value is ``None``,
            of a type keys cannot have (bool, list, ...), an empty string or
            binary, a number DynamoDB refuses (NaN, infinity, more than 38
            digits, out of range), too long, or of another type than
            ``expected``.
    """
    if type(value) is str and 0 < len(value) <= MAX_SORT_KEY_BYTES // 4 and expected != "B" and (
            expected != "N"):
        return "S"  # the common case: short text, at most 4 UTF-8 bytes a character
    code = key_type(value)
    if code is None or (expected is not None and code != expected):
        actual = type_name(value)
        wanted = expected or "S, N or B"
        raise ValidationError(
            f"{_INVALID}Type mismatch for key {attribute} expected: {wanted} actual: {actual}",
            attribute=attribute)
    if code == "N":
        normalize_number(value)  # NaN, infinity, precision and range: DynamoDB's messages
        return code
    size = len(value.encode("utf-8", "surrogatepass") if code == "S" else value)
    if size == 0:
        kind = "string" if code == "S" else "binary"
        raise ValidationError(
            "One or more parameter values are not valid. The AttributeValue for a key attribute "
            f"cannot contain an empty {kind} value. Key: {attribute}", attribute=attribute)
    if sort and size > MAX_SORT_KEY_BYTES:
        raise ValidationError(f"{_INVALID}Aggregated size of all range keys has exceeded the "
                              f"size limit of {MAX_SORT_KEY_BYTES} bytes", attribute=attribute)
    if size > MAX_KEY_BYTES:
        raise ValidationError(f"{_INVALID}Size of hashkey has exceeded the maximum size limit "
                              f"of {MAX_KEY_BYTES} bytes", attribute=attribute)
    return code


def normalize_key(value: Any) -> Any:
    """Return the form a valid key value is stored and compared in.

    Strings stay strings, ``bytearray`` becomes ``bytes``, and every number
    becomes an ``int`` when integral, else a ``Decimal`` in DynamoDB's
    38-digit canonical form (so ``0.1`` and ``Decimal("0.10")`` are one key,
    and two numbers that differ in their 38th digit are two). ``None`` stays
    ``None``. O(len).
    """
    cls = type(value)
    if cls is str or cls is bytes or cls is int or value is None:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    text = number_text(normalize_number(value))
    return Decimal(text) if "." in text else int(text)


def canonical_key(value: KeyValue) -> tuple[str, bytes]:
    """Return ``(type code, canonical bytes)`` for a valid key value.

    Equal keys give equal results whatever their Python type: numbers are
    written as DynamoDB's canonical text (``1``, ``1.0`` and
    ``Decimal("1.00")`` agree). O(len(value)).
    """
    code = key_type(value)
    if code == "S":
        return code, value.encode("utf-8", "surrogatepass")  # type: ignore[union-attr]
    if code == "B":
        return code, bytes(value)  # type: ignore[arg-type]
    return "N", number_text(normalize_number(value)).encode("ascii")


def partition_digest(value: KeyValue) -> str:
    """Return the stable hex digest that names a partition key's directory.

    The digest covers the key's type and canonical value; it never depends
    on Python's per-process hash seed, and no key text reaches a path. O(len).
    """
    code, raw = canonical_key(value)
    return blake2b(code.encode() + b"\0" + raw, digest_size=16).hexdigest()


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
        raise ValidationError(_missing(what, pk_attribute), attribute=pk_attribute)
    pk = item[pk_attribute]
    check_key_value(pk_attribute, pk, types.get(pk_attribute))
    sk = None
    if sk_attribute is not None:
        if sk_attribute not in item:
            raise ValidationError(_missing(what, sk_attribute), attribute=sk_attribute)
        sk = item[sk_attribute]
        check_key_value(sk_attribute, sk, types.get(sk_attribute), sort=True)
    return pk, sk


def _missing(what: str, attribute: str) -> str:
    if what == "item":
        return f"{_INVALID}Missing the key {attribute} in the item"
    return "The provided key element does not match the schema"


def dict_key(key: Any, pk_name: str, sk_name: str | None) -> dict[str, Any]:
    """The key dict ``table[key]`` means, for a table keyed by ``pk_name``
    (and ``sk_name``): a key dict as given, a ``(pk, sk)`` tuple, or, on a
    table without a sort key, the partition key value alone (or a 1-tuple).

    Raises:
        ValidationError: not a key dict, nor a tuple of the table's key
            values (a bare value on a table with a sort key).
    """
    if isinstance(key, Mapping):
        return dict(key)
    if sk_name is None:
        if isinstance(key, tuple):
            if len(key) != 1:
                raise ValidationError(
                    f"the table has no sort key: use table[pk], got a {len(key)}-tuple",
                    attribute="key")
            key = key[0]
        return {pk_name: key}
    if not isinstance(key, tuple) or len(key) != 2:
        raise ValidationError(
            f"the table has keys ({pk_name!r}, {sk_name!r}): use table[pk, sk] or a key "
            f"dict, got {key!r}", attribute="key")
    return {pk_name: key[0], sk_name: key[1]}


def item_under_key(key: Mapping[str, Any], item: Any) -> dict[str, Any]:
    """What ``table[key] = item`` puts: a copy of ``item`` with ``key``'s
    attributes added.

    Raises:
        ValidationError: ``item`` is not a dict, or holds a key attribute
            that differs from the key's.
    """
    if not isinstance(item, Mapping):
        raise ValidationError(f"an item is a dict, got {type(item).__name__}",
                              attribute="item")
    full = dict(item)
    for name, value in key.items():
        if name in full and normalize_key(full[name]) != normalize_key(value):
            raise ValidationError(f"the item's {name} is {full[name]!r}, the key's is "
                                  f"{value!r}", attribute=name)
        full[name] = value
    return full
