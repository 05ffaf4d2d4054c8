"""Serializers: how item values become bytes and back, and how a table finds its own.

A table stores each item as the bytes its serializer's ``dumps`` returns and
records the serializer's *name* in ``meta.json``; every later opener, the
CLI and ``check`` find the serializer again by that name
(:func:`get_serializer`). Three are built in:

* ``"pickle"`` (:class:`PickleSerializer`, the default): writes with pickle
  and reads through an allowlisting unpickler: built-in containers and
  scalars, ``Decimal``, the ``datetime`` types, ``UUID`` and ``collections``
  containers load; any other global a stored pickle names raises
  :class:`~dynafile.errors.UnsafeDataError` before it is imported or
  called, so a crafted file cannot run code. Trusting more classes is an
  explicit option (``trusted=``).
* ``"json"`` (:class:`JSONSerializer`): JSON with tags for what JSON lacks
  (``Decimal``, ``bytes``, sets). No code can run on load.
* ``"msgpack"`` (:class:`MsgpackSerializer`): MessagePack with extension
  types for ``Decimal``, sets and integers beyond 64 bits; needs the
  optional extra (``pip install 'dynafile[msgpack]'``).

An application adds its own with :func:`register_serializer` (in the
process), or with an entry point in the group ``dynafile.serializers``
(found by every process, the ``dynafile`` command included). What a
serializer must promise is written on :class:`Serializer`.
"""

from __future__ import annotations

import _compat_pickle
import collections
import copyreg
import importlib
import io
import json
import math
import pickle
import re
import struct
import sys
import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Union

from .errors import (
    CorruptFileError,
    EncryptionKeyError,
    MissingDependencyError,
    UnsafeDataError,
    ValidationError,
)
from .types import MAX_NESTING

if TYPE_CHECKING:  # pragma: no cover
    from fractions import Fraction

__all__ = [
    "ENCRYPTED_PREFIX",
    "ENTRY_POINT_GROUP",
    "MAX_DEPTH",
    "JSONSerializer",
    "MsgpackSerializer",
    "PickleSerializer",
    "Serializer",
    "SerializerFactory",
    "Unvetted",
    "data_origin",
    "get_serializer",
    "register_serializer",
    "serializer_names",
    "unregister_serializer",
]

#: The entry point group searched for serializer names no code registered.
ENTRY_POINT_GROUP = "dynafile.serializers"
#: How an encrypted table's serializer name starts (``"encrypted:json"``:
#: JSON, then AES-GCM; see :mod:`dynafile.encryption`). Such a name needs
#: the table's key, so :func:`get_serializer` alone cannot make it.
ENCRYPTED_PREFIX = "encrypted:"
#: Levels of nested lists, maps and sets the JSON and msgpack serializers
#: accept (DynamoDB allows 32); deeper values raise ValidationError on write,
#: and CorruptFileError on read, never RecursionError.
MAX_DEPTH = 100


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
    """Base class of a value serializer: ``dumps(item) -> bytes`` and ``loads(bytes) -> item``.

    A subclass sets :attr:`name` and implements :meth:`dumps` and
    :meth:`loads`; this is the whole contract the table relies on.

    **name.** A short string (letters, digits, ``_ . : + -``) stored in the
    table's ``meta.json`` when the table is created. It names the *format*
    of the bytes, forever: every later opener must use a serializer of the
    same name, and :func:`get_serializer` must find it by that name
    (register it, see :func:`register_serializer`). Change the format,
    change the name.

    **dumps(item) -> bytes.** ``item`` is a ``dict`` of attribute name
    (``str``) to value; values are DynamoDB's types as Python writes them:
    ``str``; numbers as ``int`` (of any size), ``float`` or ``Decimal``
    (38 significant digits and more); ``bytes`` (``bytearray`` may come back
    as ``bytes``); ``bool``; ``None``; ``list``; ``dict`` with ``str`` keys;
    and sets (``set``/``frozenset``) of ``str``, numbers or ``bytes``.
    ``loads(dumps(item))`` must equal ``item`` *with the same Python types*:
    ``1`` stays an ``int``, ``1.0`` a ``float``, ``Decimal("1.10")`` keeps
    its digits and exponent, ``True`` stays a ``bool``, a set stays a set
    (a ``frozenset`` may come back as a ``set``, a ``tuple`` as a
    ``list``), at any nesting up to 32 levels. For a value it cannot store
    it raises :class:`~dynafile.errors.ValidationError` (naming the
    attribute path when it can) and nothing else, so the table writes
    nothing. It must not change ``item``, and must give the same result in
    any process, on any machine, after any restart.

    **loads(data) -> item.** ``data`` is ``bytes`` (or the ``bytes``
    subclass :class:`Unvetted`) that came from disk, so anyone who could
    write the directory chose them: loading must never run code the data
    names (no ``pickle.loads``, ``eval`` or class lookup by a stored name
    without an allowlist). For bytes that do not decode, raise
    :class:`~dynafile.errors.CorruptFileError` (any other exception is
    reported by the table as ``CorruptFileError`` too).

    **load_stored(data).** For the engine only: bytes this process
    serialized itself are plain ``bytes``, bytes read from disk are
    :class:`Unvetted`. The default loads both with :meth:`loads` and
    checks that bytes from disk decode to a ``dict``. Override it only to
    skip a check for bytes you produced yourself (the pickle serializer
    does, to load them at full speed).

    Instances are shared by every thread using the table: keep no per-call
    state on them.
    """

    name = "abstract"
    #: Whether items must hold DynamoDB's types only (checked before ``dumps``,
    #: and sized by DynamoDB's formula). ``False`` for a serializer that stores
    #: other Python objects on purpose.
    strict_types = True

    def dumps(self, obj: Any) -> bytes:  # pragma: no cover - interface
        """Return the bytes of ``obj`` (see the class docstring).

        Raises:
            ValidationError: ``obj`` holds a value this format cannot store.
        """
        raise NotImplementedError

    def loads(self, data: bytes) -> Any:  # pragma: no cover - interface
        """Return the object ``data`` holds; never runs code ``data`` names.

        Raises:
            CorruptFileError: ``data`` does not decode.
        """
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


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


