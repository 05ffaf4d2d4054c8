"""Serializers: how item values become bytes and back.

The default :class:`PickleSerializer` writes with pickle and reads through an
allowlisting unpickler: built-in containers and scalars, ``Decimal``, the
``datetime`` types, ``UUID`` and ``collections`` containers load; any other
global a stored pickle names raises :class:`~dynafile.errors.UnsafeDataError`
before it is imported or called, so a crafted file cannot run code.
Trusting more classes is an explicit option (``trusted=``).

:class:`JSONSerializer` stores JSON (no code can run on load at all).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Callable

from .errors import CorruptFileError, UnsafeDataError, ValidationError

__all__ = ["JSONSerializer", "PickleSerializer", "Serializer", "Unvetted", "get_serializer"]


class Unvetted(bytes):
    """Item bytes read from disk that have not been checked yet.

    Bytes this process serialized itself are plain ``bytes`` and load at full
    speed; bytes that came from a file are wrapped in this class until a
    first load checks them through the allowlist (:meth:`Serializer.load_stored`).
    """

    __slots__ = ()


class Serializer:
    """Interface of a value serializer: ``dumps(obj) -> bytes`` and ``loads(bytes) -> obj``."""

    name = "abstract"
    #: Whether items must hold DynamoDB's types only (checked before ``dumps``,
    #: and sized by DynamoDB's formula). ``False`` for a serializer that stores
    #: other Python objects on purpose.
    strict_types = True

    def dumps(self, obj: Any) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def loads(self, data: bytes) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def load_stored(self, data: bytes) -> Any:
        """Load bytes kept by the engine: plain ``bytes`` were written by this
        process; :class:`Unvetted` bytes came from disk. The default treats both
        alike; a serializer that can run code on load checks the second kind.

        Raises:
            CorruptFileError: bytes from disk that do not decode to an item.
        """
        if data.__class__ is bytes:
            return self.loads(data)
        return _checked_item(self.loads, data)


def _checked_item(loads: Callable[[bytes], Any], data: bytes) -> Any:
    """Decode item bytes that came from a file: anything but a dict is corruption."""
    try:
        item = loads(data)
    except UnsafeDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for damaged input
        raise CorruptFileError("(stored item)", None,
                               f"item bytes do not decode: {type(exc).__name__}: {exc}") from None
    if not isinstance(item, dict):
        raise CorruptFileError("(stored item)", None,
                               f"stored item is a {type(item).__name__}, not a dict")
    return item


_SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "bytearray"),
        ("builtins", "range"),
        ("builtins", "slice"),
        ("decimal", "Decimal"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("uuid", "UUID"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
        ("_codecs", "encode"),
        ("fractions", "Fraction"),
    }
)


class _AllowlistUnpickler(pickle.Unpickler):
    allowed: frozenset[tuple[str, str]] = _SAFE_GLOBALS

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise UnsafeDataError("", None, f"refusing to load global {module}.{name} (not allowlisted)")


# Only these opcodes can produce a callable: STACK_GLOBAL (\x93), the
# extension opcodes EXT1/EXT2/EXT4 (\x82-\x84, names from copyreg's registry),
# and GLOBAL / INST ("c" / "i"), which read their module and name as two
# newline-terminated lines, so they cannot complete in data without b"\n".
# Testing for b"\n" rather than the letters c and i keeps ordinary text off
# the slow path. Data without any of these bytes cannot import or call anything.
_GLOBAL_OPCODES = (b"\x93", b"\n", b"\x82", b"\x83", b"\x84")


class PickleSerializer(Serializer):
    """Pickle with an allowlist on load.

    Args:
        trusted: extra ``(module, qualified name)`` pairs of classes to allow
            when loading, e.g. ``[("myapp.models", "Money")]``. Everything a
            trusted class's pickling runs is then trusted too.
        protocol: pickle protocol used when writing.
    """

    name = "pickle"

    def __init__(self, trusted: Iterable[tuple[str, str]] = (), protocol: int = 5) -> None:
        self.protocol = protocol
        allowed = _SAFE_GLOBALS | frozenset((str(m), str(n)) for m, n in trusted)
        self._unpickler = type("_Unpickler", (_AllowlistUnpickler,), {"allowed": allowed})
        self._fast_loads: Callable[[bytes], Any] = pickle.loads
        # Trusting classes means storing them: items may then hold more than
        # DynamoDB's types (trusted=[("datetime", "datetime")] for datetimes).
        self.strict_types = not trusted

    def dumps(self, obj: Any) -> bytes:
        """Return ``obj`` pickled.

        Raises:
            ValidationError: it cannot be pickled, or it holds an object of a
                class the allowlist would refuse to load again (so nothing is
                stored that could not be read back after a restart).
        """
        try:
            data = pickle.dumps(obj, self.protocol)
        except Exception as exc:  # pickle raises many types for unpicklable values
            raise ValidationError(f"value cannot be serialized: {exc}", attribute="item") from exc
        # Protocol 4+ names every class with STACK_GLOBAL; without that byte
        # there is nothing to check.
        if b"\x93" in data:
            try:
                self._unpickler(io.BytesIO(data)).load()
            except UnsafeDataError as exc:
                raise ValidationError(
                    f"value holds an object the serializer would not load back ({exc.reason}); "
                    "store built-in types, or pass PickleSerializer(trusted=[...])",
                    attribute="item") from None
        return data

    def loads(self, data: bytes) -> Any:
        """Return the object in ``data``.

        Raises:
            UnsafeDataError: the data names a global outside the allowlist.
        """
        # A pickle that names no global cannot import or call anything: load it
        # with the plain C unpickler. The scan is a few memchr calls.
        for op in _GLOBAL_OPCODES:
            if op in data:
                return self._unpickler(io.BytesIO(data)).load()
        return self._fast_loads(data)

    def load_stored(self, data: bytes) -> Any:
        """Load engine-held bytes: at full speed when this process wrote them,
        through the allowlist when they came from disk (:class:`Unvetted`)."""
        if data.__class__ is bytes:
            return self._fast_loads(data)
        return _checked_item(self.loads, data)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return {"__decimal__": str(obj)}
    if isinstance(obj, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": sorted(obj, key=repr)}
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _json_hook(obj: dict) -> Any:
    if len(obj) == 1:
        if "__decimal__" in obj:
            return Decimal(obj["__decimal__"])
        if "__bytes__" in obj:
            return base64.b64decode(obj["__bytes__"])
        if "__set__" in obj:
            return set(obj["__set__"])
    return obj


class JSONSerializer(Serializer):
    """JSON, extended for ``Decimal``, ``bytes`` and sets. Loading runs no code.

    Tuples come back as lists; other types are rejected on write with
    :class:`~dynafile.errors.ValidationError`.
    """

    name = "json"

    def dumps(self, obj: Any) -> bytes:
        try:
            return json.dumps(obj, default=_json_default, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"value cannot be serialized as JSON: {exc}",
                                  attribute="item") from exc

    def loads(self, data: bytes) -> Any:
        return json.loads(data, object_hook=_json_hook)


def get_serializer(spec: object | None) -> Serializer:
    """Return a serializer for ``spec``: ``None``/``"pickle"``, ``"json"`` or an instance.

    Raises:
        ValidationError: for an unknown name or object.
    """
    if spec is None or spec == "pickle":
        return PickleSerializer()
    if spec == "json":
        return JSONSerializer()
    if isinstance(spec, Serializer):
        return spec
    raise ValidationError(f"unknown serializer {spec!r}", attribute="serializer")
