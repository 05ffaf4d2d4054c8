"""``meta.json``: the table's schema, its stored properties and format version.

It records the key attributes, the type each key attribute was fixed to on
first use, the serializer, the TTL attribute, the stream view type, the
secondary indexes and the format version. It is written atomically, only
under the table's exclusive lock.

Every stored property belongs to the table, not to whoever opens it: an
opener that leaves one out gets the stored value, one that asks for another
value gets :class:`~dynafile.errors.SchemaMismatchError`, and changing one
is an explicit operation (``update_time_to_live``, ``update_table``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import CorruptFileError, SchemaMismatchError, UnsupportedFormatError
from .keys import check_key_value
from .storage import fs

__all__ = ["FORMAT_VERSION", "PROPERTIES", "TTL_MODES", "KeyTypes", "Schema"]

FORMAT_VERSION = 1

#: The table properties an opener may name, and what to change them with.
PROPERTIES = {
    "pk_attribute": "nothing (the key schema is fixed when the table is created)",
    "sk_attribute": "nothing (the key schema is fixed when the table is created)",
    "serializer": "nothing (the serializer is fixed when the table is created)",
    "ttl_attribute": "update_time_to_live()",
    "stream_view_type": "update_table(stream_view_type=...)",
    "ttl_mode": "update_table(ttl_mode=...)",
    "lsis": "nothing (local indexes are fixed when the table is created)",
}
_DEFAULT_VIEW = "NEW_AND_OLD_IMAGES"
#: How a table treats expired items: ``"hide"`` (the original dynafile's: every
#: read hides them, every write treats them as absent) or ``"dynamodb"``
#: (DynamoDB's: they stay until the sweep deletes them).
TTL_MODES = ("hide", "dynamodb")
_KNOWN = {"format_version", "pk_attribute", "sk_attribute", "key_types", "serializer",
          "ttl_attribute", "stream_view_type", "gsis", "lsis", "ttl_mode"}


class Schema:
    """The content of ``meta.json``.

    Attributes:
        pk_attribute / sk_attribute: the key attributes (``sk_attribute``
            ``None`` for a table keyed by partition key alone).
        serializer: the serializer's name.
        key_types: attribute -> ``"S"``, ``"N"``, ``"B"`` or ``None`` (not
            fixed yet), for the key attributes of the table and its indexes.
        ttl_attribute: the TTL attribute, or ``None``.
        stream_view_type: the view type of change records, or ``None`` when
            no opener has set it (``NEW_AND_OLD_IMAGES`` then applies).
        gsis / lsis: index name -> JSON definition (GSIs also carry ``state``).
        extra: other keys, kept as they are.
    """

    def __init__(
        self,
        pk_attribute: str,
        sk_attribute: str | None,
        serializer: str = "pickle",
        key_types: Mapping[str, str | None] | None = None,
        ttl_attribute: str | None = None,
        stream_view_type: str | None = None,
        gsis: Mapping[str, dict[str, Any]] | None = None,
        lsis: Mapping[str, dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
        ttl_mode: str = "hide",
    ) -> None:
        self.pk_attribute = pk_attribute
        self.sk_attribute = sk_attribute
        self.serializer = serializer
        self.key_types: dict[str, str | None] = dict(key_types or {})
        self.key_types.setdefault(pk_attribute, None)
        if sk_attribute is not None:
            self.key_types.setdefault(sk_attribute, None)
        self.ttl_attribute = ttl_attribute
        self.stream_view_type = stream_view_type
        self.gsis: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (gsis or {}).items()}
        self.lsis: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (lsis or {}).items()}
        self.extra: dict[str, Any] = dict(extra or {})
        self.ttl_mode = ttl_mode

    @property
    def view_type(self) -> str:
        """The stream view type in force (the default when none was stored)."""
        return self.stream_view_type or _DEFAULT_VIEW

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``meta.json`` holds."""
        data: dict[str, Any] = dict(self.extra)
        data.update({
            "format_version": FORMAT_VERSION,
            "pk_attribute": self.pk_attribute,
            "sk_attribute": self.sk_attribute,
            "key_types": self.key_types,
            "serializer": self.serializer,
            "ttl_attribute": self.ttl_attribute,
            "gsis": self.gsis,
            "lsis": self.lsis,
        })
        if self.stream_view_type is not None:
            data["stream_view_type"] = self.stream_view_type
        if self.ttl_mode != "hide":
            data["ttl_mode"] = self.ttl_mode
        return data

    @classmethod
    def read(cls, path: str) -> Schema | None:
        """Return the schema stored in the file ``path``, or ``None`` when there is none.

        Raises:
            CorruptFileError: not valid JSON of the right shape (names the file).
            UnsupportedFormatError: a format version this release does not read.
        """
        try:
            raw = fs.read_file(path)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")  # noqa: TRY004 - reported as invalid JSON
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
        return cls(
            data["pk_attribute"],
            data["sk_attribute"],
            data.get("serializer", "pickle"),
            data.get("key_types") or {},
            data.get("ttl_attribute"),
            data.get("stream_view_type"),
            data.get("gsis") or {},
            data.get("lsis") or {},
            {k: v for k, v in data.items() if k not in _KNOWN},
            data.get("ttl_mode", "hide"),
        )

    def write(self, path: str) -> None:
        """Replace the file ``path`` atomically with this schema."""
        data = json.dumps(self.to_json(), indent=2, sort_keys=True).encode()
        fs.atomic_write_bytes(path, data)

    def stored(self, name: str) -> Any:
        """The stored value of table property ``name`` (see :data:`PROPERTIES`)."""
        if name == "stream_view_type":
            return self.view_type
        return getattr(self, name)

    def reconcile(self, requested: Mapping[str, Any]) -> bool:
        """Check an opener's properties against the stored ones.

        ``requested`` holds only the properties the opener named. A
        ``stream_view_type`` the table has never recorded is recorded now
        (returns ``True``: the caller writes ``meta.json``).

        Raises:
            SchemaMismatchError: a named property differs from the stored
                one; the message says what to change it with.
        """
        changed = False
        for name, value in requested.items():
            if name == "stream_view_type" and self.stream_view_type is None:
                self.stream_view_type = value
                changed = True
                continue
            stored = self.stored(name)
            if value == stored:
                continue
            if name == "lsis":
                raise SchemaMismatchError(
                    f"table has local indexes {sorted(stored)} as created; LSIs cannot be "
                    f"added, changed or removed later")
            if name in ("pk_attribute", "sk_attribute"):
                raise SchemaMismatchError(
                    f"table has keys ({self.pk_attribute!r}, {self.sk_attribute!r}), opened "
                    f"with {name}={value!r}")
            if name == "serializer":
                raise SchemaMismatchError(
                    f"table was written with serializer {stored!r}, opened with {value!r}")
            raise SchemaMismatchError(
                f"table's {name} is {stored!r}, opened with {value!r}; omit it to use the "
                f"table's, or change it with {PROPERTIES[name]}")
        return changed