def data_origin(data: bytes) -> tuple[str, int | None]:
    """Where item bytes came from: ``(file, offset or None)``, the file
    ``"(stored item)"`` when unknown (bytes this process made). For a
    serializer that wraps another (:mod:`dynafile.encryption`) and must name
    the file in its own errors. Reads the file: call it on the way to an
    error only."""
    return _origin(data)


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
    from fractions import Fraction  # on first use: few items hold one

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
        return collections.defaultdict(_unguarded(args[0]))
    return collections.defaultdict()


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # copyreg._reduce_ex (protocols 0 and 1) writes (cls, object, None) or
    # (cls, base, base(obj)): the state is an instance of the base itself.
    base = _unguarded(base)
    cls = _unguarded(cls)
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
    _defaultdict: collections.defaultdict, _decimal: Decimal,
}


def _unguarded(value: Any) -> Any:
    """The class a guard stands for (``value`` itself when it is no guard)."""
    if value is _fraction:
        from fractions import Fraction  # imported with the first Fraction

        return Fraction
    return _GUARDED_CLASS.get(value, value)

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


def _run_pattern() -> re.Pattern[bytes]:
    """A pattern matching the longest run of opcodes that neither name a
    global nor claim memory, and whose arguments have a size known from the
    opcode or its one-byte count: the opcodes of a protocol 4-5 pickle of
    short strings, numbers, lists and dicts. :func:`_check_opcodes` skips
    such runs in C and walks the rest in Python; a run that ends at STOP
    needs no other check (:meth:`PickleSerializer.loads`)."""
    by_size: dict[int, bytearray] = {}
    counted = bytearray()
    for op in range(256):
        if op in _NAMERS:
            continue  # names a global: the allowlist's business
        if _KIND[op] == _FIXED:
            by_size.setdefault(_SIZE[op], bytearray()).append(op)
        elif _KIND[op] == _COUNT1:
            counted.append(op)
    lengths = b"|".join(re.escape(bytes([n])) + (b".{%d}" % n if n else b"") for n in range(256))
    tokens = [b"[" + re.escape(bytes(counted)) + b"](?:" + lengths + b")"]  # the commonest first
    tokens += [b"[" + re.escape(bytes(ops)) + b"]" + (b".{%d}" % size if size else b"")
               for size, ops in sorted(by_size.items())]
    return re.compile(b"(?:" + b"|".join(tokens) + b")*+", re.DOTALL)


