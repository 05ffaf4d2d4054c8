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

import _compat_pickle
import base64
import collections
import copyreg
import io
import json
import pickle
import re
import struct
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable

from .errors import CorruptFileError, UnsafeDataError, ValidationError
from .types import MAX_NESTING

__all__ = ["JSONSerializer", "PickleSerializer", "Serializer", "Unvetted", "get_serializer"]


class Unvetted(bytes):
    """Item bytes read from disk that have not been checked yet.

    Bytes this process serialized itself are plain ``bytes`` and load at full
    speed; bytes that came from a file are wrapped in this class until a
    first load checks them through the allowlist (:meth:`Serializer.load_stored`).
    Bytes wrapped by the class :meth:`at` returns also know their file, so a
    load that refuses them names it.
    """

    __slots__ = ()

    #: The file the bytes came from ("" when unknown).
    path: str = ""

    @staticmethod
    def at(path: str) -> type[Unvetted]:
        """The subclass of :class:`Unvetted` for bytes read from ``path``
        (one class per file, cached: wrapping costs no memory per item).
        ``Unvetted.at(path)(data)`` wraps ``data``."""
        cls = _SOURCES.get(path)
        if cls is None:
            if len(_SOURCES) >= _MAX_SOURCES:
                _SOURCES.pop(next(iter(_SOURCES)))
            cls = _SOURCES[path] = type("Unvetted", (Unvetted,), {"__slots__": (), "path": path})
        return cls