class KeyTypes:
    """The type of each key attribute: those ``meta.json`` fixes, plus those a
    write being prepared uses for the first time (``pending``; written to
    ``meta.json`` just before that write's record, so a write that fails
    fixes nothing)."""

    def __init__(self, fixed: dict[str, str | None]) -> None:
        self.fixed = fixed
        self.pending: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        """The type fixed (or pending) for ``name``, or ``None``."""
        return self.fixed.get(name) or self.pending.get(name)

    def check(self, name: str, value: Any, *, sort: bool = False) -> None:
        """Validate ``value`` as a key of attribute ``name`` (a sort key when
        ``sort``); a first use fixes the type (pending).

        Raises:
            ValidationError: not a valid key value, or another type than the
                one fixed for ``name``.
        """
        known = self.fixed.get(name) or self.pending.get(name)
        code = check_key_value(name, value, known, sort=sort)
        if known is None:
            self.pending[name] = code


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
    for name in ("serializer", "ttl_attribute", "stream_view_type"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} is not a string"
    if data.get("ttl_mode", "hide") not in TTL_MODES:
        return f"ttl_mode is not one of {', '.join(TTL_MODES)}"
    for kind, needed in (("gsis", "pk_attribute"), ("lsis", "sk_attribute")):
        indexes = data.get(kind, {})
        if not isinstance(indexes, dict):
            return f"{kind} is not an object"
        for name, definition in indexes.items():
            if not isinstance(definition, dict) or not isinstance(definition.get(needed), str):
                return f"{kind}[{name!r}] is not an index definition with {needed}"
    return ""