_NAMERS = b"\x93\x82\x83\x84"  # STACK_GLOBAL; EXT1, EXT2, EXT4 (copyreg's registry)

#: The compiled :func:`_run_pattern`'s ``match``, once this process has walked
#: ``_WARM_UP`` pickles in Python: compiling it takes a few milliseconds, the
#: price of about a hundred walks, which a process that reads a few items
#: (a new process's first get) never pays. A race compiles it twice, harmlessly.
_skip_run: Callable[[bytes, int], re.Match[bytes] | None] | None = None
_walked = 0
_WARM_UP = 64


def _walking() -> None:
    global _skip_run, _walked
    _walked += 1
    if _walked >= _WARM_UP and _skip_run is None:
        _skip_run = _run_pattern().match


def _check_opcodes(data: bytes) -> None:
    """Walk the opcodes of the pickle in ``data`` without building anything,
    checking that it claims no more than it holds. (Only a check of cost:
    which globals a pickle may name is the allowlist's business.)

    Raises:
        UnsafeDataError: a memo index beyond what the data could hold (the
            unpickler would allocate memory for every index below it).
        pickle.UnpicklingError: an argument that claims more bytes than
            the data holds.

    Cost: O(number of opcodes); arguments are skipped, not read. Once the
    process has walked ``_WARM_UP`` pickles, runs of the opcodes
    :func:`_run_pattern` matches are skipped in C.
    """
    pos = 0
    end = len(data)
    limit = end  # a pickle memoizes at most one object per opcode
    kinds, sizes, skip = _KIND, _SIZE, _skip_run
    if skip is None:
        _walking()
    while pos < end:
        if skip is not None:
            pos = skip(data, pos).end()  # type: ignore[union-attr]  # "*+" always matches
            if pos >= end:
                break
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
_GLOBAL_BYTE = re.compile(b"[\x93\n\x82-\x84]").search
_SUSPECT_BYTE = re.compile(b"[\x93\n\x82-\x84r]").search
_STOP_BYTE = ord(".")


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
            CorruptFileError: the data is nested too deeply to load.
        """
        # A pickle that names no global cannot import or call anything: load
        # it with the plain C unpickler. Without a byte that could be such an
        # opcode or a memo index (LONG_BINPUT), one scan in C proves it. Else
        # a run of plain opcodes up to STOP proves it (one match in C, the
        # case of "r" in a string). Else the opcodes are walked, which checks
        # memo indexes, and a byte that could name a global sends the data
        # through the allowlist.
        try:
            if _SUSPECT_BYTE(data) is None:
                return self._fast_loads(data)
            skip = _skip_run
            if skip is not None:
                end = skip(data, 0).end()  # type: ignore[union-attr]  # "*+" always matches
                if end < len(data) and data[end] == _STOP_BYTE:
                    return self._fast_loads(data)
            _check_opcodes(data)
            if _GLOBAL_BYTE(data) is not None:
                return self._unpickler(io.BytesIO(data)).load()
            return self._fast_loads(data)
        except RecursionError:
            raise _corrupt("pickle", "nested too deeply") from None

    def load_stored(self, data: bytes) -> Any:
        """Load engine-held bytes: at full speed when this process wrote them,
        through the allowlist when they came from disk (:class:`Unvetted`)."""
        if data.__class__ is bytes:
            return self._fast_loads(data)
        return _checked_item(self.loads, data)


# ------------------------------------------------------------------ helpers


def _path_text(path: tuple[Any, ...]) -> str:
    """``("a", 2, "b")`` -> ``"a[2].b"`` (a very deep path is shortened)."""
    text = ""
    if len(path) > 8:
        path = (*path[:4], "...", *path[-3:])
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "item"


def _unwritable(fmt: str, path: tuple[Any, ...], reason: str) -> ValidationError:
    where = _path_text(path)
    return ValidationError(f"value cannot be serialized as {fmt}: {where}: {reason}",
                           attribute=where)


def _too_deep(fmt: str, path: tuple[Any, ...]) -> ValidationError:
    where = _path_text(path)  # DynamoDB's words for a value nested too deeply
    return ValidationError(f"Nesting Levels have exceeded supported limits: {where} is nested "
                           f"more than {MAX_DEPTH} levels deep", attribute=where)


def _corrupt(fmt: str, reason: str) -> CorruptFileError:
    # no path here: the caller that knows where the bytes came from names it
    return CorruptFileError("", None, f"{fmt} item bytes do not decode: {reason}")


_SET_ELEMENTS = frozenset({str, bytes, int, float, Decimal})


def _foreign(value: Any) -> str:
    """Why ``value`` (of no type the formats know) is refused."""
    kind = type(value).__name__
    if isinstance(value, (str, int, float, Decimal)):  # an Enum member, a str subclass...
        return (f"{kind} is a subclass of a DynamoDB type; store the plain value "
                "(str(x), int(x), member.value) or use a model field that converts it")
    return (f"{kind} is not one of DynamoDB's types (str, number, bytes, bool, None, list, "
            "dict, set); convert it, or use a model field or the pickle serializer")


def _set_element(value: Any, fmt: str, path: tuple[Any, ...]) -> Any:
    """Check one set element: a ``str``, number or ``bytes``."""
    if value.__class__ not in _SET_ELEMENTS:
        raise _unwritable(fmt, path, f"a set may hold str, numbers or bytes, not "
                                 f"{type(value).__name__}")
    return value


def _finite(value: float | Decimal, fmt: str, path: tuple[Any, ...]) -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _unwritable(fmt, path, f"{value!r} is not a number DynamoDB stores")
    elif not value.is_finite():
        raise _unwritable(fmt, path, f"Decimal({str(value)!r}) is not a number DynamoDB stores")


def _set_order(element: Any) -> tuple[str, str]:
    """A total, process-independent order of set elements (stable bytes)."""
    return (type(element).__name__, repr(element))


# --------------------------------------------------------------------- JSON

# A value JSON has no type for is written as a one-key object. A map of the
# caller's whose only key is one of these tags is escaped as a list of pairs,
# so no stored map is ever mistaken for a tag.
_DECIMAL_TAG = "__decimal__"
_BYTES_TAG = "__bytes__"
_SET_TAG = "__set__"
_MAP_TAG = "__dynafile.map__"
_TAGS = frozenset({_DECIMAL_TAG, _BYTES_TAG, _SET_TAG, _MAP_TAG})


def _to_json(value: Any, depth: int, path: tuple[Any, ...]) -> Any:
    """``value`` with every non-JSON type replaced by its tag object."""
    cls = value.__class__
    if cls is str or cls is bool or value is None:
        return value
    if cls is int:
        return value
    if cls is float:
        _finite(value, "JSON", path)
        return value
    if cls is dict or isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise _too_deep("JSON", path)
        out = {}
        for key, item in value.items():
            if key.__class__ is not str:
                raise _unwritable("JSON", path, f"map keys must be str, got {key!r}")
            out[key] = _to_json(item, depth + 1, (*path, key))
        if len(out) == 1 and next(iter(out)) in _TAGS:
            return {_MAP_TAG: [[k, v] for k, v in out.items()]}
        return out
    if cls is list or cls is tuple or isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise _too_deep("JSON", path)
        return [_to_json(item, depth + 1, (*path, i)) for i, item in enumerate(value)]
    if cls is Decimal:
        _finite(value, "JSON", path)
        return {_DECIMAL_TAG: str(value)}
    if cls is bytes or cls is bytearray:
        import base64  # here: a new process that stores no bytes does not import it

        return {_BYTES_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if cls is set or cls is frozenset:
        elements = sorted(value, key=_set_order)
        for element in elements:
            _set_element(element, "JSON", path)
        return {_SET_TAG: [_to_json(e, depth + 1, path) for e in elements]}
    raise _unwritable("JSON", path, _foreign(value))


def _json_hook(obj: dict) -> Any:
    if len(obj) == 1:
        ((tag, payload),) = obj.items()
        if tag == _DECIMAL_TAG:
            return _decimal_ok(Decimal(payload))
        if tag == _BYTES_TAG:
            import base64

            return base64.b64decode(payload, validate=True)
        if tag == _SET_TAG:
            return set(payload)
        if tag == _MAP_TAG:
            return {key: item for key, item in payload}
    return obj


class JSONSerializer(Serializer):
    """JSON, with tags for ``Decimal``, ``bytes`` and sets. Loading runs no code.

    Every DynamoDB type round-trips exactly (see :class:`Serializer`): ``int``
    of any size, ``float`` (by its shortest repr), ``Decimal`` (by its
    string, so ``Decimal("1.10")`` keeps its digits), ``bytes`` (base64),
    ``bool``, ``None``, lists, maps and sets. Tuples come back as lists,
    frozensets as sets, bytearrays as bytes. NaN and infinities (not
    DynamoDB numbers, not JSON), maps with non-``str`` keys, sets of other
    element types, other types, and values nested more than
    :data:`MAX_DEPTH` levels are refused with
    :class:`~dynafile.errors.ValidationError` naming the attribute path.

    Cost: O(size of the item), one pass in Python and one in C.
    """

    name = "json"

    def dumps(self, obj: Any) -> bytes:
        """Return ``obj`` as UTF-8 JSON.

        Raises:
            ValidationError: a value JSON cannot store exactly (see the class),
                or one nested too deeply.
        """
        try:
            tree = _to_json(obj, 0, ())
        except RecursionError:
            raise ValidationError("Nesting Levels have exceeded supported limits: the value "
                                  f"is nested far deeper than {MAX_NESTING} levels",
                                  attribute="item") from None
        try:
            return json.dumps(tree, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError) as exc:  # an int past Python's digit limit
            raise ValidationError(f"value cannot be serialized as JSON: {exc}",
                                  attribute="item") from None

    def loads(self, data: bytes) -> Any:
        """Return the object ``data`` holds.

        Raises:
            CorruptFileError: not JSON this serializer wrote (bad syntax, a
                bad tag, nesting too deep to decode).
            UnsafeDataError: a ``Decimal`` beyond the bounds a stored one
                may have (:data:`MAX_DECIMAL_EXPONENT`, :data:`MAX_DECIMAL_DIGITS`).
        """
        try:
            text = bytes(data).decode("utf-8", "surrogatepass")
            return json.loads(text, object_hook=_json_hook)
        except RecursionError:
            raise _corrupt("JSON", "nested too deeply") from None
        except (ValueError, TypeError, ArithmeticError) as exc:  # JSONDecodeError, bad tags
            raise _corrupt("JSON", f"{type(exc).__name__}: {exc}") from None


# ------------------------------------------------------------------ msgpack

_EXT_DECIMAL = 1
_EXT_SET = 2
_EXT_BIGINT = 3
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


class MsgpackSerializer(Serializer):
    """MessagePack: compact, fast, and loading runs no code.

    Strings, ``int`` (within 64 bits natively, larger ones as an extension
    type), ``float``, ``bytes``, ``bool``, ``None``, lists and maps are
    MessagePack's own types; ``Decimal`` (by its string) and sets are
    extension types 1 and 2, integers past 64 bits type 3. Round trips
    and refusals are those of :class:`JSONSerializer`, and strings must be
    UTF-8 text (a lone surrogate is refused, as DynamoDB refuses it).

    Needs the ``msgpack`` package: ``pip install 'dynafile[msgpack]'``.

    Raises:
        MissingDependencyError: ``msgpack`` is not installed (naming the extra).

    Cost: O(size of the item), one pass in Python and one in C.
    """

    name = "msgpack"

    def __init__(self) -> None:
        try:
            msgpack = importlib.import_module("msgpack")
        except ImportError:
            raise MissingDependencyError(
                "the msgpack serializer needs the msgpack package: "
                "pip install 'dynafile[msgpack]'", extra="msgpack") from None
        self._msgpack = msgpack
        self._ext = msgpack.ExtType

    def _encode(self, value: Any, depth: int, path: tuple[Any, ...]) -> Any:
        cls = value.__class__
        if cls is str or cls is bool or value is None or cls is bytes:
            return value
        if cls is int:
            if _INT_MIN <= value <= _INT_MAX:
                return value
            return self._ext(_EXT_BIGINT, str(value).encode("ascii"))
        if cls is float:
            _finite(value, "msgpack", path)
            return value
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                raise _too_deep("msgpack", path)
            out = {}
            for key, item in value.items():
                if key.__class__ is not str:
                    raise _unwritable("msgpack", path, f"map keys must be str, got {key!r}")
                out[key] = self._encode(item, depth + 1, (*path, key))
            return out
        if isinstance(value, (list, tuple)):
            if depth >= MAX_DEPTH:
                raise _too_deep("msgpack", path)
            return [self._encode(item, depth + 1, (*path, i)) for i, item in enumerate(value)]
        if cls is Decimal:
            _finite(value, "msgpack", path)
            return self._ext(_EXT_DECIMAL, str(value).encode("ascii"))
        if cls is bytearray:
            return bytes(value)
        if cls is set or cls is frozenset:
            elements = sorted(value, key=_set_order)
            encoded = [self._encode(_set_element(e, "msgpack", path), depth + 1, path)
                       for e in elements]
            return self._ext(_EXT_SET, self._msgpack.packb(encoded, use_bin_type=True))
        raise _unwritable("msgpack", path, _foreign(value))

    def _ext_hook(self, code: int, payload: bytes) -> Any:
        if code == _EXT_DECIMAL:
            return Decimal(payload.decode("ascii"))
        if code == _EXT_BIGINT:
            return int(payload.decode("ascii"))
        if code == _EXT_SET:
            return set(self._unpack(payload))
        raise ValueError(f"unknown extension type {code}")

    def _unpack(self, data: bytes) -> Any:
        return self._msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True,
                                     ext_hook=self._ext_hook)

    def dumps(self, obj: Any) -> bytes:
        """Return ``obj`` as MessagePack.

        Raises:
            ValidationError: a value it cannot store exactly (see
                :class:`JSONSerializer`).
        """
        tree = self._encode(obj, 0, ())
        try:
            return self._msgpack.packb(tree, use_bin_type=True)  # type: ignore[no-any-return]
        except UnicodeEncodeError:
            raise ValidationError("value cannot be serialized as msgpack: a string holds a lone "
                                  "surrogate, which is not UTF-8 text (DynamoDB refuses it too)",
                                  attribute="item") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"value cannot be serialized as msgpack: {exc}",
                                  attribute="item") from None

    def loads(self, data: bytes) -> Any:
        """Return the object ``data`` holds.

        Raises:
            CorruptFileError: not MessagePack this serializer wrote.
        """
        try:
            return self._unpack(bytes(data))
        except RecursionError:
            raise _corrupt("msgpack", "nested too deeply") from None
        except Exception as exc:  # noqa: BLE001 - msgpack raises many types for damaged input
            raise _corrupt("msgpack", f"{type(exc).__name__}: {exc}") from None


# ----------------------------------------------------------------- registry

#: What :func:`register_serializer` takes: a callable returning a fresh
#: serializer (a :class:`Serializer` subclass is one).
SerializerFactory = Callable[[], Serializer]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}$")
_BUILT_IN: dict[str, SerializerFactory] = {
    "pickle": PickleSerializer,
    "json": JSONSerializer,
    "msgpack": MsgpackSerializer,
}
_registered: dict[str, SerializerFactory] = {}
_registry_lock = threading.Lock()


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError("a serializer name is 1 to 64 letters, digits or _ . : + - "
                              f"(starting with a letter or digit), got {name!r}",
                              attribute="name")
    return name


def register_serializer(name: str, factory: SerializerFactory, *,
                        replace: bool = False) -> None:
    """Make ``name`` find the serializer ``factory()`` returns, in this process.

    After this, ``Dynafile(path, serializer=name)`` creates tables in that
    format, and every opener of a table whose ``meta.json`` records ``name``
    finds it without being passed one (:func:`get_serializer`). Register
    before opening such tables. Other processes (the ``dynafile`` command,
    ``check_path``) find it only if they run the same registration; to
    make a name known to every process on the machine, declare an entry
    point in the group ``dynafile.serializers`` instead (its object is
    the factory), e.g. in ``pyproject.toml``::

        [project.entry-points."dynafile.serializers"]
        zjson = "myapp.codecs:CompressedJSON"

    Args:
        name: the name tables record; the serializer's ``name`` must equal it.
        factory: called with no arguments each time a table needs the
            serializer; a :class:`Serializer` subclass works.
        replace: allow replacing an earlier registration of ``name``.

    Raises:
        ValidationError: a malformed name, a built-in name (``pickle``,
            ``json``, ``msgpack``: their format is fixed), a factory that is
            not callable, or a name already registered without ``replace``.

    Cost: O(1); the factory is not called until the name is used.
    """
    _check_name(name)
    if name in _BUILT_IN:
        raise ValidationError(f"{name!r} is a built-in serializer and cannot be replaced",
                              attribute="name")
    if not callable(factory):
        raise ValidationError("must be a callable returning a Serializer", attribute="factory")
    with _registry_lock:
        if name in _registered and not replace and _registered[name] is not factory:
            raise ValidationError(f"a serializer named {name!r} is registered already "
                                  "(pass replace=True to replace it)", attribute="name")
        _registered[name] = factory


def unregister_serializer(name: str) -> bool:
    """Forget a serializer registered with :func:`register_serializer`;
    return whether it was registered. Tables already open keep theirs."""
    with _registry_lock:
        return _registered.pop(name, None) is not None


def _declared() -> list[Any]:
    """The entry points installed packages declare in :data:`ENTRY_POINT_GROUP`."""
    from importlib import metadata

    if sys.version_info >= (3, 10):
        return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    return list(metadata.entry_points().get(ENTRY_POINT_GROUP, ()))  # pragma: no cover


def _entry_point(name: str) -> SerializerFactory | None:
    """The factory an installed package declares for ``name``, or ``None``."""
    for entry in _declared():
        if entry.name == name:
            return entry.load()  # type: ignore[no-any-return]
    return None


def serializer_names() -> list[str]:
    """The names :func:`get_serializer` knows now, sorted: built-in ones,
    registered ones and those installed packages declare as entry points.

    Cost: reads the installed packages' metadata.
    """
    declared = {entry.name for entry in _declared()}
    with _registry_lock:
        return sorted(set(_BUILT_IN) | set(_registered) | declared)


SerializerSpec = Union[None, str, Serializer, type]


def get_serializer(spec: SerializerSpec) -> Serializer:
    """Return the serializer ``spec`` names.

    ``spec`` is ``None`` (pickle, the default for a new table), a name, a
    :class:`Serializer` instance (returned as is) or a ``Serializer``
    subclass (instantiated). A name is looked up among the built-in ones
    (``"pickle"``, ``"json"``, ``"msgpack"``), then those registered with
    :func:`register_serializer`, then the entry points of installed packages
    (group ``dynafile.serializers``). Table openers, ``check`` and the CLI
    call this with the name ``meta.json`` records.

    Returns:
        a fresh serializer for a name or class; ``spec`` itself for an instance.

    Raises:
        ValidationError: an unknown name, or a factory whose serializer
            carries another name (a table would record the wrong one).
        EncryptionKeyError: a name of an encrypted table
            (:data:`ENCRYPTED_PREFIX`): it needs the table's key
            (``encryption_key=``, or an ``EncryptedSerializer``).
        MissingDependencyError: ``"msgpack"`` without the msgpack package.

    Cost: a dict lookup; an unknown name also reads the installed
    packages' metadata.
    """
    if spec is None:
        return PickleSerializer()
    if isinstance(spec, Serializer):
        return spec
    if isinstance(spec, type) and issubclass(spec, Serializer):
        return spec()
    if not isinstance(spec, str):
        raise ValidationError(f"must be a serializer name or a Serializer, got {spec!r}",
                              attribute="serializer")
    if spec.startswith(ENCRYPTED_PREFIX):
        inner = spec[len(ENCRYPTED_PREFIX):]
        raise EncryptionKeyError(
            f"the table is encrypted (items serialized with {inner!r}, then AES-GCM): open it "
            f"with encryption_key=KEY (or serializer=EncryptedSerializer({inner!r}, KEY))")
    factory = _BUILT_IN.get(spec)
    if factory is None:
        with _registry_lock:
            factory = _registered.get(spec)
    if factory is None and _NAME.match(spec):
        factory = _entry_point(spec)
    if factory is None:
        raise ValidationError(
            f"unknown serializer {spec!r}: built in are pickle, json and msgpack; register "
            f"another with register_serializer({spec!r}, factory) or an entry point in the "
            f"group {ENTRY_POINT_GROUP!r}", attribute="serializer")
    serializer = factory()
    if not isinstance(serializer, Serializer):
        raise ValidationError(f"the factory registered for {spec!r} returned "
                              f"{type(serializer).__name__}, not a Serializer",
                              attribute="serializer")
    if serializer.name != spec:
        raise ValidationError(f"the factory registered for {spec!r} returned a serializer "
                              f"named {serializer.name!r}", attribute="serializer")
    return serializer