#: Classes of :meth:`Unvetted.at` by file; bytes keep their class alive, so
#: forgetting the oldest entry only costs a new class for a file read again.
_SOURCES: dict[str, type[Unvetted]] = {}
_MAX_SOURCES = 4096


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
            CorruptFileError: bytes from disk that do not decode to an item
                (``UnsafeDataError`` when they are refused), naming the file
                they came from when known (:meth:`Unvetted.at`).
        """
        if data.__class__ is bytes:
            return self.loads(data)
        return _checked_item(self.loads, data)


def _checked_item(loads: Callable[[bytes], Any], data: bytes) -> Any:
    """Decode item bytes that came from a file: anything but a dict is corruption."""
    try:
        item = loads(data)
    except CorruptFileError as exc:  # UnsafeDataError: say where the bytes came from
        if exc.path:
            raise
        path, offset = _origin(data)
        raise type(exc)(path, offset, exc.reason) from None
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for damaged input
        path, offset = _origin(data)
        raise CorruptFileError(path, offset, f"item bytes do not decode: "
                                             f"{type(exc).__name__}: {exc}") from None
    if not isinstance(item, dict):
        path, offset = _origin(data)
        raise CorruptFileError(path, offset,
                               f"stored item is a {type(item).__name__}, not a dict")
    return item


def _origin(data: bytes) -> tuple[str, int | None]:
    """Where item bytes came from: their file (``"(stored item)"`` when
    unknown) and, when the file holds them as they are (a log segment), the
    offset of their first copy in it. Only called on the way to an error."""
    path = getattr(data, "path", "")
    if not path:
        return "(stored item)", None
    if len(data) < 16:  # too short to be found in the file by chance alone
        return path, None
    try:
        with open(path, "rb") as f:
            at = f.read().find(bytes(data))
    except OSError:
        return path, None
    return path, (at if at >= 0 else None)


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
        ("builtins", "bytes"),
    }
)

# ------------------------------------------------------------- bounded cost
#
# Loading a pickle must cost about what its bytes hold. Two things in a
# pickle can cost far more than its size: a memo index (the C unpickler
# grows its memo to twice the largest index it is given, so nine bytes can
# claim gigabytes), and an allowlisted callable given an argument that makes
# it build something huge (``bytearray(2**31)``, ``set(range(10**12))``,
# ``Fraction("1e999999999")``, a ``Decimal`` whose exponent turns every
# ``int()`` of it into a 10**999999 computation). So the opcodes of bytes
# from outside this process are walked once (:func:`_check_opcodes`), and the
# callables that take sizes or iterables are replaced by guards that accept
# only the arguments pickle itself writes for them.

#: The largest exponent (in magnitude) and number of digits a stored
#: ``Decimal`` may have. DynamoDB's numbers stay far inside (38 digits,
#: exponents -130..125); beyond these an ``int()`` of the value gets slow.
MAX_DECIMAL_EXPONENT = 6144
MAX_DECIMAL_DIGITS = 4300


def _refuse(what: str) -> UnsafeDataError:
    return UnsafeDataError("", None, f"refusing to load {what}")


def _decimal_ok(value: Decimal) -> Decimal:
    if value.is_finite():
        digits = len(value.as_tuple().digits)
        if digits > MAX_DECIMAL_DIGITS:
            raise _refuse(f"a Decimal of {digits} digits (more than {MAX_DECIMAL_DIGITS})")
        exponent = value.adjusted()
        if not -MAX_DECIMAL_EXPONENT <= exponent <= MAX_DECIMAL_EXPONENT:
            raise _refuse(f"a Decimal with exponent {exponent} (beyond "
                          f"+-{MAX_DECIMAL_EXPONENT})")
    return value


def _decimal(*args: Any) -> Decimal:
    # Decimal.__reduce__ writes (Decimal, (str(self),)).
    if len(args) != 1 or args[0].__class__ is not str or len(args[0]) > 2 * MAX_DECIMAL_DIGITS:
        raise _refuse(f"Decimal{_describe(args)}")
    return _decimal_ok(Decimal(args[0]))


_FRACTION_TEXT = re.compile(r"[+-]?\d{1,4300}(?:/\d{1,4300})?\Z")


def _fraction(*args: Any) -> Fraction:
    # Fraction.__reduce__ writes (Fraction, (numerator, denominator)) (older
    # Pythons: (Fraction, (str(self),)), "n" or "n/d"). Never an exponent:
    # Fraction("1e999999999") computes 10**999999999.
    if 1 <= len(args) <= 2 and all(a.__class__ is int for a in args):
        return Fraction(*args)
    if len(args) == 1 and args[0].__class__ is str and _FRACTION_TEXT.match(args[0]):
        return Fraction(args[0])
    raise _refuse(f"Fraction{_describe(args)}")


_CONTAINERS = (list, tuple, set, frozenset)


def _set(*args: Any) -> set:
    # set.__reduce__ (protocols 0-3) writes (set, ([items],)); a range or a
    # count would make it build anything.
    if len(args) > 1 or (args and args[0].__class__ not in _CONTAINERS):
        raise _refuse(f"set{_describe(args)}")
    return set(*args)


def _frozenset(*args: Any) -> frozenset:
    if len(args) > 1 or (args and args[0].__class__ not in _CONTAINERS):
        raise _refuse(f"frozenset{_describe(args)}")
    return frozenset(*args)


def _bytearray(*args: Any) -> bytearray:
    # (bytearray, (bytes,)) from protocol 3 on, (bytearray, (text, "latin-1"))
    # before; never a size.
    if not args:
        return bytearray()
    if len(args) == 1 and args[0].__class__ in (bytes, bytearray):
        return bytearray(args[0])
    if (len(args) == 2 and args[0].__class__ is str
            and args[1] in ("latin-1", "latin1")):
        return bytearray(args[0], "latin-1")
    raise _refuse(f"bytearray{_describe(args)}")


def _bytes(*args: Any) -> bytes:
    # How protocols 0-2 spell b"" (longer bytes go through _codecs.encode).
    if args:
        raise _refuse(f"bytes{_describe(args)}")
    return b""


def _deque(*args: Any) -> collections.deque:
    # deque.__reduce__ writes (deque, ((), maxlen)) or (deque, ()); the items
    # follow as APPENDS.
    if (len(args) > 2 or (args and args[0].__class__ not in (list, tuple))
            or (len(args) == 2 and args[1] is not None and args[1].__class__ is not int)):
        raise _refuse(f"deque{_describe(args)}")
    return collections.deque(*args)


def _defaultdict(*args: Any) -> collections.defaultdict:
    # (defaultdict, (factory,)): the factory is an allowlisted global, which
    # may be one of these guards: store the real class.
    if len(args) > 1:
        raise _refuse(f"defaultdict{_describe(args)}")
    if args:
        return collections.defaultdict(_GUARDED_CLASS.get(args[0], args[0]))
    return collections.defaultdict()


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # copyreg._reduce_ex (protocols 0 and 1) writes (cls, object, None) or
    # (cls, base, base(obj)): the state is an instance of the base itself.
    base = _GUARDED_CLASS.get(base, base)
    cls = _GUARDED_CLASS.get(cls, cls)
    if not (base is object and state is None) and (
            not isinstance(base, type) or state.__class__ is not base):
        raise _refuse(f"copyreg._reconstructor{_describe((cls, base, state))}")
    return copyreg._reconstructor(cls, base, state)  # type: ignore[attr-defined]


def _codecs_encode(*args: Any) -> bytes:
    # How protocols 0-2 spell bytes: _codecs.encode(text, "latin1").
    if len(args) != 2 or args[0].__class__ is not str or args[1] not in ("latin1", "latin-1"):
        raise _refuse(f"_codecs.encode{_describe(args)}")
    return args[0].encode("latin-1")


def _describe(args: tuple) -> str:
    text = repr(args)
    return text if len(text) <= 80 else text[:77] + "..."


#: Allowlisted globals that are loaded as guards instead (see above).
_GUARDS: dict[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "set"): _set,
    ("builtins", "frozenset"): _frozenset,
    ("builtins", "bytearray"): _bytearray,
    ("builtins", "bytes"): _bytes,
    ("collections", "deque"): _deque,
    ("collections", "defaultdict"): _defaultdict,
    ("decimal", "Decimal"): _decimal,
    ("fractions", "Fraction"): _fraction,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _codecs_encode,
}
_GUARDED_CLASS: dict[Any, Any] = {
    _set: set, _frozenset: frozenset, _bytearray: bytearray, _bytes: bytes, _deque: collections.deque,
    _defaultdict: collections.defaultdict, _decimal: Decimal, _fraction: Fraction,
}

# The opcode walk. Each opcode's argument, by kind:
_FIXED, _COUNT1, _COUNT4, _COUNT8, _LINE, _LINES2, _STOP, _LONG_BINPUT, _PUT = range(1, 10)
_KIND = [0] * 256  # 0: not an opcode (the unpickler refuses it)
_SIZE = [0] * 256
_NO_ARGUMENT = b"(0125NQRabd}el]ostu)\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98"
for _ops, _n in ((_NO_ARGUMENT, 0),
                 (b"Khq\x80\x82", 1), (b"M\x83", 2), (b"Jj\x84", 4), (b"G\x95", 8)):
    for _op in _ops:
        _KIND[_op], _SIZE[_op] = _FIXED, _n
for _ops, _kind in ((b"UC\x8c\x8a", _COUNT1), (b"TXB\x8b", _COUNT4), (b"\x8d\x8e\x96", _COUNT8),
                    (b"FILPSVg", _LINE), (b"ci", _LINES2), (b".", _STOP),
                    (b"r", _LONG_BINPUT), (b"p", _PUT)):
    for _op in _ops:
        _KIND[_op] = _kind
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from


def _check_opcodes(data: bytes) -> None:
    """Walk the opcodes of the pickle in ``data`` without building anything,
    checking that it claims no more than it holds. (Only a check of cost:
    which globals a pickle may name is the allowlist's business.)

    Raises:
        UnsafeDataError: a memo index beyond what the data could hold (the
            unpickler would allocate memory for every index below it).
        pickle.UnpicklingError: an argument that claims more bytes than
            the data holds.

    Cost: O(number of opcodes); arguments are skipped, not read.
    """
    pos = 0
    end = len(data)
    limit = end  # a pickle memoizes at most one object per opcode
    kinds, sizes = _KIND, _SIZE
    while pos < end:
        op = data[pos]
        kind = kinds[op]
        pos += 1
        if kind == _FIXED:
            pos += sizes[op]
            continue
        if kind == _COUNT1:
            if pos < end:
                pos += 1 + data[pos]
                continue
        elif kind == _COUNT4:
            if pos + 4 <= end:
                pos += 4 + _U32(data, pos)[0]
                continue
        elif kind == _STOP or kind == 0:
            return  # the unpickler stops here too (or refuses the byte)
        elif kind == _COUNT8:
            if pos + 8 <= end:
                pos += 8 + _U64(data, pos)[0]
                continue
        elif kind == _LONG_BINPUT:
            if pos + 4 <= end:
                index = _U32(data, pos)[0]
                if index >= limit:
                    raise _refuse(f"a pickle memo index of {index} in {end} bytes")
                pos += 4
                continue
        else:  # a line or two: _LINE, _PUT, _LINES2
            line = data.find(b"\n", pos)
            if line >= 0 and kind == _LINES2:
                line = data.find(b"\n", line + 1)
            if line >= 0:
                if kind == _PUT:
                    text = data[pos:line]
                    if not text.isdigit() or len(text) > 19 or int(text) >= limit:
                        raise _refuse(f"a pickle memo index of {text[:20]!r} in {end} bytes")
                pos = line + 1
                continue
        raise pickle.UnpicklingError("pickle data was truncated")
    if pos > end:
        raise pickle.UnpicklingError("pickle data was truncated")


class _AllowlistUnpickler(pickle.Unpickler):
    allowed: frozenset[tuple[str, str]] = _SAFE_GLOBALS

    def find_class(self, module: str, name: str) -> Any:
        # Protocols 0-2 spell some names as Python 2 did (__builtin__.set).
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in self.allowed:
            guard = _GUARDS.get((module, name))
            return guard if guard is not None else super().find_class(module, name)
        raise UnsafeDataError("", None, f"refusing to load global {module}.{name} (not allowlisted)")


# Only these opcodes can produce a callable: STACK_GLOBAL (\x93), the
# extension opcodes EXT1/EXT2/EXT4 (\x82-\x84, names from copyreg's registry),
# and GLOBAL / INST ("c" / "i"), which read their module and name as two
# newline-terminated lines, so they cannot complete in data without b"\n".
# Testing for b"\n" rather than the letters c and i keeps ordinary text off
# the slow path. Data without any of these bytes cannot import or call
# anything. Without "r" (LONG_BINPUT) either, its memo indexes are below 256
# (BINPUT) or count up (MEMOIZE): it costs what it holds.
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
        # Protocol 4+ names every class with STACK_GLOBAL, older ones with
        # GLOBAL ("c" ... newline); without them there is nothing to check.
        if b"\x93" in data or (self.protocol < 4 and b"\n" in data):
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
            UnsafeDataError: the data names a global outside the allowlist,
                gives an allowlisted one arguments pickle never writes (a
                size, a range, a huge exponent), or claims a memo index
                its size cannot hold.
        """
        # A pickle that names no global cannot import or call anything: load
        # it with the plain C unpickler. The scan is a few memchr calls. Any
        # opcode that could claim memory beyond the data's size (a memo
        # index) is checked by walking the opcodes first.
        for op in _GLOBAL_OPCODES:
            if op in data:
                _check_opcodes(data)
                return self._unpickler(io.BytesIO(data)).load()
        if b"r" in data:
            _check_opcodes(data)
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
            return _decimal_ok(Decimal(obj["__decimal__"]))
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
        """Return ``obj`` as JSON.

        Raises:
            ValidationError: a value JSON cannot hold, or one nested too
                deeply (DynamoDB allows 32 levels; items are checked for
                that before they get here).
        """
        try:
            return json.dumps(obj, default=_json_default, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"value cannot be serialized as JSON: {exc}",
                                  attribute="item") from exc
        except RecursionError:
            raise ValidationError("Nesting Levels have exceeded supported limits: the value "
                                  f"is nested far deeper than {MAX_NESTING} levels",
                                  attribute="item") from None

    def loads(self, data: bytes) -> Any:
        """Return the object in ``data``.

        Raises:
            ValueError: not JSON, or nested too deeply to decode.
            UnsafeDataError: a ``Decimal`` beyond the bounds a stored one
                may have (:data:`MAX_DECIMAL_EXPONENT`, :data:`MAX_DECIMAL_DIGITS`).
        """
        try:
            return json.loads(data, object_hook=_json_hook)
        except RecursionError:
            raise ValueError("JSON nested too deeply to decode (DynamoDB allows "
                             f"{MAX_NESTING} levels)") from None


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
