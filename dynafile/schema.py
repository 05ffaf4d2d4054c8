"""``meta.json``: the table's schema and format version.

It records the key attributes, the type each key attribute was fixed to
on first use, the serializer, and the format version. It is written
atomically, only under the table's exclusive lock.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import CorruptFileError, SchemaMismatchError, UnsupportedFormatError
from .storage import fs

__all__ = ["FORMAT_VERSION", "Schema"]

FORMAT_VERSION = 1
META = "meta.json"


class Schema:
    """The content of ``meta.json``."""

    def __init__(
        self,
        pk_attribute: str,
        sk_attribute: str | None,
        serializer: str = "pickle",
        key_types: dict[str, str | None] | None = None,
        ttl_attribute: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.pk_attribute = pk_attribute
        self.sk_attribute = sk_attribute
        self.serializer = serializer
        self.key_types: dict[str, str | None] = dict(key_types or {})
        self.key_types.setdefault(pk_attribute, None)
        if sk_attribute is not None:
            self.key_types.setdefault(sk_attribute, None)
        self.ttl_attribute = ttl_attribute
        self.extra: dict[str, Any] = dict(extra or {})

    def to_json(self) -> dict[str, Any]:
        data = {
            "format_version": FORMAT_VERSION,
            "pk_attribute": self.pk_attribute,
            "sk_attribute": self.sk_attribute,
            "key_types": self.key_types,
            "serializer": self.serializer,
            "ttl_attribute": self.ttl_attribute,
        }
        data.update(self.extra)
        return data

    @classmethod
    def read(cls, root: str) -> Schema | None:
        """Return the schema stored in ``root``, or ``None`` when there is none.

        Raises:
            CorruptFileError: ``meta.json`` is not valid JSON of the right shape.
            UnsupportedFormatError: its format version is not one this release reads.
        """
        path = os.path.join(root, META)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise CorruptFileError(path, 0, f"meta.json is not valid JSON: {exc}") from None
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise UnsupportedFormatError(
                f"{path}: format version {version!r} is not supported "
                f"(this dynafile reads version {FORMAT_VERSION})"
            )
        problem = _shape_problem(data)
        if problem:
            raise CorruptFileError(path, 0, f"meta.json has the wrong shape: {problem}")
        try:
            known = {"format_version", "pk_attribute", "sk_attribute", "key_types",
                     "serializer", "ttl_attribute"}
            return cls(
                data["pk_attribute"],
                data["sk_attribute"],
                data.get("serializer", "pickle"),
                data.get("key_types") or {},
                data.get("ttl_attribute"),
                {k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError) as exc:
            raise CorruptFileError(path, 0, f"meta.json lacks {exc}") from None

    def write(self, root: str) -> None:
        """Replace ``meta.json`` atomically."""
        data = json.dumps(self.to_json(), indent=2, sort_keys=True).encode()
        fs.atomic_write_bytes(os.path.join(root, META), data)

    def check_compatible(self, pk_attribute: str, sk_attribute: str | None,
                         serializer: str) -> None:
        """Raise :class:`SchemaMismatchError` when the caller's schema differs."""
        if (pk_attribute, sk_attribute) != (self.pk_attribute, self.sk_attribute):
            raise SchemaMismatchError(
                f"table has keys ({self.pk_attribute!r}, {self.sk_attribute!r}), "
                f"opened with ({pk_attribute!r}, {sk_attribute!r})"
            )
        if serializer != self.serializer:
            raise SchemaMismatchError(
                f"table was written with serializer {self.serializer!r}, opened with {serializer!r}"
            )


def _shape_problem(data: dict[str, Any]) -> str:
    """What is wrong with a ``meta.json`` object's shape, or ``""``."""
    if not isinstance(data.get("pk_attribute"), str) or not data["pk_attribute"]:
        return "pk_attribute is not a non-empty string"
    if "sk_attribute" not in data or not (data["sk_attribute"] is None
                                          or isinstance(data["sk_attribute"], str)):
        return "sk_attribute is not a string or null"
    key_types = data.get("key_types") or {}
    if not isinstance(key_types, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str))
            for k, v in key_types.items()):
        return "key_types is not an object of attribute -> type code"
    for kind, needed in (("gsis", "pk_attribute"), ("lsis", "sk_attribute")):
        indexes = data.get(kind, {})
        if not isinstance(indexes, dict):
            return f"{kind} is not an object"
        for name, definition in indexes.items():
            if not isinstance(definition, dict) or not isinstance(definition.get(needed), str):
                return f"{kind}[{name!r}] is not an index definition with {needed}"
    return ""
