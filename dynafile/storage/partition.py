"""Item collections in memory, and the partition files that hold many of them.

In memory, an item collection (all items of one partition key in one space)
is a :class:`Collection`: a ``SortedDict`` mapping each (normalised) sort key
to the item's serialized bytes. Handing out an item means deserializing
fresh bytes, so no caller ever shares a mutable object with the store.

On disk, a *partition* holds the collections of a range of the key space
(see :mod:`dynafile.storage.manifest`), as DynamoDB's partitions hold a
range of partition-key hashes: a small item collection costs bytes, not a
file of its own. A partition file is::

    b"DYP2" | u8 flags | u32 crc32(stored body) | u64 len(stored body) | stored body

where the stored body is (zlib-compressed when ``flags & 1``) a pickle,
loaded through the allowlisting unpickler, of ``(format, lsn, [(digest, pk,
[sort keys...], [item bytes...]), ...])``, collections in digest order and
each one's sort keys ascending; ``lsn`` is the last log record the file
contains. The checksum lets a flipped bit be reported instead of unpickled.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from ..errors import CorruptFileError
from ..serialization import PickleSerializer, Unvetted

__all__ = [
    "MAGIC",
    "Collection",
    "Part",
    "decode_part",
    "encode_part",
    "keep_checked",
    "sorted_dict",
]

MAGIC = b"DYP2"
_HEAD = struct.Struct("<4sBIQ")
_FORMAT = 2
_ZLIB = 1
_ITEM_OVERHEAD = 96  # rough bytes per entry beyond the item bytes, for cache accounting
_loader = PickleSerializer()
_BYTES_ONLY = {bytes}


class Collection:
    """An item collection in memory.

    Attributes:
        pk: the partition key value.
        items: ``SortedDict`` of sort key -> item bytes.
        lsn: the last log record reflected in ``items``.
        nbytes: approximate memory use, for the cache budget.
    """

    __slots__ = ("items", "lsn", "nbytes", "pk")

    def __init__(self, pk: Any, items: SortedDict, lsn: int) -> None:
        self.pk = pk
        self.items = items
        self.lsn = lsn
        self.nbytes = sum(map(len, dict.values(items))) + _ITEM_OVERHEAD * len(items)

    def put(self, sk: Any, data: bytes) -> None:
        """Store ``data`` under ``sk``. O(log n)."""
        old = self.items.get(sk)
        if old is None:
            self.nbytes += len(data) + _ITEM_OVERHEAD
        else:
            self.nbytes += len(data) - len(old)
        self.items[sk] = data

    def delete(self, sk: Any) -> None:
        """Remove ``sk`` if present. O(log n)."""
        old = self.items.pop(sk, None)
        if old is not None:
            self.nbytes -= len(old) + _ITEM_OVERHEAD


def keep_checked(items: SortedDict, sk: Any, data: bytes) -> None:
    """Replace ``Unvetted`` bytes the allowlist has just loaded by plain bytes,
    so later reads of ``sk`` take the fast path. Only when ``items`` still
    holds that very object; a dict store of an existing key, which keeps the
    sorted key list as it is and needs no lock."""
    if items.get(sk) is data:
        dict.__setitem__(items, sk, bytes(data))


class Part:
    """The piece of one item collection that a partition file holds: its sort
    keys and item bytes as the file lists them (treat both as read-only: a
    decoded file may be shared). :attr:`items` builds a ``SortedDict`` of
    :class:`~dynafile.serialization.Unvetted` bytes when asked: a checkpoint
    that rewrites a file without changing a collection, or a read that wants
    one collection of the file, pays nothing for the others."""

    __slots__ = ("_wrap", "digest", "keys", "pk", "values")

    def __init__(self, digest: str, pk: Any, keys: list[Any], values: list[bytes],
                 wrap: Callable[[bytes], Any] = bytes) -> None:
        self.digest = digest
        self.pk = pk
        self.keys = keys
        self.values = values
        self._wrap = wrap

    @property
    def items(self) -> SortedDict:
        """A new ``SortedDict`` of sort key -> item bytes, the caller's to
        change. O(n)."""
        return sorted_dict(self.keys, list(map(self._wrap, self.values)))

    @property
    def nbytes(self) -> int:
        """The item bytes it holds."""
        return sum(map(len, self.values))

    def __len__(self) -> int:
        return len(self.keys)


def encode_part(lsn: int, parts: Iterable[tuple[str, Any, SortedDict | Part]], *,
                compress: bool = True) -> bytes:
    """Return the file bytes of a partition holding ``parts`` (``(digest, pk,
    items)``, in digest order; ``items`` a ``SortedDict`` or a :class:`Part`
    read from another file) as of log record ``lsn``. O(size)."""
    body_parts = []
    for digest, pk, items in parts:
        if isinstance(items, Part):
            body_parts.append((digest, pk, items.keys,
                               [v if v.__class__ is bytes else bytes(v) for v in items.values]))
            continue
        values = [v if v.__class__ is bytes else bytes(v) for v in items.values()]
        body_parts.append((digest, pk, list(items.keys()), values))
    body = pickle.dumps((_FORMAT, lsn, body_parts), 5)
    flags = 0
    if compress:
        body = zlib.compress(body, 1)
        flags |= _ZLIB
    return _HEAD.pack(MAGIC, flags, zlib.crc32(body), len(body)) + body


def decode_part(data: bytes, path: str) -> tuple[int, list[Part]]:
    """Return ``(lsn, parts)`` from a partition file's bytes.

    Item bytes come back as :class:`~dynafile.serialization.Unvetted` bytes
    of ``path`` (``Unvetted.at(path)``): they are checked through the
    allowlist when first loaded, not here, and a refusal names the file.

    Raises:
        CorruptFileError: bad magic, length, checksum or compression, or a
            body that is not a partition (``UnsafeDataError`` when it names a
            class outside the allowlist).
    """
    if len(data) < _HEAD.size:
        raise CorruptFileError(path, len(data), "file shorter than its header")
    magic, flags, crc, length = _HEAD.unpack_from(data, 0)
    if magic != MAGIC:
        raise CorruptFileError(path, 0, "not a dynafile partition file (bad magic)")
    body = data[_HEAD.size:]
    if len(body) != length:
        raise CorruptFileError(path, _HEAD.size + min(len(body), length),
                               f"body is {len(body)} bytes, header says {length}")
    if zlib.crc32(body) != crc:
        raise CorruptFileError(path, _HEAD.size, "checksum mismatch")
    if flags & ~_ZLIB:
        raise CorruptFileError(path, 4, f"unknown flags {flags}")
    try:
        if flags & _ZLIB:
            body = zlib.decompress(body)
        fmt, lsn, raw = _loader.loads(body)
    except CorruptFileError as exc:
        raise type(exc)(path, _HEAD.size, exc.reason) from None
    except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
        raise CorruptFileError(path, _HEAD.size, f"cannot decode partition: {exc}") from None
    if fmt != _FORMAT or not isinstance(lsn, int) or raw.__class__ is not list:
        raise CorruptFileError(path, _HEAD.size, "not a partition (format, lsn, [parts])")
    parts = []
    previous = None
    unvetted = Unvetted.at(path)
    for entry in raw:
        if entry.__class__ is not tuple or len(entry) != 4:
            raise CorruptFileError(path, _HEAD.size, "a collection is not (digest, pk, keys, "
                                   "values)")
        digest, pk, keys, values = entry
        if (digest.__class__ is not str or keys.__class__ is not list
                or values.__class__ is not list or len(keys) != len(values)
                or not set(map(type, values)) <= _BYTES_ONLY):
            raise CorruptFileError(path, _HEAD.size, f"collection {digest!r} is malformed")
        if previous is not None and digest <= previous:
            raise CorruptFileError(path, _HEAD.size, "collections out of order")
        previous = digest
        try:
            ordered = all(a < b for a, b in zip(keys, keys[1:]))
        except TypeError as exc:  # keys of mixed types: not something dynafile wrote
            raise CorruptFileError(path, _HEAD.size, f"bad sort keys: {exc}") from None
        if not ordered:
            raise CorruptFileError(path, _HEAD.size, f"sort keys of collection {digest} out "
                                   "of order or repeated")
        parts.append(Part(digest, pk, keys, values, unvetted))
    return lsn, parts


def sorted_dict(keys: list[Any], values: list[Any]) -> SortedDict:
    """A SortedDict of ``keys`` (strictly ascending, as a file holds them) and
    ``values``, built by slicing instead of sorting (5x faster). O(n)."""
    out = SortedDict()
    dict.update(out, zip(keys, values))
    inner = out._list  # sortedcontainers' documented-in-source internals
    load = inner._load
    inner._lists = [keys[i:i + load] for i in range(0, len(keys), load)]
    inner._maxes = [chunk[-1] for chunk in inner._lists]
    inner._index = []
    inner._len = len(keys)
    return out

